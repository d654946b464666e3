"""Two `streamlit run` servers on two ports with one CNNVIZ_HOME and a cap of 1 (local workers): students
on both press Train; at most one network trains at a time in all, and each student sees their own place
in the one queue the two servers share."""

from __future__ import annotations

import re

import pytest

from cnnviz.training.jobtable import JobTable
from tests.e2e.conftest import running_app
from tests.e2e.streamlit_page import assert_no_errors, main_text, wait_idle, wait_text

pytestmark = pytest.mark.e2e

EPOCHS = 500  # minutes of training: nobody finishes while the test looks
RUNNING = rf"Epoch \d+ of {EPOCHS}, batch \d+ of \d+"


def _ready_to_train(browser, server: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(server)  # through the root first (see test_training_in_browser)
    wait_idle(page, timeout=120)
    page.goto(f"{server}/build_train")
    wait_idle(page, timeout=120)
    assert_no_errors(page)
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page, timeout=120)
    return context, page


def test_two_servers_share_one_queue_and_one_cap(tmp_path, browser):
    home = tmp_path / "cnnviz-home"
    home.mkdir()
    with running_app(home, "streamlit-two-a.log") as a, running_app(home, "streamlit-two-b.log") as b:
        contexts, pages = [], []
        try:
            for server in (a, b, a):  # three students: two on server a, one on server b
                context, page = _ready_to_train(browser, server)
                contexts.append(context)
                pages.append(page)
            first, second, third = pages
            first.get_by_role("button", name="Train").click()
            wait_text(first, RUNNING)
            for page, place in ((second, 1), (third, 2)):  # b's student queues behind a's, then a's second
                page.get_by_role("button", name="Train").click()
                wait_text(page, rf"you are number {place} in the queue")
            table = JobTable(home / "jobs.sqlite3")
            assert [j.state for j in table.jobs()] == ["running", "queued", "queued"]
            assert re.search(RUNNING, main_text(first)) and "in the queue" not in main_text(first)

            first.get_by_role("button", name="Stop training").click()
            wait_text(first, r"Stopped: run \S+")
            wait_text(second, RUNNING)  # on server b: the next in the one queue trains now
            wait_text(third, r"you are number 1 in the queue")  # and a's second student moved up
            assert [j.state for j in table.jobs()] == ["running", "queued"]
            for page in pages:
                assert_no_errors(page)
        finally:
            table = JobTable(home / "jobs.sqlite3")
            for job in table.jobs():
                table.stop(job.job_id)
            for context in contexts:
                context.close()
    events = JobTable(home / "jobs.sqlite3").events()
    assert [e["kind"] for e in events].count("queued") == 3
    assert max(e["running"] for e in events) == 1  # never two trainings at once, across both servers
