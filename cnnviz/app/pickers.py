"""Pickers shared by the pages: saved runs (one or several, opening on the run this session just
trained), datasets on this machine, and the labels that name a run in them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import streamlit as st

from cnnviz.app import caches, identity, jobs
from cnnviz.app.remember import KEEP
from cnnviz.app.state import CURRENT_RUN_KEY, SEEN_TRAINED_KEY, say_runs_gone
from cnnviz.classroom import roster
from cnnviz.data import datasets, images, stored
from cnnviz.runs import labels
from cnnviz.runs import store as runs
from cnnviz.training.tta import TTA_SHORT


# --- labels ----------------------------------------------------------------------------------


def tta_phrase(mode: str) -> str:
    """What a run's test-time augmentation averages over, in words (the mode itself if unknown)."""
    return TTA_SHORT.get(mode, mode)


def tested_answer_caption(info: runs.RunInfo, tested: np.ndarray, class_names) -> str:
    """Says that the answer shown is one pass on the image as it is, and what Evaluate and the test accuracy
    counted instead (``tested``: :func:`cnnviz.app.caches.tested_answer`)."""
    best = int(np.argmax(tested))
    return (f"These answers are one pass on the image as it is. Its test accuracy and Evaluate average the answers "
            f"on {tta_phrase(info.spec.tta)} (test-time augmentation): there it says "
            f"{images.plain_name(class_names[best])} ({tested[best]:.0%}).")


# --- runs ------------------------------------------------------------------------------------


def run_label(info: runs.RunInfo, who: Mapping[tuple[str, str], str] | None = None) -> str:
    """:func:`labels.picker_label`, with whose run it is when it is not this person's (a teacher's list), as ``who``
    names them (:func:`cnnviz.classroom.roster.shown_names`; else the run's owner name)."""
    mine = info.owner == identity.person().user_id
    by = (who or {}).get((info.owner, info.owner_name), info.owner_name)
    return labels.picker_label(info) + ("" if mine else f" · by {by}")



def default_run_id(items: list[runs.RunInfo]) -> str:
    """The run a page opens with: one this session just trained (once), else the last one
    chosen on these pages, else the newest."""
    ids = [r.run_id for r in items]
    trained = jobs.just_trained_run_id()
    if trained in ids and trained != st.session_state.get(SEEN_TRAINED_KEY):
        st.session_state[SEEN_TRAINED_KEY] = trained
        st.session_state[CURRENT_RUN_KEY] = trained
        return trained
    current = st.session_state.get(CURRENT_RUN_KEY)
    return current if current in ids else ids[0]


def chosen_ids(key: str) -> list:
    """The runs this session chose in the picker ``key`` (one or several), else the one it chose last on another
    page: what :func:`cnnviz.app.state.say_runs_gone` is asked about."""
    value = st.session_state[key] if key in st.session_state else st.session_state.get(CURRENT_RUN_KEY)
    return list(value) if isinstance(value, (list, tuple)) else [value]


def pick_run(items: list[runs.RunInfo], *, key: str, label: str = "Run") -> runs.RunInfo:
    """A select box of saved runs that starts on :func:`default_run_id`; returns the RunInfo."""
    by_id = {r.run_id: r for r in items}
    say_runs_gone(chosen_ids(key), items)  # deleted meanwhile: said, not silently replaced
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = default_run_id(items)
    # Not kept per page (no persist_state): the run chosen last on any page (CURRENT_RUN_KEY) follows the student.
    who = roster.shown_names((r.owner, r.owner_name) for r in items)
    run_id = st.selectbox(label, list(by_id), key=key, format_func=lambda i: run_label(by_id[i], who))
    st.session_state[CURRENT_RUN_KEY] = run_id
    return by_id[run_id]


def pick_runs(items: list[runs.RunInfo], *, key: str, label: str = "Runs") -> list[runs.RunInfo]:
    """A multi-select of saved runs; a run this session just trained joins the selection."""
    by_id = {r.run_id: r for r in items}
    if key in st.session_state:
        say_runs_gone(chosen_ids(key), items)  # deleted meanwhile: said, not silently dropped
        chosen = [i for i in st.session_state[key] if i in by_id]
    else:
        chosen = [default_run_id(items)]
    trained = jobs.just_trained_run_id()
    if trained in by_id and trained != st.session_state.get(SEEN_TRAINED_KEY):
        st.session_state[SEEN_TRAINED_KEY] = trained
        if trained not in chosen:
            chosen.append(trained)
    st.session_state[key] = chosen
    who = roster.shown_names((r.owner, r.owner_name) for r in items)
    ids = st.multiselect(label, list(by_id), key=key, persist_state=KEEP,
                         format_func=lambda i: run_label(by_id[i], who))
    if ids:
        st.session_state[CURRENT_RUN_KEY] = ids[0]
    return [by_id[i] for i in ids]


# --- datasets --------------------------------------------------------------------------------


def pick_dataset(*, key: str, prefer: tuple[str, ...] = (), help: str | None = None) -> datasets.Dataset:
    """A select box of the datasets on this machine this person may use (built-ins, the teacher's and
    their own imports), starting on the first of ``prefer`` that is here (else the first one);
    returns the shared, read-only dataset."""
    present = [n for n in stored.names(identity.person()) if stored.is_present(n)]
    start = next((n for n in prefer if n in present), present[0] if present else None)
    name = st.selectbox("Dataset", present, index=present.index(start) if start else 0, key=key, persist_state=KEEP,
                        format_func=stored.title, help=help)
    return caches.load_dataset(name, identity.person())
