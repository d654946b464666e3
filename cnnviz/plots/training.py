"""Figures for training: live loss/accuracy curves of a job, and several runs overlaid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs import RunInfo

#: Points sent per series: charts are re-sent whole every update (cpu-training-facts.md).
MAX_POINTS = 200
TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#ff7f0e"
PALETTE = qualitative.Plotly


def downsample(xs: Sequence[float], ys: Sequence[float | None], max_points: int = MAX_POINTS) -> tuple[list, list]:
    """Every k-th point (always keeping the last) so at most ``max_points`` remain.

    >>> downsample([0, 1, 2, 3, 4], [5, 6, 7, 8, 9], max_points=3)
    ([0, 2, 4], [5, 7, 9])
    """
    n = min(len(xs), len(ys))
    if n <= max_points:
        return list(xs[:n]), list(ys[:n])
    step = -(-n // max_points) if max_points > 1 else n
    keep = list(range(0, n, step))
    if keep[-1] != n - 1:
        keep[-1] = n - 1
    return [xs[i] for i in keep], [ys[i] for i in keep]


def live_curves(curve: dict, *, epochs: int | None = None, height: int = 320) -> go.Figure:
    """Loss and accuracy side by side while a job trains.

    Args:
        curve: ``Progress.curve``: ``x``/``loss``/``accuracy`` (running averages within
            epochs, x in fractional epochs) and ``epoch_loss``/``epoch_accuracy``/
            ``epoch_val_loss``/``epoch_val_accuracy`` (one value per finished epoch).
        epochs: planned epochs, to fix the x range so the curve visibly grows.
        height: figure height in pixels.
    Returns:
        A Plotly figure with two panels.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.1)
    for col, metric in ((1, "loss"), (2, "accuracy")):
        first = col == 1
        xs, ys = downsample(curve.get("x", []), curve.get(metric, []))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="training (during epoch)", legendgroup="run",
                                 showlegend=first, line=dict(color=TRAIN_COLOR, width=1), opacity=0.5),
                      row=1, col=col)
        for key, name, color in ((f"epoch_{metric}", "training", TRAIN_COLOR),
                                 (f"epoch_val_{metric}", "validation", VAL_COLOR)):
            values = curve.get(key, [])
            ex, ey = downsample(list(range(1, len(values) + 1)), values)
            fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines+markers", name=name, legendgroup=name,
                                     showlegend=first, line=dict(color=color)), row=1, col=col)
    if epochs:
        fig.update_xaxes(range=[0, max(1, epochs) + 0.05])
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def compare_runs(runs: Sequence["RunInfo"], metric: str = "accuracy", *, height: int = 380) -> go.Figure:
    """Per-epoch ``metric`` of several runs: training solid, validation dashed, one colour per run.

    Args:
        runs: the runs to overlay.
        metric: ``"loss"`` or ``"accuracy"``.
        height: figure height in pixels.
    Returns:
        A Plotly figure.
    """
    fig = go.Figure()
    for i, info in enumerate(runs):
        color = PALETTE[i % len(PALETTE)]
        for key, dash, suffix in ((metric, None, "training"), (f"val_{metric}", "dash", "validation")):
            values = info.history.get(key) or []
            if not any(v is not None for v in values):
                continue
            xs, ys = downsample(list(range(1, len(values) + 1)), values)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{info.label} {suffix}",
                                     legendgroup=info.run_id, line=dict(color=color, dash=dash)))
    fig.update_layout(height=height, xaxis_title="epoch", yaxis_title=metric,
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
