"""Occlusion sensitivity (Zeiler & Fergus, 2014): hide one part of the image at a time and watch the class.

A square patch of a fill value (grey) slides over the image with a stride; each position costs one
forward pass, all of them stacked and predicted in batches (no gradients). The drop in the chosen
class's probability, ``p(x) − p(x with the patch)``, is credited to every pixel under the patch and
averaged over the patches that cover it (Captum's ``Occlusion``). Patches stay whole: the last one in
each direction is moved back to end at the border, so every pixel is covered.

Shared models: hold the model's lock while calling :func:`occlusion`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation
from cnnviz.inspect.saliency import as_one_image


if TYPE_CHECKING:  # pragma: no cover
    import keras

MAX_PATCHES = 4096  # forward passes per map: bounded work for a shared server
BATCH = 128


@dataclass(frozen=True)
class Occlusion:
    """An occlusion map.

    Attributes:
        class_index: the class watched.
        probability: its probability on the whole image.
        drops: rows×cols, the drop for the patch at each position (``rows``/``cols`` starts below).
        row_starts, col_starts: the patches' top rows and left columns.
        heat: H×W, every pixel's mean drop over the patches covering it (negative: hiding helps the class).
        patch, stride: the patch side and step in pixels.
    """

    class_index: int
    probability: float
    drops: np.ndarray
    row_starts: tuple[int, ...]
    col_starts: tuple[int, ...]
    heat: np.ndarray
    patch: int
    stride: int


def patch_starts(length: int, patch: int, stride: int) -> tuple[int, ...]:
    """Where the patches start along one axis: every ``stride``, the last one ending at the border.

    >>> patch_starts(10, 4, 3)
    (0, 3, 6)
    >>> patch_starts(10, 4, 4)
    (0, 4, 6)
    """
    last = max(length - patch, 0)
    starts = list(range(0, last + 1, stride))
    if starts[-1] != last:
        starts.append(last)
    return tuple(starts)


def smallest_stride(height: int, width: int, patch: int) -> int | None:
    """The smallest stride (1..patch) that keeps a map of ``patch``-sided patches within :data:`MAX_PATCHES`
    forward passes; None when even a stride of ``patch`` needs more.

    >>> smallest_stride(128, 128, 4), smallest_stride(200, 200, 4), smallest_stride(200, 200, 3)
    (2, 4, None)
    """
    for stride in range(1, int(patch) + 1):
        if len(patch_starts(height, patch, stride)) * len(patch_starts(width, patch, stride)) <= MAX_PATCHES:
            return stride
    return None


def smallest_patch(height: int, width: int) -> int:
    """The smallest patch side that some stride keeps within :data:`MAX_PATCHES` forward passes.

    >>> smallest_patch(32, 32), smallest_patch(200, 200)
    (1, 4)
    """
    return next(p for p in range(1, min(height, width) + 1) if smallest_stride(height, width, p) is not None)


def occlusion(model: "keras.Model", image: np.ndarray, *, class_index: int | None = None, patch: int = 4,
              stride: int = 2, fill: float | np.ndarray = 0.0,
              progress: Callable[[int, int], None] | None = None) -> Occlusion:
    """The occlusion map of one image for one class.

    Args:
        model: a built Keras classifier (not changed).
        image: H×W×C (or 1×H×W×C), scaled as the model expects.
        class_index: the class (None: the predicted one).
        patch: the patch side in pixels (1..the image's smaller side).
        stride: pixels between patches (1..patch).
        fill: the patch's value in the model's input scale (a number or one per channel), e.g. grey.
        progress: called as ``progress(patches done, patches in all)`` after each batch of forward passes.
    Returns:
        :class:`Occlusion`.
    """
    x = as_one_image(model, image)
    h, w, channels = x.shape[1:]
    for name, value, upper in (("patch", patch, min(h, w)), ("stride", stride, patch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= upper:
            raise InvalidArgument(f"{name} must be a whole number from 1 to {upper}, got {value!r}")
    fill_values = np.asarray(fill, dtype=np.float32)
    if fill_values.ndim > 1 or fill_values.size not in (1, channels):
        raise InvalidArgument(f"fill must be one number or one per channel ({channels}), got {fill!r}")
    rows, cols = patch_starts(h, patch, stride), patch_starts(w, patch, stride)
    if len(rows) * len(cols) > MAX_PATCHES:
        raise InvalidArgument(f"{len(rows)}×{len(cols)} patches is more than {MAX_PATCHES}: choose a larger stride")
    base = evaluation.predict_probabilities(model, x)[0]
    n_classes = len(base)
    if class_index is None:
        class_index = int(np.argmax(base))
    elif isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) or not (
            0 <= class_index < n_classes):
        raise InvalidArgument(f"class index must be 0..{n_classes - 1}, got {class_index!r}")
    occluded = np.repeat(x, len(rows) * len(cols), axis=0)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        occluded[k, r:r + patch, c:c + patch, :] = fill_values
    probs = evaluation.predict_probabilities(model, occluded, batch_size=BATCH, progress=progress)[:, int(class_index)]
    drops = (base[int(class_index)] - probs).reshape(len(rows), len(cols)).astype(np.float32)
    total = np.zeros((h, w), np.float64)
    count = np.zeros((h, w), np.int32)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            total[r:r + patch, c:c + patch] += drops[i, j]
            count[r:r + patch, c:c + patch] += 1
    return Occlusion(class_index=int(class_index), probability=float(base[int(class_index)]), drops=drops,
                     row_starts=rows, col_starts=cols, heat=(total / count).astype(np.float32), patch=int(patch),
                     stride=int(stride))
