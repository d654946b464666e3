"""The command line at its edges: bad paths, impossible trainings, the class's cap, Ctrl-C twice, closed pipes,
offline downloads, owners, TTA accuracies and report permissions (each test failed on the code before)."""

from __future__ import annotations

import io
import os
import re
import signal
import stat
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from cnnviz import cli, storage, terminal
from cnnviz.runs import saving
from cnnviz.runs import store as runs
from tests.conftest import REPO
from tests.support.archives import tiny_archive_bytes
from tests.support.disks import refuse_mkdir_under
from tests.support.http import loopback_server, refused_url
from tests.support.models import tiny_build

TINY = ["--preset", "seed000_model1", "--dataset", "digits", "--train-size", "60", "--test-size", "30",
        "--batch-size", "8", "--augment", "none", "--seed", "2"]
CONFIG = {
    "model": {"architecture": "test-tiny", "filters": 4}, "dataset": "digits", "train_size": 60, "test_size": 30,
    "validation_fraction": 0.25, "scaling": "unit", "augment": None, "epochs": 1, "batch_size": 8, "seed": 3,
    "preset": None, "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]},
    "input_shape": [8, 8, 1], "num_classes": 10,
}


def _saved_run(config=None, metrics=None):
    model = tiny_build((8, 8, 1), 10)
    model.optimizer.build(model.trainable_variables)
    return saving.save_run(model, config={**CONFIG, **(config or {})}, history={"loss": [2.0], "accuracy": [0.3]},
                           metrics={"test_accuracy": 0.3, **(metrics or {})}, status="finished")


# 1. report --csv: a folder, a missing folder or a file as folder is a traceback (exit 1), after the measuring
@pytest.mark.slow
@pytest.mark.parametrize("where", ["folder", "under_a_file", "missing"])
def test_report_csv_to_a_bad_path_is_one_line(tmp_path, capsys, where):
    info = _saved_run()
    (tmp_path / "afile").write_text("x")
    csv = {"folder": tmp_path, "under_a_file": tmp_path / "afile" / "h.csv",
           "missing": tmp_path / "no" / "such" / "h.csv"}[where]
    code = cli.main(["report", info.run_id, "--out", str(tmp_path / "r.html"), "--csv", str(csv)])
    if where == "missing":  # as --out does: the folders are made
        assert code == 0 and csv.is_file()
        return
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and str(csv) in err[-1], err


# 2. train without --wait queues what can never train, and says all is well (exit 0)
@pytest.mark.parametrize("extra", [["--dataset", "nope"], ["--dataset", "folder:gone"], ["--dataset", "cifar10"],
                                   ["--lr", "-1"], ["--lr", "nan"], ["--train-size", "100000"],
                                   ["--train-size", "60", "--images", "first_last", "--test-size", "99999"]])
def test_train_refuses_at_once_what_the_worker_would_refuse(capsys, extra):
    assert cli.main(["train", *TINY, "--epochs", "1", *extra]) == 2
    out = capsys.readouterr()
    assert "queued" not in out.out and out.err.startswith("error: "), (out.out, out.err)
    from cnnviz.training import jobtable
    assert jobtable.JobTable().jobs() == []


# 3. train --wait rewrites the class's cap (set on the Class page) to $CNNVIZ_MAX_TRAINING_JOBS or half the cores
def test_train_wait_keeps_the_cap_the_teacher_set(capsys, monkeypatch):
    from cnnviz.training import jobs, jobtable

    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # the default cap would be 1
    monkeypatch.setattr(jobs.JobManager, "ensure_workers", lambda self: None)  # train nothing: the cap is the point
    jobtable.JobTable().set_max_jobs(3)  # the teacher's choice on the Class page

    def follow(manager, job_id):
        manager.stop(job_id)
        return manager.wait(job_id, timeout=30)

    monkeypatch.setattr(terminal, "follow", follow)
    assert cli.main(["train", "--wait", *TINY, "--epochs", "1"]) == 1  # stopped before any training
    assert jobtable.JobTable().max_jobs() == 3


# 4. Ctrl-C twice (a terminal sends it to the whole process group): "quit without saving" but a run is saved,
#    and the command only says "interrupted": neither the job nor the run is named
@pytest.mark.slow
def test_second_ctrl_c_says_what_became_of_the_job(cnnviz_home):
    env = {**os.environ, "CNNVIZ_HOME": str(cnnviz_home), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cnnviz", "train", "--wait", *TINY, "--epochs", "500"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline, lines = time.monotonic() + 180, []
        while time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
            if lines[-1].startswith("epoch 2/500"):
                break
        os.killpg(proc.pid, signal.SIGINT)
        while time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
            if "stopping after this batch" in lines[-1]:
                break
        os.killpg(proc.pid, signal.SIGINT)
        out = "".join(lines) + proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    from cnnviz.training import jobtable
    [job] = jobtable.JobTable().jobs(("queued", "running", "finished", "stopped", "failed", "interrupted", "cancelled"))
    assert "Traceback" not in out
    # The CLI's own words: not the workers' log lines (time-stamped) nor TensorFlow's (I0000/E0000/W0000 ...).
    out = "\n".join(line for line in out.splitlines()
                    if not re.match(r"\d{4}-\d\d-\d\d \d\d:|[IWEF]\d{4} |WARNING: All log|To enable", line))
    assert job.job_id in out, out[-1500:]  # which job, so `jobs resume ID` can be typed
    if job.run_id is not None:  # the worker saved what it trained: say so, never "without saving"
        assert job.run_id in out, out[-1500:]


# 5. piped into `head` (or any reader that stops early): a BrokenPipeError traceback
@pytest.mark.parametrize("command", [["presets"], ["runs"], ["data", "status"], ["jobs", "--json"]])
def test_a_closed_pipe_is_no_traceback(cnnviz_home, command):
    read, write = os.pipe()
    os.close(read)  # `... | head -1` after head has gone
    try:
        done = subprocess.run([sys.executable, "-m", "cnnviz", *command], cwd=REPO, stdout=write,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "CNNVIZ_HOME": str(cnnviz_home)},
                              timeout=120)
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr[-800:]


# 6. download offline: no word of how to get the weights onto an offline machine (data download has one)
def test_download_offline_says_how_to_get_the_weights(capsys, keras_home):
    assert cli.main(["download", "resnet50", "--url", refused_url()]) == 2
    err = capsys.readouterr().err
    assert "--from" in err, err


def test_download_of_a_wrong_file_is_one_sentence_then_the_offline_hint(capsys, keras_home):
    with loopback_server({"/r.h5": b"not the weights"}) as mirror:
        assert cli.main(["download", "resnet50", "--url", mirror.base + "/r.h5"]) == 2
    err = capsys.readouterr().err
    assert "so it was not kept. If this machine is offline" in err and ".." not in err, err


def test_download_from_a_folder_does_not_say_it_does_not_exist(capsys, tmp_path, keras_home):
    assert cli.main(["download", "resnet50", "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "does not exist" not in err and str(tmp_path) in err, err


def test_a_download_says_when_the_variable_the_app_reads_first_names_another_file(capsys, tmp_path, keras_home,
                                                                                  monkeypatch):
    import hashlib

    payload = b"official" * 1000
    monkeypatch.setenv("CNNVIZ_RESNET50_WEIGHTS", str(tmp_path / "gone.h5"))
    with loopback_server({"/r.h5": payload}) as mirror:
        assert cli.main(["download", "resnet50", "--url", mirror.base + "/r.h5",
                         "--md5", hashlib.md5(payload).hexdigest()]) == 0
    err = capsys.readouterr().err
    assert (f"note: the app will not use this copy while CNNVIZ_RESNET50_WEIGHTS is set: the ResNet50 weights file "
            f"{tmp_path / 'gone.h5'} (from CNNVIZ_RESNET50_WEIGHTS) does not exist.") in err, err
    (tmp_path / "mine.h5").write_bytes(b"x")
    monkeypatch.setenv("CNNVIZ_RESNET50_WEIGHTS", str(tmp_path / "mine.h5"))
    assert cli.main(["download", "resnet50", "--md5", hashlib.md5(payload).hexdigest()]) == 0  # already here
    said = capsys.readouterr()
    assert "already here" in said.out and (f"note: CNNVIZ_RESNET50_WEIGHTS is set, so the app uses "
                                           f"{tmp_path / 'mine.h5'}, not this copy.") in said.err, said
    monkeypatch.delenv("CNNVIZ_RESNET50_WEIGHTS")
    assert cli.main(["download", "resnet50", "--md5", hashlib.md5(payload).hexdigest()]) == 0
    assert "note:" not in capsys.readouterr().err


# 7. runs: no owner, where the Runs page's table starts with "by"
@pytest.mark.slow
def test_runs_names_the_owner_as_the_runs_page_does(capsys):
    info = _saved_run(config={"owner": "u-ada-1", "owner_name": "Ada Lovelace"})
    assert info.owner_name == "Ada Lovelace"
    assert cli.main(["runs"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(info.run_id))
    assert "Ada Lovelace" in row, row


# 8. train --wait: a test-time-augmented accuracy given as the plain one (Build & train says "mean over ...")
@pytest.mark.slow
def test_train_wait_says_the_accuracy_was_tested_with_tta(capsys, monkeypatch):
    info = _saved_run(config={"tta": "flip"}, metrics={"test_accuracy": 0.6, "test_accuracy_without_tta": 0.55,
                                                       "test_tta": "mean over each image and its mirror"})
    assert info.spec.tta == "flip"
    monkeypatch.setattr(cli.jobs, "manager", lambda: SimpleNamespace(
        submit=lambda spec, owner: "job1", end_workers_when_idle=lambda waiting: None))
    monkeypatch.setattr(terminal, "follow", lambda manager, job_id: SimpleNamespace(
        state="finished", run_id=info.run_id, error=None))
    assert cli.main(["train", "--wait", *TINY, "--epochs", "1"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"run {info.run_id}"))
    assert "mirror" in line or "augmentation" in line, line
    assert "55.00%" in line, line


# 9. report: the HTML is written owner-only (0600, mkstemp's mode) while the CSV beside it is 0644
@pytest.mark.slow
def test_report_file_is_readable_like_any_file_the_user_writes(tmp_path, capsys):
    info = _saved_run()
    old = os.umask(0o022)
    try:
        assert cli.main(["report", info.run_id, "--out", str(tmp_path / "r.html"), "--csv", str(tmp_path / "h.csv")]) == 0
    finally:
        os.umask(old)
    html, csv = (stat.S_IMODE((tmp_path / n).stat().st_mode) for n in ("r.html", "h.csv"))
    assert html == csv == 0o644, (oct(html), oct(csv))


# 10. a CNNVIZ_HOME that cannot be made (no permission, a read-only disk): a traceback from the job table
@pytest.mark.parametrize("command", [["jobs"], ["jobs", "stop", "job-1"], ["train", *TINY]])
def test_a_home_that_cannot_be_made_is_one_line(capsys, cnnviz_home, monkeypatch, command):
    import errno

    refuse_mkdir_under(monkeypatch, cnnviz_home, errno.EACCES)
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Could not open the training queue: cnnviz may not write to its folder "
                          f"(permission denied) (CNNVIZ_HOME={cnnviz_home})."), err


# 11. train --wait: a stopped epoch printed as a whole one ("batch 6/6"), and a new line per update on a terminal
def _scripted_manager(progresses):
    from cnnviz.training.callbacks import Progress
    statuses = iter([SimpleNamespace(progress=Progress(**p), active=i < len(progresses) - 1, state="running",
                                     queue_position=0) for i, p in enumerate(progresses)])
    return SimpleNamespace(status=lambda job_id: next(statuses))


STOPPED_IN_EPOCH_3 = [
    dict(phase="training", epoch=3, epochs=5, batch=1, batches=6, loss=1.5),
    dict(phase="training", epoch=3, epochs=5, batch=2, batches=6, loss=1.4),
    dict(phase="done", epoch=3, epochs=5, batch=2, batches=6,
         curve={"epoch_loss": [2.0, 1.6, 1.4], "epoch_accuracy": [0.3, 0.5, 0.6],
                "epoch_val_loss": [None] * 3, "epoch_val_accuracy": [None] * 3, "epoch_x": [1, 2, 2.3333]}),
]


def test_follow_prints_a_stopped_epoch_with_the_batches_it_trained(monkeypatch, capsys):
    monkeypatch.setattr(terminal.time, "sleep", lambda s: None)
    terminal._follow_loop(_scripted_manager(STOPPED_IN_EPOCH_3), "job1", [])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 3/5  batch 1/6  loss 1.5000") and lines[1].startswith("epoch 3/5  batch 2/6")
    assert lines[2].startswith("epoch 1/5  batch 6/6  loss 2.0000  acc 0.3000")
    assert lines[4].startswith("epoch 3/5  batch 2/6  loss 1.4000  acc 0.6000") and lines[4].endswith("(stopped)")
    assert len(lines) == 5


def test_follow_rewrites_the_running_line_on_a_terminal(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monkeypatch.setattr(terminal.sys, "stdout", out)
    monkeypatch.setattr(terminal.time, "sleep", lambda s: None)
    terminal._follow_loop(_scripted_manager(STOPPED_IN_EPOCH_3), "job1", [])
    kept = out.getvalue().split("\n")
    assert kept[0].count("\r") == 3 and kept[0].endswith("acc 0.3000")  # the two running lines, then epoch 1
    assert kept[0].split("\r")[2].startswith("epoch 3/5  batch 2/6  loss 1.4000")
    assert kept[1].startswith("epoch 2/5  batch 6/6") and kept[2].endswith("(stopped)")
    assert kept[3] == "" and len(kept) == 4


# 12. download: --alpha and --size of a backbone with one weights file were ignored without a word
@pytest.mark.parametrize("model", ["resnet50", "vgg16-notop", "resnet50-notop"])
def test_download_refuses_mobilenet_sizes_for_other_weights(capsys, model):
    assert cli.main(["download", model, "--alpha", "0.5", "--size", "128"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --alpha and --size choose MobileNetV2's weights; {model} has one file, "
                   "got --alpha 0.5 --size 128"), err


# 13. a job table that is not what cnnviz wrote (a crash, a restored disk, a copy in progress): a traceback
@pytest.mark.parametrize("damage", ["garbage", "folder", "locked"])
def test_a_damaged_or_locked_job_table_is_one_line_naming_it(capsys, cnnviz_home, monkeypatch, damage):
    import sqlite3

    from cnnviz.training import jobtable

    path = jobtable.table_path()
    cnnviz_home.mkdir()
    holder = None
    if damage == "garbage":
        path.write_bytes(b"not a database, whatever a backup tool left\n" * 200)
    elif damage == "folder":
        path.mkdir()
    else:  # another process holds SQLite's write lock (an sqlite3 shell left in BEGIN EXCLUSIVE)
        jobtable.JobTable().set_max_jobs(2)
        monkeypatch.setattr(jobtable, "BUSY_TIMEOUT_S", 0.05)  # not 30 s of waiting in a test
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    try:
        assert cli.main(["jobs", "stop", "job-1"]) == 2
    finally:
        if holder is not None:
            holder.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: Could not open the training queue: {path} "), err
    assert ("is locked by another process" if damage == "locked" else "Whoever runs the server") in err[0], err


# 14. a download that fails or is interrupted on a terminal: the error is printed at the end of the percents' line
#     ("  50%      0.0 MBerror: could not download ..."), not on a line of its own
class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("command", [["data", "download", "cifar10", "--no-verify"], ["download", "vgg16-notop"]])
def test_a_failed_download_on_a_terminal_says_so_on_a_line_of_its_own(monkeypatch, keras_home, command):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    with loopback_server() as server:
        url = server.serve("/f", tiny_archive_bytes(), mode="truncate")
        assert cli.main([*command, "--url", url]) == 2
    text = err.getvalue()
    assert "%" in text, text  # the percents were drawn
    last = text.rstrip("\n").split("\n")[-1]
    assert last.startswith("error: could not download"), repr(text[-300:])


def test_ctrl_c_during_a_download_on_a_terminal_says_so_on_a_line_of_its_own(monkeypatch):
    def download(name, progress, **opts):
        progress(0, 1000)
        progress(500, 1000)
        raise KeyboardInterrupt

    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(cli.datasets, "download", download)
    assert cli.main(["data", "download", "cifar10"]) == 130
    assert err.getvalue().endswith("\ninterrupted\n"), repr(err.getvalue())


# 15. train without --wait queued a job on a student's import without noting whose import it was: when that student
#     deleted it and another imported their own data under the freed name, the teacher's job trained on that
#     (the app's queue refuses it: "someone else has imported another one under its name since")
def test_a_queued_training_trains_only_on_the_import_it_was_queued_on(capsys, tmp_path):
    from cnnviz.classroom.people import Person
    from cnnviz.data import datasets, owners
    from cnnviz.training import jobtable
    from tests.support.archives import class_folders, make_zip

    ada, bob = Person("key:ada", "Ada", False, "key"), Person("key:bob", "Bob", False, "key")
    zipped = make_zip(class_folders(per_class=10))
    datasets.import_folder_zip(zipped, name="pets", image_size=16, owner=ada)
    assert cli.main(["train", "--preset", "seed000_model1", "--dataset", "folder:pets", "--train-size", "16",
                     "--test-size", "4", "--epochs", "1", "--augment", "none"]) == 0
    job_id = re.search(r"^job ([0-9a-f]+) queued", capsys.readouterr().out, re.M).group(1)
    assert datasets.remove("folder:pets", by=ada)
    datasets.import_folder_zip(zipped, name="pets", image_size=16, owner=bob)  # Bob's, under the freed name
    record = jobtable.JobTable().record(job_id)
    assert not owners.trains_for(record.dataset, record.owner, record.dataset_owner), record.dataset_owner


# 16. download: weights already in Keras' cache (which the pages use as they are) were downloaded again, and offline the
#     command failed, telling the teacher to copy onto the machine a file that is there; they go into CNNVIZ_HOME
#     (shared with other machines) as a download would
def test_download_takes_the_weights_from_keras_cache_where_the_pages_find_them(capsys, keras_home):
    from cnnviz import weights
    from tests.support.http import md5

    wf = weights.weights_file("resnet50")
    body = b"the weights, as far as this MD5 goes"
    cached = keras_home / "models" / wf.file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(body)
    assert weights.resolve_weights(wf, md5=md5(body)) == cached  # what the Pretrained page loads
    assert cli.main(["download", "resnet50", "--md5", md5(body), "--url", refused_url()]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    copied = storage.weights_dir() / wf.file
    assert copied.read_bytes() == body and str(copied) in out, out


# 17. a CNNVIZ_HOME that exists but this user may not write (the server's, from the teacher's own account): an
#     sqlite3.OperationalError traceback ("unable to open database file") where test 10's home that cannot be made
#     is one line
@pytest.mark.parametrize("command", [["jobs"], ["jobs", "stop", "job-1"], ["train", *TINY], ["jobs", "work"]])
def test_a_home_this_user_may_not_write_is_one_line(capsys, cnnviz_home, monkeypatch, command):
    import sqlite3

    from cnnviz.training import jobtable

    cnnviz_home.mkdir()
    real_connect, real_access = sqlite3.connect, os.access

    def as_that_user(path, *args, **kwargs):  # sqlite may read, not create or write: as for a folder of another user
        return real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(jobtable.sqlite3, "connect", as_that_user)
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (mode & os.W_OK == 0 or not str(path).startswith(
        str(cnnviz_home))) and real_access(path, mode, **kw))
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Could not open the training queue: cnnviz may not write to its folder "
                          f"(permission denied) (CNNVIZ_HOME={cnnviz_home})."), err


def test_download_with_a_keras_cache_it_may_not_read_goes_on(capsys, keras_home, monkeypatch):
    """A Keras cache of another user (HOME kept by `sudo -u`): not a copy to use, and no PermissionError traceback."""
    from pathlib import Path

    from cnnviz import weights

    unreadable = keras_home / "models" / weights.weights_file("resnet50").file
    real_is_file = Path.is_file

    def is_file(self):
        if self == unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return real_is_file(self)

    monkeypatch.setattr(Path, "is_file", is_file)
    assert cli.main(["download", "resnet50", "--url", refused_url()]) == 2
    err = capsys.readouterr().err
    assert "error: could not download" in err and "Traceback" not in err, err


# 18. jobs resume without --wait: "queued", and nothing trains it while no server or `jobs work` runs; `train` without
#     --wait says so, resume did not
def test_jobs_resume_without_wait_says_when_no_worker_runs(capsys):
    import json

    from cnnviz.training import checkpoint, jobtable
    from tests.support.specs import FLAT_MODEL, tiny_spec

    table = jobtable.JobTable()
    job_id = table.submit(tiny_spec(FLAT_MODEL, epochs=3), owner="teacher", label="tiny")
    assert table.claim(token="t", pid=os.getpid()).job_id == job_id
    table.finish(job_id, state="failed", error="the worker died")
    folder = checkpoint.folder_for(job_id)  # its first epoch, as the worker saved it
    folder.mkdir(parents=True)
    (folder / checkpoint.MODEL_FILE).write_bytes(b"a model")
    (folder / checkpoint.STATE_FILE).write_text(json.dumps({"epochs_done": 1, "history": {"loss": [2.0]}}))
    assert cli.main(["jobs", "resume", job_id]) == 0
    out = capsys.readouterr().out
    assert re.match(rf"job [0-9a-f]+ queued: it goes on from epoch 1 of job {job_id}", out), out
    assert "no training worker runs for this CNNVIZ_HOME yet" in out, out


# 19. train --wait behind the class's trainings: nothing printed until the job started (the pages show the place in
#     the queue)
def test_follow_says_its_place_in_the_queue(monkeypatch, capsys):
    from cnnviz.training.callbacks import Progress

    monkeypatch.setattr(terminal.time, "sleep", lambda s: None)
    places = (3, 3, 1, 0)
    statuses = iter([SimpleNamespace(state="queued" if place else "cancelled", queue_position=place, active=place > 0,
                                     progress=Progress(phase="waiting" if place else "done")) for place in places])
    terminal._follow_loop(SimpleNamespace(status=lambda job_id: next(statuses)), "job1", [])
    assert capsys.readouterr().out.splitlines() == ["waiting in the queue (number 3)", "waiting in the queue (number 1)"]


# 20. download --from FILE --url MIRROR: the mirror was ignored without a word (the file was copied)
def test_download_from_a_file_refuses_a_mirror_too(capsys, tmp_path, keras_home):
    from cnnviz import weights
    from tests.support.http import md5

    body = b"weights brought on a stick"
    source = tmp_path / "r.h5"
    source.write_bytes(body)
    assert cli.main(["download", "resnet50", "--from", str(source), "--md5", md5(body),
                     "--url", "http://127.0.0.1:9/r.h5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("error: --from copies a file and --url downloads one: give one of them, "
                   "got --from " + repr(str(source)) + " --url 'http://127.0.0.1:9/r.h5'"), err
    assert not (storage.weights_dir() / weights.weights_file("resnet50").file).exists()


# 21. jobs: two students of one name are two lines the teacher can tell apart, and a long name keeps its tag
def test_jobs_tells_two_students_of_one_name_apart(capsys, cnnviz_home):
    from cnnviz.classroom import roster
    from cnnviz.training.jobtable import JobTable
    from tests.support.specs import tiny_spec

    table = JobTable()
    long = "Ann Maria Josephine de la Cruz Fernandez"
    people = [roster.register(name)[1] for name in ("Ann", "Ann", long, long)]
    for seed, who in enumerate(people):
        table.submit(tiny_spec(seed=seed), owner=who.user_id, owner_name=who.display_name, label="net")
    assert cli.main(["jobs"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    owners = [row[36:72].strip() for row in rows]
    assert owners[0] != owners[1] and all(re.fullmatch(r"Ann \([0-9a-f]{4,}\)", o) for o in owners[:2]), owners
    cut = re.compile(r"Ann Maria Josephine de.*\.\.\. \([0-9a-f]{4,}\)")
    assert owners[2] != owners[3] and all(len(o) == 35 and cut.fullmatch(o) for o in owners[2:]), owners  # the tag kept


# 22. jobs work --max-jobs: any number was taken (the Class page allows 1..64), 0 in the backend's words only
@pytest.mark.parametrize("given", ["0", "-3", "65", "100000"])
def test_jobs_work_refuses_a_cap_out_of_range_as_other_options_are(capsys, cnnviz_home, monkeypatch, given):
    from cnnviz.training import jobs

    def no_workers(*args, **kwargs):  # what the code before did: start the workers (and run until Ctrl-C)
        raise AssertionError(f"workers started with {args} {kwargs}")

    monkeypatch.setattr(jobs, "JobManager", no_workers)
    assert cli.main(["jobs", "work", "--max-jobs", given]) == 2
    assert capsys.readouterr().err == f"error: --max-jobs must be 1..{jobs.MAX_JOBS_LIMIT}, got {given}\n"


# 23. train --wait, Ctrl-C twice while the job still waits in the queue (both presses before the next look): "goes on
#     stopping in its worker", but no stop was asked and no worker had it: the job stayed queued, and trained (all its
#     epochs) whenever a server or `jobs work` next started
def test_ctrl_c_twice_while_queued_drops_the_job(capsys, monkeypatch):
    from cnnviz.training import jobs, jobtable
    from tests.support.specs import tiny_spec

    monkeypatch.setattr(jobs.JobManager, "ensure_workers", lambda self: None)  # the worker is still starting
    manager = jobs.JobManager()
    job_id = manager.submit(tiny_spec(), build=tiny_build)
    with pytest.raises(KeyboardInterrupt):
        terminal._follow_loop(manager, job_id, [1, 1])
    assert jobtable.JobTable().status(job_id).state == "cancelled"
    err = capsys.readouterr().err
    assert f"job {job_id} cancelled: nothing was saved" in err and "goes on stopping" not in err, err


# 24. a `train --wait` killed with its worker (kill -9, a closed terminal, out of memory) while no server runs: `jobs`
#     said "running", `jobs resume` refused it as running and `jobs stop` asked a worker that was gone to stop
@pytest.mark.parametrize("command", [["jobs"], ["jobs", "resume", "JOB"], ["jobs", "stop", "JOB"]])
def test_a_job_whose_worker_died_is_not_said_running(capsys, monkeypatch, command):
    from cnnviz.training import jobs, jobtable
    from tests.support.specs import tiny_spec

    monkeypatch.setattr(jobs.JobManager, "ensure_workers", lambda self: None)
    table = jobtable.JobTable()
    job_id = jobs.JobManager(workers=False).submit(tiny_spec(), build=tiny_build)
    assert table.claim(token="gone-worker", pid=999_999).job_id == job_id  # claimed, then its worker died
    assert table.status(job_id).state == "running"
    cli.main([job_id if word == "JOB" else word for word in command])
    out = capsys.readouterr()
    said = out.out + out.err
    assert table.status(job_id).state == "failed", said  # as a server's upkeep ends it: resumable
    assert not re.search(rf"{job_id} +running|is running|asked to stop", said), said  # resume: "no saved progress"
