"""Training slots no worker can ever take: a slot's lock file (``jobs/workers/slot-N.lock``) this user may not open
(another user's, e.g. left by a server once run as root, or a folder in its place). The queue used to wait in
silence, the slot counted as a running worker; now the class, the teacher and the server's log are told why."""

from __future__ import annotations

import logging

import pytest

from cnnviz import cli, storage
from cnnviz.training import jobs as jobmanager
from cnnviz.training import worker
from tests.support.specs import tiny_spec


@pytest.fixture
def blocked_slot(cnnviz_home, monkeypatch):
    """Slot 0's lock file is a folder: as root (these tests' user) may open any file, it stands for another user's
    file too; both refuse the same way (EISDIR here, EACCES there). The log notes of earlier tests are forgotten."""
    monkeypatch.setattr(jobmanager, "_problems_logged", set(), raising=False)
    lock = worker.slot_lock_path(0)
    storage.ensure_dir(lock)
    return lock


def said_about(lock, *, of: int = 1) -> str:
    start = "No training can start" if of == 1 else f"Only {of - 1} of the {of} trainings at once can run"
    return (f"{start}: the user running cnnviz may not open the training slot lock file {lock} (Is a directory). "
            "Whoever runs the server: delete it (left by another user, e.g. a server once run as root, or a folder "
            "in its place); the waiting trainings then start.")


def test_a_slot_nobody_may_lock_is_said_in_words_and_logged_once(blocked_slot, caplog):
    manager = jobmanager.JobManager(max_jobs=1)  # its one slot is the blocked one: no worker can start here
    with caplog.at_level(logging.WARNING, logger="cnnviz.training.jobs"):
        manager.submit(tiny_spec())
        manager.ensure_workers()
        manager.ensure_workers()
    assert manager.worker_pids() == [] and manager.status(manager.active_jobs()[0].job_id).state == "queued"
    assert manager.slot_problem() == said_about(blocked_slot)
    logged = [r.getMessage() for r in caplog.records
              if r.name == "cnnviz.training.jobs" and r.levelno >= logging.WARNING]
    assert logged == [said_about(blocked_slot)]  # once, however often the queue is looked at
    assert jobmanager.workers_running() == 0  # the folder is nobody's worker: `cnnviz train` says nothing trains
    assert jobmanager.slot_problem(2) == said_about(blocked_slot, of=2)  # the other slot still trains
    blocked_slot.rmdir()
    assert manager.slot_problem() is None and storage.lock_refused(blocked_slot) is None
    assert not blocked_slot.exists()  # looking created nothing (a check run as root must leave no root file)


def test_cnnviz_jobs_tells_the_teacher_why_nothing_trains(blocked_slot, capsys):
    job_id = jobmanager.JobManager(workers=False).submit(tiny_spec())
    assert cli.main(["jobs"]) == 0
    out = capsys.readouterr()
    assert job_id in out.out and out.err == f"note: {said_about(blocked_slot)}\n", out.err
    assert cli.main(["jobs", "--json"]) == 0  # the JSON stays JSON: the note goes to stderr
    assert capsys.readouterr().err == f"note: {said_about(blocked_slot)}\n"


def test_a_file_where_the_workers_folder_goes_is_said_and_a_training_is_still_queued(cnnviz_home, monkeypatch):
    # jobs/workers a file (a copy gone wrong): every Train press and every panel refresh raised NotADirectoryError
    # (after the job was queued: the student was told it failed, and their second press was refused).
    monkeypatch.setattr(jobmanager, "_problems_logged", set(), raising=False)
    blocker = worker.slot_lock_path(0).parent
    storage.ensure_dir(blocker.parent)
    blocker.write_text("not a folder")
    manager = jobmanager.JobManager(max_jobs=1)
    job_id = manager.submit(tiny_spec())
    assert manager.status(job_id).state == "queued" and manager.worker_pids() == []
    assert manager.slot_problem() == (
        f"No training can start: a file stands where cnnviz keeps a folder ({blocker}). Whoever runs the server: "
        "move that file out of the way (cnnviz did not make it); the waiting trainings then start.")
    assert jobmanager.workers_running() == 0


def test_a_slot_lock_held_now_by_another_users_live_worker_is_in_use_not_in_the_way(blocked_slot):
    # A root-run `cnnviz jobs work` training in slot 0 right now: its file refuses this user too, but a worker holds
    # it, so trainings do run; "No training can start ... delete it" would be false (and deleting it would let a
    # second worker into the slot). flock needs no write access: a read-only descriptor stands for that worker's.
    import fcntl
    import os

    held = os.open(blocked_slot, os.O_RDONLY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert jobmanager.slot_problem(1) is None
        assert jobmanager.slot_problem(2) is None and jobmanager.workers_running() == 1
    finally:
        os.close(held)
    assert jobmanager.slot_problem(1) == said_about(blocked_slot)  # its worker gone: in the way for good
