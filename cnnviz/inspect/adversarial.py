"""Fooling the network: FGSM and PGD perturbations, and the test accuracy against their size ε.

* FGSM (Goodfellow et al., 2015): ``x' = x + ε · sign(d loss(x, y) / dx)``, one step up the
  cross-entropy of the label ``y`` (computed on the logits, see :mod:`cnnviz.inspect.logits`).
* PGD (Madry et al., 2018): ``steps`` such steps of size ``2.5 ε / steps`` from ``x``, each projected
  back into the box ``|x' − x| ≤ ε`` (no random start, so a page shows the same image on every rerun).

ε is counted in ``unit`` (e.g. one grey level of the model's input scale, one value per channel) and
the result is clipped to ``[lower, upper]`` (the input range of a real picture) when given. The
curve (:func:`accuracy_curve`) needs one gradient per image for FGSM whatever the number of ε: the
sign does not depend on ε; each ε then costs a forward pass only (the compiled inference path).
Shared models: hold the model's lock while calling these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import logits
from cnnviz.inspect.evaluation import check_images, check_labels, predict_probabilities
from cnnviz.inspect.saliency import as_one_image


if TYPE_CHECKING:  # pragma: no cover
    import keras

METHODS = ("fgsm", "pgd")
MAX_STEPS = 50
MAX_EPSILONS = 32
BATCH = 128
PGD_STEP_FACTOR = 2.5  # step = 2.5 ε / steps (Madry et al.)


@dataclass(frozen=True)
class Attack:
    """One attacked image.

    Attributes:
        method, epsilon, steps: how it was made (``epsilon`` in ``unit``s; FGSM: 1 step).
        label: the class whose loss was raised.
        adversarial: H×W×C float32, the perturbed image (input scale).
        perturbation: ``adversarial − image``.
        probs_before, probs_after: class probabilities of the image and of the perturbed image.
    """

    method: str
    epsilon: float
    steps: int
    label: int
    adversarial: np.ndarray
    perturbation: np.ndarray
    probs_before: np.ndarray
    probs_after: np.ndarray

    @property
    def predicted_before(self) -> int:
        return int(np.argmax(self.probs_before))

    @property
    def predicted_after(self) -> int:
        return int(np.argmax(self.probs_after))


@dataclass(frozen=True)
class AccuracyCurve:
    """Accuracy of a test set under FGSM of each size: ``epsilons`` (in ``unit``s) and ``accuracy``."""

    epsilons: tuple[float, ...]
    accuracy: np.ndarray
    count: int


def attack(model: "keras.Model", image: np.ndarray, *, label: int | None = None, method: str = "fgsm",
           epsilon: float = 8.0, steps: int = 10, unit: float | np.ndarray = 1.0,
           lower: float | np.ndarray | None = None, upper: float | np.ndarray | None = None) -> Attack:
    """FGSM or PGD on one image.

    Args:
        model: a built Keras classifier (not changed).
        image: H×W×C (or 1×H×W×C), scaled as the model expects.
        label: the class whose loss to raise (its true class); None: the predicted class.
        method: "fgsm" or "pgd".
        epsilon: the largest change of any value, in ``unit``s (≥ 0).
        steps: PGD steps, 1..50 (FGSM: ignored).
        unit: what one ε is in the input scale (a number or one per channel).
        lower, upper: the input range to clip to (numbers or one per channel); None: no clipping.
    Returns:
        :class:`Attack`.
    """
    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    eps = _epsilon(epsilon)
    if method == "pgd" and (isinstance(steps, bool) or not isinstance(steps, (int, np.integer))
                            or not 1 <= steps <= MAX_STEPS):
        raise InvalidArgument(f"PGD steps must be a whole number from 1 to {MAX_STEPS}, got {steps!r}")
    x = as_one_image(model, image)
    size = _per_channel(unit, x.shape[-1], "unit") * eps
    lo, hi = (None if b is None else _per_channel(b, x.shape[-1], name) for b, name in ((lower, "lower"),
                                                                                     (upper, "upper")))
    scores, grads = _loss_gradients(model, x, np.zeros(1, np.int32))
    before = _softmax(scores)[0]
    label = int(np.argmax(before)) if label is None else _class(label, len(before))
    y = np.array([label], np.int32)
    if method == "fgsm":
        adversarial = _clip(x + size * np.sign(_loss_gradients(model, x, y)[1]), lo, hi)
        steps = 1
    else:
        alpha = PGD_STEP_FACTOR * size / int(steps)
        adversarial = x.copy()
        for _ in range(int(steps)):
            step = alpha * np.sign(_loss_gradients(model, adversarial, y)[1])
            adversarial = _clip(np.clip(adversarial + step, x - size, x + size), lo, hi)
    after = _softmax(_loss_gradients(model, adversarial, y)[0])[0]
    return Attack(method=method, epsilon=eps, steps=int(steps), label=label, adversarial=adversarial[0],
                  perturbation=(adversarial - x)[0], probs_before=before, probs_after=after)


def accuracy_curve(model: "keras.Model", x: np.ndarray, y: np.ndarray, epsilons: Sequence[float], *,
                   unit: float | np.ndarray = 1.0, lower: float | np.ndarray | None = None,
                   upper: float | np.ndarray | None = None, batch_size: int = BATCH,
                   progress: Callable[[int, int], None] | None = None) -> AccuracyCurve:
    """Accuracy of ``x`` (scaled) against its labels ``y`` under FGSM of each ε (true labels' loss).

    Args:
        model: a built Keras classifier.
        x, y: N×H×W×C images as the model expects and N integer labels.
        epsilons: 1..32 sizes in ``unit``s; 0 gives the clean accuracy.
        unit, lower, upper: as :func:`attack`.
        batch_size: images per gradient pass.
        progress: called as ``progress(images done, images in all)`` after each batch (every ε done).
    Returns:
        :class:`AccuracyCurve`.
    """
    x = check_images(x)
    y = check_labels(y, len(x), int(model.output_shape[-1]))
    eps = [_epsilon(e) for e in epsilons]
    if not 1 <= len(eps) <= MAX_EPSILONS:
        raise InvalidArgument(f"give 1 to {MAX_EPSILONS} values of ε, got {len(eps)}")
    unit_ = _per_channel(unit, x.shape[-1], "unit")
    lo, hi = (None if b is None else _per_channel(b, x.shape[-1], name) for b, name in ((lower, "lower"),
                                                                                     (upper, "upper")))
    right = np.zeros(len(eps), np.int64)
    for start in range(0, len(x), int(batch_size)):
        xb = x[start:start + batch_size].astype(np.float32)
        yb = y[start:start + batch_size].astype(np.int32)
        signs = np.sign(_loss_gradients(model, xb, yb)[1])
        for k, e in enumerate(eps):  # counting right answers needs a forward pass only (softmax keeps the order)
            probs = predict_probabilities(model, _clip(xb + e * unit_ * signs, lo, hi), batch_size=len(xb))
            right[k] += int(np.sum(np.argmax(probs, axis=1) == yb))
        if progress is not None:
            progress(start + len(xb), len(x))
    return AccuracyCurve(epsilons=tuple(eps), accuracy=right / max(len(x), 1), count=len(x))


# --- internals ---------------------------------------------------------------------------------


def _epsilon(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
            np.isfinite(value) and value >= 0):
        raise InvalidArgument(f"ε must be a number ≥ 0, got {value!r}")
    return float(value)


def _class(value, n_classes: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < n_classes:
        raise InvalidArgument(f"label must be 0..{n_classes - 1}, got {value!r}")
    return int(value)


def _per_channel(value, channels: int, name: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float32)
    if v.ndim > 1 or v.size not in (1, channels) or not np.all(np.isfinite(v)):
        raise InvalidArgument(f"{name} must be one finite number or one per channel ({channels}), got {value!r}")
    return v


def _clip(x: np.ndarray, lo, hi) -> np.ndarray:
    if lo is None and hi is None:
        return x.astype(np.float32)
    return np.clip(x, lo, hi).astype(np.float32)


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = np.asarray(scores, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def _loss_gradients(model, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits N×K and the gradient of each image's cross-entropy for its label, N×H×W×C."""
    fn = logits.compiled(model, "adversarial", lambda: _build(model))
    scores, grads = fn(np.ascontiguousarray(x, dtype=np.float32), np.asarray(y, dtype=np.int32))
    return np.asarray(scores), np.asarray(grads)


def _build(model):
    import tensorflow as tf

    scores_of = logits.logits_fn(model)

    @tf.function(reduce_retracing=True)
    def compute(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = scores_of(x)
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=scores)
        return scores, tape.gradient(loss, x)

    return lambda x, y: compute(tf.constant(x), tf.constant(y))
