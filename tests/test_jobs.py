"""The job manager: the server-wide cap, the FIFO queue, stop, failures as messages."""

from __future__ import annotations

import logging
import time

import pytest

from cnnviz.training import jobs as jobmanager
from cnnviz.runs import store as runs
from cnnviz.errors import InvalidArgument
from tests.helpers_train import tiny_build, tiny_spec

pytestmark = pytest.mark.slow


def test_default_max_jobs(monkeypatch):
    monkeypatch.delenv(jobmanager.MAX_JOBS_ENV, raising=False)
    monkeypatch.setattr(jobmanager.os, "cpu_count", lambda: 8)
    assert jobmanager.default_max_jobs() == 4
    monkeypatch.setattr(jobmanager.os, "cpu_count", lambda: 1)
    assert jobmanager.default_max_jobs() == 1
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, "3")
    assert jobmanager.default_max_jobs() == 3
    assert jobmanager.JobManager().max_jobs == 3
    assert jobmanager.JobManager(max_jobs=2).max_jobs == 2
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, "lots")
    with pytest.raises(InvalidArgument, match="CNNVIZ_MAX_TRAINING_JOBS must be a whole number ≥ 1, got 'lots'"):
        jobmanager.default_max_jobs()
    with pytest.raises(InvalidArgument, match="must be ≥ 1, got 0"):
        jobmanager.JobManager(max_jobs=0)


def _wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_two_jobs_with_a_cap_of_one_queue_in_order(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    long_job = jobs.submit(tiny_spec(epochs=500), build=tiny_build, label="long")
    second = jobs.submit(tiny_spec(seed=1), build=tiny_build)
    third = jobs.submit(tiny_spec(seed=2), build=tiny_build)
    assert jobs.status(long_job).state == "running"
    assert (jobs.status(second).state, jobs.status(second).queue_position) == ("queued", 1)
    assert jobs.status(third).queue_position == 2
    assert [s.job_id for s in jobs.active_jobs()] == [long_job, second, third]

    assert _wait_for(lambda: jobs.status(long_job).progress.phase == "training")
    jobs.stop(third)  # a queued job is just dropped
    assert jobs.status(third).state == "cancelled" and jobs.status(second).queue_position == 1
    assert jobs.status(second).state == "queued"  # still waiting: the long job holds the only slot

    jobs.stop(long_job)
    done = jobs.wait(long_job, timeout=120)
    assert done.state == "stopped" and done.run_id and done.label == "long"
    finished = jobs.wait(second, timeout=120)
    assert finished.state == "finished" and finished.queue_position == 0
    assert finished.test_accuracy == runs.load_run(finished.run_id).test_accuracy
    assert {r.run_id: r.status for r in runs.list_runs()} == {done.run_id: "stopped", finished.run_id: "finished"}
    assert jobs.active_jobs() == [] and jobs.status("unknown") is None


def test_raising_the_cap_starts_waiting_jobs(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    first = jobs.submit(tiny_spec(epochs=500), build=tiny_build)
    second = jobs.submit(tiny_spec(epochs=500), build=tiny_build)
    assert jobs.status(second).state == "queued"
    jobs.set_max_jobs(2)
    assert jobs.status(second).state == "running"
    for job in (first, second):
        jobs.stop(job)
    for job in (first, second):
        assert jobs.wait(job, timeout=120).state in ("stopped", "cancelled")


def test_failures_are_reported_not_raised(cnnviz_home, caplog):
    jobs = jobmanager.JobManager(max_jobs=1)

    def impossible(input_shape, num_classes):
        raise InvalidArgument("conv layers would pool 8×8 below 1×1, got 4 layers")

    def buggy(input_shape, num_classes):
        raise RuntimeError("boom")

    bad = jobs.submit(tiny_spec(), build=impossible)
    status = jobs.wait(bad, timeout=60)
    assert status.state == "failed" and status.error == "conv layers would pool 8×8 below 1×1, got 4 layers"
    with caplog.at_level(logging.ERROR, logger="cnnviz.training.jobs"):
        status = jobs.wait(jobs.submit(tiny_spec(), build=buggy), timeout=60)
    assert status.state == "failed" and "internal error" in status.error and "boom" not in status.error
    assert "boom" in caplog.text
    assert runs.list_runs() == []
    with pytest.raises(InvalidArgument, match="epochs must be 1..1000, got 0"):
        jobs.submit(tiny_spec(epochs=0), build=tiny_build)


def test_manager_is_a_process_wide_singleton():
    assert jobmanager.manager() is jobmanager.manager()
