"""The one Streamlit-aware module: cached shared loaders, session-state keys, page helpers.

Rules (see DEVELOPERS.md): objects shared by all sessions go in ``st.cache_resource`` and
are never trained or mutated; a session's own model lives in the run store. Nothing in
the rest of ``cnnviz`` imports this module.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Iterator, Sequence

import streamlit as st

from cnnviz.errors import CnnvizError, Unavailable

log = logging.getLogger("cnnviz")


@contextlib.contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show CnnvizError messages with ``st.error``; log anything else and show a short note.

    Streamlit's own control-flow exceptions (rerun, stop) derive from BaseException
    and pass through untouched.
    """
    try:
        yield
    except CnnvizError as err:
        st.error(str(err))
    except Exception:  # a bug: keep the traceback on the server, not in front of the class
        log.exception("%s failed", action)
        st.error(f"{action} failed because of an internal error. The details are in the server log.")


# --- convolution and images ---------------------------------------------------------------


@st.cache_data(max_entries=4, show_spinner=False)
def conv_sample_photo(name: str):
    """A scikit-learn sample photo (cached: decoding the JPEG on every rerun is wasted work)."""
    from cnnviz.lessons import convolution

    return convolution.sample_photo(name)


@st.cache_data(max_entries=1, show_spinner="Loading CIFAR-10 test images ...")
def conv_cifar10_examples(count: int = 20) -> dict:
    """A few CIFAR-10 test images: ``{"images", "labels", "class_names"}``.

    Only the small slice is cached. ``Unavailable`` is raised, not cached, so data fetched
    meanwhile shows up on the next rerun (the check for missing files is cheap).
    """
    from cnnviz.lessons import convolution

    x, y, names = convolution.cifar10_test_images(count)
    return {"images": x, "labels": y, "class_names": names}


@st.cache_data(max_entries=8, show_spinner="Reading your image ...")
def conv_load_upload(_data: bytes, digest: str, name: str, max_side: int):
    """Decode an upload safely and shrink it for the lab; keyed by the bytes' sha256 ``digest``.

    Streamlit hashes big arguments by sampling, so the bytes themselves are not the key.
    Raises ``ImageError`` (not cached) for a bad file.
    """
    from dataclasses import replace

    from cnnviz.data import images

    loaded = images.load_image(_data, name=name, mode="RGB")
    return replace(loaded, array=images.fit_within(loaded.array, max_side))


def upload_digest(data: bytes) -> str:
    """sha256 of uploaded bytes, the cache key for :func:`conv_load_upload`."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- datasets ---------------------------------------------------------------------------
# Shared read-only datasets: one copy per process for every session (CIFAR-10 is ~180 MB).
DATASET_CACHE_ENTRIES = 3


@st.cache_resource(max_entries=DATASET_CACHE_ENTRIES, show_spinner="Loading the dataset…")
def _cached_dataset(name: str, fingerprint: str):
    """``datasets.load(name)`` with its arrays made read-only (``fingerprint`` keys new copies)."""
    from cnnviz.data import datasets

    ds = datasets.load(name)
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        arr.flags.writeable = False  # shared by all sessions: nobody may change it
    return ds


def load_dataset(name: str):
    """The shared, read-only :class:`cnnviz.data.datasets.Dataset` ``name`` (raises Unavailable)."""
    from cnnviz.data import datasets

    return _cached_dataset(name, datasets.fingerprint(name))


@st.cache_data(max_entries=16, show_spinner=False)
def _cached_scaling_preview(name: str, fingerprint: str, method: str, train_size: int, test_size: int,
                            validation_fraction: float, seed: int, sample: int) -> dict:
    from cnnviz.data import datasets

    return datasets.scaling_preview(load_dataset(name), method, train_size=train_size, test_size=test_size,
                                    validation_fraction=validation_fraction, seed=seed, sample=sample)


def scaling_preview(name: str, method: str, *, train_size: int, test_size: int,
                    validation_fraction: float, seed: int, sample: int) -> dict:
    """``datasets.scaling_preview`` of a stored dataset, cached: the statistics of 7,500
    CIFAR-10 images take a moment and depend only on these arguments."""
    from cnnviz.data import datasets

    return _cached_scaling_preview(name, datasets.fingerprint(name), method, train_size, test_size,
                                   validation_fraction, seed, sample)


def download_dataset(name: str, **opts) -> str:
    """``datasets.download`` with a progress bar; returns the summary line.

    The download runs in the script thread: if the student clicks something meanwhile,
    Streamlit stops it at the next progress update and the partial file is deleted.
    """
    from cnnviz.data import datasets

    bar = st.progress(0.0, text=f"Connecting to download {datasets.title(name)}…")
    last = [-1]

    def report(done: int, total: int | None) -> None:
        if total:
            percent = min(100, done * 100 // total)
            if percent != last[0]:  # one update per percent keeps the page responsive
                last[0] = percent
                bar.progress(percent / 100, text=f"{done / 2**20:,.1f} of {total / 2**20:,.1f} MB")
        elif done // 2**20 != last[0]:
            last[0] = done // 2**20
            bar.progress(0.0, text=f"{done / 2**20:,.1f} MB")

    with st.spinner(f"Getting {datasets.title(name)} (stay on this page)…"):
        summary = datasets.download(name, progress=report, **opts)
    bar.progress(1.0, text="Done")
    _cached_dataset.clear()
    return summary


def import_cifar10(path: str) -> str:
    """Install CIFAR-10 from a path on the server; returns the summary line."""
    from cnnviz.data import datasets

    if not datasets.server_paths_allowed():  # the page hides the box; this guards a forged widget value
        raise Unavailable(f"Importing from a path on the server is off: start the app with {datasets.SERVER_PATHS_ENV}=1 to allow it.")

    with st.spinner("Reading and checking the CIFAR-10 batches…"):
        summary = datasets.import_cifar10(path)
    _cached_dataset.clear()
    return summary


def import_folder_zip(data: bytes, **opts) -> dict:
    """Make a folder dataset from an uploaded zip; returns the import report."""
    from cnnviz.data import datasets

    with st.spinner("Checking the zip and decoding the images…"):
        report = datasets.import_folder_zip(data, **opts)
    _cached_dataset.clear()
    return report


# --- model summaries (Build & train, Transfer learning) --------------------------------------
def tta_phrase(mode: str) -> str:
    """What a run's test-time augmentation averages over, in words (the mode itself if unknown)."""
    from cnnviz.training.loop import TTA_SHORT

    return TTA_SHORT.get(mode, mode)


def parameter_metrics(table, labels: tuple[str, str, str] = ("Parameters", "Trainable", "Non-trainable")) -> None:
    """Three metrics of a :class:`cnnviz.models.network.SummaryTable`: total, trainable, non-trainable."""
    for col, label, value in zip(st.columns(3), labels, (table.total, table.trainable, table.non_trainable)):
        col.metric(label, f"{value:,}")


def layer_table(table, *, key: str, where=None) -> None:
    """The layer rows of a :class:`cnnviz.models.network.SummaryTable` (in ``where``, e.g. a column)."""
    (where or st).dataframe(
        [{k: row[k] for k in ("name", "type", "output_shape", "params", "formula")} for row in table.rows],
        hide_index=True, key=key,
        column_config={"output_shape": "output shape", "params": st.column_config.NumberColumn(format="localized")})


# --- models, training and runs ----------------------------------------------------------
# Only the job id lives in session state; the job itself belongs to the process-wide manager,
# so reruns, clicks and page switches never touch it (hazards.md, "Streamlit").
TRAIN_JOB_KEY = "train_job_id"
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


def _spare_keras_after_script_runs() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit's script runner does so after each run, fragment runs included, once Keras is
    imported (``script_runner._clean_problem_modules``, streamlit 1.67). With TensorFlow that resets
    the default graph, clears the process-wide eager kernel cache and runs ``gc.collect()``
    (keras ``global_state.clear_session``), under every training job on the server. The live
    panel reruns its fragment every second, so one student watching made a 5 s training take
    150-190 s (tests/e2e/test_load.py found it). Models here are built in job threads and shared
    read-only, so nothing needs that reset (hazards.md: never clear the session in a request).
    Streamlit's other clean-up (closing matplotlib figures) is kept.
    """
    import sys

    from streamlit.runtime.scriptrunner import script_runner

    if getattr(script_runner._clean_problem_modules, "spares_keras", False):
        return

    def clean_problem_modules_but_keras() -> None:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            with contextlib.suppress(Exception):  # as Streamlit: a failed clean-up must not break the page
                pyplot.close("all")

    clean_problem_modules_but_keras.spares_keras = True  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_problem_modules_but_keras


_spare_keras_after_script_runs()


def training_jobs():
    """The process-wide :class:`cnnviz.training.jobs.JobManager` (cleans the run store once at start-up)."""
    from cnnviz.training import jobs

    return jobs.manager()


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


def training_panel(job_keys: str | Sequence[str] = TRAIN_JOB_KEY, titles: dict[str, str] | None = None) -> None:
    """The live view of this session's training job(s): queue place, progress, curves, stop button.

    Call it last on a page. All panels of a page live in ONE ``st.fragment`` that refreshes every
    :data:`LIVE_REFRESH_S` seconds while a job runs (while it only waits, slower the further back
    it is: :func:`queued_refresh_s`), and reruns the whole page once when a job starts or ends.
    One fragment, drawn last, because Streamlit (1.67) drops a fragment's unsent messages from the
    send queue when that fragment reruns but keeps the ones queued after them: with a second
    fragment or other elements below, a slow server (training holds the GIL) could send the browser
    a block at index n+1 before n, which blanks the student's page ("Bad delta path index", found by
    the load test).

    Args:
        job_keys: the session-state key(s) holding job ids; each panel's widget keys end in
            ``_<job_key>`` unless it is :data:`TRAIN_JOB_KEY`.
        titles: a Markdown heading per job key, shown above its panel.
    """
    keys = [job_keys] if isinstance(job_keys, str) else list(job_keys)
    shown, statuses = [], []
    for key in keys:
        job_id = st.session_state.get(key)
        if not job_id:
            continue
        status = training_jobs().status(job_id)
        if status is None:
            st.info("The server restarted since this training started; its finished runs are on the Runs page.")
            st.session_state.pop(key, None)
            continue
        shown.append((key, job_id, status.state))
        statuses.append(status)
    if shown:
        every = panel_refresh_s(statuses)
        st.fragment(_panels_fragment, run_every=every)(shown, titles or {}, every)


def pace_outdated(every: float | None, statuses: Sequence) -> bool:
    """Whether a waiting panel drawn at pace ``every`` has moved up enough to refresh faster now
    (by :data:`QUEUED_CATCH_UP_S` or more)."""
    now = panel_refresh_s(statuses)
    return every is not None and now is not None and every - now >= QUEUED_CATCH_UP_S


def _panels_fragment(shown: list[tuple[str, str, str]], titles: dict[str, str], every: float | None) -> None:
    jobs = training_jobs()
    statuses = [(key, jobs.status(job_id), state_then) for key, job_id, state_then in shown]
    for _, status, state_then in statuses:
        if status is not None and status.state != state_then and state_then in ("queued", "running"):
            # A job ended (redraw the Train button and run lists) or a queued job started (the panel
            # then refreshes at the running pace): one page rerun.
            st.rerun(scope="app")
    if pace_outdated(every, [status for _, status, _ in statuses if status is not None]):
        st.rerun(scope="app")  # moved up the queue: take the pace of the new place
    for key, status, _ in statuses:
        if status is None:
            continue
        if key in titles:
            st.markdown(titles[key])
        suffix = "" if key == TRAIN_JOB_KEY else f"_{key}"
        _job_view(jobs, status, suffix)
        _live_chart(status, suffix)


def _job_view(jobs, status, suffix: str) -> None:
    p = status.progress
    if status.state == "queued":
        st.info(f"Waiting for a free training slot: you are number {status.queue_position} in the queue "
                f"(this server trains {jobs.max_jobs} network(s) at a time).", icon=":material/hourglass_top:")
    elif status.state == "running":
        if p.phase == "training":
            st.progress(p.fraction, text=f"Epoch {p.epoch} of {p.epochs}, batch {p.batch} of {p.batches}")
        else:
            st.progress(p.fraction, text=f"{p.phase.capitalize()}…")
    if status.active:
        st.button("Stop training", key=f"train_stop{suffix}", icon=":material/stop_circle:", on_click=jobs.stop,
                  args=(status.job_id,), help="Ends within one batch; what was learned so far is saved as a 'stopped' run.")
    cols = st.columns(6)
    for col, (label, value, fmt) in zip(cols, (
        ("loss", p.loss, "{:.4f}"), ("accuracy", p.accuracy, "{:.1%}"),
        ("validation loss", p.val_loss, "{:.4f}"), ("validation accuracy", p.val_accuracy, "{:.1%}"),
        ("images / s", p.images_per_s, "{:,.0f}"), ("time left", p.eta_s, "{:,.0f} s"),
    )):
        col.metric(label, "–" if value is None else fmt.format(value))
    if status.state in ("finished", "stopped"):
        _finished_note(status)
    elif status.state == "failed":
        st.error(status.error or "Training failed.")
    elif status.state == "cancelled":
        st.info("Training was stopped before it began; nothing was saved.")


def _live_chart(status, suffix: str) -> None:
    """The live curves, rebuilt at most every :data:`CHART_REFRESH_S` s (in between the last figure is re-sent)."""
    from cnnviz.plots import training as plots

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


def _finished_note(status) -> None:
    from cnnviz.runs import store as runs

    word = "Finished" if status.state == "finished" else "Stopped"
    text = f"{word}: run `{status.run_id}`"
    try:
        info = runs.load_run(status.run_id)
        metrics, tta = info.metrics, info.config.get("tta", "none")
    except CnnvizError:
        metrics, tta = {}, "none"
    if status.test_accuracy is not None:
        text += f", test accuracy **{status.test_accuracy:.1%}**"
    if tta != "none":
        text += f" (mean over {tta_phrase(tta)})"
    if metrics.get("test_loss") is not None:
        text += f", test loss {metrics['test_loss']:.3f}"
    if metrics.get("preset_expected_test_accuracy") is not None:
        text += (f" (expected on a quiet 2-core server: ≈{metrics['preset_expected_test_accuracy']:.0%} "
                 f"in ≈{metrics['preset_expected_seconds'] / 60:.1f} min)")
    seed_acc = metrics.get("seed_test_accuracy")
    if seed_acc is not None:
        where = ""
        if not metrics.get("same_dataset_as_seed"):
            from cnnviz.data import datasets

            where = f" on {datasets.title(metrics['seed_dataset'])}"
        text += f" (the notebook got {seed_acc:.1%}{where})"
    elif metrics.get("seed_result"):
        text += f" (the notebook: {metrics['seed_result']})"
    st.success(text + ".")
    st.page_link("app_pages/runs.py", label="Compare it with other runs", icon=":material/history:")


@st.cache_resource(max_entries=4, show_spinner="Loading the trained network…")
def _cached_run_model(run_id: str, model_sha256: str):
    import threading

    from cnnviz.runs import store as runs

    return runs.load_model(run_id), threading.Lock()


def run_model(run_id: str):
    """A saved run's Keras model, shared by all sessions, and the lock to hold while using it.

    Never train or change it. Keras ``predict`` on one model is not thread-safe
    (tensorflow#61298): ``model, lock = ui.run_model(i)``; ``with lock: model.predict(x)``.
    Keyed by the model's checksum, so a deleted and replaced run is never served stale.
    """
    from cnnviz.runs import store as runs

    return _cached_run_model(run_id, runs.model_sha256(run_id))


def settings_table(rows: list[dict], differing: list[str]):
    """Run rows as a pandas Styler with the settings that differ highlighted."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    keep = [c for c in frame.columns if c in ("run", "test accuracy", "status") or c in differing]
    frame = frame[keep]
    highlight = "background-color: rgba(255, 193, 7, 0.35)"
    return frame.style.apply(lambda col: [highlight if col.name in differing else ""] * len(col), axis=0)




# --- evaluation and features ------------------------------------------------------------
# Everything computed from a run's model is cached by run id + the model's sha256 (+ the
# dataset's fingerprint when the run's test images are involved), never by raw arrays:
# Streamlit samples big arrays when hashing them (hazards.md, "Streamlit"). One image is
# keyed by the sha256 of its bytes. Inference holds the shared model's lock.

#: ``{"run_id": str, "index": int}``: a test image sent from a gallery to the inspector.
INSPECT_TARGET_KEY = "inspect_target"
#: The run last chosen on Evaluate / Inside the network / Robustness, so it follows the student.
CURRENT_RUN_KEY = "inspect_current_run"
_SEEN_TRAINED_KEY = "inspect_seen_trained_run"
EVAL_CACHE_ENTRIES = 8
IMAGE_CACHE_ENTRIES = 32
#: One rotation angle of one run is two small arrays; 512 covers 8 runs × every 5°.
STEP_CACHE_ENTRIES = 512


def no_runs_notice(what: str) -> None:
    """Say that there is nothing to look at yet and link to the page that makes runs."""
    st.info(f"No trained runs yet: train a network first, then come back to {what}.")
    st.page_link("app_pages/build_train.py", label="Build & train", icon=":material/model_training:")


def keep_choice_valid(key: str, options, default=None) -> None:
    """Before drawing a choice widget whose options depend on the run (layers, classes, images):
    start it on ``default`` (when given), and reset a remembered value that is no longer offered
    to ``default`` (else the first option)."""
    options = list(options)
    if key not in st.session_state:
        if default is not None and default in options:
            st.session_state[key] = default
    elif st.session_state[key] not in options:
        st.session_state[key] = default if default in options else (options[0] if options else None)


def just_trained_run_id() -> str | None:
    """The run this session's last training job saved (None while it runs or when there is none)."""
    job_id = st.session_state.get(TRAIN_JOB_KEY)
    if not job_id:
        return None
    status = training_jobs().status(job_id)
    return None if status is None else status.run_id


def _augment_text(info) -> str:
    from cnnviz.data import augment

    aug = info.config.get("augment")
    return augment.AugmentConfig.from_dict(aug).describe() if aug else "no augmentation"


def _head_text(info) -> str:
    return " · global-average head" if (info.config.get("model") or {}).get("head") == "global_avg" else ""


def run_label(info) -> str:
    """``preset on dataset (id tail) · augmentation · test accuracy`` for run pickers."""
    acc = info.test_accuracy
    return f"{info.label}{_head_text(info)} · {_augment_text(info)} · " + ("–" if acc is None else f"{acc:.1%}")


def short_run_label(info) -> str:
    """A unique legend name: what, id tail and augmentation."""
    what = info.config.get("preset") or (info.config.get("model") or {}).get("architecture") or "custom"
    extra = ", global-average head" if _head_text(info) else ""
    return f"{what}{extra} ({info.run_id[-8:]}), {_augment_text(info)}"


def default_run_id(items: list) -> str:
    """The run a page opens with: one this session just trained (once), else the last one
    chosen on these pages, else the newest."""
    ids = [r.run_id for r in items]
    trained = just_trained_run_id()
    if trained in ids and trained != st.session_state.get(_SEEN_TRAINED_KEY):
        st.session_state[_SEEN_TRAINED_KEY] = trained
        st.session_state[CURRENT_RUN_KEY] = trained
        return trained
    current = st.session_state.get(CURRENT_RUN_KEY)
    return current if current in ids else ids[0]


def pick_run(items: list, *, key: str, label: str = "Run"):
    """A select box of saved runs that starts on :func:`default_run_id`; returns the RunInfo."""
    by_id = {r.run_id: r for r in items}
    if st.session_state.get(key) not in by_id:
        st.session_state[key] = default_run_id(items)
    run_id = st.selectbox(label, list(by_id), key=key, format_func=lambda i: run_label(by_id[i]))
    st.session_state[CURRENT_RUN_KEY] = run_id
    return by_id[run_id]


def pick_runs(items: list, *, key: str, label: str = "Runs") -> list:
    """A multi-select of saved runs; a run this session just trained joins the selection."""
    by_id = {r.run_id: r for r in items}
    if key in st.session_state:
        chosen = [i for i in st.session_state[key] if i in by_id]
    else:
        chosen = [default_run_id(items)]
    trained = just_trained_run_id()
    if trained in by_id and trained != st.session_state.get(_SEEN_TRAINED_KEY):
        st.session_state[_SEEN_TRAINED_KEY] = trained
        if trained not in chosen:
            chosen.append(trained)
    st.session_state[key] = chosen
    ids = st.multiselect(label, list(by_id), key=key, format_func=lambda i: run_label(by_id[i]))
    if ids:
        st.session_state[CURRENT_RUN_KEY] = ids[0]
    return [by_id[i] for i in ids]


def _fingerprint(info) -> str:
    from cnnviz.data import datasets

    return datasets.fingerprint(info.config["dataset"])


@st.cache_resource(max_entries=4, show_spinner="Re-creating the run's test images…")
def _cached_test_set(run_id: str, dataset_fingerprint: str) -> dict:
    import numpy as np

    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    ds = runs.run_dataset(run_id, full=load_dataset(info.config["dataset"]))
    x, y = ds.x_test, np.asarray(ds.y_test, dtype=np.int64)
    for arr in (x, y):
        arr.flags.writeable = False  # shared by all sessions
    return {"x": x, "y": y, "class_names": tuple(ds.class_names)}


def run_test_set(info) -> dict:
    """The run's own test images (uint8, read-only), labels and class names: ``{"x", "y", "class_names"}``."""
    return _cached_test_set(info.run_id, _fingerprint(info))


def _model_key(info) -> str:
    from cnnviz.runs import store as runs

    return runs.model_sha256(info.run_id)


@st.cache_data(max_entries=EVAL_CACHE_ENTRIES, show_spinner="Predicting every test image…")
def _cached_evaluation(run_id: str, model_sha256: str, dataset_fingerprint: str):
    from cnnviz.inspect import evaluation
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    data = _cached_test_set(run_id, dataset_fingerprint)
    model, lock = _cached_run_model(run_id, model_sha256)
    x = runs.prepare_inputs(info, data["x"])  # scaled exactly as in training
    with lock:  # tested as in training, so the page's accuracy is the run's accuracy
        return evaluation.evaluate(model, x, data["y"], data["class_names"], tta=info.config.get("tta", "none"))


def run_evaluation(info):
    """:func:`cnnviz.inspect.evaluation.evaluate` of a run on its own test set (cached per run and model)."""
    return _cached_evaluation(info.run_id, _model_key(info), _fingerprint(info))


@st.cache_data(max_entries=EVAL_CACHE_ENTRIES, show_spinner=False)
def _cached_layers(run_id: str, model_sha256: str) -> dict:
    from cnnviz.inspect import features
    from cnnviz.inspect import gradcam
    from cnnviz.errors import InvalidArgument

    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        try:
            last_conv = gradcam.last_conv_layer_name(model)
        except InvalidArgument:
            last_conv = None
        return {"maps": features.inspectable_layers(model), "convs": features.conv_layers(model),
                "last_conv": last_conv}


def run_layers(info) -> dict:
    """``{"maps": feature-map layers, "convs": conv layers, "last_conv": Grad-CAM default or None}``
    of a run's model."""
    return _cached_layers(info.run_id, _model_key(info))


def image_digest(image) -> str:
    """sha256 of an image's shape, dtype and pixels: the cache key for one image."""
    import hashlib

    import numpy as np

    img = np.ascontiguousarray(image)
    return hashlib.sha256(f"{img.shape}{img.dtype}".encode() + img.tobytes()).hexdigest()


@st.cache_data(max_entries=8, show_spinner="Reading your image…")
def _cached_inspect_upload(_data: bytes, digest: str, name: str, height: int, width: int, channels: int):
    from dataclasses import replace

    from cnnviz.data import images

    loaded = images.load_image(_data, name=name, mode="L" if channels == 1 else "RGB")
    array = loaded.array
    notes = list(loaded.notes)
    if array.shape[:2] != (height, width):
        notes.append(f"resized from {array.shape[1]}×{array.shape[0]} to {width}×{height} pixels, the size "
                     "the network was trained on")
    array = images.resize(array, (height, width))
    if channels == 1:
        array = array[..., None]
        notes.append("made grey, as the network's training images")
    return replace(loaded, array=array, notes=tuple(notes))


def inspect_upload(data: bytes, name: str, input_shape: tuple[int, int, int]):
    """An upload decoded by the safe loader and resized to the model's input (H×W×C uint8).

    Raises ``ImageError`` with the loader's message for a bad file.
    """
    h, w, c = (int(d) for d in input_shape)
    return _cached_inspect_upload(data, upload_digest(data), name, h, w, c)


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner=False)
def _cached_image_probabilities(run_id: str, model_sha256: str, digest: str, _image):
    from cnnviz.inspect import evaluation
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return evaluation.predict_probabilities(model, runs.prepare_inputs(info, _image[None]))[0]


def image_probabilities(info, image_uint8):
    """Class probabilities of one uint8 image H×W×C (scaled as the run was trained)."""
    return _cached_image_probabilities(info.run_id, _model_key(info), image_digest(image_uint8), image_uint8)


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Running the image through the network…")
def _cached_feature_maps(run_id: str, model_sha256: str, digest: str, _image, layer: str, normalization: str,
                         max_channels: int):
    from cnnviz.inspect import features
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return features.feature_maps(model, runs.prepare_inputs(info, _image), layer, normalization=normalization,
                                     max_channels=max_channels)


def feature_maps(info, image_uint8, layer: str, *, normalization: str, max_channels: int):
    """:func:`cnnviz.inspect.features.feature_maps` of one uint8 image (cached by run, model, image and options)."""
    return _cached_feature_maps(info.run_id, _model_key(info), image_digest(image_uint8), image_uint8, layer,
                                normalization, int(max_channels))


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner=False)
def _cached_filters(run_id: str, model_sha256: str, layer: str, max_filters: int, max_channels: int, scale: str):
    from cnnviz.inspect import features

    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return features.layer_filters(model, layer, max_filters=max_filters, max_channels=max_channels, scale=scale)


def layer_filters(info, layer: str, *, max_filters: int, max_channels: int, scale: str):
    """:func:`cnnviz.inspect.features.layer_filters` of a run's model (cached)."""
    return _cached_filters(info.run_id, _model_key(info), layer, int(max_filters), int(max_channels), scale)


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Computing Grad-CAM…")
def _cached_gradcam(run_id: str, model_sha256: str, digest: str, _image, class_index: int | None, layer: str | None):
    from cnnviz.inspect import gradcam
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return gradcam.gradcam(model, runs.prepare_inputs(info, _image[None]), class_index=class_index,
                               layer_name=layer)


def gradcam_heatmap(info, image_uint8, *, class_index: int | None, layer: str | None):
    """Grad-CAM heat map (H×W in [0, 1]) of one uint8 image for a class (None: the predicted one)."""
    return _cached_gradcam(info.run_id, _model_key(info), image_digest(image_uint8), image_uint8,
                           None if class_index is None else int(class_index), layer)


# Robustness: each (run, angle) is one cached step, so a progress bar can follow a sweep
# and changing the angles or adding a run only computes what is new.
def _prepare_for(info):
    import functools

    from cnnviz.runs import store as runs

    return functools.partial(runs.prepare_inputs, info)


@st.cache_data(max_entries=STEP_CACHE_ENTRIES, show_spinner=False)
def _cached_rotation_step(run_id: str, model_sha256: str, dataset_fingerprint: str, angle: float, fill: str):
    from cnnviz.inspect import robustness
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    data = _cached_test_set(run_id, dataset_fingerprint)
    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return robustness.rotation_sweep(model, data["x"], data["y"], data["class_names"], angles=(angle,),
                                         fill=fill, prepare=_prepare_for(info))


def join_sweeps(parts: list):
    """One :class:`cnnviz.inspect.robustness.SweepResult` from single-angle results of the same run, in order."""
    import numpy as np

    from cnnviz.inspect.robustness import SweepResult

    first = parts[0]
    return SweepResult(
        angles=tuple(a for p in parts for a in p.angles),
        accuracy=np.concatenate([p.accuracy for p in parts]),
        per_class=np.vstack([p.per_class for p in parts]),
        class_names=first.class_names, support=first.support, fill=first.fill,
    )


def rotation_sweeps(infos: list, angles, *, fill: str) -> dict:
    """``{legend name: SweepResult}``: each run on its own test set rotated by every angle, with a progress bar."""
    angles = tuple(float(a) for a in angles)
    steps = [(info, a) for info in infos for a in angles]
    bar = st.progress(0.0, text="Rotating the test images…")
    parts: dict[str, list] = {}
    for k, (info, a) in enumerate(steps):
        bar.progress(k / len(steps), text=f"{short_run_label(info)}: {a:g}° ({k + 1} of {len(steps)})")
        step = _cached_rotation_step(info.run_id, _model_key(info), _fingerprint(info), a, fill)
        parts.setdefault(short_run_label(info), []).append(step)
    bar.empty()
    return {name: join_sweeps(p) for name, p in parts.items()}


@st.cache_data(max_entries=32, show_spinner=False)
def _cached_transforms(run_id: str, model_sha256: str, dataset_fingerprint: str, shifts: tuple, fill: str):
    from cnnviz.inspect import robustness
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    data = _cached_test_set(run_id, dataset_fingerprint)
    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return robustness.transform_test(model, data["x"], data["y"], data["class_names"], shifts=shifts,
                                         fill=fill, prepare=_prepare_for(info))


def transform_results(infos: list, *, shifts, fill: str) -> dict:
    """``{legend name: TransformResult}`` of flips and shifts, one spinner per run."""
    out = {}
    for info in infos:
        with st.spinner(f"Flipping and shifting the test images for {short_run_label(info)}…"):
            out[short_run_label(info)] = _cached_transforms(info.run_id, _model_key(info), _fingerprint(info),
                                                            tuple(int(s) for s in shifts), fill)
    return out


@st.cache_data(max_entries=32, show_spinner=False)
def _cached_sizes(run_id: str, model_sha256: str, dataset_fingerprint: str, sizes: tuple, method: str):
    from cnnviz.inspect import robustness
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    data = _cached_test_set(run_id, dataset_fingerprint)
    model, lock = _cached_run_model(run_id, model_sha256)
    with lock:
        return robustness.other_sizes(model, data["x"], data["y"], data["class_names"], sizes=sizes, method=method,
                                      prepare=_prepare_for(info))


def size_results(infos: list, *, sizes, method: str) -> dict:
    """``{legend name: [SizeResult, ...]}`` of the other-size experiment, one spinner per run."""
    out = {}
    for info in infos:
        with st.spinner(f"Trying other image sizes with {short_run_label(info)}…"):
            out[short_run_label(info)] = _cached_sizes(info.run_id, _model_key(info), _fingerprint(info),
                                                       tuple(int(s) for s in sizes), method)
    return out


def submit_twin(info, spec) -> str:
    """Queue ``spec`` as this session's training job (shown by :func:`training_panel`); returns the job id."""
    what = "size-agnostic twin" if spec.model.get("head") != (info.config.get("model") or {}).get("head") \
        else "augmented twin"
    job_id = training_jobs().submit(spec, dataset=load_dataset(spec.dataset),
                                    label=f"{what} of {info.label}")
    st.session_state[TRAIN_JOB_KEY] = job_id
    return job_id


# --- pretrained -------------------------------------------------------------------------
# One ResNet50 per server (st.cache_resource: creation is locked by Streamlit, use is locked by
# SharedClassifier). Exceptions are not cached, so a missing-weights error is retried on the next
# rerun; a failed download is retried at most every _RESNET50_RETRY_S so an offline classroom does
# not wait on the network at every click.
_RESNET50_RETRY_S = 120.0
_resnet50_failure: dict = {}  # {"at": monotonic time, "message": str} of the last failed download


def resnet50():
    """The shared :class:`cnnviz.inspect.pretrained.SharedClassifier`; raises Unavailable with how to fix it."""
    return _resnet50_shared()


@st.cache_resource(show_spinner="Loading ResNet50 and its ImageNet weights (the first time takes a while)...")
def _resnet50_shared():
    import time

    from cnnviz.inspect import pretrained
    from cnnviz.errors import Unavailable

    failure = dict(_resnet50_failure)
    recent = bool(failure) and time.monotonic() - failure["at"] < _RESNET50_RETRY_S
    try:
        return pretrained.load_resnet50(download=not recent)
    except Unavailable as err:
        if recent:  # no new attempt was made: repeat what the last attempt found
            raise Unavailable(failure["message"]) from None
        _resnet50_failure.update(at=time.monotonic(), message=str(err))
        raise


def classify_photos(clf, photos, *, top: int = 5) -> list:
    """:func:`cnnviz.inspect.pretrained.classify`, cached by the photos' content (sha256), not their object."""
    import hashlib

    digest = hashlib.sha256(clf.weights_source.encode())
    for photo in photos:
        digest.update(str(photo.shape).encode())
        digest.update(photo.tobytes())
    return _classify_cached(digest.hexdigest(), clf, tuple(photos), top)


@st.cache_data(max_entries=8, show_spinner="ResNet50 is looking at the photos...")
def _classify_cached(key: str, _clf, _photos: tuple, top: int) -> list:
    from cnnviz.inspect import pretrained

    return pretrained.classify(_clf, list(_photos), top=top)


def load_photos(files: list) -> tuple[list, list[str]]:
    """:func:`cnnviz.inspect.pretrained.load_photos`, cached by the files' content so reruns do not decode again."""
    import hashlib

    digest = hashlib.sha256()
    for name, data in files:
        digest.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(data).digest())
    return _load_photos_cached(digest.hexdigest(), tuple(files))


@st.cache_data(max_entries=8, show_spinner="Reading the photos...")
def _load_photos_cached(key: str, _files: tuple) -> tuple[list, list[str]]:
    from cnnviz.inspect import pretrained

    return pretrained.load_photos(list(_files))


@st.cache_data(max_entries=1)
def sample_photos() -> dict:
    from cnnviz.inspect import pretrained

    return pretrained.sample_photos()


def resnet50_facts() -> tuple[dict, list[dict]]:
    """``(model_facts, stage_table)`` of the shared model, or of the bare architecture when the
    weights are missing (the facts do not depend on the weights)."""
    from cnnviz.errors import Unavailable

    try:
        model = resnet50().model
    except Unavailable:
        return _architecture_facts()
    return _facts_of(f"{model.name}-{model.count_params()}", model)


@st.cache_data(max_entries=4)
def _facts_of(key: str, _model) -> tuple[dict, list[dict]]:
    from cnnviz.inspect import pretrained

    return pretrained.model_facts(_model), pretrained.stage_table(_model)


@st.cache_data(max_entries=1, show_spinner="Building ResNet50's layers to count them...")
def _architecture_facts() -> tuple[dict, list[dict]]:
    from cnnviz.inspect import pretrained

    model = pretrained.build_resnet50()
    return pretrained.model_facts(model), pretrained.stage_table(model)


@st.cache_data(max_entries=4, show_spinner="Picking CIFAR-10 images...")
def cifar_bridge_images(count: int, seed: int) -> list:
    """A few CIFAR-10 test images with their class names; raises Unavailable when CIFAR-10 is absent."""
    from cnnviz.inspect import pretrained

    return pretrained.cifar_bridge_images(pretrained.load_cifar10_for_bridge(), count=count, seed=seed)


# --- transfer learning ------------------------------------------------------------------
#: Session keys of the transfer page's two jobs (frozen, unfrozen): each has its own live panel.
TRANSFER_JOB_KEYS = {True: "transfer_job_frozen", False: "transfer_job_unfrozen"}


def transfer_download(backbone: str, *, alpha: float, image_size: int) -> str:
    """Fetch a backbone's ImageNet weights (``keras.utils.get_file``, checked); returns the path.

    Runs in the script thread behind a spinner (Keras prints its own progress to the server log).
    """
    from cnnviz.models import transfer

    title = transfer.BACKBONES[backbone].title
    with st.spinner(f"Downloading {title}'s ImageNet weights (stay on this page)…"):
        return str(transfer.download_weights(backbone, alpha=alpha, image_size=image_size))


def submit_transfer(specs: list, dataset) -> list[str]:
    """Queue transfer runs (frozen and/or unfrozen), each under its own session key; returns the job ids."""
    from cnnviz.models import transfer
    from cnnviz.models.network import ModelConfig

    ids = []
    for spec in specs:
        cfg = ModelConfig.from_dict(spec.model)
        label = f"{transfer.BACKBONES[cfg.backbone].title} {'frozen' if cfg.frozen else 'unfrozen'} on {spec.dataset}"
        job_id = training_jobs().submit(spec, dataset=dataset, label=label)
        st.session_state[TRANSFER_JOB_KEYS[bool(cfg.frozen)]] = job_id
        ids.append(job_id)
    return ids


def transfer_jobs_active() -> bool:
    """True while one of this session's transfer jobs is queued or running."""
    jobs = training_jobs()
    for key in TRANSFER_JOB_KEYS.values():
        job_id = st.session_state.get(key)
        status = jobs.status(job_id) if job_id else None
        if status is not None and status.active:
            return True
    return False
