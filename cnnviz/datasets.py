"""Datasets as one small object: uint8 images N×H×W×C, integer labels, class names, source.

Every page that needs data (training, evaluation, robustness) goes through this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    """Images and labels of one dataset, already split into train and test.

    Attributes:
        name: short id, e.g. ``"digits"`` or ``"cifar10"``.
        x_train, x_test: uint8 arrays N×H×W×C (C is 1 or 3).
        y_train, y_test: int64 arrays of class indices.
        class_names: one name per class index.
        source: where the data came from, for people.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8×8 digits (always available offline) as uint8 8×8×1.

    The 0..16 grey levels are scaled to 0..255; the split is stratified and repeatable.
    """
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return Dataset(
        name="digits",
        x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
        class_names=tuple(str(d) for d in range(10)),
        source="scikit-learn load_digits (bundled, 1,797 images of 8×8 pixels)",
    )
