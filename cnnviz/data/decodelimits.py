"""Bounds on the *work* of decoding pictures, not only on their pixels (issue 18).

A pixel cap does not bound decode time: a progressive JPEG of 1 MB can repeat one scan tens of
thousands of times, and libjpeg walks the whole picture for every scan (only warning about the
repeats); a lossless WebP of a few hundred bytes decodes to 40 million pixels. So:

* :func:`jpeg_scan_count` walks the JPEG markers (no pixel decoded) and :data:`MAX_JPEG_SCANS`
  caps the scans;
* :class:`DecodeBudget` caps the pixels and the CPU seconds of one request (a page's uploads,
  a zip's members), charged from the declared size *before* each decode.

Both raise :class:`DecodeRefused` with the reason in a student's words; the callers (uploads in
:mod:`cnnviz.data.images`, zips in :mod:`cnnviz.data.folderdata`) turn it into their own error.
"""

from __future__ import annotations

import re
import time

from cnnviz.errors import CnnvizError, InvalidArgument


#: Cameras and phones write 1 scan (baseline) or about 10 (progressive: libjpeg's default
#: script has 10 for colour, 6 for grey); every scan costs a pass over the whole picture.
MAX_JPEG_SCANS = 40
#: Pixels decoded for one request of uploads: twelve 12-megapixel phone photos fit (the
#: Pretrained page's limit), a hundred tiny-but-huge files do not.
REQUEST_PIXELS = 150_000_000
#: Processor seconds one request may spend decoding uploads (checked before each file; each
#: file alone is bounded by its pixels and its scans, so the overshoot is at most one file).
REQUEST_CPU_S = 8.0

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
_NO_LENGTH = frozenset({0x01, _SOI, *range(0xD0, 0xD8)})  # TEM, SOI, RST0-7 carry no length field
# The end of a scan's entropy-coded data: 0xFF (fill bytes allowed) followed by a byte that is
# neither a stuffed zero nor a restart marker (ITU T.81, B.1.1.2 and B.1.1.5).
_AFTER_SCAN = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")


class DecodeRefused(CnnvizError):
    """A picture (or the rest of a request) was not decoded because it would cost too much work."""


def jpeg_scan_count(data: bytes, *, stop_after: int = MAX_JPEG_SCANS) -> int:
    """The number of scans (SOS segments) of a JPEG's first picture, from its markers alone.

    Stops counting once past ``stop_after`` (the answer is then ``stop_after + 1``); a file
    whose markers are damaged is counted up to the damage (the decoder reports it).
    Not Pillow's: Pillow's JPEG plug-in reads only the header up to the first scan.
    """
    if data[:2] != b"\xff\xd8":
        return 0
    scans, pos, size = 0, 2, len(data)
    while pos + 2 <= size:
        if data[pos] != 0xFF:
            break  # damaged: leave it to the decoder
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            break
        if marker in _NO_LENGTH:
            pos += 2
            continue
        if pos + 4 > size:
            break
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == _SOS:
            scans += 1
            if scans > stop_after:
                break
            found = _AFTER_SCAN.search(data, pos)
            if found is None:
                break
            pos = found.end() - 2
    return scans


def check_jpeg_scans(data: bytes, shown: str) -> None:
    """Raise :class:`DecodeRefused` if the JPEG ``data`` has more than :data:`MAX_JPEG_SCANS` scans."""
    scans = jpeg_scan_count(data, stop_after=10 * MAX_JPEG_SCANS)
    if scans > MAX_JPEG_SCANS:
        counted = f"more than {10 * MAX_JPEG_SCANS:,}" if scans > 10 * MAX_JPEG_SCANS else f"{scans:,}"
        raise DecodeRefused(
            f"{shown} is a JPEG with {counted} progressive scans; pictures from cameras and phones have "
            f"at most about 10 (cnnviz accepts up to {MAX_JPEG_SCANS}). It was refused because decoding it "
            "would hold the shared server for a long time. Save it again as an ordinary JPEG or PNG and "
            "upload that."
        )


class DecodeBudget:
    """The pixels and processor seconds left for decoding the files of one request.

    Create one per request (a page's uploads, a zip), call :meth:`charge` with each picture's
    declared size before decoding it. Not shared between threads: the CPU time is the
    calling thread's (``time.thread_time``, which counts decoders running without the GIL).

    Args:
        pixels: pixels all pictures together may have (None: :data:`REQUEST_PIXELS`).
        cpu_seconds: processor seconds the decoding may take, counted from creation
            (None: :data:`REQUEST_CPU_S`).
        what: the request's files, for messages ("these uploads", "the images in the zip").
    """

    def __init__(self, *, pixels: int | None = None, cpu_seconds: float | None = None,
                 what: str = "these uploads") -> None:
        pixels = REQUEST_PIXELS if pixels is None else pixels
        cpu_seconds = REQUEST_CPU_S if cpu_seconds is None else cpu_seconds
        if not isinstance(pixels, int) or isinstance(pixels, bool) or pixels < 1:
            raise InvalidArgument(f"pixels must be a positive whole number, got {pixels!r}")
        if not cpu_seconds > 0:
            raise InvalidArgument(f"cpu_seconds must be positive, got {cpu_seconds!r}")
        self.pixels = pixels
        self.cpu_seconds = float(cpu_seconds)
        self.what = what
        self.pixels_left = pixels
        self._started = time.thread_time()

    @property
    def cpu_used(self) -> float:
        """Processor seconds this thread has used since the budget was made."""
        return time.thread_time() - self._started

    def check_time(self, shown: str) -> None:
        """Raise :class:`DecodeRefused` if the request has used up its processor seconds."""
        used = self.cpu_used
        if used > self.cpu_seconds:
            raise DecodeRefused(
                f"Decoding {self.what} already took {used:.1f} s of the server's processor time, the most one "
                f"request may take ({self.cpu_seconds:g} s), so {shown} and what follows were not decoded: the "
                "shared server must keep answering everyone. Use fewer or smaller pictures."
            )

    def charge(self, pixels: int, shown: str) -> None:
        """Take a picture's declared ``pixels`` from the budget before decoding it.

        Raises:
            DecodeRefused: the processor seconds are spent, or the picture would take the
                request past its pixels (nothing is taken then).
        """
        self.check_time(shown)
        if pixels > self.pixels_left:
            raise DecodeRefused(
                f"{self.what[:1].upper()}{self.what[1:]} add up to more than {self.pixels / 1e6:,.0f} million "
                "pixels to decode; shrink them (a few hundred pixels a side is plenty) or use fewer. "
                f"{shown} ({pixels / 1e6:.1f} million pixels) and what follows were not decoded: one request "
                "may decode only so much, so that the shared server keeps answering everyone."
            )
        self.pixels_left -= pixels
