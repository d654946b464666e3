"""Train in a real browser: the live panel refreshes by itself (st.fragment run_every), Stop works,
and the run then shows on the Runs page."""

from __future__ import annotations

import time

import pytest

from tests.e2e.streamlit_page import assert_no_errors, main_text, on_live_element, screenshot, wait_idle, wait_text

pytestmark = pytest.mark.e2e

MAX_EPOCHS = 500  # the Epochs input's upper bound on Build & train


def test_train_live_stop_and_find_the_run(server, page):
    # Enter through the root: on a fresh server, a first visit straight to /build_train is served by
    # Streamlit's legacy pages/ mode (without app.py) until st.navigation has run once.
    page.goto(server)
    wait_idle(page, timeout=120)
    page.goto(f"{server}/build_train")
    wait_idle(page, timeout=120)
    assert_no_errors(page)
    # Default: seed 000 model1 on the digits data. Its 20 epochs take only ~5 s on a fast machine
    # (CI once finished them before the Stop click landed), so ask for the most epochs the page allows:
    # minutes of training, long enough to watch and stop on any machine.
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    epochs.fill(str(MAX_EPOCHS))
    epochs.press("Enter")
    wait_idle(page, timeout=120)
    page.get_by_role("button", name="Train").click()
    first = wait_text(page, rf"Epoch (\d+) of {MAX_EPOCHS}, batch (\d+) of (\d+)")
    # Without any click, the panel moves on by itself (the fragment reruns every second).
    deadline = time.monotonic() + 60
    while wait_text(page, rf"Epoch \d+ of {MAX_EPOCHS}, batch \d+ of \d+").group(0) == first.group(0):
        assert time.monotonic() < deadline, "the live panel did not refresh by itself"
        time.sleep(0.3)
    wait_text(page, r"images / s")
    deadline = time.monotonic() + 60
    while page.locator('[data-testid="stPlotlyChart"]').count() < 2:  # parameter bars, then the live curves
        assert time.monotonic() < deadline, "no live curves"
        time.sleep(0.3)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    on_live_element(lambda: charts.last.scroll_into_view_if_needed(timeout=2000))
    # The curves redraw by themselves too: epoch points (legend "validation") appear while it trains.
    chart = page.locator('[data-testid="stPlotlyChart"]').last
    deadline = time.monotonic() + 30
    while "validation" not in on_live_element(lambda: chart.inner_text(timeout=2000)):
        assert time.monotonic() < deadline, "the live curves did not grow"
        time.sleep(0.3)
    assert "Stop training" in main_text(page)  # still training
    screenshot(page, "build_train_live")

    page.get_by_role("button", name="Stop training").click()
    done = wait_text(page, r"Stopped: run (\S+), test accuracy ([\d.]+)%")
    assert_no_errors(page)
    alerts = page.locator('[data-testid="stAlertContainer"]')
    on_live_element(lambda: alerts.last.scroll_into_view_if_needed(timeout=2000))
    screenshot(page, "build_train_stopped")

    page.goto(f"{server}/runs")
    wait_idle(page, timeout=120)
    assert_no_errors(page)
    assert f"({done.group(1)[-8:]})" in main_text(page)  # the run's label (the table is a canvas)
    screenshot(page, "runs_after_training")
