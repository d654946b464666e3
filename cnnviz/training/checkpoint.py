"""Per-epoch checkpoints of a running job, so an interrupted run keeps its finished epochs.

A checkpoint is a folder ``CNNVIZ_HOME/jobs/checkpoints/<job_id>/`` with ``model.keras`` (the model
and its optimiser state after the last finished epoch), ``arrays.npz`` (what the training holds beside the
model: Lookahead's average, the best epoch's weights) and ``state.json`` (epochs done, the history so far,
the seconds ``fit`` took for them, the random states of the model's dropout and random layers, the files'
SHA-256), each written crash-safely (temporary file, fsync, ``os.replace``; the files first, state last, so
a state always names complete files). With all of it a resumed run is the run it interrupted, to the bit
(tests/training/test_resume_identical.py); a checkpoint written before the random states were kept resumes
with new ones (:attr:`Checkpoint.exact` is False, and so are the checkpoints of the run resumed from it).
Loading checks the checksums and the archive, then ``safe_mode=True`` (:func:`cnnviz.runs.modelfile.load_model`).
Keras is imported inside the functions.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnviz import storage
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.runs import modelfile

MODEL_FILE = "model.keras"
ARRAYS_FILE = "arrays.npz"
STATE_FILE = "state.json"
#: Seconds between checkpoints at the least: a tiny model's save took 17-32 ms here, a fifth of a tiny
#: run's epoch; a CIFAR-10 epoch takes 45 s or more, so those are saved after every epoch.
MIN_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds: epochs finished and their history (``loss``, ``accuracy``, ``val_*``).

    ``fit_seconds``: the training time of those epochs, so that a resumed run's time covers all of
    them; None when not known (a checkpoint written before it was kept, or by a run resumed from one).
    ``exact``: it holds the random states too, so the resumed run is the uninterrupted one (False for a
    checkpoint written before they were kept: it goes on with new dropout draws and Lookahead average).
    """

    folder: Path
    epochs_done: int
    history: dict
    fit_seconds: float | None = None
    exact: bool = False


def checkpoints_dir() -> Path:
    return storage.home() / "jobs" / "checkpoints"


def folder_for(job_id: str) -> Path:
    return checkpoints_dir() / job_id


def save(folder: Path, model: Any, *, epochs_done: int, history: dict, fit_seconds: float | None = None,
         arrays: dict[str, list[np.ndarray]] | None = None, exact: bool = True) -> None:
    """Write the checkpoint of ``epochs_done`` finished epochs that took ``fit_seconds`` (None: not known)
    to train, with the model's random states and ``arrays`` (named lists of arrays the training keeps beside
    the model, :func:`load_arrays`). ``exact``: False when these epochs are not those of an uninterrupted
    training (a run resumed from a checkpoint that was not exact). Crash-safe: every file is written in full
    before any replaces the earlier checkpoint's, the state last; a disk that refuses raises
    :class:`cnnviz.storage.SaveFailed` in words and leaves the earlier checkpoint whole."""
    if fit_seconds is not None and not _known_seconds(fit_seconds):
        raise InvalidArgument(f"a checkpoint's training time is a finite number of seconds ≥ 0 or None, "
                              f"got {fit_seconds!r}")
    temps: dict[str, Path] = {}
    try:  # all three in full first (a full disk stops it here), then the renames, the state last: the earlier
        storage.ensure_dir(folder)  # checkpoint stays whole until the new one is
        for name, suffix in ((MODEL_FILE, ".keras"), (ARRAYS_FILE, ".npz"), (STATE_FILE, "")):
            temps[name] = storage.temp_path_for(folder / name, suffix)
        model.save(temps[MODEL_FILE])
        flat = {f"{name}/{i}": np.asarray(a) for name, values in (arrays or {}).items() for i, a in enumerate(values)}
        np.savez(temps[ARRAYS_FILE], **flat)
        state = {"epochs_done": int(epochs_done), "history": {k: list(v[:epochs_done]) for k, v in history.items()},
                 "fit_seconds": None if fit_seconds is None else float(fit_seconds),
                 "seed_states": {key: [int(v) for v in np.asarray(generator.state.value)]
                                 for key, generator in seed_generators(model).items()},
                 "exact": bool(exact),
                 "model_sha256": storage.sha256_file(temps[MODEL_FILE]),
                 "arrays_sha256": storage.sha256_file(temps[ARRAYS_FILE])}
        temps[STATE_FILE].write_bytes(json.dumps(state).encode())
        for tmp in temps.values():
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        for name, tmp in temps.items():
            os.replace(tmp, folder / name)
        storage.fsync_dir(folder)
    except BaseException as err:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        failure = storage.disk_failure(err, "save the training's progress")
        if failure is not None:  # said in words (the student's job fails with it; the earlier checkpoint stays)
            raise failure from err
        raise


def seed_generators(model: Any) -> dict[str, Any]:
    """The Keras seed generators of a model's layers (dropout's, random layers'), by the layers' names and place.

    Their states move on with every draw and are not in ``model.keras`` (Keras saves a layer's weights,
    not its seed generators): a checkpoint keeps them beside it. Reads Keras' private ``_seed_generators``
    and ``_layers`` (written for Keras 3.15, as ``cnnviz.app.compat.WRITTEN_FOR`` says; there is no public
    list): tests/training/test_resume_identical.py fails where a Keras release renames them.
    """
    found: dict[str, Any] = {}

    def visit(layer: Any, path: str) -> None:  # layer names are unique within their model, not across models
        for place, generator in enumerate(getattr(layer, "_seed_generators", [])):
            found[f"{path}:{place}"] = generator
        for inner in getattr(layer, "_layers", []):
            visit(inner, f"{path}/{inner.name}")

    visit(model, model.name)
    return found


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
    exact = state.get("exact") is True and isinstance(state.get("seed_states"), dict) and "arrays_sha256" in state
    return Checkpoint(folder=folder, epochs_done=epochs, history=history,
                      fit_seconds=float(seconds) if _known_seconds(seconds) else None, exact=exact)


def resume_note(point: Checkpoint) -> str:
    """What resuming from ``point`` gives, in words for the app and the command line."""
    if point.exact:
        return "the same training as without the interruption (the same batches, random draws and optimiser steps)"
    return ("not quite the training without the interruption: its progress was saved without the random states "
            "(by an older cnnviz, or by a run resumed from such progress), so the epochs after it draw other "
            "random numbers (shuffling, augmentation, dropout)")


def _known_seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _damaged() -> CnnvizError:
    return CnnvizError("The saved progress of this training is damaged, so it cannot be resumed; train it again.")


def load_model(point: Checkpoint) -> Any:
    """The checkpoint's model, compiled with its optimiser state and the random states of its layers
    (checksum and archive checked first)."""
    state = json.loads((point.folder / STATE_FILE).read_text())
    if storage.sha256_file(point.folder / MODEL_FILE) != state.get("model_sha256"):
        raise _damaged()
    model = modelfile.load_model(point.folder / MODEL_FILE, f"checkpoint {point.folder.name}")
    saved = state.get("seed_states") or {}
    for key, generator in seed_generators(model).items():
        if key in saved:
            generator.state.assign(np.asarray(saved[key], dtype=generator.state.dtype))
    return model


def load_arrays(point: Checkpoint) -> dict[str, list[np.ndarray]]:
    """The named lists of arrays saved with the checkpoint (:func:`save`'s ``arrays``; none in an older one)."""
    state = json.loads((point.folder / STATE_FILE).read_text())
    if "arrays_sha256" not in state:
        return {}
    path = point.folder / ARRAYS_FILE
    try:
        if storage.sha256_file(path) != state["arrays_sha256"]:
            raise _damaged()
        with np.load(path, allow_pickle=False) as saved:
            flat = {key: saved[key] for key in saved.files}
    except (OSError, ValueError) as err:
        raise _damaged() from err
    arrays: dict[str, list[np.ndarray]] = {}
    for key in sorted(flat, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
        arrays.setdefault(key.rsplit("/", 1)[0], []).append(flat[key])
    return arrays


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def callback(folder: Path, progress: Any, *, fit_seconds: Callable[[], float | None] = lambda: None,
             arrays: Callable[[], dict[str, list[np.ndarray]]] = dict, exact: bool = True,
             min_interval_s: float = MIN_INTERVAL_S) -> Any:
    """A Keras callback saving a checkpoint after a whole epoch (not one a stop cut short): the first
    epoch, then any epoch ending ``min_interval_s`` or more after the last save. ``fit_seconds()``
    gives the training time of the epochs done so far (None: not known), kept with them; ``arrays()``
    what the training holds beside the model; ``exact`` as :func:`save`'s."""
    if not callable(fit_seconds) or not callable(arrays):
        raise InvalidArgument(f"a checkpoint callback's fit_seconds and arrays must be functions, got "
                              f"{fit_seconds!r} and {arrays!r}")
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
            save(folder, self.model, epochs_done=epoch + 1, history=progress.history, fit_seconds=fit_seconds(),
                 arrays=arrays(), exact=exact)
            self._saved_at = time.monotonic()

    return EpochCheckpoint()
