"""Shared figure builders: the one-trace tile picture and the image-encoded heat maps."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.plots import common
from tests.support.images import source_pixels


def test_tile_figure_places_each_tile_under_its_caption_in_rows():
    tiles = np.arange(7 * 4 * 5, dtype=np.uint8).reshape(7, 4, 5)
    fig = common.tile_figure(tiles, titles=[f"t{i}" for i in range(7)], columns=3, tile_px=40, title="seven")
    assert len(fig.data) == 1 and fig.layout.title.text == "seven"
    mosaic = source_pixels(fig.data[0])
    assert mosaic.ndim == 2  # one grey PNG
    captions = fig.layout.annotations
    assert [c.text for c in captions] == [f"t{i}" for i in range(7)]
    assert len({c.y for c in captions}) == 3 and len({c.x for c in captions}) == 3  # 3 rows of up to 3
    for caption, tile in zip(captions, tiles):
        top, left = int(caption.y + 0.5), int(caption.x - 2)
        np.testing.assert_array_equal(mosaic[top:top + 4, left:left + 5], tile)
    assert fig.layout.yaxis.scaleanchor == "x"  # square pixels


def test_tile_figure_checks_its_input():
    with pytest.raises(InvalidArgument, match=r"tiles must be N×H×W uint8 with one title each, got float64"):
        common.tile_figure(np.zeros((2, 3, 3)), titles=["a", "b"])
    with pytest.raises(InvalidArgument, match=r"got uint8 \(2, 3, 3\) and 1 titles"):
        common.tile_figure(np.zeros((2, 3, 3), np.uint8), titles=["a"])


def test_quantise_and_colour_table():
    levels = common.quantise(np.array([-5.0, 0.0, 5.0, 10.0, 20.0]), 0.0, 10.0)
    np.testing.assert_array_equal(levels, [0, 0, 128, 255, 255])  # clipped outside the scale
    table = common.colour_table("gray")
    assert table.shape == (common.LEVELS, 3) and table.dtype == np.uint8
    assert (np.diff(table[:, 0].astype(int)) >= 0).all()  # dark to light


def test_legends_sit_below_the_axis_titles_not_over_them():
    """A horizontal legend at paper y = -0.25 (or Plotly's default) covered the x-axis title on a projector
    (issue 14): every legend is at the figure's bottom edge, with a margin that holds both."""
    from cnnviz.plots import datasets as dplots
    from cnnviz.plots import training as tplots

    figures = {
        "class counts": dplots.class_counts_bar({"train": [30, 40], "validation": [1, 2], "test": [5, 6]},
                                                ["cat", "dog"], stacked=True),
        "curves": common.curves({"a": [1, 2], "b": [2, 1]}, title="t"),
        "live curves": tplots.live_curves({"x": [0.5, 1.0], "loss": [1.0, 0.8], "accuracy": [0.1, 0.2],
                                           "epoch_loss": [0.8], "epoch_accuracy": [0.2],
                                           "epoch_val_loss": [0.9], "epoch_val_accuracy": [0.15]}),
        "pixel histogram": dplots.pixel_histogram(np.zeros((4, 4, 3), dtype=np.uint8)),
    }
    for name, fig in figures.items():
        legend = fig.layout.legend
        assert (legend.yref, legend.y, legend.yanchor) == ("container", 0.0, "bottom"), name
        assert fig.layout.margin.b >= common.LEGEND_MARGIN, name


def test_thin_bands_hide_their_count_instead_of_squeezing_it():
    """The validation band's counts were drawn so small they showed as "□" on a projector (issue 14)."""
    from cnnviz.plots import datasets as dplots

    fig = dplots.class_counts_bar({"train": [300, 400], "validation": [1, 2]}, ["cat", "dog"], stacked=True)
    assert fig.layout.uniformtext.mode == "hide" and fig.layout.uniformtext.minsize >= 11


@pytest.mark.parametrize("n, columns, titled", [(2, 2, True), (5, 3, True), (7, 8, False), (1, 4, True)])
def test_image_grid_lays_out_as_make_subplots_did(n, columns, titled):
    # image_grid builds one layout dict (make_subplots cost 70-110 ms of Convolution's first chart): the same
    # axis domains, captions and pixels as the make_subplots grid it replaced.
    from plotly.subplots import make_subplots

    rng = np.random.default_rng(n)
    images = [rng.integers(0, 256, (6, 5, 3), dtype=np.uint8) for _ in range(n)]
    titles = [f"image {i}" for i in range(n)] if titled else None
    colors = ["green", "red"] * n if titled else None
    fig = common.image_grid(images, titles=titles, title_colors=colors, columns=columns, tile_px=50, title="Grid")
    cols = min(columns, n)
    rows = -(-n // cols)
    caption_px = 22 if titled else 4
    plot_px = fig.layout.height - fig.layout.margin.t - 5
    ref = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.01,
                        vertical_spacing=min(caption_px / plot_px, 0.9 / (rows - 1)) if rows > 1 else 0.0)
    assert len(fig.data) == n
    for i, trace in enumerate(fig.data):
        suffix = "" if i == 0 else str(i + 1)
        assert (trace.xaxis, trace.yaxis) == (f"x{suffix}", f"y{suffix}")
        np.testing.assert_array_equal(np.asarray(trace.z), images[i])
        for axis in ("xaxis", "yaxis"):
            ours, theirs = fig.layout[axis + suffix], ref.layout[axis + suffix]
            np.testing.assert_allclose(ours.domain, theirs.domain, atol=1e-9)
            assert ours.anchor == theirs.anchor and ours.visible is False
    if titled:
        for ours, theirs, color in zip(fig.layout.annotations, ref.layout.annotations, colors):
            assert (ours.text, ours.xanchor, ours.yanchor, ours.xref, ours.yref) == \
                (theirs.text, theirs.xanchor, theirs.yanchor, theirs.xref, theirs.yref)
            assert ours.x == pytest.approx(theirs.x) and ours.y == pytest.approx(theirs.y)
            assert (ours.font.size, ours.font.color) == (11, color)
    else:
        assert not fig.layout.annotations
    assert fig.layout.title.text == "Grid"


def test_common_doctests():
    import doctest

    assert doctest.testmod(common).failed == 0
