"""What the many-students load test (tests/e2e/test_load.py) needs from the app, checked fast:
Streamlit no longer resets Keras after each script run, and the job manager logs its cap."""

from __future__ import annotations

import logging
import sys
import types

from cnnviz.app import compat, panel
from cnnviz.training import jobs as jobmanager
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec


def _fake_module(monkeypatch, name: str, **attrs) -> list[str]:
    calls: list[str] = []
    module = types.ModuleType(name)
    for attr, path in attrs.items():
        setattr(module, attr, types.SimpleNamespace(**{path: lambda *a, **k: calls.append(f"{attr}.{path}")}))
    monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_script_runs_no_longer_clear_the_keras_session(monkeypatch):
    from streamlit.runtime.scriptrunner import script_runner

    compat.install()  # app.py does this on every run; once per process is enough

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


def test_app_py_applies_the_patches_explicitly():
    from tests.conftest import REPO

    assert "compat.install()" in (REPO / "app.py").read_text()


def test_the_patches_name_the_versions_they_were_written_for(monkeypatch):
    # Not the installed versions: a fresh install may bring a newer Streamlit; the patch's own test above
    # checks that it still works, and the warning tells a teacher's log to check.
    monkeypatch.setattr(compat.metadata, "version", lambda package: {"streamlit": "1.67.2"}.get(package, "3.15.0"))
    assert compat.version_warnings() == []
    monkeypatch.setattr(compat.metadata, "version", lambda package: {"streamlit": "1.99.0"}.get(package, "3.15.1"))
    assert compat.version_warnings() == ["cnnviz.app.compat was written for streamlit 1.67, found 1.99.0: check that "
                                         "its patches still apply (tests/test_ui_load.py)"]


def test_a_streamlit_without_the_patched_function_gets_a_warning_not_a_crash(monkeypatch, caplog):
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    with caplog.at_level(logging.WARNING, logger="cnnviz"):
        compat.spare_keras_after_script_runs()
    assert "no _clean_problem_modules any more" in caplog.text
