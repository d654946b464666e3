"""Issue 18: one damaged run never breaks the listing; it is listed with its reason and can be deleted."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path

import pytest

from cnnviz import storage
from cnnviz.errors import InvalidArgument
from cnnviz.runs import schema
from cnnviz.runs import saving
from cnnviz.runs import store as runs
from cnnviz.runs.modelfile import RunCorrupted
from tests.support.runfolders import DAMAGED, GOOD_CONFIG, GOOD_METRICS, sparse, write_damaged, write_run


GOOD = "20260101-000000-00000001"
BAD = "20260101-000000-0000000b"


@pytest.mark.parametrize("kind", DAMAGED)
def test_a_damaged_run_is_listed_apart_with_its_reason(cnnviz_home, kind):
    write_run(cnnviz_home, GOOD)
    write_damaged(cnnviz_home, BAD, kind)
    listing = runs.scan()
    assert [r.run_id for r in listing.runs] == [GOOD]
    assert [d.run_id for d in listing.damaged] == [BAD]
    assert DAMAGED[kind][2] in listing.damaged[0].reason
    assert not listing.damaged[0].reason.startswith("run ")  # the page puts the id beside it
    assert [r.run_id for r in runs.list_runs()] == [GOOD]
    assert runs.damaged_runs() == listing.damaged
    with pytest.raises(RunCorrupted, match=f"run '{BAD}' is damaged: "):
        runs.load_run(BAD)


def test_the_good_run_keeps_every_typed_accessor(cnnviz_home):
    write_run(cnnviz_home, GOOD)
    info = runs.load_run(GOOD)
    assert info.input_shape == (8, 8, 1) and info.num_classes == 10 and info.test_accuracy == 0.5
    assert info.spec.model.filters == 4 and info.label.startswith("custom on digits")


def test_files_changed_without_fixing_checksums_are_listed_as_changed(cnnviz_home):
    write_run(cnnviz_home, GOOD)
    folder = write_run(cnnviz_home, BAD)
    (folder / "metrics.json").write_text(json.dumps({**GOOD_METRICS, "test_accuracy": 0.99}))
    (damaged,) = runs.damaged_runs()
    assert damaged.run_id == BAD
    assert damaged.reason == "its files were changed after it was saved (metrics.json does not match its checksum)"
    assert [r.run_id for r in runs.list_runs()] == [GOOD]


def test_a_missing_model_file_makes_the_run_damaged(cnnviz_home):
    folder = write_run(cnnviz_home, BAD)
    (folder / runs.MODEL_FILE).unlink()
    assert runs.damaged_runs() == [runs.DamagedRun(BAD, "its model file model.keras is missing")]


@pytest.mark.parametrize("name", ["history.json", "config.json", "metrics.json", "manifest.json"])
def test_a_huge_sparse_file_is_refused_by_its_size_before_reading(cnnviz_home, monkeypatch, name):
    write_run(cnnviz_home, GOOD)
    folder = write_run(cnnviz_home, BAD)
    sparse(folder / name, 4 << 30)
    read = []
    real_hash = runs.storage.sha256_file
    monkeypatch.setattr(runs.storage, "sha256_file", lambda p: read.append(p) or real_hash(p))
    start = time.perf_counter()
    listing = runs.scan()
    assert time.perf_counter() - start < 1.0
    assert not read  # nothing hashed (the 4 GB were never read)
    assert [r.run_id for r in listing.runs] == [GOOD]
    assert f"its {name} has 4,294,967,296 bytes, more than a run's {name} may have" in listing.damaged[0].reason


def test_a_symlinked_json_file_is_not_followed(cnnviz_home, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    folder = write_run(cnnviz_home, BAD)
    (folder / "metrics.json").unlink()
    (folder / "metrics.json").symlink_to(outside)
    (damaged,) = runs.damaged_runs()
    assert "metrics.json cannot be read" in damaged.reason


def test_a_bug_in_a_check_lists_the_run_as_damaged_and_logs_it(cnnviz_home, monkeypatch, caplog):
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, BAD, metrics={**GOOD_METRICS, "trips_the_bug": 1})
    real = runs.JSON_CHECKS["metrics.json"]

    def buggy(metrics):
        if "trips_the_bug" in metrics:
            raise KeyError("bug")
        return real(metrics)

    monkeypatch.setitem(runs.JSON_CHECKS, "metrics.json", buggy)
    listing = runs.scan()
    assert [r.run_id for r in listing.runs] == [GOOD]
    assert listing.damaged == [runs.DamagedRun(BAD, "it could not be read (KeyError)")]
    assert f"reading run {BAD} failed" in caplog.text


@pytest.mark.parametrize("kind", ["config is a list", "val_loss is a number"])
def test_a_damaged_run_can_be_deleted(cnnviz_home, kind):
    folder = write_damaged(cnnviz_home, BAD, kind)
    runs.delete_run(BAD)
    assert not folder.exists() and runs.scan() == runs.Listing([], [])


@pytest.mark.parametrize("bad", ["../runs", "20260101-000000-0000000B", "x", None])
def test_delete_still_refuses_what_is_not_a_run_id(cnnviz_home, bad):
    with pytest.raises(InvalidArgument):
        runs.delete_run(bad)


@pytest.mark.parametrize(("code", "words"), [
    (errno.EROFS, "Could not delete run 20260101-000000-00000001: the disk is read-only"),
    (errno.EACCES, "Could not delete run 20260101-000000-00000001: cnnviz may not write to its folder"),
])
def test_delete_on_a_read_only_home_says_so(cnnviz_home, monkeypatch, code, words):
    folder = write_run(cnnviz_home, GOOD)
    real_unlink = Path.unlink

    def refuse(self, *args, **kwargs):
        if self.parent == folder:
            raise OSError(code, "refused", str(self))
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(storage.SaveFailed, match=words) as caught:
        runs.delete_run(GOOD)
    assert f"CNNVIZ_HOME={cnnviz_home}" in str(caught.value) and "Whoever runs the server" in str(caught.value)
    assert [r.run_id for r in runs.list_runs()] == [GOOD]


def test_schema_caps_every_file_it_reads():
    assert set(schema.MAX_BYTES) == {*runs.DATA_FILES, runs.MANIFEST}


@pytest.mark.parametrize(("config", "history", "metrics", "words"), [
    ([], {}, {}, "config.json holds list"),
    ({**GOOD_CONFIG}, {"loss": 5}, {}, "history.json gives loss as 5"),
    ({**GOOD_CONFIG}, {}, {"test_accuracy": "high"}, "test_accuracy as 'high'"),
    ({**GOOD_CONFIG, "test_sha256": "abc"}, {}, {}, "test images' checksum as 'abc', not a sha256"),
    ({**GOOD_CONFIG, "test_sha256": 7}, {}, {}, "test images' checksum as 7, not a sha256"),
])
def test_save_run_refuses_what_the_listing_would_call_damaged(cnnviz_home, config, history, metrics, words):
    with pytest.raises(InvalidArgument, match=f"the run was not saved: .*{words}"):
        saving.save_run(object(), config=config, history=history, metrics=metrics, status="finished")
    assert not (cnnviz_home / "runs").exists() or not list((cnnviz_home / "runs").iterdir())


def test_a_run_deleted_while_the_store_is_listed_is_not_called_damaged(cnnviz_home, monkeypatch):
    """The owner deletes a run just after the teacher's listing read its manifest (its other files go while
    the listing reads them): it is gone, not "damaged" (a Delete offered for it would only say it is not there)."""
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, BAD)
    read_bytes = schema.read_bytes
    deleted = []

    def deleted_meanwhile(path, name):
        if Path(path).parent.name == BAD and name == "history.json" and not deleted:
            deleted.append(runs.delete_run(BAD))  # between reading its config and its history
        return read_bytes(path, name)

    monkeypatch.setattr(schema, "read_bytes", deleted_meanwhile)
    listing = runs.scan()
    assert deleted and [r.run_id for r in listing.runs] == [GOOD]
    assert listing.damaged == []
    with pytest.raises(runs.RunNotFound):
        runs.load_run(BAD)
