"""Yes/no environment variables mean the same everywhere: CNNVIZ_ALLOW_SERVER_PATHS took "1", "true" and "yes" but
not "on", which CNNVIZ_CLASSROOM took."""

from __future__ import annotations

import pytest

from cnnviz.classroom import people
from cnnviz.data import datasets
from cnnviz.envflags import env_flag


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("Yes", True), (" ON ", True), ("", False),
                                       ("0", False), ("off", False), ("no", False), ("2", False)])
def test_both_flags_read_a_value_alike(monkeypatch, value, on):
    for name in (people.CLASSROOM_ENV, datasets.SERVER_PATHS_ENV, people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, value)
    monkeypatch.setenv(datasets.SERVER_PATHS_ENV, value)
    assert (env_flag(people.CLASSROOM_ENV), people.classroom_mode(), datasets.server_paths_allowed()) == (on, on, on)


def test_an_unset_flag_is_off(monkeypatch):
    monkeypatch.delenv(datasets.SERVER_PATHS_ENV, raising=False)
    assert not env_flag(datasets.SERVER_PATHS_ENV) and not datasets.server_paths_allowed()
