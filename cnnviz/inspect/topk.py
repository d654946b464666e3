"""The most probable classes of a prediction: the one top-k of the lab.

The Evaluate gallery, the Inside page's bar chart and the ImageNet decoder all rank
classes the same way: highest probability first, equal probabilities by class index.
NumPy only, so any page may import it without start-up cost.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from cnnviz.errors import InvalidArgument


def top_k(probabilities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values along the last axis, largest first.

    Ties keep the lower class index first (a stable sort of the negated values), so the
    order is the same on every machine.

    Args:
        probabilities: C scores of one image, or N×C for a batch.
        k: how many classes, at least 1; more than C gives all C.
    Returns:
        int64 indices, shape ``(min(k, C),)`` or ``(N, min(k, C))``.

    >>> top_k(np.array([0.2, 0.5, 0.1, 0.2]), 3).tolist()
    [1, 0, 3]
    """
    p = np.asarray(probabilities)
    if p.ndim not in (1, 2) or p.shape[-1] == 0:
        raise InvalidArgument(f"need the scores of one image (C) or a batch (N×C), got an array of shape {p.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgument(f"k must be a positive integer, got {k!r}")
    return np.argsort(-p, axis=-1, kind="stable")[..., : int(k)].astype(np.int64)


def top_classes(probabilities: np.ndarray, class_names: Sequence[str], k: int) -> list[tuple[int, str, float]]:
    """The ``k`` most probable classes of one image as ``(index, name, probability)``, most probable first.

    >>> top_classes(np.array([0.1, 0.7, 0.2]), ("cat", "dog", "frog"), 2)
    [(1, 'dog', 0.7), (2, 'frog', 0.2)]
    """
    p = np.asarray(probabilities)
    if p.ndim != 1 or len(p) != len(class_names):
        raise InvalidArgument(f"need one probability per class ({len(class_names)}), got an array of shape {p.shape}")
    return [(int(i), str(class_names[i]), float(p[i])) for i in top_k(p, k)]
