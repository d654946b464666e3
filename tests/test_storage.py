"""cnnviz.storage: the once-per-process start-up cleanup (the writes and locks are tested through their users)."""

from __future__ import annotations

import errno
import logging
import threading
from pathlib import Path

from cnnviz import storage

LOG = logging.getLogger("tests.storage")


def test_once_runs_the_cleanup_the_first_time_only_even_from_many_threads(caplog):
    once, calls = storage.Once(LOG, "test cleanup"), []
    threads = [threading.Thread(target=once.run, args=(lambda: calls.append(1) or [],)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    once.run(lambda: calls.append(2) or [])
    assert calls == [1] and once.done
    once.done = False  # a fresh process
    with caplog.at_level(logging.INFO, logger="tests.storage"):
        once.run(lambda: calls.append(3) or [Path("/home/runs/a.tmp-1-x")])
    assert calls == [1, 3]
    assert caplog.messages == ["removed leftover /home/runs/a.tmp-1-x"]


def test_once_logs_a_failed_cleanup_instead_of_raising(caplog):
    def refused():
        raise PermissionError(errno.EACCES, "Permission denied", "/read-only/runs")

    once = storage.Once(LOG, "run store cleanup")
    with caplog.at_level(logging.WARNING, logger="tests.storage"):
        once.run(refused)
    assert once.done
    assert caplog.messages == ["run store cleanup failed: [Errno 13] Permission denied: '/read-only/runs'"]


def test_a_database_this_user_may_not_write_is_named_not_called_a_read_only_disk(tmp_path):
    # jobs.sqlite3 left by a server once run as root: SQLite says SQLITE_READONLY, which is about the file (its
    # owner, its mode), not the disk; "point CNNVIZ_HOME to a writable disk" sent the teacher the wrong way.
    import sqlite3

    path = tmp_path / "jobs.sqlite3"
    sqlite3.connect(path).close()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # the same refusal a file of another user's gets
    try:
        db.execute("CREATE TABLE t (x)")
    except sqlite3.Error as err:
        failure = storage.database_failure(err, path, "open the training queue", waited_s=30, afresh="nothing lost")
    finally:
        db.close()
    assert str(failure).startswith(f"Could not open the training queue: {path} may not be written by the user "
                                   "running cnnviz"), failure
    assert "read-only disk" not in str(failure) and "writable disk" not in str(failure)
