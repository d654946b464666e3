"""Kernels, modes, sizes and the colour Conv2D identity, against references (timings: test_speed.py)."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from scipy import ndimage, signal

from cnnviz.data.datasets import Dataset
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.lessons import convolution as conv


FIXED = {"Sobel X": conv.SOBEL_X, "Sobel Y": conv.SOBEL_Y, "Laplacian": conv.LAPLACIAN,
         "Sharpen": conv.SHARPEN, "Emboss": conv.EMBOSS}


def np_convolve_full(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Textbook 2D convolution with zero padding: every pixel stamps a scaled copy of the kernel."""
    h, w = image.shape
    kh, kw = kernel.shape
    out = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(h):
        for j in range(w):
            out[i:i + kh, j:j + kw] += image[i, j] * kernel
    return out


def np_convolve(image: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    full = np_convolve_full(image, kernel)
    kh, kw = kernel.shape
    h, w = image.shape
    if mode == "full":
        return full
    if mode == "same":  # centred on 'full' as scipy does
        return full[(kh - 1) // 2:(kh - 1) // 2 + h, (kw - 1) // 2:(kw - 1) // 2 + w]
    return full[kh - 1:h, kw - 1:w]


def all_kernels() -> dict[str, np.ndarray]:
    kernels = dict(FIXED)
    kernels["Gaussian 5 σ1"] = conv.gaussian_kernel(5, 1.0)
    kernels["Gaussian 4×6 σ1.5"] = conv.gaussian_kernel((4, 6), 1.5)
    kernels["Box 4"] = conv.box_kernel(4)
    kernels["custom 2×3"] = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    return kernels


# --- kernels ---------------------------------------------------------------------------------


def test_gaussian_matches_matlab_fspecial_3x3_sigma_half():
    h = conv.gaussian_kernel(3, 0.5)
    # MATLAB fspecial('gaussian', 3, 0.5)
    assert h[1, 1] == pytest.approx(0.6193470, abs=5e-8)
    for r, c in [(0, 1), (1, 0), (1, 2), (2, 1)]:
        assert h[r, c] == pytest.approx(0.0838195, abs=5e-8)
    for r, c in [(0, 0), (0, 2), (2, 0), (2, 2)]:
        assert h[r, c] == pytest.approx(0.0113437, abs=5e-8)
    assert h.sum() == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("size,sigma", [(5, 1.0), (4, 0.8), ((3, 7), 2.0), (15, 2.0), (1, 0.3)])
def test_gaussian_sums_to_one_and_matches_the_formula(size, sigma):
    h = conv.gaussian_kernel(size, sigma)
    rows, cols = size if isinstance(size, tuple) else (size, size)
    y = np.arange(rows) - (rows - 1) / 2
    x = np.arange(cols) - (cols - 1) / 2
    ref = np.exp(-(y[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    ref /= ref.sum()
    assert h.shape == (rows, cols)
    assert h.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(h, ref, rtol=1e-12, atol=1e-17)
    np.testing.assert_allclose(h, h[::-1, ::-1])


def test_gaussian_eps_cut_zeroes_negligible_corners():
    h = conv.gaussian_kernel(31, 0.5)
    # exp(-(15² + 15²)/0.5) ≈ 1e-391 underflows anyway; exp(-(7²)/0.5) ≈ 3e-43 < eps: cut to exactly 0
    assert h[15, 15 + 7] == 0.0 and h[15, 15 + 2] > 0
    assert np.count_nonzero(h) < h.size and h.sum() == pytest.approx(1.0)


def test_box_kernel_is_the_mean():
    np.testing.assert_array_equal(conv.box_kernel(3), np.full((3, 3), 1 / 9))
    assert conv.box_kernel(7).sum() == pytest.approx(1.0)


def test_named_kernels_return_copies_of_the_constants():
    for name, value in FIXED.items():
        k = conv.named_kernel(name)
        np.testing.assert_array_equal(k, value)
        k[0, 0] = 99
        assert value[0, 0] != 99
    np.testing.assert_array_equal(conv.named_kernel("Gaussian", size=5, sigma=1.0), conv.gaussian_kernel(5, 1.0))
    np.testing.assert_array_equal(conv.named_kernel("Box blur", size=5), conv.box_kernel(5))
    assert set(conv.KERNEL_SOURCES) == set(conv.KERNEL_NAMES)


def test_kernel_constants_have_the_documented_values():
    assert conv.SOBEL_X.tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    np.testing.assert_array_equal(conv.SOBEL_Y, conv.SOBEL_X.T)
    assert conv.LAPLACIAN.sum() == 0 and conv.SHARPEN.sum() == 1 and conv.EMBOSS.sum() == 1
    assert conv.EMBOSS.tolist() == [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]  # the GIMP manual's emboss matrix
    np.testing.assert_array_equal(conv.SHARPEN, conv.IDENTITY - conv.LAPLACIAN)


def test_sobel_x_responds_positive_to_brightness_growing_rightwards():
    step = conv.pattern_image("Step edge", 16).astype(float)  # dark left, bright right
    out = conv.convolve(step, conv.SOBEL_X, "valid")
    assert out.max() > 0 and out.min() == 0
    assert np.all(conv.convolve(step, conv.SOBEL_Y, "valid") == 0)  # no horizontal edge


@pytest.mark.parametrize("bad,message", [
    (0, "Gaussian size must be a whole number from 1 to 31, got 0"),
    (32, "Gaussian size must be a whole number from 1 to 31, got 32"),
    (2.5, "Gaussian size must be a whole number from 1 to 31, got 2.5"),
])
def test_gaussian_size_errors(bad, message):
    with pytest.raises(InvalidArgument) as err:
        conv.gaussian_kernel(bad, 1.0)
    assert str(err.value) == message


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan"), float("inf"), "1"])
def test_gaussian_sigma_errors(sigma):
    with pytest.raises(InvalidArgument, match="Gaussian sigma must be a number above 0, got "):
        conv.gaussian_kernel(3, sigma)


def test_named_kernel_unknown():
    with pytest.raises(InvalidArgument, match=r"kernel must be one of \['Gaussian', .*'Emboss'\], got 'Blur'"):
        conv.named_kernel("Blur")


# --- custom kernels ----------------------------------------------------------------------------


def test_parse_kernel_text_rows_columns_fractions():
    k = conv.parse_kernel_text(" 1/9, 1/9 ,1/9\n1/9 1/9 1/9;  1/9 1/9 1/9 \n\n")
    np.testing.assert_allclose(k, conv.box_kernel(3))
    np.testing.assert_array_equal(conv.parse_kernel_text("-1.5e0 +2 .5"), [[-1.5, 2.0, 0.5]])
    np.testing.assert_array_equal(conv.parse_kernel_text(conv.kernel_to_text(conv.SHARPEN)), conv.SHARPEN)


@pytest.mark.parametrize("text,message", [
    ("", "the custom kernel is empty: type one row of numbers per line, e.g. '0 -1 0'"),
    ("1 2 3\n4 5", "row 2 has 2 numbers but row 1 has 3 numbers: every row needs the same count"),
    ("1 2\n3", "row 2 has 1 number but row 1 has 2 numbers: every row needs the same count"),
    ("1 x 3", "'x' in row 1 is not a number (write numbers like -1, 0.5 or 1/9)"),
    ("1 2\n3 1/0", "'1/0' in row 2 divides by zero"),
    ("nan 1", "'nan' in row 1 is not a number (write numbers like -1, 0.5 or 1/9)"),
    ("\n".join(["1"] * 8), "a custom kernel can have at most 7 rows, got 8"),
    (" ".join(["1"] * 8), "a custom kernel can have at most 7 numbers per row, row 1 has 8"),
])
def test_parse_kernel_text_errors(text, message):
    with pytest.raises(InvalidArgument) as err:
        conv.parse_kernel_text(text)
    assert str(err.value) == message


@pytest.mark.parametrize("values,message", [
    ([[1, 2], [3]], "a kernel must be rows of numbers with the same length, got [[1, 2], [3]]"),
    ([1, 2, 3], "a kernel is a 2D table of numbers (rows × columns), got shape (3,)"),
    (np.ones((8, 3)), "a custom kernel can be 1×1 up to 7×7, got 8×3"),
    (np.zeros((0, 3)), "a custom kernel can be 1×1 up to 7×7, got 0×3"),
    ([[1.0, np.inf]], "every kernel value must be a finite number; row 1, column 2 is inf"),
])
def test_validate_kernel_errors(values, message):
    with pytest.raises(InvalidArgument) as err:
        conv.validate_kernel(values)
    assert str(err.value) == message


def test_is_signed():
    assert conv.is_signed(conv.SOBEL_X) and conv.is_signed(conv.SHARPEN)
    assert not conv.is_signed(conv.gaussian_kernel(3, 1.0)) and not conv.is_signed(conv.box_kernel(3))


# --- convolve and the modes ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(all_kernels()))
def test_impulse_in_kernel_out(name):
    kernel = all_kernels()[name]
    impulse = np.zeros((1, 1)) + 1.0
    np.testing.assert_allclose(conv.convolve(impulse, kernel, "full"), kernel, atol=1e-15)
    # In a larger image the impulse's 'same' response is the kernel (not flipped), centred.
    image = np.zeros((11, 13))
    image[5, 6] = 1.0
    out = conv.convolve(image, kernel, "same")
    kh, kw = kernel.shape
    top, left = 5 - (kh - 1) // 2, 6 - (kw - 1) // 2
    np.testing.assert_allclose(out[top:top + kh, left:left + kw], kernel, atol=1e-15)
    assert out.sum() == pytest.approx(kernel.sum())


@pytest.mark.parametrize("mode", conv.MODES)
@pytest.mark.parametrize("name", list(all_kernels()))
def test_every_kernel_and_mode_against_numpy(name, mode):
    kernel = all_kernels()[name]
    image = np.random.default_rng(3).integers(0, 256, (12, 17)).astype(np.uint8)
    out = conv.convolve(image, kernel, mode)
    np.testing.assert_allclose(out, np_convolve(image.astype(float), kernel, mode), rtol=1e-12, atol=1e-9)
    assert out.dtype == np.float64


@pytest.mark.parametrize("name", [n for n, k in all_kernels().items() if k.shape[0] % 2 and k.shape[1] % 2])
def test_same_mode_matches_scipy_ndimage_with_zero_padding(name):
    # ndimage.convolve is an independent implementation; for odd kernels it centres like 'same'
    # (it centres even kernels one pixel differently, so those are compared with numpy above).
    kernel = all_kernels()[name]
    image = np.random.default_rng(4).random((10, 9))
    np.testing.assert_allclose(conv.convolve(image, kernel, "same"),
                               ndimage.convolve(image, kernel, mode="constant", cval=0.0), atol=1e-12)


@pytest.mark.parametrize("kshape", [(1, 1), (3, 3), (4, 4), (2, 5), (5, 5), (7, 6), (9, 9), (15, 15), (31, 31)])
@pytest.mark.parametrize("mode", conv.MODES)
def test_every_method_equals_scipy_convolve2d(kshape, mode):
    # The page convolves big kernels through the FFT: the numbers must be convolve2d's, for odd and
    # even kernels (where 'same' has to be centred on 'full' exactly as convolve2d centres it).
    image = np.random.default_rng(7).integers(0, 256, (40, 47)).astype(np.float64)
    kernel = np.random.default_rng(8).standard_normal(kshape)
    reference = signal.convolve2d(image, kernel, mode=mode)
    for method in conv.METHODS:
        out = conv.convolve(image, kernel, mode, method=method)
        assert out.shape == reference.shape
        np.testing.assert_allclose(out, reference, rtol=0, atol=1e-9 * np.abs(reference).max())
    results = conv.compare_modes(image, kernel)
    np.testing.assert_allclose(results[mode].output, reference, rtol=0, atol=1e-9 * np.abs(reference).max())


def test_method_is_chosen_by_kernel_size_and_checked():
    assert conv.choose_method((3, 3)) == conv.choose_method((4, 6)) == conv.choose_method((1, 24)) == "direct"
    assert conv.choose_method((5, 5)) == conv.choose_method((15, 15)) == conv.choose_method((1, 25)) == "fft"
    image = np.random.default_rng(9).random((512, 512))
    gauss = conv.gaussian_kernel(15, 4.0)  # the seed's 15×15 Gaussian on a 512×512 image
    np.testing.assert_allclose(conv.convolve(image, gauss, "valid"), signal.convolve2d(image, gauss, "valid"),
                               rtol=0, atol=1e-12)
    with pytest.raises(InvalidArgument, match=r"method must be one of \('auto', 'direct', 'fft'\), got 'fast'"):
        conv.convolve(image, gauss, method="fast")
    with pytest.raises(InvalidArgument, match=r"method must be one of .*, got 'fast'"):
        conv.compare_modes(image, gauss, method="fast")


@pytest.mark.parametrize("kshape", [(1, 1), (3, 3), (4, 4), (2, 5), (7, 6), (15, 15)])
@pytest.mark.parametrize("ishape", [(20, 20), (17, 31)])
def test_output_shape_formula_matches_actual_shapes(kshape, ishape):
    kernel = np.ones(kshape)
    image = np.ones(ishape)
    for mode in conv.MODES:
        expected = conv.output_shape(ishape, kshape, mode)
        assert conv.convolve(image, kernel, mode).shape == expected
        for axis in range(2):
            n, k = ishape[axis], kshape[axis]
            assert expected[axis] == {"full": n + k - 1, "same": n, "valid": n - k + 1}[mode]


def test_output_shape_seed_numbers_and_formula_text():
    # Seed Part 2: a 512×512 image, a 15×15 Gaussian and 3×3 Sobel filters.
    assert [conv.output_shape(512, 15, m) for m in conv.MODES] == [526, 512, 498]
    assert [conv.output_shape(512, 3, m) for m in conv.MODES] == [514, 512, 510]
    assert conv.output_shape(2, 5, "valid") == 0
    assert conv.shape_formula("full", 512, 15) == "N + k − 1 = 512 + 15 − 1 = 526"
    assert conv.shape_formula("same", 512, 15) == "N = 512"
    assert conv.shape_formula("valid", 512, 15) == "N − k + 1 = 512 − 15 + 1 = 498"
    assert conv.shape_formula("valid", 2, 5) == "N − k + 1 = 2 − 5 + 1 = -2 → nothing left"
    assert conv.MODE_FORMULAS == {"full": "N + k − 1", "same": "N", "valid": "N − k + 1"}
    with pytest.raises(InvalidArgument, match=r"mode must be one of \('full', 'same', 'valid'\), got 'wrap'"):
        conv.output_shape(5, 3, "wrap")


def test_convolve_errors():
    with pytest.raises(InvalidArgument) as err:
        conv.convolve(np.ones((2, 9)), np.ones((3, 3)), "valid")
    assert str(err.value) == (
        "'valid' keeps only positions where the whole 3×3 kernel fits inside the 2×9 image: none do "
        "(N − k + 1 ≤ 0). Use a larger image or a smaller kernel."
    )
    with pytest.raises(InvalidArgument, match=r"2D convolution needs a grayscale image H×W, got shape \(4, 4, 3\)"):
        conv.convolve(np.ones((4, 4, 3)), conv.SOBEL_X)
    with pytest.raises(InvalidArgument, match=r"the image must be 1..1024 pixels on each side, got 1025×2"):
        conv.convolve(np.ones((1025, 2)), conv.SOBEL_X)
    with pytest.raises(InvalidArgument, match="the image must contain finite numbers only"):
        conv.convolve(np.array([[np.nan, 1.0]]), conv.SOBEL_X)
    with pytest.raises(InvalidArgument, match=r"mode must be one of"):
        conv.convolve(np.ones((4, 4)), conv.SOBEL_X, "circular")
    # 'full' and 'same' still work on a 1-pixel-thin image
    assert conv.convolve(np.ones((1, 50)), conv.SOBEL_X, "same").shape == (1, 50)


@pytest.mark.parametrize("kshape", [(3, 3), (4, 2)])
def test_compare_modes_results_and_alignment(kshape):
    image = np.random.default_rng(5).random((9, 12))
    kernel = np.random.default_rng(6).random(kshape)
    res = conv.compare_modes(image, kernel)
    assert list(res) == ["full", "same", "valid"]
    full = res["full"].output
    for mode, r in res.items():
        np.testing.assert_allclose(r.output, np_convolve(image, kernel, mode), atol=1e-12)
        assert r.shape == r.output.shape and r.formula == conv.MODE_FORMULAS[mode]
        # offset difference to 'full' = where this output was cropped from 'full'
        dr, dc = (int(r.offset[0] - res["full"].offset[0]), int(r.offset[1] - res["full"].offset[1]))
        np.testing.assert_allclose(full[dr:dr + r.shape[0], dc:dc + r.shape[1]], r.output)
    assert res["full"].offset == (-(kshape[0] - 1) / 2, -(kshape[1] - 1) / 2)
    assert res["valid"].rows_text == conv.shape_formula("valid", 9, kshape[0])


def test_compare_modes_with_kernel_larger_than_image():
    res = conv.compare_modes(np.ones((2, 2)), conv.gaussian_kernel(5, 1.0))
    assert res["valid"].output is None and res["valid"].shape == (0, 0)
    assert res["full"].shape == (6, 6) and res["same"].shape == (2, 2)


def test_shrink_after_layers():
    assert conv.shrink_after_layers(32, 3, 4) == [32, 30, 28, 26, 24]
    assert conv.shrink_after_layers(10, 5, 4) == [10, 6, 2, 0, 0]
    assert conv.shrink_after_layers(10, 1, 2) == [10, 10, 10]
    assert conv.layers_until_empty(32, 3) == 16 and conv.layers_until_empty(10, 5) == 3
    assert conv.layers_until_empty(10, 1) is None
    # the list agrees with applying real 'valid' convolutions one after another
    image, sizes = np.ones((20, 20)), []
    while image.shape[0] >= 3:
        sizes.append(image.shape[0])
        image = conv.convolve(image, np.ones((3, 3)), "valid")
    assert conv.shrink_after_layers(20, 3, len(sizes) - 1) == sizes
    with pytest.raises(InvalidArgument, match="layers must be a whole number from 0 to 1000, got -1"):
        conv.shrink_after_layers(10, 3, -1)


# --- colour ------------------------------------------------------------------------------------


def np_conv2d_like(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Keras conv_test-style reference: slide the k×k×C filter, multiply, sum everything."""
    kh, kw, _ = kernel.shape
    h, w, _ = image.shape
    out = np.zeros((h - kh + 1, w - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw, :] * kernel)
    return out


@pytest.mark.parametrize("name", conv.COLOR_KERNEL_NAMES)
def test_conv2d_like_against_numpy_and_the_flipped_identity(name):
    rgb = np.random.default_rng(7).integers(0, 256, (10, 13, 3)).astype(np.uint8)
    kernel = conv.color_kernel(name, 3)
    assert kernel.shape == (3, 3, 3)
    out = conv.conv2d_like(rgb, kernel)
    np.testing.assert_allclose(out, np_conv2d_like(rgb.astype(float), kernel), atol=1e-9)
    res = conv.color_identity(rgb, kernel)
    np.testing.assert_allclose(res["conv2d"], out)
    np.testing.assert_allclose(sum(res["per_channel"]), out, atol=1e-9)
    assert res["max_diff_flipped"] < 1e-9
    if name == "Red minus blue":  # symmetric in space: flipping changes nothing
        assert res["kernel_symmetric"] and res["max_diff_unflipped"] < 1e-9
    else:
        assert not res["kernel_symmetric"] and res["max_diff_unflipped"] > 1.0


def test_color_kernels():
    np.testing.assert_array_equal(conv.color_kernel("Sobel X on every channel")[..., 1], conv.SOBEL_X)
    np.testing.assert_array_equal(conv.color_kernel("Random (like an untrained filter)", 5, seed=1),
                                  conv.color_kernel("Random (like an untrained filter)", 5, seed=1))
    assert conv.color_kernel("Sobel X on every channel", 5).shape == (5, 5, 3)
    red_blue = conv.color_kernel("Red minus blue", 3)
    assert conv.conv2d_like(np.full((4, 4, 3), [200, 0, 0], float), red_blue)[0, 0] == pytest.approx(200)
    assert conv.conv2d_like(np.full((4, 4, 3), [0, 0, 200], float), red_blue)[0, 0] == pytest.approx(-200)
    assert conv.conv2d_like(np.full((4, 4, 3), [0, 200, 0], float), red_blue)[0, 0] == pytest.approx(0)
    # a larger "Sobel X" still finds vertical edges: weights fall from left (+1) to right (−1), equal down a column
    sobel5 = conv.color_kernel("Sobel X on every channel", 5)
    for c in range(3):
        np.testing.assert_allclose(sobel5[..., c], np.tile([1.0, 0.5, 0.0, -0.5, -1.0], (5, 1)))
    with pytest.raises(InvalidArgument, match="colour filter must be one of"):
        conv.color_kernel("Blue")


def test_color_errors():
    with pytest.raises(InvalidArgument, match=r"a Conv2D filter for a 3-channel image is k×k×3, got shape \(3, 3\)"):
        conv.conv2d_like(np.ones((5, 5, 3)), np.ones((3, 3)))
    with pytest.raises(InvalidArgument, match=r"a colour image is H×W×C, got shape \(5, 5\)"):
        conv.conv2d_like(np.ones((5, 5)), np.ones((3, 3, 3)))
    with pytest.raises(InvalidArgument, match="the 7×7 filter must fit inside the 5×9 image"):
        conv.conv2d_like(np.ones((5, 9, 3)), np.ones((7, 7, 3)))


@pytest.mark.slow
def test_conv2d_like_equals_keras_conv2d():
    import keras

    rgb = np.random.default_rng(8).random((1, 12, 10, 3)).astype(np.float32)
    kernel = conv.color_kernel("Random (like an untrained filter)", 5, seed=2)
    layer = keras.layers.Conv2D(1, 5, use_bias=False, name="identity_check_conv")
    layer.build(rgb.shape)
    layer.set_weights([kernel[..., None].astype(np.float32)])
    keras_out = np.asarray(layer(rgb))[0, ..., 0]
    np.testing.assert_allclose(conv.conv2d_like(rgb[0], kernel), keras_out, rtol=1e-5, atol=1e-5)


def test_conv_layer_shapes_question_17():
    q17 = conv.conv_layer_shapes(32, 32, 32, 128, 3, padding="same")
    assert q17["output_shape"] == (32, 32, 128)  # one output channel per filter
    assert q17["filter_shape"] == (3, 3, 32)  # each filter spans all 32 input channels
    assert q17["weights"] == 3 * 3 * 32 * 128 and q17["params"] == 3 * 3 * 32 * 128 + 128
    seed = conv.conv_layer_shapes(100, 100, 3, 32, 7)  # seed Part 4
    assert seed["output_shape"] == (94, 94, 32) and seed["filter_shape"] == (7, 7, 3) and seed["params"] == 4736
    with pytest.raises(InvalidArgument, match="padding must be 'valid' or 'same', got 'full'"):
        conv.conv_layer_shapes(8, 8, 3, 4, 3, padding="full")


# --- images to work on -------------------------------------------------------------------------


def test_sample_photos_are_bundled_rgb():
    for name in conv.SAMPLE_PHOTOS:
        photo = conv.sample_photo(name)
        assert photo.shape == (427, 640, 3) and photo.dtype == np.uint8 and photo.std() > 10
    with pytest.raises(InvalidArgument, match="sample photo must be one of"):
        conv.sample_photo("ascent")


def test_patterns():
    step = conv.pattern_image("Step edge", 16)
    assert step.dtype == np.uint8 and step.shape == (16, 16)
    assert (step[:, :8] == 40).all() and (step[:, 8:] == 215).all()
    board = conv.pattern_image("Checkerboard", 64)
    assert board[0, 0] == 230 and board[0, 8] == 25 and board[8, 8] == 230
    circle = conv.pattern_image("Circle", 64)
    assert circle[32, 32] == 220 and circle[0, 0] == 30
    # radius 64 / 3 ≈ 21.3 around the centre (31.5, 31.5): column 52 is 20.5 away (in), column 54 is 22.5 (out)
    assert circle[31, 52] == 220 and circle[31, 54] == 30 and circle[31, 11] == 220 and circle[31, 9] == 30
    np.testing.assert_array_equal(circle, circle.T)
    with pytest.raises(InvalidArgument, match="pattern must be one of"):
        conv.pattern_image("Stripes")


def test_cifar10_unavailable_is_passed_on(monkeypatch):
    from cnnviz.data import datasets

    def missing(name, **_):
        raise Unavailable(f"{name} is not on this machine: run cnnviz data get {name}")

    monkeypatch.setattr(datasets, "load", missing)
    with pytest.raises(Unavailable, match="cifar10 is not on this machine"):
        conv.cifar10_test_images(5)


def test_cifar10_test_images_from_the_datasets_module(monkeypatch):
    from cnnviz.data import datasets

    fake = Dataset(name="cifar10", x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=np.zeros(2, np.int64),
                   x_test=np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 32, 32, 3), np.uint8),
                   y_test=np.arange(10, dtype=np.int64), class_names=tuple("abcdefghij"), source="test")
    monkeypatch.setattr(datasets, "load", lambda name, **_: fake)
    x, y, names = conv.cifar10_test_images(3)
    assert x.shape == (3, 32, 32, 3) and y.tolist() == [0, 1, 2] and names == tuple("abcdefghij")


def test_doctests():
    result = doctest.testmod(conv)
    assert result.attempted >= 5 and result.failed == 0  # with test_speed.py's 2: the 7 of before the split


def test_the_method_sentence_says_where_its_speed_rule_was_measured():
    """Which way is faster depends on the picture (on 32×32 the direct way stayed quicker up to 11×11): the
    modes' caption said 'from 25 weights on the FFT is faster' as a fact, under a timing that could show the
    opposite. It now names where the rule was measured and points at that timing."""
    for shape in ((3, 3), (5, 5), (15, 15)):
        text = conv.method_text(shape)
        assert "on a 512×512 picture" in text and "'Direct or FFT?' below times both on this picture" in text
        assert " is faster" not in text and " are quicker" not in text
