"""Train → first batch through the job table's warm workers, next to the same training in this process.

Submits ``--jobs`` tiny digits jobs one after another through :class:`cnnviz.training.jobs.JobManager`
(cap 1) and prints, per job, the seconds from submit to the first published training batch and to the
job's end: the first job pays the worker's start (spawn + TensorFlow import), the next ones find it
warm. Then the same spec is trained ``--jobs`` times in this process with
:func:`cnnviz.training.loop.train` (as the old in-server threads did, TensorFlow already imported).

    PYTHONPATH=. python benchmarks/job_latency.py --jobs 4
"""

from __future__ import annotations

import argparse
import os
import time

from scratch import scratch_dir  # benchmarks/scratch.py
from cnnviz.training import jobs as jobmanager
from cnnviz.training import loop
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec


def _through_workers(n: int) -> list[tuple[float, float]]:
    manager = jobmanager.JobManager(max_jobs=1)
    times = []
    try:
        for seed in range(n):
            t0 = time.monotonic()
            job = manager.submit(tiny_spec(seed=seed, epochs=3), build=tiny_build)
            first = None
            while True:
                status = manager.status(job)
                if first is None and status.progress.phase == "training" and status.progress.batch > 0:
                    first = time.monotonic() - t0
                if not status.active:
                    break
                time.sleep(0.01)
            times.append((first or float("nan"), time.monotonic() - t0))
    finally:
        manager.close()
    return times


def _in_process(n: int) -> list[tuple[float, float]]:
    times = []
    for seed in range(n):
        t0, first = time.monotonic(), []

        def seen(p, t0=t0, first=first):
            if not first and p.phase == "training" and p.batch > 0:
                first.append(time.monotonic() - t0)

        loop.train(tiny_spec(seed=seed, epochs=3), build=tiny_build, on_progress=seen)
        times.append((first[0] if first else float("nan"), time.monotonic() - t0))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args()
    os.environ["CNNVIZ_HOME"] = scratch_dir(prefix="cnnviz-job-latency-")
    print(f"cpus {os.cpu_count()}, load before {os.getloadavg()[0]:.2f}")
    workers = _through_workers(args.jobs)
    inproc = _in_process(args.jobs)
    print(f"{'job':>4} {'worker: first batch s':>22} {'end s':>7} {'in-process: first batch s':>26} {'end s':>7}")
    for i, ((wf, we), (pf, pe)) in enumerate(zip(workers, inproc), 1):
        print(f"{i:>4} {wf:>22.2f} {we:>7.2f} {pf:>26.2f} {pe:>7.2f}")
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
