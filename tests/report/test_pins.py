"""Each person's pinned views in their own file: kept across sessions, replaced not duplicated, read by their owner
and the teacher only, never from a file that names someone else, damaged entries skipped, names found by the CLI."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from cnnviz import storage
from cnnviz.classroom import policy, roster
from cnnviz.classroom.people import TEACHER_OWNER, Person, local_teacher
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.report import pins
from cnnviz.runs import store as runs
from tests.support.runfolders import write_run

ANN = Person("key:ann0001", "Ann", False, "key")
BEN = Person("key:ben0002", "Ben", False, "key")
OTHER_ANN = Person("account:ann@school.example", "ann", False, "account")
RUN = "20260101-000000-0000a001"


def _pin(view: str = "explain_occlusion", run: str = RUN, title: str = "Occlusion") -> pins.Pin:
    return pins.Pin(run, view, title, json.dumps({"data": [], "layout": {"title": {"text": title}}}), "a caption")


def test_pins_are_kept_in_the_owners_file(cnnviz_home):
    assert pins.load(ANN.user_id, ANN) == []
    pins.add(ANN, _pin())
    pins.add(ANN, _pin("explain_neuron", title="One neuron"))
    got = pins.add(ANN, _pin(title="Occlusion again"))  # the same view again: replaced, moved to the end
    assert [(p.view_id, p.title) for p in got] == [("explain_neuron", "One neuron"), ("explain_occlusion",
                                                                                       "Occlusion again")]
    path = pins.pin_file(ANN.user_id)
    assert path.parent == cnnviz_home / "pins" and ":" not in path.name
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["owner"] == ANN.user_id and saved["owner_name"] == "Ann" and saved["format"] == pins.FORMAT
    assert [pins.Pin.from_dict(p) for p in saved["pins"]] == got == pins.load(ANN.user_id, ANN)
    assert pins.for_run(got, "another") == []
    assert pins.remove(ANN, RUN, ["explain_neuron"]) == [got[1]]


def test_only_the_owner_and_the_teacher_read_or_change_them(cnnviz_home):
    pins.add(ANN, _pin())
    assert pins.load(BEN.user_id, BEN) == []  # Ben's own: none
    with pytest.raises(policy.NotAllowed, match="Ben may not see the pinned views of someone else"):
        pins.load(ANN.user_id, BEN)
    with pytest.raises(policy.NotAllowed, match="Ben may not change the pinned views of someone else"):
        pins.remove(BEN, RUN, ["explain_occlusion"], owner=ANN.user_id)
    assert len(pins.load(ANN.user_id, local_teacher())) == len(pins.load(ANN.user_id)) == 1
    assert pins.remove(local_teacher(), RUN, ["explain_occlusion"], owner=ANN.user_id) == []
    assert json.loads(pins.pin_file(ANN.user_id).read_text())["owner_name"] == "Ann"  # the teacher kept her name


def test_a_file_naming_someone_else_or_damaged_is_not_trusted(cnnviz_home):
    pins.add(ANN, _pin())
    shutil.copy(pins.pin_file(ANN.user_id), pins.pin_file(BEN.user_id))  # Ann's file under Ben's name
    assert pins.load(BEN.user_id, BEN) == []
    pins.pin_file(BEN.user_id).write_text("{not json", encoding="utf-8")
    assert pins.load(BEN.user_id, BEN) == []
    with pytest.raises(CnnvizError, match=r"cannot be read \(Expecting property name .*\): it was left as "
                                                     r"it is\. Whoever runs the server: move .* away"):
        pins.add(BEN, _pin())  # a damaged file is never written over: what is in it may still be wanted
    assert pins.pin_file(BEN.user_id).read_text(encoding="utf-8") == "{not json"
    data = json.loads(pins.pin_file(ANN.user_id).read_text())
    data["pins"] += [{"run_id": RUN, "view_id": 3, "figure_json": "{}"}, "text", {"run_id": RUN}]
    pins.pin_file(ANN.user_id).write_text(json.dumps(data), encoding="utf-8")
    assert [p.view_id for p in pins.load(ANN.user_id)] == ["explain_occlusion"]  # the bad entries are skipped
    with pytest.raises(InvalidArgument, match=r"a pin needs run_id, view_id, title, figure_json and caption as text, "
                                              r"got \{'run_id': "):
        pins.Pin.from_dict({"run_id": RUN, "view_id": "v"})


@pytest.mark.parametrize("refusal", ["io_error", "folder"])
def test_a_pin_file_the_disk_will_not_read_is_not_written_over(cnnviz_home, monkeypatch, refusal):
    # Ann's two pins were replaced by the one she pinned while her file could not be read (an I/O error, too
    # many open files on a busy server, a folder a restore put in its place): her earlier pins were lost unsaid.
    pins.add(ANN, _pin())
    pins.add(ANN, _pin("explain_neuron", title="One neuron"))
    path = pins.pin_file(ANN.user_id)
    kept = path.read_bytes()
    if refusal == "folder":
        path.unlink()
        path.mkdir()
        (path / "pins.json").write_bytes(kept)  # what a restore tool made of it
    else:
        real_read_text = Path.read_text

        def read_text(self, *args, **kwargs):
            if self == path:
                raise OSError(errno.EIO, os.strerror(errno.EIO), str(self))
            return real_read_text(self, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", read_text)
    assert pins.load(ANN.user_id, ANN) == []  # reading shows none (logged)
    with pytest.raises(pins.PinFileUnreadable, match=r"The file of pinned views cannot be read \(.*\): it was left "
                                                     f"as it is. Whoever runs the server: move {re.escape(str(path))} away"):
        pins.add(ANN, _pin("explain_saliency", title="Saliency"))
    assert (path / "pins.json" if refusal == "folder" else path).read_bytes() == kept


@pytest.mark.parametrize("refusal", ["full", "file_for_folder"])
def test_a_disk_that_refuses_the_pin_says_so(cnnviz_home, monkeypatch, refusal):
    # The Pin button shows a CnnvizError as a toast; a full disk or a file named pins/ was a raw OSError instead.
    if refusal == "full":
        pins.add(ANN, _pin())

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(storage, "atomic_write_bytes", full)
        words = "Could not change the pinned views: the disk is full"
    else:
        cnnviz_home.mkdir()
        (cnnviz_home / "pins").write_bytes(b"a copy gone wrong")
        words = (f"Could not change the pinned views: a file stands where cnnviz keeps a folder "
                 f"\\({re.escape(str(cnnviz_home / 'pins'))}\\)")
    with pytest.raises(storage.SaveFailed, match=words):
        pins.add(ANN, _pin("explain_neuron", title="One neuron"))


def test_at_most_twelve_views_per_run(cnnviz_home):
    for k in range(pins.MAX_PER_RUN):
        pins.add(ANN, _pin(f"view_{k}"))
    pins.add(ANN, _pin("view_0", title="replaced"))  # replacing is always possible
    pins.add(ANN, _pin("view_x", run="another"))  # another run has its own twelve
    with pytest.raises(InvalidArgument, match=f"at most {pins.MAX_PER_RUN} views of a run can be pinned, and run "
                                              f"{RUN} has {pins.MAX_PER_RUN}"):
        pins.add(ANN, _pin("view_13"))
    assert len(pins.load(ANN.user_id)) == pins.MAX_PER_RUN + 1


def test_find_owner_by_name_or_user_id(cnnviz_home):
    for person in (ANN, BEN):
        pins.add(person, _pin())
    assert pins.owners() == {ANN.user_id: "Ann", BEN.user_id: "Ben"}
    assert pins.owners(BEN) == {BEN.user_id: "Ben"}
    assert pins.find_owner("ben") == pins.find_owner(BEN.user_id) == BEN.user_id
    assert pins.find_owner("Teacher") == TEACHER_OWNER
    with pytest.raises(InvalidArgument, match=r"nobody called 'Cy' has pinned views; people with pinned views: "
                                              r"Ann \(key:ann0001\), Ben \(key:ben0002\)"):
        pins.find_owner("Cy")
    pins.add(OTHER_ANN, _pin())
    with pytest.raises(InvalidArgument, match=r"several people are called 'Ann': give the name as the pages tag it or "
                                              r"a user id; people with pinned views: ann \(....\) "
                                              r"\(account:ann@school\.example\), Ann \(....\) \(key:ann0001\), Ben"):
        pins.find_owner("Ann")
    anns = roster.shown_names([(ann.user_id, ann.display_name) for ann in (ANN, OTHER_ANN)])  # as the pages tag them
    assert len(set(anns.values())) == 2
    for (user_id, _), shown in anns.items():
        assert pins.find_owner(shown.upper()) == user_id
    with pytest.raises(InvalidArgument, match="got ' '"):
        pins.find_owner(" ")


def test_a_pin_file_too_large_to_read_is_never_written_over(cnnviz_home, monkeypatch):
    pins.add(ANN, _pin())
    pins.add(ANN, _pin("explain_neuron"))
    path = pins.pin_file(ANN.user_id)
    before = path.read_bytes()
    monkeypatch.setattr(pins, "MAX_FILE_BYTES", len(before) - 1)  # e.g. a file written before the limit
    assert pins.load(ANN.user_id) == []  # not read: nothing shown ...
    for change in (lambda: pins.add(ANN, _pin("explain_gradcam")), lambda: pins.remove(ANN, RUN, ["explain_neuron"])):
        with pytest.raises(CnnvizError, match=rf"The file of pinned views is 0\.0 MB, larger than the 0 MB "
                                                         rf"cnnviz reads: it was left as it is\. Whoever runs the "
                                                         rf"server: move {path} away"):
            change()
    assert path.read_bytes() == before  # ... and nothing lost


def test_no_pin_makes_the_file_too_large_to_read_back(cnnviz_home, monkeypatch):
    pins.add(ANN, _pin())
    size = pins.pin_file(ANN.user_id).stat().st_size
    monkeypatch.setattr(pins, "MAX_FILE_BYTES", size + 100)
    big = pins.Pin(RUN, "explain_neuron", "One neuron", json.dumps({"data": [], "layout": {"x": "y" * 200}}))
    with pytest.raises(InvalidArgument, match=r"the pinned views would take 0\.0 MB, more than the 0 MB kept per "
                                              r"person: unpin views of other runs on the Runs page first"):
        pins.add(ANN, big)
    assert [p.view_id for p in pins.load(ANN.user_id)] == ["explain_occlusion"]  # still read, as it was


def test_deleting_a_run_drops_everyones_pins_of_it(cnnviz_home):
    kept_run = "20260101-000000-0000a002"
    for run_id in (RUN, kept_run):
        write_run(cnnviz_home, run_id)
    pins.add(ANN, _pin())
    pins.add(ANN, _pin(run=kept_run))
    pins.add(BEN, _pin())  # Ben pinned the same run (e.g. the teacher shared it)
    pins.add(local_teacher(), _pin(run=kept_run))
    untouched = pins.pin_file(TEACHER_OWNER).read_bytes()
    runs.delete_run(RUN)
    assert [p.run_id for p in pins.load(ANN.user_id)] == [kept_run]
    assert pins.load(BEN.user_id) == []
    assert json.loads(pins.pin_file(BEN.user_id).read_text(encoding="utf-8"))["owner_name"] == "Ben"
    assert pins.pin_file(TEACHER_OWNER).read_bytes() == untouched  # a file without the run is not rewritten


def test_a_run_deleted_by_hand_loses_everyones_pins_of_it_at_the_next_start(cnnviz_home, monkeypatch):
    # rm -rf CNNVIZ_HOME/runs/<id> left its pins for ever, counted in each person's file, and no page lists the run
    # to unpin them.
    kept_run = "20260101-000000-0000a002"
    for run_id in (RUN, kept_run):
        write_run(cnnviz_home, run_id)
    pins.add(ANN, _pin())
    pins.add(ANN, _pin(run=kept_run))
    pins.add(BEN, _pin())
    pins.add(local_teacher(), _pin(run=kept_run))
    untouched = pins.pin_file(TEACHER_OWNER).read_bytes()
    shutil.rmtree(cnnviz_home / "runs" / RUN)
    monkeypatch.setattr(runs._first_cleanup, "done", False)  # a fresh process: its first listing cleans up
    assert [r.run_id for r in runs.list_runs()] == [kept_run]
    assert [p.run_id for p in pins.load(ANN.user_id)] == [kept_run]
    assert pins.load(BEN.user_id) == []
    assert json.loads(pins.pin_file(BEN.user_id).read_text(encoding="utf-8"))["owner_name"] == "Ben"
    assert pins.pin_file(TEACHER_OWNER).read_bytes() == untouched  # a file without the run is not rewritten


def test_a_pin_write_killed_half_way_leaves_no_temporary_after_a_restart(cnnviz_home):
    write_run(cnnviz_home, RUN)
    pins.add(ANN, _pin())
    path = pins.pin_file(ANN.user_id)
    killed = path.with_name(f"{path.name}{storage.TEMP_MARKER}4242-abc")  # as storage.temp_path_for names it
    killed.write_text('{"format": 1, "ow', encoding="utf-8")
    hour_ago = time.time() - 3600
    os.utime(killed, (hour_ago, hour_ago))
    in_progress = path.with_name(f"{path.name}{storage.TEMP_MARKER}4243-def")  # another process writing now
    in_progress.write_text('{"format": 1, "ow', encoding="utf-8")
    assert runs.cleanup(min_age_s=600) == [killed]
    assert in_progress.is_file() and [p.view_id for p in pins.load(ANN.user_id)] == ["explain_occlusion"]
