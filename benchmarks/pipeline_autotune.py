"""tf.data's autotuning in the training pipelines: the wait when ``fit`` drops its iterator, and training speed.

Session 12 found that ``fit`` sometimes returned 6-38 s after its last callback: deleting a tf.data
iterator waits for the autotuning thread, which sleeps longer and longer between rounds (up to a
minute). The pipelines now run with autotuning off (:func:`cnnviz.training.pipeline.mapped_and_prefetched`).
A preset (``--preset``, default fast_1min) is trained through the training job on CIFAR-10 (a temporary
CNNVIZ_HOME; ``--cifar DIR``, a ``cifar-10-batches-bin`` folder) with both pipelines as before
(``autotune``: map and prefetch autotuned) and as now (``fixed``), rounds alternating in one process:
the whole training job's seconds (data, build, fit, test, save), ``fit`` seconds, images/s (of
``fit``'s time) and the lag between the last callback and ``fit`` returning.

``--preset seed000_model1`` trains a notebook's preset (the plain pipeline, which Keras iterates anew
every epoch); ``--dataset digits --epochs 10 --train-size 1000`` a class's tiny training. Usage:
``PYTHONPATH=. python benchmarks/pipeline_autotune.py --cifar DEST/cifar-10-batches-bin [--rounds 2]
[--preset fast_1min]``. Prints one JSON row per training and the medians.
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

from cnnviz.training import fastdata, pipeline  # no TensorFlow at import

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
WAYS = ("autotune", "fixed")
FIXED = pipeline.mapped_and_prefetched  # the step as the code has it now


def _row(**values) -> None:
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}), flush=True)


def _autotuned(data, to_model_input):
    """The pipelines' last step before session 12."""
    import tensorflow as tf

    return data.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _use(way: str) -> None:
    """Both pipelines (the fast one and the notebooks' presets') built the ``way`` given."""
    for module in (fastdata, pipeline):
        module.mapped_and_prefetched = _autotuned if way == "autotune" else FIXED


def train_once(preset: str, **changes) -> dict:
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

    start = time.monotonic()
    metrics = training.train(spec_from_preset(preset, **changes), callbacks=[Marks()],
                             on_progress=progress).run.metrics
    return {"job_s": time.monotonic() - start, "fit_s": metrics["train_seconds"],
            "images_per_s": metrics["images_per_s"], "lag_s": marks["testing"] - marks["train_end"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", type=Path, help="a cifar-10-batches-bin folder (CIFAR-10 is the default data)")
    parser.add_argument("--dataset", default="cifar10", help="e.g. digits: a class's tiny trainings")
    parser.add_argument("--epochs", type=int, help="instead of the preset's")
    parser.add_argument("--train-size", type=int, help="instead of the preset's")
    parser.add_argument("--rounds", type=int, default=2, help="trainings per way")
    parser.add_argument("--preset", default="fast_1min", help="what to train (e.g. seed000_model1: an iterator per epoch)")
    args = parser.parse_args()
    os.environ["CNNVIZ_HOME"] = scratch_dir(prefix="cnnviz-autotune-")
    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count())
    if args.dataset == "cifar10":
        from cnnviz.data import datasets

        datasets.import_cifar10(args.cifar)
    changes = {"dataset": args.dataset, **{k: v for k, v in (("epochs", args.epochs), ("train_size", args.train_size))
                                          if v is not None}}
    runs: dict[str, list] = {way: [] for way in WAYS}
    for _ in range(args.rounds):
        for way in WAYS:
            _use(way)
            runs[way].append(train_once(args.preset, **changes))
            _row(preset=args.preset, **changes, way=way, **runs[way][-1])
    for way in WAYS:
        _row(preset=args.preset, way=way, **{f"median_{k}": statistics.median(r[k] for r in runs[way])
                         for k in ("job_s", "fit_s", "images_per_s", "lag_s")}, max_lag_s=max(r["lag_s"] for r in runs[way]))
    _row(load_after=list(os.getloadavg()))


if __name__ == "__main__":
    sys.exit(main())
