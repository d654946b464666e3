"""Session-state keys shared by several pages, and the one way to give a choice a valid start.

Only ids live in session state (a job id, a run id, an image index): jobs belong to the
process-wide job manager and models to the run store, so reruns, clicks and page switches
never touch them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st


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
