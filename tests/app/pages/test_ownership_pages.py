"""Two students and a teacher in one server, through the pages (issue 14): Ann's run is not offered to Ben on
Evaluate, Inside or Robustness (nor listed on Runs); the teacher sees both; a run the teacher shares is Ben's to
look at, read-only (no Delete)."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.classroom import people, roster
from cnnviz.classroom import settings as class_settings
from cnnviz.classroom.people import local_teacher
from cnnviz.training import loop as training
from tests.support.pages import TIMEOUT, no_errors, open_page
from tests.support.specs import FLAT_MODEL, page_spec


pytestmark = pytest.mark.slow

RUN_PAGES = {"app_pages/evaluate.py": "eval_run", "app_pages/inside.py": "inside_run",
             "app_pages/robustness.py": "robust_runs"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Ann's and Ben's tiny runs and the roster, trained once into a home of their own."""
    home = tmp_path_factory.mktemp("two-students")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        (_, ann), (ben_key, ben) = roster.register("Ann"), roster.register("Ben")
        ids = {who.display_name: training.train(page_spec(FLAT_MODEL, epochs=1, seed=s),
                                                owner=(who.user_id, who.display_name)).run.run_id
               for s, who in enumerate((ann, ben))}
    return home, ids, ben_key


@pytest.fixture
def room(stored, cnnviz_home, monkeypatch):
    home, ids, ben_key = stored
    shutil.copytree(home, cnnviz_home, dirs_exist_ok=True)
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)
    return ids, ben_key


def _as_ben(app_path: str, ben_key: str, page: str, monkeypatch) -> AppTest:
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = ben_key
    at.run()
    at.switch_page(page).run()
    no_errors(at)
    return at


def _offered(at: AppTest, page: str) -> str:
    key = RUN_PAGES[page]
    picker = at.multiselect(key=key) if page.endswith("robustness.py") else at.selectbox(key=key)
    return " ".join(picker.options)


@pytest.mark.parametrize("page", sorted(RUN_PAGES))
def test_ben_is_offered_only_his_run_and_the_teacher_both(page, room, app_path, monkeypatch):
    ids, ben_key = room
    offered = _offered(_as_ben(app_path, ben_key, page, monkeypatch), page)
    assert ids["Ben"][-8:] in offered and ids["Ann"][-8:] not in offered and "· by" not in offered
    monkeypatch.delenv(people.CLASSROOM_ENV)
    teacher = open_page(app_path, page)  # a laptop: the local teacher
    no_errors(teacher)
    offered = _offered(teacher, page)
    assert ids["Ben"][-8:] in offered and ids["Ann"][-8:] in offered
    assert "· by Ann" in offered and "· by Ben" in offered  # the teacher's list says whose run it is


def test_a_shared_run_is_read_only_for_ben_on_the_runs_page(room, app_path, monkeypatch):
    ids, ben_key = room
    at = _as_ben(app_path, ben_key, "app_pages/runs.py", monkeypatch)
    assert list(at.dataframe[0].value["by"]) == ["Ben"]
    class_settings.share_run(ids["Ann"], by=local_teacher())
    at.run()
    assert sorted(at.dataframe[0].value["by"]) == ["Ann", "Ben"]
    at.selectbox(key="runs_selected").select(ids["Ann"]).run()
    no_errors(at)
    assert not [b for b in at.button if b.key == "runs_delete"]
    assert any("Trained by Ann: shared with the class, read-only." in c.value for c in at.caption)
    at.selectbox(key="runs_selected").select(ids["Ben"]).run()
    assert at.button(key="runs_delete") is not None
