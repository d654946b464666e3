"""A tab that changes hands (the teacher leaves teacher mode on a classroom PC, a student picks a name) keeps
nothing of the one before: not the teacher's training, its unshared run, or a disabled Train button."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.classroom import people
from cnnviz.training import jobs as jobmanager
from tests.support.pages import TIMEOUT, no_errors
from tests.support.runfolders import GOOD_CONFIG, write_run

pytestmark = pytest.mark.slow
RUN_ID = "20260101-000000-0000c0de"


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _texts(at: AppTest) -> str:
    return " ".join([s.value for s in at.success] + [i.value for i in at.info] + [m.value for m in at.markdown])


@pytest.mark.parametrize("ended", [False, True])
def test_a_student_after_the_teacher_in_one_tab_gets_none_of_the_teachers_trainings(ended, cnnviz_home, app_path,
                                                                                   monkeypatch):
    for name in (people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    manager = jobmanager.JobManager(workers=False)
    monkeypatch.setattr(jobmanager, "_manager", manager)
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="identity_password").input("pass-1234")
    _button(at, "Enter").click().run()
    at.switch_page("app_pages/build_train.py").run()
    at.button(key="train_start").click().run()  # the teacher's training
    (job,) = manager.active_jobs()
    assert job.owner == people.TEACHER_OWNER
    if ended:  # it finished with a run the teacher did not share
        write_run(cnnviz_home, RUN_ID, config={**GOOD_CONFIG, "owner": "teacher"})
        manager.table.claim(token="t", pid=0)
        manager.table.finish(job.job_id, state="finished", run_id=RUN_ID, test_accuracy=0.987)
    _button(at, "Leave teacher mode").click().run()
    at.text_input(key="identity_name").input("Ann")
    _button(at, "Start").click().run()
    at.switch_page("app_pages/build_train.py").run()
    no_errors(at)
    assert "You are **Ann**" in " ".join(c.value for c in at.sidebar.caption)
    assert RUN_ID not in _texts(at) and "98.7%" not in _texts(at), "Ann sees the teacher's unshared run"
    assert "in the queue" not in _texts(at), "Ann is told the teacher's training is hers"
    assert not at.button(key="train_start").disabled, "Ann may not train: the teacher's job counts as hers"
