"""The server killed and started again (issue 18): a student's page reconnects as a fresh session, and with the
key in its address it is the same student, whose training (still running in its worker, which outlives the
server) is followed again on Build & train, said once ("Welcome back"), until it finishes.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import SCREENSHOTS, _free_port, _wait_healthy, launch_app
from tests.e2e.streamlit_page import assert_no_errors, main_text, screenshot, wait_idle, wait_text
from tests.e2e.test_classroom_in_browser import PASSWORD, register

pytestmark = pytest.mark.e2e

EPOCHS = 500  # the most Build & train allows: it must still train when the new server is up


def _start(home: Path, port: int, log_name: str) -> subprocess.Popen:
    proc = launch_app(home, port, log_name, {"CNNVIZ_TEACHER_PASSWORD": PASSWORD})
    _wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _wait_text(page, pattern: str) -> re.Match:
    return wait_text(page, pattern, timeout=240.0)  # longer than the default: a new server, a reload


def test_after_kill_9_the_student_follows_their_training_again(tmp_path, page):
    port = _free_port()
    server = f"http://127.0.0.1:{port}"
    first = _start(tmp_path, port, "streamlit-before.log")
    second = None
    worker_pid = None
    try:
        key = register(page, server, "Ann")
        page.goto(f"{server}/build_train?key={key}")
        wait_idle(page, timeout=180)
        epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
        epochs.fill(str(EPOCHS))
        epochs.press("Enter")
        wait_idle(page, timeout=120)
        page.get_by_role("button", name="Train").click()
        _wait_text(page, rf"Epoch \d+ of {EPOCHS}, batch \d+ of \d+")

        from cnnviz.training import jobtable

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CNNVIZ_HOME", str(tmp_path))
            (job,) = jobtable.JobTable(jobtable.table_path()).jobs(("running",))
        worker_pid = job.worker_pid
        first.send_signal(signal.SIGKILL)  # the server dies; its training worker does not
        first.wait()
        second = _start(tmp_path, port, "streamlit-after.log")

        page.reload()  # what the browser's own reconnect does: a fresh session on the same address
        wait_idle(page, timeout=180)
        assert f"key={key}" in page.url
        text = _wait_text(page, r"Welcome back\..*still running").string
        assert "Ann" in page.locator('[data-testid="stSidebar"]').inner_text()
        _wait_text(page, rf"Epoch \d+ of {EPOCHS}, batch \d+ of \d+")  # the live panel, moving again
        assert "Stop training" in main_text(page) and "Welcome to the CNN lab" not in text
        assert_no_errors(page)
        screenshot(page, "restart_reattached")
        page.get_by_role("button", name="Stop training").click()
        _wait_text(page, r"Stopped: run (\S+), test accuracy")
        assert_no_errors(page)
    finally:
        if second is not None:
            _stop(second)
        _stop(first)
        if worker_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker_pid, signal.SIGKILL)  # an orphan ends when idle; do not leave it training
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for name in ("streamlit-before.log", "streamlit-after.log"):
            if (tmp_path / name).exists():
                (SCREENSHOTS / name).write_bytes((tmp_path / name).read_bytes())
