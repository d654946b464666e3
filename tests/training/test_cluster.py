"""Training on a Ray cluster (CNNVIZ_RAY_ADDRESS): a real local Ray head on 127.0.0.1 trains the jobs of the
command line and of the app; progress, stop, a killed Ray worker, and the table's claim by id and heartbeat."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnnviz.runs import store as runs
from cnnviz.training import cluster, jobtable
from cnnviz.training import jobs as jobmanager
from tests.conftest import REPO
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec
from tests.support.waiting import wait_for

TINY = ["--preset", "seed000_model1", "--dataset", "digits", "--train-size", "60", "--test-size", "30",
        "--batch-size", "8", "--augment", "none", "--seed", "2"]


# --- the table's side: no Ray needed ------------------------------------------------------------
def test_a_job_is_claimed_by_id_once_and_only_below_the_cap():
    table = jobtable.JobTable()
    table.set_max_jobs(1)
    first, second = (table.submit(tiny_spec(seed=s), owner="student", label="tiny") for s in (1, 2))
    assert table.claim_job(second, token="ray:a", pid=11) is not None  # by id, not by queue order
    assert table.claim_job(second, token="ray:b", pid=12) is None  # a second dispatcher's task: nothing
    assert table.claim_job(first, token="ray:c", pid=13) is None  # the cap is full
    assert table.status(second).worker_pid == 11 and table.status(first).state == "queued"
    table.stop(first)
    assert table.claim_job(first, token="ray:c", pid=13) is None  # cancelled: never started


def test_a_remote_job_lives_by_its_heartbeat(monkeypatch):
    table = jobtable.JobTable()
    job_id = table.submit(tiny_spec(), owner="student", label="tiny")
    table.claim_job(job_id, token="ray:beating", pid=99999999)  # no such pid here: it runs elsewhere
    assert table.reap() == [] and table.recover() == []  # no lock to see: the fresh row says it lives
    table.heartbeat(job_id, "ray:someone-else")  # only the claiming task's beat counts
    now = time.time()
    monkeypatch.setattr(jobtable.time, "time", lambda: now + jobtable.HEARTBEAT_TIMEOUT_S + 1)
    assert table.reap() == [job_id]
    status = table.status(job_id)
    assert (status.state, status.error) == ("failed", jobtable.DIED_MESSAGE)
    assert not table.end_if_running(job_id, "ray:beating")  # already ended: left as it is


def test_the_settings_are_checked(monkeypatch):
    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    assert cluster.address() is None and cluster.dispatcher(Path("/x")) is None
    monkeypatch.setenv(cluster.CPUS_ENV, "")
    assert cluster.cpus_per_job() == cluster.DEFAULT_CPUS_PER_JOB
    monkeypatch.setenv(cluster.CPUS_ENV, "0.5")
    assert cluster.cpus_per_job() == 0.5
    for bad in ("0", "-1", "two"):
        monkeypatch.setenv(cluster.CPUS_ENV, bad)
        with pytest.raises(cluster.InvalidArgument, match=f"got '{bad}'"):
            cluster.cpus_per_job()


# --- a real Ray head ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RayHead:
    address: str
    logs: Path  # the session's log folder: one python-core-worker-<id>_<pid>.log per Ray worker process

    def ran_in_a_worker(self, pid: int | None) -> bool:
        """Whether process ``pid`` was one of this head's Ray workers (asked of Ray's own record)."""
        return pid is not None and any(self.logs.glob(f"python-core-worker-*_{pid}.log"))


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on 127.0.0.1 with 2 CPUs (its own process group, ended afterwards)."""
    with pytest.MonkeyPatch.context() as patch:
        # Ray's single-machine mode, read when ray is imported: 127.0.0.1 stays 127.0.0.1 for the head and
        # every driver (nothing listens on, or is sent to, another interface).
        patch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield from _start_head()


def _start_head():
    pytest.importorskip("ray", reason="Ray is the optional extra 'cluster': pip install -e '.[cluster]'")
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the `ray` command of the optional extra 'cluster' is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the Ray workers import this tree's cnnviz
    out = temp / "head.log"
    with out.open("w") as log:
        head = subprocess.Popen(
            [ray_cli, "start", "--head", "--block", "--num-cpus", "2", "--include-dashboard=false", "--port", str(port),
             "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp), "--disable-usage-stats"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in out.read_text():
            assert head.poll() is None and time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.2)
        yield RayHead(f"127.0.0.1:{port}", temp / "session_latest" / "logs")
    finally:
        cluster.shutdown()
        with_group = os.getpgid(head.pid) if head.poll() is None else None
        if with_group is not None:
            os.killpg(with_group, signal.SIGKILL)  # a test head: no draining needed
        head.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def on_ray(ray_head, monkeypatch):
    monkeypatch.setenv(cluster.ADDRESS_ENV, ray_head.address)
    monkeypatch.setenv(cluster.CPUS_ENV, "1")
    return ray_head


def _open_files(pid: int) -> list[str]:
    names = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            names.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            pass
    return names


@pytest.mark.slow
def test_the_command_line_trains_on_the_ray_cluster(on_ray, cnnviz_home):
    env = {**os.environ, "CNNVIZ_HOME": str(cnnviz_home), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([sys.executable, "-m", "cnnviz", "train", "--wait", *TINY, "--epochs", "2"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^epoch 2/2  batch 6/6  loss \d+\.\d{4}", proc.stdout, re.M), proc.stdout  # progress
    run_id = re.search(r"^run (\S+) finished: test accuracy", proc.stdout, re.M).group(1)
    [job] = jobtable.JobTable().jobs(jobtable.ENDED_STATES)
    assert (job.state, job.run_id) == ("finished", run_id)
    assert job.worker_pid != os.getpid() and on_ray.ran_in_a_worker(job.worker_pid)  # a Ray worker trained it
    info = runs.load_run(run_id)
    assert info.config["epochs"] == 2 and info.metrics["n_test"] == 30 and len(info.history["loss"]) == 2


@pytest.mark.slow
def test_the_app_trains_on_the_ray_cluster_and_stop_is_honoured(on_ray, app_path):
    from streamlit.testing.v1 import AppTest

    from cnnviz.app import jobs as appjobs
    from tests.support.pages import run_until, start_page_training

    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/build_train.py").run()
    assert not at.exception, at.exception
    job_id = start_page_training(at, "seed000_model1_digits", epochs=500, train_size=60, test_size=30, batch=8)
    manager = appjobs.training_jobs()
    assert wait_for(lambda: manager.status(job_id).progress.epoch >= 2, timeout=300), manager.status(job_id)
    run_until(at, lambda at: len(at.get("progress")) > 0)  # the live panel shows it
    running = manager.status(job_id)
    assert running.state == "running" and running.worker_pid != os.getpid()
    assert on_ray.ran_in_a_worker(running.worker_pid)
    assert Path(f"/proc/{running.worker_pid}/cmdline").read_bytes().startswith(b"ray::")  # Ray names its workers
    assert manager.worker_pids() == []  # no local worker was started
    # The task reaches the table through the table's actor: it never opens the SQLite file itself
    # (WAL must not be shared over a network filesystem).
    opened = _open_files(running.worker_pid)
    assert opened and not [f for f in opened if "jobs.sqlite3" in f], opened
    assert cluster.dispatcher(manager.home).submitted() == [job_id]

    at.button(key="train_stop").click().run()
    stopped = manager.wait(job_id, timeout=60)
    assert stopped.state == "stopped", stopped
    info = runs.load_run(stopped.run_id)
    assert info.status == "stopped" and 2 <= info.metrics["epochs_completed"] < 500


@pytest.mark.slow
def test_a_killed_ray_worker_fails_its_job_and_the_next_one_trains(on_ray, cnnviz_home):
    manager = jobmanager.JobManager(max_jobs=1)
    victim = manager.submit(tiny_spec(epochs=1000), build=tiny_build)
    after = manager.submit(tiny_spec(seed=1), build=tiny_build)
    assert wait_for(lambda: manager.status(victim).progress.batch > 0, timeout=300), manager.status(victim)
    assert manager.status(after).queue_position == 1  # the table's cap holds it back, not Ray's CPUs
    pid = manager.status(victim).worker_pid
    assert on_ray.ran_in_a_worker(pid)
    os.kill(pid, signal.SIGKILL)
    failed = manager.wait(victim, timeout=60)
    assert (failed.state, failed.error, failed.run_id) == ("failed", jobtable.DIED_MESSAGE, None)
    done = manager.wait(after, timeout=300)
    assert done.state == "finished" and done.worker_pid != pid and on_ray.ran_in_a_worker(done.worker_pid)
    assert [r.run_id for r in runs.list_runs()] == [done.run_id]
