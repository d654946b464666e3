"""Hostile files that are small but cost a lot to decode (issue 18), built in memory by the tests.

* :func:`repeated_scan_jpeg`: a progressive JPEG whose smallest scan is repeated many times; every
  repeat makes the decoder walk the whole picture again (libjpeg only warns about the repeats).
* :func:`tiny_huge_webp`: a lossless WebP of a few dozen bytes that decodes to ``side``×``side``.
* :func:`scan_zip`: a dataset zip of such JPEGs, each member well under the zip ratio check's 1 MiB.
"""

from __future__ import annotations

import functools
import struct

from PIL import Image

from tests.support.archives import make_zip
from tests.support.images import encode


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of every SOS segment of a JPEG, its entropy-coded data included.

    Written independently of ``cnnviz.data.decodelimits`` (the code under test), marker by marker.
    """
    spans = []
    pos = 2  # after SOI
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI
            break
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        end = pos + 2 + length
        if marker == 0xDA:
            while True:  # entropy-coded data ends at a marker that is not a stuffed byte or a restart
                end = data.index(b"\xff", end)
                if data[end + 1] not in (0x00, 0xFF) and not 0xD0 <= data[end + 1] <= 0xD7:
                    break
                end += 1
            spans.append((pos, end))
        pos = end
    return spans


@functools.cache
def repeated_scan_jpeg(side: int = 2000, repeats: int = 5000) -> bytes:
    """A grey progressive JPEG ``side``×``side`` whose smallest scan is written ``repeats`` extra times."""
    data = encode(Image.new("L", (side, side), 128), "JPEG", progressive=True, quality=90)
    start, end = min(jpeg_segments(data), key=lambda span: span[1] - span[0])  # the smallest scan
    return data[:end] + data[start:end] * repeats + data[end:]


@functools.cache
def tiny_huge_webp(side: int = 6300) -> bytes:
    """A lossless WebP (a few dozen bytes) of one colour that decodes to ``side``×``side`` pixels."""
    return encode(Image.new("RGB", (side, side), (30, 60, 90)), "WEBP", lossless=True, quality=100, method=6)


def scan_zip(count: int = 20, side: int = 2000, repeats: int = 5000) -> bytes:
    """A two-class dataset zip of ``count`` :func:`repeated_scan_jpeg` members."""
    bad = repeated_scan_jpeg(side, repeats)
    return make_zip({f"{'cats' if i % 2 else 'dogs'}/{i:03d}.jpg": bad for i in range(count)})


# EXIF field types (TIFF 6.0 §2): how an orientation value is written in the IFD entry.
EXIF_ASCII, EXIF_SHORT, EXIF_LONG, EXIF_SSHORT, EXIF_SLONG = 2, 3, 4, 8, 9


def exif_orientation_jpeg(value: int | str, field_type: int = EXIF_SHORT) -> bytes:
    """A 20×10 JPEG whose EXIF orientation entry is written by hand (Pillow only writes SHORTs 0..65535).

    ``value`` may be anything the field type holds: 4294967295 (LONG), -6 (SSHORT), "6" (ASCII).
    """
    if field_type == EXIF_ASCII:
        raw = str(value).encode("ascii") + b"\x00"
        count, inline = len(raw), raw.ljust(4, b"\x00")
    else:
        fmt = {EXIF_SHORT: "<H", EXIF_LONG: "<I", EXIF_SSHORT: "<h", EXIF_SLONG: "<i"}[field_type]
        count, inline = 1, struct.pack(fmt, int(value)).ljust(4, b"\x00")
    ifd = struct.pack("<H", 1) + struct.pack("<HHI", 0x0112, field_type, count) + inline + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    return encode(Image.new("RGB", (20, 10), (50, 90, 130)), "JPEG", exif=b"Exif\x00\x00" + tiff)
