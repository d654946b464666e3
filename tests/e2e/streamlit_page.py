"""Helpers to drive a Streamlit page in Playwright: wait for reruns, check for error boxes."""

from __future__ import annotations

import re
import time

from tests.e2e.conftest import SCREENSHOTS

# Text that must never reach a student's screen.
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/')


def wait_idle(page, timeout: float = 60.0, settle: float = 0.6) -> None:
    """Wait until the page has drawn its title and no script run is in progress.

    The title first: right after ``goto`` the status widget may not have appeared yet.
    """
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        skeleton = page.locator('[data-testid="stSkeleton"]').count() > 0
        if running or skeleton:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(0.2)
    raise TimeoutError(f"page still running after {timeout}s")


def main_text(page) -> str:
    """The text of the page's main area (not the sidebar)."""
    return page.locator('[data-testid="stMain"]').inner_text()


def wait_text(page, pattern: str, timeout: float = 180.0) -> re.Match:
    """Wait until the main area's text matches ``pattern`` (a regular expression); return the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, main_text(page))
        if match:
            return match
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} never appeared; page text: {main_text(page)[-1500:]}")


def assert_no_errors(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    body = page.locator("body").inner_text()
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, f"traceback text on page: {body[:2000]}"


def on_live_element(action, attempts: int = 20):
    """Run ``action()`` against an element that a live fragment may redraw meanwhile.

    A fragment with ``run_every`` replaces its charts each second, so an element found a moment ago can be
    detached by the time Playwright acts on it; looking it up again is the right answer, not a failure.
    """
    from playwright.sync_api import Error

    for attempt in range(attempts):
        try:
            return action()
        except Error as error:
            if "not attached" not in str(error) and "not visible" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.25)


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def offered(page, label: str) -> str:
    """Everything a picker shows and offers: the main area's text (what is chosen) and its opened list."""
    shown = page.locator('[data-testid="stMain"]').inner_text()
    box = page.get_by_role("combobox", name=label, exact=True)
    if box.count() == 0:  # nothing to choose from: the page says so instead
        return shown
    box.first.click()
    page.keyboard.press("ArrowDown")  # a click only focuses the search box: the list opens on a key
    page.get_by_role("option").first.wait_for(timeout=30_000)
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return shown + "\n" + "\n".join(options)
