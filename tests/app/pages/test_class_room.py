"""The Class page (issue 14): the teacher sees who trains and waits, stops any job, changes the cap, shares runs
and the results table; a student gets a short note, and the results table once the teacher shares it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz import markup
from cnnviz.classroom import people, roster
from cnnviz.classroom import settings as class_settings
from cnnviz.classroom.people import local_teacher
from cnnviz.training import jobs as jobmanager
from cnnviz.training import jobtable
from cnnviz.training.jobtable import JobTable
from tests.support.models import tiny_build
from tests.support.pages import TIMEOUT, no_errors, open_page, texts
from tests.support.runfolders import GOOD_CONFIG, write_run
from tests.support.specs import tiny_spec

PAGE = "app_pages/class_room.py"
A_RUN = "20260101-000000-0000000a"


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch):
    """Jobs stay where the test puts them: no worker starts to train them."""
    monkeypatch.setattr(jobmanager.JobManager, "ensure_workers", lambda self: None)
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ann_and_ben(cnnviz_home):
    (_, ann), (ben_key, ben) = roster.register("Ann"), roster.register("Ben")
    write_run(cnnviz_home, A_RUN, config={**GOOD_CONFIG, "owner": ann.user_id, "owner_name": "Ann"})
    manager = jobmanager.JobManager(workers=False)
    jobs = [manager.submit(tiny_spec(seed=s), build=tiny_build, owner=who) for s, who in enumerate((ann, ben))]
    return ann, ben, ben_key, jobs


def _button(at: AppTest, key: str):
    return at.button(key=key)


def test_the_teacher_sees_the_queue_and_stops_a_students_job(app_path, ann_and_ben):
    ann, ben, _, (ann_job, ben_job) = ann_and_ben
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert [s.value for s in at.subheader][:3] == ["Trainings", "What the class sees", "Results of the class"]
    assert "0 training, 2 waiting" in texts(at)
    queue = at.dataframe[0].value
    assert list(queue["who"]) == ["Ann", "Ben"] and list(queue["place in queue"]) == [1, 2]
    at.selectbox(key="class_stop_job").select(ben_job)
    _button(at, "class_stop").click().run()
    no_errors(at)
    table = JobTable()
    assert table.status(ben_job).state == "cancelled" and table.status(ann_job).state == "queued"
    assert "0 training, 1 waiting" in texts(at)



def test_a_running_training_the_teacher_stopped_is_listed_as_stopping(app_path, ann_and_ben, monkeypatch):
    # A running job ends only at its next batch: after "Stop it" the page drew the same "running" row and the same
    # count, as if the button had done nothing, and the teacher clicked again.
    _, _, _, (ann_job, _) = ann_and_ben
    monkeypatch.setattr(jobtable, "_worker_alive", lambda token, updated: True)  # a (pretend) worker trains it
    JobTable().claim(token="test", pid=0)  # Ann's job starts
    at = open_page(app_path, PAGE)
    assert "1 training, 1 waiting" in texts(at)
    at.selectbox(key="class_stop_job").select(ann_job)
    _button(at, "class_stop").click().run()
    no_errors(at)
    assert JobTable().status(ann_job).stop_requested
    queue = at.dataframe[0].value
    assert list(queue["state"]) == ["stopping", "queued"]
    assert "1 training (1 stopping within a batch), 1 waiting" in texts(at)

def test_the_teacher_changes_the_cap_and_what_the_class_sees(app_path, ann_and_ben):
    at = open_page(app_path, PAGE)
    cap = JobTable().max_jobs() + 2
    at.number_input(key="class_cap").set_value(cap).run()  # the browser reruns on the change: Apply opens
    _button(at, "class_cap_apply").click().run()
    no_errors(at)
    assert JobTable().max_jobs() == cap
    at.toggle(key="class_sees_all").set_value(True).run()
    at.toggle(key="class_results_shared").set_value(True).run()
    no_errors(at)
    assert class_settings.class_sees_all() and class_settings.results_shared()
    at.multiselect(key="class_shared_runs").select(A_RUN).run()
    _button(at, "class_share_apply").click().run()
    no_errors(at)
    assert class_settings.shared_runs() == {A_RUN}
    results = next(f.value for f in at.dataframe if "best test accuracy" in f.value.columns)
    assert list(results["who"]) == ["Ann"]


def test_a_student_gets_a_note_and_the_results_only_when_shared(app_path, ann_and_ben, monkeypatch):
    _, _, ben_key, (ann_job, _) = ann_and_ben
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = ben_key
    at.run()
    at.switch_page(PAGE).run()
    no_errors(at)
    assert any("This page is for the teacher" in i.value for i in at.info)
    assert not at.toggle and not at.dataframe and not at.button
    class_settings.set_results_shared(True, by=local_teacher())
    at.run()
    no_errors(at)
    assert [s.value for s in at.subheader] == ["Results of the class"]
    assert list(at.dataframe[0].value["who"]) == ["Ann"]
    assert JobTable().status(ann_job).state == "queued"  # and nothing else to press


@pytest.mark.parametrize("env, says", [
    ({people.PASSWORD_ENV: "pass-1234"}, "The teacher opens it with the password in the sidebar's Teacher box."),
    ({people.TEACHERS_ENV: "teach@school.example"}, "The teacher opens it signed in with a teacher's account."),
    ({people.CLASSROOM_ENV: "1"}, "No teacher can open it in a browser on this server: it has no teacher password"),
    ({people.TEACHERS_ENV: "teach@school.example", "no sign-in": ""}, "No teacher can open it in a browser"),
])
def test_a_students_note_says_how_the_teacher_gets_in_on_this_server(app_path, ann_and_ben, monkeypatch, env, says):
    # The note sent everyone to "the password in the sidebar's Teacher box", also on a server of teachers' accounts
    # (README: CNNVIZ_TEACHERS) or with no password at all, where that box says no password is set.
    _, _, ben_key, _ = ann_and_ben
    for name, value in env.items():
        if name.startswith("CNNVIZ_"):
            monkeypatch.setenv(name, value)
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    if people.TEACHERS_ENV in env and "no sign-in" not in env:  # a student signed in with a school account
        at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback",
                              "cookie_secret": "a-long-random-cookie-secret", "client_id": "cnnviz",
                              "client_secret": "client-secret-value",
                              "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}
        at.user = {"is_logged_in": True, "email": "ben@school.example", "name": "Ben", "sub": "2"}
    else:
        at.query_params["key"] = ben_key
    at.run()
    at.switch_page(PAGE).run()
    no_errors(at)
    notes = [i.value for i in at.info if "This page is for the teacher" in i.value]
    assert len(notes) == 1 and says in notes[0], notes


def test_a_cap_out_of_range_is_said_and_apply_stays_off(app_path, ann_and_ben):
    """Issue 14: the cap's range is checked in Python: 0 stays in the box, is said, and cannot be applied."""
    at = open_page(app_path, PAGE)
    before = JobTable().max_jobs()
    at.number_input(key="class_cap").set_value(0).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Trainings at once must be from 1 to 64; the box shows 0."]
    assert at.number_input(key="class_cap").value == 0 and _button(at, "class_cap_apply").disabled
    assert JobTable().max_jobs() == before


def test_an_experiment_job_is_listed_with_its_owner_and_counted(app_path, ann_and_ben):
    import numpy as np

    from cnnviz.lessons import experiments as ex
    from cnnviz.training import experiment_jobs

    ann, _, _, _ = ann_and_ben
    rng = np.random.default_rng(0)
    data = ex.make_data(rng.uniform(size=(60, 8, 8, 1)).astype(np.float32), np.arange(60) % 3, train_size=40,
                        val_size=20, num_classes=3)
    job_id = experiment_jobs.submit(jobmanager.JobManager(workers=False), "dropout", {"images": data},
                                    label="Experiment: dropout", owner=ann)
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert "0 training, 3 waiting" in texts(at)
    queue = at.dataframe[0].value
    row = queue[queue["job"] == job_id].iloc[0]
    assert (row["who"], row["what"], row["place in queue"]) == ("Ann", "Experiment: dropout", 3)


def test_a_damaged_class_file_is_named_to_the_teacher_not_a_traceback(app_path, cnnviz_home):
    # The teacher is the one who can move class.sqlite3 aside: the Class page named it in its sections, then ended
    # in a traceback from the list of students at its foot.
    roster.register("Ann")
    file = cnnviz_home / "class.sqlite3"
    for extra in cnnviz_home.glob("class.sqlite3*"):
        extra.unlink()
    file.write_bytes(b"\x00" * 8192)
    at = open_page(app_path, PAGE)
    said = [e.value for e in at.error]
    assert said and all(markup.plain_text(str(file)) in e for e in said), said


def test_a_damaged_class_file_is_named_to_a_signed_in_student_not_a_traceback(app_path, cnnviz_home):
    # A school account passes the gate without the class file; the Class page read it bare for its note.
    cnnviz_home.mkdir()
    file = cnnviz_home / "class.sqlite3"
    file.write_bytes(b"\x00" * 8192)
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback",
                          "cookie_secret": "a-long-random-cookie-secret", "client_id": "cnnviz",
                          "client_secret": "client-secret-value",
                          "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}
    at.user = {"is_logged_in": True, "email": "ada@school.example", "name": "Ada", "sub": "1"}
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    said = [e.value for e in at.error]
    assert len(said) == 1 and markup.plain_text(str(file)) in said[0], said


def test_two_students_of_one_name_are_told_apart_on_the_class_and_runs_pages(app_path, cnnviz_home):
    (_, first), (_, second) = roster.register("Ann"), roster.register("Ann")
    manager = jobmanager.JobManager(workers=False)
    for seed, who in enumerate((first, second)):
        manager.submit(tiny_spec(seed=seed), build=tiny_build, owner=who)
    for run_id, who in (("20260101-000000-0000000a", first), ("20260102-000000-0000000b", second)):
        write_run(cnnviz_home, run_id, config={**GOOD_CONFIG, "owner": who.user_id, "owner_name": who.display_name})
    at = open_page(app_path, PAGE)
    no_errors(at)
    [queue] = [d.value for d in at.dataframe if "place in queue" in d.value.columns]
    names = list(queue["who"])  # first's job, then second's
    assert len(set(names)) == 2 and all(n.startswith("Ann (") for n in names), names
    offered = at.selectbox(key="class_stop_job").options  # the Stop picker names them so too
    assert [o.split(":")[0] for o in offered] == names, offered
    [results] = [d.value for d in at.dataframe if "best test accuracy" in d.value.columns]
    assert list(results["who"]) == names[1:]  # the same accuracy: the newer run, second's, wins
    assert any(all(n in t.value for n in names) for t in at.text)  # the students' list
    at.switch_page("app_pages/runs.py").run()
    no_errors(at)
    [runs_table] = [d.value for d in at.dataframe if "by" in d.value.columns]
    assert list(runs_table["by"]) == names[::-1]  # newest first: the same names as on the Class page
    assert [c.value for c in at.caption if c.value.startswith("Trained by")] == [f"Trained by {names[1]}."]
