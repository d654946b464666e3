"""The pure helpers of the app layer's run pages: twin specs, joined sweeps, labels, image keys."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.app import caches, sweeps
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import robustness
from cnnviz.runs import labels
from cnnviz.runs.store import RunInfo
from cnnviz.training.spec import twin_spec
from tests.support.models import quadrant_data, quadrant_model
from tests.support.specs import FLAT_MODEL, page_spec


def _info(**changes) -> RunInfo:
    """A RunInfo with the config training.train would save for page_spec (no training needed)."""
    config = {**page_spec(FLAT_MODEL).to_dict(), "input_shape": [8, 8, 1], "num_classes": 10,
              "class_names": [str(d) for d in range(10)], "scaling_affine": {}, "labels": "one_hot"}
    config.update(changes)
    return RunInfo(run_id="20250101-120000-0123abcd", config=config, history={}, metrics={"test_accuracy": 0.5},
                   created="2025-01-01T12:00:00+00:00", status="finished")


def test_augmented_twin_keeps_everything_but_the_augmentation():
    info = _info(seed=7)
    spec = twin_spec(info, rotation=30, flip="horizontal_and_vertical")
    assert spec.augment.to_dict() == {"rotation": 30.0, "flip": "horizontal_and_vertical", "translate": 0.0, "zoom": 0.0,
                            "crop": 0, "seed": 7}
    original = info.config
    for key in ("model", "dataset", "train_size", "test_size", "epochs", "batch_size", "seed", "scaling"):
        assert spec.to_dict()[key] == original[key]


def test_twin_keeps_the_runs_other_augmentation_and_flip():
    info = _info(augment={"rotation": 0.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.0, "seed": 3})
    spec = twin_spec(info, rotation=90)
    assert spec.augment.to_dict() == {"rotation": 90.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.0, "crop": 0,
                            "seed": 3}


def test_size_agnostic_twin_changes_only_the_head():
    info = _info()
    spec = twin_spec(info, head="global_avg")
    assert spec.model.to_dict() == {**FLAT_MODEL, "head": "global_avg"}
    assert spec.augment is None


def test_twin_of_a_network_that_cannot_be_rebuilt_is_refused():
    with pytest.raises(InvalidArgument, match="architecture must be one of .*got 'test-tiny'"):
        twin_spec(_info(model={"architecture": "test-tiny", "filters": 4}), rotation=30)


def test_twin_with_an_impossible_rotation_repeats_it():
    with pytest.raises(InvalidArgument, match="rotation must be 0..180 degrees, got 400.0"):
        twin_spec(_info(), rotation=400)


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


def test_labels_name_head_augmentation_and_accuracy():
    info = _info(augment={"rotation": 30.0, "flip": "none", "translate": 0.0, "zoom": 0.0, "seed": 0},
                 model={**FLAT_MODEL, "head": "global_avg"})
    assert labels.picker_label(info) == "custom on digits (0123abcd) · global-average head · rotate ±30° · 50.0%"
    assert labels.legend_label(info) == "custom, global-average head (0123abcd), rotate ±30°"
    assert labels.legend_label(_info()) == "custom (0123abcd), no augmentation"


def test_image_digest_depends_on_pixels_and_shape():
    a = np.zeros((8, 8, 1), dtype=np.uint8)
    b = a.copy()
    b[3, 4, 0] = 1
    assert caches.image_digest(a) == caches.image_digest(a.copy())
    assert len({caches.image_digest(a), caches.image_digest(b), caches.image_digest(a.reshape(4, 16, 1))}) == 3
