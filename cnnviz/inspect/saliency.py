"""Saliency maps: which pixels the class score is most sensitive to, for one image and one class.

* Vanilla gradients (Simonyan et al., 2013): ``d score_c / d x``.
* SmoothGrad (Smilkov et al., 2017): the gradient averaged over ``n`` copies of the image with
  Gaussian noise of standard deviation ``noise × (max − min)`` of the image (tf-keras-vis's level).
* Integrated Gradients (Sundararajan et al., 2017): ``(x − x') × ∫ d score_c(x' + a(x − x')) / dx da``
  from a baseline ``x'`` (black, or a blurred copy), the integral by Gauss-Legendre quadrature on
  ``steps`` points (Captum's default rule). The attributions add up to ``score_c(x) − score_c(x')``
  (completeness); :class:`Attribution` reports both sides so the page can show the check as numbers.

The score is the class logit (see :mod:`cnnviz.inspect.logits`). Inputs are images scaled as the
model expects; baselines are made from uint8 pictures (:func:`baseline_image`) and scaled the same
way by the caller. Shared models: hold the model's lock while calling these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import logits
from cnnviz.inspect.gradcam import class_count


if TYPE_CHECKING:  # pragma: no cover
    import keras

METHODS = ("gradients", "smoothgrad", "integrated")
BASELINES = ("black", "blurred")
DEFAULT_SAMPLES, DEFAULT_NOISE, DEFAULT_STEPS = 20, 0.15, 32
DEFAULT_BLUR_SIGMA = 4.0
MAX_SAMPLES = MAX_STEPS = 256
BATCH = 32  # images per gradient pass: SmoothGrad's copies and IG's path points


@dataclass(frozen=True)
class Attribution:
    """One saliency map.

    Attributes:
        method: one of :data:`METHODS`.
        class_index: the class explained.
        values: H×W×C float32, the signed attribution of every input value.
        heat: H×W float32 in [0, 1]: the largest absolute value over the channels, over its maximum.
        score: the class logit of the image.
        baseline_score: the class logit of the baseline (Integrated Gradients only, else None).
        total: the sum of ``values`` (Integrated Gradients: ≈ ``score − baseline_score``).
    """

    method: str
    class_index: int
    values: np.ndarray
    heat: np.ndarray
    score: float
    baseline_score: float | None = None
    total: float = 0.0

    @property
    def completeness_gap(self) -> float | None:
        """|total − (score − baseline score)| / |score − baseline score| (IG only; 0 when both are 0)."""
        if self.baseline_score is None:
            return None
        diff = self.score - self.baseline_score
        error = abs(self.total - diff)
        return error / abs(diff) if diff else (0.0 if error == 0 else float("inf"))


# --- checks ------------------------------------------------------------------------------------


def as_one_image(model: "keras.Model", image: np.ndarray, what: str = "image") -> np.ndarray:
    """One image H×W×C (or 1×H×W×C) of numbers with the model's input shape, as float32 1×H×W×C."""
    x = np.asarray(image)
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 3:
        raise InvalidArgument(f"{what} must be one image H×W×C (or 1×H×W×C), got shape {np.shape(image)}")
    if not np.issubdtype(x.dtype, np.number):
        raise InvalidArgument(f"{what} must be numbers, got dtype {x.dtype}")
    expected = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else ()
    if any(e is not None and e != g for e, g in zip(expected, x.shape)):
        raise InvalidArgument(f"the model expects images of shape {expected}, got {x.shape}")
    return x.astype(np.float32)[None]


def pick_class(model: "keras.Model", index: int | None, x: np.ndarray) -> int:
    """``index`` checked against the model's classes; ``None``: the class the model predicts for ``x``."""
    n_classes = class_count(model)
    if index is None:
        return int(np.argmax(_scores_and_gradients(model, x, np.zeros(len(x), np.int32))[0][0]))
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n_classes:
        raise InvalidArgument(f"class index must be 0..{n_classes - 1}, got {index!r}")
    return int(index)


def _count(value, name: str, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= upper:
        raise InvalidArgument(f"{name} must be a whole number from 1 to {upper}, got {value!r}")
    return int(value)


# --- the three methods ---------------------------------------------------------------------------


def gradients(model: "keras.Model", image: np.ndarray, *, class_index: int | None = None) -> Attribution:
    """Vanilla gradients of the class logit with respect to the input.

    Args:
        model: a built Keras classifier (not changed).
        image: H×W×C (or 1×H×W×C), scaled as the model expects.
        class_index: the class (None: the predicted one).
    Returns:
        :class:`Attribution` with ``values`` = the gradient.
    """
    x = as_one_image(model, image)
    c = pick_class(model, class_index, x)
    scores, grads = _scores_and_gradients(model, x, np.array([c], np.int32))
    return _attribution("gradients", c, grads[0], float(scores[0, c]))


def smoothgrad(model: "keras.Model", image: np.ndarray, *, class_index: int | None = None,
               samples: int = DEFAULT_SAMPLES, noise: float = DEFAULT_NOISE, seed: int = 0) -> Attribution:
    """SmoothGrad: gradients averaged over ``samples`` noisy copies of the image.

    Args:
        model, image, class_index: as :func:`gradients`.
        samples: noisy copies, 1..256.
        noise: noise level, 0..1: the standard deviation as a fraction of the image's value range.
        seed: seed of the noise, so a page shows the same map on every rerun.
    Returns:
        :class:`Attribution` with ``values`` = the mean gradient.
    """
    samples = _count(samples, "samples", MAX_SAMPLES)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0.0 <= noise <= 1.0:
        raise InvalidArgument(f"noise level must be between 0 and 1, got {noise!r}")
    x = as_one_image(model, image)
    c = pick_class(model, class_index, x)
    sigma = float(noise) * float(x.max() - x.min())
    rng = np.random.default_rng(seed)
    total = np.zeros(x.shape[1:], np.float64)
    for start in range(0, samples, BATCH):
        n = min(BATCH, samples - start)
        noisy = x + rng.normal(0.0, sigma, size=(n, *x.shape[1:])).astype(np.float32)
        total += _scores_and_gradients(model, noisy, np.full(n, c, np.int32))[1].sum(axis=0)
    score = float(_scores_and_gradients(model, x, np.array([c], np.int32))[0][0, c])
    return _attribution("smoothgrad", c, (total / samples).astype(np.float32), score)


def integrated_gradients(model: "keras.Model", image: np.ndarray, baseline: np.ndarray, *,
                         class_index: int | None = None, steps: int = DEFAULT_STEPS) -> Attribution:
    """Integrated Gradients from ``baseline`` to ``image`` (Gauss-Legendre rule on ``steps`` points).

    Args:
        model, image, class_index: as :func:`gradients`.
        baseline: an image of the same shape, scaled the same way (see :func:`baseline_image`).
        steps: points on the path, 1..256.
    Returns:
        :class:`Attribution` with ``baseline_score`` and ``total`` for the completeness check.
    """
    steps = _count(steps, "steps", MAX_STEPS)
    x = as_one_image(model, image)
    x0 = as_one_image(model, baseline, "baseline")
    if x0.shape != x.shape:
        raise InvalidArgument(f"baseline must have the image's shape {x.shape[1:]}, got {x0.shape[1:]}")
    c = pick_class(model, class_index, x)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1.0) / 2.0, weights / 2.0  # from [-1, 1] to [0, 1]
    delta = x - x0
    integral = np.zeros(x.shape[1:], np.float64)
    for start in range(0, steps, BATCH):
        a = alphas[start:start + BATCH].astype(np.float32)
        path = x0 + a[:, None, None, None] * delta
        grads = _scores_and_gradients(model, path, np.full(len(a), c, np.int32))[1]
        integral += np.tensordot(weights[start:start + BATCH], grads.astype(np.float64), axes=1)
    values = (delta[0] * integral).astype(np.float32)
    ends = _scores_and_gradients(model, np.concatenate([x, x0]), np.full(2, c, np.int32))[0][:, c]
    return _attribution("integrated", c, values, float(ends[0]), baseline_score=float(ends[1]),
                        total=float(values.astype(np.float64).sum()))


def baseline_image(kind: str, image_uint8: np.ndarray, *, sigma: float = DEFAULT_BLUR_SIGMA) -> np.ndarray:
    """A uint8 baseline picture for Integrated Gradients: "black" (zeros) or "blurred" (Gaussian, ``sigma`` pixels)."""
    if kind not in BASELINES:
        raise InvalidArgument(f"baseline must be one of {', '.join(BASELINES)}, got {kind!r}")
    img = np.asarray(image_uint8)
    if img.ndim != 3 or img.dtype != np.uint8:
        raise InvalidArgument(f"baseline_image needs a uint8 image H×W×C, got shape {img.shape} and dtype {img.dtype}")
    if kind == "black":
        return np.zeros_like(img)
    if not sigma > 0:
        raise InvalidArgument(f"blur sigma must be > 0 pixels, got {sigma!r}")
    blurred = ndimage.gaussian_filter(img.astype(np.float32), sigma=(sigma, sigma, 0), mode="nearest")
    return np.clip(np.round(blurred), 0, 255).astype(np.uint8)


def heat_of(values: np.ndarray) -> np.ndarray:
    """H×W in [0, 1] from H×W×C attributions: max |value| over channels, over its maximum (zeros stay zeros)."""
    v = np.abs(np.asarray(values, dtype=np.float32)).max(axis=-1)
    peak = float(v.max()) if v.size else 0.0
    return v / peak if peak > 0 else np.zeros_like(v)


# --- internals ---------------------------------------------------------------------------------


def _attribution(method: str, c: int, values: np.ndarray, score: float, **more) -> Attribution:
    return Attribution(method=method, class_index=c, values=values, heat=heat_of(values), score=score,
                       **{"total": float(np.sum(values, dtype=np.float64)), **more})


def _scores_and_gradients(model, x: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits N×K and ``d logit[class_n] / d x_n`` N×H×W×C of a batch."""
    fn = logits.compiled(model, "saliency", lambda: _build(model))
    scores, grads = fn(np.ascontiguousarray(x, dtype=np.float32), classes)
    return np.asarray(scores), np.asarray(grads)


def _build(model):
    import tensorflow as tf

    scores_of = logits.logits_fn(model)

    @tf.function(reduce_retracing=True)
    def compute(x, classes):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = scores_of(x)
            chosen = tf.gather(scores, classes, axis=1, batch_dims=1)
        return scores, tape.gradient(chosen, x)

    def run(x, classes):
        return compute(tf.constant(x), tf.constant(classes))

    return run
