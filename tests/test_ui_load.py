"""What the many-students load test (tests/e2e/test_load.py) needs from the app, checked fast:
Streamlit no longer resets Keras after each script run, and the job manager logs its cap."""

from __future__ import annotations

import logging
import sys
import types

from cnnviz.training import jobs as jobmanager
from tests.helpers_train import tiny_build, tiny_spec


def _fake_module(monkeypatch, name: str, **attrs) -> list[str]:
    calls: list[str] = []
    module = types.ModuleType(name)
    for attr, path in attrs.items():
        setattr(module, attr, types.SimpleNamespace(**{path: lambda *a, **k: calls.append(f"{attr}.{path}")}))
    monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_script_runs_no_longer_clear_the_keras_session(monkeypatch):
    from streamlit.runtime.scriptrunner import script_runner

    import cnnviz.app.ui  # noqa: F401  (the import installs the replacement)

    keras_calls = _fake_module(monkeypatch, "keras", backend="clear_session")
    plt_module = types.ModuleType("matplotlib.pyplot")
    closed = []
    plt_module.close = closed.append
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", plt_module)

    # The name the script runner calls after every run (fragments too), looked up at call time.
    script_runner._log_if_error(script_runner._clean_problem_modules)
    assert keras_calls == []  # Streamlit's own version calls keras.backend.clear_session() here
    assert closed == ["all"]  # its matplotlib clean-up is kept


def test_streamlits_own_clean_up_did_clear_keras(monkeypatch):
    """The guard above only matters while Streamlit does this; if an upgrade stops, this test says so."""
    import inspect

    from streamlit.runtime.scriptrunner import script_runner

    source = inspect.getsource(script_runner)
    assert "def _clean_problem_modules" in source and "clear_session()" in source
    assert "_log_if_error(_clean_problem_modules)" in source


def test_job_manager_logs_each_start_and_end_with_the_slots_busy(cnnviz_home, caplog):
    jobs = jobmanager.JobManager(max_jobs=1)
    with caplog.at_level(logging.INFO, logger="cnnviz.training.jobs"):
        first = jobs.submit(tiny_spec(), build=tiny_build)
        second = jobs.submit(tiny_spec(seed=1), build=tiny_build)
        done = [jobs.wait(first, timeout=120), jobs.wait(second, timeout=120)]
    lines = [r.getMessage() for r in caplog.records if r.name == "cnnviz.training.jobs"]
    expected = [
        f"job {first} queued: 0 of 1 training slots busy, 1 waiting",
        f"job {first} started: 1 of 1 training slots busy, 0 waiting",
        f"job {second} queued: 1 of 1 training slots busy, 1 waiting",
        f"job {first} ended finished (run {done[0].run_id}): 0 of 1 training slots busy, 1 waiting",
        f"job {second} started: 1 of 1 training slots busy, 0 waiting",
        f"job {second} ended finished (run {done[1].run_id}): 0 of 1 training slots busy, 0 waiting",
    ]
    assert [line for line in lines if line.startswith("job ")] == expected


def test_no_full_garbage_collection_after_each_script_run():
    import tomllib

    from tests.conftest import REPO

    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False


def test_the_training_panel_is_the_last_thing_each_page_draws():
    """Nothing may follow the live panel's fragment (see ``ui.training_panel``): Streamlit can send a
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
        assert len(calls) == 1, f"{path.name}: call ui.training_panel once, with every job key"
        last = main.body[-1]
        assert isinstance(last, ast.Expr) and last.value is calls[0], f"{path.name}: the panel is not main()'s last step"
    assert callers == ["build_train.py", "robustness.py", "transfer.py"]


def _status(state: str, place: int = 0) -> types.SimpleNamespace:
    return types.SimpleNamespace(state=state, queue_position=place)


def test_waiting_panels_refresh_slower_the_further_back_they_are():
    from cnnviz.app import ui

    assert [ui.queued_refresh_s(p) for p in (1, 2, 5, 17, 30)] == [2.0, 2.5, 4.0, 10.0, 10.0]
    # 28 waiting students (a class of 30, cap 2): under 5 panel runs a second instead of 14.
    assert 4.4 < sum(1 / ui.queued_refresh_s(p) for p in range(1, 29)) < 4.8
    assert ui.panel_refresh_s([_status("queued", 5), _status("queued", 3)]) == 3.0  # the first waiting job
    assert ui.panel_refresh_s([_status("queued", 5), _status("running")]) == ui.LIVE_REFRESH_S
    assert ui.panel_refresh_s([_status("finished"), _status("cancelled")]) is None


def test_a_waiting_panel_takes_a_faster_pace_after_moving_up_enough():
    from cnnviz.app import ui

    drawn_at_place_5 = ui.queued_refresh_s(5)  # 4 s
    assert not ui.pace_outdated(drawn_at_place_5, [_status("queued", 5)])
    assert not ui.pace_outdated(drawn_at_place_5, [_status("queued", 2)])  # 2.5 s: close enough
    assert ui.pace_outdated(drawn_at_place_5, [_status("queued", 1)])  # 2 s: rerun the page once
    assert not ui.pace_outdated(ui.LIVE_REFRESH_S, [_status("running")])
    assert not ui.pace_outdated(None, [_status("queued", 1)])  # no live panel drawn
