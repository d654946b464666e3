"""A fast preset's bare forward pass, compiled three ways side by side (issue 19's Robustness sections).

The Robustness sections' time is the forward passes (benchmarks/README.md, session 11). This times one
``tf.function`` of ``model(x, training=False)`` over 2,000 random 32×32×3 images for each fast network
(``fast_w16``, ``fast_w32``; random weights: they do not change the time), as the app compiles it
(bfloat16 as the presets train), with XLA (``jit_compile=True``), and in float32 with the same weights,
at batch 256 (the app's) and 512. Prints one JSON row per network and batch with the medians and ratios,
and the load average before and after.
Usage: ``PYTHONPATH=. python benchmarks/forward_variants.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from inference import _row  # noqa: E402  (benchmarks/inference.py: one way to print)

IMAGES = 2_000


def _pass_seconds(fn, chunks) -> float:
    """Seconds of one pass of ``fn`` over every batch, outputs to numpy."""
    start = time.perf_counter()
    for chunk in chunks:
        np.asarray(fn(chunk))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import tensorflow as tf

    from cnnviz.models.network import build_model
    from cnnviz.models.presets import PRESETS

    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count())
    x = np.random.default_rng(0).random((IMAGES, 32, 32, 3), dtype=np.float32)
    signature = [tf.TensorSpec((None, 32, 32, 3), tf.float32)]
    for preset in ("fast_3min", "fast_10min"):
        config = PRESETS[preset].config
        mixed = build_model(config, input_shape=(32, 32, 3), num_classes=10)
        single = build_model(config.replace(precision="float32"), input_shape=(32, 32, 3), num_classes=10)
        single.set_weights(mixed.get_weights())
        ways = {
            "app": tf.function(lambda t: mixed(t, training=False), input_signature=signature),
            "xla": tf.function(lambda t: mixed(t, training=False), input_signature=signature, jit_compile=True),
            "float32": tf.function(lambda t: single(t, training=False), input_signature=signature),
        }
        for batch in (256, 512):
            chunks = [tf.constant(x[i:i + batch]) for i in range(0, len(x), batch)]
            for fn in ways.values():
                _pass_seconds(fn, chunks)  # trace (and for XLA, compile) outside the clock
            seconds = {name: [] for name in ways}
            for _ in range(args.repeats):  # interleaved rounds: a busy moment hits every way alike
                for name, fn in ways.items():
                    seconds[name].append(_pass_seconds(fn, chunks))
            med = {name: statistics.median(v) for name, v in seconds.items()}
            _row(preset=preset, architecture=config.architecture, precision=config.precision, batch=batch,
                 images=IMAGES, **{f"{k}_s": v for k, v in med.items()},
                 **{f"{k}/app": med[k] / med["app"] for k in ("xla", "float32")})
    _row(load_after=list(os.getloadavg()))


if __name__ == "__main__":
    main()
