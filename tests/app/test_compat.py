"""cnnviz.app.compat, what the many-students load test (tests/e2e/test_load.py) needs: Streamlit no longer
resets Keras after each script run; the patches are applied explicitly and name the versions they were written for."""

from __future__ import annotations

import logging
import sys
import types

from cnnviz.app import compat
from tests.conftest import REPO


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
                                         "its patches still apply (tests/app/test_compat.py)"]


def test_a_streamlit_without_the_patched_function_gets_a_warning_not_a_crash(monkeypatch, caplog):
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.delattr(script_runner, "_clean_problem_modules")
    with caplog.at_level(logging.WARNING, logger="cnnviz"):
        compat.spare_keras_after_script_runs()
    assert "no _clean_problem_modules any more" in caplog.text


def test_a_data_uri_page_icon_is_sent_as_it_is_and_others_as_streamlit_sends_them(monkeypatch):
    from streamlit.commands import page_config

    real = getattr(page_config._get_favicon_string, "__wrapped__", page_config._get_favicon_string)  # Streamlit's own
    monkeypatch.setattr(page_config, "_get_favicon_string", real)
    compat.send_data_uri_icons_as_they_are()
    compat.send_data_uri_icons_as_they_are()  # once is enough: not wrapped twice
    patched = page_config._get_favicon_string
    assert patched is not real and patched.__wrapped__ is real
    icon = compat.icon_data_uri(str(REPO / "assets" / "favicon.svg"))
    assert patched(icon) == icon == real(REPO / "assets" / "favicon.svg")  # what Streamlit itself makes of the file
    assert patched("🧠") == real("🧠") == "emoji:🧠"


def test_a_server_started_outside_cnnvizs_folder_is_told_its_classroom_settings_are_off(monkeypatch):
    # Streamlit reads .streamlit/config.toml from the folder it is started in: `streamlit run /srv/cnnviz/app.py`
    # from elsewhere (a service) ran with its defaults, error details shown to students and 200 MB uploads, unsaid.
    from streamlit import config

    defaults = {"client.showErrorDetails": "full", "server.maxUploadSize": 200}
    monkeypatch.setattr(config, "get_option", lambda name: defaults[name])
    [line] = compat.settings_warnings()
    assert str(REPO / ".streamlit" / "config.toml") in line and "start it from" in line, line
    ours = {"client.showErrorDetails": "none", "server.maxUploadSize": 10}
    monkeypatch.setattr(config, "get_option", lambda name: ours[name])
    assert compat.settings_warnings() == []
