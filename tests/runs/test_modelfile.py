"""The app never loads a model file it did not write (issue 9, "Hostile input", model files).

Every model-loading path in cnnviz is offered hostile files: ``runs.load_model`` (and so
``cnnviz.app.caches.run_model``, the only caller) and ``runs.model_file`` (downloads) for run models;
``weights.resolve_weights`` / ``pretrained.load_resnet50`` / ``weights.install_weights_file`` for the one
file a teacher may name. A Lambda layer whose function creates a file stands for "code
runs": after every refusal that file must not exist.

Forged runs stand for someone who can write the store: they replace ``model.keras`` and
rewrite the manifest's checksum to match, so the checksum alone does not stop them.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnviz import weights
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.inspect import pretrained
from cnnviz.models import resnet50
from cnnviz.runs import modelfile
from cnnviz.runs import modelfile as runs_modelfile
from cnnviz.runs import saving
from cnnviz.runs import store as runs
from cnnviz.runs.modelfile import RunCorrupted
from tests.support.models import tiny_build, tiny_imagenet_model
from tests.support.specs import RUN_CONFIG


pytestmark = pytest.mark.slow


# --- hostile files -------------------------------------------------------------------------------
def lambda_model(marker: Path):
    """A model whose Lambda layer creates ``marker`` whenever the layer is built or called."""
    import keras

    # A Python lambda is saved as its bytecode (a named function would be saved by name only);
    # the path is a constant inside that bytecode (Keras 3.15 cannot reload saved defaults).
    touch = eval(f"lambda x: (open({str(marker)!r}, 'w').close(), x)[1]")  # noqa: S307 - our own text

    return keras.Sequential([
        keras.Input((8, 8, 1), name="image"),
        keras.layers.Lambda(touch, name="evil"),  # no output_shape: building it calls it
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, activation="softmax", name="predictions"),
    ], name="evil")


@pytest.fixture(scope="module")
def evil_files(tmp_path_factory):
    """``model.keras`` and ``model.h5`` with the Lambda, and the marker path they create."""
    import keras

    folder = tmp_path_factory.mktemp("evil")
    marker = folder / "code-ran.txt"
    model = lambda_model(marker)
    model.save(folder / "evil.keras")
    model.save(folder / "evil.h5")  # Keras' legacy HDF5 format (config with the bytecode inside)
    marker.unlink(missing_ok=True)  # building the model above ran it once
    # The test can fail: loading without safe_mode really runs the function.
    keras.saving.load_model(folder / "evil.keras", safe_mode=False)
    assert marker.exists()
    marker.unlink()
    return {"keras": folder / "evil.keras", "h5": folder / "evil.h5", "marker": marker}


def zip_bomb(size: int = 64 << 20) -> bytes:
    """A .keras-looking zip whose config.json is ``size`` deflated spaces (~1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", "{}", compress_type=zipfile.ZIP_STORED)
        with archive.open("config.json", "w") as fh:
            block = b" " * (1 << 20)
            for _ in range(size >> 20):
                fh.write(block)
        archive.writestr("model.weights.h5", b"", compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def saved_run() -> runs.RunInfo:
    model = tiny_build((8, 8, 1), 10)
    model.optimizer.build(model.trainable_variables)  # as after training: its state is saved too
    return saving.save_run(model, config=RUN_CONFIG, history={"loss": [1.0]},
                         metrics={"test_accuracy": 0.5}, status="finished")


def forge(info: runs.RunInfo, data: bytes, *, fix_checksum: bool = True) -> None:
    """Replace the run's model.keras with ``data``; rewrite the manifest to match unless told not to."""
    (info.path / runs.MODEL_FILE).write_bytes(data)
    if fix_checksum:
        manifest = json.loads((info.path / runs.MANIFEST).read_text())
        manifest["files"][runs.MODEL_FILE] = hashlib.sha256(data).hexdigest()
        (info.path / runs.MANIFEST).write_text(json.dumps(manifest))


def rewrite_manifest(info: runs.RunInfo, change) -> None:
    manifest = json.loads((info.path / runs.MANIFEST).read_text())
    change(manifest)
    (info.path / runs.MANIFEST).write_text(json.dumps(manifest))


# --- run models ----------------------------------------------------------------------------------
REFUSED = "run {!r}: model.keras is not a model cnnviz would have written"


def test_lambda_model_is_refused_before_keras_sees_it(cnnviz_home, evil_files):
    info = saved_run()
    forge(info, evil_files["keras"].read_bytes())
    with pytest.raises(RunCorrupted, match=re.escape(
            f"run {info.run_id!r}: model.keras uses Lambda, __lambda__, which cnnviz models never contain; "
            "it was not loaded")):
        runs.load_model(info.run_id)
    assert not evil_files["marker"].exists()


def test_lambda_model_is_refused_by_keras_safe_mode_too(cnnviz_home, evil_files, monkeypatch):
    # Second layer of defence: without cnnviz's own archive check, safe_mode=True still refuses.
    info = saved_run()
    forge(info, evil_files["keras"].read_bytes())
    monkeypatch.setattr(modelfile, "check_model_archive", lambda path, run_id: None)
    with pytest.raises(RunCorrupted, match=re.escape(REFUSED.format(info.run_id))):  # issue 18: calm words
        runs.load_model(info.run_id)
    assert not evil_files["marker"].exists()


def test_a_model_replaced_after_saving_is_refused_by_its_checksum(cnnviz_home, evil_files):
    info = saved_run()
    forge(info, evil_files["keras"].read_bytes(), fix_checksum=False)
    message = f"run {info.run_id!r}: model.keras does not match its checksum (the file was changed or damaged)"
    for load in (runs.load_model, runs.model_file):  # loading and downloading
        with pytest.raises(RunCorrupted, match=re.escape(message)):
            load(info.run_id)
    assert not evil_files["marker"].exists()


def test_an_hdf5_model_is_refused_whatever_its_name(cnnviz_home, evil_files):
    info = saved_run()
    forge(info, evil_files["h5"].read_bytes())  # HDF5 bytes at model.keras
    with pytest.raises(RunCorrupted, match=re.escape(REFUSED.format(info.run_id))):  # issue 18: calm words
        runs.load_model(info.run_id)
    (info.path / runs.MODEL_FILE).rename(info.path / "model.h5")  # and named .h5 in the manifest
    rewrite_manifest(info, lambda m: m["files"].update({"model.h5": m["files"].pop(runs.MODEL_FILE)}))
    with pytest.raises(RunCorrupted, match=re.escape(
            f"run {info.run_id!r} names 'model.h5': only .keras models written by cnnviz are loaded")):
        runs.load_model(info.run_id)
    assert not evil_files["marker"].exists()


def test_a_zip_bomb_named_keras_is_refused_without_unpacking(cnnviz_home):
    info = saved_run()
    bomb = zip_bomb()
    assert len(bomb) < 1 << 20  # 64 MiB of config in well under 1 MiB
    forge(info, bomb)
    with pytest.raises(RunCorrupted, match=re.escape(
            f"run {info.run_id!r}: model.keras: config.json is compressed (") + r"\d+ bytes that unpack to 67108864\)"
            "; cnnviz stores models uncompressed, so it was not loaded \\(it may be a zip bomb\\)"):
        runs.load_model(info.run_id)


@pytest.mark.parametrize("members", [
    ["metadata.json", "config.json", "model.weights.h5", "../../escape.txt"],
    ["metadata.json", "config.json", "/etc/cron.d/x"],
    ["metadata.json", "config.json", "model.weights.h5", "config.json"],
])
def test_archives_with_other_members_are_refused(cnnviz_home, members):
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name
        for name in members:
            archive.writestr(name, "{}")
    info = saved_run()
    forge(info, out.getvalue())
    with pytest.raises(RunCorrupted, match="not the files cnnviz writes; it was not loaded"):
        runs.load_model(info.run_id)


def test_a_config_naming_a_foreign_module_is_refused(cnnviz_home):
    info = saved_run()
    with zipfile.ZipFile(info.path / runs.MODEL_FILE) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    config["config"]["layers"][1].update(module="os", class_name="system", registered_name=None)
    parts["config.json"] = json.dumps(config).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    forge(info, out.getvalue())
    with pytest.raises(RunCorrupted, match=re.escape("model.keras uses os.system, which cnnviz models never")):
        runs.load_model(info.run_id)


@pytest.mark.parametrize("files", [
    {"../config.json": "0", "history.json": "0", "metrics.json": "0", "model.keras": "0"},
    {"/etc/passwd": "0", "history.json": "0", "metrics.json": "0", "model.keras": "0", "config.json": "0"},
    {"config.json": "0", "history.json": "0", "metrics.json": "0", "../../elsewhere/model.keras": "0"},
])
def test_manifests_naming_other_paths_are_refused(cnnviz_home, files):
    info = saved_run()
    rewrite_manifest(info, lambda m: m.update(files=files))
    with pytest.raises(RunCorrupted, match=re.escape(f"the manifest of run {info.run_id!r} is not one cnnviz wrote")):
        runs.load_model(info.run_id)
    with pytest.raises(RunCorrupted):
        runs.load_run(info.run_id)
    assert runs.list_runs() == []


def test_a_symlinked_run_folder_is_refused(cnnviz_home, tmp_path):
    info = saved_run()
    elsewhere = tmp_path / "elsewhere"
    info.path.rename(elsewhere)
    info.path.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InvalidArgument, match="does not name a folder inside the run store"):
        runs.load_model(info.run_id)


@pytest.mark.parametrize("bad", [
    "../20250101-120000-0123abcd", "20250101-120000-0123abcd/../../x", "/tmp/model.keras", "runs/x",
    "http://127.0.0.1:9/model.keras", "s3://bucket/model.keras", "hf://someone/model", "gs://b/m.keras",
    "20250101-120000-0123abcd.h5",
])
def test_ids_that_are_paths_or_addresses_are_refused_by_every_loader(bad):
    for call in (runs.load_model, runs.model_file, runs.model_sha256, runs.load_run, runs.delete_run):
        with pytest.raises(InvalidArgument, match=re.escape(
                f"run id must look like 20250101-120000-0123abcd, got {bad!r}")):
            call(bad)


def test_an_intact_run_still_loads(cnnviz_home):
    info = saved_run()
    runs_modelfile.check_model_archive(runs.model_file(info.run_id), info.run_id)
    model = runs.load_model(info.run_id)
    assert [layer.name for layer in model.layers] == ["conv-1", "flatten", "predictions"]


# --- the pretrained weights file -----------------------------------------------------------------
@pytest.fixture
def no_load_model(monkeypatch):
    """Make every Keras whole-model loader fail the test: weights are only ever load_weights'ed."""
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    from keras.src.saving import saving_lib

    def forbidden(*args, **kwargs):
        raise AssertionError("a model file was deserialised")

    for owner, name in ((keras.saving, "load_model"), (keras.models, "load_model"), (saving_lib, "load_model"),
                        (legacy_h5_format, "load_model_from_hdf5")):
        monkeypatch.setattr(owner, name, forbidden)


@pytest.fixture
def tiny_resnet(monkeypatch):
    """The tiny 1000-class stand-in for ResNet50 (same code path, seconds instead of minutes)."""
    monkeypatch.setattr(resnet50, "build_resnet50", lambda: tiny_imagenet_model(seed=1))


def test_weights_are_only_ever_load_weights_into_the_known_architecture(tmp_path, no_load_model, tiny_resnet):
    source = tiny_imagenet_model(seed=2)
    path = tmp_path / "teacher.weights.h5"
    source.save_weights(str(path))
    clf = pretrained.load_resnet50(weights_path=path, download=False)
    np.testing.assert_array_equal(clf.model.get_layer("predictions").get_weights()[0],
                                  source.get_layer("predictions").get_weights()[0])


@pytest.mark.parametrize("name", ["evil.keras", "notes.txt", "weights", "../../etc/passwd"])
def test_weights_files_that_are_not_hdf5_weights_are_refused_by_name(tmp_path, evil_files, no_load_model,
                                                                     tiny_resnet, monkeypatch, name):
    path = tmp_path / "a" / "b" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(evil_files["keras"].read_bytes())
    message = re.escape(f"the ResNet50 weights file must be an HDF5 weights file ending in .h5 (as Keras publishes "
                        f"it, or written by model.save_weights), got {str(path)!r}")
    with pytest.raises(InvalidArgument, match=message):
        pretrained.load_resnet50(weights_path=str(path), download=False)
    monkeypatch.setenv(weights.RESNET50.env, str(path))
    with pytest.raises(InvalidArgument, match=message):
        pretrained.load_resnet50(download=False)
    assert not evil_files["marker"].exists()


def test_an_hdf5_model_with_a_lambda_given_as_weights_runs_nothing(tmp_path, evil_files, no_load_model,
                                                                   tiny_resnet):
    with pytest.raises(InvalidArgument, match=re.escape(f"could not read ResNet50 weights from {evil_files['h5']}:")):
        pretrained.load_resnet50(weights_path=evil_files["h5"], download=False)
    text = tmp_path / "junk.h5"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(InvalidArgument, match=re.escape(f"could not read ResNet50 weights from {text}:")):
        pretrained.load_resnet50(weights_path=text, download=False)
    assert not evil_files["marker"].exists()


@pytest.mark.parametrize("address", ["http://127.0.0.1:9/w.h5", "https://example.org/w.h5", "s3://bucket/w.h5",
                                     "hf://someone/w.h5", "file:///etc/passwd"])
def test_remote_weights_addresses_are_refused(address, monkeypatch, cnnviz_home):
    message = re.escape(f"the weights file must be a path on this machine, got {address!r}")
    with pytest.raises(InvalidArgument, match=message):
        weights.resolve_weights(weights.RESNET50, address, download=False)
    monkeypatch.setenv(weights.RESNET50.env, address)
    with pytest.raises(InvalidArgument, match=message):
        weights.resolve_weights(weights.RESNET50, download=False)
    with pytest.raises(InvalidArgument, match=message):
        weights.install_weights_file(address, weights.RESNET50)
    assert not (cnnviz_home / "weights").exists()


def test_install_weights_file_copies_only_the_official_file(tmp_path, evil_files, cnnviz_home):
    for source in (evil_files["keras"], evil_files["h5"], tmp_path / ".." / tmp_path.name / "x.h5"):
        if not source.exists():
            source.write_bytes(b"not weights")
        with pytest.raises(InvalidArgument, match=re.escape(f"{source} has MD5 ") + ".*; not copied"):
            weights.install_weights_file(source, weights.RESNET50)
    with pytest.raises(Unavailable, match=re.escape(f"the file {tmp_path / 'missing.h5'} does not exist")):
        weights.install_weights_file(tmp_path / "missing.h5", weights.RESNET50)
    assert not (cnnviz_home / "weights").exists() or not any((cnnviz_home / "weights").iterdir())
    assert not evil_files["marker"].exists()
