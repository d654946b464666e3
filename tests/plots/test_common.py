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
