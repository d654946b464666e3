"""Training as jobs: records in the job table, trained by warm worker processes.

Training never runs in the web server's process: :class:`JobManager` only submits, polls and
stops rows of :mod:`cnnviz.training.jobtable`, and keeps up to the cap of warm workers
(:mod:`cnnviz.training.worker`, spawned) running for this ``CNNVIZ_HOME``. Several server
processes sharing ``CNNVIZ_HOME`` share one queue and one cap. :func:`manager` returns the
process's manager (created on first use: it also marks jobs whose worker vanished while no
server ran as "interrupted"). Pages keep only job ids.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING, Callable

from cnnviz import storage
from cnnviz.classroom import people, policy
from cnnviz.classroom.people import Person
from cnnviz.data import owners as data_owners
from cnnviz.data import stored
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.runs import store as runs
from cnnviz.training import checkpoint, cluster, jobtable, worker
from cnnviz.training.jobtable import JOB_STATES, ClaimedJob, JobStatus, JobTable
from cnnviz.training.loop import BuildFn
from cnnviz.training.spec import TrainSpec

if TYPE_CHECKING:  # pragma: no cover
    from multiprocessing.process import BaseProcess

    from cnnviz.data.datasets import Dataset

__all__ = ["JOB_STATES", "JobManager", "JobStatus", "MAX_JOBS_ENV", "MAX_JOBS_LIMIT", "default_max_jobs", "manager",
           "slot_problem"]

log = logging.getLogger("cnnviz.training.jobs")

#: Environment variable that overrides the cap on concurrent training jobs (for the whole CNNVIZ_HOME).
MAX_JOBS_ENV = "CNNVIZ_MAX_TRAINING_JOBS"
#: The most trainings at once the Class page and ``python -m cnnviz jobs work --max-jobs`` accept.
MAX_JOBS_LIMIT = 64
#: Seconds between a manager's checks for dead workers and missing ones (status polls trigger them).
MAINTAIN_EVERY_S = 0.5
#: Seconds a closing manager gives its workers to stop their jobs and save.
CLOSE_GRACE_S = 30.0


def default_max_jobs() -> int:
    """``$CNNVIZ_MAX_TRAINING_JOBS`` (1..:data:`MAX_JOBS_LIMIT`) if set, else half the cores (TensorFlow uses them all per job)."""
    env = os.environ.get(MAX_JOBS_ENV, "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise InvalidArgument(f"{MAX_JOBS_ENV} must be a whole number ≥ 1, got {env!r}") from None
        if value < 1:
            raise InvalidArgument(f"{MAX_JOBS_ENV} must be a whole number ≥ 1, got {env!r}")
        if value > MAX_JOBS_LIMIT:  # the most the Class page and ``jobs work --max-jobs`` accept
            raise InvalidArgument(f"{MAX_JOBS_ENV} must be a whole number ≤ {MAX_JOBS_LIMIT}, got {env!r}")
        return value
    return max(1, (os.cpu_count() or 1) // 2)


def default_owner() -> str:
    """The owner of jobs queued without one: the teacher (the command line, the laptop user)."""
    return people.TEACHER_OWNER



class JobManager:
    """Submits, polls and stops the jobs of the current ``CNNVIZ_HOME``; keeps its workers running.

    Thread-safe. Writing the cap (``max_jobs``, default :func:`default_max_jobs`) sets it for
    every process sharing the table. ``workers=False``: a manager that only queues and reads (a
    short-lived command line), starting no worker.
    """

    def __init__(self, max_jobs: int | None = None, *, workers: bool = True) -> None:
        self.home = storage.home()
        self.table = JobTable(self.home / "jobs.sqlite3")
        self.starts_workers = workers
        if max_jobs is not None:
            self.table.set_max_jobs(max_jobs)
        elif workers and (os.environ.get(MAX_JOBS_ENV, "").strip() or not self.table.max_jobs(default=0)):
            self.table.set_max_jobs(default_max_jobs())  # the deployment's setting, or the home's first default
        elif workers:  # a restarted (or second) server keeps the cap the teacher set on the Class page
            log.info("keeping the cap of %d trainings at once set for %s (%s not set)", self.table.max_jobs(),
                     self.home, MAX_JOBS_ENV)
        self._lock = threading.Lock()
        self._workers: dict[int, BaseProcess] = {}
        self._drain = None  # a multiprocessing Event its workers watch (end_workers_when_idle)
        self._draining = False
        self._checked = 0.0
        _managers.append(self)

    @property
    def max_jobs(self) -> int:
        return self.table.max_jobs()

    def set_max_jobs(self, max_jobs: int, *, by: Person | None = None) -> None:
        """Change the cap; queued jobs start as soon as the new workers are up.

        ``by``: who changes it; only the teacher may (None: the teacher), else NotAllowed.
        """
        if by is not None:
            policy.check_teacher(by, f"change the number of trainings at once to {max_jobs!r}")
        self.table.set_max_jobs(max_jobs)
        self.ensure_workers()

    def submit(
        self, spec: TrainSpec, *, build: BuildFn | None = None, label: str | None = None,
        dataset: "Dataset | None" = None, owner: Person | str | None = None,
    ) -> str:
        """Queue a job (a worker takes it when a slot is free) and return its id.

        Args:
            spec: what to train (validated now, so mistakes show at once).
            build: a module-level ``build(input_shape, num_classes)`` (the worker imports it by name);
                default: ``spec.model`` through :func:`cnnviz.models.network.build_model`.
            label: a name for people (default: preset or architecture, and dataset).
            dataset: the already-loaded dataset ``spec.dataset``. A stored dataset is loaded by name in
                the worker; any other is written to a file for it.
            owner: who submitted it (the app passes the session's Person); the run it saves is theirs.
                Default: the teacher. A student may not train on another student's imported dataset.
        """
        spec.validate()
        if isinstance(owner, Person) and spec.dataset not in stored.names(owner) and spec.dataset in stored.names():
            raise policy.NotAllowed(f"{owner.display_name} may not train on dataset {spec.dataset}: someone else "
                                    "imported it, and only they and the teacher use it.")
        if isinstance(owner, Person):
            self.check_one_at_a_time(owner, spec)  # at once, before a dataset is written for the worker
        reference = worker.build_reference(build) if build is not None else None
        job_id = secrets.token_hex(8)
        data_file = None
        if dataset is not None and not _stored(dataset):
            path = jobtable.data_files_dir() / f"{job_id}.npz"
            try:
                worker.write_dataset(dataset, path)
            except OSError as err:  # a full disk: in words, not "internal error"
                raise storage.disk_failure(err, "queue the training") or err from err
            data_file = str(path)
        owner_id, owner_name = people.owner_fields(owner)
        imported_by = data_owners.owner(spec.dataset) if data_file is None and spec.dataset.startswith("folder:") \
            else None  # the worker trains only if that import is still the one under this name
        try:
            self.table.submit(spec, owner=owner_id, owner_name=owner_name, label=label or spec.label,
                              data_file=data_file, build=reference, job_id=job_id, dataset_owner=imported_by,
                              refuse=self._one_at_a_time(owner, spec))
        except BaseException:
            if data_file is not None:  # refused (another tab's job came first): nobody will train on it
                with contextlib.suppress(OSError):
                    os.unlink(data_file)
            raise
        self.ensure_workers()
        return job_id

    def check_one_at_a_time(self, owner: Person, spec: TrainSpec, active: list[ClaimedJob] | None = None) -> None:
        """One training at a time per student and panel (Build & train, each transfer run), as the pages
        say: raise NotAllowed when ``owner`` (not the teacher) has one of the same panel queued or running.

        ``active``: the owner's queued and running jobs, as the table's write transaction reads them
        (:meth:`JobTable.submit`'s ``refuse``); default: read now (a quick answer before any work).
        """
        if owner.is_teacher:
            return
        panel = panel_of(spec)
        if active is None:
            active = [self.table.record(s.job_id) for s in self.table.jobs() if s.owner == owner.user_id]
        for record in active:
            if record is not None and record.owner == owner.user_id and record.kind == "training" \
                    and panel_of(record.spec) == panel:
                raise policy.NotAllowed(f"{owner.display_name} may not queue another training: job {record.job_id} "
                                        "is still queued or running (one training at a time per student).")

    def _one_at_a_time(self, owner: Person | str | None, spec: TrainSpec):
        """:meth:`check_one_at_a_time` for the table's write transaction (None: not a student's, no rule)."""
        if not isinstance(owner, Person) or owner.is_teacher:
            return None
        return lambda active: self.check_one_at_a_time(owner, spec, active)

    def resumable(self, job_id: str) -> int:
        """Epochs a failed or interrupted job finished and can go on from (0: nothing to resume)."""
        status = self.table.status(job_id)
        if status is None or status.state not in ("failed", "interrupted"):
            return 0
        point = checkpoint.read(checkpoint.folder_for(job_id))
        return point.epochs_done if point is not None else 0

    def resume_note(self, job_id: str) -> str | None:
        """What resuming job ``job_id`` gives, in words (:func:`cnnviz.training.checkpoint.resume_note`);
        None when it has no saved progress."""
        point = checkpoint.read(checkpoint.folder_for(job_id))
        return None if point is None else checkpoint.resume_note(point)

    def resume(self, job_id: str, *, owner: Person | str | None = None) -> str:
        """Queue a job that goes on from the last finished epoch of failed or interrupted ``job_id``;
        returns the new job's id (its run's history starts with the earlier epochs).

        A :class:`Person` as ``owner`` must own ``job_id`` or be the teacher (:class:`NotAllowed` otherwise);
        the new job keeps the old one's owner.
        """
        status, record = self.table.status(job_id), self.table.record(job_id)
        if status is None or record is None:
            raise InvalidArgument(f"no training job {job_id!r}")
        if isinstance(owner, Person):
            policy.check_change(owner, status.owner, f"resume training job {job_id}")
            self.check_one_at_a_time(owner, record.spec)  # a second tab's Resume, or a training queued since
        if not record.data_file and not data_owners.trains_for(record.dataset, status.owner, record.dataset_owner):
            if not stored.is_present(record.dataset):  # deleted, and nobody took its name since
                raise worker.dataset_deleted(record.dataset, f"of job {job_id}")
            raise policy.NotAllowed(f"job {job_id} cannot be resumed: its dataset {record.dataset} was deleted and "
                                    "someone else imported another one under that name")
        if status.state not in ("failed", "interrupted"):
            raise InvalidArgument(f"only a failed or interrupted training can be resumed; job {job_id} is {status.state}")
        if not self.resumable(job_id):
            raise InvalidArgument(f"job {job_id} has no saved progress to resume (it finished no epoch, "
                                  "or it was resumed already)")
        if record.data_file and not os.path.exists(record.data_file):
            raise InvalidArgument(f"job {job_id} trained on data that was not stored, and it is gone: train it again")
        owner_id, owner_name = (status.owner, status.owner_name) if isinstance(owner, Person) or owner is None \
            else people.owner_fields(owner)
        new_id = self.table.submit(record.spec, owner=owner_id, owner_name=owner_name,
                                   label=f"{record.label} (resumed)",
                                   dataset=record.dataset, data_file=record.data_file, build=record.build,
                                   resume_from=job_id, dataset_owner=record.dataset_owner,
                                   refuse=self._one_at_a_time(owner, record.spec))
        self.ensure_workers()
        return new_id

    def free_slots(self) -> int:
        """How many more trainings this manager's workers could start now (the cap less those running; 0 for a
        manager that starts no worker): a job queued within them waits only for its worker to start (it loads
        TensorFlow), not for anyone's training."""
        if not self.starts_workers:
            return 0
        return max(0, self.max_jobs - len(self.table.jobs(("running",))))

    def status(self, job_id: str) -> JobStatus | None:
        """A snapshot of the job, or None for an unknown id."""
        self._maintain()
        return self.table.status(job_id)

    def stop(self, job_id: str, *, by: Person | None = None) -> None:
        """Stop a running job within one batch (it is saved as stopped), or drop a queued one.

        Args:
            job_id: the job.
            by: who stops it: its owner or the teacher (None: the teacher).

        Raises:
            NotAllowed: ``by`` is neither the job's owner nor the teacher (the job goes on).
        """
        if by is not None and not by.is_teacher:
            status = self.table.status(job_id)
            if status is not None:
                policy.check_change(by, status.owner, f"stop training job {job_id}")
        self.table.stop(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus | None:
        """Poll until the job ends (or ``timeout`` seconds pass); return its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status is None or not status.active or (deadline is not None and time.monotonic() >= deadline):
                return status
            time.sleep(0.1)

    def active_jobs(self) -> list[JobStatus]:
        """Queued and running jobs, in queue order."""
        self._maintain()
        return self.table.jobs()

    def ensure_workers(self) -> None:
        """Start a worker for every free slot below the cap (at most the cap per CNNVIZ_HOME in all)."""
        if not self.starts_workers or self._draining:
            return
        ray_dispatcher = cluster.dispatcher(self.home)
        if ray_dispatcher is not None:  # CNNVIZ_RAY_ADDRESS: the cluster's workers train, not ours
            ray_dispatcher.dispatch(self.table)
            return
        try:
            storage.ensure_dir(jobtable.workers_dir())
        except NotADirectoryError:  # a file where the workers' folder goes: no slot can be locked (said below)
            slots = 0
        else:
            slots = self.table.max_jobs()
        ctx = multiprocessing.get_context("spawn")  # never fork after TensorFlow (tensorflow#27074)
        with self._lock:
            for slot in range(slots):
                mine = self._workers.get(slot)
                if mine is not None and mine.is_alive():
                    continue
                with storage.exclusive_lock_if_free(worker.slot_lock_path(slot)) as free:
                    if not free:
                        continue  # another process's worker has it, or its lock file cannot be opened (said below)
                if self._drain is None:
                    self._drain = ctx.Event()
                process = ctx.Process(target=worker.main, args=(str(self.home), slot, os.getpid(), self._drain),
                                      name=f"cnnviz-training-worker-{slot}", daemon=True)
                process.start()
                self._workers[slot] = process
                log.info("started training worker %d (pid %d) for %s", slot, process.pid, self.home)
        problem = slot_problem(self.table.max_jobs())  # a slot no worker can ever take: in the server's log, once
        if problem is not None and problem not in _problems_logged:
            _problems_logged.add(problem)
            log.warning("%s", problem)

    def slot_problem(self) -> str | None:
        """Why fewer trainings than the cap can start, in words (:func:`slot_problem`); None: none."""
        return slot_problem(self.max_jobs)

    def worker_pids(self) -> list[int]:
        """The pids of the workers this manager started that are still alive."""
        with self._lock:
            return [p.pid for p in self._workers.values() if p.is_alive()]

    def end_workers_when_idle(self, waiting: Callable[[list[JobStatus]], None] = lambda running: None) -> None:
        """End this manager's workers without interrupting anyone: each finishes the job it trains (a
        command line's workers take the queue in order, so perhaps a student's), takes no other, and ends.
        ``waiting`` hears twice a second which jobs they still train. Workers start again on the next need."""
        with self._lock:
            self._draining = True
            if self._drain is not None:
                self._drain.set()
        try:
            while pids := set(self.worker_pids()):
                waiting([s for s in self.table.jobs(("running",)) if s.worker_pid in pids])
                time.sleep(0.5)
        finally:
            with self._lock:
                self._draining, self._drain = False, None

    def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """End the workers this manager started (their running jobs end as "interrupted")."""
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for process in workers:
            if process.is_alive():
                process.terminate()
        for process in workers:
            process.join(grace_s)
            if process.is_alive():
                process.kill()
                process.join()
        try:  # the workers are ended: a table that cannot be used now (damaged, a full disk) is only logged
            if self.starts_workers:
                cluster.shutdown(self.table)
            self.table.reap(state="interrupted", message=jobtable.INTERRUPTED_MESSAGE)
        except (CnnvizError, OSError) as err:
            log.warning("closing the training workers of %s: their jobs were not marked interrupted: %s",
                        self.home, err)

    def _maintain(self) -> None:
        """Now and then: end jobs whose worker died, and start workers while jobs wait."""
        now = time.monotonic()
        if now - self._checked < MAINTAIN_EVERY_S:
            return
        self._checked = now
        self.table.reap()
        if cluster.address() is not None:
            self.ensure_workers()  # also notices Ray tasks that died
        elif any(s.state == "queued" for s in self.table.jobs(("queued",))):
            self.ensure_workers()


def panel_of(spec: TrainSpec) -> tuple:
    """Which page panel a training belongs to: ``("transfer", frozen)`` or ``("train",)`` (Build & train's);
    one student trains once per panel, and cnnviz.app.reconnect puts a job back under its panel's key."""
    model = spec.model
    return ("transfer", bool(model.frozen)) if model.architecture == "transfer" else ("train",)


def workers_running() -> int:
    """How many training workers hold a slot of the current ``CNNVIZ_HOME`` (in any process)."""
    table = JobTable()
    busy = 0
    for slot in range(table.max_jobs()):
        path = worker.slot_lock_path(slot)
        if path.exists() and storage.lock_refused(path) is None:  # one nobody can open is no worker's
            with storage.exclusive_lock_if_free(path) as free:
                busy += not free
    return busy


_problems_logged: set[str] = set()  # what slot_problem said that is in this process's log already


def slot_problem(max_jobs: int | None = None) -> str | None:
    """Why fewer trainings than the cap (``max_jobs``, default the table's) can start in the current ``CNNVIZ_HOME``,
    in words for the class and for whoever runs the server: training slots whose lock file
    (``jobs/workers/slot-N.lock``) this user cannot open, so no worker ever takes them (a file another user left,
    e.g. a server once run as root, or a folder in its place). None when every slot can be used (or a Ray cluster
    trains). A manager that starts workers logs it, once per process.
    """
    if cluster.address() is not None:
        return None
    cap = JobTable().max_jobs() if max_jobs is None else max_jobs
    paths = [worker.slot_lock_path(slot) for slot in range(cap)]
    refused = [(path, err) for path in paths if (err := storage.lock_refused(path)) is not None]
    if not refused:
        return None
    if isinstance(refused[0][1], NotADirectoryError):  # every slot's folder: a file stands in its way
        return (f"No training can start: a file stands where cnnviz keeps a folder ({refused[0][1].filename}). "
                "Whoever runs the server: move that file out of the way (cnnviz did not make it); the waiting "
                "trainings then start.")
    one = len(refused) == 1
    start = "No training can start" if len(refused) == cap else \
        f"Only {cap - len(refused)} of the {cap} trainings at once can run"
    return (f"{start}: the user running cnnviz may not open the training slot lock file{'' if one else 's'} "
            f"{', '.join(str(p) for p, _ in refused)} ({refused[0][1].strerror}). Whoever runs the server: delete "
            f"{'it' if one else 'them'} (left by another user, e.g. a server once run as root, or a folder in "
            f"{'its' if one else 'their'} place); the waiting trainings then start.")


def _stored(dataset: "Dataset") -> bool:
    """Whether the worker can load ``dataset`` by its name (a stored or bundled dataset)."""
    try:
        return stored.is_present(dataset.name)
    except CnnvizError:
        return False


_managers: list[JobManager] = []
_manager: JobManager | None = None
_manager_lock = threading.Lock()


def manager() -> JobManager:
    """This process's job manager for the current ``CNNVIZ_HOME`` (created on first use; the cap from
    :func:`default_max_jobs`); at creation, jobs left running by workers that are gone become "interrupted"."""
    global _manager
    with _manager_lock:
        if _manager is None or (isinstance(_manager, JobManager) and _manager.home != storage.home()):
            runs.cleanup_once()
            _manager = JobManager()
            _manager.table.recover()
            storage.Once(log, "training jobs' cleanup").run(_manager.table.remove_leftovers)  # killed processes' files
        return _manager


def close_all() -> None:
    """End every worker this process started (tests; a server's shutdown ends them itself)."""
    global _manager
    with _manager_lock:
        managers, _managers[:] = list(_managers), []
        _manager = None
    for item in managers:
        item.close()
