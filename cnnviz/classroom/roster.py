"""Students without accounts: a display name and a private random key (kept in the page URL).

Only a hash of each key is stored (``class.sqlite3``): whoever reads the file cannot become a
student. Keys come from :func:`secrets.token_urlsafe` (32 random bytes), so a plain SHA-256 is
enough (no password stretching needed for a key nobody chose).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
import unicodedata
from collections.abc import Iterable

from cnnviz.classroom import db, people
from cnnviz.classroom.people import Person
from cnnviz.errors import InvalidArgument

log = logging.getLogger("cnnviz.classroom")

NAME_MIN, NAME_MAX = 2, people.NAME_MAX
KEY_BYTES = 32
#: Hex digits of the key's hash in the user id: 64 bits, unique within any class.
SHORT_HASH = 16
#: A key is URL-safe base64 text of about 43 characters; anything much longer is not a key.
KEY_MAX = 128
#: Hex digits of the tag that tells apart people who share a name ("Ann (3f2a)"; more when two tags meet).
TAG_DIGITS = 4


def clean_name(name: object) -> str:
    """A display name stripped and checked: 2 to 40 printable characters, not the teacher's own name.

    Raises:
        InvalidArgument: saying what was received and why it is refused.
    """
    if not isinstance(name, str):
        raise InvalidArgument(f"a name must be text, got {name!r}")
    text = " ".join(unicodedata.normalize("NFC", name).split())  # inner runs of spaces become one
    if not NAME_MIN <= len(text) <= NAME_MAX:
        raise InvalidArgument(f"a name needs {NAME_MIN} to {NAME_MAX} characters, got {len(text)} ({text[:60]!r})")
    if not text.isprintable():
        raise InvalidArgument(f"a name may hold only printable characters, got {text!r}")
    refused = {ch for ch in text if people.refused_in_names(ch)}  # markup, and brackets: "Ann （3f2a）" is no tag
    if refused:
        shown = " ".join(sorted(refused))
        raise InvalidArgument(f"a name may hold letters, digits, spaces and . - ' , but {text!r} has {shown}")
    if text[0] in people.FORMULA_START:
        raise InvalidArgument(f"a name may not start with = + - @ (a spreadsheet would take it for a formula), "
                              f"got {text!r}")
    if people.looks_like_teacher(text):  # "TEACHER", "Ｔｅａｃｈｅｒ", "Tеacher" with a Cyrillic е
        raise InvalidArgument(f"{text!r} is the teacher's name: choose your own")
    return text


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _person(digest: str, name: str) -> Person:
    return Person(f"key:{digest[:SHORT_HASH]}", name, False, "key")


def register(name: object) -> tuple[str, Person]:
    """Add a student called ``name``; returns their private key (shown once, put in their URL) and them."""
    display = clean_name(name)
    for _ in range(5):  # two keys sharing 64 bits of hash: practically never; try another, never merge
        key = secrets.token_urlsafe(KEY_BYTES)
        digest = key_hash(key)
        person = _person(digest, display)
        with db.connect(write=True) as conn:
            if conn.execute("SELECT 1 FROM students WHERE user_id = ?", (person.user_id,)).fetchone():
                continue
            conn.execute("INSERT INTO students (key_hash, user_id, display_name, created) VALUES (?, ?, ?, ?)",
                         (digest, person.user_id, display, time.time()))
        log.info("registered student %s", person.user_id)  # never the key
        return key, person
    raise RuntimeError("could not make a unique student key")  # pragma: no cover - astronomically unlikely


def lookup(key: object) -> Person | None:
    """The student whose private key is ``key``, or None (an unknown, malformed or empty key)."""
    if not isinstance(key, str) or not key or len(key) > KEY_MAX:
        return None
    digest = key_hash(key)
    if not db.path().exists():
        return None
    with db.connect() as conn:
        row = conn.execute("SELECT display_name FROM students WHERE key_hash = ?", (digest,)).fetchone()
    return None if row is None else _person(digest, row["display_name"])


def students() -> list[Person]:
    """Every registered student, oldest first (for the teacher's Class page)."""
    if not db.path().exists():
        return []
    with db.connect() as conn:
        rows = conn.execute("SELECT user_id, display_name FROM students ORDER BY created").fetchall()
    return [Person(r["user_id"], r["display_name"], False, "key") for r in rows]


def _tag(user_id: str, digits: int) -> str:
    """A short tag of ``user_id``: a hash of it, so it tells nothing of a student's key (their user id is already a
    hash of it) nor of an account's e-mail address."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:digits]


def shown_names(owners: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """``{(user id, display name): name to show}`` for the owners of runs or jobs: a name that reads the same as
    another person's (:func:`cnnviz.classroom.people.skeleton`), among these owners or the registered students, gets
    a short stable tag of each one's user id, "Ann (3f2a)", the same on every page (one person under two names, the
    teacher on a page and on the command line, keeps both). Names hold no bracket of any script (:func:`clean_name`,
    :func:`cnnviz.classroom.people.without_markup`): nobody can type another's tag. A name kept from an older
    cnnviz that the checks now refuse is shown as one allowed now, with its tag (:func:`_allowed_now`).
    """
    wanted = set(owners)
    everyone = wanted | {(p.user_id, p.display_name) for p in students()}
    allowed = {pair: _allowed_now(*pair) for pair in everyone}
    alike: dict[str, set[str]] = {}
    for pair in everyone:
        alike.setdefault(people.skeleton(allowed[pair]), set()).add(pair[0])
    shown = {}
    for user_id, name in wanted:
        text = allowed[user_id, name]
        group = alike[people.skeleton(text)]
        if len(group) == 1 and text == name:
            shown[user_id, name] = name
            continue
        digits = next(d for d in range(TAG_DIGITS, 65) if len({_tag(u, d) for u in group}) == len(group))
        shown[user_id, name] = f"{text} ({_tag(user_id, digits)})"
    return shown


def _allowed_now(user_id: str, name: str) -> str:
    """``name`` as a name given now may read. Names are checked when they are given (:func:`clean_name`, a
    provider's through :func:`cnnviz.classroom.people.account_person`), but the class file and the runs keep the
    names older versions took: a formula ("=1+1"), brackets that write another's tag ("Ann （3f2a）"), the teacher's
    name in look-alike letters ("Tеacher"). Such a name is shown as a provider's would be (markup, brackets and a
    formula's start dropped; never as the teacher's: "Student"), and always with its tag (:func:`shown_names`)."""
    if user_id == people.TEACHER_OWNER or (people.without_markup(name) == name
                                           and not people.looks_like_teacher(name)):
        return name  # the teacher's own ("ada@lab (command line)" on the command line), or a name allowed now
    text = people.without_markup(name)
    return "Student" if len(text) < NAME_MIN or people.looks_like_teacher(text) else text[:NAME_MAX]


def shown_name(person: Person) -> str:
    """``person``'s name as the teacher's pages show it (:func:`shown_names`): "Ann (3f2a)" while another registered
    student reads as "Ann", so that Ann knows which "Ann" the teacher means."""
    return shown_names([(person.user_id, person.display_name)])[person.user_id, person.display_name]
