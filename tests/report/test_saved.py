"""Each person's last lab report of each run as a file: one per person and run, replaced when made again, gone with
the run, a refused write said in words."""

from __future__ import annotations

import errno
import os
import shutil
import time

import pytest

from cnnviz import storage
from cnnviz.errors import InvalidArgument
from cnnviz.report import saved
from cnnviz.runs import store as runs
from tests.support.runfolders import write_run

RUN = "20260101-000000-0000a001"
OTHER_RUN = "20260101-000000-0000a002"


def test_one_file_per_person_and_run_replaced_when_made_again(cnnviz_home):
    assert saved.made_at(saved.report_file(RUN, "key:ann0001")) is None
    first = saved.save(RUN, "key:ann0001", "<html>first</html>")
    assert saved.save(RUN, "key:ann0001", "<html>again</html>") == first
    assert first.read_text(encoding="utf-8") == "<html>again</html>" and saved.made_at(first) is not None
    ben = saved.save(RUN, "key:ben0002", "<html>Ben's</html>")
    other = saved.save(OTHER_RUN, "key:ann0001", "<html>other run</html>")
    assert len({first, ben, other}) == 3 and first.parent == cnnviz_home / "reports" / RUN and ":" not in first.name
    assert sorted(p.name for p in (cnnviz_home / "reports").rglob("*")) == sorted(
        [RUN, OTHER_RUN, first.name, ben.name, other.name])  # no temporaries left


def test_deleting_the_run_removes_everyones_reports_of_it(cnnviz_home):
    for run_id in (RUN, OTHER_RUN):
        write_run(cnnviz_home, run_id)
    saved.save(RUN, "key:ann0001", "<html>Ann's</html>")
    saved.save(RUN, "key:ben0002", "<html>Ben's</html>")
    kept = saved.save(OTHER_RUN, "key:ann0001", "<html>other run</html>")
    runs.delete_run(RUN)
    assert not (cnnviz_home / "reports" / RUN).exists() and kept.is_file()


def test_a_run_deleted_by_hand_loses_its_reports_at_the_next_start(cnnviz_home, monkeypatch):
    # rm -rf CNNVIZ_HOME/runs/<id> (not Delete on the Runs page) left everyone's reports of it for ever.
    for run_id in (RUN, OTHER_RUN):
        write_run(cnnviz_home, run_id)
    gone = saved.save(RUN, "key:ann0001", "<html>Ann's</html>")
    saved.save(RUN, "key:ben0002", "<html>Ben's</html>")
    kept = saved.save(OTHER_RUN, "key:ann0001", "<html>other run</html>")
    shutil.rmtree(cnnviz_home / "runs" / RUN)
    monkeypatch.setattr(runs._first_cleanup, "done", False)  # a fresh process: its first listing cleans up
    assert [r.run_id for r in runs.list_runs()] == [OTHER_RUN]
    assert not gone.parent.exists() and kept.read_text(encoding="utf-8") == "<html>other run</html>"
    assert sorted(p.name for p in (cnnviz_home / "reports").iterdir()) == [OTHER_RUN]


def test_a_report_write_killed_half_way_leaves_no_temporary_after_a_restart(cnnviz_home):
    write_run(cnnviz_home, RUN)
    kept = saved.save(RUN, "key:ann0001", "<html>Ann's</html>")
    killed = kept.parent / f"{kept.name}{storage.TEMP_MARKER}4242-abc"  # as storage.temp_path_for names it
    killed.write_text("<html>half a rep", encoding="utf-8")
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    in_progress = kept.parent / f"{kept.name}{storage.TEMP_MARKER}4243-def"  # another process writing now
    in_progress.write_text("<html>being wr", encoding="utf-8")
    assert runs.cleanup(min_age_s=600) == [killed]  # no run writer alive: still by age (report writers hold no lock)
    assert in_progress.is_file() and kept.read_text(encoding="utf-8") == "<html>Ann's</html>"


@pytest.mark.parametrize("bad", ["", "..", "../runs", "a/b", None])
def test_a_report_belongs_to_a_plain_run_id(bad):
    with pytest.raises(InvalidArgument, match="a report belongs to a run id, got "):
        saved.report_file(bad, "key:ann0001")


def test_a_full_disk_is_said_in_words(cnnviz_home, monkeypatch):
    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storage, "atomic_write_bytes", full)
    with pytest.raises(storage.DiskFull, match=r"Could not save the lab report: the disk is full \(CNNVIZ_HOME="):
        saved.save(RUN, "key:ann0001", "<html></html>")
