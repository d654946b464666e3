"""Experiments page: each experiment runs on tiny digits as a job of the job table, trained by a worker
process, and shows what the notebooks' questions ask about; Stop ends it within a batch."""

from __future__ import annotations

import os

from cnnviz.classroom.people import local_teacher
from cnnviz.training.jobtable import JobTable
from tests.support.pages import chart_keys, figure, no_errors, open_page, run_until, texts

JOB_KEY = "experiments_job"


def _press(at, name: str, done) -> None:
    """Press experiment ``name``'s button: a job row of kind "experiment" owned by this session's person
    appears; rerun the page (as its fragment would) until ``done(at)``."""
    at.button(key=f"exp_run_{name}").click().run()
    no_errors(at)
    job_id = at.session_state[JOB_KEY]["job_id"]
    row = JobTable().status(job_id)
    assert (row.kind, row.owner) == ("experiment", local_teacher().user_id)
    run_until(at, done)
    ended = JobTable().status(job_id)
    assert ended.state == "finished" and ended.worker_pid not in (None, os.getpid())  # a worker, not the server


def _frame(at, column, first_row=None):
    """The table with ``column`` (and ``first_row`` as its first value, to tell alike tables apart)."""
    for frame in at.dataframe:
        if column in frame.value.columns and first_row in (None, frame.value.iloc[0, 0]):
            return frame.value
    raise AssertionError(f"no table with a {column!r} column; have {[list(f.value.columns) for f in at.dataframe]}")


def test_every_experiment_runs_and_shows_its_answer(app_path):
    at = open_page(app_path, "app_pages/experiments.py")
    no_errors(at)
    at.slider(key="exp_size").set_value(100).run()
    # seed 003 3.1 / seed 001 Q5 without training: a conv layer's parameters do not grow with the image
    sizes = _frame(at, "Dense, 16 units")
    assert sizes["Conv2D, 16 filters of 3×3"].tolist() == ["448"] * 3
    assert sizes["Dense, 16 units"].tolist() == ["3,088", "49,168", "2,408,464"]
    noise = _frame(at, "batch mean off by (std)")  # seed 001 Q7: a batch of 2 is noisier than 64
    assert noise["batch size"].tolist() == [2, 8, 64]
    assert noise["batch mean off by (std)"].iloc[0] > noise["batch mean off by (std)"].iloc[2]

    _press(at, "batch", lambda at: "exp_batch_loss" in chart_keys(at))  # seed 000 Q13
    table = _frame(at, "updates per epoch")
    assert table["training"].tolist() == ["batch 8", "batch 64", "batch 100 (all images)"]  # not 'batch 512'
    assert table["updates per epoch"].tolist() == [13, 2, 1]  # ceil(100 / batch)
    assert [t["name"] for t in figure(at, "exp_batch_loss")["data"]] == table["training"].tolist()

    _press(at, "bn", lambda at: "exp_bn_accuracy" in chart_keys(at))  # seed 001 Q7
    _press(at, "stream", lambda at: "on disk (PNG)" in texts(at))  # seed 000 Q24
    stream = _frame(at, "held in memory")
    assert stream["held in memory"].tolist() == ["25 KiB (all images)", "8 KiB (one batch)"]  # 100·8·8·4 B; 32 of them
    assert "on disk (PNG)" in texts(at)
    _press(at, "dense_conv", lambda at: "exp_dense_conv_accuracy" in chart_keys(at))  # seed 001 Q5
    trained = _frame(at, "parameters", first_row="dense")
    assert trained["training"].tolist() == ["dense", "conv"]
    assert trained["parameters"].tolist() == ["2,410", "1,898"]  # 8×8×1 digits: the conv net is the smaller
    _press(at, "dropout", lambda at: "exp_dropout" in chart_keys(at))  # seed 001 Q6
    # what the tries gave, measured: off the same numbers each time (it was 'every time' after one try)
    assert "Dropout off: the same probabilities in all 10 tries" in texts(at)
    assert "Dropout on: the probabilities changed by up to" in texts(at)
    bars = figure(at, "exp_dropout")["data"]
    assert bars[0]["name"] == "dropout off (test time)" and len(bars[1]["y"]) == 10 * 10
    assert "Choose CIFAR-10 (or another dataset) above to compare it with the digits." in texts(at)  # seed 001 Q3


def test_stop_ends_the_experiment_job_within_a_batch(app_path):
    at = open_page(app_path, "app_pages/experiments.py")
    at.slider(key="exp_size").set_value(1500).run()
    at.button(key="exp_run_bn").click().run()  # batch 2 with batch norm: 750 updates per epoch, 2 epochs
    job_id = at.session_state[JOB_KEY]["job_id"]
    at.run()
    assert at.button(key="exp_run_batch").disabled  # one experiment at a time per student
    # the job's progress as the page's fragment draws it, the worker's words included
    run_until(at, lambda at: any("batch 2: epoch 1 of 2" in p.proto.text for p in at.get("progress")))
    assert JobTable().status(job_id).state == "running"
    at.button(key="exp_stop").click().run()
    run_until(at, lambda at: JOB_KEY not in at.session_state)
    ended = JobTable().status(job_id)
    assert ended.state == "stopped" and ended.progress.fraction < 1
    assert "Stopped: nothing was kept." in [w.value for w in at.warning]
    assert "exp_bn_accuracy" not in chart_keys(at)


def test_digits_and_cifar10_are_trained_on_as_many_images(app_path, cnnviz_home, monkeypatch):
    """Seed 001 Q3 compares the same conv net on digits and on CIFAR-10: above 1,000 training images the
    digits stayed at 1,000 while CIFAR-10 had all of them, though the page said 'as many'."""
    from cnnviz.data import datasets
    from cnnviz.training import experiment_jobs
    from tests.support.archives import tiny_archive_bytes, tiny_files

    archive = cnnviz_home.parent / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes(tiny_files(300)))  # 1,500 training images
    datasets.import_cifar10(archive)
    sent = []
    monkeypatch.setattr(experiment_jobs, "submit", lambda manager, name, data, **kw: sent.append(data) or "0")
    at = open_page(app_path, "app_pages/experiments.py")
    at.slider(key="exp_size").set_value(1300).run()
    at.button(key="exp_run_harder").click().run()
    no_errors(at)
    assert {name: len(d.x_train) for name, d in sent[0].items()} == {"digits": 1000, "cifar10": 1000}
    assert "trained on 1,000 of your images and 1,000 8×8 handwritten digits" in texts(at)


def test_a_damaged_result_is_said_beside_its_experiment(app_path):
    # The job finished but its result file was cut short (a restore): "Loading the data failed because of an
    # internal error" once, then the experiment looked as if it had never run.
    from cnnviz import markup
    from cnnviz.training import experiment_jobs

    at = open_page(app_path, "app_pages/experiments.py")
    table = JobTable()
    job_id = table.submit({"experiment": "batch_sizes", "settings": {}}, owner=local_teacher().user_id,
                          label="Experiment: Compare batch sizes", dataset="images", kind=experiment_jobs.KIND)
    assert table.claim(token="a-worker", pid=0).job_id == job_id
    table.finish(job_id, state="finished")
    path = experiment_jobs.result_path(job_id)
    path.parent.mkdir(parents=True)
    path.write_bytes(b'[{"type": "Trained", "fields": {"label": "batch')
    at.session_state[JOB_KEY] = {"name": "batch", "job_id": job_id, "data": at.session_state["experiments_data"]}
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    notes = [w.value for w in at.warning if "is damaged" in w.value]
    assert notes == [markup.plain_text(f"The result of this experiment ({path}) is damaged: run the experiment "
                                       "again.")], notes  # the path shown as it is, not as Markdown
    at.run()
    assert [w.value for w in at.warning if "is damaged" in w.value] == notes  # still said on the next rerun


def test_a_job_table_damaged_while_an_experiment_waits_is_named_once_not_a_traceback(app_path, cnnviz_home,
                                                                                       monkeypatch):
    # jobs.sqlite3 overwritten (a restore, a copy in progress) while the experiment waited: the page said the
    # error once and its live view below was a raw traceback.
    import pytest

    from cnnviz.errors import CnnvizError
    from cnnviz.training import experiment_jobs
    from cnnviz.training import jobs as jobmanager
    from cnnviz.training import jobtable
    from tests.support.pages import shown

    monkeypatch.setattr(jobmanager, "_managers", [])  # closing it reads the table: not the damaged one
    manager = jobmanager.JobManager(workers=False)  # the server's manager, its workers out of this test
    monkeypatch.setattr(jobmanager, "_manager", manager)
    at = open_page(app_path, "app_pages/experiments.py")
    job_id = manager.table.submit({"experiment": "batch_sizes", "settings": {}}, owner=local_teacher().user_id,
                                  label="Experiment: Compare batch sizes", dataset="images", kind=experiment_jobs.KIND)
    at.session_state[JOB_KEY] = {"name": "batch", "job_id": job_id, "data": at.session_state["experiments_data"]}
    at.run()
    no_errors(at)
    for file in cnnviz_home.glob("jobs.sqlite3*"):
        file.unlink()
    jobtable.table_path().write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(CnnvizError) as at_start:
        jobtable.JobTable().status(job_id)
    at.run()
    assert not at.exception, at.exception
    assert [shown(e.value) for e in at.error] == [str(at_start.value)]
    assert at.session_state[JOB_KEY]["job_id"] == job_id  # kept: a restored table shows it again
