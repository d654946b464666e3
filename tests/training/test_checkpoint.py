"""Per-epoch checkpoints: an interrupted training keeps its finished epochs, and resuming it gives a run whose
history goes on from the last one."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.runs import store as runs
from cnnviz.training import checkpoint
from cnnviz.training import jobs as jobmanager
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _epochs_saved(folder) -> int:
    point = checkpoint.read(folder)
    return 0 if point is None else point.epochs_done


def test_a_checkpoint_is_whole_or_absent_and_checked_before_loading(cnnviz_home):
    model = tiny_build((8, 8, 1), 10)
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, 8, 8, 1)), np.eye(10)[np.arange(8)], epochs=1, verbose=0)  # as after an epoch
    folder = checkpoint.folder_for("job1")
    assert checkpoint.read(folder) is None
    history = {"loss": [1.0, 0.5, 0.4], "accuracy": [0.1, 0.2, 0.3], "val_loss": [None, 0.9, 0.8],
               "val_accuracy": [None, 0.5, 0.6]}
    checkpoint.save(folder, model, epochs_done=2, history=history)
    point = checkpoint.read(folder)
    assert (point.epochs_done, point.history["loss"], point.history["val_loss"]) == (2, [1.0, 0.5], [None, 0.9])
    again = checkpoint.load_model(point)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with open(folder / checkpoint.MODEL_FILE, "r+b") as fh:  # damaged after it was written
        fh.seek(100)
        fh.write(b"\0\1\2")
    with pytest.raises(CnnvizError, match="damaged, so it cannot be resumed"):
        checkpoint.load_model(point)
    (folder / checkpoint.STATE_FILE).unlink()  # a crash between the model and its state: no checkpoint
    assert checkpoint.read(folder) is None


def test_a_killed_training_resumes_from_its_last_finished_epoch(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    victim = jobs.submit(tiny_spec(epochs=60), build=tiny_build, owner="student-a")
    folder = checkpoint.folder_for(victim)
    assert wait_for(lambda: _epochs_saved(folder) >= 1)  # the first epoch is always saved, later ones every 5 s
    os.kill(jobs.status(victim).worker_pid, signal.SIGKILL)
    assert jobs.wait(victim, timeout=60).state == "failed"
    point = checkpoint.read(folder)
    assert jobs.resumable(victim) == point.epochs_done >= 1

    resumed = jobs.resume(victim)
    queued = jobs.status(resumed)
    assert queued.owner == "student-a" and queued.label.endswith("(resumed)")
    status = jobs.wait(resumed, timeout=300)
    assert status.state == "finished", status
    info = runs.load_run(status.run_id)
    assert info.metrics["epochs_completed"] == 60 and len(info.history["loss"]) == 60
    assert info.config["job_id"] == resumed  # a worker killed after saving it: the job ends as its run (JobTable.reap)
    for key, values in point.history.items():  # the run's history goes on from the checkpoint's epochs
        assert info.history[key][:point.epochs_done] == values
    assert not folder.exists() and not checkpoint.folder_for(resumed).exists()  # the run is saved: cleaned up
    with pytest.raises(InvalidArgument, match=f"only a failed or interrupted training can be resumed; job {resumed}"):
        jobs.resume(resumed)
    assert jobs.resumable(victim) == 0  # its progress went into the resumed run


def test_a_job_that_finished_no_epoch_has_nothing_to_resume(cnnviz_home):
    jobs = jobmanager.JobManager(max_jobs=1)
    job = jobs.submit(tiny_spec(), build=tiny_build)
    jobs.table.claim(token="gone", pid=1)  # taken by a worker that died at once (no lock held)
    assert jobs.wait(job, timeout=30).state == "failed"
    with pytest.raises(InvalidArgument, match=f"job {job} has no saved progress to resume \\(it finished no epoch"):
        jobs.resume(job)
    with pytest.raises(InvalidArgument, match="no training job 'nope'"):
        jobs.resume("nope")


@pytest.mark.parametrize(("first_val_loss", "best", "older", "kept"),
                         [(0.0, 1, False, True), (0.0, 1, True, False), (99.0, 2, False, True), (99.0, 2, True, True)])
def test_a_resumed_runs_best_validation_epoch_counts_the_epochs_before_the_resume(cnnviz_home, first_val_loss,
                                                                                   best, older, kept):
    """The checkpoint keeps the best epoch's weights, so a best epoch before the resume is restored; one written
    before they were kept (``older``) cannot, and the run says so."""
    import dataclasses
    import json
    import threading

    import keras

    from cnnviz.runs.details import run_details
    from cnnviz.training import loop as training

    spec = tiny_spec(epochs=2, validation_fraction=0.25, keep_best=True)
    stop = threading.Event()

    class StopAfterFirstEpoch(keras.callbacks.Callback):  # as the worker's SIGTERM does
        def on_epoch_end(self, epoch, logs=None):
            stop.set()

    folder = cnnviz_home / "checkpoint"
    training.train(spec, build=tiny_build, stop_event=stop, callbacks=[StopAfterFirstEpoch()], checkpoint_dir=folder)
    point = checkpoint.read(folder)
    assert point.epochs_done == 1 and point.history["val_loss"][0] is not None and point.exact
    assert [a.shape for a in checkpoint.load_arrays(point)["best"]] == [w.shape for w in tiny_build((8, 8, 1), 10)
                                                                       .get_weights()]
    if older:  # as written before the random states and the arrays beside the model were kept
        state = json.loads((folder / checkpoint.STATE_FILE).read_text())
        del state["seed_states"], state["arrays_sha256"]
        (folder / checkpoint.STATE_FILE).write_text(json.dumps(state))
        point = checkpoint.read(folder)
        assert not point.exact and checkpoint.load_arrays(point) == {}
    # The first epoch's validation loss made lowest (or highest) of all, as the curves will show it.
    point = dataclasses.replace(point, history={**point.history, "val_loss": [first_val_loss]})
    info = runs.load_run(training.train(spec, build=tiny_build, resume_from=point,
                                        checkpoint_dir=cnnviz_home / "again").run.run_id)
    assert (info.metrics["resumed_after_epoch"], info.metrics["resumed_exactly"]) == (1, not older)
    assert checkpoint.read(cnnviz_home / "again").exact is not older  # its epochs are no more exact resumed again
    val = info.history["val_loss"]
    assert val[0] == first_val_loss and len(val) == 2
    assert (info.metrics["best_epoch"], info.metrics["best_val_loss"]) == (best, val[best - 1])
    assert info.metrics["restored_best_weights"] is kept
    row = next(r["value"] for r in run_details(info) if r["what"] == "best validation epoch")
    assert row == (f"{best} (its weights were kept)" if kept else
                   "1 (before the training was resumed: its weights were not saved, so the last epoch's were kept)")


def test_a_damaged_file_beside_the_model_is_found_before_resuming(cnnviz_home):
    model = tiny_build((8, 8, 1), 10)
    folder = checkpoint.folder_for("job1")
    weights = model.get_weights()
    checkpoint.save(folder, model, epochs_done=1, history={"loss": [1.0]}, arrays={"best": weights})
    point = checkpoint.read(folder)
    for saved, original in zip(checkpoint.load_arrays(point)["best"], weights, strict=True):
        assert saved.dtype == original.dtype
        np.testing.assert_array_equal(saved, original)
    with open(folder / checkpoint.ARRAYS_FILE, "r+b") as fh:
        fh.seek(60)
        fh.write(b"\0\1\2")
    with pytest.raises(CnnvizError, match="damaged, so it cannot be resumed"):
        checkpoint.load_arrays(point)


def test_a_checkpoint_keeps_the_dropout_layers_random_states(cnnviz_home):
    """Keras saves a layer's weights in model.keras, not its seed generator: the checkpoint keeps where each one
    is, so the resumed model draws the masks the uninterrupted one would have."""
    import keras

    model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dropout(0.5, name="drop"),
                              keras.layers.Dense(2, name="out")], name="m")
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 2)), batch_size=2, epochs=1, verbose=0)  # 4 draws
    (generator,) = checkpoint.seed_generators(model).values()
    state = np.asarray(generator.state.value)
    assert state[1] == 4
    folder = checkpoint.folder_for("job1")
    checkpoint.save(folder, model, epochs_done=1, history={"loss": [1.0]})
    again = checkpoint.load_model(checkpoint.read(folder))
    assert list(checkpoint.seed_generators(again)) == ["m/drop:0"]
    np.testing.assert_array_equal(np.asarray(checkpoint.seed_generators(again)["m/drop:0"].state.value), state)
    x = np.ones((6, 4), np.float32)
    np.testing.assert_array_equal(np.asarray(model(x, training=True)), np.asarray(again(x, training=True)))


# --- a resumed run's training time ------------------------------------------------------------
def _fit_clock():
    """A Keras callback timing ``fit`` from its start to its end (a part of what ``train_seconds`` covers)."""
    import time

    import keras

    class FitClock(keras.callbacks.Callback):
        seconds = 0.0

        def on_train_begin(self, logs=None):
            self._start = time.monotonic()

        def on_train_end(self, logs=None):
            FitClock.seconds = time.monotonic() - self._start

    return FitClock()


def _interrupted_after_one_epoch(tmp_path, epochs: int = 3):
    """A page-sized run of FLAT_MODEL stopped after its first epoch: its spec, run and checkpoint."""
    import threading

    import keras

    from cnnviz.training import loop as training
    from tests.support.specs import FLAT_MODEL, page_spec

    spec, stop = page_spec(FLAT_MODEL, epochs=epochs), threading.Event()

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            stop.set()

    first = training.train(spec, stop_event=stop, callbacks=[StopAfterFirstEpoch()], checkpoint_dir=tmp_path / "one")
    point = checkpoint.read(tmp_path / "one")
    assert point is not None and point.epochs_done == 1 and first.run.metrics["epochs_completed"] == 1
    return spec, first.run, point


def test_a_resumed_runs_training_time_covers_all_its_epochs(cnnviz_home, tmp_path):
    import time

    from cnnviz.training import loop as training

    spec, first, point = _interrupted_after_one_epoch(tmp_path)
    clock, started = _fit_clock(), time.monotonic()
    resumed = training.train(spec, resume_from=point, callbacks=[clock], checkpoint_dir=tmp_path / "two")
    wall = time.monotonic() - started
    m = runs.load_run(resumed.run.run_id).metrics
    assert m["epochs_completed"] == 3 and "train_seconds_after_epoch" not in m
    assert m["images_per_s"] * m["train_seconds"] == pytest.approx(m["n_train"] * 3, rel=0.03)  # all 3 epochs
    assert 0 < point.fit_seconds <= first.metrics["train_seconds"] + 0.01  # saved inside the first fit
    # the epoch before the resume plus this fit, no more than this whole call took
    assert point.fit_seconds + clock.seconds - 0.01 <= m["train_seconds"] <= point.fit_seconds + wall + 0.01
    assert checkpoint.read(tmp_path / "two").fit_seconds > point.fit_seconds  # a second resume goes on counting


def test_a_run_resumed_from_a_checkpoint_without_its_time_says_what_its_time_covers(cnnviz_home, tmp_path):
    import json

    from cnnviz.runs import details
    from cnnviz.training import loop as training

    spec, _, point = _interrupted_after_one_epoch(tmp_path)
    state_file = point.folder / checkpoint.STATE_FILE
    state = json.loads(state_file.read_text())
    del state["fit_seconds"]  # as a checkpoint written before the time was kept
    state_file.write_text(json.dumps(state))
    old = checkpoint.read(point.folder)
    assert old.fit_seconds is None
    resumed = training.train(spec, resume_from=old, checkpoint_dir=tmp_path / "two")
    info = runs.load_run(resumed.run.run_id)
    m = info.metrics
    assert m["epochs_completed"] == 3 and m["train_seconds_after_epoch"] == 1
    assert m["images_per_s"] * m["train_seconds"] == pytest.approx(m["n_train"] * 2, rel=0.03)  # its own 2 epochs
    time_row = {r["what"]: r["value"] for r in details.run_details(info)}["training time"]
    assert time_row.endswith("(the epochs after epoch 1 only: it was resumed from progress saved without its time)")
    assert checkpoint.read(tmp_path / "two").fit_seconds is None  # not known, so not guessed later either


def test_a_checkpoints_training_time_is_a_number_of_seconds_or_unknown(cnnviz_home):
    import json

    model = tiny_build((8, 8, 1), 10)
    folder = checkpoint.folder_for("job1")
    with pytest.raises(InvalidArgument, match="a finite number of seconds ≥ 0 or None, got -1.0"):
        checkpoint.save(folder, model, epochs_done=1, history={"loss": [1.0]}, fit_seconds=-1.0)
    checkpoint.save(folder, model, epochs_done=1, history={"loss": [1.0]}, fit_seconds=2.5)
    assert checkpoint.read(folder).fit_seconds == 2.5
    state = json.loads((folder / checkpoint.STATE_FILE).read_text())
    (folder / checkpoint.STATE_FILE).write_text(json.dumps({**state, "fit_seconds": "soon"}))
    assert checkpoint.read(folder).fit_seconds is None  # resumable still, its time unknown


# --- early stopping across a resume ---------------------------------------------------------------
def test_a_resumed_run_stops_early_when_the_uninterrupted_run_would(cnnviz_home, tmp_path):
    """Early stopping counts the epochs without improvement before the resume too (the checkpoint's history):
    a resumed run must not train ``patience`` more epochs than the same run without the interruption."""
    import threading

    import keras

    from cnnviz.training import loop as training

    # learning rate 0: the validation loss never improves after epoch 1, so patience 2 stops after epoch 3
    spec = tiny_spec(epochs=10, early_stopping=True, patience=2)
    build = lambda s, n: tiny_build(s, n, learning_rate=0.0)  # noqa: E731
    whole = training.train(spec, build=build).run
    assert whole.metrics["early_stopped"] and whole.metrics["epochs_completed"] == 3

    stop = threading.Event()

    class StopAfterFirstEpoch(keras.callbacks.Callback):  # as the worker's SIGTERM does
        def on_epoch_end(self, epoch, logs=None):
            stop.set()

    training.train(spec, build=build, stop_event=stop, callbacks=[StopAfterFirstEpoch()],
                   checkpoint_dir=tmp_path / "one")
    point = checkpoint.read(tmp_path / "one")
    assert point.epochs_done == 1 and point.history["val_loss"][0] is not None
    resumed = training.train(spec, resume_from=point).run
    assert resumed.metrics["early_stopped"] and resumed.metrics["epochs_completed"] == 3
    assert len(resumed.history["val_loss"]) == 3
