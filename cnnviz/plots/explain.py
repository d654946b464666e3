"""Figures for the Explain page: saliency overlays, occlusion map, adversarial images and the ε curve,
and one neuron's arithmetic. Heat maps reuse Grad-CAM's jet colours and overlay."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.errors import InvalidArgument
from cnnviz.inspect.gradcam import colorize, overlay
from cnnviz.plots.common import image_grid

MAX_NEURON_CHANNELS = 4  # input channels drawn in the neuron figure (the sums cover all of them)
PERTURBATION_GAIN = 10.0  # the perturbation is tiny: drawn ten times larger around mid-grey


def heat_figure(image_uint8: np.ndarray, heats: Mapping[str, np.ndarray], *, tile_px: int = 140) -> go.Figure:
    """The network's input, then each heat map (values in [0, 1]) blended over it, side by side."""
    tiles = [image_uint8] + [overlay(image_uint8, np.clip(h, 0.0, 1.0)) for h in heats.values()]
    fig = image_grid(tiles, titles=["network input", *heats], columns=len(tiles), tile_px=tile_px)
    fig.update_layout(height=tile_px + 40 + fig.layout.margin.t)  # image_grid's margin holds the captions' lines
    return fig


def occlusion_figure(image_uint8: np.ndarray, heat: np.ndarray, *, tile_px: int = 160) -> go.Figure:
    """The input, the drop of the class's probability (jet: the largest drop red) and the overlay."""
    peak = float(np.max(heat)) if np.size(heat) else 0.0
    scaled = np.clip(heat / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heat)
    fig = image_grid([image_uint8, colorize(scaled), overlay(image_uint8, scaled)],
                     titles=["network input", f"probability drop (red = {peak:.1%})", "overlay"],
                     columns=3, tile_px=tile_px)
    fig.update_layout(height=tile_px + 40 + fig.layout.margin.t)  # image_grid's margin holds the captions' lines
    return fig


def attack_figure(before_uint8: np.ndarray, after_uint8: np.ndarray, captions: Sequence[str], *,
                  tile_px: int = 160) -> go.Figure:
    """The image, the perturbation (× :data:`PERTURBATION_GAIN` around grey) and the perturbed image."""
    diff = after_uint8.astype(np.float32) - before_uint8.astype(np.float32)
    amplified = np.clip(np.round(128 + PERTURBATION_GAIN * diff), 0, 255).astype(np.uint8)
    fig = image_grid([before_uint8, amplified, after_uint8], titles=list(captions), columns=3, tile_px=tile_px)
    fig.update_layout(height=tile_px + 40 + fig.layout.margin.t)  # image_grid's margin holds the captions' lines
    return fig


def epsilon_curve_figure(epsilons: Sequence[float], accuracy: Sequence[float], *, count: int) -> go.Figure:
    """Test accuracy against the FGSM ε (in grey levels)."""
    fig = go.Figure(go.Scatter(x=list(epsilons), y=list(accuracy), mode="lines+markers", name="FGSM",
                               hovertemplate="ε = %{x} grey levels: %{y:.1%}<extra></extra>"))
    fig.update_layout(title=f"Accuracy of {count} test images under FGSM", xaxis_title="ε (grey levels of 255)",
                      yaxis=dict(range=[0, 1], tickformat=".0%", title="accuracy"), height=340,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def neuron_figure(n) -> go.Figure:
    """A :class:`cnnviz.inspect.neuron.Neuron`: for each input channel (at most 4), the input patch, the
    kernel slice and their products as number grids (padding cells marked "pad")."""
    channels = min(n.patch.shape[-1], MAX_NEURON_CHANNELS)
    titles = []
    for c in range(channels):
        titles += [f"input channel {c}", f"kernel slice {c}", f"products (sum {n.channel_sums[c]:.3g})"]
    fig = make_subplots(rows=channels, cols=3, subplot_titles=titles, horizontal_spacing=0.06,
                        vertical_spacing=min(0.08, 0.5 / max(channels - 1, 1)))
    for c in range(channels):
        patch_text = np.where(n.padded, "pad", np.vectorize(lambda v: f"{v:.2f}")(n.patch[..., c]))
        for col, (values, text, scale) in enumerate(((n.patch[..., c], patch_text, "gray"),
                                                     (n.kernel[..., c], None, "RdBu_r"),
                                                     (n.products[..., c], None, "RdBu_r")), start=1):
            m = float(np.max(np.abs(values))) or 1.0
            fig.add_trace(go.Heatmap(z=values, text=text, texttemplate="%{text}" if text is not None else "%{z:.2f}",
                                     colorscale=scale, zmin=None if scale == "gray" else -m,
                                     zmax=None if scale == "gray" else m, showscale=False,
                                     hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>"),
                          row=c + 1, col=col)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=60 + 190 * channels, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"{n.layer_name}, filter {n.channel}, position {n.position}: "
                            f"{n.total:.4f} + bias {n.bias:.4f} → {n.activation} → {n.value:.4f}")
    return fig


def neuron_animation_figure(inputs: np.ndarray, neurons: Sequence, out_shape: tuple[int, int], *,
                            input_channel: int = 0, frame_ms: int = 400) -> go.Figure:
    """One neuron's arithmetic stepped across the feature map (CNN Explainer's animation): a Plotly animation
    with a play button and a slider, one frame per position.

    Panels: the layer's input (one channel) with the window, that channel's elementwise products, and the
    output map filled position by position with the value the arithmetic gives (the frame's title adds
    the sum, bias and activation, and what Keras computed).

    Args:
        inputs: the layer's input for this image, H×W×C (:attr:`cnnviz.inspect.neuron.LayerIO.inputs`).
        neurons: :func:`cnnviz.inspect.neuron.sweep` of one filter, in frame order.
        out_shape: the feature map's (height, width).
        input_channel: the input channel drawn (the sums cover all of them).
        frame_ms: how long each frame shows when playing.
    """
    if not neurons:
        raise InvalidArgument("need at least one position to animate, got none")
    c = int(input_channel)
    if not 0 <= c < inputs.shape[-1]:
        raise InvalidArgument(f"input channel must be 0..{inputs.shape[-1] - 1}, got {input_channel!r}")
    kh, kw = neurons[0].kernel.shape[:2]
    in_h, in_w = inputs.shape[:2]
    out = np.full(tuple(int(d) for d in out_shape), np.nan)
    values = [n.value for n in neurons]
    span = max(float(np.max(np.abs(values))), 1e-12)
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06, column_widths=[0.4, 0.2, 0.4],
                        subplot_titles=[f"layer input, channel {c}", f"products, channel {c}", "output map"])

    def frame_traces(k: int) -> list:
        n = neurons[k]
        i, j = n.position
        out[i, j] = n.value
        m = float(np.max(np.abs(n.products[..., c]))) or 1.0
        return [go.Heatmap(z=n.products[..., c], texttemplate="%{z:.2f}", colorscale="RdBu_r", zmin=-m, zmax=m,
                           showscale=False, xaxis="x2", yaxis="y2", hovertemplate="%{z:.4f}<extra></extra>"),
                go.Heatmap(z=out.copy(), colorscale="RdBu_r", zmin=-span, zmax=span, showscale=False,
                           xaxis="x3", yaxis="y3", hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>")]

    def frame_layout(k: int) -> dict:
        n = neurons[k]
        top, left = n.window
        i, j = n.position
        return dict(title=dict(text=f"position ({i}, {j}): {n.total:.4f} + bias {n.bias:.4f} → {n.activation} → "
                                    f"{n.value:.4f} (Keras: {n.keras_value:.4f})"),
                    shapes=[dict(type="rect", xref="x", yref="y", x0=left - 0.5, x1=left + kw - 0.5, y0=top - 0.5,
                                 y1=top + kh - 0.5, line=dict(color="red", width=3)),
                            dict(type="rect", xref="x3", yref="y3", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5,
                                 line=dict(color="red", width=3))])

    fig.add_trace(go.Heatmap(z=inputs[..., c], colorscale="gray", showscale=False,
                             hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>"), row=1, col=1)
    frames = []
    for k in range(len(neurons)):
        frames.append(go.Frame(name=str(k), data=frame_traces(k), traces=[1, 2], layout=frame_layout(k)))
    first = frames[0]
    out[:] = np.nan
    for trace in frame_traces(0):
        fig.add_trace(trace)
    fig.frames = frames
    tops = [n.window[0] for n in neurons]
    lefts = [n.window[1] for n in neurons]
    fig.update_xaxes(range=[min(min(lefts), 0) - 0.5, max(max(lefts) + kw, in_w) - 0.5], row=1, col=1)
    fig.update_yaxes(range=[max(max(tops) + kh, in_h) - 0.5, min(min(tops), 0) - 0.5], row=1, col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.update_yaxes(autorange="reversed", row=1, col=3)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    play = dict(frame=dict(duration=int(frame_ms), redraw=True), fromcurrent=True, transition=dict(duration=0))
    stop = dict(frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))
    # Plain words: "❚" (and "▶") are missing from common fonts and drew as "□" (tests/support/glyphs.py).
    buttons = [dict(label="Play", method="animate", args=[None, play]),
               dict(label="Pause", method="animate", args=[[None], stop])]
    fig.update_layout(
        height=470, margin=dict(l=10, r=10, t=70, b=110), **first.layout.to_plotly_json(),
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.08, xanchor="left", yanchor="top",
                          showactive=False, buttons=buttons)],
        sliders=[dict(active=0, x=0.18, len=0.82, y=-0.02, yanchor="top", currentvalue=dict(prefix="position "),
                      steps=[dict(label=f"{n.position[0]},{n.position[1]}", method="animate",
                                  args=[[str(k)], dict(stop, frame=dict(duration=0, redraw=True))])
                             for k, n in enumerate(neurons)])],
    )
    return fig


def epsilon_curves_figure(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, count: int,
                          title: str | None = None) -> go.Figure:
    """Test accuracy against the FGSM ε, one line per run (``{name: (epsilons, accuracy)}``), e.g. a run and its
    augmented twin."""
    fig = go.Figure([go.Scatter(x=list(eps), y=list(acc), mode="lines+markers", name=name,
                                hovertemplate=f"{name}<br>ε = %{{x}} grey levels: %{{y:.1%}}<extra></extra>")
                     for name, (eps, acc) in curves.items()])
    fig.update_layout(title=title or f"Accuracy of {count} test images under FGSM",
                      xaxis_title="ε (grey levels of 255)", yaxis=dict(range=[0, 1.02], tickformat=".0%",
                                                                        title="test accuracy"),
                      height=340, legend=dict(orientation="h"), margin=dict(l=10, r=10, t=40, b=10))
    return fig
