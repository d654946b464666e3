"""Saliency, SmoothGrad and Integrated Gradients against references on hand-made models."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import saliency
from tests.support.models import linear_model, sigmoid_model, small_cnn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(0).normal(size=(5, 6, 2, 3)).astype(np.float32)


@pytest.mark.parametrize("softmax", [True, False])
def test_saliency_of_a_linear_model_is_its_weights(weights, softmax):
    model = linear_model(weights, bias=[0.5, -1.0, 2.0], softmax=softmax)
    image = np.random.default_rng(1).uniform(size=(5, 6, 2)).astype(np.float32)
    for c in range(3):
        got = saliency.gradients(model, image, class_index=c)
        assert got.class_index == c and got.method == "gradients"
        np.testing.assert_allclose(got.values, weights[..., c], atol=1e-6)
        assert got.score == pytest.approx(float((image * weights[..., c]).sum() + [0.5, -1.0, 2.0][c]), abs=1e-4)
        np.testing.assert_allclose(got.heat, np.abs(weights[..., c]).max(-1) / np.abs(weights[..., c]).max(), atol=1e-6)
    # SmoothGrad of a linear model: every noisy copy has the same gradient
    np.testing.assert_allclose(saliency.smoothgrad(model, image, class_index=1, samples=5).values,
                               weights[..., 1], atol=1e-5)


def test_default_class_is_the_predicted_one(weights):
    model = linear_model(weights)
    image = np.random.default_rng(2).uniform(size=(5, 6, 2)).astype(np.float32)
    predicted = int(np.argmax(model.predict(image[None], verbose=0)[0]))
    assert saliency.gradients(model, image).class_index == predicted


def test_smoothgrad_is_the_mean_of_the_noisy_gradients():
    model = small_cnn()
    image = np.random.default_rng(3).uniform(size=(8, 8, 3)).astype(np.float32)
    got = saliency.smoothgrad(model, image, class_index=2, samples=40, noise=0.2, seed=7)
    rng = np.random.default_rng(7)
    sigma = 0.2 * (image.max() - image.min())
    expected = np.zeros_like(image, dtype=np.float64)
    for start in range(0, 40, saliency.BATCH):  # the same noise, drawn in the same batches
        n = min(saliency.BATCH, 40 - start)
        for noisy in image[None] + rng.normal(0.0, sigma, size=(n, 8, 8, 3)).astype(np.float32):
            expected += saliency.gradients(model, noisy, class_index=2).values
    np.testing.assert_allclose(got.values, expected / 40, atol=1e-5)
    again = saliency.smoothgrad(model, image, class_index=2, samples=40, noise=0.2, seed=7)
    np.testing.assert_array_equal(got.values, again.values)


@pytest.mark.parametrize("kind", saliency.BASELINES)
@pytest.mark.parametrize("activation", ["softplus", "tanh"])
def test_integrated_gradients_completeness_within_one_percent(kind, activation):
    """On a smooth network the quadrature converges fast: 32 steps leave far less than 1%."""
    model = small_cnn(seed=1, activation=activation, gain=10)
    rng = np.random.default_rng(4)
    image_uint8 = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    x = image_uint8.astype(np.float32) / 255
    x0 = saliency.baseline_image(kind, image_uint8, sigma=2.0).astype(np.float32) / 255
    for c in range(4):
        got = saliency.integrated_gradients(model, x, x0, class_index=c, steps=32)
        logits = _logits(model, np.stack([x, x0]))[:, c]
        assert got.score == pytest.approx(logits[0], abs=1e-4)
        assert got.baseline_score == pytest.approx(logits[1], abs=1e-4)
        assert got.total == pytest.approx(float(got.values.sum()), rel=1e-5)
        assert got.completeness_gap < 0.01, (c, got.total, got.score - got.baseline_score)


def test_integrated_gradients_on_a_relu_network_needs_more_steps():
    """ReLU kinks make the path's gradient jump: 32 steps leave a gap of a few percent (the page shows
    it), 256 steps bring it under 1% on this network."""
    model = small_cnn(seed=1, gain=10)
    x = np.random.default_rng(4).integers(0, 256, size=(8, 8, 3)).astype(np.float32) / 255
    gaps = {steps: max(saliency.integrated_gradients(model, x, np.zeros_like(x), class_index=c, steps=steps)
                       .completeness_gap for c in range(4)) for steps in (32, 256)}
    assert gaps[256] < 0.01 < gaps[32]


def test_integrated_gradients_of_a_linear_model_is_weights_times_the_difference(weights):
    model = linear_model(weights)
    x = np.random.default_rng(5).uniform(size=(5, 6, 2)).astype(np.float32)
    got = saliency.integrated_gradients(model, x, np.zeros_like(x), class_index=0, steps=1)
    np.testing.assert_allclose(got.values, x * weights[..., 0], atol=1e-6)
    assert got.completeness_gap < 1e-5


def test_baseline_images():
    img = np.zeros((9, 9, 3), np.uint8)
    img[4, 4] = 255
    np.testing.assert_array_equal(saliency.baseline_image("black", img), np.zeros_like(img))
    blurred = saliency.baseline_image("blurred", img, sigma=1.0)
    assert blurred.dtype == np.uint8 and blurred[4, 4, 0] < 255 and blurred[4, 5, 0] > 0 and blurred[0, 0, 0] == 0
    with pytest.raises(InvalidArgument, match="baseline must be one of black, blurred, got 'grey'"):
        saliency.baseline_image("grey", img)


def test_errors_repeat_the_value(weights):
    model = linear_model(weights)
    x = np.zeros((5, 6, 2), np.float32)
    with pytest.raises(InvalidArgument, match=r"class index must be 0\.\.2, got 3"):
        saliency.gradients(model, x, class_index=3)
    with pytest.raises(InvalidArgument, match=r"expects images of shape \(5, 6, 2\), got \(6, 5, 2\)"):
        saliency.gradients(model, np.zeros((6, 5, 2)))
    with pytest.raises(InvalidArgument, match=r"one image H×W×C .* got shape \(2, 5, 6, 2\)"):
        saliency.gradients(model, np.zeros((2, 5, 6, 2)))
    with pytest.raises(InvalidArgument, match="samples must be a whole number from 1 to 256, got 0"):
        saliency.smoothgrad(model, x, samples=0)
    with pytest.raises(InvalidArgument, match="noise level must be between 0 and 1, got 2"):
        saliency.smoothgrad(model, x, noise=2)
    with pytest.raises(InvalidArgument, match="steps must be a whole number from 1 to 256, got 1000"):
        saliency.integrated_gradients(model, x, x, steps=1000)


def _logits(model, x):
    kernel, bias = model.get_layer("predictions").get_weights()
    import keras

    pooled = keras.Model(model.inputs[0], model.get_layer("gap").output)(x)
    return keras.ops.convert_to_numpy(pooled) @ kernel + bias


def test_a_sigmoid_unit_gives_the_gradient_of_its_logit_even_when_saturated():
    """z = w·x + b, p = sigmoid(z) = 1.0 (b = 40): the scores are ±z/2 (softmax = (1 − p, p)), so the
    gradients are ±w/2, where the probability's would be 0."""
    model = sigmoid_model((4, 5, 2), bias=40.0)
    w = model.get_layer("output").get_weights()[0][:, 0].reshape(4, 5, 2)
    image = np.random.default_rng(3).uniform(size=(4, 5, 2)).astype(np.float32)
    assert model.predict(image[None], verbose=0)[0].tolist() == [0.0, 1.0]
    z = float((w * image).sum() + 40.0)
    for cls, sign in ((1, 0.5), (0, -0.5)):
        got = saliency.gradients(model, image, class_index=cls)
        np.testing.assert_allclose(got.values, sign * w, atol=1e-6)
        assert got.score == pytest.approx(sign * z, rel=1e-5)
        assert got.heat.max() == pytest.approx(1.0)
    assert saliency.gradients(model, image).class_index == 1  # the predicted class
    mild = sigmoid_model((4, 5, 2), bias=0.3)  # not saturated: the scores' softmax is the model's output
    scores = saliency._scores_and_gradients(mild, image[None], np.zeros(1, np.int32))[0]
    e = np.exp(scores - scores.max())
    np.testing.assert_allclose(e / e.sum(), mild.predict(image[None], verbose=0), atol=1e-6)


def test_a_hidden_one_unit_sigmoid_layer_does_not_hide_the_output_units_logit():
    """The layer builder allows a hidden Dense of 1 sigmoid unit before the sigmoid output: the scores are still
    the output unit's ±z/2 (its gradient ±w/2 even when p is 1.0), not the probabilities (1 − p, p)."""
    from cnnviz.inspect import gradcam
    from cnnviz.models import network
    from cnnviz.models.config import ModelConfig
    from cnnviz.models.layerlist import ConvLayer, DenseLayer, LayerList

    layer_list = LayerList(layers=(ConvLayer(filters=2), DenseLayer(units=1, activation="sigmoid")), output="sigmoid")
    model = network.build_model(ModelConfig(architecture="layers", layer_list=layer_list, head="flatten"),
                                input_shape=(6, 6, 1), num_classes=2)
    unit = model.get_layer("output")
    unit.set_weights([np.array([[3.0]], np.float32), np.array([40.0], np.float32)])  # p = sigmoid(3 h + 40) = 1.0
    assert gradcam.score_source(model) == ("sigmoid", unit)
    image = np.random.default_rng(5).uniform(size=(6, 6, 1)).astype(np.float32)
    assert model.predict(image[None], verbose=0)[0].tolist() == [0.0, 1.0]
    import keras
    from tensorflow import GradientTape, constant

    x = constant(image[None])
    with GradientTape() as tape:
        tape.watch(x)
        h = keras.Model(model.inputs[0], model.get_layer("fc_1").output)(x, training=False)
        z = 3.0 * h[0, 0] + 40.0
    expected = 0.5 * tape.gradient(z, x).numpy()[0]  # d(z/2)/dx, what the probability's gradient (0) hides
    got = saliency.gradients(model, image, class_index=1)
    assert got.score == pytest.approx(0.5 * float(z), rel=1e-5)
    np.testing.assert_allclose(got.values, expected, atol=1e-7)
    assert np.abs(got.values).max() > 0


def test_blurred_baseline_is_scipys_gaussian_of_each_colour_rounded():
    """Each colour is blurred on its own (a red patch stays red, no colour bleeds into another), then rounded."""
    from scipy import ndimage

    img = np.random.default_rng(3).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    img[2:6, 2:6] = [255, 0, 0]
    got = saliency.baseline_image("blurred", img, sigma=1.5)
    want = np.stack([ndimage.gaussian_filter(img[..., c].astype(np.float64), 1.5, mode="nearest") for c in range(3)],
                    axis=-1)
    np.testing.assert_array_equal(got, np.clip(np.rint(want), 0, 255).astype(np.uint8))


def test_completeness_gap_is_the_error_as_a_share_of_the_score_change():
    """The Explain page prints it as a percentage: |total − (score − baseline score)| / |score − baseline
    score|."""
    heat = np.zeros((1, 1), np.float32)
    values = np.zeros((1, 1, 1), np.float32)
    ig = saliency.Attribution("integrated", 0, values, heat, score=3.0, baseline_score=1.0, total=1.5)
    assert ig.completeness_gap == pytest.approx(0.25)  # |1.5 − 2| / 2
    assert saliency.Attribution("gradients", 0, values, heat, score=3.0).completeness_gap is None
