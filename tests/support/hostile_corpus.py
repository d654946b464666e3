"""Hostile and awkward uploads, built in memory: what students (and attackers) send to an image uploader.

Each :class:`Upload` says whether ``cnnviz.data.images.load_image`` must refuse it (with a clear message)
or accept it (with a note where something was done to the picture). Everything is deterministic,
a few KB each, and built in well under a second in all.

The byte builders here (:func:`png_chunk`, :func:`png_header_only`, ...) are shared
with ``tests/data/test_images.py``.
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tests.support.archives import make_zip
from tests.support.images import encode

REFUSED, ACCEPTED = "refused", "accepted"


@dataclass(frozen=True)
class Upload:
    """One upload and what must happen to it.

    Attributes:
        kind: the group it belongs to (the TF pages test one entry of each kind).
        name: the file name the browser sends.
        data: the file's bytes.
        expect: ``"refused"`` (``ImageError``) or ``"accepted"`` (a ``LoadedImage``).
        says: text the loader's message (refused) or one of its notes (accepted) must contain;
            ``""`` for an accepted file that needs no note.
        shape: the array shape in RGB mode, for accepted files (None: not checked).
        streamlit_refuses: the name is refused by ``st.file_uploader`` itself before any page
            code runs (Streamlit's server-side name check, CVE-2025-1684), so pages never see it.
    """

    kind: str
    name: str
    data: bytes
    expect: str
    says: str = ""
    shape: tuple[int, ...] | None = None
    streamlit_refuses: bool = False

    @property
    def id(self) -> str:
        """A short, printable test id."""
        shown = "".join(ch if ch.isprintable() else "?" for ch in self.name)
        return f"{self.kind}:{shown[:40]}"


# --- byte builders ---------------------------------------------------------------------------------


def png_chunk(tag: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC (PNG spec §5.3)."""
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but carries one tiny IDAT: a bomb needs no pixel data to claim it."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00"))
            + png_chunk(b"IEND", b""))


def gif_huge_screen(width: int = 65535, height: int = 65535) -> bytes:
    """A GIF89a whose logical screen is ``width``×``height`` around one 1×1 frame (Pillow takes the screen)."""
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b";"


def bmp_header_only(width: int, height: int) -> bytes:
    """A 24-bit BMP header declaring ``width``×``height`` with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def noise_rgb(height: int = 20, width: int = 30, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def photo_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth picture (gradients): JPEG keeps it close, unlike noise."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                     np.full_like(xx, 128)], axis=-1).astype(np.uint8)


def exif_jpeg(orientation: int, height: int = 10, width: int = 20) -> bytes:
    """A JPEG with a bright top-left corner (as stored) and EXIF orientation ``orientation``."""
    stored = np.zeros((height, width, 3), np.uint8)
    stored[:3, :3] = 255
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = orientation
    return encode(im, "JPEG", quality=95, exif=exif.tobytes())


def bad_exif_jpeg() -> bytes:
    """A JPEG whose EXIF orientation tag points past the end of the data (Pillow warns and skips it)."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 100, 0xFFFF) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    return encode(Image.new("RGB", (10, 20), (50, 90, 130)), "JPEG", exif=b"Exif\x00\x00" + tiff)


def animated_gif(values: tuple[int, ...] = (10, 100, 200), size: int = 6) -> bytes:
    frames = [Image.new("L", (size, size), v) for v in values]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def _with_bad_crc(png: bytes) -> bytes:
    """The PNG with its IHDR checksum wrong (bytes 29..32)."""
    data = bytearray(png)
    data[29:33] = b"\x00\x00\x00\x00"
    return bytes(data)


def _corrupt_middle(jpeg: bytes) -> bytes:
    """A JPEG whose entropy-coded data is overwritten in the middle (the markers stay)."""
    data = bytearray(jpeg)
    start = data.index(b"\xff\xda")  # start of scan: everything after it is pixel data
    middle = start + (len(data) - start) // 2
    data[middle:middle + 64] = bytes(range(0, 128, 2))  # no 0xFF bytes, so no fake markers
    return bytes(data)


def _ztxt_bomb() -> bytes:
    """A valid 4×4 PNG with a zTXt text chunk that inflates to 2 MiB (Pillow caps text chunks at 1 MB)."""
    body = b"Comment\x00\x00" + zlib.compress(bytes(2 * 1024 * 1024))
    png = encode(Image.new("L", (4, 4), 7), "PNG")
    return png[:33] + png_chunk(b"zTXt", body) + png[33:]


# --- the corpus ------------------------------------------------------------------------------------

_MOVED = "the camera's rotation"


@functools.cache
def corpus() -> tuple[Upload, ...]:
    """Every hostile or awkward upload (built once per process; about 60 entries)."""
    rgb = noise_rgb()
    png = encode(Image.fromarray(rgb), "PNG")
    jpeg = encode(Image.fromarray(photo_rgb()), "JPEG", quality=90)
    gif = encode(Image.fromarray(rgb).convert("P"), "GIF")
    webp = encode(Image.fromarray(rgb), "WEBP", lossless=True)
    bmp = encode(Image.fromarray(rgb), "BMP")
    cut = "cut off (truncated)"
    upload_one = "Upload a JPEG, PNG, WebP, BMP or GIF image"
    entries = [
        # nothing at all
        Upload("empty", "empty.jpg", b"", REFUSED, "is empty (0 bytes)"),
        # not pictures, named like pictures
        Upload("not-image", "notes.jpg", b"these are my notes, not a photo\n" * 3, REFUSED, "text, not a picture"),
        Upload("not-image", "page.png", b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>",
               REFUSED, "text, not a picture"),
        Upload("not-image", "archive.webp", make_zip({"cat.jpg": jpeg}, fixed_time=True), REFUSED, "a ZIP archive file"),
        Upload("not-image", "paper.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", REFUSED,
               "a PDF file"),
        Upload("not-image", "program.png", b"\x7fELF\x02\x01\x01\x00" + bytes(56), REFUSED,
               "an executable program (ELF) file"),
        Upload("not-image", "setup.jpg", b"MZ\x90\x00" + bytes(60), REFUSED, "an executable program (Windows) file"),
        Upload("not-image", "random.png",
               bytes(np.random.default_rng(1).integers(128, 256, 300, dtype=np.uint8)), REFUSED,
               "data in an unknown format"),
        Upload("not-image", "utf16.png", "a photo of a cat".encode("utf-16"), REFUSED, upload_one),
        # truncated at several cut points
        Upload("truncated", "cut-soi.jpg", jpeg[:3], REFUSED, "starts like a JPEG file"),
        Upload("truncated", "cut-header.jpg", jpeg[:200], REFUSED, cut),
        Upload("truncated", "cut-half.jpg", jpeg[: len(jpeg) // 2], REFUSED, cut),
        Upload("truncated", "cut-end.jpg", jpeg[:-40], REFUSED, cut),
        Upload("truncated", "cut-sig.png", png[:8], REFUSED, "starts like a PNG file"),
        Upload("truncated", "cut-ihdr.png", png[:33], REFUSED, cut),
        Upload("truncated", "cut-idat.png", png[: len(png) // 2], REFUSED, cut),
        Upload("truncated", "cut-tail.png", png[:-30], REFUSED, cut),
        # Only the end marker (and the last chunk's checksum) missing: every pixel is there, so
        # Pillow decodes it and so do we.
        Upload("truncated", "no-iend.png", png[:-16], ACCEPTED, "", (20, 30, 3)),
        Upload("truncated", "cut.gif", gif[: len(gif) * 2 // 3], REFUSED, cut),
        Upload("truncated", "cut.webp", webp[: len(webp) * 2 // 3], REFUSED, cut),
        Upload("truncated", "cut.bmp", bmp[: len(bmp) * 2 // 3], REFUSED, cut),
        # formats outside the allow-list, renamed to allowed extensions
        Upload("foreign", "layers.png", b"8BPS\x00\x01" + bytes(6) + b"\x00\x03" + struct.pack(">II", 8, 8)
               + b"\x00\x08\x00\x03" + bytes(16), REFUSED, "a Photoshop (PSD) file"),
        Upload("foreign", "scan.jpg", encode(Image.fromarray(rgb), "TIFF"), REFUSED, "a TIFF file"),
        Upload("foreign", "nebula.png", (b"SIMPLE  =                    T" + b" " * 50 + b"BITPIX  =  8").ljust(2880),
               REFUSED, "a FITS (astronomy) file"),
        Upload("foreign", "favicon.png", encode(Image.fromarray(rgb), "ICO"), REFUSED, "a Windows icon (ICO) file"),
        Upload("foreign", "logo.png", b"<svg xmlns='http://www.w3.org/2000/svg' width='9' height='9'><rect/></svg>",
               REFUSED, "an SVG drawing file"),
        Upload("foreign", "drawing.jpg", b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>",
               REFUSED, "an XML/SVG text file"),
        Upload("foreign", "IMG_0001.jpg", b"\x00\x00\x00\x18ftypheic" + bytes(40), REFUSED,
               "a HEIC (iPhone photo) file"),
        Upload("foreign", "photo.jpg", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(40), REFUSED, "a JPEG 2000 file"),
        # pixel bombs: huge declared sizes, tiny files
        Upload("bomb", "bomb.png", png_header_only(100_000, 100_000), REFUSED, "decompression bomb"),
        Upload("bomb", "screen.gif", gif_huge_screen(), REFUSED, "decompression bomb"),
        Upload("bomb", "wide.bmp", bmp_header_only(50_000, 50_000), REFUSED, "decompression bomb"),
        Upload("bomb", "big.png", encode(Image.new("1", (6400, 6400)), "PNG", optimize=True), REFUSED,
               "6400×6400 pixels (41.0 million)"),
        Upload("bomb", "text-bomb.png", _ztxt_bomb(), REFUSED, "cannot be read"),
        # damaged inside
        Upload("damaged", "crc.png", _with_bad_crc(png), REFUSED, "damaged"),
        Upload("damaged", "zero.png", png_header_only(0, 10), REFUSED, "cannot be read"),
        Upload("damaged", "mangled.jpg", _corrupt_middle(encode(Image.fromarray(photo_rgb(96, 128)), "JPEG")),
               ACCEPTED, "", (96, 128, 3)),
        # awkward but fine: modes and formats
        Upload("mode", "print.jpg", encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"), ACCEPTED,
               "CMYK (print) colours converted to RGB", (8, 8, 3)),
        Upload("mode", "depth.png", encode(Image.fromarray((np.arange(256).reshape(16, 16) * 256).astype(np.uint16)),
                                           "PNG"), ACCEPTED, "16-bit image scaled to 8 bits", (16, 16, 3)),
        Upload("mode", "palette.png", encode(Image.new("P", (8, 8), 0), "PNG", transparency=0), ACCEPTED,
               "transparent areas shown on a white background", (8, 8, 3)),
        Upload("mode", "grey-alpha.png", encode(Image.new("LA", (8, 8), (50, 0)), "PNG"), ACCEPTED,
               "transparent areas shown on a white background", (8, 8, 3)),
        Upload("mode", "sticker.png", encode(Image.new("RGBA", (8, 8), (255, 0, 0, 128)), "PNG"), ACCEPTED,
               "transparent areas shown on a white background", (8, 8, 3)),
        Upload("mode", "dance.gif", animated_gif(), ACCEPTED, "animated GIF: showing the first of 3 frames", (6, 6, 3)),
        Upload("mode", "bilevel.png", encode(Image.new("1", (9, 9), 1), "PNG"), ACCEPTED, "", (9, 9, 3)),
        Upload("mode", "grey.jpg", encode(Image.new("L", (12, 12), 99), "JPEG"), ACCEPTED, "", (12, 12, 3)),
        Upload("mode", "progressive.jpg", encode(Image.fromarray(rgb), "JPEG", progressive=True), ACCEPTED, "",
               (20, 30, 3)),
        Upload("mode", "lossy.webp", encode(Image.fromarray(photo_rgb()), "WEBP", quality=80), ACCEPTED, "",
               (48, 64, 3)),
    ]
    # every EXIF orientation: 5..8 swap width and height
    for k in range(1, 9):
        note = f"EXIF orientation {k} applied ({_MOVED})" if k > 1 else ""
        entries.append(Upload("exif", f"exif-{k}.jpg", exif_jpeg(k), ACCEPTED, note, (20, 10, 3) if k >= 5 else
                              (10, 20, 3)))
    # damaged metadata only: the picture is shown as stored
    entries.append(Upload("exif", "bad-exif.jpg", bad_exif_jpeg(), ACCEPTED, "", (20, 10, 3)))
    small = encode(Image.fromarray(photo_rgb(12, 16)), "PNG")
    entries += [
        # shapes
        Upload("shape", "dot.png", encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"), ACCEPTED,
               "the picture is a single pixel", (1, 1, 3)),
        Upload("shape", "wide.png", encode(Image.new("L", (20000, 1), 9), "PNG"), ACCEPTED,
               "extreme shape (20000 pixels wide, 1 tall)", (1, 20000, 3)),
        Upload("shape", "tall.png", encode(Image.new("L", (1, 20000), 9), "PNG"), ACCEPTED,
               "extreme shape (1 pixel wide, 20000 tall)", (20000, 1, 3)),
        # names
        Upload("name", "**bold** [link](http://evil.example) $x^2$ <b>x</b>.png", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "really-a-png.jpg", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "SHOUTING.PNG", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "кошка 猫 😺.png", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "../../etc/passwd.png", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "C:\\Windows\\win.ini.png", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "a\x00b.png", small, ACCEPTED, "", (12, 16, 3), streamlit_refuses=True),
        Upload("name", "x" * 300 + ".png", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "right-to-left \u202egnp.exe.png", small, ACCEPTED, "", (12, 16, 3)),
        Upload("name", "`[click me](http://evil.example)`<b>x</b>.png", b"", REFUSED, "is empty (0 bytes)"),
        Upload("name", "line\nbreak $x^2$ **bold**.png", b"oops", REFUSED, "text, not a picture"),
    ]
    return tuple(entries)


def by_kind() -> dict[str, list[Upload]]:
    """The corpus grouped by kind, in corpus order."""
    groups: dict[str, list[Upload]] = {}
    for entry in corpus():
        groups.setdefault(entry.kind, []).append(entry)
    return groups


# One or more entries of every kind, for the pages where each upload costs TensorFlow work.
REPRESENTATIVE = (
    "empty.jpg", "notes.jpg", "cut-half.jpg", "layers.png", "bomb.png", "text-bomb.png", "crc.png", "mangled.jpg",
    "print.jpg", "dance.gif", "exif-6.jpg", "wide.png", "**bold** [link](http://evil.example) $x^2$ <b>x</b>.png",
    "`[click me](http://evil.example)`<b>x</b>.png",
)


def representative() -> list[Upload]:
    """The :data:`REPRESENTATIVE` entries: every kind, refused and accepted, in corpus order."""
    return [entry for entry in corpus() if entry.name in REPRESENTATIVE]


def valid_upload() -> tuple[str, bytes]:
    """A plain good picture, uploaded after each hostile one to prove the page recovered."""
    return "good.png", encode(Image.fromarray(photo_rgb(40, 60)), "PNG")
