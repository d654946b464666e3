"""A warm training worker: a spawned process that imports TensorFlow once, then trains the job
table's jobs one after another (:mod:`cnnviz.training.jobtable`).

Started by :class:`cnnviz.training.jobs.JobManager` with the multiprocessing ``spawn`` method
(``fork()`` after TensorFlow is loaded hangs: tensorflow#27074). A worker holds two ``flock``s for
its whole life: ``slot-<k>.lock`` (at most one worker per slot, slots < the cap, so every process
sharing ``CNNVIZ_HOME`` together starts at most the cap of workers) and ``<token>.lock`` (tells
others it is alive; the kernel drops both when it dies, even by SIGKILL).

Each job runs through :func:`cnnviz.training.loop.train`: its progress (published at most once a
second) goes to the table, and a watcher thread reads the table's stop request every
:data:`STOP_POLL_S` s, so Stop lands within one batch after that. SIGTERM (a server shutting down)
stops the running job within a batch, keeps what it learned as the run, marks the job
"interrupted" and ends the worker. A worker whose parent is gone ends when it is idle. Workers run
at nice +:data:`WORKER_NICE`, so the web server's pages come before the training.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import threading
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from cnnviz import storage
from cnnviz.classroom import people
from cnnviz.data import owners as data_owners
from cnnviz.data import datasets, stored
from cnnviz.errors import CnnvizError, InvalidArgument, Unavailable
from cnnviz.training import checkpoint, experiment_jobs, jobtable
from cnnviz.training import loop as training
from cnnviz.training.jobtable import ClaimedJob, JobTable

log = logging.getLogger("cnnviz.training.worker")

#: Seconds between looks at the queue while idle, and at a running job's stop request.
POLL_S = 0.25
STOP_POLL_S = 0.2
#: CPU priority a worker adds to its own: a training takes every core nothing else wants, but yields them to
#: the web server drawing a student's page (the class load test: benchmarks/README.md, "class_load.py").
WORKER_NICE = 10
#: What a student reads when the training code had a bug (the traceback goes to the server's log).
INTERNAL_ERROR = "Training failed because of an internal error. The details are in the server log."

_terminating = threading.Event()  # set by SIGTERM
_current_stop: list[threading.Event] = []  # the running job's stop flag, for SIGTERM


# --- naming the build function ---------------------------------------------------------------
def build_reference(build: Callable) -> str:
    """``"module:qualname"`` of a module-level function, so a worker can import it by name.

    Raises:
        InvalidArgument: ``build`` is a lambda, a nested function or anything not found by its name.
    """
    module, name = getattr(build, "__module__", None), getattr(build, "__qualname__", None)
    reference = f"{module}:{name}"
    try:
        found = resolve_build(reference)
    except (ImportError, AttributeError, InvalidArgument):
        found = None
    if found is not build:
        raise InvalidArgument(f"a training job's build function must be a module-level function the training "
                              f"process can import by name, got {build!r}")
    return reference


def resolve_build(reference: str) -> Callable:
    module, _, name = reference.partition(":")
    if not module or not name or "<" in name:
        raise InvalidArgument(f"a build function is named 'module:function', got {reference!r}")
    found = importlib.import_module(module)
    for part in name.split("."):
        found = getattr(found, part)
    return found


# --- datasets handed over in files -----------------------------------------------------------
def write_dataset(ds: datasets.Dataset, path: Path) -> None:
    """Write an in-memory dataset (one that is not stored under its name) for the worker, atomically."""
    with storage.atomic_path(path, ".npz") as tmp:
        np.savez(tmp, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test,
                 class_names=np.array(ds.class_names, dtype=str), name=np.array(ds.name), source=np.array(ds.source))


def read_dataset(path: Path) -> datasets.Dataset:
    with np.load(path, allow_pickle=False) as f:
        return datasets.Dataset(name=str(f["name"]), x_train=f["x_train"], y_train=f["y_train"], x_test=f["x_test"],
                                y_test=f["y_test"], class_names=tuple(str(c) for c in f["class_names"]),
                                source=str(f["source"]))


class _DatasetCache:
    """The last stored dataset loaded (a warm worker keeps it for the next job on the same data)."""

    def __init__(self) -> None:
        self._key: tuple[str, str] | None = None
        self._value: datasets.Dataset | None = None

    def get(self, job: ClaimedJob) -> datasets.Dataset:
        if job.data_file:
            return read_dataset(Path(job.data_file))
        key = (job.dataset, stored.fingerprint(job.dataset))
        if key != self._key:
            self._key, self._value = None, None  # let the old one go first
            self._value, self._key = datasets.load(job.dataset), key
        return self._value


def dataset_deleted(name: str, what: str) -> Unavailable:
    """The error of a job whose imported dataset ``name`` was deleted (and not imported again by anyone) since
    it was queued, e.g. ``what`` "this training was queued on"."""
    return Unavailable(f"The dataset {name} {what} was deleted: it is not on this machine any more. "
                       f"{stored.how_to_get(name)}")


# --- one job -----------------------------------------------------------------------------------
def run_job(table: JobTable, job: ClaimedJob, cache: _DatasetCache | None = None) -> str:
    """Train a claimed job to its end and record the outcome in the table; returns its final state."""
    if job.kind == experiment_jobs.KIND:  # the Experiments page's side-by-side trainings: no run, a result file
        return experiment_jobs.run(table, job, stops=_current_stop, terminating=_terminating)
    stop, done = threading.Event(), threading.Event()
    _current_stop[:] = [stop]

    def watch_stop() -> None:
        while not done.wait(STOP_POLL_S):
            if table.stop_requested(job.job_id):
                stop.set()
                return

    def publish(progress) -> None:
        if table.publish(job.job_id, progress):
            stop.set()

    watcher = threading.Thread(target=watch_stop, name=f"cnnviz-stop-{job.job_id}", daemon=True)
    watcher.start()
    outcome: dict = {"state": "failed"}
    try:
        build = resolve_build(job.build) if job.build else None
        resume = None
        if job.resume_from:
            resume = checkpoint.read(checkpoint.folder_for(job.resume_from))
            if resume is None:
                raise CnnvizError("The saved progress of the training to resume is gone; train it again.")
        if not job.data_file and not data_owners.trains_for(job.dataset, job.owner, job.dataset_owner):
            if not stored.is_present(job.dataset):  # deleted, and nobody took its name since
                raise dataset_deleted(job.dataset, "this training was queued on")
            raise CnnvizError(f"The dataset {job.dataset} this training was queued on was deleted, and someone else "
                              "has imported another one under its name since: train again on your own data.")
        dataset = (cache or _DatasetCache()).get(job)
        owner = (job.owner, job.owner_name or job.owner) if people.is_user_id(job.owner) else None  # else: teacher's
        result = training.train(job.spec, build=build, stop_event=stop, dataset=dataset, on_progress=publish,
                                checkpoint_dir=checkpoint.folder_for(job.job_id), resume_from=resume, owner=owner,
                                job_id=job.job_id)
        if result.run is None:
            outcome["state"] = "cancelled"
        else:
            outcome.update(state="stopped" if result.stopped else "finished", run_id=result.run.run_id,
                           test_accuracy=result.run.test_accuracy)
    except CnnvizError as err:
        outcome["error"] = str(err)
    except Exception:  # a bug: the traceback for the server's log, a short note for the class
        log.exception("training job %s failed", job.job_id)
        outcome.update(error=INTERNAL_ERROR, detail=traceback.format_exc())
    finally:
        done.set()
        _current_stop[:] = []
        # SIGTERM (a server shutting down) stopped it: "interrupted". A training that had run all its epochs when
        # the signal came (it was being tested or saved) stays "finished": its run is whole, nothing is left to resume.
        if _terminating.is_set() and outcome["state"] in ("stopped", "cancelled"):
            outcome.update(state="interrupted", error=jobtable.INTERRUPTED_MESSAGE)
        # A run saved: no progress left to resume, its checkpoint and data file go (those of a failed or interrupted
        # job stay while it may be resumed: jobtable.finish, cnnviz.training.jobfiles).
        table.finish(job.job_id, **outcome)
    return outcome["state"]


# --- the process -------------------------------------------------------------------------------
def _hold_lock(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` held until the process ends, or None if someone holds it."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _on_sigterm(signum, frame) -> None:
    _terminating.set()
    for stop in list(_current_stop):
        stop.set()


def slot_lock_path(slot: int) -> Path:
    return jobtable.workers_dir() / f"slot-{slot}.lock"


def main(home: str, slot: int, parent_pid: int, drain=None) -> None:
    """The worker process: take slot ``slot`` of ``home``'s table (or end at once if it is taken),
    import TensorFlow, then train queued jobs until told to end or orphaned while idle. ``drain``
    (a multiprocessing Event): once set, the worker finishes the job it trains and takes no other."""
    os.environ["CNNVIZ_HOME"] = home
    if not logging.getLogger().handlers:  # the server's stderr: one line per job started/ended
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s [worker %(process)d] %(message)s")
    logging.getLogger("cnnviz").setLevel(logging.INFO)
    storage.ensure_dir(jobtable.workers_dir())
    slot_fd = _hold_lock(slot_lock_path(slot))
    if slot_fd is None:
        return  # another worker (perhaps another server's) has this slot
    token = jobtable.new_worker_token()
    token_path = jobtable.worker_lock_path(token)
    token_fd = _hold_lock(token_path)
    os.nice(WORKER_NICE)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal reaches the whole group: the CLI stops jobs
    try:
        import keras  # noqa: F401  the warm import (3.5-20 s here), once per worker, not once per job

        table, cache = JobTable(), _DatasetCache()
        log.info("training worker %s ready in slot %d", token, slot)
        while not _terminating.is_set() and not (drain is not None and drain.is_set()):
            if slot >= table.max_jobs() or os.getppid() != parent_pid:
                break  # the cap was lowered, or the server that started us is gone: end while idle
            table.reap()
            job = table.claim(token=token, pid=os.getpid())
            if job is None:
                _terminating.wait(POLL_S)
                continue
            run_job(table, job, cache)
    finally:
        with contextlib.suppress(OSError):
            token_path.unlink()
        for fd in (token_fd, slot_fd):
            if fd is not None:
                os.close(fd)
