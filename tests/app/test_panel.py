"""cnnviz.app.panel: the live training panel is the last thing a page draws, and waiting panels refresh
slower the further back in the queue they are (the many-students load test, tests/e2e/test_load.py)."""

from __future__ import annotations

import types

from cnnviz.app import panel


def test_the_training_panel_is_the_last_thing_each_page_draws():
    """Nothing may follow the live panel's fragment (see ``cnnviz.app.panel``): Streamlit can send a
    later element's block before the fragment's when the fragment reruns, which blanks the page."""
    import ast

    from tests.conftest import REPO

    callers = []
    for path in sorted((REPO / "app_pages").glob("*.py")):
        tree = ast.parse(path.read_text())
        main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
        calls = [n for n in ast.walk(main) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "training_panel"]
        if not calls:
            continue
        callers.append(path.name)
        assert len(calls) == 1, f"{path.name}: call panel.training_panel once, with every job key"
        last = main.body[-1]
        assert isinstance(last, ast.Expr) and last.value is calls[0], f"{path.name}: the panel is not main()'s last step"
    assert callers == ["build_train.py", "robustness.py", "transfer.py"]


def _status(state: str, place: int = 0) -> types.SimpleNamespace:
    return types.SimpleNamespace(state=state, queue_position=place)


def test_waiting_panels_refresh_slower_the_further_back_they_are():

    assert [panel.queued_refresh_s(p) for p in (1, 2, 5, 17, 30)] == [2.0, 2.5, 4.0, 10.0, 10.0]
    # 28 waiting students (a class of 30, cap 2): under 5 panel runs a second instead of 14.
    assert 4.4 < sum(1 / panel.queued_refresh_s(p) for p in range(1, 29)) < 4.8
    assert panel.panel_refresh_s([_status("queued", 5), _status("queued", 3)]) == 3.0  # the first waiting job
    assert panel.panel_refresh_s([_status("queued", 5), _status("running")]) == panel.LIVE_REFRESH_S
    assert panel.panel_refresh_s([_status("finished"), _status("cancelled")]) is None


def test_a_waiting_panel_takes_a_faster_pace_after_moving_up_enough():

    drawn_at_place_5 = panel.queued_refresh_s(5)  # 4 s
    assert not panel.pace_outdated(drawn_at_place_5, [_status("queued", 5)])
    assert not panel.pace_outdated(drawn_at_place_5, [_status("queued", 2)])  # 2.5 s: close enough
    assert panel.pace_outdated(drawn_at_place_5, [_status("queued", 1)])  # 2 s: rerun the page once
    assert not panel.pace_outdated(panel.LIVE_REFRESH_S, [_status("running")])
    assert not panel.pace_outdated(None, [_status("queued", 1)])  # no live panel drawn


def _job_view_script(eta_s, phase):
    import types as t

    from cnnviz.app import panel as p
    from cnnviz.training.callbacks import Progress

    progress = Progress(phase=phase, epoch=1, epochs=3, batch=1, batches=50, eta_s=eta_s)
    status = t.SimpleNamespace(state="running", active=True, job_id="job-1", progress=progress, run_id=None)
    p._job_view(t.SimpleNamespace(stop=lambda job_id: None, resumable=lambda job_id: 0), status, "")


def test_time_left_says_estimating_until_there_is_an_estimate():
    """Not a number from batch 1 (issue 14: "time left 583 s" for a run that took 15 s), nor a bare dash."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_job_view_script, args=(None, "training")).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["time left"] == "estimating…"
    at = AppTest.from_function(_job_view_script, args=(42.4, "training")).run()
    assert {m.label: m.value for m in at.metric}["time left"] == "42 s"
    at = AppTest.from_function(_job_view_script, args=(None, "testing")).run()
    assert {m.label: m.value for m in at.metric}["time left"] == "–"


def _page_with_a_job(job_id: str, refresh_only: bool) -> None:
    """A page with a Train button and the live panel of job ``job_id`` (``refresh_only``: the panel's own refresh,
    as its fragment reruns every few seconds without the page)."""
    import streamlit as st

    from cnnviz.app import jobs, panel
    from cnnviz.app.state import TRAIN_JOB_KEY

    st.session_state[TRAIN_JOB_KEY] = job_id
    if refresh_only:
        panel._panels_fragment([(TRAIN_JOB_KEY, job_id, "queued")], {}, panel.queued_refresh_s(1))
        return
    st.button("Train", key="train_start", disabled=jobs.busy())
    panel.training_panel()


def test_a_waiting_student_is_told_why_nothing_trains(cnnviz_home, monkeypatch):
    # Slot 0's lock file a folder (standing for a file of another user's: see tests/training/test_job_slots.py): the
    # panel said "number 1 in the queue" for ever.
    from streamlit.testing.v1 import AppTest

    from cnnviz import storage
    from cnnviz.training import jobs as jobmanager
    from cnnviz.training import worker
    from tests.support.pages import shown
    from tests.support.specs import tiny_spec
    from tests.training.test_job_slots import said_about

    manager = jobmanager.JobManager(workers=False)  # the server's manager, its workers out of this test
    monkeypatch.setattr(jobmanager, "_manager", manager)
    job_id = manager.submit(tiny_spec())
    lock = storage.ensure_dir(worker.slot_lock_path(0))
    at = AppTest.from_function(_page_with_a_job, args=(job_id, False)).run()
    assert not at.exception, at.exception
    assert [i.value for i in at.info if i.value.startswith("Waiting for a free training slot: you are number 1")]
    assert [shown(w.value) for w in at.warning] == [said_about(lock)]
