"""Figures for the Inside-the-network page: feature-map grids, filter tiles, channel statistics."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnnviz.errors import InvalidArgument
from cnnviz.inspect.features import FeatureMaps, Filters
from cnnviz.plots.common import image_grid, tile_figure

FILTER_MODES = ("rgb", "channels")


def _to_uint8(tiles01: np.ndarray) -> np.ndarray:
    """[0, 1] floats to uint8, so ``image_grid`` keeps the shared scale (it min-max scales floats)."""
    return np.round(np.clip(tiles01, 0.0, 1.0) * 255).astype(np.uint8)


def feature_map_figure(fm: FeatureMaps, *, tile_px: int = 96, title: str | None = None) -> go.Figure:
    """The shown channels of a layer's activation as a grey grid, titled by channel (one picture of tiles)."""
    how = "each map scaled on its own" if fm.normalization == "per_map" else "one shared scale"
    return tile_figure(
        fm.images,
        titles=[f"ch {c}" for c in fm.channels],
        columns=fm.columns,
        tile_px=tile_px,
        title=title if title is not None else f"{fm.layer_name} ({fm.layer_type}): {len(fm.channels)} of "
        f"{fm.activations.shape[-1]} channels, {fm.activations.shape[0]}×{fm.activations.shape[1]}, {how}",
    )


def channel_stats_figure(fm: FeatureMaps, *, title: str | None = None) -> go.Figure:
    """Mean activation per channel (error bar: standard deviation), hover shows min/max/active share."""
    stats = fm.stats
    fig = go.Figure(go.Bar(
        x=[s["channel"] for s in stats],
        y=[s["mean"] for s in stats],
        error_y=dict(type="data", array=[s["std"] for s in stats], visible=True),
        customdata=[[s["min"], s["max"], s["active"]] for s in stats],
        hovertemplate="channel %{x}<br>mean %{y:.3g}<br>min %{customdata[0]:.3g}, max %{customdata[1]:.3g}"
                      "<br>%{customdata[2]:.0%} of positions > 0<extra></extra>",
    ))
    # Whole channel numbers only (Plotly would put ticks at 0.5 for a handful of channels).
    fig.update_xaxes(tickmode="linear", dtick=max(1, len(stats) // 16), tick0=0)
    fig.update_layout(title=title or f"{fm.layer_name}: activation per channel", xaxis_title="channel",
                      yaxis_title="mean activation", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def filters_figure(filters: Filters, *, mode: str = "rgb", tile_px: int = 56, title: str | None = None) -> go.Figure:
    """Learned kernels as tiles.

    Args:
        filters: from :func:`cnnviz.inspect.features.layer_filters`.
        mode: "rgb" (one colour tile per filter; needs a layer with 3 input channels) or
            "channels" (one grey tile per filter and input channel: a row per filter).
        tile_px: tile size.
        title: figure title.
    """
    if mode not in FILTER_MODES:
        raise InvalidArgument(f"mode must be one of {', '.join(FILTER_MODES)}, got {mode!r}")
    kh, kw, cin, cout = filters.kernel_shape
    scale = "one scale for the whole layer" if filters.scale == "global" else "each filter scaled on its own"
    if mode == "rgb":
        if filters.rgb is None:
            raise InvalidArgument(
                f"layer {filters.layer_name!r} sees {cin} input channels, not 3: show its filters per channel"
            )
        return image_grid(
            list(_to_uint8(filters.rgb)), titles=[f"filter {f}" for f in filters.filters], columns=8,
            tile_px=tile_px,
            title=title or f"{filters.layer_name}: {len(filters.filters)} of {cout} filters {kh}×{kw} as RGB, {scale}",
        )
    n_c = len(filters.in_channels)
    tiles = _to_uint8(filters.per_channel).reshape(-1, kh, kw)
    titles = [f"f{f} c{c}" for f in filters.filters for c in filters.in_channels]
    return image_grid(
        list(tiles), titles=titles, columns=n_c, tile_px=tile_px,
        title=title or (f"{filters.layer_name}: {len(filters.filters)} of {cout} filters × {n_c} of {cin} "
                        f"input channels ({kh}×{kw}), {scale}"),
    )
