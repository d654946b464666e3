"""Shared fixtures: every test gets its own empty CNNVIZ_HOME and fresh Streamlit caches; ``loopback`` (a
local HTTP server) and ``keras_home`` (an empty Keras cache) on request. Builders live in ``tests/support/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.http import LoopbackServer, start_server

REPO = Path(__file__).resolve().parents[1]

# Keep TensorFlow quiet and deterministic-ish in tests; set before any test imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(autouse=True)
def cnnviz_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty, private CNNVIZ_HOME for each test (no test sees the user's real data)."""
    home = tmp_path / "cnnviz-home"
    monkeypatch.setenv("CNNVIZ_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _clear_streamlit_caches():
    """st.cache_* survive between AppTest instances in one process: start each test clean."""
    yield
    import sys

    if "streamlit" in sys.modules:
        import streamlit as st

        st.cache_data.clear()
        st.cache_resource.clear()


@pytest.fixture
def app_path() -> str:
    return str(REPO / "app.py")


@pytest.fixture
def loopback() -> LoopbackServer:
    """A loopback HTTP server for the test (add files with ``loopback.serve(path, body)``)."""
    server = start_server()
    yield server
    server.close()


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache and no explicit weights files, so the machine's own never leak into a test."""
    from cnnviz import weights

    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    for key in weights.KEYS:  # ResNet50 and every transfer backbone
        monkeypatch.delenv(weights.weights_file(key).env, raising=False)
    return home


@pytest.fixture(autouse=True)
def _end_training_workers():
    """Training workers belong to one test's CNNVIZ_HOME: end those a test started."""
    yield
    import sys

    if "cnnviz.training.jobs" in sys.modules:
        sys.modules["cnnviz.training.jobs"].close_all()
