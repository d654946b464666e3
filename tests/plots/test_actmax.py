"""Activation-maximisation figures: the mosaic holds every tile (magnified by whole pixels) under its caption."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from cnnviz.errors import InvalidArgument
from cnnviz.plots import actmax


def _decoded(source: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB"))


def test_rgb_source_round_trips_colour_and_grey():
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_decoded(actmax.rgb_source(rgb)), rgb)
    grey = rgb[..., :1]
    np.testing.assert_array_equal(_decoded(actmax.rgb_source(grey)), np.repeat(grey, 3, axis=-1))
    with pytest.raises(InvalidArgument, match="got float64"):
        actmax.rgb_source(np.zeros((2, 2, 3)))


def test_mosaic_places_each_magnified_tile_below_its_caption():
    tiles = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (10, 60, 110, 160, 210)])
    tiles[1, 0, 0] = (255, 0, 0)
    fig = actmax.mosaic_figure(tiles, list("abcde"), columns=2, tile_px=8)
    mosaic = _decoded(fig.data[0].source)
    assert [a.text for a in fig.layout.annotations] == list("abcde")
    for i, annotation in enumerate(fig.layout.annotations):  # zoom 2: 8×8 blocks, the caption just above
        left, top = int(annotation.x - 3.5), int(annotation.y + 0.5)
        block = mosaic[top:top + 8, left:left + 8]
        assert block.shape == (8, 8, 3)
        if i == 1:
            np.testing.assert_array_equal(block[:2, :2], np.full((2, 2, 3), (255, 0, 0)))
            block = block[2:, 2:]
        assert (block == tiles[i, 1, 1]).all()


def test_filters_and_top_rows():
    pictures = np.zeros((2, 3, 3, 1), np.uint8)
    top = np.full((2, 4, 3, 3, 1), 200, np.uint8)
    fig = actmax.filters_and_top_figure(pictures, ["f0", "f1"], top, [list("abcd"), list("efgh")], tile_px=9)
    assert [a.text for a in fig.layout.annotations] == ["f0", *"abcd", "f1", *"efgh"]
    with pytest.raises(InvalidArgument, match="N×k×H×W×C"):
        actmax.filters_and_top_figure(pictures, ["f0", "f1"], top[:1], [list("abcd")])
