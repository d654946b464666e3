"""A user's own dataset from a zip of ``class_name/*.jpg`` folders (seed 004's cats vs dogs).

The zip is read in memory and never extracted, so no member can be written outside a
target folder; members whose names try to leave the archive root (``..``, absolute paths,
drive letters) still make the whole zip refused, because such a zip is hostile or broken.
Size and count limits are checked from the central directory *before* decompressing, and
each member is read with a cap, so a zip bomb is refused rather than inflated.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnnviz.data.decodelimits import DecodeBudget, DecodeRefused, check_jpeg_scans
from cnnviz.data.images import DECODE_ERRORS, WARNINGS_LOCK, code_name, to_rgb_or_l
from cnnviz.errors import CnnvizError, InvalidArgument


MAX_ZIP_BYTES = 200 * 1024 * 1024  # the page's upload limit is much lower (server.maxUploadSize)
MAX_MEMBERS = 10_000
MAX_TOTAL_UNCOMPRESSED = 500 * 1024 * 1024
MAX_MEMBER_BYTES = 25 * 1024 * 1024
# Photos barely compress (JPEG ratio ≈ 1); a member inflating more than this is a bomb.
MAX_RATIO = 100
RATIO_MIN_BYTES = 1024 * 1024  # tiny members may compress well without being a threat
MAX_IMAGES = 5_000
MAX_CLASSES = 50
MIN_PER_CLASS = 10
IMAGE_SIZES = (16, 24, 32, 48, 64, 96, 128, 160, 200, 224)  # 200: seed 004's cats vs dogs; 224: ImageNet's
#: Bytes the decoded images of one dataset may hold (uint8): 5,000 colour images of 96×96, or 1,783 of 224×224,
#: or seed 004's 4,000 grey 200×200 ones. Training holds them as float32 too (4×), so this bounds the server's memory.
MAX_DATASET_BYTES = 256 * 1024 * 1024
MODES = ("RGB", "L")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
# Decoders we trust on a shared server (recent Pillow CVEs sit in PSD, FITS, PDF, EPS, ...).
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
MAX_PIXELS = 40_000_000
#: Pixels decoded for one zip, all images together: a 10 MB zip of small files that each inflate
#: to nearly MAX_PIXELS would otherwise hold a shared server's CPU for minutes. 400 M pixels is
#: a few thousand phone photos (JPEGs decode at a reduced scale) and some seconds of work.
MAX_TOTAL_PIXELS = 400_000_000
#: Processor seconds one zip's decoding may take (checked before each image; each image alone is
#: bounded by its pixels and its JPEG scans): the shared server must keep answering everyone.
MAX_DECODE_CPU_S = 30.0
MAX_REPORTED_SKIPS = 20
_CLASS_NAME = re.compile(r"^[\w][\w .+\-]{0,39}$")
#: ``progress(files done, files in the zip)``: see :func:`read_zip`.
Progress = Callable[[int, int], None]


class ZipDatasetError(CnnvizError):
    """The zip cannot become a dataset; the message says why and what to change."""


@dataclass(frozen=True)
class FolderImages:
    """Decoded images of a folder dataset before splitting.

    Attributes:
        x: uint8 N×S×S×C images (C is 3 for "RGB", 1 for "L").
        y: int64 class indices.
        class_names: folder names, sorted.
        skipped: ``(member name, reason)`` for files that were not used (first few only).
        skipped_count: how many files were not used in all.
        warnings: things the student should check, e.g. class folders whose names look alike.
    """

    x: np.ndarray
    y: np.ndarray
    class_names: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    skipped_count: int
    warnings: tuple[str, ...] = ()


class _Skip(Exception):
    """A member that is not a usable image; the message is the reason shown to people."""


def _member_path(raw: str) -> PurePosixPath:
    name = raw.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise ZipDatasetError(
            f"The zip contains {raw!r}, a path that points outside the folder; such a zip is refused.")
    return PurePosixPath(name)


def _check_limits(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise ZipDatasetError(f"The zip has {len(infos):,} entries; at most {MAX_MEMBERS:,} are accepted.")
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_UNCOMPRESSED:
        raise ZipDatasetError(f"The zip would unpack to {total / 2**20:,.0f} MiB; at most "
                              f"{MAX_TOTAL_UNCOMPRESSED // 2**20} MiB are accepted.")
    for info in infos:
        if info.file_size > MAX_MEMBER_BYTES:
            raise ZipDatasetError(f"{code_name(info.filename)} would unpack to {info.file_size / 2**20:,.0f} MiB; "
                                  f"one image may have at most {MAX_MEMBER_BYTES // 2**20} MiB.")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_MIN_BYTES and ratio > MAX_RATIO:
            raise ZipDatasetError(
                f"{code_name(info.filename)} inflates {ratio:,.0f}× (a zip bomb?); the zip is refused.")


def _decode(data: bytes, *, size: int, mode: str, budget: DecodeBudget | None = None,
            name: str = "image") -> np.ndarray:
    """Decode one image with Pillow, carefully, and resize it to ``size``×``size``.

    ``budget`` is the zip's: the image's decoded pixels (after ``draft``) are taken from it
    before decoding, and :class:`ZipDatasetError` ends the import when its pixels or processor
    seconds run out. A JPEG with more than ``MAX_JPEG_SCANS`` scans is skipped undecoded.

    Not ``cnnviz.data.images.load_image``: a dataset decodes thousands of pictures, so JPEGs are
    decoded at a reduced scale (``draft``) and every picture counts against the zip's pixel
    budget; the mode conversion and the list of decode errors are the uploads' own (and so is the lock
    around the process-wide warnings filters).
    """
    with WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS)) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise _Skip(f"{w}×{h} pixels is too large")
                if im.format in ("JPEG", "MPO"):
                    try:
                        check_jpeg_scans(data, "It")
                    except DecodeRefused:
                        raise _Skip("a JPEG with far more progressive scans than cameras write (about 10): "
                                    "refused undecoded, decoding it would hold the shared server") from None
                    im.draft(mode, (size, size))  # decode at a reduced scale: much faster
                if budget is not None:
                    try:
                        budget.charge(im.size[0] * im.size[1], name)
                    except DecodeRefused as err:
                        raise ZipDatasetError(str(err)) from None
                im = ImageOps.exif_transpose(im)
                im = to_rgb_or_l(im, []).convert(mode)  # the uploads' conversion (cnnviz.data.images)
                # Squash to a square, as seed 004 does; BILINEAR in Pillow antialiases when shrinking.
                im = im.resize((size, size), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except UnidentifiedImageError:
            raise _Skip("not an image Pillow can read (JPEG, PNG, GIF, BMP, WebP)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _Skip("declares more pixels than cnnviz accepts (a decompression bomb?)") from None
        # Every way Pillow's fuzzing harness expects a bad file to fail (the same list as
        # cnnviz.data.images); the reason is shown to students, so it never names the exception.
        except (*DECODE_ERRORS, MemoryError) as err:
            cut = isinstance(err, EOFError) or "truncat" in str(err).lower()
            raise _Skip(f"damaged or unsupported image ({'cut off' if cut else 'does not decode'})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def _open_zip(source: bytes | Path) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_ZIP_BYTES:
            raise ZipDatasetError(f"The zip has {len(source) / 2**20:,.0f} MiB; at most "
                                  f"{MAX_ZIP_BYTES // 2**20} MiB are accepted.")
        buf = io.BytesIO(source)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ZipDatasetError(f"No zip file at {path}.")
        if path.stat().st_size > MAX_ZIP_BYTES:
            raise ZipDatasetError(f"{path} has {path.stat().st_size / 2**20:,.0f} MiB; at most "
                                  f"{MAX_ZIP_BYTES // 2**20} MiB are accepted.")
        buf = io.BytesIO(path.read_bytes())
    try:
        return zipfile.ZipFile(buf)
    # NotImplementedError: a damaged header asking for a zip version zipfile does not know;
    # EOFError / struct.error: a central directory cut short.
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, NotImplementedError, EOFError,
            struct.error) as err:
        raise ZipDatasetError(f"This is not a readable zip file ({code_name(str(err))}).") from None


def read_zip(
    source: bytes | Path,
    *,
    image_size: int = 64,
    mode: str = "RGB",
    min_per_class: int = MIN_PER_CLASS,
    progress: Progress | None = None,
) -> FolderImages:
    """Decode a zip of ``class_name/image`` folders into equally sized uint8 images.

    The class of an image is the name of the folder it sits in (``PetImages/Cat/1.jpg``
    is class ``Cat``). Files that are not images, hidden files and macOS ``__MACOSX``
    entries are skipped and reported.

    Args:
        source: the zip's bytes (an upload) or a path on the server.
        image_size: side of the square images, one of ``IMAGE_SIZES``.
        mode: ``"RGB"`` (3 channels) or ``"L"`` (greyscale, as seed 004 used).
        min_per_class: fewest images a class may have.
        progress: called as ``progress(files done, files in the zip)``, first with 0 once the zip's
            limits are checked, then after each file (an image decoded, or a file skipped), last with
            the total: decoding thousands of photos takes seconds.
    Returns:
        The decoded images and a report of what was skipped.
    Raises:
        InvalidArgument: bad options. ZipDatasetError: unsafe zip, or not enough usable images.
    """
    if image_size not in IMAGE_SIZES:
        raise InvalidArgument(f"image size must be one of {IMAGE_SIZES}, got {image_size}")
    if mode not in MODES:
        raise InvalidArgument(f"colour mode must be 'RGB' or 'L', got {mode!r}")
    if not 2 <= min_per_class <= 1000:
        raise InvalidArgument(f"minimum images per class must be 2..1000, got {min_per_class}")
    if progress is not None and not callable(progress):
        raise InvalidArgument(f"progress must be a function called as progress(done, total), got {progress!r}")
    with _open_zip(source) as zf:
        # Not ZipInfo.is_dir(): it fails on the empty name a damaged entry may carry.
        infos = [i for i in zf.infolist() if not i.filename.endswith("/")]
        for info in infos:
            _member_path(info.filename)
        _check_limits(infos)
        return _decode_members(zf, infos, image_size=image_size, mode=mode, min_per_class=min_per_class,
                               progress=progress or (lambda done, total: None))


def max_images(image_size: int, mode: str) -> int:
    """How many images of ``image_size``×``image_size`` in ``mode`` one dataset may hold.

    Args:
        image_size: side of the square images, one of ``IMAGE_SIZES``.
        mode: ``"RGB"`` or ``"L"``.
    Returns:
        ``MAX_IMAGES``, or fewer where that many would take more than ``MAX_DATASET_BYTES``.
    """
    if image_size not in IMAGE_SIZES:
        raise InvalidArgument(f"image size must be one of {IMAGE_SIZES}, got {image_size}")
    if mode not in MODES:
        raise InvalidArgument(f"colour mode must be 'RGB' or 'L', got {mode!r}")
    return min(MAX_IMAGES, MAX_DATASET_BYTES // (image_size * image_size * (3 if mode == "RGB" else 1)))


def size_note(image_size: int, mode: str) -> str:
    """One sentence for the import form: how big one image and the largest dataset get in memory."""
    channels = 3 if mode == "RGB" else 1
    one = image_size * image_size * channels
    most = max_images(image_size, mode)
    return (f"One {image_size}×{image_size}×{channels} image takes {one / 1024:,.0f} KiB; at most {most:,} images "
            f"({most * one / 2**20:,.0f} MiB as bytes, 4× that as float32 while training).")


def _decode_members(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], *, image_size: int,
                    mode: str, min_per_class: int, progress: Progress) -> FolderImages:
    images: list[np.ndarray] = []
    labels: list[str] = []
    skipped: list[tuple[str, str]] = []
    budget = DecodeBudget(pixels=MAX_TOTAL_PIXELS, cpu_seconds=MAX_DECODE_CPU_S, what="the images in the zip")
    most = max_images(image_size, mode)
    for done, info in enumerate(infos):
        progress(done, len(infos))  # the files before this one are read, whichever way each left the loop
        path = _member_path(info.filename)
        if any(p.startswith(".") or p == "__MACOSX" for p in path.parts):
            skipped.append((info.filename, "hidden or macOS metadata file"))
            continue
        if len(path.parts) < 2:
            skipped.append((info.filename, "not inside a class folder"))
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((info.filename, "not an image file name (.jpg, .jpeg, .png, .gif, .bmp, .webp)"))
            continue
        # One spelling per name: macOS zips write NFD ("e" + combining accent), Windows NFC.
        label = unicodedata.normalize("NFC", path.parts[-2])
        if not _CLASS_NAME.match(label):
            # The reason does not repeat the folder's name: it is shown as Markdown, the member's name is not.
            skipped.append((info.filename, "its folder's name is not a usable class name (letters, digits, spaces, "
                                           "'.', '+', '-' and '_', at most 40)"))
            continue
        if len(images) >= most:
            raise ZipDatasetError(f"The zip has more than {most:,} images; at {image_size}×{image_size} in {mode} "
                                  f"they would take more than {MAX_DATASET_BYTES // 2**20} MiB: use fewer per class "
                                  "or a smaller image size.")
        unreadable = _unreadable_member(info)
        if unreadable:
            skipped.append((info.filename, unreadable))
            continue
        try:
            with zf.open(info) as fh:
                data = fh.read(MAX_MEMBER_BYTES + 1)  # never trust the declared size alone
        # A wrong checksum (BadZipFile), broken deflate data (zlib.error), a member shorter than
        # declared (EOFError) or an unknown compression method: skip that file, keep the rest.
        except NotImplementedError:
            skipped.append((info.filename, "packed with a compression method cnnviz cannot unpack"))
            continue
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError):
            skipped.append((info.filename, "damaged inside the zip (it could not be unpacked)"))
            continue
        if len(data) > MAX_MEMBER_BYTES:
            raise ZipDatasetError(f"{code_name(info.filename)} unpacks to more than {MAX_MEMBER_BYTES // 2**20} MiB.")
        try:
            images.append(_decode(data, size=image_size, mode=mode, budget=budget, name=info.filename))
        except _Skip as why:
            skipped.append((info.filename, str(why)))
            continue
        labels.append(label)
    progress(len(infos), len(infos))
    return _assemble(images, labels, skipped, min_per_class=min_per_class)


def _unreadable_member(info: zipfile.ZipInfo) -> str | None:
    """Why a member is skipped before reading it: a symbolic link or a password-protected file."""
    # The zip is never extracted, so a link cannot point anywhere; its "content" is just the
    # link's target path, which is not a picture. Say so rather than "not an image".
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link, not a file"
    if info.flag_bits & 0x1:  # general-purpose flag bit 0: encrypted (APPNOTE 4.4.4)
        return "password-protected (encrypted) in the zip"
    return None


def _assemble(images: list[np.ndarray], labels: list[str], skipped: list[tuple[str, str]],
              *, min_per_class: int) -> FolderImages:
    class_names = tuple(sorted(set(labels)))
    note = f" ({len(skipped)} files skipped)" if skipped else ""
    # Why the first file was skipped: a refusal must say its reason, not only a count.
    why = f" The first skipped file, {code_name(skipped[0][0])}: {skipped[0][1]}." if skipped else ""
    if not images:
        raise ZipDatasetError(f"The zip has no usable images{note}. Put images in one folder per "
                              f"class, e.g. cats/001.jpg and dogs/001.jpg.{why}")
    if len(class_names) < 2:
        raise ZipDatasetError(f"The zip has only one class ({class_names[0]!r}){note}; a classifier "
                              f"needs at least 2 class folders.{why}")
    if len(class_names) > MAX_CLASSES:
        raise ZipDatasetError(f"The zip has {len(class_names)} class folders; at most {MAX_CLASSES} are accepted.")
    y = np.array([class_names.index(c) for c in labels], dtype=np.int64)
    counts = np.bincount(y, minlength=len(class_names))
    small = [f"{c!r} has {n}" for c, n in zip(class_names, counts) if n < min_per_class]
    if small:
        raise ZipDatasetError(f"Each class needs at least {min_per_class} images, but {', '.join(small)}{note}.{why}")
    return FolderImages(
        x=np.stack(images), y=y, class_names=class_names,
        skipped=tuple(skipped[:MAX_REPORTED_SKIPS]), skipped_count=len(skipped),
        warnings=tuple(lookalike_warnings(class_names)),
    )


def lookalike_warnings(class_names: tuple[str, ...] | list[str]) -> list[str]:
    """A warning for each group of class names that differ only in character width, case or outer spaces.

    ``cats``, ``ｃａｔｓ`` (full-width: the same after NFKC), ``Cats`` and ``cats `` stay different
    classes (the folders are what the student made), but they were probably meant as one.
    """
    groups: dict[str, list[str]] = {}
    for name in sorted(set(class_names)):
        groups.setdefault(unicodedata.normalize("NFKC", name).strip().casefold(), []).append(name)
    # Class names match _CLASS_NAME (no backticks), so a code span shows each exactly, spaces included.
    return [f"The class folders {', '.join(f'`{n}`' for n in names)} look alike (they differ only in the width "
            f"or case of letters, or in spaces at the ends) but are {len(names)} different classes. If they "
            "mean one class, put their pictures in one folder and make the dataset again."
            for names in groups.values() if len(names) > 1]
