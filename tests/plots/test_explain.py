"""Explain figures: overlays reuse Grad-CAM's, the perturbation is amplified around grey, the neuron grids."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnviz.inspect import gradcam, neuron
from cnnviz.plots import explain
from tests.support.glyphs import figure_texts, unsafe_characters


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
    assert fig.layout.annotations[1].text == "probability drop<br>(red = 25.0%)"  # two lines: a third of a phone
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


@pytest.mark.slow
@pytest.mark.parametrize("layer", ["conv_same", "conv_valid", "conv_same_stride"])
def test_neuron_animation_frames_equal_keras_at_every_position(layer):
    from tests.support.models import small_cnn

    model = small_cnn(seed=5, size=9)
    image = np.random.default_rng(0).uniform(size=(9, 9, 3)).astype(np.float32)
    io = neuron.layer_io(model, image, layer)
    out_h, out_w, _ = io.outputs.shape
    spots = neuron.sweep_positions((out_h, out_w), (0, 0))
    assert spots == [(i, j) for i in range(out_h) for j in range(out_w)]  # a small map: every position
    fig = explain.neuron_animation_figure(io.inputs, neuron.sweep(io, 1, spots), (out_h, out_w), input_channel=2)
    assert len(fig.frames) == out_h * out_w == len(fig.layout.sliders[0].steps)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["Play", "Pause"]
    assert unsafe_characters(figure_texts(fig)) == {}  # issue 14: no "□" for a glyph a font lacks
    for k, ((i, j), frame) in enumerate(zip(spots, fig.frames)):
        keras_value = float(io.outputs[i, j, 1])
        products, output = frame.data
        assert frame.name == str(k) and tuple(frame.traces) == (1, 2)
        assert np.asarray(output.z)[i, j] == pytest.approx(keras_value, abs=1e-5)  # the value this frame adds
        filled = ~np.isnan(np.asarray(output.z, dtype=float))
        assert filled.sum() == k + 1 and all(filled[a, b] for a, b in spots[:k + 1])  # the map so far
        n = neuron.neuron(io, 1, i, j)
        np.testing.assert_allclose(np.asarray(products.z), n.products[..., 2])
        said, keras_said = re.search(r"→ (\S+) \(Keras: (\S+)\)$", frame.layout.title.text).groups()
        assert float(said) == pytest.approx(keras_value, abs=1e-4)
        assert float(keras_said) == pytest.approx(keras_value, abs=1e-4)
        window, cell = frame.layout.shapes
        assert (window.x0, window.y0) == (n.window[1] - 0.5, n.window[0] - 0.5)
        assert (cell.x0, cell.y0, cell.xref) == (j - 0.5, i - 0.5, "x3")
    np.testing.assert_array_equal(fig.data[0].z, io.inputs[..., 2])
    assert fig.layout.title.text == fig.frames[0].layout.title.text  # the first frame is what shows first


def test_sweep_positions_of_a_big_map_is_a_block_around_the_position():
    spots = neuron.sweep_positions((32, 32), (31, 16))
    assert len(spots) == neuron.MAX_SWEEP == 144
    assert spots[0] == (20, 10) and spots[-1] == (31, 21) and (31, 16) in spots
    with pytest.raises(Exception, match=r"the position must lie in the 4×4 map and the limit be at least 1, "
                                        r"got \(4, 0\) and 144"):
        neuron.sweep_positions((4, 4), (4, 0))
    with pytest.raises(Exception, match="need at least one position to animate, got none"):
        explain.neuron_animation_figure(np.zeros((3, 3, 1)), [], (1, 1))


def test_epsilon_curves_one_line_per_run():
    fig = explain.epsilon_curves_figure({"run": ([0, 2], [0.9, 0.4]), "twin": ([0, 2], [0.8, 0.6])}, count=5)
    assert [t.name for t in fig.data] == ["run", "twin"] and list(fig.data[1].y) == [0.8, 0.6]
    assert fig.layout.title.text == "Accuracy of 5 test images under FGSM"
