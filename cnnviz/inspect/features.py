"""Look inside a trained CNN: feature maps of any layer and the learned filters.

Seed 004 (CS-577 HW4) shows each channel of a layer's activation normalised by its own
mean and standard deviation and the first layer's kernels min-max scaled. Works for
Sequential models (with or without an explicit ``Input``) and functional ones
(inception/residual blocks). The model passed in is never cloned or changed: feature maps
come from a sub-model sharing its layers (functional) or from calling its layers in
order (Sequential). The convolutions inside a functional model's nested backbone (a transfer
run) are offered too, named ``"backbone/inner"`` (:mod:`cnnviz.inspect.nested`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import layers, nested


if TYPE_CHECKING:  # pragma: no cover
    import keras

# Seed 004: (map - mean) / std * 64 + 128, clipped to 0..255 (one std = 64 grey levels).
PER_MAP_SCALE = 64.0
PER_MAP_CENTER = 128.0
NORMALIZATIONS = ("per_map", "shared")
FILTER_SCALES = ("global", "per_filter")
MAX_GRID_COLUMNS = 8
DEFAULT_MAX_CHANNELS = 64
DEFAULT_MAX_FILTERS = 16



@dataclass(frozen=True)
class FeatureMaps:
    """The activation of one layer for one image, ready to draw.

    Attributes:
        layer_name, layer_type, kind: the layer (``kind`` e.g. "conv", "pooling").
        activations: H×W×C float32, the raw activation of every channel.
        channels: indices of the channels shown (the first ``max_channels``).
        images: len(channels)×H×W uint8 display images (see :func:`normalize_maps`).
        rows, columns: grid layout for ``images``.
        normalization: "per_map" or "shared".
        stats: one dict per channel, see :func:`channel_stats`.
    """

    layer_name: str
    layer_type: str
    kind: str
    activations: np.ndarray
    channels: tuple[int, ...]
    images: np.ndarray
    rows: int
    columns: int
    normalization: str
    stats: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Filters:
    """Kernels of one convolution layer scaled to [0, 1] for display.

    Attributes:
        layer_name: the conv layer.
        kernel_shape: the full kernel shape (kh, kw, in_channels, out_channels).
        filters: indices of the filters shown (the first N).
        in_channels: indices of the input channels shown.
        per_channel: len(filters)×len(in_channels)×kh×kw float in [0, 1].
        rgb: len(filters)×kh×kw×3 float in [0, 1] when the layer sees 3 channels
            (a first layer on colour images), else None; red, green, blue as in the image
            (see :func:`image_channel_order`).
        scale: "global" (one min/max over the whole kernel, as seed 004) or "per_filter".
        weights: the raw kernel of the shown filters and channels (kh×kw×in×out).
    """

    layer_name: str
    kernel_shape: tuple[int, int, int, int]
    filters: tuple[int, ...]
    in_channels: tuple[int, ...]
    per_channel: np.ndarray
    rgb: np.ndarray | None
    scale: str
    weights: np.ndarray


# --- layers -----------------------------------------------------------------------------
def _is_sequential(model: "keras.Model") -> bool:
    import keras

    return isinstance(model, keras.Sequential)


def _model_layers(model: "keras.Model") -> list:
    """Top-level layers in call order, without the InputLayer."""
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _check_built(model: "keras.Model") -> None:
    if not model.built:
        raise InvalidArgument(
            f"model {model.name!r} has not been built yet (no weights): train it or call it on data first"
        )


def _inner_convs(model: "keras.Model") -> dict[str, list[tuple[str, Any]]]:
    """``{nested model's name: [(path, conv layer), ...]}``: the convolutions inside each nested model."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for path, layer in nested.inner_layers(model):
        if layers.is_conv(layer):
            out.setdefault(path.split(nested.SEPARATOR, 1)[0], []).append((path, layer))
    return out


def inspectable_layers(model: "keras.Model") -> list[dict[str, Any]]:
    """Layers whose output is a stack of feature maps (batch × H × W × C), in call order; a nested model's
    convolutions (``"backbone/inner"``) come just before the nested model itself.

    Returns:
        One dict per layer: ``name, type, kind, output_shape`` (H, W, C).
    """
    _check_built(model)
    inner = _inner_convs(model)
    out = []
    for layer in _model_layers(model):
        for path, conv in inner.get(layer.name, ()):
            shape = layers.output_shape(conv)
            if shape is not None and len(shape) == 4:
                out.append(dict(name=path, type=type(conv).__name__, kind=layers.layer_kind(conv),
                                output_shape=tuple(shape[1:])))
        shape = layers.output_shape(layer)
        if shape is not None and len(shape) == 4:
            out.append(dict(name=layer.name, type=type(layer).__name__, kind=layers.layer_kind(layer),
                            output_shape=tuple(shape[1:])))
    return out


def _get_layer(model: "keras.Model", layer_name: str):
    if isinstance(layer_name, str) and nested.is_nested(layer_name) and not _is_sequential(model):
        return nested.get(model, layer_name)
    names = [layer.name for layer in _model_layers(model)]
    if layer_name not in names:
        raise InvalidArgument(f"model {model.name!r} has no layer {layer_name!r}; its layers are {', '.join(names)}")
    return model.get_layer(layer_name)


# --- feature maps -----------------------------------------------------------------------
def _as_batch(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3:
        img = img[None]
    if img.ndim != 4 or img.shape[0] != 1:
        raise InvalidArgument(f"need one image H×W×C (or 1×H×W×C), got an array of shape {np.shape(image)}")
    return img


def activations(model: "keras.Model", image: np.ndarray, layer_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The output of several layers for one image, in inference mode.

    Args:
        model: a built Keras model (not changed).
        image: H×W×C float (scaled as the model was trained) or 1×H×W×C.
        layer_names: top-level layer names, or ``"backbone/inner"`` paths (functional models).
    Returns:
        ``{layer name: output without the batch axis}`` as float32 arrays.
    """
    import keras

    _check_built(model)
    batch = _as_batch(image)
    wanted = [_get_layer(model, name) for name in layer_names]
    if not wanted:
        return {}
    if _is_sequential(model):
        # Sequential models built without Input have no reusable graph (their recorded
        # input has a fixed batch size), so run the layers one after the other.
        needed = {layer.name for layer in wanted}
        out: dict[str, np.ndarray] = {}
        h = batch
        for layer in _model_layers(model):
            h = layer(h, training=False)
            if layer.name in needed:
                out[layer.name] = keras.ops.convert_to_numpy(h)[0].astype(np.float32)
                if len(out) == len(needed):
                    break
        return {name: out[name] for name in layer_names}
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    sub = keras.Model(inputs, [nested.graph_tensor(model, name) for name in layer_names], name=f"{model.name}_features")
    results = sub(batch, training=False)
    if not isinstance(results, (list, tuple)):  # Keras returns a bare tensor for one output
        results = [results]
    return {name: keras.ops.convert_to_numpy(r)[0].astype(np.float32) for name, r in zip(layer_names, results)}


def normalize_maps(maps: np.ndarray, method: str = "per_map") -> np.ndarray:
    """Activation maps H×W×C as display images C×H×W uint8.

    "per_map" (seed 004): each map is standardised by its own mean and standard
    deviation, then ``* 64 + 128`` and clipped to 0..255 (a constant map is mid-grey).
    "shared": one min-max over all maps, so brightness is comparable between channels.

    >>> normalize_maps(np.array([[[0.0], [2.0]]]), "per_map")[0].tolist()
    [[64, 192]]
    """
    if method not in NORMALIZATIONS:
        raise InvalidArgument(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {method!r}")
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise InvalidArgument(f"feature maps must be H×W×C, got an array of shape {m.shape}")
    m = np.moveaxis(m, -1, 0)
    if method == "per_map":
        mean = m.mean(axis=(1, 2), keepdims=True)
        std = m.std(axis=(1, 2), keepdims=True)
        z = np.divide(m - mean, std, out=np.zeros_like(m), where=std > 0)
        out = z * PER_MAP_SCALE + PER_MAP_CENTER
    else:
        lo, hi = (float(m.min()), float(m.max())) if m.size else (0.0, 0.0)
        out = (m - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(m)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def grid_shape(n: int, columns: int | None = None) -> tuple[int, int]:
    """(rows, columns) for ``n`` tiles; by default near-square, at most 8 columns.

    >>> grid_shape(32)
    (6, 6)
    """
    if n < 0:
        raise InvalidArgument(f"number of tiles must be >= 0, got {n}")
    if columns is None:
        columns = min(MAX_GRID_COLUMNS, max(1, math.ceil(math.sqrt(n))))
    elif not isinstance(columns, (int, np.integer)) or columns < 1:
        raise InvalidArgument(f"columns must be a positive integer, got {columns!r}")
    columns = int(min(columns, max(n, 1)))
    return max(1, math.ceil(n / columns)), columns


def channel_stats(maps: np.ndarray) -> list[dict[str, Any]]:
    """Per-channel statistics of activation maps H×W×C.

    Returns:
        One dict per channel: ``channel, mean, std, min, max, active`` (fraction of
        positions with a value > 0, i.e. where a ReLU lets something through).
    """
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim != 3:
        raise InvalidArgument(f"feature maps must be H×W×C, got an array of shape {m.shape}")
    return [
        dict(channel=c, mean=float(ch.mean()), std=float(ch.std()), min=float(ch.min()), max=float(ch.max()),
             active=float(np.mean(ch > 0)))
        for c, ch in enumerate(np.moveaxis(m, -1, 0))
    ]


def feature_maps(
    model: "keras.Model",
    image: np.ndarray,
    layer_name: str,
    *,
    normalization: str = "per_map",
    max_channels: int = DEFAULT_MAX_CHANNELS,
    columns: int | None = None,
) -> FeatureMaps:
    """Feature maps of one layer for one image, as arrays and a grid layout.

    Args:
        model: a built Keras model (not changed).
        image: H×W×C float (scaled as for training) or 1×H×W×C.
        layer_name: a layer from :func:`inspectable_layers`.
        normalization: "per_map" (seed 004) or "shared" (one scale for all maps).
        max_channels: show at most this many channels (the first ones).
        columns: grid columns (None: near-square, at most 8).
    Returns:
        A :class:`FeatureMaps`; ``stats`` cover every channel, ``images`` the shown ones.
    """
    if normalization not in NORMALIZATIONS:
        raise InvalidArgument(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    if not isinstance(max_channels, (int, np.integer)) or max_channels < 1:
        raise InvalidArgument(f"max channels must be a positive integer, got {max_channels!r}")
    layer = _get_layer(model, layer_name)
    act = activations(model, image, [layer_name])[layer_name]
    if act.ndim != 3:
        raise InvalidArgument(
            f"layer {layer_name!r} outputs {act.ndim} axes per image {act.shape}, not feature maps H×W×C; "
            "pick a convolution, pooling, batch norm or activation layer"
        )
    n = min(int(max_channels), act.shape[-1])
    images = normalize_maps(act[..., :n], normalization)
    rows, cols = grid_shape(n, columns)
    return FeatureMaps(
        layer_name=layer_name, layer_type=type(layer).__name__, kind=layers.layer_kind(layer), activations=act,
        channels=tuple(range(n)), images=images, rows=rows, columns=cols, normalization=normalization,
        stats=tuple(channel_stats(act)),
    )


# --- filters ----------------------------------------------------------------------------
def conv_layers(model: "keras.Model") -> list[dict[str, Any]]:
    """Layers with a 2D convolution kernel, in call order: ``name, type, kernel_shape, trainable``
    (False for a frozen layer, e.g. the fast presets' whitening conv, whose weights nobody learned);
    a nested model's (a transfer run's backbone's) come just before it, named ``"backbone/inner"``.

    Asks for a drawable ``kernel`` (kh×kw×in×out) rather than :func:`layers.is_conv`: a
    SeparableConv2D has two kernels and no ``kernel``, a custom layer may have one.
    """
    _check_built(model)
    inner = {}
    for path, layer in nested.inner_layers(model):
        inner.setdefault(path.split(nested.SEPARATOR, 1)[0], []).append((path, layer))
    out = []
    for top in _model_layers(model):
        for name, layer in [*inner.get(top.name, ()), (top.name, top)]:
            kernel = getattr(layer, "kernel", None)
            if kernel is not None and len(kernel.shape) == 4:
                out.append(dict(name=name, type=type(layer).__name__, kernel_shape=tuple(kernel.shape),
                                trainable=bool(layer.trainable)))
    return out


def _scale01(w: np.ndarray, axes: tuple[int, ...] | None) -> np.ndarray:
    lo = w.min(axis=axes, keepdims=True)
    hi = w.max(axis=axes, keepdims=True)
    span = hi - lo
    return np.divide(w - lo, span, out=np.zeros_like(w), where=span > 0)


def layer_filters(
    model: "keras.Model",
    layer_name: str | None = None,
    *,
    max_filters: int = DEFAULT_MAX_FILTERS,
    max_channels: int = DEFAULT_MAX_FILTERS,
    scale: str = "global",
) -> Filters:
    """The first N kernels of a convolution layer, scaled to [0, 1] for display.

    Args:
        model: a built Keras model (not changed).
        layer_name: a layer from :func:`conv_layers` (None: the first one).
        max_filters: how many output filters (the first ones).
        max_channels: how many input channels per filter (the first ones).
        scale: "global": one min-max over the whole kernel (seed 004), so tiles are
            comparable; "per_filter": each filter stretched to its own range.
    Returns:
        :class:`Filters`, with RGB tiles when the layer sees 3 input channels.
    """
    import keras

    if scale not in FILTER_SCALES:
        raise InvalidArgument(f"scale must be one of {', '.join(FILTER_SCALES)}, got {scale!r}")
    for what, value in (("max filters", max_filters), ("max channels", max_channels)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidArgument(f"{what} must be a positive integer, got {value!r}")
    convs = conv_layers(model)
    if not convs:
        raise InvalidArgument(f"model {model.name!r} has no convolution layer with a kernel to show")
    if layer_name is None:
        layer_name = convs[0]["name"]
    elif layer_name not in [c["name"] for c in convs]:
        raise InvalidArgument(
            f"layer {layer_name!r} is not a convolution layer; choose one of {', '.join(c['name'] for c in convs)}"
        )
    kernel = keras.ops.convert_to_numpy(_get_layer(model, layer_name).kernel).astype(np.float64)
    kh, kw, cin, cout = kernel.shape
    n_f, n_c = min(int(max_filters), cout), min(int(max_channels), cin)
    if scale == "global":
        scaled = _scale01(kernel, None)[..., :n_f]
    else:
        scaled = _scale01(kernel[..., :n_f], (0, 1, 2))
    per_channel = np.transpose(scaled[:, :, :n_c, :], (3, 2, 0, 1))  # filter, channel, kh, kw
    rgb = np.transpose(scaled, (3, 0, 1, 2)) if cin == 3 else None
    order = image_channel_order(model, layer_name) if cin == 3 else None
    if rgb is not None and order is not None:
        rgb = rgb[..., np.argsort(order)]  # the weights of the input channel that carries red first, then green, blue
    return Filters(
        layer_name=layer_name, kernel_shape=(kh, kw, cin, cout), filters=tuple(range(n_f)),
        in_channels=tuple(range(n_c)), per_channel=per_channel, rgb=rgb, scale=scale,
        weights=kernel[:, :, :n_c, :n_f].astype(np.float32),
    )


def image_channel_order(model: "keras.Model", layer_name: str) -> np.ndarray | None:
    """Which image channel each input channel of a nested backbone's first layer carries (it reads the backbone's
    input, maybe zero-padded), when the backbone is fed through a fixed channel swap: a frozen 1×1 convolution
    whose kernel is a permutation (a transfer run of VGG16 or ResNet50 turns RGB into Caffe's B, G, R that way,
    :func:`cnnviz.models.transfer.caffe_kernel`). ``order[j]`` is the image channel in the layer's input channel
    ``j``; None when there is no such swap."""
    import keras

    if not nested.is_nested(layer_name) or layer_name.count(nested.SEPARATOR) != 1:
        return None
    source = getattr(getattr(nested.get(model, layer_name).input, "_keras_history", None), "operation", None)
    while type(source).__name__ == "ZeroPadding2D":  # ResNet50's conv1_pad
        source = getattr(getattr(source.input, "_keras_history", None), "operation", None)
    if type(source).__name__ != "InputLayer":
        return None
    holder = model.get_layer(layer_name.split(nested.SEPARATOR, 1)[0])
    nodes = getattr(holder, "_inbound_nodes", None) or []  # Keras 3's record of the call (as nested.graph_tensor)
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        return None
    feeder = getattr(getattr(nodes[0].input_tensors[0], "_keras_history", None), "operation", None)
    kernel = getattr(feeder, "kernel", None)
    if feeder is None or feeder.trainable or kernel is None or tuple(kernel.shape) != (1, 1, 3, 3):
        return None
    k = keras.ops.convert_to_numpy(kernel)[0, 0]  # image channel × output channel
    if not (np.isin(k, (0.0, 1.0)).all() and (k.sum(axis=0) == 1).all() and (k.sum(axis=1) == 1).all()):
        return None
    return np.argmax(k, axis=0)


def zero_channels(maps: FeatureMaps) -> int:
    """How many channels of ``maps`` are exactly zero everywhere (a ReLU that never fired on this image).
    A channel before its activation (e.g. batch norm before the ReLU) may be negative everywhere
    instead: that is not zero, and not counted."""
    return sum(1 for s in maps.stats if s["min"] == s["max"] == 0)
