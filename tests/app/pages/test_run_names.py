"""Issue 14: runs are named as a class knows their network ("CNN Lab: 2 conv layers, 16 filters"), not by
the preset id ("seed000_model1"), in the run pickers, the Runs rows and legends, with the notebook as a
source line in the run's details."""

from __future__ import annotations

import pytest

from tests.support.pages import figure, no_errors, open_page
from tests.support.runs import copy_runs, train_runs
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.slow

NAME = "CNN Lab: 2 conv layers, 16 filters"  # cnnviz.models.names for seed000_model1


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A real run saved with preset seed000_model1 (a tiny network, so it trains in seconds)."""
    home = tmp_path_factory.mktemp("named-run")
    return home, train_runs(home, {"named": page_spec(FLAT_MODEL, preset="seed000_model1")})["named"]


def _table(at, column: str):
    [table] = [d.value for d in at.dataframe if column in d.value.columns]
    return table


def test_evaluate_picker_names_the_network_as_a_class_knows_it(stored, cnnviz_home, app_path):
    copy_runs(stored[0], cnnviz_home)
    at = open_page(app_path, "app_pages/evaluate.py")
    no_errors(at)
    [offered] = at.selectbox(key="eval_run").options
    assert offered.startswith(f"{NAME} on digits ({stored[1][-8:]})"), offered
    assert "seed000" not in offered


def test_runs_page_rows_pickers_legend_and_source_line(stored, cnnviz_home, app_path):
    copy_runs(stored[0], cnnviz_home)
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    label = f"{NAME} on digits ({stored[1][-8:]})"
    assert at.selectbox(key="runs_selected").options == [label]
    assert at.multiselect(key="runs_compare").options == [label]
    overview = _table(at, "created")
    assert list(overview["network"]) == [NAME] and list(overview["preset"]) == ["seed000_model1"]
    assert {t["name"] for t in figure(at, "runs_curves")["data"]} == {f"{label} training", f"{label} validation"}
    details = _table(at, "what")
    rows = dict(zip(details["what"], details["value"]))
    assert rows["network"] == NAME and rows["from"] == "seed 000 (CNN Lab, 2020), Part 11 (1.12), model1"
