"""The NumPy splits give scikit-learn's ``train_test_split`` indices exactly (old runs keep their images)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from cnnviz.data import selection, stratify, subsets


def _labels(n: int, classes: int, seed: int, balanced: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if balanced:
        return rng.permutation(np.arange(n) % classes)
    weights = np.linspace(1, 4, classes)  # unequal shares: the rounding and its random ties matter
    y = rng.choice(classes, size=n, p=weights / weights.sum())
    y[:2 * classes] = np.repeat(np.arange(classes), 2)  # every class at least twice, as stratifying needs
    return y


CASES = [(n, k, seed, balanced) for n, k in ((40, 2), (97, 3), (1_000, 10), (2_345, 7), (10_000, 10))
         for seed in (0, 1, 42) for balanced in (True, False)]


@pytest.mark.parametrize(("n", "classes", "seed", "balanced"), CASES)
def test_stratified_subset_equals_train_test_split(n, classes, seed, balanced):
    y = _labels(n, classes, seed, balanced)
    for take in sorted({classes + 1, n // 3, n // 2, n - classes - 1}):
        want, want_rest = train_test_split(np.arange(n), train_size=take, random_state=seed, stratify=y)
        got, got_rest = stratify.stratified_split(y, test_size=None, train_size=take, seed=seed)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_rest, want_rest)


@pytest.mark.parametrize(("n", "classes", "seed", "balanced"), CASES)
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 1 / 3])
def test_validation_fraction_equals_train_test_split(n, classes, seed, balanced, fraction):
    y = _labels(n, classes, seed, balanced)
    x = np.arange(n) * 3
    want = train_test_split(x, y, test_size=fraction, random_state=seed, stratify=y)
    got = subsets.split_validation(x, y, fraction=fraction, seed=seed)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [10, 101, 2_000, 12_500])
@pytest.mark.parametrize("seed", [0, 3, 1234])
@pytest.mark.parametrize("fraction", [0.2, 0.25, 0.5])
def test_shuffled_split_equals_train_test_split(n, seed, fraction):
    want = train_test_split(np.arange(n), test_size=fraction, random_state=seed)
    got = selection.split_indices(np.zeros(n, int), fraction=fraction, selection=selection.FIRST_SHUFFLED, seed=seed)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_cifar_sized_run_subsets_equal_the_sklearn_ones():
    # seed 000's 10,000 + 2,000 of CIFAR-10-sized labels (50,000 / 10,000, ten classes) for two seeds
    rng = np.random.default_rng(7)
    y_train, y_test = rng.permutation(np.arange(50_000) % 10), rng.permutation(np.arange(10_000) % 10)
    for seed in (0, 1):
        tr, te = subsets.subset_indices(y_train, y_test, train_size=10_000, test_size=2_000, seed=seed)
        np.testing.assert_array_equal(
            tr, train_test_split(np.arange(50_000), train_size=10_000, random_state=seed, stratify=y_train)[0])
        np.testing.assert_array_equal(
            te, train_test_split(np.arange(10_000), train_size=2_000, random_state=seed, stratify=y_test)[0])


@pytest.mark.parametrize(("y", "kwargs"), [
    (np.array([0, 0, 1, 1, 2]), {"test_size": 0.4}),                 # a class with one image
    (np.repeat(np.arange(5), 4), {"test_size": 0.1}),                # 2 test images for 5 classes
    (np.repeat(np.arange(5), 4), {"test_size": None, "train_size": 3}),  # 3 training images for 5 classes
    (np.repeat(np.arange(2), 4), {"test_size": 1.5}),
    (np.repeat(np.arange(2), 4), {"test_size": None, "train_size": 8}),
])
def test_refuses_what_sklearn_refuses(y, kwargs):
    with pytest.raises(ValueError):
        train_test_split(np.arange(len(y)), random_state=0, stratify=y, **kwargs)
    with pytest.raises(ValueError):
        stratify.stratified_split(y, seed=0, **kwargs)


def test_a_run_test_set_needs_no_sklearn_import():
    code = ("import sys, numpy as np\nfrom cnnviz.data import subsets\n"
            "y = np.arange(1000) % 10\nsubsets.subset_indices(y, y, train_size=500, test_size=200)\n"
            "subsets.split_validation(np.arange(500), y[:500])\nprint('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("n", "classes", "seed"), [(40, 2, 0), (97, 3, 1), (1_000, 10, 42)])
def test_the_largest_stratified_subset_is_still_train_test_splits(n, classes, seed):
    """Leaving out one image per class is the most a stratified subset can take: it is still scikit-learn's
    draw (a run's images are recomputed from its labels and seed), not the random few of a larger subset."""
    y_train, y_test = _labels(n, classes, seed, False), _labels(n, classes, seed + 1, False)
    take = n - classes
    want_train, _ = train_test_split(np.arange(n), train_size=take, random_state=seed, stratify=y_train)
    want_test, _ = train_test_split(np.arange(n), train_size=take, random_state=seed, stratify=y_test)
    got_train, got_test = subsets.subset_indices(y_train, y_test, train_size=take, test_size=take, seed=seed)
    np.testing.assert_array_equal(got_train, want_train)
    np.testing.assert_array_equal(got_test, want_test)
