"""Convolution by hand: the kernels, the three output sizes, colour Conv2D, images to work on.

Seed 000 Parts 1-3 (questions 1-8 and 17): ``scipy.signal.convolve2d`` (``fftconvolve`` for big
kernels: the same numbers sooner) with a Gaussian and Sobel filters in ``full``/``same``/``valid``
modes, why 'valid' layers shrink, why Conv2D filters are k×k×3 and do cross-correlation. How fast
it runs is :mod:`cnnviz.lessons.speed`. Everything here returns arrays and dicts and needs no
TensorFlow. scipy.signal is imported when the first convolution runs, after the page has drawn its
first chart (the picture).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from cnnviz.data import samples
from cnnviz.errors import InvalidArgument
from cnnviz.lessons.checks import MAX_IMAGE_SIDE, MAX_KERNEL, check_image2d, check_int


MODES: tuple[str, ...] = ("full", "same", "valid")
# Output length along one axis for an input of length N and a kernel of length k
# (scipy.signal.convolve2d docs, "mode").
MODE_FORMULAS: dict[str, str] = {"full": "N + k − 1", "same": "N", "valid": "N − k + 1"}

MAX_CUSTOM_KERNEL = 7  # a student types at most 7×7 numbers
METHODS: tuple[str, ...] = ("auto", "direct", "fft")
# From this many kernel weights on, "auto" convolves through the FFT. Measured on 512×512 (2 cores, any
# mode): 3×3 direct 6 ms vs FFT 7-11 ms; 5×5 12 vs 7 ms; 15×15 71-83 vs 5-11 ms. Results agree to ~1e-13.
FFT_FROM_WEIGHTS = 25
# Seed Part 1's set-up: a 15×15 Gaussian on a 512×512 picture (its σ is not in the seed's text; 4
# pixels blurs visibly and keeps the kernel's edge above MATLAB's eps cut).
SEED_GAUSSIAN_SIZE, SEED_GAUSSIAN_SIGMA, SEED_WORKING_SIZE = 15, 4.0, 512

# --- kernels --------------------------------------------------------------------------------
# Sobel (Sobel & Feldman 1968), as written on Wikipedia "Sobel operator": Gx = SOBEL_X * A.
# With convolve2d (which flips the kernel) the response is positive where brightness grows
# to the right (SOBEL_X) or downwards (SOBEL_Y). SOBEL_Y equals MATLAB fspecial('sobel').
SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
SOBEL_Y = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], dtype=float)
# 4-neighbour Laplacian, MATLAB fspecial('laplacian', 0).
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
# Identity minus the Laplacian (Wikipedia "Kernel (image processing)", "Sharpen").
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float)
# GIMP manual, "Convolution Matrix" filter, emboss example.
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=float)
IDENTITY = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float)

KERNEL_NAMES: tuple[str, ...] = ("Gaussian", "Sobel X", "Sobel Y", "Laplacian", "Box blur", "Sharpen",
                                 "Emboss", "Custom")
KERNEL_SOURCES: dict[str, str] = {
    "Gaussian": "MATLAB fspecial('gaussian', size, sigma): blurs, weights fall off with distance.",
    "Sobel X": "Sobel operator (Wikipedia): finds vertical edges, brightness changing left to right.",
    "Sobel Y": "Sobel operator, MATLAB fspecial('sobel'): finds horizontal edges, changes top to bottom.",
    "Laplacian": "MATLAB fspecial('laplacian', 0): second derivative, lights up edges and fine detail.",
    "Box blur": "MATLAB fspecial('average', size): the plain mean of the neighbourhood.",
    "Sharpen": "Identity minus Laplacian (Wikipedia 'Kernel (image processing)'): boosts edges.",
    "Emboss": "GIMP 'Convolution Matrix' emboss: a diagonal derivative that looks like relief.",
    "Custom": "Your own numbers, up to 7×7.",
}


def gaussian_kernel(size: int | tuple[int, int] = 3, sigma: float = 0.5) -> np.ndarray:
    """Gaussian kernel equal to MATLAB ``fspecial('gaussian', size, sigma)``.

    This is the seed's ``matlab_style_gauss2D``: exp(-(x² + y²) / 2σ²) on a grid centred
    on 0, values below ``eps × max`` set to 0, then divided by the sum.

    Args:
        size: kernel side (or ``(rows, columns)``), 1..31; even sizes are allowed, as in MATLAB.
        sigma: standard deviation in pixels, > 0.

    Returns:
        float64 array of shape ``(rows, columns)`` summing to 1.

    >>> gaussian_kernel(3, 0.5).round(4)[1]
    array([0.0838, 0.6193, 0.0838])
    """
    rows, cols = (size, size) if not isinstance(size, tuple) else size
    rows = check_int("Gaussian size", rows, 1, MAX_KERNEL)
    cols = check_int("Gaussian size", cols, 1, MAX_KERNEL)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
        raise InvalidArgument(f"Gaussian sigma must be a number above 0, got {sigma!r}")
    m, n = (rows - 1) / 2.0, (cols - 1) / 2.0
    y, x = np.ogrid[-m:m + 1, -n:n + 1]
    h = np.exp(-(x * x + y * y) / (2.0 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    total = h.sum()
    if total != 0:
        h /= total
    return h


def box_kernel(size: int = 3) -> np.ndarray:
    """Mean filter, MATLAB ``fspecial('average', size)``: ``size``×``size`` of 1/size²."""
    size = check_int("box size", size, 1, MAX_KERNEL)
    return np.full((size, size), 1.0 / (size * size))


def named_kernel(name: str, *, size: int = 3, sigma: float = 0.5) -> np.ndarray:
    """One of :data:`KERNEL_NAMES` except "Custom" (``size``/``sigma`` only for Gaussian and box)."""
    fixed = {"Sobel X": SOBEL_X, "Sobel Y": SOBEL_Y, "Laplacian": LAPLACIAN, "Sharpen": SHARPEN, "Emboss": EMBOSS}
    if name in fixed:
        return fixed[name].copy()
    if name == "Gaussian":
        return gaussian_kernel(size, sigma)
    if name == "Box blur":
        return box_kernel(size)
    raise InvalidArgument(f"kernel must be one of {[k for k in KERNEL_NAMES if k != 'Custom']}, got {name!r}")


def validate_kernel(values: object, *, max_size: int = MAX_CUSTOM_KERNEL) -> np.ndarray:
    """A custom kernel as a float64 2D array, or a message saying what is wrong with it.

    Args:
        values: rows of numbers (nested lists or an array).
        max_size: largest allowed number of rows or columns.

    Returns:
        float64 array of shape ``(rows, columns)``.
    """
    try:
        kernel = np.array(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument(f"a kernel must be rows of numbers with the same length, got {values!r}"[:300]) from None
    if kernel.ndim != 2:
        raise InvalidArgument(f"a kernel is a 2D table of numbers (rows × columns), got shape {kernel.shape}")
    rows, cols = kernel.shape
    if not (1 <= rows <= max_size and 1 <= cols <= max_size):
        raise InvalidArgument(f"a custom kernel can be 1×1 up to {max_size}×{max_size}, got {rows}×{cols}")
    bad = np.argwhere(~np.isfinite(kernel))
    if len(bad):
        r, c = bad[0]
        raise InvalidArgument(f"every kernel value must be a finite number; row {r + 1}, column {c + 1} is "
                              f"{kernel[r, c]}")
    big = np.argwhere(np.abs(kernel) > MAX_KERNEL_VALUE)
    if len(big):  # finite, but 255 × the sum of the weights would overflow (inf / NaN pictures)
        r, c = big[0]
        raise InvalidArgument(f"kernel values must be from {-MAX_KERNEL_VALUE:g} to {MAX_KERNEL_VALUE:g}; row {r + 1}, "
                              f"column {c + 1} is {kernel[r, c]:g}")
    return kernel


#: Largest weight a custom kernel may have: far above any lesson's, far below what overflows a float64 sum.
MAX_KERNEL_VALUE = 1e6

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def _parse_number(token: str, row: int) -> float:
    parts = token.split("/")
    if len(parts) <= 2 and all(_NUMBER.match(p) for p in parts):
        value = float(parts[0])
        if len(parts) == 2:
            if float(parts[1]) == 0:
                raise InvalidArgument(f"'{token}' in row {row} divides by zero")
            value /= float(parts[1])
        return value
    raise InvalidArgument(f"'{token[:20]}' in row {row} is not a number (write numbers like -1, 0.5 or 1/9)")


def parse_kernel_text(text: str, *, max_size: int = MAX_CUSTOM_KERNEL) -> np.ndarray:
    """Read a kernel typed as text: one row per line (or ``;``), numbers split by spaces or commas.

    Fractions such as ``1/9`` are allowed.

    >>> parse_kernel_text("0 -1 0\\n-1 5 -1\\n0 -1 0")[1]
    array([-1.,  5., -1.])
    """
    lines = [line.strip() for line in re.split(r"[\n;]", str(text)) if line.strip()]
    if not lines:
        raise InvalidArgument("the custom kernel is empty: type one row of numbers per line, e.g. '0 -1 0'")
    if len(lines) > max_size:
        raise InvalidArgument(f"a custom kernel can have at most {max_size} rows, got {len(lines)}")
    rows = []
    for r, line in enumerate(lines, start=1):
        tokens = [t for t in re.split(r"[\s,]+", line) if t]
        if len(tokens) > max_size:
            raise InvalidArgument(f"a custom kernel can have at most {max_size} numbers per row, row {r} has "
                                  f"{len(tokens)}")
        rows.append([_parse_number(t, r) for t in tokens])
        if len(rows[-1]) != len(rows[0]):
            def count(n: int) -> str:
                return f"{n} number" + ("" if n == 1 else "s")

            raise InvalidArgument(f"row {r} has {count(len(rows[-1]))} but row 1 has {count(len(rows[0]))}: "
                                  "every row needs the same count")
    return validate_kernel(rows, max_size=max_size)


def kernel_to_text(kernel: np.ndarray) -> str:
    """The inverse of :func:`parse_kernel_text`, rounded for a text box."""
    return "\n".join(" ".join(f"{v:g}" for v in np.round(row, 4)) for row in np.asarray(kernel, dtype=float))


def is_signed(kernel: np.ndarray) -> bool:
    """True when the kernel has negative weights, so responses can be negative (edge detectors)."""
    return bool(np.min(kernel) < 0)


# --- 2D convolution and output sizes ---------------------------------------------------------


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidArgument(f"mode must be one of {MODES}, got {mode!r}")
    return mode


def output_shape(n: int | tuple[int, ...], k: int | tuple[int, ...], mode: str) -> int | tuple[int, ...]:
    """Size of the ``mode`` convolution of an N-long input with a k-long kernel, per axis.

    ``full``: N + k − 1; ``same``: N; ``valid``: N − k + 1 (0 when the kernel is larger).

    >>> output_shape(512, 15, "full"), output_shape(512, 15, "same"), output_shape(512, 15, "valid")
    (526, 512, 498)
    >>> output_shape((512, 512), (3, 3), "valid")
    (510, 510)
    """
    _check_mode(mode)
    if isinstance(n, tuple) or isinstance(k, tuple):
        ns = n if isinstance(n, tuple) else (n,) * len(k)  # type: ignore[arg-type]
        ks = k if isinstance(k, tuple) else (k,) * len(ns)
        if len(ns) != len(ks):
            raise InvalidArgument(f"n and k need the same number of axes, got {n!r} and {k!r}")
        return tuple(output_shape(a, b, mode) for a, b in zip(ns, ks))  # type: ignore[misc]
    n = check_int("N (input size)", n, 0, 10**9)
    k = check_int("k (kernel size)", k, 1, 10**9)
    if mode == "full":
        return n + k - 1
    if mode == "same":
        return n
    return max(0, n - k + 1)


def shape_formula(mode: str, n: int, k: int) -> str:
    """The formula with the numbers filled in, e.g. ``"N + k − 1 = 512 + 15 − 1 = 526"``."""
    output_shape(n, k, mode)  # validates
    if mode == "full":
        return f"N + k − 1 = {n} + {k} − 1 = {n + k - 1}"
    if mode == "same":
        return f"N = {n}"
    raw = n - k + 1
    return f"N − k + 1 = {n} − {k} + 1 = {raw}" + (" → nothing left" if raw <= 0 else "")


def _check_kernel(kernel: np.ndarray) -> np.ndarray:
    return validate_kernel(kernel, max_size=MAX_KERNEL)


def choose_method(kernel_shape: tuple[int, int]) -> str:
    """"direct" for small kernels, "fft" from :data:`FFT_FROM_WEIGHTS` weights on (the page's "direct or FFT?").

    Direct convolution costs k² multiply-adds per pixel; the FFT's cost hardly depends on k.

    >>> choose_method((3, 3)), choose_method((15, 15))
    ('direct', 'fft')
    """
    rows, cols = kernel_shape
    return "fft" if rows * cols >= FFT_FROM_WEIGHTS else "direct"


def method_text(kernel_shape: tuple[int, int]) -> str:
    """Which method :func:`choose_method` takes and why, in a sentence for the page."""
    rows, cols = kernel_shape
    # A rule measured once, not a fact about this picture: on a 32×32 one the direct way stayed quicker up to
    # 11×11, and the page's own "Direct or FFT?" timing may show either; so the text says where it comes from.
    where = ("on a 512×512 picture (2 cores); 'Direct or FFT?' below times both on this "
             "picture")
    if choose_method(kernel_shape) == "fft":
        return (f"computed with `fftconvolve`: a {rows}×{cols} kernel has {rows * cols} weights, and from "
                f"{FFT_FROM_WEIGHTS} on the FFT was faster than multiplying every weight at every pixel {where} "
                "(same numbers up to 1e-13)")
    return (f"computed with `convolve2d` (direct): {rows * cols} weights a pixel were quicker than an FFT {where}")


def _convolve_checked(img: np.ndarray, ker: np.ndarray, mode: str, method: str) -> np.ndarray:
    from scipy import signal  # lazy: 0.5-1.7 s to import; the page's first chart (the image) comes before

    if method == "auto":
        method = choose_method(ker.shape)
    if method == "fft":  # same result as convolve2d to ~1e-13 (tests/lessons/test_convolution.py)
        return signal.fftconvolve(img, ker, mode=mode)
    return signal.convolve2d(img, ker, mode=mode)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise InvalidArgument(f"method must be one of {METHODS}, got {method!r}")
    return method


def convolve(image: np.ndarray, kernel: np.ndarray, mode: str = "same", *, method: str = "auto") -> np.ndarray:
    """``scipy.signal.convolve2d(image, kernel, mode)`` after checking what a student can get wrong.

    Args:
        image: 2D grayscale array (any numeric dtype), at most 1024 on a side.
        kernel: 2D kernel, at most 31×31.
        mode: "full", "same" or "valid" (zero padding outside the image for the first two).
        method: "direct" (``convolve2d``), "fft" (``fftconvolve``, equal up to rounding) or
            "auto" (:func:`choose_method`: the faster one for this kernel size).

    Returns:
        float64 array of shape ``output_shape(image.shape, kernel.shape, mode)``.

    Raises:
        InvalidArgument: 'valid' with a kernel larger than the image (nothing would be left).
    """
    img = check_image2d(image)
    ker = _check_kernel(kernel)
    _check_mode(mode)
    _check_method(method)
    if mode == "valid" and (ker.shape[0] > img.shape[0] or ker.shape[1] > img.shape[1]):
        raise InvalidArgument(
            f"'valid' keeps only positions where the whole {ker.shape[0]}×{ker.shape[1]} kernel fits inside "
            f"the {img.shape[0]}×{img.shape[1]} image: none do (N − k + 1 ≤ 0). Use a larger image or a "
            "smaller kernel."
        )
    return _convolve_checked(img, ker, mode, method)


@dataclass(frozen=True)
class ModeResult:
    """One mode's output and how its size comes about.

    Attributes:
        mode: "full", "same" or "valid".
        output: the filter response, or None when 'valid' leaves nothing.
        shape: (rows, columns) of the output (0 when empty).
        formula: e.g. "N − k + 1".
        rows_text, cols_text: the formula with numbers, per axis.
        offset: (row, column) of output[0, 0] in image coordinates (for aligned plots).
    """

    mode: str
    output: np.ndarray | None
    shape: tuple[int, int]
    formula: str
    rows_text: str
    cols_text: str
    offset: tuple[float, float]


def compare_modes(image: np.ndarray, kernel: np.ndarray, *, method: str = "auto") -> dict[str, ModeResult]:
    """Convolve in full, same and valid mode (seed Part 1 and questions 3-5).

    Args:
        image: 2D grayscale array.
        kernel: 2D kernel.
        method: as in :func:`convolve`.

    Returns:
        ``{mode: ModeResult}`` in the order full, same, valid.
    """
    img = check_image2d(image)
    ker = _check_kernel(kernel)
    _check_method(method)
    results = {}
    for mode in MODES:
        shape = output_shape(img.shape, ker.shape, mode)
        empty = 0 in shape
        # Where output[0, 0] sits relative to the image: 'full' starts (k − 1)/2 before it,
        # 'same' crops (k − 1)//2 of that, 'valid' all k − 1 (scipy centres 'same' on 'full').
        offs = []
        for k in ker.shape:
            crop = {"full": 0, "same": (k - 1) // 2, "valid": k - 1}[mode]
            offs.append(-(k - 1) / 2 + crop)
        results[mode] = ModeResult(
            mode=mode,
            output=None if empty else _convolve_checked(img, ker, mode, method),
            shape=(int(shape[0]), int(shape[1])),
            formula=MODE_FORMULAS[mode],
            rows_text=shape_formula(mode, img.shape[0], ker.shape[0]),
            cols_text=shape_formula(mode, img.shape[1], ker.shape[1]),
            offset=(offs[0], offs[1]),
        )
    return results


def size_lines(results: dict[str, ModeResult]) -> list[str]:
    """One Markdown line per mode of :func:`compare_modes`: its output size and the formulas that give it.

    >>> size_lines(compare_modes(np.zeros((6, 5)), np.ones((3, 3))))[0]
    '**full**, 8×7: rows N + k − 1 = 6 + 3 − 1 = 8; columns N + k − 1 = 5 + 3 − 1 = 7'
    """
    return [f"**{r.mode}**, {r.shape[0]}×{r.shape[1]}: rows {r.rows_text}; columns {r.cols_text}"
            for r in results.values()]


def shrink_after_layers(n: int, k: int, layers: int) -> list[int]:
    """Side length after 0, 1, ..., ``layers`` 'valid' convolutions (seed questions 5-6).

    Each valid layer removes k − 1 pixels; once nothing is left the size stays 0.

    >>> shrink_after_layers(32, 3, 4)
    [32, 30, 28, 26, 24]
    """
    n = check_int("N (input size)", n, 1, 100_000)
    k = check_int("k (kernel size)", k, 1, MAX_KERNEL)
    layers = check_int("layers", layers, 0, 1000)
    return [max(0, n - i * (k - 1)) for i in range(layers + 1)]


def layers_until_empty(n: int, k: int) -> int | None:
    """How many 'valid' k×k layers leave nothing of an N-pixel side (None when k = 1: never)."""
    n = check_int("N (input size)", n, 1, 100_000)
    k = check_int("k (kernel size)", k, 1, MAX_KERNEL)
    return None if k == 1 else math.ceil(n / (k - 1))


# --- colour: what a Conv2D filter computes ---------------------------------------------------


def _check_color(image: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    img = np.asarray(image)
    ker = np.asarray(kernel, dtype=float)
    if img.ndim != 3 or img.shape[-1] < 1:
        raise InvalidArgument(f"a colour image is H×W×C, got shape {img.shape}")
    if ker.ndim != 3 or ker.shape[-1] != img.shape[-1]:
        raise InvalidArgument(f"a Conv2D filter for a {img.shape[-1]}-channel image is k×k×{img.shape[-1]}, "
                              f"got shape {ker.shape}")
    if ker.shape[0] > img.shape[0] or ker.shape[1] > img.shape[1] or ker.shape[0] > MAX_KERNEL:
        raise InvalidArgument(f"the {ker.shape[0]}×{ker.shape[1]} filter must fit inside the "
                              f"{img.shape[0]}×{img.shape[1]} image")
    if max(img.shape[:2]) > MAX_IMAGE_SIDE or not np.all(np.isfinite(ker)) or not np.all(np.isfinite(img)):
        raise InvalidArgument(f"image sides must be at most {MAX_IMAGE_SIDE} and all values finite")
    return img.astype(np.float64, copy=False), ker


def conv2d_like(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One Conv2D filter on a colour image: cross-correlation summed over channels ('valid').

    ``out[i, j] = Σ_m Σ_n Σ_c image[i + m, j + n, c] · kernel[m, n, c]`` — what
    ``keras.layers.Conv2D(1, k, padding="valid", use_bias=False)`` computes (seed question 8).

    Args:
        image: H×W×C array.
        kernel: k×k×C filter (question 7: the filter has as many channels as the input).

    Returns:
        float64 (H − k + 1)×(W − k + 1) map: one output channel per filter.
    """
    img, ker = _check_color(image, kernel)
    windows = np.lib.stride_tricks.sliding_window_view(img, ker.shape)[:, :, 0]
    return np.einsum("ijmnc,mnc->ij", windows, ker)


def color_identity(image: np.ndarray, kernel: np.ndarray) -> dict:
    """Show that Conv2D equals the sum over channels of convolve2d with *flipped* kernels.

    Returns:
        dict with ``conv2d`` (:func:`conv2d_like`), ``per_channel`` (list of the C
        cross-correlation maps that add up to it), ``flipped_sum`` (Σ_c convolve2d(image_c,
        kernel_c flipped both ways, 'valid')), ``unflipped_sum`` (the same without flipping:
        a true convolution), ``max_diff_flipped`` and ``max_diff_unflipped`` (largest absolute
        differences to ``conv2d``), and ``kernel_symmetric`` (flipping changes nothing).
    """
    from scipy import signal  # lazy: as in _convolve_checked

    img, ker = _check_color(image, kernel)
    conv = conv2d_like(img, ker)
    channels = range(img.shape[-1])
    per_channel = [signal.correlate2d(img[..., c], ker[..., c], mode="valid") for c in channels]
    flipped = sum(signal.convolve2d(img[..., c], ker[::-1, ::-1, c], mode="valid") for c in channels)
    unflipped = sum(signal.convolve2d(img[..., c], ker[..., c], mode="valid") for c in channels)
    return {
        "conv2d": conv,
        "per_channel": per_channel,
        "flipped_sum": flipped,
        "unflipped_sum": unflipped,
        "max_diff_flipped": float(np.max(np.abs(conv - flipped))),
        "max_diff_unflipped": float(np.max(np.abs(conv - unflipped))),
        "kernel_symmetric": bool(np.array_equal(ker, ker[::-1, ::-1])),
    }


COLOR_KERNEL_NAMES: tuple[str, ...] = ("Random (like an untrained filter)", "Sobel X on every channel",
                                       "Red minus blue")


def color_kernel(name: str, size: int = 3, *, seed: int = 0) -> np.ndarray:
    """A k×k×3 example filter for the colour section.

    "Random" is standard normal scaled by 1/sqrt(k·k·3) (Glorot-like magnitudes, asymmetric, so
    flipping matters); "Sobel X on every channel" finds edges whatever their colour; "Red
    minus blue" averages red and subtracts blue.
    """
    size = check_int("filter size", size, 1, MAX_CUSTOM_KERNEL)
    if name == COLOR_KERNEL_NAMES[0]:
        rng = np.random.default_rng(seed)
        return rng.standard_normal((size, size, 3)) / math.sqrt(size * size * 3)
    if name == COLOR_KERNEL_NAMES[1]:
        base = SOBEL_X if size == 3 else np.outer(np.ones(size), np.linspace(1, -1, size))
        return np.repeat(base[..., None], 3, axis=-1)
    if name == COLOR_KERNEL_NAMES[2]:
        ker = np.zeros((size, size, 3))
        ker[..., 0], ker[..., 2] = 1.0 / size**2, -1.0 / size**2
        return ker
    raise InvalidArgument(f"colour filter must be one of {list(COLOR_KERNEL_NAMES)}, got {name!r}")


def conv_layer_shapes(height: int, width: int, in_channels: int, n_filters: int, kernel_size: int,
                      padding: str = "valid") -> dict:
    """Shapes and parameter count of one Conv2D layer (seed questions 7, 15, 17, 18).

    Returns:
        dict with ``filter_shape`` (k, k, C_in), ``output_shape`` (H', W', n_filters),
        ``weights`` (k·k·C_in·n_filters), ``biases`` (n_filters), ``params`` (their sum).
    """
    height = check_int("height", height, 1, 10_000)
    width = check_int("width", width, 1, 10_000)
    in_channels = check_int("input channels", in_channels, 1, 4096)
    n_filters = check_int("number of filters", n_filters, 1, 4096)
    k = check_int("kernel size", kernel_size, 1, MAX_KERNEL)
    if padding not in ("valid", "same"):
        raise InvalidArgument(f"padding must be 'valid' or 'same', got {padding!r}")
    out_h, out_w = output_shape((height, width), (k, k), padding)  # Conv2D 'same' keeps N (stride 1)
    weights = k * k * in_channels * n_filters
    return {
        "input_shape": (height, width, in_channels),
        "filter_shape": (k, k, in_channels),
        "output_shape": (out_h, out_w, n_filters),
        "weights": weights,
        "biases": n_filters,
        "params": weights + n_filters,
    }


# --- images to work on -----------------------------------------------------------------------

# scikit-learn ships two JPEG photos with the package (read by cnnviz.data.samples without importing it).
SAMPLE_PHOTOS: dict[str, str] = {"Chinese temple (scikit-learn)": "china.jpg",
                                 "Flower (scikit-learn)": "flower.jpg"}
PATTERNS: tuple[str, ...] = ("Step edge", "Checkerboard", "Circle")


def sample_photo(name: str) -> np.ndarray:
    """One of :data:`SAMPLE_PHOTOS` as uint8 H×W×3 (427×640, bundled with scikit-learn)."""
    if name not in SAMPLE_PHOTOS:
        raise InvalidArgument(f"sample photo must be one of {list(SAMPLE_PHOTOS)}, got {name!r}")
    return samples.sample_photo(SAMPLE_PHOTOS[name])


def pattern_image(name: str, size: int = 128) -> np.ndarray:
    """A generated uint8 grayscale pattern (size×size) whose filter responses are easy to predict.

    "Step edge": dark left half, bright right half (one vertical edge); "Checkerboard":
    8×8 squares; "Circle": a bright disc of radius size/3 (edges in every direction).
    """
    size = check_int("pattern size", size, 8, MAX_IMAGE_SIDE)
    if name == "Step edge":
        img = np.full((size, size), 40, np.uint8)
        img[:, size // 2:] = 215
        return img
    if name == "Checkerboard":
        cell = max(1, size // 8)
        yy, xx = np.indices((size, size)) // cell
        return np.where((yy + xx) % 2 == 0, 230, 25).astype(np.uint8)
    if name == "Circle":
        yy, xx = np.indices((size, size)) - (size - 1) / 2
        return np.where(yy**2 + xx**2 <= (size / 3) ** 2, 220, 30).astype(np.uint8)
    raise InvalidArgument(f"pattern must be one of {list(PATTERNS)}, got {name!r}")


def cifar10_test_images(count: int = 20) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The first ``count`` CIFAR-10 test images, their labels and the class names.

    Raises:
        Unavailable: CIFAR-10 is not on this machine (the message says how to get it).
    """
    # lazy: the loaders (tarfile, cifar10, folderdata, weights...) took 0.10-0.23 s on the shared machine,
    # before the page's first chart; only the "CIFAR-10 test image" source needs them
    from cnnviz.data import datasets

    count = check_int("count", count, 1, 1000)
    ds = datasets.load("cifar10")
    return ds.x_test[:count], ds.y_test[:count], tuple(ds.class_names)
