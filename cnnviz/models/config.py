"""Model settings, checked before TensorFlow is touched: :class:`ModelConfig` and its options.

:class:`ModelConfig` holds either the seed 000 ``build_CNN`` parameters (architecture
``"custom"``), the id of one seed's fixed network, or a transfer network's backbone settings,
plus the optimiser and loss. :meth:`ModelConfig.validate` checks it shape by shape, without
TensorFlow; :mod:`cnnviz.models.network` builds the Keras model. Models take already-scaled
float input; scaling is a training option. Presets live in :mod:`cnnviz.models.presets`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.models import architectures, backbones
from cnnviz.models.layerlist import LayerList
from cnnviz.models.layerspec import SummaryTable, param_calculator, shape_text

# "transfer": an ImageNet backbone plus a new head (cnnviz.models.backbones, .transfer; issue 7).
# "layers": the layer-by-layer builder's list (cnnviz.models.layerlist; issue 16).
LAYERS = "layers"
ARCHITECTURES: tuple[str, ...] = ("custom", *architectures.FIXED, "transfer", LAYERS)
ACTIVATIONS = ("relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid", "swish", "tanh")
FILTER_GROWTHS = ("double_once", "double_each", "constant")  # seed 000 code, seed 000 text, flat
POOLINGS = ("max", "avg", "none")
HEADS = ("flatten", "global_avg")
OPTIMIZERS = ("adam", "sgd_nesterov", "rmsprop")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "mean_squared_error")
# "one_cycle": airbench94's triangle, applied per step by the training job (cnnviz.training.callbacks.lr_at).
LR_SCHEDULES = ("constant", "one_cycle")
# "mixed_bfloat16": layers compute in bfloat16, weights stay float32 (faster for some nets on AMX CPUs).
PRECISIONS = ("float32", "mixed_bfloat16")
#: Largest factor on the batch-norm biases' learning rate (airbench uses 64).
MAX_BN_BIAS_LR = 1000.0
# Integer settings: inclusive (low, high). Pages use these for their sliders.
INT_LIMITS: dict[str, tuple[int, int]] = {
    "conv_layers": (0, 8),
    "filters": (1, 512),
    "kernel_size": (1, 7),
    "dense_layers": (0, 4),
    "dense_units": (1, 4096),
}
# A classroom server's memory bound (judgement): AlexNet-style (21.6M) fits, a 32×32×512
# map flattened into 4096 units (2.1 billion) does not.
MAX_PARAMS = 30_000_000
_LABELS = {
    "conv_layers": "conv layers", "filters": "filters", "kernel_size": "kernel size",
    "dense_layers": "dense layers", "dense_units": "dense nodes", "dropout": "dropout",
    "conv_dropout": "conv dropout", "learning_rate": "learning rate", "momentum": "momentum",
    "lr_decay": "learning-rate decay", "label_smoothing": "label smoothing", "weight_decay": "weight decay",
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; JSON-safe through :meth:`to_dict`.

    The builder fields (``conv_layers`` … ``dropout``) shape the network only when
    ``architecture == "custom"``; a fixed seed network ignores them but still takes
    ``head`` (flatten or global average) and the optimiser/loss fields. Defaults are seed
    000's ``build_CNN`` defaults (its model1).

    Attributes:
        architecture: "custom" or a fixed network id (see ``ARCHITECTURES``).
        conv_layers: conv blocks (conv, batch norm, 2×2 pooling), 0-8.
        filters: filters of the first conv layer.
        filter_growth: "double_once" (seed 000 code: 2×filters after the first layer),
            "double_each" (seed 000 text: double every layer) or "constant".
        kernel_size: square kernel side, 'same' padding.
        activation: of every conv and dense layer (the output is softmax).
        pooling: "max", "avg" or "none" after each conv layer.
        batch_norm: batch norm after each conv and dense layer (after the activation, as seed 000).
        conv_dropout: dropout after each conv block (0 = none; seed 000 has none).
        dense_layers, dense_units: intermediate dense layers and their nodes.
        dropout: dropout after each intermediate dense layer (seed 000 Part 14 uses 0.5).
        head: "flatten" (the seeds) or "global_avg" (accepts any image size).
        optimizer: "adam", "sgd_nesterov" (SGD with Nesterov momentum) or "rmsprop".
        learning_rate: 0 < lr ≤ 1.
        momentum: SGD momentum (only for "sgd_nesterov").
        lr_decay: legacy Keras ``decay``: lr / (1 + decay·step) (seed 001 uses 1e-6).
        loss: "categorical_crossentropy" (one-hot labels, the seeds),
            "sparse_categorical_crossentropy" (integer labels) or "mean_squared_error".
        label_smoothing: for categorical cross-entropy only.
        lr_schedule: "constant" or "one_cycle" (``learning_rate`` is the peak; the training
            job sets the rate before every step, see :func:`cnnviz.training.callbacks.lr_at`).
        weight_decay: decoupled weight decay of the optimiser (Keras ``weight_decay``:
            every weight shrinks by learning rate × decay per step); 0 = none.
        precision: "float32" or "mixed_bfloat16" (the output layer, and the fast networks' GELUs, stay float32).
        dirac_init: the fast networks' 3×3 convs start as identities on their first channels
            (airbench; :mod:`cnnviz.models.dirac`).
        bn_scale: batch norm learns a scale γ (Keras' default); False leaves it out, as airbench
            freezes its batch-norm weights at 1.
        bn_bias_lr: the batch-norm biases (β) learn this many times faster than the other weights
            (airbench: 64); their weight decay stays as is. Applied by the training job
            (:mod:`cnnviz.training.airbench`).
        lookahead: airbench's Lookahead: every 5 steps the weights are pulled back towards an
            average of their past values, which the training ends with (:mod:`cnnviz.training.airbench`).
        backbone, alpha, image_size, frozen, weights: only for ``architecture == "transfer"``
            (see :mod:`cnnviz.models.backbones`): "mobilenetv2" or "resnet50", MobileNetV2's width,
            the side the images are resized to, whether the backbone is frozen, and
            "imagenet" or "none" (random weights: not transfer learning). Its head's dropout
            is ``dropout``.
        layer_list: only for ``architecture == "layers"``: the network layer by layer
            (:class:`cnnviz.models.layerlist.LayerList`); its head is ``head``.
    """

    architecture: str = "custom"
    conv_layers: int = 2
    filters: int = 16
    filter_growth: str = "double_once"
    kernel_size: int = 3
    activation: str = "relu"
    pooling: str = "max"
    batch_norm: bool = True
    conv_dropout: float = 0.0
    dense_layers: int = 0
    dense_units: int = 50
    dropout: float = 0.0
    head: str = "flatten"
    optimizer: str = "adam"
    learning_rate: float = 0.01
    momentum: float = 0.9
    lr_decay: float = 0.0
    loss: str = "categorical_crossentropy"
    label_smoothing: float = 0.0
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    precision: str = "float32"
    dirac_init: bool = False
    bn_scale: bool = True
    bn_bias_lr: float = 1.0
    lookahead: bool = False
    backbone: str = "mobilenetv2"
    alpha: float = 0.35
    image_size: int = 96
    frozen: bool = True
    weights: str = "imagenet"
    layer_list: LayerList | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict of every field (the layer list as :meth:`LayerList.to_dict`)."""
        data = dataclasses.asdict(self)
        data["layer_list"] = None if self.layer_list is None else self.layer_list.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a model configuration must be a dict, got {data!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"unknown model setting(s) {', '.join(map(repr, unknown))}")
        data = dict(data)
        if isinstance(data.get("layer_list"), Mapping):
            data["layer_list"] = LayerList.from_dict(data["layer_list"])
        return cls(**data)

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (e.g. a preset with another learning rate)."""
        return dataclasses.replace(self, **changes)

    @property
    def title(self) -> str:
        """Human name of the network."""
        if self.architecture == "custom":
            return "Custom CNN (seed 000 build_CNN)"
        if self.architecture == "transfer":
            return backbones.title(self)
        if self.architecture == LAYERS:
            n = len(self.layer_list.layers) if isinstance(self.layer_list, LayerList) else 0
            return f"Layer by layer ({n} layer{'s' * (n != 1)} + output)"
        return architectures.FIXED.get(self.architecture, (self.architecture,))[0]

    def layers(self, num_classes: int) -> list[dict[str, Any]]:
        """The network as layer specs (:mod:`cnnviz.models.layerspec`), without checking the settings."""
        if self.architecture == "custom":
            return architectures.custom(self, num_classes)
        if self.architecture == "transfer":  # a Keras backbone is no list of layer specs
            raise InvalidArgument("a transfer network has no layer-spec list; see cnnviz.models.backbones.summary")
        if self.architecture == LAYERS:
            return self._layer_list().specs(num_classes, head=self.head)
        return architectures.FIXED[self.architecture][1](self, num_classes)

    def validate(self, input_shape: tuple[int, int, int], num_classes: int) -> SummaryTable:
        """Check every setting and the image's path through the network, without TensorFlow.

        Returns:
            The formula summary of the network for this input (what
            :func:`cnnviz.models.network.build_model` builds).

        Raises:
            InvalidArgument: naming the setting and repeating the value received.
        """
        self._check_settings()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or not 2 <= num_classes <= 1000:
            raise InvalidArgument(f"number of classes must be a whole number from 2 to 1000, got {num_classes!r}")
        param_calculator([], input_shape)  # checks the input shape first
        if self.architecture == "transfer":
            return backbones.summary(self, tuple(input_shape), num_classes)
        if self.architecture == LAYERS:
            table = self._layer_list().validate(tuple(input_shape), num_classes, head=self.head)
            return self._check_size(table)
        if self.architecture == "custom":
            self._check_custom(tuple(input_shape))
        elif self.head == "global_avg" and not architectures.FIXED[self.architecture][2]:
            raise InvalidArgument(
                f"head 'global_avg' needs convolution layers and {self.architecture} has none, got head={self.head!r}"
            )
        try:
            table = param_calculator(self.layers(num_classes), input_shape)
        except InvalidArgument as err:
            raise InvalidArgument(f"{self.title} does not fit a {shape_text(input_shape)} image: {err}") from None
        return self._check_size(table)

    def _layer_list(self) -> LayerList:
        if not isinstance(self.layer_list, LayerList):
            raise InvalidArgument(f"architecture 'layers' needs a layer list, got layer_list={self.layer_list!r}")
        return self.layer_list

    @staticmethod
    def _check_size(table: SummaryTable) -> SummaryTable:
        if table.total > MAX_PARAMS:
            raise InvalidArgument(
                f"this network would have {table.total:,} parameters, more than this server's limit of "
                f"{MAX_PARAMS:,}: use fewer filters or dense nodes, or more pooling, got {table.total:,}"
            )
        return table

    def _check_settings(self) -> None:
        for name, options in (("architecture", ARCHITECTURES), ("filter_growth", FILTER_GROWTHS),
                              ("activation", ACTIVATIONS), ("pooling", POOLINGS), ("head", HEADS),
                              ("optimizer", OPTIMIZERS), ("loss", LOSSES), ("lr_schedule", LR_SCHEDULES),
                              ("precision", PRECISIONS)):
            value = getattr(self, name)
            if value not in options:
                label = name.replace("_", " ")
                raise InvalidArgument(f"{label} must be one of {', '.join(options)}; got {value!r}")
        for name, (low, high) in INT_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise InvalidArgument(f"{_LABELS[name]} must be a whole number from {low} to {high}, got {value!r}")
        for name in ("batch_norm", "dirac_init", "bn_scale", "lookahead"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgument(f"{name.replace('_', ' ')} must be true or false, got {getattr(self, name)!r}")
        if not _is_number(self.bn_bias_lr) or not 0 < self.bn_bias_lr <= MAX_BN_BIAS_LR:
            raise InvalidArgument(f"batch-norm bias learning-rate factor must be above 0 and at most "
                                  f"{MAX_BN_BIAS_LR}, got {self.bn_bias_lr!r}")
        for name in ("dropout", "conv_dropout", "momentum", "label_smoothing", "weight_decay"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value < 1:
                raise InvalidArgument(f"{_LABELS[name]} must be at least 0 and below 1, got {value!r}")
        if not _is_number(self.learning_rate) or not 0 < self.learning_rate <= 1:
            raise InvalidArgument(f"learning rate must be above 0 and at most 1, got {self.learning_rate!r}")
        if not _is_number(self.lr_decay) or not 0 <= self.lr_decay <= 1:
            raise InvalidArgument(f"learning-rate decay must be from 0 to 1, got {self.lr_decay!r}")
        if self.lr_schedule != "constant" and self.lr_decay:
            raise InvalidArgument(
                f"learning-rate decay and the {self.lr_schedule} schedule cannot be combined, got "
                f"learning-rate decay {self.lr_decay!r} with lr_schedule={self.lr_schedule!r}"
            )
        if self.label_smoothing and self.loss != "categorical_crossentropy":
            raise InvalidArgument(
                f"label smoothing works only with categorical_crossentropy, got loss={self.loss!r} "
                f"with label smoothing {self.label_smoothing!r}"
            )

    def _check_custom(self, input_shape: tuple[int, ...]) -> None:
        """Builder-level messages that name the slider, before the per-layer walk."""
        if self.head == "global_avg" and self.conv_layers == 0:
            raise InvalidArgument("head 'global_avg' needs at least one conv layer, got conv layers = 0")
        if self.pooling != "none":
            side = min(input_shape[0], input_shape[1])
            fit = int(math.floor(math.log2(side)))  # 2×2 pooling halves (rounding down) each time
            if self.conv_layers > fit:
                raise InvalidArgument(
                    f"conv layers: each conv layer halves the image with 2×2 pooling, so a "
                    f"{shape_text(input_shape)} image fits at most {fit} before it is smaller than 1×1, "
                    f"got conv layers = {self.conv_layers}"
                )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def min_input_side(config: ModelConfig, *, channels: int = 3, num_classes: int = 10, limit: int = 512) -> int:
    """Smallest square image side the network accepts (e.g. 8 for a model pooling 3 times).

    Raises:
        InvalidArgument: the settings are invalid or no side up to ``limit`` fits.
    """
    for side in range(1, limit + 1):
        try:
            config.validate((side, side, channels), num_classes)
            return side
        except InvalidArgument as err:
            last = err
    raise InvalidArgument(f"no square image up to {limit}×{limit} fits this network: {last}")


def encode_labels(config: ModelConfig, y: np.ndarray, num_classes: int) -> np.ndarray:
    """Integer class labels in the form the config's loss expects (one-hot or integers).

    >>> encode_labels(ModelConfig(), np.array([2, 0]), 3).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise InvalidArgument(f"labels must be from 0 to {num_classes - 1}, got {int(y.min())}..{int(y.max())}")
    if config.loss == "sparse_categorical_crossentropy":
        return y
    return np.eye(num_classes, dtype=np.float32)[y]


def smoothed_target(label_smoothing: float, num_classes: int) -> float:
    """The probability label smoothing teaches a network to give the true class.

    Keras' ``CategoricalCrossentropy(label_smoothing=s)`` trains towards ``y·(1 − s) + s / K``:
    the true class ``1 − s + s/K`` (0.82 for s = 0.2 and 10 classes), every other class ``s/K``.
    Such a network is never meant to be 100% sure.

    Args:
        label_smoothing: the run's ``label_smoothing``, 0 ≤ s < 1.
        num_classes: number of classes K ≥ 2.
    Returns:
        The target probability of the true class.
    """
    if not _is_number(label_smoothing) or not 0 <= label_smoothing < 1:
        raise InvalidArgument(f"label smoothing must be at least 0 and below 1, got {label_smoothing!r}")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
        raise InvalidArgument(f"number of classes must be a whole number of at least 2, got {num_classes!r}")
    return 1.0 - label_smoothing + label_smoothing / num_classes
