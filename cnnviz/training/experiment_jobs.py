"""The Experiments page's side-by-side trainings as jobs of the job table (kind "experiment").

An experiment (:mod:`cnnviz.lessons.experiments`) trains several tiny networks and returns numbers, not a
run. It is queued like a training (:mod:`cnnviz.training.jobtable`: owner, state, queue place, progress,
stop request), counts against the same cap and is trained by the same warm workers
(:mod:`cnnviz.training.worker` hands it to :func:`run`), so the Class page lists it with its owner and
``python -m cnnviz jobs stop`` stops it. The job's ``spec`` is ``{"experiment": name, "settings": {...}}``,
its images go to the worker in a file (``jobs/data/<job>.npz``) and its result comes back as JSON in
``jobs/results/<job>.json``, which only the owner and the teacher read (:func:`result`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import logging
import os
import secrets
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnviz import storage
from cnnviz.classroom import people, policy
from cnnviz.classroom.people import Person
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.lessons import experiments as ex
from cnnviz.training import jobtable
from cnnviz.training.callbacks import Progress
from cnnviz.training.jobtable import ClaimedJob, JobTable

log = logging.getLogger("cnnviz.training.experiments")

KIND = "experiment"
#: name → (function, whether it takes several named datasets); each takes ``progress=`` and returns plain data.
EXPERIMENTS: dict[str, tuple[Callable[..., Any], bool]] = {
    "batch_sizes": (ex.compare_batch_sizes, False),
    "networks": (ex.compare_networks, True),
    "memory_and_streaming": (ex.compare_memory_and_streaming_in_temp, False),
    "dropout": (ex.dropout_experiment, False),
}
RESULT_TYPES = {cls.__name__: cls for cls in (ex.Trained, ex.Streaming, ex.DropoutPredictions)}
#: Progress goes to the table at most this often (the page redraws every second); the share done is
#: published as ``batch`` of ``STEPS`` batches, the step in words as ``note``.
PUBLISH_EVERY_S = 0.5
STEPS = 1000
STOP_POLL_S = 0.2
#: Result files older than this are removed when another experiment ends (the page keeps its own copy).
KEEP_RESULTS_S = 24 * 3600.0
INTERNAL_ERROR = "The experiment failed because of an internal error. The details are in the server log."


class _Stopped(Exception):
    """Raised inside the experiment's progress callback (so out of Keras' fit) when a stop was asked for."""


def results_dir() -> Path:
    return storage.home() / "jobs" / "results"


def result_path(job_id: str) -> Path:
    if not isinstance(job_id, str) or not job_id.isalnum():
        raise InvalidArgument(f"a job id is letters and digits, got {job_id!r}")
    return results_dir() / f"{job_id}.json"


# --- the web server's side ---------------------------------------------------------------------
def submit(manager, name: str, data: dict[str, ex.Data], *, label: str, settings: dict | None = None,
           owner: Person | str | None = None) -> str:
    """Queue experiment ``name`` on ``data`` (named datasets; one unless the experiment compares several)
    with ``settings`` (its keyword arguments, JSON-ready) for ``owner``; returns the job id.

    ``manager`` is a :class:`cnnviz.training.jobs.JobManager` (its table, its workers).
    """
    if name not in EXPERIMENTS:
        raise InvalidArgument(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {name!r}")
    func, many = EXPERIMENTS[name]
    settings = dict(settings or {})
    if not data or not all(isinstance(d, ex.Data) for d in data.values()) or (not many and len(data) != 1):
        raise InvalidArgument(f"experiment {name} needs {'named datasets' if many else 'one dataset'} of "
                              f"experiment data, got {list(data) if isinstance(data, dict) else data!r}")
    try:
        inspect.signature(func).bind(data, progress=None, **settings)
        json.dumps(settings)
    except (TypeError, ValueError) as err:
        raise InvalidArgument(f"settings {settings!r} do not fit experiment {name}: {err}") from None
    job_id = secrets.token_hex(8)
    path = jobtable.data_files_dir() / f"{job_id}.npz"
    try:
        write_data(data, path)
    except OSError as err:  # a full disk: in words, not "internal error"
        raise storage.disk_failure(err, "queue the experiment") or err from err
    owner_id, owner_name = people.owner_fields(owner)
    try:
        manager.table.submit({"experiment": name, "settings": settings}, owner=owner_id, owner_name=owner_name,
                             label=label, dataset=", ".join(data), data_file=str(path), job_id=job_id, kind=KIND)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    manager.ensure_workers()
    return job_id


def result(job_id: str, *, by: Person | None = None) -> Any:
    """The result of finished experiment job ``job_id`` (None while it is not finished, or when its file is
    gone). ``by``: who asks; only the owner and the teacher may (None: the teacher), else NotAllowed."""
    status = JobTable().status(job_id)
    if status is None or status.kind != KIND:
        raise InvalidArgument(f"no experiment job {job_id!r}")
    if by is not None:
        policy.check_change(by, status.owner, f"see the result of experiment job {job_id}")
    if status.state != "finished":
        return None
    path = result_path(job_id)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return decode(json.loads(text))
    except CnnvizError:
        raise
    except (ValueError, KeyError, AttributeError, TypeError) as err:  # cut short or edited: not what run() wrote
        raise CnnvizError(f"The result of this experiment ({path}) is damaged: run the experiment again.") from err



# --- the worker's side -------------------------------------------------------------------------
def run(table: JobTable, job: ClaimedJob, *, stops: list[threading.Event] | None = None,
        terminating: threading.Event | None = None) -> str:
    """Run claimed experiment job ``job`` in this (worker) process, publish its progress, honour a stop
    request within a batch, save its result; returns its final state.

    ``stops``: the worker's list of running jobs' stop flags (its SIGTERM handler sets them);
    ``terminating``: set when the worker is ending (a stop then ends the job "interrupted").
    """
    stop, done = threading.Event(), threading.Event()
    if stops is not None:
        stops[:] = [stop]
    started, last = time.monotonic(), [0.0]

    def watch_stop() -> None:
        while not done.wait(STOP_POLL_S):
            if table.stop_requested(job.job_id):
                stop.set()
                return

    def progress(fraction: float, text: str) -> None:
        if stop.is_set():
            raise _Stopped
        now = time.monotonic()
        if now - last[0] >= PUBLISH_EVERY_S:
            last[0] = now
            share = round(min(max(float(fraction), 0.0), 1.0) * STEPS)
            if table.publish(job.job_id, Progress(phase="training", epoch=1, epochs=1, batch=share, batches=STEPS,
                                                  note=str(text), elapsed_s=now - started)):
                stop.set()

    threading.Thread(target=watch_stop, name=f"cnnviz-stop-{job.job_id}", daemon=True).start()
    outcome: dict = {"state": "failed"}
    try:
        task = job.task or {}
        if task.get("experiment") not in EXPERIMENTS:
            raise CnnvizError(f"Unknown experiment {task.get('experiment')!r}.")
        func, many = EXPERIMENTS[task["experiment"]]
        progress(0.0, "loading the images")
        data = read_data(Path(job.data_file or ""))
        value = func(data if many else next(iter(data.values())), progress=progress, **task.get("settings", {}))
        write_result(job.job_id, value)
        outcome["state"] = "finished"
    except _Stopped:
        outcome["state"] = "stopped"
    except CnnvizError as err:
        outcome["error"] = str(err)
    except Exception:  # a bug: the traceback for the server's log, a short note for the student
        log.exception("experiment job %s failed", job.job_id)
        outcome.update(error=INTERNAL_ERROR, detail=traceback.format_exc())
    finally:
        done.set()
        if stops is not None:
            stops[:] = []
        if terminating is not None and terminating.is_set() and outcome["state"] == "stopped":
            outcome.update(state="interrupted", error=jobtable.INTERRUPTED_MESSAGE)
        table.finish(job.job_id, **outcome)
        if job.data_file:
            with contextlib.suppress(OSError):
                os.unlink(job.data_file)
    return outcome["state"]


# --- files -------------------------------------------------------------------------------------
def write_data(data: dict[str, ex.Data], path: Path) -> None:
    """Named experiment datasets in one ``.npz`` (atomically), for the worker."""
    arrays: dict[str, np.ndarray] = {"names": np.array(list(data), dtype=str)}
    for i, d in enumerate(data.values()):
        arrays |= {f"{i}_x_train": d.x_train, f"{i}_y_train": d.y_train, f"{i}_x_val": d.x_val,
                   f"{i}_y_val": d.y_val, f"{i}_num_classes": np.array(d.num_classes)}
    storage.ensure_dir(path.parent)
    with storage.atomic_path(path, ".npz") as tmp:
        np.savez(tmp, **arrays)


def read_data(path: Path) -> dict[str, ex.Data]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {str(name): ex.Data(x_train=f[f"{i}_x_train"], y_train=f[f"{i}_y_train"], x_val=f[f"{i}_x_val"],
                                       y_val=f[f"{i}_y_val"], num_classes=int(f[f"{i}_num_classes"]))
                    for i, name in enumerate(f["names"])}
    except FileNotFoundError:
        raise CnnvizError("The experiment's images are gone (the server was cleaned up); run it again.") from None


def write_result(job_id: str, value: Any) -> None:
    """The result as JSON (atomically); result files older than :data:`KEEP_RESULTS_S` go."""
    folder = storage.ensure_dir(results_dir())
    storage.atomic_write_bytes(result_path(job_id), json.dumps(encode(value)).encode("utf-8"))
    now = time.time()
    for old in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > KEEP_RESULTS_S:
                old.unlink()


def encode(value: Any) -> Any:
    """Results (the experiments' dataclasses, arrays, lists, numbers) as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__,
                "fields": {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (a dataclass's lists become tuples, as the experiments make them)."""
    if isinstance(value, dict) and "type" in value:
        cls = RESULT_TYPES.get(value["type"])
        if cls is None:
            raise CnnvizError(f"Unknown experiment result {value['type']!r}.")
        fields = {k: decode(v) for k, v in value["fields"].items()}
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
        except TypeError:  # kept (up to a day) from a version with other fields
            raise CnnvizError(f"This {value['type']} result was saved by another version of cnnviz: run the "
                              "experiment again.") from None
    if isinstance(value, dict) and "array" in value:
        return np.asarray(value["array"], dtype=value["dtype"])
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
