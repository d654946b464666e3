"""Class settings: only the teacher shares runs, the whole run list or the results table; everyone reads them."""

from __future__ import annotations

import pytest

from cnnviz.classroom import settings
from cnnviz.classroom.people import Person, local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.errors import InvalidArgument

ANN = Person("key:aaaa", "Ann", False, "key")
BEN = Person("key:bbbb", "Ben", False, "key")
RUN = "20250101-120000-0123abcd"


def test_nothing_is_shared_at_first(cnnviz_home):
    assert not settings.class_sees_all() and not settings.results_shared() and settings.shared_runs() == set()


def test_the_teacher_shares_and_unshares():
    teacher = local_teacher()
    settings.set_class_sees_all(True, by=teacher)
    settings.set_results_shared(True, by=teacher)
    settings.share_run(RUN, by=teacher)
    settings.share_run(RUN, by=teacher)  # twice is once
    assert settings.class_sees_all() and settings.results_shared() and settings.shared_runs() == {RUN}
    settings.set_class_sees_all(False, by=teacher)
    settings.share_run(RUN, False, by=teacher)
    assert not settings.class_sees_all() and settings.shared_runs() == set()


def test_students_may_not_change_what_the_class_sees():
    with pytest.raises(NotAllowed, match="Ann may not change whether the class sees all runs: only the teacher can."):
        settings.set_class_sees_all(True, by=ANN)
    with pytest.raises(NotAllowed, match=f"Ann may not share run {RUN}: only the teacher can."):
        settings.share_run(RUN, by=ANN)
    with pytest.raises(NotAllowed, match="results table"):
        settings.set_results_shared(True, by=ANN)
    assert not settings.class_sees_all() and settings.shared_runs() == set() and not settings.results_shared()


def test_arguments_are_checked_first():
    with pytest.raises(InvalidArgument, match="a run id is letters, digits and dashes, got '../x'"):
        settings.share_run("../x", by=local_teacher())
    with pytest.raises(InvalidArgument, match="is on or off .* got 'yes'"):
        settings.set_class_sees_all("yes", by=local_teacher())


def test_who_sees_which_run():
    runs = [("key:aaaa", "r1"), ("key:bbbb", "r2"), ("teacher", "r3")]
    assert settings.runs_visible(None, runs) == [True, True, True]
    assert settings.runs_visible(local_teacher(), runs) == [True, True, True]
    assert settings.runs_visible(ANN, runs) == [True, False, False]
    settings.share_run("r3", by=local_teacher())
    assert settings.runs_visible(BEN, runs) == [False, True, True]
    settings.set_class_sees_all(True, by=local_teacher())
    assert settings.runs_visible(BEN, runs) == [True, True, True]
