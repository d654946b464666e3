"""Policy: who may see and change a thing, and refusals that say what and why."""

from __future__ import annotations

import pytest

from cnnviz.classroom import policy
from cnnviz.classroom.people import Person, local_teacher
from cnnviz.errors import CnnvizError

ANN = Person("key:aaaa", "Ann", False, "key")
BEN = Person("key:bbbb", "Ben", False, "key")


def test_owners_and_the_teacher_see_and_change():
    assert policy.can_view(ANN, "key:aaaa") and policy.can_change(ANN, "key:aaaa")
    assert policy.can_view(local_teacher(), "key:aaaa") and policy.can_change(local_teacher(), "key:aaaa")
    assert not policy.can_view(BEN, "key:aaaa") and not policy.can_change(BEN, "key:aaaa")


def test_shared_things_are_seen_not_changed():
    assert policy.can_view(BEN, "key:aaaa", shared=True) and policy.can_view(BEN, "key:aaaa", class_sees_all=True)
    assert not policy.can_change(BEN, "key:aaaa")


def test_things_without_an_owner_are_the_teachers():
    assert policy.owner_or_teacher(None) == policy.owner_or_teacher("") == "teacher"
    assert not policy.can_view(ANN, None) and policy.can_view(local_teacher(), None)


def test_refusals_say_who_what_and_why():
    with pytest.raises(policy.NotAllowed) as err:
        policy.check_change(BEN, "key:aaaa", "delete run 20250101-120000-0123abcd")
    assert isinstance(err.value, CnnvizError)
    assert str(err.value) == ("Ben may not delete run 20250101-120000-0123abcd: it belongs to someone else, and only "
                              "its owner or the teacher can change it.")
    policy.check_change(ANN, "key:aaaa", "delete run x")  # no refusal
    with pytest.raises(policy.NotAllowed, match="Ann may not share run 1: only the teacher can."):
        policy.check_teacher(ANN, "share run 1")
    policy.check_teacher(local_teacher(), "share run 1")
