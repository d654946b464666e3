"""Training one run: data pipeline, progress reporting, stop flag, test, saving the run.

:func:`train` does the work synchronously; the CLI calls it, and so do the job threads of
:mod:`cnnviz.training.jobs` (training never runs in a Streamlit script thread). It publishes a
:class:`Progress` snapshot at most once a second from a Keras callback. A stop request is a
flag the callback reads after every batch (``model.stop_training = True``): the run ends
within one batch, keeps its partial history and is saved as ``"stopped"``.
Data stays uint8 until the last moment: ``tf.data`` batches it, then casts, augments and
scales each batch (cpu-training-facts.md).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from cnnviz.runs import store as runs
from cnnviz.errors import InvalidArgument

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from cnnviz.data.datasets import Dataset

log = logging.getLogger("cnnviz.training.loop")

#: How often progress is published: once a second kept UI time under 0.5% of a run
#: (cpu-training-facts.md, "Streamlit live updates").
PUBLISH_INTERVAL_S = 1.0
#: Curve points kept per series; older points are thinned 2:1 beyond this (charts are re-sent whole).
MAX_CURVE_POINTS = 240
SCALINGS = ("unit", "symmetric", "standardize")
#: Test-time augmentation: "flip" averages the predictions on each test image and its mirror
#: image (airbench's tta_level 1; +0.5 to 1 point on CIFAR-10 for a second forward pass);
#: "flip_translate" is airbench's tta_level 2: half the flip mean, plus a quarter each of the flip
#: means of the image shifted one pixel up-left and down-right (mirrored edges): six forward passes.
TTA_MODES = ("none", "flip", "flip_translate")
#: What each mode averages the predictions over, for pages ("the mean over {}").
TTA_SHORT = {
    "flip": "each test image and its mirror image",
    "flip_translate": "each test image and its mirror image, and both shifted by one pixel (weighted 2:1:1)",
}
#: How the run's metrics describe each mode (``test_tta``).
TTA_DESCRIPTIONS = {
    "flip": "flip: mean of the predictions on each test image and its mirror image",
    "flip_translate": "flip and translate: half the mean of the predictions on each test image and its mirror "
                      "image, a quarter each the same mean for the image shifted one pixel up-left and down-right",
}
#: airbench94's triangle: from 0.2 × peak up to the peak at 23% of the steps, down to 0.07 × peak.
ONE_CYCLE = ((0.0, 0.23, 1.0), (0.2, 1.0, 0.07))
#: Training images the data-dependent first layer (patch whitening) is computed from (airbench: 5,000).
DATA_INIT_IMAGES = 5000
#: Batch size for the test predictions (inference only; larger batches are cheaper per image).
PREDICT_BATCH = 500
#: Accuracy metric names Keras may use, preferred first.
_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")

BuildFn = Callable[[tuple[int, int, int], int], "keras.Model"]


# --- options ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainSpec:
    """Everything that defines a training run (saved as the run's config).

    Attributes:
        model: ``ModelConfig.to_dict()`` of the network (JSON-safe).
        dataset: dataset name for :func:`cnnviz.data.datasets.load`.
        train_size, test_size: images drawn (stratified, by ``seed``); None keeps all.
        validation_fraction: share of the training images held out for validation (0 = none).
        scaling: ``"unit"`` [0,1], ``"symmetric"`` [-1,1] or ``"standardize"`` (per channel).
        augment: ``AugmentConfig.to_dict()`` or None.
        class_weights: weight classes by ``compute_class_weight("balanced")`` (seed 000 Part 13).
        epochs, batch_size: as in ``model.fit``.
        early_stopping: stop when validation loss has not improved for ``patience`` epochs.
        keep_best: end with the weights of the best validation-loss epoch (seed 002's checkpoint).
        seed: makes weights, split, shuffling and augmentation repeatable.
        preset: the preset's name when the model came from one.
        tta: test-time augmentation of the run's test accuracy: "none", "flip" or "flip_translate"
            (see ``TTA_MODES``).
    """

    model: dict
    dataset: str = "digits"
    train_size: int | None = None
    test_size: int | None = None
    validation_fraction: float = 0.25
    scaling: str = "unit"
    augment: dict | None = None
    class_weights: bool = False
    epochs: int = 5
    batch_size: int = 32
    early_stopping: bool = False
    patience: int = 3
    keep_best: bool = False
    seed: int = 0
    preset: str | None = None
    tta: str = "none"

    def validate(self) -> None:
        """Raise :class:`InvalidArgument` naming the first impossible setting."""
        if not isinstance(self.model, dict):
            raise InvalidArgument(f"model must be a ModelConfig dict, got {type(self.model).__name__}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise InvalidArgument(f"dataset must be a dataset name, got {self.dataset!r}")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise InvalidArgument(f"{name} must be a positive whole number or empty, got {value!r}")
        fraction = self.validation_fraction  # checked as a number first: float("lots") or float(None) would escape
        if not isinstance(fraction, (int, float, np.number)) or isinstance(fraction, bool) or not 0.0 <= fraction < 1.0:
            raise InvalidArgument(f"validation fraction must be in [0, 1), got {fraction!r}")
        if self.scaling not in SCALINGS:
            raise InvalidArgument(f"scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        if self.augment is not None:
            if not isinstance(self.augment, dict):
                raise InvalidArgument(f"augment must be an AugmentConfig dict or None, got {self.augment!r}")
            from cnnviz.data import augment

            augment.AugmentConfig.from_dict(self.augment)  # raises naming the bad setting
        if not _is_int(self.epochs) or not 1 <= self.epochs <= 1000:
            raise InvalidArgument(f"epochs must be 1..1000, got {self.epochs!r}")
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= 8192:
            raise InvalidArgument(f"batch size must be 1..8192, got {self.batch_size!r}")
        if not _is_int(self.patience) or not 1 <= self.patience <= 1000:
            raise InvalidArgument(f"early-stopping patience must be 1..1000 epochs, got {self.patience!r}")
        if self.tta not in TTA_MODES:
            raise InvalidArgument(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**31:
            raise InvalidArgument(f"seed must be a whole number 0..2147483647, got {self.seed!r}")
        if (self.early_stopping or self.keep_best) and self.validation_fraction <= 0:
            setting = "early stopping" if self.early_stopping else "keep best weights"
            raise InvalidArgument(
                f"{setting} needs validation data, but the validation fraction is {self.validation_fraction}"
            )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# --- data ---------------------------------------------------------------------------------
def load_training_data(
    name: str, *, train_size: int | None, test_size: int | None, seed: int, full: "Dataset | None" = None
) -> "Dataset":
    """The dataset a run trains and tests on: ``datasets.load`` then a stratified ``subset``.

    Args:
        name: dataset name.
        train_size, test_size: images to draw (None = all).
        seed: seed of the subset.
        full: the already-loaded full dataset ``name`` (e.g. the app's shared read-only
            copy), to avoid loading a second one; never modified.
    """
    from cnnviz.data import datasets

    if full is not None and full.name != name:
        raise InvalidArgument(f"the dataset given is {full.name!r}, but the run asks for {name!r}")
    ds = full if full is not None else datasets.load(name)
    if train_size is None and test_size is None:
        return ds
    return datasets.subset(
        ds,
        train_size=train_size if train_size is not None else len(ds.y_train),
        test_size=test_size if test_size is not None else len(ds.y_test),
        seed=seed,
    )


def scaling_affine(method: str, x_train: np.ndarray) -> dict:
    """Per-channel ``x * scale + offset`` that implements ``datasets.scale(x, method)`` on uint8 pixels.

    ``standardize`` uses :func:`cnnviz.data.datasets.channel_stats` of the *training* images, so
    validation and test images are scaled with training statistics.

    Returns:
        ``{"method", "scale": [per channel], "offset": [per channel]}`` (JSON-safe; saved
        in the run so evaluation scales new images the same way), plus ``"stats"`` for
        ``standardize``.
    """
    channels = int(x_train.shape[-1])
    stats = None
    if method == "unit":
        scale, offset = [1 / 255.0] * channels, [0.0] * channels
    elif method == "symmetric":
        scale, offset = [1 / 127.5] * channels, [-1.0] * channels
    elif method == "standardize":
        from cnnviz.data import datasets

        stats = datasets.channel_stats(x_train)
        mean = np.asarray(stats["mean"], dtype=np.float64)
        std = np.asarray(stats["std"], dtype=np.float64)
        std = np.where(std > 0, std, 1.0)  # a constant channel stays centred, as datasets.scale does
        scale, offset = (1 / std).tolist(), (-mean / std).tolist()
    else:
        raise InvalidArgument(f"scaling must be one of {', '.join(SCALINGS)}, got {method!r}")
    affine = {"method": method, "scale": [float(v) for v in scale], "offset": [float(v) for v in offset]}
    if stats is not None:
        affine["stats"] = stats
    return affine


def apply_scaling(x_uint8: np.ndarray, affine: dict) -> np.ndarray:
    """Scale uint8 images N×H×W×C with a :func:`scaling_affine` result (float32)."""
    x = np.asarray(x_uint8)
    if x.ndim < 1 or x.shape[-1] != len(affine["scale"]):
        raise InvalidArgument(
            f"images must have {len(affine['scale'])} channel(s) in the last axis, got shape {x.shape}"
        )
    scale = np.asarray(affine["scale"], dtype=np.float32)
    offset = np.asarray(affine["offset"], dtype=np.float32)
    return x.astype(np.float32) * scale + offset


@dataclass(frozen=True)
class PreparedData:
    """The uint8 arrays of one run, split, plus what the model needs to know."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    affine: dict

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def prepare_data(spec: TrainSpec, *, full: "Dataset | None" = None) -> PreparedData:
    """Load (or take ``full``), subset and split the data of ``spec``; work out its scaling."""
    from cnnviz.data import datasets

    ds = load_training_data(spec.dataset, train_size=spec.train_size, test_size=spec.test_size, seed=spec.seed,
                            full=full)
    x_tr, y_tr = ds.x_train, ds.y_train
    x_val = y_val = None
    if spec.validation_fraction > 0:
        x_tr, x_val, y_tr, y_val = datasets.split_validation(
            x_tr, y_tr, fraction=spec.validation_fraction, seed=spec.seed
        )
    return PreparedData(
        x_train=x_tr, y_train=np.asarray(y_tr, dtype=np.int64),
        x_val=x_val, y_val=None if y_val is None else np.asarray(y_val, dtype=np.int64),
        x_test=ds.x_test, y_test=np.asarray(ds.y_test, dtype=np.int64),
        class_names=tuple(ds.class_names),
        affine=scaling_affine(spec.scaling, x_tr),
    )


def balanced_class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """``compute_class_weight("balanced")`` as a dict for ``fit``; absent classes get 1.0."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    weights = compute_class_weight("balanced", classes=present, y=y)
    out = {c: 1.0 for c in range(num_classes)}
    out.update({int(c): float(w) for c, w in zip(present, weights)})
    return out


def wants_one_hot(model: "keras.Model") -> bool:
    """True when the compiled loss expects one-hot labels (anything but the sparse losses)."""
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or type(loss).__name__
    return "sparse" not in str(name).lower()


def make_pipeline(
    x_uint8: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    affine: dict,
    num_classes: int,
    one_hot: bool,
    shuffle_seed: int | None = None,
    augmenter: Any = None,
) -> "tf.data.Dataset":
    """A ``tf.data`` pipeline: uint8 batches, then cast, augment, scale, (one-hot) per batch.

    Args:
        x_uint8: images N×H×W×C, uint8 (kept as such in memory).
        y: integer labels.
        batch_size: images per batch.
        affine: :func:`scaling_affine` result.
        num_classes: for one-hot labels.
        one_hot: give one-hot labels (categorical losses) instead of integers.
        shuffle_seed: shuffle every epoch with this seed; None keeps the order.
        augmenter: a Keras preprocessing model applied to whole batches in pixel units.
    Returns:
        A prefetched ``tf.data.Dataset`` of (float32 images, labels).
    """
    import tensorflow as tf

    scale = tf.constant(affine["scale"], dtype=tf.float32)
    offset = tf.constant(affine["offset"], dtype=tf.float32)
    data = tf.data.Dataset.from_tensor_slices((x_uint8, np.asarray(y, dtype=np.int64)))
    if shuffle_seed is not None:
        data = data.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)

    def to_model_input(images, labels):
        images = tf.cast(images, tf.float32)
        if augmenter is not None:
            images = augmenter(images, training=True)  # geometry only: works in pixel units
        images = images * scale + offset
        if one_hot:
            labels = tf.one_hot(labels, num_classes)
        return images, labels

    return data.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


# --- learning-rate schedule and test-time augmentation ---------------------------------------
def lr_at(schedule: str, peak: float, progress: float) -> float:
    """The learning rate of a schedule at ``progress`` (0 = first step, 1 = last step).

    >>> [round(lr_at("one_cycle", 1.0, p), 3) for p in (0.0, 0.23, 1.0)]
    [0.2, 1.0, 0.07]
    """
    if schedule == "constant":
        return float(peak)
    if schedule == "one_cycle":
        return float(np.interp(progress, *ONE_CYCLE)) * float(peak)
    raise InvalidArgument(f"learning-rate schedule must be constant or one_cycle, got {schedule!r}")


def _schedule_callback(schedule: str, peak: float, total_steps: int) -> Any:
    """A Keras callback that sets the optimiser's learning rate before every training step."""
    import keras

    class StepSchedule(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.step = 0

        def on_train_batch_begin(self, batch, logs=None):
            progress = self.step / max(1, total_steps - 1)
            self.model.optimizer.learning_rate = lr_at(schedule, peak, progress)
            self.step += 1

    return StepSchedule()


def flip_images(x: "np.ndarray | tf.Tensor") -> Any:
    """Mirror images N×H×W×C left to right (NumPy arrays and TensorFlow tensors)."""
    if isinstance(x, np.ndarray):
        return x[:, :, ::-1, :]
    import tensorflow as tf

    return tf.reverse(x, axis=[2])


def translate_images(x: "tf.Tensor", dy: int, dx: int) -> Any:
    """Shift images N×H×W×C by (``dy``, ``dx``) pixels, at most 1, filling the edge by mirroring."""
    import tensorflow as tf

    if abs(dy) > 1 or abs(dx) > 1:
        raise InvalidArgument(f"translate_images shifts by at most one pixel, got ({dy}, {dx})")
    padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="REFLECT")
    height, width = x.shape[1], x.shape[2]
    return padded[:, 1 - dy:1 - dy + height, 1 - dx:1 - dx + width, :]


def predict_tta(model: "keras.Model", x: "np.ndarray | tf.data.Dataset", *, tta: str = "flip",
                batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """The model's class probabilities, with test-time augmentation.

    Args:
        model: a trained classifier (softmax output).
        x: scaled images N×H×W×C (float), or a ``tf.data`` pipeline of (images, labels)
            batches such as :func:`make_pipeline` gives.
        tta: "flip": the mean of the predictions on each image and on its mirror image;
            "flip_translate": half that mean plus a quarter each of the same mean for the image
            shifted one pixel down-right and up-left (see ``TTA_MODES``); "none": plain predictions.
        batch_size: images per forward pass (arrays only).
    Returns:
        Probabilities N×classes (float32).
    """
    plain, augmented = _predictions(model, x, tta=tta, batch_size=batch_size)
    return plain if augmented is None else augmented


def _predictions(model: Any, x: Any, *, tta: str, batch_size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Plain and (with TTA) augmented predictions, batch by batch through one ``tf.function``.

    A plain loop over a traced forward pass: ``model.predict`` cost here about twice as much
    for the 10,000 CIFAR-10 test images (measured for issue 8).
    """
    if tta not in TTA_MODES:
        raise InvalidArgument(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, got {tta!r}")
    if isinstance(x, np.ndarray) and x.ndim != 4:
        raise InvalidArgument(f"images must be N×H×W×C, got shape {x.shape}")
    import tensorflow as tf

    forward = tf.function(lambda images: model(images, training=False), reduce_retracing=True)
    if isinstance(x, np.ndarray):
        batches: Any = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    else:
        batches = (b[0] if isinstance(b, tuple) else b for b in x)

    def predict(images: Any) -> np.ndarray:
        return np.asarray(forward(images), dtype=np.float32)

    def mirror_mean(images: Any) -> np.ndarray:
        return (predict(images) + predict(flip_images(images))) / 2

    plain, augmented = [], []
    for images in batches:
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        plain.append(predict(images))
        if tta == "flip":
            augmented.append((plain[-1] + predict(flip_images(images))) / 2)
        elif tta == "flip_translate":
            shifted = mirror_mean(translate_images(images, 1, 1)) + mirror_mean(translate_images(images, -1, -1))
            augmented.append((plain[-1] + predict(flip_images(images))) / 4 + shifted / 4)
    classes = int(model.output_shape[-1])

    def stack(parts: list) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0, classes), np.float32)

    return stack(plain), stack(augmented) if tta != "none" else None


def _evaluate_tta(model: Any, test_ds: Any, y: np.ndarray, *, tta: str, one_hot: bool, num_classes: int) -> dict:
    """Test loss and accuracy of the TTA predictions, and the accuracy without TTA."""
    plain, augmented = _predictions(model, test_ds, tta=tta, batch_size=PREDICT_BATCH)
    probs = augmented if augmented is not None else plain
    target = np.eye(num_classes, dtype=np.float32)[y] if one_hot else y
    loss = float(np.asarray(model.loss(target, probs)))
    return {"loss": loss, "accuracy": float(np.mean(probs.argmax(1) == y)),
            "accuracy_plain": float(np.mean(plain.argmax(1) == y))}


# --- progress -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """A snapshot of a job, published at most once a second.

    ``curve`` holds the live curves: ``x`` (fractional epochs) with ``loss``/``accuracy``
    (running epoch averages, as Keras reports them) and ``epoch`` with per-epoch
    ``loss``/``accuracy``/``val_loss``/``val_accuracy`` (None where not measured).
    """

    phase: str = "waiting"  # waiting, loading data, building, training, testing, saving, done
    epoch: int = 0  # 1-based epoch in progress
    epochs: int = 0
    batch: int = 0  # batches done in this epoch
    batches: int = 0  # batches per epoch
    loss: float | None = None
    accuracy: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0
    curve: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        """Share of all batches done, 0..1."""
        if not self.epochs or not self.batches:
            return 0.0
        return min(1.0, ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches))


def _thin(points: list) -> None:
    """Drop every other point (keeping the last) once a series is longer than the cap."""
    if len(points) > MAX_CURVE_POINTS:
        last = points[-1]
        del points[1::2]
        if points[-1] is not last:
            points.append(last)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _accuracy(logs: dict, prefix: str = "") -> float | None:
    for key in _ACCURACY_KEYS:
        if prefix + key in logs:
            return _finite(logs[prefix + key])
    return None


def _make_callbacks(
    *,
    epochs: int,
    steps: int,
    n_train: int,
    batch_size: int,
    stop_event: threading.Event,
    publish: Callable[[Progress], None],
    keep_best: bool,
) -> tuple[Any, Any]:
    """Build the progress/stop callback and the best-weights callback (Keras imported lazily)."""
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        """Counts batches, checks the stop flag every batch, publishes once a second."""

        def __init__(self) -> None:
            super().__init__()
            self.stopped = False
            self.history: dict[str, list] = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
            self.partial_epoch = 0.0  # fraction of a stopped epoch trained (0 = none or all of it)
            self.val_cut = False  # validation of this epoch was cut short by a stop
            self._points = {"x": [], "loss": [], "accuracy": []}
            self._epoch = 0
            self._batch = 0
            self._done = 0
            self._images = 0
            self._logs: dict = {}

        def on_train_begin(self, logs=None):
            self._t0 = self._last = time.monotonic()
            self._t_first = None  # end of the first batch: the rate leaves out tracing
            self._images_first = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch, self._batch = epoch, 0
            self.val_cut = False

        def on_train_batch_end(self, batch, logs=None):
            # Cheap per batch: two counters, an Event check and a clock read.
            self._batch += 1
            self._done += 1
            self._images += min(batch_size, n_train - (self._batch - 1) * batch_size)
            if self._t_first is None:
                self._t_first, self._images_first = time.monotonic(), self._images
            if stop_event.is_set() and not self.stopped:
                self.stopped = True
                self.model.stop_training = True
            now = time.monotonic()
            if now - self._last >= PUBLISH_INTERVAL_S or self.stopped:
                self._logs = logs or {}
                self._publish(now, "training")

        def on_test_batch_begin(self, batch, logs=None):
            # A *_batch_begin hook keeps Keras' asynchronous dispatch of validation batches.
            if stop_event.is_set():
                self.model.stop_evaluating = True  # skip the rest of validation after a stop
                self.val_cut = True

        @property
        def epoch_validated(self) -> bool:
            """False when this epoch's training or validation was cut short by a stop."""
            return not self.val_cut and not self.partial_epoch

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self._logs = logs
            if stop_event.is_set() and not self.stopped:  # stopped during validation
                self.stopped = True
                self.model.stop_training = True
            if self.stopped and self._batch < steps:
                self.partial_epoch = self._batch / steps
            self.history["loss"].append(_finite(logs.get("loss")))
            self.history["accuracy"].append(_accuracy(logs))
            if not self.epoch_validated:
                # Validation cut short covers a batch or so: don't keep it.
                self.history["val_loss"].append(None)
                self.history["val_accuracy"].append(None)
            else:
                self.history["val_loss"].append(_finite(logs.get("val_loss")))
                self.history["val_accuracy"].append(_accuracy(logs, "val_"))
            self._publish(time.monotonic(), "training")

        def images_done(self) -> int:
            return self._images

        def _publish(self, now: float, phase: str) -> None:
            self._last = now
            rate = None  # average since the first batch (validation time included): steady to read
            if self._t_first is not None and now > self._t_first and self._images > self._images_first:
                rate = (self._images - self._images_first) / (now - self._t_first)
            elapsed = now - self._t0
            total = epochs * steps
            eta = elapsed / self._done * (total - self._done) if self._done else None
            x = self._epoch + self._batch / steps
            if self._batch and (not self._points["x"] or x > self._points["x"][-1]):
                self._points["x"].append(round(x, 4))
                self._points["loss"].append(_finite(self._logs.get("loss")))
                self._points["accuracy"].append(_accuracy(self._logs))
                if len(self._points["x"]) > MAX_CURVE_POINTS:
                    for series in self._points.values():
                        _thin(series)
            curve = {k: list(v) for k, v in self._points.items()}
            curve.update({f"epoch_{k}": list(v) for k, v in self.history.items()})
            last_val = [v for v in self.history["val_loss"] if v is not None]
            last_val_acc = [v for v in self.history["val_accuracy"] if v is not None]
            publish(Progress(
                phase=phase, epoch=self._epoch + 1, epochs=epochs, batch=self._batch, batches=steps,
                loss=_finite(self._logs.get("loss")), accuracy=_accuracy(self._logs),
                val_loss=last_val[-1] if last_val else None,
                val_accuracy=last_val_acc[-1] if last_val_acc else None,
                images_per_s=rate, eta_s=None if self.stopped else eta, elapsed_s=elapsed,
                curve=curve,
            ))

    class BestWeights(keras.callbacks.Callback):
        """Keep the weights of the lowest-validation-loss epoch in memory; restore at the end."""

        def __init__(self) -> None:
            super().__init__()
            self.best = math.inf
            self.best_epoch: int | None = None
            self._weights = None

        def on_epoch_end(self, epoch, logs=None):
            value = _finite((logs or {}).get("val_loss"))
            if not progress.epoch_validated:
                return  # an interrupted epoch's validation is not comparable
            if value is not None and value < self.best:
                self.best, self.best_epoch = value, epoch + 1
                self._weights = self.model.get_weights()

        def on_train_end(self, logs=None):
            if keep_best and self._weights is not None:
                self.model.set_weights(self._weights)

    progress = ProgressCallback()
    return progress, BestWeights()


# --- one run, synchronously ------------------------------------------------------------------
#: Seeding touches process-wide generators (Python, NumPy, TensorFlow): seed and build under it.
_SEED_LOCK = threading.Lock()


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did: the saved run (None when stopped before any batch)."""

    run: runs.RunInfo | None
    stopped: bool


def _default_build(spec: TrainSpec) -> BuildFn:
    def build(input_shape: tuple[int, int, int], num_classes: int) -> "keras.Model":
        from cnnviz.models import network as models

        config = models.ModelConfig.from_dict(spec.model)
        return models.build_model(config, input_shape=input_shape, num_classes=num_classes)

    return build


def _preset_reference(name: str | None, dataset: str) -> dict:
    """The seed's own result for a preset run, to show next to ours."""
    if not name:
        return {}
    from cnnviz.models import presets

    preset = presets.PRESETS.get(name)
    if preset is None:
        return {}
    if preset.family == "fast":  # not from a notebook: what it reaches on this kind of machine
        return {"preset_expected_test_accuracy": preset.expected.get("test_accuracy"),
                "preset_expected_seconds": preset.expected.get("seconds")}
    return {"seed_test_accuracy": preset.seed_test_accuracy, "seed_result": preset.seed_result,
            "seed_source": preset.seed_source, "seed_dataset": preset.training.get("dataset"),
            "same_dataset_as_seed": preset.training.get("dataset") == dataset}


def augment_from_text(text: str | None) -> dict | None:
    """Parse ``"rotation=30,flip=horizontal,translate=0.1,zoom=0.1"`` (or ``"none"``) to an AugmentConfig dict.

    >>> augment_from_text("flip=horizontal, rotation=15")["rotation"]
    15.0
    """
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    from cnnviz.data import augment

    values: dict[str, Any] = {}
    numbers = {"rotation": float, "translate": float, "zoom": float, "seed": int, "crop": int}
    for part in text.split(","):
        key, sep, value = (p.strip() for p in part.partition("="))
        if not sep or not key or not value:
            raise InvalidArgument(f"augmentation must look like rotation=30,flip=horizontal; got {text!r}")
        if key in numbers:
            try:
                values[key] = numbers[key](value)
            except ValueError:
                raise InvalidArgument(f"augmentation {key} must be a number, got {value!r}") from None
        else:
            values[key] = value
    return augment.AugmentConfig.from_dict(values).to_dict()


def _preset_augment(seed_words: dict | None) -> dict | None:
    """A preset's augmentation (in the seed's words) as an AugmentConfig dict."""
    if not seed_words:
        return None
    from cnnviz.data import augment

    words = dict(seed_words)
    if "rotation_degrees" in words:
        words["rotation"] = float(words.pop("rotation_degrees"))
    return augment.AugmentConfig.from_dict(words).to_dict()


def spec_from_preset(
    name: str,
    *,
    dataset: str | None = None,
    epochs: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    augment: dict | None | str = "preset",
    seed: int = 0,
) -> TrainSpec:
    """A :class:`TrainSpec` that trains preset ``name`` as its seed did, with some settings changed.

    On another dataset than the seed's, the seed's image counts do not apply: all images
    are used unless ``train_size``/``test_size`` say otherwise.

    Args:
        name: a key of :data:`cnnviz.models.presets.PRESETS`.
        dataset, epochs, train_size, test_size, batch_size, learning_rate: None keeps the seed's.
        augment: an AugmentConfig dict, None for none, or ``"preset"`` for the seed's.
        seed: random seed of the run.
    Returns:
        The validated spec.
    """
    from cnnviz.models import presets

    preset = presets.PRESETS.get(name)
    if preset is None:
        raise InvalidArgument(f"unknown preset {name!r}; known: {', '.join(presets.PRESETS)}")
    t = preset.training
    dataset = dataset or t["dataset"]
    same = dataset == t["dataset"]
    config = preset.config if learning_rate is None else preset.config.replace(learning_rate=learning_rate)
    spec = TrainSpec(
        model=config.to_dict(),
        dataset=dataset,
        train_size=train_size if train_size is not None else (t.get("train_size") if same else None),
        test_size=test_size if test_size is not None else (t.get("test_size") if same else None),
        validation_fraction=float(t.get("validation_fraction", 0.25)),
        scaling=t.get("scaling", "unit"),
        augment=_preset_augment(t.get("augment")) if augment == "preset" else augment,
        epochs=epochs if epochs is not None else int(t.get("epochs", 5)),
        batch_size=batch_size if batch_size is not None else int(t.get("batch_size", 32)),
        keep_best=bool(t.get("keep_best_weights", False)),
        seed=seed,
        preset=name,
        tta=t.get("tta", "none"),
    )
    spec.validate()
    return spec


def train(
    spec: TrainSpec,
    *,
    build: BuildFn | None = None,
    stop_event: threading.Event | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    callbacks: Sequence[Any] = (),
    dataset: "Dataset | None" = None,
) -> TrainResult:
    """Train one run to the end (or until ``stop_event`` is set), test it and save it.

    Args:
        spec: what to train (validated first).
        build: ``build(input_shape, num_classes) -> compiled keras.Model``; default builds
            ``spec.model`` with :func:`cnnviz.models.network.build_model`.
        stop_event: set it to stop within one batch; the partial run is saved as "stopped".
        on_progress: receives a :class:`Progress` at most once a second (from this thread).
        callbacks: extra Keras callbacks (run before the progress callback).
        dataset: the full dataset ``spec.dataset`` if already loaded (read only).
    Returns:
        The saved run and whether it was stopped.
    """
    spec.validate()
    stop_event = stop_event or threading.Event()
    last = [Progress(phase="loading data", epochs=spec.epochs)]

    def publish(snapshot: Progress) -> None:
        last[0] = snapshot
        if on_progress is not None:
            on_progress(snapshot)

    def publish_phase(phase: str) -> None:  # keep the last numbers, so the bar does not jump back
        publish(dataclasses.replace(last[0], phase=phase, eta_s=None, elapsed_s=time.monotonic() - t_start,
                                    curve=_final_curve(progress)))

    t_start = time.monotonic()
    publish(last[0])
    data = prepare_data(spec, full=dataset)
    if stop_event.is_set():
        return TrainResult(run=None, stopped=True)

    publish(Progress(phase="building", epochs=spec.epochs, elapsed_s=time.monotonic() - t_start))
    import keras

    own_build = build is None  # our build_model: data-dependent layers are ours to initialise
    build = build or _default_build(spec)
    with _SEED_LOCK:  # weights, dropout/augmentation seeds and shuffle order all follow spec.seed
        keras.utils.set_random_seed(spec.seed)
        model = build(data.input_shape, data.num_classes)
        augmenter = None
        if spec.augment:
            from cnnviz.data import augment

            aug_config = augment.AugmentConfig.from_dict(spec.augment)
            if not aug_config.is_identity:
                augmenter = augment.build_augmenter(aug_config)
        one_hot = wants_one_hot(model)
        common = dict(batch_size=spec.batch_size, affine=data.affine, num_classes=data.num_classes, one_hot=one_hot)
        train_ds = make_pipeline(data.x_train, data.y_train, shuffle_seed=spec.seed, augmenter=augmenter, **common)
        val_ds = make_pipeline(data.x_val, data.y_val, **common) if data.x_val is not None else None
        if spec.tta != "none":  # predictions only: larger batches are cheaper
            common["batch_size"] = PREDICT_BATCH
        test_ds = make_pipeline(data.x_test, data.y_test, **common)
    t_init = time.monotonic()
    data_init = _init_from_data(spec, model, data) if own_build else []
    init_s = time.monotonic() - t_init

    steps = math.ceil(len(data.y_train) / spec.batch_size)
    progress, best = _make_callbacks(
        epochs=spec.epochs, steps=steps, n_train=len(data.y_train), batch_size=spec.batch_size,
        stop_event=stop_event, publish=publish, keep_best=spec.keep_best,
    )
    fit_callbacks = [*callbacks, progress]
    schedule = spec.model.get("lr_schedule", "constant")
    if schedule != "constant":
        peak = float(spec.model.get("learning_rate", 0.01))
        fit_callbacks.insert(0, _schedule_callback(schedule, peak, spec.epochs * steps))
    if val_ds is not None:
        fit_callbacks.append(best)
    early = None
    if spec.early_stopping:
        early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec.patience)
        fit_callbacks.append(early)
    class_weight = balanced_class_weights(data.y_train, data.num_classes) if spec.class_weights else None

    t_fit = time.monotonic()
    model.fit(
        train_ds, validation_data=val_ds, epochs=spec.epochs, callbacks=fit_callbacks,
        class_weight=class_weight, shuffle=False, verbose=0,
    )
    fit_s = time.monotonic() - t_fit
    trained_batches = progress._done
    if trained_batches == 0:
        return TrainResult(run=None, stopped=True)

    publish_phase("testing")
    t_test = time.monotonic()
    if spec.tta == "none":
        test = model.evaluate(test_ds, verbose=0, return_dict=True)
        tta_metrics = {}
    else:
        test = _evaluate_tta(model, test_ds, data.y_test, tta=spec.tta, one_hot=one_hot,
                             num_classes=data.num_classes)
        tta_metrics = {
            "test_tta": TTA_DESCRIPTIONS[spec.tta],
            "test_accuracy_without_tta": round(test["accuracy_plain"], 6),
        }
    test_s = time.monotonic() - t_test

    history = dict(progress.history)
    completed = len(history["loss"]) - (1 - progress.partial_epoch if progress.partial_epoch else 0)
    metrics = {
        "test_loss": _finite(test.get("loss")),
        "test_accuracy": _accuracy(test),
        "epochs_completed": round(completed, 3),
        "best_epoch": best.best_epoch,
        "best_val_loss": _finite(best.best) if best.best_epoch else None,
        "restored_best_weights": bool(spec.keep_best and best.best_epoch),
        "early_stopped": bool(early is not None and early.stopped_epoch > 0),
        "train_seconds": round(fit_s, 2),
        "test_seconds": round(test_s, 2),
        "images_per_s": round(progress.images_done() / fit_s, 1) if fit_s > 0 else None,
        "n_train": int(len(data.y_train)),
        "n_val": 0 if data.y_val is None else int(len(data.y_val)),
        "n_test": int(len(data.y_test)),
        "params_total": int(model.count_params()),
        "params_trainable": int(sum(int(np.prod(w.shape)) for w in model.trainable_weights)),
        **tta_metrics,
        **({"data_init_layers": data_init, "data_init_seconds": round(init_s, 2)} if data_init else {}),
        **_preset_reference(spec.preset, spec.dataset),
    }
    config = {
        **spec.to_dict(),
        "input_shape": list(data.input_shape),
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "scaling_affine": data.affine,
        "labels": "one_hot" if one_hot else "integer",
    }
    publish_phase("saving")
    status = "stopped" if progress.stopped else "finished"
    info = runs.save_run(model, config=config, history=history, metrics=metrics, status=status)
    return TrainResult(run=info, stopped=progress.stopped)


def _init_from_data(spec: TrainSpec, model: Any, data: PreparedData) -> list[str]:
    """Compute the data-dependent weights (patch whitening) from the first training images."""
    from cnnviz.models import network as models

    config = models.ModelConfig.from_dict(spec.model)
    if not models.data_init_layers(config, data.num_classes):
        return []
    x = apply_scaling(data.x_train[:DATA_INIT_IMAGES], data.affine)
    return models.init_from_data(model, config, x)


def _final_curve(progress: Any) -> dict:
    curve = {k: list(v) for k, v in progress._points.items()}
    curve.update({f"epoch_{k}": list(v) for k, v in progress.history.items()})
    return curve
