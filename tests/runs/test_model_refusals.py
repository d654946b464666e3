"""Model files refused with one calm sentence for students; Keras' own words only in the server log (issue 18)."""

from __future__ import annotations

import io
import json
import logging
import zipfile

import pytest

from cnnviz.runs import modelfile
from cnnviz.runs.modelfile import RunCorrupted

CALM = ("run 'r1': model.keras is not a model cnnviz would have written (it was changed or damaged), so it was "
        "not loaded. Delete the run or train it again; the details are in the server log.")
# What Keras 3.15 said to students for the forged files (StringLookup with an outside vocabulary
# file, keras.utils.get_file as an initializer, an HDF5 external dataset, a 1 GiB HDF5 shape bomb).
KERAS_WORDS = [
    ValueError("<class 'keras.src.models.functional.Functional'> could not be deserialized properly. Please "
               "ensure that components that are Python object instances (layers, models, etc.) returned by "
               "`get_config()` are explicitly deserialized in the model's `from_config()` method."),
    ValueError("A total of 1 objects could not be loaded. Example error message for object <StringLookup "
               "name=string_lookup, built=True>: [Errno 2] No such file or directory: '/etc/vocab.txt'"),
    TypeError("Could not locate function 'get_file'. Make sure custom classes are decorated with "
              "`@keras.saving.register_keras_serializable()`."),
    OSError("Unable to synchronously open object (external storage not supported)"),
    MemoryError(),
]


def _archive(path, config=None):
    config = config or {"class_name": "Sequential", "module": "keras", "config": {"layers": []}}
    with zipfile.ZipFile(path, "w") as archive:  # stored, as Keras writes it
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", _empty_weights())
    return path


def _empty_weights() -> bytes:
    """A real HDF5 file with no datasets (the weights of a model without layers)."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w"):
        pass
    return buffer.getvalue()


@pytest.mark.parametrize("raised", KERAS_WORDS, ids=lambda e: type(e).__name__ + str(e)[:20])
def test_keras_refusals_become_one_calm_sentence_and_the_log_keeps_the_text(raised, tmp_path, monkeypatch,
                                                                             caplog):
    import keras

    def refuse(*args, **kwargs):
        raise raised

    monkeypatch.setattr(keras.saving, "load_model", refuse)
    with caplog.at_level(logging.WARNING, logger="cnnviz.runs.modelfile"), \
            pytest.raises(RunCorrupted) as err:
        modelfile.load_model(_archive(tmp_path / "model.keras"), "r1")
    assert str(err.value) == CALM
    assert err.value.__cause__ is raised  # kept for the server's traceback
    logged = caplog.text
    assert "Keras refused model.keras" in logged and "'r1'" in logged
    assert str(raised) in logged


def test_a_file_that_is_not_an_archive_is_refused_calmly_and_logged(tmp_path, caplog):
    path = tmp_path / "model.keras"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    with caplog.at_level(logging.WARNING, logger="cnnviz.runs.modelfile"), pytest.raises(RunCorrupted) as err:
        modelfile.check_model_archive(path, "r1")
    assert str(err.value) == CALM
    assert "File is not a zip file" in caplog.text and "File is not a zip file" not in str(err.value)


# Forged model files the hostile set used, made for real: each passes for a Keras archive (three stored
# members, Keras' own module names) and is refused before Keras parses it, with a sentence that says why.
def _forged(tmp_path, name, *, edit_config=None, weights=None):
    import h5py

    from tests.support.models import tiny_build

    good = tmp_path / "good.keras"
    tiny_build((8, 8, 1), 3).save(good)
    with zipfile.ZipFile(good) as archive:
        parts = {n: archive.read(n) for n in modelfile.ARCHIVE_MEMBERS}
    config = json.loads(parts["config.json"])
    if edit_config is not None:
        edit_config(config["config"]["layers"])
    if weights is not None:
        buffer = io.BytesIO()
        with h5py.File(io.BytesIO(parts["model.weights.h5"]), "r") as source, h5py.File(buffer, "w") as forged:
            weights(source, forged)
        parts["model.weights.h5"] = buffer.getvalue()
    parts["config.json"] = json.dumps(config).encode()
    path = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in parts.items():
            archive.writestr(member, data)
    return path


def _add_lookup(layers):
    layers.insert(1, {"module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
                      "config": {"name": "lookup", "vocabulary": "/etc/hostname", "dtype": "string"}})


def _get_file_initializer(layers):
    conv = next(layer for layer in layers if layer["class_name"] == "Conv2D")
    conv["config"]["kernel_initializer"] = {"module": "keras.utils", "class_name": "function",
                                            "config": "get_file", "registered_name": "function"}


def _copy(source, forged, *, bomb=False):
    """Copy every group, dataset and attribute; with ``bomb``, the conv kernel becomes 1 GiB declared in one
    unwritten chunk (a 12 KB file)."""
    import h5py

    for name, value in source.attrs.items():
        forged.attrs[name] = value
    for key in source:
        source.copy(source[key], forged, key)
    if bomb:
        kernels = []
        forged.visititems(lambda name, item: kernels.append(name)
                          if isinstance(item, h5py.Dataset) and item.ndim == 4 else None)
        del forged[kernels[0]]
        forged.create_dataset(kernels[0], shape=(256, 1024, 1024, 1), dtype="f4", chunks=(1, 1024, 1024, 1))


def _external(source, forged):
    _copy(source, forged)
    forged.create_dataset("layers/extra/vars/0", shape=(4,), dtype="f4", external=[("/etc/hostname", 0, 16)])


FORGED = {
    "StringLookup reading a vocabulary file": (dict(edit_config=_add_lookup), "uses StringLookup"),
    "keras.utils.get_file as an initializer": (dict(edit_config=_get_file_initializer),
                                               "uses a reference to a Python function"),
    "HDF5 external dataset": (dict(weights=_external), "its weights read data from outside the file"),
    "1 GiB HDF5 shape bomb": (dict(weights=lambda s, f: _copy(s, f, bomb=True)),
                              "its weights declare 1,073,7"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_model_files_are_refused_before_keras_reads_them(case, tmp_path, monkeypatch):
    import keras

    forge, words = FORGED[case]
    path = _forged(tmp_path, "forged", **forge)
    monkeypatch.setattr(keras.saving, "load_model", lambda *a, **k: pytest.fail("Keras was asked to load it"))
    with pytest.raises(RunCorrupted) as err:
        modelfile.load_model(path, "r1")
    message = str(err.value)
    assert message.startswith("run 'r1': model.keras") and words in message and "it was not loaded" in message


def test_an_unforged_copy_passes_the_same_checks(tmp_path):
    path = _forged(tmp_path, "copy", weights=_copy)  # rebuilt through the same h5py path, nothing added
    modelfile.check_model_archive(path, "r1")  # no exception: the checks refuse only what was forged
