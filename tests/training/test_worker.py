"""Warm workers: a worker killed with SIGKILL mid-epoch fails only its own job; a server killed and started
again finds its queue and the true state of its jobs; a server shutting down interrupts its jobs cleanly."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.runs import store as runs
from cnnviz.training import jobs as jobmanager
from cnnviz.training import jobtable, worker
from tests.conftest import REPO
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.crash]


def _hash_folder(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _training(jobs, job_id) -> bool:
    p = jobs.status(job_id).progress
    return p.phase == "training" and p.batch > 0


def test_a_worker_killed_mid_epoch_fails_its_job_and_the_queue_goes_on(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    earlier = jobs.wait(jobs.submit(tiny_spec(), build=tiny_build), timeout=180)
    assert earlier.state == "finished"
    before = _hash_folder(cnnviz_home / "runs")
    victim = jobs.submit(tiny_spec(epochs=1000), build=tiny_build)
    after = jobs.submit(tiny_spec(seed=1), build=tiny_build)
    assert wait_for(lambda: _training(jobs, victim))
    pid = jobs.status(victim).worker_pid
    assert pid == earlier.worker_pid != os.getpid()  # the same warm worker took the next job
    os.kill(pid, signal.SIGKILL)

    failed = jobs.wait(victim, timeout=60)
    assert (failed.state, failed.error, failed.run_id) == ("failed", jobtable.DIED_MESSAGE, None)
    assert failed.progress.phase == "done"
    done = jobs.wait(after, timeout=180)  # a new worker took the slot and the next job
    assert done.state == "finished" and done.worker_pid not in (pid, os.getpid())
    assert {r.run_id for r in runs.list_runs()} == {earlier.run_id, done.run_id}
    after_kill = _hash_folder(cnnviz_home / "runs")
    assert {k: v for k, v in after_kill.items() if k.startswith(earlier.run_id)} == before  # byte-identical


def test_a_worker_trains_at_a_lower_cpu_priority_than_the_server(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    job = jobs.submit(tiny_spec(epochs=1000), build=tiny_build)
    try:
        assert wait_for(lambda: _training(jobs, job))
        pid = jobs.status(job).worker_pid
        assert pid != os.getpid()
        assert os.getpriority(os.PRIO_PROCESS, pid) == min(os.getpriority(os.PRIO_PROCESS, 0) + worker.WORKER_NICE, 19)
    finally:
        jobs.stop(job)
        assert jobs.wait(job, timeout=60).state == "stopped"


_SERVER = """
import sys, time
from cnnviz.training import jobs
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec
manager = jobs.manager()
long_job = manager.submit(tiny_spec(epochs=1000), build=tiny_build, owner="student-a")
queued = manager.submit(tiny_spec(seed=1), build=tiny_build, owner="student-b")
print(long_job, queued, flush=True)
while True:
    manager.status(long_job)
    time.sleep(0.2)
"""


def _start_server(home: Path) -> tuple[subprocess.Popen, str, str]:
    env = {**os.environ, "CNNVIZ_HOME": str(home), "PYTHONPATH": str(REPO), jobmanager.MAX_JOBS_ENV: "1"}
    server = subprocess.Popen([sys.executable, "-c", _SERVER], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    long_job, queued = server.stdout.readline().split()
    return server, long_job, queued


def _worker_token(table: jobtable.JobTable, job_id: str) -> str:
    with sqlite3.connect(table.path) as db:
        return db.execute("SELECT worker_token FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]


def _end(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.kill()
        server.wait()
    server.stdout.close()


def test_a_server_killed_and_started_again_keeps_its_queue_and_tells_the_truth(cnnviz_home, monkeypatch):
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, "1")
    server, long_job, queued = _start_server(cnnviz_home)
    table = jobtable.JobTable()
    try:
        assert wait_for(lambda: table.status(long_job).progress.batch > 0)
        worker_pid = table.status(long_job).worker_pid
        assert worker_pid not in (server.pid, os.getpid())
        server.kill()  # kill -9 the server mid-training; its worker goes on alone
        server.wait()
        batches = table.status(long_job).progress.epoch
        assert wait_for(lambda: table.status(long_job).progress.epoch > batches)
        jobs = jobmanager.manager()  # the server starts again
        assert jobs.status(long_job).state == "running"  # still training in its worker: left alone
        assert (jobs.status(queued).state, jobs.status(queued).queue_position) == ("queued", 1)
        os.kill(worker_pid, signal.SIGKILL)  # now the worker goes too
        failed = jobs.wait(long_job, timeout=60)
        assert (failed.state, failed.error) == ("failed", jobtable.DIED_MESSAGE)
        done = jobs.wait(queued, timeout=180)  # the queue survived both
        assert done.state == "finished" and done.owner == "student-b"
        assert done.worker_pid not in (worker_pid, server.pid, os.getpid())
    finally:
        _end(server)


def test_a_job_whose_worker_vanished_while_no_server_ran_is_interrupted(cnnviz_home):
    server, long_job, queued = _start_server(cnnviz_home)
    table = jobtable.JobTable()
    try:
        assert wait_for(lambda: table.status(long_job).progress.batch > 0)
        worker_pid = table.status(long_job).worker_pid
        server.kill()
        os.kill(worker_pid, signal.SIGKILL)  # the whole machine went down
        server.wait()
        token = _worker_token(table, long_job)
        assert wait_for(lambda: not jobtable.worker_alive(token), timeout=60)  # every thread of it has ended
    finally:
        _end(server)
    assert table.status(long_job).state == "running"  # what the table says until someone looks
    jobs = jobmanager.manager()
    status = jobs.status(long_job)
    assert (status.state, status.error) == ("interrupted", jobtable.INTERRUPTED_MESSAGE)
    assert jobs.wait(queued, timeout=180).state == "finished"


def test_a_server_shutting_down_interrupts_its_jobs_and_keeps_what_they_learned(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    long_job = jobs.submit(tiny_spec(epochs=1000), build=tiny_build)
    assert wait_for(lambda: jobs.status(long_job).progress.epoch >= 2)
    jobs.close()  # what multiprocessing does to daemon workers when the server exits: SIGTERM
    status = jobs.status(long_job)
    assert (status.state, status.error) == ("interrupted", jobtable.INTERRUPTED_MESSAGE)
    assert runs.load_run(status.run_id).status == "stopped"  # the finished epochs were saved
    assert jobs.worker_pids() == []


def test_build_functions_are_named_for_the_worker():
    assert worker.build_reference(tiny_build) == "tests.support.models:tiny_build"
    assert worker.resolve_build("tests.support.models:tiny_build") is tiny_build

    def local(shape, n):
        return None

    with pytest.raises(InvalidArgument, match="import by name, got <function"):
        worker.build_reference(local)
    with pytest.raises(InvalidArgument, match="a build function is named 'module:function', got 'nothing'"):
        worker.resolve_build("nothing")
