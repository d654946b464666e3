"""Shared fixtures: every test gets its own empty CNNVIZ_HOME and fresh Streamlit caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
