"""GELU in float32 or in bfloat16 inside the fast networks' bfloat16 models, side by side (issue 19).

Since session 19 every GELU of a fast network is a float32 layer between its bfloat16 layers
(``cnnviz.models.architectures.gelu``); before, the GELUs were bfloat16 like the rest. For each
bfloat16 fast network, both layouts are built with the same (random) weights and, in interleaved
rounds on the same data:

* ``forward``: one ``tf.function`` of ``model(x, training=False)`` over 2,000 random images, 256 at a time
  (the app's inference batch), outputs to numpy: what Evaluate and each Robustness copy cost;
* ``train``: images per second of ``model.fit`` on one repeated batch of 128 (the presets' batch; the
  job's path without its pipeline, as ``flop_rate.py``);
* ``agree``: the share of the 2,000 images whose predicted class is the same in both layouts, and the
  largest difference of a probability (the float32 GELU is the more exact one).

Prints one JSON row per network with the medians and the ratios old/new, and the load average before and after.
Usage: ``PYTHONPATH=. python benchmarks/gelu_precision.py [--repeats 5] [--networks fast_w16 fast_w32]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from inference import _row  # noqa: E402  (benchmarks/inference.py: one way to print)

IMAGES, FORWARD_BATCH, TRAIN_BATCH, TRAIN_STEPS = 2_000, 256, 128, 12


@contextlib.contextmanager
def _bfloat16_gelus():
    """Build the fast networks as before session 19: GELUs in the model's own precision."""
    from cnnviz.models import architectures

    kept = architectures.gelu
    architectures.gelu = lambda name: architectures.act(name, "gelu")
    try:
        yield
    finally:
        architectures.gelu = kept


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--networks", nargs="*", default=["fast_w16", "fast_w32", "fast_airbench94"])
    args = parser.parse_args()
    import tensorflow as tf

    from cnnviz.models.network import build_model
    from cnnviz.models.presets import PRESETS

    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(IMAGES, 32, 32, 3)).astype(np.float32)
    chunks = [tf.constant(x[i:i + FORWARD_BATCH]) for i in range(0, IMAGES, FORWARD_BATCH)]
    batch = tf.data.Dataset.from_tensors((tf.constant(x[:TRAIN_BATCH]), tf.constant(
        np.eye(10, dtype=np.float32)[rng.integers(0, 10, TRAIN_BATCH)]))).repeat()
    for network in args.networks:
        config = PRESETS["fast_3min"].config.replace(architecture=network)  # bfloat16, the presets' optimiser
        with _bfloat16_gelus():
            old = build_model(config, input_shape=(32, 32, 3), num_classes=10)
        new = build_model(config, input_shape=(32, 32, 3), num_classes=10)
        new.set_weights(old.get_weights())
        layouts = {"bfloat16_gelu": old, "float32_gelu": new}
        forward = {k: tf.function(lambda t, m=m: m(t, training=False)) for k, m in layouts.items()}
        probs = {k: np.concatenate([np.asarray(fn(c), dtype=np.float32) for c in chunks]) for k, fn in forward.items()}
        for model in layouts.values():
            model.fit(batch, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
        times = {f"{kind}_{k}": [] for kind in ("forward", "train") for k in layouts}
        for _ in range(args.repeats):  # interleaved: a busy moment hits every layout alike
            for k in layouts:
                times[f"forward_{k}"].append(_seconds(lambda: [np.asarray(forward[k](c)) for c in chunks]))
                fit = _seconds(lambda: layouts[k].fit(batch, steps_per_epoch=TRAIN_STEPS, epochs=1, verbose=0))
                times[f"train_{k}"].append(TRAIN_STEPS * TRAIN_BATCH / fit)
        med = {k: statistics.median(v) for k, v in times.items()}
        _row(network=network, images=IMAGES,
             forward_bfloat16_gelu_s=med["forward_bfloat16_gelu"], forward_float32_gelu_s=med["forward_float32_gelu"],
             forward_old_over_new=med["forward_bfloat16_gelu"] / med["forward_float32_gelu"],
             train_bfloat16_gelu_img_s=med["train_bfloat16_gelu"], train_float32_gelu_img_s=med["train_float32_gelu"],
             train_new_over_old=med["train_float32_gelu"] / med["train_bfloat16_gelu"],
             agree=float(np.mean(probs["bfloat16_gelu"].argmax(1) == probs["float32_gelu"].argmax(1))),
             max_probability_difference=f'{np.abs(probs["bfloat16_gelu"] - probs["float32_gelu"]).max():.2e}')
    _row(load_after=list(os.getloadavg()))


if __name__ == "__main__":
    main()
