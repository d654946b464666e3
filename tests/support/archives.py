"""Archives for the datasets tests: tiny CIFAR-10 files in the official binary layout (and their .tar.gz),
and zips (of class folders, or of any members). Serve them with :mod:`tests.support.http`."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np

from cnnviz.data import cifar10
from tests.support.images import jpeg_bytes, png_bytes

RECORDS_PER_BATCH = 20  # 2 images of each class per batch: 100 training, 20 test images


def tiny_batch(seed: int, n: int = RECORDS_PER_BATCH) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Images N×32×32×3, labels (0..9 cycling) and their binary records (label + R, G, B planes)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    records = np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8).tobytes()
    return images, labels.astype(np.int64), records


def tiny_files(n: int = RECORDS_PER_BATCH) -> dict[str, bytes]:
    """The files of ``cifar-10-batches-bin/`` with ``n`` records per batch."""
    files = {name: tiny_batch(i, n)[2] for i, name in enumerate(cifar10.TRAIN_FILES)}
    files[cifar10.TEST_FILE] = tiny_batch(99, n)[2]
    files[cifar10.META_FILE] = ("\n".join(cifar10.CLASS_NAMES) + "\n\n").encode()
    return files


def write_tiny_dir(dest: Path, files: dict[str, bytes] | None = None) -> Path:
    root = Path(dest) / cifar10.BATCH_DIR
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (files or tiny_files()).items():
        (root / name).write_bytes(data)
    return root


def tiny_archive_bytes(files: dict[str, bytes] | None = None, prefix: str = cifar10.BATCH_DIR) -> bytes:
    """A .tar.gz shaped like the official archive (folder ``cifar-10-batches-bin/``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (files or tiny_files()).items():
            info = tarfile.TarInfo(f"{prefix}/{name}" if prefix else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED, *,
             fixed_time: bool = False) -> bytes:
    """A zip of ``{name: bytes}``. ``fixed_time``: every member dated 2020-01-01 and stored as
    ``ZipInfo`` entries (which ignore ``compression``): the same bytes on every run."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)) if fixed_time else name, data)
    return buf.getvalue()


def class_folders(per_class: int = 10, classes: tuple[str, ...] = ("cats", "dogs"),
                  prefix: str = "") -> dict[str, bytes]:
    """Members of a zip of class folders: class i is a solid colour, JPEGs and PNGs mixed."""
    colors = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]
    members = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            maker = jpeg_bytes if i % 2 else png_bytes
            ext = "jpg" if i % 2 else "png"
            members[f"{prefix}{name}/{i:03d}.{ext}"] = maker(colors[c % len(colors)])
    return members
