"""Job owners (issue 14): a user id and a display name per job, stop and resume by the owner or the teacher,
the run a job saves carries its owner, and a job table from before owners gains the column safely."""

from __future__ import annotations

import sqlite3

import pytest

from cnnviz.classroom import roster
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.runs import store as runs
from cnnviz.training import jobs as jobmanager
from cnnviz.training import jobtable, worker
from cnnviz.training.jobtable import JobTable
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec

#: The job table's schema before owners had names (version 1), as shipped.
V1_JOBS = """CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
label TEXT NOT NULL, spec TEXT NOT NULL, dataset TEXT NOT NULL, data_file TEXT, build TEXT, resume_from TEXT,
state TEXT NOT NULL, progress TEXT NOT NULL, stop_requested INTEGER NOT NULL DEFAULT 0, run_id TEXT,
test_accuracy REAL, error TEXT, detail TEXT, submitted REAL NOT NULL, started REAL, ended REAL, updated REAL NOT NULL,
worker_pid INTEGER, worker_token TEXT)"""


@pytest.fixture
def students():
    return roster.register("Ann")[1], roster.register("Ben")[1]


def test_a_version_1_table_gains_owner_names_and_dataset_owners_and_keeps_its_jobs(cnnviz_home):
    cnnviz_home.mkdir(parents=True)
    path = cnnviz_home / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(V1_JOBS)
        db.execute("INSERT INTO jobs (job_id, owner, label, spec, dataset, state, progress, submitted, updated) "
                   "VALUES ('old1', 'session 12ab', 'old job', '{}', 'digits', 'finished', '{}', 1, 1)")
        db.execute("PRAGMA user_version = 1")
    table = JobTable(path)
    old = table.status("old1")
    assert (old.owner, old.owner_name, old.label) == ("session 12ab", "session 12ab", "old job")
    new = table.submit(tiny_spec(), owner="key:abc", owner_name="Ann", label="new", dataset_owner="key:def")
    assert (table.status(new).owner, table.status(new).owner_name) == ("key:abc", "Ann")
    assert table.record(new).dataset_owner == "key:def"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == jobtable.SCHEMA_VERSION == 4
        assert db.execute("SELECT dataset_owner FROM jobs WHERE job_id = 'old1'").fetchone() == (None,)
    JobTable(path)  # opening it again changes nothing
    assert table.status("old1").owner == "session 12ab"


def test_a_student_may_not_stop_anothers_job(students):
    ann, ben = students
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(), build=tiny_build, owner=ann)
    with pytest.raises(NotAllowed) as err:
        manager.stop(job_id, by=ben)
    assert f"Ben may not stop training job {job_id}" in str(err.value)
    assert manager.status(job_id).state == "queued"
    with pytest.raises(NotAllowed, match="Ben may not change the number of trainings at once"):
        manager.set_max_jobs(3, by=ben)
    manager.stop(job_id, by=ann)
    assert manager.status(job_id).state == "cancelled"
    other = manager.submit(tiny_spec(), build=tiny_build, owner=ben)
    manager.stop(other, by=local_teacher())
    assert manager.status(other).state == "cancelled"


def test_a_student_may_not_train_on_anothers_dataset(students):
    from cnnviz.data import datasets
    from tests.support.archives import class_folders, make_zip

    ann, ben = students
    datasets.import_folder_zip(make_zip(class_folders()), name="anns", image_size=16, owner=ann)
    manager = jobmanager.JobManager(workers=False)
    with pytest.raises(NotAllowed, match="Ben may not train on dataset folder:anns: someone else imported it"):
        manager.submit(tiny_spec(dataset="folder:anns"), build=tiny_build, owner=ben)
    assert manager.table.jobs() == []
    manager.submit(tiny_spec(dataset="folder:anns"), build=tiny_build, owner=ann)


def test_jobs_without_an_owner_are_the_teachers():
    manager = jobmanager.JobManager(workers=False)
    status = manager.status(manager.submit(tiny_spec(), build=tiny_build))
    assert (status.owner, status.owner_name) == ("teacher", "Teacher")


@pytest.mark.slow
def test_the_run_a_job_saves_is_its_owners(students):
    ann, ben = students
    table = JobTable()
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(epochs=1), build=tiny_build, owner=ann)
    claimed = table.claim(token="test", pid=0)
    assert (claimed.job_id, claimed.owner, claimed.owner_name) == (job_id, ann.user_id, "Ann")
    assert worker.run_job(table, claimed) == "finished"
    run_id = table.status(job_id).run_id
    info = runs.load_run(run_id, ann)
    assert (info.owner, info.owner_name) == (ann.user_id, "Ann")
    assert runs.list_runs(ben) == []
