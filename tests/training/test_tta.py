"""The one flip_images: NumPy copies both ways, refusals that repeat what was received."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data.augment import flip_images
from cnnviz.errors import InvalidArgument


X = np.arange(2 * 3 * 4 * 1, dtype=np.uint8).reshape(2, 3, 4, 1)


def test_flip_images():
    np.testing.assert_array_equal(flip_images(X), X[:, :, ::-1])
    np.testing.assert_array_equal(flip_images(X, "vertical"), X[:, ::-1])
    assert flip_images(X).flags.c_contiguous
    with pytest.raises(InvalidArgument, match="flip direction must be 'horizontal' or 'vertical', got 'diagonal'"):
        flip_images(X, "diagonal")
    with pytest.raises(InvalidArgument, match=r"images must be a batch N×H×W×C, got an array of shape \(3, 4\)"):
        flip_images(X[0, :, :, 0])
