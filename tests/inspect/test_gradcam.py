"""Grad-CAM: values against a numpy reference, localisation, model kinds, overlay, errors."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import gradcam


SIZE = 16
RED, GREEN = 0, 1  # class ids of the colour models below


def _colour_layers(keras, pool: bool):
    """Conv 1×1 (channel 0 = red, channel 1 = green) → [pool] → GAP → Dense: class 0 red, class 1 green."""
    layers = [keras.layers.Conv2D(2, 1, use_bias=False, activation="relu", name="color_conv")]
    if pool:
        layers.append(keras.layers.MaxPooling2D(2, name="pool"))
    layers += [keras.layers.GlobalAveragePooling2D(name="gap"),
               keras.layers.Dense(2, activation="softmax", name="predictions")]
    return layers


def _set_colour_weights(model):
    conv = np.zeros((1, 1, 3, 2), np.float32)
    conv[0, 0, 0, 0] = 1.0 / 255  # red channel → feature 0
    conv[0, 0, 1, 1] = 1.0 / 255  # green channel → feature 1
    model.get_layer("color_conv").set_weights([conv])
    model.get_layer("predictions").set_weights([np.eye(2, dtype=np.float32) * 10, np.zeros(2, np.float32)])
    return model


def colour_sequential(pool: bool = False):
    import keras

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3), name="image"), *_colour_layers(keras, pool)],
                             name="colour_seq")
    return _set_colour_weights(model)


def colour_functional(pool: bool = False):
    import keras

    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = inputs
    for layer in _colour_layers(keras, pool):
        x = layer(x)
    return _set_colour_weights(keras.Model(inputs, x, name="colour_fn"))


def two_squares(red_side: int = 6, green_side: int = 4) -> np.ndarray:
    """Black image, a red square top-left and a smaller green square bottom-right (float 0..255)."""
    img = np.zeros((SIZE, SIZE, 3), np.float32)
    img[:red_side, :red_side, 0] = 255
    img[SIZE - green_side:, SIZE - green_side:, 1] = 255
    return img


def _region_means(cam: np.ndarray, side: int, corner: str) -> tuple[float, float]:
    mask = np.zeros(cam.shape, bool)
    if corner == "tl":
        mask[:side, :side] = True
    else:
        mask[SIZE - side:, SIZE - side:] = True
    return float(cam[mask].mean()), float(cam[~mask].mean())


@pytest.fixture(scope="module", params=["sequential", "functional"])
def colour_model(request):
    return colour_sequential() if request.param == "sequential" else colour_functional()


def test_heatmap_peaks_in_the_region_the_class_depends_on(colour_model):
    img = two_squares()
    red = gradcam.gradcam(colour_model, img, class_index=RED)
    green = gradcam.gradcam(colour_model, img, class_index=GREEN)
    for cam in (red, green):
        assert cam.shape == (SIZE, SIZE) and cam.dtype == np.float32
        assert cam.min() >= 0 and cam.max() == pytest.approx(1.0)
    r_in, r_out = _region_means(red, 6, "tl")
    g_in, g_out = _region_means(green, 4, "br")
    assert r_in > 0.9 and r_out < 0.05
    assert g_in > 0.9 and g_out < 0.05
    assert np.unravel_index(np.argmax(red), red.shape) < (6, 6)


def test_default_class_is_the_predicted_one(colour_model):
    img = two_squares(red_side=7, green_side=3)  # more red: class RED wins
    probs = colour_model.predict(img[None], verbose=0)[0]
    assert int(np.argmax(probs)) == RED
    np.testing.assert_array_equal(gradcam.gradcam(colour_model, img), gradcam.gradcam(colour_model, img, class_index=RED))
    img = two_squares(red_side=3, green_side=7)
    np.testing.assert_array_equal(gradcam.gradcam(colour_model, img), gradcam.gradcam(colour_model, img, class_index=GREEN))


def test_coarser_layer_is_upsampled_to_the_input_size():
    model = colour_functional(pool=True)
    cam = gradcam.gradcam(model, two_squares(), class_index=RED, layer_name="pool")
    assert cam.shape == (SIZE, SIZE)
    inside, outside = _region_means(cam, 6, "tl")
    assert inside > 5 * outside
    assert gradcam.last_conv_layer_name(model) == "color_conv"


def test_no_evidence_gives_zeros_not_nan(colour_model):
    cam = gradcam.gradcam(colour_model, np.zeros((SIZE, SIZE, 3), np.float32), class_index=RED)
    assert np.array_equal(cam, np.zeros((SIZE, SIZE), np.float32))


def _random_head_model(final: str):
    """Input → Conv 1×1 (5 features, relu) → GAP → Dense(4) with random weights; softmax in Dense,
    as a separate layer, or none."""
    import keras

    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 7, 3), name="image")
    feats = keras.layers.Conv2D(5, 1, activation="relu", name="feat")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(feats)
    if final == "dense_softmax":
        out = keras.layers.Dense(4, activation="softmax", name="predictions")(pooled)
    elif final == "softmax_layer":
        logits = keras.layers.Dense(4, name="logits")(pooled)
        out = keras.layers.Softmax(name="predictions")(logits)
    else:
        out = keras.layers.Dense(4, name="logits")(pooled)
    return keras.Model(inputs, out, name=f"head_{final}")


@pytest.mark.parametrize("final", ["dense_softmax", "softmax_layer", "linear"])
def test_values_equal_a_numpy_reference_on_the_logits(final):
    model = _random_head_model(final)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 7, 3)).astype(np.float32)
    conv_w, conv_b = model.get_layer("feat").get_weights()
    dense_w, dense_b = (model.get_layer("predictions") if final == "dense_softmax" else model.get_layer("logits")).get_weights()
    feats = np.maximum(np.einsum("nhwc,ck->nhwk", x, conv_w[0, 0]) + conv_b, 0)
    logits = feats.mean(axis=(1, 2)) @ dense_w + dense_b
    classes = [None, 2]
    expected = []
    for n, c in enumerate(classes):
        c = int(np.argmax(logits[n])) if c is None else c
        alpha = dense_w[:, c] / (6 * 7)  # d logit_c / d A_ijk, averaged over the 6×7 map
        cam = np.maximum(np.einsum("hwk,k->hw", feats[n], alpha), 0)
        expected.append(cam / cam.max() if cam.max() > 0 else cam)
    got = gradcam.gradcam_batch(model, x, class_indices=classes)
    assert got.shape == (2, 6, 7)
    np.testing.assert_allclose(got, np.stack(expected), atol=1e-5)


def test_resnet50_architecture_heatmap():
    import keras

    model = keras.applications.ResNet50(weights=None)
    assert gradcam.last_conv_layer_name(model) == "conv5_block3_out"
    x = np.random.default_rng(0).normal(0, 50, size=(224, 224, 3)).astype(np.float32)
    cam = gradcam.gradcam(model, x, class_index=7)
    assert cam.shape == (224, 224)
    assert cam.min() >= 0 and cam.max() <= 1 and np.isfinite(cam).all()
    batch = gradcam.gradcam_batch(model, np.stack([x, x[::-1]]), class_indices=[7, None])
    assert batch.shape == (2, 224, 224)
    np.testing.assert_allclose(batch[0], cam, atol=1e-5)


def test_last_conv_layer_follows_batchnorm_and_activation():
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(3, 3, name="c1")(inputs)
    x = keras.layers.Conv2D(3, 3, padding="same", name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Activation("relu", name="act")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(2, name="out")(x)
    assert gradcam.last_conv_layer_name(keras.Model(inputs, out)) == "act"


def test_a_network_ending_in_an_inception_block_is_explained_by_the_whole_block():
    """The layer builder lets an inception block be the last conv layer: its last convolution is the pooling
    branch's 1×1 (8 of the block's 64 channels); the map the head sees is the concatenation."""
    from cnnviz.models import network
    from cnnviz.models.config import ModelConfig
    from cnnviz.models.layerlist import ConvLayer, InceptionBlock, LayerList

    layer_list = LayerList(layers=(ConvLayer(filters=4), InceptionBlock()))
    model = network.build_model(ModelConfig(architecture="layers", layer_list=layer_list, head="global_avg"),
                                input_shape=(12, 12, 3), num_classes=3)
    assert gradcam.last_conv_layer_name(model) == "inception_1_concat"
    x = np.random.default_rng(4).uniform(size=(12, 12, 3)).astype(np.float32)
    np.testing.assert_array_equal(gradcam.gradcam(model, x, class_index=1),
                                  gradcam.gradcam(model, x, class_index=1, layer_name="inception_1_concat"))


def test_nested_backbone_counts_as_the_feature_map():
    import keras

    backbone = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="bb_conv")], name="backbone")
    inputs = keras.Input((8, 8, 3), name="image")
    x = backbone(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(x))
    assert gradcam.last_conv_layer_name(model) == "backbone"
    cam = gradcam.gradcam(model, np.random.default_rng(0).normal(size=(8, 8, 3)))
    assert cam.shape == (8, 8) and 0 <= cam.min() and cam.max() <= 1


def test_errors_name_the_value(colour_model):
    import keras

    img = two_squares()
    with pytest.raises(InvalidArgument, match=r"has no layer named 'nope'"):
        gradcam.gradcam(colour_model, img, layer_name="nope")
    with pytest.raises(InvalidArgument, match=r"layer 'predictions' has output shape \(None, 2\); Grad-CAM needs"):
        gradcam.gradcam(colour_model, img, layer_name="predictions")
    with pytest.raises(InvalidArgument, match=r"class index must be 0\.\.1, got 5"):
        gradcam.gradcam(colour_model, img, class_index=5)
    with pytest.raises(InvalidArgument, match=r"explains one image .* got shape \(2, 16, 16, 3\); use gradcam_batch"):
        gradcam.gradcam(colour_model, np.stack([img, img]))
    with pytest.raises(InvalidArgument, match=r"expects images of shape \(16, 16, 3\), got \(8, 8, 3\)"):
        gradcam.gradcam(colour_model, img[:8, :8])
    with pytest.raises(InvalidArgument, match=r"need one class per image: 1 images, got 2 classes"):
        gradcam.gradcam_batch(colour_model, img[None], class_indices=[0, 1])
    dense_only = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="mlp")
    with pytest.raises(InvalidArgument, match=r"model 'mlp' has no convolution layer"):
        gradcam.last_conv_layer_name(dense_only)


def test_overlay_blends_colours_over_the_image():
    img = np.full((20, 30, 3), 100, np.uint8)
    heat = np.zeros((10, 15), np.float32)
    heat[:5, :7] = 1.0
    out = gradcam.overlay(img, heat)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(gradcam.overlay(img, heat, alpha=0.0), img)
    full = gradcam.overlay(img, np.ones((20, 30), np.float32), alpha=1.0)
    np.testing.assert_array_equal(full, np.broadcast_to(gradcam.colorize(np.ones(1))[0], (20, 30, 3)))
    assert out[0, 0, 0] > out[19, 29, 0]  # hot (red) corner vs cold (blue) corner
    grey = gradcam.overlay(np.full((4, 4), 50, np.uint8), np.zeros((4, 4)))
    assert grey.shape == (4, 4, 3)
    with pytest.raises(InvalidArgument, match="overlay needs a uint8 image, got dtype float64"):
        gradcam.overlay(img.astype(float), heat)
    with pytest.raises(InvalidArgument, match=r"alpha must be between 0 and 1, got 1\.5"):
        gradcam.overlay(img, heat, alpha=1.5)
    with pytest.raises(InvalidArgument, match=r"heatmap must be 2-D, got shape \(2, 3, 4\)"):
        gradcam.overlay(img, np.zeros((2, 3, 4)))


def test_colorize_endpoints_and_doctest():
    assert gradcam.colorize(np.array([0.0, 1.0])).tolist() == [[0, 0, 128], [128, 0, 0]]
    mid = gradcam.colorize(np.array([0.5]))[0]
    assert mid[1] == 255  # jet is green-ish in the middle
    assert doctest.testmod(gradcam).failed == 0


def test_a_saturated_sigmoid_unit_is_explained_by_its_logit_not_its_probability():
    """The probability's gradient is 0 at p = 1.0; the logit z's is not. A conv (linear) → GAP → Dense(1)
    network has Grad-CAM ∝ relu(±Σ_k w_k A_k) (class 1: +z, class 0: −z), worked out here in numpy."""
    import keras
    import tensorflow as tf

    from tests.support.models import sigmoid_model

    model = sigmoid_model((8, 8, 3), conv_filters=4, bias=40.0)
    image = np.random.default_rng(5).uniform(size=(8, 8, 3)).astype(np.float32)
    probs = model.predict(image[None], verbose=0)[0]
    assert probs.tolist() == [0.0, 1.0]  # saturated
    features_model = keras.Model(model.inputs, model.get_layer("conv").output)
    x = tf.constant(image[None])
    with tf.GradientTape() as tape:
        features = features_model(x)
        p = model.get_layer("output")(model.get_layer("gap")(features))
    assert not np.any(tape.gradient(p, features))  # what the probability gave: nothing
    a = features.numpy()[0]  # 8×8×4
    w = model.get_layer("output").get_weights()[0][:, 0]
    for cls, sign in ((1, 1.0), (0, -1.0)):
        cam = np.maximum(sign * np.tensordot(a, w, axes=([2], [0])), 0.0)
        reference = cam / cam.max()
        got = gradcam.gradcam(model, image, class_index=cls, layer_name="conv")
        assert got.max() == pytest.approx(1.0)
        np.testing.assert_allclose(got, reference, atol=1e-5)
    np.testing.assert_array_equal(gradcam.gradcam(model, image), gradcam.gradcam(model, image, class_index=1))
    assert gradcam.score_source(model)[0] == "sigmoid" and gradcam.class_count(model) == 2
