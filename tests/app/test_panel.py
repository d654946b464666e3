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
