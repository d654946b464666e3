"""scikit-learn's random splits in NumPy: the same indices as ``train_test_split``, without its import.

Runs do not store their image indices: a run's training and test images are recomputed from the
labels and the seed (:mod:`cnnviz.data.subsets`, :mod:`cnnviz.data.selection`). Those indices have
always been ``train_test_split(..., random_state=seed, stratify=y)``'s (and without ``stratify`` for
seed 000's shuffled split), so any replacement must give exactly the same arrays or old runs would
be tested on other images. This module follows scikit-learn 1.9's ``StratifiedShuffleSplit`` and
``ShuffleSplit`` step by step (``_approximate_mode``, one legacy ``np.random.RandomState(seed)``
drawn from in the same order); ``tests/data/test_stratify.py`` compares both on many sizes, seeds
and class balances. Importing ``sklearn.model_selection`` cost 1.6-2 s on a fresh server (issue 19).
NumPy's legacy ``RandomState`` streams are frozen by NumPy's compatibility policy (NEP 19).
"""

from __future__ import annotations

import math

import numpy as np


def _approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Draws per class closest to the classes' shares, ties broken at random (sklearn.utils.extmath)."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def split_sizes(n_samples: int, *, test_size: float | int | None, train_size: int | None = None) -> tuple[int, int]:
    """``(n_train, n_test)`` as ``train_test_split`` counts them: a fraction of test images rounds up.

    Raises:
        ValueError: with scikit-learn's reason, for sizes it refuses.
    """
    if isinstance(test_size, float) and not 0 < test_size < 1:
        raise ValueError(f"test_size={test_size} should be a float in the (0, 1) range")
    for name, size in (("test_size", test_size), ("train_size", train_size)):
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and not 0 < size < n_samples:
            raise ValueError(f"{name}={size} should be positive and smaller than the number of samples {n_samples}")
    n_test = None if test_size is None else (
        math.ceil(test_size * n_samples) if isinstance(test_size, float) else int(test_size))
    n_train = n_samples - n_test if train_size is None else int(train_size)
    n_test = n_samples - n_train if n_test is None else n_test
    if n_train + n_test > n_samples:
        raise ValueError(f"The sum of train_size and test_size = {n_train + n_test}, should be smaller than the "
                         f"number of samples {n_samples}")
    if n_train == 0:
        raise ValueError(f"With n_samples={n_samples}, test_size={test_size} and train_size={train_size}, the "
                         "resulting train set will be empty")
    return n_train, n_test


def stratified_split(y: np.ndarray, *, test_size: float | int | None, train_size: int | None = None,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and test parts: ``train_test_split(arange(len(y)), ..., random_state=seed,
    stratify=y)``, element for element.

    Raises:
        ValueError: with scikit-learn's reason (a class with one image, fewer images than classes in a part).
    """
    y = np.asarray(y)
    n_train, n_test = split_sizes(len(y), test_size=test_size, train_size=train_size)
    classes, y_indices, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    if np.min(class_counts) < 2:
        raise ValueError("The least populated classes in y have only 1 member, which is too few. The minimum "
                         f"number of groups for any class cannot be less than 2. Classes with too few members "
                         f"are: {classes[class_counts < 2].tolist()}")
    if n_train < len(classes):
        raise ValueError(f"The train_size = {n_train} should be greater or equal to the number of classes = "
                         f"{len(classes)}")
    if n_test < len(classes):
        raise ValueError(f"The test_size = {n_test} should be greater or equal to the number of classes = "
                         f"{len(classes)}")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list = []
    test: list = []
    for i in range(len(classes)):
        members = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(members[:n_i[i]])
        test.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def shuffled_split(n_samples: int, *, test_size: float | int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``train_test_split(arange(n_samples), test_size=test_size, random_state=seed)`` (not stratified)."""
    n_train, n_test = split_sizes(n_samples, test_size=test_size)
    permutation = np.random.RandomState(seed).permutation(n_samples)
    return permutation[n_test:n_test + n_train], permutation[:n_test]
