"""The training job's Keras callbacks: progress and stop, best weights, the per-step learning rate.

:func:`make_callbacks` publishes a :class:`Progress` snapshot at most once a second. A stop
request is a flag the callback reads after every batch (``model.stop_training = True``): the
run ends within one batch and keeps its partial history. Keras is imported inside the functions.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from cnnviz.errors import InvalidArgument

#: How often progress is published: once a second kept UI time under 0.5% of a run (measured).
PUBLISH_INTERVAL_S = 1.0
#: Curve points kept per series; older points are thinned 2:1 beyond this (charts are re-sent whole).
MAX_CURVE_POINTS = 240
#: The time left is estimated only after this many batches and seconds past the first batch (which
#: includes tracing): before, the first batches' pace promised 583 s to a run that took 15 s.
ETA_MIN_BATCHES, ETA_MIN_SECONDS = 5, 1.0
#: airbench94's triangle: from 0.2 × peak up to the peak at 23% of the steps, down to 0.07 × peak.
ONE_CYCLE = ((0.0, 0.23, 1.0), (0.2, 1.0, 0.07))
#: Accuracy metric names Keras may use, preferred first.
_ACCURACY_KEYS = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


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


def schedule_callback(schedule: str, peak: float, total_steps: int, start_step: int = 0) -> Any:
    """A Keras callback that sets the optimiser's learning rate before every training step.

    Why a callback and not a ``keras.optimizers.schedules`` subclass: a custom schedule class would
    be saved into ``model.keras``, which then loads only with that class registered.
    """
    import keras

    class StepSchedule(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.step = start_step  # a resumed run goes on where its schedule was

        def on_train_batch_begin(self, batch, logs=None):
            progress = self.step / max(1, total_steps - 1)
            self.model.optimizer.learning_rate = lr_at(schedule, peak, progress)
            self.step += 1

    return StepSchedule()


@dataclass(frozen=True)
class Progress:
    """A snapshot of a job, published at most once a second.

    ``curve`` holds the live curves: ``x`` (fractional epochs) with ``loss``/``accuracy``
    (running epoch averages, as Keras reports them) and ``epoch_`` with per-epoch
    ``loss``/``accuracy``/``val_loss``/``val_accuracy`` (None where not measured) ending at
    ``epoch_x`` (a stopped epoch's at the share of it trained, :func:`epoch_ends`).
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
    note: str = ""  # an experiment job's step in words (its share done is batch / batches)

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


def seconds_left(batches: int, seconds: float, batches_left: int) -> float | None:
    """The time left at the pace of ``batches`` batches in ``seconds`` (both counted from the end of the
    first batch), or None while too few are done for a stable estimate (:data:`ETA_MIN_BATCHES`,
    :data:`ETA_MIN_SECONDS`)."""
    if batches < 0 or seconds < 0 or batches_left < 0:
        raise ValueError(f"seconds_left needs counts ≥ 0, got batches={batches}, seconds={seconds}, "
                         f"batches_left={batches_left}")
    if batches < ETA_MIN_BATCHES or seconds < ETA_MIN_SECONDS:
        return None
    return seconds / batches * batches_left


def finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def accuracy_from_logs(logs: dict, prefix: str = "") -> float | None:
    for key in _ACCURACY_KEYS:
        if prefix + key in logs:
            return finite(logs[prefix + key])
    return None


def make_callbacks(
    *,
    epochs: int,
    steps: int,
    n_train: int,
    batch_size: int,
    stop_event: threading.Event,
    publish: Callable[[Progress], None],
    keep_best: bool,
    initial_history: dict | None = None,
    initial_best_weights: list | None = None,
) -> tuple[Any, Any]:
    """Build the progress/stop callback and the best-weights callback (Keras imported lazily).

    ``initial_history``: the per-epoch history of the epochs a resumed run already finished;
    ``initial_best_weights``: the weights of its best epoch among those (the checkpoint keeps them; None when
    it did not, and then a best epoch before the resume cannot be restored). The best-weights callback's
    ``weights`` are what a checkpoint keeps.
    """
    done_before = len((initial_history or {}).get("loss", []))
    import keras

    class ProgressCallback(keras.callbacks.Callback):
        """Counts batches, checks the stop flag every batch, publishes once a second."""

        def __init__(self) -> None:
            super().__init__()
            self.stopped = False
            self.history: dict[str, list] = {k: list((initial_history or {}).get(k, [None] * done_before))
                                             for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
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
            self._images_first = self._done_first = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch, self._batch = epoch, 0
            self.val_cut = False

        def on_train_batch_end(self, batch, logs=None):
            # Cheap per batch: two counters, an Event check and a clock read.
            self._batch += 1
            self._done += 1
            self._images += min(batch_size, n_train - (self._batch - 1) * batch_size)
            if self._t_first is None:
                self._t_first, self._images_first, self._done_first = time.monotonic(), self._images, self._done
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
            self.history["loss"].append(finite(logs.get("loss")))
            self.history["accuracy"].append(accuracy_from_logs(logs))
            if not self.epoch_validated:
                # Validation cut short covers a batch or so: don't keep it.
                self.history["val_loss"].append(None)
                self.history["val_accuracy"].append(None)
            else:
                self.history["val_loss"].append(finite(logs.get("val_loss")))
                self.history["val_accuracy"].append(accuracy_from_logs(logs, "val_"))
            self._publish(time.monotonic(), "training")

        def images_done(self) -> int:
            return self._images

        def _publish(self, now: float, phase: str) -> None:
            self._last = now
            rate = None  # average since the first batch (validation time included): steady to read
            if self._t_first is not None and now > self._t_first and self._images > self._images_first:
                rate = (self._images - self._images_first) / (now - self._t_first)
            elapsed = now - self._t0
            left = (epochs - done_before) * steps - self._done  # a resumed run counts only what is left
            eta = None if self._t_first is None else seconds_left(self._done - self._done_first, now - self._t_first,
                                                                  left)
            x = self._epoch + self._batch / steps
            if self._batch and (not self._points["x"] or x > self._points["x"][-1]):
                self._points["x"].append(round(x, 4))
                self._points["loss"].append(finite(self._logs.get("loss")))
                self._points["accuracy"].append(accuracy_from_logs(self._logs))
                if len(self._points["x"]) > MAX_CURVE_POINTS:
                    for series in self._points.values():
                        _thin(series)
            curve = final_curve(self)
            last_val = [v for v in self.history["val_loss"] if v is not None]
            last_val_acc = [v for v in self.history["val_accuracy"] if v is not None]
            publish(Progress(
                phase=phase, epoch=self._epoch + 1, epochs=epochs, batch=self._batch, batches=steps,
                loss=finite(self._logs.get("loss")), accuracy=accuracy_from_logs(self._logs),
                val_loss=last_val[-1] if last_val else None,
                val_accuracy=last_val_acc[-1] if last_val_acc else None,
                images_per_s=rate, eta_s=None if self.stopped else eta, elapsed_s=elapsed,
                curve=curve,
            ))

    class BestWeights(keras.callbacks.Callback):
        """Keep the weights of the lowest-validation-loss epoch in memory; restore at the end.

        Why not ``EarlyStopping(restore_best_weights=True)``: it would also compare the epoch a
        stop cut short, whose validation covers a batch or so.
        """

        def __init__(self) -> None:
            super().__init__()
            # A resumed run's earlier epochs count (the curves show them), their weights when the checkpoint kept them.
            earlier = [(v, i + 1) for i, v in enumerate((initial_history or {}).get("val_loss", []))
                       if finite(v) is not None]
            self.best, self.best_epoch = min(earlier) if earlier else (math.inf, None)
            self.weights = list(initial_best_weights) if earlier and initial_best_weights else None

        def on_epoch_end(self, epoch, logs=None):
            value = finite((logs or {}).get("val_loss"))
            if not progress.epoch_validated:
                return  # an interrupted epoch's validation is not comparable
            if value is not None and value < self.best:
                self.best, self.best_epoch = value, epoch + 1
                self.weights = self.model.get_weights()

        def on_train_end(self, logs=None):
            if keep_best and self.weights is not None:
                self.model.set_weights(self.weights)

    progress = ProgressCallback()
    return progress, BestWeights()




def early_stopping_callback(patience: int, initial_history: dict | None = None) -> Any:
    """Keras' ``EarlyStopping`` on the validation loss that, in a resumed run, goes on from the epochs before the
    resume (``initial_history``: their per-epoch history), as if the run had not been interrupted.

    Keras' own forgets them at the start of every ``fit``: a run resumed after epochs without improvement would
    train up to ``patience`` epochs more than the same run without the interruption.
    """
    import keras

    earlier = [v for v in (finite(v) for v in (initial_history or {}).get("val_loss", [])) if v is not None]

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for value in earlier:  # Keras' own bookkeeping of on_epoch_end (val_loss: lower is better)
                self.wait += 1
                if self.best is None or value < self.best:
                    self.best, self.wait = value, 0

    return ResumableEarlyStopping(monitor="val_loss", patience=patience)


def epoch_ends(rows: int, completed: float | None) -> list[float]:
    """Where each of ``rows`` history rows sits on the epoch axis: 1, 2, ... but a last row that a stop
    cut short at ``completed`` (e.g. 2.333), the epochs done that "Epochs done" shows.

    >>> epoch_ends(3, 2.333), epoch_ends(3, 3.0), epoch_ends(2, None)
    ([1, 2, 2.333], [1, 2, 3], [1, 2])
    """
    ends: list[float] = list(range(1, rows + 1))
    if rows and completed is not None and rows - 1 < completed < rows:
        ends[-1] = completed
    return ends


def final_curve(progress: Any) -> dict:
    curve = {k: list(v) for k, v in progress._points.items()}
    curve.update({f"epoch_{k}": list(v) for k, v in progress.history.items()})
    rows = len(progress.history["loss"])
    curve["epoch_x"] = epoch_ends(rows, round(rows - 1 + progress.partial_epoch, 4) if progress.partial_epoch else None)
    return curve
