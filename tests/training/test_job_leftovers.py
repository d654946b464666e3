"""What ended jobs leave behind in CNNVIZ_HOME over a term, and the job table's ends (no worker process: the
table and the worker's functions are called directly)."""

from __future__ import annotations

import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.training import jobs as jobmanager


@pytest.mark.parametrize("value", ["65", "1000000"])
def test_a_cap_above_what_the_class_page_accepts_is_refused_in_the_same_words(monkeypatch, value):
    # CNNVIZ_MAX_TRAINING_JOBS=1000000 was taken: a manager tried to start a million workers.
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, value)
    with pytest.raises(InvalidArgument, match=f"CNNVIZ_MAX_TRAINING_JOBS must be a whole number ≤ 64, got '{value}'"):
        jobmanager.default_max_jobs()
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, str(jobmanager.MAX_JOBS_LIMIT))
    assert jobmanager.default_max_jobs() == jobmanager.MAX_JOBS_LIMIT


class _Worker:
    """A stand-in for a worker process the manager started (alive until terminated)."""

    def __init__(self) -> None:
        self.alive, self.pid = True, 0

    def is_alive(self) -> bool:
        return self.alive

    def terminate(self) -> None:
        self.alive = False

    def join(self, timeout=None) -> None:
        pass


def test_a_manager_closing_on_a_damaged_table_ends_its_workers_and_does_not_raise(cnnviz_home, caplog):
    # A server shutting down after its jobs.sqlite3 was damaged raised DatabaseUnusable from close().
    manager = jobmanager.JobManager(max_jobs=1, workers=False)
    worker = _Worker()
    manager._workers[0] = worker
    for side in ("", "-wal", "-shm"):
        (cnnviz_home / f"jobs.sqlite3{side}").unlink(missing_ok=True)
    (cnnviz_home / "jobs.sqlite3").write_bytes(b"not a database" * 100)
    manager.close(grace_s=0)
    assert not worker.alive and manager.worker_pids() == []
    assert "their jobs were not marked interrupted" in caplog.text and "jobs.sqlite3" in caplog.text
