"""The Convolution page's figures: shared and symmetric colour scales, titles with shapes, timing charts."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.io as pio
from plotly import colors
import pytest
from PIL import Image

from cnnviz.lessons import convolution as conv
from cnnviz.plots import common
from cnnviz.plots import convolution as plots
from tests.support.glyphs import figure_texts, unsafe_characters


def decoded(trace) -> tuple[np.ndarray, np.ndarray]:
    """An image trace's PNG source as (levels H×W, colour table LEVELS×3)."""
    header, data = trace.source.split(",", 1)
    assert header == "data:image/png;base64"
    picture = Image.open(io.BytesIO(base64.b64decode(data)))
    assert picture.mode == "P"
    palette = np.array(picture.getpalette(), dtype=np.uint8).reshape(-1, 3)[:common.LEVELS]
    return np.asarray(picture), palette


def images_of(fig) -> list:
    return [t for t in fig.data if t.type == "image"]


def test_modes_figure_shares_one_scale_and_titles_shapes():
    image = conv.pattern_image("Circle", 32)
    kernel = conv.gaussian_kernel(5, 1.0)
    res = conv.compare_modes(image, kernel)
    fig = plots.modes_figure(res, kernel=kernel)
    assert [t.name for t in images_of(fig)] == ["full", "same", "valid"]
    assert [t.name for t in fig.data if t.type != "image"] == ["colour scale"]
    assert fig.data[-1].marker.coloraxis == "coloraxis"  # the colour bar of the images' scale
    everything = np.concatenate([r.output.ravel() for r in res.values()])
    assert fig.layout.coloraxis.cmin == pytest.approx(everything.min())
    assert fig.layout.coloraxis.cmax == pytest.approx(everything.max())
    assert fig.layout.coloraxis.colorscale[0][1] == "rgb(0, 0, 0)"  # gray, not diverging
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["<b>full</b><br>36×36", "<b>same</b><br>32×32", "<b>valid</b><br>28×28"]
    # The formulas, too long for a phone's panels, are the lines the page writes under the figure.
    assert conv.size_lines(res) == [
        "**full**, 36×36: rows N + k − 1 = 32 + 5 − 1 = 36; columns N + k − 1 = 32 + 5 − 1 = 36",
        "**same**, 32×32: rows N = 32; columns N = 32",
        "**valid**, 28×28: rows N − k + 1 = 32 − 5 + 1 = 28; columns N − k + 1 = 32 − 5 + 1 = 28"]
    # aligned in image coordinates: 'full' starts 2 pixels before the image, 'valid' 2 after
    assert [t.x0 for t in images_of(fig)] == [-2.0, 0.0, 2.0]
    assert [t.y0 for t in images_of(fig)] == [-2.0, 0.0, 2.0]
    assert fig.layout.xaxis.range == fig.layout.xaxis3.range == (-2.5, 33.5)
    assert fig.layout.yaxis2.scaleanchor == "x2"


def test_modes_figure_is_readable_on_a_projector():
    """Titles at full size, not a small <sub>; room between panels for each one's axis labels (issue 14)."""
    res = conv.compare_modes(conv.pattern_image("Circle", 32), conv.gaussian_kernel(5, 1.0))
    fig = plots.modes_figure(res)
    titles = [a for a in fig.layout.annotations]
    assert all("<sub>" not in a.text and a.font.size >= 15 for a in titles)
    domains = [fig.layout[f"xaxis{'' if i == 1 else i}"].domain for i in (1, 2, 3)]
    gaps = [b[0] - a[1] for a, b in zip(domains, domains[1:])]
    assert all(g >= 0.07 for g in gaps), gaps


def test_modes_figure_pixels_are_the_responses_in_256_levels_of_the_colour_bar():
    image = np.random.default_rng(0).integers(0, 256, (40, 33))
    kernel = conv.gaussian_kernel(15, 4.0)
    res = conv.compare_modes(image, kernel)
    fig = plots.modes_figure(res, kernel=kernel)
    lo, hi = fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax
    for trace, r in zip(images_of(fig), res.values()):
        levels, palette = decoded(trace)
        assert levels.shape == r.output.shape
        expected = np.round((r.output - lo) / (hi - lo) * 255)
        np.testing.assert_array_equal(levels, expected)
        # back to values: each pixel within half a level of the response
        np.testing.assert_allclose(lo + levels / 255 * (hi - lo), r.output, atol=(hi - lo) / 255 / 2 + 1e-9)
        scale = fig.layout.coloraxis.colorscale
        ends = [colors.unlabel_rgb(scale[0][1]), colors.unlabel_rgb(scale[-1][1])]
        np.testing.assert_array_equal(palette[[0, 255]], ends)  # the colour bar's ends: black to white


def test_modes_figure_at_512_is_small():
    # the seed's set-up: 15×15 Gaussian on 512×512; a slider move sends one byte a pixel at most, compressed
    image = conv.pattern_image("Circle", 512)
    kernel = conv.gaussian_kernel(15, 4.0)
    fig = plots.modes_figure(conv.compare_modes(image, kernel), kernel=kernel)
    assert [decoded(t)[0].shape for t in images_of(fig)] == [(526, 526), (512, 512), (498, 498)]
    assert len(pio.to_json(fig, validate=False)) < 150_000  # 3 × 512² float32 were 4.6 MB


def test_modes_figure_symmetric_for_signed_kernels():
    res = conv.compare_modes(conv.pattern_image("Step edge", 16), conv.SOBEL_X)
    fig = plots.modes_figure(res, kernel=conv.SOBEL_X)
    assert fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax
    assert fig.layout.coloraxis.cmax == pytest.approx(max(np.abs(r.output).max() for r in res.values()))
    assert fig.layout.coloraxis.colorscale[0][1] != "rgb(0, 0, 0)"  # diverging
    levels, palette = decoded(images_of(fig)[1])
    assert levels[5, 3] == 128 and palette[128].min() >= 240  # 0 is the middle level: near-white
    assert palette[0, 2] > palette[0, 0] and palette[255, 0] > palette[255, 2]  # blue below 0, red above


def test_modes_figure_stays_grey_for_a_blur_with_fft_rounding():
    # a 15×15 blur goes through the FFT, whose rounding can dip a zero response to -1e-14
    kernel = conv.box_kernel(15)
    res = conv.compare_modes(np.zeros((20, 20)) + np.eye(20) * 255, kernel)
    assert plots.modes_figure(res, kernel=kernel).layout.coloraxis.colorscale[0][1] == "rgb(0, 0, 0)"


def test_modes_figure_with_nothing_left_in_valid():
    res = conv.compare_modes(np.ones((2, 2)), conv.gaussian_kernel(5, 1.0))
    fig = plots.modes_figure(res)
    assert [t.name for t in images_of(fig)] == ["full", "same"]
    assert "nothing left" in fig.layout.annotations[-1].text
    assert fig.layout.annotations[2].text == "<b>valid</b><br>0×0"
    assert conv.size_lines(res)[2].endswith("columns N − k + 1 = 2 − 5 + 1 = -2 → nothing left")


def test_kernel_figure_writes_small_kernels_in_numbers():
    fig = plots.kernel_figure(conv.SOBEL_X, title="Sobel X")
    assert fig.data[0].texttemplate == "%{z:.3g}" and fig.data[0].zmin == -2 and fig.data[0].zmax == 2
    big = plots.kernel_figure(conv.gaussian_kernel(15, 2.0))
    assert big.data[0].texttemplate is None and big.data[0].colorscale[0][1] != big.data[0].colorscale[-1][1]


def test_shrink_figure():
    fig = plots.shrink_figure(32, 3, 20)
    assert list(fig.data[0].y) == conv.shrink_after_layers(32, 3, 20)
    assert list(fig.data[1].y) == [32] * 21
    assert fig.layout.title.text == ("N = 32, k = 3: each 'valid' layer removes k − 1 = 2 pixels; nothing is "
                                     "left after 16 layers")
    assert "never shrinks" in plots.shrink_figure(32, 1, 3).layout.title.text


def test_color_identity_figure_one_symmetric_scale():
    rgb = np.random.default_rng(0).integers(0, 256, (12, 14, 3)).astype(np.uint8)
    res = conv.color_identity(rgb, conv.color_kernel("Random (like an untrained filter)"))
    fig = plots.color_identity_figure(res)
    assert len(fig.data) == 8
    assert fig.layout.coloraxis.cmin == -fig.layout.coloraxis.cmax
    titles = [a.text for a in fig.layout.annotations if a.text]
    assert titles[3] == "<b>Conv2D</b><br>output (sum)" and titles[0] == "red<br>* slice 0"
    assert unsafe_characters(figure_texts(fig)) == {}  # issue 14: no "⋆", which common fonts lack
    assert titles[4] == "Σ convolve2d<br>flipped" and titles[6] == "Σ convolve2d<br>not flipped"
    assert titles[5].startswith("Conv2D − Σ<br>max |diff|<br>")
    assert float(titles[5].rsplit("<br>", 1)[1]) < 1e-9
    assert float(titles[7].rsplit("<br>", 1)[1]) > 1  # not flipping gives a different map
    assert fig.layout.annotations[0].font.size == 10  # the largest at which every line fits a phone's panel
    np.testing.assert_allclose(fig.data[3].z, res["conv2d"], rtol=1e-6)


TIMING = {
    "batch_sizes": [2, 100],
    "devices": [{"name": "/device:CPU:0", "label": "CPU", "kind": "CPU"}],
    "seconds": {"CPU": [0.01, 0.3]},
    "speedup": {},
    "gpu_available": False,
    "operation": "32 filters of 7×7×3 over N random 100×100×3 images ('valid' padding)",
    "repeats": 5,
}


def test_timing_figures_without_gpu():
    fig = plots.conv_timing_figure(TIMING)
    assert [t.name for t in fig.data] == ["CPU"] and list(fig.data[0].x) == [2, 100]
    assert fig.layout.yaxis.title.text == "seconds per batch (median of 5)"
    assert plots.speedup_figure(TIMING) is None


def test_timing_figures_with_gpu():
    res = dict(TIMING, gpu_available=True, seconds={"CPU": [0.01, 0.3], "GPU 0": [0.005, 0.01]},
               speedup={"GPU 0": [2.0, 30.0]})
    assert [t.name for t in plots.conv_timing_figure(res).data] == ["CPU", "GPU 0"]
    fig = plots.speedup_figure(res)
    assert list(fig.data[0].y) == [2.0, 30.0]


def test_fft_timing_figure():
    res = {"kernel_sizes": [3, 9], "direct_seconds": [0.01, 0.05], "fft_seconds": [0.02, 0.02],
           "max_abs_difference": [0, 0], "image_shape": (40, 50)}
    fig = plots.fft_timing_figure(res)
    assert [t.name for t in fig.data] == ["convolve2d (direct)", "fftconvolve (FFT)"]
    assert fig.layout.title.text == "'same' convolution of a 40×50 image"


def test_modes_figure_titles_rows_by_columns_and_centres_a_lopsided_signed_scale_on_zero():
    """A 32×20 picture: 'full' is 34×22 (rows × columns, as the formulas under the figure say). A ramp falling to
    black on the right: its Sobel responses reach further above 0 (the bright left edge against the zero padding)
    than below; the diverging scale still runs from −max|r| to +max|r|, so white stays 0."""
    image = np.tile(np.linspace(255, 0, 20), (32, 1))
    res = conv.compare_modes(image, conv.SOBEL_X)
    fig = plots.modes_figure(res, kernel=conv.SOBEL_X)
    assert [a.text for a in fig.layout.annotations][:3] == [
        "<b>full</b><br>34×22", "<b>same</b><br>32×20", "<b>valid</b><br>30×18"]
    everything = np.concatenate([r.output.ravel() for r in res.values()])
    assert -everything.min() < everything.max()  # lopsided, so the centring is the figure's doing
    reach = np.abs(everything).max()
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == pytest.approx((-reach, reach))
