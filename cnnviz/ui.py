"""The one Streamlit-aware module: cached shared loaders, session-state keys, page helpers.

Rules (see DEVELOPERS.md): objects shared by all sessions go in ``st.cache_resource`` and
are never trained or mutated; a session's own model lives in the run store. Nothing in
the rest of ``cnnviz`` imports this module.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import streamlit as st

from cnnviz.errors import CnnvizError

log = logging.getLogger("cnnviz")


def _route_through_app() -> None:
    """Make a first direct link to a page (``/convolution``) run ``app.py``'s navigation.

    Until some session has run ``app.py``, Streamlit treats the ``pages/`` folder as the
    legacy multipage layout and runs a linked page on its own (no page config, file names
    in the sidebar). Every page imports this module, so the first such run clears that
    mode and reruns; the rerun goes through ``app.py``, which routes to the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory and st.runtime.exists():
        PagesManager.uses_pages_directory = False
        st.rerun()


_route_through_app()


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
    from cnnviz import convolution

    return convolution.sample_photo(name)


@st.cache_data(max_entries=1, show_spinner="Loading CIFAR-10 test images ...")
def conv_cifar10_examples(count: int = 20) -> dict:
    """A few CIFAR-10 test images: ``{"images", "labels", "class_names"}``.

    Only the small slice is cached. ``Unavailable`` is raised, not cached, so data fetched
    meanwhile shows up on the next rerun (the check for missing files is cheap).
    """
    from cnnviz import convolution

    x, y, names = convolution.cifar10_test_images(count)
    return {"images": x, "labels": y, "class_names": names}


@st.cache_data(max_entries=8, show_spinner="Reading your image ...")
def conv_load_upload(_data: bytes, digest: str, name: str, max_side: int):
    """Decode an upload safely and shrink it for the lab; keyed by the bytes' sha256 ``digest``.

    Streamlit hashes big arguments by sampling, so the bytes themselves are not the key.
    Raises ``ImageError`` (not cached) for a bad file.
    """
    from dataclasses import replace

    from cnnviz import images

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
    from cnnviz import datasets

    ds = datasets.load(name)
    for arr in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        arr.flags.writeable = False  # shared by all sessions: nobody may change it
    return ds


def load_dataset(name: str):
    """The shared, read-only :class:`cnnviz.datasets.Dataset` ``name`` (raises Unavailable)."""
    from cnnviz import datasets

    return _cached_dataset(name, datasets.fingerprint(name))


@st.cache_data(max_entries=16, show_spinner=False)
def _cached_scaling_preview(name: str, fingerprint: str, method: str, train_size: int, test_size: int,
                            validation_fraction: float, seed: int, sample: int) -> dict:
    from cnnviz import datasets

    return datasets.scaling_preview(load_dataset(name), method, train_size=train_size, test_size=test_size,
                                    validation_fraction=validation_fraction, seed=seed, sample=sample)


def scaling_preview(name: str, method: str, *, train_size: int, test_size: int,
                    validation_fraction: float, seed: int, sample: int) -> dict:
    """``datasets.scaling_preview`` of a stored dataset, cached: the statistics of 7,500
    CIFAR-10 images take a moment and depend only on these arguments."""
    from cnnviz import datasets

    return _cached_scaling_preview(name, datasets.fingerprint(name), method, train_size, test_size,
                                   validation_fraction, seed, sample)


def download_dataset(name: str, **opts) -> str:
    """``datasets.download`` with a progress bar; returns the summary line.

    The download runs in the script thread: if the student clicks something meanwhile,
    Streamlit stops it at the next progress update and the partial file is deleted.
    """
    from cnnviz import datasets

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
    from cnnviz import datasets

    with st.spinner("Reading and checking the CIFAR-10 batches…"):
        summary = datasets.import_cifar10(path)
    _cached_dataset.clear()
    return summary


def import_folder_zip(data: bytes, **opts) -> dict:
    """Make a folder dataset from an uploaded zip; returns the import report."""
    from cnnviz import datasets

    with st.spinner("Checking the zip and decoding the images…"):
        report = datasets.import_folder_zip(data, **opts)
    _cached_dataset.clear()
    return report


# --- models, training and runs ----------------------------------------------------------
# Only the job id lives in session state; the job itself belongs to the process-wide manager,
# so reruns, clicks and page switches never touch it (hazards.md, "Streamlit").
TRAIN_JOB_KEY = "train_job_id"
#: Seconds between refreshes of the live numbers (progress is published at most this often anyway).
LIVE_REFRESH_S = 1.0
#: Seconds between redraws of the live curves: one Plotly update cost 12-29 ms on the shared
#: 2-core machine (benchmarks/training_overhead.py), so every 3 s keeps it near or under 1% of the run.
CHART_REFRESH_S = 3.0


def training_jobs():
    """The process-wide :class:`cnnviz.training.JobManager` (cleans the run store once at start-up)."""
    from cnnviz import training

    return training.manager()


def training_panel(job_key: str = TRAIN_JOB_KEY) -> None:
    """The live view of this session's training job: queue place, progress, curves, stop button.

    Refreshes itself every :data:`LIVE_REFRESH_S` seconds with ``st.fragment(run_every=...)``
    while the job is queued or running, and reruns the whole page once when it ends.
    """
    job_id = st.session_state.get(job_key)
    if not job_id:
        return
    status = training_jobs().status(job_id)
    if status is None:
        st.info("The server restarted since this training started; its finished runs are on the Runs page.")
        st.session_state.pop(job_key, None)
        return
    active = status.active
    st.fragment(_job_fragment, run_every=LIVE_REFRESH_S if active else None)(job_id, active)
    st.fragment(_chart_fragment, run_every=CHART_REFRESH_S if active else None)(job_id)


def _job_fragment(job_id: str, was_active: bool) -> None:
    jobs = training_jobs()
    status = jobs.status(job_id)
    if status is None:
        return
    if was_active and not status.active:
        st.rerun(scope="app")  # the job ended: redraw the page (Train button, run lists) once
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
        st.button("Stop training", key="train_stop", icon=":material/stop_circle:", on_click=jobs.stop,
                  args=(job_id,), help="Ends within one batch; what was learned so far is saved as a 'stopped' run.")
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


def _chart_fragment(job_id: str) -> None:
    from cnnviz.plots import training as plots

    status = training_jobs().status(job_id)
    if status is not None and status.progress.curve:
        p = status.progress
        st.plotly_chart(plots.live_curves(p.curve, epochs=p.epochs), key="train_live_curves")


def _finished_note(status) -> None:
    from cnnviz import runs

    word = "Finished" if status.state == "finished" else "Stopped"
    text = f"{word}: run `{status.run_id}`"
    try:
        metrics = runs.load_run(status.run_id).metrics
    except CnnvizError:
        metrics = {}
    if status.test_accuracy is not None:
        text += f", test accuracy **{status.test_accuracy:.1%}**"
    if metrics.get("test_tta"):
        text += " (mean of each test image and its mirror image)"
    if metrics.get("test_loss") is not None:
        text += f", test loss {metrics['test_loss']:.3f}"
    if metrics.get("preset_expected_test_accuracy") is not None:
        text += (f" (expected on a quiet 2-core server: ≈{metrics['preset_expected_test_accuracy']:.0%} "
                 f"in ≈{metrics['preset_expected_seconds'] / 60:.1f} min)")
    seed_acc = metrics.get("seed_test_accuracy")
    if seed_acc is not None:
        where = ""
        if not metrics.get("same_dataset_as_seed"):
            from cnnviz import datasets

            where = f" on {datasets.title(metrics['seed_dataset'])}"
        text += f" (the notebook got {seed_acc:.1%}{where})"
    elif metrics.get("seed_result"):
        text += f" (the notebook: {metrics['seed_result']})"
    st.success(text + ".")
    st.page_link("pages/runs.py", label="Compare it with other runs", icon=":material/history:")


@st.cache_resource(max_entries=4, show_spinner="Loading the trained network…")
def _cached_run_model(run_id: str, model_sha256: str):
    import threading

    from cnnviz import runs

    return runs.load_model(run_id), threading.Lock()


def run_model(run_id: str):
    """A saved run's Keras model, shared by all sessions, and the lock to hold while using it.

    Never train or change it. Keras ``predict`` on one model is not thread-safe
    (tensorflow#61298): ``model, lock = ui.run_model(i)``; ``with lock: model.predict(x)``.
    Keyed by the model's checksum, so a deleted and replaced run is never served stale.
    """
    from cnnviz import runs

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


# --- pretrained -------------------------------------------------------------------------
# One ResNet50 per server (st.cache_resource: creation is locked by Streamlit, use is locked by
# SharedClassifier). Exceptions are not cached, so a missing-weights error is retried on the next
# rerun; a failed download is retried at most every _RESNET50_RETRY_S so an offline classroom does
# not wait on the network at every click.
_RESNET50_RETRY_S = 120.0
_resnet50_failure: dict = {}  # {"at": monotonic time, "message": str} of the last failed download


def resnet50():
    """The shared :class:`cnnviz.pretrained.SharedClassifier`; raises Unavailable with how to fix it."""
    return _resnet50_shared()


@st.cache_resource(show_spinner="Loading ResNet50 and its ImageNet weights (the first time takes a while)...")
def _resnet50_shared():
    import time

    from cnnviz import pretrained
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
    """:func:`cnnviz.pretrained.classify`, cached by the photos' content (sha256), not their object."""
    import hashlib

    digest = hashlib.sha256(clf.weights_source.encode())
    for photo in photos:
        digest.update(str(photo.shape).encode())
        digest.update(photo.tobytes())
    return _classify_cached(digest.hexdigest(), clf, tuple(photos), top)


@st.cache_data(max_entries=8, show_spinner="ResNet50 is looking at the photos...")
def _classify_cached(key: str, _clf, _photos: tuple, top: int) -> list:
    from cnnviz import pretrained

    return pretrained.classify(_clf, list(_photos), top=top)


def load_photos(files: list) -> tuple[list, list[str]]:
    """:func:`cnnviz.pretrained.load_photos`, cached by the files' content so reruns do not decode again."""
    import hashlib

    digest = hashlib.sha256()
    for name, data in files:
        digest.update(hashlib.sha256(name.encode()).digest() + hashlib.sha256(data).digest())
    return _load_photos_cached(digest.hexdigest(), tuple(files))


@st.cache_data(max_entries=8, show_spinner="Reading the photos...")
def _load_photos_cached(key: str, _files: tuple) -> tuple[list, list[str]]:
    from cnnviz import pretrained

    return pretrained.load_photos(list(_files))


@st.cache_data(max_entries=1)
def sample_photos() -> dict:
    from cnnviz import pretrained

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
    from cnnviz import pretrained

    return pretrained.model_facts(_model), pretrained.stage_table(_model)


@st.cache_data(max_entries=1, show_spinner="Building ResNet50's layers to count them...")
def _architecture_facts() -> tuple[dict, list[dict]]:
    from cnnviz import pretrained

    model = pretrained.build_resnet50()
    return pretrained.model_facts(model), pretrained.stage_table(model)


@st.cache_data(max_entries=4, show_spinner="Picking CIFAR-10 images...")
def cifar_bridge_images(count: int, seed: int) -> list:
    """A few CIFAR-10 test images with their class names; raises Unavailable when CIFAR-10 is absent."""
    from cnnviz import pretrained

    return pretrained.cifar_bridge_images(pretrained.load_cifar10_for_bridge(), count=count, seed=seed)
