"""Session-state keys shared by several pages, the one way to give a choice a valid start, and the words for a
chosen run that vanished meanwhile.

Only ids live in session state (a job id, a run id, an image index): jobs belong to the
process-wide job manager and models to the run store, so reruns, clicks and page switches
never touch them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import streamlit as st

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo


#: The job id of this session's training started on Build & train or Robustness.
TRAIN_JOB_KEY = "train_job_id"
#: The job ids of the Transfer learning page's two trainings, by ``frozen``: each has its own panel.
TRANSFER_JOB_KEYS = {True: "transfer_job_frozen", False: "transfer_job_unfrozen"}
#: ``{"run_id": str, "index": int}``: a test image sent from Evaluate's galleries to Inside the network.
INSPECT_TARGET_KEY = "inspect_target"
#: The run last chosen on Evaluate / Inside the network / Robustness, so it follows the student.
CURRENT_RUN_KEY = "inspect_current_run"
#: The run this session trained that a run picker has already opened on (it does so once).
SEEN_TRAINED_KEY = "inspect_seen_trained_run"
#: Set once this session has looked for its person's jobs (:mod:`cnnviz.app.reconnect`): one look per session.
RECONNECT_CHECKED_KEY = "reconnect_checked"


def keep_choice_valid(key: str, options: Iterable, default: Any = None) -> None:
    """Give a choice widget whose options depend on the run (layers, classes, images) a valid value.

    Call it before drawing the widget: it starts on ``default`` (when given and offered), and a
    remembered value that is no longer offered is reset to ``default`` (else the first option).
    """
    options = list(options)
    if key not in st.session_state:
        if default is not None and default in options:
            st.session_state[key] = default
    elif st.session_state[key] not in options:
        st.session_state[key] = default if default in options else (options[0] if options else None)


def tick_belongs_to(item: Any, *, confirm_key: str, shown_key: str) -> None:
    """A confirmation tick ("Yes, delete this run") arms only the item it was given for: call it before
    drawing the checkbox; shown for another item, the box starts unticked."""
    if st.session_state.get(shown_key) != item:
        st.session_state[confirm_key] = False
    st.session_state[shown_key] = item


def still_chosen(wanted: Any, shown: Any) -> bool:
    """Whether a click acts on what the person chose: ``wanted`` is the picker's value read before the
    picker was drawn; when that item vanished meanwhile (deleted or ended in another tab) the picker
    falls back to another, ``shown``, and a Delete or Stop must not fall through to it."""
    return wanted is None or wanted == shown


def say_runs_gone(wanted: Iterable[object], items: list[RunInfo]) -> None:
    """Say in words which runs this session chose are no longer among ``items``, the runs offered now: deleted (in
    another tab, by the teacher), or no longer offered (damaged, no longer shared). ``wanted``: the chosen ids, read
    before the picker is drawn; the picker then falls back to another run, which the page would otherwise show as
    if it were the one chosen."""
    from cnnviz.runs import store as runs  # lazy: the store pulls in the training settings (see boundary.run_page)

    listed = {r.run_id for r in items}
    gone = [i for i in dict.fromkeys(wanted) if isinstance(i, str) and i not in listed and runs.RUN_ID_RE.match(i)]
    deleted = [i for i in gone if not runs.is_stored(i)]
    hidden = [i for i in gone if i not in deleted]
    if deleted:
        one = len(deleted) == 1
        st.warning(f"Run{'' if one else 's'} {', '.join(deleted)} {'was' if one else 'were'} deleted (in another tab "
                   f"or by the teacher): {'it is' if one else 'they are'} no longer shown here.",
                   icon=":material/block:")
    if hidden:
        one = len(hidden) == 1
        st.warning(f"Run{'' if one else 's'} {', '.join(hidden)} {'is' if one else 'are'} no longer offered here: "
                   "damaged (the Runs page says why) or no longer shared with you.", icon=":material/block:")
