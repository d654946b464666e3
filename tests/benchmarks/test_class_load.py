"""benchmarks/class_load.py's pure parts: which Home loads count, the ratios' direction, the table."""

from __future__ import annotations

import importlib.util
import json
import math
import sys

from tests.conftest import REPO

_spec = importlib.util.spec_from_file_location("class_load", REPO / "benchmarks" / "class_load.py")
class_load = importlib.util.module_from_spec(_spec)
sys.modules["class_load"] = class_load  # dataclasses look their module up while the file runs
_spec.loader.exec_module(class_load)


def test_only_loads_started_while_the_class_trained_count():
    starts, loads = [1.0, 5.0, 9.0, 12.0], [0.5, 2.0, 3.0, 0.7]
    assert class_load.loads_between(starts, loads, 5.0, 9.0) == [2.0, 3.0]


def test_ratio_is_missing_rather_than_made_up():
    assert class_load.ratio(3.0, 2.0) == 1.5
    assert math.isnan(class_load.ratio(3.0, 0.0)) and math.isnan(class_load.ratio(math.nan, 2.0))


def test_epoch_count_reads_the_published_per_epoch_curve():
    assert class_load.epoch_count(json.dumps({"curve": {"epoch_loss": [0.9, 0.5]}})) == 2
    assert class_load.epoch_count(json.dumps({"phase": "waiting", "curve": {}})) == 0


def test_table_puts_workers_over_threads_and_each_mode_over_back_to_back():
    threads = class_load.ModeResult("threads", 8, home_s=[2.0, 4.0, 9.0], class_total_s=100.0,
                                    first_epoch_s=[10.0, 30.0], load_before=5.0, load_after=6.0)
    workers = class_load.ModeResult("workers", 8, home_s=[1.0, 1.0, 2.0], class_total_s=60.0,
                                    first_epoch_s=[5.0, 15.0], job_s=[3.0, 4.0, 8.0], load_before=6.0,
                                    load_after=7.0)
    threads.job_s = [6.0, 8.0]
    table = class_load.format_table(8, {"threads": threads, "workers": workers}, 50.0, (4.0, 4.5),
                                    2.5).splitlines()
    home = next(line for line in table if "Home median" in line).split()
    assert home[-5:] == ["4.00", "s", "1.00", "s", "0.25"]
    assert next(line for line in table if "Home max" in line).split()[-5:] == ["9.00", "s", "2.00", "s", "0.22"]
    total = next(line for line in table if "class total training" in line).split()
    assert total[-5:] == ["100.00", "s", "60.00", "s", "0.60"]
    first = next(line for line in table if "Train → first epoch" in line).split()
    assert first[-5:] == ["20.00", "s", "10.00", "s", "0.50"]
    one_job = next(line for line in table if "one job, start" in line).split()
    assert one_job[-5:] == ["7.00", "s", "4.00", "s", "0.57"]
    assert next(line for line in table if "one job of it" in line).split()[-2:] == ["2.50", "s"]
    versus = next(line for line in table if "class total / back to back" in line).split()
    assert versus[-2:] == ["2.00", "1.20"]
    assert "threads 5.0→6.0, workers 6.0→7.0, back to back 4.0→4.5" in table[-1]


def test_a_failed_mode_shows_dashes_and_its_error():
    workers = class_load.ModeResult("workers", 16, error="TimeoutError('student 3')")
    table = class_load.format_table(16, {"workers": workers}, math.nan, (1.0, 1.0))
    assert "workers failed: TimeoutError('student 3')" in table
    assert next(line for line in table.splitlines() if "Home max" in line).split()[-3:] == ["-", "-", "-"]


def test_one_mode_line_names_its_figures():
    r = class_load.ModeResult("workers", 8, home_s=[1.0, 3.0], class_total_s=42.0, first_epoch_s=[7.0],
                              job_s=[4.0, 5.0, 9.0], load_before=2.0, load_after=3.5)
    assert class_load.format_mode(r) == ("8 students, workers: Home median 2.00 s, max 3.00 s (2 loads during "
                                         "training); class total 42.00 s; Train → first epoch median 7.00 s; "
                                         "one job median 5.00 s; load 2.0→3.5")


def test_back_to_back_waits_for_the_load_to_fall_but_not_for_ever(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(class_load.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(class_load.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    loads = iter([9.0, 5.0, 2.0, 1.2, 0.5])
    monkeypatch.setattr(class_load.os, "getloadavg", lambda: (next(loads), 0.0, 0.0))
    assert class_load.wait_quiet(1.5, 60) == 6.0  # three 2-s naps: 9, 5, 2 were too high, 1.2 is under
    monkeypatch.setattr(class_load.os, "getloadavg", lambda: (20.0, 0.0, 0.0))
    clock[0] = 0.0
    assert class_load.wait_quiet(1.5, 10) == 10.0  # gives up after the most it may wait
