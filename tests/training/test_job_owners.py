"""Job owners (issue 14): a user id and a display name per job, stop and resume by the owner or the teacher,
the run a job saves carries its owner, and a job table from before owners gains the column safely."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from cnnviz.classroom import roster
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.errors import InvalidArgument
from cnnviz.runs import store as runs
from cnnviz.training import jobs as jobmanager
from cnnviz.training import checkpoint, jobtable, worker
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


#: The first job table as shipped (5600f06, also version 1): no ``resume_from`` yet, which the checkpoints' version
#: added to the table it creates without changing the version.
FIRST_JOBS = V1_JOBS.replace(" resume_from TEXT,", "")


@pytest.mark.parametrize("stamped", [1, 4], ids=["as shipped", "stamped 4 by an upgrade that missed the column"])
def test_the_first_job_table_gains_resume_from_and_trains_again(cnnviz_home, stamped):
    """A CNNVIZ_HOME of the first queue (Dec 6, before checkpoints): every Train failed after the upgrade with
    "table jobs has no column named resume_from", in the page and in `cnnviz train`."""
    cnnviz_home.mkdir(parents=True)
    path = cnnviz_home / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(FIRST_JOBS)
        if stamped == 4:  # what the migration that forgot the column left: the later columns, version 4
            for column in ("owner_name TEXT NOT NULL DEFAULT ''", "kind TEXT NOT NULL DEFAULT 'training'",
                           "dataset_owner TEXT"):
                db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")
        db.execute("INSERT INTO jobs (job_id, owner, label, spec, dataset, state, progress, submitted, updated) "
                   "VALUES ('old1', 'process 12', 'old job', ?, 'digits', 'queued', '{}', 1, 1)",
                   (json.dumps(tiny_spec().to_dict()),))
        db.execute(f"PRAGMA user_version = {stamped}")
    table = JobTable(path)
    new = table.submit(tiny_spec(), owner="key:abc", owner_name="Ann", label="new")
    assert [s.job_id for s in table.jobs()] == ["old1", new]  # the old queued job is kept, first in the queue
    claimed = table.claim(token="t", pid=1)
    assert claimed.job_id == "old1" and claimed.resume_from is None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == jobtable.SCHEMA_VERSION


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


def test_two_tabs_pressing_train_at_once_queue_one_training(students, monkeypatch):
    """Both clicks pass the page's "one training at a time" look before either is queued (a barrier holds them
    there): the table itself keeps one, and the other is refused in words."""
    ann, _ = students
    manager = jobmanager.JobManager(workers=False)  # a full class: everything waits in the queue
    both_looked = threading.Barrier(2, timeout=30)
    look = manager.check_one_at_a_time

    def look_then_wait(owner, spec, *args, **kwargs):
        look(owner, spec, *args, **kwargs)
        if not args and not kwargs:  # the early look, before anything is written
            both_looked.wait()

    monkeypatch.setattr(manager, "check_one_at_a_time", look_then_wait)
    outcomes = []

    def train(seed):
        try:
            outcomes.append(manager.submit(tiny_spec(seed=seed), build=tiny_build, owner=ann))
        except Exception as err:  # noqa: BLE001 - what each tab would show
            outcomes.append(err)

    tabs = [threading.Thread(target=train, args=(seed,)) for seed in (1, 2)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join(60)
    queued = [s.job_id for s in manager.table.jobs() if s.owner == ann.user_id]
    assert len(queued) == 1, f"Ann has {len(queued)} trainings queued"
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert outcomes.count(queued[0]) == 1 and len(refused) == 1 and isinstance(refused[0], NotAllowed), outcomes
    assert f"job {queued[0]} is still queued or running (one training at a time per student)" in str(refused[0])


def _interrupted_with_a_checkpoint(manager, owner) -> str:
    job_id = manager.submit(tiny_spec(), build=tiny_build, owner=owner)
    table = JobTable()
    table.claim(token="t", pid=0)
    table.finish(job_id, state="interrupted", error=jobtable.INTERRUPTED_MESSAGE)
    folder = checkpoint.folder_for(job_id)  # one finished epoch kept
    folder.mkdir(parents=True)
    (folder / checkpoint.MODEL_FILE).write_bytes(b"x")
    (folder / checkpoint.STATE_FILE).write_text(json.dumps({"epochs_done": 1, "history": {"loss": [1.0]}}))
    return job_id


def test_resume_keeps_one_training_at_a_time(students):
    """Resume in a second tab (its panel still shows the interrupted job), or while another training waits, queues
    no second training of the same student: two resumed copies would train the same epochs twice and the first
    to end would remove the checkpoint the other goes on from."""
    ann, ben = students
    manager = jobmanager.JobManager(workers=False)
    interrupted = _interrupted_with_a_checkpoint(manager, ann)
    resumed = manager.resume(interrupted, owner=ann)  # the first tab
    with pytest.raises(NotAllowed, match=f"job {resumed} is still queued or running"):
        manager.resume(interrupted, owner=ann)  # the second tab
    manager.stop(resumed, by=ann)
    queued = manager.submit(tiny_spec(), build=tiny_build, owner=ann)  # a new training on Build & train
    with pytest.raises(NotAllowed, match=f"job {queued} is still queued or running"):
        manager.resume(interrupted, owner=ann)
    assert [s.job_id for s in manager.table.jobs() if s.owner == ann.user_id] == [queued]
    ben_job = _interrupted_with_a_checkpoint(manager, ben)
    manager.resume(ben_job, owner=local_teacher())  # the teacher resumes for Ben: Ben's one training
    assert [s.owner for s in manager.table.jobs()] == [ann.user_id, ben.user_id]


def test_a_job_is_resumed_once_even_by_the_teacher(students):
    """The teacher (and the laptop user, who is the teacher) may train several at once, but two copies resumed from
    one checkpoint would train the same epochs twice, and the first to end removes the checkpoint the other needs."""
    ann, _ = students
    manager = jobmanager.JobManager(workers=False)
    interrupted = _interrupted_with_a_checkpoint(manager, ann)
    resumed = manager.resume(interrupted)  # the laptop user / command line
    with pytest.raises(InvalidArgument, match=f"job {interrupted} is being resumed already by job {resumed}"):
        manager.resume(interrupted, owner=local_teacher())  # a second tab
    assert [s.job_id for s in manager.table.jobs()] == [resumed]
    manager.stop(resumed)
    assert manager.resume(interrupted) != resumed  # stopped before it began: it may be resumed again
