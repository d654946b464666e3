"""Crash safety of the run store: SIGKILL mid-save 20 times, and a full disk during a save.

The kill test drives ``tests/runs/crash_worker.py`` (a fork server holding one tiny real Keras
model) and kills its save loop at seeded random moments. After each kill it "restarts"
the way the app does (fresh cleanup state, then :func:`cnnviz.runs.store.list_runs`, which runs
:func:`cnnviz.runs.store.cleanup_once` with the app's default ``min_age_s``) and checks the store.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import io
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnnviz import storage
from cnnviz.runs import saving
from cnnviz.runs import store as runs
from cnnviz.runs.modelfile import check_model_archive
from cnnviz.training import jobs as jobmanager
from cnnviz.training import worker
from tests.conftest import REPO
from tests.runs import crash_worker
from tests.support.models import tiny_build
from tests.support.specs import RUN_CONFIG, tiny_spec


pytestmark = pytest.mark.crash

KILLS = 20
SEED = 9  # issue 9
READY_TIMEOUT_S = 180  # importing TensorFlow on 2 busy cores
LINE_TIMEOUT_S = 30


# --- the worker ----------------------------------------------------------------------------------
class Worker:
    """``tests/runs/crash_worker.py`` as a subprocess, its stdout lines read on a thread."""

    def __init__(self, home: Path, log: Path) -> None:
        env = {**os.environ, "CNNVIZ_HOME": str(home), "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.log = log
        self._stderr = open(log, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "runs" / "crash_worker.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, env=env, text=True, bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("EOF")

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def next_line(self, timeout: float = LINE_TIMEOUT_S) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"crash worker said nothing for {timeout} s; its stderr:\n{self.stderr_tail()}")
        if line == "EOF":
            pytest.fail(f"crash worker exited ({self.proc.poll()}); its stderr:\n{self.stderr_tail()}")
        return line

    def stderr_tail(self) -> str:
        self._stderr.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.proc.stdin.close()
        self._reader.join(timeout=10)  # it ends at EOF; then its pipe can be closed
        self.proc.stdout.close()
        self._stderr.close()


# --- what a store must look like -----------------------------------------------------------------
def hash_run(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def check_final_names_are_complete(folder: Path) -> None:
    """Every file at a final name in a run folder (complete or not) is a whole file, never a partial one."""
    child, save = None, None
    for name in runs.DATA_FILES:
        path = folder / name
        if path.exists():
            value = json.loads(path.read_text())  # a half-written JSON file would not parse
            if name == "config.json":
                child, save = value["child"], value["save"]
                assert value == crash_worker.config_for(child, save)
    if child is not None and (folder / "metrics.json").exists():
        assert json.loads((folder / "metrics.json").read_text()) == crash_worker.metrics_for(child, save)
    if (folder / "history.json").exists():
        assert json.loads((folder / "history.json").read_text()) == crash_worker.HISTORY
    if (folder / runs.MODEL_FILE).exists():
        check_model_archive(folder / runs.MODEL_FILE, folder.name)  # a whole zip as Keras writes it
    if (folder / runs.MANIFEST).exists():
        manifest = json.loads((folder / runs.MANIFEST).read_text())
        assert manifest["run_id"] == folder.name


def check_store(home: Path, before: dict[str, dict[str, str]], done_after: tuple[str, ...] = ()
                ) -> dict[str, dict[str, str]]:
    """After a restart: only complete, loadable, listed runs; no temporaries; earlier runs untouched.

    Args:
        before: hashes of the runs complete before the kill.
        done_after: runs whose save returned after ``before`` was taken (the kill came later).

    Returns:
        The hashes of every run now in the store.
    """
    root = home / "runs"
    assert not [p for p in home.rglob(f"*{storage.TEMP_MARKER}*")], "a temporary survived the restart"
    folders = sorted(root.iterdir())
    assert all(runs.RUN_ID_RE.match(p.name) and p.is_dir() for p in folders), folders
    listed = {info.run_id for info in runs.list_runs()}
    assert listed == {p.name for p in folders}, "every folder is a listed run, every listed run a folder"
    now = {}
    for folder in folders:
        manifest = json.loads((folder / runs.MANIFEST).read_text())
        assert sorted(p.name for p in folder.iterdir()) == sorted([*manifest["files"], runs.MANIFEST])
        runs.load_run(folder.name)  # JSON files match their checksums
        check_model_archive(runs.model_file(folder.name), folder.name)  # model checksum, archive
        check_final_names_are_complete(folder)
        now[folder.name] = hash_run(folder)
    for run_id, hashes in before.items():
        assert now.get(run_id) == hashes, f"earlier run {run_id} changed or vanished"
    assert set(done_after) <= set(now), "a save that returned must survive the kill"
    assert len(set(now) - set(before) - set(done_after)) <= 1, "only the killed save may have added a run"
    return now


def _restart() -> None:
    """What a fresh app process does first: the once-per-process cleanup, via the first listing."""
    runs._first_cleanup.done = False
    runs.list_runs()


# --- the kill test -------------------------------------------------------------------------------
def test_sigkill_during_saves_never_leaves_a_broken_or_partial_run(cnnviz_home, tmp_path, monkeypatch):
    # The restart uses the app's own min_age_s (15 min), not 0: no writer is alive after the
    # kill (the fork server is idle between saves and holds no lock), so cleanup gets the
    # writers' lock exclusively and removes every leftover at once, as it will after a real
    # crash. The age rule only protects a writer that is still alive.
    monkeypatch.setattr(runs._first_cleanup, "done", True)
    rng = np.random.default_rng(SEED)
    started = time.monotonic()
    worker = Worker(cnnviz_home, tmp_path / "worker-stderr.txt")
    try:
        kind, _ = worker.next_line(READY_TIMEOUT_S).split()
        assert kind == "READY", kind
        ready_s = time.monotonic() - started
        hashes = check_store(cnnviz_home, {})
        # Seconds of Keras' model.save and of the rest of save_run (JSON files, manifest), measured.
        keras_s, rest_s = [0.05], [0.02]
        outcomes: collections.Counter[str] = collections.Counter()
        landed_in_save = 0
        phase_s: dict[str, float] = collections.defaultdict(float)
        for kill in range(KILLS):
            t0 = time.monotonic()
            target = int(rng.integers(1, 3))  # kill during the child's 1st or 2nd save
            # Even kills: this test SIGKILLs the child at a random moment of Keras' own writing
            # (a kill that comes late lands in the next save: still mid-save). Odd kills: the
            # child SIGKILLs itself shortly after a random step of the rest of save_run: Keras
            # returned (model.keras not renamed yet), or the start of one of its four small
            # files (~10 ms in all: too short to aim at from here, and a busy machine shifts
            # the steps, so the child aims at the step itself, not at a time after Keras).
            self_kill = kill % 2 == 1
            step = int(rng.integers(0, 5))
            span = statistics.median(rest_s) / 5 if self_kill else statistics.median(keras_s)  # a step, or Keras
            delay = float(rng.uniform(0.0, 1.0)) * span
            before = dict(hashes)
            pid, aimed_at = None, None
            worker.send(f"fork {target} {step} {delay:.5f}" if self_kill else "fork")
            while aimed_at is None or pid is None:
                words = worker.next_line().split()
                if words[0] == "CHILD":
                    pid = int(words[1])
                elif words[0] == "MODEL":
                    keras_s.append(float(words[3]))
                elif words[0] == "DONE":
                    rest_s.append(float(words[4]) - keras_s[-1])
                    before[words[3]] = hash_run(cnnviz_home / "runs" / words[3])  # complete: manifest is last
                elif words[0] == "REAPED":
                    pytest.fail(f"the save loop died by itself; stderr:\n{worker.stderr_tail()}")
                if words[0] == ("MODEL" if self_kill else "START") and int(words[2]) == target and aimed_at is None:
                    aimed_at = time.monotonic()
            phase_s["until the aimed moment"] += time.monotonic() - t0
            if not self_kill:
                time.sleep(max(0.0, aimed_at + delay - time.monotonic()))
                os.kill(pid, signal.SIGKILL)
            t1 = time.monotonic()
            last, done_after = None, []
            while (words := worker.next_line().split())[0] != "REAPED":
                last = words
                if words[0] == "MODEL":
                    keras_s.append(float(words[3]))
                elif words[0] == "DONE":  # the kill came after this save returned
                    rest_s.append(float(words[4]) - keras_s[-1])
                    done_after.append(words[3])
            landed_in_save += last is None or last[0] != "DONE"
            phase_s["kill to reaped"] += time.monotonic() - t1

            # Before the restart: what the kill left behind.
            t2 = time.monotonic()
            folders = [p for p in (cnnviz_home / "runs").iterdir() if p.name not in before and p.name not in done_after]
            for folder in folders:
                check_final_names_are_complete(folder)  # even a half-saved run has no partial files
            unfinished = [p for p in folders if not (p / runs.MANIFEST).exists()]
            assert not {p.name for p in unfinished} & {info.run_id for info in runs.list_runs()}, "listed unfinished"
            if not folders:
                outcomes["no folder yet"] += 1
            elif not unfinished:
                outcomes["complete"] += 1
            for folder in unfinished:  # e.g. "partial: model.keras, config.json + temporary"
                final = [n for n in (runs.MODEL_FILE, *runs.DATA_FILES) if (folder / n).exists()]
                temp = any(storage.TEMP_MARKER in p.name for p in folder.iterdir())
                outcomes[f"partial: {', '.join(final) or 'nothing'}{' + temporary' if temp else ''}"] += 1

            _restart()
            hashes = check_store(cnnviz_home, before, tuple(done_after))
            phase_s["inspect, restart, check"] += time.monotonic() - t2

        t3 = time.monotonic()
        newest_first = [info.run_id for info in runs.list_runs()]
        worker.send(f"load {newest_first[0]} {newest_first[-1]}")  # Keras loads them; they predict right
        assert worker.next_line(120).split() == ["LOADED", "2"]
        phase_s["loading 2 models"] = time.monotonic() - t3
    finally:
        worker.close()
    elapsed = time.monotonic() - started
    print(f"\ncrash test: worker ready in {ready_s:.1f} s, {KILLS} kills and checks in {elapsed - ready_s:.1f} s "
          f"({ {k: round(v, 1) for k, v in phase_s.items()} }), median model.save {statistics.median(keras_s) * 1000:.0f} ms "
          f"+ {statistics.median(rest_s) * 1000:.0f} ms rest of save_run; {landed_in_save} kills inside a save; "
          f"{len(hashes)} runs at the end; what the kills left: {dict(outcomes)}")
    # The kills must really hit saves, both during Keras' write and during save_run's own files.
    assert landed_in_save >= KILLS - 2, landed_in_save
    in_keras = sum(n for k, n in outcomes.items() if k.startswith("partial: nothing"))
    after_keras = sum(n for k, n in outcomes.items() if k.startswith("partial: model.keras"))
    assert in_keras >= 3 and after_keras >= 3, outcomes


# --- a full disk ---------------------------------------------------------------------------------
class DiskFiller:
    """Make the disk "full" from the N-th write (or fsync) under CNNVIZ_HOME on: ENOSPC ever after.

    Wraps ``open``/``io.open`` (Keras' ``open(path, "wb")``, ``Path.write_bytes``) and ``os.fsync``.
    With ``fail_at=None`` it only counts.
    """

    def __init__(self, home: Path, fail_at: int | None, *, fsync: bool = False, error: int = errno.ENOSPC) -> None:
        self.home, self.fail_at, self.fsync, self.error = str(home), fail_at, fsync, error
        self.calls = 0

    def hit(self) -> None:
        self.calls += 1
        if self.fail_at is not None and self.calls >= self.fail_at:
            raise OSError(self.error, os.strerror(self.error))

    def install(self, monkeypatch) -> None:
        import builtins

        real_open, real_fsync = io.open, os.fsync
        filler = self

        class Writer:
            def __init__(self, fh):
                self._fh = fh

            def write(self, data):
                if not filler.fsync:
                    filler.hit()
                return self._fh.write(data)

            def __getattr__(self, name):
                return getattr(self._fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._fh.close()

            def __iter__(self):
                return iter(self._fh)

        def fake_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            under_home = isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith(filler.home)
            return Writer(fh) if under_home and any(c in mode for c in "wax+") else fh

        def fake_fsync(fd):
            if filler.fsync:
                filler.hit()
            return real_fsync(fd)

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
        monkeypatch.setattr(os, "fsync", fake_fsync)


def _tiny_model():
    model = tiny_build((8, 8, 1), 10)
    model.optimizer.build(model.trainable_variables)
    return model


def _save(model, n):
    return saving.save_run(model, config={**RUN_CONFIG, "n": n}, history={"loss": [1.0]}, metrics={"n": n},
                         status="finished")


def test_disk_full_during_a_save_is_a_clear_error_and_leaves_the_store_as_it_was(cnnviz_home, monkeypatch):
    model = _tiny_model()
    earlier = [_save(model, 0).run_id, _save(model, 1).run_id]
    root = cnnviz_home / "runs"
    before = {run_id: hash_run(root / run_id) for run_id in earlier}

    counter = DiskFiller(cnnviz_home, None)
    fsyncs = DiskFiller(cnnviz_home, None, fsync=True)
    with monkeypatch.context() as patch:
        counter.install(patch)
        counted = [_save(model, 2).run_id]
    with monkeypatch.context() as patch:
        fsyncs.install(patch)
        counted.append(_save(model, 3).run_id)
    assert counter.calls >= 5 and fsyncs.calls >= 5  # Keras' zip writes, the JSON files, the manifest
    for run_id in counted:
        runs.delete_run(run_id)

    # Every fsync, and every 3rd write plus the last 8 (the JSON files and the manifest; the
    # first ~20 are Keras' zip writes, much alike): bounded time, every step of save_run covered.
    writes = sorted({*range(1, counter.calls + 1, 3), *range(max(1, counter.calls - 7), counter.calls + 1)})
    points = [("write", n) for n in writes] + [("fsync", n) for n in range(1, fsyncs.calls + 1)]
    for kind, n in points:
        filler = DiskFiller(cnnviz_home, n, fsync=kind == "fsync")
        with monkeypatch.context() as patch:
            filler.install(patch)
            with pytest.raises(storage.DiskFull) as caught:
                _save(model, 4)
        assert str(caught.value) == (
            f"Could not save the run: the disk is full (CNNVIZ_HOME={cnnviz_home}). "
            "Free some space or delete old runs on the Runs page."
        ), (kind, n)
        # No partial run, no temporary, earlier runs byte-identical, nothing to clean up later.
        assert not list(cnnviz_home.rglob(f"*{storage.TEMP_MARKER}*")), (kind, n)
        assert sorted(p.name for p in root.iterdir()) == sorted(earlier), (kind, n)
        assert {run_id: hash_run(root / run_id) for run_id in earlier} == before, (kind, n)
        assert {r.run_id for r in runs.list_runs()} == set(earlier)
    assert runs.cleanup() == []
    runs.load_model(earlier[0])  # still loads after all that


@pytest.mark.parametrize(("error", "message"), [
    (errno.EACCES, "cnnviz may not write to its folder (permission denied) (CNNVIZ_HOME={home}). Whoever runs the "
                   "server: give its user write access to that folder, or point CNNVIZ_HOME to a folder it may write to."),
    (errno.EROFS, "the disk is read-only (CNNVIZ_HOME={home}). Whoever runs the server: point CNNVIZ_HOME to a "
                  "folder on a writable disk."),
    (errno.EIO, "the disk reported an input/output error (CNNVIZ_HOME={home}). Whoever runs the server: check the "
                "disk; earlier runs were not changed."),
])
def test_other_write_failures_during_a_save_say_why_and_leave_the_store_as_it_was(cnnviz_home, monkeypatch, error,
                                                                                 message):
    # Injected: CI runs as root, for whom permission bits and chmod-ed folders refuse nothing.
    model = _tiny_model()
    earlier = _save(model, 0).run_id
    root = cnnviz_home / "runs"
    before = hash_run(root / earlier)
    for n, fsync in [(1, False), (1, True), (5, False)]:  # the first write, the first fsync, a later write
        filler = DiskFiller(cnnviz_home, n, fsync=fsync, error=error)
        with monkeypatch.context() as patch:
            filler.install(patch)
            with pytest.raises(storage.SaveFailed) as caught:
                _save(model, 1)
        assert not isinstance(caught.value, storage.DiskFull)
        assert str(caught.value) == "Could not save the run: " + message.format(home=cnnviz_home), (n, fsync)
        assert isinstance(caught.value.__cause__, OSError) and caught.value.__cause__.errno == error
        assert [p.name for p in root.iterdir()] == [earlier] and hash_run(root / earlier) == before
        assert not list(cnnviz_home.rglob(f"*{storage.TEMP_MARKER}*"))
    assert [r.run_id for r in runs.list_runs()] == [earlier]


def test_a_training_job_whose_save_hits_a_full_disk_fails_with_the_message(cnnviz_home, monkeypatch):
    jobs = jobmanager.JobManager(max_jobs=1)
    filler = DiskFiller(cnnviz_home, 1)
    real_save_run = saving.save_run

    def save_run_on_a_full_disk(*args, **kwargs):  # the disk fills up just as the job saves
        with monkeypatch.context() as patch:
            filler.install(patch)
            return real_save_run(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(saving, "save_run", save_run_on_a_full_disk)
        job_id = jobs.table.submit(tiny_spec(), owner="test", label="tiny", build=worker.build_reference(tiny_build))
        # The worker's own job code, run here so that the disk fills up in this process (workers run the same).
        worker.run_job(jobs.table, jobs.table.claim(token="in-this-test", pid=os.getpid()))
    status = jobs.status(job_id)
    assert filler.calls >= 1  # the save really ran into the full disk
    assert status.state == "failed" and status.run_id is None
    assert status.error == (
        f"Could not save the run: the disk is full (CNNVIZ_HOME={cnnviz_home}). "
        "Free some space or delete old runs on the Runs page."
    )
    assert status.progress.phase == "done"
    assert runs.list_runs() == [] and list((cnnviz_home / "runs").iterdir()) == []
    assert jobs.active_jobs() == []  # the slot is free again for the next job
