"""The roster: a name gives a private key; only the key's hash is stored; a key finds its student again."""

from __future__ import annotations

import sqlite3

import pytest

from cnnviz.classroom import db, roster
from cnnviz.errors import InvalidArgument


def test_a_name_gives_a_key_that_finds_the_student_again(cnnviz_home):
    key, ann = roster.register("  Ann   Lee ")
    assert ann.display_name == "Ann Lee" and ann.kind == "key" and not ann.is_teacher
    assert ann.user_id == f"key:{roster.key_hash(key)[:roster.SHORT_HASH]}"
    assert len(key) >= 40  # 32 random bytes, URL-safe
    assert roster.lookup(key) == ann
    assert [p.user_id for p in roster.students()] == [ann.user_id]


def test_two_students_of_one_name_are_two_people():
    key_a, first = roster.register("Sam")
    key_b, second = roster.register("Sam")
    assert key_a != key_b and first.user_id != second.user_id
    assert roster.lookup(key_b) == second


def test_two_students_of_one_name_are_told_apart_wherever_the_teacher_sees_them(cnnviz_home, monkeypatch):
    keys = iter(["k" * 43, "q" * 43, "z" * 43])  # fixed keys: what the tag must not show is known
    monkeypatch.setattr(roster.secrets, "token_urlsafe", lambda n: next(keys))
    key_a, first = roster.register("Sam")
    key_b, second = roster.register("sam")  # reads the same on screen
    _, cy = roster.register("Cy")
    sam, other_sam = (first.user_id, "Sam"), (second.user_id, "sam")
    shown = roster.shown_names([sam, (cy.user_id, "Cy")])  # a table with one Sam in it
    assert shown[cy.user_id, "Cy"] == "Cy"  # a name nobody shares stays as it is
    both = roster.shown_names([other_sam, sam])
    assert both == {sam: "Sam (c279)", other_sam: "sam (d020)"} and shown[sam] == both[sam]  # the same everywhere
    for key, person in ((key_a, first), (key_b, second)):
        tag = both[person.user_id, person.display_name][-5:-1]
        assert tag not in key and tag not in roster.key_hash(key)  # nothing of the key, nor of its stored hash


def test_one_person_under_two_names_keeps_both_and_accounts_get_tags_too(cnnviz_home):
    teacher = [("teacher", "Teacher"), ("teacher", "ada@lab (command line)")]  # a page and the command line
    assert roster.shown_names(teacher) == {pair: pair[1] for pair in teacher}
    accounts = [("account:a@school.org", "Ann Lee"), ("account:b@school.org", "Ann Lee")]
    shown = roster.shown_names(accounts)
    assert len(set(shown.values())) == 2 and not any("school" in v for v in shown.values())


def test_only_the_hash_of_a_key_is_stored(cnnviz_home):
    key, _ = roster.register("Ann")
    raw = db.path().read_bytes() + b"".join(p.read_bytes() for p in cnnviz_home.glob("class.sqlite3-*"))
    assert key.encode() not in raw
    with sqlite3.connect(db.path()) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT key_hash FROM students").fetchone()[0] == roster.key_hash(key)


@pytest.mark.parametrize("key", ["", None, 42, "not-a-key", "x" * 500])
def test_unknown_or_malformed_keys_find_nobody(key):
    roster.register("Ann")
    assert roster.lookup(key) is None


def test_nobody_is_found_before_anyone_registered(cnnviz_home):
    assert roster.lookup("abc") is None and roster.students() == []
    assert not db.path().exists()  # looking does not create the file


@pytest.mark.parametrize(("name", "words"), [
    ("A", "a name needs 2 to 40 characters, got 1 ('A')"),
    ("   ", "a name needs 2 to 40 characters, got 0 ('')"),
    ("x" * 41, "a name needs 2 to 40 characters, got 41"),
    ("Ann\x00", "a name may hold only printable characters, got 'Ann\\x00'"),
    (7, "a name must be text, got 7"),
    ("teacher", "'teacher' is the teacher's name: choose your own"),
    # Look-alikes of the teacher's name, shown as "Teacher" beside their runs and trainings
    ("\uff34\uff45\uff41\uff43\uff48\uff45\uff52", "is the teacher's name"),  # full-width letters
    ("T\u0435acher", "is the teacher's name"),  # a Cyrillic е
    ("\u0422\u0415\u0410\u0421\u041d\u0415R", "is the teacher's name"),  # Cyrillic capitals, a Latin R
])
def test_names_are_checked(name, words):
    with pytest.raises(InvalidArgument) as err:
        roster.register(name)
    assert words in str(err.value)
    assert roster.students() == []


@pytest.mark.parametrize("name", ["[Ann](http://127.0.0.1:9/x)", "**Ben**", ":red[Cy]", "<b>Di</b>", "Ed $x$"])
def test_names_that_would_be_markup_on_every_page_are_refused(name):
    with pytest.raises(InvalidArgument) as err:
        roster.clean_name(name)
    assert repr(name) in str(err.value) and "letters, digits, spaces" in str(err.value)


def test_plain_names_with_accents_and_apostrophes_are_kept():
    assert roster.clean_name("  Zoë  O'Brien-Núñez ") == "Zoë O'Brien-Núñez"


@pytest.mark.parametrize("name", ["=1+1", "+Ann", "-Ann", "@Ann"])
def test_names_a_spreadsheet_would_read_as_a_formula_are_refused(name):
    """The Class page's results and the Runs table name people; the teacher downloads them as CSV (the table's
    own download) and opens them in a spreadsheet, which computes a cell starting with = + - @ (OWASP: CSV injection)."""
    with pytest.raises(InvalidArgument) as err:
        roster.clean_name(name)
    assert repr(name) in str(err.value) and "= + - @" in str(err.value)


@pytest.mark.parametrize("name", ["Ann \uff083f2a\uff09", "Ann \u27683f2a\u2769", "Ann \ufe593f2a\ufe5a",
                                  "Ann \ufd3e3f2a\ufd3f", "Ann \u2474"])
def test_a_name_cannot_hold_a_tag_in_look_alike_brackets(name):
    # "Ann （3f2a）" in full-width brackets read as the tag the teacher's pages give the real Ann "(3f2a)".
    with pytest.raises(InvalidArgument) as err:
        roster.clean_name(name)
    assert repr(name) in str(err.value) and "letters, digits, spaces" in str(err.value)


@pytest.mark.parametrize("hidden", ["\u3164", "\u2800", "\ufe0f", "\u034f", "\uffa0"])
def test_a_name_with_an_invisible_character_gets_the_tag_of_the_name_it_reads_as(cnnviz_home, hidden):
    # "Ann" with a Hangul filler reads as "Ann" but was another name to the tags: two untagged "Ann" on the teacher's
    # pages; "Teach" + filler + "er" was not the teacher's name.
    (_, ann), (_, copy) = roster.register("Ann"), roster.register(f"Ann{hidden}")
    shown = roster.shown_names([(ann.user_id, ann.display_name), (copy.user_id, copy.display_name)])
    assert all(v.endswith(")") for v in shown.values()) and len(set(shown.values())) == 2, shown
    with pytest.raises(InvalidArgument, match="is the teacher's name"):
        roster.clean_name(f"Teach{hidden}er")


@pytest.mark.parametrize("name, shown", [("=1+1", "1+1"), ("@Ann", "Ann"), ("Ann \uff083f2a\uff09", "Ann 3f2a"),
                                         ("T\u0435acher", "Student"),
                                         ("\uff34\uff45\uff41\uff43\uff48\uff45\uff52", "Student")])
def test_a_name_an_older_cnnviz_took_is_shown_as_one_allowed_now_with_its_tag(cnnviz_home, name, shown):
    """A class file from before the checks (an upgrade mid-term): the students table holds names the roster now
    refuses, written as the older register() did. The teacher's pages and CSV downloads show them through
    shown_names: no formula, no forged tag, nobody reading as the teacher."""
    with db.connect(write=True) as conn:
        conn.execute("INSERT INTO students (key_hash, user_id, display_name, created) VALUES (?, ?, ?, ?)",
                     ("ab" * 32, "key:" + "ab" * 8, name, 1.0))
    (old,) = roster.students()
    assert old.display_name == name  # the class file is left as it is (an older cnnviz still reads it)
    for owners in ([(old.user_id, name)], [(old.user_id, name), ("teacher", "Teacher")]):
        got = roster.shown_names(owners)[old.user_id, name]
        assert got == f"{shown} ({roster._tag(old.user_id, roster.TAG_DIGITS)})", got
    assert roster.shown_names([("teacher", "Teacher")]) == {("teacher", "Teacher"): "Teacher"}
