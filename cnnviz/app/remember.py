"""A student's choices survive page switches: the one place that says how (issue 14).

Streamlit drops a widget's value when its page is not drawn, so every setting went back to its
default after a visit to another page. Streamlit 1.67 keeps it when the widget is drawn with
``persist_state="session"`` (and a ``key``): the value then lives in session state for the whole
session, is readable there before the widget is drawn again (so ``keep_choice_valid`` and the run
pickers still see it), and comes back when the student returns. ``tests/app/pages/
test_settings_survive.py`` checks it on every page with AppTest's ``switch_page``.

Every widget of a page that holds a setting is drawn with ``persist_state=KEEP``. ``st.tabs`` has no
``persist_state``: :func:`remembered_tabs` keeps the open tab under a key of its own and opens it
again.

A browser reload starts a new session. The main choice of each page (the image source and kernel on
Convolution, the network on Build & train, the dataset on Datasets, the backbone on Transfer, the photo
source on Pretrained) is also kept in the page's URL with ``bind=URL``: a reload or a bookmark opens the
page as left. The other settings are those of the visit; what must outlive a session (runs, datasets, jobs) is
on disk. Streamlit leaves the URL's other parameters (e.g. a student's ``?key=``) alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st


#: ``persist_state`` for every setting widget: its value survives page switches for the whole session.
KEEP = "session"
#: ``bind`` for a page's main choice: its value is also in the URL, so it survives a reload.
URL = "query-params"


def _kept_key(key: str) -> str:
    return f"remember__{key}"


def remembered_tabs(labels: Sequence[str], *, key: str) -> list:
    """``st.tabs`` that opens on the tab the student last opened, also after a page switch.

    Only the open tab's content runs (``on_change="rerun"``): check each tab's ``open``.

    Args:
        labels: the tab labels, unique.
        key: the widget key; ``st.session_state[key]`` is the open tab's label.

    Returns:
        The tab containers, as ``st.tabs`` returns them.
    """
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"tab labels must be unique, got {labels}")
    kept = st.session_state.get(_kept_key(key))
    if key not in st.session_state and kept in labels:  # back on the page: open the tab again
        st.session_state[key] = kept  # (not ``default``, which is part of the tabs' identity)
    # Not bound to the URL: AppTest could not drive bound tabs reliably (a tab set through session state
    # was sometimes overridden by the URL's), so a reload opens the first tab.
    opened = st.tabs(labels, key=key, on_change="rerun")
    current = st.session_state.get(key)
    if current in labels:
        st.session_state[_kept_key(key)] = current
    return opened
