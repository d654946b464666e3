"""One neuron's arithmetic equals the layer's output at every position, for 'same' and 'valid' padding and strides."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import neuron
from tests.support.models import small_cnn, tiny_build

pytestmark = pytest.mark.slow

LAYERS = {"conv_same": ("same", (1, 1)), "conv_valid": ("valid", (2, 2)), "conv_same_stride": ("same", (2, 2))}


@pytest.fixture(scope="module")
def model():
    return small_cnn(seed=5, size=9)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).uniform(size=(9, 9, 3)).astype(np.float32)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_arithmetic_equals_keras_at_every_position(model, image, layer):
    io = neuron.layer_io(model, image, layer)
    assert (io.padding, io.strides) == LAYERS[layer]
    out_h, out_w, cout = io.outputs.shape
    for k in range(cout):
        for i in range(out_h):
            for j in range(out_w):
                n = neuron.neuron(io, k, i, j)
                assert n.matches, (layer, k, i, j, n.value, n.keras_value)
                assert n.value == pytest.approx(n.keras_value, abs=1e-5)
                np.testing.assert_allclose(n.products, n.patch * n.kernel)
                assert n.total == pytest.approx(float(n.products.sum()), abs=1e-5)
                assert n.pre_activation == pytest.approx(n.total + n.bias)


def test_the_pieces_of_one_neuron(model, image):
    io = neuron.layer_io(model, image, "conv_same")
    n = neuron.neuron(io, 2, 0, 4)
    assert n.window == (-1, 3) and n.activation == "relu"
    assert n.padded[0].all() and not n.padded[1:].any()  # the top row of the window is padding
    np.testing.assert_array_equal(n.patch[1:], image[0:2, 3:6])
    np.testing.assert_array_equal(n.patch[0], 0)
    np.testing.assert_array_equal(n.kernel, model.get_layer("conv_same").get_weights()[0][..., 2])
    assert n.bias == pytest.approx(float(model.get_layer("conv_same").get_weights()[1][2]))
    assert n.value == pytest.approx(max(n.pre_activation, 0.0), abs=1e-6)
    np.testing.assert_allclose(n.channel_sums, n.products.sum(axis=(0, 1)), atol=1e-6)
    valid = neuron.neuron(neuron.layer_io(model, image, "conv_valid"), 0, 3, 1)
    assert valid.window == (6, 2) and not valid.padded.any() and valid.activation == "tanh"
    strided = neuron.neuron(neuron.layer_io(model, image, "conv_same_stride"), 0, 0, 1)
    assert strided.window == (-1, 1) and strided.padded[0].all() and strided.padded[:, 3].all()  # 4→2: 1 before, 1 after


def test_sequential_models_and_errors():
    model = tiny_build((6, 6, 1), 3)
    model.get_layer("conv-1").set_weights([np.arange(9, dtype=np.float32).reshape(3, 3, 1, 1).repeat(4, -1) - 4,
                                           np.array([0.5, -0.5, 0.0, 1.0], np.float32)])
    image = np.random.default_rng(1).uniform(size=(6, 6, 1)).astype(np.float32)
    assert neuron.conv2d_layers(model) == ["conv-1"]
    io = neuron.layer_io(model, image, "conv-1")
    assert all(neuron.neuron(io, k, i, j).matches for k in range(4) for i in range(4) for j in range(4))
    with pytest.raises(InvalidArgument, match="layer 'flatten' is not a plain Conv2D layer of model 'test-tiny'; "
                                              "choose one of conv-1"):
        neuron.layer_io(model, image, "flatten")
    with pytest.raises(InvalidArgument, match=r"channel must be 0\.\.3, got 4"):
        neuron.neuron(io, 4, 0, 0)
    with pytest.raises(InvalidArgument, match=r"row must be 0\.\.3, got -1"):
        neuron.neuron(io, 0, -1, 0)
    assert doctest.testmod(neuron).failed == 0


def test_a_sweep_of_a_wide_map_holds_the_chosen_position():
    """A 4×20 map (a wide image): the 2×2 block around column 19 is the last two columns, not clamped by the
    height."""
    assert neuron.sweep_positions((4, 20), (0, 19), limit=4) == [(0, 18), (0, 19), (1, 18), (1, 19)]
    assert neuron.sweep_positions((20, 4), (19, 0), limit=4) == [(18, 0), (18, 1), (19, 0), (19, 1)]


def test_a_bfloat16_convolution_equals_keras_up_to_its_rounding():
    """A fast network's convolutions compute in bfloat16, reading the float32 image or a float32 GELU: the layer
    rounds its input and kernel to bfloat16 before multiplying and rounds its output, so the arithmetic shown uses
    the rounded values and equals Keras up to that rounding (Explain said "NOT equal" for most of its neurons)."""
    from cnnviz.models.network import build_model
    from cnnviz.models.presets import PRESETS

    model = build_model(PRESETS["fast_3min"].config, input_shape=(32, 32, 3), num_classes=10)
    assert model.get_layer("group1_gelu_1").compute_dtype == "float32"
    image = np.random.default_rng(3).normal(size=(32, 32, 3)).astype(np.float32)
    for layer in ("group1_conv_2", "group1_conv_1", "group2_conv_1", "whiten"):
        io = neuron.layer_io(model, image, layer)
        out_h, out_w, cout = io.outputs.shape
        misses = [(k, i, j) for k in range(0, cout, 3) for i in range(0, out_h, 2) for j in range(0, out_w, 2)
                  if not neuron.neuron(io, k, i, j).matches]
        assert misses == [], layer
        assert io.precision == "bfloat16"
        n = neuron.neuron(io, 0, 1, 1)  # the values shown are bfloat16 numbers: 8 significant bits
        assert np.array_equal(n.patch, n.patch.astype("bfloat16").astype(np.float32))
        assert np.array_equal(n.kernel, n.kernel.astype("bfloat16").astype(np.float32))
