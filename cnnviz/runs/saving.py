"""Writing a run folder into the store: the model, the JSON files, then the manifest last.

Split out of :mod:`cnnviz.runs.store` (which reads, lists, deletes and cleans up; its docstring
describes the folder). Every file is written crash-safely (:func:`cnnviz.storage.atomic_path`)
while the writers' lock is held, so the start-up cleanup can tell a live save from a dead one's
leftovers; NaN/inf become None so the JSON stays strict.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz import storage
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.runs import schema, store
from cnnviz.storage import disk_failure


if TYPE_CHECKING:  # pragma: no cover
    import keras


log = logging.getLogger("cnnviz.runs.store")  # the store's log, as before the split ("saved run ...")


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False, default=_json_default).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _clean_floats(value: Any) -> Any:
    """NaN/inf become None so the JSON stays strict (a diverged loss is still saved)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    if isinstance(value, np.generic):
        return _clean_floats(value.item())
    return value


def save_run(
    model: keras.Model,
    *,
    config: dict,
    history: dict,
    metrics: dict,
    status: str,
) -> store.RunInfo:
    """Write a complete run folder and return its :class:`~cnnviz.runs.store.RunInfo`.

    Every file goes through :func:`cnnviz.storage.atomic_path`; ``manifest.json`` (file names
    and sha256) is written last, so a crash at any point leaves no run that lists.

    Args:
        model: the trained Keras model (saved as ``model.keras``).
        config: JSON-safe settings of the run.
        history: per-epoch metric lists.
        metrics: JSON-safe results.
        status: ``"finished"`` or ``"stopped"``.
    Returns:
        The saved run.
    """
    if status not in store.STATUSES:
        raise InvalidArgument(f"run status must be one of {', '.join(store.STATUSES)}, got {status!r}")
    for name, value in {"config.json": config, "history.json": history, "metrics.json": metrics}.items():
        try:  # never write a run the listing would call damaged
            store.JSON_CHECKS[name](json.loads(_json_bytes(_clean_floats(value))))
        except schema.RunDamaged as err:
            raise InvalidArgument(f"the run was not saved: {err}") from None
    try:
        root = storage.ensure_dir(storage.runs_dir())
        with storage.shared_lock(storage.home() / store.WRITERS_LOCK):  # taken before mkdir: cleanup sees us from the start
            run_id = _write_run(root, model, config=config, history=history, metrics=metrics, status=status)
    except CnnvizError:
        raise
    except Exception as err:
        failure = disk_failure(err, "save the run")
        if failure is not None:
            raise failure from err
        raise
    log.info("saved run %s (%s)", run_id, status)
    return store.load_run(run_id)


def _write_run(root: Path, model: keras.Model, *, config: dict, history: dict, metrics: dict,
               status: str) -> str:
    """The body of :func:`save_run` (caller holds the writers' lock); returns the new run id."""
    for _ in range(5):  # a clash needs the same second and 32 random bits: retry, don't overwrite
        run_id = store.new_run_id()
        folder = root / run_id
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - astronomically unlikely
        raise RuntimeError("could not create a unique run folder")
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")  # orders runs of one second
    try:
        with storage.atomic_path(folder / store.MODEL_FILE, suffix=".keras") as tmp:
            model.save(tmp)
        contents = {"config.json": config, "history.json": history, "metrics.json": metrics}
        for name, value in contents.items():
            storage.atomic_write_bytes(folder / name, _json_bytes(_clean_floats(value)))
        manifest = {
            "format": store.MANIFEST_FORMAT,
            "run_id": run_id,
            "status": status,
            "created": created,
            "files": {name: storage.sha256_file(folder / name) for name in (*store.DATA_FILES, store.MODEL_FILE)},
        }
        storage.atomic_write_bytes(folder / store.MANIFEST, _json_bytes(manifest))
        storage.fsync_dir(root)
    except Exception:
        # Best effort: a real crash skips this, and then listing ignores the folder and
        # store.cleanup() removes it at the next start.
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return run_id
