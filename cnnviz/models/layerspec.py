"""Networks as plain layer lists: output shapes and parameter counts by formula, no TensorFlow.

A *layer spec* is a dict such as ``{"kind": "conv", "name": "conv_1", "filters": 16,
"kernel": 3, "padding": "same", "activation": "relu"}``. A list of them, in order, is a
network; a layer reads the layer before it unless it names its ``inputs`` (branches for
inception and residual blocks). :func:`param_calculator` walks such a list for any input
size and gives each layer's output shape, parameters and the formula behind them, the way
seed 003 Q3.2 asks students to count by hand. :mod:`cnnviz.models.network` builds the same lists
with Keras, so the counts here are checked against ``count_params`` in the tests.

Kinds and their keys (defaults in brackets):

- ``conv``: filters, kernel (int or [h, w]), strides [1], padding ["valid"], activation [None],
  l1, l2 [0] (L1/L2 regularisation; no parameters),
  use_bias [True], trainable [True] (False: frozen weights, e.g. set from data by ``init``),
  init [None] (``"patch_whitening"``: :func:`cnnviz.models.network.init_from_data` computes the kernel;
  ``"dirac"``: the first filters start as the identity, see :func:`cnnviz.models.dirac.dirac_kernel`)
- ``maxpool`` / ``avgpool``: pool (int), strides [= pool], padding ["valid"]
- ``batchnorm``: momentum [0.99], scale [True] (False: no learned γ, as airbench's frozen weights of 1);
  ``activation``: activation; ``dropout``: rate
- ``flatten``, ``global_avg``, ``global_max``; ``dense``: units, activation [None], use_bias [True], l1, l2 [0]
- ``rescale``: scale, offset [0] (``x·scale + offset``, e.g. logits by 1/9 in airbench; no weights)
- ``concat`` / ``add``: inputs (names of two or more earlier layers)

Any kind: dtype [the model's precision] (``"float32"`` keeps one layer in float32 in a bfloat16 model,
e.g. the fast networks' GELUs; no effect on shapes or counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from cnnviz.errors import InvalidArgument

# Keras class name of each kind (the "type" column, as model.summary() shows it).
KERAS_TYPES: dict[str, str] = {
    "input": "InputLayer",
    "conv": "Conv2D",
    "maxpool": "MaxPooling2D",
    "avgpool": "AveragePooling2D",
    "batchnorm": "BatchNormalization",
    "activation": "Activation",
    "dropout": "Dropout",
    "flatten": "Flatten",
    "global_avg": "GlobalAveragePooling2D",
    "global_max": "GlobalMaxPooling2D",
    "rescale": "Rescaling",
    "dense": "Dense",
    "concat": "Concatenate",
    "add": "Add",
}
PADDINGS = ("valid", "same")
INPUT_NAME = "image"

Shape = tuple[int, ...]


@dataclass(frozen=True)
class SummaryTable:
    """One row per layer plus the totals, as the Build page and the calculator show them.

    Attributes:
        rows: dicts with ``name``, ``type`` (Keras class), ``output_shape`` (text such as
            ``"16×16×32"``), ``shape`` (tuple, None for a size the model leaves open),
            ``params``, ``trainable`` and ``formula`` (e.g. ``"(3·3·16+1)·32 = 4,640"``).
        total, trainable, non_trainable: parameter counts of the whole network.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    trainable: int = 0
    non_trainable: int = 0

    def row(self, name: str) -> dict[str, Any]:
        """The row of the layer called ``name`` (KeyError if there is none)."""
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(name)


def fmt(n: int) -> str:
    """Thousands with commas, as Keras' summary prints them (``4640`` → ``"4,640"``)."""
    return f"{n:,}"


def shape_text(shape: Sequence[int | None]) -> str:
    """``(16, 16, 32)`` → ``"16×16×32"``; a size left open (None) shows as ``?``."""
    return "×".join("?" if s is None else str(s) for s in shape)


# --- formulas (shared with cnnviz.models.network.summary_table) ---------------------------------
def conv_params(kh: int, kw: int, cin: int, filters: int, use_bias: bool = True) -> tuple[int, int, str]:
    """(params, trainable, formula) of a 2-D convolution: one kh·kw·cin kernel (+ bias) per filter."""
    if use_bias:
        n = (kh * kw * cin + 1) * filters
        return n, n, f"({kh}·{kw}·{fmt(cin)}+1)·{fmt(filters)} = {fmt(n)}"
    n = kh * kw * cin * filters
    return n, n, f"{kh}·{kw}·{fmt(cin)}·{fmt(filters)} = {fmt(n)}"


def dense_params(inputs: int, units: int, use_bias: bool = True) -> tuple[int, int, str]:
    """(params, trainable, formula) of a dense layer: a weight per input and unit (+ bias)."""
    if use_bias:
        n = (inputs + 1) * units
        return n, n, f"({fmt(inputs)}+1)·{fmt(units)} = {fmt(n)}"
    n = inputs * units
    return n, n, f"{fmt(inputs)}·{fmt(units)} = {fmt(n)}"


def batchnorm_params(channels: int, scale: bool = True) -> tuple[int, int, str]:
    """(params, trainable, formula): γ (unless ``scale`` is False), β learned; moving mean and variance are not
    trained."""
    k = 4 if scale else 3
    n, t = k * channels, (k - 2) * channels
    return n, t, f"{k}·{fmt(channels)} = {fmt(n)} ({k - 2}·{fmt(channels)} = {fmt(t)} trainable)"


NO_WEIGHTS = (0, 0, "0 (no weights)")


def frozen(counts: tuple[int, int, str]) -> tuple[int, int, str]:
    """The same weights marked as not trained (a layer with ``trainable=False``)."""
    params, _, formula = counts
    return params, 0, f"{formula} (frozen: not trained)"


def pooled_size(n: int, window: int, stride: int, padding: str) -> int:
    """Output length of a convolution or pooling along one axis (Keras' rule).

    >>> pooled_size(64, 3, 2, "valid"), pooled_size(64, 3, 2, "same")
    (31, 32)
    """
    if padding == "same":
        return math.ceil(n / stride)
    return (n - window) // stride + 1


# --- the calculator ----------------------------------------------------------------------
def _pair(value: Any, what: str, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise InvalidArgument(f"{what} of layer {name!r} must be a positive whole number or two of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _positive(spec: Mapping[str, Any], key: str, name: str) -> int:
    value = spec.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgument(f"{key} of layer {name!r} must be a positive whole number, got {value!r}")
    return value


def _spatial(layer_name: str, kind: str, shape: Shape) -> None:
    if len(shape) != 3:
        raise InvalidArgument(
            f"layer {layer_name!r} ({kind}) needs an image-shaped input (height×width×channels), "
            f"got {shape_text(shape)}: it cannot come after a flatten or dense layer"
        )


def _window(spec: Mapping[str, Any], name: str, kind: str, shape: Shape, window_key: str) -> tuple[int, int]:
    """Output height and width of a conv or pooling layer; refuses to shrink below 1×1."""
    kh, kw = _pair(spec.get(window_key), window_key, name)
    sh, sw = _pair(spec.get("strides", (kh, kw) if kind != "conv" else 1), "strides", name)
    padding = spec.get("padding", "valid")
    if padding not in PADDINGS:
        raise InvalidArgument(f"padding of layer {name!r} must be 'valid' or 'same', got {padding!r}")
    h, w = shape[0], shape[1]
    oh, ow = pooled_size(h, kh, sh, padding), pooled_size(w, kw, sw, padding)
    if oh < 1 or ow < 1:
        raise InvalidArgument(
            f"layer {name!r} ({KERAS_TYPES[kind]} {kh}×{kw}, stride {sh}, padding {padding}) would shrink "
            f"its {shape_text(shape)} input below 1×1; use a larger image or fewer pooling layers"
        )
    return oh, ow


def _layer(spec: Mapping[str, Any], name: str, shapes: list[Shape]) -> tuple[Shape, tuple[int, int, str]]:
    """Output shape and (params, trainable, formula) of one layer given its input shapes."""
    kind = spec["kind"]
    shape = shapes[0]
    if kind == "conv":
        _spatial(name, kind, shape)
        filters = _positive(spec, "filters", name)
        kh, kw = _pair(spec.get("kernel"), "kernel", name)
        oh, ow = _window(spec, name, kind, shape, "kernel")
        counts = conv_params(kh, kw, shape[2], filters, spec.get("use_bias", True))
        if spec.get("trainable", True) is False:
            counts = frozen(counts)
        return (oh, ow, filters), counts
    if kind in ("maxpool", "avgpool"):
        _spatial(name, kind, shape)
        oh, ow = _window(spec, name, kind, shape, "pool")
        return (oh, ow, shape[2]), NO_WEIGHTS
    if kind == "batchnorm":
        return shape, batchnorm_params(shape[-1], spec.get("scale", True))
    if kind in ("activation", "dropout"):
        return shape, NO_WEIGHTS
    if kind == "rescale":
        if not isinstance(spec.get("scale"), (int, float)) or isinstance(spec.get("scale"), bool):
            raise InvalidArgument(f"scale of layer {name!r} must be a number, got {spec.get('scale')!r}")
        return shape, NO_WEIGHTS
    if kind == "flatten":
        return (math.prod(shape),), NO_WEIGHTS
    if kind in ("global_avg", "global_max"):
        _spatial(name, kind, shape)
        return (shape[2],), NO_WEIGHTS
    if kind == "dense":
        if len(shape) != 1:
            raise InvalidArgument(
                f"dense layer {name!r} needs a flat input but gets {shape_text(shape)}: "
                "add a flatten (or global average) layer before it"
            )
        units = _positive(spec, "units", name)
        return (units,), dense_params(shape[0], units, spec.get("use_bias", True))
    if kind in ("concat", "add"):
        if len(shapes) < 2:
            raise InvalidArgument(f"layer {name!r} ({kind}) needs two or more inputs, got {len(shapes)}")
        if kind == "add" and len(set(shapes)) != 1:
            raise InvalidArgument(
                f"add layer {name!r} needs inputs of one shape, got {', '.join(shape_text(s) for s in shapes)}"
            )
        if kind == "concat" and len({s[:-1] for s in shapes}) != 1:
            raise InvalidArgument(
                f"concat layer {name!r} needs inputs of one height and width, "
                f"got {', '.join(shape_text(s) for s in shapes)}"
            )
        out = shape if kind == "add" else shape[:-1] + (sum(s[-1] for s in shapes),)
        return out, NO_WEIGHTS
    kinds = ", ".join(k for k in KERAS_TYPES if k != "input")
    raise InvalidArgument(f"layer kind must be one of {kinds}, got {kind!r}")


def _check_input_shape(input_shape: Any) -> Shape:
    ok = (
        isinstance(input_shape, (tuple, list))
        and len(input_shape) == 3
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in input_shape)
    )
    if not ok:
        raise InvalidArgument(
            f"input shape must be (height, width, channels) with positive whole numbers, got {input_shape!r}"
        )
    return tuple(input_shape)


def param_calculator(layers: Sequence[Mapping[str, Any]], input_shape: Sequence[int]) -> SummaryTable:
    """Output shape, parameters and their formula for every layer, by hand-count rules.

    Args:
        layers: layer specs in order (see the module docstring); a layer without a
            ``name`` is called ``<kind>_<position>``.
        input_shape: (height, width, channels) of one image, any size.

    Returns:
        A :class:`SummaryTable` whose first row is the input.

    Raises:
        InvalidArgument: a layer the input cannot pass (shrinks below 1×1, dense on an
            image without flatten, unknown kind, ...), naming the layer and the value.
    """
    shape = _check_input_shape(input_shape)
    rows = [_row(INPUT_NAME, "input", shape, NO_WEIGHTS)]
    shapes: dict[str, Shape] = {INPUT_NAME: shape}
    previous = INPUT_NAME
    for position, spec in enumerate(layers, start=1):
        if not isinstance(spec, Mapping) or "kind" not in spec:
            raise InvalidArgument(f"layer {position} must be a dict with a 'kind', got {spec!r}")
        name = str(spec.get("name") or f"{spec['kind']}_{position}")
        if name in shapes:
            raise InvalidArgument(f"layer names must be unique, got {name!r} twice")
        sources = list(spec.get("inputs") or [previous])
        missing = [s for s in sources if s not in shapes]
        if missing:
            raise InvalidArgument(f"layer {name!r} reads {missing[0]!r}, which is not an earlier layer")
        out, (params, trainable, formula) = _layer(spec, name, [shapes[s] for s in sources])
        shapes[name] = out
        rows.append(_row(name, spec["kind"], out, (params, trainable, formula)))
        previous = name
    total = sum(r["params"] for r in rows)
    trainable = sum(r["trainable"] for r in rows)
    return SummaryTable(rows=rows, total=total, trainable=trainable, non_trainable=total - trainable)


def _row(name: str, kind: str, shape: Shape, counts: tuple[int, int, str]) -> dict[str, Any]:
    params, trainable, formula = counts
    return {
        "name": name,
        "type": KERAS_TYPES[kind],
        "output_shape": shape_text(shape),
        "shape": tuple(shape),
        "params": params,
        "trainable": trainable,
        "formula": formula,
    }
