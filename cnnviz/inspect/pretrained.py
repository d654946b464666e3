"""A pretrained ResNet50 (ImageNet) on the student's own photos: weights, preprocessing, top-k, facts.

The seed lab (000, Part 22, questions 29-32) loads ``ResNet50(weights="imagenet")``, feeds it
224×224 photos through ``preprocess_input`` and prints ``decode_predictions(preds, top=3)``.
This module does the same without the internet at class time:

* weights: Keras' official file, found in ``CNNVIZ_HOME/weights`` or Keras' own cache
  (``~/.keras/models``), downloaded into ``CNNVIZ_HOME/weights`` (temporary file, MD5 check,
  ``os.replace``) when missing, or given explicitly as a path. Offline without them,
  :class:`~cnnviz.errors.Unavailable` says what is missing and the command that fixes it;
* class names: ``assets/imagenet_class_index.json``, byte-for-byte the file Keras downloads
  for ``decode_predictions`` (see ``assets/README.md``);
* inference: one model per server in :class:`SharedClassifier` (a ``tf.function`` call behind
  a lock: Keras ``predict`` on one shared model is not thread-safe, tensorflow#61298).

TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from cnnviz import storage
from cnnviz.errors import InvalidArgument, Unavailable

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from cnnviz.data.datasets import Dataset

# --- weights: the file and address Keras 3.15 itself uses (keras/src/applications/resnet.py,
# BASE_WEIGHTS_PATH + file name, WEIGHTS_HASHES["resnet50"][0]: an MD5, as get_file checks it).
RESNET50_WEIGHTS_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
RESNET50_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + RESNET50_WEIGHTS_FILE
)
RESNET50_WEIGHTS_MD5 = "2cb95161c43110f7111970584f804107"
RESNET50_WEIGHTS_SIZE_TEXT = "about 100 MB"
WEIGHTS_ENV = "CNNVIZ_RESNET50_WEIGHTS"  # an explicit weights file, for a teacher's own copy
#: An explicit weights file must be HDF5 weights: it is only ever read with ``load_weights`` into
#: Keras' own ResNet50 (no model config is deserialised); anything else is refused by name first.
WEIGHTS_SUFFIXES = (".h5", ".hdf5")
DOWNLOAD_COMMAND = "python -m cnnviz download resnet50"
DOWNLOAD_TIMEOUT_S = 20  # per network operation: an offline classroom should not wait long
_CHUNK = 1 << 20

# --- inputs: keras.applications.resnet50.preprocess_input is "caffe" mode
# (keras/src/applications/imagenet_utils.py): RGB -> BGR, then subtract these means, no scaling.
INPUT_SIZE = (224, 224)
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
MAX_IMAGES = 12  # per classify call: a Grad-CAM of ResNet50 costs about a second per photo on 2 cores
MAX_TOP = 20
THUMBNAIL_PX = 448  # longer side of the photo kept for display
PHOTO_MAX_SIDE = 1024  # uploads are shrunk to this on load: the network needs 224, the page a thumbnail

# --- class names (assets/README.md): the MD5 is Keras' file_hash for imagenet_class_index.json.
CLASS_INDEX_PATH = Path(__file__).resolve().parents[2] / "assets" / "imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
NUM_CLASSES = 1000

# scikit-learn ships two photos (sklearn.datasets.load_sample_image): always there, offline.
SAMPLE_PHOTOS = ("china.jpg", "flower.jpg")

# Layer types that carry trained weights and so count towards a network's "depth".
_WEIGHTED_CLASS_NAMES = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D",
                         "Conv2DTranspose", "Dense")
_CONV_CLASS_NAMES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")


# --- class names ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def class_index() -> tuple[tuple[str, str], ...]:
    """The 1,000 ImageNet classes as ``(wnid, label)`` in Keras' order (index = model output).

    Raises:
        Unavailable: the bundled file is missing or damaged.
    """
    try:
        raw = json.loads(CLASS_INDEX_PATH.read_text(encoding="utf-8"))
        entries = tuple((str(raw[str(i)][0]), str(raw[str(i)][1])) for i in range(NUM_CLASSES))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise Unavailable(
            f"the ImageNet class names file {CLASS_INDEX_PATH} is missing or damaged ({err}); "
            "reinstall cnnviz from its repository"
        ) from None
    return entries


def decode(probabilities: np.ndarray, *, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top classes of each row, like ``keras.applications.resnet50.decode_predictions``.

    Args:
        probabilities: N×1000 model outputs.
        top: how many classes per image, 1..1000.
    Returns:
        One list per image of ``(wnid, label, probability)``, most probable first.
    """
    preds = np.asarray(probabilities)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise InvalidArgument(f"expected predictions of shape (N, {NUM_CLASSES}), got {preds.shape}")
    if not 1 <= top <= NUM_CLASSES:
        raise InvalidArgument(f"top must be 1..{NUM_CLASSES}, got {top}")
    names = class_index()
    results = []
    for row in preds:
        best = row.argsort()[-top:][::-1]  # the same selection and tie order as Keras
        result = [(*names[i], float(row[i])) for i in best]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


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
    from cnnviz.data.images import fit_within, resize

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
        import tensorflow as tf

        shape = tuple(model.input_shape)
        if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
            raise InvalidArgument(f"expected a model taking N×H×W×3 images of a fixed size, got input shape {shape}")
        if model.output_shape[-1] != NUM_CLASSES:
            raise InvalidArgument(f"expected a model with {NUM_CLASSES} ImageNet outputs, got {model.output_shape}")
        self.model = model
        self.weights_source = weights_source
        self.input_size = (int(shape[1]), int(shape[2]))
        self.lock = threading.Lock()
        # A tf.function call is about 2x faster than model.predict and 5x faster than eager
        # model(x) for one ResNet50 image (shared/notes/cpu-training-facts.md); a fixed
        # signature traces once for every batch size.
        spec = tf.TensorSpec((None, *shape[1:]), tf.float32)
        self._call = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Model outputs (N×1000 probabilities) for preprocessed float images N×H×W×3."""
        x = self._check_batch(batch)
        with self.lock:
            out = self._call(x)
        return np.asarray(out, dtype=np.float32)

    def gradcam(self, batch: np.ndarray, class_indices: Sequence[int | None] | None = None,
                *, layer_name: str | None = None) -> np.ndarray:
        """Grad-CAM maps N×H×W in [0, 1] (see :func:`cnnviz.inspect.gradcam.gradcam_batch`), under the lock."""
        from cnnviz.inspect.gradcam import gradcam_batch

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


def build_resnet50() -> "keras.Model":
    """Keras' ResNet50 architecture with random weights (``weights=None``): no download."""
    import keras

    return keras.applications.ResNet50(weights=None)


def load_resnet50(
    *,
    weights_path: str | os.PathLike | None = None,
    download: bool = True,
    url: str | None = None,
    md5: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> SharedClassifier:
    """ResNet50 with its ImageNet weights, ready to share.

    Args:
        weights_path: an explicit weights file (``.h5`` as Keras publishes it, or a
            ``.weights.h5`` saved by ``model.save_weights``); default ``$CNNVIZ_RESNET50_WEIGHTS``,
            else the official file (see :func:`resolve_weights`).
        download: fetch the official file when no copy is on this machine.
        url, md5: where to fetch it and its checksum (default: Keras' own).
        timeout: seconds per network operation.
    Returns:
        A :class:`SharedClassifier`.
    Raises:
        Unavailable: no weights here and none could be downloaded; the message says how to fix it.
        InvalidArgument: an explicit file is not ResNet50 weights.
    """
    path = resolve_weights(weights_path, download=download, url=url, md5=md5, timeout=timeout)
    official = path in weights_candidates()
    model = build_resnet50()
    try:
        model.load_weights(str(path))
    except Exception as err:  # any reader error: h5py, a shape mismatch, a wrong file type
        raise InvalidArgument(f"could not read ResNet50 weights from {path}: {err}") from None
    source = f"Keras' ImageNet weights from {path}" if official else f"weights from {path}"
    return SharedClassifier(model, weights_source=source)


# --- weights on disk -------------------------------------------------------------------------------


def keras_cache_dir() -> Path:
    """Where ``keras.utils.get_file`` keeps model files (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    env = os.environ.get("KERAS_HOME", "").strip()
    return (Path(env).expanduser() if env else Path.home() / ".keras") / "models"


def weights_candidates() -> list[Path]:
    """The places the official weights file is looked for, in order."""
    return [storage.weights_dir() / RESNET50_WEIGHTS_FILE, keras_cache_dir() / RESNET50_WEIGHTS_FILE]


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def missing_weights_message(looked_in: Sequence[Path], *, reason: str | None = None,
                            damaged: Sequence[Path] = ()) -> str:
    """The sentence shown when the weights are missing: what, where we looked, how to fix it."""
    folders = " or ".join(str(p.parent) for p in looked_in)
    msg = (f"ResNet50's ImageNet weights are not on this machine: {RESNET50_WEIGHTS_FILE} "
           f"({RESNET50_WEIGHTS_SIZE_TEXT}) is not in {folders}")
    if damaged:
        msg += " (" + ", ".join(f"{p} is there but its checksum is wrong" for p in damaged) + ")"
    msg += f", and downloading it failed: {reason}." if reason else "."
    msg += (f" To fix it, run `{DOWNLOAD_COMMAND}` on this machine while it is online (it saves the "
            f"file to {storage.weights_dir()}), or copy the file there from another machine "
            f"(`{DOWNLOAD_COMMAND} --from FILE` checks and copies it), or set {WEIGHTS_ENV} to the "
            "file's path. Every other page of the lab works without it.")
    return msg


def resolve_weights(
    weights_path: str | os.PathLike | None = None,
    *,
    download: bool = True,
    url: str | None = None,
    md5: str | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
) -> Path:
    """Find the weights file: explicit path, else a checked copy here, else download it.

    Order: ``weights_path``; ``$CNNVIZ_RESNET50_WEIGHTS``; ``CNNVIZ_HOME/weights`` and Keras'
    cache (a copy whose MD5 is wrong, e.g. a partial download, is skipped); a download into
    ``CNNVIZ_HOME/weights`` when ``download`` is true.

    Returns:
        The path of a weights file.
    Raises:
        Unavailable: with :func:`missing_weights_message`.
    """
    url = url or RESNET50_WEIGHTS_URL
    md5 = md5 or RESNET50_WEIGHTS_MD5
    explicit = weights_path if weights_path is not None else os.environ.get(WEIGHTS_ENV, "").strip() or None
    if explicit is not None:
        text = os.fspath(explicit)
        if "://" in text:
            raise InvalidArgument(f"the weights file must be a path on this machine, got {text!r}")
        path = Path(text).expanduser()
        if not path.name.lower().endswith(WEIGHTS_SUFFIXES):
            raise InvalidArgument(
                f"the ResNet50 weights file must be an HDF5 weights file ending in .h5 (as Keras publishes it, "
                f"or written by model.save_weights), got {text!r}"
            )
        if not path.is_file():
            origin = "" if weights_path is not None else f" (from {WEIGHTS_ENV})"
            raise Unavailable(
                f"the ResNet50 weights file {path}{origin} does not exist. Give the path of an existing file, "
                f"or unset it and run `{DOWNLOAD_COMMAND}`."
            )
        return path
    candidates = weights_candidates()
    damaged = []
    for path in candidates:
        if path.is_file():
            if md5_file(path) == md5:
                return path
            damaged.append(path)
    if not download:
        raise Unavailable(missing_weights_message(candidates, damaged=damaged))
    try:
        return download_weights(url=url, md5=md5, timeout=timeout)
    except Unavailable as err:
        raise Unavailable(missing_weights_message(candidates, reason=str(err), damaged=damaged)) from None


def download_weights(
    *,
    url: str | None = None,
    md5: str | None = None,
    dest: Path | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    force: bool = False,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download the weights file crash-safely: temporary file, MD5 check, ``os.replace``.

    Unlike ``keras.utils.get_file`` (which writes straight to the final name), an interrupted
    or corrupted download never leaves a file at ``dest``.

    Args:
        url: http(s) address (default: Keras' official one).
        md5: expected MD5 hex digest (default: Keras' own hash for the file).
        dest: final path (default ``CNNVIZ_HOME/weights/<file name>``).
        timeout: seconds per network operation.
        force: download even if ``dest`` already holds a file with the right checksum.
        progress: called as ``progress(bytes_so_far, total_or_None)`` after each chunk.
    Returns:
        ``dest``.
    Raises:
        Unavailable: the download failed or the checksum did not match (nothing kept).
    """
    url = url or RESNET50_WEIGHTS_URL
    md5 = (md5 or RESNET50_WEIGHTS_MD5).lower()
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise InvalidArgument(f"the download address must start with http:// or https://, got {url!r}")
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise InvalidArgument(f"md5 must be 32 hex digits, got {md5!r}")
    dest = Path(dest) if dest is not None else storage.weights_dir() / RESNET50_WEIGHTS_FILE
    if not force and dest.is_file() and md5_file(dest) == md5:
        return dest
    with storage.atomic_path(dest) as tmp:
        got = fetch_url(url, tmp, timeout=timeout, progress=progress)
        if got != md5:
            raise Unavailable(f"the file downloaded from {url} has MD5 {got}, not the expected {md5}, "
                              "so it was not kept; try again")
    return dest


def fetch_url(url: str, path: Path, *, timeout: float = DOWNLOAD_TIMEOUT_S,
              progress: Callable[[int, int | None], None] | None = None) -> str:
    """Write what ``url`` serves to ``path`` (the caller makes it a temporary path) and return its MD5.

    Shared by the weights downloads (here and :mod:`cnnviz.models.transfer`): ``keras.utils.get_file``
    has no network timeout, so a stalled mirror would hang a page for good.

    Raises:
        Unavailable: offline, refused, an HTTP error, a stall longer than ``timeout`` s, a broken body.
    """
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as fh:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while block := response.read(_CHUNK):
                fh.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
            if total is not None and done < total:
                raise Unavailable(f"could not download {url}: it stopped after {done:,} of {total:,} bytes; try again")
    except urllib.error.URLError as err:
        raise Unavailable(f"could not download {url}: {getattr(err, 'reason', err)}") from None
    except (TimeoutError, socket.timeout):
        raise Unavailable(f"could not download {url}: no answer for {timeout:g} s; try again") from None
    except (OSError, http.client.HTTPException) as err:
        raise Unavailable(f"could not download {url}: {err or type(err).__name__}") from None
    return digest.hexdigest()


def install_weights_file(source: str | os.PathLike, *, md5: str | None = None, dest: Path | None = None) -> Path:
    """Check a weights file brought from another machine and copy it into ``CNNVIZ_HOME/weights``.

    Raises:
        Unavailable: ``source`` does not exist.
        InvalidArgument: its MD5 is not the official file's.
    """
    if "://" in os.fspath(source):  # Path() would fold "http://x" into "http:/x" and say it is missing
        raise InvalidArgument(f"the weights file must be a path on this machine, got {os.fspath(source)!r}")
    src = Path(source).expanduser()
    md5 = (md5 or RESNET50_WEIGHTS_MD5).lower()
    if not src.is_file():
        raise Unavailable(f"the file {src} does not exist")
    found = md5_file(src)
    if found != md5:
        raise InvalidArgument(f"{src} has MD5 {found}, but Keras' {RESNET50_WEIGHTS_FILE} has {md5}; not copied")
    dest = Path(dest) if dest is not None else storage.weights_dir() / RESNET50_WEIGHTS_FILE
    with storage.atomic_path(dest) as tmp, open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, _CHUNK)
    return dest


def status() -> list[dict]:
    """What the Home page lists for this area (no TensorFlow, no checksum: a quick look).

    Returns:
        ``[{"name", "present", "detail", "how_to_get"}]``.
    """
    explicit = os.environ.get(WEIGHTS_ENV, "").strip()
    found = [p for p in ([Path(explicit).expanduser()] if explicit else []) + weights_candidates() if p.is_file()]
    return [{
        "name": "ResNet50 ImageNet weights",
        "present": bool(found),
        "detail": (f"{found[0]} (for the Pretrained ResNet50 page)" if found
                   else f"{RESNET50_WEIGHTS_FILE} ({RESNET50_WEIGHTS_SIZE_TEXT}) is not on this machine yet; "
                        "the Pretrained ResNet50 page downloads it when it can."),
        "how_to_get": f"`{DOWNLOAD_COMMAND}`",
    }]


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
             explain: bool = True) -> list[Classification]:
    """Classify several photos in one batch, with each one's top classes and Grad-CAM.

    Args:
        clf: the shared classifier.
        images: uint8 RGB photos of any size (1..MAX_IMAGES).
        top: classes to list per photo, 1..MAX_TOP.
        explain: also compute each photo's Grad-CAM for its top class.
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
        heatmaps = list(clf.gradcam(batch, best))
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

    Args:
        files: ``(file name, bytes)`` pairs.
    Returns:
        ``(photos, messages)``: the readable photos (at most MAX_IMAGES, each shrunk to at most
        PHOTO_MAX_SIDE pixels on its longer side) and one message per
        file that could not be used (the loader's own words) or was left out.
    """
    from cnnviz.data.images import ImageError, fit_within, load_image, plain_name

    photos: list[Photo] = []
    messages: list[str] = []
    for name, data in files:
        try:
            loaded = load_image(data, name=name)
        except ImageError as err:
            messages.append(str(err))
            continue
        photos.append(Photo(name=name, array=fit_within(loaded.array, PHOTO_MAX_SIDE), notes=loaded.notes))
    if len(photos) > MAX_IMAGES:
        left_out = ", ".join(plain_name(p.name) for p in photos[MAX_IMAGES:])  # shown with st.error (Markdown)
        messages.append(f"ResNet50 looks at {MAX_IMAGES} photos at a time: left out {left_out}.")
        photos = photos[:MAX_IMAGES]
    return photos, messages


def sample_photos() -> dict[str, np.ndarray]:
    """scikit-learn's bundled photos (a Chinese temple, a flower) as uint8 RGB arrays."""
    from sklearn.datasets import load_sample_image

    return {name: np.asarray(load_sample_image(name), dtype=np.uint8) for name in SAMPLE_PHOTOS}


# --- model facts -----------------------------------------------------------------------------------


def model_facts(model: "keras.Model") -> dict:
    """Facts about a network, computed from the model itself (seed questions 29-31).

    ``weighted_depth`` is the number of layers with weights (convolutions and Dense) on the
    longest path from input to output: the "50" in ResNet50. Weighted layers on no longest
    path (ResNet's 1×1 projection shortcuts) are ``side_weighted_layers``.

    Returns:
        dict with name, input_shape, classes, keras_layers, conv_layers, dense_layers,
        weighted_depth, side_weighted_layers (names), total_params, trainable_params,
        non_trainable_params.
    """
    kinds = [type(layer).__name__ for layer in model.layers]
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    total = int(model.count_params())
    depth, side = _longest_weighted_path(model)
    return {
        "name": model.name,
        "input_shape": tuple(int(d) if d is not None else None for d in model.input_shape[1:]),
        "classes": int(model.output_shape[-1]),
        "keras_layers": len(model.layers),
        "conv_layers": sum(k in _CONV_CLASS_NAMES for k in kinds),
        "dense_layers": sum(k == "Dense" for k in kinds),
        "weighted_depth": depth,
        "side_weighted_layers": side,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
    }


def depth_explanation(facts: dict) -> str:
    """Why the network is called "<depth>" in plain words, from :func:`model_facts`."""
    side = facts["side_weighted_layers"]
    dense = facts["dense_layers"]
    text = (f"It has {facts['conv_layers']} convolution layers and {dense} dense layer{'s' if dense != 1 else ''}. "
            f"The longest path from the input to the output passes through {facts['weighted_depth']} layers "
            f"that have weights ({facts['weighted_depth'] - facts['dense_layers']} convolutions and "
            f"{facts['dense_layers']} dense): that is the number in the name.")
    if side:
        text += (f" The other {len(side)} convolutions ({', '.join(side)}) are 1×1 shortcut projections: "
                 "at the start of each stage they reshape the shortcut so it can be added to the block's "
                 "output, running beside the main path, so they add no depth.")
    text += (f" Keras lists {facts['keras_layers']} layer objects because padding, batch normalisation, "
             "activation, pooling and add layers are layers too; they are not counted in the depth.")
    return text


def hessian_note(facts: dict) -> str:
    """Seed question 32 in numbers: how big the second derivative (Hessian) would be."""
    n = facts["trainable_params"]
    entries = n * n
    petabytes = entries * 4 / 1e15  # float32
    return (f"With {n:,} trainable parameters, the matrix of second derivatives (the Hessian) has "
            f"{n:,}² ≈ {entries:.1e} entries: about {petabytes:,.1f} petabytes in float32, for one step. "
            "The gradient has just one number per parameter, which is why training uses first derivatives.")


def stage_table(model: "keras.Model") -> list[dict]:
    """ResNet50 summarised by stage: blocks, convolutions, output shape, parameters.

    Stages follow Keras' layer names (``conv1_*``/``pool1_*`` stem, ``conv2``..``conv5``
    residual stages, then the head); layers of other models fall into "head".

    Returns:
        One dict per stage, in order: stage, blocks, conv_layers, output_shape, params.
    """
    rows: dict[str, dict] = {}
    for layer in model.layers:
        name = layer.name
        if type(layer).__name__ == "InputLayer":
            stage, block = "input", None
        elif re.match(r"(conv1|pool1)_", name):
            stage, block = "conv1 (stem)", None
        elif m := re.match(r"(conv[2-9])_block(\d+)_", name):
            stage, block = m.group(1), int(m.group(2))
        else:
            stage, block = "head", None
        row = rows.setdefault(stage, {"stage": stage, "blocks": 0, "conv_layers": 0, "output_shape": "",
                                      "params": 0})
        if block is not None:
            row["blocks"] = max(row["blocks"], block)
        row["conv_layers"] += type(layer).__name__ in _CONV_CLASS_NAMES
        row["params"] += int(layer.count_params()) if layer.built else 0
        shape = getattr(layer.output, "shape", None) if _has_output(layer) else None
        if shape is not None:
            row["output_shape"] = "×".join(str(d) for d in shape[1:])
    return list(rows.values())


def _has_output(layer) -> bool:
    try:
        layer.output  # noqa: B018 - raises for a layer used several times or never
    except (AttributeError, ValueError):
        return False
    return True


def _weight_of(layer) -> int:
    import keras

    if isinstance(layer, keras.Model):
        return _longest_weighted_path(layer)[0]
    return int(type(layer).__name__ in _WEIGHTED_CLASS_NAMES)


def _parents_from_config(node_args) -> list[str]:
    """Layer names referenced by ``keras_history`` anywhere in a serialised inbound node."""
    found = []
    if isinstance(node_args, dict):
        history = node_args.get("config", {}).get("keras_history") if node_args.get("class_name") == "__keras_tensor__" else None
        if history:
            found.append(history[0])
        else:
            for value in node_args.values():
                found += _parents_from_config(value)
    elif isinstance(node_args, (list, tuple)):
        for value in node_args:
            found += _parents_from_config(value)
    return found


def _longest_weighted_path(model: "keras.Model") -> tuple[int, list[str]]:
    """(weighted layers on the longest input→output path, weighted layers on no such path)."""
    layers = {layer.name: layer for layer in model.layers}
    weight = {name: _weight_of(layer) for name, layer in layers.items()}
    config = model.get_config()
    entries = config.get("layers", [])
    parents: dict[str, list[str]] = {}
    if entries and all("inbound_nodes" in e for e in entries):  # functional graph
        for e in entries:
            parents[e["name"]] = _parents_from_config(e["inbound_nodes"])
    else:  # Sequential: a chain
        names = list(layers)
        parents = {n: ([names[i - 1]] if i else []) for i, n in enumerate(names)}
    children: dict[str, list[str]] = {n: [] for n in parents}
    for n, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(n)
    order = _topological_order(parents, children)
    upto: dict[str, int] = {}  # best path ending at a layer, counting it
    for n in order:
        upto[n] = weight.get(n, 0) + max((upto[p] for p in parents.get(n, []) if p in upto), default=0)
    after: dict[str, int] = {}  # best path starting at a layer, counting it
    for n in reversed(order):
        after[n] = weight.get(n, 0) + max((after[c] for c in children.get(n, []) if c in after), default=0)
    depth = max(upto.values(), default=0)
    side = [n for n in order if weight.get(n, 0) and upto[n] + after[n] - weight[n] < depth]
    return depth, side


def _topological_order(parents: dict[str, list[str]], children: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm: every layer after all the layers that feed it."""
    waiting = {n: len(set(parents.get(n, []))) for n in children}
    ready = [n for n, k in waiting.items() if k == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for c in dict.fromkeys(children.get(n, [])):
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return order


# --- the CIFAR-10 bridge ----------------------------------------------------------------------------


def cifar_bridge_images(dataset: "Dataset", *, count: int = 6, seed: int = 0) -> list[tuple[np.ndarray, str]]:
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


def load_cifar10_for_bridge() -> "Dataset":
    """CIFAR-10 through :func:`cnnviz.data.datasets.load` (raises Unavailable with how to get it)."""
    from cnnviz.data import datasets

    loader = getattr(datasets, "load", None)
    if loader is None:
        raise Unavailable("this version of cnnviz cannot load CIFAR-10 yet")
    return loader("cifar10")
