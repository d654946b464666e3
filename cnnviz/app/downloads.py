"""Getting data and weights onto the server from a page: downloads with a progress bar, imports
behind a spinner. Each runs in the script thread: if the student clicks something meanwhile,
Streamlit stops it at the next update and the partial file is deleted."""

from __future__ import annotations

import streamlit as st

from cnnviz.app import caches
from cnnviz.data import datasets, stored
from cnnviz.errors import Unavailable
from cnnviz.models.backbones import BACKBONES
from cnnviz.weights import download_backbone


def downloadable(name: str) -> bool:
    """Whether dataset ``name`` can be downloaded from the page (else it is imported)."""
    source = stored.SOURCES.get(name)
    return bool(source and source.downloadable)


def download_dataset(name: str, **opts) -> str:
    """``datasets.download`` with a progress bar; returns the summary line."""
    slot = st.empty()  # the bar lives here, so that a failed download leaves no stale "Connecting…" behind
    bar = slot.progress(0.0, text=f"Connecting to download {stored.title(name)}…")
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

    try:
        with st.spinner(f"Getting {stored.title(name)} (stay on this page)…"):
            summary = datasets.download(name, progress=report, **opts)
    except BaseException:  # offline, refused, or the student left: the error says it, no empty bar above it
        slot.empty()
        raise
    bar.progress(1.0, text="Done")
    caches.forget_datasets()
    return summary


def import_cifar10(path: str) -> str:
    """Install CIFAR-10 from a path on the server; returns the summary line."""
    if not datasets.server_paths_allowed():  # the page hides the box; this guards a forged widget value
        raise Unavailable(f"Importing from a path on the server is off: start the app with {datasets.SERVER_PATHS_ENV}=1 to allow it.")
    with st.spinner("Reading and checking the CIFAR-10 batches…"):
        summary = datasets.import_cifar10(path)
    caches.forget_datasets()
    return summary


def import_folder_zip(data: bytes, **opts) -> dict:
    """Make a folder dataset from an uploaded zip; returns the import report."""
    with st.spinner("Checking the zip and decoding the images…"):
        report = datasets.import_folder_zip(data, **opts)
    caches.forget_datasets()
    return report


def transfer_download(backbone: str, *, alpha: float, image_size: int) -> str:
    """Fetch a backbone's ImageNet weights (downloaded and checked by
    :func:`cnnviz.models.transfer.download_weights`); returns the path."""
    title = BACKBONES[backbone].title
    with st.spinner(f"Downloading {title}'s ImageNet weights (stay on this page)…"):
        return str(download_backbone(backbone, alpha=alpha, image_size=image_size))
