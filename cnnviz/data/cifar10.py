"""CIFAR-10 in its official *binary* layout: download, verify and parse, without pickle.

The binary archive (``cifar-10-binary.tar.gz``) unpacks to ``cifar-10-batches-bin/`` with
``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``: fixed-length records
of 1 label byte followed by 3,072 pixel bytes (1,024 R, then G, then B, each plane 32×32
row-major), and ``batches.meta.txt`` with one class name per line
(https://www.cs.toronto.edu/~kriz/cifar.html). Records are parsed with numpy straight
from the archive members, so nothing is extracted to disk and no member path is trusted.

Downloads go through :func:`cnnviz.weights.fetch_url`: a temporary file next to the final
one, checked for size and MD5 and only then moved into place with ``os.replace``
(``keras.utils.get_file`` writes straight to the final path, which a shared server must not copy).
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnviz import weights
from cnnviz.data.stored import CIFAR10_ARCHIVE
from cnnviz.errors import CnnvizError
from cnnviz.weights import Progress


# From the CIFAR-10 home page (https://www.cs.toronto.edu/~kriz/cifar.html).
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
OFFICIAL_SIZE = 170_052_171
OFFICIAL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
ARCHIVE_NAME = CIFAR10_ARCHIVE
BATCH_DIR = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
META_FILE = "batches.meta.txt"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
SIDE = 32
PIXELS = 3 * SIDE * SIDE  # 3,072 pixel bytes per record
RECORD_BYTES = 1 + PIXELS  # 3,073
OFFICIAL_RECORDS_PER_BATCH = 10_000
MAX_ARCHIVE_MEMBERS = 64  # the official archive has 8 entries; more means "not CIFAR-10"
MAX_META_BYTES = 4096
DEFAULT_TIMEOUT_S = 30.0  # this download's default before the downloaders merged (weights: 20 s)


class FormatError(CnnvizError):
    """A file or folder is not shaped like the CIFAR-10 binary layout; says what is wrong."""


@dataclass(frozen=True)
class Cifar10Arrays:
    """Parsed CIFAR-10: uint8 images N×32×32×3, int64 labels, class names, notes for people."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    notes: tuple[str, ...]


# --- download ---------------------------------------------------------------------------
def download_file(
    url: str,
    final: Path,
    *,
    expected_size: int | None,
    expected_md5: str | None,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Path:
    """Download the archive to ``final`` with :func:`cnnviz.weights.fetch_url` (size and MD5 checked first).

    Args:
        url: http(s) address (the official one, or a classroom mirror).
        final: where the verified file ends up.
        expected_size: exact size in bytes, or None to accept any size.
        expected_md5: hex MD5 of the whole file, or None to skip the checksum.
        progress: called as ``progress(bytes_done, bytes_total_or_None)`` while reading.
        timeout: seconds to wait for the connection and for each read.
    Returns:
        ``final``.
    Raises:
        cnnviz.weights.DownloadError: offline, HTTP error, truncated body, wrong size or checksum; in
            every case no file is left at ``final`` or in its temporary place.
    """
    return weights.fetch_url(url, final, md5=expected_md5, size=expected_size, timeout=timeout, progress=progress,
                             what="CIFAR-10's binary archive",
                             hint=f"If this machine is offline, copy {ARCHIVE_NAME} onto it and run "
                                  "`python -m cnnviz data import cifar10 PATH`.")


# --- parsing ----------------------------------------------------------------------------
def parse_records(data: bytes, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-10 binary records into images N×32×32×3 (uint8) and labels (int64).

    Args:
        data: the bytes of one batch file.
        name: the file's name, for messages.
    Returns:
        ``(images, labels)``.
    Raises:
        FormatError: empty, not a whole number of 3,073-byte records, too many records,
            or a label outside 0..9.
    """
    if len(data) == 0 or len(data) % RECORD_BYTES:
        raise FormatError(f"{name} has {len(data):,} bytes, which is not a whole number of "
                          f"{RECORD_BYTES:,}-byte CIFAR-10 records (1 label byte + {PIXELS:,} pixel bytes).")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    if len(records) > OFFICIAL_RECORDS_PER_BATCH:
        raise FormatError(f"{name} holds {len(records):,} records; a CIFAR-10 batch holds at most "
                          f"{OFFICIAL_RECORDS_PER_BATCH:,}.")
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASS_NAMES):
        raise FormatError(f"{name} has label {int(labels.max())}; CIFAR-10 labels are 0..9.")
    # R, G, B planes of 32×32 → N×3×32×32 → N×32×32×3 (channels last, as Keras expects).
    images = np.ascontiguousarray(records[:, 1:].reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1))
    return images, labels


def _check_size(name: str, size: int) -> None:
    """Refuse a member before reading it when its size cannot be a CIFAR-10 batch."""
    limit = OFFICIAL_RECORDS_PER_BATCH * RECORD_BYTES
    if size <= 0 or size % RECORD_BYTES or size > limit:
        raise FormatError(f"{name} has {size:,} bytes; a CIFAR-10 batch is a whole number of "
                          f"{RECORD_BYTES:,}-byte records, at most {limit:,} bytes.")


def _assemble(files: dict[str, bytes], meta: bytes | None, origin: str) -> Cifar10Arrays:
    missing = [n for n in (*TRAIN_FILES, TEST_FILE) if n not in files]
    if missing:
        raise FormatError(f"{origin} is missing {', '.join(missing)}; is it the CIFAR-10 *binary* "
                          f"version ({ARCHIVE_NAME})?")
    parts = [parse_records(files[n], name=n) for n in TRAIN_FILES]
    counts = {len(p[1]) for p in parts}
    if len(counts) != 1:
        sizes = ", ".join(f"{n}: {len(p[1]):,}" for n, p in zip(TRAIN_FILES, parts))
        raise FormatError(f"The training batches in {origin} hold different numbers of records ({sizes}).")
    x_test, y_test = parse_records(files[TEST_FILE], name=TEST_FILE)
    names = CLASS_NAMES
    if meta is not None:
        listed = tuple(line.strip() for line in meta.decode("utf-8", "replace").splitlines() if line.strip())
        if listed != CLASS_NAMES:
            raise FormatError(f"{META_FILE} in {origin} lists {listed[:12]}, not the ten CIFAR-10 classes.")
    per_batch = counts.pop()
    notes = [f"{5 * per_batch:,} training and {len(y_test):,} test images"]
    if per_batch != OFFICIAL_RECORDS_PER_BATCH or len(y_test) != OFFICIAL_RECORDS_PER_BATCH:
        notes.append("smaller than the official 50,000 + 10,000")
    return Cifar10Arrays(
        x_train=np.concatenate([p[0] for p in parts]), y_train=np.concatenate([p[1] for p in parts]),
        x_test=x_test, y_test=y_test, class_names=names, notes=tuple(notes),
    )


def read_archive(path: Path, progress: Progress | None = None) -> Cifar10Arrays:
    """Parse an archive shaped like ``cifar-10-binary.tar.gz`` without extracting it.

    Only regular-file members named like the official batch files are read (by base
    name, so any folder prefix is ignored and never used as a path). ``progress(done, total)``
    gets the archive's bytes read so far after each member.
    """
    path = Path(path)
    files: dict[str, bytes] = {}
    meta: bytes | None = None
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
            total = os.fstat(raw.fileno()).st_size
            for count, member in enumerate(tar, start=1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise FormatError(f"{path} has more than {MAX_ARCHIVE_MEMBERS} entries; "
                                      "it is not the CIFAR-10 binary archive.")
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or base not in (*TRAIN_FILES, TEST_FILE, META_FILE):
                    continue
                if base in files or (base == META_FILE and meta is not None):
                    raise FormatError(f"{path} contains {base} twice.")
                if base == META_FILE:
                    if member.size > MAX_META_BYTES:
                        raise FormatError(f"{META_FILE} in {path} has {member.size:,} bytes; too large.")
                    meta = tar.extractfile(member).read()
                    continue
                _check_size(base, member.size)
                files[base] = tar.extractfile(member).read()
                if progress is not None:
                    progress(raw.tell(), total)
            # tarfile stops after the last member (and quietly at a damaged header), before the gzip trailer:
            # read to the end so that gzip checks its CRC-32, the only guard of a copied, rebuilt archive.
            while tar.fileobj.read(1 << 20):
                pass
            if progress is not None:
                progress(total, total)
    except FileNotFoundError:
        raise FormatError(f"No file at {path}.") from None
    except (gzip.BadGzipFile, zlib.error) as err:  # past the header: the stream itself is damaged
        what = ("its compressed data does not unpack" if isinstance(err, zlib.error) else
                "its data fails the checksum stored in it (bytes changed, lost or added on the way)")
        raise FormatError(f"{path} is damaged: {what}. Copy it onto the server again, or download it.") from None
    except (tarfile.TarError, EOFError, OSError) as err:
        why = (str(err).splitlines() or [type(err).__name__])[0]
        raise FormatError(f"{path} is not a readable .tar.gz archive ({why}).") from None
    return _assemble(files, meta, str(path))


def read_directory(path: Path, progress: Progress | None = None) -> Cifar10Arrays:
    """Parse an extracted ``cifar-10-batches-bin/`` folder (or a folder that contains one); ``progress(done,
    total)`` gets the batch files' bytes read so far after each file."""
    path = Path(path)
    if (path / BATCH_DIR).is_dir():
        path = path / BATCH_DIR
    files: dict[str, bytes] = {}
    batches = [path / name for name in (*TRAIN_FILES, TEST_FILE) if (path / name).is_file()]
    total, done = sum(file.stat().st_size for file in batches), 0
    for file in batches:
        _check_size(file.name, file.stat().st_size)
        files[file.name] = file.read_bytes()
        done += len(files[file.name])
        if progress is not None:
            progress(done, total)
    meta_file = path / META_FILE
    meta = None
    if meta_file.is_file():
        if meta_file.stat().st_size > MAX_META_BYTES:
            raise FormatError(f"{meta_file} has {meta_file.stat().st_size:,} bytes; too large.")
        meta = meta_file.read_bytes()
    return _assemble(files, meta, str(path))


def read_any(path: Path, progress: Progress | None = None) -> Cifar10Arrays:
    """Parse an archive file or an extracted folder (``progress(done, total)``: bytes read); raise FormatError
    when it is neither."""
    path = Path(path).expanduser()
    if path.is_dir():
        return read_directory(path, progress)
    if path.is_file():
        return read_archive(path, progress)
    raise FormatError(f"Nothing at {path}: give the path of {ARCHIVE_NAME} or of an extracted "
                      f"{BATCH_DIR}/ folder.")
