"""Which images a run uses: the notebooks' own selections beside cnnviz's random stratified one.

The notebooks do not draw balanced random subsets. Seed 000 takes the *first* 10,000 training and
2,000 test images of CIFAR-10 and splits off 25% with ``train_test_split(test_size=0.25,
random_state=0)`` (shuffled, not stratified); seed 001 (and 003) pass ``validation_split=0.2`` to
``model.fit``, which keeps the *last* 20% for validation, unshuffled; seed 002 keeps the *first*
5,000 for validation. A :class:`Selection` names both cuts, the subset and the validation split;
:func:`subset_indices` and :func:`split_indices` give the indices, from labels alone, and
:func:`count_rows` the per-class counts of what a run actually uses (seed 000 Part 5 prints them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from cnnviz.data import stratify, subsets
from cnnviz.errors import InvalidArgument


#: How the training/test subsets are taken: at random keeping each class's share, or the first N.
SUBSETS = ("stratified", "first")
#: How validation is split off: at random keeping each class's share, at random without (seed 000's
#: ``train_test_split`` with ``random_state`` = the run's seed), the first share, or the last share
#: unshuffled (Keras' ``validation_split``).
SPLITS = ("stratified", "shuffled", "first", "last")

SUBSET_WORDS = {"stratified": "random, every class in its share (stratified)", "first": "the first images"}
SPLIT_WORDS = {
    "stratified": "split off at random, every class in its share (stratified)",
    "shuffled": "split off at random, not stratified (train_test_split, random_state = the run's seed)",
    "first": "the first share of the training images, unshuffled",
    "last": "the last share of the training images, unshuffled (Keras' validation_split)",
}

SUBSET_SHORT = {"stratified": "a random stratified subset", "first": "the first images"}
SPLIT_SHORT = {"stratified": "validation stratified at random", "shuffled": "validation at random (not stratified)",
               "first": "the first share for validation", "last": "the last share for validation"}


@dataclass(frozen=True)
class Selection:
    """How a run's images are chosen (part of its :class:`~cnnviz.training.spec.TrainSpec`).

    Attributes:
        subset: one of :data:`SUBSETS`; how ``train_size``/``test_size`` images are taken.
        split: one of :data:`SPLITS`; how the validation share is taken from them.
    """

    subset: str = "stratified"
    split: str = "stratified"

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise InvalidArgument(f"subset selection must be one of {', '.join(SUBSETS)}, got {self.subset!r}")
        if self.split not in SPLITS:
            raise InvalidArgument(f"validation split must be one of {', '.join(SPLITS)}, got {self.split!r}")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Selection:
        """Parse a saved selection; None (a run saved before selections existed) is the stratified one."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a data selection must be a dict, got {data!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgument(f"unknown data selection settings {unknown}; known: {sorted(known)}")
        return cls(**data)

    @property
    def is_stratified(self) -> bool:
        """True for cnnviz's own random stratified subset and split."""
        return self.subset == "stratified" and self.split == "stratified"

    def short(self) -> str:
        """A few words, e.g. ``"the first images, the last share for validation"``."""
        if self.is_stratified:
            return "random stratified"
        return f"{SUBSET_SHORT[self.subset]}, {SPLIT_SHORT[self.split]}"

    def describe(self) -> str:
        """One line for people, e.g. ``"the first images; validation: the last share ..."``."""
        return f"{SUBSET_WORDS[self.subset]}; validation {SPLIT_WORDS[self.split]}"


STRATIFIED = Selection()
#: Seed 000 Parts 5 and 7: first 10,000/2,000, then ``train_test_split(test_size=0.25, random_state=0)``.
FIRST_SHUFFLED = Selection("first", "shuffled")
#: Seed 001 and 003: all images, ``model.fit(validation_split=0.2)`` keeps the last 20%.
FIRST_LAST = Selection("first", "last")
#: Seed 002 1.3.4: ``X_train[5000:], X_valid = X_train[:5000]``.
FIRST_FIRST = Selection("first", "first")
#: The selections offered by name (pages, command line).
NAMED = {"stratified": STRATIFIED, "first_shuffled": FIRST_SHUFFLED, "first_last": FIRST_LAST,
         "first_first": FIRST_FIRST}


def _first(n_total: int, n: int | None, what: str) -> np.ndarray:
    if n is None:
        return np.arange(n_total)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or not 1 <= n <= n_total:
        raise InvalidArgument(f"{what} size must be 1..{n_total:,}, got {n}")
    return np.arange(int(n))


def subset_indices(y_train: np.ndarray, y_test: np.ndarray, *, train_size: int | None, test_size: int | None,
                   selection: Selection = STRATIFIED, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and test images a run uses (None = all of them, in order).

    Stratified subsets are :func:`cnnviz.data.subsets.subset_indices` (the same images as before
    selections existed); ``"first"`` takes ``arange(n)`` as seed 000's ``Xtrain[0:10000]``.
    """
    if selection.subset == "first":
        return _first(len(y_train), train_size, "training"), _first(len(y_test), test_size, "test")
    return subsets.subset_indices(y_train, y_test, train_size=len(y_train) if train_size is None else train_size,
                                  test_size=len(y_test) if test_size is None else test_size, seed=seed)


def validation_count(n: int, fraction: float) -> int:
    """Validation images of an unshuffled split, as Keras counts them: ``n - floor(n × (1 - fraction))``.

    >>> validation_count(50_000, 0.2), validation_count(50_000, 0.1)
    (10000, 5000)
    """
    return n - int(math.floor(n * (1.0 - fraction)))


def split_indices(y: np.ndarray, *, fraction: float, selection: Selection = STRATIFIED,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into ``y``) of the images trained on and of the validation images.

    Args:
        y: labels of the subset, in its order.
        fraction: validation share, 0 < fraction < 1.
        selection: its ``split`` says how.
        seed: ``random_state`` of the random splits.
    Returns:
        ``(fit, validation)`` index arrays; the random splits in scikit-learn's order.
    """
    y = np.asarray(y)
    if not 0.0 < fraction < 1.0:
        raise InvalidArgument(f"validation fraction must be between 0 and 1, got {fraction}")
    n = len(y)
    if selection.split == "stratified":
        fit, val, _, _ = subsets.split_validation(np.arange(n), y, fraction=fraction, seed=seed)
        return fit, val
    if selection.split == "shuffled":
        try:  # seed 000's train_test_split, in NumPy (the same indices)
            fit, val = stratify.shuffled_split(n, test_size=float(fraction), seed=seed)
        except ValueError as err:
            raise InvalidArgument(f"cannot split {n:,} images with validation fraction {fraction}: {err}") from None
        return fit, val
    n_val = validation_count(n, fraction)
    if not 1 <= n_val < n:
        raise InvalidArgument(f"a validation share of {fraction} of {n:,} images leaves {n_val} for validation "
                              f"and {n - n_val} to train on; both need at least one")
    if selection.split == "last":
        return np.arange(n - n_val), np.arange(n - n_val, n)
    return np.arange(n_val, n), np.arange(n_val)


def count_rows(y_train: np.ndarray, y_test: np.ndarray, class_names: tuple[str, ...] | list[str], *,
               train_size: int | None, test_size: int | None, validation_fraction: float,
               selection: Selection = STRATIFIED, seed: int = 0) -> list[dict]:
    """Images per class in the training subset (before the validation split: what seed 000 Part 5
    prints), the training, validation and test parts a run uses, and the class weights
    ``compute_class_weight("balanced")`` gives its training part.

    Returns:
        ``[{"class", "subset", "train", "validation", "test", "weight"}, ...]`` and a last ``"total"``
        row (its weight None).
    """
    tr, te = subset_indices(y_train, y_test, train_size=train_size, test_size=test_size, selection=selection,
                            seed=seed)
    y_sub = np.asarray(y_train)[tr]
    if validation_fraction > 0:
        fit, val = split_indices(y_sub, fraction=validation_fraction, selection=selection, seed=seed)
        y_fit, y_val = y_sub[fit], y_sub[val]
    else:
        y_fit, y_val = y_sub, y_sub[:0]
    k = len(class_names)
    weights = balanced_weights(y_fit, k)
    columns = {"subset": np.bincount(y_sub, minlength=k), "train": np.bincount(y_fit, minlength=k), "validation": np.bincount(y_val, minlength=k),
               "test": np.bincount(np.asarray(y_test)[te], minlength=k)}
    rows = [{"class": c, **{col: int(v[i]) for col, v in columns.items()}, "weight": weights[i]}
            for i, c in enumerate(class_names)]
    rows.append({"class": "total", **{col: int(v.sum()) for col, v in columns.items()}, "weight": None})
    return rows


def balanced_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """The weights of ``compute_class_weight("balanced")`` (seed 000 Part 15) as a dict for ``fit``:
    ``n / (k × count)`` over the ``k`` classes present; absent classes get 1.0.

    scikit-learn's formula in NumPy (its import costs seconds on a page; the tests compare both).

    >>> balanced_weights(np.array([0, 0, 0, 1]), 3)
    {0: 0.6666666666666666, 1: 2.0, 2: 1.0}
    """
    y = np.asarray(y, dtype=np.int64)
    out = {c: 1.0 for c in range(num_classes)}
    if len(y) == 0:
        return out
    counts = np.bincount(y, minlength=num_classes)
    present = np.flatnonzero(counts)
    out.update({int(c): float(len(y) / (len(present) * counts[c])) for c in present})
    return out
