"""Who imported which folder dataset, and who may see and remove it.

Built-in datasets (CIFAR-10, digits, ...) are everyone's. A dataset imported from a zip belongs to
whoever imported it (recorded in ``class.sqlite3``); one imported before owners existed, or by the
teacher, belongs to the teacher and is offered to the whole class (the teacher prepares data for
everyone). A student's own datasets are offered to them and the teacher only.
"""

from __future__ import annotations

from cnnviz.classroom import db, policy
from cnnviz.classroom.people import TEACHER_OWNER, Person


def owner(name: str) -> str:
    """The user id of whoever imported dataset ``name`` (the teacher when nobody is recorded)."""
    if not db.path().exists():
        return TEACHER_OWNER
    with db.connect() as conn:
        row = conn.execute("SELECT owner FROM dataset_owners WHERE name = ?", (name,)).fetchone()
    return TEACHER_OWNER if row is None else row["owner"]


def owners() -> dict[str, str]:
    """``{dataset name: owner's user id}`` of every recorded import."""
    if not db.path().exists():
        return {}
    with db.connect() as conn:
        return {r["name"]: r["owner"] for r in conn.execute("SELECT name, owner FROM dataset_owners")}


def record(name: str, person: Person | None) -> None:
    """Note that ``person`` imported ``name`` (None: the teacher, who needs no record)."""
    with db.connect(write=True) as conn:
        if person is None or person.user_id == TEACHER_OWNER:
            conn.execute("DELETE FROM dataset_owners WHERE name = ?", (name,))
            return
        conn.execute("INSERT INTO dataset_owners (name, owner, owner_name) VALUES (?, ?, ?) ON CONFLICT (name) "
                     "DO UPDATE SET owner = excluded.owner, owner_name = excluded.owner_name",
                     (name, person.user_id, person.display_name))


def forget(name: str) -> None:
    if db.path().exists():
        with db.connect(write=True) as conn:
            conn.execute("DELETE FROM dataset_owners WHERE name = ?", (name,))


def visible(names: list[str], viewer: Person | None, builtin: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The names in ``names`` that ``viewer`` may use (None or the teacher: all of them)."""
    if viewer is None or viewer.is_teacher:
        return list(names)
    recorded = owners()
    return [n for n in names if n in builtin or recorded.get(n, TEACHER_OWNER) in (TEACHER_OWNER, viewer.user_id)]


def trains_for(name: str, job_owner: str, queued_owner: str | None = None) -> bool:
    """Whether a job of ``job_owner`` (a user id) may train on stored dataset ``name`` now (the name may have
    been freed and taken by someone else since the job was queued). ``queued_owner``, whoever had imported
    ``name`` when the job was queued (the job table keeps it), must still own it; a job queued without it
    follows the rule of who may use what: built-ins and the teacher's imports are everyone's, a student's
    import theirs and the teacher's."""
    if not name.startswith("folder:"):
        return True
    if queued_owner is not None:
        return owner(name) == queued_owner
    return job_owner == TEACHER_OWNER or owner(name) in (TEACHER_OWNER, job_owner)


def check_change(name: str, by: Person | None, action: str) -> None:
    """Raise :class:`~cnnviz.classroom.policy.NotAllowed` unless ``by`` imported ``name`` or is the teacher."""
    if by is not None:
        policy.check_change(by, owner(name), f"{action} dataset {name}")
