"""Overhead of cnnviz.training.loop (tf.data pipeline, progress/stop callback) against plain ``model.fit``.

The same network, data, epochs, batch size and seed go through both paths, alternating
(A B A B ...) because timings on shared machines drift by up to ±40%. Only the
``fit`` part is compared: cnnviz's own figure is the ``train_seconds`` it records, plain
Keras is timed around ``model.fit`` on pre-scaled float32 arrays. Prints each pair and the
median ratio (target ≤ 1.05). Also times one live-chart update (figure + ``st.plotly_chart``)
so the UI share of a run can be read off.

Run (short check)::

    PYTHONPATH=. python benchmarks/training_overhead.py --reps 3 --epochs 2 --train-size 2000

Runs are written to a temporary CNNVIZ_HOME that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnviz.data.scaling import scale  # noqa: E402
from cnnviz.models.config import ModelConfig  # noqa: E402
from cnnviz.training.pipeline import prepare_data  # noqa: E402
from cnnviz.training.spec import spec_from_preset  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def synthetic(n_train: int, n_test: int, seed: int = 0):
    """CIFAR-shaped random uint8 images (timing does not depend on what is learnable)."""
    from cnnviz.data.datasets import Dataset

    rng = np.random.default_rng(seed)
    return Dataset(
        name="synthetic",
        x_train=rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
        y_train=np.arange(n_train, dtype=np.int64) % 10,
        x_test=rng.integers(0, 256, (n_test, 32, 32, 3), dtype=np.uint8),
        y_test=np.arange(n_test, dtype=np.int64) % 10,
        class_names=tuple(str(i) for i in range(10)),
        source="random",
    )


def run_cnnviz(spec, ds) -> float:
    from cnnviz.training import loop as training

    updates = []
    result = training.train(spec, dataset=ds, on_progress=updates.append)
    return float(result.run.metrics["train_seconds"])


def run_plain(spec, ds) -> float:
    import keras

    from cnnviz.models import network as models


    data = prepare_data(spec, full=ds)
    keras.utils.set_random_seed(spec.seed)
    config = spec.model if isinstance(spec.model, ModelConfig) else ModelConfig.from_dict(spec.model)
    model = models.build_model(config, input_shape=data.input_shape, num_classes=data.num_classes)
    x_tr = scale(data.x_train, spec.scaling)
    x_val = scale(data.x_val, spec.scaling)
    y_tr, y_val = np.eye(10, dtype=np.float32)[data.y_train], np.eye(10, dtype=np.float32)[data.y_val]
    start = time.monotonic()
    model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=spec.epochs, batch_size=spec.batch_size, verbose=0)
    return time.monotonic() - start


def ui_update_cost(repeats: int = 20) -> float:
    """Seconds per live-panel chart update (figure building + st.plotly_chart), measured in AppTest."""
    from streamlit.testing.v1 import AppTest

    script = f"""
import time
import streamlit as st
from cnnviz.plots import training as plots
n = {200}
curve = {{"x": [i / 20 for i in range(1, n + 1)], "loss": [2.3 / (1 + i / 50) for i in range(n)],
         "accuracy": [i / n for i in range(n)], "epoch_loss": [2.0, 1.5, 1.2, 1.0, 0.9],
         "epoch_accuracy": [.3, .4, .5, .55, .6], "epoch_val_loss": [2.1, 1.6, 1.3, 1.2, 1.1],
         "epoch_val_accuracy": [.28, .38, .45, .5, .52]}}
start = time.perf_counter()
for i in range({repeats}):
    st.plotly_chart(plots.live_curves(curve, epochs=10), key=f"c{{i}}")
st.session_state["per_call"] = (time.perf_counter() - start) / {repeats}
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    return float(at.session_state["per_call"])


def ui_numbers_cost(repeats: int = 50) -> float:
    """Seconds per refresh of the live numbers (progress bar, six metrics, stop button), in AppTest."""
    from streamlit.testing.v1 import AppTest

    script = f"""
import time
import streamlit as st
start = time.perf_counter()
for i in range({repeats}):
    st.progress(0.4, text="Epoch 2 of 5, batch 10 of 40")
    st.button("Stop training", key=f"stop{{i}}")
    for j, col in enumerate(st.columns(6)):
        col.metric(f"m{{j}}", "1.2345")
st.session_state["per_call"] = (time.perf_counter() - start) / {repeats}
"""
    at = AppTest.from_string(script, default_timeout=120).run()
    return float(at.session_state["per_call"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="pairs of runs (default 5)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=4000, help="synthetic 32×32×3 training images")
    parser.add_argument("--batch-size", type=int, default=100, help="seed 000's batch size")
    parser.add_argument("--preset", default="seed000_model1")
    args = parser.parse_args(argv)

    home = tempfile.mkdtemp(prefix="cnnviz-bench-")
    os.environ["CNNVIZ_HOME"] = home

    ds = synthetic(args.train_size, 500)
    spec = spec_from_preset(args.preset, dataset="synthetic", epochs=args.epochs,
                                     batch_size=args.batch_size, augment=None)
    print(f"{args.preset}, {args.train_size} synthetic 32×32×3 images ({spec.validation_fraction:.0%} validation), "
          f"{args.epochs} epochs, batch {args.batch_size}; {args.reps} alternating pairs")
    run_plain(spec, ds)  # warm-up: imports, first tracing
    ratios = []
    for rep in range(args.reps):
        first, second = (run_cnnviz, run_plain) if rep % 2 == 0 else (run_plain, run_cnnviz)
        times = {first.__name__: first(spec, ds), second.__name__: second(spec, ds)}
        ratio = times["run_cnnviz"] / times["run_plain"]
        ratios.append(ratio)
        print(f"  pair {rep + 1}: cnnviz {times['run_cnnviz']:.2f} s, plain fit {times['run_plain']:.2f} s, "
              f"ratio {ratio:.3f}")
    median = statistics.median(ratios)
    print(f"median ratio cnnviz / plain fit: {median:.3f} (target ≤ 1.05)")

    from cnnviz.app import panel

    chart = ui_update_cost()
    numbers = ui_numbers_cost()
    share = chart / panel.CHART_REFRESH_S + numbers / panel.LIVE_REFRESH_S
    print(f"live panel: chart update (figure + st.plotly_chart, 200 points) {chart * 1000:.1f} ms every "
          f"{panel.CHART_REFRESH_S:g} s, numbers {numbers * 1000:.1f} ms every {panel.LIVE_REFRESH_S:g} s: "
          f"{share:.2%} of the training time while a student watches")
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
