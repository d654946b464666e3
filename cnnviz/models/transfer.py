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

Weights are Keras' official "no top" files (:mod:`cnnviz.weights`), looked for in
``CNNVIZ_HOME/weights`` and Keras' cache, given explicitly by an environment variable, or fetched
by ``python -m cnnviz download mobilenetv2|resnet50-notop`` (never during training).
TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.models.layerspec import INPUT_NAME, SummaryTable, dense_params, fmt, frozen, shape_text
from cnnviz.models.resnet50 import IMAGENET_MEAN_BGR
from cnnviz.weights import MOBILENET_ALPHAS, MOBILENET_SIZES
# house: temporary alias (build below, app_pages/transfer.py and cnnviz/app/ui.py still call these here)
from cnnviz.weights import backbone_status as weights_status  # noqa: F401
from cnnviz.weights import download_backbone as download_weights  # noqa: F401
from cnnviz.weights import resolve_backbone as resolve_weights

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from cnnviz.training import loop as training
    from cnnviz.models.network import ModelConfig

ARCHITECTURE = "transfer"  # the ModelConfig.architecture id of these networks
WEIGHTS_OPTIONS = ("imagenet", "none")
#: The smallest input Keras' applications accept (imagenet_utils.obtain_input_shape, min_size=32).
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 224
#: Both backbones halve the image five times ('same'-like padding): 96 → 3×3, 224 → 7×7.
DOWNSAMPLING_STEPS = 5
#: Adam's own default: the Keras transfer-learning guide trains a new head on a frozen base with it.
FROZEN_LEARNING_RATE = 1e-3
#: Ten times smaller when the backbone learns too: the head starts random, and its large first
#: gradients at 1e-3 would wreck the pretrained features (the Keras guide fine-tunes at 1e-5,
#: but only after the head is trained; one run of a few epochs needs the head to learn too).
UNFROZEN_LEARNING_RATE = 1e-4
HEAD_DROPOUT = 0.2  # the Keras transfer-learning guide's head (judgement: small data overfits)
BATCH_SIZE = 32

# Parameters of each "no top" backbone (total, trainable), from count_params() in Keras 3.15; they
# do not depend on the input size. The untrained ones are batch norm's moving means and variances.
_MOBILENET_PARAMS = {0.35: (410_208, 396_128), 0.5: (706_224, 687_680), 0.75: (1_382_064, 1_355_424),
                     1.0: (2_257_984, 2_223_872)}
_RESNET50_PARAMS = (23_587_712, 23_534_592)


@dataclass(frozen=True)
class Backbone:
    """One pretrained convolutional base.

    Attributes:
        name: id used in ModelConfig.backbone and on the command line.
        title: for people.
        features: channels of its last feature map (what the head sees).
        preprocessing: "tf" (to [-1, 1]) or "caffe" (BGR minus the ImageNet means).
        default_size: input side used when none is chosen.
        weights_env: environment variable naming an explicit weights file.
        download_id: ``python -m cnnviz download <id>``.
        weights_size_text: rough size of the weights file.
    """

    name: str
    title: str
    features: int
    preprocessing: str
    default_size: int
    weights_env: str
    download_id: str
    weights_size_text: str


BACKBONES: dict[str, Backbone] = {
    "mobilenetv2": Backbone("mobilenetv2", "MobileNetV2", 1280, "tf", 96, "CNNVIZ_MOBILENETV2_WEIGHTS",
                            "mobilenetv2", "2 to 9 MB"),
    "resnet50": Backbone("resnet50", "ResNet50", 2048, "caffe", 96, "CNNVIZ_RESNET50_NOTOP_WEIGHTS",
                         "resnet50-notop", "about 95 MB"),
}
DOWNLOAD_IDS = {b.download_id: b.name for b in BACKBONES.values()}

# Seconds for one epoch of 1,000 training images plus 250 validation images, batch 32, at 96×96
# (digits upscaled; MobileNetV2 α 0.35), first epoch (tracing included), through the training job,
# on the 2-core development machine (shared, so ±40%): benchmarks/transfer_epoch.py.
# Other sizes and widths are scaled by the pixel count and α (an estimate, not a measurement).
MEASURED_EPOCH_S: dict[tuple[str, bool], float] = {
    ("mobilenetv2", True): 16.7,
    ("mobilenetv2", False): 66.0,
    ("resnet50", True): 90.3,
    ("resnet50", False): 286.0,  # measured while a test run shared the 2 cores: likely an overestimate
}
MEASURED_AT = "96×96, 1,000 images, batch 32, the 2-core development machine"


# --- settings (no TensorFlow) -----------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_settings(cfg: ModelConfig) -> None:
    """Raise :class:`InvalidArgument` naming the first impossible transfer setting."""
    if cfg.backbone not in BACKBONES:
        raise InvalidArgument(f"backbone must be one of {', '.join(BACKBONES)}; got {cfg.backbone!r}")
    if cfg.weights not in WEIGHTS_OPTIONS:
        raise InvalidArgument(f"weights must be one of {', '.join(WEIGHTS_OPTIONS)}; got {cfg.weights!r}")
    if not isinstance(cfg.frozen, bool):
        raise InvalidArgument(f"frozen must be true or false, got {cfg.frozen!r}")
    size = cfg.image_size
    if not _is_int(size) or not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        raise InvalidArgument(
            f"image size must be a whole number from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {size!r}")
    if cfg.backbone == "mobilenetv2":
        if cfg.alpha not in MOBILENET_ALPHAS or isinstance(cfg.alpha, bool):
            raise InvalidArgument(
                f"MobileNetV2 width (alpha) must be one of {', '.join(map(str, MOBILENET_ALPHAS))}; got {cfg.alpha!r}")
        if cfg.weights == "imagenet" and size not in MOBILENET_SIZES:
            raise InvalidArgument(
                f"MobileNetV2's ImageNet weights exist for image sizes {', '.join(map(str, MOBILENET_SIZES))} "
                f"only; got image size {size}")


def backbone_params(cfg: ModelConfig) -> tuple[int, int]:
    """``(total, trainable if unfrozen)`` parameters of the backbone (the input size does not matter)."""
    if cfg.backbone == "resnet50":
        return _RESNET50_PARAMS
    return _MOBILENET_PARAMS[float(cfg.alpha)]


def feature_side(image_size: int) -> int:
    """Side of the backbone's last feature map: the image halved (rounding up) five times.

    >>> feature_side(96), feature_side(224), feature_side(32), feature_side(100)
    (3, 7, 1, 4)
    """
    side = image_size
    for _ in range(DOWNSAMPLING_STEPS):
        side = math.ceil(side / 2)
    return side


def title(cfg: ModelConfig) -> str:
    """E.g. ``"MobileNetV2 (α 0.35, 96×96), ImageNet weights, frozen + new head"``."""
    b = BACKBONES.get(cfg.backbone)
    name = b.title if b else str(cfg.backbone)
    width = f"α {cfg.alpha:g}, " if cfg.backbone == "mobilenetv2" else ""
    weights = "ImageNet weights" if cfg.weights == "imagenet" else "random weights (not transfer learning)"
    return f"{name} ({width}{cfg.image_size}×{cfg.image_size}), {weights}, {'frozen' if cfg.frozen else 'unfrozen'} + new head"


def summary(cfg: ModelConfig, input_shape: tuple[int, int, int], num_classes: int) -> SummaryTable:
    """The layers :func:`build` makes, their shapes and parameters, without TensorFlow.

    Args:
        cfg: a transfer ModelConfig (its own settings are checked here).
        input_shape: (height, width, channels) of the dataset's images; 1 or 3 channels.
        num_classes: classes of the new head.
    Returns:
        A :class:`SummaryTable` whose totals equal the built model's.
    """
    check_settings(cfg)
    h, w, c = input_shape
    if c not in (1, 3):
        raise InvalidArgument(f"transfer learning needs grey (1 channel) or colour (3 channel) images, got {c} channels")
    s = cfg.image_size
    b = BACKBONES[cfg.backbone]
    rows = [_row(INPUT_NAME, "InputLayer", (h, w, c), 0, 0, "0 (no weights)"),
            _row("to_pixels", "Rescaling", (h, w, c), 0, 0, "0 (×255: back to pixel values)")]
    if c == 1:
        rows.append(_row("gray_to_rgb", "Concatenate", (h, w, 3), 0, 0, "0 (the grey channel three times)"))
    rows.append(_row("resize", "Resizing", (s, s, 3), 0, 0, f"0 (bilinear, to {s}×{s})"))
    if b.preprocessing == "tf":
        rows.append(_row("mobilenet_preprocess", "Rescaling", (s, s, 3), 0, 0, "0 (x / 127.5 − 1)"))
    else:
        n, _, text = frozen((12, 12, "(1·1·3+1)·3 = 12"))
        rows.append(_row("caffe_preprocess", "Conv2D", (s, s, 3), n, 0, f"{text}: RGB → BGR, minus ImageNet means"))
    total, _ = backbone_params(cfg)
    trainable = trainable_backbone_params(cfg)
    f = feature_side(s)
    if cfg.frozen:
        state = "frozen: not trained"
    elif batchnorm_in_inference(cfg):
        state = f"{fmt(trainable)} trained; its batch norm layers stay frozen"
    else:
        state = f"{fmt(trainable)} trained; batch norm statistics are averaged, not trained"
    rows.append(_row(f"{cfg.backbone}_backbone", "Functional", (f, f, b.features), total, trainable,
                     f"{fmt(total)} ({b.title} base, {state})"))
    rows.append(_row("head_pool", "GlobalAveragePooling2D", (b.features,), 0, 0, "0 (no weights)"))
    rows.append(_row("head_dropout", "Dropout", (b.features,), 0, 0, "0 (no weights)"))
    n, t, text = dense_params(b.features, num_classes)
    rows.append(_row("head_output", "Dense", (num_classes,), n, t, text))
    total_all = sum(r["params"] for r in rows)
    trainable_all = sum(r["trainable"] for r in rows)
    return SummaryTable(rows=rows, total=total_all, trainable=trainable_all, non_trainable=total_all - trainable_all)


def _row(name: str, kind: str, shape: tuple, params: int, trainable: int, formula: str) -> dict[str, Any]:
    return {"name": name, "type": kind, "output_shape": shape_text(shape), "shape": tuple(shape),
            "params": params, "trainable": trainable, "formula": formula}


def batchnorm_in_inference(cfg: ModelConfig) -> bool:
    """Whether the backbone's batch norm layers are frozen (moving statistics, γ and β fixed).

    Frozen: the whole backbone. Unfrozen with ImageNet weights: its batch norm layers stay
    frozen (the Keras fine-tuning guides do the same), so small batches of new data do not
    overwrite the statistics the weights were trained with. From random weights they learn.
    In Keras 3 this is done with ``trainable=False`` on the layers: a non-trainable
    BatchNormalization always uses its moving statistics, whereas ``base(x, training=False)``
    in the graph is overridden by ``fit``'s ``training=True``.
    """
    return bool(cfg.frozen or cfg.weights == "imagenet")


def trainable_backbone_params(cfg: ModelConfig) -> int:
    """Backbone parameters trained: none when frozen, all but batch norm's when fine-tuning ImageNet weights."""
    total, trainable = backbone_params(cfg)
    if cfg.frozen:
        return 0
    if batchnorm_in_inference(cfg):
        return total - 2 * (total - trainable)  # each batch norm has 2 trained and 2 moving values per channel
    return trainable


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


# --- training specs ----------------------------------------------------------------------------
def config(*, backbone: str = "mobilenetv2", frozen: bool = True, weights: str = "imagenet", alpha: float = 0.35,
           image_size: int | None = None, learning_rate: float | None = None,
           dropout: float = HEAD_DROPOUT) -> ModelConfig:
    """A transfer ModelConfig with this module's defaults (learning rate by frozen/unfrozen)."""
    from cnnviz.models.network import ModelConfig

    size = image_size if image_size is not None else BACKBONES.get(backbone, BACKBONES["mobilenetv2"]).default_size
    lr = learning_rate if learning_rate is not None else (FROZEN_LEARNING_RATE if frozen else UNFROZEN_LEARNING_RATE)
    cfg = ModelConfig(architecture=ARCHITECTURE, backbone=backbone, frozen=frozen, weights=weights,
                      alpha=float(alpha), image_size=size, learning_rate=lr, dropout=dropout, head="global_avg",
                      optimizer="adam")
    check_settings(cfg)
    return cfg


def spec(cfg: ModelConfig, *, dataset: str, train_size: int | None, test_size: int | None, epochs: int,
         batch_size: int = BATCH_SIZE, validation_fraction: float = 0.25, seed: int = 0) -> training.TrainSpec:
    """A validated TrainSpec for the normal training job: "unit" scaling, as the model expects."""
    from cnnviz.training import loop as training

    if cfg.architecture != ARCHITECTURE:
        raise InvalidArgument(f"expected a transfer model configuration, got architecture {cfg.architecture!r}")
    check_settings(cfg)
    out = training.TrainSpec(model=cfg.to_dict(), dataset=dataset, train_size=train_size, test_size=test_size,
                             validation_fraction=validation_fraction, scaling="unit", epochs=epochs,
                             batch_size=batch_size, seed=seed)
    out.validate()
    return out


def frozen_and_unfrozen(base: training.TrainSpec) -> tuple[training.TrainSpec, training.TrainSpec]:
    """The same run twice: frozen backbone (lr 1e-3) and unfrozen (lr 1e-4); everything else equal."""
    import dataclasses

    from cnnviz.models.network import ModelConfig

    cfg = ModelConfig.from_dict(base.model)
    pair = []
    for is_frozen in (True, False):
        lr = FROZEN_LEARNING_RATE if is_frozen else UNFROZEN_LEARNING_RATE
        pair.append(dataclasses.replace(base, model=cfg.replace(frozen=is_frozen, learning_rate=lr).to_dict()))
    return pair[0], pair[1]


def expected_epoch_seconds(cfg: ModelConfig, n_images: int) -> float | None:
    """Seconds per epoch of ``n_images`` training images, from :data:`MEASURED_EPOCH_S` (None if not measured)."""
    rate = MEASURED_EPOCH_S.get((cfg.backbone, bool(cfg.frozen)))
    if rate is None:
        return None
    width = float(cfg.alpha) / 0.35 if cfg.backbone == "mobilenetv2" else 1.0  # rough: cost grows with width
    return rate * n_images / 1000 * (cfg.image_size / 96) ** 2 * max(1.0, width)
