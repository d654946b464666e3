"""The notebooks' data selections against hand-made labels: which indices, class counts, class weights."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from cnnviz.data import selection, subsets
from cnnviz.data.selection import FIRST_FIRST, FIRST_LAST, FIRST_SHUFFLED, STRATIFIED, Selection
from cnnviz.errors import InvalidArgument

# 20 training labels, uneven on purpose: class 0 is common at the start, class 2 at the end.
Y_TRAIN = np.array([0, 0, 0, 1, 0, 1, 0, 2, 1, 0, 1, 2, 2, 1, 2, 2, 0, 1, 2, 2])
Y_TEST = np.array([2, 1, 0, 2, 1, 0, 2, 2, 1, 0])
NAMES = ("a", "b", "c")


def test_first_subset_takes_the_first_images_as_the_notebook_slices_them():
    tr, te = selection.subset_indices(Y_TRAIN, Y_TEST, train_size=8, test_size=4, selection=FIRST_SHUFFLED)
    assert tr.tolist() == list(range(8)) and te.tolist() == [0, 1, 2, 3]  # Xtrain[0:8], Xtest[0:4]
    tr, te = selection.subset_indices(Y_TRAIN, Y_TEST, train_size=None, test_size=None, selection=FIRST_LAST)
    assert tr.tolist() == list(range(20)) and te.tolist() == list(range(10))


def test_stratified_subset_is_the_one_runs_drew_before_selections_existed():
    tr, te = selection.subset_indices(Y_TRAIN, Y_TEST, train_size=12, test_size=6, seed=3)
    old_tr, old_te = subsets.subset_indices(Y_TRAIN, Y_TEST, train_size=12, test_size=6, seed=3)
    assert tr.tolist() == old_tr.tolist() and te.tolist() == old_te.tolist()


def test_first_subset_refuses_impossible_sizes_repeating_them():
    with pytest.raises(InvalidArgument, match=r"training size must be 1..20, got 21"):
        selection.subset_indices(Y_TRAIN, Y_TEST, train_size=21, test_size=4, selection=FIRST_FIRST)


def test_shuffled_split_is_seed_000s_train_test_split_with_random_state_the_seed():
    x = np.arange(20) * 10  # the notebook splits the images; the positions must be the same ones
    x_fit, x_val, _, _ = train_test_split(x, Y_TRAIN, test_size=0.25, random_state=0)
    fit, val = selection.split_indices(Y_TRAIN, fraction=0.25, selection=FIRST_SHUFFLED, seed=0)
    assert (x[fit].tolist(), x[val].tolist()) == (x_fit.tolist(), x_val.tolist())
    assert len(val) == 5


def test_last_split_is_keras_validation_split_and_first_split_seed_002s_slice():
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    x = np.arange(20)
    (x_fit,), (x_val,) = train_validation_split((x,), validation_split=0.2)
    fit, val = selection.split_indices(Y_TRAIN, fraction=0.2, selection=FIRST_LAST)
    assert (fit.tolist(), val.tolist()) == (x_fit.tolist(), x_val.tolist()) == (list(range(16)), list(range(16, 20)))
    fit, val = selection.split_indices(Y_TRAIN, fraction=0.1, selection=FIRST_FIRST)
    assert val.tolist() == [0, 1] and fit.tolist() == list(range(2, 20))  # X_train[2:], X_valid = X_train[:2]
    assert selection.validation_count(50_000, 0.1) == 5_000 and selection.validation_count(50_000, 0.2) == 10_000


def test_stratified_split_matches_the_old_split_validation():
    fit, val = selection.split_indices(Y_TRAIN, fraction=0.25, seed=4)
    _, _, y_fit, y_val = subsets.split_validation(np.arange(20), Y_TRAIN, fraction=0.25, seed=4)
    assert Y_TRAIN[fit].tolist() == y_fit.tolist() and Y_TRAIN[val].tolist() == y_val.tolist()


def test_counts_of_the_first_images_are_uneven_and_the_weights_correct_them():
    rows = selection.count_rows(Y_TRAIN, Y_TEST, NAMES, train_size=10, test_size=5, validation_fraction=0.2,
                                selection=FIRST_LAST)
    # first 10: 0 0 0 1 0 1 0 2 1 0 -> trained on the first 8 (0 0 0 1 0 1 0 2), validated on 1 0
    assert [(r["class"], r["subset"], r["train"], r["validation"], r["test"]) for r in rows] == [
        ("a", 6, 5, 1, 1), ("b", 3, 2, 1, 2), ("c", 1, 1, 0, 2), ("total", 10, 8, 2, 5)]
    weights = [r["weight"] for r in rows[:-1]]
    assert weights == pytest.approx([8 / (3 * 5), 8 / (3 * 2), 8 / (3 * 1)])  # n / (classes × count)
    assert rows[-1]["weight"] is None


def test_a_balanced_subset_gives_weights_of_one():
    y = np.repeat([0, 1, 2], 4)
    assert selection.balanced_weights(y, 3) == {0: 1.0, 1: 1.0, 2: 1.0}
    assert selection.balanced_weights(np.array([0, 0, 1]), 3) == pytest.approx({0: 0.75, 1: 1.5, 2: 1.0})


def test_no_validation_keeps_every_training_image():
    rows = selection.count_rows(Y_TRAIN, Y_TEST, NAMES, train_size=None, test_size=None, validation_fraction=0.0,
                                selection=FIRST_FIRST)
    assert rows[-1] == {"class": "total", "subset": 20, "train": 20, "validation": 0, "test": 10, "weight": None}


def test_selection_round_trips_and_refuses_unknown_words():
    assert Selection.from_dict(FIRST_SHUFFLED.to_dict()) == FIRST_SHUFFLED
    assert Selection.from_dict(None) == STRATIFIED and STRATIFIED.is_stratified
    with pytest.raises(InvalidArgument, match="validation split must be one of .*got 'middle'"):
        Selection("first", "middle")
    with pytest.raises(InvalidArgument, match=r"unknown data selection settings \['order'\]"):
        Selection.from_dict({"subset": "first", "order": "x"})
    assert "last share" in FIRST_LAST.describe()


def test_an_unshuffled_split_needs_an_image_on_each_side():
    with pytest.raises(InvalidArgument, match="leaves 1 for validation and 0 to train on"):
        selection.split_indices(np.array([0]), fraction=0.5, selection=FIRST_LAST)


@pytest.mark.parametrize("y", [Y_TRAIN, Y_TRAIN[:7], np.array([2, 2, 0]), np.repeat([0, 1, 2], [500, 3, 97])])
def test_balanced_weights_are_scikit_learns(y):
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    expected = dict(zip(present.tolist(), compute_class_weight("balanced", classes=present, y=y)))
    got = selection.balanced_weights(y, 4)
    assert {c: got[c] for c in expected} == pytest.approx(expected, rel=1e-15)
    assert all(got[c] == 1.0 for c in range(4) if c not in expected)


def test_the_scaling_preview_takes_its_statistics_from_the_selected_training_part():
    from cnnviz.data import datasets

    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1) * 10  # image i is all 10·i
    ds = datasets.Dataset("tiny", x, Y_TRAIN, x[:10], Y_TEST, NAMES, "hand-made")
    out = datasets.scaling_preview(ds, "standardize", train_size=10, test_size=5, validation_fraction=0.2,
                                   selection=FIRST_FIRST)
    # the first 10 images, the first 2 for validation: trained on images 2..9, values 20..90
    assert out["raw"].ravel().tolist() == list(range(20, 100, 10))
    assert out["stats"]["mean"] == pytest.approx([55.0])


@pytest.mark.parametrize("n", [7, 33, 90, 180, 50_000])
@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.3, 0.7, 0.15])
def test_validation_count_is_keras_validation_split(n, fraction):
    """Keras keeps ``floor(n × (1 − fraction))`` images to train on; rounding the other way (``ceil(n × fraction)``)
    differs where the products are not exact in binary: 90 × 0.7 = 62.99999999999999, so Keras validates on 28
    of 90 images, not ceil(90 × 0.3) = 27."""
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    (_,), (x_val,) = train_validation_split((np.arange(n),), validation_split=fraction)
    assert selection.validation_count(n, fraction) == len(x_val)


def test_selection_doctests():
    import doctest

    assert doctest.testmod(selection).failed == 0
