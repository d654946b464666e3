"""The transfer networks' backbones and settings, without TensorFlow: checks, shapes, parameter counts.

A transfer network (``ModelConfig.architecture == "transfer"``) is an ImageNet backbone (MobileNetV2,
ResNet50 or VGG16, the one seed 004 task 4 uses), frozen or not, plus a new head; :mod:`cnnviz.models.transfer` builds it with Keras. This module
holds what :class:`cnnviz.models.config.ModelConfig` needs to check and count such a network before
TensorFlow is touched, so the settings never import the builder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnnviz.errors import InvalidArgument
from cnnviz.models.layerspec import INPUT_NAME, SummaryTable, dense_params, fmt, frozen, shape_text

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.models.config import ModelConfig

ARCHITECTURE = "transfer"  # the ModelConfig.architecture id of these networks
WEIGHTS_OPTIONS = ("imagenet", "none")
#: The smallest input Keras' applications accept (imagenet_utils.obtain_input_shape, min_size=32).
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 224
#: Input sizes for which Keras publishes MobileNetV2 weights (keras/src/applications/mobilenet_v2.py).
MOBILENET_SIZES = (96, 128, 160, 192, 224)
#: Width multipliers offered (Keras publishes 0.35, 0.5, 0.75, 1.0, 1.3, 1.4; above 1 is too slow here).
MOBILENET_ALPHAS = (0.35, 0.5, 0.75, 1.0)
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
_VGG16_PARAMS = (14_714_688, 14_714_688)  # 13 convs, no batch norm


@dataclass(frozen=True)
class Backbone:
    """One pretrained convolutional base.

    Attributes:
        name: id used in ModelConfig.backbone and on the command line.
        title: for people.
        features: channels of its last feature map (what the head sees).
        preprocessing: "tf" (to [-1, 1]) or "caffe" (BGR minus the ImageNet means).
        default_size: input side used when none is chosen.
        rounds_up: whether its five halvings round up ('same'-padded strides: MobileNetV2, ResNet50)
            or down (VGG16's 2×2 'valid' max pooling).
        batchnorm: whether it has batch normalisation layers (VGG16 has none).

    Its weights file (name, URL, size, environment variable, download id) is in :mod:`cnnviz.weights`.
    """

    name: str
    title: str
    features: int
    preprocessing: str
    default_size: int
    rounds_up: bool = True
    batchnorm: bool = True


BACKBONES: dict[str, Backbone] = {
    "mobilenetv2": Backbone("mobilenetv2", "MobileNetV2", 1280, "tf", 96),
    "resnet50": Backbone("resnet50", "ResNet50", 2048, "caffe", 96),
    "vgg16": Backbone("vgg16", "VGG16", 512, "caffe", 96, rounds_up=False, batchnorm=False),
}

# Seconds for one epoch of 1,000 training images plus 250 validation images, batch 32, at 96×96
# (digits upscaled; MobileNetV2 α 0.35), first epoch (tracing included), through the training job,
# on the 2-core development machine (shared, so ±40%): benchmarks/transfer_epoch.py.
# Other sizes and widths are scaled by the pixel count and α (an estimate, not a measurement).
MEASURED_EPOCH_S: dict[tuple[str, bool], float] = {
    ("mobilenetv2", True): 16.7,
    ("mobilenetv2", False): 66.0,
    ("resnet50", True): 90.3,
    ("resnet50", False): 286.0,  # measured while a test run shared the 2 cores: likely an overestimate
    # VGG16 (seed 004 task 4), measured at the presets' 200×200 with benchmarks/vgg16_epoch.py (90 images, the
    # steady second epoch) while the machine ran at load 25-48: its CPU seconds over the 2 cores, the epoch's
    # time when the machine is the training's alone, converted to this unit by pixel count.
    ("vgg16", True): 28.9,  # 0.251 CPU-s per 200×200 image
    ("vgg16", False): 90.1,  # 0.782 CPU-s per 200×200 image
}
MEASURED_AT = "96×96, 1,000 images, batch 32, the 2-core development machine"
#: Where a backbone's figure was measured when not at :data:`MEASURED_AT`.
MEASURED_AT_BY_BACKBONE = {
    "vgg16": "200×200 (seed 004's presets), 90 images, batch 32, the 2-core development machine's CPU time",
}


def measured_at(backbone: str) -> str:
    """Where backbone ``backbone``'s epoch time was measured (the page says it beside the estimate)."""
    return MEASURED_AT_BY_BACKBONE.get(backbone, MEASURED_AT)


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
    if cfg.backbone == "vgg16":
        return _VGG16_PARAMS
    return _MOBILENET_PARAMS[float(cfg.alpha)]


def feature_side(image_size: int, rounds_up: bool = True) -> int:
    """Side of the backbone's last feature map: the image halved five times (rounding up or down).

    >>> feature_side(96), feature_side(224), feature_side(32), feature_side(100), feature_side(200, False)
    (3, 7, 1, 4, 6)
    """
    side = image_size
    for _ in range(DOWNSAMPLING_STEPS):
        side = math.ceil(side / 2) if rounds_up else side // 2
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
    f = feature_side(s, b.rounds_up)
    if cfg.frozen:
        state = "frozen: not trained"
    elif not b.batchnorm:
        state = f"{fmt(trainable)} trained: every layer, it has no batch norm"
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



def expected_epoch_seconds(cfg: ModelConfig, n_images: int) -> float | None:
    """Seconds per epoch of ``n_images`` training images, from :data:`MEASURED_EPOCH_S` (None if not measured)."""
    rate = MEASURED_EPOCH_S.get((cfg.backbone, bool(cfg.frozen)))
    if rate is None:
        return None
    width = float(cfg.alpha) / 0.35 if cfg.backbone == "mobilenetv2" else 1.0  # rough: cost grows with width
    return rate * n_images / 1000 * (cfg.image_size / 96) ** 2 * max(1.0, width)
