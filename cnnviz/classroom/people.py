"""The people the lab acts for: a :class:`Person` per session, the teacher checks, and classroom mode.

A laptop with nothing configured has one user, the local teacher (as before ownership existed);
a server becomes a classroom as soon as a teacher password, a teacher list, Streamlit sign-in
or ``CNNVIZ_CLASSROOM=1`` is set.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import time
import unicodedata
from dataclasses import dataclass

from cnnviz.classroom import db
from cnnviz.envflags import env_flag
from cnnviz.errors import CnnvizError, InvalidArgument

log = logging.getLogger("cnnviz.classroom")

#: The owner of everything made before ownership existed, and of what the local user or the CLI makes.
TEACHER_OWNER = "teacher"
TEACHER_NAME = "Teacher"
KINDS = ("account", "key", "local", "cli")
PASSWORD_ENV = "CNNVIZ_TEACHER_PASSWORD"
TEACHERS_ENV = "CNNVIZ_TEACHERS"
CLASSROOM_ENV = "CNNVIZ_CLASSROOM"
#: Characters that start Markdown, HTML, LaTeX or Streamlit's shortcodes: names are shown in captions
#: and tables, so a name holds none of them ("[x](http://…)" would be a link on every student's page).
MARKUP = frozenset("\\`*_[](){}<>$~|#!:")
#: The most characters of a display name: a student types at most this many (roster), and a longer name from a
#: sign-in provider is cut to it (a run keeps its owner's name, which the run store takes up to 200 characters).
NAME_MAX = 40
#: What a name may not start with: a spreadsheet computes such a cell as a formula (OWASP: CSV injection), and the
#: teacher downloads the tables that name people (the Class page's results, the Runs table) as CSV.
FORMULA_START = "=+-@"


#: Opening and closing brackets of every script (Unicode categories Ps, Pe: "（", "❨", "﴾"): a name holds none, so
#: that nobody can write a tag of :func:`cnnviz.classroom.roster.shown_names`, "Ann (3f2a)", into their own name.
BRACKETS = ("Ps", "Pe")
#: Characters a name may hold (printable) that show as nothing or a blank: Unicode's default-ignorable ones (Hangul
#: fillers, variation selectors, the combining grapheme joiner...) and the blank braille pattern. "Ann" with one
#: reads as "Ann": :func:`skeleton` drops them.
INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
                      + "".join(map(chr, [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])))
_DROP_INVISIBLE = dict.fromkeys(map(ord, INVISIBLE))


def refused_in_names(ch: str) -> bool:
    """Whether a name may not hold the character ``ch``: :data:`MARKUP`, a character that reads as one of them
    (NFKC: full-width "（", "⑴") or another bracket (:data:`BRACKETS`)."""
    return (ch in MARKUP or unicodedata.category(ch) in BRACKETS
            or not MARKUP.isdisjoint(unicodedata.normalize("NFKC", ch)))


#: Cyrillic and Greek letters that look like Latin ones (Unicode's confusables, the letters of names; lower case,
#: as :func:`str.casefold` leaves them): "Tеacher" with a Cyrillic "е" is shown as "Teacher".
LOOK_ALIKES = str.maketrans("асеһіјкмнортхувѕԁԛԝгαβεηικνορτυχ", "acehijkmhoptxybsdqwrabehiknoptux")


def skeleton(name: str) -> str:
    """How ``name`` reads on screen: any case, full-width letters (NFKC) and Cyrillic and Greek look-alikes
    (:data:`LOOK_ALIKES`) as one, :data:`INVISIBLE` characters left out; two names with one skeleton cannot be told
    apart by reading them."""
    folded = unicodedata.normalize("NFKC", name).casefold().translate(LOOK_ALIKES).translate(_DROP_INVISIBLE)
    return " ".join(folded.split())


def looks_like_teacher(name: str) -> bool:
    """Whether ``name`` reads as :data:`TEACHER_NAME` on screen (:func:`skeleton`)."""
    return skeleton(name) == skeleton(TEACHER_NAME)


def without_markup(text: str) -> str:
    """``text`` with the characters a name may not hold (:func:`refused_in_names`) dropped, spaces collapsed and no
    :data:`FORMULA_START` in front (for names from a sign-in provider)."""
    return " ".join("".join(ch for ch in text if not refused_in_names(ch) and ch.isprintable()).split()).lstrip(
        FORMULA_START + " ")


@dataclass(frozen=True)
class Person:
    """Who a backend call is made for.

    Attributes:
        user_id: stable and unique: ``"teacher"``, ``"account:<email>"`` or ``"key:<short hash>"``.
        display_name: how the class sees them.
        is_teacher: may see and change everything.
        kind: ``"account"`` (signed in), ``"key"`` (a private key in the URL), ``"local"`` (the laptop
            user, or the teacher by password) or ``"cli"`` (the command line).
    """

    user_id: str
    display_name: str
    is_teacher: bool
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.user_id, str) or not self.user_id.strip():
            raise InvalidArgument(f"a person needs a user id, got {self.user_id!r}")
        if self.kind not in KINDS:
            raise InvalidArgument(f"a person's kind must be one of {', '.join(KINDS)}, got {self.kind!r}")


def is_user_id(text: object) -> bool:
    """Whether ``text`` is a person's user id (jobs queued before owners existed name a session instead)."""
    return isinstance(text, str) and (text == TEACHER_OWNER or text.startswith(("account:", "key:")))


def local_teacher() -> Person:
    """The one user of a laptop (and the teacher who entered the password): owns the old runs."""
    return Person(TEACHER_OWNER, TEACHER_NAME, True, "local")


def cli_person() -> Person:
    """The command line: acts as the teacher (whoever can run it can read ``CNNVIZ_HOME`` anyway)."""
    return Person(TEACHER_OWNER, TEACHER_NAME, True, "cli")


def owner_fields(owner: Person | str | None) -> tuple[str, str]:
    """``(user id, display name)`` of a job's owner: a Person, a plain text owner (its own display name) or None (the
    local teacher)."""
    if isinstance(owner, Person):
        return owner.user_id, owner.display_name
    if owner is None:
        teacher = local_teacher()
        return teacher.user_id, teacher.display_name
    return owner, owner


def account_person(email: str, name: str = "") -> Person:
    """A signed-in account; a teacher when its e-mail is in :func:`teacher_emails`."""
    if not isinstance(email, str) or "@" not in email:
        raise InvalidArgument(f"an account needs an e-mail address, got {email!r}")
    address = email.strip().lower()
    shown = without_markup(name or "")  # the provider's name is the student's to choose: not the teacher's
    if len(shown) > NAME_MAX:  # 10,000 characters in a profile: every run of theirs read as damaged
        shown = shown[:NAME_MAX - 1].rstrip() + "…"
    shown = address if not shown or looks_like_teacher(shown) else shown
    return Person(f"account:{address}", shown, address in teacher_emails(), "account")


def teacher_emails() -> frozenset[str]:
    """The teachers' e-mail addresses from ``$CNNVIZ_TEACHERS`` (comma-separated, any case)."""
    return frozenset(e.strip().lower() for e in os.environ.get(TEACHERS_ENV, "").split(",") if e.strip())


def teacher_password_set() -> bool:
    """Whether a usable teacher password is set: ``$CNNVIZ_TEACHER_PASSWORD`` holding more than spaces."""
    return bool(os.environ.get(PASSWORD_ENV, "").strip())


def teacher_password_blank() -> bool:
    """Whether ``$CNNVIZ_TEACHER_PASSWORD`` is set but empty or only spaces (``=$UNSET_VARIABLE``, a stray space): a
    mistake, not a password anyone could guess by typing a space. The server stays a classroom, with no teacher
    by password."""
    return PASSWORD_ENV in os.environ and not teacher_password_set()


#: Wrong teacher passwords the server takes in a minute before it compares none for a while: a script from a
#: student's laptop could otherwise try thousands a minute (a new tab is a new session, so the count is the server's).
#: Counted in the class file, which every Streamlit process sharing ``CNNVIZ_HOME`` opens (README: several processes
#: behind a proxy), so that a guesser gets the limit once, not once per process. The teacher keeps the command line,
#: which needs no password.
WRONG_PASSWORDS_PER_MINUTE = 10


class TooManyGuesses(CnnvizError):
    """Too many wrong teacher passwords on this server in the last minute: none is compared for now."""


def check_teacher_password(entered: object) -> bool:
    """Whether ``entered`` is ``$CNNVIZ_TEACHER_PASSWORD`` (constant time; False when none is set).

    Neither the password nor the attempt is ever logged or put in a message. A blank password (empty or only
    spaces, :func:`teacher_password_blank`) lets nobody in.

    Raises:
        TooManyGuesses: :data:`WRONG_PASSWORDS_PER_MINUTE` wrong ones came in the last minute (nothing compared).
        CnnvizError: the class file, which keeps the count, cannot be used (it names the file).
    """
    expected = os.environ.get(PASSWORD_ENV, "")
    if not expected.strip() or not isinstance(entered, str) or not entered:
        return False
    with db.connect(write=True) as conn:  # one transaction: two processes never both take the tenth guess
        now = time.time()  # wall clock: the processes share it; a time ahead of now is from a clock set back
        conn.execute("DELETE FROM wrong_passwords WHERE at <= ? OR at > ?", (now - 60, now))
        count, first = conn.execute("SELECT count(*), min(at) FROM wrong_passwords").fetchone()
        if count >= WRONG_PASSWORDS_PER_MINUTE:
            wait = math.ceil(60 - (now - first))
            raise TooManyGuesses(f"{count} wrong teacher passwords reached this server in the last minute, so none "
                                 f"is checked for now: try again in {wait} s.")
        if hmac.compare_digest(entered.encode("utf-8"), expected.encode("utf-8")):
            return True
        conn.execute("INSERT INTO wrong_passwords (at) VALUES (?)", (now,))
    if count + 1 == WRONG_PASSWORDS_PER_MINUTE:  # the count only, never what was typed
        log.warning("%d wrong teacher passwords in a minute: none is checked until the minute has passed",
                    WRONG_PASSWORDS_PER_MINUTE)
    return False


def classroom_mode(*, auth_configured: bool = False) -> bool:
    """Whether this server is a classroom (several people) rather than one laptop user.

    Args:
        auth_configured: Streamlit sign-in is set up (the app layer knows; the backend cannot).
    """
    flag = env_flag(CLASSROOM_ENV)
    # The password's variable counts even when blank: the teacher meant a class, and a laptop would make everyone the
    # teacher.
    return bool(flag or auth_configured or PASSWORD_ENV in os.environ or teacher_emails())
