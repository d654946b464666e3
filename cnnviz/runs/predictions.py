"""A run's answers on its own test images, kept beside it so Evaluate need not predict them again.

The training job tests every run on its whole test set (with its test-time augmentation) and used
to throw the answers away; Evaluate then ran them again: 20,000 forward passes for a fast preset's
10,000 images with flip TTA, 13-25 s on two shared cores where the target is 3 s (issue 19). They
are now written to ``test_predictions.npz`` in the run's folder: derived data, outside the run's
manifest (a run without the file, e.g. one saved before, is complete and is predicted as before).
The file names the model's sha256 and holds the test labels, so answers are used only for the
same model file and the same test images in the same order; anything else (missing, damaged,
another model or other labels) reads as no answers.

The single views behind the averaged answers (the plain and, with test-time augmentation, the
mirrored predictions) are kept too, as ``view_<name>``: Robustness reads them as its "original" and
"flip left-right" copies instead of predicting them again (0.4 MB each for 10,000 CIFAR-10 images).
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from cnnviz import storage
from cnnviz.errors import InvalidArgument


log = logging.getLogger(__name__)

FILE = "test_predictions.npz"
_VIEW = "view_"  # prefix of the single views' entries


def path(run_folder: Path) -> Path:
    """Where a run's test answers are kept."""
    return Path(run_folder) / FILE


def save(run_folder: Path, model_sha256: str, y: np.ndarray, probabilities: np.ndarray,
         views: Mapping[str, np.ndarray] | None = None) -> bool:
    """Keep a run's tested answers (N×C, as its test accuracy used them) beside it, atomically.

    Best effort: a disk that refuses costs only the time Evaluate will take to predict again.
    ``views``: the single views averaged into them, by name (see :data:`cnnviz.training.tta.PLAIN_VIEW`).

    Returns:
        True when the file was written.
    """
    y = np.asarray(y, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if y.ndim != 1 or probabilities.ndim != 2 or len(y) != len(probabilities):
        raise InvalidArgument(f"need one row of answers per test label, got answers of shape "
                              f"{probabilities.shape} and labels of shape {y.shape}")
    if not isinstance(model_sha256, str) or len(model_sha256) != 64:
        raise InvalidArgument(f"model_sha256 must be a 64-character hex digest, got {model_sha256!r}")
    views = {name: np.asarray(view, dtype=np.float32) for name, view in (views or {}).items()}
    for name, view in views.items():
        if not isinstance(name, str) or not name.isidentifier() or view.shape != probabilities.shape:
            raise InvalidArgument(f"each view needs a plain name and the answers' shape {probabilities.shape}, "
                                  f"got {name!r} of shape {view.shape}")
    if not Path(run_folder).is_dir():  # e.g. deleted meanwhile: never re-create a run's folder
        log.warning("not keeping test answers: no run folder %s", run_folder)
        return False
    buffer = io.BytesIO()
    np.savez(buffer, model_sha256=np.array(model_sha256), y=y, probabilities=probabilities,
             **{_VIEW + name: view for name, view in views.items()})
    try:
        storage.atomic_write_bytes(path(run_folder), buffer.getvalue())
    except OSError as err:
        log.warning("could not keep the test answers of %s: %s", run_folder, err)
        return False
    return True


def load(run_folder: Path, model_sha256: str, y: np.ndarray) -> np.ndarray | None:
    """The kept answers (N×C float32) when they are this model's on these labels, else None."""
    return _read(run_folder, model_sha256, y).get("probabilities")


def load_views(run_folder: Path, model_sha256: str, y: np.ndarray) -> dict[str, np.ndarray]:
    """The kept single views (``{name: N×C float32}``) when they are this model's on these labels, else {}."""
    kept = _read(run_folder, model_sha256, y)
    return {name[len(_VIEW):]: value for name, value in kept.items() if name.startswith(_VIEW)}


def _read(run_folder: Path, model_sha256: str, y: np.ndarray) -> dict[str, np.ndarray]:
    """Every answer array of the file when it is this model's on these labels, less any that is not N×C and
    finite; {} when missing, damaged or another's."""
    file = path(run_folder)
    if not file.is_file():
        return {}
    try:
        with open(file, "rb") as handle:  # ours to close, whatever np.load makes of the bytes
            kept = np.load(handle, allow_pickle=False)
            if not isinstance(kept, np.lib.npyio.NpzFile):
                return {}
            with kept:
                if str(kept["model_sha256"]) != model_sha256 or not np.array_equal(kept["y"], np.asarray(y)):
                    return {}
                arrays = {name: kept[name] for name in kept.files
                          if name == "probabilities" or name.startswith(_VIEW)}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as err:
        log.warning("ignoring damaged test answers %s: %s", file, err)
        return {}
    return {name: value.astype(np.float32, copy=False) for name, value in arrays.items()
            if value.ndim == 2 and len(value) == len(y) and np.issubdtype(value.dtype, np.floating)
            and np.all(np.isfinite(value))}
