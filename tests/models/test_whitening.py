"""Patch whitening (the fast presets' first layer): the kernel against a NumPy reference, options, Keras."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.models import whitening


# --- patch whitening ---------------------------------------------------------------------------
def _reference_kernel(x: np.ndarray, size: int, eps: float) -> np.ndarray:
    """airbench's computation written out with loops: patches, PᵀP/n, eigenvectors / √(λ+eps)."""
    rows = []
    for img in x.astype(np.float64):
        for i in range(img.shape[0] - size + 1):
            for j in range(img.shape[1] - size + 1):
                rows.append(img[i:i + size, j:j + size, :].reshape(-1))  # (row, column, channel) order
    p = np.array(rows)
    lam, vec = np.linalg.eigh(p.T @ p / len(p))
    lam, vec = lam[::-1], vec[:, ::-1]
    scaled = vec / np.sqrt(lam + eps)
    return np.concatenate([scaled, -scaled], axis=1).reshape(size, size, x.shape[-1], -1)


def test_whitening_kernel_matches_the_numpy_reference():
    rng = np.random.default_rng(3)
    mix = rng.normal(size=(3, 3))
    x = rng.normal(size=(7, 6, 5, 3)) @ mix  # correlated channels
    kernel = whitening.patch_whitening_kernel(x, 2, eps=1e-3)
    ref = _reference_kernel(x, 2, 1e-3)
    assert kernel.shape == ref.shape == (2, 2, 3, 24) and kernel.dtype == np.float32
    for f in range(24):  # an eigenvector's sign is arbitrary
        k, r = kernel[..., f].ravel(), ref[..., f].ravel()
        sign = np.sign(k @ r)
        np.testing.assert_allclose(k, sign * r, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])
    # whitened: the patches' second moment becomes diag(λ/(λ+eps)), nearly the identity
    w = kernel[..., :12].reshape(12, 12).astype(np.float64)
    p = whitening.patches(x, 2)
    moment = (p @ w).T @ (p @ w) / len(p)
    np.testing.assert_allclose(moment, np.diag(np.diag(moment)), atol=1e-6)
    lam = np.linalg.eigvalsh(p.T @ p / len(p))[::-1]
    np.testing.assert_allclose(np.diag(moment), lam / (lam + 1e-3), rtol=1e-4)


def test_whitening_options_and_errors():
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 1))
    k = whitening.patch_whitening_kernel(x, 2, filters=24)  # greyscale: 4 directions, the rest zero
    assert k.shape == (2, 2, 1, 24) and np.all(k[..., 4:12] == 0) and np.any(k[..., :4] != 0)
    assert whitening.patch_whitening_kernel(x, 2, filters=4).shape == (2, 2, 1, 4)
    np.testing.assert_allclose(whitening.patch_whitening_kernel(x, 2, max_images=2),
                               whitening.patch_whitening_kernel(x[:2], 2), rtol=1e-6)
    with pytest.raises(InvalidArgument, match=r"whitening filters must be an even number ≥ 2, got 5"):
        whitening.patch_whitening_kernel(x, 2, filters=5)
    with pytest.raises(InvalidArgument, match=r"at least 2×2, got shape \(4, 6\)"):
        whitening.patch_whitening_kernel(np.zeros((4, 6)), 2)


@pytest.mark.slow
def test_keras_conv_with_the_kernel_equals_patches_times_kernel():
    """The patch order (row, column, channel) is Keras' kernel layout: the conv computes P·K."""
    import keras

    x = np.random.default_rng(1).normal(size=(3, 6, 7, 3)).astype(np.float32)
    kernel = whitening.patch_whitening_kernel(x, 2)
    conv = keras.layers.Conv2D(24, 2, use_bias=False, name="w")
    conv.build((None, 6, 7, 3))
    conv.set_weights([kernel])
    out = np.asarray(conv(x)).reshape(-1, 24)
    np.testing.assert_allclose(out, whitening.patches(x, 2) @ kernel.reshape(12, 24), rtol=1e-4, atol=1e-4)
