"""Experiments as jobs: a row with owner and kind, run by a training worker in another process, its result
read back by its owner only, stopped from the command line within a batch, counted against the cap."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

from cnnviz import cli
from cnnviz.classroom import roster
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.lessons import experiments as ex
from cnnviz.training import experiment_jobs, jobtable
from cnnviz.training import jobs as jobmanager
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec
from tests.support.waiting import wait_for


def _data(n: int = 64, seed: int = 0) -> ex.Data:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n + 16, 8, 8, 1)).astype(np.float32)
    y = np.arange(n + 16) % 3
    return ex.make_data(x, y, train_size=n, val_size=16, num_classes=3)


@pytest.fixture
def students():
    return roster.register("Ann")[1], roster.register("Ben")[1]


def test_a_result_kept_from_a_version_with_other_fields_says_to_run_it_again():
    older = {"type": "DropoutPredictions", "fields": {"off": {"array": [0.5, 0.5], "dtype": "float32"},
                                                      "on": {"array": [[0.5, 0.5]], "dtype": "float32"}}}
    with pytest.raises(CnnvizError, match="This DropoutPredictions result was saved by another version of cnnviz: "
                                          "run the experiment again."):
        experiment_jobs.decode(older)  # no off_spread yet: a TypeError, 'internal error' on the page


def test_results_round_trip_through_json():
    trained = ex.Trained(label="batch 8", parameters=10, steps_per_epoch=2, seconds_per_epoch=0.5,
                         images_seen=(8, 16), step_loss=(1.0, float("nan")), train_accuracy=(0.5,), val_accuracy=(0.25,))
    streaming = ex.Streaming(1, 2, 3, 0.1, 0.2, 0.5, 0.5)
    dropout = ex.DropoutPredictions(off=np.array([0.2, 0.8], np.float32), on=np.eye(2, dtype=np.float32),
                                   off_spread=0.0)
    import json

    back = experiment_jobs.decode(json.loads(json.dumps(experiment_jobs.encode([trained]))))
    assert back[0].images_seen == (8, 16) and back[0].label == "batch 8" and np.isnan(back[0].step_loss[1])
    assert experiment_jobs.decode(experiment_jobs.encode(streaming)) == streaming
    got = experiment_jobs.decode(json.loads(json.dumps(experiment_jobs.encode(dropout))))
    assert got.off.dtype == np.float32 and np.array_equal(got.off, dropout.off) and np.array_equal(got.on, dropout.on)


def test_submitting_checks_the_experiment_and_its_settings(students):
    manager = jobmanager.JobManager(workers=False)
    with pytest.raises(InvalidArgument, match="experiment must be one of .*, got 'nap'"):
        experiment_jobs.submit(manager, "nap", {"images": _data()}, label="x")
    with pytest.raises(InvalidArgument, match=r"settings \{'speed': 3\} do not fit experiment dropout"):
        experiment_jobs.submit(manager, "dropout", {"images": _data()}, label="x", settings={"speed": 3})
    with pytest.raises(InvalidArgument, match="experiment batch_sizes needs one dataset"):
        experiment_jobs.submit(manager, "batch_sizes", {"a": _data(), "b": _data()}, label="x")
    assert manager.table.jobs() == [] and not list(jobtable.data_files_dir().glob("*.npz"))


@pytest.mark.slow
def test_an_experiment_is_a_job_of_its_owner_run_by_a_worker(students):
    ann, ben = students
    manager = jobmanager.JobManager(max_jobs=1)
    job_id = experiment_jobs.submit(manager, "batch_sizes", {"images": _data()}, label="Experiment: batch sizes",
                                    settings={"batch_sizes": [8, 64], "epochs": 1}, owner=ann)
    queued = manager.status(job_id)
    assert (queued.kind, queued.owner, queued.owner_name, queued.label) == (
        "experiment", ann.user_id, "Ann", "Experiment: batch sizes")
    with pytest.raises(NotAllowed, match=f"Ben may not stop training job {job_id}"):
        manager.stop(job_id, by=ben)
    done = manager.wait(job_id, timeout=300)
    assert done.state == "finished", done.error
    assert done.worker_pid not in (None, os.getpid())  # trained in a worker, not in this (the server's) process
    assert done.run_id is None  # an experiment makes no run
    results = experiment_jobs.result(job_id, by=ann)
    assert [r.label for r in results] == ["batch 8", "batch 64 (all images)"]
    assert [r.steps_per_epoch for r in results] == [8, 1]  # ceil(64 / batch)
    assert all(len(r.val_accuracy) == 1 for r in results)
    with pytest.raises(NotAllowed, match=f"Ben may not see the result of experiment job {job_id}"):
        experiment_jobs.result(job_id, by=ben)
    assert [r.label for r in experiment_jobs.result(job_id, by=local_teacher())] == ["batch 8", "batch 64 (all images)"]
    assert not list(jobtable.data_files_dir().glob("*.npz"))  # the images handed over are gone


@pytest.mark.slow
def test_an_experiment_counts_against_the_cap_and_stops_from_the_command_line(students, capsys):
    ann, _ = students
    manager = jobmanager.JobManager(max_jobs=1)
    long_one = experiment_jobs.submit(manager, "batch_sizes", {"images": _data(400)}, label="Experiment: long",
                                      settings={"batch_sizes": [2, 2, 2], "epochs": 20}, owner=ann)
    training = manager.submit(tiny_spec(), build=tiny_build, owner=ann)
    assert wait_for(lambda: manager.status(long_one).progress.fraction > 0)  # progress published while it runs
    running = manager.status(long_one)
    # which epoch depends on the machine's speed (a quiet one is past the first by the time this reads)
    assert running.state == "running" and re.match(r"batch 2: epoch \d+ of 20", running.progress.note), running
    time.sleep(1.0)
    assert (manager.status(training).state, manager.status(training).queue_position) == ("queued", 1)  # the cap: 1

    assert cli.main(["jobs", "stop", long_one]) == 0
    assert f"job {long_one} asked to stop after its current batch" in capsys.readouterr().out
    stopped = manager.wait(long_one, timeout=60)
    assert stopped.state == "stopped" and stopped.progress.fraction < 0.5
    assert experiment_jobs.result(long_one, by=ann) is None
    assert manager.wait(training, timeout=300).state == "finished"
    assert max(e["running"] for e in manager.table.events()) == 1


@pytest.mark.parametrize("content", [b'[{"type": "Trained", "fields": {"label": "batch', b'[1, {"array": [3]}]',
                                     b'{"type": "Streaming", "fields": 3}'])
def test_a_damaged_result_file_is_named_and_kept(students, content):
    # A result file cut short by a restore, or edited: JSONDecodeError, KeyError or AttributeError, so the
    # Experiments page said "internal error" and dropped the finished experiment without a word.
    ann, _ = students
    table = jobtable.JobTable()
    job_id = table.submit({"experiment": "batch_sizes", "settings": {}}, owner=ann.user_id, label="Experiment",
                          dataset="images", kind=experiment_jobs.KIND)
    assert table.claim(token="a-worker", pid=0).job_id == job_id
    table.finish(job_id, state="finished")
    path = experiment_jobs.result_path(job_id)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(CnnvizError, match=f"The result of this experiment \\({re.escape(str(path))}\\) is damaged"):
        experiment_jobs.result(job_id, by=ann)
    assert path.read_bytes() == content
