"""Model files refused with one calm sentence for students; Keras' own words only in the server log (issue 18)."""

from __future__ import annotations

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
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    return path


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
