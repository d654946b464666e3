"""tf.data's autotuning in the training pipeline: the wait when ``fit`` drops its iterator, and training speed.

Session 12 found that ``fit`` sometimes returned 8-21 s after its last callback (fast_1min: one
30-s epoch): deleting a tf.data iterator waits for the autotuning thread, which sleeps longer and
longer between rounds (up to a minute). The pipelines now run with autotuning off
(:func:`cnnviz.training.pipeline.mapped_and_prefetched`). fast_1min is trained through the training
job on CIFAR-10 (a temporary CNNVIZ_HOME; ``--cifar DIR``, a ``cifar-10-batches-bin`` folder), with
the fast pipeline as before (``autotune``: map and prefetch autotuned) and as now (``fixed``), rounds
alternating in one process: ``fit`` seconds, images/s (of ``fit``'s time) and the lag between the
last callback and ``fit`` returning.

Usage: ``PYTHONPATH=. python benchmarks/pipeline_autotune.py --cifar DEST/cifar-10-batches-bin
[--rounds 2]``. Prints one JSON row per training and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from scratch import scratch_dir  # benchmarks/scratch.py: the script's own folder is on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
WAYS = ("autotune", "fixed")


def _row(**values) -> None:
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}), flush=True)


def _autotuned(data, to_model_input):
    """The pipelines' last step before session 12."""
    import tensorflow as tf

    return data.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _use(way: str) -> None:
    from cnnviz.training import fastdata, pipeline

    fastdata.mapped_and_prefetched = _autotuned if way == "autotune" else pipeline.mapped_and_prefetched


def train_once() -> dict:
    import keras

    from cnnviz.training import loop as training
    from cnnviz.training.spec import spec_from_preset

    marks: dict[str, float] = {}

    class Marks(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            marks["train_end"] = time.monotonic()

    def progress(update) -> None:
        if update.phase == "testing":
            marks.setdefault("testing", time.monotonic())

    metrics = training.train(spec_from_preset("fast_1min", dataset="cifar10"), callbacks=[Marks()],
                             on_progress=progress).run.metrics
    return {"fit_s": metrics["train_seconds"], "images_per_s": metrics["images_per_s"],
            "lag_s": marks["testing"] - marks["train_end"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", required=True, type=Path, help="a cifar-10-batches-bin folder")
    parser.add_argument("--rounds", type=int, default=2, help="fast_1min trainings per way")
    args = parser.parse_args()
    os.environ["CNNVIZ_HOME"] = scratch_dir(prefix="cnnviz-autotune-")
    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count())
    from cnnviz.data import datasets

    datasets.import_cifar10(args.cifar)
    runs: dict[str, list] = {way: [] for way in WAYS}
    for _ in range(args.rounds):
        for way in WAYS:
            _use(way)
            runs[way].append(train_once())
            _row(way=way, **runs[way][-1])
    for way in WAYS:
        _row(way=way, **{f"median_{k}": statistics.median(r[k] for r in runs[way])
                         for k in ("fit_s", "images_per_s", "lag_s")}, max_lag_s=max(r["lag_s"] for r in runs[way]))
    _row(load_after=list(os.getloadavg()))


if __name__ == "__main__":
    sys.exit(main())
