"""Who may see and change what: the rules every backend call that reads or changes someone's things follows.

Owners are user ids (:class:`~cnnviz.classroom.people.Person`). Anything without an owner belongs
to :data:`~cnnviz.classroom.people.TEACHER_OWNER`. The teacher sees and changes everything; a
student sees their own, the runs the teacher shares (or every run, when the class sees all runs),
and changes only their own.
"""

from __future__ import annotations

from cnnviz.classroom.people import TEACHER_OWNER, Person
from cnnviz.errors import CnnvizError


class NotAllowed(CnnvizError):
    """This person may not do that; the message says what was refused and why."""


def owner_or_teacher(owner: object) -> str:
    """The owner's user id, :data:`TEACHER_OWNER` for things made before ownership existed."""
    return owner if isinstance(owner, str) and owner else TEACHER_OWNER


def can_view(person: Person, owner: object, *, shared: bool = False, class_sees_all: bool = False) -> bool:
    """Whether ``person`` may see a thing of ``owner`` (their own, a shared one, or everything as teacher)."""
    return person.is_teacher or person.user_id == owner_or_teacher(owner) or shared or class_sees_all


def can_change(person: Person, owner: object) -> bool:
    """Whether ``person`` may change or delete a thing of ``owner``: its owner or the teacher."""
    return person.is_teacher or person.user_id == owner_or_teacher(owner)


def check_change(person: Person, owner: object, action: str) -> None:
    """Raise :class:`NotAllowed` unless ``person`` may change a thing of ``owner``.

    Args:
        action: what was refused, naming the thing with its id, e.g. ``"delete run 20250101-120000-0123abcd"``.
    """
    if not can_change(person, owner):
        raise NotAllowed(f"{person.display_name} may not {action}: it belongs to someone else, and only its "
                         "owner or the teacher can change it.")


def check_teacher(person: Person, action: str) -> None:
    """Raise :class:`NotAllowed` unless ``person`` is the teacher."""
    if not person.is_teacher:
        raise NotAllowed(f"{person.display_name} may not {action}: only the teacher can.")
