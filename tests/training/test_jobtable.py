"""The job table: one queue and one cap for every process sharing CNNVIZ_HOME (SQLite, WAL, transactions)."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import time

import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.training import jobtable
from cnnviz.training.callbacks import Progress
from cnnviz.training.jobtable import JobTable
from tests.support.specs import tiny_spec

SUBMITTERS, PER_SUBMITTER, CLAIMERS, CAP = 4, 8, 3, 2


def _submit_many(home: str, who: int, n: int, go) -> list[str]:
    os.environ["CNNVIZ_HOME"] = home
    table = JobTable()
    go.wait()
    return [table.submit(tiny_spec(seed=i), owner=f"student-{who}", label=f"{who}-{i}") for i in range(n)]


def _claim_until_done(home: str, total: int, go) -> list[str]:
    """A fake worker: claims jobs (never more than the cap running in all), holds each briefly, ends it."""
    os.environ["CNNVIZ_HOME"] = home
    table = JobTable()
    token = jobtable.new_worker_token()
    go.wait()
    took, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        job = table.claim(token=token, pid=os.getpid())
        if job is None:
            if len([e for e in table.events() if e["kind"] == "ended"]) >= total:
                return took
            time.sleep(0.005)
            continue
        took.append(job.job_id)
        time.sleep(0.01)
        table.finish(job.job_id, state="finished", run_id=f"run-{job.job_id}")
    return took


def test_submitters_and_workers_in_several_processes_keep_the_cap_and_every_job(cnnviz_home):
    table = JobTable()
    table.set_max_jobs(CAP)
    total = SUBMITTERS * PER_SUBMITTER
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as mp, ctx.Pool(SUBMITTERS + CLAIMERS) as pool:
        go = mp.Event()
        submitted = [pool.apply_async(_submit_many, (str(cnnviz_home), w, PER_SUBMITTER, go)) for w in range(SUBMITTERS)]
        claimed = [pool.apply_async(_claim_until_done, (str(cnnviz_home), total, go)) for _ in range(CLAIMERS)]
        time.sleep(1.0)  # every process is up and waiting: start them together
        go.set()
        ids = [i for r in submitted for i in r.get(timeout=180)]
        took = [i for r in claimed for i in r.get(timeout=180)]

    assert len(set(ids)) == total and sorted(took) == sorted(ids)  # none lost, none run twice
    events = table.events()
    assert max(e["running"] for e in events) <= CAP  # the cap held in all processes together
    assert max(e["running"] for e in events) == CAP  # ... and was used
    queued = [e["job_id"] for e in events if e["kind"] == "queued"]
    started = [e["job_id"] for e in events if e["kind"] == "started"]
    assert started == queued  # first in, first out across every submitter
    for who in range(SUBMITTERS):  # and each student's jobs in the order they sent them
        mine = [s.job_id for s in table.jobs(jobtable.ENDED_STATES) if s.owner == f"student-{who}"]
        assert [s.label for s in table.jobs(jobtable.ENDED_STATES) if s.job_id in mine] == [
            f"{who}-{i}" for i in range(PER_SUBMITTER)]
    assert {s.state for s in table.jobs(jobtable.JOB_STATES)} == {"finished"}


def test_queue_places_and_the_record_of_a_job(cnnviz_home):
    table = JobTable()
    table.set_max_jobs(1)
    a, b, c = (table.submit(tiny_spec(seed=s), owner="s1", label=f"job {s}") for s in range(3))
    assert [(s.job_id, s.state, s.queue_position) for s in table.jobs()] == [
        (a, "queued", 1), (b, "queued", 2), (c, "queued", 3)]
    first = table.claim(token="w1", pid=123)
    assert first.job_id == a and first.spec == tiny_spec(seed=0) and first.dataset == "digits"
    assert table.claim(token="w2", pid=124) is None  # cap 1: one at a time
    assert [table.status(j).queue_position for j in (a, b, c)] == [0, 1, 2]
    running = table.status(a)
    assert (running.state, running.worker_pid, running.owner, running.label) == ("running", 123, "s1", "job 0")
    assert running.started >= running.submitted and running.ended is None
    shown = Progress(phase="training", epoch=2, epochs=5, batch=3, batches=10, loss=0.5, accuracy=0.75,
                     images_per_s=1234.5, eta_s=12.0, curve={"x": [0.5, 1.0], "loss": [1.0, 0.8], "accuracy": [0.1, None]})
    assert table.publish(a, shown) is False
    assert table.status(a).progress == shown
    table.finish(a, state="finished", run_id="r1", test_accuracy=0.9)
    done = table.status(a)
    assert (done.state, done.run_id, done.test_accuracy, done.progress.phase) == ("finished", "r1", 0.9, "done")
    assert done.progress.loss == 0.5 and done.ended >= done.started
    assert table.status("nope") is None
    assert table.claim(token="w2", pid=124).job_id == b


def test_stop_before_start_during_and_after_the_end(cnnviz_home):
    table = JobTable()
    table.set_max_jobs(1)
    running, queued = table.submit(tiny_spec(), owner="s", label="r"), table.submit(tiny_spec(), owner="s", label="q")
    table.claim(token="w", pid=1)
    assert table.stop(queued) == "cancelled"  # before it started: dropped from the queue
    assert table.status(queued).state == "cancelled" and table.status(queued).progress.phase == "done"
    assert table.claim(token="w2", pid=2) is None  # ... and never started later
    assert table.stop_requested(running) is False
    assert table.stop(running) == "running"  # during: a request the worker reads after its next batch
    assert table.stop_requested(running) and table.publish(running, Progress(phase="training")) is True
    table.finish(running, state="stopped", run_id="r-stopped")
    assert table.stop(running) == "stopped"  # after the end: nothing changes
    assert (table.status(running).state, table.status(running).run_id) == ("stopped", "r-stopped")
    assert table.stop("unknown") is None


def test_a_running_job_whose_worker_is_gone_is_ended(cnnviz_home):
    from cnnviz import storage

    table = JobTable()
    table.set_max_jobs(2)
    alive, dead = (table.submit(tiny_spec(seed=s), owner="s", label="x") for s in range(2))
    storage.ensure_dir(jobtable.workers_dir())
    with storage.shared_lock(jobtable.worker_lock_path("live-token")):  # a worker holding its lock
        table.claim(token="live-token", pid=1)
        table.claim(token="gone-token", pid=2)  # no lock held: this worker died
        assert table.reap() == [dead]
        assert table.status(alive).state == "running"
    failed = table.status(dead)
    assert (failed.state, failed.error) == ("failed", "failed: the training process ended unexpectedly")
    assert table.recover() == [alive]  # a server started again after its worker went too
    assert (table.status(alive).state, table.status(alive).error) == ("interrupted", jobtable.INTERRUPTED_MESSAGE)


def test_the_table_is_sqlite_in_wal_mode_in_cnnviz_home(cnnviz_home):
    table = JobTable()
    assert table.path == cnnviz_home / "jobs.sqlite3"
    with sqlite3.connect(table.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with pytest.raises(InvalidArgument, match="must be ≥ 1, got 0"):
        table.set_max_jobs(0)
    with pytest.raises(InvalidArgument, match="epochs must be 1..1000, got 0"):
        table.submit(tiny_spec(epochs=0), owner="s", label="x")
    with pytest.raises(InvalidArgument, match="a job needs an owner, got ''"):
        table.submit(tiny_spec(), owner="", label="x")
    assert JobTable().jobs() == []  # opening it again keeps it


def test_a_table_a_newer_cnnviz_wrote_is_refused_naming_both_versions_and_left_as_it_is(cnnviz_home):
    # A newer checkout ran once, then the teacher went back: its table was read (and written) as if this code's.
    from cnnviz.storage import DatabaseUnusable

    table = JobTable()
    job_id = table.submit(tiny_spec(), owner="teacher", label="before")
    newer = jobtable.SCHEMA_VERSION + 1
    db = sqlite3.connect(table.path, isolation_level=None)
    db.execute(f"PRAGMA user_version = {newer}")
    db.close()
    said = (f"Could not open the training queue: {table.path} was written by a newer cnnviz (format version {newer}; "
            f"this cnnviz knows versions up to {jobtable.SCHEMA_VERSION}), so this one neither reads nor changes it. "
            "Whoever runs the server: run the newer cnnviz again")
    for use in (JobTable, lambda: table.status(job_id), lambda: table.stop(job_id)):  # a server starting, one running
        with pytest.raises(DatabaseUnusable) as refused:
            use()
        assert str(refused.value).startswith(said), str(refused.value)
    db = sqlite3.connect(table.path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == newer  # never "migrated" downwards
    assert db.execute("SELECT state, stop_requested FROM jobs").fetchall() == [("queued", 0)]
    db.close()


def test_a_dead_worker_whose_lock_file_this_user_may_not_open_is_found_dead_by_its_pid(cnnviz_home):
    # A worker once run as root, killed (SIGKILL, out of memory) before it removed its lock file: the server (another
    # user) could not open that file, took the worker for alive forever, and its job held a training slot for good.
    # A folder in the file's place stands for root's file here (these tests run as root, whom no file refuses).
    import subprocess
    import sys

    from cnnviz import storage

    table = JobTable()
    table.set_max_jobs(2)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a pid no process has now
    tokens = {"dead": f"{ended.pid}-0a1b2c", "alive": f"{os.getpid()}-3d4e5f"}
    jobs = {}
    for who, token in tokens.items():
        jobs[who] = table.submit(tiny_spec(), owner="teacher", label=who)
        assert table.claim(token=token, pid=int(token.split("-")[0])).job_id == jobs[who]
        storage.ensure_dir(jobtable.worker_lock_path(token))
    assert table.reap() == [jobs["dead"]]
    assert table.status(jobs["dead"]).state == "failed" and table.status(jobs["alive"]).state == "running"
