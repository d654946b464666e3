"""A saved run's data: the exact images it trained and was tested on, scaled as it saw them."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.data import datasets, scaling
from cnnviz.data import selection as data_selection
from cnnviz.errors import Unavailable
from cnnviz.training import pipeline

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.data.datasets import Dataset
    from cnnviz.runs.store import RunInfo


def run_dataset(info: RunInfo, *, full: Dataset | None = None) -> Dataset:
    """Re-create the exact train/test data a run used, from its saved settings (deterministic).

    Args:
        info: the run (:func:`cnnviz.runs.store.load_run`).
        full: the full dataset the run names, if already loaded (e.g. the app's shared copy).
    Returns:
        The subset the run drew: ``x_train`` holds its training *and* validation images
        (split again with ``selection.split_indices(y_train, fraction=spec.validation_fraction,
        selection=spec.selection, seed=spec.seed)``), ``x_test`` its test images.
    """
    spec = info.spec
    return pipeline.load_training_data(spec.dataset, train_size=spec.train_size, test_size=spec.test_size,
                                       seed=spec.seed, full=full, selection=spec.selection)


def run_test_images(info: RunInfo, *, full: Dataset | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The run's test images and labels only, the same (and in the same order) as :func:`run_dataset`'s.

    Only the labels decide which images a run drew, so no training image is copied; with a
    memory-mapped ``full`` (``datasets.load(name, mapped=True)``, the app's shared copy) only the
    chosen test images are read from disk.
    """
    spec = info.spec
    ds = full if full is not None else datasets.load(spec.dataset, mapped=True)
    if spec.train_size is None and spec.test_size is None:
        return ds.x_test, ds.y_test
    # All training images (the test draw does not depend on them): the test draw alone, with the run's
    # selection (stratified, or the notebooks' first images), exactly as load_training_data makes it.
    _, test = data_selection.subset_indices(ds.y_train, ds.y_test, train_size=None, test_size=spec.test_size,
                                            selection=spec.selection, seed=spec.seed)
    return ds.x_test[test], ds.y_test[test]


def test_draw(spec) -> tuple:
    """What decides which test images (in which order) :func:`run_test_images` gives a run of ``spec``: the
    dataset and all its test images, its first N, or N drawn with the seed; the training size never counts."""
    if spec.test_size is None:
        return spec.dataset, "all"
    if spec.selection.subset == "first":
        return spec.dataset, "first", spec.test_size
    return spec.dataset, "stratified", spec.test_size, spec.seed


def test_digest(x: np.ndarray, y: np.ndarray) -> str:
    """sha256 of test images and labels (shapes, dtypes and bytes): which test set a run was tested on."""
    digest = hashlib.sha256()
    for arr in (np.ascontiguousarray(x), np.ascontiguousarray(np.asarray(y, dtype=np.int64))):
        digest.update(f"{arr.shape}{arr.dtype}".encode())
        digest.update(memoryview(arr).cast("B"))
    return digest.hexdigest()


def check_test_images(info: RunInfo, x: np.ndarray, y: np.ndarray) -> None:
    """Refuse (:class:`~cnnviz.errors.Unavailable`) test images that are not the ones the run was tested on:
    its dataset was replaced since (deleted and made again under its name, or imported from another archive).
    Runs saved before the training job recorded ``test_sha256`` are not checked."""
    saved = info.config.get("test_sha256")
    if saved is not None and saved != test_digest(x, y):
        raise Unavailable(
            f"The dataset {info.spec.dataset!r} was replaced after this run was trained: its test images are "
            "not the ones the run was tested on, so it cannot be evaluated or inspected on them. Import the "
            "data it was trained on again under that name, or train a new run on the data as it is now.")


def prepare_inputs(info: RunInfo, x_uint8: np.ndarray) -> np.ndarray:
    """Scale uint8 images exactly as the run's training did (float32, same shape)."""
    return scaling.apply(x_uint8, info.scaling_affine)


def input_scaling(info: RunInfo) -> scaling.Affine:
    """The run's scaling as a ``prepare`` for the inference path: :func:`prepare_inputs` as a callable
    that the compiled forward pass applies in its graph (:class:`cnnviz.data.scaling.Affine`)."""
    return scaling.Affine.of(info.scaling_affine)
