"""cnnviz.training.isolated: a lesson's computation runs in a spawned process, never the server's, with its
progress, result, refusals and crashes brought back to the page."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.training import isolated


def where_and_sum(values, *, progress, scale=1):
    """Runs in the child: reports twice, returns its pid and the scaled sum."""
    progress(0.5, "half")
    progress(1.0, "done")
    return os.getpid(), sum(values) * scale


def refuse(*, progress):
    raise InvalidArgument("too few images: got 3")


def crash(*, progress):
    raise ZeroDivisionError("a bug")


def die(*, progress):
    os.kill(os.getpid(), signal.SIGKILL)


def test_it_runs_in_another_process_and_brings_back_progress_and_result():
    seen = []
    pid, total = isolated.run_isolated(where_and_sum, [1, 2, 3], scale=10,
                                       progress=lambda f, text: seen.append((f, text)))
    assert pid != os.getpid() and total == 60
    assert seen == [(0.5, "half"), (1.0, "done")]


def test_refusals_keep_their_words_and_bugs_become_one_calm_line(caplog):
    with pytest.raises(CnnvizError, match="^too few images: got 3$"):
        isolated.run_isolated(refuse)
    with pytest.raises(CnnvizError) as err:
        isolated.run_isolated(crash)
    assert str(err.value) == isolated.INTERNAL_ERROR and "a bug" not in str(err.value)


def test_a_child_that_dies_is_said_so_and_the_next_one_runs():
    with pytest.raises(CnnvizError) as err:
        isolated.run_isolated(die)  # as the kernel's out-of-memory killer would
    assert str(err.value) == isolated.DIED
    assert isolated.run_isolated(where_and_sum, [2])[1] == 2  # the lock was given back


def test_one_at_a_time_and_the_waiting_one_says_so():
    messages, results = [], []
    isolated._ONE_AT_A_TIME.acquire()
    waiting = threading.Thread(target=lambda: results.append(isolated.run_isolated(
        where_and_sum, [4], progress=lambda f, text: messages.append(text))))
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive() and messages == ["Waiting: another experiment is running on the server"]
    isolated._ONE_AT_A_TIME.release()
    waiting.join(timeout=120)
    assert not waiting.is_alive() and results[0][1] == 4 and messages[-1] == "done"
