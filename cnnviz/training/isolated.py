"""Run a short lesson computation (the Experiments page's tiny side-by-side trainings) in a spawned child
process, so the web server's process never builds or fits a network; progress comes back through a queue.

The job table (:mod:`cnnviz.training.jobtable`) is for trainings that make runs; an experiment makes
no run, lasts seconds and belongs to the page that waits for it, so it gets a process of its own that
ends with it. Spawned, not forked: ``fork()`` after TensorFlow is loaded hangs (tensorflow#27074).
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from collections.abc import Callable
from typing import Any

from cnnviz.errors import CnnvizError

log = logging.getLogger("cnnviz.training.isolated")

Progress = Callable[[float, str], None]
#: What a student reads when the computation had a bug (the traceback goes to the server's log).
INTERNAL_ERROR = "The experiment failed because of an internal error. The details are in the server log."
DIED = "The experiment's process ended unexpectedly (out of memory?); nothing was kept. Try fewer images."
#: One child at a time per server: side by side they would measure each other's seconds per epoch, and
#: a class pressing the buttons together would share the processor thirty ways.
_ONE_AT_A_TIME = threading.Lock()


def run_isolated(func: Callable[..., Any], /, *args: Any, progress: Progress | None = None,
                 poll_s: float = 0.1, **kwargs: Any) -> Any:
    """``func(*args, progress=..., **kwargs)`` in a spawned process; its result (pickled back).

    ``func`` must be a module-level function (the child imports it by name) taking a ``progress``
    keyword; its arguments and result must pickle. The child ends with the call, or is ended when
    the caller is interrupted (a rerun, a closed tab).

    Raises:
        CnnvizError: the function's own refusal (its words), or :data:`DIED` / :data:`INTERNAL_ERROR`.
    """
    if progress is not None and _ONE_AT_A_TIME.locked():
        progress(0.0, "Waiting: another experiment is running on the server")
    with _ONE_AT_A_TIME:
        ctx = multiprocessing.get_context("spawn")
        messages = ctx.Queue()
        process = ctx.Process(target=_child, args=(messages, func, args, kwargs), daemon=True,
                              name="cnnviz-experiment")
        process.start()
        try:
            return _follow(process, messages, progress, poll_s)
        finally:
            if process.is_alive():  # the page went away mid-way: the work is not wanted any more
                process.terminate()
            process.join(timeout=5)


def _follow(process, messages, progress: Progress | None, poll_s: float) -> Any:
    while True:
        try:
            kind, *payload = messages.get(timeout=poll_s)
        except queue.Empty:
            if not process.is_alive() and messages.empty():
                raise CnnvizError(DIED) from None
            continue
        if kind == "progress":
            if progress is not None:
                progress(*payload)
        elif kind == "result":
            return payload[0]
        else:  # "error": the words only (an exception's own class may not pickle)
            raise CnnvizError(payload[0])


def _child(messages, func: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    def report(fraction: float, text: str) -> None:
        messages.put(("progress", float(fraction), str(text)))

    try:
        messages.put(("result", func(*args, progress=report, **kwargs)))
    except CnnvizError as err:
        messages.put(("error", str(err)))
    except Exception:  # a bug: the traceback to the log, one calm line to the page
        log.exception("experiment %s failed", getattr(func, "__qualname__", func))
        messages.put(("error", INTERNAL_ERROR))
