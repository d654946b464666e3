"""Figures for the Pretrained ResNet50 page: top-k bars, preprocessing steps, Grad-CAM, stages."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.inspect.gradcam import colorize, overlay
from cnnviz.plots.common import image_grid


def topk_figure(top: Sequence[tuple[str, str, float]], *, title: str | None = None) -> go.Figure:
    """Horizontal bars of the top classes, most probable on top.

    Args:
        top: ``(wnid, label, probability)`` most probable first (as :func:`cnnviz.inspect.imagenet.decode`).
        title: figure title.
    Returns:
        A Plotly figure with probabilities on a 0..100 % axis.
    """
    labels = [label.replace("_", " ") for _, label, _ in top][::-1]
    probs = [float(p) for _, _, p in top][::-1]
    wnids = [w for w, _, _ in top][::-1]
    fig = go.Figure(go.Bar(
        x=probs, y=labels, orientation="h", customdata=wnids,
        text=[f"{p:.1%}" for p in probs], textposition="auto",
        hovertemplate="%{y} (%{customdata}): %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(
        title=title, height=60 + 32 * max(1, len(top)),
        xaxis=dict(range=[0, 1], tickformat=".0%", title="probability"),
        yaxis=dict(type="category"),  # class names such as the digits' "0".."9" are labels, not numbers
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
    )
    return fig


def preprocessing_figure(prepared) -> go.Figure:
    """The photo at each step into ResNet50, left to right (a :class:`cnnviz.inspect.pretrained.Prepared`).

    The BGR image is drawn as if it were RGB (red and blue swap: that is what the reordering
    does), and the mean-subtracted input is min-max scaled to be visible.
    """
    h, w = prepared.original_size
    size = prepared.resized.shape
    fig = image_grid(
        [prepared.thumbnail, prepared.resized, prepared.bgr, prepared.input],
        titles=[f"your photo ({h}×{w})", f"resized to {size[0]}×{size[1]}",
                "RGB → BGR (drawn as RGB)", "minus the mean (rescaled)"],
        columns=4, tile_px=170,
    )
    fig.update_layout(margin=dict(l=5, r=5, t=30, b=5))
    return fig


def gradcam_figure(image_uint8: np.ndarray, heatmap: np.ndarray) -> go.Figure:
    """The network's input, its Grad-CAM heat map and the two blended, side by side."""
    fig = image_grid(
        [image_uint8, colorize(heatmap), overlay(image_uint8, heatmap)],
        titles=["network input", "Grad-CAM", "overlay"],
        columns=3, tile_px=120,
    )
    fig.update_layout(margin=dict(l=5, r=5, t=30, b=5), height=190)
    return fig


def stage_params_figure(rows: Sequence[dict]) -> go.Figure:
    """Parameters per stage (from :func:`cnnviz.inspect.imagenet.stage_table`), as bars."""
    rows = [r for r in rows if r["params"] > 0]
    fig = go.Figure(go.Bar(
        x=[r["stage"] for r in rows], y=[r["params"] for r in rows],
        text=[f"{r['params'] / 1e6:.2f} M" for r in rows], textposition="auto",
        hovertemplate="%{x}: %{y:,} parameters<extra></extra>",
    ))
    fig.update_layout(yaxis_title="parameters", height=320, margin=dict(l=10, r=10, t=10, b=10))
    return fig
