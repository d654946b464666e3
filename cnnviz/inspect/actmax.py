"""What a filter or a class looks for: activation maximisation from noise, and the images that excite a channel.

Gradient ascent on the input (Erhan et al., 2009; Simonyan et al., 2013) of a conv channel's mean
activation or of a class logit, with the regularisers that make the pictures readable, as in
tf-keras-vis's ``ActivationMaximization`` and Lucid:

* jitter: every step sees the picture rolled by a few random pixels (tf-keras-vis ``Jitter``; Lucid's
  ``transforms.jitter``), so a pattern must work wherever it lands, not in one lucky pixel;
* a frequency penalty: total variation (tf-keras-vis ``TotalVariation2D``), pulling neighbours together;
* blur: a small Gaussian blur every few steps (Yosinski et al., 2015), removing what TV leaves;
* octaves: the picture is first a coarse grid (¼, ½ ... of the side) stretched bilinearly to the input
  size, then refined at the next octave; coarse shapes come first (Lucid's multi-scale parametrisation,
  kept at the model's fixed input size).

The two gradients (the objective's and total variation's) are each normalised per image (the
objective's scale differs from layer to layer; keras.io's filter-visualisation example does the same),
so one step moves a pixel by about ``step`` of its range whatever the network. A channel's objective is
its pre-activation when the layer is a Conv2D with a fused activation (a ReLU that is 0 everywhere has
no gradient; Lucid optimises "pre_relu" too). All pictures of one call are optimised together as a batch.
Shared models: hold the model's lock while calling these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import layers, logits, nested


if TYPE_CHECKING:  # pragma: no cover
    import keras

TARGETS = ("channel", "class")
DEFAULT_STEPS = 40  # per octave
MAX_AUTO_OCTAVES, COARSEST = 3, 8  # automatic octaves: grids of 8 pixels or more (CIFAR-10: 8, 16 then 32)
JITTER_FRACTION = 16  # automatic jitter: 1 pixel per 16 of the side (CIFAR-10: 2; 8×8 digits: none)
DEFAULT_STEP = 0.03  # a pixel moves by about 3% of its range per step
DEFAULT_TV, DEFAULT_BLUR_SIGMA, DEFAULT_BLUR_EVERY = 0.3, 0.5, 4
SEED_NOISE = 0.1  # the start: grey ± 10% of the range, uniform
MAX_UNITS, MAX_STEPS, MAX_OCTAVES = 64, 500, 4
TOP_BATCH = 256


@dataclass(frozen=True)
class Pictures:
    """Activation-maximisation pictures, one per unit.

    Attributes:
        target: "channel" (a conv layer's channel) or "class" (a class logit).
        layer: the conv layer (None for classes).
        units: the channels or classes, one per picture.
        images: N×H×W×C float32 in the model's input scale.
        start, final: the objective (mean activation or logit) of each unit on its seed and on its picture.
        steps_done: gradient steps made (fewer than planned when stopped).
    """

    target: str
    layer: str | None
    units: tuple[int, ...]
    images: np.ndarray
    start: np.ndarray
    final: np.ndarray
    steps_done: int


@dataclass(frozen=True)
class TopImages:
    """The dataset images that excite each channel most: ``indices`` and their mean activation ``scores``,
    both channels × k, the strongest first."""

    layer: str
    channels: tuple[int, ...]
    indices: np.ndarray
    scores: np.ndarray


def conv_layers(model: "keras.Model") -> list[str]:
    """Names of the model's convolution layers (feature maps N×H×W×C), in call order; those inside a nested model
    (a transfer run's backbone) as ``"backbone/inner"``, just before it."""
    inner: dict[str, list[str]] = {}
    for path, layer in nested.inner_layers(model):
        if layers.is_conv(layer) and len(layers.output_shape(layer) or ()) == 4:
            inner.setdefault(path.split(nested.SEPARATOR, 1)[0], []).append(path)
    return [name for layer in model.layers for name in inner.get(layer.name, [])
            + ([layer.name] if layers.is_conv(layer) and len(layers.output_shape(layer) or ()) == 4 else [])]


def channel_count(model: "keras.Model", layer: str) -> int:
    """Channels of a conv layer of :func:`conv_layers`."""
    return int(layers.output_shape(_conv_layer(model, layer))[-1])


def maximize(model: "keras.Model", units: Sequence[int], *, target: str = "channel", layer: str | None = None,
             lower: float | np.ndarray = 0.0, upper: float | np.ndarray = 1.0, steps: int = DEFAULT_STEPS,
             octaves: int | None = None, step: float = DEFAULT_STEP, jitter: int | None = None,
             tv: float = DEFAULT_TV, blur_sigma: float = DEFAULT_BLUR_SIGMA, blur_every: int = DEFAULT_BLUR_EVERY,
             seed: int = 0, on_step: Callable[[int, int], bool | None] | None = None,
             size: tuple[int, int] | None = None) -> Pictures:
    """Pictures from noise that raise each unit's objective, one per unit, optimised together.

    Args:
        model: a built Keras classifier (not changed).
        units: channels of ``layer`` (target "channel") or classes (target "class"), 1..64 of them.
        target: "channel" or "class".
        layer: a conv layer of :func:`conv_layers` (target "channel" only).
        lower, upper: the input range (numbers or one per channel; e.g. black and white in the input scale).
        steps: gradient steps per octave, 1..500.
        octaves: 1..4; octave ``o`` of ``n`` optimises a grid of side/2^(n-1-o) stretched to the input size
            (None: as many as keep the coarsest grid at 8 pixels or more, at most 3).
        step: how far a pixel moves per step, as a fraction of its range (> 0).
        jitter: largest random roll in pixels each step (0: none; None: 1 per 16 pixels of the side).
        tv: weight of the total-variation gradient against the objective's (both normalised; ≥ 0).
        blur_sigma, blur_every: Gaussian blur of ``blur_sigma`` pixels every ``blur_every`` steps (0: none).
        seed: seed of the noise and the jitter.
        on_step: called after each step with ``(done, total)``; returning False stops early.
        size: ``(height, width)`` to draw at when the network takes any size (global pooling: its input is
            None×None; the pages give the run's training size); ignored otherwise.
    Returns:
        :class:`Pictures`.
    """
    import tensorflow as tf

    units = _units(model, units, target, layer)
    height, width, channels = model.input_shape[1:4]
    if height is None or width is None:  # a size-agnostic network (global pooling): the run's training size
        if size is None:
            raise InvalidArgument(f"this network takes images of any size (its input is "
                                  f"{tuple(model.input_shape[1:])}): give the size to draw at, got size={size!r}")
        height, width = size
    height, width, channels = int(height), int(width), int(channels)
    side = min(height, width)
    if octaves is None:
        octaves = max(1, min(MAX_AUTO_OCTAVES, 1 + int(np.log2(max(side / COARSEST, 1)))))
    if jitter is None:
        jitter = side // JITTER_FRACTION
    steps = _whole(steps, "steps", 1, MAX_STEPS)
    octaves = _whole(octaves, "octaves", 1, MAX_OCTAVES)
    jitter = _whole(jitter, "jitter", 0, 16)
    blur_every = _whole(blur_every, "blur_every", 0, MAX_STEPS)
    for value, name in ((step, "step"), (tv, "tv"), (blur_sigma, "blur_sigma")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise InvalidArgument(f"{name} must be a number ≥ 0, got {value!r}")
    if not step > 0:
        raise InvalidArgument(f"step must be > 0, got {step!r}")
    lo, hi = _per_channel(lower, channels, "lower"), _per_channel(upper, channels, "upper")
    if np.any(hi <= lo):
        raise InvalidArgument(f"upper must be above lower, got lower {lower!r} and upper {upper!r}")
    lo, hi = np.broadcast_to(lo, (channels,)).astype(np.float32), np.broadcast_to(hi, (channels,)).astype(np.float32)
    rng = np.random.default_rng(seed)
    fn = logits.compiled(model, f"actmax:{target}:{layer}", lambda: _build(model, target, layer))
    unit_arr = tf.constant(np.asarray(units, np.int32))
    kernel = tf.constant(_gaussian_kernel(blur_sigma, channels))
    size = (height, width)
    n = len(units)
    grey = (lo + hi) / 2
    coarse = (max(1, round(height / 2 ** (octaves - 1))), max(1, round(width / 2 ** (octaves - 1))))
    p = grey + SEED_NOISE * (hi - lo) * rng.uniform(-1, 1, size=(n, *coarse, channels)).astype(np.float32)
    start = fn.objective(tf.image.resize(tf.constant(p), size, "bilinear"), unit_arr).numpy()
    total, done = steps * octaves, 0
    for octave in range(octaves):
        side = (max(1, round(height / 2 ** (octaves - 1 - octave))), max(1, round(width / 2 ** (octaves - 1 - octave))))
        p = tf.image.resize(tf.constant(p), side, "bilinear").numpy() if p.shape[1:3] != side else p
        p = tf.constant(p)
        for k in range(steps):
            shift = rng.integers(-jitter, jitter + 1, size=2) if jitter else np.zeros(2, int)
            blur = bool(blur_every) and blur_sigma > 0 and (k + 1) % blur_every == 0
            p = fn.step(p, unit_arr, tf.constant(shift.astype(np.int32)), lo, hi, np.float32(step), np.float32(tv),
                        kernel, tf.constant(blur), size)
            done += 1
            if on_step is not None and on_step(done, total) is False:
                break
        p = p.numpy()
        if done < (octave + 1) * steps:
            break
    images = tf.image.resize(tf.constant(p), size, "bilinear").numpy().astype(np.float32)
    final = fn.objective(tf.constant(images), unit_arr).numpy()
    return Pictures(target=target, layer=layer if target == "channel" else None, units=tuple(units),
                    images=images, start=start.astype(np.float32), final=final.astype(np.float32), steps_done=done)


def top_images(model: "keras.Model", x: np.ndarray, layer: str, channels: Sequence[int], *, k: int = 5,
               batch_size: int = TOP_BATCH, progress: Callable[[int, int], None] | None = None) -> TopImages:
    """The ``k`` images of ``x`` (scaled as the model expects) with the highest mean activation of each channel.

    The activation is the layer's output as Keras computes it (after its activation function).
    ``progress(images done, images in all)`` is called after each batch.
    """
    import keras

    _conv_layer(model, layer)  # checks the name
    channels = _units(model, channels, "channel", layer)
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise InvalidArgument(f"x must be N×H×W×C images (N ≥ 1), got shape {x.shape}")
    k = _whole(k, "k", 1, len(x))
    sub = keras.Model(model.inputs[0], nested.graph_tensor(model, layer), name=f"{model.name}_top_images")
    parts = []
    for s in range(0, len(x), int(batch_size)):
        parts.append(keras.ops.convert_to_numpy(sub(x[s:s + batch_size], training=False)).mean(axis=(1, 2)))
        if progress is not None:
            progress(min(s + int(batch_size), len(x)), len(x))
    means = np.concatenate(parts)[:, list(channels)]
    order = np.argsort(-means, axis=0, kind="stable")[:k].T
    return TopImages(layer=layer, channels=tuple(channels), indices=order,
                     scores=np.take_along_axis(means.T, order, axis=1).astype(np.float32))


def to_uint8(images: np.ndarray, black: np.ndarray, white: np.ndarray, *, stretch: bool = True) -> np.ndarray:
    """Pictures in the input scale as uint8 (``black`` → 0, ``white`` → 255 per channel); ``stretch``: each picture's
    1st-99th percentile spread over 0..255 (the pictures are faint; keras.io's example normalises them too)."""
    black, white = np.asarray(black, np.float32), np.asarray(white, np.float32)
    levels = (np.asarray(images, np.float32) - black) / np.where(white == black, 1, white - black)
    if stretch:
        low = np.percentile(levels, 1, axis=(1, 2, 3), keepdims=True)
        high = np.percentile(levels, 99, axis=(1, 2, 3), keepdims=True)
        levels = (levels - low) / np.where(high > low, high - low, 1)
    return np.clip(np.round(levels * 255), 0, 255).astype(np.uint8)


# --- internals ---------------------------------------------------------------------------------


def _whole(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InvalidArgument(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def _per_channel(value, channels: int, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float32)
    if v.ndim > 1 or v.size not in (1, channels) or not np.all(np.isfinite(v)):
        raise InvalidArgument(f"{name} must be one finite number or one per channel ({channels}), got {value!r}")
    return v


def _conv_layer(model, name):
    names = conv_layers(model)
    if name not in names:
        raise InvalidArgument(f"model {model.name!r} has no convolution layer {name!r}; "
                              f"choose one of {', '.join(names) or '(none)'}")
    return nested.get(model, name)


def _units(model, units, target: str, layer: str | None) -> list[int]:
    if target not in TARGETS:
        raise InvalidArgument(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    count = channel_count(model, layer) if target == "channel" else int(model.output_shape[-1])
    if target == "class" and layer is not None:
        raise InvalidArgument(f"a class is a score of the whole network: give no layer, got {layer!r}")
    units = list(units) if isinstance(units, (list, tuple, range, np.ndarray)) else [units]
    if not 1 <= len(units) <= MAX_UNITS or any(isinstance(u, bool) or not isinstance(u, (int, np.integer))
                                               or not 0 <= u < count for u in units):
        raise InvalidArgument(f"give 1 to {MAX_UNITS} {target}s, each 0..{count - 1}, got {units!r}")
    return [int(u) for u in units]


def _gaussian_kernel(sigma: float, channels: int) -> np.ndarray:
    """A 3×3 Gaussian (sum 1) for a depthwise convolution, 3×3×C×1 (sigma 0: the identity)."""
    if sigma <= 0:
        g = np.zeros((3, 3), np.float32)
        g[1, 1] = 1.0
    else:
        r = np.exp(-(np.arange(-1, 2) ** 2) / (2 * sigma ** 2))
        g = np.outer(r, r).astype(np.float32)
        g /= g.sum()
    return np.repeat(g[:, :, None, None], channels, axis=2)


class _Compiled:
    """The objective and one ascent step of a model, target and layer, as TensorFlow functions."""

    def __init__(self, objective, step):
        self.objective, self.step = objective, step


def _build(model, target: str, layer: str | None) -> _Compiled:
    import keras
    import tensorflow as tf

    if target == "class":
        scores_of = logits.logits_fn(model)

        def measure(x, units):
            return tf.gather(scores_of(x), units[:, None], axis=1, batch_dims=1)[:, 0]
    else:
        conv = nested.get(model, layer)
        pre = type(conv).__name__ == "Conv2D" and hasattr(conv, "convolution_op") and (
            keras.activations.serialize(conv.activation) != "linear")
        sub = keras.Model(model.inputs[0], nested.graph_tensor(model, layer, "input" if pre else "output"),
                          name=f"actmax_{layer.replace(nested.SEPARATOR, '_')}")

        def measure(x, units):
            h = sub(x, training=False)
            if pre:  # the convolution before its fused activation
                h = conv.convolution_op(h, conv.kernel)
                if conv.use_bias:
                    h = h + conv.bias
            means = tf.reduce_mean(h, axis=(1, 2))
            return tf.gather(means, units[:, None], axis=1, batch_dims=1)[:, 0]

    @tf.function(reduce_retracing=True)
    def objective(x, units):
        return measure(x, units)

    def normalised(g):
        return g / (tf.math.reduce_std(g, axis=(1, 2, 3), keepdims=True) + 1e-8)

    @tf.function
    def step(p, units, shift, lo, hi, size, tv, kernel, blur, full):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(p)
            x = tf.image.resize(p, full, "bilinear") if p.shape[1:3] != tuple(full) else p
            x = tf.roll(x, shift, axis=(1, 2))
            score = tf.reduce_sum(measure(x, units))
            variation = tf.reduce_sum(tf.image.total_variation(p))
        grad = normalised(tape.gradient(score, p)) - tv * normalised(tape.gradient(variation, p))
        new = tf.clip_by_value(p + size * (hi - lo) * grad, lo, hi)
        return tf.cond(blur, lambda: tf.nn.depthwise_conv2d(tf.pad(new, [[0, 0], [1, 1], [1, 1], [0, 0]], "SYMMETRIC"),
                                                            kernel, [1, 1, 1, 1], "VALID"), lambda: new)

    return _Compiled(objective, lambda p, units, shift, lo, hi, size, tv, kernel, blur, full: step(
        p, units, shift, tf.constant(lo), tf.constant(hi), tf.constant(size), tf.constant(tv), kernel, blur,
        tuple(full)))
