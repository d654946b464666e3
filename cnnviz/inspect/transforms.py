"""Transformed copies of a test set: rotated, flipped, shifted and resized images, and :class:`Variant`,
one such copy named as a hashable value (a cache key that says what its images depend on).

Transforms act on each image on its own, so a batch can be transformed in slices (the Robustness
experiments stream the test set through the network slice by slice, see
:func:`cnnviz.inspect.robustness.variant_scores`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage, sparse

from cnnviz.data import augment
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation


FILLS = ("constant", "reflect", "nearest")  # scipy.ndimage modes for the corners
SIZE_METHODS = ("upscale", "pad")
MIN_SIZE, MAX_SIZE = 4, 512
VARIANT_KINDS = ("original", "rotate", "flip", "shift", "resize")
FLIPS = ("horizontal", "vertical")


def _check_fill(fill: str) -> None:
    if fill not in FILLS:
        raise InvalidArgument(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")


def _like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float results back to the input dtype (rounded and clipped for integers)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(values), info.min, info.max).astype(dtype)
    return values.astype(dtype, copy=False)


def rotate_images(x: np.ndarray, angle: float, *, fill: str = "constant", cval: float = 0.0) -> np.ndarray:
    """Rotate every image counter-clockwise by ``angle`` degrees, keeping the size.

    Multiples of 90° on square images use ``np.rot90`` (exact, nothing filled); other
    angles give bilinear ``scipy.ndimage.rotate``'s pixels with the corners filled by ``fill``
    ("constant" with ``cval``, "reflect" or "nearest"), computed as a sparse product per slice of
    the batch on images of up to :data:`MATRIX_PIXELS` pixels (see :func:`rotation_matrix`):
    13× faster than one scipy rotation per image plane on 2,000 CIFAR-10 images.

    Args:
        x: images N×H×W×C.
        angle: degrees.
        fill: corner fill mode.
        cval: value for ``fill="constant"``.
    Returns:
        Rotated images, same shape and dtype.
    """
    x = evaluation.check_images(x)
    _check_fill(fill)
    if not isinstance(angle, (int, float, np.integer, np.floating)) or not math.isfinite(angle):
        raise InvalidArgument(f"angle must be a finite number of degrees, got {angle!r}")
    a = float(angle) % 360.0
    if a % 90.0 == 0.0 and (x.shape[1] == x.shape[2] or a % 180.0 == 0.0):
        return np.ascontiguousarray(np.rot90(x, k=int(a // 90), axes=(1, 2)))
    n, h, w, c = x.shape
    if h * w > MATRIX_PIXELS:
        out = ndimage.rotate(x.astype(np.float32), a, axes=(1, 2), reshape=False, order=1, mode=fill, cval=cval)
        return _like(out, x.dtype)
    matrix, outside = rotation_matrix(a, h, w, fill)
    result = np.empty_like(x)
    for i in range(0, n, MATRIX_BATCH):
        part = x[i:i + MATRIX_BATCH]
        # Pixels as rows, every image plane a column: one sparse product rotates the whole slice.
        planes = np.ascontiguousarray(part.transpose(1, 2, 0, 3)).reshape(h * w, -1).astype(np.float64)
        out = matrix @ planes
        if fill == "constant" and cval != 0.0:
            out += float(cval) * outside[:, None]
        # float32 in between, as scipy's result on the float32 copy was, so rounding back to uint8 agrees.
        out = out.astype(np.float32).reshape(h, w, len(part), c).transpose(2, 0, 1, 3)
        result[i:i + MATRIX_BATCH] = _like(out, x.dtype)
    return result


#: Largest image (H×W) rotated by a cached sparse matrix; larger ones go through scipy directly.
MATRIX_PIXELS = 64 * 64
#: Images per sparse product: whole batches of 2,000 make temporaries of 50 MB and ran 7× slower.
MATRIX_BATCH = 256


@functools.lru_cache(maxsize=256)
def rotation_matrix(angle: float, height: int, width: int, fill: str):
    """``scipy.ndimage.rotate(order=1, reshape=False)`` of an H×W plane as a linear map.

    Bilinear rotation is linear in the pixels (and, for a "constant" fill, in the fill value): a sparse
    (H·W)×(H·W) matrix with at most 4 weights per output pixel, plus the fill value's weight per
    output pixel. Both are read from scipy itself, so coordinates, weights and border rules are
    scipy's: an output pixel's taps lie in a 2×2 block (after reflecting or clamping at the border),
    which holds at most one pixel of each of the four lattices of every other row and column. So
    rotating each lattice's pixels set to 1 gives each output pixel's weight on that lattice, and the
    same pixels set to their index + 1 tell which pixel it is: 8 plane rotations instead of H·W.

    Returns:
        ``(matrix, outside)``: a CSR matrix (float64) and the fill weights (float64, H·W).
    """
    pixels = height * width
    index = np.arange(pixels, dtype=np.float64).reshape(height, width) + 1.0
    probes = np.zeros((8, height, width))
    for k, (r, c) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        probes[2 * k, r::2, c::2] = 1.0
        probes[2 * k + 1, r::2, c::2] = index[r::2, c::2]
    out = ndimage.rotate(probes, angle, axes=(1, 2), reshape=False, order=1, mode=fill, cval=0.0)
    out = out.reshape(4, 2, pixels)
    weights, tagged = out[:, 0], out[:, 1]
    rows, lattice = np.nonzero(np.abs(weights.T) > 1e-12)
    values = weights[lattice, rows]
    columns = np.rint(tagged[lattice, rows] / values).astype(np.int64) - 1
    matrix = sparse.csr_matrix((values, (rows, columns)), shape=(pixels, pixels))
    outside = ndimage.rotate(np.zeros((height, width)), angle, reshape=False, order=1, mode=fill,
                             cval=1.0).reshape(pixels) if fill == "constant" else np.zeros(pixels)
    return matrix, outside


def shift_images(x: np.ndarray, dy: int, dx: int, *, fill: str = "constant", cval: float = 0.0) -> np.ndarray:
    """Move every image by whole pixels (``dy`` down, ``dx`` right), filling the gap by ``fill``.

    The pixels of ``scipy.ndimage.shift(order=0)`` by padding and slicing (a copy, no interpolation):
    scipy's "reflect" repeats the edge pixel as numpy's "symmetric" pad, "nearest" is "edge".
    """
    x = evaluation.check_images(x)
    _check_fill(fill)
    for name, v in (("dy", dy), ("dx", dx)):
        if not isinstance(v, (int, np.integer)):
            raise InvalidArgument(f"{name} must be a whole number of pixels, got {v!r}")
    if abs(dy) >= x.shape[1] or abs(dx) >= x.shape[2]:
        raise InvalidArgument(f"a shift of ({dy}, {dx}) pixels moves a {x.shape[1]}×{x.shape[2]} image out of view")
    dy, dx = int(dy), int(dx)
    h, w = x.shape[1:3]
    pads = ((0, 0), (max(dy, 0), max(-dy, 0)), (max(dx, 0), max(-dx, 0)), (0, 0))
    if fill == "constant":
        padded = np.pad(x, pads, mode="constant", constant_values=_like(np.asarray(cval, np.float64), x.dtype))
    else:
        padded = np.pad(x, pads, mode="symmetric" if fill == "reflect" else "edge")
    top, left = max(-dy, 0), max(-dx, 0)
    return np.ascontiguousarray(padded[:, top:top + h, left:left + w])


def resize_images(
    x: np.ndarray, size: int, *, method: str = "upscale", fill: str = "constant", cval: float = 0.0
) -> np.ndarray:
    """Images made ``size``×``size``: stretched ("upscale", bilinear) or centred ("pad").

    "upscale" is ``scipy.ndimage.zoom(order=1, grid_mode=True, mode="nearest")``: bilinear with
    pixel centres aligned and edge pixels repeated, any size (a smaller one shrinks). "pad" keeps
    every pixel and fills the border by ``fill`` ("constant" with ``cval``, "reflect", "nearest").
    """
    x = evaluation.check_images(x)
    _check_fill(fill)
    if method not in SIZE_METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(SIZE_METHODS)}, got {method!r}")
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidArgument(f"size must be a whole number of pixels {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    h, w = x.shape[1:3]
    if method == "pad":
        if size < max(h, w):
            raise InvalidArgument(f"cannot pad {h}×{w} images to the smaller size {size}×{size}")
        top, left = (size - h) // 2, (size - w) // 2
        pads = ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0))
        if fill == "constant":
            return np.pad(x, pads, mode="constant", constant_values=np.asarray(cval).astype(x.dtype))
        # scipy's "reflect" repeats the edge pixel (numpy "symmetric"); "nearest" is numpy "edge".
        return np.pad(x, pads, mode="symmetric" if fill == "reflect" else "edge")
    # One 2-D zoom per image plane: a single 4-D zoom also interpolates along N and C (16 taps
    # instead of 4) and measured 3-5x slower on 1,000 CIFAR-10 images. float64, so uint8 results
    # round as before (float32 sends exact .5 values either way).
    n, c = x.shape[0], x.shape[3]
    planes = np.moveaxis(x, 3, 1).reshape(n * c, h, w).astype(np.float64)
    out = np.empty((n * c, size, size))
    for plane, target in zip(planes, out):
        ndimage.zoom(plane, (size / h, size / w), output=target, order=1, grid_mode=True, mode="nearest")
    return _like(np.moveaxis(out.reshape(n, c, size, size), 1, 3), x.dtype)


# --- one transformed copy of a test set -------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """One transformed copy of a test set. Make it with :func:`original`, :func:`rotation`,
    :func:`flip`, :func:`shift` or :func:`resize`, which leave ``fill`` and ``cval`` empty where no
    pixel is filled, so two requests that differ only in an unused border share one result.

    Attributes:
        kind: one of ``VARIANT_KINDS``.
        angle: degrees counter-clockwise in [0, 360) ("rotate").
        direction: "horizontal" or "vertical" ("flip").
        dy, dx: whole pixels down and right ("shift").
        size, method: square side and "upscale" or "pad" ("resize").
        fill, cval: how new pixels are filled ("" and 0.0 where none are).
    """

    kind: str = "original"
    angle: float = 0.0
    direction: str = ""
    dy: int = 0
    dx: int = 0
    size: int = 0
    method: str = ""
    fill: str = ""
    cval: float = 0.0

    def apply(self, x: np.ndarray) -> np.ndarray:
        """The transformed images of ``x`` (N×H×W×C), same dtype."""
        if self.kind == "rotate":
            return rotate_images(x, self.angle, fill=self.fill or "constant", cval=self.cval)
        if self.kind == "flip":
            return augment.flip_images(evaluation.check_images(x), self.direction)
        if self.kind == "shift":
            return shift_images(x, self.dy, self.dx, fill=self.fill, cval=self.cval)
        if self.kind == "resize":
            return resize_images(x, self.size, method=self.method, fill=self.fill or "constant", cval=self.cval)
        return evaluation.check_images(x)


def _filled(fill: str, cval: float) -> tuple[str, float]:
    _check_fill(fill)
    if isinstance(cval, bool) or not isinstance(cval, (int, float, np.integer, np.floating)) \
            or not math.isfinite(cval):
        raise InvalidArgument(f"cval must be a finite number, got {cval!r}")
    return fill, float(cval) if fill == "constant" else 0.0


def original() -> Variant:
    """The test set as it is."""
    return Variant()


def rotation(angle: float, *, fill: str = "constant", cval: float = 0.0, square: bool = True) -> Variant:
    """Rotated by ``angle`` degrees (see :func:`rotate_images`); 0° is :func:`original`. Multiples of 90°
    on ``square`` images (and of 180° on any) fill nothing, so their variant has no fill."""
    if isinstance(angle, bool) or not isinstance(angle, (int, float, np.integer, np.floating)) \
            or not math.isfinite(angle):
        raise InvalidArgument(f"angle must be a finite number of degrees, got {angle!r}")
    fill, cval = _filled(fill, cval)
    a = float(angle) % 360.0
    if a == 0.0:
        return original()
    if a % 90.0 == 0.0 and (square or a % 180.0 == 0.0):
        return Variant("rotate", angle=a)
    return Variant("rotate", angle=a, fill=fill, cval=cval)


def flip(direction: str) -> Variant:
    """Mirrored "horizontal" (left-right) or "vertical" (upside down)."""
    if direction not in FLIPS:
        raise InvalidArgument(f"flip direction must be 'horizontal' or 'vertical', got {direction!r}")
    return Variant("flip", direction=direction)


def shift(dy: int, dx: int, *, fill: str = "constant", cval: float = 0.0) -> Variant:
    """Moved by whole pixels (see :func:`shift_images`); no move is :func:`original`."""
    for name, v in (("dy", dy), ("dx", dx)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InvalidArgument(f"{name} must be a whole number of pixels, got {v!r}")
    fill, cval = _filled(fill, cval)
    if dy == 0 and dx == 0:
        return original()
    return Variant("shift", dy=int(dy), dx=int(dx), fill=fill, cval=cval)


def resize(size: int, *, method: str = "upscale", fill: str = "constant", cval: float = 0.0) -> Variant:
    """Made ``size``×``size`` (see :func:`resize_images`); "upscale" fills nothing."""
    if method not in SIZE_METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(SIZE_METHODS)}, got {method!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InvalidArgument(f"size must be a whole number of pixels {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    fill, cval = _filled(fill, cval)
    if method == "upscale":
        return Variant("resize", size=int(size), method=method)
    return Variant("resize", size=int(size), method=method, fill=fill, cval=cval)


def coarse_to_fine(angles: Sequence[float]) -> list[float]:
    """``angles`` (degrees, repeats dropped) so that each next one lies farthest round the circle from those
    before it (ties: the smaller angle): a sweep drawn while it is computed shows the whole curve coarsely,
    then finer. E.g. every 45° → 0, 180, 90, 270, 45, 135, 225, 315."""
    left, order = sorted({float(a) for a in angles}), []

    def gap(a: float) -> float:
        return min((min((a - b) % 360, (b - a) % 360) for b in order), default=360.0)

    while left:
        best = max(left, key=lambda a: (gap(a), -a))
        order.append(best)
        left.remove(best)
    return order
