"""Figures for training: live loss/accuracy curves of a job, and several runs overlaid."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative

from cnnviz.plots.common import LEGEND_BELOW, LEGEND_MARGIN

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo

#: Points sent per series: the live chart is re-sent whole on every update, so its size bounds the cost.
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

    Built from a plain dict with two axis domains instead of ``make_subplots`` (which alone
    cost ~25 ms here): the live panel redraws this every second.

    Args:
        curve: ``Progress.curve``: ``x``/``loss``/``accuracy`` (running averages within
            epochs, x in fractional epochs) and ``epoch_loss``/``epoch_accuracy``/
            ``epoch_val_loss``/``epoch_val_accuracy`` (one value per finished epoch, at ``epoch_x``:
            a stopped epoch's at the share of it trained).
        epochs: planned epochs, to fix the x range so the curve visibly grows.
        height: figure height in pixels.
    Returns:
        A Plotly figure with two panels (axes x/y: loss, x2/y2: accuracy).
    """
    data = []
    for axis, metric in (("", "loss"), ("2", "accuracy")):
        first = axis == ""
        xs, ys = downsample(curve.get("x", []), curve.get(metric, []))
        data.append(dict(type="scatter", x=xs, y=ys, mode="lines" if len(xs) > 1 else "markers",
                         name="training (during epoch)",
                         legendgroup="running", showlegend=first, opacity=0.5,
                         line=dict(color=TRAIN_COLOR, width=1), xaxis=f"x{axis}", yaxis=f"y{axis}"))
        for key, name, color in ((f"epoch_{metric}", "training", TRAIN_COLOR),
                                 (f"epoch_val_{metric}", "validation", VAL_COLOR)):
            values = curve.get(key, [])
            ex, ey = downsample(curve.get("epoch_x") or list(range(1, len(values) + 1)), values)
            data.append(dict(type="scatter", x=ex, y=ey, mode="lines+markers", name=name, legendgroup=name,
                             showlegend=first, line=dict(color=color), xaxis=f"x{axis}", yaxis=f"y{axis}"))
    x_range = [0, max(1, epochs) + 0.05] if epochs else None
    layout = dict(
        height=height, margin=dict(l=10, r=10, t=30, b=LEGEND_MARGIN), legend=LEGEND_BELOW,
        xaxis=dict(domain=[0.0, 0.45], title=dict(text="epoch"), range=x_range),
        xaxis2=dict(domain=[0.55, 1.0], title=dict(text="epoch"), range=x_range, anchor="y2"),
        yaxis=dict(anchor="x"), yaxis2=dict(anchor="x2", rangemode="tozero"),
        annotations=[dict(text=t, x=x, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                          showarrow=False, font=dict(size=14)) for t, x in (("loss", 0.225), ("accuracy", 0.775))],
    )
    return go.Figure(dict(data=data, layout=layout))


def compare_runs(runs: Sequence["RunInfo"], metric: str = "accuracy", *, height: int = 380) -> go.Figure:
    """Per-epoch ``metric`` of several runs: training solid, validation dashed, one colour per run.

    Each point sits at the epoch it ended (:attr:`RunInfo.history_epochs`): a stopped run's last at its
    epochs done, e.g. 2.333.

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
            xs, ys = downsample(info.history_epochs, values)
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"{info.label} {suffix}",
                                     legendgroup=info.run_id, line=dict(color=color, dash=dash)))
    fig.update_layout(height=height, xaxis_title="epoch", yaxis_title=metric,
                      margin=dict(l=10, r=10, t=30, b=LEGEND_MARGIN), legend=LEGEND_BELOW)
    return fig
