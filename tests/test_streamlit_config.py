"""Settings gate: the classroom-safety settings in .streamlit/config.toml stay on."""

import tomllib

from tests.conftest import REPO


def _config() -> dict:
    with open(REPO / ".streamlit" / "config.toml", "rb") as fh:
        return tomllib.load(fh)


def test_xsrf_on_and_uploads_small():
    server = _config()["server"]
    assert server["enableXsrfProtection"] is True
    assert 1 <= server["maxUploadSize"] <= 10
    assert server["enableStaticServing"] is False


def test_no_source_file_watching_on_a_classroom_server():
    # Streamlit's watcher costs the event loop a realpath per loaded module after every script run.
    assert _config()["server"]["fileWatcherType"] == "none"


def test_error_details_hidden_from_students():
    assert _config()["client"]["showErrorDetails"] in ("none", False)


def test_pyproject_requires_patched_versions():
    with open(REPO / "pyproject.toml", "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    for needed in ("streamlit>=1.54", "keras>=3.15", "pillow>=12.2", "tensorflow>=2.19"):
        assert needed in deps, needed


def test_no_full_garbage_collection_after_each_script_run():
    import tomllib

    from tests.conftest import REPO

    settings = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert settings["runner"]["postScriptGC"] is False
