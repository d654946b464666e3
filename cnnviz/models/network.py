"""The Keras models that :class:`cnnviz.models.config.ModelConfig` describes, and their summaries.

:func:`build_model` checks a config (shape by shape, without TensorFlow), then builds and
compiles a Keras model whose every layer is named: a custom or fixed seed network from its
layer specs (:mod:`cnnviz.models.architectures`), or a transfer network
(:mod:`cnnviz.models.transfer`). Keras is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.models import dirac, transfer, whitening
from cnnviz.models.config import ModelConfig
from cnnviz.models.layerspec import (
    INPUT_NAME,
    SummaryTable,
    batchnorm_params,
    conv_params,
    dense_params,
    frozen,
    shape_text,
)


if TYPE_CHECKING:  # pragma: no cover
    import keras


def _keras_layer(spec: Mapping[str, Any], dtype: str | None = None) -> Any:
    from keras import layers, regularizers

    kind, name = spec["kind"], spec["name"]
    kw: dict[str, Any] = {"name": name} | ({"dtype": dtype} if dtype else {})
    if kind in ("conv", "dense") and (spec.get("l1") or spec.get("l2")):  # L1/L2 regularisation (layerlist)
        kw["kernel_regularizer"] = regularizers.L1L2(l1=spec.get("l1", 0.0), l2=spec.get("l2", 0.0))
    if kind == "conv":
        return layers.Conv2D(spec["filters"], spec["kernel"], strides=spec.get("strides", 1),
                             padding=spec.get("padding", "valid"), activation=spec.get("activation"),
                             use_bias=spec.get("use_bias", True), trainable=spec.get("trainable", True), **kw)
    if kind in ("maxpool", "avgpool"):
        cls = layers.MaxPooling2D if kind == "maxpool" else layers.AveragePooling2D
        return cls(spec["pool"], strides=spec.get("strides"), padding=spec.get("padding", "valid"), **kw)
    simple = {
        "batchnorm": lambda: layers.BatchNormalization(momentum=spec.get("momentum", 0.99),
                                                       scale=spec.get("scale", True), **kw),
        "activation": lambda: layers.Activation(spec["activation"], **kw),
        "dropout": lambda: layers.Dropout(spec["rate"], **kw),
        "flatten": lambda: layers.Flatten(**kw),
        "global_avg": lambda: layers.GlobalAveragePooling2D(**kw),
        "global_max": lambda: layers.GlobalMaxPooling2D(**kw),
        "rescale": lambda: layers.Rescaling(float(spec["scale"]), offset=float(spec.get("offset", 0.0)), **kw),
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
        # mixed precision: every layer but the output (probabilities stay float32) and those a spec keeps in float32
        mixed = config.precision != "float32" and i < len(specs) - 1
        layer = _keras_layer(spec, spec.get("dtype") or (config.precision if mixed else None))
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
    done = []
    for spec in data_init_layers(config, int(model.output_shape[-1])):
        if spec["init"] == "dirac":  # needs no data, but is set at the same moment
            layer = model.get_layer(spec["name"])
            layer.set_weights([dirac.dirac_kernel(layer.get_weights()[0]), *layer.get_weights()[1:]])
            done.append(spec["name"])
            continue
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
    elif name == "BatchNormalization" and layer.center:
        counts = batchnorm_params(layer.input.shape[layer.axis], layer.scale)
    if counts is None or counts[0] != params:
        return f"{params:,} (no formula for {name})"
    return counts[2]
