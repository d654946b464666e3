"""Every row of docs/notebooks.md: its answer is found on the page it names (issue 16).

Each row names a *view* (a page, sometimes after one choice on it) and a ``check``: text the page shows
there (a caption, a label, a metric, a table cell, a chart title). One AppTest session per view serves all
its rows, so some 90 rows cost about a dozen page runs; a failure lists the rows whose answer is missing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from google.protobuf.message import Message

from tests.support.pages import open_page
from tests.support.runs import copy_runs, train_runs
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[3] / "docs" / "notebooks.md"
_ROW = re.compile(r"^\| (?P<id>seed 00\d [^|]+?) \| (?P<question>[^|]+?) \| (?P<where>[^|]+?) \| "
                  r"(?P<view>[a-z]+|-) \| (?P<check>.*) \|$")


def rows() -> list[dict]:
    found = [m.groupdict() for line in DOC.read_text(encoding="utf-8").splitlines() if (m := _ROW.match(line))]
    for row in found:
        row["check"] = row["check"].strip().strip("`").replace("\\|", "|")
    return found


def _strings(message: Message):
    for field, value in message.ListFields():
        # upb's descriptors have no ``label``: a value that is not one scalar or message is a repeated field
        values = [value] if isinstance(value, (str, bytes, Message, int, float)) else list(value)
        for v in values:
            if isinstance(v, Message):
                yield from _strings(v)
            elif isinstance(v, str):
                yield v


def page_text(at) -> str:
    """Every string the page sent (Markdown, labels, help, options, chart JSON) and its tables as text."""
    parts = []

    def walk(node):
        if isinstance(getattr(node, "proto", None), Message):  # a block's too: expander and tab labels
            parts.extend(_strings(node.proto))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree)
    parts += [frame.value.to_string() for frame in at.dataframe]
    return "\n".join(parts)


def _layers(at):
    at.segmented_control(key="train_source").set_value("Layer by layer").run()
    at.selectbox(key="lb_template").set_value("seed003_q32").run()
    at.button(key="lb_load").click().run()


def _weights(at):
    at.toggle(key="train_class_weights").set_value(True).run()  # the counts and weights of the run's images


SETUPS = {  # view: (page file, what to do there first, needs a trained run)
    "convolution": ("convolution", None, False), "datasets": ("datasets", None, False),
    "build": ("build_train", None, False), "weights": ("build_train", _weights, False),
    "builder": ("build_train", lambda at: at.segmented_control(key="train_source").set_value("My own network").run(),
                False),
    "layers": ("build_train", _layers, False), "experiments": ("experiments", None, False),
    "runs": ("runs", None, True), "evaluate": ("evaluate", None, True), "inside": ("inside", None, True),
    "explain": ("explain", None, True), "robustness": ("robustness", None, True),
    "pretrained": ("pretrained", None, False), "transfer": ("transfer", None, False),
}


def test_the_table_covers_the_notebooks():
    found = rows()
    ids = [r["id"] for r in found]
    assert len(ids) == len(set(ids)), "a question twice"
    assert len(found) >= 85
    for n in range(1, 33):
        assert f"seed 000 Q{n}" in ids
    for n in range(1, 9):
        assert f"seed 001 Q{n}" in ids
    assert {"seed 003 3.1", "seed 003 3.2a", "seed 003 3.2b", "seed 003 4.1", "seed 003 4.2a", "seed 003 4.2b"} <= set(ids)
    assert all(r["view"] in SETUPS or (r["view"] == "-" and "not answerable" in r["where"]) for r in found)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("notebook-runs")
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL)})


@pytest.mark.parametrize("view", sorted(SETUPS))
def test_each_rows_answer_is_on_its_page(view, app_path, request, keras_home):
    page, setup, needs_run = SETUPS[view]
    if needs_run:
        copy_runs(request.getfixturevalue("stored")[0], request.getfixturevalue("cnnviz_home"))
    at = open_page(app_path, f"app_pages/{page}.py")
    if setup:
        setup(at)
    assert not at.exception, at.exception
    text = page_text(at)
    missing = [f"{r['id']}: {r['check']!r}" for r in rows() if r["view"] == view and r["check"] not in text]
    assert not missing, "answers not on the page:\n" + "\n".join(missing)
