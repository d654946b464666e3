"""The run store: complete folders, checksums, refusing what it did not write, crash safety."""

from __future__ import annotations

import hashlib
import json
import os
import time

import numpy as np
import pytest

from cnnviz import storage
from cnnviz.errors import InvalidArgument
from cnnviz.runs import rundata
from cnnviz.runs import saving
from cnnviz.runs import store as runs
from cnnviz.runs.compare import differing_settings, history_csv, runs_table
from cnnviz.runs.modelfile import RunCorrupted
from cnnviz.training.pipeline import load_training_data
from tests.support.models import tiny_build


pytestmark = pytest.mark.slow

CONFIG = {
    "model": {"architecture": "test-tiny", "filters": 4},
    "dataset": "digits", "train_size": 60, "test_size": 30, "validation_fraction": 0.25,
    "scaling": "unit", "augment": None, "class_weights": False, "epochs": 2, "batch_size": 8,
    "early_stopping": False, "keep_best": False, "seed": 3, "preset": None,
    "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]},
    "input_shape": [8, 8, 1], "num_classes": 10,
}
HISTORY = {"loss": [2.0, 1.5], "accuracy": [0.2, 0.4], "val_loss": [2.1, None], "val_accuracy": [0.1, None]}
METRICS = {"test_accuracy": 0.5, "test_loss": 1.25, "epochs_completed": 1.5}


def _model():
    model = tiny_build((8, 8, 1), 10)
    model.optimizer.build(model.trainable_variables)  # as after training: the optimizer state is saved too
    return model


def _save(status="finished", **config_changes):
    model = _model()
    return saving.save_run(model, config={**CONFIG, **config_changes}, history=HISTORY, metrics=METRICS,
                         status=status), model


def test_save_run_writes_complete_folder_that_reloads(cnnviz_home):
    info, model = _save(status="stopped")
    folder = cnnviz_home / "runs" / info.run_id
    assert runs.RUN_ID_RE.match(info.run_id)
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "history.json", "manifest.json", "metrics.json", "model.keras"]
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
    assert manifest["status"] == "stopped" and manifest["run_id"] == info.run_id

    again = runs.load_run(info.run_id)
    assert again.config == CONFIG and again.history == HISTORY and again.metrics == METRICS
    assert again.status == "stopped" and again.test_accuracy == 0.5
    assert [r.run_id for r in runs.list_runs()] == [info.run_id]

    x = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    loaded = runs.load_model(info.run_id)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert [layer.name for layer in loaded.layers] == ["conv-1", "flatten", "predictions"]


def test_run_ids_are_unique_and_listed_newest_first(cnnviz_home):
    first, _ = _save()
    time.sleep(1.1)  # ids have one-second resolution
    second, _ = _save()
    assert first.run_id != second.run_id
    assert [r.run_id for r in runs.list_runs()] == [second.run_id, first.run_id]


def test_runs_saved_within_one_second_are_listed_newest_first(cnnviz_home):
    """Tiny runs finish within a second on a fast machine; the page's default, the newest run, must be the last
    saved, not the one whose random id tail sorts higher."""
    saved = [_save(seed=s)[0].run_id for s in range(4)]
    assert [r.run_id for r in runs.list_runs()] == saved[::-1]


def test_status_must_be_known():
    model = _model()
    with pytest.raises(InvalidArgument, match="run status must be one of finished, stopped, got 'done'"):
        saving.save_run(model, config=CONFIG, history=HISTORY, metrics=METRICS, status="done")


@pytest.mark.parametrize("bad", ["../x", "", "20250101-120000-0123ABCD", "20250101-120000-0123abcd/../x",
                                 "/etc/passwd", "20250101-120000-0123abc", None, 5])
def test_bad_ids_are_refused_before_any_path_is_used(bad):
    with pytest.raises(InvalidArgument, match="run id must look like 20250101-120000-0123abcd, got"):
        runs.load_run(bad)
    with pytest.raises(InvalidArgument):
        runs.load_model(bad)
    with pytest.raises(InvalidArgument):
        runs.delete_run(bad)


def test_missing_manifest_means_not_found_and_not_listed(cnnviz_home):
    info, _ = _save()
    (cnnviz_home / "runs" / info.run_id / "manifest.json").unlink()
    with pytest.raises(runs.RunNotFound, match=f"there is no complete run '{info.run_id}'"):
        runs.load_run(info.run_id)
    with pytest.raises(runs.RunNotFound):
        runs.load_model(info.run_id)
    assert runs.list_runs() == []


def test_checksum_mismatch_is_refused(cnnviz_home):
    info, _ = _save()
    folder = cnnviz_home / "runs" / info.run_id
    with open(folder / "model.keras", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(RunCorrupted, match="model.keras does not match its checksum"):
        runs.load_model(info.run_id)
    runs.load_run(info.run_id)  # the JSON files are still fine

    (folder / "metrics.json").write_text(json.dumps({**METRICS, "test_accuracy": 0.99}))
    with pytest.raises(RunCorrupted, match="metrics.json does not match its checksum"):
        runs.load_run(info.run_id)
    assert runs.list_runs() == []  # a damaged run is not offered


def test_h5_and_foreign_manifests_are_refused(cnnviz_home):
    info, _ = _save()
    folder = cnnviz_home / "runs" / info.run_id
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest["files"]
    files["model.h5"] = files.pop("model.keras")
    (folder / "model.keras").rename(folder / "model.h5")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RunCorrupted, match="names 'model.h5': only .keras models written by cnnviz are loaded"):
        runs.load_model(info.run_id)


def test_a_symlinked_model_file_is_refused(cnnviz_home, tmp_path):
    info, _ = _save()
    folder = cnnviz_home / "runs" / info.run_id
    outside = tmp_path / "elsewhere.keras"
    (folder / "model.keras").rename(outside)
    (folder / "model.keras").symlink_to(outside)
    with pytest.raises(RunCorrupted, match="is missing its file model.keras"):
        runs.load_model(info.run_id)


def test_crash_between_temp_write_and_rename_keeps_earlier_runs(cnnviz_home, monkeypatch):
    earlier, _ = _save()
    real_replace = os.replace
    calls = []

    def crash_on_manifest(src, dst):
        calls.append(str(dst))
        if str(dst).endswith("manifest.json"):
            raise OSError("simulated power cut")
        return real_replace(src, dst)

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", crash_on_manifest)
        # As in a real crash, nothing tidies up afterwards.
        patch.setattr(runs.shutil, "rmtree", lambda *a, **k: None)
        with pytest.raises(OSError, match="simulated power cut"):
            _save()

    assert any(c.endswith("model.keras") for c in calls)
    assert [r.run_id for r in runs.list_runs()] == [earlier.run_id]
    runs.load_model(earlier.run_id)  # still intact and verified
    partial = [p for p in (cnnviz_home / "runs").iterdir() if p.name != earlier.run_id]
    assert len(partial) == 1 and not (partial[0] / "manifest.json").exists()
    # Everything but the manifest reached its final name; atomic_path removed the manifest's temporary.
    assert sorted(p.name for p in partial[0].iterdir()) == ["config.json", "history.json", "metrics.json",
                                                            "model.keras"]

    assert runs.cleanup(min_age_s=0) == [partial[0]]
    assert [p.name for p in (cnnviz_home / "runs").iterdir()] == [earlier.run_id]


def test_failed_save_removes_its_folder(cnnviz_home, monkeypatch):
    def broken_replace(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError, match="disk full"):
            _save()
    assert list((cnnviz_home / "runs").iterdir()) == []


def test_cleanup_removes_old_leftovers_only(cnnviz_home):
    info, _ = _save()
    root = cnnviz_home / "runs"
    old_partial = root / "20200101-000000-00000001"
    young_partial = root / "20200101-000000-00000002"
    for folder in (old_partial, young_partial):
        folder.mkdir()
        (folder / "config.json").write_text("{}")
    stray = root / f"x{storage.TEMP_MARKER}123-abc"
    stray.write_text("half")
    inner = root / info.run_id / f"model.keras{storage.TEMP_MARKER}99-zz.keras"
    inner.write_bytes(b"half a model")
    unrelated = root / "notes.txt"
    unrelated.write_text("teacher's notes")
    hour_ago = time.time() - 3600
    for path in (old_partial / "config.json", old_partial, stray, inner):
        os.utime(path, (hour_ago, hour_ago))

    # While a writer is at work (here: this test holds the writers' lock as a save would),
    # young leftovers may be its work in progress and are kept.
    with storage.shared_lock(cnnviz_home / runs.WRITERS_LOCK) as locked:
        assert locked
        removed = runs.cleanup(min_age_s=600)
    assert sorted(removed) == sorted([old_partial, stray, inner])
    assert young_partial.exists() and unrelated.exists()
    assert [r.run_id for r in runs.list_runs()] == [info.run_id]
    runs.load_model(info.run_id)
    # With no writer alive, every leftover is a dead writer's: removed whatever its age.
    assert runs.cleanup(min_age_s=600) == [young_partial]
    assert unrelated.exists() and [r.run_id for r in runs.list_runs()] == [info.run_id]


def test_delete_run(cnnviz_home):
    info, _ = _save()
    runs.delete_run(info.run_id)
    assert runs.list_runs() == [] and not (cnnviz_home / "runs" / info.run_id).exists()
    with pytest.raises(runs.RunNotFound):
        runs.delete_run(info.run_id)


def test_non_finite_numbers_are_saved_as_null():
    info = saving.save_run(_model(), config=CONFIG, history={"loss": [float("nan"), 1.0]},
                         metrics={"test_loss": float("inf")}, status="finished")
    assert info.history == {"loss": [None, 1.0]} and info.metrics == {"test_loss": None}


def test_prepare_inputs_applies_the_saved_scaling():
    info, _ = _save(scaling="symmetric", scaling_affine={"method": "symmetric", "scale": [1 / 127.5], "offset": [-1.0]})
    x = np.array([0, 127, 255], dtype=np.uint8).reshape(3, 1, 1, 1)
    out = rundata.prepare_inputs(info, x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [-1.0, 127 / 127.5 - 1, 1.0], atol=1e-6)
    with pytest.raises(InvalidArgument, match=r"images must have 1 channel\(s\) in the last axis, got shape \(2, 3\)"):
        rundata.prepare_inputs(info, np.zeros((2, 3), np.uint8))


def test_run_dataset_recreates_the_same_subset():
    info, _ = _save()
    ds = rundata.run_dataset(info)
    again = load_training_data("digits", train_size=60, test_size=30, seed=3)
    assert len(ds.y_train) == 60 and len(ds.y_test) == 30
    np.testing.assert_array_equal(ds.x_train, again.x_train)
    np.testing.assert_array_equal(ds.y_test, again.y_test)


def test_comparison_helpers():
    a, _ = _save(seed=1)
    b, _ = _save(seed=2, epochs=5, augment={"rotation": 10.0, "flip": "horizontal", "seed": 0})
    assert differing_settings([a, b]) == ["augment", "epochs", "seed"]
    assert differing_settings([a, a]) == []
    rows = runs_table([a, b])
    assert rows[0]["run"] == a.run_id and rows[0]["test accuracy"] == 0.5 and rows[0]["epochs done"] == 1.5
    assert rows[1]["augment"] == "flip=horizontal, rotation=10.0"
    assert rows[0]["model.filters"] == 4


def test_comparison_sees_test_time_augmentation_the_prepadded_path_and_patience():
    from tests.support.runs import fake_run_info

    aug = {"flip": "horizontal", "crop": 2, "seed": 0}
    assert differing_settings([fake_run_info(), fake_run_info(tta="flip")]) == ["tta"]
    assert differing_settings([fake_run_info(augment=aug), fake_run_info(augment=aug, prepadded=True)]) == ["prepadded"]
    assert differing_settings([fake_run_info(early_stopping=True, patience=2),
                               fake_run_info(early_stopping=True, patience=10)]) == ["patience"]
    # patience is no difference without early stopping, nor a saved "none"/false against a run saved before them
    assert differing_settings([fake_run_info(patience=2), fake_run_info(patience=10)]) == []
    old = fake_run_info()
    for key in ("tta", "prepadded"):
        old.config.pop(key, None)
    assert differing_settings([old, fake_run_info(tta="none", prepadded=False)]) == []


def test_history_csv():
    info, _ = _save()
    assert history_csv(info) == (
        "epoch,loss,accuracy,val_loss,val_accuracy\n"
        "1,2.0,0.2,2.1,0.1\n"
        "1.5,1.5,0.4,,\n"  # stopped half-way through epoch 2 (epochs_completed 1.5)
    )


def test_history_csv_ends_a_stopped_run_at_its_epochs_done():
    def info(done):
        return runs.RunInfo(run_id="r", config={}, history={"loss": [2.0, 1.5, 1.2]},
                            metrics={} if done is None else {"epochs_completed": done}, created="", status="stopped")

    assert history_csv(info(2.333)).splitlines() == ["epoch,loss", "1,2.0", "2,1.5", "2.333,1.2"]
    # a whole last epoch, and a run saved without the metric, count 1, 2, 3
    assert [line.split(",")[0] for line in history_csv(info(3.0)).splitlines()] == ["epoch", "1", "2", "3"]
    assert info(None).history_epochs == [1, 2, 3]


def test_model_sha256_matches_the_file(cnnviz_home):
    info, _ = _save()
    digest = hashlib.sha256((cnnviz_home / "runs" / info.run_id / "model.keras").read_bytes()).hexdigest()
    assert runs.model_sha256(info.run_id) == digest


def test_first_listing_cleans_up_once(cnnviz_home, monkeypatch):
    calls = []
    monkeypatch.setattr(runs._first_cleanup, "done", False)
    monkeypatch.setattr(runs, "cleanup", lambda **kw: calls.append(kw) or [])
    runs.list_runs()
    runs.list_runs()
    assert calls == [{}]


def test_has_validation_needs_a_measured_validation_epoch():
    def info(history: dict) -> runs.RunInfo:
        return runs.RunInfo(run_id="x", config={}, history=history, metrics={}, created="", status="finished")

    assert info({"loss": [1.0, 0.5], "val_loss": [None, 0.7], "val_accuracy": [None, 0.6]}).has_validation
    assert not info({"loss": [1.0], "val_loss": [None], "val_accuracy": [None]}).has_validation  # stopped mid-epoch 1
    assert not info({"loss": [1.0, 0.5], "accuracy": [0.5, 0.7]}).has_validation  # split 0: no val_ keys


def test_runs_table_shows_how_many_images_all_was():
    """train_size/test_size None (the fast presets: all images) is shown as the count, not None."""
    def info(config: dict, metrics: dict) -> runs.RunInfo:
        return runs.RunInfo(run_id="20260101-000000-abcdef12", config=config, history={}, metrics=metrics,
                            created="2026-01-01T00:00:00", status="finished")

    every = info({"train_size": None, "test_size": None}, {"n_train": 40_000, "n_val": 10_000, "n_test": 10_000})
    subset = info({"train_size": 60, "test_size": 30}, {"n_train": 45, "n_val": 15, "n_test": 30})
    unknown = info({"train_size": None, "test_size": None}, {})  # a run saved before the counts were kept
    rows = runs_table([every, subset, unknown])
    assert [(r["train_size"], r["test_size"]) for r in rows] == [(50_000, 10_000), (60, 30), (None, None)]


def test_a_network_without_a_backbone_is_not_listed_with_imagenet_weights():
    """The lab report and Runs' table list every setting: a CNN trained from scratch must not read as one with a
    MobileNetV2 backbone and ImageNet weights (the defaults a transfer network would use)."""
    from tests.support.runs import fake_run_info

    own = runs_table([fake_run_info()])[0]
    assert [own[f"model.{key}"] for key in ("backbone", "alpha", "image_size", "frozen", "weights")] == [None] * 5
    transfer = {**fake_run_info().config["model"], "architecture": "transfer", "backbone": "resnet50"}
    row = runs_table([fake_run_info(model=transfer)])[0]
    assert (row["model.backbone"], row["model.weights"], row["model.frozen"]) == ("resnet50", "imagenet", True)
    assert row["model.alpha"] is None  # MobileNetV2's width: a ResNet50 has none
    mobilenet = fake_run_info(model={**transfer, "backbone": "mobilenetv2"})
    assert runs_table([mobilenet])[0]["model.alpha"] == 0.35
    assert "model.weights" in differing_settings([fake_run_info(), mobilenet])
