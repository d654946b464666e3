"""What a job keeps on disk beside its row in the job table, and when it goes.

A job may have a data file (``jobs/data/<job>.npz``: the images of a dataset that is not stored under its name,
written when it is queued; a resumed job trains on its original's) and a checkpoint
(``jobs/checkpoints/<job>/``, :mod:`cnnviz.training.checkpoint`). Both stay while a job in the table may still
use them: a queued or running job's own and the checkpoint it resumes from, a failed or interrupted job's while
its checkpoint is there (it may be resumed). Everything else goes: when a queued job is cancelled, when a job
ends with nothing to resume, when the table drops old ended jobs, and at a server's start what killed processes
left (:func:`leftovers`). The functions here take the table's connection: the callers hold its write lock, so
no job starts using a file between the look and the removal.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Iterable

from cnnviz import storage
from cnnviz.training import checkpoint

#: Ended jobs that may be resumed from their checkpoint (jobs.JobManager.resumable).
RESUMABLE_STATES = ("failed", "interrupted")


def data_files_dir() -> Path:
    return storage.home() / "jobs" / "data"


def in_use(db: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """``(names of data files, job ids whose checkpoint)`` some job of the table may still use (by name: a data file
    is named after the job that wrote it, and the path recorded may name a ``CNNVIZ_HOME`` moved since)."""
    data: set[str] = set()
    points: set[str] = set()
    for row in db.execute("SELECT job_id, state, data_file, resume_from FROM jobs WHERE state IN "
                          "('queued', 'running', 'failed', 'interrupted')"):
        if row["state"] in RESUMABLE_STATES and not _has_checkpoint(row["job_id"]):
            continue  # nothing to resume: its files are of no use
        data.add(Path(row["data_file"]).name if row["data_file"] else None)
        points.add(row["job_id"])
        if row["state"] not in RESUMABLE_STATES and row["resume_from"]:
            points.add(row["resume_from"])
    return data - {None}, points


def job_ended(db: sqlite3.Connection, row: sqlite3.Row, *, whole: bool = False) -> list[Path]:
    """After job ``row`` ended (or was cancelled), remove what of it no job may use any more. ``whole``: its run is
    saved, so nothing of it, nor of the job it resumed, is left to resume: both checkpoints go."""
    rows = [row]
    if whole:
        for job_id in filter(None, (row["job_id"], row["resume_from"])):
            checkpoint.remove(checkpoint.folder_for(job_id))
        origin = db.execute("SELECT * FROM jobs WHERE job_id = ?", (row["resume_from"],)).fetchone()
        rows += [origin] if origin is not None else []
    return remove_unused(db, rows)


def remove_unused(db: sqlite3.Connection, rows: Iterable[sqlite3.Row]) -> list[Path]:
    """Remove the data files and checkpoints of ``rows`` (jobs just ended or dropped) that no job in the table may
    still use; returns what was removed."""
    data, points = in_use(db)
    removed: list[Path] = []
    for row in rows:
        path = Path(row["data_file"]) if row["data_file"] else None
        if path is not None and path.name not in data and _inside(path, data_files_dir()):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(row["data_file"])
                removed.append(Path(row["data_file"]))
        folder = checkpoint.folder_for(row["job_id"])
        if row["job_id"] not in points and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def leftovers(db: sqlite3.Connection, *, min_age_s: float = storage.LEFTOVER_MIN_AGE_S) -> list[Path]:
    """At a server's start: remove data files and checkpoints no job in the table may use (their jobs were dropped
    or ended while a process was killed), temporaries of writes killed half-way, the results of experiments no
    longer listed, and the lock files of workers that were killed; each only when ``min_age_s`` old (a job being queued writes its data file before its row).
    Returns what was removed."""
    data, points = in_use(db)
    now, removed = time.time(), []

    def old(path: Path) -> bool:
        with contextlib.suppress(OSError):
            return now - path.lstat().st_mtime >= min_age_s
        return False

    folder = data_files_dir()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink() and path.name not in data and old(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    folder = checkpoint.checkpoints_dir()
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_symlink() or not path.is_dir():
            continue
        if path.name not in points and old(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            continue
        for inner in path.iterdir():  # a worker killed while it saved this checkpoint
            if storage.TEMP_MARKER in inner.name and inner.is_file() and old(inner):
                inner.unlink(missing_ok=True)
                removed.append(inner)
    folder = storage.home() / "jobs" / "results"  # experiments' results (cnnviz.training.experiment_jobs)
    listed = {row[0] for row in db.execute("SELECT job_id FROM jobs")}
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink() and old(path) and (
                storage.TEMP_MARKER in path.name or (path.suffix == ".json" and path.stem not in listed)):
            path.unlink(missing_ok=True)
            removed.append(path)
    folder = storage.home() / "jobs" / "workers"
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        if not path.name.startswith("slot-") and path.is_file() and old(path) and storage.lock_refused(path) is None:
            with storage.exclusive_lock_if_free(path) as free:  # a live worker holds its own for its whole life
                if free:
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def _has_checkpoint(job_id: str) -> bool:
    return (checkpoint.folder_for(job_id) / checkpoint.STATE_FILE).is_file()


def _inside(path: Path, folder: Path) -> bool:
    """Only files cnnviz wrote for a job are removed (a data file recorded elsewhere is left alone)."""
    return path.parent.resolve() == folder.resolve()
