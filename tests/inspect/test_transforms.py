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


# --- the batched rotation and the sliced shift give scipy's pixels --------------------------
def _scipy_rotate(x, angle, fill, cval):
    """The implementation before (issue 19): one scipy rotation per image plane, on a float32 copy."""
    from scipy import ndimage

    out = ndimage.rotate(x.astype(np.float32), angle, axes=(1, 2), reshape=False, order=1, mode=fill, cval=cval)
    return t._like(out, x.dtype)


@pytest.mark.parametrize("fill, cval", [("constant", 0.0), ("constant", 37.5), ("reflect", 0.0), ("nearest", 0.0)])
@pytest.mark.parametrize("shape", [(7, 32, 32, 3), (4, 9, 13, 1)])
def test_rotation_by_sparse_product_equals_scipys_rotate(fill, cval, shape):
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 256, size=shape, dtype=np.uint8)
    floats = rng.normal(size=shape).astype(np.float32)
    for angle in (15, 33.3, 45, 100, 200.5, 345, -20):
        got = t.rotate_images(floats, angle, fill=fill, cval=cval)
        np.testing.assert_allclose(got, _scipy_rotate(floats, angle, fill, cval), rtol=0, atol=2e-6)
        got8 = t.rotate_images(u8, angle, fill=fill, cval=cval)
        want8 = _scipy_rotate(u8, angle, fill, cval)
        # the same float32 value rounds the same way: equal but for a sum landing on .5 in another order
        assert np.abs(got8.astype(int) - want8).max() <= 1 and np.mean(got8 != want8) < 1e-4
        assert got.dtype == floats.dtype and got8.dtype == np.uint8 and got.shape == shape


def test_rotation_matrix_is_made_once_per_angle_size_and_fill():
    t.rotation_matrix.cache_clear()
    for _ in range(3):
        t.rotate_images(X, 25.0)
        t.rotate_images(X[:2], 25.0, fill="constant", cval=4.0)  # cval weights come with the matrix
    t.rotate_images(X, 25.0, fill="reflect")
    info = t.rotation_matrix.cache_info()
    assert (info.misses, info.hits) == (2, 5)


def test_large_images_rotate_through_scipy_directly():
    big = np.random.default_rng(2).integers(0, 256, size=(1, 65, 64, 1), dtype=np.uint8)
    t.rotation_matrix.cache_clear()
    np.testing.assert_array_equal(t.rotate_images(big, 30), _scipy_rotate(big, 30, "constant", 0.0))
    assert t.rotation_matrix.cache_info().misses == 0


@pytest.mark.parametrize("fill, cval", [("constant", 0.0), ("constant", 9.0), ("reflect", 0.0), ("nearest", 0.0)])
def test_shift_by_slicing_equals_scipys_shift(fill, cval):
    from scipy import ndimage

    rng = np.random.default_rng(3)
    for x in (rng.integers(0, 256, size=(3, 8, 10, 2), dtype=np.uint8), rng.normal(size=(2, 8, 10, 3))):
        for dy, dx in ((0, 2), (0, -4), (3, 0), (-7, 0), (2, -9), (-1, 1)):
            want = ndimage.shift(x, (0, dy, dx, 0), order=0, mode=fill, cval=cval)
            got = t.shift_images(x, dy, dx, fill=fill, cval=cval)
            np.testing.assert_array_equal(got, want)
            assert got.dtype == x.dtype


@pytest.mark.parametrize("fill", t.FILLS)
@pytest.mark.parametrize("angle, height, width", [(15.0, 32, 32), (33.3, 9, 13), (200.5, 6, 6), (271.0, 5, 11)])
def test_rotation_matrix_equals_scipys_rotation_of_every_basis_image(fill, angle, height, width):
    from scipy import ndimage

    pixels = height * width
    basis = np.eye(pixels).reshape(pixels, height, width)
    want = ndimage.rotate(basis, angle, axes=(1, 2), reshape=False, order=1, mode=fill).reshape(pixels, pixels).T
    matrix, _ = t.rotation_matrix(angle, height, width, fill)
    np.testing.assert_allclose(matrix.toarray(), want, rtol=0, atol=1e-12)
