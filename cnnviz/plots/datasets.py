"""Figures of the Datasets page: class counts, samples per class, one image's pixels,
pixel histograms before/after scaling, augmentation before/after.

Histograms are binned here with numpy and drawn as bars, so a figure carries 64 numbers
per channel instead of millions of pixel values.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.plots.common import LEGEND_BELOW, LEGEND_MARGIN

CHANNEL_COLORS = {1: ("grey",), 3: ("red", "green", "blue")}
CHANNEL_NAMES = {1: ("grey",), 3: ("R", "G", "B")}
CHANNEL_SCALES = {1: ("gray",), 3: ("Reds", "Greens", "Blues")}
HISTOGRAM_BINS = 64
MAX_TEXT_SIDE = 16  # print pixel values on the heat map only when they stay readable
SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}


def _margins(title: str | None, *, legend: bool = False) -> dict:
    return dict(l=10, r=10, t=40 if title else 10, b=LEGEND_MARGIN if legend else 10)


def class_counts_bar(counts: dict[str, Sequence[int]], class_names: Sequence[str],
                     *, title: str | None = None, stacked: bool = False) -> go.Figure:
    """Bars of images per class, one series per split (e.g. ``{"train": [...], "test": [...]}``)."""
    fig = go.Figure()
    for split, values in counts.items():
        fig.add_trace(go.Bar(x=list(class_names), y=[int(v) for v in values], name=split,
                             marker_color=SPLIT_COLORS.get(split), text=[int(v) for v in values],
                             textposition="auto"))
    fig.update_layout(title=title, barmode="stack" if stacked else "group", xaxis_title="class", xaxis_type="category",
                      yaxis_title="images", margin=_margins(title, legend=True), legend=LEGEND_BELOW,
                      uniformtext=dict(minsize=11, mode="hide"))  # no squeezed, unreadable count in a thin band
    return fig


def _rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image, dtype=np.uint8)
    if img.ndim == 2:
        img = img[..., None]
    return np.repeat(img, 3, axis=-1) if img.shape[-1] == 1 else img


def mosaic(rows: Sequence[Sequence[np.ndarray]], row_labels: Sequence[str], *,
           column_labels: Sequence[str] | None = None, title: str | None = None,
           tile_px: int = 64, gap: int = 1) -> go.Figure:
    """Equal-sized uint8 images tiled into one picture, a label per row (and column).

    One ``go.Image`` instead of a subplot per image: ~20× faster to build and send than
    :func:`cnnviz.plots.common.image_grid` for grids of tens of images.
    """
    cols = max((len(r) for r in rows), default=0)
    if not rows or cols == 0:
        fig = go.Figure()
        fig.update_layout(title=title or "No images", height=120)
        return fig
    h, w = _rgb(next(img for r in rows for img in r)).shape[:2]
    canvas = np.full((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            canvas[i * (h + gap): i * (h + gap) + h, j * (w + gap): j * (w + gap) + w] = _rgb(img)
    fig = go.Figure(go.Image(z=canvas, hoverinfo="skip"))
    fig.update_yaxes(tickvals=[i * (h + gap) + h / 2 for i in range(len(rows))], ticktext=list(row_labels),
                     showgrid=False, zeroline=False)
    # Column labels turn upright where they would run into each other (eight class names on a phone), not 30°
    # as by default, where "truck" still ran into "automobile".
    fig.update_xaxes(showgrid=False, zeroline=False, side="top", autotickangles=[0, 90],
                     tickvals=[j * (w + gap) + w / 2 for j in range(cols)] if column_labels else [],
                     ticktext=list(column_labels) if column_labels else None)
    scale = tile_px / max(h, w)
    fig.update_layout(title=title, height=int(len(rows) * tile_px + 60),
                      width=int(cols * w * scale + 140), margin=dict(l=10, r=10, t=60 if title else 30, b=10))
    return fig


def samples_per_class(images_by_class: Sequence[Sequence[np.ndarray]], class_names: Sequence[str],
                      *, title: str | None = None) -> go.Figure:
    """A grid with one row per class (seed 001's PlotRandomFromEachClass)."""
    return mosaic(images_by_class, class_names, title=title, tile_px=56)


def channel_values(image: np.ndarray, *, title: str | None = None) -> go.Figure:
    """One heat map per channel of an image; the pixel values are printed on small images."""
    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    c = img.shape[-1]
    names, scales = CHANNEL_NAMES[c], CHANNEL_SCALES[c]
    fig = make_subplots(rows=1, cols=c, subplot_titles=[f"{n} channel" for n in names],
                        horizontal_spacing=0.04)
    show_text = max(img.shape[:2]) <= MAX_TEXT_SIDE
    for i in range(c):
        fig.add_trace(go.Heatmap(z=img[..., i], zmin=0, zmax=255, colorscale=scales[i], showscale=False,
                                 texttemplate="%{z}" if show_text else None, textfont=dict(size=9),
                                 hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>"),
                      row=1, col=i + 1)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    for i in range(2, c + 1):  # keep every channel square
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=70 if title else 40, b=10))
    return fig


def _histogram_traces(values: np.ndarray, value_range: tuple[float, float], bins: int) -> list[go.Bar]:
    arr = np.asarray(values)
    c = arr.shape[-1] if arr.ndim >= 3 else 1
    flat = arr.reshape(-1, c)
    lo, hi = value_range
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    names = CHANNEL_NAMES.get(c, tuple(str(i) for i in range(c)))
    colors = CHANNEL_COLORS.get(c, (None,) * c)
    return [go.Bar(x=centres, y=np.histogram(flat[:, i], bins=edges)[0], name=names[i], marker_color=colors[i],
                   opacity=0.6, width=(hi - lo) / bins, legendgroup=names[i]) for i in range(c)]


def pixel_histogram(values: np.ndarray, *, value_range: tuple[float, float] = (0, 255),
                    bins: int = HISTOGRAM_BINS, title: str | None = None,
                    x_title: str = "pixel value") -> go.Figure:
    """Histogram of pixel values per channel (last axis is the channel)."""
    fig = go.Figure(_histogram_traces(values, value_range, bins))
    fig.update_layout(title=title, barmode="overlay", bargap=0, xaxis_title=x_title, yaxis_title="pixels",
                      margin=_margins(title, legend=True), legend=LEGEND_BELOW, height=320)
    return fig


def scaling_histograms(raw: np.ndarray, scaled: np.ndarray, *, method_label: str,
                       bins: int = HISTOGRAM_BINS) -> go.Figure:
    """Pixel values before (0..255) and after scaling, side by side, per channel."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=["uint8 pixels", f"after scaling: {method_label}"])
    lo, hi = float(np.min(scaled)), float(np.max(scaled))
    for col, traces in ((1, _histogram_traces(raw, (0, 255), bins)),
                        (2, _histogram_traces(scaled, (lo, hi), bins))):
        for trace in traces:
            trace.showlegend = col == 1 and len(traces) > 1
            fig.add_trace(trace, row=1, col=col)
    fig.update_layout(barmode="overlay", bargap=0, height=320, margin=dict(l=10, r=10, t=40, b=LEGEND_MARGIN),
                      legend=LEGEND_BELOW)
    fig.update_xaxes(title_text="pixel value")
    return fig


def before_after(before: np.ndarray, after: np.ndarray, *, captions: Sequence[str] | None = None,
                 title: str | None = None) -> go.Figure:
    """Two rows: the original images and the same images augmented (captions per column)."""
    return mosaic([list(before), list(after)], ["original", "augmented"], column_labels=captions,
                  title=title, tile_px=96)
