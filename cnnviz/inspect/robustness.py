"""How robust is a trained CNN? Rotated, flipped, shifted and resized test images.

Seed 000 Part 16 rotates the CIFAR-10 test set by 90° with ``np.rot90`` (accuracy drops
from ~55% to 22%); Parts 17-19 train with rotation augmentation (59% / 31%); Part 21
(Q27-28) asks whether a network trained on 32×32 images can take other sizes. Every
function takes a model (or several) and arrays; the models are only used for inference.

The test set's transformed copies (:mod:`cnnviz.inspect.transforms`) go through the model's
compiled forward pass in one stream of batches per request (:func:`variant_scores`).

Transforms act on the images as given. Pass raw uint8 images with ``prepare`` (the run's
scaling, e.g. ``functools.partial(runs.prepare_inputs, run)``) so a "constant" fill of 0
is black; pass already scaled floats without ``prepare`` and choose ``cval`` yourself.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation, inference, layers, transforms
from cnnviz.training import tta
# The image transforms live in transforms.py; pages and tests still reach them here.
from cnnviz.inspect.transforms import (  # noqa: F401
    FILLS, MAX_SIZE, MIN_SIZE, SIZE_METHODS, Variant, _check_fill, resize_images, rotate_images, shift_images)


if TYPE_CHECKING:  # pragma: no cover
    import keras


DEFAULT_ANGLES = tuple(range(0, 360, 15))
RIGHT_ANGLES = (0, 90, 180, 270)
MAX_ANGLES = 72  # every 5°: enough for a chart, bounded work for a shared server
DEFAULT_SHIFTS = (2, 4)
DEFAULT_SIZES = (48, 64)  # seed 000 Q27-28 on 32×32 CIFAR-10
#: Robustness tests at most this many of a run's test images: every section is one forward pass per
#: copy, and 11 copies of a fast preset's 10,000 test images took 20 s on two quiet cores; at 2,000
#: images an accuracy is within about ±1 point, enough to read a curve (issue 19).
SAMPLE_IMAGES = 2000

Prepare = Callable[[np.ndarray], np.ndarray]


def sample_indices(count: int, limit: int = SAMPLE_IMAGES) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` test images, evenly spaced (all of them when ``count ≤ limit``).

    Evenly spaced, not random: the same images on every server, and a test set sorted by class keeps its
    class proportions.

    >>> sample_indices(10, 4).tolist(), sample_indices(3, 4).tolist()
    ([0, 2, 5, 7], [0, 1, 2])
    """
    for name, value in (("count", count), ("limit", limit)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < (0 if name == "count" else 1):
            raise InvalidArgument(f"{name} must be a whole number of images (limit at least 1), got {value!r}")
    if count <= limit:
        return np.arange(count)
    return np.arange(limit) * count // limit


@dataclass(frozen=True)
class SweepResult:
    """Accuracy of one model at each rotation angle.

    Attributes:
        angles: degrees, counter-clockwise (as ``np.rot90`` with axes (1, 2)).
        accuracy: one accuracy per angle.
        per_class: angles × classes accuracy; NaN for a class with no test image.
        class_names: the classes.
        support: test images per class.
        fill: how the corners were filled for angles that are not multiples of 90°.
    """

    angles: tuple[float, ...]
    accuracy: np.ndarray
    per_class: np.ndarray
    class_names: tuple[str, ...]
    support: np.ndarray
    fill: str

    @property
    def unrotated_accuracy(self) -> float | None:
        """Accuracy at 0° when the sweep contains it (to mark on charts)."""
        for a, acc in zip(self.angles, self.accuracy):
            if a % 360 == 0:
                return float(acc)
        return None


@dataclass(frozen=True)
class TransformResult:
    """Accuracy of one model on the original, flipped and shifted test sets.

    Attributes:
        names: transform names, "original" first.
        accuracy: one accuracy per transform.
        per_class: transforms × classes (NaN for a class with no test image).
        class_names: the classes.
    """

    names: tuple[str, ...]
    accuracy: np.ndarray
    per_class: np.ndarray
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class SizeResult:
    """The model applied to test images of another size.

    Attributes:
        size: side of the square images tried.
        method: "upscale" (bilinear stretch) or "pad" (centred, corners filled).
        works: whether the trained network can take images of this size at all.
        accuracy: overall accuracy when it works, else None.
        per_class: accuracy per class when it works, else None.
        explanation: why it works or not, in words, with the shapes involved.
        mismatch: when it does not work, the numbers behind the explanation:
            ``layer, layer_type, trained_weight_shape, needed_weight_shape`` and, when a
            Flatten layer feeds it, ``flatten_layer, flatten_input_trained,
            flatten_input_new, flatten_output_trained, flatten_output_new``.
    """

    size: int
    method: str
    works: bool
    accuracy: float | None
    per_class: np.ndarray | None
    explanation: str
    mismatch: dict[str, Any] | None = None


def rotation_examples(
    x: np.ndarray, angle: float, *, n: int = 10, seed: int = 0, fill: str = "constant", cval: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random test images and the same images rotated (seed 000's "Original"/"Rotated" figure).

    Returns:
        ``(indices, originals, rotated)``.
    """
    x = evaluation.check_images(x)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidArgument(f"number of examples must be a positive integer, got {n!r}")
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=min(int(n), len(x)), replace=False))
    return idx, x[idx], rotate_images(x[idx], angle, fill=fill, cval=cval)


# --- accuracy under transforms ----------------------------------------------------------
def _check_models(models: Mapping[str, "keras.Model"]) -> None:
    if not isinstance(models, Mapping) or not models:
        raise InvalidArgument(f"need a dict of at least one model keyed by name, got {type(models).__name__}")


def _preparer(prepare: Prepare | Mapping[str, Prepare] | None, name: str) -> Prepare | None:
    if isinstance(prepare, Mapping):
        if name not in prepare:
            raise InvalidArgument(f"no prepare function for model {name!r}; got ones for {', '.join(prepare)}")
        return prepare[name]
    return prepare


def variant_scores(
    model: "keras.Model | inference.Forward",
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    variants: Sequence[Variant],
    *,
    prepare: Prepare | None = None,
    batch_size: int = evaluation.DEFAULT_BATCH_SIZE,
    progress: inference.Progress | None = None,
    finished: Callable[[Variant, tuple[float, np.ndarray]], None] | None = None,
) -> dict[Variant, tuple[float, np.ndarray]]:
    """Overall and per-class accuracy of one model on every transformed copy of a test set, in one pass.

    The copies are streamed through the model's compiled forward pass (:mod:`cnnviz.inspect.inference`)
    ``batch_size`` images at a time, the next slice transformed while the current one is predicted
    (:func:`transformed_batches`), so memory stays that of two batches whatever the number of copies
    and ``progress`` moves with every batch.

    Args:
        model: the classifier (or its compiled :class:`~cnnviz.inspect.inference.Forward`).
        x, y: test images (see the module docstring about ``prepare``) and their integer labels.
        num_classes: the number of classes the model must output.
        variants: the copies (:mod:`cnnviz.inspect.transforms`); repeats are computed once.
        prepare: turns transformed images into model input.
        batch_size: images per forward pass.
        progress: called as ``progress(images done, images in all copies)`` after each batch.
        finished: called as ``finished(variant, score)`` as soon as a copy's last batch is scored, in the
            order of ``variants`` (a page can draw what is done while the rest is computed).
    Returns:
        ``{variant: (accuracy, per-class accuracy)}``; NaN for a class with no test image.
    """
    forward = inference.compiled(model)
    batch_size = inference.check_batch_size(batch_size)
    unique = tuple(dict.fromkeys(variants))
    total, done = len(unique) * len(x), 0
    support = np.bincount(y, minlength=num_classes)
    correct = {variant: np.empty(len(x), dtype=bool) for variant in unique}
    for variant, i, images in transformed_batches(x, unique, batch_size):
        probs = evaluation.as_probabilities(forward.batch(images, prepare))
        if probs.shape[1] != num_classes:
            raise InvalidArgument(
                f"the model outputs {probs.shape[1]} classes but {num_classes} class names were given")
        correct[variant][i:i + len(images)] = np.argmax(probs, axis=1) == y[i:i + len(images)]
        done += len(images)
        if progress is not None:
            progress(done, total)
        if finished is not None and i + len(images) == len(x):
            finished(variant, _score(correct[variant], y, support))
    return {variant: _score(hits, y, support) for variant, hits in correct.items()}


def transformed_batches(x: np.ndarray, variants: Sequence[Variant],
                        batch_size: int) -> Iterator[tuple[Variant, int, np.ndarray]]:
    """``(variant, start, variant.apply(x[start:start + batch_size]))`` for every copy and slice, in order.

    The next slice is transformed in a background thread while the caller predicts the current one:
    scipy's and NumPy's loops release the interpreter lock, so on two cores the rotations of 2,000
    CIFAR-10 images by every 15° overlap the small network's passes (3.0 s → 2.5 s, benchmarks/README.md).
    """
    work = [(variant, i) for variant in variants for i in range(0, len(x), batch_size)]
    if not work:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnviz-transform") as pool:
        def submit(k: int):
            variant, i = work[k]
            return pool.submit(variant.apply, x[i:i + batch_size])

        pending = submit(0)
        for k, (variant, i) in enumerate(work):
            images = pending.result()  # re-raises the transform's own error here
            if k + 1 < len(work):
                pending = submit(k + 1)
            yield variant, i, images


def _score(correct: np.ndarray, y: np.ndarray, support: np.ndarray) -> tuple[float, np.ndarray]:
    """``(accuracy, per-class accuracy)`` of the answers ``correct`` on labels ``y`` (NaN for a class without images)."""
    hits = np.bincount(y[correct], minlength=len(support))
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, hits / np.maximum(support, 1), np.nan)
    return float(correct.mean()), per_class


#: The copy each view that the training job keeps (:mod:`cnnviz.runs.predictions`) already predicted.
KEPT_VIEWS = {tta.PLAIN_VIEW: transforms.original(), tta.MIRRORED_VIEW: transforms.flip("horizontal")}


def kept_view_scores(views: Mapping[str, np.ndarray], y: np.ndarray,
                     num_classes: int) -> dict[Variant, tuple[float, np.ndarray]]:
    """:func:`variant_scores` of the copies among ``views`` (the training job's answers on the images of
    ``y``, by view name; unknown names are skipped), without a forward pass."""
    y = np.asarray(y)
    support = np.bincount(y, minlength=num_classes)
    return {KEPT_VIEWS[name]: _score(np.argmax(probs, axis=1) == y, y, support)
            for name, probs in views.items() if name in KEPT_VIEWS and probs.shape == (len(y), num_classes)}


def _check_set(x, y, class_names):
    names = evaluation.check_class_names(class_names)
    x = evaluation.check_images(x)
    y = evaluation.check_labels(y, len(x), len(names))
    return x, y, names


def _check_angles(angles: Sequence[float] | None) -> tuple[float, ...]:
    if angles is None:
        return tuple(float(a) for a in DEFAULT_ANGLES)
    angles = tuple(angles)
    if not angles or len(angles) > MAX_ANGLES:
        raise InvalidArgument(f"give 1..{MAX_ANGLES} angles, got {len(angles)}")
    for a in angles:
        if not isinstance(a, (int, float, np.integer, np.floating)) or not math.isfinite(a):
            raise InvalidArgument(f"angles must be finite numbers of degrees, got {a!r}")
    return tuple(float(a) for a in angles)


def compare_rotation(
    models: Mapping[str, "keras.Model"],
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    angles: Sequence[float] | None = None,
    fill: str = "constant",
    cval: float = 0.0,
    prepare: Prepare | Mapping[str, Prepare] | None = None,
    batch_size: int = evaluation.DEFAULT_BATCH_SIZE,
) -> dict[str, SweepResult]:
    """Accuracy of several models on the same rotated test sets (each angle rotated once).

    Args:
        models: ``{name: model}``, e.g. a preset trained without and with rotation augmentation.
        x: test images N×H×W×C (see the module docstring about ``prepare``).
        y: N integer labels.
        class_names: one name per class.
        angles: degrees (default every 15° from 0 to 345).
        fill, cval: corner fill for angles that are not multiples of 90°.
        prepare: turns transformed images into model input; one function or one per model name.
        batch_size: images per forward pass.
    Returns:
        ``{name: SweepResult}`` in the order of ``models``.
    """
    _check_models(models)
    x, y, names = _check_set(x, y, class_names)
    angles = _check_angles(angles)
    variants = rotation_variants(angles, fill=fill, cval=cval, shape=x.shape)
    out = {}
    for m, model in models.items():
        scores = variant_scores(model, x, y, len(names), variants, prepare=_preparer(prepare, m),
                                batch_size=batch_size)
        out[m] = sweep_result(angles, [scores[v] for v in variants], names, y, fill)
    return out


def rotation_variants(angles: Sequence[float], *, fill: str, cval: float = 0.0,
                      shape: Sequence[int] | None = None) -> list[Variant]:
    """The :class:`~cnnviz.inspect.transforms.Variant` of each angle for images of ``shape`` (N×H×W×C)."""
    square = shape is None or shape[1] == shape[2]
    return [transforms.rotation(a, fill=fill, cval=cval, square=square) for a in angles]


def sweep_result(angles: Sequence[float], scores: Sequence[tuple[float, np.ndarray]], class_names: Sequence[str],
                 y: np.ndarray, fill: str) -> SweepResult:
    """A :class:`SweepResult` from the ``(accuracy, per class)`` of each angle."""
    return SweepResult(tuple(float(a) for a in angles), np.array([s[0] for s in scores], dtype=float),
                       np.stack([s[1] for s in scores]).astype(float), tuple(class_names),
                       np.bincount(y, minlength=len(class_names)), fill)


def rotation_sweep(model: "keras.Model", x: np.ndarray, y: np.ndarray, class_names: Sequence[str],
                   **options: Any) -> SweepResult:
    """Accuracy of one model at each angle; options as :func:`compare_rotation`."""
    return compare_rotation({"model": model}, x, y, class_names, **options)["model"]


def rot90_test(model: "keras.Model", x: np.ndarray, y: np.ndarray, class_names: Sequence[str], *,
               prepare: Prepare | None = None, batch_size: int = evaluation.DEFAULT_BATCH_SIZE) -> SweepResult:
    """Accuracy at 0°, 90°, 180° and 270° (exact ``np.rot90``, seed 000 Part 16)."""
    return rotation_sweep(model, x, y, class_names, angles=RIGHT_ANGLES, prepare=prepare, batch_size=batch_size)


def transform_variants(shifts: Sequence[int], *, fill: str, cval: float = 0.0) -> list[tuple[str, Variant]]:
    """``(name, variant)`` of the original, both flips and each shift right, left, down and up."""
    named = [("original", transforms.original()), ("flip left-right", transforms.flip("horizontal")),
             ("flip upside down", transforms.flip("vertical"))]
    for s in shifts:
        named += [(f"shift right {s} px", transforms.shift(0, s, fill=fill, cval=cval)),
                  (f"shift left {s} px", transforms.shift(0, -s, fill=fill, cval=cval)),
                  (f"shift down {s} px", transforms.shift(s, 0, fill=fill, cval=cval)),
                  (f"shift up {s} px", transforms.shift(-s, 0, fill=fill, cval=cval))]
    return named


def check_shifts(shifts: Sequence[int], shape: Sequence[int]) -> tuple[int, ...]:
    """Shift distances as whole pixels that keep part of an image of ``shape`` (N×H×W×C) in view."""
    shifts = tuple(shifts)
    for s in shifts:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 < s < min(shape[1:3]):
            raise InvalidArgument(f"shifts must be whole pixels 1..{min(shape[1:3]) - 1}, got {s!r}")
    return tuple(int(s) for s in shifts)


def compare_transforms(
    models: Mapping[str, "keras.Model"],
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    shifts: Sequence[int] = DEFAULT_SHIFTS,
    fill: str = "constant",
    cval: float = 0.0,
    prepare: Prepare | Mapping[str, Prepare] | None = None,
    batch_size: int = evaluation.DEFAULT_BATCH_SIZE,
) -> dict[str, TransformResult]:
    """Accuracy of several models on the original, flipped (2) and shifted (4 per shift) test sets.

    Args:
        shifts: shift distances in pixels; each is tried right, left, down and up.
        Others as :func:`compare_rotation`.
    Returns:
        ``{name: TransformResult}``.
    """
    _check_models(models)
    x, y, names = _check_set(x, y, class_names)
    _check_fill(fill)
    named = transform_variants(check_shifts(shifts, x.shape), fill=fill, cval=cval)
    out = {}
    for m, model in models.items():
        scores = variant_scores(model, x, y, len(names), [v for _, v in named], prepare=_preparer(prepare, m),
                                batch_size=batch_size)
        out[m] = TransformResult(tuple(n for n, _ in named), np.array([scores[v][0] for _, v in named]),
                                 np.stack([scores[v][1] for _, v in named]), names)
    return out


def transform_test(model: "keras.Model", x: np.ndarray, y: np.ndarray, class_names: Sequence[str],
                   **options: Any) -> TransformResult:
    """Flips and shifts for one model; options as :func:`compare_transforms`."""
    return compare_transforms({"model": model}, x, y, class_names, **options)["model"]


# --- other input sizes (seed 000 Q27-28) ------------------------------------------------
def _shape(shape: Sequence[Any]) -> tuple:
    return tuple(None if s is None else int(s) for s in shape)


def _fmt(shape: Sequence[Any]) -> str:
    return "×".join(f"{s:,}" if s is not None else "?" for s in shape)


def _layer_input_shape(model, name: str) -> tuple | None:
    try:
        return _shape(model.get_layer(name).input.shape[1:])
    except (AttributeError, ValueError, RuntimeError):
        return None


def _clone_at_size(model: "keras.Model", size: int, channels: int):
    """A fresh copy of the architecture taking size×size inputs (weights not yet copied)."""
    import keras

    return keras.models.clone_model(model, input_tensors=keras.Input(shape=(size, size, channels)))


def _first_weight_mismatch(model, clone) -> dict[str, Any] | None:
    """The first layer whose weights would need another shape at the new size."""
    for layer in model.layers:
        if not layer.weights:
            continue
        new = clone.get_layer(layer.name)
        for w_old, w_new in zip(layer.weights, new.weights):
            if tuple(w_old.shape) != tuple(w_new.shape):
                return dict(layer=layer.name, layer_type=type(layer).__name__,
                            trained_weight_shape=_shape(w_old.shape), needed_weight_shape=_shape(w_new.shape))
    return None


def _previous_layer_of_type(model, before: str, prefix: str) -> str | None:
    found = None
    for layer in model.layers:
        if layer.name == before:
            break
        if type(layer).__name__.startswith(prefix):
            found = layer.name
    return found


def _convolves_before(model, name: str) -> bool:
    """Whether a convolution (or a nested model, a transfer backbone) comes before layer ``name``: then what
    reaches it are feature maps, not the images themselves (a seed MLP's Flatten comes straight after the input)."""
    for layer in model.layers:
        if layer.name == name:
            return False
        if layers.is_conv(layer) or hasattr(layer, "layers"):
            return True
    return False


def _explain_mismatch(model, clone, mismatch: dict[str, Any], old_hw: tuple[int, int], size: int) -> str:
    old, new = f"{old_hw[0]}×{old_hw[1]}", f"{size}×{size}"
    t_shape, n_shape = mismatch["trained_weight_shape"], mismatch["needed_weight_shape"]
    flat = _previous_layer_of_type(model, mismatch["layer"], "Flatten")
    if flat is not None and len(t_shape) == 2:
        f_old, f_new = _layer_input_shape(model, flat), _layer_input_shape(clone, flat)
        n_old, n_new = t_shape[0], n_shape[0]
        mismatch.update(flatten_layer=flat, flatten_input_trained=f_old, flatten_input_new=f_new,
                        flatten_output_trained=n_old, flatten_output_new=n_new)
        convolved = _convolves_before(model, flat)
        reaching = "feature maps" if convolved else "images"
        maps = (f"the {reaching} reaching Flatten layer '{flat}' are {_fmt(f_new)} instead of "
                f"{_fmt(f_old)}, so it" if f_old and f_new else f"Flatten layer '{flat}'")
        channels = f_new[-1] if f_new else None
        extra = (f"There are no trained weights for the other {n_new - n_old:,} inputs,"
                 if n_new > n_old else f"{n_old - n_new:,} rows of its weights would get no input,")
        if not convolved:  # no maps to pool: every pixel has weights of its own
            tail = (" This network has no convolution layer before Flatten: every pixel has weights of its own, "
                    "so it only takes images of the size it was trained on.")
        else:
            tail = (f" A network that ends its convolutions with global average pooling turns each feature map "
                    f"into one number, so its Dense layer gets {channels:,} numbers at any image size."
                    if channels else "")
        return (
            f"This network cannot take {new} images. At {new} pixels {maps} hands {n_new:,} numbers to "
            f"{mismatch['layer_type']} layer '{mismatch['layer']}', but that layer was trained on {old} images "
            f"where it received {n_old:,}: its weight matrix is {_fmt(t_shape)}, one row per input number. "
            f"{extra} so the shapes "
            f"{_fmt(t_shape)} (trained) and {_fmt(n_shape)} (needed) do not match.{tail}"
        )
    return (
        f"This network cannot take {new} images: its {mismatch['layer_type']} layer '{mismatch['layer']}' was "
        f"trained on {old} images with weights of shape {_fmt(t_shape)}, but at {new} it would need "
        f"weights of shape {_fmt(n_shape)}."
    )


def _explain_works(model, clone, old_hw: tuple[int, int], size: int) -> str:
    old, new = f"{old_hw[0]}×{old_hw[1]}", f"{size}×{size}"
    resize = next((layer for layer in model.layers if type(layer).__name__ == "Resizing"), None)
    pool = _previous_layer_of_type(model, "", "Global")  # the last global pooling layer
    if resize is not None and (pool is None or _layer_input_shape(model, pool) == _layer_input_shape(clone, pool)):
        # e.g. a transfer run: the image is scaled to the backbone's size first, so nothing after it changes
        return (f"This network can take {new} images: its Resizing layer '{resize.name}' makes every image "
                f"{resize.height}×{resize.width} before the rest of the network sees it, at {new} as at {old}, "
                "so the trained weights apply unchanged.")
    if pool is not None:
        p_old, p_new = _layer_input_shape(model, pool), _layer_input_shape(clone, pool)
        if p_old and p_new:
            # What this pooling does, by its class: a `global_max` layer takes maxima, it averages nothing.
            kind = type(model.get_layer(pool)).__name__
            how = " (its largest value)" if "Max" in kind else " (its average)" if "Average" in kind else ""
            return (
                f"This network can take {new} images. The feature maps reaching global pooling layer "
                f"'{pool}' are {_fmt(p_new)} instead of {_fmt(p_old)}; global pooling turns each of the "
                f"{p_new[-1]:,} maps into one number{how}, so the layers after it get the same {p_new[-1]:,} "
                f"numbers as at {old} and the trained weights apply unchanged."
            )
    return (f"This network can take {new} images: every layer with weights needs the same weight shapes "
            f"at {new} as at {old}, so the trained weights apply unchanged.")


def other_sizes(
    model: "keras.Model",
    x: np.ndarray,
    y: np.ndarray,
    class_names: Sequence[str],
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    method: str = "upscale",
    fill: str = "constant",
    cval: float = 0.0,
    prepare: Prepare | None = None,
    batch_size: int = evaluation.DEFAULT_BATCH_SIZE,
    progress: inference.Progress | None = None,
) -> list[SizeResult]:
    """Apply the trained network to the test images made ``size``×``size`` (Q27-28).

    The architecture is rebuilt for the new input size (``keras.models.clone_model``, a
    separate copy; the model passed in is not changed). If every layer's weights keep
    their shape (convolutions, global pooling) the trained weights are copied in and
    the accuracy measured; otherwise (Flatten + Dense) the result explains which
    shapes do not match instead of raising.

    Args:
        sizes: square sides to try.
        method: "upscale" or "pad" (see :func:`resize_images`).
        progress: called as ``progress(images done, images at all sizes)`` after each batch.
        Others as :func:`compare_rotation`.
    Returns:
        One :class:`SizeResult` per size.
    """
    x, y, names = _check_set(x, y, class_names)
    sizes = tuple(sizes)
    if not sizes:
        raise InvalidArgument("give at least one image size, got none")
    variants = {s: transforms.resize(s, method=method, fill=fill, cval=cval) for s in sizes}  # validates first
    old_hw = (int(x.shape[1]), int(x.shape[2]))
    if method == "pad" and min(sizes) < max(old_hw):
        raise InvalidArgument(f"cannot pad {old_hw[0]}×{old_hw[1]} images to the smaller size "
                              f"{min(sizes)}×{min(sizes)}")
    results = []
    for k, s in enumerate(sizes):
        try:
            clone = _clone_at_size(model, int(s), int(x.shape[3]))
        except Exception as err:  # noqa: BLE001 - Keras's reason becomes the explanation
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            results.append(SizeResult(int(s), method, False, None, None,
                                      f"Keras cannot build this network for {s}×{s} images: {first}"))
            continue
        mismatch = _first_weight_mismatch(model, clone)
        if mismatch is not None:
            text = _explain_mismatch(model, clone, mismatch, old_hw, int(s))
            results.append(SizeResult(int(s), method, False, None, None, text, mismatch))
            continue
        clone.set_weights(model.get_weights())
        step = None if progress is None else (
            lambda done, total, k=k: progress(k * len(x) + done, len(sizes) * len(x)))
        acc, per_class = variant_scores(clone, x, y, len(names), [variants[s]], prepare=prepare,
                                        batch_size=batch_size, progress=step)[variants[s]]
        results.append(SizeResult(int(s), method, True, acc, per_class, _explain_works(model, clone, old_hw, int(s))))
    return results
