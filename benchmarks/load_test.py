"""Many students at once: N browser sessions train, watch, and open Runs and Evaluate on one server.

Prints the figures of issue 9's load test (tests/e2e/test_load.py runs the same load and asserts
on it): sessions, training cap, wall time, each student's queue places, queue wait and time from
Train to the finished run, Home page loads during the load (median/max) and the server's memory
(VmRSS) before and after a warm-up training, at its peak and after the sessions closed.

Run from the repository root (loopback only; Debian chromium and Playwright needed):

    PYTHONPATH=. python benchmarks/load_test.py                 # 8 students, cap 2
    PYTHONPATH=. python benchmarks/load_test.py --sessions 4 --cap 1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import load_driver  # noqa: E402


def machine() -> str:
    model = ""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({model}), {mem_gb:.0f} GB, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=load_driver.sessions_from_env(), help="students (default 8)")
    parser.add_argument("--cap", type=int, default=load_driver.DEFAULT_CAP, help="concurrent trainings (default 2)")
    parser.add_argument("--student-nice", type=int, default=load_driver.STUDENT_BROWSER_NICE,
                        help="CPU priority of the students' browser (default 19; 0: same as the server)")
    parser.add_argument("--home", type=Path, help="CNNVIZ_HOME for the server (default: a new temporary folder)")
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="cnnviz-load-"))
    home.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.monotonic()
    report = load_driver.run_load_in_thread(home, sessions=args.sessions, cap=args.cap,
                                            student_nice=args.student_nice)
    print(report.format())
    print(f"whole run (server start to stop) {time.monotonic() - t0:.0f} s; load average after: "
          f"{os.getloadavg()[0]:.2f}; server home {home}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
