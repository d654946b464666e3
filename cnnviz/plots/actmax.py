"""Figures for "what a filter or a class looks for": activation-maximisation pictures, each beside the test
images that excite its channel most, drawn as one mosaic picture (one trace, however many tiles)."""

from __future__ import annotations

import base64
import io
import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from cnnviz.errors import InvalidArgument

CAPTION_PX = 30  # two short lines of 10-pixel text above each tile


def rgb_source(image_uint8: np.ndarray) -> str:
    """An H×W×3 (or ×1) uint8 picture as a PNG data URI."""
    img = np.asarray(image_uint8)
    if img.ndim != 3 or img.shape[-1] not in (1, 3) or img.dtype != np.uint8:
        raise InvalidArgument(f"need an H×W×1 or H×W×3 uint8 image, got {img.dtype} {img.shape}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img[..., 0] if img.shape[-1] == 1 else img)).save(
        buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def mosaic_figure(tiles: np.ndarray, titles: Sequence[str], *, columns: int, tile_px: int = 72,
                  title: str | None = None) -> go.Figure:
    """Same-sized colour tiles N×H×W×C (C 1 or 3, uint8) as one picture with a caption above each (white gaps).

    Tiles are magnified by a whole factor (pixel blocks, not blur): a 32×32 picture is 32 numbers a side.
    """
    tiles = np.asarray(tiles)
    if tiles.ndim != 4 or tiles.dtype != np.uint8 or tiles.shape[-1] not in (1, 3) or len(titles) != len(tiles):
        raise InvalidArgument(f"tiles must be N×H×W×1 or ×3 uint8 with one title each, got {tiles.dtype} "
                              f"{tiles.shape} and {len(titles)} titles")
    n, h, w, _ = tiles.shape
    if tiles.shape[-1] == 1:
        tiles = np.repeat(tiles, 3, axis=-1)
    zoom = max(1, round(tile_px / max(h, w)))
    tiles = tiles.repeat(zoom, axis=1).repeat(zoom, axis=2)
    h, w = h * zoom, w * zoom
    columns = max(1, min(int(columns), n))
    rows = math.ceil(n / columns)
    gap_x, gap_y = max(2, w // 12), max(2, round(h * CAPTION_PX / tile_px))
    mosaic = np.full((gap_y + rows * (h + gap_y) - gap_y, columns * (w + gap_x) - gap_x, 3), 255, np.uint8)
    annotations = []
    for i, (tile, text) in enumerate(zip(tiles, titles)):
        top, left = gap_y + (i // columns) * (h + gap_y), (i % columns) * (w + gap_x)
        mosaic[top:top + h, left:left + w] = tile
        annotations.append(dict(text=str(text), x=left + (w - 1) / 2, y=top - 0.5, xref="x", yref="y",
                                yanchor="bottom", showarrow=False, font=dict(size=10)))
    fig = go.Figure(go.Image(source=rgb_source(mosaic), hoverinfo="skip"))
    top_margin = 40 if title else 10
    fig.update_layout(title=title, annotations=annotations, height=rows * (tile_px + CAPTION_PX) + top_margin + 5,
                      margin=dict(l=5, r=5, t=top_margin, b=5),
                      xaxis=dict(visible=False, constrain="domain"),
                      yaxis=dict(visible=False, scaleanchor="x", constrain="domain", autorange="reversed"))
    return fig


def pictures_figure(pictures: np.ndarray, titles: Sequence[str], *, columns: int = 8, tile_px: int = 80,
                    title: str | None = None) -> go.Figure:
    """A grid of activation-maximisation pictures (N×H×W×C uint8), one caption each."""
    return mosaic_figure(pictures, titles, columns=columns, tile_px=tile_px, title=title)


def filters_and_top_figure(pictures: np.ndarray, picture_titles: Sequence[str], top: np.ndarray,
                           top_titles: Sequence[Sequence[str]], *, tile_px: int = 56,
                           title: str | None = None) -> go.Figure:
    """One row per filter: its picture, then the ``k`` test images that excite it most (``top``: N×k×H×W×C)."""
    top = np.asarray(top)
    if top.ndim != 5 or len(top) != len(pictures) or top.shape[2:] != np.shape(pictures)[1:]:
        raise InvalidArgument(f"top images must be N×k×H×W×C with the pictures' N and size, got {top.shape} "
                              f"for pictures {np.shape(pictures)}")
    k = top.shape[1]
    tiles = np.concatenate([np.asarray(pictures)[:, None], top], axis=1).reshape(-1, *top.shape[2:])
    titles = [t for row, name in enumerate(picture_titles) for t in (name, *top_titles[row])]
    return mosaic_figure(tiles, titles, columns=k + 1, tile_px=tile_px, title=title)
