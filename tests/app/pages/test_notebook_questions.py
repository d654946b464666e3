"""Every row of docs/notebooks.md: its answer is found on the page it names (issue 16).

Each row names a *view* (a page, sometimes after one choice on it) and a ``check``: text the page shows
there (a caption, a label, a metric, a table cell, a chart title). One AppTest session per view serves all
its rows, so some 100 rows cost about a dozen page runs; a failure lists the rows whose answer is missing.
The ``answer checked`` column says how the answer's value is checked beyond its text being there: the
``value (FILE)`` rows in FILE (tests/app/pages/test_notebook_answers_*.py), the experiments' ``result``
rows in the test they name; :func:`test_the_answer_column_names_real_checks` keeps the column honest.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from cnnviz.models.layertemplates import TEMPLATES
from tests.support.notebook import ANSWER_KINDS, page_text, rows
from tests.support.views import SETUPS, open_view, train_stored

pytestmark = pytest.mark.slow
PAGES = Path(__file__).resolve().parent


def test_the_table_covers_the_notebooks():
    found = rows()
    ids = [r["id"] for r in found]
    assert len(ids) == len(set(ids)), "a question twice"
    assert len(found) >= 100
    for n in range(1, 33):
        assert f"seed 000 Q{n}" in ids
    for n in range(1, 9):
        assert f"seed 001 Q{n}" in ids
    assert {"seed 003 3.1", "seed 003 3.2a", "seed 003 3.2b", "seed 003 4.1", "seed 003 4.2a", "seed 003 4.2b"} <= set(ids)
    assert all(r["view"] in SETUPS or (r["view"] == "-" and "not answerable" in r["where"]) for r in found)
    assert all(r["answer"].startswith(ANSWER_KINDS) for r in found), [r["id"] for r in found
                                                                      if not r["answer"].startswith(ANSWER_KINDS)]


def test_the_answer_column_names_real_checks():
    """A ``value (FILE)`` row has a check in FILE's CHECKS (and only those rows do); a ``result
    (FILE::TEST)`` row names a test that exists."""
    claimed, registered = {}, {}
    for row in rows():
        if m := re.fullmatch(r"value \((test_notebook_answers_\w+\.py)\)", row["answer"]):
            claimed[row["id"]] = m.group(1)
        elif m := re.fullmatch(r"result \((test_\w+\.py)::(test_\w+)\)", row["answer"]):
            tree = ast.parse((PAGES / m.group(1)).read_text(encoding="utf-8"))
            assert m.group(2) in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}, row["id"]
    for file in sorted(PAGES.glob("test_notebook_answers_*.py")):
        module = importlib.import_module(f"tests.app.pages.{file.stem}")
        registered.update({row_id: file.name for row_id in module.CHECKS})
    assert claimed == registered


def test_the_templates_a_row_sends_students_to_are_offered():
    """A row that sends students to Layer by layer's templates ("Start from (A, B templates)", "Layer by layer's A
    templates") names networks that "Start from" offers."""
    offered = " ".join(t.title for t in TEMPLATES.values()).lower()
    missing = []
    for row in rows():
        named = re.findall(r"Start from \(([^)]*?) templates?\)", row["where"]) + re.findall(
            r"Layer by layer's ([^)]*?) templates?", row["where"])
        missing += [f"{row['id']}: {name}" for group in named for name in re.split(r", | and ", group)
                    if name.split()[0].lower() not in offered]
    assert not missing, "no such template in Start from:\n" + "\n".join(missing)


@pytest.fixture(scope="module", name="stored_runs")
def _stored_runs(tmp_path_factory):
    return train_stored(tmp_path_factory.mktemp("notebook-runs"))


@pytest.mark.parametrize("view", sorted(SETUPS))
def test_each_rows_answer_is_on_its_page(view, app_path, request, keras_home):
    at = open_view(view, app_path, request)
    text = page_text(at)
    missing = [f"{r['id']}: {r['check']!r}" for r in rows() if r["view"] == view and r["check"] not in text]
    assert not missing, "answers not on the page:\n" + "\n".join(missing)
