"""Training as background jobs: a server-wide cap, a FIFO queue, status, stop.

Training never runs in a Streamlit script thread (reruns and clicks kill a
``fit()`` there, and one without ``st.*`` calls cannot be stopped). :func:`manager` returns
the process-wide :class:`JobManager`; it runs each job (:func:`cnnviz.training.loop.train`) in its
own thread, at most ``max_jobs`` at once (FIFO queue beyond that). Pages keep only job ids.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnnviz.runs import store as runs

from cnnviz.training import loop as training
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.training.callbacks import Progress
from cnnviz.training.loop import BuildFn
from cnnviz.training.spec import TrainSpec

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.data.datasets import Dataset

#: One INFO line per job queued/started/ended: the server's record of who trained when.
log = logging.getLogger("cnnviz.training.jobs")

#: Environment variable that overrides the server-wide cap on concurrent training jobs.
MAX_JOBS_ENV = "CNNVIZ_MAX_TRAINING_JOBS"
#: Finished job records kept for status queries (oldest dropped first).
MAX_FINISHED_JOBS = 200

JOB_STATES = ("queued", "running", "finished", "stopped", "cancelled", "failed")


@dataclass(frozen=True)
class JobStatus:
    """What a page shows about one job (a copy; safe to keep)."""

    job_id: str
    label: str
    state: str  # one of JOB_STATES
    queue_position: int  # 1 = next to start; 0 when not queued
    progress: Progress
    run_id: str | None = None
    test_accuracy: float | None = None
    error: str | None = None
    submitted: float = 0.0

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")


@dataclass
class _Job:
    job_id: str
    spec: TrainSpec
    build: BuildFn | None
    label: str
    submitted: float
    dataset: Any = None
    state: str = "queued"
    progress: Progress = field(default_factory=Progress)
    run_id: str | None = None
    test_accuracy: float | None = None
    error: str | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    done: threading.Event = field(default_factory=threading.Event)


def default_max_jobs() -> int:
    """``$CNNVIZ_MAX_TRAINING_JOBS`` if set, else half the cores (TensorFlow uses them all per job)."""
    env = os.environ.get(MAX_JOBS_ENV, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise InvalidArgument(f"{MAX_JOBS_ENV} must be a whole number ≥ 1, got {env!r}") from None
        if value < 1:
            raise InvalidArgument(f"{MAX_JOBS_ENV} must be a whole number ≥ 1, got {env!r}")
        return value
    return max(1, (os.cpu_count() or 1) // 2)


class JobManager:
    """Runs training jobs in background threads, at most ``max_jobs`` at once, FIFO beyond.

    Thread-safe. Job threads never touch Streamlit; pages poll :meth:`status` with the
    job id they keep in session state.
    """

    def __init__(self, max_jobs: int | None = None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._queue: collections.deque[str] = collections.deque()
        self._running = 0
        self._max_jobs = 1
        self.set_max_jobs(default_max_jobs() if max_jobs is None else max_jobs)

    @property
    def max_jobs(self) -> int:
        return self._max_jobs

    def set_max_jobs(self, max_jobs: int) -> None:
        """Change the cap; queued jobs start at once if the new cap allows."""
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise InvalidArgument(f"the cap on concurrent training jobs must be ≥ 1, got {max_jobs!r}")
        with self._lock:
            self._max_jobs = int(max_jobs)
            self._start_waiting_locked()

    def submit(
        self, spec: TrainSpec, *, build: BuildFn | None = None, label: str | None = None,
        dataset: "Dataset | None" = None,
    ) -> str:
        """Queue a job (it starts at once when a slot is free) and return its id.

        Args:
            spec: what to train (validated now, so mistakes show at once).
            build: see :func:`train`.
            label: a name for people (default: preset or architecture, and dataset).
            dataset: the already-loaded full dataset ``spec.dataset`` (shared, read only).
        """
        spec.validate()
        job_id = secrets.token_hex(8)
        job = _Job(job_id=job_id, spec=spec, build=build, submitted=time.time(), dataset=dataset,
                   label=label or spec.label,
                   progress=Progress(epochs=spec.epochs))
        with self._lock:
            self._jobs[job_id] = job
            self._queue.append(job_id)
            log.info("job %s queued: %d of %d training slots busy, %d waiting",
                     job_id, self._running, self._max_jobs, len(self._queue))
            self._prune_locked()
            self._start_waiting_locked()
        return job_id

    def status(self, job_id: str) -> JobStatus | None:
        """A snapshot of the job, or None for an unknown id (e.g. after a server restart)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            position = self._queue.index(job_id) + 1 if job.state == "queued" else 0
            return JobStatus(
                job_id=job.job_id, label=job.label, state=job.state, queue_position=position,
                progress=job.progress, run_id=job.run_id, test_accuracy=job.test_accuracy,
                error=job.error, submitted=job.submitted,
            )

    def stop(self, job_id: str) -> None:
        """Stop a running job within one batch (it is saved as stopped), or drop a queued one."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            job.stop_event.set()
            if job.state == "queued":
                self._queue.remove(job_id)
                job.state = "cancelled"
                job.done.set()

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus | None:
        """Block until the job ends (or ``timeout`` seconds pass); return its status."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is not None:
            job.done.wait(timeout)
        return self.status(job_id)

    def active_jobs(self) -> list[JobStatus]:
        """Queued and running jobs, in start order."""
        with self._lock:
            ids = [j.job_id for j in self._jobs.values() if j.state in ("queued", "running")]
        return [s for s in (self.status(i) for i in ids) if s is not None]

    # -- internals (called with the lock held) --
    def _start_waiting_locked(self) -> None:
        while self._queue and self._running < self._max_jobs:
            job = self._jobs[self._queue.popleft()]
            job.state = "running"
            self._running += 1
            # One line per start/end (INFO): a server log of who trained when, and the load test's check of the cap.
            log.info("job %s started: %d of %d training slots busy, %d waiting",
                     job.job_id, self._running, self._max_jobs, len(self._queue))
            # daemon: a server shutdown must not wait for a long run; writes are crash-safe anyway
            job.thread = threading.Thread(target=self._run, args=(job,), name=f"cnnviz-train-{job.job_id}",
                                          daemon=True)
            job.thread.start()

    def _prune_locked(self) -> None:
        ended = [j for j in self._jobs.values() if j.state not in ("queued", "running")]
        for job in sorted(ended, key=lambda j: j.submitted)[: max(0, len(ended) - MAX_FINISHED_JOBS)]:
            del self._jobs[job.job_id]

    def _publish(self, job: _Job, progress: Progress) -> None:
        with self._lock:
            job.progress = progress

    def _run(self, job: _Job) -> None:
        state, run_id, accuracy, error = "failed", None, None, None
        try:
            result = training.train(job.spec, build=job.build, stop_event=job.stop_event, dataset=job.dataset,
                           on_progress=lambda p: self._publish(job, p))
            if result.run is None:
                state = "cancelled"
            else:
                state = "stopped" if result.stopped else "finished"
                run_id, accuracy = result.run.run_id, result.run.test_accuracy
        except CnnvizError as err:
            error = str(err)
        except Exception:  # a bug: full traceback in the server log, a short note for the class
            log.exception("training job %s failed", job.job_id)
            error = "Training failed because of an internal error. The details are in the server log."
        finally:
            with self._lock:
                job.state, job.run_id, job.test_accuracy, job.error = state, run_id, accuracy, error
                job.progress = dataclasses.replace(job.progress, phase="done", eta_s=None)
                self._running -= 1
                log.info("job %s ended %s (run %s): %d of %d training slots busy, %d waiting",
                         job.job_id, state, run_id, self._running, self._max_jobs, len(self._queue))
                self._start_waiting_locked()
            job.dataset = None  # let the data go
            job.done.set()


_manager: JobManager | None = None
_manager_lock = threading.Lock()


def manager() -> JobManager:
    """The process-wide job manager (created on first use; the cap from :func:`default_max_jobs`)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            runs.cleanup_once()
            _manager = JobManager()
        return _manager
