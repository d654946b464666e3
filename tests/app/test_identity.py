"""Who is who in the app (issue 14): a laptop is the teacher; in a classroom, a name gives a private key kept in
the URL (across page switches and reloads), an unknown key says so, and the teacher enters a password."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.classroom import people, roster
from cnnviz.data.images import plain_name
from tests.support.pages import TIMEOUT, markdown_in, shown

CLASS_ENVS = (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV)


@pytest.fixture(autouse=True)
def _no_class_env(monkeypatch):
    for name in CLASS_ENVS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def classroom(monkeypatch):
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")


def _app(app_path: str, key: str | None = None) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    if key is not None:
        at.query_params["key"] = key
    return at.run()


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _me(at: AppTest) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


def test_a_laptop_is_the_teacher_with_nothing_to_fill_in(app_path):
    at = _app(app_path)
    assert not at.exception
    assert not at.get("text_input") and not at.sidebar.expander and "Welcome" not in [t.value for t in at.title]


def test_a_refused_name_is_repeated_as_typed_not_as_markdown(app_path, classroom):
    typed = "**x** [a](http://e) :red[b] $x$"
    at = _app(app_path)
    at.text_input(key="identity_name").input(typed)
    _button(at, "Start").click().run()
    [error] = [e.value for e in at.error]  # still on the form, saying why
    assert f"but {typed!r} has" in shown(error)
    assert markdown_in(error) == [], error  # not bold, no link, no red word, no formula
    assert roster.students() == []


def test_a_first_visit_asks_a_name_then_keeps_the_key_in_the_url(app_path, classroom):
    at = _app(app_path)
    assert [t.value for t in at.title] == ["Welcome to the CNN lab"]
    assert "key" not in at.query_params
    at.text_input(key="identity_name").input("A")
    _button(at, "Start").click().run()
    assert "a name needs 2 to 40 characters, got 1 ('A')" in at.error[0].value  # still on the form
    assert roster.students() == []
    at.text_input(key="identity_name").input("  Ann  ")
    _button(at, "Start").click().run()
    assert not at.exception and not at.error
    key = at.query_params["key"]
    assert roster.lookup(key).display_name == "Ann"
    assert any("Bookmark this page" in s.value for s in at.success)
    # The key is a bearer key: a link pasted in the class chat makes its reader this student.
    assert any("whoever opens this address is you" in s.value for s in at.success)
    assert "You are **Ann**" in _me(at)

    at.query_params.clear()  # a page switch that drops the query string
    at.switch_page("app_pages/runs.py").run()
    assert at.query_params["key"] == key and "You are **Ann**" in _me(at)

    again = _app(app_path, key)  # a reload, or the bookmark in a new session
    assert "You are **Ann**" in _me(again) and "Welcome to the CNN lab" not in [t.value for t in again.title]
    assert again.query_params["key"] == key


def test_the_students_own_name_is_shown_as_typed(app_path, classroom):
    """The roster takes "www.evil.example": in the sidebar and the welcome it is no link (Streamlit autolinks "www."
    even in escaped Markdown)."""
    at = _app(app_path)
    at.text_input(key="identity_name").input("www.evil.example")
    _button(at, "Start").click().run()
    assert not at.exception and not at.error
    shown = plain_name("www.evil.example")
    assert f"You are **{shown}**" in _me(at)
    assert any(s.value.startswith(f"Welcome, {shown}!") for s in at.success), [s.value for s in at.success]


def test_a_student_sees_the_tag_the_teacher_sees_when_another_reads_as_her(app_path, classroom, monkeypatch):
    """The teacher's pages tell two Anns apart ("Ann (3f2a)"), but each saw only "Ann" as herself: told "Ann (3f2a),
    your run...", neither knew which one was meant. Her tag comes once the other registers; no roster read per page."""
    first_key, first = roster.register("Ann")
    first_tab = _app(app_path, first_key)
    assert "You are **Ann**" in _me(first_tab)  # alone: no tag

    second_tab = _app(app_path)  # another browser: the second Ann chooses a name that reads the same
    second_tab.text_input(key="identity_name").input("ann")
    _button(second_tab, "Start").click().run()
    second = roster.lookup(second_tab.query_params["key"])
    tagged = roster.shown_names([(first.user_id, "Ann"), (second.user_id, "ann")])  # as on the teacher's pages
    her = plain_name(tagged[second.user_id, "ann"])
    assert "(" in her and f"You are **{her}**" in _me(second_tab)
    assert any(s.value.startswith(f"Welcome, {her}!") for s in second_tab.success), second_tab.success

    reads = []
    real = roster.shown_name
    monkeypatch.setattr(roster, "shown_name", lambda person: reads.append(person) or real(person))
    first_tab.run()  # the first Ann's next page: the class file changed, so her tag is read once
    assert f"You are **{plain_name(tagged[first.user_id, 'Ann'])}**" in _me(first_tab)
    first_tab.run()
    assert not first_tab.exception and reads == [first], "the roster was read again with nothing changed"


def test_an_unknown_key_says_so_and_offers_the_form(app_path, classroom):
    at = _app(app_path, "not-a-key-this-server-made")
    assert any("does not know" in w.value for w in at.warning)
    assert at.text_input(key="identity_name") is not None


@pytest.mark.parametrize("damage", ["garbage", "folder"])
def test_a_damaged_class_file_is_named_and_nothing_is_made_anew(app_path, classroom, cnnviz_home, damage):
    """class.sqlite3 cut short by a crash or a restore: every page of every student was a sqlite3 traceback."""
    key, _ = roster.register("Ann")
    file = cnnviz_home / "class.sqlite3"
    for extra in cnnviz_home.glob("class.sqlite3*"):  # the WAL beside it goes with the file
        extra.unlink()
    if damage == "garbage":
        file.write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 3000)
    else:
        file.mkdir()
    before = sorted(p.name for p in cnnviz_home.iterdir())
    at = _app(app_path, key)
    assert not at.exception, at.exception
    said = [e.value for e in at.error]
    assert len(said) == 1 and said[0].startswith(f"Could not open the class list: {file} "), said
    assert "Whoever runs the server" in said[0] and not at.get("text_input")  # no name form: Ann has a name
    assert sorted(p.name for p in cnnviz_home.iterdir()) == before and file.is_dir() == (damage == "folder")


def test_the_teacher_password_makes_this_session_the_teacher(app_path, monkeypatch):
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    at = _app(app_path)
    assert [t.value for t in at.title] == ["Welcome to the CNN lab"]  # a classroom: nobody known yet
    at.sidebar.text_input(key="identity_password").input("wrong")
    _button(at, "Enter").click().run()
    assert "That is not the teacher password." in [e.value for e in at.error]
    at.sidebar.text_input(key="identity_password").input("pass-1234")
    _button(at, "Enter").click().run()
    assert not at.exception and "(teacher)" in _me(at)
    at.switch_page("app_pages/class_room.py").run()
    assert "Trainings" in [s.value for s in at.subheader]
    _button(at, "Leave teacher mode").click().run()
    assert [t.value for t in at.title] == ["Welcome to the CNN lab"]



def test_too_many_wrong_teacher_passwords_are_said_and_not_checked(app_path, monkeypatch):
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    monkeypatch.setattr(people, "WRONG_PASSWORDS_PER_MINUTE", 2)
    at = _app(app_path)
    for _ in range(2):
        at.sidebar.text_input(key="identity_password").input("wrong")
        _button(at, "Enter").click().run()
    at.sidebar.text_input(key="identity_password").input("pass-1234")
    _button(at, "Enter").click().run()
    assert not at.exception and "(teacher)" not in _me(at)
    [error] = [e.value for e in at.error]
    assert error.startswith("2 wrong teacher passwords reached this server in the last minute, so none is checked "
                            "for now: try again in ")


def test_the_teacher_password_with_a_damaged_class_file_says_why_it_is_not_checked(app_path, monkeypatch,
                                                                                    cnnviz_home):
    # The class file counts the wrong passwords of all the server's processes: damaged, Enter says so (no traceback)
    # and lets nobody in uncounted.
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    cnnviz_home.mkdir(parents=True)
    (cnnviz_home / "class.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x00\xff" * 3000)
    at = _app(app_path)
    at.sidebar.text_input(key="identity_password").input("pass-1234")
    _button(at, "Enter").click().run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("Could not open the class list: ") for e in at.error), [e.value for e in at.error]
    assert "(teacher)" not in _me(at)


def test_a_blank_teacher_password_keeps_the_classroom_and_lets_nobody_in(app_path, monkeypatch):
    monkeypatch.setenv(people.PASSWORD_ENV, " ")
    at = _app(app_path)
    assert not at.exception and [t.value for t in at.title] == ["Welcome to the CNN lab"]  # not everyone the teacher
    assert not at.sidebar.get("text_input")  # no password box to type a space into
    assert any("set but blank" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]


def _whoami_script():
    import streamlit as st

    from cnnviz.app import identity

    found = identity.gate()
    st.text(f"{found.user_id}|{found.is_teacher}|{found.kind}")


def test_a_student_who_enters_the_teacher_password_keeps_their_own_user_id(monkeypatch):
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    key, ann = roster.register("Ann")
    at = AppTest.from_function(_whoami_script, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    assert at.text[0].value == f"{ann.user_id}|False|key"
    at.sidebar.text_input(key="identity_password").input("pass-1234")
    _button(at, "Enter").click().run()
    # The teacher's rights under Ann's own id: her runs stay hers, and what she makes now is hers.
    assert not at.exception and at.text[0].value == f"{ann.user_id}|True|key"
    assert "You are **Ann** (teacher)" in _me(at) and at.query_params["key"] == key
    _button(at, "Leave teacher mode").click().run()
    assert at.text[0].value == f"{ann.user_id}|False|key" and "(teacher)" not in _me(at)


def test_the_teacher_password_before_any_name_is_the_plain_teacher(monkeypatch):
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    at = AppTest.from_function(_whoami_script, default_timeout=TIMEOUT).run()
    at.sidebar.text_input(key="identity_password").input("pass-1234")
    _button(at, "Enter").click().run()
    assert at.text[0].value == f"{people.TEACHER_OWNER}|True|local"


def test_a_training_worker_that_runs_app_py_again_asks_nobody_for_a_name(app_path, classroom):
    # multiprocessing's spawn runs the main script of `streamlit run app.py` again in each training worker, as
    # __mp_main__ and outside any session: in a classroom the gate found nobody there and the worker died.
    import runpy

    runpy.run_path(app_path, run_name="__mp_main__")
