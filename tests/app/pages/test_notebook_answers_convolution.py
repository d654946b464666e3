"""Notebook questions answered on the Convolution page: the values shown against scipy and Keras (issue 16).

Each check drives the page to the question's set-up and compares what the page shows (a chart's numbers,
its titles, a sentence's numbers) with a reference worked out here: ``scipy.signal.convolve2d``, a Keras
``Conv2D`` layer, the seed's Gaussian formula. Rows of docs/notebooks.md marked ``value
(test_notebook_answers_convolution.py)``.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image
from scipy import signal
from sklearn.datasets import load_sample_image

from cnnviz.data import images
from cnnviz.lessons import convolution as conv
from tests.support.notebook import run_checks
from tests.support.pages import figure, open_page, texts

pytestmark = pytest.mark.slow
PHOTO = "china.jpg"  # the page's first sample photo (scikit-learn's)
SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])  # Wikipedia's, as the notebook's
SOBEL_Y = SOBEL_X.T


def _gray(at) -> np.ndarray:
    """The picture as the page works on it: scikit-learn's photo at the working size, in grey."""
    side = at.select_slider(key="conv_max_side").value
    return images.to_grayscale(images.fit_within(load_sample_image(PHOTO), side)).astype(float)


def _seed_gaussian(size: int, sigma: float) -> np.ndarray:
    """The seed's matlab_style_gauss2D, copied from the notebook."""
    m = n = (size - 1) / 2
    y, x = np.ogrid[-m:m + 1, -n:n + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h / h.sum()


def _panels(at) -> dict[str, tuple[tuple[int, int], np.ndarray, tuple[float, float]]]:
    """The modes chart: ``{mode: (size in its title, the 256 levels it draws, (zmin, zmax))}``."""
    fig = figure(at, "conv_modes_fig")
    scale = fig["layout"]["coloraxis"]
    shown = {}
    titles = [a["text"] for a in fig["layout"]["annotations"] if a["text"].startswith("<b>")]
    levels = [t for t in fig["data"] if t["type"] == "image"]
    for title, trace in zip(titles, levels):
        mode, rows, cols = re.match(r"<b>(\w+)</b><br>(\d+)×(\d+)", title).groups()
        png = base64.b64decode(trace["source"].split(",", 1)[1])
        shown[mode] = ((int(rows), int(cols)), np.asarray(Image.open(io.BytesIO(png))), (scale["cmin"], scale["cmax"]))
    return shown


def _levels(values: np.ndarray, zmin: float, zmax: float) -> np.ndarray:
    return np.round(np.clip((values - zmin) * 255 / (zmax - zmin), 0, 255))


def _assert_modes_match_scipy(at, kernel: np.ndarray) -> None:
    gray = _gray(at)
    for mode, (size, drawn, (zmin, zmax)) in _panels(at).items():
        expected = signal.convolve2d(gray, kernel, mode=mode)
        assert size == expected.shape, (mode, size, expected.shape)
        off = np.abs(drawn.astype(int) - _levels(expected, zmin, zmax))
        assert off.max() <= 1, f"{mode}: the panel is {off.max()} of 256 levels away from convolve2d"


def _kernel_shown(at) -> np.ndarray:
    return np.asarray(figure(at, "conv_kernel_fig")["data"][0]["z"], dtype=float)


def _small_setup(at) -> None:
    at.select_slider(key="conv_max_side").set_value(64).run()


def q1_filters(at):
    """Gaussian blurs, Sobel X/Y take differences across/along rows: the kernels and responses shown are scipy's."""
    _small_setup(at)
    for name, kernel in (("Sobel X", SOBEL_X), ("Sobel Y", SOBEL_Y)):
        at.selectbox(key="conv_kernel").set_value(name).run()
        np.testing.assert_array_equal(_kernel_shown(at), kernel)
        _assert_modes_match_scipy(at, kernel)
    at.selectbox(key="conv_kernel").set_value("Gaussian").run()
    at.slider(key="conv_gauss_size").set_value(5).run()
    at.slider(key="conv_gauss_sigma").set_value(1.0).run()
    np.testing.assert_allclose(_kernel_shown(at), _seed_gaussian(5, 1.0), rtol=1e-6)
    _assert_modes_match_scipy(at, _seed_gaussian(5, 1.0))


def q3_seed_gaussian(at):
    """The seed's set-up: a 15×15 Gaussian (σ 4) at 512 pixels, the kernel shown is the seed's formula."""
    at.button(key="conv_seed_setup").click().run()
    assert at.select_slider(key="conv_max_side").value == 512
    kernel = _kernel_shown(at)
    assert kernel.shape == (15, 15)
    np.testing.assert_allclose(kernel, _seed_gaussian(15, 4.0), rtol=1e-6)
    assert "15×15 kernel" in figure(at, "conv_kernel_fig")["layout"]["title"]["text"]
    _small_setup(at)


def q4_q5_modes(at):
    """'same' keeps the image's size, 'valid' loses k − 1: the sizes and pictures shown are convolve2d's."""
    _small_setup(at)
    at.selectbox(key="conv_kernel").set_value("Gaussian").run()
    for k in (3, 7):
        at.slider(key="conv_gauss_size").set_value(k).run()
        at.slider(key="conv_gauss_sigma").set_value(1.0).run()
        _assert_modes_match_scipy(at, _seed_gaussian(k, 1.0))
        sizes = {mode: size for mode, (size, _, _) in _panels(at).items()}
        rows, cols = _gray(at).shape
        assert sizes == {"full": (rows + k - 1, cols + k - 1), "same": (rows, cols),
                         "valid": (rows - k + 1, cols - k + 1)}


def q2_picture(at):
    """The photo's own size and channels (scikit-learn's file), apart from the working size."""
    height, width, channels = load_sample_image(PHOTO).shape
    side = at.select_slider(key="conv_max_side").value
    work = images.fit_within(load_sample_image(PHOTO), side).shape
    assert (channels, max(work[:2])) == (3, side)
    line = next(t for t in texts(at).splitlines() if t.startswith("**The picture:**"))
    assert f"**The picture:** {height}×{width} pixels (height × width), **{channels} channels**" in line, line
    assert f"**Working size:** {work[0]}×{work[1]}" in line, line


def q6_valid_shrinks(at):
    """Side after each 'valid' layer: the chart's line against convolve2d applied layer after layer."""
    at.number_input(key="conv_shrink_n").set_value(20).run()
    at.slider(key="conv_shrink_k").set_value(5).run()
    at.slider(key="conv_shrink_layers").set_value(6).run()
    lines = {t["name"]: list(t["y"]) for t in figure(at, "conv_shrink_fig")["data"]}
    side, expected = np.ones((20, 20)), [20]
    for _ in range(6):
        side = signal.convolve2d(side, np.ones((5, 5)), mode="valid") if min(side.shape) >= 5 else np.ones((0, 0))
        expected.append(side.shape[0])
    assert lines["valid layers"] == expected == [20, 16, 12, 8, 4, 0, 0]
    assert lines["same layers (zero padding)"] == [20] * 7


def _conv2d_layer(in_ch: int, filters: int, k: int):
    import keras

    layer = keras.layers.Conv2D(filters, k, padding="same", name="q17")
    out = layer.compute_output_shape((None, 32, 32, in_ch))
    layer.build((None, 32, 32, in_ch))
    return layer, out


def _channels_sentence(at, in_ch: int, filters: int, k: int) -> str:
    at.number_input(key="conv_q17_in").set_value(in_ch)
    at.number_input(key="conv_q17_filters").set_value(filters)
    at.number_input(key="conv_q17_k").set_value(k).run()
    return next(m.value for m in at.markdown if m.value.startswith("Each filter is"))


def q7_filter_depth(at):
    """On a colour (3-channel) input each filter is k×k×3: Keras' Conv2D kernel has that shape."""
    layer, _ = _conv2d_layer(3, 32, 7)
    assert f"Each filter is **{'×'.join(map(str, layer.kernel.shape[:3]))}**" in _channels_sentence(at, 3, 32, 7)


def q17_q18_channels_and_parameters(at):
    """128 filters on 32 channels: Keras' output shape and count_params(), split in weights and biases."""
    layer, out = _conv2d_layer(32, 128, 3)
    sentence = _channels_sentence(at, 32, 128, 3)
    assert f"**{'×'.join(map(str, out[1:]))}** output" in sentence, sentence
    assert f"**{out[-1]}** channels" in sentence, sentence
    assert (f"{int(np.prod(layer.kernel.shape)):,} weights + {int(np.prod(layer.bias.shape)):,} biases = "
            f"**{layer.count_params():,}**") in sentence, sentence


def q8_conv2d_is_not_convolve2d(at):
    """Conv2D's output (a Keras layer here) equals Σ convolve2d with flipped filters, not the unflipped sum."""
    import keras

    at.selectbox(key="conv_color_kernel").set_value(conv.COLOR_KERNEL_NAMES[0]).run()
    at.slider(key="conv_color_size").set_value(3).run()
    small = images.fit_within(load_sample_image(PHOTO), at.select_slider(key="conv_max_side").value)
    small = images.fit_within(small, 96).astype(float)
    kernel = conv.color_kernel(conv.COLOR_KERNEL_NAMES[0], 3)
    layer = keras.layers.Conv2D(1, 3, use_bias=False, name="q8")
    layer.build((None, *small.shape))
    layer.set_weights([kernel[..., None]])
    keras_out = np.asarray(layer(small[None].astype("float32")))[0, ..., 0]
    unflipped = sum(signal.convolve2d(small[..., c], kernel[..., c], mode="valid") for c in range(3))
    fig = figure(at, "conv_color_fig")
    panels = {a["text"]: np.asarray(t["z"], dtype=float) for a, t in zip(fig["layout"]["annotations"], fig["data"])}
    np.testing.assert_allclose(panels["<b>Conv2D</b><br>output (sum)"], keras_out, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(panels["Σ convolve2d<br>not flipped"], unflipped, rtol=1e-4, atol=1e-2)
    diff = float(np.abs(keras_out - unflipped).max())
    caption = next(c.value for c in at.caption if c.value.startswith("Conv2D equals"))
    shown = float(re.search(r"without flipping the largest difference is ([\d.e+-]+)", caption).group(1))
    assert shown == pytest.approx(diff, rel=1e-2) and diff > 1, caption


CHECKS = {"seed 000 Q2": q2_picture, "seed 000 Q1": q1_filters, "seed 000 Part 1": q4_q5_modes,
          "seed 000 Q4": q4_q5_modes, "seed 000 Q5": q4_q5_modes, "seed 000 Q6": q6_valid_shrinks,
          "seed 000 Q7": q7_filter_depth, "seed 000 Q8": q8_conv2d_is_not_convolve2d,
          "seed 000 Q17": q17_q18_channels_and_parameters, "seed 000 Q18": q17_q18_channels_and_parameters,
          "seed 000 Q3": q3_seed_gaussian}


def test_convolution_answers(app_path):
    at = open_page(app_path, "app_pages/convolution.py")
    run_checks(at, "convolution", CHECKS)
