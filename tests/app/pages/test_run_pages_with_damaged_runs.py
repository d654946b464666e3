"""Evaluate, Inside, Robustness and Explain with damaged runs beside a real trained run (issue 18): the
good run works on every page, the damaged ones are never offered and never silently missing."""

from __future__ import annotations

import pytest

from tests.support.pages import assert_no_runs_notice, no_errors, open_page, texts
from tests.support.runfolders import write_damaged
from tests.support.runs import copy_runs, train_runs
from tests.support.specs import FLAT_MODEL, page_spec


pytestmark = pytest.mark.slow

RUN_PAGES = {"app_pages/evaluate.py": "eval_run", "app_pages/inside.py": "inside_run",
             "app_pages/robustness.py": "robust_runs", "app_pages/explain.py": "explain_run"}
DAMAGED_IDS = {"20200101-000000-0000000a": "config is a list", "20200101-000000-0000000b": "test accuracy is text"}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("damaged-beside-good")
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL, epochs=1)})["flat"]


def _damage(home) -> None:
    for run_id, kind in DAMAGED_IDS.items():
        write_damaged(home, run_id, kind)


@pytest.mark.parametrize("page", sorted(RUN_PAGES))
def test_the_good_run_works_and_the_damaged_ones_are_counted(page, stored, cnnviz_home, app_path):
    copy_runs(stored[0], cnnviz_home)
    _damage(cnnviz_home)
    at = open_page(app_path, page)
    no_errors(at)
    assert "2 damaged runs are not offered here; the Runs page says what is wrong and can delete them." in texts(at)
    key = RUN_PAGES[page]
    picker = at.multiselect(key=key) if page.endswith("robustness.py") else at.selectbox(key=key)
    offered = picker.options
    assert len(offered) == 1 and not any(run_id[-8:] in " ".join(offered) for run_id in DAMAGED_IDS)
    assert stored[1][-8:] in offered[0]


def test_only_damaged_runs_give_the_no_runs_notice_and_the_count(cnnviz_home, app_path):
    write_damaged(cnnviz_home, "20200101-000000-0000000a", "val_loss is a number")
    at = open_page(app_path, "app_pages/evaluate.py")
    no_errors(at)
    assert_no_runs_notice(at)
    assert "1 damaged run is not offered here; the Runs page says what is wrong and can delete it." in texts(at)
