"""Shapes as Keras writes them, and labels as one-hot vectors (seed 000 Part 9 and Q16, seed 002 1.3.3).

Keras puts the batch first and leaves its size open: a layer's output is ``(None, 32, 32, 16)``,
``None`` standing for however many images go through at once. ``to_categorical`` turns the class
number 3 into ``[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]``. Both are computed here with NumPy (no Keras
import on a page); the tests compare them with Keras.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnviz.errors import InvalidArgument


BATCH_AXIS_NOTE = ("Keras writes every shape with the batch first: `None` is the number of images in a "
                   "batch, left open so that any number can go through at once (100 while training with "
                   "batch size 100, 1 for a single photo). The batch is always the first axis.")


def keras_shape(shape: Sequence[int | None], *, batch: int | None = None) -> str:
    """A per-image shape as Keras prints it, batch first.

    >>> keras_shape((32, 32, 16))
    '(None, 32, 32, 16)'
    >>> keras_shape((10,), batch=2000)
    '(2000, 10)'
    """
    return str((batch, *(None if s is None else int(s) for s in shape)))


def one_hot(labels: np.ndarray | Sequence[int] | int, num_classes: int) -> np.ndarray:
    """``keras.utils.to_categorical(labels, num_classes)``: float64 as Keras 3 gives it, one row per label.

    >>> one_hot(3, 5).tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0]
    """
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise InvalidArgument(f"number of classes must be a positive whole number, got {num_classes!r}")
    y = np.asarray(labels)
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= num_classes):
        raise InvalidArgument(f"labels must be whole numbers 0..{num_classes - 1}, got {y.ravel()[:5].tolist()}")
    if y.ndim > 1 and y.shape[-1] == 1:  # Keras drops a last axis of 1: (N, 1) labels give (N, classes)
        y = y.reshape(y.shape[:-1])
    return np.eye(num_classes)[y]


def label_shapes(n_images: int, num_classes: int, input_shape: Sequence[int], *,
                 dataset: str = "cifar10") -> list[dict[str, str]]:
    """The shapes a student meets on the way from the data to the network, as Keras gives them.

    Returns:
        ``[{"what", "shape"}, ...]``: the labels as loaded (``cifar10.load_data`` gives a column, N×1;
        other datasets one number per image), after ``to_categorical``, and one batch of images and of
        one-hot labels going into ``fit``.
    """
    loaded = ({"what": "labels as keras.datasets.cifar10.load_data() gives them", "shape": str((n_images, 1))}
              if dataset == "cifar10" else {"what": "labels: one class number per image", "shape": str((n_images,))})
    return [
        loaded,
        {"what": f"labels after to_categorical(y, {num_classes})", "shape": str((n_images, num_classes))},
        {"what": "images going into the network (one batch)", "shape": keras_shape(input_shape)},
        {"what": "one-hot labels of that batch", "shape": keras_shape((num_classes,))},
    ]
