"""Figures for the Evaluate page: confusion matrix, per-class bars, prediction galleries."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.errors import InvalidArgument
from cnnviz.plots.common import LEGEND_BELOW, LEGEND_MARGIN, image_grid

CORRECT_COLOR = "green"  # seed 002 1.5.6: right predictions green, wrong ones red
WRONG_COLOR = "red"
PER_CLASS_METRICS = ("accuracy", "precision", "recall", "f1")
#: Metrics that are a share of the class's own test images: undefined for a class without any.
UNDEFINED_WITHOUT_IMAGES = ("accuracy", "recall")
# Name of the invisible marker trace that makes cells clickable: Streamlit's
# on_select returns nothing for go.Heatmap (streamlit/streamlit#8760), but does for markers.
CELL_TRACE_NAME = "cells"


def confusion_matrix_figure(
    confusion: np.ndarray,
    class_names: Sequence[str],
    *,
    normalized: bool = False,
    title: str | None = "Confusion matrix",
) -> go.Figure:
    """Heat map of a confusion matrix (rows true class, columns predicted), row 0 on top.

    Every cell carries ``customdata = [true index, predicted index, count]`` on the heat map and,
    with its row share, on an overlaid marker trace named ``CELL_TRACE_NAME`` that hovers, and that
    a click or a box selects; :func:`cells_from_selection` turns that into cells.

    Args:
        confusion: C×C counts.
        class_names: C names.
        normalized: colour by the share of each true class (row) instead of counts; the
            text then shows the percentage and the count.
        title: figure title.
    Returns:
        A Plotly figure.
    """
    cm = np.asarray(confusion)
    names = [str(c) for c in class_names]
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(names):
        raise InvalidArgument(f"need a {len(names)}×{len(names)} confusion matrix, got shape {cm.shape}")
    c = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    t_idx, p_idx = np.meshgrid(np.arange(c), np.arange(c), indexing="ij")
    custom = np.stack([t_idx, p_idx, cm], axis=-1)
    if normalized:
        z, text = share, [[f"{share[t, p]:.0%}<br>{int(cm[t, p])}" for p in range(c)] for t in range(c)]
    else:
        z, text = cm, [[str(int(cm[t, p])) for p in range(c)] for t in range(c)]
    hover = ("true %{y}<br>predicted %{x}<br>%{customdata[2]} images"
             + ("<br>%{z:.1%} of the true class" if normalized else "") + "<extra></extra>")
    # The marker trace, not the heat map, answers the mouse: Plotly fires no click for a trace with
    # hoverinfo "skip", and Streamlit selects no heat-map cell, so a single click selected nothing.
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, customdata=custom, text=text, texttemplate="%{text}",
        colorscale="Blues", zmin=0, zmax=1 if normalized else None, hoverinfo="skip",
        colorbar=dict(title="share" if normalized else "images"),
    ))
    fig.add_trace(go.Scatter(
        x=[names[p] for t in range(c) for p in range(c)],
        y=[names[t] for t in range(c) for p in range(c)],
        customdata=[[t, p, int(cm[t, p]), float(share[t, p])] for t in range(c) for p in range(c)],
        mode="markers", name=CELL_TRACE_NAME, showlegend=False,
        hovertemplate=hover.replace("%{z:.1%}", "%{customdata[3]:.1%}"),
        marker=dict(symbol="square", size=max(8, 320 // c), color="rgba(255,165,0,0.45)", opacity=0.01),
        selected=dict(marker=dict(opacity=0.6)), unselected=dict(marker=dict(opacity=0.01)),
    ))
    fig.update_xaxes(title="predicted class", type="category", side="bottom")
    fig.update_yaxes(title="true class", type="category", autorange="reversed")
    fig.update_layout(title=title, clickmode="event+select", dragmode="select",
                      height=max(320, 40 * c + 140), margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    return fig


def cells_from_selection(selection: Any) -> list[tuple[int, int]]:
    """Cells ``(true, predicted)`` chosen on :func:`confusion_matrix_figure` in Streamlit.

    Args:
        selection: ``st.plotly_chart(..., on_select="rerun")``'s return value, its
            ``.selection``, or a dict with ``"points"`` (each with ``customdata``).
    Returns:
        Chosen cells in selection order, without repeats.
    """
    if selection is None:
        return []
    if isinstance(selection, Mapping) and "selection" in selection:
        selection = selection["selection"]
    elif not isinstance(selection, Mapping) and hasattr(selection, "selection"):
        selection = selection.selection
    points = selection.get("points", []) if isinstance(selection, Mapping) else []
    cells: dict[tuple[int, int], None] = {}
    for point in points or []:
        data = point.get("customdata") if isinstance(point, Mapping) else None
        if data is not None and len(data) >= 2:
            cells[(int(data[0]), int(data[1]))] = None
    return list(cells)


def per_class_figure(
    per_class: Sequence[Mapping[str, Any]],
    *,
    metrics: Sequence[str] = ("accuracy",),
    title: str | None = "Per-class results",
) -> go.Figure:
    """Bars per class for one or more metrics from :func:`cnnviz.inspect.evaluation.per_class_metrics`."""
    for m in metrics:
        if m not in PER_CLASS_METRICS:
            raise InvalidArgument(f"metric must be one of {', '.join(PER_CLASS_METRICS)}, got {m!r}")
    if not metrics:
        raise InvalidArgument("choose at least one metric, got none")
    names = [str(row["name"]) for row in per_class]
    fig = go.Figure()
    for m in metrics:
        # A class with no test images has no accuracy (recall): no bar, not 0% ("none of them right").
        values = [None if m in UNDEFINED_WITHOUT_IMAGES and not row["support"] else float(row[m]) for row in per_class]
        fig.add_trace(go.Bar(
            x=names, y=values, name=m, text=["no test images" if v is None else f"{v:.0%}" for v in values],
            textposition="auto",
            customdata=[[int(row["support"]), int(row["correct"])] for row in per_class],
            hovertemplate=f"%{{x}}<br>{m} %{{y:.1%}}<br>%{{customdata[1]}} of %{{customdata[0]}} correct<extra></extra>",
        ))
    fig.update_xaxes(type="category", title="class")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title=metrics[0] if len(metrics) == 1 else "")
    fig.update_layout(title=title, barmode="group", legend=LEGEND_BELOW,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=LEGEND_MARGIN))
    return fig


def prediction_titles(
    y_true: Sequence[int], y_pred: Sequence[int], class_names: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Seed 002 titles: "predicted" in green when right, "predicted (true)" in red when wrong."""
    titles, colors = [], []
    for t, p in zip(y_true, y_pred):
        ok = int(t) == int(p)
        titles.append(str(class_names[p]) if ok else f"{class_names[p]} ({class_names[t]})")
        colors.append(CORRECT_COLOR if ok else WRONG_COLOR)
    return titles, colors


def prediction_gallery(
    images: np.ndarray,
    y_true: Sequence[int],
    y_pred: Sequence[int],
    class_names: Sequence[str],
    *,
    columns: int = 5,
    title: str | None = "Predictions: green right, red wrong as predicted (true)",
) -> go.Figure:
    """Images titled with their prediction, green when right and red (with the truth) when wrong.

    Args:
        images: the chosen images (uint8 or float), in gallery order.
        y_true, y_pred: their true and predicted classes.
        class_names: class names.
        columns: images per row (five: "(automobile)" fits a fifth of a phone's page, 358 px wide, at 11 px).
        title: figure title.
    """
    if not len(images) == len(y_true) == len(y_pred):
        raise InvalidArgument(
            f"need as many labels as images, got {len(images)} images, {len(y_true)} true and {len(y_pred)} predicted"
        )
    titles, colors = prediction_titles(y_true, y_pred, class_names)
    return image_grid(list(images), titles=titles, title_colors=colors, columns=columns, title=title)


def mistakes_gallery(
    images: np.ndarray,
    described: Sequence[Mapping[str, Any]],
    *,
    columns: int = 4,
    tile_px: int = 120,
    title: str | None = None,
) -> go.Figure:
    """Images with their true class and top-3 probabilities (from ``evaluation.describe_images``).

    Captions read "true cat", then "dog 71%", "cat 20%" and "frog 5%" one a line (narrow enough for a phone),
    red when the top class is wrong.
    """
    if len(images) != len(described):
        raise InvalidArgument(f"need one description per image, got {len(images)} images and {len(described)}")
    if len(images) == 0:
        return image_grid([], title=title or "No images to show")
    captions = ["<br>".join([f"true {d['true_name']}", *(f"{name} {p:.0%}" for _, name, p in d["top"])])
                for d in described]
    colors = [CORRECT_COLOR if d["correct"] else WRONG_COLOR for d in described]
    return image_grid(list(images), titles=captions, title_colors=colors, columns=columns, tile_px=tile_px,
                      title=title)
