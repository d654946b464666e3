"""Activation maximisation on hand-made filters (the activation grows ≥ 10×, the picture has the filter's pattern),
a class of a linear model, stopping, the top images against numpy, and the display scaling."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import actmax
from tests.support.models import linear_model, small_cnn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def known():
    """Conv 3×3 (ReLU, valid) with two known filters: 0 = red minus blue, 1 = a vertical edge (dark left, bright
    right, all colours); bias 0.3 so a grey start has a small positive activation."""
    import keras

    inp = keras.Input((12, 12, 3), name="image")
    h = keras.layers.Conv2D(2, 3, activation="relu", name="known")(inp)
    h = keras.layers.Flatten(name="flatten")(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="predictions")(h), name="known_filters")
    kernel = np.zeros((3, 3, 3, 2), np.float32)
    kernel[..., 0, 0], kernel[..., 2, 0] = 1.0, -1.0
    kernel[:, 0, :, 1], kernel[:, 2, :, 1] = -1.0, 1.0
    model.get_layer("known").set_weights([kernel, np.full(2, 0.3, np.float32)])
    return model


def _keras_mean(model, images, channel):
    import keras

    sub = keras.Model(model.inputs[0], model.get_layer("known").output)
    return keras.ops.convert_to_numpy(sub(images))[..., channel].mean(axis=(1, 2))


def test_a_known_filters_activation_grows_ten_times_and_the_picture_has_its_pattern(known):
    got = actmax.maximize(known, [0, 1], layer="known", lower=0.0, upper=1.0)
    assert got.units == (0, 1) and got.layer == "known" and got.images.shape == (2, 12, 12, 3)
    assert got.steps_done == actmax.DEFAULT_STEPS  # 12 pixels: one octave, no jitter by default
    assert got.images.min() >= 0.0 and got.images.max() <= 1.0
    assert 0 < got.start[0] and got.final[0] >= 10 * got.start[0]  # the test: ≥ 10× over the start
    assert got.final[1] > got.start[1] + 1  # a mean of differences: at most 9 × (1 − 0) × 2/10 + bias
    seeds = np.full((2, 12, 12, 3), 0.5, np.float32)  # the grey the noise starts around
    keras_start, keras_final = _keras_mean(known, seeds, [0, 1]), _keras_mean(known, got.images, [0, 1])
    assert keras_final[0, 0] >= 10 * keras_start[0, 0]  # the same on Keras' own output (after the ReLU)
    red, green, blue = got.images[0].mean(axis=(0, 1))
    assert red > 0.9 and blue < 0.1  # red minus blue: as red and as little blue as the range allows
    columns = got.images[1].mean(axis=(0, 2))
    assert columns[-1] - columns[0] > 0.5  # the edge: brighter to the right


def test_the_pre_activation_is_maximised_where_relu_gives_no_gradient(known):
    """Bias −1: every grey start is 0 after the ReLU; the pre-activation still climbs out of it."""
    import keras

    model = keras.models.clone_model(known)
    kernel, _ = known.get_layer("known").get_weights()
    model.get_layer("known").set_weights([kernel, np.full(2, -1.0, np.float32)])
    got = actmax.maximize(model, [0], layer="known", lower=0.0, upper=1.0)
    assert got.start[0] < 0 < got.final[0]
    assert _keras_mean(model, got.images, 0)[0] > 1.0


def test_a_class_of_a_linear_model_follows_the_sign_of_its_weights():
    w = np.random.default_rng(0).normal(size=(6, 6, 1, 2)).astype(np.float32)
    model = linear_model(w)
    got = actmax.maximize(model, [1], target="class", lower=0.0, upper=1.0, tv=0.0, jitter=0, blur_sigma=0.0)
    assert got.layer is None and got.final[0] > got.start[0] + 1
    picture = got.images[0, ..., 0]
    strong = np.abs(w[..., 0, 1]) > 0.5
    np.testing.assert_array_equal(picture[strong] > 0.5, w[..., 0, 1][strong] > 0)


def test_stopping_after_some_steps_keeps_what_was_done():
    model = small_cnn(seed=1)
    seen = []

    def on_step(done, total):
        seen.append((done, total))
        return done < 7

    got = actmax.maximize(model, [0, 1, 2], layer="conv_same", steps=10, octaves=2, on_step=on_step)
    assert got.steps_done == 7 and seen[-1] == (7, 20) and got.images.shape == (3, 8, 8, 3)


def test_arguments_are_checked_with_the_values_received():
    model = small_cnn(seed=1)
    with pytest.raises(InvalidArgument, match="no convolution layer 'gap'"):
        actmax.maximize(model, [0], layer="gap")
    with pytest.raises(InvalidArgument, match=r"each 0..4, got \[5\]"):
        actmax.maximize(model, [5], layer="conv_same")
    with pytest.raises(InvalidArgument, match="give no layer"):
        actmax.maximize(model, [0], target="class", layer="conv_same")
    with pytest.raises(InvalidArgument, match="target must be one of channel, class, got 'pixel'"):
        actmax.maximize(model, [0], target="pixel")
    with pytest.raises(InvalidArgument, match="steps must be a whole number from 1 to 500, got 0"):
        actmax.maximize(model, [0], layer="conv_same", steps=0)
    with pytest.raises(InvalidArgument, match="upper must be above lower"):
        actmax.maximize(model, [0], layer="conv_same", lower=1.0, upper=0.0)
    assert actmax.conv_layers(model) == ["conv_same", "conv_valid", "conv_same_stride"]
    assert actmax.channel_count(model, "conv_valid") == 6


def test_top_images_are_the_highest_mean_activations(known):
    x = np.random.default_rng(3).uniform(size=(40, 12, 12, 3)).astype(np.float32)
    moved = []
    got = actmax.top_images(known, x, "known", [1, 0], k=4, batch_size=16, progress=lambda *done: moved.append(done))
    assert moved == [(16, 40), (32, 40), (40, 40)]  # after every batch
    means = _keras_mean(known, x, [1, 0])
    for row, channel in enumerate((1, 0)):
        expected = np.argsort(-means[:, row], kind="stable")[:4]
        np.testing.assert_array_equal(got.indices[row], expected)
        np.testing.assert_allclose(got.scores[row], means[expected, row], rtol=1e-5)
    assert got.channels == (1, 0)


def test_to_uint8_maps_black_and_white_and_stretches():
    images = np.array([[[[-1.0, 0.0], [1.0, 0.5]]]], np.float32)  # 1×1×2×2, input scale −1..1
    plain = actmax.to_uint8(images, np.array([-1.0, -1.0]), np.array([1.0, 1.0]), stretch=False)
    np.testing.assert_array_equal(plain, [[[[0, 128], [255, 191]]]])
    stretched = actmax.to_uint8(images, -1.0, 1.0)
    assert stretched.min() == 0 and stretched.max() == 255


def test_a_network_of_any_size_is_drawn_at_the_size_given_and_refused_without_one():
    import keras

    inputs = keras.Input((None, None, 1), name="image")
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(x), name="any_size")
    pictures = actmax.maximize(model, [0, 1], layer="conv", steps=2, size=(12, 10))
    assert pictures.images.shape[1:3] == (12, 10)
    with pytest.raises(InvalidArgument, match=r"its input is \(None, None, 1\)\): give the size to draw at, "
                                              r"got size=None"):
        actmax.maximize(model, [0], layer="conv", steps=2)
