"""Grad-CAM: which places in an image made a CNN choose a class (Selvaraju et al., 2017).

For a class c and a feature-map layer A (H'×W'×K), Grad-CAM weights each channel k by the
average gradient of the class score over the map, ``alpha_k = mean_ij d y_c / d A_ijk``, and
keeps the positive part of the weighted sum, ``relu(sum_k alpha_k A_k)``. The result is
upsampled (bilinear) to the input's size and divided by its maximum, so it lies in [0, 1].

One implementation for the whole lab (the Pretrained and Inspect pages). It works for
Sequential and functional models because it reads features through a sub-model
``keras.Model(model.inputs, [layer.output, ...])``, which shares the original layers and
never changes the model. It returns numpy arrays and draws nothing; :func:`overlay` blends a
heat map over a photo for display.

Shared models (``st.cache_resource``): hold the model's lock while calling these functions.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from cnnviz.errors import InvalidArgument
from cnnviz.inspect.layers import graph_output, is_conv, output_shape


if TYPE_CHECKING:  # pragma: no cover
    import keras

# Layers that keep a convolution's output shape and are usually its "end" (normalisation,
# activation, the residual add): the feature map after them is the one the head sees.
_FOLLOWER_CLASS_NAMES = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU",
                         "Add", "Dropout", "SpatialDropout2D", "LayerNormalization", "GroupNormalization")

# Overlay colours: matplotlib's "jet" colour map (blue = 0, red = 1), as its per-channel
# (position, value) segments in matplotlib/_cm.py (_jet_data).
JET_SEGMENTS: dict[str, tuple[tuple[float, float], ...]] = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
DEFAULT_ALPHA = 0.45

# Compiled gradient functions, keyed by (id(model), layer name); a weak reference to the model
# makes sure a recycled id never returns another model's function. Bounded, so a long-running
# server that sees many session models does not keep them all.
_CACHE_SIZE = 8
_cache: dict[tuple[int, str], tuple[weakref.ref, object]] = {}
_cache_lock = threading.Lock()


def last_conv_layer_name(model: "keras.Model") -> str:
    """Name of the feature map Grad-CAM explains by default.

    That is the output of the last convolution, taken after the layers right after it that
    keep its shape (batch norm, activation, the residual ``Add``): for ResNet50 this is
    ``conv5_block3_out``, the map the classifier head pools. An inception block's last
    convolution is one of its branches: the ``Concatenate`` right after it, which keeps the
    height and width, is the block's output and is taken too (as InceptionV3's ``mixed10``).
    A nested model with a feature-map output (a transfer-learning backbone) counts as a convolution.

    Args:
        model: a built Keras model.
    Returns:
        The layer name.
    Raises:
        InvalidArgument: the model has no convolution layer.
    """
    layers = list(model.layers)
    last = None
    for i, layer in enumerate(layers):
        if is_conv(layer) or (_is_model(layer) and _rank(layer) == 4):
            last = i
    if last is None:
        raise InvalidArgument(f"model {model.name!r} has no convolution layer, so Grad-CAM has nothing to explain")
    shape = output_shape(layers[last])
    chosen = last
    for j in range(last + 1, len(layers)):
        following = output_shape(layers[j])
        if type(layers[j]).__name__ in _FOLLOWER_CLASS_NAMES and following == shape:
            chosen = j
        elif (type(layers[j]).__name__ == "Concatenate" and shape is not None and following is not None
              and len(following) == 4 and following[:3] == shape[:3]):  # the branches of a block, joined
            chosen, shape = j, following
        else:
            break
    return layers[chosen].name


def gradcam(
    model: "keras.Model",
    image_batch_float: np.ndarray,
    *,
    class_index: int | None = None,
    layer_name: str | None = None,
) -> np.ndarray:
    """Grad-CAM heat map of one image.

    Args:
        model: a built Keras classifier (Sequential or functional).
        image_batch_float: one image H×W×C or a batch of one 1×H×W×C, already scaled the way
            the model expects.
        class_index: the class to explain; ``None`` explains the predicted class.
        layer_name: the feature-map layer; ``None`` uses :func:`last_conv_layer_name`.
    Returns:
        float32 array H×W (the input's spatial size), values in [0, 1]; all zeros when nothing
        in the image speaks for the class.
    """
    x = np.asarray(image_batch_float)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise InvalidArgument(
            f"gradcam explains one image (H×W×C or 1×H×W×C), got shape {tuple(np.shape(image_batch_float))}; "
            "use gradcam_batch for several"
        )
    return gradcam_batch(model, x, class_indices=None if class_index is None else [class_index],
                         layer_name=layer_name)[0]


def gradcam_batch(
    model: "keras.Model",
    images: np.ndarray,
    *,
    class_indices: Sequence[int | None] | None = None,
    layer_name: str | None = None,
) -> np.ndarray:
    """Grad-CAM heat maps of a batch, one class per image.

    The class score is the pre-softmax logit when the model ends in a softmax (a Dense layer
    with softmax activation, or a separate softmax layer), as in the Grad-CAM paper: the
    probability saturates near 1 and would give vanishing gradients; for one sigmoid unit, its
    logit (see :func:`class_scores`).

    Args:
        model: a built Keras classifier.
        images: N×H×W×C floats, scaled the way the model expects.
        class_indices: one class per image (``None`` entries: the predicted class); ``None``
            explains every image's predicted class.
        layer_name: the feature-map layer; ``None`` uses :func:`last_conv_layer_name`.
    Returns:
        float32 array N×H×W in [0, 1].
    """
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[0] < 1:
        raise InvalidArgument(f"images must be a batch N×H×W×C, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise InvalidArgument(f"images must be numbers, got dtype {x.dtype}")
    expected = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
    if expected is not None and any(e is not None and e != g for e, g in zip(expected, x.shape[1:])):
        raise InvalidArgument(f"the model expects images of shape {expected}, got {x.shape[1:]}")
    n_classes = class_count(model)
    if class_indices is None:
        idx = np.full(x.shape[0], -1, dtype=np.int32)
    else:
        if len(class_indices) != x.shape[0]:
            raise InvalidArgument(f"need one class per image: {x.shape[0]} images, got {len(class_indices)} classes")
        for c in class_indices:
            if c is not None and not (0 <= int(c) < n_classes):
                raise InvalidArgument(f"class index must be 0..{n_classes - 1}, got {c}")
        idx = np.array([-1 if c is None else int(c) for c in class_indices], dtype=np.int32)
    name = layer_name or last_conv_layer_name(model)
    fn = _gradient_function(model, name)
    cams = fn(x.astype(np.float32, copy=False), idx)
    return np.asarray(cams, dtype=np.float32)


def overlay(image_uint8: np.ndarray, heatmap: np.ndarray, *, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """Blend a heat map in [0, 1] (as "jet" colours) over an image.

    Args:
        image_uint8: H×W×3, H×W×1 or H×W uint8 image.
        heatmap: h×w values in [0, 1]; resized (bilinear) to the image's size if needed.
        alpha: weight of the colours, 0..1.
    Returns:
        uint8 H×W×3.
    """
    img = np.asarray(image_uint8)
    if img.dtype != np.uint8:
        raise InvalidArgument(f"overlay needs a uint8 image, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise InvalidArgument(f"overlay needs an H×W×3 or H×W image, got shape {np.shape(image_uint8)}")
    if not 0.0 <= alpha <= 1.0:
        raise InvalidArgument(f"alpha must be between 0 and 1, got {alpha}")
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise InvalidArgument(f"heatmap must be 2-D, got shape {heat.shape}")
    if heat.shape != img.shape[:2]:
        heat = _resize_float(heat, img.shape[:2])
    colours = colorize(np.clip(heat, 0.0, 1.0))
    blended = (1.0 - alpha) * img.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def colorize(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB with the jet colour map (:data:`JET_SEGMENTS`).

    >>> colorize(np.array([0.0, 0.5, 1.0])).tolist()
    [[0, 0, 128], [123, 255, 123], [128, 0, 0]]
    """
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    channels = []
    for name in ("red", "green", "blue"):
        xs, ys = zip(*JET_SEGMENTS[name])
        channels.append(np.interp(v, xs, ys) * 255)
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


# --- internals -------------------------------------------------------------------------------


def _is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def _rank(layer) -> int:
    shape = output_shape(layer)
    return -1 if shape is None else len(shape)


def score_source(model):
    """Where the class scores before the output's squashing are.

    ``("dense", layer)``: a Dense layer with softmax; ``("input", layer)``: a final Softmax layer's input;
    ``("sigmoid", layer)``: one Dense(1, sigmoid) unit, the model's output or (the layer-by-layer builder's
    two-class ending, :mod:`cnnviz.models.layerlist`) concatenated as ``(1 - p, p)`` by weightless layers;
    ``("output", None)``: the model's output as it is.
    """
    import keras

    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if isinstance(last, keras.layers.Dense) and activation == "softmax":
        return "dense", last
    if isinstance(last, keras.layers.Softmax) or (isinstance(last, keras.layers.Activation) and activation == "softmax"):
        return "input", last
    units = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense) and layer.units == 1
             and getattr(layer.activation, "__name__", "") == "sigmoid"]
    if last in units:
        return "sigmoid", last
    if isinstance(last, keras.layers.Concatenate) and output_shape(last)[-1] == 2:
        # the unit the concatenation reads (a hidden Dense(1, sigmoid) may stand before it)
        fed = [unit for unit in units if any(t is unit.output for t in last.input)]
        if len(fed) == 1:
            return "sigmoid", fed[0]
    return "output", None


def class_count(model) -> int:
    """The classes a model tells apart: its outputs, or 2 for one sigmoid unit."""
    return 2 if score_source(model)[0] == "sigmoid" else int(model.output_shape[-1])


def class_scores(kind: str, last, h):
    """The class scores (N×classes) from ``h``, the tensor :func:`score_source`'s layer receives.

    Softmax: the Dense layer's logits. One sigmoid unit with logit ``z = log(p / (1 - p))``: the two
    scores ``(-z/2, z/2)``, whose softmax is exactly ``(1 - p, p)``. Their gradients are tf-keras-vis's
    (``ReplaceToLinear`` + ``BinaryScore``: ``±z``) halved; the maps are scaled to their maximum, so they are
    the same. Either way never the probability, which saturates near 0 and 1 and whose gradient vanishes.
    """
    import tensorflow as tf

    if kind in ("dense", "sigmoid"):
        h = tf.matmul(h, last.kernel)
        if last.use_bias:
            h = h + last.bias
    if kind == "sigmoid":
        h = tf.concat([-0.5 * h, 0.5 * h], axis=-1)
    return h


def _gradient_function(model, layer_name: str):
    """A compiled ``(x, class_idx) -> N×H×W`` Grad-CAM function for this model and layer (cached)."""
    key = (id(model), layer_name)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1]
    fn = _build_gradient_function(model, layer_name)
    with _cache_lock:
        _cache[key] = (weakref.ref(model), fn)
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
    return fn


def _build_gradient_function(model, layer_name: str):
    import keras
    import tensorflow as tf

    try:
        layer = model.get_layer(layer_name)
    except ValueError:
        raise InvalidArgument(f"model {model.name!r} has no layer named {layer_name!r}") from None
    if _rank(layer) != 4:
        raise InvalidArgument(
            f"layer {layer_name!r} has output shape {output_shape(layer)}; Grad-CAM needs a feature map N×H×W×C"
        )
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise InvalidArgument(f"model {model.name!r} is not built: give it an Input first")
    kind, last = score_source(model)
    score_tensor = model.output if kind == "output" else last.input
    # graph_output: a nested backbone's output as the outer model sees it
    grad_model = keras.Model(inputs, [graph_output(layer), score_tensor], name=f"gradcam_{model.name}")
    spatial = tuple(model.input_shape[1:3])

    @tf.function(reduce_retracing=True)
    def compute(x, class_idx):
        with tf.GradientTape() as tape:
            features, scores = grad_model(x, training=False)
            scores = class_scores(kind, last, scores)  # the logits, before the softmax or sigmoid
            predicted = tf.argmax(scores, axis=-1, output_type=tf.int32)
            chosen = tf.where(class_idx < 0, predicted, class_idx)
            score = tf.gather(scores, chosen, axis=1, batch_dims=1)
        grads = tape.gradient(score, features)
        channel_weights = tf.reduce_mean(grads, axis=(1, 2))  # alpha_k, N×K
        cam = tf.nn.relu(tf.einsum("nhwk,nk->nhw", features, channel_weights))
        size = tf.shape(x)[1:3] if None in spatial else spatial
        cam = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
        peak = tf.reduce_max(cam, axis=(1, 2), keepdims=True)
        return tf.where(peak > 0, cam / tf.where(peak > 0, peak, 1.0), tf.zeros_like(cam))

    return compute


def _resize_float(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to ``size`` (rows, cols) with Pillow's 32-bit float mode."""
    img = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32))  # float32 2-D: mode "F"
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.float32)
