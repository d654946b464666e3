"""People: the Person contract, the teacher checks (password in constant time, e-mail list) and classroom mode."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from cnnviz.classroom import people
from cnnviz.classroom.people import TEACHER_OWNER, Person
from cnnviz.errors import InvalidArgument
from tests.conftest import REPO

CLASS_ENVS = (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV)


@pytest.fixture(autouse=True)
def _no_class_env(monkeypatch):
    for name in CLASS_ENVS:
        monkeypatch.delenv(name, raising=False)


def test_the_local_teacher_and_the_cli_own_what_came_before():
    assert people.local_teacher() == Person(TEACHER_OWNER, "Teacher", True, "local")
    assert people.cli_person().user_id == TEACHER_OWNER and people.cli_person().is_teacher


def test_a_person_refuses_an_empty_id_and_an_unknown_kind():
    with pytest.raises(InvalidArgument, match="a person needs a user id, got ''"):
        Person("", "x", False, "key")
    with pytest.raises(InvalidArgument, match="kind must be one of account, key, local, cli, got 'robot'"):
        Person("key:1", "x", False, "robot")


def test_accounts_are_teachers_when_their_address_is_listed(monkeypatch):
    monkeypatch.setenv(people.TEACHERS_ENV, " Ada@School.org , bob@school.org,")
    assert people.teacher_emails() == {"ada@school.org", "bob@school.org"}
    ada = people.account_person("ADA@school.org", "Ada L.")
    assert ada == Person("account:ada@school.org", "Ada L.", True, "account")
    eve = people.account_person("eve@school.org")
    assert eve == Person("account:eve@school.org", "eve@school.org", False, "account")
    with pytest.raises(InvalidArgument, match="an account needs an e-mail address, got 'nobody'"):
        people.account_person("nobody")


def test_the_teacher_password_is_compared_and_never_logged(monkeypatch, caplog):
    assert not people.check_teacher_password("anything")  # none set: nobody is the teacher by password
    monkeypatch.setenv(people.PASSWORD_ENV, "s3cret-Ω")
    with caplog.at_level(logging.DEBUG):
        assert people.check_teacher_password("s3cret-Ω")
        assert not people.check_teacher_password("s3cret")
        assert not people.check_teacher_password("")
        assert not people.check_teacher_password(None)
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_teacher_password_lets_nobody_in_and_keeps_a_classroom(monkeypatch, blank):
    # CNNVIZ_TEACHER_PASSWORD=$UNSET_VARIABLE made a laptop (every student the teacher); a stray space was a password
    # any student guesses.
    monkeypatch.setenv(people.PASSWORD_ENV, blank)
    assert people.classroom_mode()
    assert not people.teacher_password_set() and people.teacher_password_blank()
    assert not people.check_teacher_password(blank) and not people.check_teacher_password(" ")


def test_user_ids_are_told_from_the_old_session_owners():
    assert people.is_user_id("teacher") and people.is_user_id("key:0123") and people.is_user_id("account:a@b")
    assert not people.is_user_id("session 12ab") and not people.is_user_id("process 7") and not people.is_user_id(None)


@pytest.mark.parametrize("env", CLASS_ENVS)
def test_any_class_setting_makes_a_classroom(monkeypatch, env):
    assert not people.classroom_mode()
    assert people.classroom_mode(auth_configured=True)
    monkeypatch.setenv(env, "1")
    assert people.classroom_mode()


def test_classroom_flag_off_is_a_laptop(monkeypatch):
    monkeypatch.setenv(people.CLASSROOM_ENV, "0")
    assert not people.classroom_mode()


def test_an_account_name_from_the_provider_loses_its_markup():
    ann = people.account_person("ann@school.org", "[Ann](http://x.example) :material/warning: **A**")
    assert ann.display_name == "Annhttp//x.example material/warning A"
    assert people.account_person("bo@school.org", "**").display_name == "bo@school.org"


@pytest.mark.parametrize("name", ["Teacher", "TEACHER", "T\u0435acher", "\uff34\uff45\uff41\uff43\uff48\uff45\uff52"])
def test_an_account_name_from_the_provider_is_not_the_teachers(name):
    # A student's own profile name "Teacher" made their runs and trainings read as the teacher's.
    assert people.account_person("eve@school.org", name).display_name == "eve@school.org"
    assert people.account_person("eve@school.org", "Teachers' pet").display_name == "Teachers' pet"


def test_a_long_account_name_from_the_provider_is_cut_and_its_runs_stay_readable(cnnviz_home):
    # A 10,000-character profile name was kept whole: each run its owner trained then read as damaged (the run
    # store takes owner names of up to 200 characters), so the student lost sight of all of them.
    from cnnviz.runs import store
    from tests.support.runfolders import GOOD_CONFIG, write_run

    ann = people.account_person("ann@school.org", "Ann " + "x" * 10_000)
    assert ann.display_name == "Ann " + "x" * (people.NAME_MAX - 5) + "…"
    write_run(cnnviz_home, "20260101-000000-0000a11e",
              config={**GOOD_CONFIG, "owner": ann.user_id, "owner_name": ann.display_name})
    assert [r.run_id for r in store.list_runs(ann)] == ["20260101-000000-0000a11e"] and not store.damaged_runs()


def test_an_account_name_from_the_provider_does_not_start_as_a_formula():
    """A spreadsheet computes a cell starting with = + - @ (the teacher's CSV of the class's results)."""
    assert people.account_person("ann@school.org", "=1+1 Ann").display_name == "1+1 Ann"
    assert people.account_person("bo@school.org", " @-+Bo").display_name == "Bo"
    assert people.account_person("cy@school.org", "=").display_name == "cy@school.org"


def test_wrong_teacher_passwords_are_limited_per_minute_for_the_whole_server(monkeypatch, caplog):
    # A script could try thousands of passwords a minute, from as many sessions as it likes.
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    clock = [1000.0]
    monkeypatch.setattr(people.time, "time", lambda: clock[0])
    with caplog.at_level(logging.WARNING):
        for guess in range(people.WRONG_PASSWORDS_PER_MINUTE):
            clock[0] += 1
            assert not people.check_teacher_password(f"guess-{guess}")
    assert "10 wrong teacher passwords in a minute" in caplog.text and "guess-" not in caplog.text
    clock[0] += 20  # 30 s after the first wrong one: the right one is not even compared
    with pytest.raises(people.TooManyGuesses, match="10 wrong teacher passwords reached this server in the last "
                                                    "minute, so none is checked for now: try again in 31 s."):
        people.check_teacher_password("pass-1234")
    clock[0] += 31  # the first wrong one is a minute old: one more try
    assert people.check_teacher_password("pass-1234")
    assert not people.check_teacher_password("wrong again")
    with pytest.raises(people.TooManyGuesses):
        people.check_teacher_password("pass-1234")


#: Another Streamlit process of the same classroom server (README: several processes behind a proxy, one
#: CNNVIZ_HOME) at the same wall-clock time: ``argv[1]`` wrong passwords, then the right one.
_OTHER_PROCESS = """
import sys, time
from cnnviz.classroom import people
time.time = lambda: float(sys.argv[2])
print(*(people.check_teacher_password(f"other-{i}") for i in range(int(sys.argv[1]))))
try:
    print(people.check_teacher_password("pass-1234"))
except people.TooManyGuesses as err:
    print(err)
"""


def test_wrong_teacher_passwords_are_counted_once_for_all_the_servers_processes(monkeypatch):
    # Counted in each process's memory, a guesser behind the proxy got the limit once per process.
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    now = 1_900_000_000.0
    monkeypatch.setattr(people.time, "time", lambda: now)
    half = people.WRONG_PASSWORDS_PER_MINUTE // 2
    for guess in range(half):
        assert not people.check_teacher_password(f"guess-{guess}")
    other = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, str(people.WRONG_PASSWORDS_PER_MINUTE - half),
                            str(now)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    guesses, refused = other.stdout.splitlines()
    assert guesses.split() == ["False"] * (people.WRONG_PASSWORDS_PER_MINUTE - half)
    assert refused == ("10 wrong teacher passwords reached this server in the last minute, so none is checked for "
                       "now: try again in 60 s.")
    with pytest.raises(people.TooManyGuesses, match="10 wrong teacher passwords reached this server"):
        people.check_teacher_password("pass-1234")  # and back in the first process


def test_an_account_name_from_the_provider_holds_no_brackets_to_forge_a_tag():
    # The teacher's pages tell two "Ann" apart as "Ann (3f2a)"; a profile name "Ann （3f2a）" would read as one.
    assert people.account_person("eve@school.org", "Ann \uff083f2a\uff09").display_name == "Ann 3f2a"
    assert people.account_person("eve@school.org", "Ann \u27683f2a\u2769").display_name == "Ann 3f2a"


def test_a_class_file_from_before_the_shared_count_keeps_its_students_and_counts(cnnviz_home, monkeypatch):
    # Schema 1 had no wrong_passwords table: a server upgraded in the middle of a term opens the old file.
    import sqlite3

    from cnnviz.classroom import db, roster

    cnnviz_home.mkdir(parents=True)
    with sqlite3.connect(db.path()) as conn:
        conn.execute("CREATE TABLE students (key_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE, "
                     "display_name TEXT NOT NULL, created REAL NOT NULL)")
        conn.execute("INSERT INTO students VALUES ('ab', 'key:ab', 'Ann', 1.0)")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    monkeypatch.setenv(people.PASSWORD_ENV, "pass-1234")
    assert not people.check_teacher_password("wrong")
    assert [p.display_name for p in roster.students()] == ["Ann"]
    with sqlite3.connect(db.path()) as conn:
        assert conn.execute("SELECT count(*) FROM wrong_passwords").fetchone()[0] == 1
    conn.close()
