"""Run owners enforced in the store: two students and a teacher in one CNNVIZ_HOME (issue 14).

Runs are written by hand (:mod:`tests.support.runfolders`, no Keras): only their config's owner differs.
"""

from __future__ import annotations

import contextlib
import json
import threading

import pytest

from cnnviz import storage
from cnnviz.classroom import roster, settings
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.runs import schema
from cnnviz.runs import store as runs
from tests.support.runfolders import GOOD_CONFIG, write_damaged, write_run

A_RUN, B_RUN, OLD_RUN, BROKEN = ("20260101-000000-0000000a", "20260101-000000-0000000b",
                                 "20250101-000000-000000c0", "20240101-000000-000000d0")


@pytest.fixture
def room(cnnviz_home):
    """Ann and Ben (students with keys), each with a run, and a run from before owners existed."""
    _, ann = roster.register("Ann")
    _, ben = roster.register("Ben")
    for run_id, who in ((A_RUN, ann), (B_RUN, ben)):
        write_run(cnnviz_home, run_id, config={**GOOD_CONFIG, "owner": who.user_id, "owner_name": who.display_name})
    write_run(cnnviz_home, OLD_RUN)
    return ann, ben


def _files(home, run_id) -> dict[str, bytes]:
    folder = home / "runs" / run_id
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_each_student_lists_and_loads_only_their_own(room):
    ann, ben = room
    assert [r.run_id for r in runs.list_runs(ann)] == [A_RUN]
    assert [r.run_id for r in runs.list_runs(ben)] == [B_RUN]
    assert runs.load_run(A_RUN, ann).owner_name == "Ann"
    missing = "20260101-000000-0000000f"
    with pytest.raises(runs.RunNotFound) as hidden:
        runs.load_run(A_RUN, ben)
    with pytest.raises(runs.RunNotFound) as absent:
        runs.load_run(missing, ben)
    assert str(hidden.value) == str(absent.value).replace(missing, A_RUN)  # word for word "not found"


def test_the_teacher_sees_everyone_and_old_runs_are_the_teachers(room):
    teacher = local_teacher()
    assert {r.run_id for r in runs.list_runs(teacher)} == {A_RUN, B_RUN, OLD_RUN}
    assert runs.list_runs() == runs.list_runs(teacher)  # no viewer: the command line, as the teacher
    old = runs.load_run(OLD_RUN)
    assert (old.owner, old.owner_name) == ("teacher", "Teacher")
    assert OLD_RUN not in {r.run_id for r in runs.list_runs(room[0])}


def test_a_students_delete_of_anothers_run_is_refused_and_changes_nothing(room, cnnviz_home):
    ann, ben = room
    before = _files(cnnviz_home, A_RUN)
    with pytest.raises(runs.RunNotFound):  # B cannot even see it
        runs.delete_run(A_RUN, by=ben)
    settings.share_run(A_RUN, by=local_teacher())
    with pytest.raises(NotAllowed) as err:  # shared: B sees it, may still not delete it
        runs.delete_run(A_RUN, by=ben)
    assert A_RUN in str(err.value) and "Ben may not delete run" in str(err.value)
    settings.set_class_sees_all(True, by=local_teacher())
    old_before = _files(cnnviz_home, OLD_RUN)
    with pytest.raises(NotAllowed):  # the teacher's run, seen by everyone
        runs.delete_run(OLD_RUN, by=ben)
    assert _files(cnnviz_home, A_RUN) == before and _files(cnnviz_home, OLD_RUN) == old_before


def test_owners_and_the_teacher_delete(room, cnnviz_home):
    ann, _ = room
    runs.delete_run(A_RUN, by=ann)
    runs.delete_run(B_RUN, by=local_teacher())
    assert [r.run_id for r in runs.list_runs()] == [OLD_RUN]


def test_the_owner_and_the_teacher_deleting_one_run_at_once_get_deleted_and_not_found(room, monkeypatch):
    """Both clicks pass the "is it there" check before either removes anything (the barrier holds them at
    the writers' lock): one deletes the run, the other is told it is gone, never an internal error."""
    ann, _ = room
    both_checked = threading.Barrier(2, timeout=30)
    shared_lock = storage.shared_lock

    @contextlib.contextmanager
    def after_both_checked(path):
        both_checked.wait()
        with shared_lock(path) as held:
            yield held

    monkeypatch.setattr(storage, "shared_lock", after_both_checked)
    outcomes = {}

    def delete(who):
        try:
            runs.delete_run(A_RUN, by=who)
            outcomes[who.display_name] = "deleted"
        except Exception as err:  # noqa: BLE001 - what each click would show
            outcomes[who.display_name] = err

    clicks = [threading.Thread(target=delete, args=(who,)) for who in (ann, local_teacher())]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(60)
    assert sorted(outcomes) == ["Ann", "Teacher"]
    said = [o for o in outcomes.values() if o != "deleted"]
    assert len(said) == 1 and isinstance(said[0], runs.RunNotFound), outcomes
    assert A_RUN in str(said[0])
    assert A_RUN not in {r.run_id for r in runs.list_runs()}


def test_shared_runs_and_the_whole_class_setting(room):
    ann, ben = room
    settings.share_run(A_RUN, by=local_teacher())
    assert [r.run_id for r in runs.list_runs(ben)] == [B_RUN, A_RUN]
    assert runs.load_run(A_RUN, ben).owner_name == "Ann"
    settings.share_run(A_RUN, False, by=local_teacher())
    settings.set_class_sees_all(True, by=local_teacher())
    assert {r.run_id for r in runs.list_runs(ben)} == {A_RUN, B_RUN, OLD_RUN}


def test_damaged_runs_are_the_teachers(room, cnnviz_home):
    _, ben = room
    write_damaged(cnnviz_home, BROKEN, "config is a list")
    assert [d.run_id for d in runs.damaged_runs()] == [BROKEN]
    assert runs.damaged_runs(ben) == []
    with pytest.raises(NotAllowed, match=f"Ben may not delete run {BROKEN}: it is damaged"):
        runs.delete_run(BROKEN, by=ben)
    runs.delete_run(BROKEN, by=local_teacher())
    assert runs.damaged_runs() == []


@pytest.mark.parametrize("owner", [7, "", "x" * 201, ["key:a"]])
def test_an_owner_that_is_not_text_makes_the_run_damaged(owner, cnnviz_home):
    write_run(cnnviz_home, A_RUN, config={**GOOD_CONFIG, "owner": owner})
    assert [d.run_id for d in runs.damaged_runs()] == [A_RUN]
    assert "owner as" in runs.damaged_runs()[0].reason
    with pytest.raises(schema.RunDamaged, match="owner name"):
        schema.check_config(json.loads(json.dumps({**GOOD_CONFIG, "owner_name": 3})))
