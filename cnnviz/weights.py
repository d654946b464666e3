"""Pretrained weights files: one catalogue, one fetch, one install, one status.

The catalogue holds Keras' official files under Keras' own names, addresses and checksums:
ResNet50 with its ImageNet classifier (the Pretrained ResNet50 page) and the "no top"
convolutional bases of the transfer backbones (MobileNetV2, ResNet50, VGG16). A file is looked for
in an explicit path (an environment variable), then ``CNNVIZ_HOME/weights``, then Keras' own
cache (``$KERAS_HOME/models``); ``python -m cnnviz download <key>`` fetches it.

:func:`fetch_url` is the one downloader of cnnviz (weights here, the CIFAR-10 archive in
:mod:`cnnviz.data.cifar10`): a network timeout (``keras.utils.get_file`` has none, so a stalled
mirror would hang a page), an optional size and MD5 check, and a temporary file next to the
destination moved into place with ``os.replace``, so an interrupted or wrong download never
leaves a file under the final name. TensorFlow is imported only to check a file by loading it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from cnnviz import storage
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.models.backbones import MOBILENET_ALPHAS, MOBILENET_SIZES


if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.models.config import ModelConfig

Progress = Callable[[int, "int | None"], None]

DOWNLOAD_TIMEOUT_S = 20  # per network operation: an offline classroom should not wait long
CHUNK = 1 << 20
#: An explicit weights file must be HDF5 weights: it is only ever read with ``load_weights`` into
#: Keras' own architecture (no model config is deserialised); anything else is refused by name first.
WEIGHTS_SUFFIXES = (".h5", ".hdf5")
#: Every download or copy into ``CNNVIZ_HOME/weights`` holds a shared ``flock`` on this file (in ``CNNVIZ_HOME``),
#: as dataset writers hold ``.data-writers.lock``: cleanup tells a live download's temporary file from a killed one's.
WRITERS_LOCK = ".weights-writers.lock"
log = logging.getLogger("cnnviz.weights")


class DownloadError(Unavailable):
    """A download failed (offline, HTTP error, stall, truncated, wrong size or checksum); nothing was kept."""


# --- fetch ---------------------------------------------------------------------------------------


def check_url(url: str) -> None:
    """Raise InvalidArgument unless ``url`` is an http(s) address."""
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise InvalidArgument(f"the download URL must start with http:// or https://, got {url!r}")


def check_md5(md5: str | None) -> str | None:
    """``md5`` in lower case; raise InvalidArgument unless it is None or 32 hex digits."""
    if md5 is not None and not re.fullmatch(r"[0-9a-f]{32}", md5.lower()):
        raise InvalidArgument(f"the expected MD5 must be 32 hex digits, got {md5!r}")
    return None if md5 is None else md5.lower()


def md5_file(path: Path) -> str:
    """The MD5 of a file (Keras publishes MD5s; not used for security)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def fetch_url(
    url: str,
    dest: Path,
    *,
    md5: str | None = None,
    size: int | None = None,
    timeout: float = DOWNLOAD_TIMEOUT_S,
    progress: Progress | None = None,
    verify: Callable[[Path], None] | None = None,
    what: str = "the expected file",
    hint: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` through a temporary file next to it; check it before ``os.replace``.

    Args:
        url: an http(s) address.
        dest: where the checked file ends up (its folder is created).
        md5: expected MD5 hex digest of the whole file, or None.
        size: expected size in bytes, or None; a server announcing another size is refused unread.
        timeout: seconds to wait for the connection and for each read.
        progress: called as ``progress(bytes_done, bytes_total_or_None)``, first with 0.
        verify: called with the temporary file (same suffix as ``dest``) before it is moved into
            place; whatever it raises is raised and nothing is kept.
        what: what the file is, for messages (e.g. "CIFAR-10's binary archive").
        hint: a sentence added to network failures (e.g. how to work offline).
    Returns:
        ``dest``.
    Raises:
        InvalidArgument: a bad address, MD5 or size argument.
        DownloadError: offline, HTTP error, stall, truncated body, wrong size or checksum; in every
            case no file is left at ``dest`` or in its temporary place.
    """
    check_url(url)
    md5 = check_md5(md5)
    if size is not None and size <= 0:
        raise InvalidArgument(f"the expected size must be a positive number of bytes, got {size}")
    dest = Path(dest)
    try:
        with storage.atomic_path(dest, suffix=dest.suffix) as tmp:  # removes tmp on any exception
            _stream(url, tmp, size=size, timeout=timeout, progress=progress, what=what, hint=hint)
            if md5 is not None and (got := md5_file(tmp)) != md5:
                raise DownloadError(f"Checksum mismatch for {url}: the file has MD5 {got}, not the expected {md5}; "
                                    f"it is damaged or is not {what}, so it was not kept.")
            if verify is not None:
                verify(tmp)
    except OSError as err:  # the folder or the temporary file (the network's errors are DownloadErrors by now)
        raise _disk_refusal(err, what) from None
    return dest


def _disk_refusal(err: OSError, what: str) -> Exception:
    """What to raise when the disk refused to keep a download (full, read-only, no permission): said as
    such (:func:`cnnviz.storage.disk_failure`), never as a broken connection; ``err`` itself otherwise."""
    return storage.disk_failure(err, f"save {what}") or err


def _stream(url: str, tmp: Path, *, size: int | None, timeout: float, progress: Progress | None,
            what: str, hint: str | None) -> None:
    """Write the body of ``url`` to ``tmp``, with the size checks; every failure is a DownloadError."""
    done = 0
    failed = f"could not download {url}: "
    tail = f". {hint}" if hint else ""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            header = resp.headers.get("Content-Length")
            announced = int(header) if header and header.isdigit() else None
            if size is not None and announced is not None and announced != size:
                raise DownloadError(f"{failed}the server offers {announced:,} bytes but {what} has {size:,} bytes")
            total = size if size is not None else announced
            if progress:
                progress(0, total)
            while block := resp.read(CHUNK):
                done += len(block)
                if size is not None and done > size:
                    raise DownloadError(f"{failed}it is larger than the expected {size:,} bytes, so it was stopped")
                try:
                    out.write(block)
                except OSError as err:  # the disk's refusal, not the connection's: not for the clauses below
                    raise _disk_refusal(err, what) from None
                if progress:
                    progress(done, total)
            if announced is not None and done < announced:
                raise _truncated(url, done, announced)
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(f"{failed}the server answered HTTP {err.code} ({err.reason}){tail}") from None
    except urllib.error.URLError as err:
        raise DownloadError(f"{failed}{err.reason} (this machine looks offline, or the address is wrong)"
                            f"{tail}") from None
    except http.client.IncompleteRead as err:
        raise _truncated(url, done + len(err.partial), size) from None
    except (TimeoutError, socket.timeout):
        raise DownloadError(f"{failed}no answer for {timeout:g} s; try again{tail}") from None
    except (OSError, http.client.HTTPException) as err:
        raise DownloadError(f"{failed}the connection broke after {done:,} bytes ({err or type(err).__name__}); "
                            "try again") from None
    if size is not None and done != size:
        raise _truncated(url, done, size)


def _truncated(url: str, got: int, expected: int | None) -> DownloadError:
    of = f" of {expected:,}" if expected else ""
    return DownloadError(f"could not download {url}: the download was truncated: received {got:,}{of} bytes; "
                         "try again")


# --- the catalogue ---------------------------------------------------------------------------------

_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
#: MobileNetV2 widths and input sizes cnnviz offers and Keras publishes weights for
#: (keras/src/applications/mobilenet_v2.py; widths above 1 are too slow here).


@dataclass(frozen=True)
class WeightsFile:
    """One official weights file.

    Attributes:
        key: its id on the command line (``python -m cnnviz download <key>``).
        name: for people and the Home page, e.g. "ResNet50 ImageNet weights (no top)".
        title: the network's name, e.g. "MobileNetV2".
        file: Keras' file name (also the name in Keras' cache).
        url: Keras' own address.
        md5: Keras' published MD5, or None (Keras publishes none for MobileNetV2: checked by loading).
        size_text: rough size, for messages.
        env: environment variable naming an explicit file (a teacher's own copy).
        page: the page that needs it.
        without: what still works without it (the end of the missing-weights message).
        alpha, image_size: which MobileNetV2 file (None otherwise).
    """

    key: str
    name: str
    title: str
    file: str
    url: str
    md5: str | None
    size_text: str
    env: str
    page: str
    without: str
    alpha: float | None = None
    image_size: int | None = None


_WITHOUT_BACKBONE = ("Without them you can still train the same network from random weights (weights: none), "
                     "but that is not transfer learning.")

# keras/src/applications/resnet.py: BASE_WEIGHTS_PATH + file name, WEIGHTS_HASHES["resnet50"] (MD5s,
# as keras.utils.get_file checks them): [0] with the classifier, [1] without ("no top").
_RESNET50_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
RESNET50 = WeightsFile(
    key="resnet50", name="ResNet50 ImageNet weights", title="ResNet50", file=_RESNET50_FILE,
    url=_KERAS_BASE + "resnet/" + _RESNET50_FILE, md5="2cb95161c43110f7111970584f804107",
    size_text="about 100 MB", env="CNNVIZ_RESNET50_WEIGHTS", page="Pretrained ResNet50",
    without="Every other page of the lab works without it.")
_NOTOP_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
RESNET50_NOTOP = WeightsFile(
    key="resnet50-notop", name="ResNet50 ImageNet weights (no top)", title="ResNet50", file=_NOTOP_FILE,
    url=_KERAS_BASE + "resnet/" + _NOTOP_FILE, md5="4d473c1dd8becc155b73f8504c6f6626",
    size_text="about 95 MB", env="CNNVIZ_RESNET50_NOTOP_WEIGHTS", page="Transfer learning",
    without=_WITHOUT_BACKBONE)
# keras/src/applications/vgg16.py: WEIGHTS_PATH_NO_TOP and its file_hash (MD5).
_VGG16_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG16_NOTOP = WeightsFile(
    key="vgg16-notop", name="VGG16 ImageNet weights (no top)", title="VGG16", file=_VGG16_FILE,
    url=_KERAS_BASE + "vgg16/" + _VGG16_FILE, md5="6d6bbae143d832006294945121d1f1fc",
    size_text="about 56 MB", env="CNNVIZ_VGG16_NOTOP_WEIGHTS", page="Transfer learning",
    without=_WITHOUT_BACKBONE)
#: The command-line keys, in the order the Home page lists them.
KEYS = ("resnet50", "mobilenetv2", "resnet50-notop", "vgg16-notop")
#: Transfer backbone id -> its key.
BACKBONE_KEYS = {"mobilenetv2": "mobilenetv2", "resnet50": "resnet50-notop", "vgg16": "vgg16-notop"}


def mobilenetv2(alpha: float = 0.35, image_size: int = 96) -> WeightsFile:
    """MobileNetV2's "no top" file for a width and input size (keras/src/applications/mobilenet_v2.py)."""
    if alpha not in MOBILENET_ALPHAS or isinstance(alpha, bool):
        raise InvalidArgument(f"MobileNetV2 width (alpha) must be one of {', '.join(map(str, MOBILENET_ALPHAS))}; "
                              f"got {alpha!r}")
    if image_size not in MOBILENET_SIZES or isinstance(image_size, bool):
        raise InvalidArgument(f"MobileNetV2's ImageNet weights exist for image sizes "
                              f"{', '.join(map(str, MOBILENET_SIZES))} only; got image size {image_size!r}")
    file = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{image_size}_no_top.h5"
    return WeightsFile(
        key="mobilenetv2", name="MobileNetV2 ImageNet weights (no top)", title="MobileNetV2", file=file,
        url=_KERAS_BASE + "mobilenet_v2/" + file, md5=None, size_text="2 to 9 MB",
        env="CNNVIZ_MOBILENETV2_WEIGHTS", page="Transfer learning", without=_WITHOUT_BACKBONE,
        alpha=float(alpha), image_size=image_size)


def weights_file(key: str, *, alpha: float = 0.35, image_size: int = 96) -> WeightsFile:
    """The catalogue entry of a command-line key; ``alpha``/``image_size`` pick the MobileNetV2 file."""
    if key == "mobilenetv2":
        return mobilenetv2(alpha, image_size)
    entries = {RESNET50.key: RESNET50, RESNET50_NOTOP.key: RESNET50_NOTOP, VGG16_NOTOP.key: VGG16_NOTOP}
    if key not in entries:
        raise InvalidArgument(f"weights must be one of {', '.join(KEYS)}; got {key!r}")
    return entries[key]


def backbone_file(backbone: str, *, alpha: float = 0.35, image_size: int = 96) -> WeightsFile:
    """The "no top" file of a transfer backbone ("mobilenetv2" or "resnet50")."""
    if backbone not in BACKBONE_KEYS:
        raise InvalidArgument(f"backbone must be one of {', '.join(BACKBONE_KEYS)}; got {backbone!r}")
    return weights_file(BACKBONE_KEYS[backbone], alpha=alpha, image_size=image_size)


def keras_cache_dir() -> Path:
    """Where ``keras.utils.get_file`` keeps model files (``$KERAS_HOME/models``, default ``~/.keras/models``)."""
    env = os.environ.get("KERAS_HOME", "").strip()
    return (Path(env).expanduser() if env else Path.home() / ".keras") / "models"


def weights_candidates(wf: WeightsFile) -> list[Path]:
    """Where the file is looked for, in order: ``CNNVIZ_HOME/weights``, then Keras' cache."""
    return [storage.weights_dir() / wf.file, keras_cache_dir() / wf.file]


def download_command(wf: WeightsFile) -> str:
    """E.g. ``python -m cnnviz download mobilenetv2 --alpha 0.35 --size 96``."""
    extra = f" --alpha {wf.alpha:g} --size {wf.image_size}" if wf.key == "mobilenetv2" else ""
    return f"python -m cnnviz download {wf.key}{extra}"


def missing_weights_message(wf: WeightsFile, *, reason: str | None = None, damaged: tuple | list = ()) -> str:
    """What is missing, where we looked, why a download failed, and how to fix it."""
    folders = " or ".join(str(p.parent) for p in weights_candidates(wf))
    msg = f"{wf.title}'s ImageNet weights are not on this machine: {wf.file} ({wf.size_text}) is not in {folders}"
    if damaged:
        msg += " (" + ", ".join(f"{p} is there but its checksum is wrong" for p in damaged) + ")"
    msg += f", and downloading it failed: {reason}." if reason else "."
    command = download_command(wf)
    return msg + (f" To fix it, run `{command}` on this machine while it is online (it saves the file to "
                  f"{storage.weights_dir()}), or copy the file there from another machine (`{command} --from FILE` "
                  f"checks and copies it), or set {wf.env} to the file's path. {wf.without}")


# --- check, resolve, download, install -----------------------------------------------------------


def check_weights_file(path: Path, wf: WeightsFile, *, md5: str | None = None) -> None:
    """Check a file: its MD5 (``md5``, else Keras' published one), else that it loads into the architecture.

    Raises:
        InvalidArgument: the file is not the weights it should be.
    """
    md5 = check_md5(md5) or wf.md5
    if md5 is not None:
        found = md5_file(path)
        if found != md5:
            raise InvalidArgument(f"{path} has MD5 {found}, but Keras' {wf.file} has {md5}")
        return
    _load_check(path, wf)


def _load_check(path: Path, wf: WeightsFile, *, came_from: str | None = None) -> None:
    """Load the file into Keras' own MobileNetV2 (the only file here without a published checksum).

    ``came_from``: the address a download came from, named instead of its temporary file.
    """
    import keras

    size = wf.image_size or 224
    try:
        keras.applications.MobileNetV2(include_top=False, weights=str(path), input_shape=(size, size, 3),
                                       alpha=wf.alpha or 1.0)
    except Exception as err:  # any reader error: not HDF5, wrong layers, wrong shapes
        what = f"{wf.title} weights for α {wf.alpha:g}, {wf.image_size}×{wf.image_size}"
        if came_from is not None:
            raise InvalidArgument(f"{came_from} does not hold {what}, so it was not kept: {err}") from None
        raise InvalidArgument(f"{path.name} does not hold {what}: {err}") from None


def is_good_copy(path: Path, wf: WeightsFile, *, md5: str | None = None) -> bool:
    """Whether ``path`` is a file that passes :func:`check_weights_file` (one this process may not read is not)."""
    try:
        if not path.is_file():
            return False
        check_weights_file(path, wf, md5=md5)
    except (InvalidArgument, OSError):
        return False
    return True


def _local_path(text: str) -> Path:
    if "://" in text:  # Path() would fold "http://x" into "http:/x" and say it is missing
        raise InvalidArgument(f"the weights file must be a path on this machine, got {text!r}")
    return Path(text).expanduser()


#: Keras' MobileNetV2 "no top" file names: a file named so is for that width and size only.
_MOBILENET_NAME = re.compile(r"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_([0-9.]+)_([0-9]+)_no_top\.h5")


def _env_path(wf: WeightsFile) -> Path | None:
    """``$<wf.env>``: a file, or a folder of files under Keras' names (one variable for every MobileNetV2
    width and size); None when unset."""
    text = os.environ.get(wf.env, "").strip()
    if not text:
        return None
    path = _local_path(text)
    return path / wf.file if path.is_dir() else path


def _explicit_path(wf: WeightsFile, given: str | os.PathLike | None) -> Path | None:
    """The explicit file (argument, else ``$<wf.env>``), checked; None when neither is set."""
    path = _local_path(os.fspath(given)) if given is not None else _env_path(wf)
    if path is None:
        return None
    text = os.fspath(given) if given is not None else str(path)
    other = _MOBILENET_NAME.fullmatch(path.name)
    if wf.key == "mobilenetv2" and other and path.name != wf.file:
        origin = "" if given is not None else f" (from {wf.env})"
        raise InvalidArgument(
            f"{path}{origin} is MobileNetV2's file for width {other[1]} and {other[2]}×{other[2]} images, but this "
            f"network has width {wf.alpha:g} and {wf.image_size}×{wf.image_size} images ({wf.file}). Give that "
            f"file, or set {wf.env} to a folder holding the files of every size you use.")
    if not path.name.lower().endswith(WEIGHTS_SUFFIXES):
        raise InvalidArgument(f"the {wf.title} weights file must be an HDF5 weights file ending in .h5 (as Keras "
                              f"publishes it, or written by model.save_weights), got {text!r}")
    if not path.is_file():
        origin, fix = ("", "run") if given is not None else (f" (from {wf.env})", f"unset {wf.env} and run")
        raise Unavailable(f"the {wf.title} weights file {path}{origin} does not exist. Give the path of an "
                          f"existing file, or {fix} `{download_command(wf)}`.")
    return path


def explicit_file(wf: WeightsFile) -> Path | None:
    """The file ``$<wf.env>`` names (None when unset), which the app uses before any copy here.

    Raises:
        Unavailable, InvalidArgument: it names nothing, or not this network's weights.
    """
    return _explicit_path(wf, None)


def resolve_weights(wf: WeightsFile, weights_path: str | os.PathLike | None = None, *, download: bool = False,
                    url: str | None = None, md5: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S,
                    progress: Progress | None = None) -> Path:
    """The weights file to load: explicit, else a checked copy here, else (``download``) fetched.

    Order: ``weights_path``; ``$<wf.env>``; ``CNNVIZ_HOME/weights`` and Keras' cache (a copy whose
    MD5 is wrong, e.g. a partial download, is skipped; without a published MD5 a copy is trusted);
    a download into ``CNNVIZ_HOME/weights`` (``progress``: see :func:`fetch_url`; called only when
    a download starts).

    Raises:
        Unavailable: with :func:`missing_weights_message` (or naming the explicit file that is missing).
        InvalidArgument: an explicit path that cannot be weights.
    """
    explicit = _explicit_path(wf, weights_path)
    if explicit is not None:
        return explicit
    md5 = check_md5(md5) or wf.md5
    damaged = []
    for path in weights_candidates(wf):
        if path.is_file():
            if md5 is None or md5_file(path) == md5:
                return path
            damaged.append(path)
    if not download:
        raise Unavailable(missing_weights_message(wf, damaged=damaged))
    try:
        return download_weights(wf, url=url, md5=md5, timeout=timeout, progress=progress)
    except Unavailable as err:
        raise Unavailable(missing_weights_message(wf, reason=str(err), damaged=damaged)) from None


def download_weights(wf: WeightsFile, *, url: str | None = None, md5: str | None = None, dest: Path | None = None,
                     force: bool = False, timeout: float | None = None, progress: Progress | None = None) -> Path:
    """Fetch the official file (Keras' own address, or ``url``) into ``CNNVIZ_HOME/weights``, checked.

    Args:
        wf: the catalogue entry.
        url: another address (a mirror; tests use a loopback server).
        md5: expected MD5 (default: Keras' published one; without one the file is checked by loading).
        dest: final path (default ``CNNVIZ_HOME/weights/<file>``).
        force: download even if a good copy is already there.
        timeout: seconds per network operation (default :data:`DOWNLOAD_TIMEOUT_S`).
        progress: see :func:`fetch_url`.
    Returns:
        The path of the checked file.
    Raises:
        Unavailable: the download failed or its checksum is wrong (nothing kept).
        InvalidArgument: a file without a published checksum does not load (nothing kept).
    """
    url = url or wf.url
    check_url(url)
    md5 = check_md5(md5) or wf.md5
    dest = Path(dest) if dest is not None else storage.weights_dir() / wf.file
    if not force and is_good_copy(dest, wf, md5=md5):
        return dest
    with _writing():
        return fetch_url(url, dest, md5=md5, timeout=DOWNLOAD_TIMEOUT_S if timeout is None else timeout,
                         progress=progress, verify=None if md5 else lambda tmp: _load_check(tmp, wf, came_from=url),
                         what=f"Keras' {wf.file}")


def download_backbone(backbone: str, *, alpha: float = 0.35, image_size: int = 96, **options) -> Path:
    """:func:`download_weights` of a transfer backbone's "no top" file (see :func:`backbone_file`)."""
    return download_weights(backbone_file(backbone, alpha=alpha, image_size=image_size), **options)


def install_weights_file(source: str | os.PathLike, wf: WeightsFile, *, md5: str | None = None,
                         dest: Path | None = None) -> Path:
    """Check a weights file brought from another machine and copy it into ``CNNVIZ_HOME/weights``.

    Raises:
        Unavailable: ``source`` does not exist.
        InvalidArgument: it is not the expected weights (see :func:`check_weights_file`); not copied.
    """
    src = _local_path(os.fspath(source))
    if src.is_dir():
        raise InvalidArgument(f"{src} is a folder: give the weights file itself ({wf.file})")
    if not src.is_file():
        raise Unavailable(f"the file {src} does not exist")
    try:
        check_weights_file(src, wf, md5=md5)
    except InvalidArgument as err:
        raise InvalidArgument(f"{err}; not copied") from None
    dest = Path(dest) if dest is not None else storage.weights_dir() / wf.file
    with _writing(), storage.atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


@contextlib.contextmanager
def _writing():
    """Hold the weights writers' shared lock (:data:`WRITERS_LOCK`) for the ``with`` block."""
    with storage.writing(WRITERS_LOCK):
        yield


def cleanup() -> list[Path]:
    """Remove the temporary files of downloads and copies that were killed (a server stopped mid-download):
    only while nobody holds :data:`WRITERS_LOCK`, since a live one's temporary file looks the same.

    Returns:
        The paths removed.
    """
    folder = storage.weights_dir()
    if not folder.is_dir():
        return []
    with storage.exclusive_lock_if_free(storage.home() / WRITERS_LOCK) as no_writer:
        return storage.remove_temporaries(folder) if no_writer else []


_first_cleanup = storage.Once(log, "weights folder cleanup")


# --- status ----------------------------------------------------------------------------------------


def _found(wf: WeightsFile) -> list[Path]:
    """Files present (no checksum: a quick look), the explicit one first; none while ``$<wf.env>`` names no usable
    file, as :func:`resolve_weights` then refuses whatever copies are here (:func:`_why_missing` says why)."""
    try:
        explicit = _explicit_path(wf, None)
    except (InvalidArgument, Unavailable):
        return []
    return [p for p in ([explicit] if explicit else []) + weights_candidates(wf) if p.is_file()]


def _why_missing(wf: WeightsFile) -> str:
    """Why :func:`resolve_weights` would find nothing: the explicit file's fault, else the usual message."""
    try:
        _explicit_path(wf, None)
    except (InvalidArgument, Unavailable) as err:
        return str(err)
    return missing_weights_message(wf)


def status() -> list[dict]:
    """What the Home page lists: each network's default file (no TensorFlow, no checksum).

    Returns:
        ``[{"name", "present", "detail", "how_to_get"}]`` in :data:`KEYS` order.
    """
    _first_cleanup.run(cleanup)  # the first look in a process (Home, the command line) clears killed downloads
    out = []
    for key in KEYS:
        wf = weights_file(key)
        found = _found(wf)
        missing = f"{wf.file} ({wf.size_text}) is not on this machine yet"
        missing += "; the Pretrained ResNet50 page downloads it when it can." if wf is RESNET50 else "."
        if not found and os.environ.get(wf.env, "").strip():  # the variable names no usable file: that, not "get it"
            missing = _why_missing(wf)
        out.append({
            "name": wf.name,
            "present": bool(found),
            "detail": f"{found[0]} (for the {wf.page} page)" if found else missing,
            "how_to_get": f"`{download_command(wf)}`",
        })
    return out


def backbone_status(cfg: "ModelConfig") -> dict:
    """A quick look (no TensorFlow, no checksum) at the weights a transfer configuration needs.

    Returns:
        ``{"needed", "present", "path", "file", "message", "command"}``; ``needed`` is False for weights "none".
    """
    needed = cfg.weights == "imagenet"
    try:
        wf = backbone_file(cfg.backbone, alpha=float(cfg.alpha), image_size=cfg.image_size)
    except InvalidArgument as err:
        return {"needed": needed, "present": False, "path": None, "file": None, "message": str(err), "command": None}
    found = _found(wf)
    return {"needed": needed, "present": bool(found), "path": str(found[0]) if found else None, "file": wf.file,
            "message": None if found else _why_missing(wf), "command": download_command(wf)}


def resolve_backbone(cfg: "ModelConfig") -> Path:
    """The "no top" weights file of a transfer configuration (never downloads: see :func:`resolve_weights`)."""
    return resolve_weights(backbone_file(cfg.backbone, alpha=float(cfg.alpha), image_size=cfg.image_size))
