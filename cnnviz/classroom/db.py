"""``CNNVIZ_HOME/class.sqlite3``: the roster, the class settings, who imported which dataset and the last minute's
wrong teacher passwords (WAL).

Every function opens its own connection, so any thread or process sharing ``CNNVIZ_HOME`` may call it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Iterator

from cnnviz import storage

BUSY_TIMEOUT_S = 30.0
SCHEMA_VERSION = 2  # 2: wrong_passwords
#: What a new class file in place of a damaged one loses (the person running the server reads it).
AFRESH = ("students choose a name again and get new keys (their earlier runs then only the teacher sees, and datasets "
          "they imported are offered to the whole class), and the class settings are reset; runs and datasets are kept")
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS students (key_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, "
    "display_name TEXT NOT NULL, created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shared_runs (run_id TEXT PRIMARY KEY, at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dataset_owners (name TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "owner_name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS wrong_passwords (at REAL NOT NULL)",
)


def path() -> Path:
    return storage.home() / "class.sqlite3"


def stamp() -> tuple:
    """What changes whenever the class file is written, read without opening it: the inode, size and time of change
    of the file and of its WAL (one ``stat`` each, no connection), for a cache of what the file says.

    A write lands in the WAL, or (the last connection closing) in the file itself: either changes. Two writes within
    one tick of the file system's clock that leave both sizes as they were look alike: a cache keyed by it is
    refreshed at the next write.
    """
    found, main = [], path()
    for file in (main, main.with_name(main.name + "-wal")):
        try:
            info = file.stat()
        except OSError:  # not there (no class yet, no WAL while nobody has it open)
            found.append(None)
            continue
        found.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)


@contextlib.contextmanager
def connect(*, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection to the class file (created with its tables on first use); ``write``: one transaction.

    A class file that is damaged, locked for long, not a file or a newer cnnviz's raises a CnnvizError naming it.
    """
    file = path()
    storage.ensure_dir(file.parent)
    try:
        with _connected(file, write=write) as db:
            yield db
    except sqlite3.Error as err:
        raise storage.database_failure(err, file, "open the class list", waited_s=BUSY_TIMEOUT_S, afresh=AFRESH) \
            or err


@contextlib.contextmanager
def _connected(file: Path, *, write: bool) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(file, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        db.row_factory = sqlite3.Row
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # a newer cnnviz's class file (the teacher went back to an older checkout)
            raise storage.newer_database(file, "open the class list", found=version, known=SCHEMA_VERSION,
                                         afresh=AFRESH)
        if version < SCHEMA_VERSION:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        db.execute("PRAGMA synchronous=NORMAL")
        if not write:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    finally:
        db.close()
