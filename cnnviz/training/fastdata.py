"""airbench's data path: training images padded once in memory, each batch cut, mirrored and scaled in one step.

:func:`cnnviz.training.pipeline.training_pipeline` pads (for crops) and augments every batch with Keras
layers after casting it to float. airbench (Keller Jordan, arXiv 2404.00498) instead pads the whole
training set once and, for flips, either mirrors at random per epoch or *alternates*: a random half of
the images, drawn once, is mirrored on even epochs and the other half on odd ones, so each image is
seen both ways every two epochs. Here the images stay uint8 (padding 50,000 CIFAR-10 images by 2
pixels costs 194 MB instead of 154 MB); crops and flips are gathers on uint8 before the cast.

The pipeline yields all the run's epochs in one go (``epochs × steps`` batches); the training job
calls ``fit(..., steps_per_epoch=steps)``, so the pipeline knows each batch's epoch from its index.
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.training.pipeline import epoch_batches, mapped_and_prefetched


if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

FLIP_MODES = ("none", "random", "alternating")


def first_flips(n: int, seed: int) -> np.ndarray:
    """Which images are mirrored on even epochs of the alternating flip (odd epochs: the others).

    Args:
        n: number of training images.
        seed: the run's seed.
    Returns:
        Boolean array of length ``n``, about half True.
    """
    return np.random.default_rng([seed, 0xF11F]).random(n) < 0.5


def flipped_on_epoch(first: np.ndarray, epoch: int) -> np.ndarray:
    """The images the alternating flip mirrors on ``epoch`` (0-based): ``first`` on even epochs, the rest on odd."""
    return np.logical_xor(first, epoch % 2 == 1)


def pad_images(x_uint8: np.ndarray, pad: int) -> np.ndarray:
    """The images padded by ``pad`` pixels on each side, mirroring the edge (as ``tf.pad`` REFLECT), uint8."""
    if pad == 0:
        return np.asarray(x_uint8)
    return np.pad(x_uint8, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


def epoch_pipeline(
    x_uint8: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    affine: dict,
    num_classes: int,
    one_hot: bool,
    seed: int,
    epochs: int,
    first_epoch: int = 0,
    crop: int = 0,
    flip: str = "none",
) -> tf.data.Dataset:
    """The batches of epochs ``first_epoch`` … ``epochs − 1``, each epoch in its own order
    (:func:`cnnviz.training.pipeline.epoch_batches`: a resumed run's batches are the uninterrupted run's).

    Args:
        x_uint8: training images N×H×W×C, uint8.
        y: integer labels.
        batch_size, affine, num_classes, one_hot: as :func:`cnnviz.training.pipeline.make_pipeline`.
        seed: seeds the shuffling, the crops, the random flips and the alternating flip's halves.
        epochs: the run's epochs; ``first_epoch``: where a resumed run starts.
        crop: largest shift in pixels (the images are padded by it once).
        flip: "none", "random" (each image mirrored with probability ½ every epoch) or
            "alternating" (see :func:`first_flips`).
    Returns:
        A prefetched ``tf.data.Dataset`` of (float32 images, labels): ``(epochs − first_epoch) × steps``
        batches, ``steps = ceil(N / batch_size)``.
    """
    if flip not in FLIP_MODES:
        raise InvalidArgument(f"flip must be one of {', '.join(FLIP_MODES)}, got {flip!r}")
    if not 0 <= first_epoch < epochs:
        raise InvalidArgument(f"first epoch must be from 0 to {epochs - 1}, got {first_epoch!r}")
    if x_uint8.ndim != 4 or len(x_uint8) != len(y):
        raise InvalidArgument(f"need images N×H×W×C and N labels, got {x_uint8.shape} and {len(y)} labels")
    import tensorflow as tf

    n, height, width = x_uint8.shape[:3]
    steps = math.ceil(n / batch_size)
    padded = tf.constant(pad_images(x_uint8, crop))
    labels_all = tf.constant(np.asarray(y, dtype=np.int64))
    first = tf.constant(first_flips(n, seed))
    scale = tf.constant(affine["scale"], dtype=tf.float32)
    offset = tf.constant(affine["offset"], dtype=tf.float32)
    data = epoch_batches(n, batch_size=batch_size, seed=seed, epochs=epochs, first_epoch=first_epoch)

    def to_model_input(index, order):
        images, labels, first_half = (tf.gather(t, order) for t in (padded, labels_all, first))
        epoch = index // steps
        count = tf.shape(images)[0]
        if crop:
            offsets = tf.random.stateless_uniform([count, 2], seed=[seed, index], minval=0, maxval=2 * crop + 1,
                                                  dtype=tf.int32)
            rows = offsets[:, :1] + tf.range(height)[None, :]
            cols = offsets[:, 1:] + tf.range(width)[None, :]
            images = tf.gather(tf.gather(images, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
        if flip != "none":
            if flip == "alternating":
                mirror = tf.math.logical_xor(first_half, epoch % 2 == 1)
            else:
                mirror = tf.random.stateless_uniform([count], seed=[seed + 1, index]) < 0.5
            images = tf.where(mirror[:, None, None, None], tf.reverse(images, axis=[2]), images)
        images = tf.cast(images, tf.float32) * scale + offset
        if one_hot:
            labels = tf.one_hot(labels, num_classes)
        return images, labels

    return mapped_and_prefetched(data, to_model_input)
