"""AppTest: Build & train (builder, summary, a tiny training with live curves) and the Runs page."""

from __future__ import annotations

import json
import os
import time

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import jobs as appjobs
from cnnviz.app import panel, state
from cnnviz.runs import store as runs
from cnnviz.training import jobs as jobmanager
from cnnviz.training import loop as training
from tests.support.models import tiny_build, W16_TOTAL
from tests.support.pages import run_until, start_page_training
from tests.support.specs import tiny_spec


pytestmark = pytest.mark.slow

TAG = "seed000_model1_digits"  # widget keys of the first preset on the digits data


def _build_page(app_path) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/build_train.py").run()
    assert not at.exception, at.exception
    return at


def _wait_for_phase(jobs, job_id, phase, timeout=120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if jobs.status(job_id).progress.phase == phase:
            return True
        time.sleep(0.05)
    return False


def test_build_page_shows_preset_summary_and_builder(app_path):
    at = _build_page(app_path)
    assert at.selectbox(key="train_dataset").value == "digits"
    assert at.selectbox(key="train_preset").value == "seed000_model1"
    # Named as a class knows it, with the notebook as a source line (not "Seed 000 model1").
    assert at.selectbox(key="train_preset").format_func("seed000_model1") == "CNN Lab: 2 conv layers, 16 filters"
    assert any("Source: seed 000 (CNN Lab, 2020)" in c.value for c in at.caption)
    summary = at.dataframe[0].value
    assert list(summary["name"])[:3] == ["image", "conv_1", "bn_1"]
    assert list(summary["formula"])[1] == "(3·3·1+1)·16 = 160"  # 8×8×1 digits into 16 3×3 filters
    metrics = {m.label: m.value for m in at.metric}
    total = int(metrics["Parameters"].replace(",", ""))
    assert total == summary["params"].sum()

    at.segmented_control(key="train_source").set_value("My own network").run()
    assert not at.exception
    assert not any("seed 000" in o for o in at.radio(key="build_growth").options)
    at.slider(key="build_conv").set_value(4).run()  # 8×8 digits pool below 1×1 after 3 layers
    assert "conv layers" in at.error[0].value and "got conv layers = 4" in at.error[0].value
    assert at.button(key="train_start").disabled
    at.slider(key="build_conv").set_value(1).run()
    assert not at.error and not at.button(key="train_start").disabled


def test_train_live_then_runs_page_lists_it(app_path):
    at = _build_page(app_path)
    job_id = start_page_training(at, TAG, epochs=2, train_size=60, test_size=30, batch=8)
    assert job_id and at.button(key="train_start").disabled  # one training at a time per student

    def curves_shown(at):
        return any(c.key == "train_live_curves" for c in at.get("plotly_chart")) or not appjobs.training_jobs().status(
            job_id).active

    run_until(at, curves_shown)
    status = appjobs.training_jobs().wait(job_id, timeout=240)
    assert status.state == "finished", status
    # Trained in a worker process, not in the server's (here: the test's), and owned by the laptop's user.
    assert status.worker_pid is not None and status.worker_pid != os.getpid()
    assert status.worker_pid in appjobs.training_jobs().worker_pids()  # a warm worker: still there for the next job
    assert (status.owner, status.owner_name) == ("teacher", "Teacher")
    run_until(at, lambda at: any("test accuracy" in s.value for s in at.success))
    assert any(c.key == "train_live_curves" for c in at.get("plotly_chart"))
    assert not at.button(key="train_start").disabled
    assert f"run `{status.run_id}`" in at.success[0].value and "the notebook got" not in at.success[0].value
    assert any("No notebook figure for this set-up" in c.value and "dataset digits (the notebook: cifar10)" in c.value
               for c in at.caption)  # seed 000's 52.9% was on CIFAR-10

    info = runs.load_run(status.run_id)
    assert info.config["preset"] == "seed000_model1" and info.config["epochs"] == 2
    assert (info.owner, info.owner_name) == ("teacher", "Teacher")
    assert info.metrics["n_test"] == 30
    # Finished, the panel's pace is the saved run's (first batch included), not its last live one.
    shown_rate = next(m for m in at.metric if m.label == "images / s")
    assert shown_rate.value == f"{info.metrics['images_per_s']:,.0f}" and "whole training" in shown_rate.help

    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == [status.run_id]
    assert table["test accuracy"][0] == pytest.approx(info.test_accuracy)
    assert at.multiselect(key="runs_compare").value == [status.run_id]
    assert any(c.key == "runs_curves" for c in at.get("plotly_chart"))
    details = next(d.value for d in at.dataframe if list(d.value.columns) == ["what", "value"])
    assert dict(zip(details["what"], details["value"]))["images per second"] == shown_rate.value  # one number


def test_runs_page_compares_downloads_and_deletes(app_path):
    a = training.train(tiny_spec(seed=1), build=tiny_build).run
    b = training.train(tiny_spec(seed=2, epochs=2, validation_fraction=0.0), build=tiny_build).run
    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, at.exception
    assert set(at.dataframe[0].value["run"]) == {a.run_id, b.run_id}
    differ = at.dataframe[1].value
    assert {"epochs", "seed"} <= set(differ.columns) and "dataset" not in differ.columns
    # b kept no validation images: the legend note says why it has no dashed line, and only for b.
    note = next(c.value for c in at.caption if c.value.startswith("Solid: training; dashed: validation."))
    assert f"No dashed line for {b.label}: it kept no validation images" in note and a.label not in note
    at.segmented_control(key="runs_metric").set_value("loss").run()
    assert not at.exception

    at.selectbox(key="runs_selected").set_value(a.run_id).run()
    # The run's settings and results: a short table of formatted values, not a JSON tree of every key.
    assert not at.json
    details = next(d.value for d in at.dataframe if list(d.value.columns) == ["what", "value"])
    assert "test accuracy" in list(details["what"]) and "None" not in list(details["value"])
    assert at.button(key="runs_delete").disabled
    at.checkbox(key="runs_delete_confirm").check().run()
    at.button(key="runs_delete").click().run()
    assert not at.exception, at.exception
    assert [r.run_id for r in runs.list_runs()] == [b.run_id]
    assert list(at.dataframe[0].value["run"]) == [b.run_id]


def test_runs_page_without_runs(app_path):
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
    assert "No runs yet" in at.info[0].value


def test_the_panel_refreshes_at_the_pace_of_its_place(app_path, monkeypatch):
    import streamlit

    paces = []
    real_fragment = streamlit.fragment

    def recording_fragment(func=None, *, run_every=None):
        paces.append(run_every)
        return real_fragment(func, run_every=run_every)

    monkeypatch.setattr(streamlit, "fragment", recording_fragment)
    jobs = jobmanager.JobManager(max_jobs=1)
    monkeypatch.setattr(jobmanager, "_manager", jobs)
    blocker = jobs.submit(tiny_spec(epochs=1000), build=tiny_build)
    assert _wait_for_phase(jobs, blocker, "training")  # the worker is up and holds the only slot
    ahead = [jobs.submit(tiny_spec(seed=s), build=tiny_build) for s in range(4)]
    mine = jobs.submit(tiny_spec(seed=9), build=tiny_build)
    try:
        at = _build_page(app_path)
        at.session_state[state.TRAIN_JOB_KEY] = mine
        at.run()
        assert not at.exception, at.exception
        assert "you are number 5 in the queue" in at.info[0].value
        assert paces[-1] == panel.queued_refresh_s(5) == 4.0
        for job in ahead:
            jobs.stop(job)
        at.run()
        assert "you are number 1 in the queue" in at.info[0].value and paces[-1] == panel.QUEUED_REFRESH_S
        at.session_state[state.TRAIN_JOB_KEY] = blocker
        at.run()
        assert paces[-1] == panel.LIVE_REFRESH_S
    finally:
        for job in (mine, blocker):
            jobs.stop(job)
        jobs.wait(blocker, timeout=120)


def test_queue_position_is_shown(app_path, monkeypatch):
    jobs = jobmanager.JobManager(max_jobs=1)
    monkeypatch.setattr(jobmanager, "_manager", jobs)
    # The most epochs allowed (~75 s here, less on a faster machine): it must still run after many page runs.
    blocker = jobs.submit(tiny_spec(epochs=1000), build=tiny_build)
    assert _wait_for_phase(jobs, blocker, "training")  # the worker is up and holds the only slot
    try:
        at = _build_page(app_path)
        at.session_state[state.TRAIN_JOB_KEY] = jobs.submit(tiny_spec(), build=tiny_build)
        at.run()
        assert not at.exception, at.exception
        assert "you are number 1 in the queue" in at.info[0].value
        at.button(key="train_stop").click().run()  # leaving the queue
        assert jobs.status(at.session_state[state.TRAIN_JOB_KEY]).state == "cancelled"

        # Now watch the running job and stop it from the page.
        at.session_state[state.TRAIN_JOB_KEY] = blocker
        assert _wait_for_phase(jobs, blocker, "training")
        run_until(at, lambda at: bool(at.get("progress")) and "Epoch" in at.get("progress")[0].proto.text)
        assert at.button(key="train_start").disabled
        # Clicks and page switches do not touch the job.
        at.slider(key=f"train_val_{TAG}").set_value(0.3).run()
        at.switch_page("app_pages/runs.py").run()
        at.switch_page("app_pages/build_train.py").run()
        assert not at.exception and jobs.status(blocker).state == "running"
        assert at.session_state[state.TRAIN_JOB_KEY] == blocker and at.button(key="train_stop")
        at.button(key="train_stop").click().run()
        status = jobs.wait(blocker, timeout=120)
        assert status.state == "stopped"
        run_until(at, lambda at: bool(at.success))
        assert at.success[0].value.startswith(f"Stopped: run `{status.run_id}`")
        assert runs.load_run(status.run_id).status == "stopped"
        # The final curves fit the epochs done, not the 1,000 planned (the live ones show the plan).
        final = [c for c in at.get("plotly_chart") if c.key == "train_live_curves"]
        layout = json.loads(final[0].proto.spec)["layout"]
        assert "range" not in layout["xaxis"] and "range" not in layout["xaxis2"]
        assert status.progress.epochs == 1000 and status.progress.epoch < 1000
    finally:
        jobs.stop(blocker)
        jobs.wait(blocker, timeout=120)


def test_shared_run_model_is_cached_with_a_lock(app_path):
    info = training.train(tiny_spec(), build=tiny_build).run
    script = f"""
import streamlit as st
from cnnviz.app import caches
from cnnviz.runs import store as runs
import dataclasses
import re
import numpy as np
from cnnviz.data import augment, scaling
from cnnviz.data.datasets import Dataset
from cnnviz.errors import InvalidArgument
from cnnviz.models import architectures, whitening
from cnnviz.models.config import ModelConfig
from cnnviz.models.layerspec import param_calculator
from cnnviz.models.network import build_model, summary_table
from cnnviz.models.presets import PRESETS
from cnnviz.runs.rundata import prepare_inputs
from cnnviz.training.callbacks import lr_at
from cnnviz.training.pipeline import make_pipeline
from cnnviz.training.spec import spec_from_preset
from cnnviz.training.tta import predict_tta, translate_images
from tests.support.specs import TINY_MODEL, tiny_spec
model, lock = caches.run_model(runs.load_run({info.run_id!r}))
again, lock2 = caches.run_model(runs.load_run({info.run_id!r}))
st.session_state["same"] = model is again and lock is lock2
st.session_state["layers"] = [layer.name for layer in model.layers]
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.session_state["same"] and at.session_state["layers"] == ["conv-1", "flatten", "predictions"]


def test_too_few_training_images_for_the_split_are_refused_before_training(app_path):
    at = _build_page(app_path)
    at.number_input(key=f"train_size_{TAG}").set_value(20).run()  # 10 digit classes, 25% validation
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [
        "With 10 classes and a validation share of 0.25, training needs at least 37 images "
        "(every class on both sides of the split), got 20."]
    assert at.button(key="train_start").disabled
    at.number_input(key=f"train_size_{TAG}").set_value(37).run()
    assert not at.error and not at.button(key="train_start").disabled


def test_a_value_outside_its_range_disables_train_and_says_why(app_path):
    """Streamlit's own range check kept the last valid learning rate while the box showed 0 (issue 14)."""
    at = _build_page(app_path)
    assert not at.button(key="train_start").disabled
    at.number_input(key=f"train_lr_{TAG}").set_value(0.0).run()
    assert [e.value for e in at.error] == ["Learning rate must be from 1e-05 to 1; the box shows 0."]
    assert at.button(key="train_start").disabled
    at.number_input(key=f"train_epochs_{TAG}").set_value(0).run()
    assert "Epochs must be from 1 to 500; the box shows 0." in [e.value for e in at.error]
    at.number_input(key=f"train_lr_{TAG}").set_value(0.01).run()
    at.number_input(key=f"train_epochs_{TAG}").set_value(2).run()
    assert not at.error and not at.button(key="train_start").disabled


# --- the Build & train page ------------------------------------------------------------------
def _page(app_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/build_train.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_page_without_cifar10_explains_and_disables_train(app_path):
    at = _page(app_path)
    assert at.segmented_control(key="train_source").value == "A network from the notebooks"  # digits only
    assert at.segmented_control(key="train_source").options[0] == "Fast CIFAR-10 (minutes)"
    at.segmented_control(key="train_source").set_value("Fast CIFAR-10 (minutes)").run()
    assert not at.exception, at.exception
    # "get CIFAR-10 first" with a link, not a layer-shape error about the 8×8×1 digits (issue 14)
    assert not at.error, [e.value for e in at.error]
    assert any("made for CIFAR-10, which is not on this machine yet" in i.value and "Get CIFAR-10 first" in i.value
               for i in at.info)
    assert any(link.proto.page == "app_pages/datasets.py" or "datasets" in link.proto.page
               for link in at.get("page_link"))
    assert at.button(key="train_start").disabled
    at.segmented_control(key="train_source").set_value("A network from the notebooks").run()
    at.selectbox(key="train_preset").set_value("seed001_cnn").run()  # 5×5 filters: no room in 8×8 digits
    assert not at.error and any("Get CIFAR-10 first" in i.value for i in at.info)
    at.selectbox(key="train_preset").set_value("seed000_model1").run()  # fits the digits: trains on them
    assert not at.error and not any("Get CIFAR-10 first" in i.value for i in at.info)
    assert not at.button(key="train_start").disabled


@pytest.mark.slow
def test_page_offers_the_fast_presets_first_and_trains_one(app_path, tmp_path):
    from cnnviz.app import jobs as appjobs
    from cnnviz.app import state
    from cnnviz.data import datasets
    from tests.support.archives import write_tiny_dir

    datasets.import_cifar10(write_tiny_dir(tmp_path))  # 100 training and 20 test images
    at = _page(app_path)
    assert at.selectbox(key="train_dataset").value == "cifar10"
    assert at.segmented_control(key="train_source").value == "Fast CIFAR-10 (minutes)"
    assert at.radio(key="train_fast_preset").value == "fast_3min"
    assert any("Train a good CIFAR-10 model in 3 minutes" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Expected test accuracy"] == "≈82%" and metrics["Expected time"] == "≈2.5 min"
    assert metrics["Parameters"] == f"{W16_TOTAL:,}"
    assert list(at.dataframe[0].value["name"])[:3] == ["image", "whiten", "whiten_gelu"]
    at.radio(key="train_fast_preset").set_value("fast_1min").run()
    assert {m.label: m.value for m in at.metric}["Expected test accuracy"] == "≈72%"
    headings = [m.value for m in at.markdown if m.value.startswith("##### Train a good")]
    assert headings == ["##### Train a good CIFAR-10 model in 1 minute"]  # not the 3 minutes of the default
    assert not at.button(key="train_start").disabled
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    status = appjobs.training_jobs().wait(at.session_state[state.TRAIN_JOB_KEY], timeout=300)
    assert status.state == "finished", status
    info = runs.load_run(status.run_id)
    assert info.config["preset"] == "fast_1min" and info.metrics["n_train"] == 100
    at.run()
    note = next(s.value for s in at.success if "test accuracy" in s.value)
    assert any(c.value.startswith("Why the training accuracy can be lower than the test accuracy") for c in at.caption)
    assert "mirror image" in note and "expected on a quiet 2-core server: ≈72%" in note


def test_a_training_whose_worker_died_is_resumed_from_the_page(app_path):
    import signal

    from cnnviz.training import checkpoint

    jobs = appjobs.training_jobs()
    victim = jobs.submit(tiny_spec(epochs=40), build=tiny_build)

    def saved_epochs() -> int:
        point = checkpoint.read(checkpoint.folder_for(victim))
        return point.epochs_done if point is not None else 0

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and saved_epochs() < 1:
        time.sleep(0.05)
    os.kill(jobs.status(victim).worker_pid, signal.SIGKILL)  # out of memory, say
    assert jobs.wait(victim, timeout=60).state == "failed"
    done = jobs.resumable(victim)
    assert done >= 1

    at = _build_page(app_path)
    at.session_state[state.TRAIN_JOB_KEY] = victim
    at.run()
    assert not at.exception, at.exception
    assert any(e.value == "failed: the training process ended unexpectedly" for e in at.error)
    assert at.button(key="train_resume").label == f"Resume after epoch {done}"
    assert at.button(key="train_resume").help.endswith("earlier epochs: the same training as without the "
                                                       "interruption (the same batches, random draws and optimiser "
                                                       "steps).")
    at.button(key="train_resume").click().run()
    assert not at.exception, at.exception
    resumed = at.session_state[state.TRAIN_JOB_KEY]
    assert resumed != victim and at.button(key="train_start").disabled  # busy again: one training at a time
    status = jobs.wait(resumed, timeout=300)
    assert status.state == "finished", status
    assert status.worker_pid not in (None, os.getpid())
    run_until(at, lambda at: any(s.value.startswith(f"Finished: run `{status.run_id}`") for s in at.success))
    assert len(runs.load_run(status.run_id).history["loss"]) == 40
