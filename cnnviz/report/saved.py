"""Each person's last lab report of each run, kept as a file so that a browser session holds only its name.

``CNNVIZ_HOME/reports/<run id>/<hash of the user id>.html``: one file per person and run, replaced (atomically)
when the report is made again, removed with the run (:func:`cnnviz.runs.store.delete_run`; a run deleted by hand:
the start-up clean-up, :func:`leftovers`). A report inlines
plotly.js (about 5 MB): kept in session state and again in the download button, thirty students' reports held
150-300 MB of the server's memory until their sessions ended.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import html
import shutil
import time
from pathlib import Path
from typing import Callable

from cnnviz import storage
from cnnviz.errors import InvalidArgument


def reports_dir() -> Path:
    return storage.home() / "reports"


def report_file(run_id: str, owner: str) -> Path:
    """Where ``owner``'s (a user id) report of run ``run_id`` is kept (it may not exist)."""
    if not isinstance(run_id, str) or not run_id or Path(run_id).name != run_id or run_id.startswith("."):
        raise InvalidArgument(f"a report belongs to a run id, got {run_id!r}")
    if not isinstance(owner, str) or not owner.strip():
        raise InvalidArgument(f"a report belongs to a user id, got {owner!r}")
    return reports_dir() / run_id / f"{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:32]}.html"


def save(run_id: str, owner: str, text: str) -> Path:
    """Keep ``text`` as ``owner``'s report of ``run_id`` (replacing the one made before); returns its path.

    Raises:
        SaveFailed: the disk refused the write (full, read-only, no permission), said in words.
    """
    path = report_file(run_id, owner)
    try:
        storage.atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as err:
        failure = storage.disk_failure(err, "save the lab report")
        if failure is None:
            raise
        raise failure from err
    return path


def download(run_id: str, owner: str) -> bytes:
    """What a click on the report's download button gives: the report ``owner`` made of ``run_id``, read now, or,
    when it is gone since the page offered it (the run was deleted, in another tab or by the teacher), a short HTML
    page that says so. Never raises for a missing or unreadable file: the click is answered inside Streamlit's
    download handler, where an error reaches the student only as "Failed to generate file for download"."""
    try:
        return report_file(run_id, owner).read_bytes()
    except FileNotFoundError:
        why = (f"the lab report of run {run_id} is no longer on the server: the run was deleted (or its report "
               "removed) after the page offered the download. Reload the Runs page: if the run is still listed, "
               "make its report again.")
    except OSError as err:
        why = (f"the lab report of run {run_id} could not be read ({err.strerror or err}). Reload the Runs page "
               "and make the report again; if that fails too, tell whoever runs the server.")
    return ("<!doctype html>\n<html lang=en><meta charset=utf-8><title>cnnviz: no lab report</title>"
            f"<p>Sorry: {html.escape(why)}</p></html>\n").encode("utf-8")


def made_at(path: Path) -> _dt.datetime | None:
    """When the report at ``path`` was made (local time), or None if there is none."""
    try:
        return _dt.datetime.fromtimestamp(path.stat().st_mtime)
    except FileNotFoundError:
        return None


def forget_run(run_id: str) -> None:
    """Remove everyone's reports of ``run_id`` (the run was deleted)."""
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(report_file(run_id, "anyone").parent)


def leftovers(gone: Callable[[str], bool], *, min_age_s: float) -> list[Path]:
    """Remove what outlived its run or its write: the reports of runs that are ``gone`` (deleted by hand, not through
    cnnviz) and temporaries of writes killed half-way, if older than ``min_age_s`` (a younger one may be another
    process's write in progress). Returns the paths removed.

    Args:
        gone: whether the run with this id (a folder's name under ``reports/``) is no longer in the store.
        min_age_s: the age in seconds below which a temporary is left alone.
    """
    root = reports_dir()
    if not root.is_dir():
        return []
    now, removed = time.time(), []
    for entry in root.iterdir():
        if entry.is_symlink() or not entry.is_dir():
            continue
        if gone(entry.name):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
            continue
        for inner in entry.iterdir():
            with contextlib.suppress(FileNotFoundError):  # replaced or removed meanwhile
                if (storage.TEMP_MARKER in inner.name and inner.is_file() and not inner.is_symlink()
                        and now - inner.lstat().st_mtime >= min_age_s):
                    inner.unlink()
                    removed.append(inner)
    return removed
