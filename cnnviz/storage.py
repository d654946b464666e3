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
import os
import tempfile
from pathlib import Path
from typing import Iterator


TEMP_MARKER = ".tmp-"


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


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
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


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` resolves to somewhere inside ``folder`` (no ``..`` escapes, no symlink tricks)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return os.path.commonpath([path, folder]) == str(folder)
