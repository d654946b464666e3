"""Dirac (identity) initialisation of a convolution: its first filters start by copying their input.

airbench (Keller Jordan, arXiv 2404.00498) initialises every 3×3 conv of its network with
``torch.nn.init.dirac_`` on its first ``in_channels`` filters: output channel i of those is input
channel i, unchanged. The network starts close to a shallow one (an implicit residual path),
which in airbench's ablation cut the compute to 94% by 15%. The other filters keep their random
start. Pure NumPy, applied to a Keras kernel (height, width, in, out) before training.
"""

from __future__ import annotations

import numpy as np

from cnnviz.errors import InvalidArgument


def dirac_kernel(kernel: np.ndarray) -> np.ndarray:
    """A copy of ``kernel`` whose first ``min(in, out)`` filters are the identity.

    Filter i (i < in) becomes all zeros but a 1 at the centre tap of input channel i, so with
    'same' padding output channel i equals input channel i.

    Args:
        kernel: Keras conv kernel (kh, kw, in, out) with odd kh and kw.
    Returns:
        The new kernel (same shape and dtype).
    Raises:
        InvalidArgument: not a 4-d kernel with odd sides, repeating its shape.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise InvalidArgument(f"dirac initialisation needs a conv kernel (kh, kw, in, out) with odd sides, "
                              f"got shape {kernel.shape}")
    kh, kw, channels_in, channels_out = kernel.shape
    out = kernel.copy()
    n = min(channels_in, channels_out)
    out[..., :n] = 0
    out[kh // 2, kw // 2, np.arange(n), np.arange(n)] = 1
    return out
