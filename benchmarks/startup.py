"""Home's start-up, two source trees side by side in one run (e.g. before and after a refactor).

For each tree, in alternating rounds (so a drift of the machine's speed hits both alike):
- ``import``: a fresh Python imports what Home's script imports (``app.py``'s and ``app_pages/home.py``'s
  ``cnnviz`` modules) and runs Home once through Streamlit's AppTest; wall seconds of the whole process.
- ``server``: ``streamlit run app.py`` from start to ``/_stcore/health`` answering.
- ``first``: a new browser page's navigation to Home's title drawn, on a fresh server (the first visitor).
- ``warm``: the same for a second visitor of the same server.

Prints each figure's median per tree and the ratio (tree B / tree A), with the load average.
Run from the repository root (loopback only; Debian chromium and Playwright needed):

    PYTHONPATH=. python benchmarks/startup.py --before 2ed081b            # a commit vs the working tree
    PYTHONPATH=. python benchmarks/startup.py --before 2ed081b --rounds 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", "/usr/bin/chromium")
HOME_TITLE = "cnnviz: a CNN lab"
IMPORT_AND_RUN = """
import sys, time
t0 = time.perf_counter()
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception, at.exception
assert at.title[0].value == {title!r}, at.title
assert "tensorflow" not in sys.modules
print(time.perf_counter() - t0)
""".format(title=HOME_TITLE)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tree: Path, home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "CNNVIZ_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}


def time_import(tree: Path, home: Path) -> float:
    """Seconds of a fresh process that runs Home once in AppTest (imports included)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_AND_RUN, str(tree / "app.py")], cwd=tree, env=_env(tree, home),
                   check=True, capture_output=True)
    return time.perf_counter() - t0


def time_server_and_visits(tree: Path, home: Path, browser) -> tuple[float, float, float]:
    """Seconds to a healthy server, to the first visitor's Home title, and to a second visitor's."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=tree, env=_env(tree, home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit in {tree} exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.05)
        server = time.perf_counter() - t0
        visits = []
        for _ in range(2):
            page = browser.new_page()
            try:
                t1 = time.perf_counter()
                page.goto(url, wait_until="commit")
                page.get_by_role("heading", name=HOME_TITLE).wait_for(timeout=120_000)
                visits.append(time.perf_counter() - t1)
            finally:
                page.close()
        return server, visits[0], visits[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _checkout(ref: str, folder: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(folder), ref], cwd=REPO, check=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git ref of tree A (checked out in a temporary worktree)")
    parser.add_argument("--after", default=None, help="git ref of tree B (default: this working tree)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    scratch = Path(tempfile.mkdtemp(prefix="cnnviz-startup-"))
    trees = {"A": _checkout(args.before, scratch / "a")}
    trees["B"] = _checkout(args.after, scratch / "b") if args.after else REPO
    names = {"A": args.before, "B": args.after or "working tree"}
    figures: dict[str, dict[str, list[float]]] = {k: {"import": [], "server": [], "first": [], "warm": []} for k in trees}
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for round_no in range(args.rounds):
                order = ("A", "B") if round_no % 2 == 0 else ("B", "A")
                for key in order:
                    home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
                    figures[key]["import"].append(time_import(trees[key], home))
                    server, first, warm = time_server_and_visits(trees[key], home, browser)
                    figures[key]["server"].append(server)
                    figures[key]["first"].append(first)
                    figures[key]["warm"].append(warm)
                print(f"round {round_no + 1}/{args.rounds} done", flush=True)
            browser.close()
    finally:
        for key in ("A", "B"):
            if trees[key] != REPO:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[key])], cwd=REPO, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nmedians of {args.rounds} rounds (seconds); A = {names['A']}, B = {names['B']}")
    print(f"{'figure':<8} {'A':>8} {'B':>8} {'B/A':>6}")
    for figure in ("import", "server", "first", "warm"):
        a, b = statistics.median(figures["A"][figure]), statistics.median(figures["B"][figure])
        print(f"{figure:<8} {a:8.2f} {b:8.2f} {b / a:6.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
