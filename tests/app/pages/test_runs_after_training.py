"""AppTest: the Runs page after a training on Build & train, whose panel links to it with "Compare it with
other runs": the run just trained is in Compare and is the run shown under One run, also when the student
had chosen other runs there before; while it trains, the page says it will be there when it ends."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import jobs as appjobs
from cnnviz.app import state
from cnnviz.training import jobs as jobmanager
from cnnviz.training import loop as training
from tests.support.models import tiny_build
from tests.support.pages import start_page_training
from tests.support.specs import tiny_spec


pytestmark = pytest.mark.slow

TAG = "seed000_model1_digits"  # widget keys of the first preset on the digits data


def test_the_run_just_trained_is_compared_and_shown_on_runs(app_path):
    earlier = training.train(tiny_spec(seed=1), build=tiny_build).run
    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/runs.py").run()  # a visit before: Compare and One run hold the earlier run
    assert at.multiselect(key="runs_compare").value == [earlier.run_id]

    at.switch_page("app_pages/build_train.py").run()
    job_id = start_page_training(at, TAG, epochs=1, train_size=60, test_size=30, batch=8)
    status = appjobs.training_jobs().wait(job_id, timeout=240)
    assert status.state == "finished", status
    at.run()
    assert [link.proto.page for link in at.get("page_link")][-1] == "runs"  # "Compare it with other runs"

    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="runs_compare").value == [earlier.run_id, status.run_id]
    assert at.selectbox(key="runs_selected").value == status.run_id
    # Once: the student's own choices afterwards are kept.
    at.multiselect(key="runs_compare").set_value([earlier.run_id]).run()
    at.selectbox(key="runs_selected").set_value(earlier.run_id).run()
    at.switch_page("app_pages/build_train.py").run()
    at.switch_page("app_pages/runs.py").run()
    assert at.multiselect(key="runs_compare").value == [earlier.run_id]
    assert at.selectbox(key="runs_selected").value == earlier.run_id


def test_a_training_in_progress_is_said_on_runs_not_no_runs_yet(app_path, monkeypatch):
    jobs = jobmanager.JobManager(max_jobs=1)
    monkeypatch.setattr(jobmanager, "_manager", jobs)
    job_id = jobs.submit(tiny_spec(epochs=1000), build=tiny_build)  # runs (or waits) for the whole test
    try:
        at = AppTest.from_file(app_path, default_timeout=180).run()
        at.session_state[state.TRAIN_JOB_KEY] = job_id  # as Train on Build & train leaves it
        at.switch_page("app_pages/runs.py").run()
        assert not at.exception, at.exception
        assert jobs.status(job_id).active
        said = [i.value for i in at.info]
        assert not any("train a network first" in s for s in said), said
        assert any("Your training is still going on" in s and "Runs when it ends" in s for s in said), said
        assert [link.proto.page for link in at.get("page_link")] == ["build_train"]
    finally:
        jobs.stop(job_id)
        jobs.wait(job_id, timeout=120)
