"""Memory-mapped arrays of an uncompressed ``.npz`` file: only the pages a caller touches are read.

``np.load(path, mmap_mode="r")`` ignores ``mmap_mode`` for ``.npz`` archives and reads every array
whole; CIFAR-10 is stored as one uncompressed ``.npz`` of 184 MB, and re-creating a run's 2,000
test images from it needs 6 MB of it. A stored (not deflated) zip member is the ``.npy`` file as
it is, so the array's bytes sit at a fixed offset of the archive and ``np.memmap`` can map them.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np

from cnnviz.errors import InvalidArgument

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # zip local file header (30 bytes), APPNOTE 4.3.7
_LOCAL_SIGNATURE = b"PK\x03\x04"
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def map_arrays(path: Path | str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read-only arrays ``{key: array}`` of the ``.npz`` at ``path``, mapped rather than read.

    Raises:
        InvalidArgument: a key is missing, compressed, or holds Python objects (nothing to map);
            the message names the key and the file. OSError, ValueError: an unreadable file.
    """
    path = Path(path)
    out = {}
    with zipfile.ZipFile(path) as archive, open(path, "rb") as fh:
        members = {info.filename: info for info in archive.infolist()}
        for key in keys:
            info = members.get(f"{key}.npy")
            if info is None:
                raise InvalidArgument(f"{path} holds no array {key!r}; it holds {sorted(members)}")
            if info.compress_type != zipfile.ZIP_STORED:
                raise InvalidArgument(f"array {key!r} of {path} is compressed; only stored arrays can be mapped")
            fh.seek(info.header_offset)
            fields = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
            if fields[0] != _LOCAL_SIGNATURE:
                raise ValueError(f"{path}: no zip entry header where {key!r} should start")
            fh.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])  # name, extra field
            version = np.lib.format.read_magic(fh)
            read_header = _HEADER_READERS.get(version)
            if read_header is None:
                raise InvalidArgument(f"array {key!r} of {path} has .npy format {version}; 1.0 or 2.0 can be mapped")
            shape, fortran, dtype = read_header(fh)
            if dtype.hasobject:
                raise InvalidArgument(f"array {key!r} of {path} holds Python objects; it cannot be mapped")
            if not np.prod(shape):  # mmap cannot map zero bytes
                out[key] = np.zeros(shape, dtype=dtype)
                out[key].flags.writeable = False
                continue
            mapped = np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape,
                               order="F" if fortran else "C")
            out[key] = mapped.view(np.ndarray)  # a plain read-only array; the map lives as its base
    return out
