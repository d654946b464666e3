"""A pretrained ResNet50 (ImageNet) on the student's own photos: preprocessing, top-k, Grad-CAM.

The seed lab (000, Part 22, questions 29-32) loads ``ResNet50(weights="imagenet")``, feeds it
224×224 photos through ``preprocess_input`` and prints ``decode_predictions(preds, top=3)``.
This module does the same without the internet at class time:

* the model and its weights: :mod:`cnnviz.models.resnet50` (weights files: :mod:`cnnviz.weights`;
  offline without them, :class:`~cnnviz.errors.Unavailable` says what is missing and how to fix it);
* class names and model facts: :mod:`cnnviz.inspect.imagenet`;
* inference: one model per server in :class:`SharedClassifier` (its compiled forward pass,
  :mod:`cnnviz.inspect.inference`, behind a lock: Keras inference on one shared model is not
  thread-safe, tensorflow#61298).

TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from cnnviz import weights
from cnnviz.data import datasets
from cnnviz.data.decodelimits import DecodeBudget
from cnnviz.data.images import (
    EXTREME_ASPECT_RATIO,
    THIN_SIDE_PX,
    ImageError,
    code_name,
    fit_within,
    load_image,
    resize,
    shape_notes,
)
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import inference
from cnnviz.inspect.gradcam import gradcam_batch
from cnnviz.inspect.imagenet import NUM_CLASSES, decode
from cnnviz.models.resnet50 import INPUT_SIZE, StepProgress, load_resnet50_model, preprocess_input


if TYPE_CHECKING:  # pragma: no cover
    import keras

MAX_IMAGES = 12  # per classify call: a Grad-CAM of ResNet50 costs about a second per photo on 2 cores
MAX_TOP = 20
THUMBNAIL_PX = 448  # longer side of the photo kept for display
PHOTO_MAX_SIDE = 1024  # uploads are shrunk to this on load: the network needs 224, the page a thumbnail


# --- preprocessing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """One photo on its way into ResNet50, every step kept for display.

    Attributes:
        original_size: ``(height, width)`` of the photo as it came in.
        thumbnail: the photo, shrunk to at most THUMBNAIL_PX on its longer side (uint8 RGB;
            the full photo is not kept, so cached results stay small).
        resized: squeezed to the network's input size (224×224), uint8 RGB.
        bgr: the same pixels with the channels in Caffe's B, G, R order, uint8.
        input: ``bgr`` minus the ImageNet mean of each channel, float32: what the network sees.
    """

    original_size: tuple[int, int]
    thumbnail: np.ndarray
    resized: np.ndarray
    bgr: np.ndarray
    input: np.ndarray


def prepare(image: np.ndarray, *, size: tuple[int, int] = INPUT_SIZE) -> Prepared:
    """Resize one photo to the network's input size and preprocess it, keeping each step.

    The photo is squeezed to ``size`` (aspect ratio not kept), as
    ``keras.utils.load_img(path, target_size=(224, 224))`` in the seed lab does, but with a
    bilinear, antialiased filter (:func:`cnnviz.data.images.resize`).

    Args:
        image: uint8 H×W×3 RGB (H×W or H×W×1 grey is repeated to three channels).
        size: ``(height, width)`` of the network's input.
    Returns:
        A :class:`Prepared`.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise InvalidArgument(f"expected a uint8 image, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise InvalidArgument(f"expected an RGB image H×W×3, got shape {np.shape(image)}")
    resized = resize(img, size)
    return Prepared(original_size=(int(img.shape[0]), int(img.shape[1])), thumbnail=fit_within(img, THUMBNAIL_PX),
                    resized=resized, bgr=np.ascontiguousarray(resized[..., ::-1]), input=preprocess_input(resized))


# --- the shared model ------------------------------------------------------------------------------


class SharedClassifier:
    """One ImageNet classifier for every session: a compiled call behind a lock.

    Attributes:
        model: the Keras model (never trained or changed here).
        weights_source: where its weights came from, for people.
        input_size: ``(height, width)`` the model takes.
        lock: held for every use of the model (inference and Grad-CAM).
    """

    def __init__(self, model: "keras.Model", *, weights_source: str) -> None:
        shape = tuple(model.input_shape)
        if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
            raise InvalidArgument(f"expected a model taking N×H×W×3 images of a fixed size, got input shape {shape}")
        if model.output_shape[-1] != NUM_CLASSES:
            raise InvalidArgument(f"expected a model with {NUM_CLASSES} ImageNet outputs, got {model.output_shape}")
        self.model = model
        self.weights_source = weights_source
        self.input_size = (int(shape[1]), int(shape[2]))
        self.lock = threading.Lock()
        # The one compiled inference path: about 2x faster than model.predict and 5x faster than
        # eager model(x) for one ResNet50 image (measured on the 2-core machine); traced once.
        self._forward = inference.compiled(model)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Model outputs (N×1000 probabilities) for preprocessed float images N×H×W×3."""
        x = self._check_batch(batch)
        with self.lock:
            return self._forward.batch(x)

    def gradcam(self, batch: np.ndarray, class_indices: Sequence[int | None] | None = None,
                *, layer_name: str | None = None) -> np.ndarray:
        """Grad-CAM maps N×H×W in [0, 1] (see :func:`cnnviz.inspect.gradcam.gradcam_batch`), under the lock."""
        x = self._check_batch(batch)
        with self.lock:
            return gradcam_batch(self.model, x, class_indices=class_indices, layer_name=layer_name)

    def _check_batch(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:3] != self.input_size or x.shape[-1] != 3 or x.shape[0] < 1:
            raise InvalidArgument(
                f"expected a batch N×{self.input_size[0]}×{self.input_size[1]}×3, got shape {np.shape(batch)}"
            )
        return x


def load_resnet50(
    *,
    weights_path: str | os.PathLike | None = None,
    download: bool = True,
    url: str | None = None,
    md5: str | None = None,
    timeout: float = weights.DOWNLOAD_TIMEOUT_S,
    progress: StepProgress | None = None,
) -> SharedClassifier:
    """ResNet50 with its ImageNet weights (:func:`cnnviz.models.resnet50.load_resnet50_model`, which tells
    ``progress`` its steps), ready to share."""
    model, source = load_resnet50_model(weights_path=weights_path, download=download, url=url, md5=md5,
                                        timeout=timeout, progress=progress)
    return SharedClassifier(model, weights_source=source)


# --- classification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """What the network said about one photo.

    Attributes:
        prepared: the photo and every preprocessing step.
        probabilities: the 1,000 class probabilities (float32).
        top: ``(wnid, label, probability)``, most probable first.
        heatmap: Grad-CAM of the top class at the input size (224×224, in [0, 1]), or None.
    """

    prepared: Prepared
    probabilities: np.ndarray
    top: list[tuple[str, str, float]]
    heatmap: np.ndarray | None


def classify(clf: SharedClassifier, images: Sequence[np.ndarray], *, top: int = 5,
             explain: bool = True, progress: Callable[[int, int], None] | None = None) -> list[Classification]:
    """Classify several photos in one batch, with each one's top classes and Grad-CAM.

    Args:
        clf: the shared classifier.
        images: uint8 RGB photos of any size (1..MAX_IMAGES).
        top: classes to list per photo, 1..MAX_TOP.
        explain: also compute each photo's Grad-CAM for its top class, one photo at a time (about a second
            each on two cores; the lock is let go between photos).
        progress: called as ``progress(photos done, photos in all)`` after each photo's Grad-CAM.
    Returns:
        One :class:`Classification` per photo, in order.
    """
    if not 1 <= len(images) <= MAX_IMAGES:
        raise InvalidArgument(f"give 1..{MAX_IMAGES} photos at a time, got {len(images)}")
    if not 1 <= top <= MAX_TOP:
        raise InvalidArgument(f"top must be 1..{MAX_TOP}, got {top}")
    prepared = [prepare(img, size=clf.input_size) for img in images]
    batch = np.stack([p.input for p in prepared])
    probs = clf.probabilities(batch)
    tops = decode(probs, top=top)
    heatmaps: list[np.ndarray | None] = [None] * len(prepared)
    if explain:
        best = [int(np.argmax(row)) for row in probs]
        for i in range(len(batch)):
            heatmaps[i] = clf.gradcam(batch[i:i + 1], best[i:i + 1])[0]
            if progress is not None:
                progress(i + 1, len(batch))
    return [Classification(prepared=p, probabilities=pr, top=t, heatmap=h)
            for p, pr, t, h in zip(prepared, probs, tops, heatmaps)]


@dataclass(frozen=True)
class Photo:
    """An uploaded or bundled photo: its name, uint8 RGB pixels and the loader's notes."""

    name: str
    array: np.ndarray
    notes: tuple[str, ...] = ()


def load_photos(files: Sequence[tuple[str, bytes]]) -> tuple[list[Photo], list[str]]:
    """Decode uploads with :func:`cnnviz.data.images.load_image`; a bad file costs only itself.

    The list is cut to MAX_IMAGES *before* decoding, and the files share one
    :class:`~cnnviz.data.decodelimits.DecodeBudget` (pixels and processor seconds), so a
    hundred tiny files that each decode to 40 megapixels cannot hold the server.

    Args:
        files: ``(file name, bytes)`` pairs.
    Returns:
        ``(photos, messages)``: the readable photos among the first MAX_IMAGES files (each shrunk
        to at most PHOTO_MAX_SIDE pixels on its longer side) and one message per file that could
        not be used (the loader's own words), and one for the files left out undecoded.
    """
    photos: list[Photo] = []
    messages: list[str] = []
    budget = DecodeBudget(what="the photos of this upload")
    for name, data in files[:MAX_IMAGES]:
        try:
            loaded = load_image(data, name=name, budget=budget)
        except ImageError as err:
            messages.append(str(err))
            continue
        array = fit_within(loaded.array, PHOTO_MAX_SIDE)
        # The loader's words on the size are the Convolution page's ('valid' mode, a thin line on screen): this
        # page says its own.
        own = shape_notes(*loaded.original_size)
        notes = (*(n for n in loaded.notes if n not in own), *size_notes(loaded.original_size, array.shape[:2]))
        photos.append(Photo(name=name, array=array, notes=notes))
    if len(files) > MAX_IMAGES:
        left_out = ", ".join(code_name(name) for name, _ in files[MAX_IMAGES:MAX_IMAGES + 20])  # as load_image's
        more = f" and {len(files) - MAX_IMAGES - 20:,} more" if len(files) > MAX_IMAGES + 20 else ""
        messages.append(f"ResNet50 looks at {MAX_IMAGES} photos at a time: left out {left_out}{more}.")
    return photos, messages


def size_notes(original: tuple[int, int], loaded: tuple[int, int]) -> list[str]:
    """What this page does to a photo of this size: shrunk on loading, blown up or stretched into the input.

    Args:
        original: the photo's own ``(height, width)``.
        loaded: its ``(height, width)`` after :data:`PHOTO_MAX_SIDE` shrinking.
    """
    (h, w), (h2, w2) = original, loaded
    size = f"{w:,} pixel{'s' if w != 1 else ''} wide, {h:,} tall"
    notes = []
    if (h2, w2) != (h, w):
        notes.append(f"{size}: shrunk to {w2:,} wide, {h2:,} tall on loading")
    if min(h, w) < THIN_SIDE_PX:
        notes.append(f"very small ({size}): blown up to the network's input size, it is a blur")
    if max(h, w) >= EXTREME_ASPECT_RATIO * min(h, w):
        notes.append(f"extreme shape ({size}): squeezed into the network's square input, everything in it is "
                     f"stretched {max(h, w) / min(h, w):,.0f}×")
    return notes


# --- the CIFAR-10 bridge ----------------------------------------------------------------------------


def cifar_bridge_images(dataset: datasets.Dataset, *, count: int = 6, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """A few CIFAR-10 test images, one per class, to show ResNet50 (32×32 upscaled to 224×224).

    Args:
        dataset: CIFAR-10 (any Dataset with RGB images works).
        count: images, one per class, 1..number of classes.
        seed: which image of each class.
    Returns:
        ``[(uint8 H×W×3 image, true class name)]``.
    """
    n_classes = len(dataset.class_names)
    if not 1 <= count <= n_classes:
        raise InvalidArgument(f"count must be 1..{n_classes}, got {count}")
    if dataset.x_test.ndim != 4 or dataset.x_test.shape[-1] != 3:
        raise InvalidArgument(f"the CIFAR-10 bridge needs colour images, got shape {dataset.x_test.shape[1:]}")
    rng = np.random.default_rng(seed)
    picked = []
    for c in range(count):
        where = np.flatnonzero(dataset.y_test == c)
        if where.size:
            i = int(rng.choice(where))
            picked.append((dataset.x_test[i], dataset.class_names[c]))
    return picked


def load_cifar10_for_bridge() -> datasets.Dataset:
    """CIFAR-10 through :func:`cnnviz.data.datasets.load` (raises Unavailable with how to get it)."""
    return datasets.load("cifar10")
