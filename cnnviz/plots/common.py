"""Shared figure builders: image grids, heat maps, training curves."""

from __future__ import annotations

import base64
import functools
import io
import math
import re
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly import colors

from cnnviz.errors import InvalidArgument

#: Colour levels of an image-encoded heat map: what the eye tells apart on a colour bar.
LEVELS = 256
#: A horizontal legend at the bottom edge of the whole figure (container coordinates), under the x-axis
#: title: at paper y = -0.25, or Plotly's default spot, it covered "epoch" or "class" on a projector.
LEGEND_BELOW = dict(orientation="h", yref="container", y=0.0, yanchor="bottom", x=0.0, xanchor="left")
#: Bottom margin (pixels) that holds the x-axis title and :data:`LEGEND_BELOW` one above the other.
LEGEND_MARGIN = 90
#: The narrowest figure the captions are fitted to: a phone's page 390 px wide, less Streamlit's 1rem margins.
#: Side-by-side captions as long as on a projector ran into each other there.
NARROW_PX = 358
#: A character's width in font sizes, on the generous side: Streamlit draws Plotly's text in Source Sans, whose
#: captions here measured 0.42-0.48 of the font size a character in Chromium.
CHAR_EM = 0.5
#: Caption font sizes (pixels), largest first.
CAPTION_SIZES = (11, 10, 9)
_TAG = re.compile(r"<[^>]*>")


def visible_length(text: str) -> int:
    """Characters of ``text`` a reader sees on its longest line (Plotly's tags such as <b> left out).

    >>> visible_length("<b>full</b>: 36×36<br>rows")
    11
    """
    return max(len(_TAG.sub("", line)) for line in text.split("<br>"))


def wrap_words(text: str, width: int) -> str:
    """``text`` with a <br> between words wherever a line would pass ``width`` characters, the lines
    of each paragraph about as long as each other (a word longer than ``width`` stays whole).

    >>> wrap_words("grayscale for 2D work: 32×32 (1 channel)", 26)
    'grayscale for 2D work:<br>32×32 (1 channel)'
    """
    lines = []
    for paragraph in text.split("<br>"):
        words = paragraph.split(" ")
        count = len(_greedy(words, width))
        # the narrowest width that needs no more lines than ``width`` does: balanced lines, no lone last word
        even = min(w for w in range(1, max(width, 1) + 1) if len(_greedy(words, w)) <= count)
        lines += _greedy(words, max(even, 1))
    return "<br>".join(lines)


def _greedy(words: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and visible_length(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def fitted_captions(texts: Sequence[str], column_px: float) -> tuple[int, list[str]]:
    """A font size of :data:`CAPTION_SIZES` and ``texts`` fitted to columns ``column_px`` pixels wide, so that
    captions side by side do not run into each other: as they are at the largest size where every line fits,
    else wrapped between words at the largest size where every word fits."""
    texts = [str(t) for t in texts]
    longest_line = max((visible_length(t) for t in texts), default=1)
    for size in CAPTION_SIZES:
        if longest_line * size * CHAR_EM <= column_px:
            return size, texts
    longest_word = max((visible_length(w) for t in texts for w in re.split(r" |<br>", t)), default=1)
    size = next((s for s in CAPTION_SIZES if longest_word * s * CHAR_EM <= column_px), CAPTION_SIZES[-1])
    return size, [wrap_words(t, max(1, int(column_px // (size * CHAR_EM)))) for t in texts]


def as_display_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 H×W×3 for ``go.Image``: grayscale is repeated, floats are min-max scaled."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        lo, hi = float(np.min(img)), float(np.max(img))
        img = np.zeros_like(img) if hi <= lo else (img - lo) / (hi - lo)
        img = np.round(img * 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img


def image_grid(
    images: Sequence[np.ndarray],
    *,
    titles: Sequence[str] | None = None,
    title_colors: Sequence[str] | None = None,
    columns: int = 8,
    tile_px: int = 96,
    title: str | None = None,
) -> go.Figure:
    """A grid of small images with optional per-image titles (colours e.g. green/red).

    Args:
        images: arrays H×W, H×W×1 or H×W×3; uint8 is shown as is, floats min-max scaled.
        titles: one caption per image.
        title_colors: one CSS colour per caption.
        columns: images per row.
        tile_px: approximate pixel size of each tile.
        title: figure title.
    Returns:
        A Plotly figure.
    """
    n = len(images)
    if n == 0:
        fig = go.Figure()
        fig.update_layout(title=title or "No images", height=120)
        return fig
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    gap_x = 0.01  # a share of the width between columns
    caption_size, lines = 11, 1
    if titles is not None:  # fitted to a column of a phone's figure (NARROW_PX, less the margins)
        caption_size, titles = fitted_captions(titles, (NARROW_PX - 10) * (1 - gap_x * (columns - 1)) / columns)
        lines = max(t.count("<br>") + 1 for t in titles)
    caption_px = 22 + 16 * (lines - 1) if titles is not None else 4
    margin_t = (40 if title else 10) + (caption_px - 2 if titles is not None else 0)  # captions above the first row
    height = rows * (tile_px + caption_px) + (40 if title else 10)
    plot_px = height - margin_t - 5
    # One layout dict, not make_subplots (its axes and per-axis updates took 70-110 ms for Convolution's first
    # chart of two images under load): the same domains, captions and hidden axes as make_subplots gives.
    gap_y = min(caption_px / plot_px, 0.9 / (rows - 1)) if rows > 1 else 0.0  # each row's captions get their pixels
    cell_w, cell_h = (1 - gap_x * (columns - 1)) / columns, (1 - gap_y * (rows - 1)) / rows
    layout: dict = {"title": title, "height": height, "margin": dict(l=5, r=5, t=margin_t, b=5), "annotations": []}
    traces = []
    for i, img in enumerate(images):
        row, col = divmod(i, columns)
        x0, y1 = col * (cell_w + gap_x), 1 - row * (cell_h + gap_y)
        x_name, y_name = ("x", "y") if i == 0 else (f"x{i + 1}", f"y{i + 1}")
        layout[f"xaxis{i + 1 if i else ''}"] = dict(domain=[x0, min(1.0, x0 + cell_w)], anchor=y_name, visible=False)
        layout[f"yaxis{i + 1 if i else ''}"] = dict(domain=[max(0.0, y1 - cell_h), y1], anchor=x_name, visible=False)
        traces.append(go.Image(z=as_display_rgb(img), hoverinfo="skip", xaxis=x_name, yaxis=y_name))
        if titles is not None:
            layout["annotations"].append(dict(
                text=str(titles[i]), x=x0 + cell_w / 2, y=y1, xref="paper", yref="paper", xanchor="center",
                yanchor="bottom", showarrow=False,
                font=dict(size=caption_size, color=title_colors[i] if title_colors else None)))
    fig = go.Figure(data=traces, layout=layout)
    return fig


def tile_figure(
    tiles: np.ndarray,
    *,
    titles: Sequence[str],
    columns: int = 8,
    tile_px: int = 96,
    title: str | None = None,
) -> go.Figure:
    """Same-sized grey tiles as one picture with a caption above each: one trace, not a subplot each.

    ``image_grid`` with 32 tiles spends ~90 ms in ``make_subplots`` and per-axis updates; one
    mosaic trace takes a few, sent as one grey PNG. The gaps between tiles are white.

    Args:
        tiles: N×H×W uint8 display images.
        titles: one caption per tile.
        columns: tiles per row.
        tile_px: approximate pixel size of each tile on screen.
        title: figure title.
    """
    tiles = np.asarray(tiles)
    if tiles.ndim != 3 or tiles.dtype != np.uint8 or len(titles) != len(tiles):
        raise InvalidArgument(f"tiles must be N×H×W uint8 with one title each, got {tiles.dtype} {tiles.shape} "
                              f"and {len(titles)} titles")
    n, h, w = tiles.shape
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    caption_px = 22
    gap_x = max(1, math.ceil(w * 6 / tile_px))  # ~6 screen pixels between columns
    gap_y = max(1, math.ceil(h * caption_px / tile_px))  # a caption's height between rows
    mosaic = np.full((gap_y + rows * (h + gap_y) - gap_y, columns * (w + gap_x) - gap_x), 255, np.uint8)
    annotations = []
    for i, (tile, text) in enumerate(zip(tiles, titles)):
        top, left = gap_y + (i // columns) * (h + gap_y), (i % columns) * (w + gap_x)
        mosaic[top:top + h, left:left + w] = tile
        annotations.append(dict(text=str(text), x=left + (w - 1) / 2, y=top - 0.5, xref="x", yref="y",
                                yanchor="bottom", showarrow=False, font=dict(size=11)))
    fig = go.Figure(go.Image(source=png_source(mosaic), hoverinfo="skip"))
    top_margin = 40 if title else 10
    fig.update_layout(
        title=title, annotations=annotations, height=rows * (tile_px + caption_px) + top_margin + 5,
        margin=dict(l=5, r=5, t=top_margin, b=5),
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, scaleanchor="x", constrain="domain", autorange="reversed"),
    )
    return fig


@functools.lru_cache(maxsize=16)
def colour_table(colorscale: str) -> np.ndarray:
    """``LEVELS``×3 uint8: Plotly's named ``colorscale`` sampled evenly from its low end to its high end."""
    points = np.linspace(0.0, 1.0, LEVELS).tolist()
    sampled = colors.sample_colorscale(colors.get_colorscale(colorscale), points, colortype="rgb")
    table = np.array([colors.unlabel_rgb(c) for c in sampled], dtype=float)
    return np.round(table).astype(np.uint8)


def quantise(values: np.ndarray, zmin: float, zmax: float) -> np.ndarray:
    """``values`` as uint8 levels 0..LEVELS − 1 on the scale ``zmin``..``zmax`` (clipped outside it)."""
    span = (zmax - zmin) or 1.0
    scaled = (np.asarray(values, dtype=np.float64) - zmin) * ((LEVELS - 1) / span)
    return np.round(np.clip(scaled, 0, LEVELS - 1)).astype(np.uint8)


def png_source(levels: np.ndarray, colorscale: str | None = None) -> str:
    """A PNG as a data URI: one byte a pixel, coloured by ``colour_table(colorscale)`` (a palette
    image), or grey levels as they are when ``colorscale`` is None.

    A 512×512 heat map sent this way is 50-200 KB instead of 1.4 MB of float32, and the
    browser draws it as a plain picture.
    """
    picture = Image.fromarray(np.ascontiguousarray(levels, dtype=np.uint8))
    if colorscale is not None:
        picture.putpalette(colour_table(colorscale).ravel().tolist())  # makes it a palette ("P") image
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # level 1: 3 ms, within 15% of the smallest file
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def colour_bar_trace(zmin: float, zmax: float, coloraxis: str = "coloraxis") -> go.Scatter:
    """An invisible trace that makes Plotly draw ``coloraxis``'s colour bar for image-encoded heat maps."""
    return go.Scatter(x=[None, None], y=[None, None], mode="markers", name="colour scale", showlegend=False,
                      hoverinfo="skip", marker=dict(color=[zmin, zmax], coloraxis=coloraxis))


def heatmap(
    values: np.ndarray,
    *,
    title: str | None = None,
    symmetric: bool = False,
    zrange: tuple[float, float] | None = None,
    colorscale: str | None = None,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    text_format: str | None = None,
) -> go.Figure:
    """A 2D array as a heat map with the image convention (row 0 at the top).

    ``symmetric`` centres a diverging scale on 0 (for signed filter responses);
    ``zrange`` shares one scale between several maps.
    """
    values = np.asarray(values, dtype=float)
    if zrange is None and symmetric:
        m = float(np.max(np.abs(values))) or 1.0
        zrange = (-m, m)
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=list(x_labels) if x_labels is not None else None,
            y=list(y_labels) if y_labels is not None else None,
            zmin=zrange[0] if zrange else None,
            zmax=zrange[1] if zrange else None,
            colorscale=colorscale or ("RdBu_r" if symmetric else "gray"),
            texttemplate=text_format,
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x" if x_labels is None else None)
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def curves(
    series: dict[str, Sequence[float]],
    *,
    x: Sequence[float] | None = None,
    title: str | None = None,
    x_title: str = "epoch",
    y_title: str = "",
    dashed: Sequence[str] = (),
) -> go.Figure:
    """Line chart of named series (e.g. ``{"loss": [...], "val_loss": [...]}``)."""
    fig = go.Figure()
    for name, ys in series.items():
        xs = list(x) if x is not None else list(range(1, len(ys) + 1))
        fig.add_trace(
            go.Scatter(x=xs[: len(ys)], y=list(ys), mode="lines+markers", name=name,
                       line=dict(dash="dash" if name in dashed else None))
        )
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=LEGEND_MARGIN), legend=LEGEND_BELOW)
    return fig
