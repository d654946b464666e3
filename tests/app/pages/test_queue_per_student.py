"""One training at a time per student, kept by the backend: the same student in a second tab (or with a forged
click) cannot queue another training ahead of the classmates who press Train after."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.classroom import people, roster
from cnnviz.training import jobs as jobmanager
from tests.support.pages import TIMEOUT, no_errors

pytestmark = pytest.mark.slow


def _open_tab(app_path: str, key: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    at.switch_page("app_pages/build_train.py").run()
    no_errors(at)
    assert not at.button(key="train_start").disabled
    return at


def test_a_student_with_three_tabs_queues_one_training(cnnviz_home, app_path, monkeypatch):
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    manager = jobmanager.JobManager(workers=False)  # a full class: everything waits in the queue
    monkeypatch.setattr(jobmanager, "_manager", manager)
    (ann_key, ann), (ben_key, ben) = roster.register("Ann"), roster.register("Ben")
    tabs = [_open_tab(app_path, key) for key in (ann_key, ann_key, ann_key)]  # Ann opens three tabs
    for at in tabs:  # then presses Train in each
        at.button(key="train_start").click().run()
        assert not at.exception, at.exception  # a refusal is said with st.error
    _open_tab(app_path, ben_key).button(key="train_start").click().run()  # Ben, after her
    queued = manager.active_jobs()
    anns = [s for s in queued if s.owner == ann.user_id]
    bens = [s for s in queued if s.owner == ben.user_id]
    assert len(bens) == 1 and bens[0].queue_position == 2
    assert len(anns) == 1, f"Ann has {len(anns)} trainings queued; Ben waits at place {bens[0].queue_position}"
    said = [e.value for at in tabs[1:] for e in at.error]
    assert len(said) == 2 and all(f"job {anns[0].job_id} is still queued or running (one training at a time per "
                                  "student)" in text for text in said), said
