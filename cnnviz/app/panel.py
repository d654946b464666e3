"""The live view of this session's training job(s): queue place, progress, curves, stop button.

All panels of a page live in ONE ``st.fragment``, drawn last on the page. Streamlit (1.67) drops a
fragment's unsent messages from the send queue when that fragment reruns but keeps the ones queued
after them: with a second fragment or other elements below, a slow server (training holds the GIL)
could send the browser a block at index n+1 before n, which blanks the student's page ("Bad delta
path index", found by the load test, tests/e2e/test_load.py). tests/app/test_panel.py checks that
each page calls :func:`training_panel` once, as the last step of its ``main()``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import streamlit as st

from cnnviz.app import jobs
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.pickers import tta_phrase
from cnnviz.app.state import TRAIN_JOB_KEY
from cnnviz.errors import CnnvizError
from cnnviz.markup import plain_text
from cnnviz.plots import training as plots
from cnnviz.runs import labels as runs_labels
from cnnviz.runs import notebook
from cnnviz.runs import store as runs


#: What the live panel does, for its error note ("Showing your training failed because of an internal error").
SHOWING = "Showing your training"
#: Seconds between refreshes of the live numbers (progress is published at most this often anyway).
LIVE_REFRESH_S = 1.0
#: ... while the session's jobs only wait. A place changes only when a whole job ends, and in a class
#: most students wait (cap 2, 30 students: 28 panels, each a script run on the shared server), so a
#: waiting panel refreshes every QUEUED_REFRESH_S s at the front of the queue and QUEUED_STEP_S s
#: more per place behind, at most every QUEUED_REFRESH_MAX_S s: 28 waiting panels then rerun about
#: 4.6 times a second instead of 14, and the student next in line still sees the start within 2 s.
QUEUED_REFRESH_S = 2.0
QUEUED_STEP_S = 0.5
QUEUED_REFRESH_MAX_S = 10.0
#: A waiting panel that moved up so far that its place's pace is this much faster reruns the page
#: once to take it (a fragment's pace is fixed when the page draws it).
QUEUED_CATCH_UP_S = 2.0
#: Seconds between redraws of the live curves: one Plotly update cost 12-29 ms on the shared
#: 2-core machine (benchmarks/training_overhead.py), so every 3 s keeps it near or under 1% of the run.
CHART_REFRESH_S = 3.0


def queued_refresh_s(position: int) -> float:
    """Seconds between refreshes of a panel whose job waits at ``position`` in the queue (1 = next)."""
    return min(QUEUED_REFRESH_S + QUEUED_STEP_S * max(position - 1, 0), QUEUED_REFRESH_MAX_S)


def panel_refresh_s(statuses: Sequence) -> float | None:
    """The pace of a page's live panel: every second while one of its jobs runs, slower the further
    back its first waiting job is, none once all have ended."""
    states = {s.state for s in statuses}
    if "running" in states:
        return LIVE_REFRESH_S
    waiting = [s.queue_position for s in statuses if s.state == "queued"]
    return queued_refresh_s(min(waiting)) if waiting else None


def pace_outdated(every: float | None, statuses: Sequence) -> bool:
    """Whether a waiting panel drawn at pace ``every`` has moved up enough to refresh faster now
    (by :data:`QUEUED_CATCH_UP_S` or more)."""
    now = panel_refresh_s(statuses)
    return every is not None and now is not None and every - now >= QUEUED_CATCH_UP_S


def training_panel(job_keys: str | Sequence[str] = TRAIN_JOB_KEY, titles: dict[str, str] | None = None) -> None:
    """Draw the live panels of this session's jobs; call it once, as the page's last step.

    The fragment refreshes every :data:`LIVE_REFRESH_S` seconds while a job runs (while it only
    waits, slower the further back it is: :func:`queued_refresh_s`), and reruns the whole page once
    when a job starts or ends.

    Args:
        job_keys: the session-state key(s) holding job ids; each panel's widget keys end in
            ``_<job_key>`` unless it is :data:`cnnviz.app.state.TRAIN_JOB_KEY`.
        titles: a Markdown heading per job key, shown above its panel.
    """
    keys = [job_keys] if isinstance(job_keys, str) else list(job_keys)
    shown, statuses, read = [], [], False
    with friendly_errors(SHOWING):  # e.g. a job table damaged since the session began: said as at its start
        for key in keys:
            job_id = st.session_state.get(key)
            if not job_id:
                continue
            status = jobs.training_jobs().status(job_id)
            if status is None:
                st.info("This training is no longer in the server's job list; its finished runs are on the Runs "
                        "page.")
                st.session_state.pop(key, None)
                continue
            shown.append((key, job_id, status.state))
            statuses.append(status)
        read = True
    if shown and read:
        every = panel_refresh_s(statuses)
        st.fragment(_panels_fragment, run_every=every)(shown, titles or {}, every)


def _panels_fragment(shown: list[tuple[str, str, str]], titles: dict[str, str], every: float | None) -> None:
    with friendly_errors(SHOWING):  # a job table damaged between two refreshes: said, and the next refresh looks again
        _panels(shown, titles, every)


def _panels(shown: list[tuple[str, str, str]], titles: dict[str, str], every: float | None) -> None:
    manager = jobs.training_jobs()
    statuses = [(key, manager.status(job_id), state_then) for key, job_id, state_then in shown]
    for _, status, state_then in statuses:
        if status is not None and status.state != state_then and state_then in ("queued", "running"):
            # A job ended (redraw the Train button and run lists) or a queued job started (the panel
            # then refreshes at the running pace): one page rerun.
            st.rerun(scope="app")
    if pace_outdated(every, [status for _, status, _ in statuses if status is not None]):
        st.rerun(scope="app")  # moved up the queue: take the pace of the new place
    if any(st.session_state.get(key) != job_id for key, job_id, _ in shown):
        st.rerun(scope="app")  # the student resumed a training: the page draws the new job
    for key, status, _ in statuses:
        if status is None:
            continue
        if key in titles:
            st.markdown(titles[key])
        suffix = "" if key == TRAIN_JOB_KEY else f"_{key}"
        _job_view(manager, status, suffix, key)
        _live_chart(status, suffix)


def _job_view(manager, status, suffix: str, key: str = TRAIN_JOB_KEY) -> None:
    p = status.progress
    if status.state == "queued":
        problem = manager.slot_problem()  # e.g. a slot's lock file left by a server once run as root
        if not problem and status.queue_position <= manager.free_slots():  # nobody ahead: its worker is starting
            st.info("Starting: a training worker is getting ready (it loads TensorFlow, 10-30 s after the server "
                    "starts); your training begins as soon as it is.", icon=":material/hourglass_top:")
        else:
            st.info(f"Waiting for a free training slot: you are number {status.queue_position} in the queue "
                    f"(this server trains {manager.max_jobs} network(s) at a time).", icon=":material/hourglass_top:")
        if problem:
            st.warning(plain_text(problem), icon=":material/block:")
    elif status.state == "running":
        if p.phase == "training":
            st.progress(p.fraction, text=f"Epoch {p.epoch} of {p.epochs}, batch {p.batch} of {p.batches}")
        else:  # testing: how many test images are done (a large test set with test-time augmentation takes a while)
            st.progress(p.fraction, text=f"{p.phase.capitalize()}…" + (f" {p.note}" if p.phase == "testing" and
                                                                        p.note else ""))
    if status.active:
        st.button("Stop training", key=f"train_stop{suffix}", icon=":material/stop_circle:", on_click=jobs.stop_training,
                  args=(status.job_id,), help="Ends within one batch; what was learned so far is saved as a 'stopped' run.")
    saved = _saved_run(status)
    rate, rate_meaning = _images_per_second(p, saved)
    cols = st.columns(6)
    for col, (label, value, fmt) in zip(cols, (
        ("loss", p.loss, "{:.4f}"), ("accuracy", p.accuracy, "{:.1%}"),
        ("validation loss", p.val_loss, "{:.4f}"), ("validation accuracy", p.val_accuracy, "{:.1%}"),
        ("images / s", rate, "{:,.0f}"), ("time left", p.eta_s, "{:,.0f} s"),
    )):
        estimating = label == "time left" and status.state == "running" and p.phase == "training"
        col.metric(label, ("estimating…" if estimating else "–") if value is None else fmt.format(value),
                   help=rate_meaning if label == "images / s" else None)
    gone = saved is None and bool(status.run_id) and not status.active and not runs.is_stored(status.run_id)
    if status.state in ("finished", "stopped"):
        _finished_note(status, saved, gone)
    elif status.state == "failed":
        st.error(plain_text(status.error or "Training failed."))  # it may name a dataset or label
    elif status.state == "interrupted":
        kept = f" What it had learned is saved as run `{status.run_id}`." if status.run_id and not gone else ""
        st.warning("This training was interrupted: the server stopped while it ran." + kept)
    if gone:  # its run was saved, then deleted (another tab, the teacher): never point the student at Runs for it
        st.warning(f"Its run {status.run_id} was deleted since (in another tab or by the teacher): it is no longer "
                   "on the Runs page.", icon=":material/block:")
    epochs_done = manager.resumable(status.job_id) if status.state in ("failed", "interrupted") else 0
    if epochs_done:
        note = manager.resume_note(status.job_id)
        st.button(f"Resume after epoch {epochs_done}", key=f"train_resume{suffix}", icon=":material/replay:",
                  on_click=jobs.resume_training, args=(status.job_id, key),
                  help="Goes on from the last finished epoch; the new run's history starts with the earlier epochs"
                       + (f": {note}." if note else "."))
    elif status.state == "cancelled":
        st.info("Training was stopped before it began; nothing was saved.")


def _saved_run(status) -> runs.RunInfo | None:
    """The run a job that ended saved; None while it runs, or when it saved none that can be read."""
    if status.active or not status.run_id:
        return None
    try:
        return runs.load_run(status.run_id, jobs.owner())  # only a run this person may see
    except CnnvizError:
        return None


def _images_per_second(progress, saved: runs.RunInfo | None) -> tuple[float | None, str]:
    """The pace to show and what it means: once the run is saved, its own figure (the one the Runs page
    shows), so that a student never reads two numbers for one fact; before, the live one."""
    if saved is not None:
        return saved.metrics.get("images_per_s"), (
            "Training images per second over the whole training, the first batch (which traces the network) "
            "included: the run's figure, as on the Runs page.")
    return progress.images_per_s, ("Training images per second so far, from the end of the first batch "
                                   "(tracing the network is left out); once the run is saved, its figure over "
                                   "the whole training.")


def _live_chart(status, suffix: str) -> None:
    """The live curves, rebuilt at most every :data:`CHART_REFRESH_S` s (in between the last figure is re-sent)."""
    p = status.progress
    if not p.curve:
        return
    memo_key = f"_live_chart_{status.job_id}"
    built_at, figure = st.session_state.get(memo_key, (0.0, None))
    now = time.monotonic()
    if not status.active:  # the final curves; nothing to remember any more
        st.session_state.pop(memo_key, None)
        # The x axis fits the epochs done: a run stopped (or early-stopped) at epoch 12 of 500
        # would otherwise sit squeezed against the left edge.
        figure = plots.live_curves(p.curve)
    elif figure is None or now - built_at >= CHART_REFRESH_S:
        figure = plots.live_curves(p.curve, epochs=p.epochs)
        st.session_state[memo_key] = (now, figure)
    st.plotly_chart(figure, key=f"train_live_curves{suffix}")


def _finished_note(status, info: runs.RunInfo | None, gone: bool = False) -> None:
    """What a finished or stopped job saved; ``info``: its run (None when it cannot be read); ``gone``: the run was
    deleted since (no link to Runs then)."""
    word = "Finished" if status.state == "finished" else "Stopped"
    text = f"{word}: run `{status.run_id}`"
    metrics, tta = (info.metrics, info.spec.tta) if info is not None else ({}, "none")
    if status.test_accuracy is not None:
        text += f", test accuracy **{status.test_accuracy:.1%}**"
    if tta != "none":
        text += f" (mean over {tta_phrase(tta)})"
    loss_text = runs_labels.test_loss_text(info) if info is not None else None
    if loss_text:
        text += f", {loss_text}"
    if metrics.get("preset_expected_test_accuracy") is not None:
        text += (f" (expected on a quiet 2-core server: ≈{metrics['preset_expected_test_accuracy']:.0%} "
                 f"in ≈{metrics['preset_expected_seconds'] / 60:.1f} min)")
    figure = notebook.for_run(info) if info is not None else None
    if figure is not None and figure.shown_accuracy is not None:
        text += f" (the notebook got {figure.shown_accuracy:.1%} with this set-up)"
    st.success(text + ".")
    if figure is not None and figure.shown_accuracy is None:
        st.caption(figure.text())
    gap = runs_labels.accuracy_gap_note(info.spec) if info is not None else None
    if gap:
        st.caption(gap)
    if not gone:
        st.page_link("app_pages/runs.py", label="Compare it with other runs", icon=":material/history:")
