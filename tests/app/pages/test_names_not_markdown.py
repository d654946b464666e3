"""Display names are the students' own (the roster refuses ``* _ [ ] < > : …`` but not ``.``, ``@`` or a leading
``1. ``): where another person sees one (the teacher's Class page, a classmate on a shared run) it is shown as typed,
never as a link (Streamlit autolinks ``www.`` and ``a@b.c`` even in escaped text), a list or a rule (docs/hazards:
"Markdown in text the student controls")."""

from __future__ import annotations

import pytest

from cnnviz.classroom import people, roster
from cnnviz.data.images import plain_name
from tests.support.pages import no_errors, open_page
from tests.support.runfolders import GOOD_CONFIG, write_run

#: A link, a mail link and an ordered list, each a name the roster takes.
NAMES = ("1. Ann", "www.evil.example", "bob@evil.example")
A_RUN = "20260101-000000-0000000a"


@pytest.fixture(autouse=True)
def _laptop(monkeypatch):
    """The local teacher (no password, no classroom): sees everyone's runs and the roster."""
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)


def _markdown(at) -> list[str]:
    return [m.value for m in (*at.markdown, *at.caption, *at.info, *at.success, *at.warning)]


def test_the_class_page_lists_the_students_names_as_typed(app_path, cnnviz_home):
    for name in NAMES:
        roster.register(name)
    at = open_page(app_path, "app_pages/class_room.py")
    no_errors(at)
    shown = [t.value for t in at.text]
    assert any(all(name in value for name in NAMES) for value in shown), shown
    assert not [m for m in _markdown(at) if any(name in m for name in NAMES)]


def test_a_shared_runs_owner_is_named_as_typed_on_the_runs_page(app_path, cnnviz_home):
    _, ann = roster.register("www.evil.example")
    write_run(cnnviz_home, A_RUN, config={**GOOD_CONFIG, "owner": ann.user_id, "owner_name": ann.display_name})
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    by = [c.value for c in at.caption if c.value.startswith("Trained by")]
    assert by and all(f"Trained by {plain_name(ann.display_name)}" in c for c in by), by
