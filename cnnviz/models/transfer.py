"""Transfer learning: an ImageNet backbone (MobileNetV2 or ResNet50), frozen or not, plus a new head.

Seed 004 (CS-577 HW4) replaces its own cats-vs-dogs CNN with VGG16's pretrained convolutional
base and trains it twice, "with freeze deactivated" and "with freeze activated". cnnviz does
the same with MobileNetV2 (light enough for a 2-core CPU) or ResNet50, through the normal
training job, so the two runs land side by side in the run store.

The whole path from the training pipeline's [0, 1] images to the prediction is inside the
model, with standard serialisable Keras layers only (no Lambda: ``safe_mode=True`` refuses
it), so a saved run reloads and sees exactly what it saw in training:

``image`` ([0, 1], the ``"unit"`` scaling) → ``to_pixels`` (×255) → ``gray_to_rgb`` (grey
data only: the channel three times) → ``resize`` (to the backbone's input size) → the
backbone's own ``preprocess_input`` (``mobilenet_preprocess``: to [-1, 1]; or
``caffe_preprocess``: a fixed 1×1 convolution that swaps RGB to BGR and subtracts the
ImageNet means) → the backbone (``trainable=False`` when frozen; when fine-tuning ImageNet
weights its batch norm layers stay frozen, see :func:`batchnorm_in_inference`) → ``head_pool`` (global average) → ``head_dropout`` → ``head_output`` (softmax).

Weights are Keras' official "no top" files, looked for in ``CNNVIZ_HOME/weights`` and
Keras' cache, given explicitly by an environment variable, or fetched by
``python -m cnnviz download mobilenetv2|resnet50-notop`` (never during training).
TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnviz import storage
from cnnviz.errors import InvalidArgument, Unavailable
# house: temporary alias: the settings part moved to models.backbones; callers still reach it as transfer.X
from cnnviz.models.backbones import (  # noqa: F401
    ARCHITECTURE, BACKBONES, BATCH_SIZE, DOWNLOAD_IDS, FROZEN_LEARNING_RATE, HEAD_DROPOUT, MAX_IMAGE_SIZE,
    MEASURED_AT, MEASURED_EPOCH_S, MIN_IMAGE_SIZE, MOBILENET_ALPHAS, MOBILENET_SIZES, UNFROZEN_LEARNING_RATE,
    WEIGHTS_OPTIONS, Backbone, backbone_params, batchnorm_in_inference, check_settings, expected_epoch_seconds,
    feature_side, summary, title, trainable_backbone_params,
)
from cnnviz.models.config import ModelConfig
from cnnviz.models.layerspec import INPUT_NAME
from cnnviz.training.spec import frozen_and_unfrozen, transfer_spec as spec  # noqa: F401  house: temporary alias

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: keras.applications.resnet50.preprocess_input ("caffe" mode): RGB → BGR, minus these means.
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


# --- weights files ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WeightsFile:
    """The official "no top" weights of one backbone configuration.

    Attributes:
        file: Keras' file name (also the name in Keras' cache).
        url: Keras' own address.
        md5: Keras' published MD5, or None (Keras publishes none for MobileNetV2).
    """

    backbone: str
    file: str
    url: str
    md5: str | None
    alpha: float | None
    image_size: int | None


def weights_file(backbone: str, *, alpha: float = 0.35, image_size: int = 96) -> WeightsFile:
    """Which file holds the ImageNet weights of this backbone (names as keras.applications uses them)."""
    if backbone == "resnet50":
        # keras/src/applications/resnet.py: BASE_WEIGHTS_PATH + file, WEIGHTS_HASHES["resnet50"][1]
        name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
        return WeightsFile(backbone, name, _KERAS_BASE + "resnet/" + name, "4d473c1dd8becc155b73f8504c6f6626",
                           None, None)
    if backbone == "mobilenetv2":
        if alpha not in MOBILENET_ALPHAS:
            raise InvalidArgument(f"MobileNetV2 width (alpha) must be one of {', '.join(map(str, MOBILENET_ALPHAS))}; "
                                  f"got {alpha!r}")
        if image_size not in MOBILENET_SIZES:
            raise InvalidArgument(f"MobileNetV2's ImageNet weights exist for image sizes "
                                  f"{', '.join(map(str, MOBILENET_SIZES))} only; got image size {image_size!r}")
        # keras/src/applications/mobilenet_v2.py, include_top=False
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{image_size}_no_top.h5"
        return WeightsFile(backbone, name, _KERAS_BASE + "mobilenet_v2/" + name, None, float(alpha), image_size)
    raise InvalidArgument(f"backbone must be one of {', '.join(BACKBONES)}; got {backbone!r}")


def _weights_of(cfg: ModelConfig) -> WeightsFile:
    return weights_file(cfg.backbone, alpha=float(cfg.alpha), image_size=cfg.image_size)


def weights_candidates(wf: WeightsFile) -> list[Path]:
    """Where the file is looked for, in order: ``CNNVIZ_HOME/weights``, then Keras' cache."""
    from cnnviz.inspect.pretrained import keras_cache_dir

    return [storage.weights_dir() / wf.file, keras_cache_dir() / wf.file]


def download_command(wf: WeightsFile) -> str:
    """The command that fetches the file, e.g. ``python -m cnnviz download mobilenetv2 --alpha 0.35 --size 96``."""
    b = BACKBONES[wf.backbone]
    extra = f" --alpha {wf.alpha:g} --size {wf.image_size}" if wf.backbone == "mobilenetv2" else ""
    return f"python -m cnnviz download {b.download_id}{extra}"


def missing_weights_message(wf: WeightsFile, *, damaged: list[Path] | tuple = ()) -> str:
    """What is missing, where we looked, and how to get it (the page and the training job show it)."""
    b = BACKBONES[wf.backbone]
    folders = " or ".join(str(p.parent) for p in weights_candidates(wf))
    msg = f"{b.title}'s ImageNet weights are not on this machine: {wf.file} ({b.weights_size_text}) is not in {folders}"
    if damaged:
        msg += " (" + ", ".join(f"{p} is there but its checksum is wrong" for p in damaged) + ")"
    return msg + (
        f". To fix it, run `{download_command(wf)}` on this machine while it is online (it saves the file to "
        f"{storage.weights_dir()}), or copy the file there from another machine, or set {b.weights_env} to the "
        "file's path. Without them you can still train the same network from random weights "
        "(weights: none), but that is not transfer learning.")


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def resolve_weights(cfg: ModelConfig) -> Path:
    """The weights file for ``cfg``: ``$<backbone env>``, else a copy here (never downloads).

    Raises:
        Unavailable: with :func:`missing_weights_message` (or naming the explicit file that is missing).
    """
    wf = _weights_of(cfg)
    env = BACKBONES[cfg.backbone].weights_env
    explicit = os.environ.get(env, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise Unavailable(f"the weights file {path} (from {env}) does not exist. Give the path of an existing "
                              f"file, or unset {env} and run `{download_command(wf)}`.")
        return path
    damaged = []
    for path in weights_candidates(wf):
        if path.is_file():
            if wf.md5 is None or md5_file(path) == wf.md5:
                return path
            damaged.append(path)
    raise Unavailable(missing_weights_message(wf, damaged=damaged))


def weights_status(cfg: ModelConfig) -> dict:
    """A quick look (no TensorFlow, no checksum) for the page.

    Returns:
        ``{"needed", "present", "path", "file", "message", "command"}``; ``needed`` is False for weights "none".
    """
    needed = cfg.weights == "imagenet"
    try:
        wf = _weights_of(cfg)
    except InvalidArgument as err:
        return {"needed": needed, "present": False, "path": None, "file": None, "message": str(err), "command": None}
    env = os.environ.get(BACKBONES[cfg.backbone].weights_env, "").strip()
    found = [p for p in ([Path(env).expanduser()] if env else []) + weights_candidates(wf) if p.is_file()]
    return {"needed": needed, "present": bool(found), "path": str(found[0]) if found else None, "file": wf.file,
            "message": None if found else missing_weights_message(wf), "command": download_command(wf)}


def check_weights_file(path: Path, wf: WeightsFile) -> None:
    """Check a weights file: Keras' MD5 where it publishes one, else that it loads into the architecture.

    Raises:
        InvalidArgument: the file is not the weights it should be.
    """
    if wf.md5 is not None:
        found = md5_file(path)
        if found != wf.md5:
            raise InvalidArgument(f"{path.name} has MD5 {found}, but Keras' {wf.file} has {wf.md5}")
        return
    try:
        _backbone(wf.backbone, alpha=wf.alpha or 1.0, image_size=wf.image_size or 224, weights_path=path)
    except Exception as err:  # any reader error: not HDF5, wrong layers, wrong shapes
        raise InvalidArgument(f"{path.name} does not hold {BACKBONES[wf.backbone].title} weights for "
                              f"α {wf.alpha:g}, {wf.image_size}×{wf.image_size}: {err}") from None


def download_weights(backbone: str, *, alpha: float = 0.35, image_size: int = 96, url: str | None = None,
                     md5: str | None = None, force: bool = False, timeout: float | None = None) -> Path:
    """Fetch the official weights (Keras' own address) into ``CNNVIZ_HOME/weights``, crash-safely.

    The file is written into a private temporary folder next to the destination (with a network
    timeout, which ``keras.utils.get_file`` lacks), checked (:func:`check_weights_file`) and only
    then moved into place with ``os.replace``, so an interrupted or wrong download never leaves a
    file under the final name.

    Args:
        backbone: "mobilenetv2" or "resnet50".
        alpha, image_size: which MobileNetV2 file (ignored for ResNet50).
        url: another address (a mirror; tests use a loopback server). Default: Keras' own.
        md5: expected MD5 (default: Keras' published one, if any).
        force: download even if a good copy is already there.
        timeout: seconds without an answer before giving up (default ``pretrained.DOWNLOAD_TIMEOUT_S``).
    Returns:
        The path of the checked file.
    Raises:
        Unavailable: the download failed (nothing kept).
        InvalidArgument: the file downloaded is not the expected weights (nothing kept).
    """
    wf = weights_file(backbone, alpha=alpha, image_size=image_size)
    if md5 is not None:
        wf = WeightsFile(wf.backbone, wf.file, wf.url, md5.lower(), wf.alpha, wf.image_size)
    url = url or wf.url
    if not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"the download address must start with http:// or https://, got {url!r}")
    dest = storage.weights_dir() / wf.file
    if not force and dest.is_file():
        try:
            check_weights_file(dest, wf)
            return dest
        except InvalidArgument:
            pass  # a damaged copy: fetch it again
    from cnnviz.inspect.pretrained import DOWNLOAD_TIMEOUT_S, fetch_url

    storage.ensure_dir(dest.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{wf.file}{storage.TEMP_MARKER}", dir=dest.parent))
    try:
        got = tmp / wf.file  # the real name inside the private folder: Keras reads .h5 by its suffix
        fetch_url(url, got, timeout=DOWNLOAD_TIMEOUT_S if timeout is None else timeout)
        check_weights_file(got, wf)
        os.replace(got, dest)
        storage.fsync_dir(dest.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def install_weights_file(source: str | os.PathLike, backbone: str, *, alpha: float = 0.35,
                         image_size: int = 96) -> Path:
    """Check a weights file brought from another machine and copy it into ``CNNVIZ_HOME/weights``.

    Raises:
        Unavailable: ``source`` does not exist.
        InvalidArgument: it is not the expected weights (see :func:`check_weights_file`).
    """
    wf = weights_file(backbone, alpha=alpha, image_size=image_size)
    src = Path(source).expanduser()
    if not src.is_file():
        raise Unavailable(f"the file {src} does not exist")
    check_weights_file(src, wf)
    dest = storage.weights_dir() / wf.file
    with storage.atomic_path(dest) as tmp, open(src, "rb") as fin, open(tmp, "wb") as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return dest


def status() -> list[dict]:
    """What the Home page could list: the default weights of each backbone."""
    out = []
    for name, b in BACKBONES.items():
        wf = weights_file(name, alpha=0.35, image_size=b.default_size)
        found = [p for p in weights_candidates(wf) if p.is_file()]
        out.append({"name": f"{b.title} ImageNet weights (no top)", "present": bool(found),
                    "detail": f"{found[0]} (for the Transfer learning page)" if found
                    else f"{wf.file} ({b.weights_size_text}) is not on this machine yet.",
                    "how_to_get": f"`{download_command(wf)}`"})
    return out


# --- Keras ---------------------------------------------------------------------------------
def _backbone(name: str, *, alpha: float, image_size: int, weights_path: Path | None) -> keras.Model:
    """Keras' "no top" base, random (``weights=None``) or with the given file's weights."""
    import keras

    shape = (image_size, image_size, 3)
    weights = None if weights_path is None else str(weights_path)
    if name == "resnet50":
        return keras.applications.ResNet50(include_top=False, weights=weights, input_shape=shape,
                                           name="resnet50_backbone")
    return keras.applications.MobileNetV2(include_top=False, weights=weights, input_shape=shape, alpha=alpha,
                                          name="mobilenetv2_backbone")


def caffe_kernel() -> tuple[np.ndarray, np.ndarray]:
    """Weights of the 1×1 convolution that is ResNet50's ``preprocess_input``: RGB → BGR, minus the means.

    Output channel j takes input channel 2 − j (a permutation: exact in float arithmetic).
    """
    kernel = np.zeros((1, 1, 3, 3), np.float32)
    for j in range(3):
        kernel[0, 0, 2 - j, j] = 1.0
    return kernel, -np.asarray(IMAGENET_MEAN_BGR, np.float32)


def build(cfg: ModelConfig, *, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The uncompiled transfer network (:func:`cnnviz.models.network.build_model` compiles it).

    Args:
        cfg: a transfer ModelConfig.
        input_shape: (height, width, 1 or 3) of the dataset; the model takes them scaled to [0, 1].
        num_classes: classes of the new head.
    Raises:
        InvalidArgument: impossible settings, or a weights file that does not fit.
        Unavailable: ImageNet weights asked for and not on this machine (says how to get them).
    """
    summary(cfg, input_shape, num_classes)
    path = resolve_weights(cfg) if cfg.weights == "imagenet" else None
    import keras
    from keras import layers

    try:
        base = _backbone(cfg.backbone, alpha=float(cfg.alpha), image_size=cfg.image_size, weights_path=path)
    except (ValueError, OSError) as err:
        raise InvalidArgument(f"could not read {BACKBONES[cfg.backbone].title} weights from {path}: {err}") from None
    base.trainable = not cfg.frozen
    if not cfg.frozen and batchnorm_in_inference(cfg):
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = False
    inputs = keras.Input(shape=tuple(input_shape), name=INPUT_NAME)
    x = layers.Rescaling(255.0, name="to_pixels")(inputs)
    if input_shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    x = layers.Resizing(cfg.image_size, cfg.image_size, interpolation="bilinear", antialias=True, name="resize")(x)
    caffe = None
    if BACKBONES[cfg.backbone].preprocessing == "tf":
        # keras.applications.mobilenet_v2.preprocess_input ("tf" mode): x / 127.5 - 1
        x = layers.Rescaling(1 / 127.5, offset=-1.0, name="mobilenet_preprocess")(x)
    else:
        caffe = layers.Conv2D(3, 1, trainable=False, name="caffe_preprocess")
        x = caffe(x)
    x = base(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dropout(float(cfg.dropout), name="head_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="head_output")(x)
    model = keras.Model(inputs, outputs, name=f"transfer_{cfg.backbone}")
    if caffe is not None:
        caffe.set_weights(list(caffe_kernel()))
    return model


def backbone_layer(model: keras.Model) -> keras.Model:
    """The backbone inside a model :func:`build` made (or reloaded from a run)."""
    for layer in model.layers:
        if layer.name.endswith("_backbone"):
            return layer
    raise InvalidArgument(f"model {model.name!r} has no backbone layer")


# --- settings ----------------------------------------------------------------------------
def config(*, backbone: str = "mobilenetv2", frozen: bool = True, weights: str = "imagenet", alpha: float = 0.35,
           image_size: int | None = None, learning_rate: float | None = None,
           dropout: float = HEAD_DROPOUT) -> ModelConfig:
    """A transfer ModelConfig with this module's defaults (learning rate by frozen/unfrozen)."""
    size = image_size if image_size is not None else BACKBONES.get(backbone, BACKBONES["mobilenetv2"]).default_size
    lr = learning_rate if learning_rate is not None else (FROZEN_LEARNING_RATE if frozen else UNFROZEN_LEARNING_RATE)
    cfg = ModelConfig(architecture=ARCHITECTURE, backbone=backbone, frozen=frozen, weights=weights,
                      alpha=float(alpha), image_size=size, learning_rate=lr, dropout=dropout, head="global_avg",
                      optimizer="adam")
    check_settings(cfg)
    return cfg
