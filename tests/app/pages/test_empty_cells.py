"""Empty table cells read "–" (as the Compare table and the metrics already say it), not Streamlit's grey "None":
the Runs table, Compare, and the Class page's trainings and results."""

from __future__ import annotations

import pytest

from cnnviz.app.tables import MISSING
from cnnviz.classroom import people
from cnnviz.training import jobs as jobmanager
from tests.support.models import tiny_build
from tests.support.pages import no_errors, open_page
from tests.support.runfolders import GOOD_METRICS, write_run
from tests.support.specs import tiny_spec

#: One run without a test accuracy (stopped before the test), one with; neither stopped early (patience: none).
UNTESTED, TESTED = "20260101-000000-0000000a", "20260102-000000-0000000b"


@pytest.fixture(autouse=True)
def _laptop(monkeypatch, cnnviz_home):
    """The local teacher (sees the Class page); jobs stay queued (no worker); the two runs."""
    monkeypatch.setattr(jobmanager.JobManager, "ensure_workers", lambda self: None)
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)
    write_run(cnnviz_home, UNTESTED, metrics={k: v for k, v in GOOD_METRICS.items() if not k.startswith("test_")})
    write_run(cnnviz_home, TESTED, created="2026-01-02T00:00:00+00:00")


def _tables_with_empty_cells(at) -> list[tuple[list[str], str]]:
    """``(columns, what an empty cell reads)`` of every table on the page that has an empty cell."""
    found = []
    for frame in at.dataframe:
        value = frame.value
        data = value.data if hasattr(value, "data") else value  # a Styler (Compare) or a DataFrame
        if data.isna().to_numpy().any():
            found.append((list(data.columns), frame.proto.placeholder))
    return found


def test_the_runs_tables_show_a_dash_for_nothing(app_path):
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    tables = _tables_with_empty_cells(at)
    assert any("test accuracy" in columns for columns, _ in tables)  # the runs table has its empty cells
    assert [shown for _, shown in tables] == [MISSING] * len(tables), tables


def test_the_class_pages_tables_show_a_dash_for_nothing(app_path):
    manager = jobmanager.JobManager(workers=False)
    manager.submit(tiny_spec(), build=tiny_build, owner=people.local_teacher())
    at = open_page(app_path, "app_pages/class_room.py")
    no_errors(at)
    tables = _tables_with_empty_cells(at)
    assert any("best test accuracy" in columns for columns, _ in tables)  # the untested run's network: no best
    assert [shown for _, shown in tables] == [MISSING] * len(tables), tables
