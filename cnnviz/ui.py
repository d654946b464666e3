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


# --- datasets ---------------------------------------------------------------------------


# --- models, training and runs ----------------------------------------------------------


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
