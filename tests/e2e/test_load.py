"""Many students (issue 9): isolated browser sessions train at once against one server, a classroom (issue 14):
each student signed in under their own name sees only their own run and their own upload.

Bounded: loopback only, one chromium with one context per student, the page's smallest training
(1 epoch of 40 digits), a training cap of 2 so the rest of the class queues. In CI 4 students
(``load_driver.CI_SESSIONS``, about 2.5 minutes); ``CNNVIZ_LOAD_SESSIONS=8`` runs the issue's class of 8
(about 4.5 minutes on 2 cores). The figures are printed (``-s``) and ``benchmarks/load_test.py``
prints the same report on its own (8 students by default).
"""

from __future__ import annotations

import statistics

import pytest

from tests.e2e import load_driver

pytestmark = [pytest.mark.e2e, pytest.mark.load, pytest.mark.slow]

#: A fresh Home page must draw its title within this while the class trains: a student waiting
#: longer thinks the server hangs (judgement). Measured with 4 students on the 2-core machine: max
#: 3.6 s since the source watcher is off, 7.3-7.7 s before (benchmarks/README.md).
PAGE_LOAD_LIMIT_S = 10.0
#: ... and half of them within this: "a few seconds" (judgement; 4 students measured medians of 2.0-2.6 s).
PAGE_LOAD_MEDIAN_LIMIT_S = 5.0
#: Memory "back close to the start" after the sessions close, against the baseline taken after a
#: warm-up training (TensorFlow, the digits data and the Evaluate caches loaded; TF's allocator
#: and glibc's per-thread arenas keep freed memory, so the first training's growth never goes back).
#: 300 MB is about one more full TensorFlow working set on top of a ~0.8 GB server, or 35% of it
#: (judgement): what a class leaves behind (session state, caches, run metadata) must stay below it.
MEMORY_RETURN_MB = 300.0


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> load_driver.LoadReport:
    if not load_driver.Path(load_driver.CHROMIUM).exists():
        pytest.skip(f"Debian chromium not found at {load_driver.CHROMIUM}")
    pytest.importorskip("playwright.async_api")
    result = load_driver.run_load_in_thread(tmp_path_factory.mktemp("load-cnnviz-home"),
                                            sessions=load_driver.sessions_from_env(load_driver.CI_SESSIONS), cap=load_driver.DEFAULT_CAP)
    print("\n" + result.format())
    return result


def test_every_student_finishes_and_sees_only_their_own_run_and_upload(report):
    students = report.students
    run_ids = [s.run_id for s in students]
    assert all(run_ids) and len(set(run_ids)) == len(students)  # one run each, none shared
    for s in students:
        assert s.errors == [], f"student {s.index}: {s.errors}"
        # The live panel never named another run, and each run is the one this student set up.
        assert s.run_ids_on_panel == {s.run_id}, f"student {s.index} saw {s.run_ids_on_panel}"
        assert s.runs_page_has_own, f"student {s.index}: own run missing on Runs"
        assert f"({s.run_id[-8:]})" in s.evaluate_choice, f"student {s.index}: Evaluate opened {s.evaluate_choice!r}"
        # The Convolution page worked on this student's own upload, never on a classmate's.
        assert s.upload_widths_seen == {s.upload_width}, f"student {s.index} saw uploads {s.upload_widths_seen}"
    # A classroom: each student's run pickers offer their own run and nobody else's (the warm-up student's neither).
    everyone = {e.run for e in report.events if e.event == "ended" and e.run}
    assert all(s.key for s in students) and len({s.key for s in students}) == len(students)  # a key each
    for s in students:
        for page, offered in (("Runs", s.runs_offered), ("Evaluate", s.evaluate_offered)):
            tails = {run[-8:] for run in everyone if any(run[-8:] in option for option in offered)}
            assert tails == {s.run_id[-8:]}, f"student {s.index} on {page} was offered {offered}"
    ended = {e.run: e for e in report.events if e.event == "ended"}
    assert set(run_ids) <= set(ended) and {ended[r].state for r in run_ids} == {"finished"}


def test_the_cap_holds_and_queued_students_see_their_place(report):
    assert report.max_busy_logged() <= report.cap and report.max_overlap() <= report.cap
    expected_queued = max(0, report.sessions - report.cap)
    waited = [s for s in report.students if (report.queue_wait_s(s.run_id) or 0.0) > 2.0]
    # Everyone clicked Train together: all but `cap` students had to wait for a slot, so their trainings
    # started only after a first one ended (workers claim queued jobs: when a job was queued says nothing)...
    first_end = min(e.t for e in report.events if e.event == "ended")
    assert len([e for e in report.events if e.event == "started" and e.t >= first_end]) >= expected_queued
    # ...and each one who waited more than two seconds was shown its place, counting down. Places count every
    # queued job: until the warm workers claim their first jobs (seconds on a busy machine) all of the class's
    # are queued, so a first place can be up to the class's size, not only up to sessions - cap.
    for s in waited:
        assert s.queue_positions, f"student {s.index} waited {report.queue_wait_s(s.run_id):.1f} s, saw no place"
        assert s.queue_positions == sorted(s.queue_positions, reverse=True), s.queue_positions
        assert 1 <= s.queue_positions[0] <= report.sessions, s.queue_positions
    # Who queued at all: a job a worker claims at once starts within ~0.2 s; one waiting for a slot waits a
    # training (2-4 s for this tiny one, so "more than two seconds" above is a matter of the machine's speed).
    queued = [s for s in report.students if (report.queue_wait_s(s.run_id) or 0.0) > 0.5]
    assert len(queued) >= expected_queued - 1, report.format()  # the last slot can free just as its student clicks


def test_the_server_answers_page_loads_during_the_load(report):
    assert report.page_loads_s, "no Home page load completed during the load"
    assert statistics.median(report.page_loads_s) < PAGE_LOAD_MEDIAN_LIMIT_S, report.format()
    assert max(report.page_loads_s) < PAGE_LOAD_LIMIT_S, (
        f"Home took {max(report.page_loads_s):.1f} s (median {statistics.median(report.page_loads_s):.1f} s)")


def test_memory_returns_close_to_the_start(report):
    assert report.rss_end_mb - report.rss_warm_mb < MEMORY_RETURN_MB, report.format()
