"""Transfer learning: an ImageNet backbone (MobileNetV2 or ResNet50), frozen or not, plus a new head.

Seed 004 (CS-577 HW4) replaces its own cats-vs-dogs CNN with VGG16's pretrained convolutional
base and trains it twice, "with freeze deactivated" and "with freeze activated". cnnviz does
the same with VGG16 itself, MobileNetV2 (light enough for a 2-core CPU) or ResNet50, through the normal
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

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.models.backbones import (
    ARCHITECTURE,
    BACKBONES,
    FROZEN_LEARNING_RATE,
    HEAD_DROPOUT,
    UNFROZEN_LEARNING_RATE,
    batchnorm_in_inference,
    check_settings,
    summary,
)
from cnnviz.models.config import ModelConfig
from cnnviz.models.layerspec import INPUT_NAME
from cnnviz.models.resnet50 import IMAGENET_MEAN_BGR
from cnnviz.weights import resolve_backbone


if TYPE_CHECKING:  # pragma: no cover
    import keras


def _backbone(name: str, *, alpha: float, image_size: int, weights_path: Path | None) -> keras.Model:
    """Keras' "no top" base, random (``weights=None``) or with the given file's weights."""
    import keras

    shape = (image_size, image_size, 3)
    weights = None if weights_path is None else str(weights_path)
    if name == "resnet50":
        return keras.applications.ResNet50(include_top=False, weights=weights, input_shape=shape,
                                           name="resnet50_backbone")
    if name == "vgg16":  # seed 004 task 4's backbone; its preprocess_input is ResNet50's ("caffe")
        return keras.applications.VGG16(include_top=False, weights=weights, input_shape=shape, name="vgg16_backbone")
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
    path = resolve_backbone(cfg) if cfg.weights == "imagenet" else None
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
