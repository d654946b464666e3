"""Arithmetic rate of fast-preset training against the CPU's peak, for a few settings side by side.

For each setting (network, batch size, precision) a compiled model trains on the same synthetic
batches through ``model.fit`` (the training job's path, without its pipeline), and the images per
second after a warm-up give the achieved rate: FLOP per training image (3 × 2 × multiply-adds of the
forward pass: forward, input gradients, weight gradients) × images per second. The settings run in
turns, A B C A B C …, so that a shared machine's load falls on all of them alike; the medians and
the ratios to the first setting are printed with the load average. The peak is cores × clock × FLOP a
cycle (``accuracy_budget.peak_flops``: 64 on Intel AVX-512, 32 on Zen 4 and AVX2); bfloat16's dot products
do twice that on CPUs with AVX512_BF16, and AMX far more (not counted).

Run::

    PYTHONPATH=. python benchmarks/flop_rate.py --rounds 3 --steps 12
    PYTHONPATH=. python benchmarks/flop_rate.py --settings fast_w16:256:float32 fast_w16:512:float32
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from accuracy_budget import flop_per_image, peak_flops  # noqa: E402

from cnnviz.models.presets import PRESETS  # noqa: E402
from cnnviz.training.spec import TrainSpec  # noqa: E402

DEFAULT = ("fast_w16:256:float32", "fast_w16:128:float32", "fast_w16:512:float32", "fast_w16:256:mixed_bfloat16",
           "fast_w32:256:float32", "fast_w32:256:mixed_bfloat16")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="*", default=list(DEFAULT), help="architecture:batch:precision")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per turn (after 2 warm-up steps)")
    args = parser.parse_args(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    from cnnviz.models.network import build_model

    base = PRESETS["fast_1min"].config
    runs = []
    for setting in args.settings:
        arch, batch, precision = setting.split(":")
        config = base.replace(architecture=arch, precision=precision)
        model = build_model(config, input_shape=(32, 32, 3), num_classes=10)
        batch = int(batch)
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(size=(batch, 32, 32, 3)).astype(np.float32))
        y = tf.constant(np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
        data = tf.data.Dataset.from_tensors((x, y)).repeat()
        model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
        flop = flop_per_image(TrainSpec(model=config))
        runs.append({"setting": setting, "model": model, "data": data, "batch": batch, "flop": flop, "rates": []})
    peak, how = peak_flops()
    print(f"peak {peak / 1e9:.0f} GFLOP/s fp32 ({how}); TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"threads intra {tf.config.threading.get_intra_op_parallelism_threads()} (0 = all cores)")
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for run in runs:
            t0 = time.perf_counter()
            run["model"].fit(run["data"], steps_per_epoch=args.steps, epochs=1, verbose=0)
            run["rates"].append(args.steps * run["batch"] / (time.perf_counter() - t0))
    load_after = os.getloadavg()[0]
    first = statistics.median(runs[0]["rates"])
    print(f"{'setting':<30} {'MFLOP/img':>9} {'img/s':>7} {'GFLOP/s':>8} {'of peak':>8} {'ratio':>6}  turns (img/s)")
    for run in runs:
        rate = statistics.median(run["rates"])
        gflops = rate * run["flop"] / 1e9
        print(f"{run['setting']:<30} {run['flop'] / 1e6:>9.1f} {rate:>7.0f} {gflops:>8.1f} {gflops * 1e9 / peak:>8.1%} "
              f"{rate / first:>6.2f}  {', '.join(f'{r:.0f}' for r in run['rates'])}")
    print(f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
