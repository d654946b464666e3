"""Tiny Keras models for tests (every layer named; Keras imported inside, as in cnnviz).

* :func:`tiny_build`: a compiled 1-conv network standing in for ``build_model`` in training/runs tests;
* :func:`tiny_imagenet_model`: a small 1000-class CNN standing in for ResNet50;
* :func:`legacy_weights_file`: a MobileNetV2 base's weights in the legacy HDF5 layout Keras publishes;
* models with weights set by hand (pixel, quadrant, invariant), so every prediction can be worked out on
  paper, for the evaluation/features/robustness tests;
* :data:`AUTO_NAME` and :func:`formula_value` to check summary tables against Keras, and the fast
  presets' parameter counts worked out by hand (:data:`COUNTS`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

#: Keras' automatic layer names ("conv2d_3", "flatten", "batch_normalization_1", ...) must not appear:
#: our names avoid that pattern, so a layer built without its name would be caught.
AUTO_NAME = re.compile(
    r"^(input_layer|conv2d|dense|batch_normalization|max_pooling2d|average_pooling2d|dropout|flatten|"
    r"activation|concatenate|add|global_average_pooling2d|global_max_pooling2d|rescaling)(_\d+)?$"
)
#: The fast CIFAR-10 presets and their parameter counts (total, trainable), worked out by hand.
FAST = ("fast_1min", "fast_3min", "fast_10min", "fast_15min", "fast_45min")
# Hand count, width 16 (groups 16/64/64) on 32×32×3, 10 classes:
#   whiten 2·2·3·24 = 288 (frozen); group 1: 3·3·24·16 + 3·3·16·16 = 5,760, 2 batch norms of 16: 128;
#   group 2: 3·3·16·64 + 3·3·64·64 = 46,080, batch norms 512; group 3: 2·3·3·64·64 = 73,728, 512;
#   logits 64·10 = 640. Trainable: all but the whitening and the 2·C moving statistics of each batch norm.
W16_TOTAL = 288 + 5_760 + 128 + 46_080 + 512 + 73_728 + 512 + 640
W16_TRAINABLE = W16_TOTAL - 288 - (128 + 512 + 512) // 2
# Width 32 (32/128/128): 288 + (3·3·24·32 + 3·3·32·32) + 4·64 + (3·3·32·128 + 3·3·128·128) + 4·256
#   + 2·3·3·128·128 + 4·256 + 128·10.
W32_TOTAL = 288 + 16_128 + 256 + 184_320 + 1_024 + 294_912 + 1_024 + 1_280
W32_TRAINABLE = W32_TOTAL - 288 - (256 + 1_024 + 1_024) // 2
# The presets' batch norms have no γ (airbench's frozen scale): 3·C weights each, of which C (β) are trained.
W16_TOTAL, W16_TRAINABLE = W16_TOTAL - (128 + 512 + 512) // 4, W16_TRAINABLE - (128 + 512 + 512) // 4
W32_TOTAL, W32_TRAINABLE = W32_TOTAL - (256 + 1_024 + 1_024) // 4, W32_TRAINABLE - (256 + 1_024 + 1_024) // 4
# airbench93 (64/128/128) and airbench94 (64/256/256) widths, batch norms of 3·C.
AB93_TOTAL = 288 + (9 * 24 * 64 + 9 * 64 * 64) + 6 * 64 + (9 * 64 * 128 + 9 * 128 * 128) + 6 * 128 \
    + 2 * 9 * 128 * 128 + 6 * 128 + 128 * 10
AB93_TRAINABLE = AB93_TOTAL - 288 - 4 * 64 - 8 * 128
AB94_TOTAL = 288 + (9 * 24 * 64 + 9 * 64 * 64) + 6 * 64 + (9 * 64 * 256 + 9 * 256 * 256) + 6 * 256 \
    + 2 * 9 * 256 * 256 + 6 * 256 + 256 * 10
AB94_TRAINABLE = AB94_TOTAL - 288 - 4 * 64 - 8 * 256
COUNTS = {"fast_1min": (W16_TOTAL, W16_TRAINABLE), "fast_3min": (W16_TOTAL, W16_TRAINABLE),
          "fast_10min": (W32_TOTAL, W32_TRAINABLE), "fast_15min": (W32_TOTAL, W32_TRAINABLE),
          "fast_45min": (AB94_TOTAL, AB94_TRAINABLE)}
TINY_SIZE = 32  # input size of the stand-in for ResNet50 in page tests


def formula_value(formula: str) -> int:
    """The number a formula gives: ``"(3·3·16+1)·32 = 4,640"`` → 4640; ``"0 (no weights)"`` → 0."""
    if formula.startswith("0 "):
        return 0
    return int(formula.split(" = ")[1].split(" ")[0].replace(",", ""))


def tiny_build(input_shape, num_classes, *, loss="categorical_crossentropy", learning_rate=0.01):
    """A compiled 1-conv network with every layer named (what build_model would give, only smaller)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv-1"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(num_classes, activation="softmax", name="predictions"),
        ],
        name="test-tiny",
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


def tiny_imagenet_model(seed: int = 0):
    """A small 1000-class softmax CNN (32×32×3) standing in for ResNet50 (every layer named)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((TINY_SIZE, TINY_SIZE, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1_conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1_pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2_block1_1_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_imagenet")


def legacy_weights_file(path: Path, *, alpha: float = 0.35, image_size: int = 96, seed: int = 1) -> Path:
    """A weights file in the legacy HDF5 layout Keras publishes (random values), for a MobileNetV2 base."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(seed)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=alpha,
                                          input_shape=(image_size, image_size, 3))
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, base)
    return path


# --- weights set by hand ---------------------------------------------------------------------------

PIXEL_GAIN = 4.0  # logit per unit of pixel value in pixel_model


def pixel_model(num_classes: int = 3, size: int = 8, gain: float = PIXEL_GAIN):
    """Flatten + Dense softmax where class c's logit is ``gain`` × pixel (0, c).

    An image that is zero except for value v at pixel (0, k) gets probability
    e^(gain·v) / (e^(gain·v) + C - 1) for class k and 1 / (e^(gain·v) + C - 1) for the others.
    """
    import keras

    inp = keras.Input((size, size, 1), name="image")
    h = keras.layers.Flatten(name="flatten")(inp)
    out = keras.layers.Dense(num_classes, activation="softmax", name="dense")(h)
    model = keras.Model(inp, out, name="pixel_model")
    kernel = np.zeros((size * size, num_classes), dtype=np.float32)
    for c in range(num_classes):
        kernel[c, c] = gain  # flat index c is pixel (0, c)
    model.get_layer("dense").set_weights([kernel, np.zeros(num_classes, dtype=np.float32)])
    return model


def pixel_image(k: int, v: float, size: int = 8) -> np.ndarray:
    img = np.zeros((size, size, 1), dtype=np.float32)
    img[0, k, 0] = v
    return img


def pixel_probs(k: int, v: float, num_classes: int = 3, gain: float = PIXEL_GAIN) -> np.ndarray:
    """Hand formula for pixel_model's output on pixel_image(k, v)."""
    logits = np.zeros(num_classes)
    logits[k] = gain * v
    e = np.exp(logits)
    return e / e.sum()


def quadrant_model(size: int = 8):
    """Flatten + Dense (4 classes): class q's logit is the sum of the pixels in quadrant q.

    Quadrants: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left. np.rot90 (counter-
    clockwise) moves quadrant 0→3, 1→0, 2→1, 3→2, so the model is not rotation-invariant.
    """
    import keras

    h = size // 2
    quad = np.zeros((size, size), dtype=int)
    quad[:h, h:], quad[h:, h:], quad[h:, :h] = 1, 2, 3
    kernel = np.zeros((size * size, 4), dtype=np.float32)
    kernel[np.arange(size * size), quad.ravel()] = 1.0
    model = keras.Sequential(
        [keras.Input((size, size, 1), name="image"), keras.layers.Flatten(name="flatten"),
         keras.layers.Dense(4, activation="softmax", name="dense")],
        name="quadrant_model",
    )
    model.get_layer("dense").set_weights([kernel, np.zeros(4, dtype=np.float32)])
    return model


def quadrant_data(n: int = 40, size: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images with one bright pixel in a random quadrant; labels equal the quadrant except 1 in 4 (noise)."""
    rng = np.random.default_rng(seed)
    h = size // 2
    x = rng.uniform(0, 0.05, size=(n, size, size, 1)).astype(np.float32)
    q = rng.integers(0, 4, size=n)
    offsets = {0: (0, 0), 1: (0, h), 2: (h, h), 3: (h, 0)}
    for i, qi in enumerate(q):
        r, c = offsets[int(qi)]
        x[i, r + rng.integers(0, h), c + rng.integers(0, h), 0] = 1.0
    y = q.copy()
    noisy = np.arange(n) % 4 == 3
    y[noisy] = (q[noisy] + 2) % 4
    return x, y.astype(np.int64)


def invariant_model(size: int = 8, *, functional: bool = False, flexible: bool = False):
    """Conv (3×3 kernels symmetric under 90° rotation, 'same' padding) → ReLU → global average → Dense.

    Every step commutes with np.rot90 on square inputs, so predictions are identical for
    an image and its rotations by multiples of 90°.
    """
    import keras

    shape = (None, None, 1) if flexible else (size, size, 1)
    layers = [
        keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="conv"),
        keras.layers.GlobalAveragePooling2D(name="gap"),
        keras.layers.Dense(2, activation="softmax", name="dense"),
    ]
    if functional:
        inp = keras.Input(shape, name="image")
        h = inp
        for layer in layers:
            h = layer(h)
        model = keras.Model(inp, h, name="invariant_functional")
    else:
        model = keras.Sequential([keras.Input(shape, name="image"), *layers], name="invariant")
    k = np.zeros((3, 3, 1, 2), dtype=np.float32)
    k[:, :, 0, 0] = [[0.1, 0.5, 0.1], [0.5, 1.0, 0.5], [0.1, 0.5, 0.1]]  # "centre-weighted blur"
    k[:, :, 0, 1] = [[-1.0, 0.2, -1.0], [0.2, 2.0, 0.2], [-1.0, 0.2, -1.0]]  # "spot detector"
    model.get_layer("conv").set_weights([k, np.array([0.0, -0.2], dtype=np.float32)])
    model.get_layer("dense").set_weights(
        [np.array([[1.0, -1.0], [-3.0, 3.0]], dtype=np.float32), np.array([0.0, 0.1], dtype=np.float32)]
    )
    return model


def invariant_data(n: int = 40, size: int = 8, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 2, size=n).astype(np.int64)
    return x, y


# --- Explain lab (saliency, occlusion, adversarial, neuron arithmetic) -------------------------------


def linear_model(weights: np.ndarray, bias: np.ndarray | None = None, *, softmax: bool = True):
    """Flatten + Dense: logit c = Σ weights[..., c]·x + bias[c] for images of shape ``weights.shape[:-1]``."""
    import keras

    weights = np.asarray(weights, dtype=np.float32)
    shape, classes = weights.shape[:-1], weights.shape[-1]
    model = keras.Sequential([keras.Input(shape, name="image"), keras.layers.Flatten(name="flatten"),
                              keras.layers.Dense(classes, activation="softmax" if softmax else None, name="dense")],
                             name="linear_model")
    b = np.zeros(classes, np.float32) if bias is None else np.asarray(bias, np.float32)
    model.get_layer("dense").set_weights([weights.reshape(-1, classes), b])
    return model


def sigmoid_model(shape: tuple[int, int, int], *, conv_filters: int = 0, bias: float = 0.0, seed: int = 0):
    """One sigmoid unit ending as the layer-by-layer builder's two-class models do (``output`` =
    Dense(1, sigmoid), ``p_first_class`` = 1 − p, ``two_class_probs``): [Conv 3×3 'same' linear →
    GAP] or Flatten, then the unit, random weights (seeded) and its bias ``bias`` (40: p is 1.0 in
    float32, the probability's gradient exactly 0)."""
    import keras

    rng = np.random.default_rng(seed)
    inp = keras.Input(shape, name="image")
    if conv_filters:
        conv = keras.layers.Conv2D(conv_filters, 3, padding="same", name="conv")
        h = keras.layers.GlobalAveragePooling2D(name="gap")(conv(inp))
    else:
        h = keras.layers.Flatten(name="flatten")(inp)
    unit = keras.layers.Dense(1, activation="sigmoid", name="output")
    p = unit(h)
    first = keras.layers.Rescaling(-1.0, offset=1.0, name="p_first_class")(p)
    model = keras.Model(inp, keras.layers.Concatenate(name="two_class_probs")([first, p]), name="sigmoid_model")
    if conv_filters:
        conv.set_weights([rng.normal(size=(3, 3, shape[-1], conv_filters)).astype(np.float32),
                          rng.normal(size=conv_filters).astype(np.float32)])
    unit.set_weights([rng.normal(size=(unit.kernel.shape[0], 1)).astype(np.float32), np.array([bias], np.float32)])
    return model


def small_cnn(seed: int = 0, size: int = 8, channels: int = 3, classes: int = 4, *, activation: str = "relu",
              gain: float = 1.0):
    """Conv 3×3 (``activation``, same) → Conv 3×3 stride 2 (valid, tanh) → Conv 4×4 stride 2 (same: pads before and after) → GAP →
    Dense softmax; random weights and biases (functional), the Dense kernel times ``gain``."""
    import keras

    keras.utils.set_random_seed(seed)
    bias = keras.initializers.RandomNormal(stddev=0.1, seed=seed)
    inp = keras.Input((size, size, channels), name="image")
    h = keras.layers.Conv2D(5, 3, padding="same", activation=activation, bias_initializer=bias, name="conv_same")(inp)
    h = keras.layers.Conv2D(6, 3, strides=2, padding="valid", activation="tanh", bias_initializer=bias,
                            name="conv_valid")(h)
    h = keras.layers.Conv2D(4, 4, strides=2, padding="same", bias_initializer=bias, name="conv_same_stride")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(h)
    model = keras.Model(inp, out, name="small_cnn")
    kernel, b = model.get_layer("predictions").get_weights()
    model.get_layer("predictions").set_weights([kernel * gain, b])
    return model


def impossible_build(input_shape, num_classes):
    """A build function that refuses the settings with a student-readable message (a CnnvizError)."""
    from cnnviz.errors import InvalidArgument

    raise InvalidArgument("conv layers would pool 8×8 below 1×1, got 4 layers")


def buggy_build(input_shape, num_classes):
    """A build function with a bug: its traceback must reach the server's log, not the student."""
    raise RuntimeError("boom")


def nested_backbone_model(size: int = 12, seed: int = 0):
    """A transfer network in miniature: ``image`` → ``to_pixels`` (×2) → a functional backbone called as one layer
    (``tiny_backbone``: ``bb_conv1`` 3×3 ReLU 'same', ``bb_bn``, ``bb_conv2`` 3×3 linear 'valid' with 5 filters,
    ``bb_relu``) → ``head_pool`` → ``head_output`` (3 classes). Random weights, nothing downloaded."""
    import keras

    keras.utils.set_random_seed(seed)
    bb_in = keras.Input((size, size, 3), name="bb_input")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="bb_conv1")(bb_in)
    h = keras.layers.BatchNormalization(name="bb_bn")(h)
    h = keras.layers.Conv2D(5, 3, name="bb_conv2")(h)
    backbone = keras.Model(bb_in, keras.layers.ReLU(name="bb_relu")(h), name="tiny_backbone")
    inp = keras.Input((size, size, 3), name="image")
    h = backbone(keras.layers.Rescaling(2.0, name="to_pixels")(inp))
    h = keras.layers.GlobalAveragePooling2D(name="head_pool")(h)
    out = keras.layers.Dense(3, activation="softmax", name="head_output")(h)
    model = keras.Model(inp, out, name="tiny_transfer")
    bn = backbone.get_layer("bb_bn")  # statistics that change the numbers, so a skipped layer would show
    bn.set_weights([np.linspace(0.5, 1.5, 4), np.linspace(-0.2, 0.2, 4), np.linspace(-0.1, 0.1, 4),
                    np.linspace(0.5, 2.0, 4)])
    return model
