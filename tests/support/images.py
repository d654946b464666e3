"""Pictures for tests, built in memory: encoded bytes (PNG, JPEG, any Pillow format) and smooth "photos"."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

Color = tuple[int, int, int]


def encode(im: Image.Image | np.ndarray, fmt: str, **kw) -> bytes:
    """``im`` (a Pillow image or a uint8 array) saved in format ``fmt`` by Pillow's encoder, as bytes."""
    if isinstance(im, np.ndarray):
        im = Image.fromarray(im)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _picture(image: np.ndarray | Color, size: tuple[int, int]) -> Image.Image | np.ndarray:
    """An array as it is, or a solid RGB colour as a ``size`` (width, height) image."""
    return image if isinstance(image, np.ndarray) else Image.new("RGB", size, tuple(image))


def png_bytes(image: np.ndarray | Color, size: tuple[int, int] = (12, 10)) -> bytes:
    """A PNG of a uint8 array (grey, RGB or RGBA), or of a solid colour of ``size`` (width, height)."""
    return encode(_picture(image, size), "PNG")


def jpeg_bytes(image: np.ndarray | Color, size: tuple[int, int] = (20, 16)) -> bytes:
    """A JPEG of a uint8 RGB array, or of a solid colour of ``size`` (width, height)."""
    return encode(_picture(image, size), "JPEG")


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random uint8 RGB "photo" (gradients plus noise), not a flat colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), (xx + yy) / max(height + width - 2, 1)], -1)
    img = base * 200 + rng.integers(0, 55, size=(height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def source_pixels(trace) -> np.ndarray:
    """The pixels of a Plotly image trace's ``source`` (a PNG data URI; a trace object or its JSON dict)."""
    import base64

    source = trace["source"] if isinstance(trace, dict) else trace.source
    header, data = source.split(",", 1)
    assert header == "data:image/png;base64", header
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))))
