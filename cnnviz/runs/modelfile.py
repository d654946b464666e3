"""Model-file safety: a run's ``model.keras`` is checked to be exactly what Keras writes for a cnnviz model
before Keras parses it, then loaded with ``safe_mode=True``. Keras is imported inside :func:`load_model`.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnviz.errors import CnnvizError

if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Files whose names end like this are refused outright (legacy HDF5 loader ignores safe_mode).
REFUSED_SUFFIXES = (".h5", ".hdf5")
#: What a ``.keras`` archive written by Keras 3.15 ``model.save`` holds (``saving_lib.py``:
#: metadata, config, weights; no assets for our layers), every member stored uncompressed
#: (``zipfile.ZipFile(f, "w")`` defaults to ZIP_STORED). Anything else was not written by cnnviz.
ARCHIVE_MEMBERS = frozenset({"metadata.json", "config.json", "model.weights.h5"})
#: The largest config.json read before Keras sees it (the biggest preset's is well under 1 MB).
MAX_CONFIG_BYTES = 16 << 20
#: Keras classes that run code or open other files when a model is built; never in a cnnviz model
#: (``__lambda__`` is how Keras serialises a Python lambda's bytecode, ``function`` a reference to any
#: Python function, e.g. ``keras.utils.get_file`` given as an initializer; the lookup layers read
#: vocabulary files named in the config).
REFUSED_CLASSES = frozenset({"Lambda", "TFSMLayer", "__lambda__", "function",
                             "StringLookup", "IntegerLookup", "TextVectorization"})


log = logging.getLogger(__name__)


class RunCorrupted(CnnvizError):
    """A run's files do not match its manifest (or the manifest is unreadable)."""


def _refused(run_id: str) -> RunCorrupted:
    """The one sentence students see when a library refuses a model file; its own words go to the server log."""
    return RunCorrupted(f"run {run_id!r}: model.keras is not a model cnnviz would have written (it was changed or "
                        "damaged), so it was not loaded. Delete the run or train it again; the details are in the "
                        "server log.")


def load_model(path: Path, run_id: str) -> keras.Model:
    """Load a run's checksum-verified ``model.keras`` (see :func:`cnnviz.runs.store.model_file`): archive
    checked, ``safe_mode=True``.

    The checksum proves the file is the one the manifest names; whoever can write the store
    can rewrite both, so the archive is also checked to be exactly what Keras writes for a
    cnnviz model (:func:`check_model_archive`) before Keras parses it.

    Raises:
        RunCorrupted: the file is not an archive cnnviz writes, or Keras refuses it (e.g.
            ``safe_mode`` finds a Lambda layer).
    """
    if path.suffix != ".keras":  # the manifest check already guarantees this; keep the rule visible
        raise RunCorrupted(f"run {run_id!r}: only .keras models are loaded, got {path.name}")
    check_model_archive(path, run_id)
    import keras

    try:
        return keras.saving.load_model(path, compile=True, safe_mode=True)
    # Keras' refusals (ValueError, TypeError, h5py's OSError, ...) speak of classes and objects: students get
    # one calm sentence, the server log Keras' own text.
    except Exception as err:
        log.warning("run %r: Keras refused model.keras: %s", run_id, err, exc_info=True)
        raise _refused(run_id) from err


def check_model_archive(path: Path, run_id: str) -> None:
    """Refuse a ``model.keras`` that is not exactly what Keras writes for a cnnviz model.

    Checks (no Keras, nothing executed): a zip archive with exactly :data:`ARCHIVE_MEMBERS`,
    each stored uncompressed (so no decompression bomb: Keras 3.15 only refuses members
    that declare more than 4 GiB), a config.json of at most :data:`MAX_CONFIG_BYTES` that
    names only Keras' own classes and none of :data:`REFUSED_CLASSES`.

    Raises:
        RunCorrupted: with what is wrong.
    """
    where = f"run {run_id!r}: model.keras"
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = sorted(info.filename for info in infos)
            if len(names) != len(ARCHIVE_MEMBERS) or set(names) != ARCHIVE_MEMBERS:
                raise RunCorrupted(f"{where} holds {names}, not the files cnnviz writes; it was not loaded")
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                    raise RunCorrupted(
                        f"{where}: {info.filename} is compressed ({info.compress_size} bytes that unpack to "
                        f"{info.file_size}); cnnviz stores models uncompressed, so it was not loaded "
                        "(it may be a zip bomb)"
                    )
            config_info = archive.getinfo("config.json")
            if config_info.file_size > MAX_CONFIG_BYTES:
                raise RunCorrupted(f"{where}: config.json has {config_info.file_size} bytes, more than a cnnviz "
                                   f"model's ({MAX_CONFIG_BYTES}); it was not loaded")
            config = json.loads(archive.read("config.json"))
            _check_weights(archive, where)
    except RunCorrupted:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, KeyError, EOFError) as err:
        log.warning("%s is not a Keras model archive: %s", where, err)
        raise _refused(run_id) from None
    foreign = sorted(_foreign_classes(config))
    if foreign:
        raise RunCorrupted(f"{where} uses {', '.join(foreign)}, which cnnviz models never contain; "
                           "it was not loaded")


def _check_weights(archive: zipfile.ZipFile, where: str) -> None:
    """Refuse weights that point outside the file or declare more data than they hold.

    Keras writes every weight as a contiguous, uncompressed HDF5 dataset, so a real weights file
    holds all its bytes; a dataset stored elsewhere (external or virtual) or larger than the file
    (a "shape bomb": a tiny file that h5py would fill to gigabytes of zeros) was not written by Keras.
    """
    import h5py  # lazy: a Keras dependency, needed only when a model is opened

    info = archive.getinfo("model.weights.h5")
    declared = 0
    with archive.open(info) as raw, h5py.File(raw, "r") as weights:
        datasets: list[h5py.Dataset] = []
        weights.visititems(lambda _, item: datasets.append(item) if isinstance(item, h5py.Dataset) else None)
        for dataset in datasets:
            if dataset.external or dataset.is_virtual:
                raise RunCorrupted(f"{where}: its weights read data from outside the file ({dataset.name}); "
                                   "it was not loaded")
            declared += dataset.size * dataset.dtype.itemsize
    if declared > info.file_size:
        raise RunCorrupted(f"{where}: its weights declare {declared:,} bytes in a file of {info.file_size:,} bytes "
                           "(Keras' weights hold every byte they declare); it was not loaded")


def _foreign_classes(config: Any) -> set[str]:
    """Class names in a Keras config that are refused or come from outside Keras itself."""
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            name = item.get("class_name")
            if isinstance(name, str):
                module = item.get("module")
                registered = item.get("registered_name")
                if name in REFUSED_CLASSES:
                    found.add("a reference to a Python function" if name == "function" else name)
                elif module is not None and not (module == "keras" or str(module).startswith("keras.")):
                    found.add(f"{module}.{name}")
                elif isinstance(registered, str) and ">" in registered:  # a custom registered class
                    found.add(registered)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
