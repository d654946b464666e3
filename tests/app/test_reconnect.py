"""A student back on a restarted server (issue 18): a fresh session with their key in the URL finds their
trainings in the job table by owner: running in a worker (the live panel again), queued (their place),
interrupted (said so, with Resume). Nobody else's job is put in their session."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz import storage
from cnnviz.app import reconnect
from cnnviz.app.state import TRAIN_JOB_KEY, TRANSFER_JOB_KEYS
from cnnviz.classroom import people, roster
from cnnviz.training import checkpoint, jobtable
from cnnviz.training import jobs as training_jobs
from cnnviz.training.callbacks import Progress
from tests.support.pages import TIMEOUT
from tests.support.specs import FLAT_MODEL, page_spec, tiny_transfer_spec


@pytest.fixture
def restarted(cnnviz_home, monkeypatch):
    """The job table as a killed server left it, read by a server that starts afresh (no worker starts here).

    Cy's job ran in a worker that died with the server (a checkpoint of 2 epochs), Ann's runs on in a
    worker that outlived it (its lock held by this test), Ben's waits behind hers, Dee has none.
    """
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    monkeypatch.setattr(training_jobs.JobManager, "ensure_workers", lambda self: None)
    who = {name: roster.register(name) for name in ("Ann", "Ben", "Cy", "Dee")}
    table = jobtable.JobTable(jobtable.table_path())
    table.set_max_jobs(2)

    def submit(name: str, spec=None) -> str:
        person = who[name][1]
        spec = spec or page_spec(FLAT_MODEL, epochs=3)
        return table.submit(spec, owner=person.user_id, owner_name=name, label=f"{name}'s network")

    ids = {"Cy": submit("Cy")}
    table.claim(token="dead-worker", pid=0)
    point = checkpoint.folder_for(ids["Cy"])
    point.mkdir(parents=True)
    (point / checkpoint.STATE_FILE).write_text(json.dumps({"epochs_done": 2, "history": {"loss": [2.0, 1.5]}}))
    (point / checkpoint.MODEL_FILE).write_bytes(b"a checkpoint")
    ids["Ann"] = submit("Ann")
    assert table.claim(token="live-worker", pid=0).job_id == ids["Ann"]
    table.publish(ids["Ann"], Progress(phase="training", epoch=1, epochs=3, batch=2, batches=5, loss=1.9))
    ids["Ann transfer"] = submit("Ann", tiny_transfer_spec(frozen=True))
    ids["Ben old"] = submit("Ben")
    table.stop(ids["Ben old"])  # cancelled long ago: his newer job is the one to show
    ids["Ben"] = submit("Ben")
    training_jobs.close_all()  # the server is gone: the next one reads the table afresh
    storage.ensure_dir(jobtable.workers_dir())
    with storage.exclusive_lock_if_free(jobtable.worker_lock_path("live-worker")) as held:
        assert held
        yield who, ids


def _fresh(app_path: str, key: str, page: str = "app_pages/build_train.py") -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    welcome = [i.value for i in at.info if i.value.startswith("Welcome back.")]
    at.switch_page(page).run()
    assert not at.exception, at.exception
    at.welcome = welcome  # what the first page said
    return at


def test_a_running_training_is_followed_again_on_a_fresh_session(restarted, app_path):
    who, ids = restarted
    at = _fresh(app_path, who["Ann"][0])
    assert at.welcome == ["Welcome back. Your training “Ann's network” is still running: follow it on Build & "
                          "train. Your training “Ann's network” is waiting for a free training slot, number 1 in "
                          "the queue: Transfer learning shows its place."]
    assert at.session_state[TRAIN_JOB_KEY] == ids["Ann"]
    assert at.session_state[TRANSFER_JOB_KEYS[True]] == ids["Ann transfer"]
    assert at.button(key="train_stop") is not None and at.button(key="train_start").disabled
    assert not [i for i in at.info if i.value.startswith("Welcome back.")]  # said once, not on every page


def test_the_welcome_on_the_trainings_own_page_points_below(restarted, app_path):
    # Shown above Build & train's own panel, "follow it on Build & train" sent the student where they already were.
    who, ids = restarted
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = who["Ann"][0]
    at.switch_page("app_pages/build_train.py").run()  # the bookmark of Build & train: the first page is it
    assert not at.exception, at.exception
    assert [i.value for i in at.info if i.value.startswith("Welcome back.")] == [
        "Welcome back. Your training “Ann's network” is still running: follow it below. Your training “Ann's "
        "network” is waiting for a free training slot, number 1 in the queue: Transfer learning shows its place."]
    assert at.button(key="train_stop") is not None  # and below it is


def test_a_queued_training_shows_its_place(restarted, app_path):
    who, ids = restarted
    at = _fresh(app_path, who["Ben"][0])
    assert at.session_state[TRAIN_JOB_KEY] == ids["Ben"]
    assert any("you are number 2 in the queue" in i.value for i in at.info)  # behind Ann's transfer job


def test_an_interrupted_training_says_so_and_offers_resume(restarted, app_path):
    who, ids = restarted
    at = _fresh(app_path, who["Cy"][0])
    assert at.welcome == ["Welcome back. Your training “Cy's network” was interrupted when the server stopped: "
                          "Build & train offers to resume it."]
    assert at.session_state[TRAIN_JOB_KEY] == ids["Cy"]
    assert any("This training was interrupted" in w.value for w in at.warning)
    assert at.button(key="train_resume").label == "Resume after epoch 2"
    # progress saved as before the random states were kept: the button does not promise the same training
    assert at.button(key="train_resume").help.endswith(
        "earlier epochs: not quite the training without the interruption: its progress was saved without the random "
        "states (by an older cnnviz, or by a run resumed from such progress), so the epochs after it draw other "
        "random numbers (shuffling, augmentation, dropout).")


def test_someone_without_jobs_gets_none_and_nobody_gets_anothers(restarted, app_path):
    who, ids = restarted
    at = _fresh(app_path, who["Dee"][0])
    assert at.welcome == [] and TRAIN_JOB_KEY not in at.session_state
    assert reconnect.newest_jobs(who["Dee"][1]) == {}
    assert {s.job_id for s in reconnect.newest_jobs(who["Ben"][1]).values()} == {ids["Ben"]}


def test_a_laptop_reload_finds_its_one_users_training_again(restarted, app_path, monkeypatch):
    # A laptop has one user, the local teacher in every session: a reload mid-training lost the panel and
    # offered Train again. Their training is found as a student's is; the students' jobs stay theirs.
    monkeypatch.delenv(people.CLASSROOM_ENV)
    table = jobtable.JobTable(jobtable.table_path())
    mine = table.submit(page_spec(FLAT_MODEL, epochs=3), owner=people.TEACHER_OWNER, owner_name=people.TEACHER_NAME,
                        label="my network")
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.switch_page("app_pages/build_train.py").run()  # the reloaded tab
    assert not at.exception, at.exception
    assert at.session_state[TRAIN_JOB_KEY] == mine
    assert [i.value for i in at.info if i.value.startswith("Welcome back.")] == [
        "Welcome back. Your training “my network” is waiting for a free training slot, number 3 in the queue: "
        "its place is shown below."]
    assert at.button(key="train_start").disabled and any("number 3 in the queue" in i.value for i in at.info)
    assert not [k for k in TRANSFER_JOB_KEYS.values() if k in at.session_state]  # Ann's transfer job is hers


def test_a_laptop_tab_open_before_the_first_training_is_not_taken_over_by_it(app_path, cnnviz_home, monkeypatch):
    # A laptop that never trained reads no job table (Home stays free of the job code); the look is once, at the
    # session's start: a training started afterwards in another tab does not move into this one.
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(training_jobs.JobManager, "ensure_workers", lambda self: None)
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT).run()
    assert not at.exception and not jobtable.table_path().exists()
    jobtable.JobTable(jobtable.table_path()).submit(page_spec(FLAT_MODEL, epochs=3), owner=people.TEACHER_OWNER,
                                                    label="the other tab's network")
    at.switch_page("app_pages/build_train.py").run()
    assert not at.exception, at.exception
    assert TRAIN_JOB_KEY not in at.session_state and not [i for i in at.info if i.value.startswith("Welcome back.")]


def test_a_damaged_job_table_is_named_and_the_lab_still_opens(cnnviz_home, app_path, monkeypatch):
    # A disk restored from a backup that caught jobs.sqlite3 half-copied: every page of a student back with
    # their key was a traceback (the gate looks for their trainings before any page draws).
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    key, _ = roster.register("Ann")
    jobtable.table_path().write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    assert not at.exception, at.exception
    said = [e.value for e in at.error]
    assert len(said) == 1 and f"{jobtable.table_path()} is damaged" in said[0], said
    at.switch_page("app_pages/convolution.py").run()  # what needs no training queue works as before
    assert not at.exception and not at.error and at.title[0].value == "Convolution"
