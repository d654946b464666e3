"""What the server holds of a session's uploads: no more than the pages use.

Streamlit keeps every uploaded file in the server's memory until the session ends or the student removes it in the
browser, and ``st.file_uploader`` takes any number of files (streamlit 1.67): :func:`first_files` lets go of those a
page will not read. A run that does not draw an uploader (another page, another source on the page's radio) drops
the uploader's state, so its files are no use to anyone any more, yet they stayed held: a student who uploaded,
switched away and uploaded again held every round's files for the whole session. Uploaders drawn through
:func:`uploader` (and :func:`camera`) are remembered, and ``app.py`` calls :func:`release_undrawn` after each page:
the files of those it did not draw are let go (:func:`cnnviz.app.compat.release_upload_ids`).
"""

from __future__ import annotations

import streamlit as st

from cnnviz.app import compat

SHOWN_KEY = "uploads_shown"  # {widget key: [the number of the run that last drew it, the ids of its files]}
RUN_KEY = "uploads_run"  # this session's run number, counted by release_undrawn


def _shown(key: str, value) -> None:
    files = value if isinstance(value, list) else [] if value is None else [value]
    st.session_state.setdefault(SHOWN_KEY, {})[key] = [st.session_state.get(RUN_KEY, 0), [f.file_id for f in files]]


def uploader(label: str, *, key: str, **kwargs):
    """``st.file_uploader(label, key=key, **kwargs)``, whose files are let go after a run that does not draw it."""
    files = st.file_uploader(label, key=key, **kwargs)
    _shown(key, files)
    return files


def camera(label: str, *, key: str, **kwargs):
    """``st.camera_input(label, key=key, **kwargs)``, whose photo is let go after a run that does not draw it."""
    shot = st.camera_input(label, key=key, **kwargs)
    _shown(key, shot)
    return shot


def release_undrawn() -> int:
    """After the page ran: let go of the files of every uploader (and camera) this run did not draw; returns how
    many. Streamlit drops those widgets' state (on another page, before the page runs), so nobody could use the
    files again; they are found by the ids the widget last gave."""
    run = st.session_state.get(RUN_KEY, 0)
    shown = st.session_state.get(SHOWN_KEY, {})
    released = 0
    for key in [k for k, (last, _) in shown.items() if last != run]:
        released += compat.release_upload_ids(shown.pop(key)[1])
    st.session_state[RUN_KEY] = run + 1
    return released


def first_files(files: list, max_files: int, upload_key: str) -> list:
    """The first ``max_files`` of the files an uploader (``upload_key``) gave this run; the others are let go
    unread, and a warning says how many are not used, on this run and the next ones while the browser lists them."""
    held = st.session_state.get(upload_key)  # the objects session state keeps (``files`` are copies of them)
    extra = {f.file_id for f in files[max_files:]}
    released = compat.release_uploads([f for f in compat.held_uploads(held) if f.file_id in extra])
    # Released on an earlier run, still listed by the browser (the widget leaves them out of ``files``).
    released += compat.released_count(held)
    unused = max(len(files) - max_files, released)
    if unused:
        st.warning(f"Only the first {max_files} pictures are used: the other {unused:,} were not read"
                   + (", and the server does not keep them" if released else "")
                   + f". To look at others, remove pictures from the list above and add the ones you want, "
                     f"at most {max_files} at a time.", icon=":material/block:")
    return files[:max_files]
