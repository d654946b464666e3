"""Safe image input: uploaded bytes in, a uint8 RGB (or grayscale) array out, or a clear error.

Every page that accepts a student's picture goes through :func:`load_image`. The guards
follow Pillow's own documentation (``Image.open``'s ``formats``, ``DecompressionBombWarning``):

* only the decoders we need are allowed (``Image.open(..., formats=...)``); recent Pillow
  CVEs sit in other decoders (PSD, FITS, PDF, EPS, JPEG 2000, McIdas);
* decompression bombs: Pillow's ``DecompressionBombWarning`` becomes an error, and the
  declared size is checked against ``max_pixels`` before any pixel is decoded
  (``Image.open`` only reads the header; ``load()`` decodes);
* decode *work* is bounded too (:mod:`cnnviz.data.decodelimits`): JPEG scans are counted from
  the markers, and a request's :class:`~cnnviz.data.decodelimits.DecodeBudget` is charged
  with the declared pixels, both before decoding;
* truncated files stay errors (``ImageFile.LOAD_TRUNCATED_IMAGES`` is left ``False``);
* EXIF orientation is applied, transparency is composited on white, CMYK and 16-bit
  images are converted (16-bit is scaled, because ``convert`` would clip it to white).
"""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnviz import markup
from cnnviz.data.decodelimits import DecodeBudget, DecodeRefused, check_jpeg_scans
from cnnviz.errors import CnnvizError, InvalidArgument


# Pillow format ids we decode. "MPO" is how Pillow names the multi-picture JPEGs many
# phones write; it only ever opens through the JPEG plug-in.
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "GIF")
ALLOWED_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp", "bmp", "gif")
_FORMAT_NAMES = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "BMP": "BMP", "GIF": "GIF"}

# 40 megapixels: every ordinary phone or camera photo fits (a 12 MP phone photo is
# 4032×3024), and one decoded RGB copy stays near 120 MB. Pillow's own default warning
# limit is 89.5 MP (``Image.MAX_IMAGE_PIXELS``).
MAX_PIXELS = 40_000_000

# An image this much longer than wide (or the reverse) gets a note: resized for display
# it becomes a line a few pixels thick.
EXTREME_ASPECT_RATIO = 20
THIN_SIDE_PX = 8

MODES = ("RGB", "L")

# The smallest file of an allowed format is longer (a 1×1 GIF has 26 bytes, a 1×1 WebP about 30):
# anything shorter that does not read as text is reported as too short rather than described.
MIN_IMAGE_BYTES = 24

# Magic numbers of formats people often upload but we refuse, for a helpful message
# (each name with its article, for "it looks like a TIFF file").
_KNOWN_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"II*\x00", 0, "a TIFF"),
    (b"MM\x00*", 0, "a TIFF"),
    (b"%PDF", 0, "a PDF"),
    (b"8BPS", 0, "a Photoshop (PSD)"),
    (b"\x00\x00\x00\x0cjP  ", 0, "a JPEG 2000"),
    (b"\xffO\xffQ", 0, "a JPEG 2000"),
    (b"\x00\x00\x01\x00", 0, "a Windows icon (ICO)"),
    (b"ftypheic", 4, "a HEIC (iPhone photo)"),
    (b"ftypheix", 4, "a HEIC (iPhone photo)"),
    (b"ftypmif1", 4, "a HEIF"),
    (b"ftypavif", 4, "an AVIF"),
    (b"<svg", 0, "an SVG drawing"),
    (b"<?xml", 0, "an XML/SVG text"),
    (b"PK\x03\x04", 0, "a ZIP archive"),
    (b"SIMPLE  =", 0, "a FITS (astronomy)"),
    (b"\x7fELF", 0, "an executable program (ELF)"),
    (b"MZ", 0, "an executable program (Windows)"),
)

# Signatures of the formats we do read: bytes that start like one but do not open are damaged.
_ALLOWED_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"),
    (b"\x89PNG\r\n\x1a\n", 0, "PNG"),
    (b"GIF8", 0, "GIF"),
    (b"BM", 0, "BMP"),
    (b"WEBP", 8, "WebP"),
)

# Pillow's fuzzing harness treats these as the expected ways a bad file fails to decode.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, NotImplementedError, OverflowError,
                  IndexError, TypeError, KeyError, struct.error)

#: ``warnings.catch_warnings`` swaps a process-wide list: every use of it here and in
#: :mod:`cnnviz.data.folderdata` holds this lock, else two sessions decoding at once restore each
#: other's filters and one's (e.g. "ignore UserWarning") stays on for the whole server.
WARNINGS_LOCK = threading.Lock()


class ImageError(CnnvizError):
    """An uploaded file could not be used as an image; the message says why and what to do."""


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image ready for the lab.

    Attributes:
        array: uint8, H×W×3 for mode "RGB" or H×W for mode "L".
        format: the file format as people say it ("JPEG", "PNG", "WebP", "BMP", "GIF").
        notes: what was done to the picture on the way (for an ``st.caption``).
        original_size: the picture's own ``(height, width)`` (upright), before any shrinking.
        channels: the picture's own channels: 1 grey, 3 colour (whatever ``mode`` made of it).
    """

    array: np.ndarray
    format: str
    notes: tuple[str, ...] = ()
    original_size: tuple[int, int] | None = None
    channels: int = 3


def code_name(name: str) -> str:
    """A file name in a Markdown code span (`` `name` ``): safe to repeat inside a message shown as Markdown.

    Code spans are not autolinked and draw no ``:icon:`` shortcodes; backticks in the name are
    replaced so that it cannot close the span, invisible characters dropped, the length capped.
    """
    cleaned = "".join(ch for ch in str(name) if ch.isprintable()).replace("`", "'").strip()
    if len(cleaned) > 60:
        cleaned = cleaned[:57] + "..."
    return f"`{cleaned or 'upload'}`"


def plain_name(name: str, limit: int = 60) -> str:
    """A file name to show inside Markdown text (a subheader, a caption) as typed, with no link or icon.

    File names come from the student's browser: ``**x** [link](http://…).png`` must not
    become bold text and a link. Invisible characters (NUL, right-to-left overrides, line
    breaks) are dropped, Markdown's special characters escaped and the length capped.
    """
    cleaned = "".join(ch for ch in str(name) if ch.isprintable()).strip() or "upload"
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 3] + "..."
    # Backslashes are not enough: Streamlit finds links ("http://", "www.", "a@b.c") and shortcodes
    # (":material/warning:", ":red[x]") in the text *after* Markdown is parsed. An invisible word
    # joiner after every ":" and "@" and inside "www." breaks those patterns and shows the same.
    return markup.escaped(cleaned)


def _matching_kind(data: bytes, signatures: tuple[tuple[bytes, int, str], ...]) -> str | None:
    for signature, offset, kind in signatures:
        if data[offset:offset + len(signature)] == signature:
            return kind
    return None


def _cut_kind(data: bytes) -> str | None:
    """The format whose signature a too-short file is the start of (``0x89`` is the start of a PNG)."""
    for signature, offset, kind in _ALLOWED_SIGNATURES:
        if offset == 0 and len(data) < len(signature) and signature.startswith(data):
            return kind
    return None


def _reason(err: BaseException, data: bytes) -> str:
    """A decoder's exception in a student's words."""
    # A RIFF (WebP) file states its own length; libwebp only says "could not create decoder".
    riff_cut = data[:4] == b"RIFF" and len(data) >= 8 and struct.unpack("<I", data[4:8])[0] + 8 > len(data)
    if riff_cut or "truncat" in str(err).lower() or isinstance(err, EOFError):
        return "it is cut off (truncated)"
    # Pillow's own words help a teacher, but never the exception's class name (students read this).
    detail = "".join(ch for ch in str(err) if ch.isprintable()).replace("`", "'").strip()[:120]
    if "too large" in detail.lower():  # e.g. a PNG text chunk that inflates past Pillow's cap
        return "a part of it unpacks to far more data than a picture needs (damaged, or a decompression bomb)"
    if not detail or isinstance(err, (KeyError, IndexError, TypeError, struct.error)):
        return "it is damaged (its data does not decode as a picture)"
    return f"it is damaged (the decoder says: {detail})"


def _describe_bytes(data: bytes) -> str:
    """What the bytes look like, for the "not an image" message."""
    kind = _matching_kind(data, _KNOWN_SIGNATURES)
    if kind:
        return f"{kind} file"
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as err:
        if err.start < len(head) - 3:  # not just a character cut in half at byte 512
            return "data in an unknown format"
        text = head[: err.start].decode("utf-8")
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):  # "": no character to judge by
        return "text, not a picture"
    return "data in an unknown format"


def _size_text(n_bytes: int) -> str:
    if n_bytes == 1:
        return "1 byte"
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    if n_bytes < 1024 * 1024:
        return f"{n_bytes / 1024:.1f} KB"
    return f"{n_bytes / (1024 * 1024):.1f} MB"


def _bomb_message(shown: str, pixels: int, max_pixels: int, size: tuple[int, int] | None = None) -> str:
    declared = f"is {size[0]}×{size[1]} pixels ({pixels / 1e6:.1f} million)" if size else (
        f"has {pixels / 1e6:.1f} million pixels")
    return (
        f"{shown} says it {declared}, more than "
        f"the {max_pixels / 1e6:.4g} million pixels cnnviz accepts. Very large declared sizes are how "
        "\"decompression bomb\" files exhaust a server's memory. Resize the picture (for example to "
        "2000 pixels wide) and upload it again."
    )


def _to_uint8_from_wide(im: Image.Image, notes: list[str]) -> Image.Image:
    """16-bit and 32-bit grey images to 8-bit "L" by scaling (``convert`` would clip at 255)."""
    values = np.asarray(im)
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(values.min()), float(values.max())
    if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and hi <= 65535):
        scaled = np.round(values.astype(np.float64) / 257.0)  # 65535 / 255 = 257
        notes.append("16-bit image scaled to 8 bits (0..65535 → 0..255)")
    else:
        span = hi - lo
        scaled = np.zeros(values.shape) if span <= 0 else np.round((values - lo) * (255.0 / span))
        notes.append(f"{im.mode}-mode image stretched from {lo:g}..{hi:g} to 0..255")
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")


def to_rgb_or_l(im: Image.Image, notes: list[str]) -> Image.Image:
    """Any decoded mode to "RGB" or "L" (grey stays grey until the caller asks for RGB).

    16/32-bit grey is scaled (``convert`` would clip at 255), transparency goes over white,
    CMYK becomes RGB; what was done is appended to ``notes``. Shared with the zip importer.
    """
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _to_uint8_from_wide(im, notes)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            notes.append("transparent areas shown on a white background")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if im.mode == "CMYK":
        notes.append("CMYK (print) colours converted to RGB, approximately")
        return im.convert("RGB")
    if im.mode in ("L", "RGB"):
        return im
    if im.mode == "1":
        return im.convert("L")
    return im.convert("RGB")  # P without transparency, YCbCr, LAB, HSV


def shape_notes(height: int, width: int) -> list[str]:
    """Warnings for pictures too small or too thin for the filters to show much."""
    if width == 1 and height == 1:
        return ["the picture is a single pixel: there is nothing for a filter to find"]
    notes, wide = [], f"{width} pixel{'s' if width != 1 else ''} wide"
    if min(width, height) < THIN_SIDE_PX:
        notes.append(f"very small ({wide}, {height} tall): kernels larger than {min(width, height)} "
                     "pixels leave nothing in 'valid' mode")
    if max(width, height) >= EXTREME_ASPECT_RATIO * min(width, height):
        notes.append(f"extreme shape ({wide}, {height} tall): shrunk to fit the screen it becomes a "
                     "thin line")
    return notes


def _frames_note(im: Image.Image, kind: str) -> str | None:
    """"animated GIF: showing the first of N frames" (frame headers only; nothing decoded)."""
    try:
        frames = int(getattr(im, "n_frames", 1))
    except DECODE_ERRORS:
        return f"animated {kind}: showing the first frame (the later frames are damaged)"
    if frames <= 1:
        return None
    if im.format == "MPO":  # phones store a preview or depth map as a second picture, not animation
        return f"multi-picture JPEG (MPO): showing the first of {frames} pictures"
    return f"animated {kind}: showing the first of {frames} frames"


def _apply_exif_orientation(im: Image.Image, notes: list[str]) -> Image.Image:
    """Rotate/flip as the camera recorded (EXIF tag 0x0112); Pillow does not do it by itself."""
    try:
        orientation = im.getexif().get(0x0112, 1)
    except DECODE_ERRORS:
        return im
    if orientation in (None, 1):
        return im
    # Pillow's exif_transpose acts on 2..8 only and silently keeps anything else (0, 9, 65535, "6", -6).
    if isinstance(orientation, bool) or not isinstance(orientation, int) or not 2 <= orientation <= 8:
        notes.append("the camera's rotation (EXIF orientation) holds an invalid value: ignored, the picture "
                     "is shown as stored")
        return im
    try:
        rotated = ImageOps.exif_transpose(im)
    except DECODE_ERRORS:
        notes.append("the camera's rotation (EXIF) could not be read: showing the picture as stored")
        return im
    notes.append(f"EXIF orientation {orientation} applied (the camera's rotation)")
    return rotated


def load_image(
    data: bytes,
    *,
    name: str = "upload",
    mode: str = "RGB",
    max_pixels: int = MAX_PIXELS,
    budget: DecodeBudget | None = None,
) -> LoadedImage:
    """Decode uploaded bytes into a uint8 array, refusing anything unsafe or unreadable.

    Args:
        data: the file's bytes (e.g. ``uploaded_file.getvalue()``).
        name: the file name, only repeated in messages.
        mode: "RGB" for H×W×3 or "L" for H×W grayscale (ITU-R 601-2 luma, as Pillow).
        max_pixels: refuse images whose declared width × height is larger.
        budget: the request's decode budget, charged with this picture's declared pixels
            before it is decoded (None: this picture's own limits only).

    Returns:
        A :class:`LoadedImage` with the array, the format and notes on what was done.

    Raises:
        ImageError: empty, not an image, a format we do not read, too large, truncated
            or damaged; the message names the file and says what to do.
        InvalidArgument: ``mode`` or ``max_pixels`` out of range (a programming error).
    """
    if mode not in MODES:
        raise InvalidArgument(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
        raise InvalidArgument(f"max_pixels must be a positive whole number, got {max_pixels!r}")
    shown = code_name(name)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"{shown} did not arrive as file bytes (got {type(data).__name__}). Upload the file again.")
    data = bytes(data)
    if not data:
        raise ImageError(f"{shown} is empty (0 bytes). Choose the picture again, or try another file.")

    notes: list[str] = []
    with WARNINGS_LOCK, warnings.catch_warnings():
        # Pillow warns (UserWarning) about damaged metadata such as corrupt EXIF and then skips
        # it; the picture is still good, and one log line per student upload helps nobody.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except UnidentifiedImageError:
            started_as = _matching_kind(data, _ALLOWED_SIGNATURES) or _cut_kind(data)
            if started_as:
                short = "is far too short to be a picture; it " if len(data) < MIN_IMAGE_BYTES else ""
                raise ImageError(
                    f"{shown} ({_size_text(len(data))}) {short}starts like a {started_as} file but cannot be read: "
                    "it is cut off (truncated) or damaged. Download or export it again and upload the "
                    "complete file."
                ) from None
            if len(data) < MIN_IMAGE_BYTES and _describe_bytes(data) != "text, not a picture":
                raise ImageError(
                    f"{shown} is only {_size_text(len(data))}: far too short to be a picture (it is damaged or "
                    "cut off). Download or export it again and upload the complete file."
                ) from None
            raise ImageError(
                f"{shown} ({_size_text(len(data))}) is not a picture cnnviz can read: it looks like "
                f"{_describe_bytes(data)}. Upload a JPEG, PNG, WebP, BMP or GIF image "
                "(for example, export or screenshot it as PNG)."
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            # Pillow refused from the header alone, before decoding; its message has the count.
            found = re.search(r"\((\d+) pixels\)", str(err))
            pixels = int(found.group(1)) if found else 0
            limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
            raise ImageError(_bomb_message(shown, pixels, limit)) from None
        except DECODE_ERRORS as err:
            raise ImageError(
                f"{shown} ({_size_text(len(data))}) cannot be read: {_reason(err, data)}. "
                "Download or export it again (as PNG or JPEG) and upload the complete file."
            ) from None

        with im:
            width, height = im.size
            kind = _FORMAT_NAMES.get(im.format or "", im.format or "unknown")
            if width < 1 or height < 1:
                raise ImageError(f"{shown} says it is {width}×{height} pixels: it has no pixels to show. "
                                 "Upload another picture.")
            if width * height > max_pixels:
                raise ImageError(_bomb_message(shown, width * height, max_pixels, (width, height)))
            try:  # the work, bounded before any pixel is decoded
                if im.format in ("JPEG", "MPO"):
                    check_jpeg_scans(data, shown)
                if budget is not None:
                    budget.charge(width * height, shown)
            except DecodeRefused as err:
                raise ImageError(str(err)) from None
            try:
                frames_note = _frames_note(im, kind)
                im.seek(0)
                im.load()
                if frames_note:
                    notes.append(frames_note)
                im = _apply_exif_orientation(im, notes)
                converted = to_rgb_or_l(im, notes)
                channels = 1 if converted.mode == "L" else 3
                converted = converted.convert(mode)
                array = np.asarray(converted, dtype=np.uint8).copy()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise ImageError(_bomb_message(shown, width * height, max_pixels, (width, height))) from None
            except MemoryError:
                raise ImageError(f"{shown} ({width}×{height} pixels) needs more memory than this server has "
                                 "free. Upload a smaller picture.") from None
            except DECODE_ERRORS as err:
                raise ImageError(
                    f"{shown} ({kind}, {width}×{height} pixels, {_size_text(len(data))}) cannot be decoded: "
                    f"{_reason(err, data)}. Download or export it again and upload the complete file."
                ) from None

    notes.extend(shape_notes(array.shape[0], array.shape[1]))
    return LoadedImage(array=array, format=kind, notes=tuple(notes), original_size=array.shape[:2],
                       channels=channels)


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 image with Pillow's bilinear filter (antialiased when shrinking).

    Args:
        array: uint8 H×W, H×W×1 or H×W×3.
        size: the new ``(height, width)`` in pixels, numpy order (not Pillow's width-first).

    Returns:
        uint8 array of shape ``(height, width)`` plus the input's channel axis.
    """
    img = np.asarray(array)
    if img.dtype != np.uint8:
        raise InvalidArgument(f"resize expects a uint8 image, got dtype {img.dtype}")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] in (1, 3))):
        raise InvalidArgument(f"resize expects an image H×W, H×W×1 or H×W×3, got shape {img.shape}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise InvalidArgument(f"resize needs at least one pixel, got shape {img.shape}")
    try:
        height, width = (int(s) for s in size)
    except (TypeError, ValueError):
        raise InvalidArgument(f"size must be (height, width), got {size!r}") from None
    if height < 1 or width < 1 or height * width > MAX_PIXELS:
        raise InvalidArgument(f"size must be (height, width) of 1..{MAX_PIXELS} pixels in all, got {size!r}")
    squeeze = img.ndim == 3 and img.shape[-1] == 1
    pil = Image.fromarray(img[..., 0] if squeeze else img)
    out = np.asarray(pil.resize((width, height), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[..., None] if squeeze else out


def fit_within(array: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longer side is at most ``max_side`` (aspect kept, each side ≥ 1 pixel).

    Images already small enough are returned unchanged (never enlarged).
    """
    if not isinstance(max_side, int) or max_side < 1:
        raise InvalidArgument(f"max_side must be a positive whole number of pixels, got {max_side!r}")
    height, width = np.asarray(array).shape[:2]
    if max(height, width) <= max_side:
        return np.asarray(array)
    scale = max_side / max(height, width)
    return resize(array, (max(1, round(height * scale)), max(1, round(width * scale))))


def to_grayscale(array: np.ndarray) -> np.ndarray:
    """uint8 RGB H×W×3 to uint8 H×W with Pillow's luma (L = 0.299 R + 0.587 G + 0.114 B)."""
    img = np.asarray(array)
    if img.dtype != np.uint8:
        raise InvalidArgument(f"to_grayscale expects a uint8 image, got dtype {img.dtype}")
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[-1] == 1:
        return img[..., 0]
    if img.ndim != 3 or img.shape[-1] != 3:
        raise InvalidArgument(f"to_grayscale expects H×W×3, got shape {img.shape}")
    return np.asarray(Image.fromarray(img).convert("L"), dtype=np.uint8)
