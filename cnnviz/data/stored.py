"""Which datasets this lab knows and which are on this machine: names, files, titles, status, cleanup.

Split out of :mod:`cnnviz.data.datasets` (callers import these names from here) so that Home's "On this
machine" list imports neither numpy nor the loaders: numpy alone cost ~40-60 ms of a ~0.6 s first
visit (``python -X importtime``). A dataset's ``source`` note is read from its ``.npz`` with
:func:`stored_source`, a reader of that one scalar, not with ``numpy.load``.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cnnviz import storage
from cnnviz.classroom.people import Person
from cnnviz.data import owners
from cnnviz.errors import InvalidArgument

log = logging.getLogger("cnnviz.data.datasets")

#: The official CIFAR-10 binary archive's file name (:mod:`cnnviz.data.cifar10` downloads and reads it).
CIFAR10_ARCHIVE = "cifar-10-binary.tar.gz"
_NPY_MAGIC = b"\x93NUMPY"
_TEXT_DESCR = re.compile(r"^<U(\d{1,6})$")


@dataclass(frozen=True)
class Source:
    """A dataset this lab knows how to get."""

    name: str
    title: str
    description: str
    how_to_get: str
    downloadable: bool


FOLDER_PREFIX = "folder:"
FOLDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CLI = "python -m cnnviz data"
SOURCES: dict[str, Source] = {
    "digits": Source(
        "digits", "scikit-learn digits",
        "1,797 handwritten digits of 8×8 pixels that ship with scikit-learn; always available offline.",
        "Nothing to do: it ships with scikit-learn.", downloadable=False),
    "cifar10": Source(
        "cifar10", "CIFAR-10",
        "60,000 colour photos of 32×32 pixels in 10 classes (airplane … truck), the labs' dataset.",
        f"Download it on the Datasets page (170 MB) or run `{CLI} download cifar10`; offline, copy "
        f"{CIFAR10_ARCHIVE} onto this machine and run `{CLI} import cifar10 PATH`.",
        downloadable=True),
    "mnist": Source(
        "mnist", "MNIST",
        "70,000 handwritten digits of 28×28 grey pixels.",
        f"Download it on the Datasets page (11 MB, through keras.datasets) or run `{CLI} download mnist`; needs internet.",
        downloadable=True),
    "fashion_mnist": Source(
        "fashion_mnist", "Fashion-MNIST",
        "70,000 photos of clothes, 28×28 grey pixels, 10 classes.",
        f"Download it on the Datasets page (30 MB, through keras.datasets) or run `{CLI} download fashion_mnist`; "
        "needs internet.",
        downloadable=True),
}
#: Every dataset save holds a shared ``flock`` on this file (in ``CNNVIZ_HOME``), as run saves hold
#: ``.runs-writers.lock``: cleanup can tell a live writer's temporary from a dead one's.
WRITERS_LOCK = ".data-writers.lock"


def file_for(name: str) -> Path:
    if name.startswith(FOLDER_PREFIX):
        return storage.data_dir() / "folders" / f"{name[len(FOLDER_PREFIX):]}.npz"
    return storage.data_dir() / f"{name}.npz"


def check_name(name: str) -> None:
    if name in SOURCES:
        return
    if name.startswith(FOLDER_PREFIX) and FOLDER_NAME.match(name[len(FOLDER_PREFIX):]):
        return
    raise InvalidArgument(f"unknown dataset {name!r}; choose one of {', '.join(SOURCES)} or "
                          f"'{FOLDER_PREFIX}NAME' for an imported folder dataset")


def folder_datasets(viewer: Person | None = None) -> list[str]:
    """Names (``folder:NAME``) of the folder datasets imported on this machine that ``viewer`` may use
    (:mod:`cnnviz.data.owners`; None: all), sorted.

    The first call in a process also removes leftovers of killed saves (:func:`cleanup_once`).
    """
    cleanup_once()
    folder = storage.data_dir() / "folders"
    if not folder.is_dir():
        return []
    found = sorted(f"{FOLDER_PREFIX}{p.stem}" for p in folder.glob("*.npz")
                   if storage.TEMP_MARKER not in p.name and FOLDER_NAME.match(p.stem))
    return owners.visible(found, viewer)


def names(viewer: Person | None = None) -> list[str]:
    """Every dataset name a page may offer ``viewer``: the built-in sources, then folder datasets."""
    return [*SOURCES, *folder_datasets(viewer)]


def title(name: str) -> str:
    """A name for people, e.g. ``"CIFAR-10"`` or ``"cats_vs_dogs (your folders)"``."""
    if name in SOURCES:
        return SOURCES[name].title
    return f"{name[len(FOLDER_PREFIX):]} (your folders)"


def is_present(name: str) -> bool:
    check_name(name)
    return name == "digits" or file_for(name).is_file()


def fingerprint(name: str) -> str:
    """Changes whenever the stored data changes (a cache key); ``"missing"`` when absent."""
    check_name(name)
    if name == "digits":
        return "bundled"
    with contextlib.suppress(OSError):
        st = file_for(name).stat()
        return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"  # os.replace gives a new inode
    return "missing"


def how_to_get(name: str) -> str:
    check_name(name)
    if name in SOURCES:
        return SOURCES[name].how_to_get
    return "Import the zip of class folders again on the Datasets page."


def status(viewer: Person | None = None) -> list[dict]:
    """What is on this machine for ``viewer``: ``[{name, title, present, detail, how_to_get}, ...]``.

    Cheap (no arrays are read, no TensorFlow): the Home page calls it on every visit.
    """
    out = []
    for name in names(viewer):
        present = is_present(name)
        detail = SOURCES[name].description if name in SOURCES else "A dataset imported from a zip of class folders."
        if present and name != "digits":
            stored = stored_source(file_for(name))  # None when damaged: that shows up when it is loaded
            if stored is not None:
                detail = f"{detail} Stored: {stored}."
        out.append({"name": name, "title": title(name), "present": present, "detail": detail,
                    "how_to_get": "" if present else how_to_get(name)})
    return out


def stored_source(path: Path) -> str | None:
    """The ``source`` note :func:`cnnviz.data.datasets.load` would read from the dataset file ``path``, or None
    when the file is missing or not as written (a 0-d little-endian text array in ``source.npy``).

    Reads the few bytes of that member (NumPy's ``.npy`` format: magic, version, header length, a
    Python-literal header, UTF-32 text), so Home needs no numpy.
    """
    with contextlib.suppress(OSError, ValueError, KeyError, SyntaxError, zipfile.BadZipFile, UnicodeDecodeError):
        with zipfile.ZipFile(path) as archive, archive.open("source.npy") as member:
            magic = member.read(8)
            if magic[:6] != _NPY_MAGIC or magic[6] not in (1, 2, 3):
                return None
            size = int.from_bytes(member.read(2 if magic[6] == 1 else 4), "little")
            header = ast.literal_eval(member.read(size).decode("latin1" if magic[6] < 3 else "utf-8"))
            text = _TEXT_DESCR.match(str(header["descr"]))
            if text is None or header["shape"] != () or header["fortran_order"]:
                return None
            count = int(text.group(1))
            data = member.read(4 * count)
            if len(data) != 4 * count:
                return None
            return data.decode("utf-32-le").rstrip("\x00")  # NumPy pads short text with NULs
    return None


_first_cleanup = storage.Once(log, "data folder cleanup")


def cleanup(*, min_age_s: float = storage.LEFTOVER_MIN_AGE_S) -> list[Path]:
    """Remove what killed saves and imports left in ``data/`` and ``data/folders``: temporary files and
    name reservations.

    As the run store's cleanup (:func:`cnnviz.runs.store.cleanup`): with no writer holding
    :data:`WRITERS_LOCK`, every leftover belongs to a dead process and goes, whatever its age;
    while one writes, only leftovers older than ``min_age_s`` go (a young one may be its work).

    Returns:
        The paths removed (:func:`cleanup_once` logs them).
    """
    root = storage.data_dir()
    if not root.is_dir():
        return []
    with storage.exclusive_lock_if_free(storage.home() / WRITERS_LOCK) as no_writer:
        oldest = float("-inf") if no_writer else time.time() - min_age_s
        removed = []
        for folder in (root, root / "folders"):
            entries = list(folder.iterdir()) if folder.is_dir() and not folder.is_symlink() else []
            for path in entries:
                with contextlib.suppress(OSError):
                    info = path.lstat()
                    if storage.TEMP_MARKER in path.name and path.is_file() and not path.is_symlink() \
                            and (no_writer or info.st_mtime <= oldest):
                        path.unlink()
                        removed.append(path)
    return removed


def cleanup_once() -> None:
    """Run :func:`cleanup` once per process (the first dataset listing, the CLI's data commands)."""
    _first_cleanup.run(cleanup)
