"""Each person's pinned Explain views, kept in one small file of their own so they outlive the browser session.

``CNNVIZ_HOME/pins/<hash of the user id>.json`` holds ``{"format", "owner", "owner_name", "pins": [...]}``; the
file name is a hash (user ids hold ``@`` and ``:``) and the ``owner`` inside is checked on every read, so a file
copied or renamed to another person's name is never shown to them. Only the owner and the teacher read or change
someone's pins (:mod:`cnnviz.classroom.policy`). JSON at the file boundary, :class:`Pin` in code; a file or an
entry that is not what this module writes is skipped (logged), never trusted: the report escapes every text of a
pin anyway (:mod:`cnnviz.report.page`). A file that cannot be read is never written over (pinning and unpinning
say so instead), and no write makes a file larger than :data:`MAX_FILE_BYTES`. Writes are atomic, under an
exclusive ``flock`` per file so two tabs of one student do not lose each other's pins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from cnnviz import storage
from cnnviz.classroom import policy, roster
from cnnviz.classroom.people import TEACHER_NAME, TEACHER_OWNER, Person
from cnnviz.errors import CnnvizError, InvalidArgument

log = logging.getLogger(__name__)

FORMAT = 1
#: Views pinned per run at most (each pinned figure is a few hundred KB of JSON at most).
MAX_PER_RUN = 12
#: A pin file larger than this is not read (12 figures of a few hundred KB for each of a student's runs fit).
MAX_FILE_BYTES = 64 * 1024 * 1024
TEXT_LIMIT = 1000  # characters of a title or caption


@dataclass(frozen=True)
class Pin:
    """One pinned view: the run, the view's chart key, its title, its Plotly figure as JSON and a caption."""

    run_id: str
    view_id: str
    title: str
    figure_json: str
    caption: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, item: Any) -> "Pin":
        """A pin from its JSON form; raises InvalidArgument (saying what it got) for anything else."""
        fields = ("run_id", "view_id", "title", "figure_json", "caption")
        if not isinstance(item, dict) or not all(isinstance(item.get(f, ""), str) for f in fields) or not all(
                item.get(f) for f in ("run_id", "view_id", "figure_json")):
            raise InvalidArgument(f"a pin needs run_id, view_id, title, figure_json and caption as text, "
                                  f"got {item!r:.200}")
        return cls(**{f: str(item.get(f, "")) for f in fields})


def pins_dir() -> Path:
    return storage.home() / "pins"


def pin_file(owner: str) -> Path:
    """The file of ``owner``'s pins (a user id)."""
    if not isinstance(owner, str) or not owner.strip():
        raise InvalidArgument(f"pins belong to a user id, got {owner!r}")
    return pins_dir() / f"{hashlib.sha256(owner.encode('utf-8')).hexdigest()[:32]}.json"


def _check_reader(viewer: Person | None, owner: str) -> None:
    if viewer is not None and not policy.can_change(viewer, owner):
        raise policy.NotAllowed(f"{viewer.display_name} may not see the pinned views of someone else: only their "
                                "owner and the teacher can.")


class PinFileUnreadable(CnnvizError):
    """A person's pin file is there but cannot be read (too large, damaged, someone else's): it is never written
    over, so nothing is pinned or unpinned for them until it is moved away."""


def _read(path: Path, owner: str | None = None) -> dict | None:
    """The checked content of a pin file ``{"owner", "owner_name", "pins": [Pin]}``, or None (missing or not ours)."""
    try:
        return _read_or_raise(path, owner)
    except PinFileUnreadable as err:
        log.warning("%s", err)
        return None


def _read_or_raise(path: Path, owner: str | None) -> dict | None:
    """:func:`_read`, but a file that is there and cannot be used raises PinFileUnreadable (None: no file)."""
    keep = (f"it was left as it is. Whoever runs the server: move {path} away (the pinned views in it are not "
            "shown) to pin again.")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise PinFileUnreadable(f"The file of pinned views is {size / 2**20:.1f} MB, larger than the "
                                    f"{MAX_FILE_BYTES / 2**20:.0f} MB cnnviz reads: {keep}")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise PinFileUnreadable(f"The file of pinned views cannot be read ({err}): {keep}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("owner"), str) or (
            owner is not None and data["owner"] != owner) or not isinstance(data.get("pins"), list):
        raise PinFileUnreadable(f"The file of pinned views is not a pin file of {owner!r}: {keep}")
    pins = []
    for item in data["pins"]:
        try:
            pins.append(Pin.from_dict(item))
        except InvalidArgument as err:
            log.warning("pin file %s: entry skipped: %s", path, err)
    name = data.get("owner_name")
    return {"owner": data["owner"], "owner_name": name if isinstance(name, str) and name else data["owner"],
            "pins": pins}


def load(owner: str, viewer: Person | None = None) -> list[Pin]:
    """Every view ``owner`` (a user id) pinned, in pinning order.

    Args:
        owner: whose pins.
        viewer: who asks (None: the command line, the teacher); only the owner and the teacher may.
    Raises:
        NotAllowed: ``viewer`` is someone else and not the teacher.
    """
    _check_reader(viewer, owner)
    found = _read(pin_file(owner), owner)
    return [] if found is None else found["pins"]


def for_run(pins: Sequence[Pin], run_id: str) -> list[Pin]:
    """The pins of one run, in pinning order."""
    return [p for p in pins if p.run_id == run_id]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``'s lock file for a read-change-write (a no-op where there is none)."""
    storage.ensure_dir(path.parent)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _change(person: Person, owner: str | None, change) -> list[Pin]:
    owner = person.user_id if owner is None else owner
    policy.check_change(person, owner, "change the pinned views of someone else")
    path = pin_file(owner)
    try:
        with _locked(path):
            found = _read_or_raise(path, owner)  # a file that cannot be read is never written over
            pins = change([] if found is None else found["pins"])
            name = person.display_name if owner == person.user_id else (found or {}).get("owner_name", owner)
            _write(path, owner, name, pins)
    except OSError as err:  # a full disk, a file where pins/ goes: in words (the page shows CnnvizErrors)
        failure = storage.disk_failure(err, "change the pinned views")
        if failure is None:
            raise
        raise failure from err
    return pins


def _write(path: Path, owner: str, name: str | None, pins: list[Pin]) -> None:
    """Write ``owner``'s pin file (the caller holds its lock)."""
    text = json.dumps({"format": FORMAT, "owner": owner, "owner_name": name or TEACHER_NAME,
                       "pins": [p.to_dict() for p in pins]}, ensure_ascii=False).encode("utf-8")
    if len(text) > MAX_FILE_BYTES:  # never a file this module would not read back
        raise InvalidArgument(f"the pinned views would take {len(text) / 2**20:.1f} MB, more than the "
                              f"{MAX_FILE_BYTES / 2**20:.0f} MB kept per person: unpin views of other runs on "
                              "the Runs page first")
    storage.atomic_write_bytes(path, text)


def add(person: Person, pin: Pin) -> list[Pin]:
    """Pin a view for ``person`` (replacing the same view of the same run); returns all their pins.

    Raises:
        InvalidArgument: the run already has :data:`MAX_PER_RUN` other pinned views, or the file would grow past
            :data:`MAX_FILE_BYTES`.
        PinFileUnreadable: their file is there but cannot be read (it is left as it is).
    """
    if not isinstance(pin, Pin):
        raise InvalidArgument(f"pin a Pin, got {pin!r:.200}")
    pin = Pin(pin.run_id, pin.view_id, pin.title[:TEXT_LIMIT], pin.figure_json, pin.caption[:TEXT_LIMIT])

    def change(pins: list[Pin]) -> list[Pin]:
        kept = [p for p in pins if (p.run_id, p.view_id) != (pin.run_id, pin.view_id)]
        if len(for_run(kept, pin.run_id)) >= MAX_PER_RUN:
            raise InvalidArgument(f"at most {MAX_PER_RUN} views of a run can be pinned, and run {pin.run_id} has "
                                  f"{MAX_PER_RUN}: unpin some on the Runs page first")
        return [*kept, pin]

    return _change(person, None, change)


def remove(person: Person, run_id: str, view_ids: Sequence[str], owner: str | None = None) -> list[Pin]:
    """Unpin views of a run (``owner``'s pins, by default ``person``'s own); returns the pins left.

    Raises:
        PinFileUnreadable: the file is there but cannot be read (it is left as it is).
    """
    drop = set(view_ids)
    return _change(person, owner, lambda pins: [p for p in pins if not (p.run_id == run_id and p.view_id in drop)])


def forget_run(run_id: str) -> int:
    """Drop every person's pins of ``run_id`` (the run was deleted: :func:`cnnviz.runs.store.delete_run`).

    A file that cannot be read is left as it is (logged). Returns how many pins were dropped.
    """
    # Most files never pinned it: not parsed.
    return _drop_pins(lambda data: run_id.encode("utf-8") in data, lambda pin: pin.run_id == run_id)


#: A pin's run id as :func:`_write` puts it in the file (text inside a figure's JSON has its quotes escaped).
_RUN_ID_IN_FILE = re.compile(rb'"run_id": "([^"\\]+)"')


def forget_gone_runs(gone: Callable[[str], bool]) -> int:
    """Drop every person's pins of the runs that are ``gone`` (deleted by hand, not through cnnviz: the start-up
    clean-up, :func:`cnnviz.runs.store.cleanup`). Returns how many pins were dropped."""
    return _drop_pins(lambda data: any(gone(m.decode("utf-8", "replace")) for m in set(_RUN_ID_IN_FILE.findall(data))),
                      lambda pin: gone(pin.run_id))


def _drop_pins(may_hold: Callable[[bytes], bool], drop: Callable[[Pin], bool]) -> int:
    """Drop the pins ``drop`` picks from every person's file whose bytes ``may_hold`` some; returns how many."""
    dropped = 0
    folder = pins_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        with contextlib.suppress(OSError):
            if not may_hold(path.read_bytes()):
                continue
        found = _read(path)
        if found is None or path != pin_file(found["owner"]):
            continue
        with _locked(path):
            found = _read(path, found["owner"])  # again under the lock: another tab may have changed it
            if found is None or not any(drop(p) for p in found["pins"]):
                continue
            kept = [p for p in found["pins"] if not drop(p)]
            _write(path, found["owner"], found["owner_name"], kept)
            dropped += len(found["pins"]) - len(kept)
    return dropped


def remove_temporaries(*, min_age_s: float) -> list[Path]:
    """Remove the temporaries of pin writes killed half-way, if older than ``min_age_s`` (a younger one may be
    another process's write in progress). Returns the paths removed."""
    folder, now, removed = pins_dir(), time.time(), []
    for path in sorted(folder.glob(f"*{storage.TEMP_MARKER}*")) if folder.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and not path.is_symlink() and now - path.lstat().st_mtime >= min_age_s:
                path.unlink()
                removed.append(path)
    return removed


def owners(viewer: Person | None = None) -> dict[str, str]:
    """``{user id: display name}`` of everyone whose pins ``viewer`` may read (None or the teacher: all)."""
    out = {}
    folder = pins_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        found = _read(path)
        if found is not None and path == pin_file(found["owner"]) and (
                viewer is None or policy.can_change(viewer, found["owner"])):
            out[found["owner"]] = found["owner_name"]
    return out


def find_owner(text: str, viewer: Person | None = None) -> str:
    """The user id that ``text`` names: a user id, or a display name (case-insensitive) of someone with pins.

    Raises:
        InvalidArgument: nobody, or several people, go by that name (the message lists who has pins).
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidArgument(f"name whose pinned views to show (a name or a user id), got {text!r}")
    text = text.strip()
    if text in (TEACHER_OWNER, TEACHER_NAME) and (viewer is None or viewer.is_teacher):
        return TEACHER_OWNER
    known = owners(viewer)
    if text in known:
        return text
    named = [uid for uid, name in known.items() if name.casefold() == text.casefold()]
    if len(named) == 1:
        return named[0]
    shown = roster.shown_names(known.items())  # "Ann (3f2a)", as the teacher's pages tell two Anns apart
    tagged = [uid for (uid, _), name in shown.items() if name != known[uid] and name.casefold() == text.casefold()]
    if len(tagged) == 1:
        return tagged[0]
    by_name = sorted(known.items(), key=lambda item: (item[1].casefold(), item[0]))
    listed = ", ".join(f"{shown[uid, name]} ({uid})" for uid, name in by_name) or "nobody yet"
    if named:
        raise InvalidArgument(f"several people are called {text!r}: give the name as the pages tag it or a user id; "
                              f"people with pinned views: {listed}")
    raise InvalidArgument(f"nobody called {text!r} has pinned views; people with pinned views: {listed}")
