"""The job table: every training job as a row in SQLite at ``CNNVIZ_HOME/jobs.sqlite3``.

Jobs are records, not threads: web servers submit, poll and stop; worker processes
(:mod:`cnnviz.training.worker`) claim queued jobs in queue order and write their progress here.
Every change is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so any number of
processes sharing ``CNNVIZ_HOME`` share one queue and one cap: a job is claimed only while fewer
than the cap run. WAL mode lets readers (the live panels) read while a worker writes.

Workers are told alive from dead by a ``flock`` each holds on ``jobs/workers/<token>.lock`` for its
whole life: the kernel drops it when the worker dies, even by SIGKILL, and a reused pid never
looks like the old worker. A running job whose worker is gone is ended by :meth:`JobTable.reap`
("failed") or, at a server's start, by :meth:`JobTable.recover` ("interrupted").
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import logging
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from cnnviz import storage
from cnnviz.errors import InvalidArgument
from cnnviz.runs import store as runs
from cnnviz.training import jobfiles
from cnnviz.training.callbacks import Progress
from cnnviz.training.spec import TrainSpec

#: One INFO line per job queued/started/ended: the server's record of who trained when.
log = logging.getLogger("cnnviz.training.jobs")

ACTIVE_STATES = ("queued", "running")
#: "cancelled": stopped while still queued (nothing trained, nothing saved).
ENDED_STATES = ("finished", "stopped", "cancelled", "failed", "interrupted")
JOB_STATES = ACTIVE_STATES + ENDED_STATES
#: The error of a job whose worker process vanished (killed, out of memory).
DIED_MESSAGE = "failed: the training process ended unexpectedly"
#: The error of a job whose worker was gone when a server started again.
INTERRUPTED_MESSAGE = "interrupted: the server stopped while this training ran"
#: Ended jobs kept for status queries (oldest dropped first), and events kept.
MAX_ENDED_JOBS = 200
MAX_EVENTS = 5000
#: Workers on other machines (a Ray cluster: :mod:`cnnviz.training.cluster`) have tokens with this prefix;
#: no lock of theirs can be seen from here, so they prove they live by a heartbeat on the row's ``updated``.
REMOTE_TOKEN_PREFIX = "ray:"
#: Seconds without a heartbeat after which a remote worker counts as gone (it beats every few seconds).
HEARTBEAT_TIMEOUT_S = 60.0
#: Seconds a writer waits for another's transaction (they last milliseconds).
BUSY_TIMEOUT_S = 30.0
#: 2: ``owner_name`` (the owner's display name) beside ``owner`` (their user id); a version 1 table gains it.
#: 3: ``kind``: "training" (a TrainSpec that makes a run) or "experiment" (the Experiments page's side-by-side
#: trainings, :mod:`cnnviz.training.experiment_jobs`: its ``spec`` names the experiment and its settings).
#: 4: ``dataset_owner``: who had imported the job's dataset when it was queued (its name may change hands since).
SCHEMA_VERSION = 4
JOB_KINDS = ("training", "experiment")
#: Columns the jobs table gained after it first shipped, and how an older table gains them (rows keep their values).
_ADDED_COLUMNS = {
    "resume_from": "TEXT",  # checkpoints (still version 1): the first version-1 table has no such column
    "owner_name": "TEXT NOT NULL DEFAULT ''",  # version 2
    "kind": "TEXT NOT NULL DEFAULT 'training'",  # version 3: before it every job was a training
    "dataset_owner": "TEXT",  # version 4: before it the worker checked the job's owner only
}
#: What a new table in place of a damaged one loses (the person running the server reads it).
AFRESH = "the queue and the record of past trainings start empty; saved runs are kept"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- queue order
    job_id TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,                    -- the owner's user id (cnnviz.classroom.people.Person)
    owner_name TEXT NOT NULL DEFAULT '',    -- the owner's display name
    label TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'training',  -- one of JOB_KINDS
    spec TEXT NOT NULL,                     -- TrainSpec.to_dict() as JSON (an experiment: its name and settings)
    dataset TEXT NOT NULL,
    dataset_owner TEXT,                     -- the imported dataset's owner when queued, or NULL (built-in, file)
    data_file TEXT,                         -- an in-memory dataset written for the worker, or NULL
    build TEXT,                             -- "module:function" building the model, or NULL
    resume_from TEXT,                       -- the job whose checkpoint this one goes on from, or NULL
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in JOB_STATES)})),
    progress TEXT NOT NULL,                 -- Progress as JSON (the live panel's numbers and curves)
    stop_requested INTEGER NOT NULL DEFAULT 0,
    run_id TEXT,
    test_accuracy REAL,
    error TEXT,                             -- for the student
    detail TEXT,                            -- for the server's log (a traceback)
    submitted REAL NOT NULL,
    started REAL,
    ended REAL,
    updated REAL NOT NULL,
    worker_pid INTEGER,
    worker_token TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    job_id TEXT NOT NULL,
    kind TEXT NOT NULL,                     -- queued, started, ended
    state TEXT NOT NULL,
    running INTEGER NOT NULL,               -- jobs running just after this event
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


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
    owner: str = ""
    owner_name: str = ""
    dataset: str = ""
    started: float | None = None
    ended: float | None = None
    worker_pid: int | None = None
    stop_requested: bool = False
    kind: str = "training"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True)
class ClaimedJob:
    """A job a worker took: what it needs to train it (``spec`` for a training, ``task`` for an experiment)."""

    job_id: str
    spec: TrainSpec | None
    dataset: str
    data_file: str | None
    build: str | None
    label: str
    resume_from: str | None = None
    owner: str = ""
    owner_name: str = ""
    kind: str = "training"
    task: dict | None = None
    dataset_owner: str | None = None


def table_path() -> Path:
    return storage.jobs_table_path()


def workers_dir() -> Path:
    return storage.home() / "jobs" / "workers"


data_files_dir = jobfiles.data_files_dir


def worker_lock_path(token: str) -> Path:
    return workers_dir() / f"{token}.lock"


def worker_alive(token: str | None) -> bool:
    """Whether the worker ``token`` still holds its lock (False for None or a missing lock file).

    A lock file this user may not open (a worker once run as root, killed before it removed its file) cannot tell:
    then its process, by the pid its token starts with, is asked.
    """
    if not token:
        return False
    path = worker_lock_path(token)
    if not path.exists():
        return False
    if storage.lock_refused(path) is not None:
        return _process_alive(token.partition("-")[0])
    with storage.exclusive_lock_if_free(path) as free:
        return not free


def _process_alive(pid: str) -> bool:
    """Whether process ``pid`` (text, from a worker's token) exists; True when unsure (not a pid we can ask about)."""
    if not pid.isdigit() or int(pid) <= 0:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: another user's process, alive
        return True
    return True


def _worker_alive(token: str | None, updated: float) -> bool:
    """Local workers by their lock, remote ones by their heartbeat."""
    if token and token.startswith(REMOTE_TOKEN_PREFIX):
        return time.time() - updated < HEARTBEAT_TIMEOUT_S
    return worker_alive(token)


def progress_to_json(progress: Progress) -> str:
    return json.dumps(dataclasses.asdict(progress))


def progress_from_json(text: str) -> Progress:
    fields = {f.name for f in dataclasses.fields(Progress)}
    return Progress(**{k: v for k, v in json.loads(text).items() if k in fields})


def _write_refused(path: Path) -> OSError | None:
    """The OSError for a table file (or its folder, where sqlite makes its side files) that this process may not
    write; None when both are writable."""
    for target in (path.parent, path):
        if target.exists() and not os.access(target, os.W_OK):
            code = errno.EROFS if _on_read_only_disk(target) else errno.EACCES
            return OSError(code, os.strerror(code), str(target))
    return None


def _on_read_only_disk(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class JobTable:
    """The job table of one ``CNNVIZ_HOME`` (the current one unless ``path`` is given).

    Every method opens its own connection: safe from any thread or process.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else table_path()
        try:
            storage.ensure_dir(self.path.parent)
        except OSError as err:  # a CNNVIZ_HOME that cannot be made (permission, read-only disk): in words
            raise storage.disk_failure(err, "open the training queue") or err from None
        try:
            self._create()
        except (sqlite3.OperationalError, storage.DatabaseUnusable):  # e.g. "unable to open database file"
            refused = _write_refused(self.path)  # a home this user may not write (another user's, a read-only disk)
            if refused is None:
                raise
            raise storage.disk_failure(refused, "open the training queue") from None

    def _create(self) -> None:
        """Make the table, or bring an older one up to :data:`SCHEMA_VERSION`."""
        with self._connect() as db:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
            with _transaction(db):
                columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
                # Also a table stamped current that lacks a column: the first version-1 table had no resume_from,
                # and the upgrade to version 4 that looked only at the version-2..4 columns stamped it 4 without it.
                if (db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION
                        or not set(_ADDED_COLUMNS) <= columns):
                    for statement in _SCHEMA.split(";"):  # executescript would commit the transaction
                        if statement.strip():
                            db.execute(statement)
                    columns = {r["name"] for r in db.execute("PRAGMA table_info(jobs)")}
                    for name, kind in _ADDED_COLUMNS.items():  # an older table: its jobs keep their rows
                        if name not in columns:
                            db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection; a table that is damaged, locked for long, not a file or a newer cnnviz's raises a CnnvizError
        naming it."""
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            try:
                db.row_factory = sqlite3.Row
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:  # a newer cnnviz's table (the teacher went back to an older checkout)
                    raise storage.newer_database(self.path, "open the training queue", found=version,
                                                 known=SCHEMA_VERSION, afresh=AFRESH)
                db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable against a crashed process
                yield db
            finally:
                db.close()
        except sqlite3.Error as err:
            raise storage.database_failure(err, self.path, "open the training queue", waited_s=BUSY_TIMEOUT_S,
                                           afresh=AFRESH) or err

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db, _transaction(db):
            yield db

    # -- the cap ---------------------------------------------------------------------------
    def max_jobs(self, default: int = 1) -> int:
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'max_jobs'").fetchone()
        return int(row[0]) if row else default

    def set_max_jobs(self, max_jobs: int) -> None:
        if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
            raise InvalidArgument(f"the cap on concurrent training jobs must be ≥ 1, got {max_jobs!r}")
        with self._write() as db:
            db.execute("INSERT INTO settings (key, value) VALUES ('max_jobs', ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(max_jobs),))

    # -- submitting, stopping, reading -------------------------------------------------------
    def submit(self, spec: TrainSpec | dict, *, owner: str, label: str, dataset: str | None = None,
               data_file: str | None = None, build: str | None = None, job_id: str | None = None,
               resume_from: str | None = None, owner_name: str | None = None, kind: str = "training",
               dataset_owner: str | None = None, refuse: Callable[[list[ClaimedJob]], None] | None = None) -> str:
        """Queue a job at the end of the queue; returns its id.

        ``owner`` is the owner's user id, ``owner_name`` their display name (default: the user id).
        ``kind`` "experiment": ``spec`` is a JSON-ready dict (its name and settings) and ``dataset`` is given.
        ``dataset_owner``: the user id of whoever imported ``dataset`` now (the worker checks it still is).
        ``resume_from``: a job at most one queued or running job goes on from (InvalidArgument for a second).
        ``refuse``: called inside the write transaction with the owner's queued and running jobs; what it
        raises refuses the job and nothing is written (two tabs submitting at once see each other's job).
        """
        if kind not in JOB_KINDS:
            raise InvalidArgument(f"a job's kind is one of {', '.join(JOB_KINDS)}, got {kind!r}")
        if kind == "training":
            spec.validate()
            spec_text, dataset, first = json.dumps(spec.to_dict()), dataset or spec.dataset, Progress(epochs=spec.epochs)
        elif not isinstance(spec, dict) or not dataset:
            raise InvalidArgument(f"an experiment job needs its settings as a dict and a dataset, got {spec!r} "
                                  f"and {dataset!r}")
        else:
            spec_text, first = json.dumps(spec), Progress()
        if not isinstance(owner, str) or not owner:
            raise InvalidArgument(f"a job needs an owner, got {owner!r}")
        if owner_name is not None and not isinstance(owner_name, str):
            raise InvalidArgument(f"a job owner's name is text, got {owner_name!r}")
        owner_name = owner_name or owner
        job_id = job_id or secrets.token_hex(8)
        now = time.time()
        with self._write() as db:
            if refuse is not None:
                refuse([_claimed(row) for row in db.execute(
                    "SELECT * FROM jobs WHERE owner = ? AND state IN ('queued', 'running') ORDER BY seq", (owner,))])
            if resume_from is not None:  # one copy per checkpoint: the first to end removes it
                row = db.execute("SELECT job_id FROM jobs WHERE resume_from = ? AND state IN ('queued', 'running')",
                                 (resume_from,)).fetchone()
                if row is not None:
                    raise InvalidArgument(f"job {resume_from} is being resumed already by job {row['job_id']}, which "
                                          "is still queued or running")
            db.execute(
                "INSERT INTO jobs (job_id, owner, owner_name, label, kind, spec, dataset, dataset_owner, data_file, "
                "build, resume_from, state, progress, submitted, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                (job_id, owner, owner_name, label, kind, spec_text, dataset, dataset_owner, data_file,
                 build, resume_from, progress_to_json(first), now, now))
            self._event(db, job_id, "queued", "queued")
            self._prune(db)
        return job_id

    def status(self, job_id: str) -> JobStatus | None:
        """A snapshot of the job, or None for an unknown id."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            place = 0
            if row["state"] == "queued":
                place = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq <= ?",
                                   (row["seq"],)).fetchone()[0]
        return _status(row, place)

    def jobs(self, states: tuple[str, ...] = ACTIVE_STATES) -> list[JobStatus]:
        """Jobs in ``states``, in queue order (queued ones numbered 1, 2, ...)."""
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE state IN ({', '.join('?' * len(states))}) ORDER BY seq",
                              states).fetchall()
        place, out = 0, []
        for row in rows:
            place += row["state"] == "queued"
            out.append(_status(row, place if row["state"] == "queued" else 0))
        return out

    def detail(self, job_id: str) -> str | None:
        """The server-only detail of a failed job (a traceback), never shown to students."""
        with self._connect() as db:
            row = db.execute("SELECT detail FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else row[0]

    def stop(self, job_id: str) -> str | None:
        """Drop a queued job ("cancelled"), ask a running one to stop within a batch; an ended job
        is left as it is. Returns the job's state after the request (None: unknown id)."""
        with self._write() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            now = time.time()
            if row["state"] == "queued":
                progress = progress_to_json(dataclasses.replace(self._progress(db, job_id), phase="done"))
                db.execute("UPDATE jobs SET state = 'cancelled', stop_requested = 1, ended = ?, updated = ?, "
                           "progress = ? WHERE job_id = ?", (now, now, progress, job_id))
                self._event(db, job_id, "ended", "cancelled")
                jobfiles.job_ended(db, row)  # the images written for it when it was queued
                return "cancelled"
            if row["state"] == "running":
                db.execute("UPDATE jobs SET stop_requested = 1, updated = ? WHERE job_id = ?", (now, job_id))
            return row["state"]

    def events(self) -> list[dict]:
        """The queued/started/ended events, oldest first (the record of the cap)."""
        with self._connect() as db:
            return [dict(r) for r in db.execute("SELECT * FROM events ORDER BY seq")]

    # -- the workers' side -------------------------------------------------------------------
    def claim(self, *, token: str, pid: int, max_jobs: int | None = None) -> ClaimedJob | None:
        """Take the first queued job if fewer than the cap run (one transaction), or None."""
        with self._write() as db:
            cap = max_jobs if max_jobs is not None else self._cap(db)
            running = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
            if running >= cap:
                return None
            row = db.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            now = time.time()
            db.execute("UPDATE jobs SET state = 'running', started = ?, updated = ?, worker_pid = ?, "
                       "worker_token = ? WHERE job_id = ?", (now, now, pid, token, row["job_id"]))
            self._event(db, row["job_id"], "started", "running")
        return _claimed(row)

    def claim_job(self, job_id: str, *, token: str, pid: int) -> ClaimedJob | None:
        """Take job ``job_id`` if it is still queued and fewer than the cap run (one transaction), or None:
        of several workers handed the same job (two dispatchers), exactly one gets it."""
        with self._write() as db:
            running = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
            row = db.execute("SELECT * FROM jobs WHERE job_id = ? AND state = 'queued'", (job_id,)).fetchone()
            if row is None or running >= self._cap(db):
                return None
            now = time.time()
            db.execute("UPDATE jobs SET state = 'running', started = ?, updated = ?, worker_pid = ?, "
                       "worker_token = ? WHERE job_id = ?", (now, now, pid, token, job_id))
            self._event(db, job_id, "started", "running")
        return _claimed(row)

    def heartbeat(self, job_id: str, token: str) -> None:
        """A remote worker's sign of life for its running job (see :data:`HEARTBEAT_TIMEOUT_S`)."""
        with self._write() as db:
            db.execute("UPDATE jobs SET updated = ? WHERE job_id = ? AND state = 'running' AND worker_token = ?",
                       (time.time(), job_id, token))

    def end_if_running(self, job_id: str, token: str, *, state: str = "failed", message: str = DIED_MESSAGE) -> bool:
        """End job ``job_id`` (default: "failed", its worker died) if worker ``token`` still has it running."""
        with self._write() as db:
            row = db.execute("SELECT 1 FROM jobs WHERE job_id = ? AND state = 'running' AND worker_token = ?",
                             (job_id, token)).fetchone()
            if row is not None:
                self._end(db, job_id, state=state, error=message)
                jobfiles.job_ended(db, self._row(db, job_id))
        return row is not None

    def record(self, job_id: str) -> ClaimedJob | None:
        """What job ``job_id`` trains (its spec, data and build), e.g. to resume it; None for an unknown id."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _claimed(row)

    def publish(self, job_id: str, progress: Progress) -> bool:
        """Write a running job's progress; returns whether a stop was requested."""
        with self._write() as db:
            db.execute("UPDATE jobs SET progress = ?, updated = ? WHERE job_id = ? AND state = 'running'",
                       (progress_to_json(progress), time.time(), job_id))
            row = db.execute("SELECT stop_requested FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def stop_requested(self, job_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def finish(self, job_id: str, *, state: str, run_id: str | None = None, test_accuracy: float | None = None,
               error: str | None = None, detail: str | None = None) -> None:
        """End a running job (its progress phase becomes "done")."""
        if state not in ENDED_STATES:
            raise InvalidArgument(f"a job ends as one of {', '.join(ENDED_STATES)}, got {state!r}")
        with self._write() as db:
            self._end(db, job_id, state=state, run_id=run_id, test_accuracy=test_accuracy, error=error, detail=detail)
            jobfiles.job_ended(db, self._row(db, job_id), whole=state in ("finished", "stopped"))  # a run saved

    def reap(self, *, state: str = "failed", message: str = DIED_MESSAGE) -> list[str]:
        """End every running job whose worker is gone; returns their ids. A job whose run was saved before its
        worker died ends as that run did (a stopped run the student did not ask for: ``state``, with its run)."""
        with self._connect() as db:
            rows = db.execute("SELECT job_id, worker_token, updated FROM jobs WHERE state = 'running'").fetchall()
        dead = [r["job_id"] for r in rows if not _worker_alive(r["worker_token"], r["updated"])]
        ended = []
        for job_id in dead:
            saved = runs.job_run(job_id)  # read before the write lock: it reads every run
            with self._write() as db:  # re-checked inside the write lock: it may have ended meanwhile
                row = self._row(db, job_id)
                if row["state"] == "running" and not _worker_alive(row["worker_token"], row["updated"]):
                    end = {"state": state, "error": message}
                    if saved is not None:
                        whole = saved.status == "finished" or bool(row["stop_requested"])
                        end = {"state": "finished" if saved.status == "finished" else "stopped"} if whole else end
                        end.update(run_id=saved.run_id, test_accuracy=saved.test_accuracy)
                    self._end(db, job_id, **end)
                    jobfiles.job_ended(db, self._row(db, job_id), whole=end["state"] in ("finished", "stopped"))
                    ended.append(job_id)
        return ended

    def recover(self) -> list[str]:
        """At a server's start: running jobs whose worker is gone become "interrupted"."""
        return self.reap(state="interrupted", message=INTERRUPTED_MESSAGE)

    def remove_leftovers(self) -> list[Path]:
        """At a server's start: the files beside the table that no job may use (:func:`jobfiles.leftovers`)."""
        with self._write() as db:
            return jobfiles.leftovers(db)

    # -- internals --------------------------------------------------------------------------
    def _cap(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT value FROM settings WHERE key = 'max_jobs'").fetchone()
        return int(row[0]) if row else 1

    def _row(self, db: sqlite3.Connection, job_id: str) -> sqlite3.Row:
        return db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()

    def _progress(self, db: sqlite3.Connection, job_id: str) -> Progress:
        row = db.execute("SELECT progress FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return progress_from_json(row[0])

    def _end(self, db: sqlite3.Connection, job_id: str, *, state: str, run_id=None, test_accuracy=None,
             error=None, detail=None) -> None:
        now = time.time()
        progress = dataclasses.replace(self._progress(db, job_id), phase="done", eta_s=None)
        db.execute("UPDATE jobs SET state = ?, run_id = ?, test_accuracy = ?, error = ?, detail = ?, ended = ?, "
                   "updated = ?, progress = ? WHERE job_id = ?",
                   (state, run_id, test_accuracy, error, detail, now, now, progress_to_json(progress), job_id))
        self._event(db, job_id, "ended", state, run_id)

    def _event(self, db: sqlite3.Connection, job_id: str, kind: str, state: str, run_id: str | None = None) -> None:
        running = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0]
        waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetchone()[0]
        what = f"ended {state} (run {run_id})" if kind == "ended" else kind
        message = f"job {job_id} {what}: {running} of {self._cap(db)} training slots busy, {waiting} waiting"
        db.execute("INSERT INTO events (at, job_id, kind, state, running, message) VALUES (?, ?, ?, ?, ?, ?)",
                   (time.time(), job_id, kind, state, running, message))
        log.info("%s", message)

    def _prune(self, db: sqlite3.Connection) -> None:
        ended = f"state IN ({', '.join(repr(s) for s in ENDED_STATES)})"
        old = f"{ended} AND seq NOT IN (SELECT seq FROM jobs WHERE {ended} ORDER BY seq DESC LIMIT {MAX_ENDED_JOBS})"
        dropped = db.execute(f"SELECT * FROM jobs WHERE {old}").fetchall()  # not DELETE ... RETURNING: SQLite < 3.35
        db.execute(f"DELETE FROM jobs WHERE {old}")
        jobfiles.remove_unused(db, dropped)  # their data files and checkpoints: nobody can resume them now
        db.execute(f"DELETE FROM events WHERE seq <= (SELECT MAX(seq) FROM events) - {MAX_EVENTS}")


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock between readers
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _claimed(row: sqlite3.Row) -> ClaimedJob:
    training = row["kind"] == "training"
    spec = json.loads(row["spec"])
    return ClaimedJob(job_id=row["job_id"], spec=TrainSpec.from_dict(spec) if training else None,
                      dataset=row["dataset"], data_file=row["data_file"], build=row["build"], label=row["label"],
                      resume_from=row["resume_from"], owner=row["owner"], owner_name=row["owner_name"] or row["owner"],
                      kind=row["kind"], task=None if training else spec, dataset_owner=row["dataset_owner"])


def _status(row: sqlite3.Row, place: int) -> JobStatus:
    return JobStatus(
        job_id=row["job_id"], label=row["label"], state=row["state"], queue_position=place,
        progress=progress_from_json(row["progress"]), run_id=row["run_id"], test_accuracy=row["test_accuracy"],
        error=row["error"], submitted=row["submitted"], owner=row["owner"],
        owner_name=row["owner_name"] or row["owner"], dataset=row["dataset"],
        started=row["started"], ended=row["ended"], worker_pid=row["worker_pid"],
        stop_requested=bool(row["stop_requested"]), kind=row["kind"],
    )


def new_worker_token() -> str:
    return f"{os.getpid()}-{secrets.token_hex(6)}"
