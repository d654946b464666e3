"""cnnviz.classroom.db: the class file (class.sqlite3) a newer cnnviz wrote is refused, never read or rewritten."""

from __future__ import annotations

import sqlite3

import pytest

from cnnviz.classroom import db, roster
from cnnviz.storage import DatabaseUnusable


def test_a_class_file_a_newer_cnnviz_wrote_is_refused_naming_both_versions_and_left_as_it_is(cnnviz_home):
    # A newer checkout ran once, then the teacher went back to an older one: its roster was read as this code's.
    key, _ = roster.register("Ann")
    newer = db.SCHEMA_VERSION + 1
    raw = sqlite3.connect(db.path(), isolation_level=None)
    raw.execute(f"PRAGMA user_version = {newer}")
    raw.close()
    said = (f"Could not open the class list: {db.path()} was written by a newer cnnviz (format version {newer}; this "
            f"cnnviz knows versions up to {db.SCHEMA_VERSION}), so this one neither reads nor changes it. Whoever runs "
            "the server: run the newer cnnviz again")
    for use in (lambda: roster.lookup(key), lambda: roster.register("Ben")):
        with pytest.raises(DatabaseUnusable) as refused:
            use()
        assert str(refused.value).startswith(said), str(refused.value)
    raw = sqlite3.connect(db.path())
    assert raw.execute("PRAGMA user_version").fetchone()[0] == newer  # never "migrated" downwards
    assert [r[0] for r in raw.execute("SELECT display_name FROM students")] == ["Ann"]  # nothing written
    raw.close()
