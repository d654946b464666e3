"""Datasets as one small object: uint8 images N×H×W×C, integer labels, class names, source.

Every page that needs data (training, evaluation, robustness) goes through this module:
``load(name)`` gives a :class:`Dataset` (never downloads; :mod:`cnnviz.data.subsets` cuts
it repeatably), ``scale`` turns uint8 into the float input a model takes. Names, what is on
this machine and how to get the rest are in :mod:`cnnviz.data.stored` (numpy-free, for Home);
``download`` and ``import_*`` put data into ``CNNVIZ_HOME/data`` as one ``.npz`` per dataset,
written atomically and read back without pickle. Nothing here imports TensorFlow except
:func:`download` for MNIST and Fashion-MNIST (through ``keras.datasets``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from cnnviz import storage, weights
from cnnviz.classroom import policy
from cnnviz.classroom.people import Person
from cnnviz.data import cifar10, folderdata, npzmap, owners
from cnnviz.data.scaling import channel_stats, scale
from cnnviz.data.selection import STRATIFIED, Selection, split_indices, subset_indices
from cnnviz.data.subsets import DEFAULT_VALIDATION_FRACTION, split_validation
from cnnviz.data.stored import (
    CLI, FOLDER_NAME, FOLDER_PREFIX, SOURCES, WRITERS_LOCK, check_name, file_for, how_to_get, title)
from cnnviz.envflags import env_flag
from cnnviz.errors import CnnvizError, InvalidArgument, Unavailable


@dataclass(frozen=True)
class Dataset:
    """Images and labels of one dataset, already split into train and test.

    Attributes:
        name: short id, e.g. ``"digits"``, ``"cifar10"`` or ``"folder:cats_vs_dogs"``.
        x_train, x_test: uint8 arrays N×H×W×C (C is 1 or 3).
        y_train, y_test: int64 arrays of class indices.
        class_names: one name per class index.
        source: where the data came from, for people.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# keras.datasets gives labels only; names from the Fashion-MNIST README (zalandoresearch).
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FOLDER_TEST_FRACTION = 0.2
_FORMAT_VERSION = 1
_download_lock = threading.Lock()
#: A folder dataset's name is reserved by creating ``folders/<name>`` + this (``O_EXCL``) before the
#: long decode; it carries the temporary marker, so cleanup removes one a killed import left.
_RESERVED = f"{storage.TEMP_MARKER}reserved"
log = logging.getLogger("cnnviz.data.datasets")

Progress = Callable[[int, "int | None"], None]


# --- storage ----------------------------------------------------------------------------
def _save(name: str, *, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
          y_test: np.ndarray, class_names: tuple[str, ...], source: str) -> Path:
    """Write one dataset as an uncompressed ``.npz`` (fast to read), atomically."""
    final = file_for(name)
    try:
        with _writing(), storage.atomic_path(final) as tmp, open(tmp, "wb") as fh:
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; the server may run as another user than the CLI
            np.savez(fh, x_train=x_train, y_train=y_train.astype(np.int64), x_test=x_test,
                     y_test=y_test.astype(np.int64), class_names=np.array(class_names, dtype=str),
                     source=np.array(source), format_version=np.array(_FORMAT_VERSION))
    except OSError as err:  # a full or read-only CNNVIZ_HOME: say so, as a run save does
        failure = storage.disk_failure(err, f"save the dataset {title(name)}")
        if failure is None:
            raise
        raise failure from err
    return final


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """Hold the data writers' shared lock (see :data:`WRITERS_LOCK`) for the ``with`` block."""
    with storage.writing(WRITERS_LOCK):
        yield


@contextlib.contextmanager
def _reserved(name: str) -> Iterator[None]:
    """Reserve folder dataset ``name`` (no ``folder:``) for one import, atomically, until the block ends.

    Raises:
        InvalidArgument: another import holds the name right now ("just taken").
        SaveFailed: the data folder cannot be written (full, read-only), in words.
    """
    try:
        folder = storage.ensure_dir(storage.data_dir() / "folders")
        fd = os.open(folder / f"{name}{_RESERVED}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        raise InvalidArgument(f"the name {name!r} was just taken by another import; choose another name") from None
    except OSError as err:
        failure = storage.disk_failure(err, f"make the dataset {name!r}")
        if failure is None:
            raise
        raise failure from err
    os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            (folder / f"{name}{_RESERVED}").unlink()


def _damaged(name: str, why: str) -> CnnvizError:
    return CnnvizError(f"The stored copy of {title(name)} ({file_for(name)}) is damaged ({why}); "
                       f"delete it with `{CLI} remove {name}` and get it again.")


def _read(name: str, *, mapped: bool = False) -> Dataset:
    path = file_for(name)
    try:
        # the handle ours to close: np.load leaves its own open when the zip inside is cut short
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as f:
            keys = ("y_train", "y_test") if mapped else ("x_train", "y_train", "x_test", "y_test")
            arrays = {k: f[k] for k in keys}
            class_names = tuple(str(c) for c in f["class_names"])
            source = str(f["source"])
        if mapped:  # the images stay on disk until used: a run's 2,000 test images read 6 MB, not 184
            arrays.update(npzmap.map_arrays(path, ("x_train", "x_test")))
    except FileNotFoundError:
        raise Unavailable(f"{title(name)} is not on this machine. {how_to_get(name)}") from None
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as err:  # the last two: a file cut short
        raise _damaged(name, str(err)) from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3) or y.shape != (len(x),):
            raise _damaged(name, f"{split} arrays have shapes {x.shape} {x.dtype} and {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= len(class_names)):
            raise _damaged(name, f"{split} labels outside 0..{len(class_names) - 1}")
    return Dataset(name=name, class_names=class_names, source=source, **arrays)


def remove(name: str, by: Person | None = None) -> bool:
    """Delete a stored dataset (not digits); return whether there was one.

    ``by``: who removes it: whoever imported it, or the teacher (None: the teacher); else NotAllowed.
    """
    check_name(name)
    if name == "digits":
        raise InvalidArgument("digits ships with scikit-learn and cannot be removed")
    owners.check_change(name, by, "remove")  # built-ins are the teacher's to remove
    path = file_for(name)
    if not path.is_file():
        return False
    try:
        path.unlink()
    except FileNotFoundError:  # removed meanwhile (its owner and the teacher at once, two tabs): theirs to forget
        return False
    except OSError as err:  # a read-only CNNVIZ_HOME, or one the command line's user may not write: say so
        failure = storage.disk_failure(err, f"remove the dataset {title(name)}")
        if failure is None:
            raise
        raise failure from err
    owners.forget(name)
    return True


# --- loading ----------------------------------------------------------------------------
def check_visible(name: str, viewer: Person | None) -> None:
    """Raise Unavailable ("not on this machine") when ``name`` is another student's import for ``viewer``."""
    check_name(name)
    if name not in SOURCES and not owners.visible([name], viewer):
        raise Unavailable(f"{title(name)} is not on this machine. {how_to_get(name)}")


def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8×8 digits (always available offline) as uint8 8×8×1.

    The 0..16 grey levels are scaled to 0..255; the split is stratified and repeatable.
    """
    # lazy: sklearn.datasets + model_selection measured 1.0-2.0 s here; Home imports this module (status)
    from sklearn.datasets import load_digits as _sk_digits
    from sklearn.model_selection import train_test_split

    bunch = _sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return Dataset(
        name="digits",
        x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
        class_names=tuple(str(d) for d in range(10)),
        source="scikit-learn load_digits (bundled, 1,797 images of 8×8 pixels)",
    )


def load(name: str, viewer: Person | None = None, *, mapped: bool = False, **opts) -> Dataset:
    """Load a dataset that is on this machine; never downloads.

    Args:
        name: ``"digits"``, ``"cifar10"``, ``"mnist"``, ``"fashion_mnist"`` or ``"folder:NAME"``.
        mapped: memory-map the stored images (read-only) instead of reading them, so only the
            images used are read (:mod:`cnnviz.data.npzmap`); the bundled digits are in memory anyway.
        viewer: who asks; another student's import is "not on this machine" for them, as if it did
            not exist (None: the teacher; a run's own test images are read through the run).
        **opts: only for ``"digits"``: ``test_fraction`` and ``seed`` of :func:`load_digits`.
    Returns:
        The full dataset (use :func:`subset` for the seed's smaller sizes).
    Raises:
        InvalidArgument: unknown name or options. Unavailable: not on this machine (the
            message says how to get it), or not ``viewer``'s to use.
    """
    check_visible(name, viewer)
    if name == "digits":
        return load_digits(**opts)
    if opts:
        raise InvalidArgument(f"{name} takes no options, got {sorted(opts)}")
    return _read(name, mapped=mapped)


# --- getting data -----------------------------------------------------------------------
@contextlib.contextmanager
def _one_download(name: str) -> Iterator[None]:
    if not _download_lock.acquire(blocking=False):
        raise Unavailable(f"Another download is already running on this server; wait for it to "
                          f"finish, then get {title(name)} again.")
    try:
        yield
    finally:
        _download_lock.release()


def download(
    name: str,
    *,
    progress: Progress | None = None,
    url: str | None = None,
    expected_size: int | None = cifar10.OFFICIAL_SIZE,
    expected_md5: str | None = cifar10.OFFICIAL_MD5,
    timeout: float = cifar10.DEFAULT_TIMEOUT_S,
) -> str:
    """Fetch a dataset from the internet and store it; return a one-line summary.

    CIFAR-10 comes from ``url`` (default the official binary archive) through a verified,
    atomic download (:func:`cnnviz.data.cifar10.download_file`); the archive is parsed into
    ``data/cifar10.npz`` and then deleted. MNIST and Fashion-MNIST come through
    ``keras.datasets`` (into Keras' own cache first); ``url``/size/md5 do not apply to them.

    Args:
        name: ``"cifar10"``, ``"mnist"`` or ``"fashion_mnist"``.
        progress: ``progress(bytes_done, bytes_total_or_None)`` (CIFAR-10 only).
        url: a mirror of the CIFAR-10 binary archive.
        expected_size, expected_md5: what the archive must be; None skips that check
            (for a mirror serving a rebuilt archive: the structure is still validated).
        timeout: seconds for the connection and each read.
    Raises:
        Unavailable: offline, HTTP error, checksum or size mismatch (nothing is kept).
    """
    check_name(name)
    if name not in SOURCES or not SOURCES[name].downloadable:
        raise InvalidArgument(f"{name} cannot be downloaded; downloadable: "
                              f"{', '.join(n for n, s in SOURCES.items() if s.downloadable)}")
    with _one_download(name):
        if name == "cifar10":
            archive = storage.data_dir() / cifar10.ARCHIVE_NAME
            if _verified_leftover(archive, expected_size, expected_md5):  # a process killed before the import
                if progress is not None:
                    progress(archive.stat().st_size, archive.stat().st_size)
            else:
                with _writing():  # a writer at work: another process's cleanup keeps its temporary file
                    cifar10.download_file(url or cifar10.OFFICIAL_URL, archive, expected_size=expected_size,
                                          expected_md5=expected_md5, progress=progress, timeout=timeout)
            try:
                return import_cifar10(archive, origin=url or cifar10.OFFICIAL_URL)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()
        return _download_keras(name)


def _verified_leftover(archive: Path, size: int | None, md5: str | None) -> bool:
    """Whether a download's archive is already here, complete (the size and MD5 asked for): a process killed
    between the download and the import leaves one, and 170 MB need not be fetched again."""
    try:
        return (md5 is not None and archive.is_file() and (size is None or archive.stat().st_size == size)
                and weights.md5_file(archive) == md5)
    except OSError:
        return False


#: A teacher sets this to 1 when starting the server to let the Datasets page read a path on the
#: server. Off by default: on a shared classroom server a student could otherwise probe the file
#: system through the import box (the CLI import is unaffected: it runs as the teacher).
SERVER_PATHS_ENV = "CNNVIZ_ALLOW_SERVER_PATHS"


def server_paths_allowed() -> bool:
    """Whether the app may import datasets from paths on the server (``CNNVIZ_ALLOW_SERVER_PATHS=1``)."""
    return env_flag(SERVER_PATHS_ENV)


def import_cifar10(path: Path | str, *, origin: str | None = None, by: Person | None = None,
                   progress: Progress | None = None) -> str:
    """Install CIFAR-10 from an archive shaped like the official binary one, or its folder.

    The structure is validated (file names, whole 3,073-byte records, equal training
    batches, labels 0..9); the checksum is not, since a rebuilt archive differs from the
    official file.

    Args:
        by: who installs it (None: the teacher); CIFAR-10 is the whole class's, so only the teacher may.
        progress: ``progress(done, total)``, the bytes read of the archive or the batch files.
    Returns:
        A one-line summary for people.
    Raises:
        cnnviz.data.cifar10.FormatError: the path is not the CIFAR-10 binary layout.
        cnnviz.classroom.policy.NotAllowed: ``by`` is a student.
    """
    if by is not None:
        policy.check_teacher(by, "install CIFAR-10 from a path on the server")
    arrays = cifar10.read_any(Path(path), progress)
    source = f"CIFAR-10 binary version from {origin or Path(path).expanduser()} ({'; '.join(arrays.notes)})"
    _save("cifar10", x_train=arrays.x_train, y_train=arrays.y_train, x_test=arrays.x_test,
          y_test=arrays.y_test, class_names=arrays.class_names, source=source)
    return f"Installed {source}."


def _keras_load(name: str):
    """``keras.datasets.<name>.load_data()`` (lazy import: TensorFlow loads only here)."""
    import keras

    return getattr(keras.datasets, name).load_data()


def _download_keras(name: str) -> str:
    title_ = SOURCES[name].title
    try:
        (x_tr, y_tr), (x_te, y_te) = _keras_load(name)
    except Exception as err:  # keras' get_file raises a bare Exception when offline
        raise Unavailable(f"Could not get {title_} through keras.datasets ({err}). This machine "
                          "looks offline; try again with internet.") from None
    x_tr, x_te = np.asarray(x_tr), np.asarray(x_te)
    if x_tr.dtype != np.uint8 or x_tr.ndim != 3 or x_te.ndim != 3:
        raise CnnvizError(f"keras.datasets returned unexpected {title_} arrays {x_tr.shape} {x_tr.dtype}.")
    class_names = FASHION_CLASSES if name == "fashion_mnist" else tuple(str(d) for d in range(10))
    source = f"{title_} through keras.datasets ({len(x_tr):,} training and {len(x_te):,} test images)"
    _save(name, x_train=x_tr[..., None], y_train=np.asarray(y_tr).reshape(-1), x_test=x_te[..., None],
          y_test=np.asarray(y_te).reshape(-1), class_names=class_names, source=source)
    return f"Installed {source}."


def import_folder_zip(
    source: bytes | Path,
    *,
    name: str,
    image_size: int = 64,
    mode: str = "RGB",
    min_per_class: int = folderdata.MIN_PER_CLASS,
    overwrite: bool = False,
    owner: Person | None = None,
    progress: folderdata.Progress | None = None,
) -> dict:
    """Make a dataset ``folder:NAME`` from a zip of ``class_name/*.jpg`` folders.

    Images are decoded safely, squashed to ``image_size``², and split 80/20 into train
    and test (stratified, seed 0) so training and evaluation always see the same split.

    Args:
        source: the zip's bytes or its path on the server.
        name: lower-case letters, digits, ``_`` or ``-`` (1-40 characters).
        image_size, mode, min_per_class: see :func:`cnnviz.data.folderdata.read_zip`.
        overwrite: replace an existing dataset of that name (only its owner or the teacher may).
        owner: who imports it (None: the teacher); :mod:`cnnviz.data.owners` records it.
        progress: ``progress(files done, files in the zip)`` as the images are decoded (see
            :func:`cnnviz.data.folderdata.read_zip`).
    Returns:
        ``{"name", "class_names", "counts", "train", "test", "skipped", "skipped_count", "warnings"}``.
    """
    if not FOLDER_NAME.match(name):
        raise InvalidArgument(f"dataset name must be 1-40 lower-case letters, digits, '_' or '-', "
                              f"starting with a letter or digit, got {name!r}")
    full = f"{FOLDER_PREFIX}{name}"
    if not overwrite and file_for(full).is_file() and not owners.visible([full], owner):
        # someone else's private import holds the name: this one gets a name of its own, and says nothing of theirs
        full = f"{FOLDER_PREFIX}{name[:31]}-{hashlib.sha256(owner.user_id.encode()).hexdigest()[:8]}"
    exists = InvalidArgument(f"a folder dataset named {name!r} already exists; choose another name")
    if not overwrite and file_for(full).is_file():
        raise exists  # before the long decode: the common case answers at once
    if file_for(full).is_file():
        owners.check_change(full, owner, "replace")
    with _writing(), _reserved(full[len(FOLDER_PREFIX):]):  # held through the decode: two imports of one name never both win
        if not overwrite and file_for(full).is_file():
            raise exists  # made between the check above and the reservation
        images = folderdata.read_zip(source, image_size=image_size, mode=mode, min_per_class=min_per_class,
                                     progress=progress)
        x_tr, x_te, y_tr, y_te = split_validation(images.x, images.y, fraction=FOLDER_TEST_FRACTION, seed=0)
        src = (f"your zip of class folders: {len(images.y):,} images of {image_size}×{image_size} "
               f"{'colour' if mode == 'RGB' else 'grey'} pixels")
        _save(full, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
              class_names=images.class_names, source=src)
        owners.record(full, owner)
    return {"name": full, "class_names": images.class_names,
            "counts": np.bincount(images.y, minlength=len(images.class_names)).tolist(),
            "train": len(y_tr), "test": len(y_te), "skipped": list(images.skipped),
            "skipped_count": images.skipped_count, "warnings": list(images.warnings)}


# --- previews ----------------------------------------------------------------------------
def scaling_preview(ds: Dataset, method: str, *, train_size: int, test_size: int,
                    validation_fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0,
                    sample: int = 256, selection: Selection = STRATIFIED) -> dict:
    """What a scaling does to the training images training would use.

    The statistics for ``"standardize"`` come from the training part of the subset (after
    the validation split), as training computes them; the histogram uses a sample.

    Returns:
        ``{"raw": uint8 sample, "scaled": float32 sample, "stats": channel_stats or None}``.
    """
    tr, _ = subset_indices(ds.y_train, ds.y_test, train_size=train_size, test_size=test_size, selection=selection,
                           seed=seed)
    fit, _ = split_indices(ds.y_train[tr], fraction=validation_fraction, selection=selection, seed=seed)
    fit_idx = tr[fit]
    stats = channel_stats(ds.x_train[np.sort(fit_idx)]) if method == "standardize" else None
    raw = ds.x_train[np.sort(fit_idx[:sample])]
    return {"raw": raw, "scaled": scale(raw, method, stats), "stats": stats}
