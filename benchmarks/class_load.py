"""A class trains: training threads inside the web server against warm worker processes (issue 15).

For each class size (``--students``, default 8 and 16) and each mode, one ``streamlit run app.py``
(127.0.0.1, headless, a fresh ``CNNVIZ_HOME``, cap ``--cap``) gets the load test's class
(``tests/e2e/load_driver.py``: Playwright, one browser context per student; each chooses a name, sets
the smallest digits training of seed 000 model1 with its own seed and ``--epochs`` epochs, presses Train
with the others and watches the live panel to the end, then opens Runs, Evaluate and Convolution) while
a second browser loads Home again and again. Modes:

- ``threads``: the jobs are trained by threads inside the server process, the way cnnviz trained
  before issue 15. The server starts through a prelude (``THREADS_PRELUDE``) that replaces
  ``JobManager.ensure_workers`` with threads running today's ``worker.run_job`` in the server: the same
  job table, pages, panels and training code as ``workers``, only the process boundary differs.
  (The tree before the workers, 456dda7, also lacks every later change, e.g. issue 19's lighter Home,
  so its figures would mix other causes into the comparison.)
- ``workers``: today's code unchanged (spawned warm worker processes).

The students' browsers run at the lowest CPU priority (``load_driver.niced_chromium``: nice 19 for the
browser and for its session's autogroup); the Home probe at normal priority unless ``--probe-nice 19``.
In a classroom every browser renders on its own machine: a probe at normal priority counts a real
browser's work next to the server (the Home figures), one at nice 19 leaves the cores to the server and
the trainings, as in a classroom (the class-total figure). Nice 19 still leaves each student's browser a
small share (16 of them about a fifth of 2 cores), and the probe took half a core beside a digits training:
``--idle-browsers students`` puts the students' chromium in an idle CPU cgroup instead
(``load_driver.idle_cpu_cgroup``, root only), where it runs only on CPU time the server and the trainings
leave, as browsers on the students' own machines would; ``--idle-browsers all`` the probe's too: then the
class-total figure counts no browser's work, and the Home figures count the probe's waits for idle CPU
(not a page's time, only there for completeness).

Then the class's trainings (the specs read back from the job table) run back to back through the
job table with no browser and no server: one warm worker (cap 1), after one warm-up job.

Figures per mode: Home's load (navigation start to its title drawn, a fresh session each time) for the
loads that started while the class trained (first Train click to the last finished panel): median
and max; the class's total training time (first job submitted to the last job ended, from the job
table); Train → first epoch (click to the first published epoch end, polled from the job table every
``POLL_S`` s: ±0.1 s) median. Ratios workers/threads (< 1: workers better) and class total / back to
back (target ≤ 1.2), with the 1-minute load average before and after each part.

Run from the repository root (loopback only; Debian chromium and Playwright needed; about 22 minutes for 8
and 16 students on a quiet machine, far more on a loaded one; each mode's figures are printed as soon as
measured, so do not cut the run short with a `timeout` shorter than that):

    PYTHONPATH=. python benchmarks/class_load.py                     # 8 and 16 students
    PYTHONPATH=. python benchmarks/class_load.py --students 8 --probe-nice 19
    PYTHONPATH=. python benchmarks/class_load.py --students 8 --modes workers
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import statistics
import sys
import threading
import time
from contextlib import closing, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e import load_driver  # noqa: E402
from benchmarks.scratch import scratch_dir  # noqa: E402

MODES = ("threads", "workers")
#: Seconds between two looks at the job table for epoch ends.
POLL_S = 0.1
TARGET_VS_BACK_TO_BACK = 1.2

#: Run in the server before Streamlit's CLI (threads mode): jobs trained by threads in this process.
THREADS_PRELUDE = """
import os, threading, time
from cnnviz.training import jobs as _jobs, jobtable as _jobtable, worker as _worker
_runners, _runners_lock = {}, threading.Lock()
def _runner():
    import keras  # noqa: F401  once per server, at the first job, as the in-server threads paid it
    table, cache, token = _jobtable.JobTable(), _worker._DatasetCache(), _jobtable.new_worker_token()
    _worker._hold_lock(_jobtable.worker_lock_path(token))  # alive for the table's reaper while the server is
    while True:
        job = table.claim(token=token, pid=os.getpid())
        if job is None:
            time.sleep(_worker.POLL_S)
        else:
            _worker.run_job(table, job, cache)
def _ensure_threads(self):
    _jobtable.workers_dir().mkdir(parents=True, exist_ok=True)
    with _runners_lock:
        for slot in range(self.table.max_jobs()):
            if slot not in _runners or not _runners[slot].is_alive():
                _runners[slot] = threading.Thread(target=_runner, name=f"cnnviz-training-thread-{slot}", daemon=True)
                _runners[slot].start()
_jobs.JobManager.ensure_workers = _ensure_threads
"""


@dataclass
class ModeResult:
    mode: str
    students: int
    home_s: list[float] = field(default_factory=list)  # Home loads started while the class trained
    class_total_s: float = math.nan  # first class job submitted → last ended (job table)
    first_epoch_s: list[float] = field(default_factory=list)  # per student: Train click → first epoch end
    job_s: list[float] = field(default_factory=list)  # per job: started → ended (job table)
    load_before: float = math.nan
    load_after: float = math.nan
    error: str = ""


# --- pure helpers (tests/benchmarks/test_class_load.py) --------------------------------------------
def loads_between(starts: list[float], loads: list[float], t0: float, t1: float) -> list[float]:
    """The loads whose start lies in [t0, t1]."""
    return [load for start, load in zip(starts, loads) if t0 <= start <= t1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(a: float, b: float) -> float:
    """a / b, NaN when either is missing or b is 0."""
    return a / b if b and not (math.isnan(a) or math.isnan(b)) else math.nan


def epoch_count(progress_json: str) -> int:
    """Epochs a job's published progress has finished (its per-epoch curve's length)."""
    return len(json.loads(progress_json).get("curve", {}).get("epoch_loss", []))


def format_table(students: int, results: dict[str, ModeResult], back_to_back_s: float,
                 back_to_back_load: tuple[float, float], back_to_back_job_s: float = math.nan) -> str:
    """One class size: a row per figure, a column per mode, then workers/threads."""
    threads, workers = results.get("threads"), results.get("workers")

    def cell(value: float, unit: str = "s") -> str:
        return "-" if math.isnan(value) else f"{value:.2f}{' ' + unit if unit else ''}"

    figures = [
        ("Home median (title drawn, during training)", lambda r: median(r.home_s)),
        ("Home max", lambda r: max(r.home_s) if r.home_s else math.nan),
        ("class total training (first submit → last end)", lambda r: r.class_total_s),
        ("Train → first epoch, median", lambda r: median(r.first_epoch_s)),
        ("one job, start → end, median", lambda r: median(r.job_s)),
    ]
    lines = [f"{students} students: {'figure':<48}{'threads':>12}{'workers':>12}{'workers/threads':>17}"]
    pad = " " * len(f"{students} students: ")
    for name, get in figures:
        t = get(threads) if threads else math.nan
        w = get(workers) if workers else math.nan
        lines.append(f"{pad}{name:<48}{cell(t):>12}{cell(w):>12}{cell(ratio(w, t), ''):>17}")
    lines.append(f"{pad}{'back to back, no browser (one warm worker)':<48}{cell(back_to_back_s):>24}")
    lines.append(f"{pad}{'  one job of it, start → end, median':<48}{cell(back_to_back_job_s):>24}")
    t_vs = ratio(threads.class_total_s, back_to_back_s) if threads else math.nan
    w_vs = ratio(workers.class_total_s, back_to_back_s) if workers else math.nan
    lines.append(f"{pad}{f'class total / back to back (target ≤ {TARGET_VS_BACK_TO_BACK})':<48}"
                 f"{cell(t_vs, ''):>12}{cell(w_vs, ''):>12}")
    lines.append(f"{pad}{'Home loads during training':<48}{len(threads.home_s) if threads else '-':>12}"
                 f"{len(workers.home_s) if workers else '-':>12}")
    loads = [f"{m} {r.load_before:.1f}→{r.load_after:.1f}" for m, r in results.items()]
    loads.append(f"back to back {back_to_back_load[0]:.1f}→{back_to_back_load[1]:.1f}")
    lines.append(f"{pad}load average (1 min) before→after: " + ", ".join(loads))
    for m, r in results.items():
        if r.error:
            lines.append(f"{pad}{m} failed: {r.error[:300]}")
    return "\n".join(lines)


def format_mode(r: ModeResult) -> str:
    """One mode's figures on one line, printed as soon as they are measured."""
    return (f"{r.students} students, {r.mode}: Home median {median(r.home_s):.2f} s, max "
            f"{max(r.home_s) if r.home_s else math.nan:.2f} s ({len(r.home_s)} loads during training); class total "
            f"{r.class_total_s:.2f} s; Train → first epoch median {median(r.first_epoch_s):.2f} s; one job median "
            f"{median(r.job_s):.2f} s; "
            f"load {r.load_before:.1f}→{r.load_after:.1f}" + (f"; failed: {r.error[:300]}" if r.error else ""))


# --- the job table, watched from outside -------------------------------------------------------
class EpochWatch(threading.Thread):
    """Polls a ``jobs.sqlite3`` every POLL_S s: when each job first shows a finished epoch, and the rows."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.stop, self.first_epoch, self.rows = path, threading.Event(), {}, []

    def run(self) -> None:
        while not self.stop.wait(POLL_S):
            if self.path.exists():
                self.look()

    def look(self) -> None:
        try:
            with closing(sqlite3.connect(self.path, timeout=5)) as db:
                db.row_factory = sqlite3.Row
                rows = db.execute("SELECT * FROM jobs ORDER BY seq").fetchall()
        except sqlite3.Error:
            return  # created meanwhile, or busy: the next look
        now = time.time()
        for row in rows:
            if row["job_id"] not in self.first_epoch and epoch_count(row["progress"]) >= 1:
                self.first_epoch[row["job_id"]] = now
        self.rows = [dict(r) for r in rows]


def run_mode(mode: str, students: int, cap: int, timeout: float,
             probe_nice: int = 0, idle_browsers: str = "none") -> tuple[ModeResult, list[dict]]:
    """One server, one class; returns the figures and the class's job rows (for the back-to-back run)."""
    result = ModeResult(mode, students, load_before=os.getloadavg()[0])
    home = Path(scratch_dir(prefix=f"cnnviz-class-{mode}-{students}-"))
    watch = EpochWatch(home / "jobs.sqlite3")
    watch.start()
    serve = load_driver._SERVE
    if mode == "threads":
        load_driver._SERVE = THREADS_PRELUDE + serve
    try:
        with (load_driver.idle_cpu_cgroup("cnnviz-class-browsers") if idle_browsers != "none"
              else nullcontext()) as cgroup:
            report = load_driver.run_load_in_thread(home, sessions=students, cap=cap, timeout=timeout,
                                                    probe_nice=probe_nice, students_cgroup=cgroup,
                                                    probe_cgroup=cgroup if idle_browsers == "all" else None)
    except Exception as error:  # noqa: BLE001  a mode that fails is reported, the other still runs
        result.error = repr(error)
        return result, []
    finally:
        load_driver._SERVE = serve
        watch.stop.set()
        watch.join()
        watch.look()
        result.load_after = os.getloadavg()[0]
    wall_minus_mono = time.time() - time.monotonic()
    last_done = max(s.done for s in report.students)
    result.home_s = loads_between(report.page_load_starts, report.page_loads_s, report.first_click, last_done)
    names = {s.name: s for s in report.students}
    rows = [r for r in watch.rows if r["owner_name"] in names]
    if rows and all(r["ended"] for r in rows):
        result.class_total_s = max(r["ended"] for r in rows) - min(r["submitted"] for r in rows)
        result.job_s = [r["ended"] - r["started"] for r in rows if r["started"]]
    result.first_epoch_s = [watch.first_epoch[r["job_id"]] - (names[r["owner_name"]].clicked + wall_minus_mono)
                            for r in rows if r["job_id"] in watch.first_epoch]
    print(report.format(), flush=True)
    return result, rows


def wait_quiet(below: float, most_s: float) -> float:
    """Wait until the 1-minute load average is under ``below`` (at most ``most_s`` seconds); the seconds waited.

    The class's browsers and server take a while to go: timed in their wake, the trainings "back to back"
    ran 1.3× slower in one run (2.92 s a job against 2.25 s in the next), which flatters the class's ratio.
    """
    start = time.monotonic()
    while os.getloadavg()[0] >= below and time.monotonic() - start < most_s:
        time.sleep(2)
    return time.monotonic() - start


def back_to_back(rows: list[dict], quiet_below: float = 0.0, quiet_most_s: float = 0.0,
                 ) -> tuple[float, tuple[float, float], float]:
    """The class's specs through the job table, one warm worker, no server: first submit → last end
    (after waiting for the machine to calm down, see :func:`wait_quiet`)."""
    from cnnviz.training import jobs
    from cnnviz.training.spec import TrainSpec

    if quiet_most_s > 0:
        waited = wait_quiet(quiet_below, quiet_most_s)
        print(f"waited {waited:.0f} s for the 1-minute load to fall under {quiet_below:g} "
              f"(now {os.getloadavg()[0]:.2f})", flush=True)
    before = os.getloadavg()[0]
    specs = [TrainSpec.from_dict(json.loads(r["spec"])) for r in rows]
    os.environ["CNNVIZ_HOME"] = scratch_dir(prefix="cnnviz-class-back-to-back-")
    manager = jobs.JobManager(max_jobs=1)
    try:
        manager.wait(manager.submit(specs[0], label="warm-up"))  # spawn + TensorFlow import, as the class's warm-up
        ids = [manager.submit(spec) for spec in specs]
        statuses = [manager.wait(job_id) for job_id in ids]
    finally:
        manager.close()
    if any(s is None or s.state != "finished" for s in statuses):
        return math.nan, (before, os.getloadavg()[0]), math.nan
    return (max(s.ended for s in statuses) - min(s.submitted for s in statuses), (before, os.getloadavg()[0]),
            median([s.ended - s.started for s in statuses]))


def main(argv: list[str] | None = None) -> int:
    from cnnviz.training import jobs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--cap", type=int, default=jobs.default_max_jobs(),
                        help="trainings at once (default: the server's, half the cores)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each student's training (default 2)")
    parser.add_argument("--train-images", type=int, default=load_driver.TINY["Training images"],
                        help=f"training images of each student's training (default {load_driver.TINY['Training images']})")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds a student may wait for its run")
    parser.add_argument("--page-timeout", type=float, default=120.0,
                        help="seconds a page may stay busy after a click (the load test's 120 s; more on a crowded machine)")
    parser.add_argument("--quiet-below", type=float, default=1.5,
                        help="before timing back to back, wait until the 1-minute load average is under this")
    parser.add_argument("--quiet-wait", type=float, default=240.0,
                        help="... but at most this many seconds (0: do not wait)")
    parser.add_argument("--probe-nice", type=int, default=0,
                        help="CPU priority of the Home probe's chromium (default 0; 19: as low as the students')")
    parser.add_argument("--idle-browsers", choices=("none", "students", "all"), default="none",
                        help="browsers in an idle CPU cgroup, as if on the students' own machines: the students', "
                             "or theirs and the Home probe's (needs root)")
    args = parser.parse_args(argv)
    load_driver.TINY["Epochs"] = args.epochs
    load_driver.TINY["Training images"] = args.train_images
    load_driver.wait_idle.__defaults__ = (args.page_timeout, 0.6)  # (timeout, settle)
    print(f"machine: {os.cpu_count()} CPUs; cap {args.cap}; {args.epochs} epochs of {args.train_images} images "
          f"per training; Home probe at nice {args.probe_nice}; students' browsers "
          f"at nice 19{'' if args.idle_browsers == 'none' else ', in an idle CPU cgroup: ' + args.idle_browsers}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    tables = []
    for students in args.students:
        results, rows = {}, []
        for mode in args.modes:
            print(f"--- {students} students, {mode} ({time.strftime('%H:%M:%S')})", flush=True)
            results[mode], mode_rows = run_mode(mode, students, args.cap, args.timeout, args.probe_nice,
                                                  args.idle_browsers)
            rows = rows or mode_rows
            print(format_mode(results[mode]), flush=True)  # kept even if a later part is cut short
        print(f"--- {students} trainings back to back ({time.strftime('%H:%M:%S')})", flush=True)
        total, load, job_s = (back_to_back(rows, args.quiet_below, args.quiet_wait) if rows
                               else (math.nan, (math.nan, math.nan), math.nan))
        tables.append(format_table(students, results, total, load, job_s))
        print(tables[-1], flush=True)
    print("\n" + "\n\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
