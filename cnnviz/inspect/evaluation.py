"""Evaluate a trained classifier on a test set: metrics, confusion matrix, galleries.

Seed 001 ``PlotModelEval`` (test loss/accuracy, confusion matrix), seed 000 Part 20
(misclassified images) and seed 002 1.5.6 (predictions titled green/red). Everything here
is a pure function of a Keras model and arrays; the model is only used for inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from scipy.special import softmax

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import inference, topk
from cnnviz.training.tta import predict_tta


if TYPE_CHECKING:  # pragma: no cover
    import keras

DEFAULT_BATCH_SIZE = inference.DEFAULT_BATCH_SIZE
# Keras clips probabilities to [EPSILON, 1 - EPSILON] before the log in cross-entropy
# (keras.config.epsilon() default), so our loss equals model.evaluate's.
EPSILON = 1e-7
# Outputs whose rows sum to 1 within this tolerance (and are >= 0) are taken as
# probabilities; anything else is treated as logits and softmaxed.
PROBABILITY_TOLERANCE = 1e-3
SELECT_WHICH = ("mistakes", "correct", "all")
SELECT_ORDERS = ("confidence", "low_confidence", "random", "index")


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on a labelled set and everything derived from them.

    Attributes:
        probabilities: N×C float32, one row of class probabilities per image.
        y_true: N int64 true class indices.
        predicted: N int64 predicted class indices (argmax of ``probabilities``).
        class_names: C class names.
        loss: mean cross-entropy of the true class (what ``model.evaluate`` reports
            for a softmax classifier compiled with categorical cross-entropy).
        accuracy: fraction of images whose predicted class is the true class.
        confusion: C×C int64 counts; row = true class, column = predicted class.
        confusion_normalized: ``confusion`` divided by its row sums (rows of classes
            absent from the set stay 0).
        per_class: one dict per class, see :func:`per_class_metrics`.
    """

    probabilities: np.ndarray
    y_true: np.ndarray
    predicted: np.ndarray
    class_names: tuple[str, ...]
    loss: float
    accuracy: float
    confusion: np.ndarray
    confusion_normalized: np.ndarray
    per_class: tuple[dict[str, Any], ...]

    @property
    def confidence(self) -> np.ndarray:
        """Probability of the predicted class for each image (N floats)."""
        return self.probabilities[np.arange(len(self.predicted)), self.predicted]

    @property
    def correct(self) -> np.ndarray:
        """Boolean mask of correctly classified images."""
        return self.predicted == self.y_true


# --- validation -------------------------------------------------------------------------
def check_images(x: np.ndarray, *, name: str = "x") -> np.ndarray:
    """Return ``x`` as an array N×H×W×C with N ≥ 1, or raise InvalidArgument."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise InvalidArgument(f"{name} must be a batch of images N×H×W×C, got an array of shape {x.shape}")
    if x.shape[0] == 0:
        raise InvalidArgument(f"{name} holds no images (shape {x.shape})")
    return x


def check_labels(y: np.ndarray, n: int, num_classes: int) -> np.ndarray:
    """Return ``y`` as int64 class indices (one per image) or raise InvalidArgument."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:  # Keras-style (N, 1) labels
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise InvalidArgument(f"need one integer label per image ({n}), got labels of shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise InvalidArgument(f"labels must be integer class indices, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if n and (y.min() < 0 or y.max() >= num_classes):
        raise InvalidArgument(
            f"labels must lie in 0..{num_classes - 1} for {num_classes} classes, "
            f"got values from {int(y.min())} to {int(y.max())}"
        )
    return y


def check_class_names(class_names: Sequence[str]) -> tuple[str, ...]:
    """Class names as a tuple of str; at least two."""
    names = tuple(str(c) for c in class_names)
    if len(names) < 2:
        raise InvalidArgument(f"need at least 2 class names, got {list(names)}")
    return names


def _check_model_input(model: "keras.Model", x: np.ndarray) -> None:
    """Raise InvalidArgument when the model declares an input size that ``x`` does not have."""
    try:
        shape = tuple(model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):  # unbuilt Sequential: let Keras decide
        return
    if len(shape) != 3:
        return
    for want, got in zip(shape, x.shape[1:]):
        if want is not None and want != got:
            raise InvalidArgument(
                f"the model expects images of {_shape_text(shape)}, got images of {_shape_text(x.shape[1:])}"
            )


def _shape_text(shape: Sequence[Any]) -> str:
    return "×".join("any" if s is None else str(s) for s in shape)


# --- predictions and metrics ------------------------------------------------------------
def as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Model outputs as class probabilities N×C (float32).

    One sigmoid output per image becomes two columns ``[1 - p, p]``; rows that are not
    already probabilities (negative or not summing to 1) are treated as logits.

    >>> as_probabilities(np.array([[0.25], [1.0]])).tolist()
    [[0.75, 0.25], [0.0, 1.0]]
    """
    out = np.asarray(outputs, dtype=np.float64)
    if out.ndim != 2:
        raise InvalidArgument(f"a classifier must output one row per image, got outputs of shape {out.shape}")
    if out.shape[1] == 1:
        p = np.clip(out[:, 0], 0.0, 1.0)
        return np.stack([1.0 - p, p], axis=1).astype(np.float32)
    is_prob = np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=PROBABILITY_TOLERANCE)
    if not is_prob:
        out = softmax(out, axis=1)
    return out.astype(np.float32)


def predict_probabilities(
    model: "keras.Model | inference.Forward", x: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE,
    progress: inference.Progress | None = None, prepare: inference.Prepare | None = None,
) -> np.ndarray:
    """Class probabilities for every image, computed in batches by the model's compiled forward pass.

    Args:
        model: a trained Keras classifier taking ``x`` as it is (already scaled), or its
            :class:`cnnviz.inspect.inference.Forward`.
        x: float images N×H×W×C (or images ``prepare`` turns into them).
        batch_size: images per forward pass.
        progress: called as ``progress(images done, N)`` after each batch.
        prepare: applied to each batch of ``x`` first (e.g. the run's scaling of uint8 pixels).
    Returns:
        N×C float32 probabilities (see :func:`as_probabilities`); the same as from ``model.predict``.
    """
    x = check_images(x)
    inference.check_batch_size(batch_size)
    forward = inference.compiled(model)
    _check_model_input(forward.model, x)
    return as_probabilities(forward.outputs(x, batch_size=int(batch_size), progress=progress, prepare=prepare))


def cross_entropy(probabilities: np.ndarray, y: np.ndarray, *, label_smoothing: float = 0.0) -> float:
    """Mean cross-entropy of the true classes, computed like Keras (clipped at EPSILON).

    With ``label_smoothing`` s it is Keras' ``CategoricalCrossentropy(label_smoothing=s)``: the
    target is ``(1 − s)`` on the true class plus ``s / K`` on every class, so the loss adds
    ``s`` times the mean cross-entropy of all classes. That is what a run trained with label
    smoothing reports as its loss; without smoothing it is the plain test cross-entropy.
    """
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0 <= label_smoothing < 1:
        raise InvalidArgument(f"label smoothing must be at least 0 and below 1, got {label_smoothing!r}")
    p = np.asarray(probabilities, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    logs = np.log(np.clip(p, EPSILON, 1.0 - EPSILON))
    true = -logs[np.arange(len(y)), y]
    if label_smoothing:
        true = (1.0 - label_smoothing) * true - label_smoothing * logs.mean(axis=1)
    return float(np.mean(true))


def confusion_matrices(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Confusion matrix as counts and row-normalised (rows = true class).

    Returns:
        ``(counts, normalized)``: C×C int64 and C×C float64; a row of a class that has
        no images is all zeros in both.
    """
    # sklearn.metrics.confusion_matrix's counts by one bincount (importing scikit-learn cost a fresh
    # server's Evaluate 1-2 s, issue 19; tests compare both).
    cells = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    counts = np.bincount(cells, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    rows = counts.sum(axis=1, keepdims=True)
    normalized = np.divide(counts, rows, out=np.zeros(counts.shape, dtype=np.float64), where=rows > 0)
    return counts, normalized


def per_class_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and accuracy of each class: ``sklearn.metrics.precision_recall_fscore_support``'s
    numbers with ``zero_division=0`` (its formulas in NumPy; tests compare both).

    "accuracy" of a class is the share of its images classified correctly, which is the
    same number as its recall; precision is the share of images predicted as the class
    that really are. Undefined values (a class with no images, or never predicted) are 0.0.

    Args:
        y_true: N true class indices.
        y_pred: N predicted class indices.
        class_names: one name per class index.
    Returns:
        One dict per class: ``index, name, support, correct, predicted, accuracy,
        precision, recall, f1``.
    """
    labels = np.arange(len(class_names))
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    support = np.bincount(y_true, minlength=len(labels))
    predicted = np.bincount(y_pred, minlength=len(labels))
    correct = np.bincount(y_true[y_true == y_pred], minlength=len(labels))

    def ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
        return np.divide(top, bottom, out=np.zeros(len(labels)), where=bottom > 0)

    precision, recall = ratio(correct, predicted), ratio(correct, support)
    f1 = ratio(2.0 * correct, (predicted - correct) + (support - correct) + 2.0 * correct)  # sklearn's F-beta, beta 1
    return [
        dict(index=int(i), name=str(name), support=int(support[i]), correct=int(correct[i]),
             predicted=int(predicted[i]), accuracy=float(recall[i]), precision=float(precision[i]),
             recall=float(recall[i]), f1=float(f1[i]))
        for i, name in zip(labels, class_names)
    ]


def most_confused(confusion: np.ndarray, class_names: Sequence[str], *, top: int = 5) -> list[dict[str, Any]]:
    """The off-diagonal cells with most images, largest first (ties: lower indices first).

    Returns:
        Up to ``top`` dicts ``true, predicted, true_name, predicted_name, count,
        fraction`` (fraction of the true class's images sent to that wrong class);
        cells with a count of 0 are left out.
    """
    if not isinstance(top, (int, np.integer)) or top < 1:
        raise InvalidArgument(f"top must be a positive integer, got {top!r}")
    cm = np.asarray(confusion)
    rows = cm.sum(axis=1)
    cells = [(int(cm[t, p]), t, p) for t in range(cm.shape[0]) for p in range(cm.shape[1]) if t != p and cm[t, p] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [
        dict(true=t, predicted=p, true_name=str(class_names[t]), predicted_name=str(class_names[p]),
             count=count, fraction=float(count / rows[t]))
        for count, t, p in cells[:top]
    ]


def evaluation_from_probabilities(
    probabilities: np.ndarray, y: np.ndarray, class_names: Sequence[str]
) -> Evaluation:
    """Build an :class:`Evaluation` from probabilities already computed."""
    names = check_class_names(class_names)
    probs = as_probabilities(probabilities)
    if probs.shape[1] != len(names):
        raise InvalidArgument(
            f"the model outputs {probs.shape[1]} classes but {len(names)} class names were given"
        )
    y_true = check_labels(y, len(probs), len(names))
    if len(y_true) == 0:
        raise InvalidArgument("cannot evaluate on an empty test set (0 images)")
    predicted = np.argmax(probs, axis=1).astype(np.int64)
    counts, normalized = confusion_matrices(y_true, predicted, len(names))
    return Evaluation(
        probabilities=probs,
        y_true=y_true,
        predicted=predicted,
        class_names=names,
        loss=cross_entropy(probs, y_true),
        accuracy=float(np.mean(predicted == y_true)),
        confusion=counts,
        confusion_normalized=normalized,
        per_class=tuple(per_class_metrics(y_true, predicted, names)),
    )


def evaluate(
    model: "keras.Model",
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    tta: str = "none",
    prepare: inference.Prepare | None = None,
    progress: inference.Progress | None = None,
) -> Evaluation:
    """Predict the whole test set in batches and compute every metric from the predictions.

    Args:
        model: trained Keras classifier (only used for inference).
        x: float images N×H×W×C, scaled as the model was trained (or as ``prepare`` scales them).
        y: N integer labels.
        class_names: one name per class.
        batch_size: images per forward pass.
        tta: test-time augmentation, as the run was tested: "none", "flip" (the mean of the
            predictions on each image and on its mirror image; the fast presets use it) or
            "flip_translate" (see ``training.TTA_MODES``).
        prepare: applied to each batch of ``x`` first (e.g. the run's scaling of uint8 pixels, so
            ``x`` can be the stored images).
        progress: called as ``progress(images done, N)`` after each batch.
    Returns:
        An :class:`Evaluation`.
    """
    names = check_class_names(class_names)
    x = check_images(x)
    check_labels(y, len(x), len(names))
    if tta == "none":
        probabilities = predict_probabilities(model, x, batch_size=batch_size, prepare=prepare, progress=progress)
    else:  # one implementation of TTA: the one the training job measures its test accuracy with
        probabilities = predict_tta(model, x, tta=tta, batch_size=batch_size, prepare=prepare, progress=progress)
    return evaluation_from_probabilities(probabilities, y, names)


# --- galleries --------------------------------------------------------------------------
def _check_class(value: int | None, num_classes: int, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or not 0 <= value < num_classes:
        raise InvalidArgument(f"{what} must be a class index 0..{num_classes - 1} or None, got {value!r}")
    return int(value)


def select_images(
    ev: Evaluation,
    *,
    true_class: int | None = None,
    predicted_class: int | None = None,
    which: str = "mistakes",
    order: str = "confidence",
    seed: int = 0,
    limit: int | None = None,
) -> np.ndarray:
    """Indices of test images for a gallery.

    Args:
        ev: the evaluation to select from.
        true_class: keep only images of this true class (None: any).
        predicted_class: keep only images predicted as this class (None: any).
        which: "mistakes", "correct" or "all".
        order: "confidence" (most confident first, so the most confident mistakes lead),
            "low_confidence" (least confident first), "random" (repeatable with ``seed``)
            or "index" (test-set order).
        seed: seed for ``order="random"``.
        limit: keep at most this many (None: all).
    Returns:
        int64 indices into the test set.
    """
    c = len(ev.class_names)
    true_class = _check_class(true_class, c, "true class")
    predicted_class = _check_class(predicted_class, c, "predicted class")
    if which not in SELECT_WHICH:
        raise InvalidArgument(f"which must be one of {', '.join(SELECT_WHICH)}, got {which!r}")
    if order not in SELECT_ORDERS:
        raise InvalidArgument(f"order must be one of {', '.join(SELECT_ORDERS)}, got {order!r}")
    if limit is not None and (not isinstance(limit, (int, np.integer)) or limit < 0):
        raise InvalidArgument(f"limit must be a non-negative integer or None, got {limit!r}")
    mask = np.ones(len(ev.y_true), dtype=bool)
    if which == "mistakes":
        mask &= ~ev.correct
    elif which == "correct":
        mask &= ev.correct
    if true_class is not None:
        mask &= ev.y_true == true_class
    if predicted_class is not None:
        mask &= ev.predicted == predicted_class
    idx = np.flatnonzero(mask).astype(np.int64)
    if order in ("confidence", "low_confidence"):
        conf = ev.confidence[idx]
        # lexsort: last key is primary; index breaks ties so the order is repeatable.
        idx = idx[np.lexsort((idx, -conf if order == "confidence" else conf))]
    elif order == "random":
        idx = np.random.default_rng(seed).permutation(idx)
    return idx if limit is None else idx[:limit]


def cell_images(
    ev: Evaluation, true_class: int, predicted_class: int, *, order: str = "confidence", limit: int | None = None
) -> np.ndarray:
    """Indices of the images counted in one confusion-matrix cell (row true, column predicted)."""
    c = len(ev.class_names)
    if true_class is None or predicted_class is None:
        raise InvalidArgument(f"a cell needs a true and a predicted class, got ({true_class!r}, {predicted_class!r})")
    _check_class(true_class, c, "true class")
    _check_class(predicted_class, c, "predicted class")
    return select_images(ev, true_class=true_class, predicted_class=predicted_class, which="all",
                         order=order, limit=limit)


def cells_images(ev: Evaluation, cells: Sequence[tuple[int, int]], *, order: str = "confidence",
                 limit: int | None = None) -> np.ndarray:
    """Indices of the images in several cells (e.g. a box selection), cell by cell, no repeats."""
    parts = [cell_images(ev, t, p, order=order) for t, p in dict.fromkeys((int(t), int(p)) for t, p in cells)]
    idx = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    return idx if limit is None else idx[:limit]


def describe_images(ev: Evaluation, indices: Sequence[int], *, k: int = 3) -> list[dict[str, Any]]:
    """What the model said about each chosen image, with its top-k classes.

    Returns:
        One dict per index: ``index, true, true_name, predicted, predicted_name,
        confidence, correct, top`` where ``top`` is a list of ``(class index, name,
        probability)`` with the highest probability first.
    """
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgument(f"k must be a positive integer, got {k!r}")
    out = []
    for i in np.asarray(indices, dtype=np.int64):
        if not 0 <= i < len(ev.y_true):
            raise InvalidArgument(f"image index must lie in 0..{len(ev.y_true) - 1}, got {int(i)}")
        p = ev.probabilities[i]
        out.append(dict(
            index=int(i), true=int(ev.y_true[i]), true_name=ev.class_names[ev.y_true[i]],
            predicted=int(ev.predicted[i]), predicted_name=ev.class_names[ev.predicted[i]],
            confidence=float(p[ev.predicted[i]]), correct=bool(ev.predicted[i] == ev.y_true[i]),
            top=topk.top_classes(p, ev.class_names, k),
        ))
    return out
