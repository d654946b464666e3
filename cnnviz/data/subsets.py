"""Which images: repeatable stratified subsets, validation splits and per-class samples.

Everything works on labels (and images only where a copy is asked for), with a seed, so
the Datasets page's counts are exactly what training gets. The stratified cuts are scikit-learn's
``train_test_split``'s, computed in NumPy (:mod:`cnnviz.data.stratify`: the same indices, no import).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.data import stratify
from cnnviz.errors import InvalidArgument


if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.data.datasets import Dataset

# Seed 000 reduces CIFAR-10 to 10,000 training and 2,000 test images, 25% for validation.
SEED_TRAIN_SIZE = 10_000
SEED_TEST_SIZE = 2_000
DEFAULT_VALIDATION_FRACTION = 0.25


def _stratified_indices(y: np.ndarray, n: int, seed: int, what: str) -> np.ndarray:
    """Indices of ``n`` of the labels ``y``, stratified and repeatable for a seed."""
    total = len(y)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= total:
        raise InvalidArgument(f"{what} size must be 1..{total:,}, got {n}")
    if n == total:
        return np.arange(total)
    if total - n < len(np.unique(y)):  # too few left out to stratify: leave out a random few
        drop = np.random.default_rng(seed).choice(total, size=total - n, replace=False)
        return np.setdiff1d(np.arange(total), drop)
    try:
        take, _ = stratify.stratified_split(y, test_size=None, train_size=int(n), seed=seed)
    except ValueError as err:
        raise InvalidArgument(f"cannot take a stratified {what} subset of {n:,} images: {err}") from None
    return take


def subset_indices(y_train: np.ndarray, y_test: np.ndarray, *, train_size: int, test_size: int,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The training and test images of a stratified subset, by index, from the labels alone (the images are cut
    by :func:`cnnviz.training.pipeline.load_training_data`)."""
    return (_stratified_indices(y_train, train_size, seed, "training"),
            _stratified_indices(y_test, test_size, seed, "test"))


def smallest_split_size(num_classes: int, fraction: float) -> int:
    """Fewest images a stratified split with this validation fraction accepts.

    ``train_test_split`` puts ``ceil(fraction × n)`` images in the validation part and needs
    both parts to hold at least one image per class.

    >>> smallest_split_size(10, 0.25)
    37
    """
    if not 0.0 < fraction < 1.0:
        raise InvalidArgument(f"validation fraction must be between 0 and 1, got {fraction}")
    n = 2 * num_classes
    while math.ceil(fraction * n) < num_classes or n - math.ceil(fraction * n) < num_classes:
        n += 1
    return n


def split_validation(x: np.ndarray, y: np.ndarray, *, fraction: float = DEFAULT_VALIDATION_FRACTION,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/validation split (seed 000 Part 7: ``train_test_split``, 25%).

    Returns:
        ``(x_train, x_val, y_train, y_val)``, in scikit-learn's order.
    """
    if not 0.0 < fraction < 1.0:
        raise InvalidArgument(f"validation fraction must be between 0 and 1, got {fraction}")
    if len(x) != len(y):
        raise InvalidArgument(f"images and labels must have the same length, got {len(x)} and {len(y)}")
    try:
        fit, val = stratify.stratified_split(y, test_size=float(fraction), seed=seed)
    except ValueError as err:
        raise InvalidArgument(f"cannot split {len(y):,} images with validation fraction {fraction}: {err}") from None
    x, y = np.asarray(x), np.asarray(y)
    return x[fit], x[val], y[fit], y[val]


# --- looking at the data ----------------------------------------------------------------
def class_counts(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Images per class index (``np.bincount`` with every class present)."""
    return np.bincount(np.asarray(y, dtype=np.int64), minlength=num_classes)


def random_per_class(y: np.ndarray, per_class: int, *, num_classes: int | None = None,
                     seed: int = 0) -> list[np.ndarray]:
    """Indices of ``per_class`` random images of every class (seed 001's PlotRandomFromEachClass).

    Returns:
        One index array per class (shorter when a class has fewer images).
    """
    if not 1 <= per_class <= 50:
        raise InvalidArgument(f"images per class must be 1..50, got {per_class}")
    y = np.asarray(y)
    k = num_classes if num_classes is not None else int(y.max()) + 1
    rng = np.random.default_rng(seed)
    out = []
    for c in range(k):
        members = np.flatnonzero(y == c)
        out.append(rng.choice(members, size=min(per_class, len(members)), replace=False) if len(members)
                   else members)
    return out


def sample_indices(n_total: int, k: int, *, seed: int = 0) -> np.ndarray:
    """``k`` distinct random indices out of ``n_total`` (fewer when there are fewer), repeatable."""
    if n_total < 1 or k < 1:
        raise InvalidArgument(f"need at least one image to sample from and to take, got {n_total} and {k}")
    return np.random.default_rng(seed).choice(n_total, size=min(k, n_total), replace=False)
