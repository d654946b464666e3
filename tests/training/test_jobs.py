"""The job manager: training in warm worker processes, the cap, the FIFO queue, stop, failures as messages,
a worker killed mid-epoch, a server that starts again."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from cnnviz.data import scaling
from cnnviz.data.datasets import Dataset
from cnnviz.errors import InvalidArgument
from cnnviz.models import whitening
from cnnviz.models.presets import PRESETS
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs
from cnnviz.training import jobs as jobmanager
from cnnviz.training.spec import spec_from_preset
from cnnviz.training.tta import predict_tta
from tests.support.models import COUNTS, buggy_build, impossible_build, tiny_build
from tests.support.specs import tiny_spec
from tests.support.waiting import wait_for


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


def test_a_restarted_server_keeps_the_cap_the_teacher_set_unless_the_environment_names_one(monkeypatch, cnnviz_home):
    monkeypatch.delenv(jobmanager.MAX_JOBS_ENV, raising=False)
    monkeypatch.setattr(jobmanager.os, "cpu_count", lambda: 2)
    assert jobmanager.JobManager().max_jobs == 1  # a new home: the default
    jobmanager.JobManager().set_max_jobs(3)  # the Class page
    assert jobmanager.JobManager().max_jobs == 3  # a server started again (or a second one) keeps it
    assert jobmanager.JobManager(workers=False).max_jobs == 3
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, "2")  # the deployment names one: it wins at the start
    assert jobmanager.JobManager().max_jobs == 2


def test_two_jobs_with_a_cap_of_one_queue_in_order(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    long_job = jobs.submit(tiny_spec(epochs=500), build=tiny_build, label="long")
    second = jobs.submit(tiny_spec(seed=1), build=tiny_build)
    third = jobs.submit(tiny_spec(seed=2), build=tiny_build)
    assert wait_for(lambda: jobs.status(long_job).state == "running")
    assert jobs.status(long_job).worker_pid not in (None, os.getpid())  # trained in a worker process
    assert (jobs.status(second).state, jobs.status(second).queue_position) == ("queued", 1)
    assert jobs.status(third).queue_position == 2
    assert [s.job_id for s in jobs.active_jobs()] == [long_job, second, third]

    assert wait_for(lambda: jobs.status(long_job).progress.phase == "training")
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
    assert wait_for(lambda: jobs.status(first).state == "running")
    assert jobs.status(second).state == "queued"
    jobs.set_max_jobs(2)
    assert wait_for(lambda: jobs.status(second).state == "running")  # a second worker started for it
    assert jobs.status(first).worker_pid != jobs.status(second).worker_pid
    for job in (first, second):
        jobs.stop(job)
    for job in (first, second):
        assert jobs.wait(job, timeout=120).state in ("stopped", "cancelled")


def test_failures_are_reported_not_raised(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    bad = jobs.submit(tiny_spec(), build=impossible_build)
    status = jobs.wait(bad, timeout=120)
    assert status.state == "failed" and status.error == "conv layers would pool 8×8 below 1×1, got 4 layers"
    buggy = jobs.submit(tiny_spec(), build=buggy_build)
    status = jobs.wait(buggy, timeout=60)
    assert status.state == "failed" and "internal error" in status.error and "boom" not in status.error
    # The traceback stays on the server: in the job's record for the log (the worker also logs it), never shown.
    assert "RuntimeError: boom" in jobs.table.detail(buggy) and jobs.table.detail(bad) is None
    assert runs.list_runs() == []
    with pytest.raises(InvalidArgument, match="epochs must be 1..1000, got 0"):
        jobs.submit(tiny_spec(epochs=0), build=tiny_build)
    with pytest.raises(InvalidArgument, match="module-level function the training process can import by name"):
        jobs.submit(tiny_spec(), build=lambda shape, n: None)


def test_manager_is_a_process_wide_singleton():
    assert jobmanager.manager() is jobmanager.manager()
    assert jobmanager.manager().worker_pids() == []  # no worker before the first job


def _tiny_cifar(n_train: int = 64, n_test: int = 32, seed: int = 0) -> Dataset:
    """CIFAR-shaped uint8 images: each class a colour plus noise, so that something is learnable."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % 10
        base = (np.stack([y * 25, 250 - y * 25, (y * 77) % 256], axis=1)[:, None, None, :]).astype(float)
        x = np.clip(base + rng.normal(0, 30, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
        return x, y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(n_train), split(n_test)
    return Dataset(name="tinycifar", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                   class_names=tuple(f"c{i}" for i in range(10)), source="synthetic (tests)")


# --- one epoch through the training job --------------------------------------------------------
@pytest.mark.slow
def test_fast_preset_one_epoch_through_the_training_job(cnnviz_home):
    ds = _tiny_cifar()
    spec = dataclasses.replace(spec_from_preset("fast_1min", dataset=ds.name), batch_size=16)
    assert (spec.epochs, spec.validation_fraction, spec.tta) == (1, 0.0, "flip")
    jobs = jobmanager.JobManager(max_jobs=1)
    job_id = jobs.submit(spec, dataset=ds)  # not stored under its name: handed to the worker in a file
    assert (cnnviz_home / "jobs" / "data" / f"{job_id}.npz").is_file()
    status = jobs.wait(job_id, timeout=300)
    assert status.state == "finished", status
    assert not (cnnviz_home / "jobs" / "data" / f"{job_id}.npz").exists()  # removed once trained
    assert status.progress.phase == "done"
    info = runs.load_run(status.run_id)
    m = info.metrics
    assert (m["n_train"], m["n_val"], m["n_test"], m["epochs_completed"]) == (64, 0, 32, 1)
    convs = [f"group{g}_conv_{i}" for g in (1, 2, 3) for i in (1, 2)]  # dirac (identity) start
    assert m["data_init_layers"] == ["whiten", *convs] and m["test_tta"].startswith("flip")
    assert (m["params_total"], m["params_trainable"]) == COUNTS["fast_1min"]
    assert m["preset_expected_test_accuracy"] == PRESETS["fast_1min"].expected["test_accuracy"]
    assert info.config["augment"]["crop"] == 2 and info.config["model"]["lr_schedule"] == "one_cycle"

    model = runs.load_model(status.run_id)  # safe_mode: the whitening is an ordinary frozen Conv2D
    x_first = scaling.apply(ds.x_train, info.config["scaling_affine"])
    np.testing.assert_allclose(model.get_layer("whiten").get_weights()[0],
                               whitening.patch_whitening_kernel(x_first, 2, 24), rtol=1e-5, atol=1e-5)
    x_test = prepare_inputs(info, ds.x_test)
    probs = predict_tta(model, x_test)
    assert m["test_accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == ds.y_test)))
    plain = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == ds.y_test))
    assert m["test_accuracy_without_tta"] == pytest.approx(plain, abs=1e-6)


def test_job_manager_logs_each_start_and_end_with_the_slots_busy(cnnviz_home):
    """Every process writes its events to the table (and logs them): one record of the cap for all."""
    jobs = jobmanager.JobManager(max_jobs=1)
    first = jobs.submit(tiny_spec(epochs=5), build=tiny_build)  # long enough to be running when the next comes
    assert wait_for(lambda: jobs.status(first).state != "queued")  # the worker is up and took it
    second = jobs.submit(tiny_spec(seed=1), build=tiny_build)
    done = [jobs.wait(first, timeout=120), jobs.wait(second, timeout=120)]
    lines = [e["message"] for e in jobs.table.events()]
    expected = [
        f"job {first} queued: 0 of 1 training slots busy, 1 waiting",
        f"job {first} started: 1 of 1 training slots busy, 0 waiting",
        f"job {second} queued: 1 of 1 training slots busy, 1 waiting",
        f"job {first} ended finished (run {done[0].run_id}): 0 of 1 training slots busy, 1 waiting",
        f"job {second} started: 1 of 1 training slots busy, 0 waiting",
        f"job {second} ended finished (run {done[1].run_id}): 0 of 1 training slots busy, 0 waiting",
    ]
    assert [line for line in lines if line.startswith("job ")] == expected
