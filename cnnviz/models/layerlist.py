"""The layer-by-layer builder: a network as a list of typed layers, each with its own settings.

Where the slider builder (seed 000's ``build_CNN``) gives every conv layer the same kernel,
pooling and batch norm, a :class:`LayerList` lets each layer choose: kernel, stride, padding,
activation, pooling (size, stride, padding), batch norm before or after the activation (seed
001 teaches before) or after the pooling (seed 002's AlexNet), dropout and L1/L2 regularisation;
then dense layers, and a softmax output or one sigmoid unit for two classes. Inception and
residual blocks (seed 004) can stand among the conv layers. Every seed network is such a list
(:mod:`cnnviz.models.layertemplates`).

A ``ModelConfig(architecture="layers", layer_list=...)`` carries it through training and the
run store (plain dicts only at the file boundary: :meth:`LayerList.to_dict`,
:meth:`LayerList.from_dict`); :meth:`LayerList.specs` turns it into the layer specs of
:mod:`cnnviz.models.layerspec`, which :mod:`cnnviz.models.network` builds with Keras and
:func:`~cnnviz.models.layerspec.param_calculator` counts by formula. No TensorFlow here.

One sigmoid output: the model ends ``output`` (Dense(1, sigmoid): the probability of the second
class), ``p_first_class`` (1 − p) and ``two_class_probs`` (both, concatenated), so that training,
evaluation and every page see the usual two class probabilities; categorical cross-entropy on
them equals binary cross-entropy on the one unit, and the two extra layers have no weights.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from cnnviz.errors import InvalidArgument
from cnnviz.models.architectures import conv, inception_block
from cnnviz.models.layerspec import INPUT_NAME, SummaryTable, param_calculator, shape_text

ACTIVATIONS = ("relu", "linear", "elu", "gelu", "leaky_relu", "selu", "sigmoid", "swish", "tanh")
PADDINGS = ("same", "valid")
POOLINGS = ("none", "max", "avg")
#: Where batch norm goes in a conv layer ("after_pooling": seed 002's AlexNet normalises the pooled map).
CONV_BN = ("none", "before_activation", "after_activation", "after_pooling")
DENSE_BN = ("none", "before_activation", "after_activation")
OUTPUTS = ("softmax", "sigmoid")
HEADS = ("flatten", "global_avg")
#: The largest image side the builder takes (seed 004's 200×200 photos; ImageNet's 224).
MAX_SIDE = 224
MAX_LAYERS = 24
#: Whole-number settings: inclusive (low, high).
LIMITS: dict[str, tuple[int, int]] = {
    "filters": (1, 1024), "kernel": (1, 11), "stride": (1, 4), "pool_size": (1, 8), "pool_stride": (0, 8),
    "units": (1, 4096),
}


@dataclass(frozen=True)
class ConvLayer:
    """A 2-D convolution and what follows it, in this order: [batch norm before the activation],
    activation, [batch norm after it], pooling, [batch norm after the pooling], dropout.

    Attributes:
        filters: number of kernels (output channels).
        kernel: square kernel side.
        stride: step of the kernel.
        padding: "same" (keeps the size at stride 1) or "valid" (no border: shrinks by kernel − 1).
        activation: one of :data:`ACTIVATIONS` ("linear": none).
        batch_norm: one of :data:`CONV_BN`.
        bn_momentum: Keras' momentum of the moving statistics (seed 001: 0.75 and 0.8).
        pooling: "none", "max" or "avg".
        pool_size: square pooling window.
        pool_stride: step of the window; 0 = the window (Keras' default, no overlap).
        pool_padding: "valid" or "same".
        dropout: share of the outputs dropped in training (0 = no dropout layer).
        l1, l2: L1/L2 regularisation of the kernel (Keras' ``kernel_regularizer``): ``l1·Σ|w| + l2·Σw²`` added
            to the loss. Not the optimiser's (decoupled) weight decay, ``ModelConfig.weight_decay``.
    """

    filters: int = 16
    kernel: int = 3
    stride: int = 1
    padding: str = "same"
    activation: str = "relu"
    batch_norm: str = "none"
    bn_momentum: float = 0.99
    pooling: str = "none"
    pool_size: int = 2
    pool_stride: int = 0
    pool_padding: str = "valid"
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    kind: str = field(default="conv", init=False)


@dataclass(frozen=True)
class DenseLayer:
    """A fully connected layer: [batch norm before the activation], activation, [batch norm after], dropout.

    Attributes:
        units: nodes.
        activation, batch_norm (one of :data:`DENSE_BN`), bn_momentum, dropout, l1, l2: as in :class:`ConvLayer`.
    """

    units: int = 64
    activation: str = "relu"
    batch_norm: str = "none"
    bn_momentum: float = 0.99
    dropout: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    kind: str = field(default="dense", init=False)


@dataclass(frozen=True)
class InceptionBlock:
    """GoogLeNet's inception module (Szegedy et al. 2015): four branches side by side, concatenated
    along the channels: a 1×1 conv; 1×1 then 3×3; 1×1 then 5×5; 3×3 max pool (stride 1) then 1×1.
    All 'same' and relu, so the block keeps the height and width. Defaults: seed 004's blocks
    as cnnviz built them (GoogLeNet's 3a widths divided by 4: 16 + 32 + 8 + 8 = 64 channels).

    Attributes:
        b1: filters of the 1×1 branch.
        b3_reduce, b3: the 1×1 reduction and the 3×3 conv of the second branch.
        b5_reduce, b5: the 1×1 reduction and the 5×5 conv of the third branch.
        pool_proj: the 1×1 conv after the pooling branch.
    """

    b1: int = 16
    b3_reduce: int = 24
    b3: int = 32
    b5_reduce: int = 4
    b5: int = 8
    pool_proj: int = 8
    kind: str = field(default="inception", init=False)


@dataclass(frozen=True)
class ResidualBlock:
    """A ResNet basic block (He et al. 2016): two 'same' convs (the second without activation) added
    to the block's input, then the activation. The input goes through a 1×1 conv (``projection``)
    when its channels differ from ``filters``; without projection they must be equal.

    Attributes:
        filters, kernel: of both convs.
        projection: a 1×1 conv on the skip connection.
        activation: after the first conv and after the addition.
    """

    filters: int = 64
    kernel: int = 3
    projection: bool = True
    activation: str = "relu"
    kind: str = field(default="residual", init=False)


Layer = ConvLayer | DenseLayer | InceptionBlock | ResidualBlock
#: The layers that need an image (height×width×channels): they come before the dense layers.
SPATIAL = (ConvLayer, InceptionBlock, ResidualBlock)
_CLASSES: dict[str, type] = {"conv": ConvLayer, "dense": DenseLayer, "inception": InceptionBlock,
                             "residual": ResidualBlock}


@dataclass(frozen=True)
class LayerList:
    """A network layer by layer: conv layers, then dense layers, then the output.

    The head between them (flatten or global average) is ``ModelConfig.head``, as for the
    fixed networks, so the robustness page's size-agnostic twin works the same way.

    Attributes:
        layers: conv layers and blocks first, then dense layers (both may be empty).
        flatten_dropout: dropout right after the flatten (seed 003's CNN); 0 = none.
        output: "softmax" (one unit per class) or "sigmoid" (one unit; two classes only).
    """

    layers: tuple[Layer, ...] = ()
    flatten_dropout: float = 0.0
    output: str = "softmax"

    # --- the file boundary ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict; every layer carries its ``kind``."""
        return {"layers": [dataclasses.asdict(layer) for layer in self.layers],
                "flatten_dropout": self.flatten_dropout, "output": self.output}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerList:
        """Inverse of :meth:`to_dict`, checked (:meth:`check_settings`): a run whose file holds an
        impossible layer is refused when read. Missing keys take their defaults, unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a layer list must be a dict, got {data!r}")
        unknown = sorted(set(data) - {"layers", "flatten_dropout", "output"})
        if unknown:
            raise InvalidArgument(f"unknown layer-list setting(s) {', '.join(map(repr, unknown))}")
        items = data.get("layers", ())
        if not isinstance(items, (list, tuple)):
            raise InvalidArgument(f"the layers of a layer list must be a list, got {items!r}")
        layers = tuple(_layer_from_dict(item, position) for position, item in enumerate(items, start=1))
        rest = {k: data[k] for k in ("flatten_dropout", "output") if k in data}
        parsed = cls(layers=layers, **rest)
        parsed.check_settings()
        return parsed

    def replace(self, **changes: Any) -> LayerList:
        return dataclasses.replace(self, **changes)

    # --- checks --------------------------------------------------------------------------------
    def check_settings(self) -> None:
        """Raise :class:`InvalidArgument` naming the first impossible setting (by layer number)."""
        if not isinstance(self.layers, tuple):
            raise InvalidArgument(f"layers must be a tuple of layers (conv, dense, inception, residual), "
                                  f"got {self.layers!r}")
        if len(self.layers) > MAX_LAYERS:
            raise InvalidArgument(f"a layer list holds at most {MAX_LAYERS} layers, got {len(self.layers)}")
        first_dense = None
        for position, layer in enumerate(self.layers, start=1):
            if not isinstance(layer, tuple(_CLASSES.values())):
                raise InvalidArgument(f"layer {position} must be a ConvLayer, DenseLayer, InceptionBlock or "
                                      f"ResidualBlock, got {layer!r}")
            if isinstance(layer, DenseLayer) and first_dense is None:
                first_dense = position
            if isinstance(layer, SPATIAL) and first_dense is not None:
                raise InvalidArgument(
                    f"layer {position} ({layer.kind}) comes after dense layer {first_dense}: a convolution needs "
                    "an image (height×width×channels), so conv layers and blocks come before the dense layers"
                )
            _check_layer(layer, position)
        _check_rate("flatten dropout", self.flatten_dropout)
        if self.output not in OUTPUTS:
            raise InvalidArgument(f"output must be one of {', '.join(OUTPUTS)}; got {self.output!r}")

    def validate(self, input_shape: Sequence[int], num_classes: int, *, head: str = "flatten") -> SummaryTable:
        """Check every setting and the image's way through the list; the summary for this input.

        Args:
            input_shape: (height, width, channels): sides 1 to :data:`MAX_SIDE`, 1 or 3 channels.
            num_classes: 2 or more (exactly 2 for a sigmoid output).
            head: "flatten" or "global_avg".
        Returns:
            The formula summary (output shapes, parameters per layer), what Keras builds.
        Raises:
            InvalidArgument: repeating the value received, and naming the layer where the map
                would shrink below 1×1.
        """
        self.check_settings()
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
        ok = (isinstance(shape, tuple) and len(shape) == 3
              and all(isinstance(s, int) and not isinstance(s, bool) for s in shape))
        if not ok or not (1 <= shape[0] <= MAX_SIDE and 1 <= shape[1] <= MAX_SIDE) or shape[2] not in (1, 3):
            raise InvalidArgument(f"the input must be height×width×channels with sides from 1 to {MAX_SIDE} and "
                                  f"1 (grey) or 3 (colour) channels, got {input_shape!r}")
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or not 2 <= num_classes <= 1000:
            raise InvalidArgument(f"number of classes must be a whole number from 2 to 1000, got {num_classes!r}")
        if self.output == "sigmoid" and num_classes != 2:
            raise InvalidArgument(f"one sigmoid output tells two classes apart; these data have {num_classes} "
                                  f"classes, so use the softmax output (got output='sigmoid')")
        if head not in HEADS:
            raise InvalidArgument(f"head must be one of {', '.join(HEADS)}; got {head!r}")
        if head == "global_avg" and not self.conv_layers:
            raise InvalidArgument("head 'global_avg' needs at least one conv layer, got none")
        specs = self.specs(num_classes, head=head)
        try:
            return param_calculator(specs, shape)
        except InvalidArgument as err:
            raise InvalidArgument(f"{self._where(specs, shape)}: {err}") from None

    def _where(self, specs: list[dict[str, Any]], shape: tuple[int, ...]) -> str:
        """"layer 3 of the list (conv, input 2×2×32)": the first layer the image cannot pass."""
        body = [s for s in specs if s.get("position")]  # the list's layers, without head and output
        for position in range(1, len(self.layers) + 1):
            try:
                param_calculator([s for s in body if s["position"] <= position], shape)
            except InvalidArgument:
                before = param_calculator([s for s in body if s["position"] < position], shape)
                kind = self.layers[position - 1].kind
                return (f"layer {position} of the list ({kind}) cannot take its "
                        f"{shape_text(before.rows[-1]['shape'])} input")
        return "the head or output"

    @property
    def conv_layers(self) -> tuple[Layer, ...]:
        """The layers before the head: conv layers and blocks."""
        return tuple(layer for layer in self.layers if isinstance(layer, SPATIAL))

    # --- the network as layer specs ---------------------------------------------------------------
    def specs(self, num_classes: int, *, head: str = "flatten") -> list[dict[str, Any]]:
        """The layer specs (:mod:`cnnviz.models.layerspec`), every one named; each carries the
        ``position`` of its list layer (0 for the head and output), which Keras ignores."""
        out: list[dict[str, Any]] = []
        conv_n = dense_n = 0
        counts = {"inception": 0, "residual": 0}
        for position, layer in enumerate(self.layers, start=1):
            if isinstance(layer, ConvLayer):
                conv_n += 1
                block = _conv_specs(layer, conv_n)
            elif isinstance(layer, (InceptionBlock, ResidualBlock)):
                counts[layer.kind] += 1
                source = out[-1]["name"] if out else INPUT_NAME
                block = _block_specs(layer, counts[layer.kind], source)
            else:
                if dense_n == 0:
                    out += _head_specs(head, self.flatten_dropout)
                dense_n += 1
                block = _dense_specs(layer, dense_n)
            out += [spec | {"position": position} for spec in block]
        if dense_n == 0:
            out += _head_specs(head, self.flatten_dropout)
        return out + _output_specs(self.output, num_classes)


# --- helpers ---------------------------------------------------------------------------------------
def _layer_from_dict(item: Any, position: int) -> Layer:
    if not isinstance(item, Mapping) or item.get("kind") not in _CLASSES:
        raise InvalidArgument(f"layer {position} must be a dict with kind {', '.join(map(repr, _CLASSES))}, "
                              f"got {item!r}")
    cls = _CLASSES[item["kind"]]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(item) - known)
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise InvalidArgument(f"layer {position} ({item['kind']}) has unknown setting(s) {names}")
    return cls(**{k: v for k, v in item.items() if k != "kind"})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_rate(what: str, value: Any) -> None:
    if not _is_number(value) or not 0 <= value < 1:
        raise InvalidArgument(f"{what} must be at least 0 and below 1, got {value!r}")


def _check_whole_numbers(layer: Layer, names: Sequence[str], at: str) -> None:
    """Each setting in ``names`` is a whole number within its :data:`LIMITS` (a block's widths: as filters)."""
    for name in names:
        low, high = LIMITS.get(name, LIMITS["filters"])
        value = getattr(layer, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise InvalidArgument(f"{at}{name.replace('_', ' ')} must be a whole number from {low} to {high}, "
                                  f"got {value!r}")


def _check_block(layer: InceptionBlock | ResidualBlock, at: str) -> None:
    names = ("filters", "kernel") if isinstance(layer, ResidualBlock) else (
        "b1", "b3_reduce", "b3", "b5_reduce", "b5", "pool_proj")
    _check_whole_numbers(layer, names, at)
    if isinstance(layer, ResidualBlock):
        if not isinstance(layer.projection, bool):
            raise InvalidArgument(f"{at}projection must be true or false, got {layer.projection!r}")
        if layer.activation not in ACTIVATIONS:
            raise InvalidArgument(f"{at}activation must be one of {', '.join(ACTIVATIONS)}; got {layer.activation!r}")


def _block_specs(layer: InceptionBlock | ResidualBlock, n: int, source: str) -> list[dict[str, Any]]:
    """An inception or residual block reading ``source`` (the name of the layer before it)."""
    if isinstance(layer, InceptionBlock):
        return inception_block(f"inception_{n}", source, b1=layer.b1, b3=(layer.b3_reduce, layer.b3),
                               b5=(layer.b5_reduce, layer.b5), proj=layer.pool_proj)
    act = None if layer.activation == "linear" else layer.activation
    p = f"residual_{n}"
    specs = [conv(f"{p}_conv_1", layer.filters, layer.kernel, activation=act, inputs=[source]),
             conv(f"{p}_conv_2", layer.filters, layer.kernel, activation=None)]
    skip = source
    if layer.projection:
        specs.append(conv(f"{p}_shortcut", layer.filters, 1, activation=None, inputs=[source]))
        skip = f"{p}_shortcut"
    specs.append({"kind": "add", "name": f"{p}_add", "inputs": [f"{p}_conv_2", skip]})
    if act:
        specs.append({"kind": "activation", "name": f"{p}_{layer.activation}", "activation": layer.activation})
    return specs


def _check_layer(layer: Layer, position: int) -> None:
    at = f"layer {position} ({layer.kind}): "
    if isinstance(layer, (InceptionBlock, ResidualBlock)):
        _check_block(layer, at)
        return
    ints = ("filters", "kernel", "stride", "pool_size", "pool_stride") if isinstance(layer, ConvLayer) else ("units",)
    _check_whole_numbers(layer, ints, at)
    options = {"activation": ACTIVATIONS, "batch_norm": DENSE_BN}
    if isinstance(layer, ConvLayer):
        options |= {"padding": PADDINGS, "pooling": POOLINGS, "pool_padding": PADDINGS, "batch_norm": CONV_BN}
    for name, allowed in options.items():
        if getattr(layer, name) not in allowed:
            raise InvalidArgument(f"{at}{name.replace('_', ' ')} must be one of {', '.join(allowed)}; "
                                  f"got {getattr(layer, name)!r}")
    if isinstance(layer, ConvLayer) and layer.batch_norm == "after_pooling" and layer.pooling == "none":
        raise InvalidArgument(f"{at}batch norm after the pooling needs pooling, got pooling='none'")
    _check_rate(f"{at}dropout", layer.dropout)
    _check_rate(f"{at}batch-norm momentum", layer.bn_momentum)
    for name in ("l1", "l2"):
        value = getattr(layer, name)
        if not _is_number(value) or not 0 <= value <= 1:
            raise InvalidArgument(f"{at}{name.upper()} regularisation must be from 0 to 1, got {value!r}")


def _decay(layer: Layer) -> dict[str, float]:
    return {k: float(getattr(layer, k)) for k in ("l1", "l2") if getattr(layer, k)}


def _activation(layer: Layer) -> str | None:
    return None if layer.activation == "linear" else layer.activation


def _bn(name: str, layer: Layer) -> dict[str, Any]:
    return {"kind": "batchnorm", "name": name, "momentum": float(layer.bn_momentum)}


def _conv_specs(layer: ConvLayer, n: int) -> list[dict[str, Any]]:
    before = layer.batch_norm == "before_activation"
    specs = [{"kind": "conv", "name": f"conv_{n}", "filters": layer.filters, "kernel": layer.kernel,
              "strides": layer.stride, "padding": layer.padding,
              "activation": None if before else _activation(layer)} | _decay(layer)]
    if before:
        specs.append(_bn(f"bn_{n}", layer))
        if _activation(layer):
            specs.append({"kind": "activation", "name": f"act_{n}", "activation": layer.activation})
    elif layer.batch_norm == "after_activation":
        specs.append(_bn(f"bn_{n}", layer))
    if layer.pooling != "none":
        specs.append({"kind": "maxpool" if layer.pooling == "max" else "avgpool", "name": f"pool_{n}",
                      "pool": layer.pool_size, "strides": layer.pool_stride or layer.pool_size,
                      "padding": layer.pool_padding})
        if layer.batch_norm == "after_pooling":
            specs.append(_bn(f"bn_{n}", layer))
    if layer.dropout > 0:
        specs.append({"kind": "dropout", "name": f"drop_{n}", "rate": float(layer.dropout)})
    return specs


def _dense_specs(layer: DenseLayer, n: int) -> list[dict[str, Any]]:
    before = layer.batch_norm == "before_activation"
    specs = [{"kind": "dense", "name": f"fc_{n}", "units": layer.units,
              "activation": None if before else _activation(layer)} | _decay(layer)]
    if before:
        specs.append(_bn(f"fc_bn_{n}", layer))
        if _activation(layer):
            specs.append({"kind": "activation", "name": f"fc_act_{n}", "activation": layer.activation})
    elif layer.batch_norm == "after_activation":
        specs.append(_bn(f"fc_bn_{n}", layer))
    if layer.dropout > 0:
        specs.append({"kind": "dropout", "name": f"fc_drop_{n}", "rate": float(layer.dropout)})
    return specs


def _head_specs(head: str, dropout: float) -> list[dict[str, Any]]:
    gap = head == "global_avg"
    specs = [{"kind": "global_avg", "name": "global_avg"} if gap else {"kind": "flatten", "name": "flat"}]
    if dropout > 0:
        specs.append({"kind": "dropout", "name": "flat_drop", "rate": float(dropout)})
    return specs


def _output_specs(output: str, num_classes: int) -> list[dict[str, Any]]:
    if output == "softmax":
        return [{"kind": "dense", "name": "output", "units": num_classes, "activation": "softmax"}]
    return [{"kind": "dense", "name": "output", "units": 1, "activation": "sigmoid"},
            {"kind": "rescale", "name": "p_first_class", "scale": -1.0, "offset": 1.0, "inputs": ["output"]},
            {"kind": "concat", "name": "two_class_probs", "inputs": ["p_first_class", "output"]}]


def keras_shape(shape: Sequence[int | None]) -> str:
    """A layer's output as Keras prints it, batch axis first: ``(16, 16, 32)`` → ``"(None, 16, 16, 32)"``."""
    return "(" + ", ".join(["None", *("None" if s is None else str(s) for s in shape)]) + ")"
