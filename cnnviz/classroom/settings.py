"""What the teacher shares with the class (``class.sqlite3``): single runs, every run, the results table.

Reading is open to everyone (the run store filters with it); every setter takes the acting
:class:`~cnnviz.classroom.people.Person` and refuses anyone but the teacher with
:class:`~cnnviz.classroom.policy.NotAllowed`.
"""

from __future__ import annotations

import re
import time

from cnnviz.classroom import db, policy
from cnnviz.classroom.people import Person
from cnnviz.errors import InvalidArgument

CLASS_SEES_ALL = "class_sees_all_runs"
RESULTS_SHARED = "results_shared"
#: Shared run ids are checked for shape only (the run store owns the exact pattern).
_RUN_ID = re.compile(r"\A[0-9A-Za-z-]{1,64}\Z")


def _flag(name: str) -> bool:
    if not db.path().exists():
        return False
    with db.connect() as conn:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (name,)).fetchone()
    return bool(row) and row["value"] == "1"


def _set_flag(name: str, value: object, by: Person, what: str) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{what} is on or off (True or False), got {value!r}")
    policy.check_teacher(by, f"change whether {what}")
    with db.connect(write=True) as conn:
        conn.execute("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                     "value = excluded.value", (name, "1" if value else "0"))


def class_sees_all() -> bool:
    """Whether every student sees every run (read-only)."""
    return _flag(CLASS_SEES_ALL)


def set_class_sees_all(value: bool, *, by: Person) -> None:
    _set_flag(CLASS_SEES_ALL, value, by, "the class sees all runs")


def results_shared() -> bool:
    """Whether students see the class's results table."""
    return _flag(RESULTS_SHARED)


def set_results_shared(value: bool, *, by: Person) -> None:
    _set_flag(RESULTS_SHARED, value, by, "the class sees the results table")


def shared_runs() -> frozenset[str]:
    """The ids of the runs the teacher shares with the class."""
    if not db.path().exists():
        return frozenset()
    with db.connect() as conn:
        return frozenset(r["run_id"] for r in conn.execute("SELECT run_id FROM shared_runs"))


def share_run(run_id: object, shared: bool = True, *, by: Person) -> None:
    """Share run ``run_id`` with the class (read-only for them), or stop sharing it (``shared=False``)."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidArgument(f"a run id is letters, digits and dashes, got {run_id!r}")
    if not isinstance(shared, bool):
        raise InvalidArgument(f"shared is True or False, got {shared!r}")
    policy.check_teacher(by, f"{'share' if shared else 'unshare'} run {run_id}")
    with db.connect(write=True) as conn:
        if shared:
            conn.execute("INSERT OR IGNORE INTO shared_runs (run_id, at) VALUES (?, ?)", (run_id, time.time()))
        else:
            conn.execute("DELETE FROM shared_runs WHERE run_id = ?", (run_id,))


def runs_visible(viewer: Person | None, runs: list[tuple[str, str]]) -> list[bool]:
    """Whether ``viewer`` may see each run, given as ``(owner user id, run id)`` (None: the teacher).

    The sharing settings are read once, and only when a student looks at someone else's run.
    """
    if viewer is None or viewer.is_teacher or all(policy.owner_or_teacher(o) == viewer.user_id for o, _ in runs):
        return [True] * len(runs)
    shared, everyone = shared_runs(), class_sees_all()
    return [policy.can_view(viewer, owner, shared=run_id in shared, class_sees_all=everyone) for owner, run_id in runs]
