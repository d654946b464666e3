"""Real-browser fixtures: `streamlit run app.py` on a free localhost port, Debian chromium via Playwright.

Screenshots go to ``test-output/screenshots/`` (git-ignored) so a person can look at every page.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"streamlit did not become healthy at {url} in {timeout}s")


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e-cnnviz-home")


def launch_app(home: Path, port: int, log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `streamlit run app.py` on 127.0.0.1:``port`` with CNNVIZ_HOME=home and one training job at a
    time, its output in ``home / log_name``; return at once (wait with :func:`_wait_healthy`).

    ``env`` adds to (or overrides) the server's environment.
    """
    env = {**os.environ, "CNNVIZ_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2",
           "CNNVIZ_MAX_TRAINING_JOBS": "1", **(env or {})}
    with open(home / log_name, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def running_app(home: Path, log_name: str = "streamlit.log", env: dict[str, str] | None = None):
    """Start `streamlit run app.py` on a free 127.0.0.1 port (:func:`launch_app`); yield its URL.

    ``env`` adds to (or overrides) the server's environment.
    """
    port = _free_port()
    proc = launch_app(home, port, log_name, env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()  # reap it: an unreaped Popen warns (ResourceWarning) when collected
        # Keep the server log beside the screenshots for a person to read.
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(home / log_name, SCREENSHOTS / log_name)


@pytest.fixture(scope="session")
def server(e2e_home: Path):
    """A real `streamlit run app.py` shared by the browser tests; yields its base URL."""
    with running_app(e2e_home) as url:
        yield url


@pytest.fixture(scope="session")
def playwright_driver():
    """The one Playwright of the session: a second ``sync_playwright()`` in the same thread refuses to start."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {CHROMIUM} (apt-get install chromium)")
    playwright_sync = pytest.importorskip("playwright.sync_api")
    with playwright_sync.sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright_driver):
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
