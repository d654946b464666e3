"""Explain figures: overlays reuse Grad-CAM's, the perturbation is amplified around grey, the neuron grids."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.inspect import gradcam, neuron
from cnnviz.plots import explain


def test_heat_figure_overlays_each_map():
    img = np.full((6, 6, 3), 90, np.uint8)
    heat = np.linspace(0, 1, 36, dtype=np.float32).reshape(6, 6)
    fig = explain.heat_figure(img, {"a": heat, "b": heat * 0})
    assert [a.text for a in fig.layout.annotations] == ["network input", "a", "b"]
    np.testing.assert_array_equal(fig.data[1].z, gradcam.overlay(img, heat))


def test_occlusion_and_attack_figures():
    img = np.full((4, 4, 1), 100, np.uint8)
    heat = np.zeros((4, 4), np.float32)
    heat[1, 1] = 0.25
    fig = explain.occlusion_figure(img, heat)
    assert fig.layout.annotations[1].text == "probability drop (red = 25.0%)"
    after = img.copy()
    after[0, 0] = 103
    fig = explain.attack_figure(img, after, ["a", "b", "c"])
    assert fig.data[1].z[0, 0, 0] == 128 + 30 and fig.data[1].z[1, 1, 0] == 128
    curve = explain.epsilon_curve_figure([0, 1], [0.9, 0.5], count=10)
    assert list(curve.data[0].y) == [0.9, 0.5]


@pytest.mark.slow
def test_neuron_figure_marks_the_padding():
    from tests.support.models import small_cnn

    model = small_cnn(seed=0)
    io = neuron.layer_io(model, np.random.default_rng(0).uniform(size=(8, 8, 3)), "conv_same")
    n = neuron.neuron(io, 0, 0, 0)
    fig = explain.neuron_figure(n)
    assert len(fig.data) == 9  # 3 input channels × (patch, kernel, products)
    assert fig.data[0].text[0][0] == "pad" and fig.data[0].text[1][1] != "pad"
    assert fig.layout.title.text.endswith(f"→ {n.value:.4f}")


def test_epsilon_curves_one_line_per_run():
    fig = explain.epsilon_curves_figure({"run": ([0, 2], [0.9, 0.4]), "twin": ([0, 2], [0.8, 0.6])}, count=5)
    assert [t.name for t in fig.data] == ["run", "twin"] and list(fig.data[1].y) == [0.8, 0.6]
    assert fig.layout.title.text == "Accuracy of 5 test images under FGSM"
