"""One training at a time per student, kept by the backend: the same student in a second tab (or with a forged
click) cannot queue another training ahead of the classmates who press Train after."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import state
from cnnviz.classroom import people, roster
from cnnviz.training import checkpoint, jobtable
from cnnviz.training import jobs as jobmanager
from tests.support.pages import TIMEOUT, no_errors
from tests.support.specs import tiny_spec

pytestmark = pytest.mark.slow


def _open_tab(app_path: str, key: str, *, resume: bool = False) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    at.switch_page("app_pages/build_train.py").run()
    if not resume:
        no_errors(at)
    assert at.button(key="train_resume" if resume else "train_start").disabled is False
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


def test_resume_in_a_second_tab_is_refused_in_words(cnnviz_home, app_path, monkeypatch):
    """Both tabs show Ann's interrupted training with Resume; the first resumes it, the second is told why it
    may not (a callback's exception would only say "an error occurred")."""
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    manager = jobmanager.JobManager(workers=False)
    monkeypatch.setattr(jobmanager, "_manager", manager)
    ann_key, ann = roster.register("Ann")
    job_id = manager.submit(tiny_spec(), owner=ann)
    manager.table.claim(token="t", pid=0)
    manager.table.finish(job_id, state="interrupted", error=jobtable.INTERRUPTED_MESSAGE)
    folder = checkpoint.folder_for(job_id)  # one finished epoch kept
    folder.mkdir(parents=True)
    (folder / checkpoint.MODEL_FILE).write_bytes(b"x")
    (folder / checkpoint.STATE_FILE).write_text(json.dumps({"epochs_done": 1, "history": {"loss": [1.0]}}))
    first, second = (_open_tab(app_path, ann_key, resume=True) for _ in range(2))
    first.button(key="train_resume").click().run()
    no_errors(first)
    second.button(key="train_resume").click().run()
    assert not second.exception, second.exception
    resumed = [s.job_id for s in manager.active_jobs()]
    assert len(resumed) == 1 and first.session_state[state.TRAIN_JOB_KEY] == resumed[0]
    said = [t.value for t in second.toast] + [e.value for e in second.error]
    assert any(f"job {resumed[0]} is still queued or running" in text for text in said), said
