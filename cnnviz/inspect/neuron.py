"""One neuron's arithmetic on the real network (CNN Explainer's idea, on the student's own model).

For a Conv2D layer, an output channel ``k`` and a position ``(i, j)`` of its feature map, the value
Keras computes is ``act(Σ_c Σ_uv patch[u, v, c] · kernel[u, v, c, k] + bias[k])``, where ``patch`` is
the window of the layer's *input* (the previous layer's output for this image) that starts at
``(i · stride − pad_top, j · stride − pad_left)``. TensorFlow's "same" padding adds
``max((out − 1) · stride + size − in, 0)`` zeros, the smaller half before (top/left). :func:`neuron`
lays out every piece and checks the result against the number Keras computed.

Shared models: hold the model's lock while calling :func:`neuron`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect.layers import graph_output
from cnnviz.inspect.saliency import as_one_image


if TYPE_CHECKING:  # pragma: no cover
    import keras

TOLERANCE = 1e-4  # relative to the largest |product|: float32 sums in another order
#: Half a unit in the last place, relative, of the number types a layer computes in: a bfloat16 layer (the fast
#: presets' mixed precision) rounds its sum and again its bias and activation to 8 significant bits.
ROUNDING = {"float32": 0.0, "bfloat16": 2.0 ** -8, "float16": 2.0 ** -11}


@dataclass(frozen=True)
class Neuron:
    """The arithmetic of one output value of a Conv2D layer.

    Attributes:
        layer_name, channel, position: which value (row, column of the feature map).
        window: ``(top, left)`` of the input window; may be negative or run past the border ("same" padding).
        padded: kh×kw bool, True where the window lies in the padding (zeros).
        patch: kh×kw×C_in, the input values under the window (0 in the padding).
        kernel: kh×kw×C_in, the filter's weights.
        products: ``patch · kernel``, elementwise.
        channel_sums: C_in, the sum of the products of each input channel.
        total: the sum of all products.
        bias: the filter's bias (0 without one).
        pre_activation: ``total + bias``.
        activation: the activation's name ("linear" for none).
        value: the activation of ``pre_activation``: our result.
        keras_value: the value in the layer's output that Keras computed.
        precision: the number type the layer computes in (its inputs and weights are shown rounded to it).
    """

    layer_name: str
    channel: int
    position: tuple[int, int]
    window: tuple[int, int]
    padded: np.ndarray
    patch: np.ndarray
    kernel: np.ndarray
    products: np.ndarray
    channel_sums: np.ndarray
    total: float
    bias: float
    pre_activation: float
    activation: str
    value: float
    keras_value: float
    precision: str = "float32"

    @property
    def matches(self) -> bool:
        """Whether ``value`` equals ``keras_value`` up to the rounding of the layer's precision (float32: sums in
        another order; bfloat16: its output rounded after the sum, the bias and the activation)."""
        scale = max(1.0, float(np.abs(self.products).sum()), abs(self.bias))
        rounded = ROUNDING.get(self.precision, 0.0) * (abs(self.total) + abs(self.pre_activation)
                                                       + abs(self.keras_value))
        return abs(self.value - self.keras_value) <= TOLERANCE * scale + rounded


@dataclass(frozen=True)
class LayerIO:
    """A Conv2D layer's input and output for one image (H×W×C each), and its settings. The input and the weights
    are those the layer multiplies: rounded to its ``precision`` (bfloat16 in the fast presets' layers)."""

    layer_name: str
    inputs: np.ndarray
    outputs: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray
    strides: tuple[int, int]
    padding: str
    activation: str
    precision: str = "float32"


def conv2d_layers(model: "keras.Model") -> list[str]:
    """Names of the plain Conv2D layers (groups 1, dilation 1) whose arithmetic :func:`neuron` can show."""
    import keras

    return [layer.name for layer in model.layers if type(layer) is keras.layers.Conv2D
            and tuple(layer.dilation_rate) == (1, 1) and getattr(layer, "groups", 1) == 1
            and layer.data_format == "channels_last"]


def layer_io(model: "keras.Model", image: np.ndarray, layer_name: str) -> LayerIO:
    """Run one image (scaled as the model expects) up to a Conv2D layer: its input, output and weights."""
    import keras

    names = conv2d_layers(model)
    if layer_name not in names:
        raise InvalidArgument(f"layer {layer_name!r} is not a plain Conv2D layer of model {model.name!r}; "
                              f"choose one of {', '.join(names) or '(none)'}")
    x = as_one_image(model, image)
    layer = model.get_layer(layer_name)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    precision = layer.compute_dtype  # a bfloat16 layer rounds a float32 input (the image, a float32 GELU) first

    def as_computed(t):
        return keras.ops.convert_to_numpy(keras.ops.cast(t, precision)).astype(np.float32)

    sub = keras.Model(inputs, [keras.ops.cast(layer.input, precision), graph_output(layer)],
                      name=f"{model.name}_neuron")
    seen, out = (keras.ops.convert_to_numpy(t)[0].astype(np.float32) for t in sub(x, training=False))
    kernel = as_computed(layer.kernel)
    bias = as_computed(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], np.float32)
    return LayerIO(layer_name=layer_name, inputs=seen, outputs=out, kernel=kernel, bias=bias,
                   strides=tuple(int(s) for s in layer.strides), padding=layer.padding,
                   activation=keras.activations.serialize(layer.activation) if callable(layer.activation)
                   else str(layer.activation), precision=precision)


def pad_before(size_in: int, size_out: int, kernel: int, stride: int, padding: str) -> int:
    """Zeros TensorFlow adds before the first row (or column): half of the total, rounded down.

    >>> pad_before(8, 4, 3, 2, "same"), pad_before(7, 7, 4, 1, "same"), pad_before(8, 3, 3, 2, "valid")
    (0, 1, 0)
    """
    if padding == "valid":
        return 0
    return max((size_out - 1) * stride + kernel - size_in, 0) // 2


def neuron(io: LayerIO, channel: int, row: int, col: int) -> Neuron:
    """The arithmetic of the layer's output value at ``(row, col)`` of ``channel``.

    Args:
        io: :func:`layer_io` of the layer and image.
        channel: output channel (filter), 0..C_out − 1.
        row, col: position in the feature map.
    Returns:
        :class:`Neuron`; its ``matches`` says whether it equals what Keras computed.
    """
    kh, kw, cin, cout = io.kernel.shape
    out_h, out_w = io.outputs.shape[:2]
    for name, value, upper in (("channel", channel, cout), ("row", row, out_h), ("column", col, out_w)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < upper:
            raise InvalidArgument(f"{name} must be 0..{upper - 1}, got {value!r}")
    in_h, in_w = io.inputs.shape[:2]
    top = row * io.strides[0] - pad_before(in_h, out_h, kh, io.strides[0], io.padding)
    left = col * io.strides[1] - pad_before(in_w, out_w, kw, io.strides[1], io.padding)
    rows, cols = np.arange(top, top + kh), np.arange(left, left + kw)
    inside = ((rows >= 0) & (rows < in_h))[:, None] & ((cols >= 0) & (cols < in_w))[None, :]
    patch = np.zeros((kh, kw, cin), np.float32)
    patch[inside] = io.inputs[np.clip(rows, 0, in_h - 1)[:, None], np.clip(cols, 0, in_w - 1)[None, :]][inside]
    weights = io.kernel[..., channel]
    products = patch * weights
    channel_sums = products.sum(axis=(0, 1), dtype=np.float64)
    total = float(channel_sums.sum())
    bias = float(io.bias[channel])
    return Neuron(layer_name=io.layer_name, channel=int(channel), position=(int(row), int(col)),
                  window=(int(top), int(left)), padded=~inside, patch=patch, kernel=weights, products=products,
                  channel_sums=channel_sums.astype(np.float32), total=total, bias=bias, pre_activation=total + bias,
                  activation=io.activation, value=activate(io.activation, total + bias),
                  keras_value=float(io.outputs[row, col, channel]), precision=io.precision)


def activate(name: str, value: float) -> float:
    """Keras' activation ``name`` of one number (float64 in, float out)."""
    import keras

    fn = keras.activations.get(name)
    return float(keras.ops.convert_to_numpy(fn(np.array([value], np.float32)))[0])


MAX_SWEEP = 144  # positions one animation steps through: a 12×12 block of a bigger map


def sweep_positions(map_shape: tuple[int, int], around: tuple[int, int], *, limit: int = MAX_SWEEP
                    ) -> list[tuple[int, int]]:
    """The positions an animation steps through, row by row: the whole map when it has at most ``limit``
    positions, else the largest square block of at most ``limit`` positions that holds ``around``.

    >>> sweep_positions((2, 3), (0, 0))
    [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    >>> sweep_positions((10, 10), (9, 0), limit=4)
    [(8, 0), (8, 1), (9, 0), (9, 1)]
    """
    out_h, out_w = (int(d) for d in map_shape)
    row, col = around
    if not (0 <= row < out_h and 0 <= col < out_w) or limit < 1:
        raise InvalidArgument(f"the position must lie in the {out_h}×{out_w} map and the limit be at least 1, "
                              f"got {around} and {limit}")
    side = max(1, int(limit ** 0.5))
    if out_h * out_w <= limit:
        rows, cols = range(out_h), range(out_w)
    else:
        top, left = (min(max(p - side // 2, 0), max(size - side, 0)) for p, size in ((row, out_h), (col, out_w)))
        rows, cols = range(top, min(top + side, out_h)), range(left, min(left + side, out_w))
    return [(i, j) for i in rows for j in cols]


def sweep(io: LayerIO, channel: int, positions: list[tuple[int, int]]) -> list[Neuron]:
    """:func:`neuron` of ``channel`` at each position, in order (an animation's frames)."""
    return [neuron(io, channel, int(i), int(j)) for i, j in positions]
