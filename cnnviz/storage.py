"""Where cnnviz keeps files, and crash-safe writes.

Everything lives under ``CNNVIZ_HOME`` (default ``~/.cnnviz``): ``data/`` for datasets,
``runs/`` for trained runs, ``weights/`` for pretrained weights. Writes go to a temporary
file in the same folder, are flushed and fsynced, then moved into place with
``os.replace`` so a crash never leaves a half-written file at a final name (the pattern
of pip's ``filesystem.py`` and Jupyter's ``atomic_writing``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Callable, Iterator

from cnnviz.errors import CnnvizError


TEMP_MARKER = ".tmp-"
#: Leftovers younger than this may be a live writer's work in progress (another process saving
#: while the app starts): cleanup keeps them while some process holds a writers' lock (judgement).
LEFTOVER_MIN_AGE_S = 15 * 60


def home() -> Path:
    """Return the cnnviz home folder (``$CNNVIZ_HOME`` or ``~/.cnnviz``), not created."""
    env = os.environ.get("CNNVIZ_HOME", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cnnviz"


def data_dir() -> Path:
    return home() / "data"


def runs_dir() -> Path:
    return home() / "runs"


def weights_dir() -> Path:
    return home() / "weights"


def jobs_table_path() -> Path:
    """The job table (:mod:`cnnviz.training.jobtable`); here so that asking whether it exists imports no numpy."""
    return home() / "jobs.sqlite3"


def ensure_dir(path: Path) -> Path:
    """Make folder ``path`` and those above it; a file standing where one of them goes raises NotADirectoryError
    naming that file (not FileExistsError, which callers reserving names by ``O_EXCL`` take for a name taken)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:  # with exist_ok: something that is not a folder is there
        blocker = next((p for p in (path, *path.parents) if os.path.lexists(p) and not p.is_dir()), path)
        raise NotADirectoryError(errno.ENOTDIR, "a file stands where a folder goes", str(blocker)) from err
    return path


#: errno values that mean "this filesystem/OS cannot fsync a folder", not "the write failed".
_FSYNC_DIR_UNSUPPORTED = frozenset(
    {errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF, errno.EACCES, errno.EPERM, errno.EISDIR}
)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entry table so a rename inside it survives a power cut.

    Ignored where folders cannot be fsynced; a real failure (ENOSPC, EIO) is raised, because
    the rename it should make durable may then be lost (an fsync error must not pass silently).
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        if err.errno in _FSYNC_DIR_UNSUPPORTED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in _FSYNC_DIR_UNSUPPORTED:
            raise
    finally:
        os.close(fd)


def temp_path_for(final: Path, suffix: str = "") -> Path:
    """A unique temporary name next to ``final`` that cleanup can recognise."""
    fd, name = tempfile.mkstemp(
        prefix=f"{final.name}{TEMP_MARKER}{os.getpid()}-", suffix=suffix, dir=final.parent
    )
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path; on success fsync it and move it to ``final``.

    On any exception the temporary file is removed and ``final`` is untouched.
    ``suffix`` keeps an extension some writers insist on (Keras wants ``.keras``).
    """
    final = Path(final)
    ensure_dir(final.parent)
    tmp = temp_path_for(final, suffix)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(final: Path, data: bytes) -> None:
    """Write ``data`` to ``final`` crash-safely."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete leftover temporary files (from a crash) below ``folder``; return them."""
    removed = []
    if not folder.exists():
        return removed
    for path in folder.rglob(f"*{TEMP_MARKER}*"):
        if path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


class Once:
    """A start-up cleanup that runs the first time it is asked for in a process, then never again.

    The run store and the data folder each keep one: their first listing removes what crashed
    writes left behind. Tests model a fresh process by setting :attr:`done` back to False.

    Args:
        log: the logger that reports what the cleanup removed, or why it failed (the folder's own).
        what: the cleanup in words, for a failure (e.g. ``"run store cleanup"``).
    """

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log, self.what = log, what
        self.done = False
        self._lock = threading.Lock()

    def run(self, cleanup: Callable[[], list[Path]]) -> None:
        """Call ``cleanup`` unless it was called before in this process (by any thread); log each path it
        returns (what it removed).

        An OSError is logged, not raised: a read-only or odd folder must not stop the app.
        """
        with self._lock:
            if self.done:
                return
            self.done = True
        try:
            removed = cleanup()
        except OSError as err:
            self.log.warning("%s failed: %s", self.what, err)
            return
        for path in removed:
            self.log.info("removed leftover %s", path)


@contextlib.contextmanager
def shared_lock(path: Path) -> Iterator[bool]:
    """Hold a shared ``flock`` on ``path`` (created if missing) for the ``with`` block.

    Writers hold it while they write, so :func:`exclusive_lock_if_free` can tell whether
    anyone is writing now. The kernel drops the lock when its holder dies (even by SIGKILL),
    so a crashed writer never looks alive. Yields False where locking is not supported
    (no ``fcntl``, a filesystem without ``flock``): the block still runs.
    """
    fd = _locked_fd(path, shared=True)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the lock


@contextlib.contextmanager
def writing(lock_name: str) -> Iterator[None]:
    """Hold one kind of writers' :func:`shared_lock` (``CNNVIZ_HOME/lock_name``: data, weights) for the block, so that
    a cleanup (:func:`exclusive_lock_if_free`) leaves their temporary files alone."""
    with contextlib.suppress(OSError):  # a home the disk refuses: the write in the block says so, in words
        ensure_dir(home())
    with shared_lock(home() / lock_name):
        yield


@contextlib.contextmanager
def exclusive_lock_if_free(path: Path) -> Iterator[bool]:
    """Yield True while holding an exclusive ``flock`` on ``path`` if nobody holds a lock on it.

    Yields False at once (never waits) when someone holds :func:`shared_lock` on it, or when
    locking is not supported: the caller must then assume a writer may be at work.
    """
    fd = _locked_fd(path, shared=False)
    try:
        yield fd is not None
    finally:
        if fd is not None:
            os.close(fd)


def _locked_fd(path: Path, *, shared: bool) -> int | None:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by someone else (LOCK_NB), or flock not supported here
        os.close(fd)
        return None
    return fd


def lock_refused(path: Path) -> OSError | None:
    """The OSError that keeps this process from ever locking ``path`` (a file of another user's, e.g. left by a
    process once run as root; a folder in its place; a folder it may not write in; a file where one of its folders
    goes: NotADirectoryError naming that file); None when it can, held by someone else or not, and when a process
    holds a lock on it now (another user's live worker: it is in use, not in the way). Creates nothing: a check run
    as root must not leave a file only root may open.
    """
    if os.path.lexists(path):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as err:
            return None if _held_now(path) else err
        os.close(fd)
        return None
    folder = Path(path).parent
    blocker = next((p for p in (folder, *folder.parents) if os.path.lexists(p) and not p.is_dir()), None)
    if blocker is not None:
        return NotADirectoryError(errno.ENOTDIR, "a file stands where a folder goes", str(blocker))
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder))
    return None


def _held_now(path: Path) -> bool:
    """Whether some process holds a ``flock`` on ``path`` now, asked through a read-only descriptor (``flock`` needs
    no write access); False when it cannot be asked."""
    try:
        import fcntl

        fd = os.open(path, os.O_RDONLY)
    except (ImportError, OSError):
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # the lock taken to ask, if any, goes with it
    return False


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` resolves to somewhere inside ``folder`` (no ``..`` escapes, no symlink tricks)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return os.path.commonpath([path, folder]) == str(folder)


# --- a disk that refuses a write, in words ---------------------------------------------------
class SaveFailed(CnnvizError):
    """A write to ``CNNVIZ_HOME`` failed: the disk refused it (permission, read-only disk, I/O error)."""


class DiskFull(SaveFailed):
    """A write to ``CNNVIZ_HOME`` failed because the disk (or the user's quota) is full."""


_FREE_SOME = "Free some space or delete old runs on the Runs page."
#: Why a save failed, by errno, and what the person running the server can do about it.
_SAVE_FAILURES = {
    errno.ENOSPC: (DiskFull, "the disk is full", _FREE_SOME),
    errno.EDQUOT: (DiskFull, "the disk is full", _FREE_SOME),
    errno.EACCES: (SaveFailed, "cnnviz may not write to its folder (permission denied)",
                   "Whoever runs the server: give its user write access to that folder, or point "
                   "CNNVIZ_HOME to a folder it may write to."),
    errno.EPERM: (SaveFailed, "cnnviz may not write to its folder (operation not permitted)",
                  "Whoever runs the server: give its user write access to that folder, or point "
                  "CNNVIZ_HOME to a folder it may write to."),
    errno.EROFS: (SaveFailed, "the disk is read-only",
                  "Whoever runs the server: point CNNVIZ_HOME to a folder on a writable disk."),
    errno.EIO: (SaveFailed, "the disk reported an input/output error",
                "Whoever runs the server: check the disk; earlier runs were not changed."),
    errno.ENOTDIR: (SaveFailed, "a file stands where cnnviz keeps a folder",
                    "Whoever runs the server: move that file out of the way (cnnviz did not make it)."),
}


def disk_failure(err: BaseException, doing: str) -> SaveFailed | None:
    """The clear error for a write to ``CNNVIZ_HOME`` the disk refused, e.g. ``"Could not save the run: the
    disk is read-only (CNNVIZ_HOME=...). Whoever runs the server: ..."``; None when ``err`` is not one.

    Args:
        err: what the write raised (the OSError may be wrapped, e.g. by Keras or zipfile).
        doing: what failed, after "Could not" (e.g. ``"delete the run"``).
    """
    code = _os_errno(err)
    failure = _SAVE_FAILURES.get(code)
    if failure is None:
        return None
    kind, why, what_to_do = failure
    if code == errno.ENOTDIR:  # which file: the one in the way (storage.ensure_dir names it)
        why = f"{why} ({_os_error(err).filename})"
    return kind(f"Could not {doing}: {why} (CNNVIZ_HOME={home()}). {what_to_do}")


class DatabaseUnusable(CnnvizError):
    """One of cnnviz's SQLite files in ``CNNVIZ_HOME`` cannot be used: damaged, locked for long, not a file."""


#: Why an SQLite file could not be used, by SQLite's primary result code (``sqlite3.Error.sqlite_errorcode``).
_ERROR, _NOT_A_DATABASE, _CORRUPT, _BUSY, _LOCKED, _CANTOPEN = 1, 26, 11, 5, 6, 14
_DATABASE_FAILURES = {
    _NOT_A_DATABASE: "is damaged or not an SQLite database",
    _CORRUPT: "is damaged or not an SQLite database",
    _CANTOPEN: "cannot be opened (a folder in its place, or a file cnnviz may not read)",
}
_READONLY = 8  # the file may not be written: its owner or mode (a server once run as root), or a read-only disk
#: SQLite's codes for a disk that refuses (PERM, IOERR, FULL), as the errno a file write would get.
_DATABASE_DISK_ERRNO = {3: errno.EACCES, 10: errno.EIO, 13: errno.ENOSPC}


def database_failure(err: BaseException, path: Path, doing: str, *, waited_s: float,
                     afresh: str) -> CnnvizError | None:
    """The clear error for an SQLite file of ``CNNVIZ_HOME`` that cannot be used, naming the file, e.g. ``"Could not
    open the training queue: /home/t/.cnnviz/jobs.sqlite3 is damaged or not an SQLite database (file is not a
    database). Whoever runs the server: ..."``; None when ``err`` is not one (a bug: raise it as it is).

    Args:
        err: what :mod:`sqlite3` raised.
        path: the SQLite file.
        doing: what failed, after "Could not" (e.g. ``"open the training queue"``).
        waited_s: how long a connection waits for another's lock (its busy timeout).
        afresh: what starting with a new file instead of a damaged one loses, for the person running the server.
    """
    import sqlite3  # already imported by the caller: Home, which never opens a database, needs not

    if not isinstance(err, sqlite3.Error):
        return None
    code = (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (_BUSY, _LOCKED):
        return DatabaseUnusable(f"Could not {doing}: {path} is locked by another process (waited {waited_s:g} s; "
                                f"{err}). Try again in a moment; if it stays locked, whoever runs the server: end the "
                                "process holding it (an sqlite3 shell, a backup or copy in progress).")
    if code == _READONLY:
        return DatabaseUnusable(f"Could not {doing}: {path} may not be written by the user running cnnviz ({err}). "
                                "Whoever runs the server: give that user write access to the file and its folder "
                                "(made by another user, e.g. a server once run as root?), or point CNNVIZ_HOME to a "
                                "folder it may write to.")
    why = _DATABASE_FAILURES.get(code)
    if code == _ERROR and str(err).startswith("no such table"):  # emptied or replaced since it was opened
        why = _DATABASE_FAILURES[_CORRUPT]
    if why is not None:
        return DatabaseUnusable(f"Could not {doing}: {path} {why} ({err}). Whoever runs the "
                                "server: stop cnnviz, restore that file from a backup or move it aside, and start "
                                f"again (without it a new one is made: {afresh}).")
    if code in _DATABASE_DISK_ERRNO:  # the disk refused: the words of a refused write
        return disk_failure(OSError(_DATABASE_DISK_ERRNO[code], str(err)), doing)
    return None


def newer_database(path: Path, doing: str, *, found: int, known: int, afresh: str) -> DatabaseUnusable:
    """The refusal of an SQLite file of ``CNNVIZ_HOME`` that a newer cnnviz wrote: its ``PRAGMA user_version``
    ``found`` is above the ``known`` one this code reads and writes. Never read nor "migrated" downwards: its
    columns may mean what this code does not know.

    Args:
        path: the SQLite file.
        doing: what failed, after "Could not" (e.g. ``"open the training queue"``).
        found: the file's format version.
        known: the newest format version this code knows.
        afresh: what starting with a new file instead loses, for the person running the server.
    """
    return DatabaseUnusable(f"Could not {doing}: {path} was written by a newer cnnviz (format version {found}; this "
                            f"cnnviz knows versions up to {known}), so this one neither reads nor changes it. Whoever "
                            "runs the server: run the newer cnnviz again (e.g. check out or install it again), or stop "
                            f"cnnviz and move that file aside to start with a new one ({afresh}).")


def _os_errno(err: BaseException | None) -> int | None:
    """The errno of ``err`` or of the first OSError it was raised from (Keras/zipfile may wrap it)."""
    found = _os_error(err)
    return None if found is None else found.errno


def _os_error(err: BaseException | None) -> OSError | None:
    """``err`` or the first OSError it was raised from whose errno :data:`_SAVE_FAILURES` knows."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in _SAVE_FAILURES:
            return err
        err = err.__cause__ or err.__context__
    return None
