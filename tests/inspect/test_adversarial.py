"""FGSM and PGD against the hand-worked attack on a linear model; the ε curve against a loop of attacks."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import adversarial
from tests.support.models import linear_model, small_cnn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def binary():
    """logit 1 − logit 0 = w·x: the cross-entropy of class 1 falls along +w, so FGSM moves along −sign(w)."""
    w = np.random.default_rng(0).normal(size=(4, 4, 2)).astype(np.float32)
    return linear_model(np.stack([np.zeros_like(w), w], axis=-1)), w


def test_fgsm_on_a_linear_model_moves_along_the_sign_of_the_weights(binary):
    model, w = binary
    x = np.random.default_rng(1).uniform(0.2, 0.8, size=w.shape).astype(np.float32)
    got = adversarial.attack(model, x, label=1, epsilon=0.1)
    np.testing.assert_allclose(got.perturbation, -0.1 * np.sign(w), atol=1e-6)
    np.testing.assert_allclose(got.adversarial, x - 0.1 * np.sign(w), atol=1e-6)
    away = adversarial.attack(model, x, label=0, epsilon=0.1)  # the other label: the other way
    np.testing.assert_allclose(away.perturbation, 0.1 * np.sign(w), atol=1e-6)
    margin = float((x * w).sum())
    assert got.probs_after[1] == pytest.approx(1 / (1 + np.exp(-(margin - 0.1 * np.abs(w).sum()))), abs=1e-5)
    assert got.probs_before[1] == pytest.approx(1 / (1 + np.exp(-margin)), abs=1e-5)


def test_units_and_clipping(binary):
    model, w = binary
    x = np.full(w.shape, 0.5, np.float32)
    x[0, 0] = [0.99, 0.01]
    got = adversarial.attack(model, x, label=1, epsilon=2, unit=[0.1, 0.01], lower=0.0, upper=1.0)
    expected = np.clip(x - 2 * np.array([0.1, 0.01]) * np.sign(w), 0.0, 1.0)
    np.testing.assert_allclose(got.adversarial, expected, atol=1e-6)
    assert got.adversarial.min() >= 0.0 and got.adversarial.max() <= 1.0
    # The other label moves every value the other way: 0.99 + 0.2 or 0.01 + 0.02 is above 1 in one of the two
    # attacks, 0.01 − 0.02 below 0 in the other: both bounds clip.
    away = adversarial.attack(model, x, label=0, epsilon=2, unit=[0.1, 0.01], lower=0.0, upper=1.0)
    np.testing.assert_allclose(away.adversarial, np.clip(x + 2 * np.array([0.1, 0.01]) * np.sign(w), 0.0, 1.0),
                               atol=1e-6)
    both = np.stack([got.adversarial[0, 0], away.adversarial[0, 0]])
    assert both.max() == 1.0 and both.min() == 0.0


def test_pgd_stays_in_the_box_and_lowers_the_label_at_least_as_much_as_fgsm():
    model = small_cnn(seed=3, gain=10)
    x = np.random.default_rng(2).uniform(size=(8, 8, 3)).astype(np.float32)
    fgsm = adversarial.attack(model, x, epsilon=0.03, lower=0.0, upper=1.0)
    pgd = adversarial.attack(model, x, method="pgd", epsilon=0.03, steps=10, lower=0.0, upper=1.0)
    assert pgd.label == fgsm.label == fgsm.predicted_before and pgd.steps == 10 and fgsm.steps == 1
    assert np.abs(pgd.perturbation).max() <= 0.03 + 1e-6
    assert pgd.probs_after[pgd.label] <= fgsm.probs_after[fgsm.label] + 1e-6 < fgsm.probs_before[fgsm.label]


def test_accuracy_curve_equals_a_loop_of_single_attacks():
    model = small_cnn(seed=4, gain=10)
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(10, 8, 8, 3)).astype(np.float32)
    y = np.argmax(model.predict(x, verbose=0), axis=1)
    y[:3] = (y[:3] + 1) % 4  # three wrong to start with
    eps = [0, 1, 4, 16]
    seen = []
    curve = adversarial.accuracy_curve(model, x, y, eps, unit=1 / 255, lower=0, upper=1, batch_size=4,
                                       progress=lambda done, total: seen.append((done, total)))
    assert curve.epsilons == (0.0, 1.0, 4.0, 16.0) and curve.count == 10
    assert seen == [(4, 10), (8, 10), (10, 10)]  # after each batch, every ε of it done
    assert curve.accuracy[0] == pytest.approx(0.7)
    for k, e in enumerate(eps):
        right = sum(adversarial.attack(model, x[i], label=int(y[i]), epsilon=e, unit=1 / 255, lower=0, upper=1)
                    .predicted_after == y[i] for i in range(10))
        assert curve.accuracy[k] == pytest.approx(right / 10)
    assert curve.accuracy[-1] <= curve.accuracy[0]


def test_errors_repeat_the_value(binary):
    model, w = binary
    x = np.zeros(w.shape, np.float32)
    with pytest.raises(InvalidArgument, match="method must be one of fgsm, pgd, got 'cw'"):
        adversarial.attack(model, x, method="cw")
    with pytest.raises(InvalidArgument, match="ε must be a number ≥ 0, got -1"):
        adversarial.attack(model, x, epsilon=-1)
    with pytest.raises(InvalidArgument, match="PGD steps must be a whole number from 1 to 50, got 0"):
        adversarial.attack(model, x, method="pgd", steps=0)
    with pytest.raises(InvalidArgument, match=r"label must be 0\.\.1, got 2"):
        adversarial.attack(model, x, label=2)
    with pytest.raises(InvalidArgument, match=r"unit must be one finite number or one per channel \(2\), got \[1, 2, 3\]"):
        adversarial.attack(model, x, unit=[1, 2, 3])
    with pytest.raises(InvalidArgument, match="give 1 to 32 values of ε, got 0"):
        adversarial.accuracy_curve(model, x[None], [0], [])
