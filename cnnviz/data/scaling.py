"""Pixel scaling, the one implementation: uint8 images to the float input of a model.

A scaling is a per-channel affine map ``x * scale + offset`` (:func:`affine`), worked out once
from the training images and saved in the run, so validation, test and any later image are
scaled with the training images' numbers (:func:`apply`). :func:`scale` is the same map for a
one-off call (the Datasets page's preview).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from cnnviz.errors import InvalidArgument

#: Every scaling and what it does, for people.
SCALINGS: dict[str, str] = {
    "unit": "[0, 1]: x / 255",
    "symmetric": "[-1, 1]: x / 127.5 - 1 (seed 000)",
    "standardize": "per channel: (x - mean) / std, with the training images' mean and std",
}


def _check_method(method: object) -> str:
    if not isinstance(method, str) or method not in SCALINGS:
        raise InvalidArgument(f"scaling must be one of {', '.join(SCALINGS)}, got {method!r}")
    return method  # type: ignore[return-value]


def channel_stats(x: np.ndarray, *, chunk: int = 2048) -> dict[str, list[float]]:
    """Per-channel mean and standard deviation of images (pixel units), JSON-safe.

    uint8 images are counted per value (``np.bincount``: exact and ~10× faster than float
    sums); other dtypes are summed in float64 chunks, so no full float copy is made.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise InvalidArgument(f"images must be N×H×W×C, got shape {x.shape}")
    c = x.shape[-1]
    n = max(x.size // c, 1)
    total, sq = np.zeros(c), np.zeros(c)
    if x.dtype == np.uint8:
        values = np.arange(256, dtype=np.float64)
        for ch in range(c):
            counts = np.bincount(x[..., ch].ravel(), minlength=256)
            total[ch], sq[ch] = counts @ values, counts @ values ** 2
    else:
        for start in range(0, len(x), chunk):
            block = x[start:start + chunk].reshape(-1, c).astype(np.float64)
            total += block.sum(axis=0)
            sq += np.square(block).sum(axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(sq / n - mean ** 2, 0.0))
    return {"mean": mean.tolist(), "std": std.tolist()}


def affine_from_stats(method: str, channels: int, stats: Mapping | None = None) -> dict:
    """The ``x * scale + offset`` of ``method`` for ``channels`` channels.

    Args:
        method: a key of :data:`SCALINGS`.
        channels: channels of the images.
        stats: for ``"standardize"``: :func:`channel_stats` of the training images (required).
    Returns:
        ``{"method", "scale": [per channel], "offset": [per channel]}`` (JSON-safe), plus
        ``"stats"`` for ``standardize``.
    """
    _check_method(method)
    if method == "unit":
        scale, offset = [1 / 255.0] * channels, [0.0] * channels
    elif method == "symmetric":
        scale, offset = [1 / 127.5] * channels, [-1.0] * channels
    else:
        mean = np.asarray((stats or {}).get("mean", ()), dtype=np.float64)
        std = np.asarray((stats or {}).get("std", ()), dtype=np.float64)
        if mean.shape != (channels,) or std.shape != (channels,):
            raise InvalidArgument(f"standardize stats need one mean and std per channel ({channels}), "
                                  f"got mean {mean.tolist()} and std {std.tolist()}")
        std = np.where(std > 0, std, 1.0)  # a constant channel stays centred instead of NaN
        scale, offset = (1 / std).tolist(), (-mean / std).tolist()
    out = {"method": method, "scale": [float(v) for v in scale], "offset": [float(v) for v in offset]}
    if method == "standardize":
        out["stats"] = {"mean": list((stats or {})["mean"]), "std": list((stats or {})["std"])}
    return out


def affine(method: str, x_train: np.ndarray) -> dict:
    """The scaling ``method`` worked out on the training images (``standardize``: their statistics).

    Returns:
        See :func:`affine_from_stats` (saved in the run as ``scaling_affine``).
    """
    _check_method(method)
    x_train = np.asarray(x_train)
    stats = channel_stats(x_train) if method == "standardize" else None
    return affine_from_stats(method, int(x_train.shape[-1]), stats)


def apply(x_uint8: np.ndarray, affine_map: Mapping) -> np.ndarray:
    """Scale images N×H×W×C (uint8, or floats in 0..255) with an :func:`affine` result (float32)."""
    x = np.asarray(x_uint8)
    if x.ndim < 1 or x.shape[-1] != len(affine_map["scale"]):
        raise InvalidArgument(
            f"images must have {len(affine_map['scale'])} channel(s) in the last axis, got shape {x.shape}"
        )
    scale_ = np.asarray(affine_map["scale"], dtype=np.float32)
    offset = np.asarray(affine_map["offset"], dtype=np.float32)
    out = np.multiply(x, scale_, dtype=np.float32)  # one pass from uint8 (no float32 copy first), same bits
    out += offset
    return out


@dataclass(frozen=True)
class Affine:
    """A run's scaling as a callable: ``Affine.of(run.scaling_affine)(x_uint8)`` is :func:`apply`.

    :mod:`cnnviz.inspect.inference` recognises it and applies the map inside the compiled forward
    pass instead (uint8 in, the cast and ``x * scale + offset`` in the graph, on every core).
    """

    scale: tuple[float, ...]
    offset: tuple[float, ...]

    @classmethod
    def of(cls, affine_map: Mapping) -> "Affine":
        """The map of an :func:`affine` result (a run's ``scaling_affine``)."""
        scale_, offset = tuple(map(float, affine_map["scale"])), tuple(map(float, affine_map["offset"]))
        if not scale_ or len(scale_) != len(offset):
            raise InvalidArgument(f"a scaling needs one scale and one offset per channel, got {dict(affine_map)!r}")
        return cls(scale_, offset)

    def __call__(self, x_uint8: np.ndarray) -> np.ndarray:
        return apply(x_uint8, {"scale": self.scale, "offset": self.offset})


def scale(x_uint8: np.ndarray, method: str = "unit", stats: Mapping | None = None) -> np.ndarray:
    """Turn uint8 pixels into the float32 input of a model (the map training uses).

    Args:
        x_uint8: images N×H×W×C with values 0..255 (uint8, or floats in that range).
        method: ``"unit"`` → [0, 1]; ``"symmetric"`` → [-1, 1] (seed 000);
            ``"standardize"`` → per channel ``(x - mean) / std``.
        stats: for ``"standardize"``: :func:`channel_stats` of the *training* images, so
            validation and test are scaled the same way; computed from ``x_uint8`` if None.
    Returns:
        float32 array of the same shape.

    >>> scale(np.array([[[[0, 255]]]], dtype=np.uint8), "symmetric").tolist()
    [[[[-1.0, 1.0]]]]
    """
    _check_method(method)
    x = np.asarray(x_uint8)
    if method == "standardize" and stats is None:
        stats = channel_stats(x)
    return apply(x, affine_from_stats(method, int(x.shape[-1]), stats))
