"""Model settings, checked before TensorFlow is touched, and the Keras models they build.

:class:`ModelConfig` holds either the seed 000 ``build_CNN`` parameters (architecture
``"custom"``) or the id of one seed's fixed network, plus the optimiser and loss.
:func:`build_model` checks it (shape by shape, without TensorFlow), then builds and
compiles a Keras model whose every layer is named. Models take already-scaled float input;
scaling is a training option. Presets (:data:`PRESETS`) live in :mod:`cnnviz.models.presets`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from cnnviz.models import architectures
from cnnviz.errors import InvalidArgument
from cnnviz.models.layerspec import (
    INPUT_NAME, SummaryTable, batchnorm_params, conv_params, dense_params, frozen, param_calculator, shape_text,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

# "transfer": an ImageNet backbone plus a new head (cnnviz.models.transfer; issue 7).
ARCHITECTURES: tuple[str, ...] = ("custom", *architectures.FIXED, "transfer")
ACTIVATIONS = ("relu", "elu", "gelu", "leaky_relu", "selu", "sigmoid", "swish", "tanh")
FILTER_GROWTHS = ("double_once", "double_each", "constant")  # seed 000 code, seed 000 text, flat
POOLINGS = ("max", "avg", "none")
HEADS = ("flatten", "global_avg")
OPTIMIZERS = ("adam", "sgd_nesterov", "rmsprop")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "mean_squared_error")
# "one_cycle": airbench94's triangle, applied per step by the training job (cnnviz.training.loop.lr_at).
LR_SCHEDULES = ("constant", "one_cycle")
# "mixed_bfloat16": layers compute in bfloat16, weights stay float32 (faster for some nets on AMX CPUs).
PRECISIONS = ("float32", "mixed_bfloat16")
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
            job sets the rate before every step, see :func:`cnnviz.training.loop.lr_at`).
        weight_decay: decoupled weight decay of the optimiser (Keras ``weight_decay``:
            every weight shrinks by learning rate × decay per step); 0 = none.
        precision: "float32" or "mixed_bfloat16" (the output layer stays float32).
        backbone, alpha, image_size, frozen, weights: only for ``architecture == "transfer"``
            (see :mod:`cnnviz.models.transfer`): "mobilenetv2" or "resnet50", MobileNetV2's width,
            the side the images are resized to, whether the backbone is frozen, and
            "imagenet" or "none" (random weights: not transfer learning). Its head's dropout
            is ``dropout``.
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
    backbone: str = "mobilenetv2"
    alpha: float = 0.35
    image_size: int = 96
    frozen: bool = True
    weights: str = "imagenet"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; missing keys take their defaults, unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a model configuration must be a dict, got {data!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"unknown model setting(s) {', '.join(map(repr, unknown))}")
        return cls(**dict(data))

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (e.g. a preset with another learning rate)."""
        return dataclasses.replace(self, **changes)

    @property
    def title(self) -> str:
        """Human name of the network."""
        if self.architecture == "custom":
            return "Custom CNN (seed 000 build_CNN)"
        if self.architecture == "transfer":
            from cnnviz.models import transfer

            return transfer.title(self)
        return architectures.FIXED.get(self.architecture, (self.architecture,))[0]

    def layers(self, num_classes: int) -> list[dict[str, Any]]:
        """The network as layer specs (:mod:`cnnviz.models.layerspec`), without checking the settings."""
        if self.architecture == "custom":
            return architectures.custom(self, num_classes)
        if self.architecture == "transfer":  # a Keras backbone is no list of layer specs
            raise InvalidArgument("a transfer network has no layer-spec list; see cnnviz.models.transfer.summary")
        return architectures.FIXED[self.architecture][1](self, num_classes)

    def validate(self, input_shape: tuple[int, int, int], num_classes: int) -> SummaryTable:
        """Check every setting and the image's path through the network, without TensorFlow.

        Returns:
            The formula summary of the network for this input (what :func:`build_model` builds).

        Raises:
            InvalidArgument: naming the setting and repeating the value received.
        """
        self._check_settings()
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or not 2 <= num_classes <= 1000:
            raise InvalidArgument(f"number of classes must be a whole number from 2 to 1000, got {num_classes!r}")
        param_calculator([], input_shape)  # checks the input shape first
        if self.architecture == "transfer":
            from cnnviz.models import transfer

            return transfer.summary(self, tuple(input_shape), num_classes)
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
        if not isinstance(self.batch_norm, bool):
            raise InvalidArgument(f"batch norm must be true or false, got {self.batch_norm!r}")
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


# --- Keras ---------------------------------------------------------------------------------------
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


def _keras_layer(spec: Mapping[str, Any], dtype: str | None = None) -> Any:
    from keras import layers

    kind, name = spec["kind"], spec["name"]
    kw: dict[str, Any] = {"name": name} | ({"dtype": dtype} if dtype else {})
    if kind == "conv":
        return layers.Conv2D(spec["filters"], spec["kernel"], strides=spec.get("strides", 1),
                             padding=spec.get("padding", "valid"), activation=spec.get("activation"),
                             use_bias=spec.get("use_bias", True), trainable=spec.get("trainable", True), **kw)
    if kind in ("maxpool", "avgpool"):
        cls = layers.MaxPooling2D if kind == "maxpool" else layers.AveragePooling2D
        return cls(spec["pool"], strides=spec.get("strides"), padding=spec.get("padding", "valid"), **kw)
    simple = {
        "batchnorm": lambda: layers.BatchNormalization(momentum=spec.get("momentum", 0.99), **kw),
        "activation": lambda: layers.Activation(spec["activation"], **kw),
        "dropout": lambda: layers.Dropout(spec["rate"], **kw),
        "flatten": lambda: layers.Flatten(**kw),
        "global_avg": lambda: layers.GlobalAveragePooling2D(**kw),
        "global_max": lambda: layers.GlobalMaxPooling2D(**kw),
        "rescale": lambda: layers.Rescaling(float(spec["scale"]), **kw),
        "dense": lambda: layers.Dense(spec["units"], activation=spec.get("activation"),
                                      use_bias=spec.get("use_bias", True), **kw),
        "concat": lambda: layers.Concatenate(**kw),
        "add": lambda: layers.Add(**kw),
    }
    return simple[kind]()


def _optimizer(config: ModelConfig) -> Any:
    import keras

    lr: Any = config.learning_rate
    if config.lr_decay > 0:  # Keras 2's SGD(decay=d): lr_t = lr / (1 + d·t), per step
        lr = keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=1, decay_rate=config.lr_decay)
    decay = {"weight_decay": config.weight_decay} if config.weight_decay else {}
    if config.optimizer == "sgd_nesterov":
        return keras.optimizers.SGD(learning_rate=lr, momentum=config.momentum, nesterov=True, **decay)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=lr, **decay)
    return keras.optimizers.Adam(learning_rate=lr, **decay)


def _loss(config: ModelConfig) -> Any:
    import keras

    if config.loss == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    if config.loss == "sparse_categorical_crossentropy":
        return keras.losses.SparseCategoricalCrossentropy()
    return keras.losses.MeanSquaredError()


def build_model(config: ModelConfig, *, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A compiled Keras model (loss, optimiser, ``metrics=["accuracy"]``), every layer named.

    With ``head="global_avg"`` the input's height and width are left open (None), so the
    trained model also accepts other image sizes.

    Raises:
        InvalidArgument: the settings are impossible (checked before TensorFlow is imported).
    """
    config.validate(input_shape, num_classes)
    import keras

    if config.architecture == "transfer":
        from cnnviz.models import transfer

        model = transfer.build(config, input_shape=input_shape, num_classes=num_classes)
        model.compile(optimizer=_optimizer(config), loss=_loss(config), metrics=["accuracy"])
        return model
    h, w, c = input_shape
    spatial = (None, None) if config.head == "global_avg" else (h, w)
    tensors = {INPUT_NAME: keras.Input(shape=(*spatial, c), name=INPUT_NAME)}
    previous = INPUT_NAME
    specs = config.layers(num_classes)
    for i, spec in enumerate(specs):
        sources = [tensors[s] for s in spec.get("inputs") or [previous]]
        # mixed precision: every layer but the output (probabilities stay float32)
        mixed = config.precision != "float32" and i < len(specs) - 1
        layer = _keras_layer(spec, config.precision if mixed else None)
        tensors[spec["name"]] = layer(sources if spec["kind"] in ("concat", "add") else sources[0])
        previous = spec["name"]
    model = keras.Model(tensors[INPUT_NAME], tensors[previous], name=config.architecture)
    model.compile(optimizer=_optimizer(config), loss=_loss(config), metrics=["accuracy"])
    return model


def data_init_layers(config: ModelConfig, num_classes: int) -> list[dict[str, Any]]:
    """Layer specs whose weights are computed from the training data (``init`` key) before training."""
    if config.architecture == "transfer":
        return []
    return [spec for spec in config.layers(num_classes) if spec.get("init")]


def init_from_data(model: keras.Model, config: ModelConfig, x: np.ndarray) -> list[str]:
    """Set the weights that come from the data, e.g. the patch-whitening conv of the fast networks.

    The training job calls this once after :func:`build_model`, with the first training
    images scaled as the model sees them. The weights become ordinary (frozen) layer
    weights, so the saved model needs nothing else to load.

    Args:
        model: built by :func:`build_model` from ``config``.
        config: its configuration.
        x: scaled training images N×H×W×C (float).
    Returns:
        The names of the layers that were set.
    """
    from cnnviz.models import whitening

    done = []
    for spec in data_init_layers(config, int(model.output_shape[-1])):
        if spec["init"] != "patch_whitening":
            raise InvalidArgument(f"layer {spec['name']!r} asks for an unknown initialisation, got {spec['init']!r}")
        layer = model.get_layer(spec["name"])
        kernel = whitening.patch_whitening_kernel(x, size=int(spec["kernel"]), filters=int(spec["filters"]))
        weights = [kernel] + ([np.zeros(spec["filters"], np.float32)] if spec.get("use_bias", True) else [])
        layer.set_weights(weights)
        done.append(spec["name"])
    return done


def summary_table(model: keras.Model, *, input_shape: tuple[int, int, int] | None = None) -> SummaryTable:
    """Keras' ``model.summary()`` as rows, with the formula behind each layer's parameters.

    Args:
        model: a built Keras model (any, not only ours: unknown layers get their count only).
        input_shape: image size to show the shapes for when the model leaves them open
            (a global-average model); ignored otherwise.

    Returns:
        A :class:`cnnviz.models.layerspec.SummaryTable` with the Keras counts.
    """
    import keras

    layers = model.layers
    shapes = [tuple(layer.output.shape[1:]) for layer in layers]
    if input_shape is not None and any(None in s for s in shapes):
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
        specs = probe.compute_output_spec(keras.KerasTensor((1, *input_shape)))
        shapes = [tuple(spec.shape[1:]) for spec in specs]
    rows = []
    for layer, shape in zip(layers, shapes):
        params = layer.count_params() if layer.built else 0
        trainable = sum(math.prod(v.shape) for v in layer.trainable_weights)
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": shape_text(shape),
            "shape": shape,
            "params": params,
            "trainable": trainable,
            "formula": _formula(layer, params),
        })
    total = model.count_params()
    trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    return SummaryTable(rows=rows, total=total, trainable=trainable, non_trainable=total - trainable)


def _formula(layer: Any, params: int) -> str:
    """The hand-count formula of one Keras layer, from its configuration and input size.

    Layers the formulas do not cover (grouped convs, other kinds) show their count only.
    """
    name = type(layer).__name__
    if not params:
        return "0 (no weights)"
    counts = None
    if name == "Conv2D" and getattr(layer, "groups", 1) == 1:
        kh, kw = layer.kernel_size
        counts = conv_params(kh, kw, layer.input.shape[-1], layer.filters, layer.use_bias)
        counts = counts if layer.trainable else frozen(counts)
    elif name == "Dense":
        counts = dense_params(layer.input.shape[-1], layer.units, layer.use_bias)
    elif name == "BatchNormalization" and layer.center and layer.scale:
        counts = batchnorm_params(layer.input.shape[layer.axis])
    if counts is None or counts[0] != params:
        return f"{params:,} (no formula for {name})"
    return counts[2]


def __getattr__(name: str) -> Any:
    """``PRESETS`` and ``Preset`` live in :mod:`cnnviz.models.presets` (which imports this module)."""
    if name in ("PRESETS", "Preset"):
        from cnnviz.models import presets

        return getattr(presets, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
