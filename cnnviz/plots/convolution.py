"""Figures for the Convolution page: kernels, the three modes, shrinking, colour Conv2D, speed."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.lessons.convolution import ModeResult, is_signed, layers_until_empty, shrink_after_layers
from cnnviz.plots.common import NARROW_PX, colour_bar_trace, curves, fitted_captions, heatmap, png_source, quantise

_DIVERGING = "RdBu_r"  # blue negative, white zero, red positive
_HOVER = "row %{y}, column %{x}<br>value %{z:.4g}<extra></extra>"
_IMAGE_HOVER = "%{fullData.name}: row %{y}, column %{x}<extra></extra>"


def _axis(letter: str, i: int) -> str:
    """Plotly's name for subplot ``i``'s axis: "x", "x2", "x3", ... (there is no "x1")."""
    return letter if i == 1 else f"{letter}{i}"


def kernel_figure(kernel: np.ndarray, *, title: str | None = None) -> go.Figure:
    """The kernel's numbers as a heat map (values written in when it is at most 9×9)."""
    kernel = np.asarray(kernel, dtype=float)
    small = max(kernel.shape) <= 9
    fig = heatmap(kernel, title=title, symmetric=is_signed(kernel),
                  colorscale=None if is_signed(kernel) else "Blues", text_format="%{z:.3g}" if small else None)
    fig.update_layout(height=260 if small else 320, width=None)
    return fig


def _shared_range(arrays: list[np.ndarray], symmetric: bool) -> tuple[float, float]:
    lo = min(float(np.min(a)) for a in arrays)
    hi = max(float(np.max(a)) for a in arrays)
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


#: The panels' titles and formulas, readable from the back of a classroom (they were 13 px, the formulas
#: a smaller <sub> of that).
TITLE_FONT_SIZE = 15
#: The gap between the full/same/valid panels, a share of the figure's width.
PANEL_GAP = 0.08


def modes_figure(results: Mapping[str, ModeResult], *, symmetric: bool | None = None,
                 kernel: np.ndarray | None = None) -> go.Figure:
    """full, same and valid responses side by side, aligned on the image and on one colour scale.

    Each panel is titled with its mode and output shape, short enough for a phone (the formulas that give
    the shapes are :func:`cnnviz.lessons.convolution.size_lines`, written under the figure). The panels
    share axes in image coordinates, so 'full' visibly sticks out of the image by
    (k − 1)/2 on each side and 'valid' falls short by as much. Each response is sent as a PNG
    of 256 colour levels (:func:`cnnviz.plots.common.png_source`), not as floats: a slider
    move sends about 0.5 MB instead of 4.3 MB; the colour bar gives the values.

    Args:
        results: :func:`cnnviz.lessons.convolution.compare_modes` output.
        symmetric: diverging scale centred on 0 (default: when any response is negative).
        kernel: only used to decide ``symmetric`` when it is None.
    """
    outputs = [r.output for r in results.values() if r.output is not None]
    if symmetric is None:  # the kernel decides when known: FFT rounding can give -1e-14 for a blur
        symmetric = is_signed(kernel) if kernel is not None else any(float(np.min(o)) < 0 for o in outputs)
    zmin, zmax = _shared_range(outputs, symmetric) if outputs else (0.0, 1.0)
    colorscale = _DIVERGING if symmetric else "gray"
    titles = [f"<b>{r.mode}</b><br>{r.shape[0]}×{r.shape[1]}" for r in results.values()]
    # One figure built from one layout dict, the grid make_subplots would give (1 row, spacing 0.04):
    # make_subplots and a trace added per panel cost ~20-30 ms of a slider move. The gap is PANEL_GAP:
    # each panel's row numbers need room left of it, or they cover the panel before (on a projector).
    spacing, count = PANEL_GAP, len(results)
    width = (1 - spacing * (count - 1)) / count
    row_lo = col_lo = np.inf
    row_hi = col_hi = -np.inf
    traces: list = []
    notes = []
    for i, r in enumerate(results.values(), start=1):
        top, left = r.offset
        row_lo, col_lo = min(row_lo, top - 0.5), min(col_lo, left - 0.5)
        row_hi, col_hi = max(row_hi, top + r.shape[0] - 0.5), max(col_hi, left + r.shape[1] - 0.5)
        if r.output is None:
            notes.append(dict(text="nothing left:<br>the kernel is larger<br>than the image", showarrow=False,
                              xref=f"{_axis('x', i)} domain", yref=f"{_axis('y', i)} domain", x=0.5, y=0.5))
            continue
        traces.append(go.Image(source=png_source(quantise(r.output, zmin, zmax), colorscale), x0=left, dx=1,
                               y0=top, dy=1, hovertemplate=_IMAGE_HOVER, name=r.mode,
                               xaxis=_axis("x", i), yaxis=_axis("y", i)))
    traces.append(colour_bar_trace(zmin, zmax))
    layout: dict = {}
    for i in range(1, count + 1):
        start = (i - 1) * (width + spacing)
        # constrain="domain": keep square pixels by shrinking the plot area, not by padding the range
        layout[_axis("xaxis", i)] = dict(domain=[start, start + width], anchor=_axis("y", i), range=[col_lo, col_hi],
                                         showgrid=False, zeroline=False, constrain="domain")
        layout[_axis("yaxis", i)] = dict(domain=[0.0, 1.0], anchor=_axis("x", i), range=[row_hi, row_lo],
                                         showgrid=False, zeroline=False, scaleanchor=_axis("x", i), constrain="domain")
    titles_at = [dict(text=t, x=(i * (width + spacing)) + width / 2, y=1.0, xref="paper", yref="paper",
                      xanchor="center", yanchor="bottom", showarrow=False) for i, t in enumerate(titles)]
    return go.Figure(data=traces, layout=dict(
        **layout,
        annotations=[dict(a, font=dict(size=TITLE_FONT_SIZE)) for a in titles_at + notes],
        coloraxis=dict(colorscale=colorscale, cmin=zmin, cmax=zmax, colorbar=dict(title="response", thickness=12)),
        margin=dict(l=10, r=10, t=60, b=10), height=380,
    ))


def shrink_figure(n: int, k: int, layers: int) -> go.Figure:
    """Side length after each of ``layers`` 'valid' k×k layers, against 'same' (seed questions 5-6)."""
    sizes = shrink_after_layers(n, k, layers)
    empty = layers_until_empty(n, k)
    if empty is None:
        summary = "a 1×1 kernel never shrinks the image"
    else:
        summary = f"each 'valid' layer removes k − 1 = {k - 1} pixels; nothing is left after {empty} layers"
    fig = curves({"valid layers": sizes, "same layers (zero padding)": [n] * len(sizes)},
                 x=list(range(layers + 1)), title=f"N = {n}, k = {k}: {summary}", x_title="layers",
                 y_title="side length (pixels)", dashed=("same layers (zero padding)",))
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(height=360)
    return fig


def color_identity_figure(result: Mapping) -> go.Figure:
    """Conv2D on a colour image = Σ over channels = Σ convolve2d with flipped kernels (seed Q7-8).

    Args:
        result: :func:`cnnviz.lessons.convolution.color_identity` output.
    """
    per = list(result["per_channel"])
    names = ["red", "green", "blue"] if len(per) == 3 else [f"channel {c}" for c in range(len(per))]
    # Lines of at most 12 characters, so that four panels side by side keep their titles apart on a phone
    # (NARROW_PX); the page's caption repeats the largest differences in words.
    panels = [(f"{n}<br>* slice {c}", m) for c, (n, m) in enumerate(zip(names, per))]
    panels.append(("<b>Conv2D</b><br>output (sum)", result["conv2d"]))
    panels += [
        ("Σ convolve2d<br>flipped", result["flipped_sum"]),
        (f"Conv2D − Σ<br>max |diff|<br>{result['max_diff_flipped']:.1e}", result["conv2d"] - result["flipped_sum"]),
        ("Σ convolve2d<br>not flipped", result["unflipped_sum"]),
        (f"Conv2D − Σ<br>max |diff|<br>{result['max_diff_unflipped']:.3g}",
         result["conv2d"] - result["unflipped_sum"]),
    ]
    cols = max(4, len(per) + 1)
    rows = 2
    # the panels' width on a phone: the figure less its margins and the colour bar, four panels and their gaps
    font_size, titles = fitted_captions([t for t, _ in panels], (NARROW_PX - 90) * (1 - 0.02 * (cols - 1)) / cols)
    padded_titles = titles + [""] * (rows * cols - len(panels))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=padded_titles,
                        horizontal_spacing=0.02, vertical_spacing=0.12)
    zmin, zmax = _shared_range([m for _, m in panels], symmetric=True)
    for idx, (_, values) in enumerate(panels):
        r, c = divmod(idx, cols)
        fig.add_trace(go.Heatmap(z=np.asarray(values, dtype=np.float32), coloraxis="coloraxis",
                                 hovertemplate=_HOVER), row=r + 1, col=c + 1)
        fig.update_yaxes(autorange="reversed", scaleanchor=_axis("x", idx + 1), showticklabels=False,
                         constrain="domain", row=r + 1, col=c + 1)
        fig.update_xaxes(showticklabels=False, constrain="domain", row=r + 1, col=c + 1)
    fig.update_layout(coloraxis=dict(colorscale=_DIVERGING, cmin=zmin, cmax=zmax, colorbar=dict(thickness=12)),
                      height=480, margin=dict(l=10, r=10, t=60, b=10))
    fig.update_annotations(font_size=font_size)
    return fig


def conv_timing_figure(result: Mapping) -> go.Figure:
    """Median seconds per batch against batch size, one line per device (seed Part 4)."""
    fig = curves({label: secs for label, secs in result["seconds"].items()}, x=result["batch_sizes"],
                 title=f"Conv2D: {result['operation']}", x_title="images in the batch (N)",
                 y_title=f"seconds per batch (median of {result['repeats']})")
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(showlegend=True)  # name the device even when there is only the CPU
    return fig


def speedup_figure(result: Mapping) -> go.Figure | None:
    """CPU time / GPU time against batch size; None when there is no GPU to compare."""
    if not result["gpu_available"]:
        return None
    fig = curves({label: s for label, s in result["speedup"].items()}, x=result["batch_sizes"],
                 title="GPU speed-up over the CPU (CPU seconds / GPU seconds)", x_title="images in the batch (N)",
                 y_title="times faster")
    fig.add_hline(y=1, line_dash="dot", annotation_text="as fast as the CPU")
    return fig


def fft_timing_figure(result: Mapping) -> go.Figure:
    """convolve2d against fftconvolve time as the kernel grows."""
    h, w = result["image_shape"]
    fig = curves({"convolve2d (direct)": result["direct_seconds"], "fftconvolve (FFT)": result["fft_seconds"]},
                 x=result["kernel_sizes"], title=f"'same' convolution of a {h}×{w} image",
                 x_title="kernel size k (a k×k kernel)", y_title="seconds (median)")
    fig.update_yaxes(rangemode="tozero")
    return fig
