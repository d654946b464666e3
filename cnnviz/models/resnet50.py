"""Keras' ResNet50 ImageNet classifier: its input contract, its architecture and its weights.

The seed lab (000, Part 22) loads ``ResNet50(weights="imagenet")`` and feeds it 224×224 photos
through ``preprocess_input``. Here the architecture is built with ``weights=None`` (no
download) and the official weights file is found, fetched or given through
:mod:`cnnviz.weights`. The transfer backbones (:mod:`cnnviz.models.transfer`) use the same
"caffe" preprocessing. TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

import numpy as np

from cnnviz import weights
from cnnviz.errors import InvalidArgument


if TYPE_CHECKING:  # pragma: no cover
    import keras

INPUT_SIZE = (224, 224)
# keras.applications.resnet50.preprocess_input is "caffe" mode (keras/src/applications/imagenet_utils.py):
# RGB -> BGR, then subtract these means, no scaling.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
#: ``progress(done, total, words)`` of :func:`load_resnet50_model`: ``done`` of ``total`` steps are over and
#: ``words`` say what happens now ("ready" once ``done == total``).
StepProgress = Callable[[int, int, str], None]


def preprocess_input(x: np.ndarray) -> np.ndarray:
    """RGB -> BGR and ImageNet mean subtraction, as ``keras.applications.resnet50.preprocess_input``.

    Args:
        x: RGB values 0..255, shape ...×3 (one image or a batch).
    Returns:
        A new float32 array (the input is not modified, unlike Keras' in-place version).
    """
    arr = np.asarray(x)
    if arr.ndim < 3 or arr.shape[-1] != 3:
        raise InvalidArgument(f"expected RGB images with 3 channels last, got shape {arr.shape}")
    return arr.astype(np.float32)[..., ::-1] - np.asarray(IMAGENET_MEAN_BGR, dtype=np.float32)


def build_resnet50() -> "keras.Model":
    """Keras' ResNet50 architecture with random weights (``weights=None``): no download."""
    import keras

    return keras.applications.ResNet50(weights=None)


def load_resnet50_model(
    *,
    weights_path: str | os.PathLike | None = None,
    download: bool = True,
    url: str | None = None,
    md5: str | None = None,
    timeout: float = weights.DOWNLOAD_TIMEOUT_S,
    progress: StepProgress | None = None,
) -> tuple["keras.Model", str]:
    """ResNet50 with its ImageNet weights, and where they came from (for people).

    Once the weights file is found, the load goes in three steps, each reported to ``progress`` as it
    starts: importing TensorFlow (seconds, the first time in a process), building the architecture's layers
    and reading the weights from the file (Keras reports nothing within a step).

    Args:
        weights_path: an explicit weights file (``.h5`` as Keras publishes it, or a
            ``.weights.h5`` saved by ``model.save_weights``); default ``$CNNVIZ_RESNET50_WEIGHTS``,
            else the official file (see :func:`cnnviz.weights.resolve_weights`).
        download: fetch the official file when no copy is on this machine.
        url, md5: where to fetch it and its checksum (default: Keras' own).
        timeout: seconds per network operation.
        progress: told each step as it starts, and "ready" at the end (:data:`StepProgress`).
    Returns:
        ``(model, weights_source)``.
    Raises:
        Unavailable: no weights here and none could be downloaded; the message says how to fix it.
        InvalidArgument: an explicit file is not ResNet50 weights.
    """
    wf = weights.RESNET50
    path = weights.resolve_weights(wf, weights_path, download=download, url=url, md5=md5, timeout=timeout)
    official = path in weights.weights_candidates(wf)
    step = progress or (lambda done, total, words: None)
    step(0, 3, "starting TensorFlow")
    import keras  # unused here: its own step, as the first import in a process takes seconds

    step(1, 3, "building the network's layers")
    model = build_resnet50()
    step(2, 3, f"reading its {os.path.getsize(path) / 1e6:,.0f} MB of ImageNet weights from the disk")
    try:
        model.load_weights(str(path))
    except Exception as err:  # any reader error: h5py, a shape mismatch, a wrong file type
        raise InvalidArgument(f"could not read ResNet50 weights from {path}: {err}") from None
    step(3, 3, "ready")
    return model, (f"Keras' ImageNet weights from {path}" if official else f"weights from {path}")
