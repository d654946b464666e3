"""Tiny Keras models with known outputs for the evaluation/features/robustness tests.

Weights are set by hand, so every prediction can be worked out on paper.
"""

from __future__ import annotations

import numpy as np

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
