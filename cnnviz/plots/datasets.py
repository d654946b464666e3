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

from cnnviz.plots.common import image_grid

CHANNEL_COLORS = {1: ("grey",), 3: ("red", "green", "blue")}
CHANNEL_NAMES = {1: ("grey",), 3: ("R", "G", "B")}
CHANNEL_SCALES = {1: ("gray",), 3: ("Reds", "Greens", "Blues")}
HISTOGRAM_BINS = 64
MAX_TEXT_SIDE = 16  # print pixel values on the heat map only when they stay readable
SPLIT_COLORS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}


def _margins(title: str | None) -> dict:
    return dict(l=10, r=10, t=40 if title else 10, b=10)


def class_counts_bar(counts: dict[str, Sequence[int]], class_names: Sequence[str],
                     *, title: str | None = None, stacked: bool = False) -> go.Figure:
    """Bars of images per class, one series per split (e.g. ``{"train": [...], "test": [...]}``)."""
    fig = go.Figure()
    for split, values in counts.items():
        fig.add_trace(go.Bar(x=list(class_names), y=[int(v) for v in values], name=split,
                             marker_color=SPLIT_COLORS.get(split), text=[int(v) for v in values],
                             textposition="auto"))
    fig.update_layout(title=title, barmode="stack" if stacked else "group", xaxis_title="class",
                      yaxis_title="images", margin=_margins(title), legend=dict(orientation="h"))
    return fig


def samples_per_class(images: Sequence[np.ndarray], class_names: Sequence[str], per_class: int,
                      *, title: str | None = None) -> go.Figure:
    """A grid with one row per class: ``images`` are ordered class by class, ``per_class`` each."""
    titles = []
    for name in class_names:
        titles.extend([name] + [""] * (per_class - 1))
    return image_grid(list(images), titles=titles[: len(images)], columns=per_class,
                      tile_px=72, title=title)


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
    fig.update_layout(title=title, height=320, margin=_margins(title))
    return fig


def pixel_histogram(values: np.ndarray, *, value_range: tuple[float, float] = (0, 255),
                    bins: int = HISTOGRAM_BINS, title: str | None = None,
                    x_title: str = "pixel value") -> go.Figure:
    """Histogram of pixel values per channel (last axis is the channel)."""
    arr = np.asarray(values)
    c = arr.shape[-1] if arr.ndim >= 3 else 1
    flat = arr.reshape(-1, c)
    lo, hi = value_range
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    for i in range(c):
        counts, _ = np.histogram(flat[:, i], bins=edges)
        fig.add_trace(go.Bar(x=centres, y=counts, name=CHANNEL_NAMES.get(c, tuple(map(str, range(c))))[i],
                             marker_color=CHANNEL_COLORS.get(c, (None,) * c)[i], opacity=0.6,
                             width=(hi - lo) / bins))
    fig.update_layout(title=title, barmode="overlay", bargap=0, xaxis_title=x_title, yaxis_title="pixels",
                      margin=_margins(title), legend=dict(orientation="h"), height=300)
    return fig


def scaling_histograms(raw: np.ndarray, scaled: np.ndarray, *, method_label: str) -> go.Figure:
    """Pixel values before (0..255) and after scaling, side by side, per channel."""
    c = raw.shape[-1] if raw.ndim >= 3 else 1
    fig = make_subplots(rows=1, cols=2, subplot_titles=["uint8 pixels", f"after scaling: {method_label}"])
    before = pixel_histogram(raw, value_range=(0, 255))
    lo, hi = float(np.min(scaled)), float(np.max(scaled))
    after = pixel_histogram(scaled, value_range=(lo, hi if hi > lo else lo + 1.0))
    for col, part in ((1, before), (2, after)):
        for i, trace in enumerate(part.data):
            trace.showlegend = col == 1 and c > 1
            trace.legendgroup = str(i)
            fig.add_trace(trace, row=1, col=col)
    fig.update_layout(barmode="overlay", bargap=0, height=300, margin=_margins(None),
                      legend=dict(orientation="h"))
    fig.update_xaxes(title_text="pixel value")
    return fig


def before_after(before: np.ndarray, after: np.ndarray, *, captions: Sequence[str] | None = None,
                 title: str | None = None) -> go.Figure:
    """Two rows: the original images and the same images augmented."""
    n = len(before)
    labels = list(captions) if captions is not None else [""] * n
    titles = [f"{t} (original)" if t else "original" for t in labels] + ["augmented"] * n
    return image_grid([*before, *after], titles=titles, columns=n, tile_px=80, title=title)
