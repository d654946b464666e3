"""Getting data and weights onto the server from a page: downloads, the zip import and the CIFAR-10 import
from a path, each with a progress bar that moves (:func:`_moving_bar`, one for all of them). Each runs in the script thread: if the student clicks something meanwhile, Streamlit stops
it at the next update and the partial file is deleted."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator

import streamlit as st

from cnnviz import weights
from cnnviz.app import caches, identity
from cnnviz.data import datasets, stored
from cnnviz.errors import Unavailable
from cnnviz.inspect import pretrained
from cnnviz.models.backbones import BACKBONES
from cnnviz.weights import Progress, download_backbone


# --- the bar ---------------------------------------------------------------------------------------


def megabytes(done: int, total: int | None) -> str:
    """A download's bar text: "3.0 of 14.0 MB" (10⁶ bytes, as the pages give sizes), then what happens once
    the last byte is in."""
    if not total:
        return f"{done / 1e6:,.1f} MB"
    text = f"{done / 1e6:,.1f} of {total / 1e6:,.1f} MB"
    return f"{text}: checking the file…" if done >= total else text


def read_megabytes(done: int, total: int | None) -> str:
    """A file import's bar text: "34.7 of 173.3 MB read", then what happens once the last byte is."""
    text = f"{done / 1e6:,.1f} of {(total or 0) / 1e6:,.1f} MB read"
    return f"{text}: checking and saving…" if total and done >= total else text


def zip_files(done: int, total: int | None) -> str:
    """A zip import's bar text: "120 of 4,000 files read", then what happens once the last one is."""
    text = f"{done:,} of {total or 0:,} files in the zip read"
    return f"{text}: saving the dataset…" if total and done >= total else text


@contextlib.contextmanager
def _moving_bar(first_text: str, describe: Callable[[int, int | None], str] = megabytes) -> Iterator[Progress]:
    """A progress bar for the ``with`` block, which gets ``report(done, total)`` to move it.

    It moves once per percent (once per new text while the total is unknown), so that thousands of
    calls keep the page responsive; it ends full ("Done"), or is removed when the block fails.
    """
    slot = st.empty()  # the bar lives here, so that a failure leaves no stale bar and "Connecting…" behind
    bar = slot.progress(0.0, text=first_text)
    last: list = [None]

    def report(done: int, total: int | None) -> None:
        step = min(100, done * 100 // total) if total else describe(done, total)
        if step != last[0]:
            last[0] = step
            bar.progress(step / 100 if total else 0.0, text=describe(done, total))

    try:
        yield report
    except BaseException:  # offline, refused, a bad zip, or the student left: the error says why, no bar above it
        slot.empty()
        raise
    bar.progress(1.0, text="Done")


# --- datasets --------------------------------------------------------------------------------------


def downloadable(name: str) -> bool:
    """Whether dataset ``name`` can be downloaded from the page (else it is imported)."""
    source = stored.SOURCES.get(name)
    return bool(source and source.downloadable)


def download_dataset(name: str, **opts) -> str:
    """``datasets.download`` with a progress bar; returns the summary line."""
    title = stored.title(name)
    with _moving_bar(f"Connecting to download {title}…") as report, \
            st.spinner(f"Getting {title} (stay on this page)…"):
        summary = datasets.download(name, progress=report, **opts)
    caches.forget_datasets()
    return summary


def import_cifar10(path: str) -> str:
    """Install CIFAR-10 from a path on the server; returns the summary line."""
    if not datasets.server_paths_allowed():  # the page hides the box; this guards a forged widget value
        raise Unavailable(f"Importing from a path on the server is off: start the app with {datasets.SERVER_PATHS_ENV}=1 to allow it.")
    with _moving_bar("Opening CIFAR-10…", read_megabytes) as progress, \
            st.spinner("Reading and checking the CIFAR-10 batches…"):
        summary = datasets.import_cifar10(path, by=identity.person(), progress=progress)
    caches.forget_datasets()
    return summary


def import_folder_zip(data: bytes, **opts) -> dict:
    """Make a folder dataset from an uploaded zip, a bar moving as its files are decoded; returns the
    import report."""
    with _moving_bar("Opening the zip…", zip_files) as progress, \
            st.spinner("Checking the zip and decoding the images…"):
        report = datasets.import_folder_zip(data, progress=progress, **opts)
    caches.forget_datasets()
    return report


# --- weights ---------------------------------------------------------------------------------------


def transfer_download(backbone: str, *, alpha: float, image_size: int) -> str:
    """Fetch a backbone's ImageNet weights (downloaded and checked by
    :func:`cnnviz.weights.download_backbone`) with a progress bar; returns the path."""
    title = BACKBONES[backbone].title
    with _moving_bar(f"Connecting to download {title}'s ImageNet weights…") as report, \
            st.spinner(f"Downloading {title}'s ImageNet weights (stay on this page)…"):
        return str(download_backbone(backbone, alpha=alpha, image_size=image_size, progress=report))


# --- the pretrained ResNet50 -------------------------------------------------------------------
# Its ~100 MB of weights are fetched here, with a bar, and not by the shared model (caches.resnet50), which
# only loads them from the disk (with a bar of its own steps). A failed download
# is retried at most every RESNET50_RETRY_S so an offline classroom does not wait on the network at
# every click; one session downloads at a time, the others follow its bar and then load its file.
RESNET50_RETRY_S = 120.0
_resnet50_failure: dict = {}  # {"at": monotonic time, "message": str} of the last failed download
_resnet50_download = threading.Lock()
_resnet50_progress: dict = {}  # {"at": (done, total)} of the download under way, for the sessions waiting
WAIT_STEP_S = 0.25  # how often a waiting session looks at the other one's download


def resnet50() -> pretrained.SharedClassifier:
    """The shared :class:`cnnviz.inspect.pretrained.SharedClassifier` (:func:`cnnviz.app.caches.resnet50`),
    its weights downloaded first with a progress bar when this server has none; raises Unavailable
    with what is missing and how to get it. After a download, its bar gives way to one line once the model is
    loaded."""
    try:
        return caches.resnet50()
    except Unavailable:
        _repeat_recent_failure()  # before any bar: offline, a click costs nothing
    slot = st.empty()
    try:
        with slot.container():
            _fetch_resnet50_weights()
        clf = caches.resnet50()
    except BaseException:  # offline, or a downloaded file that does not load: the error says why, no bar above it
        slot.empty()
        raise
    slot.success(f"{weights.RESNET50.title}'s ImageNet weights are downloaded and loaded: ResNet50 is ready.",
                 icon=":material/check_circle:")
    return clf


def _fetch_resnet50_weights() -> None:
    wf = weights.RESNET50
    with _moving_bar(f"Connecting to download {wf.title}'s ImageNet weights ({wf.size_text})…") as report, \
            st.spinner(f"Downloading {wf.title}'s ImageNet weights (the first time only)…"):
        while not _resnet50_download.acquire(timeout=WAIT_STEP_S):  # another session downloads: follow it
            if "at" in _resnet50_progress:
                report(*_resnet50_progress["at"])
        try:
            _download_resnet50_weights(report)
        finally:
            _resnet50_progress.clear()
            _resnet50_download.release()


def _download_resnet50_weights(report: Progress) -> None:
    _repeat_recent_failure()  # the session this one waited for may have just failed

    def shared(done: int, total: int | None) -> None:
        _resnet50_progress["at"] = (done, total)
        report(done, total)

    try:  # a copy that arrived meanwhile (the other session's) is found and checked, not fetched again
        weights.resolve_weights(weights.RESNET50, download=True, progress=shared)
    except Unavailable as err:
        _resnet50_failure.update(at=time.monotonic(), message=str(err))
        raise


def _repeat_recent_failure() -> None:
    """Raise the last failed download's Unavailable again while it is recent (no new attempt)."""
    failure = dict(_resnet50_failure)
    if failure and time.monotonic() - failure["at"] < RESNET50_RETRY_S:
        raise Unavailable(failure["message"])
