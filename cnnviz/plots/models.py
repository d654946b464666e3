"""Figures for the model builder: where a network's parameters are."""

from __future__ import annotations

import plotly.graph_objects as go

from cnnviz.models.layerspec import SummaryTable
from cnnviz.plots.common import LEGEND_BELOW, LEGEND_MARGIN

TRAINABLE_COLOR = "#1f77b4"
FROZEN_COLOR = "#ff7f0e"  # batch norm's moving mean and variance


def param_bars(table: SummaryTable, *, log_scale: bool = False, title: str | None = None) -> go.Figure:
    """Horizontal bars of each layer's parameters, trainable and not, in network order.

    Seed 000 Q14 asks which part of the network holds most of the parameters: usually the
    first dense layer after the flatten. Layers without weights are left out.

    Args:
        table: from :func:`cnnviz.models.network.summary_table` or :func:`cnnviz.models.layerspec.param_calculator`.
        log_scale: a logarithmic axis, so that small conv layers stay visible next to dense ones.
            Bars stacked on a log axis misdraw the shares (the second segment starts at the first's
            end, so its drawn length is no longer its count), so on a log axis the trainable and the
            not-trainable bars stand side by side.
        title: figure title (default: the total).
    """
    rows = [r for r in table.rows if r["params"] > 0]
    names = [r["name"] for r in rows]
    hover = [f"{r['type']}<br>{r['formula']}<br>output {r['output_shape']}" for r in rows]
    fig = go.Figure()
    fig.add_bar(y=names, x=[r["trainable"] for r in rows], orientation="h", name="trainable",
                marker_color=TRAINABLE_COLOR, hovertext=hover, hoverinfo="text+x")
    fig.add_bar(y=names, x=[r["params"] - r["trainable"] for r in rows], orientation="h", name="not trainable",
                marker_color=FROZEN_COLOR, hovertext=hover, hoverinfo="text+x")
    fig.update_layout(
        barmode="group" if log_scale else "stack",
        title=title or f"{table.total:,} parameters ({table.trainable:,} trainable)",
        xaxis_title="parameters (log scale)" if log_scale else "parameters",
        xaxis_type="log" if log_scale else "linear",
        yaxis=dict(autorange="reversed"),
        height=max(200, 28 * len(rows) + 120),
        margin=dict(l=10, r=10, t=50, b=LEGEND_MARGIN),
        legend=LEGEND_BELOW,
    )
    return fig
