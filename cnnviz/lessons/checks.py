"""Argument checks shared by the lessons (convolution by hand and its speed).

Each raises :class:`cnnviz.errors.InvalidArgument` with a message that repeats what it got.
"""

from __future__ import annotations

import numpy as np

from cnnviz.errors import InvalidArgument


MAX_KERNEL = 31  # builders (Gaussian, box); the seed's Gaussian was 15×15
MAX_IMAGE_SIDE = 1024  # convolve2d is direct (O(N²k²)): keep one call well under a second


def check_int(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as an int when it is a whole number ``lo``..``hi`` (not a bool), else InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= int(value) <= hi:
        raise InvalidArgument(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return int(value)


def check_image2d(image: np.ndarray) -> np.ndarray:
    """A finite grayscale image H×W of at most ``MAX_IMAGE_SIDE`` a side, as float64."""
    img = np.asarray(image)
    if img.ndim != 2:
        raise InvalidArgument(f"2D convolution needs a grayscale image H×W, got shape {img.shape}")
    if img.size == 0 or max(img.shape) > MAX_IMAGE_SIDE:
        raise InvalidArgument(f"the image must be 1..{MAX_IMAGE_SIDE} pixels on each side, got {img.shape[0]}×"
                              f"{img.shape[1]}; shrink it first (cnnviz.data.images.fit_within)")
    if not np.issubdtype(img.dtype, np.number) or not np.all(np.isfinite(img)):
        raise InvalidArgument("the image must contain finite numbers only")
    return img.astype(np.float64, copy=False)
