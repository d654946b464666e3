"""Compare overlays the curves of any runs: runs of different datasets get a warning above the curves naming the
datasets (their accuracies measure different tasks); runs of one dataset get none."""

from __future__ import annotations

import pytest

from cnnviz.classroom import people
from tests.support.pages import no_errors, open_page
from tests.support.runfolders import GOOD_CONFIG, write_run

DIGITS, FASHION = "20260101-000000-0000000a", "20260102-000000-0000000b"


@pytest.fixture(autouse=True)
def _laptop(monkeypatch):
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)


def _dataset_warnings(at) -> list[str]:
    return [w.value for w in at.warning if "different datasets" in w.value]


def test_runs_of_different_datasets_are_compared_under_a_warning_naming_them(app_path, cnnviz_home):
    write_run(cnnviz_home, DIGITS)
    write_run(cnnviz_home, FASHION, created="2026-01-02T00:00:00+00:00",
              config={**GOOD_CONFIG, "dataset": "fashion_mnist", "input_shape": [28, 28, 1]})
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    assert at.multiselect(key="runs_compare").value == [FASHION, DIGITS]  # the newest two, overlaid
    [warning] = _dataset_warnings(at)
    assert warning.startswith("These runs were trained on different datasets: fashion\\_mnist (10 classes) and "
                              "digits (10 classes). Their curves and accuracies measure different tasks"), warning
    assert any(e.key == "runs_curves" for e in at.get("plotly_chart"))  # still drawn: the lesson is in the warning
    at.multiselect(key="runs_compare").set_value([DIGITS]).run()
    assert not _dataset_warnings(at)


def test_runs_of_one_dataset_get_no_warning(app_path, cnnviz_home):
    write_run(cnnviz_home, DIGITS)
    write_run(cnnviz_home, FASHION, created="2026-01-02T00:00:00+00:00", config={**GOOD_CONFIG, "epochs": 3})
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    assert len(at.multiselect(key="runs_compare").value) == 2 and not _dataset_warnings(at)
