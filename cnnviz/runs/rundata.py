"""A saved run's data: the exact images it trained and was tested on, scaled as it saw them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnviz.data import scaling
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


def prepare_inputs(info: RunInfo, x_uint8: np.ndarray) -> np.ndarray:
    """Scale uint8 images exactly as the run's training did (float32, same shape)."""
    return scaling.apply(x_uint8, info.scaling_affine)
