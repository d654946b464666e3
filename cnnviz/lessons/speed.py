"""How fast convolution runs: Conv2D on the CPU and every GPU, direct against FFT (seed 000 Part 4).

Seed questions 9-10: time the seed's Conv2D over batches of random images per device;
and ``convolve2d`` (direct) against ``fftconvolve`` per kernel size. Questions 9 and 12 (how much GPU
memory): with a GPU, the timing also reports TensorFlow's memory use on it. TensorFlow is
imported only by :func:`time_conv2d`.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Callable, Sequence

import numpy as np

from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.lessons.checks import MAX_KERNEL, check_image2d, check_int


Progress = Callable[[float, str], None]  # (share done 0..1, what is being timed), after each timed step
MAX_TIMING_BATCH = 200  # seed Part 4: up to a batch of 100; the slider goes to 200
_TIMING_LOCK = threading.Lock()  # timings taken side by side measure each other, not the hardware


def batch_size_steps(largest: int) -> list[int]:
    """Batch sizes to time, from 2 up to ``largest`` (seed questions 9-10 compare 2 and 100).

    >>> batch_size_steps(100)
    [2, 5, 10, 20, 50, 100]
    >>> batch_size_steps(30)
    [2, 5, 10, 20, 30]
    """
    largest = check_int("largest batch", largest, 2, MAX_TIMING_BATCH)
    return sorted({n for n in (2, 5, 10, 20, 50, 100, 200) if n < largest} | {largest})


def _tf_devices(tf) -> list[dict]:
    """CPU and every GPU TensorFlow sees: ``[{"name", "label", "kind"}]``."""
    devices = [{"name": "/device:CPU:0", "label": "CPU", "kind": "CPU"}]
    physical = tf.config.list_physical_devices("GPU")
    for index, logical in enumerate(tf.config.list_logical_devices("GPU")):
        detail = ""
        if index < len(physical):
            try:
                detail = tf.config.experimental.get_device_details(physical[index]).get("device_name", "")
            except (RuntimeError, ValueError):
                detail = ""
        devices.append({"name": logical.name, "label": f"GPU {index}" + (f" ({detail})" if detail else ""),
                        "kind": "GPU"})
    return devices


def gpu_memory(tf, device_name: str) -> dict | None:
    """TensorFlow's memory on a GPU (``tf.config.experimental.get_memory_info``): ``{"current_bytes",
    "peak_bytes"}`` since the last :func:`reset_gpu_peak`; None when TensorFlow cannot tell (a CPU, an old
    TensorFlow, a device it does not track)."""
    try:
        info = tf.config.experimental.get_memory_info(device_name.split("device:")[-1])
        return {"current_bytes": int(info["current"]), "peak_bytes": int(info["peak"])}
    except (AttributeError, KeyError, RuntimeError, TypeError, ValueError):
        return None


def reset_gpu_peak(tf, device_name: str) -> None:
    """Start counting a GPU's peak memory afresh (nothing happens where TensorFlow cannot)."""
    try:
        tf.config.experimental.reset_memory_stats(device_name.split("device:")[-1])
    except (AttributeError, RuntimeError, TypeError, ValueError):
        pass


def time_conv2d(
    batch_sizes: Sequence[int] = (2, 100),
    *,
    filters: int = 32,
    kernel_size: int = 7,
    image_size: int = 100,
    channels: int = 3,
    repeats: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Time the seed's Conv2D (32 filters of 7×7×3 over N random 100×100×3 images) per device.

    Unlike the seed, the random batch and the filter weights are made once per device and
    batch size, outside the timed part, so only the convolution (``tf.nn.conv2d``, what a
    ``Conv2D(32, 7)`` layer runs, 'valid' padding) plus a sum is timed. Each batch size runs
    once to warm up (tracing, cuDNN algorithm choice), then ``repeats`` times; the median is kept.
    ``progress(share, words)`` is called after each device's batch size (the largest take seconds on a CPU).

    Returns:
        dict with ``batch_sizes``, ``devices`` (``[{"name", "label", "kind"}]``, CPU first),
        ``seconds`` (``{label: [median seconds per batch size]}``), ``images_per_second``,
        ``speedup`` (``{gpu_label: [cpu / gpu per batch size]}``, empty without a GPU),
        ``gpu_available``, ``message`` (what to conclude, or "no GPU on this machine"),
        ``operation`` (the timed work in words), ``repeats``, ``tensorflow`` and ``gpu_memory``
        (``{gpu_label: {"current_bytes", "peak_bytes"}}`` from TensorFlow, for the GPUs it reports on).
    """
    sizes = [check_int("batch size", n, 1, MAX_TIMING_BATCH) for n in batch_sizes]
    if not sizes:
        raise InvalidArgument("give at least one batch size to time")
    filters = check_int("filters", filters, 1, 256)
    kernel_size = check_int("kernel size", kernel_size, 1, 15)
    image_size = check_int("image size", image_size, kernel_size, 256)
    channels = check_int("channels", channels, 1, 8)
    repeats = check_int("repeats", repeats, 1, 20)

    import tensorflow as tf  # lazy: the rest of the page never needs it

    if not _TIMING_LOCK.acquire(timeout=120):
        raise Unavailable("Someone else is timing convolutions on this server right now; try again in a minute.")
    try:
        devices = _tf_devices(tf)
        seconds: dict[str, list[float]] = {}
        memory: dict[str, dict] = {}
        for device in devices:
            seconds[device["label"]] = []
            if device["kind"] == "GPU":
                reset_gpu_peak(tf, device["name"])
            with tf.device(device["name"]):
                weights = tf.random.stateless_normal((kernel_size, kernel_size, channels, filters), seed=(seed, 1))

                @tf.function(reduce_retracing=True)
                def conv_sum(x, w=weights):
                    return tf.reduce_sum(tf.nn.conv2d(x, w, strides=1, padding="VALID"))

                for n in sizes:
                    batch = tf.random.stateless_normal((n, image_size, image_size, channels), seed=(seed, n))
                    conv_sum(batch).numpy()  # warm-up; .numpy() waits for the device to finish
                    runs = []
                    for _ in range(repeats):
                        start = time.perf_counter()
                        conv_sum(batch).numpy()
                        runs.append(time.perf_counter() - start)
                    seconds[device["label"]].append(statistics.median(runs))
                    if progress:
                        done = sum(map(len, seconds.values()))
                        progress(done / (len(devices) * len(sizes)), f"{device['label']}: batch of {n} timed")
            used = gpu_memory(tf, device["name"]) if device["kind"] == "GPU" else None
            if used is not None:
                memory[device["label"]] = used
    finally:
        _TIMING_LOCK.release()
    summary = _timing_summary(sizes, devices, seconds, repeats=repeats, tf_version=tf.__version__,
                              operation=f"{filters} filters of {kernel_size}×{kernel_size}×{channels} over N "
                                        f"random {image_size}×{image_size}×{channels} images ('valid' padding)")
    return summary | {"gpu_memory": memory}


def _timing_summary(sizes: list[int], devices: list[dict], seconds: dict[str, list[float]], *, repeats: int,
                    tf_version: str, operation: str) -> dict:
    cpu = seconds["CPU"]
    gpus = [d["label"] for d in devices if d["kind"] == "GPU"]
    speedup = {g: [c / t if t > 0 else float("inf") for c, t in zip(cpu, seconds[g])] for g in gpus}
    if not gpus:
        message = ("No GPU on this machine: TensorFlow sees only the CPU, so there is no speed-up to "
                   "measure. The CPU times are still real; run cnnviz on a computer with an NVIDIA GPU "
                   "and a GPU build of TensorFlow to compare.")
    else:  # what the numbers show: a GPU slower than the CPU, or gaining less on the larger batch, is said so
        first = gpus[0]
        small, large = speedup[first][0], speedup[first][-1]
        message = f"{first} is {_than_cpu(large)} for a batch of {sizes[-1]}"
        if len(sizes) == 1:
            message += "."
        elif large > small:
            message += (f" and {f'{small:.1f}×' if small >= 1 <= large else _than_cpu(small)} for a batch of "
                        f"{sizes[0]}: small batches cannot keep the GPU's thousands of cores busy, and copying and "
                        "launching work costs the same for any batch.")
        else:
            message += (f" and {_than_cpu(small)} for a batch of {sizes[0]}: this time the larger batch did not "
                        "gain more, as it usually does on a GPU; run the timing again to see whether that holds.")
    return {
        "batch_sizes": list(sizes),
        "devices": devices,
        "seconds": seconds,
        "images_per_second": {k: [n / t if t > 0 else float("inf") for n, t in zip(sizes, v)]
                              for k, v in seconds.items()},
        "speedup": speedup,
        "gpu_available": bool(gpus),
        "message": message,
        "operation": operation,
        "repeats": repeats,
        "tensorflow": tf_version,
    }


def _than_cpu(speedup: float) -> str:
    """``"50.0× faster than the CPU"``, or ``"2.0× slower than the CPU"`` for a speed-up below 1."""
    return f"{speedup:.1f}× faster than the CPU" if speedup >= 1 else f"{1 / speedup:.1f}× slower than the CPU"


FFT_KERNEL_SIZES: tuple[int, ...] = (3, 5, 7, 11, 15, 21, 31)


def time_direct_vs_fft(image: np.ndarray, kernel_sizes: Sequence[int] = FFT_KERNEL_SIZES, *,
                       repeats: int = 3, seed: int = 0, progress: Progress | None = None) -> dict:
    """Time ``convolve2d`` (direct, O(N²k²)) against ``fftconvolve`` (O(N² log N)) per kernel size.

    Both run in 'same' mode on the same image with a random k×k kernel; the results agree to
    rounding, which ``max_abs_difference`` shows. ``progress(share, words)`` is called after each kernel
    size (direct 31×31 on 512×512 takes about a second each time).

    Returns:
        dict with ``kernel_sizes``, ``direct_seconds``, ``fft_seconds`` (medians),
        ``max_abs_difference`` and ``image_shape``.
    """
    from scipy import signal  # lazy: 0.5-1.7 s to import, and the Convolution page times only on request

    img = check_image2d(image)
    if max(img.shape) > 512:
        raise InvalidArgument(f"time on an image of at most 512×512 pixels, got {img.shape[0]}×{img.shape[1]}")
    sizes = [check_int("kernel size", k, 1, MAX_KERNEL) for k in kernel_sizes]
    repeats = check_int("repeats", repeats, 1, 10)
    rng = np.random.default_rng(seed)
    direct, fft, diffs = [], [], []
    for k in sizes:
        ker = rng.random((k, k))
        runs_direct, runs_fft = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            out_direct = signal.convolve2d(img, ker, mode="same")
            runs_direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            out_fft = signal.fftconvolve(img, ker, mode="same")
            runs_fft.append(time.perf_counter() - start)
        direct.append(statistics.median(runs_direct))
        fft.append(statistics.median(runs_fft))
        diffs.append(float(np.max(np.abs(out_direct - out_fft))))
        if progress:
            progress(len(diffs) / len(sizes), f"{k}×{k} kernel timed")
    return {"kernel_sizes": sizes, "direct_seconds": direct, "fft_seconds": fft,
            "max_abs_difference": diffs, "image_shape": tuple(img.shape)}
