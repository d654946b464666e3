"""What ended jobs leave behind in CNNVIZ_HOME over a term, and the job table's ends (no worker process: the
table and the worker's functions are called directly)."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnnviz import storage
from cnnviz.classroom.people import TEACHER_OWNER
from cnnviz.data.datasets import Dataset
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.runs import store as runs
from cnnviz.training import checkpoint, experiment_jobs, jobtable, worker
from cnnviz.training import jobs as jobmanager
from cnnviz.training.loop import TrainResult
from tests.support import runfolders
from tests.support.specs import tiny_spec


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


# --- what jobs leave in CNNVIZ_HOME -----------------------------------------------------------------
def _data_file(job_id: str) -> Path:
    path = jobtable.data_files_dir() / f"{job_id}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"the images")
    return path


def _checkpoint(job_id: str) -> Path:
    folder = checkpoint.folder_for(job_id)
    folder.mkdir(parents=True)
    (folder / checkpoint.MODEL_FILE).write_bytes(b"a model")
    (folder / checkpoint.STATE_FILE).write_text('{"epochs_done": 1, "history": {}}')
    return folder


def _queued(table, job_id: str, **kwargs) -> Path:
    path = _data_file(job_id)
    table.submit(tiny_spec(), owner=TEACHER_OWNER, label=job_id, job_id=job_id, data_file=str(path), **kwargs)
    return path


def test_a_queued_job_cancelled_before_it_starts_leaves_no_data_file(cnnviz_home):
    table = jobtable.JobTable()
    path = _queued(table, "cancelled")
    assert table.stop("cancelled") == "cancelled"
    assert not path.exists()


def test_ended_jobs_the_table_drops_take_their_files_with_them(cnnviz_home, monkeypatch):
    # Over a term every dropped job's images and checkpoint stayed in jobs/data and jobs/checkpoints.
    monkeypatch.setattr(jobtable, "MAX_ENDED_JOBS", 2)
    table = jobtable.JobTable()
    table.set_max_jobs(1)
    files = {}
    for job_id in ("old", "newer", "newest"):
        files[job_id] = (_queued(table, job_id), _checkpoint(job_id))
        table.claim(token="a-dead-worker", pid=1)
        table.finish(job_id, state="failed", error="out of memory")  # resumable: both files kept
    assert all(p.exists() for pair in files.values() for p in pair)
    _queued(table, "next")  # queueing drops the oldest ended job
    assert table.status("old") is None
    assert not any(p.exists() for p in files["old"])
    assert all(p.exists() for job_id in ("newer", "newest") for p in files[job_id])


def test_a_failed_job_keeps_its_files_until_its_resumed_run_is_saved(cnnviz_home):
    table = jobtable.JobTable()
    table.set_max_jobs(1)
    data = _queued(table, "first")
    table.claim(token="a-worker", pid=1)
    point = _checkpoint("first")
    table.finish("first", state="failed", error="out of memory")
    assert data.exists() and point.exists()  # a failed job with a checkpoint may be resumed: on its own images
    manager = jobmanager.JobManager(workers=False)
    assert manager.resumable("first") == 1
    resumed = manager.resume("first")
    assert table.stop(resumed) == "cancelled"  # a cancelled resume leaves the original resumable
    assert data.exists() and point.exists() and manager.resumable("first") == 1
    resumed = manager.resume("first")
    table.claim(token="a-worker", pid=1)
    table.finish(resumed, state="finished", run_id="run-1", test_accuracy=0.5)
    assert not data.exists() and not point.exists()


def test_a_job_whose_worker_died_before_its_first_checkpoint_leaves_no_data_file(cnnviz_home):
    table = jobtable.JobTable()
    kept, lost = _queued(table, "kept"), _queued(table, "lost")
    table.set_max_jobs(2)
    table.claim(token="gone-1", pid=1)
    table.claim(token="gone-2", pid=2)
    _checkpoint("kept")
    assert sorted(table.reap()) == ["kept", "lost"]
    assert kept.exists() and not lost.exists()


def test_the_start_up_clean_up_removes_what_killed_processes_left(cnnviz_home):
    table = jobtable.JobTable()
    table.set_max_jobs(1)
    used, queued = _queued(table, "failed"), _queued(table, "queued")
    table.claim(token="a-worker", pid=1)
    point = _checkpoint("failed")
    table.finish("failed", state="failed", error="out of memory")
    half = point / f"{checkpoint.MODEL_FILE}{storage.TEMP_MARKER}123-abc.keras"  # a save killed half-way
    half.write_bytes(b"half a model")
    dropped, young = _data_file("dropped"), _data_file("being-queued")
    orphan = _checkpoint("dropped")
    storage.ensure_dir(jobtable.workers_dir())
    dead_worker = jobtable.worker_lock_path("123-dead")
    dead_worker.write_bytes(b"")
    live_worker = jobtable.worker_lock_path("456-alive")
    live_worker.write_bytes(b"")
    results = storage.ensure_dir(experiment_jobs.results_dir())
    result, unlisted = experiment_jobs.result_path("failed"), experiment_jobs.result_path("dropped")
    half_result = results / f"queued.json{storage.TEMP_MARKER}123-abc"
    for path in (result, unlisted, half_result):
        path.write_text("{}")
    old = time.time() - storage.LEFTOVER_MIN_AGE_S - 60
    for path in (used, queued, half, dropped, orphan, point, dead_worker, live_worker, result, unlisted, half_result):
        os.utime(path, (old, old))
    with storage.shared_lock(live_worker):
        jobmanager.manager()  # a server starting
    assert not any(p.exists() for p in (half, dropped, orphan, dead_worker, unlisted, half_result))
    assert all(p.exists() for p in (used, queued, point, young, live_worker, result))
    assert jobmanager.JobManager(workers=False).resumable("failed") == 1


def test_a_worker_keeps_the_images_of_a_training_that_failed_after_a_checkpoint(cnnviz_home, monkeypatch):
    # The worker removed the data file of every job it ended: Resume was offered, then refused ("trained on data that
    # was not stored, and it is gone").
    table = jobtable.JobTable()
    data = _queued(table, "failing")
    job = table.claim(token="a-worker", pid=os.getpid())

    def train(spec, **kwargs):
        _checkpoint("failing")
        raise CnnvizError("Training stopped: the loss became NaN.")

    monkeypatch.setattr(worker.training, "train", train)
    assert worker.run_job(table, job, SimpleNamespace(get=lambda job: "the dataset")) == "failed"
    assert data.exists()
    resumed = jobmanager.JobManager(workers=False).resume("failing")
    assert table.record(resumed).data_file == str(data)


# --- a worker killed between saving its run and recording its job's end ----------------------------
@pytest.mark.parametrize(("status", "stop_asked", "ends"), [
    ("finished", False, "finished"), ("stopped", True, "stopped"), ("stopped", False, "failed")],
    ids=["finished", "stopped by its student", "stopped by the server's shutdown"])
def test_a_job_whose_worker_died_after_saving_its_run_ends_as_its_run(cnnviz_home, status, stop_asked, ends):
    # The job showed "failed" and offered Resume for a run that was already complete; resuming ended "cancelled".
    table = jobtable.JobTable()
    data = _queued(table, "saved")
    table.claim(token="gone", pid=1)  # no lock held: its worker died
    point = _checkpoint("saved")
    if stop_asked:
        table.stop("saved")
    folder = runfolders.write_run(cnnviz_home, "20260101-000000-0a1b2c3d",
                                  config={**runfolders.GOOD_CONFIG, "job_id": "saved"})
    manifest = json.loads((folder / runs.MANIFEST).read_text())
    (folder / runs.MANIFEST).write_text(json.dumps({**manifest, "status": status}))
    assert table.reap() == ["saved"]
    job = table.status("saved")
    assert (job.state, job.run_id, job.test_accuracy) == (ends, "20260101-000000-0a1b2c3d", 0.5)
    assert job.error == (jobtable.DIED_MESSAGE if ends == "failed" else None)
    whole = ends != "failed"  # a whole run leaves nothing to resume; a run the shutdown stopped may go on
    assert (jobmanager.JobManager(workers=False).resumable("saved") == 0) == whole
    assert point.exists() != whole and data.exists() != whole


def test_a_run_saved_by_a_job_names_the_job(cnnviz_home, monkeypatch):
    table = jobtable.JobTable()
    _queued(table, "named")
    job = table.claim(token="a-worker", pid=os.getpid())
    seen = {}

    def train(spec, **kwargs):
        seen.update(kwargs)
        raise CnnvizError("not trained here")

    monkeypatch.setattr(worker.training, "train", train)
    worker.run_job(table, job, SimpleNamespace(get=lambda job: "the dataset"))
    assert seen["job_id"] == "named"


# --- a full disk -------------------------------------------------------------------------------------
class _Model:
    """Enough of a Keras model for checkpoint.save (no TensorFlow): a name and a save that writes bytes."""

    name = "net"

    def __init__(self, content: bytes) -> None:
        self.content = content

    def save(self, path) -> None:
        Path(path).write_bytes(self.content)


def test_a_checkpoint_the_disk_has_no_room_for_keeps_the_earlier_one_whole(cnnviz_home, monkeypatch):
    # The new model replaced the earlier one before the disk filled up at the arrays: the state still named the earlier
    # model's checksum, so the progress read as damaged and could not be resumed; the job said "internal error".
    folder = checkpoint.folder_for("job")
    checkpoint.save(folder, _Model(b"epoch 1"), epochs_done=1, history={"loss": [1.0]})

    def savez_on_a_full_disk(path, **arrays):
        Path(path).write_bytes(b"half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint.np, "savez", savez_on_a_full_disk)
    with pytest.raises(storage.DiskFull, match=r"^Could not save the training's progress: the disk is full "):
        checkpoint.save(folder, _Model(b"epoch 2"), epochs_done=2, history={"loss": [1.0, 0.5]})
    point = checkpoint.read(folder)
    assert point.epochs_done == 1 and (folder / checkpoint.MODEL_FILE).read_bytes() == b"epoch 1"
    state = json.loads((folder / checkpoint.STATE_FILE).read_text())
    assert state["model_sha256"] == storage.sha256_file(folder / checkpoint.MODEL_FILE)  # still loads
    assert not list(folder.glob(f"*{storage.TEMP_MARKER}*"))


def test_a_training_queued_on_a_full_disk_is_refused_in_words_and_leaves_nothing(cnnviz_home, monkeypatch):
    # The images written for the worker hit the full disk: the page said "internal error".
    rng = np.random.default_rng(0)
    dataset = Dataset(name="folder:mine", x_train=rng.integers(0, 255, (20, 8, 8, 1), dtype=np.uint8),
                      y_train=np.arange(20) % 2, x_test=rng.integers(0, 255, (10, 8, 8, 1), dtype=np.uint8),
                      y_test=np.arange(10) % 2, class_names=("a", "b"), source="memory")

    def savez_on_a_full_disk(path, **arrays):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(worker.np, "savez", savez_on_a_full_disk)
    manager = jobmanager.JobManager(workers=False)
    with pytest.raises(storage.DiskFull, match=r"^Could not queue the training: the disk is full "):
        manager.submit(tiny_spec(dataset="folder:mine"), dataset=dataset)
    assert manager.table.jobs(jobtable.JOB_STATES) == []
    assert not list(jobtable.data_files_dir().iterdir())


def test_an_experiment_queued_on_a_full_disk_is_refused_in_words_and_leaves_nothing(cnnviz_home, monkeypatch):
    from cnnviz.lessons import experiments
    from cnnviz.training import experiment_jobs

    x = np.zeros((4, 8, 8, 1), dtype=np.float32)
    data = experiments.Data(x_train=x, y_train=np.arange(4) % 2, x_val=x, y_val=np.arange(4) % 2, num_classes=2)

    def savez_on_a_full_disk(path, **arrays):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(experiment_jobs.np, "savez", savez_on_a_full_disk)
    manager = jobmanager.JobManager(workers=False)
    with pytest.raises(storage.DiskFull, match=r"^Could not queue the experiment: the disk is full "):
        experiment_jobs.submit(manager, "dropout", {"mine": data}, label="dropout")
    assert manager.table.jobs(jobtable.JOB_STATES) == []
    assert not list(jobtable.data_files_dir().iterdir())


def test_a_resumed_training_stopped_before_its_first_batch_keeps_the_progress_it_goes_on_from(cnnviz_home, monkeypatch):
    # It ended "cancelled" (nothing trained, no run saved), and the worker removed the checkpoint it resumed from too:
    # the earlier epochs were lost.
    table = jobtable.JobTable()
    table.submit(tiny_spec(), owner=TEACHER_OWNER, label="first", job_id="first")
    table.claim(token="a-worker", pid=1)
    point = _checkpoint("first")
    table.finish("first", state="failed", error="out of memory")
    manager = jobmanager.JobManager(workers=False)
    resumed = manager.resume("first")
    job = table.claim(token="a-worker", pid=os.getpid())
    monkeypatch.setattr(worker.training, "train", lambda spec, **kwargs: TrainResult(run=None, stopped=True))
    assert worker.run_job(table, job, SimpleNamespace(get=lambda job: "the dataset")) == "cancelled"
    assert table.status(resumed).state == "cancelled"
    assert point.exists() and manager.resumable("first") == 1


def test_the_start_up_clean_up_keeps_a_queued_jobs_images_recorded_under_another_name_of_the_home(cnnviz_home,
                                                                                                   monkeypatch):
    # CNNVIZ_HOME given as a symlink one day and as its target the next: the queued job's images were not "its" files.
    alias = cnnviz_home.parent / "home-link"
    cnnviz_home.mkdir(parents=True, exist_ok=True)
    alias.symlink_to(cnnviz_home)
    monkeypatch.setenv("CNNVIZ_HOME", str(alias))
    path = _queued(jobtable.JobTable(), "queued")
    monkeypatch.setenv("CNNVIZ_HOME", str(cnnviz_home))
    old = time.time() - storage.LEFTOVER_MIN_AGE_S - 60
    os.utime(path, (old, old))
    assert jobtable.JobTable().remove_leftovers() == []
    assert path.exists()
