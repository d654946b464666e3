"""cnnviz.app.sweeps: rotation sweeps measured one angle at a time join into one sweep."""

from __future__ import annotations

import numpy as np

from cnnviz.app import sweeps
from cnnviz.inspect import robustness
from tests.support.models import quadrant_data, quadrant_model


def test_joined_single_angle_sweeps_equal_one_sweep():
    model = quadrant_model()
    x, y = quadrant_data()
    names = ["tl", "tr", "br", "bl"]
    angles = (0, 45, 90, 180)
    whole = robustness.rotation_sweep(model, x, y, names, angles=angles)
    joined = sweeps.join_sweeps([robustness.rotation_sweep(model, x, y, names, angles=(a,)) for a in angles])
    assert joined.angles == whole.angles
    assert np.array_equal(joined.accuracy, whole.accuracy)
    assert np.array_equal(joined.per_class, whole.per_class, equal_nan=True)
    assert joined.unrotated_accuracy == whole.unrotated_accuracy
