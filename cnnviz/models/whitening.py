"""Patch whitening: a first convolution whose filters decorrelate the pixels of small patches.

airbench (Keller Jordan, arXiv 2404.00498, section 3.2) starts its network with a frozen
2×2 convolution computed from the training images: the eigenvectors of the covariance of
all 2×2×C patches, each divided by the square root of its eigenvalue, and the same filters
negated (so that the GELU after it keeps both signs). The layer's output has (nearly) the
identity covariance, which lets the next layers learn faster. Pure NumPy: the kernel is
computed once, before training, and stored in the model as a normal frozen ``Conv2D``.
"""

from __future__ import annotations

import numpy as np

from cnnviz.errors import InvalidArgument

#: Added to each eigenvalue before dividing by its square root (airbench's ``eps``).
EPS = 5e-4
#: Training images the covariance is estimated from (airbench uses the first 5,000).
MAX_IMAGES = 5000
_CHUNK = 250  # images per step of the covariance sum (keeps memory to ~25 MB)


def patches(x: np.ndarray, size: int) -> np.ndarray:
    """Every ``size``×``size`` patch of every image, flattened in Keras kernel order (row, column, channel).

    Args:
        x: images N×H×W×C (float).
        size: patch side.
    Returns:
        Array (N·(H-size+1)·(W-size+1), size·size·C), float64.
    """
    x = np.asarray(x, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))  # N,h,w,C,kh,kw
    windows = windows.transpose(0, 1, 2, 4, 5, 3)  # N,h,w,kh,kw,C
    return windows.reshape(-1, size * size * x.shape[-1])


def patch_whitening_kernel(x: np.ndarray, size: int = 2, filters: int | None = None, *, eps: float = EPS,
                           max_images: int = MAX_IMAGES) -> np.ndarray:
    """The frozen first-layer kernel of airbench, computed from (scaled) training images.

    The covariance is the uncentred second moment ``PᵀP / n`` of the patches P, as in
    airbench. Its eigenvectors v (largest eigenvalue λ first) give filters v / √(λ + eps),
    followed by the same filters negated.

    Args:
        x: scaled training images N×H×W×C (the first ``max_images`` are used).
        size: kernel side (2 in airbench).
        filters: output channels, even; default ``2·size·size·C``. With more filters than
            that, the extra ones are zero; with fewer, the largest-variance directions are kept.
        eps: added to each eigenvalue.
        max_images: images used for the estimate.
    Returns:
        Kernel (size, size, C, filters), float32, for ``Conv2D.set_weights``.
    Raises:
        InvalidArgument: bad shapes or settings, repeating the value.
    """
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] < 1 or min(x.shape[1:3]) < size:
        raise InvalidArgument(f"whitening needs images N×H×W×C at least {size}×{size}, got shape {x.shape}")
    if not isinstance(size, int) or size < 1:
        raise InvalidArgument(f"whitening patch size must be a positive whole number, got {size!r}")
    dims = size * size * x.shape[-1]
    filters = 2 * dims if filters is None else filters
    if not isinstance(filters, int) or filters < 2 or filters % 2:
        raise InvalidArgument(f"whitening filters must be an even number ≥ 2, got {filters!r}")
    if not eps > 0:
        raise InvalidArgument(f"whitening eps must be above 0, got {eps!r}")
    x = x[:max_images]
    cov = np.zeros((dims, dims))
    count = 0
    for start in range(0, len(x), _CHUNK):
        p = patches(x[start:start + _CHUNK], size)
        cov += p.T @ p
        count += len(p)
    cov /= count
    eigenvalues, eigenvectors = np.linalg.eigh(cov)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, eigenvectors = np.clip(eigenvalues[order], 0, None), eigenvectors[:, order]
    half = filters // 2
    kept = min(half, dims)
    scaled = np.zeros((dims, half))
    scaled[:, :kept] = eigenvectors[:, :kept] / np.sqrt(eigenvalues[:kept] + eps)
    kernel = np.concatenate([scaled, -scaled], axis=1)  # (dims, filters)
    return kernel.reshape(size, size, x.shape[-1], filters).astype(np.float32)
