"""How a worker records the end of a job when the server's SIGTERM arrives at its last moments (no TensorFlow:
the training itself is replaced by what it returned)."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import pytest

from cnnviz.classroom.people import TEACHER_OWNER
from cnnviz.training import checkpoint, jobtable, worker
from cnnviz.training.loop import TrainResult
from tests.support.specs import tiny_spec


@pytest.mark.parametrize(("stopped", "ends"), [(False, "finished"), (True, "interrupted")],
                         ids=["after its last epoch", "mid-training"])
def test_a_training_the_server_stopped_at_its_end_stays_finished(cnnviz_home, monkeypatch, stopped, ends):
    # SIGTERM (the server shutting down) while a training that had run all its epochs was tested and saved: its
    # job said "interrupted: the server stopped while this training ran", kept its checkpoint and offered Resume.
    table = jobtable.JobTable()
    job_id = table.submit(tiny_spec(), owner=TEACHER_OWNER, label="net")
    job = table.claim(token="a-worker", pid=os.getpid())
    folder = checkpoint.folder_for(job_id)
    folder.mkdir(parents=True)
    (folder / checkpoint.STATE_FILE).write_text('{"epochs_done": 1}')
    monkeypatch.setattr(worker, "_terminating", threading.Event())  # this test's SIGTERM, not the process's

    def train(spec, **kwargs):
        worker._terminating.set()  # arrives now: during the testing and saving (or mid-fit: then it stopped)
        return TrainResult(run=SimpleNamespace(run_id="run-1", test_accuracy=0.5), stopped=stopped)

    monkeypatch.setattr(worker.training, "train", train)
    assert worker.run_job(table, job, SimpleNamespace(get=lambda job: "the dataset")) == ends
    status = table.status(job_id)
    assert (status.state, status.run_id) == (ends, "run-1")
    assert status.error == (None if ends == "finished" else jobtable.INTERRUPTED_MESSAGE)
    assert folder.exists() == (ends == "interrupted")  # a finished run leaves nothing to resume
