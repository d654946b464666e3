"""This session's trainings: the job manager (jobs live in the job table and train in worker
processes, never in this server), submitting under session keys with the session's person as
owner (:mod:`cnnviz.app.identity`), stopping, whether one is still busy, and what an epoch is
expected to cost."""

from __future__ import annotations

from collections.abc import Iterable

import streamlit as st

from cnnviz.app import caches, identity
from cnnviz.app.state import TRAIN_JOB_KEY, TRANSFER_JOB_KEYS
from cnnviz.classroom.people import Person
from cnnviz.data.selection import validation_count
from cnnviz.errors import CnnvizError
from cnnviz.markup import plain_text
from cnnviz.models.backbones import expected_epoch_seconds
from cnnviz.models.config import ModelConfig
from cnnviz.runs import labels as runs_labels
from cnnviz.training import jobs


def training_jobs() -> jobs.JobManager:
    """The process's :class:`cnnviz.training.jobs.JobManager` (cleans the run store once at start-up)."""
    return jobs.manager()


def owner() -> Person:
    """Who a job belongs to: this session's person (the run it saves is theirs)."""
    return identity.person()


def stop_training(job_id: str) -> None:
    """Stop job ``job_id`` as this session's person (their own job, or any as the teacher); a button's callback: a
    refusal (e.g. a job table damaged since the page drew) is said in a toast."""
    try:
        training_jobs().stop(job_id, by=owner())
    except CnnvizError as err:  # raised in a callback it would be a traceback above the page
        st.toast(f"Not stopped: {plain_text(str(err))}", icon=":material/block:")


def status(key: str = TRAIN_JOB_KEY):
    """The status of the job whose id is in session state under ``key`` (None: no job, or one the
    server forgot when it restarted)."""
    job_id = st.session_state.get(key)
    return training_jobs().status(job_id) if job_id else None


def active(keys: str | Iterable[str] = TRAIN_JOB_KEY) -> bool:
    """True while one of this session's jobs under ``keys`` is queued or running (one training at a time per
    student); a job table that cannot be read (damaged since the page first drew) raises its CnnvizError."""
    for key in [keys] if isinstance(keys, str) else keys:
        found = status(key)
        if found is not None and found.active:
            return True
    return False


def busy(keys: str | Iterable[str] = TRAIN_JOB_KEY) -> bool:
    """Whether a page's Train buttons wait: while :func:`active`, and while the job table cannot be read (nothing can
    be queued then; the page's live panel, :func:`cnnviz.app.panel.training_panel`, says why)."""
    try:
        return active(keys)
    except CnnvizError:
        return True


def just_trained_run_id() -> str | None:
    """The run this session's last training job saved (None while it runs or when there is none)."""
    found = status(TRAIN_JOB_KEY)
    return None if found is None else found.run_id


def take_in_just_trained(ids: list[str], *, multi_key: str, single_key: str, seen_key: str) -> None:
    """The run this session just trained joins the multi-select under ``multi_key`` (which starts on the first
    two of ``ids``) and is chosen under ``single_key``, once (``seen_key`` remembers it): the student's choices
    afterwards are kept."""
    trained = just_trained_run_id()
    if trained not in ids or trained == st.session_state.get(seen_key):
        return
    st.session_state[seen_key] = trained
    chosen = [i for i in st.session_state.get(multi_key, ids[:2]) if i in ids]
    st.session_state[multi_key] = chosen if trained in chosen else [*chosen, trained]
    st.session_state[single_key] = trained


def submit_training(spec, dataset) -> str:
    """Queue ``spec`` on ``dataset`` as this session's training job; returns the job id."""
    job_id = training_jobs().submit(spec, dataset=dataset, owner=owner())
    st.session_state[TRAIN_JOB_KEY] = job_id
    return job_id


def submit_twin(info, spec) -> str:
    """Queue a twin of run ``info`` (``spec``) as this session's training job; returns the job id."""
    what = "size-agnostic twin" if spec.model.head != info.model_config.head else "augmented twin"
    job_id = training_jobs().submit(spec, dataset=caches.load_dataset(spec.dataset), label=f"{what} of {info.label}",
                                    owner=owner())
    st.session_state[TRAIN_JOB_KEY] = job_id
    return job_id


def submit_transfer(specs: list, dataset) -> list[str]:
    """Queue transfer runs (frozen and/or unfrozen), each under its own session key; returns the job ids."""
    ids = []
    for spec in specs:
        label = f"{runs_labels.what(spec)} on {spec.dataset}"  # the name its run will have
        job_id = training_jobs().submit(spec, dataset=dataset, label=label, owner=owner())
        st.session_state[TRANSFER_JOB_KEYS[bool(spec.model.frozen)]] = job_id
        ids.append(job_id)
    return ids


def resume_training(job_id: str, key: str = TRAIN_JOB_KEY) -> str | None:
    """Queue the rest of failed or interrupted job ``job_id`` as this session's job under ``key`` (a button's
    callback: a refusal, e.g. the training already resumed in another tab, is said in a toast; returns None)."""
    try:
        new_id = training_jobs().resume(job_id, owner=owner())
    except CnnvizError as err:  # raised in a callback it would only say "This app has encountered an error"
        st.toast(f"Not resumed: {plain_text(str(err))}", icon=":material/block:")
        return None
    st.session_state[key] = new_id
    return new_id


def transfer_epoch_seconds(cfg: ModelConfig, train_size: int, validation_fraction: float
                           ) -> tuple[int, dict[bool, float | None]]:
    """``(images fitted per epoch, {frozen: expected seconds per epoch or None})`` of a transfer run,
    frozen and unfrozen, from the times measured at :data:`cnnviz.models.transfer.MEASURED_AT`."""
    fitted = int(train_size) - validation_count(int(train_size), validation_fraction)  # what the split leaves
    return fitted, {f: expected_epoch_seconds(cfg.replace(frozen=f), fitted) for f in (True, False)}
