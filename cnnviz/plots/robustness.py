"""Figures for the Robustness page: rotated examples, accuracy vs angle, class × angle map."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.errors import InvalidArgument
from cnnviz.plots.common import LEGEND_BELOW, LEGEND_MARGIN, heatmap, image_grid
from cnnviz.inspect.robustness import SizeResult, SweepResult, TransformResult

# Plotly's default qualitative palette, set explicitly so each model's reference line
# has the colour of its curve.
PALETTE = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880")


def rotated_examples_figure(
    originals: np.ndarray, rotated: np.ndarray, angle: float, *, tile_px: int = 80
) -> go.Figure:
    """Seed 000's figure: a row of originals above the same images rotated."""
    if len(originals) != len(rotated) or len(originals) == 0:
        raise InvalidArgument(f"need the same number (≥ 1) of originals and rotated images, "
                              f"got {len(originals)} and {len(rotated)}")
    n = len(originals)
    return image_grid(
        list(originals) + list(rotated),
        titles=["Original"] * n + [f"Rotated {angle:g}°"] * n,
        columns=n, tile_px=tile_px, title=f"Test images before and after a {angle:g}° rotation",
    )


def accuracy_vs_angle_figure(results: Mapping[str, SweepResult], *, title: str | None = "Accuracy vs rotation") -> go.Figure:
    """One line per model; a dotted line in the same colour marks its unrotated (0°) accuracy."""
    if not results:
        raise InvalidArgument("need at least one sweep result to draw, got none")
    fig = go.Figure()
    for i, (name, r) in enumerate(results.items()):
        color = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(
            x=list(r.angles), y=list(r.accuracy), mode="lines+markers", name=name, line=dict(color=color),
            hovertemplate=f"{name}<br>%{{x:g}}°: %{{y:.1%}}<extra></extra>",
        ))
        base = r.unrotated_accuracy
        if base is not None:
            fig.add_hline(y=base, line=dict(color=color, dash="dot", width=1),
                          annotation_text=f"{name} upright {base:.0%}", annotation_position="top right",
                          annotation_font_color=color)
    fig.update_xaxes(title="rotation (degrees, counter-clockwise)", tickmode="array",
                     tickvals=sorted({a for r in results.values() for a in r.angles}))
    fig.update_yaxes(title="test accuracy", range=[0, 1.02], tickformat=".0%")
    fig.update_layout(title=title, legend=LEGEND_BELOW,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=LEGEND_MARGIN))
    return fig


def per_class_angle_figure(result: SweepResult, *, title: str | None = None) -> go.Figure:
    """Heat map of accuracy per class (rows) and angle (columns)."""
    fig = heatmap(
        result.per_class.T, zrange=(0.0, 1.0), colorscale="Viridis",
        x_labels=[f"{a:g}°" for a in result.angles], y_labels=list(result.class_names), text_format="%{z:.0%}",
        title=title or "Accuracy per class and angle",
    )
    fig.update_xaxes(type="category", title="rotation")
    fig.update_yaxes(type="category", title="class")
    return fig


def transforms_figure(results: Mapping[str, TransformResult], *, title: str | None = "Flips and shifts") -> go.Figure:
    """Grouped bars: accuracy of each model on each transformed test set."""
    if not results:
        raise InvalidArgument("need at least one transform result to draw, got none")
    fig = go.Figure()
    for i, (name, r) in enumerate(results.items()):
        fig.add_trace(go.Bar(x=list(r.names), y=list(r.accuracy), name=name, marker_color=PALETTE[i % len(PALETTE)],
                             text=[f"{a:.0%}" for a in r.accuracy], textposition="auto"))
    fig.update_yaxes(title="test accuracy", range=[0, 1], tickformat=".0%")
    fig.update_layout(title=title, barmode="group", legend=LEGEND_BELOW,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=LEGEND_MARGIN))
    return fig


def sizes_figure(results: Mapping[str, Sequence[SizeResult]], *, title: str | None = "Other image sizes") -> go.Figure:
    """Accuracy per model and image size; sizes a model cannot take are labelled "cannot run" at 0."""
    if not results:
        raise InvalidArgument("need at least one size result to draw, got none")
    fig = go.Figure()
    for i, (name, rows) in enumerate(results.items()):
        fig.add_trace(go.Bar(
            x=[f"{r.size}×{r.size}" for r in rows], y=[r.accuracy if r.works else 0.0 for r in rows], name=name,
            marker_color=PALETTE[i % len(PALETTE)],
            text=[f"{r.accuracy:.0%}" if r.works else "cannot run" for r in rows], textposition="outside",
        ))
    fig.update_xaxes(type="category", title="image size")
    fig.update_yaxes(title="test accuracy", range=[0, 1.1], tickformat=".0%")
    fig.update_layout(title=title, barmode="group", legend=LEGEND_BELOW,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=LEGEND_MARGIN))
    return fig
