"""`python -m cnnviz train` and `runs`: progress lines, run id, test accuracy, Ctrl-C saves a stopped run."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from cnnviz import cli

from cnnviz.runs import store as runs
from tests.conftest import REPO
from tests.support.runfolders import write_damaged

pytestmark = pytest.mark.slow

@pytest.fixture
def ctrl_c_reaches_children():
    """Children started now get Python's Ctrl-C handler, however the tests were launched.

    A shell without job control starts background commands (`cmd &`, under nohup or CI) with SIGINT
    ignored, and an ignored signal stays ignored across exec: the CLI would never see the test's Ctrl-C.
    A handler (unlike SIG_IGN) is reset to the default on exec, so the child installs its own.
    """
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


TINY = ["--preset", "seed000_model1", "--dataset", "digits", "--train-size", "60", "--test-size", "30",
        "--batch-size", "8", "--augment", "none", "--seed", "2"]


def test_train_prints_progress_run_id_and_accuracy(capsys):
    assert cli.main(["train", "--wait", *TINY, "--epochs", "2", "--lr", "0.02", "--class-weights", "--keep-best"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("training seed000_model1 on digits (train 60, test 30, 2 epochs, batch 8)")
    assert re.search(r"^epoch 2/2  batch 6/6  loss \d+\.\d{4}  acc \d\.\d{4}", out, re.M), out
    *_, last, why = out.strip().splitlines()
    match = re.fullmatch(r"run (\S+) finished: test accuracy (\d+\.\d\d)%", last)
    assert why.startswith("No notebook figure for this set-up") and "dataset digits (the notebook: cifar10)" in why
    assert match, last
    info = runs.load_run(match.group(1))
    assert f"{info.test_accuracy:.2%}" == f"{match.group(2)}%"
    assert info.config["model"]["learning_rate"] == 0.02 and info.config["class_weights"] and info.config["keep_best"]
    assert info.config["augment"] is None and info.config["epochs"] == 2

    assert cli.main(["runs"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("run ") and listing[2].startswith(info.run_id)
    assert "seed000_model1" in listing[2] and "digits" in listing[2] and listing[2].rstrip().endswith(f"{match.group(2)}%")


def test_train_errors_are_one_line(capsys):
    assert cli.main(["train", "--preset", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown preset 'nope'; known: seed000_model1")
    assert cli.main(["train", *TINY, "--epochs", "0"]) == 2
    assert "epochs must be 1..1000, got 0" in capsys.readouterr().err
    assert cli.main(["train", *TINY[:-4], "--augment", "rotation=999"]) == 2
    assert "rotation must be 0..180 degrees, got 999.0" in capsys.readouterr().err


def test_runs_when_empty(capsys, cnnviz_home):
    assert cli.main(["runs"]) == 0
    assert capsys.readouterr().out.strip() == f"no runs in {cnnviz_home / 'runs'}"


def test_runs_names_damaged_runs_on_stderr_and_in_json(capsys, cnnviz_home):
    write_damaged(cnnviz_home, "20200101-000000-0000000a", "config is a list")
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"no runs in {cnnviz_home / 'runs'}"
    assert out.err.startswith("damaged run 20200101-000000-0000000a: ") and "config.json holds list" in out.err
    assert cli.main(["runs", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["run_id"] == "20200101-000000-0000000a" and "config.json holds list" in entry["damaged"]


def test_ctrl_c_stops_within_a_batch_and_saves_a_stopped_run(cnnviz_home, ctrl_c_reaches_children):
    env = {**os.environ, "CNNVIZ_HOME": str(cnnviz_home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnviz", "train", "--wait", *TINY, "--epochs", "500"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 180
        lines = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("epoch 2/500"):
                break
        else:
            raise AssertionError("".join(lines))
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err[-2000:]
    assert "stopping after this batch" in err
    run_id = re.search(r"^run (\S+) stopped: test accuracy", out, re.M).group(1)  # then why no notebook figure
    info = runs.load_run(run_id)
    assert info.status == "stopped" and 1 <= info.metrics["epochs_completed"] < 500


def test_train_without_wait_queues_a_job_that_jobs_lists_and_stops(capsys, cnnviz_home):
    assert cli.main(["train", *TINY, "--epochs", "500"]) == 0
    out = capsys.readouterr().out
    job_id = re.search(r"^job ([0-9a-f]+) queued \(number 1\)", out, re.M).group(1)
    assert "no training worker runs for this CNNVIZ_HOME yet" in out
    assert cli.main(["jobs"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(job_id))
    assert row.split()[1:3] == ["queued", "1"] and "(command line)" in row and "waiting" in row
    assert cli.main(["jobs", "stop", job_id]) == 0
    assert capsys.readouterr().out.strip() == f"job {job_id} removed from the queue"
    assert cli.main(["jobs"]) == 0
    assert capsys.readouterr().out.strip() == "no training jobs queued or running"
    assert cli.main(["jobs", "stop", job_id]) == 0
    assert capsys.readouterr().out.strip() == f"job {job_id} had already ended (cancelled)"
    assert cli.main(["jobs", "stop", "nope"]) == 2
    assert "no training job 'nope'" in capsys.readouterr().err


def test_train_without_wait_under_ray_names_the_cluster_not_a_local_worker(capsys, cnnviz_home, monkeypatch):
    from cnnviz.training import cluster

    monkeypatch.setenv(cluster.ADDRESS_ENV, "10.1.2.3:6379")  # only queued: nothing contacts it
    assert cli.main(["train", *TINY, "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    job_id = re.search(r"^job ([0-9a-f]+) queued \(number 1\)", out, re.M).group(1)
    assert "the Ray cluster at 10.1.2.3:6379 trains it once a web server" in out
    assert "no training worker runs" not in out
    assert cli.main(["jobs", "stop", job_id]) == 0


def test_jobs_work_trains_queued_jobs_and_jobs_stop_stops_a_running_one(capsys, cnnviz_home, ctrl_c_reaches_children):
    from cnnviz.training import jobtable

    env = {**os.environ, "CNNVIZ_HOME": str(cnnviz_home), "PYTHONUNBUFFERED": "1"}
    assert cli.main(["train", *TINY, "--epochs", "500"]) == 0
    job_id = re.search(r"^job ([0-9a-f]+) queued", capsys.readouterr().out, re.M).group(1)
    work = subprocess.Popen([sys.executable, "-m", "cnnviz", "jobs", "work", "--max-jobs", "1"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    table = jobtable.JobTable()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and table.status(job_id).progress.epoch < 2:
            time.sleep(0.2)
        assert cli.main(["jobs"]) == 0
        row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(job_id))
        assert row.split()[1] == "running" and re.search(r"epoch \d+/500  batch \d+/6", row), row
        assert table.status(job_id).worker_pid not in (work.pid, os.getpid())  # a worker of `jobs work`
        assert cli.main(["jobs", "stop", job_id]) == 0
        assert capsys.readouterr().out.strip() == f"job {job_id} asked to stop after its current batch"
        while time.monotonic() < deadline and table.status(job_id).active:
            time.sleep(0.2)
        status = table.status(job_id)
        assert status.state == "stopped" and runs.load_run(status.run_id).status == "stopped"
        work.send_signal(signal.SIGINT)
        work.wait(timeout=60)
    finally:
        if work.poll() is None:
            work.kill()
            work.wait()
        work.stdout.close()


def test_jobs_resume_goes_on_from_the_last_finished_epoch(capsys, cnnviz_home):
    from cnnviz.training import checkpoint
    from cnnviz.training import jobs as jobmanager
    from tests.support.models import tiny_build
    from tests.support.specs import tiny_spec

    jobs = jobmanager.manager()
    victim = jobs.submit(tiny_spec(epochs=30), build=tiny_build)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (checkpoint.read(checkpoint.folder_for(victim)) is None):
        time.sleep(0.05)
    os.kill(jobs.status(victim).worker_pid, signal.SIGKILL)
    assert jobs.wait(victim, timeout=60).state == "failed"
    done = jobs.resumable(victim)
    assert cli.main(["jobs", "resume", victim, "--wait"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(rf"job ([0-9a-f]+) queued: it goes on from epoch {done} of job {victim}, the same training as "
                        r"without the interruption \(the same batches, random draws and optimiser steps\)", out[0]), out[0]
    # One line per epoch of the run: the checkpoint's epochs first (its history), then the ones trained now.
    ended = [int(re.match(r"epoch (\d+)/30", line).group(1)) for line in out if re.match(r"epoch \d+/30  batch 6/6", line)]
    assert ended == list(range(1, 31))
    match = re.fullmatch(r"job [0-9a-f]+ finished: run (\S+)", out[-1])
    assert match, out[-1]
    assert len(runs.load_run(match.group(1)).history["loss"]) == 30
    assert cli.main(["jobs", "resume", victim]) == 2  # its progress is in that run now
    assert f"job {victim} has no saved progress to resume (it finished no epoch, or it was resumed already)" \
        in capsys.readouterr().err


def test_train_takes_the_images_a_notebook_took_or_stratified_ones(capsys):
    assert cli.main(["train", *TINY, "--epochs", "1", "--images", "first_last"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("images: the first images, the last share for validation")
    assert cli.main(["train", *TINY, "--epochs", "1"]) == 0  # seed 000's preset on digits: stratified at random
    assert capsys.readouterr().out.splitlines()[0].endswith("images: random stratified")
    with pytest.raises(SystemExit):  # argparse refuses an unknown choice, naming the known ones
        cli.main(["train", *TINY, "--images", "middle"])
    assert "invalid choice: 'middle' (choose from 'stratified', 'first_shuffled'" in capsys.readouterr().err


def test_train_wait_lets_a_students_job_its_worker_took_finish_instead_of_interrupting_it(capsys, cnnviz_home):
    """`train --wait` starts workers that take the queue in order: one may train a student's job queued
    earlier. When the command's own job ends it waits for that job rather than interrupt it by leaving."""
    import threading

    from cnnviz.classroom.people import Person
    from cnnviz.training import jobs, jobtable
    from tests.support.specs import FLAT_MODEL, tiny_spec

    table = jobtable.JobTable()
    table.set_max_jobs(2)
    ann = Person("key:ann", "Ann", False, "key")
    theirs = jobs.JobManager(workers=False).submit(tiny_spec(FLAT_MODEL, epochs=1000), owner=ann)
    seen = {}

    def stop_theirs_after_ours_ended() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            ours = [s for s in table.jobs(jobtable.JOB_STATES) if s.job_id != theirs]
            if ours and not ours[0].active:
                time.sleep(1.5)  # the command has had time to leave, if it were to leave now
                seen["theirs, 1.5 s after ours ended"] = table.status(theirs).state
                table.stop(theirs)
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=stop_theirs_after_ours_ended, daemon=True)
    watcher.start()
    assert cli.main(["train", "--wait", *TINY, "--epochs", "1"]) == 0
    theirs_when_we_left = table.status(theirs).state
    watcher.join(5)
    assert seen == {"theirs, 1.5 s after ours ended": "running"}
    assert theirs_when_we_left == "stopped"  # ended by the request above, before the command left
    err = capsys.readouterr().err
    assert f"this command's training worker is training job {theirs} of Ann: waiting for it to end rather than " \
           "interrupt it (Ctrl-C interrupts it; it can be resumed)" in err, err
