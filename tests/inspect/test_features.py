"""cnnviz.inspect.features and cnnviz.plots.features on tiny Sequential and functional models."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import features
from cnnviz.plots import features as plots
from tests.support.images import source_pixels


pytestmark = pytest.mark.slow

RNG = np.random.default_rng(3)
IMAGE = RNG.uniform(-1, 1, size=(8, 8, 3)).astype(np.float32)

SEQ_SHAPES = {"conv1": (6, 6, 4), "bn1": (6, 6, 4), "relu1": (6, 6, 4), "pool1": (3, 3, 4), "conv2": (3, 3, 6)}
SEQ_KINDS = {"conv1": "conv", "bn1": "batch norm", "relu1": "activation", "pool1": "pooling", "conv2": "conv"}
FUNC_SHAPES = {
    "stem": (8, 8, 4), "stem_bn": (8, 8, 4), "stem_relu": (8, 8, 4), "branch_1x1": (8, 8, 2),
    "branch_3x3": (8, 8, 3), "concat": (8, 8, 5), "project": (8, 8, 4), "add": (8, 8, 4), "pool": (4, 4, 4),
}


def _seq_layers():
    import keras

    L = keras.layers
    return [
        L.Conv2D(4, 3, name="conv1"), L.BatchNormalization(name="bn1"), L.Activation("relu", name="relu1"),
        L.MaxPooling2D(2, name="pool1"), L.Conv2D(6, 3, padding="same", name="conv2"),
        L.Flatten(name="flatten"), L.Dense(3, activation="softmax", name="dense"),
    ]


def _set_bn(model, name):
    bn = model.get_layer(name)
    c = bn.gamma.shape[0]
    r = np.random.default_rng(5)
    bn.set_weights([r.uniform(0.5, 2, c), r.uniform(-1, 1, c), r.uniform(-0.5, 0.5, c), r.uniform(0.5, 2, c)])


@pytest.fixture(scope="module")
def seq_no_input():
    """Sequential built by calling it on data, without an Input layer."""
    import keras

    model = keras.Sequential(_seq_layers(), name="seq_no_input")
    model.predict(np.zeros((2, 8, 8, 3), np.float32), verbose=0)
    _set_bn(model, "bn1")
    return model


@pytest.fixture(scope="module")
def seq_input():
    import keras

    model = keras.Sequential([keras.Input((8, 8, 3), name="image"), *_seq_layers()], name="seq_input")
    _set_bn(model, "bn1")
    return model


@pytest.fixture(scope="module")
def functional():
    """Inception-style concat and a residual add."""
    import keras

    L = keras.layers
    inp = keras.Input((8, 8, 3), name="image")
    h = L.Conv2D(4, 3, padding="same", name="stem")(inp)
    h = L.BatchNormalization(name="stem_bn")(h)
    h = L.ReLU(name="stem_relu")(h)
    b1 = L.Conv2D(2, 1, name="branch_1x1")(h)
    b2 = L.Conv2D(3, 3, padding="same", name="branch_3x3")(h)
    c = L.Concatenate(name="concat")([b1, b2])
    p = L.Conv2D(4, 1, name="project")(c)
    a = L.Add(name="add")([h, p])
    q = L.MaxPooling2D(2, name="pool")(a)
    g = L.GlobalAveragePooling2D(name="gap")(q)
    out = L.Dense(3, activation="softmax", name="dense")(g)
    model = keras.Model(inp, out, name="functional")
    _set_bn(model, "stem_bn")
    return model


def _numpy_valid_conv(x, kernel, bias):
    """Keras Conv2D 'valid' (cross-correlation) in numpy."""
    kh, kw = kernel.shape[:2]
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(0, 1))  # H'×W'×C×kh×kw
    return np.einsum("ijcab,abco->ijo", win, kernel) + bias


def test_doctests():
    assert doctest.testmod(features).failed == 0


@pytest.mark.parametrize("fixture", ["seq_no_input", "seq_input"])
def test_sequential_every_layer_shape_and_values(fixture, request):
    model = request.getfixturevalue(fixture)
    layers = features.inspectable_layers(model)
    assert [(l["name"], l["kind"], l["output_shape"]) for l in layers] == [
        (n, SEQ_KINDS[n], s) for n, s in SEQ_SHAPES.items()
    ]
    acts = features.activations(model, IMAGE, list(SEQ_SHAPES))
    for name, shape in SEQ_SHAPES.items():
        fm = features.feature_maps(model, IMAGE, name, max_channels=64)
        assert fm.activations.shape == shape
        assert fm.images.shape == (shape[2], shape[0], shape[1]) and fm.images.dtype == np.uint8
        np.testing.assert_allclose(fm.activations, acts[name], rtol=1e-6)
    # Reference values computed in numpy, layer by layer.
    k, b = model.get_layer("conv1").get_weights()
    conv = _numpy_valid_conv(IMAGE.astype(np.float64), k, b)
    np.testing.assert_allclose(acts["conv1"], conv, rtol=1e-4, atol=1e-5)
    gamma, beta, mean, var = model.get_layer("bn1").get_weights()
    bn = gamma * (conv - mean) / np.sqrt(var + model.get_layer("bn1").epsilon) + beta
    np.testing.assert_allclose(acts["bn1"], bn, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(acts["relu1"], np.maximum(bn, 0), rtol=1e-4, atol=1e-5)
    pool = np.maximum(bn, 0)[:6, :6].reshape(3, 2, 3, 2, 4).max(axis=(1, 3))
    np.testing.assert_allclose(acts["pool1"], pool, rtol=1e-4, atol=1e-5)


def test_functional_every_layer_shape_and_merges(functional):
    layers = features.inspectable_layers(functional)
    assert [(l["name"], l["output_shape"]) for l in layers] == list(FUNC_SHAPES.items())
    assert {l["name"]: l["kind"] for l in layers}["concat"] == "merge"
    acts = features.activations(functional, IMAGE[None], list(FUNC_SHAPES))
    for name, shape in FUNC_SHAPES.items():
        assert features.feature_maps(functional, IMAGE, name).activations.shape == shape
        assert acts[name].shape == shape
    np.testing.assert_allclose(acts["concat"], np.concatenate([acts["branch_1x1"], acts["branch_3x3"]], -1), rtol=1e-6)
    np.testing.assert_allclose(acts["add"], acts["stem_relu"] + acts["project"], rtol=1e-5, atol=1e-6)
    k, b = functional.get_layer("stem").get_weights()
    padded = np.pad(IMAGE.astype(np.float64), ((1, 1), (1, 1), (0, 0)))
    np.testing.assert_allclose(acts["stem"], _numpy_valid_conv(padded, k, b), rtol=1e-4, atol=1e-5)


def test_the_model_is_not_changed(functional, seq_no_input):
    for model in (functional, seq_no_input):
        before_w = [w.copy() for w in model.get_weights()]
        before_nodes = [len(layer._inbound_nodes) for layer in model.layers]
        before_pred = model.predict(IMAGE[None], verbose=0)
        for layer in features.inspectable_layers(model):
            features.feature_maps(model, IMAGE, layer["name"])
        features.layer_filters(model)
        assert [len(layer._inbound_nodes) for layer in model.layers] == before_nodes
        for a, b in zip(before_w, model.get_weights()):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(model.predict(IMAGE[None], verbose=0), before_pred)
    assert functional.get_layer("add").output.shape == (None, 8, 8, 4)  # graph still intact


def test_feature_map_options(functional):
    fm = features.feature_maps(functional, IMAGE, "concat", max_channels=3, columns=2)
    assert fm.channels == (0, 1, 2) and fm.images.shape == (3, 8, 8)
    assert (fm.rows, fm.columns) == (2, 2)
    assert len(fm.stats) == 5  # statistics cover every channel, not only the shown ones
    shared = features.feature_maps(functional, IMAGE, "concat", normalization="shared")
    assert shared.images.min() == 0 and shared.images.max() == 255
    with pytest.raises(InvalidArgument, match="normalization must be one of per_map, shared, got 'global'"):
        features.feature_maps(functional, IMAGE, "concat", normalization="global")
    with pytest.raises(InvalidArgument, match="model 'functional' has no layer 'nope'; its layers are stem, "):
        features.feature_maps(functional, IMAGE, "nope")
    with pytest.raises(InvalidArgument, match=r"layer 'gap' outputs 1 axes per image \(4,\), not feature maps"):
        features.feature_maps(functional, IMAGE, "gap")
    with pytest.raises(InvalidArgument, match=r"need one image H×W×C \(or 1×H×W×C\), got an array of shape \(2, 8, 8, 3\)"):
        features.feature_maps(functional, np.zeros((2, 8, 8, 3)), "stem")


def test_unbuilt_model_is_refused():
    import keras

    model = keras.Sequential([keras.layers.Conv2D(2, 3, name="c")], name="unbuilt")
    with pytest.raises(InvalidArgument, match="model 'unbuilt' has not been built yet"):
        features.inspectable_layers(model)


def test_normalize_maps_matches_seed_004():
    maps = RNG.normal(3, 2, size=(5, 4, 2))
    maps[..., 1] = 7.0  # a constant map
    out = features.normalize_maps(maps, "per_map")
    ch = maps[..., 0]
    want = np.clip(np.round((ch - ch.mean()) / ch.std() * 64 + 128), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out[0], want)
    np.testing.assert_array_equal(out[1], np.full((5, 4), 128, np.uint8))
    shared = features.normalize_maps(maps, "shared")
    lo, hi = maps.min(), maps.max()
    np.testing.assert_array_equal(shared[0], np.round((maps[..., 0] - lo) / (hi - lo) * 255).astype(np.uint8))


def test_channel_stats_and_grid():
    maps = np.array([[[1.0, -1.0], [3.0, 0.0]], [[-2.0, 2.0], [0.0, 4.0]]])  # 2×2×2
    stats = features.channel_stats(maps)
    assert stats[0] == dict(channel=0, mean=0.5, std=pytest.approx(np.std([1, 3, -2, 0])), min=-2.0, max=3.0, active=0.5)
    assert stats[1]["active"] == 0.5 and stats[1]["max"] == 4.0
    assert features.grid_shape(5) == (2, 3)
    assert features.grid_shape(100) == (13, 8)
    assert features.grid_shape(3, columns=10) == (1, 3)


def test_first_layer_filters_are_the_kernel_rescaled(seq_input):
    kernel = seq_input.get_layer("conv1").get_weights()[0].astype(np.float64)  # 3×3×3×4
    f = features.layer_filters(seq_input)
    assert f.layer_name == "conv1" and f.kernel_shape == (3, 3, 3, 4)
    scaled = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    np.testing.assert_allclose(f.rgb, np.transpose(scaled, (3, 0, 1, 2)))  # filter, kh, kw, RGB
    np.testing.assert_allclose(f.per_channel, np.transpose(scaled, (3, 2, 0, 1)))
    np.testing.assert_array_equal(f.weights, kernel.astype(np.float32))
    per = features.layer_filters(seq_input, scale="per_filter", max_filters=2)
    k0 = kernel[..., 0]
    np.testing.assert_allclose(per.rgb[0], (k0 - k0.min()) / (k0.max() - k0.min()))
    assert per.rgb.shape == (2, 3, 3, 3)


def test_deeper_layer_filters_per_channel(seq_input):
    kernel = seq_input.get_layer("conv2").get_weights()[0].astype(np.float64)  # 3×3×4×6
    f = features.layer_filters(seq_input, "conv2", max_filters=5, max_channels=2)
    assert f.rgb is None  # 4 input channels: no colour tiles
    assert f.per_channel.shape == (5, 2, 3, 3) and f.filters == tuple(range(5)) and f.in_channels == (0, 1)
    scaled = (kernel - kernel.min()) / (kernel.max() - kernel.min())
    np.testing.assert_allclose(f.per_channel[4, 1], scaled[:, :, 1, 4])
    assert [c["name"] for c in features.conv_layers(seq_input)] == ["conv1", "conv2"]
    assert all(c["trainable"] for c in features.conv_layers(seq_input))
    with pytest.raises(InvalidArgument, match="layer 'bn1' is not a convolution layer; choose one of conv1, conv2"):
        features.layer_filters(seq_input, "bn1")


# --- figures ----------------------------------------------------------------------------
def test_feature_map_figure(functional):
    fm = features.feature_maps(functional, IMAGE, "concat")
    fig = plots.feature_map_figure(fm)
    assert len(fig.data) == 1 and fig.data[0].type == "image"  # one picture of tiles, not a subplot each
    assert [a.text for a in fig.layout.annotations] == [f"ch {c}" for c in range(5)]
    mosaic = source_pixels(fig.data[0])  # one grey PNG
    h, w = fm.images.shape[1:]
    for caption, tile in zip(fig.layout.annotations, fm.images):  # each caption sits above its own map
        top, left = int(caption.y + 0.5), int(caption.x - (w - 1) / 2)
        np.testing.assert_array_equal(mosaic[top:top + h, left:left + w], tile)
    assert (mosaic == 255).sum() >= mosaic.size - fm.images.size  # the rest is white gaps
    stats = plots.channel_stats_figure(fm)
    np.testing.assert_allclose(stats.data[0].y, [s["mean"] for s in fm.stats])
    assert (stats.layout.xaxis.tickmode, stats.layout.xaxis.dtick) == ("linear", 1)  # 5 channels: 0, 1, 2 …


def test_filter_figures_show_the_scaled_kernel(seq_input):
    f = features.layer_filters(seq_input)
    rgb = plots.filters_figure(f, mode="rgb")
    assert len(rgb.data) == 4
    np.testing.assert_array_equal(np.array(rgb.data[1].z), np.round(f.rgb[1] * 255).astype(np.uint8))
    grey = plots.filters_figure(f, mode="channels")
    assert len(grey.data) == 4 * 3
    np.testing.assert_array_equal(np.array(grey.data[3 * 2 + 1].z)[..., 0],
                                  np.round(f.per_channel[2, 1] * 255).astype(np.uint8))
    deeper = features.layer_filters(seq_input, "conv2")
    with pytest.raises(InvalidArgument, match="layer 'conv2' sees 4 input channels, not 3"):
        plots.filters_figure(deeper, mode="rgb")


def test_a_frozen_conv_is_marked_not_trainable(seq_input):
    """The fast presets' whitening conv is frozen: Inside must not call its weights "learned" (issue 14)."""
    seq_input.get_layer("conv1").trainable = False
    try:
        assert [(c["name"], c["trainable"]) for c in features.conv_layers(seq_input)] == [
            ("conv1", False), ("conv2", True)]
    finally:
        seq_input.get_layer("conv1").trainable = True


def test_zero_channels_counts_a_relu_that_never_fired_not_a_channel_that_is_negative_everywhere():
    import keras

    inputs = keras.Input((4, 4, 1), name="image")
    conv = keras.layers.Conv2D(3, 1, name="conv", kernel_initializer=keras.initializers.Constant(
        np.array([[[[1.0, -1.0, -1.0]]]])), bias_initializer=keras.initializers.Constant([0.0, 0.0, -0.5]))(inputs)
    relu = keras.layers.ReLU(name="relu")(conv)
    model = keras.Model(inputs, relu, name="probe")
    image = np.full((4, 4, 1), 0.25, np.float32)  # conv: 0.25, -0.25, -0.75 everywhere
    before, after = (features.feature_maps(model, image, name) for name in ("conv", "relu"))
    assert [s["max"] for s in before.stats] == pytest.approx([0.25, -0.25, -0.75])
    assert features.zero_channels(before) == 0  # negative everywhere is not zero (batch norm before the ReLU)
    assert features.zero_channels(after) == 2  # the ReLU never fired in two channels
