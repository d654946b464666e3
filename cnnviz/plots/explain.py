"""Figures for the Explain page: saliency overlays, occlusion map, adversarial images and the ε curve,
and one neuron's arithmetic. Heat maps reuse Grad-CAM's jet colours and overlay."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnnviz.inspect.gradcam import colorize, overlay
from cnnviz.plots.common import image_grid

MAX_NEURON_CHANNELS = 4  # input channels drawn in the neuron figure (the sums cover all of them)
PERTURBATION_GAIN = 10.0  # the perturbation is tiny: drawn ten times larger around mid-grey


def heat_figure(image_uint8: np.ndarray, heats: Mapping[str, np.ndarray], *, tile_px: int = 140) -> go.Figure:
    """The network's input, then each heat map (values in [0, 1]) blended over it, side by side."""
    tiles = [image_uint8] + [overlay(image_uint8, np.clip(h, 0.0, 1.0)) for h in heats.values()]
    fig = image_grid(tiles, titles=["network input", *heats], columns=len(tiles), tile_px=tile_px)
    fig.update_layout(margin=dict(l=5, r=5, t=30, b=5), height=tile_px + 70)
    return fig


def occlusion_figure(image_uint8: np.ndarray, heat: np.ndarray, *, tile_px: int = 160) -> go.Figure:
    """The input, the drop of the class's probability (jet: the largest drop red) and the overlay."""
    peak = float(np.max(heat)) if np.size(heat) else 0.0
    scaled = np.clip(heat / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heat)
    fig = image_grid([image_uint8, colorize(scaled), overlay(image_uint8, scaled)],
                     titles=["network input", f"probability drop (red = {peak:.1%})", "overlay"],
                     columns=3, tile_px=tile_px)
    fig.update_layout(margin=dict(l=5, r=5, t=30, b=5), height=tile_px + 70)
    return fig


def attack_figure(before_uint8: np.ndarray, after_uint8: np.ndarray, captions: Sequence[str], *,
                  tile_px: int = 160) -> go.Figure:
    """The image, the perturbation (× :data:`PERTURBATION_GAIN` around grey) and the perturbed image."""
    diff = after_uint8.astype(np.float32) - before_uint8.astype(np.float32)
    amplified = np.clip(np.round(128 + PERTURBATION_GAIN * diff), 0, 255).astype(np.uint8)
    fig = image_grid([before_uint8, amplified, after_uint8], titles=list(captions), columns=3, tile_px=tile_px)
    fig.update_layout(margin=dict(l=5, r=5, t=30, b=5), height=tile_px + 70)
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
