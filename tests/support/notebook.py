"""The table of docs/notebooks.md for the notebook-question page tests (issue 16).

Every row names a question, the *view* (a page, sometimes after one choice on it) where the app answers it,
a ``check`` (text the page shows there) and how the answer itself is checked (``answer`` column):

* ``value (FILE)``: FILE (in tests/app/pages/) compares the value the page shows with a reference worked
  out in the test (Keras, scipy, scikit-learn, NumPy) from the same tiny data or model;
* ``result (FILE::TEST)``: that test presses the experiment's button and checks the result shown;
* ``control`` (the row is a task done with that control), ``text`` (the answer is an explanation in words):
  the check text on the page is the answer;
* ``not checked: REASON`` (a GPU, or all of CIFAR-10, would be needed).

:func:`value_checks` runs the value checks of one view on one page session: ``{row id: check(at)}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message

DOC = Path(__file__).resolve().parents[2] / "docs" / "notebooks.md"
_ROW = re.compile(r"^\| (?P<id>seed 00\d [^|]+?) \| (?P<question>[^|]+?) \| (?P<where>[^|]+?) \| "
                  r"(?P<view>[a-z]+|-) \| (?P<check>.*?) \| (?P<answer>[^|]*?) \|$")
ANSWER_KINDS = ("value", "result", "control", "text", "not checked")


def rows() -> list[dict]:
    found = [m.groupdict() for line in DOC.read_text(encoding="utf-8").splitlines() if (m := _ROW.match(line))]
    for row in found:
        row["check"] = row["check"].strip().strip("`").replace("\\|", "|")
    return found


def view_of(row_id: str) -> str:
    return next(r["view"] for r in rows() if r["id"] == row_id)


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


def run_checks(at, view: str, checks: dict[str, Callable]) -> None:
    """Run each check of a row in ``view`` on the page ``at``; fail once, naming every row whose value is wrong."""
    wanted = {r["id"] for r in rows() if r["view"] == view}
    failed, ran = [], [row_id for row_id in checks if row_id in wanted]
    assert ran, f"no value check for a row of view {view!r}"
    for row_id, check in checks.items():
        if row_id in wanted:
            try:
                check(at)
            except AssertionError as err:
                failed.append(f"{row_id}: {err}")
            assert not at.exception, (row_id, at.exception)
    assert not failed, "answers shown wrong:\n" + "\n".join(failed)


def metric(at, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; have {[m.label for m in at.metric]}"
    return found[0]


def number(text: str) -> int:
    return int(str(text).replace(",", ""))
