"""cnnviz.inspect.transforms: Variant keys say exactly what a transformed copy depends on."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import augment
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import transforms as t


X = np.random.default_rng(0).integers(0, 256, size=(5, 6, 6, 2), dtype=np.uint8)


def test_copies_that_fill_no_pixel_ignore_the_fill():
    assert t.rotation(0, fill="reflect") == t.rotation(360) == t.shift(0, 0) == t.original()
    assert t.rotation(90, fill="reflect") == t.rotation(-270, fill="constant", cval=7)
    assert t.rotation(90, fill="reflect", square=False) != t.rotation(90, square=False)
    assert t.rotation(180, fill="reflect", square=False) == t.rotation(180, square=False)
    assert t.rotation(45, fill="reflect") != t.rotation(45)
    assert t.rotation(45, fill="reflect", cval=3) == t.rotation(45, fill="reflect")  # cval only for "constant"
    assert t.rotation(45, cval=3) != t.rotation(45)
    assert t.shift(0, 2, fill="nearest") != t.shift(0, 2)
    assert t.resize(12, fill="reflect") == t.resize(12) != t.resize(12, method="pad")
    assert len({t.flip("horizontal"), t.flip("horizontal"), t.flip("vertical")}) == 2


def test_apply_is_the_transform_it_names():
    np.testing.assert_array_equal(t.original().apply(X), X)
    np.testing.assert_array_equal(t.rotation(30, fill="nearest").apply(X), t.rotate_images(X, 30, fill="nearest"))
    np.testing.assert_array_equal(t.rotation(90).apply(X), np.rot90(X, 1, axes=(1, 2)))
    np.testing.assert_array_equal(t.flip("vertical").apply(X), augment.flip_images(X, "vertical"))
    np.testing.assert_array_equal(t.shift(-1, 2, fill="reflect").apply(X), t.shift_images(X, -1, 2, fill="reflect"))
    np.testing.assert_array_equal(t.resize(9, method="pad").apply(X), t.resize_images(X, 9, method="pad"))


def test_transforming_slices_equals_transforming_the_whole_batch():
    for variant in (t.rotation(33, fill="reflect"), t.shift(2, -1), t.resize(11), t.flip("horizontal")):
        whole = variant.apply(X)
        np.testing.assert_array_equal(np.concatenate([variant.apply(X[:2]), variant.apply(X[2:])]), whole)


@pytest.mark.parametrize("make, message", [
    (lambda: t.rotation(float("nan")), "got nan"),
    (lambda: t.rotation(10, fill="wrap"), "got 'wrap'"),
    (lambda: t.flip("diagonal"), "got 'diagonal'"),
    (lambda: t.shift(1.5, 0), "got 1.5"),
    (lambda: t.resize(2), "got 2"),
    (lambda: t.resize(8, method="crop"), "got 'crop'"),
    (lambda: t.rotation(10, cval=float("inf")), "got inf"),
])
def test_bad_arguments_repeat_what_was_received(make, message):
    with pytest.raises(InvalidArgument, match=message):
        make()
