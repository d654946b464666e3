"""Per-epoch checkpoints of a running job, so an interrupted run keeps its finished epochs.

A checkpoint is a folder ``CNNVIZ_HOME/jobs/checkpoints/<job_id>/`` with ``model.keras`` (the model
and its optimiser state after the last finished epoch) and ``state.json`` (epochs done, the history
so far, the seconds ``fit`` took for them, the model file's SHA-256), each written crash-safely
(temporary file, fsync, ``os.replace``; model first, state last, so a state always names a complete
model). Loading checks the checksum and the archive, then ``safe_mode=True``
(:func:`cnnviz.runs.modelfile.load_model`). Keras is imported inside the functions.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cnnviz import storage
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.runs import modelfile

MODEL_FILE = "model.keras"
STATE_FILE = "state.json"
#: Seconds between checkpoints at the least: a tiny model's save took 17-32 ms here, a fifth of a tiny
#: run's epoch; a CIFAR-10 epoch takes 45 s or more, so those are saved after every epoch.
MIN_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds: epochs finished and their history (``loss``, ``accuracy``, ``val_*``).

    ``fit_seconds``: the training time of those epochs, so that a resumed run's time covers all of
    them; None when not known (a checkpoint written before it was kept, or by a run resumed from one).
    """

    folder: Path
    epochs_done: int
    history: dict
    fit_seconds: float | None = None


def checkpoints_dir() -> Path:
    return storage.home() / "jobs" / "checkpoints"


def folder_for(job_id: str) -> Path:
    return checkpoints_dir() / job_id


def save(folder: Path, model: Any, *, epochs_done: int, history: dict, fit_seconds: float | None = None) -> None:
    """Write the checkpoint of ``epochs_done`` finished epochs that took ``fit_seconds`` (None: not known)
    to train (crash-safe, model before state)."""
    if fit_seconds is not None and not _known_seconds(fit_seconds):
        raise InvalidArgument(f"a checkpoint's training time is a finite number of seconds ≥ 0 or None, "
                              f"got {fit_seconds!r}")
    storage.ensure_dir(folder)
    with storage.atomic_path(folder / MODEL_FILE, ".keras") as tmp:
        model.save(tmp)
    state = {"epochs_done": int(epochs_done), "history": {k: list(v[:epochs_done]) for k, v in history.items()},
             "fit_seconds": None if fit_seconds is None else float(fit_seconds),
             "model_sha256": storage.sha256_file(folder / MODEL_FILE)}
    storage.atomic_write_bytes(folder / STATE_FILE, json.dumps(state).encode())


def read(folder: Path) -> Checkpoint | None:
    """The checkpoint in ``folder``, or None when there is none (or only a part of one)."""
    try:
        state = json.loads((folder / STATE_FILE).read_text())
        epochs, history = int(state["epochs_done"]), dict(state["history"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if epochs < 1 or not (folder / MODEL_FILE).is_file():
        return None
    seconds = state.get("fit_seconds")  # absent in older checkpoints; one that is no time counts as unknown
    return Checkpoint(folder=folder, epochs_done=epochs, history=history,
                      fit_seconds=float(seconds) if _known_seconds(seconds) else None)


def _known_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def load_model(point: Checkpoint) -> Any:
    """The checkpoint's model, compiled with its optimiser state (checksum and archive checked first)."""
    state = json.loads((point.folder / STATE_FILE).read_text())
    if storage.sha256_file(point.folder / MODEL_FILE) != state.get("model_sha256"):
        raise CnnvizError("The saved progress of this training is damaged, so it cannot be resumed; train it again.")
    return modelfile.load_model(point.folder / MODEL_FILE, f"checkpoint {point.folder.name}")


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def callback(folder: Path, progress: Any, *, fit_seconds: Callable[[], float | None] = lambda: None,
             min_interval_s: float = MIN_INTERVAL_S) -> Any:
    """A Keras callback saving a checkpoint after a whole epoch (not one a stop cut short): the first
    epoch, then any epoch ending ``min_interval_s`` or more after the last save. ``fit_seconds()``
    gives the training time of the epochs done so far (None: not known), kept with them."""
    if not callable(fit_seconds):
        raise InvalidArgument(f"a checkpoint callback's fit_seconds must be a function, got {fit_seconds!r}")
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._saved_at: float | None = None

        def on_epoch_end(self, epoch, logs=None):
            if progress.stopped and progress.partial_epoch:
                return  # a partial epoch is not a finished one
            now = time.monotonic()
            if self._saved_at is not None and now - self._saved_at < min_interval_s:
                return
            save(folder, self.model, epochs_done=epoch + 1, history=progress.history, fit_seconds=fit_seconds())
            self._saved_at = time.monotonic()

    return EpochCheckpoint()
