"""Saves runs for tests/runs/test_crash_safety.py so the test can SIGKILL it mid-save.

Run as ``python tests/runs/crash_worker.py`` with ``CNNVIZ_HOME`` set. Importing TensorFlow costs
several seconds, far too much to pay again after each of 20 kills, so this process is a small
fork server: it builds one tiny real Keras model once, then on each ``fork`` command forks a
child that calls the real :func:`cnnviz.runs.saving.save_run` in a loop. The test kills the child,
never this process. (Forking after TensorFlow started is not supported in general; ``model.save``
of a tiny CPU model only reads variables and writes files, and the test times out with this
process's stderr if a child ever hangs.)

Protocol, one line each way (stdout lines are shorter than PIPE_BUF, so parent and child
lines never interleave):

* ``READY <seconds of one save>`` once the model is built and one run saved;
* ``fork`` -> ``CHILD <pid>``; the child prints ``START <k> <i>`` just before calling
  ``save_run`` for its ``i``-th save, ``MODEL <k> <i> <seconds>`` when Keras' ``model.save``
  inside it has returned, and ``DONE <k> <i> <run id> <seconds of the whole save>`` when ``save_run``
  returns; this process prints ``REAPED <pid>`` when the child has died;
* ``fork <i> <w> <seconds>``: the same, but the child also SIGKILLs itself that many seconds
  after a chosen moment of its ``i``-th save: ``w = 0`` when Keras' ``model.save`` returned
  (before ``model.keras`` gets its final name), ``w = 1..4`` when save_run starts writing its
  ``w``-th small file (config, history, metrics, manifest). A timer thread in the child: the
  test's own kill, a pipe read and a thread wake-up later, would often miss save_run's last
  ~10 ms, and a delay measured from Keras' return alone lands in the rename's fsync on one
  machine and after the manifest on another;
* ``load <run id> ...`` -> ``LOADED <n>``: each run's model loaded with
  :func:`cnnviz.runs.store.load_model` predicts exactly what the model in memory predicts;
* ``quit``.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[2])  # the repository root, not tests/runs/

import numpy as np  # noqa: E402

from cnnviz.runs import saving  # noqa: E402
from cnnviz.runs import store as runs  # noqa: E402
from tests.support.models import tiny_build  # noqa: E402
from tests.support.specs import RUN_CONFIG  # noqa: E402

HISTORY = {"loss": [2.0, 1.5], "accuracy": [0.2, 0.4]}


def config_for(child: int, save: int) -> dict:
    """What save ``save`` of child ``child`` writes as config.json (the test re-creates it)."""
    return {**RUN_CONFIG, "child": child, "save": save}


def metrics_for(child: int, save: int) -> dict:
    return {"test_accuracy": 0.5, "child": child, "save": save}


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _save(model, child: int, save: int) -> tuple[str, float]:
    start = time.perf_counter()
    info = saving.save_run(model, config=config_for(child, save), history=HISTORY,
                         metrics=metrics_for(child, save), status="finished")
    return info.run_id, time.perf_counter() - start


def _child(model, child: int, kill_after: tuple[int, int, float] | None) -> None:
    keras_save, write_bytes, save, writes = model.save, saving.storage.atomic_write_bytes, 0, 0

    def kill_if_aimed_at(moment: int) -> None:
        if kill_after is not None and kill_after[:2] == (save, moment):
            threading.Timer(kill_after[2], os.kill, (os.getpid(), signal.SIGKILL)).start()

    def save_and_say(path):  # lets the test aim kills at the part of save_run after Keras
        nonlocal writes
        start = time.perf_counter()
        keras_save(path)
        _say(f"MODEL {child} {save} {time.perf_counter() - start:.4f}")  # first: the test waits for it
        writes = 0
        kill_if_aimed_at(0)

    def write_and_aim(final, data):
        nonlocal writes
        writes += 1
        kill_if_aimed_at(writes)
        write_bytes(final, data)

    model.save = save_and_say
    saving.storage.atomic_write_bytes = write_and_aim  # this child only: the parent never saves again
    try:
        for save in itertools.count(1):
            _say(f"START {child} {save}")
            start = time.perf_counter()
            run_id, _ = _save(model, child, save)
            _say(f"DONE {child} {save} {run_id} {time.perf_counter() - start:.4f}")
    finally:
        os._exit(3)  # never return into the parent's loop


def main() -> None:
    model = tiny_build((8, 8, 1), 10)
    model.optimizer.build(model.trainable_variables)  # as after training: optimizer state is saved too
    _, seconds = _save(model, 0, 0)
    _say(f"READY {seconds:.4f}")
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    expected = model.predict(x, verbose=0)
    children = itertools.count(1)
    for line in sys.stdin:
        command = line.strip()
        if command.startswith("fork"):
            words = command.split()
            kill_after = (int(words[1]), int(words[2]), float(words[3])) if len(words) == 4 else None
            child = next(children)
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(model, child, kill_after)
            _say(f"CHILD {pid}")
            os.waitpid(pid, 0)
            _say(f"REAPED {pid}")
        elif command.startswith("load"):
            run_ids = command.split()[1:]
            for run_id in run_ids:
                got = runs.load_model(run_id).predict(x, verbose=0)
                np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=run_id)
            _say(f"LOADED {len(run_ids)}")
        elif command == "quit":
            return


if __name__ == "__main__":
    main()
