"""What the server holds of a session's uploads: no more than the pages use.

Streamlit keeps every uploaded file in the server's memory until the session ends or the student removes it in the
browser, and ``st.file_uploader`` takes any number of files (streamlit 1.67): :func:`first_files` lets go of those a
page will not read.
"""

from __future__ import annotations

import streamlit as st

from cnnviz.app import compat


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
