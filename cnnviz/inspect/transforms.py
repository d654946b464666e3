"""Transformed copies of a test set: rotated, flipped, shifted and resized images, and :class:`Variant`,
one such copy named as a hashable value (a cache key that says what its images depend on).

Transforms act on each image on its own, so a batch can be transformed in slices (the Robustness
experiments stream the test set through the network slice by slice, see
:func:`cnnviz.inspect.robustness.variant_scores`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

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
    angles use bilinear ``scipy.ndimage.rotate`` with the corners filled by ``fill``
    ("constant" with ``cval``, "reflect" or "nearest").

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
    out = ndimage.rotate(x.astype(np.float32), a, axes=(1, 2), reshape=False, order=1, mode=fill, cval=cval)
    return _like(out, x.dtype)


def shift_images(x: np.ndarray, dy: int, dx: int, *, fill: str = "constant", cval: float = 0.0) -> np.ndarray:
    """Move every image by whole pixels (``dy`` down, ``dx`` right), filling the gap by ``fill``."""
    x = evaluation.check_images(x)
    _check_fill(fill)
    for name, v in (("dy", dy), ("dx", dx)):
        if not isinstance(v, (int, np.integer)):
            raise InvalidArgument(f"{name} must be a whole number of pixels, got {v!r}")
    if abs(dy) >= x.shape[1] or abs(dx) >= x.shape[2]:
        raise InvalidArgument(f"a shift of ({dy}, {dx}) pixels moves a {x.shape[1]}×{x.shape[2]} image out of view")
    # order=0 with whole-pixel shifts copies pixels exactly.
    return ndimage.shift(x, (0, int(dy), int(dx), 0), order=0, mode=fill, cval=cval)


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
