"""A job keeps only a dataset *name*: when its owner deletes their import and another student imports under the
same name (the page's default is "my_images"), neither the queued job nor a Resume trains on the other student's
private images."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cnnviz.classroom import roster
from cnnviz.classroom.policy import NotAllowed
from cnnviz.data import datasets
from cnnviz.runs import store as runs
from cnnviz.training import checkpoint, worker
from cnnviz.training import jobs as jobmanager
from cnnviz.training.jobtable import JobTable
from tests.support.archives import class_folders, make_zip
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec

NAME = "my_images"


@pytest.fixture
def students():
    return roster.register("Ann")[1], roster.register("Ben")[1]


def _anns_then_bens(ann, ben):
    datasets.import_folder_zip(make_zip(class_folders()), name=NAME, image_size=16, owner=ann)
    yield
    datasets.remove(f"folder:{NAME}", by=ann)  # Ann's right: her own import
    datasets.import_folder_zip(make_zip(class_folders(classes=("mum", "dad", "kid"))), name=NAME, image_size=16,
                               owner=ben)  # the name is free again: Ben's private photos now


def test_resume_refuses_a_dataset_name_that_is_now_anothers_import(students):
    ann, ben = students
    steps = _anns_then_bens(ann, ben)
    next(steps)
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(dataset=f"folder:{NAME}", train_size=None, test_size=None),
                            build=tiny_build, owner=ann)
    table = JobTable()
    table.claim(token="t", pid=0)
    table.finish(job_id, state="failed", error="boom")
    folder = checkpoint.folder_for(job_id)  # one finished epoch kept
    folder.mkdir(parents=True)
    (folder / checkpoint.MODEL_FILE).write_bytes(b"x")
    (folder / checkpoint.STATE_FILE).write_text(json.dumps({"epochs_done": 1, "history": {"loss": [1.0]}}))
    next(steps, None)
    # Ann may not start a training on folder:my_images now (submit refuses it) ...
    with pytest.raises(NotAllowed):
        manager.submit(tiny_spec(dataset=f"folder:{NAME}"), build=tiny_build, owner=ann)
    # ... but Resume queues one on Ben's images all the same
    with pytest.raises(NotAllowed):
        manager.resume(job_id, owner=ann)


@pytest.mark.slow
def test_a_queued_job_does_not_train_on_a_name_that_became_anothers_import(students):
    ann, ben = students
    steps = _anns_then_bens(ann, ben)
    next(steps)
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(dataset=f"folder:{NAME}", train_size=None, test_size=None),
                            build=tiny_build, owner=ann)  # waits in the queue (a full class)
    next(steps, None)
    table = JobTable()
    assert worker.run_job(table, table.claim(token="t", pid=0)) == "failed"  # not trained on Ben's images
    status = table.status(job_id)
    assert status.run_id is None and status.error == (
        f"The dataset folder:{NAME} this training was queued on was deleted, and someone else has imported another "
        "one under its name since: train again on your own data.")
    assert not runs.scan(ann).runs


@pytest.mark.slow
def test_a_student_with_teacher_rights_trains_on_the_import_they_queued_on(students):
    ann, ben = students
    datasets.import_folder_zip(make_zip(class_folders()), name=NAME, image_size=16, owner=ben)
    ann_as_teacher = dataclasses.replace(ann, is_teacher=True)  # typed the teacher password: her own id
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(dataset=f"folder:{NAME}", train_size=None, test_size=None),
                            build=tiny_build, owner=ann_as_teacher)  # she sees Ben's import, as the teacher does
    table = JobTable()
    assert worker.run_job(table, table.claim(token="t", pid=0)) == "finished", table.status(job_id).error
    assert table.status(job_id).run_id in {r.run_id for r in runs.scan(ann).runs}


@pytest.mark.slow
def test_the_teachers_queued_job_does_not_train_on_a_name_that_changed_hands(students):
    ann, ben = students
    steps = _anns_then_bens(ann, ben)
    next(steps)
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(dataset=f"folder:{NAME}", train_size=None, test_size=None),
                            build=tiny_build)  # the teacher, on Ann's images
    next(steps, None)
    table = JobTable()
    assert worker.run_job(table, table.claim(token="t", pid=0)) == "failed"  # not on Ben's photos
    assert "someone else has imported another one under its name" in table.status(job_id).error


def test_a_dataset_deleted_while_its_training_waits_is_said_to_be_gone_not_taken_by_someone_else(students):
    """Ann deletes her own import while her training waits in the queue, and nobody imports under its name:
    the job fails saying the dataset is not here, and Resume says so too, not that "someone else imported"
    one under its name (she would look for a classmate's dataset that does not exist)."""
    ann, _ = students
    datasets.import_folder_zip(make_zip(class_folders()), name=NAME, image_size=16, owner=ann)
    manager = jobmanager.JobManager(workers=False)
    job_id = manager.submit(tiny_spec(dataset=f"folder:{NAME}", train_size=None, test_size=None),
                            build=tiny_build, owner=ann)  # waits in the queue (a full class)
    datasets.remove(f"folder:{NAME}", by=ann)
    table = JobTable()
    assert worker.run_job(table, table.claim(token="t", pid=0)) == "failed"
    error = table.status(job_id).error
    assert "someone else" not in error and f"folder:{NAME}" in error and "not on this machine" in error, error
    folder = checkpoint.folder_for(job_id)  # had it finished an epoch: Resume says the same
    folder.mkdir(parents=True)
    (folder / checkpoint.MODEL_FILE).write_bytes(b"x")
    (folder / checkpoint.STATE_FILE).write_text(json.dumps({"epochs_done": 1, "history": {"loss": [1.0]}}))
    with pytest.raises(Exception) as refused:
        manager.resume(job_id, owner=ann)
    assert "someone else" not in str(refused.value) and "not on this machine" in str(refused.value), refused.value
