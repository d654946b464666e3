"""The one scaling: affine maps, applied and one-off, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import scaling
from cnnviz.data.scaling import SCALINGS, channel_stats, scale
from cnnviz.errors import InvalidArgument


def test_one_implementation_behind_every_name():
    assert scale is scaling.scale and SCALINGS is scaling.SCALINGS
    assert channel_stats is scaling.channel_stats


@pytest.mark.parametrize("method", list(scaling.SCALINGS))
def test_scale_equals_the_saved_affine(method):
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    np.testing.assert_array_equal(scaling.scale(x, method), scaling.apply(x, scaling.affine(method, x)))


def test_affine_values_and_refusals():
    x = np.array([[[[0], [51], [255]]]], dtype=np.uint8)
    np.testing.assert_allclose(scaling.scale(x, "unit").ravel(), [0.0, 0.2, 1.0], rtol=1e-6)
    np.testing.assert_allclose(scaling.scale(x, "symmetric").ravel(), [-1.0, -0.6, 1.0], rtol=1e-6)
    flat = np.full((2, 2, 2, 1), 7, np.uint8)
    affine = scaling.affine("standardize", flat)
    assert affine["stats"] == {"mean": [7.0], "std": [0.0]}
    np.testing.assert_array_equal(scaling.apply(flat, affine), np.zeros((2, 2, 2, 1), np.float32))
    with pytest.raises(InvalidArgument, match="scaling must be one of unit, symmetric, standardize, got 'minmax'"):
        scaling.affine("minmax", flat)
    with pytest.raises(InvalidArgument, match=r"images must have 1 channel\(s\) in the last axis, got shape \(2, 3\)"):
        scaling.apply(np.zeros((2, 3), np.uint8), affine)


@pytest.mark.parametrize("method", list(scaling.SCALINGS))
def test_affine_callable_is_apply(method):
    x = np.random.default_rng(1).integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    saved = scaling.affine(method, x)
    mapped = scaling.Affine.of(saved)
    assert len(mapped.scale) == len(mapped.offset) == 3
    np.testing.assert_array_equal(mapped(x), scaling.apply(x, saved))
    with pytest.raises(InvalidArgument, match=r"one scale and one offset per channel, got .*'offset': \[0.0\]"):
        scaling.Affine.of({"scale": [1.0, 2.0], "offset": [0.0]})


def test_a_constant_training_channel_only_moves_test_pixels_by_its_mean():
    """Its std is 0: the scale stays 1 (pixels centred, not divided by ~0), so a test image that differs keeps a
    finite value; the other channel is standardised with the training images' numbers."""
    train = np.zeros((2, 1, 2, 2), np.uint8)
    train[..., 0] = 7
    train[..., 1] = [[10, 30]]
    affine = scaling.affine("standardize", train)
    test = np.array([[[[9, 40]]]], np.uint8)
    np.testing.assert_allclose(scaling.apply(test, affine).ravel(), [2.0, (40 - 20) / 10], rtol=1e-6)


def test_scaling_doctests():
    import doctest

    assert doctest.testmod(scaling).failed == 0
