"""Inspection speed (issue 19): the compiled inference path, Evaluate and each Robustness section.

Everything is measured side by side in one process on real CIFAR-10 (a temporary CNNVIZ_HOME; the
images come from ``--cifar DIR``, a ``cifar-10-batches-bin`` folder such as
``python3 ../shared/cifar10/build.py DEST`` writes). For each preset a run is trained for one epoch
on 1,000 images (weights do not change the time) and tested on all 10,000 test images, and a second
run on the seed's 2,000 test images. Then, medians of ``--repeats`` interleaved rounds:

* ``bare``: the bare compiled forward pass: one ``tf.function`` of ``model(x, training=False)`` on
  already scaled float32 tensors, 256 at a time, outputs to numpy;
* ``inference``: ``evaluation.predict_probabilities`` on the uint8 test images, scaled batch by
  batch as the run was trained (what Evaluate and Robustness do), and its ratio to ``bare`` (target ≤ 1.15);
  ``inference_unfused`` the same with the scaling in TensorFlow's own kernels instead of one XLA-fused pass;
  ``inference_scaled`` the same on the already scaled floats (the path's own overhead);
* ``predict``: ``model.predict`` on the scaled floats, for reference;
* ``evaluate``: ``caches.run_evaluation`` of the 10,000-image run as the page calls it (TTA as the
  run was tested): ``cold`` with every cache empty (model load, memory-mapped test draw, trace),
  ``first`` with the model and test images loaded, ``cached`` (target ≤ 3 s first);
* ``test_set_whole`` / ``test_set_mapped``: a run's 2,000 test images re-created in a fresh process
  from the stored CIFAR-10 file read whole (as before) or memory-mapped (test draw only), with the
  peak memory;
* Robustness on the 2,000-image run through ``cnnviz.app.sweeps`` as the page calls it: rotation
  every 90° (the page's default) and every 15°, flips and shifts (2 px, the page's first choice,
  and 2 and 4 px at once; ``added_to_first``: 4 px added after 2), a Border change (2-px shifts
  again with edge pixels repeated), other sizes (48, the page's first choice, and 48 and 64 at once;
  64 added after 48), stretched; ``first`` with the model and test images loaded and no result
  stored, ``cached`` the same request again (targets ≤ 3 s and ≤ 0.5 s); every 15° is timed once;
  ``first_without_kept_views``: the first request with the training job's kept answers hidden (the
  original and mirrored copies predicted again, as before session 12); ``serial_transforms``: the first
  request with each slice transformed just before its pass (as before session 15), and ``first/serial``;
  ``first_drawn`` (rotation): from the request to the page's first chart, the angles done so far drawn
  while the others are computed (session 17).

Streamlit runs bare (no server): progress bars and figures are not drawn, so the page adds its
figures' time. Prints one JSON row per measurement, with the load average before and after.
Usage: ``PYTHONPATH=. python benchmarks/inference.py --cifar /tmp/cifar-build/cifar-10-batches-bin
[--presets seed000_model1 fast_3min] [--repeats 3] [--parts ratio evaluate]`` (``--parts``: any of
test_set, ratio, evaluate, robustness; all by default).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from scratch import scratch_dir  # benchmarks/scratch.py: the script's own folder is on sys.path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
BATCH = 256
PARTS = ("test_set", "ratio", "evaluate", "robustness")


def _row(**values) -> None:
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}), flush=True)


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _train(name: str, test_size: int | None):
    from cnnviz.runs import store as runs
    from cnnviz.training import loop as training
    from cnnviz.training.spec import spec_from_preset

    spec = spec_from_preset(name, dataset="cifar10", epochs=1, train_size=1_000, test_size=test_size)
    if test_size is None:  # None keeps the preset's own test size: all test images here
        spec = spec.__class__.from_dict({**spec.to_dict(), "test_size": None})
    return runs.load_run(training.train(spec).run.run_id)


def _bare_forward(model, tensors) -> None:
    for t in tensors:
        np.asarray(model(t))


def inference_ratio(name: str, info, repeats: int) -> None:
    import tensorflow as tf

    from cnnviz.app import caches
    from cnnviz.inspect import evaluation, inference
    from cnnviz.runs.rundata import input_scaling, prepare_inputs

    model, _ = caches.run_model(info)
    x_u8 = caches.run_test_set(info)["x"]
    prepare = input_scaling(info)  # the pages' prepare: scaled inside the compiled pass
    for n in (2_000, 10_000):
        x = x_u8[:n]
        scaled = prepare_inputs(info, x)
        bare = tf.function(lambda t: model(t, training=False),
                           input_signature=[tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)])
        tensors = [tf.constant(scaled[i:i + BATCH]) for i in range(0, n, BATCH)]
        unfused = inference.Forward(model, fuse_scaling=False)
        runs = {"bare": lambda: _bare_forward(bare, tensors),
                "inference": lambda: evaluation.predict_probabilities(model, x, prepare=prepare),
                "inference_unfused": lambda: evaluation.predict_probabilities(unfused, x, prepare=prepare),
                "inference_scaled": lambda: evaluation.predict_probabilities(model, scaled),
                "predict": lambda: model.predict(scaled, batch_size=BATCH, verbose=0)}
        for fn in runs.values():
            fn()  # trace / warm up
        times = {k: [] for k in runs}
        for _ in range(repeats):
            for k, fn in runs.items():
                times[k].append(_seconds(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        _row(preset=name, images=n, **{f"{k}_s": v for k, v in med.items()},
             **{f"{k}/bare": v / med["bare"] for k, v in med.items() if k != "bare"},
             target="inference/bare <= 1.15")


def evaluate_times(name: str, info, repeats: int) -> None:
    import streamlit as st

    from cnnviz.app import caches

    cold, first, cached = [], [], []
    for _ in range(repeats):
        st.cache_data.clear()
        st.cache_resource.clear()
        cold.append(_seconds(lambda: caches.run_evaluation(info)))
        caches._evaluations().clear()  # the results only: model and test images stay loaded
        first.append(_seconds(lambda: caches.run_evaluation(info)))
        cached.append(_seconds(lambda: caches.run_evaluation(info)))
    _row(preset=name, section="evaluate", images=len(caches.run_test_set(info)["y"]), tta=info.spec.tta,
         cold_s=statistics.median(cold), first_s=statistics.median(first), cached_s=statistics.median(cached),
         target="first <= 3 s")


@contextlib.contextmanager
def _serial_transforms():
    """Each slice transformed just before its pass, as before session 15 (no transform thread)."""
    from cnnviz.inspect import robustness

    def serial(x, variants, batch_size):
        for variant in variants:
            for i in range(0, len(x), batch_size):
                yield variant, i, variant.apply(x[i:i + batch_size])

    overlapped, robustness.transformed_batches = robustness.transformed_batches, serial
    try:
        yield
    finally:
        robustness.transformed_batches = overlapped


def _first_drawn(section: str, info) -> float:
    """Seconds from the request to the page's first chart: the first partial drawing (at most one a second,
    as the page draws them) or, when none came, the whole sweep."""
    from cnnviz.app import sweeps

    step = int(section.rsplit("_", 1)[1])
    start, drawn = time.perf_counter(), []
    sweeps.rotation_sweeps([info], range(0, 360, step), fill="constant",
                           draw=lambda partial: drawn.append(time.perf_counter() - start))
    return drawn[0] if drawn else time.perf_counter() - start


def robustness_times(name: str, info, repeats: int) -> None:
    from cnnviz.app import caches, sweeps
    from cnnviz.runs import predictions

    caches.run_model(info)
    caches.run_test_set(info)
    store = sweeps.result_store()
    sections = {
        "rotation_90": lambda: sweeps.rotation_sweeps([info], range(0, 360, 90), fill="constant"),
        "rotation_15": lambda: sweeps.rotation_sweeps([info], range(0, 360, 15), fill="constant"),
        # What the page asks first (its FIRST_SHIFTS and FIRST_SIZE_FACTORS), and all at once as before session 11.
        "flips_shifts": lambda: sweeps.transform_results([info], shifts=[2], fill="constant"),
        "flips_shifts_2_4px": lambda: sweeps.transform_results([info], shifts=[2, 4], fill="constant"),
        "sizes": lambda: sweeps.size_results([info], sizes=[48], method="upscale"),
        "sizes_48_64": lambda: sweeps.size_results([info], sizes=[48, 64], method="upscale"),
    }
    added = {"flips_shifts_2_4px": "flips_shifts", "sizes_48_64": "sizes"}  # a choice added after the first
    kept = predictions.path(info.path)
    for section, fn in sections.items():
        first, cached, after_first, unkept, serial = [], [], [], [], []
        for _ in range(1 if section == "rotation_15" else repeats):  # 24 angles: once is enough
            store.clear()
            first.append(_seconds(fn))
            cached.append(_seconds(fn))
            store.clear()
            with _serial_transforms():
                serial.append(_seconds(fn))
            if section in added:
                store.clear()
                sections[added[section]]()
                after_first.append(_seconds(fn))
            if not section.startswith("sizes"):  # the same request with the training job's answers hidden
                store.clear()
                kept.rename(kept.with_suffix(".hidden"))
                try:
                    unkept.append(_seconds(fn))
                finally:
                    kept.with_suffix(".hidden").rename(kept)
        extra = {"serial_transforms_s": statistics.median(serial),
                 "first/serial": statistics.median(first) / statistics.median(serial)}
        if after_first:
            extra["added_to_first_s"] = statistics.median(after_first)
        if unkept:
            extra["first_without_kept_views_s"] = statistics.median(unkept)
        if section.startswith("rotation"):  # the page draws the angles done while it computes the others
            store.clear()
            extra["first_drawn_s"] = _first_drawn(section, info)
        _row(preset=name, section=section, images=len(caches.run_test_set(info)["y"]),
             first_s=statistics.median(first), cached_s=statistics.median(cached), **extra,
             target="first <= 3 s, cached <= 0.5 s")
    border = []
    for _ in range(repeats):
        store.clear()
        sections["flips_shifts"]()
        border.append(_seconds(lambda: sweeps.transform_results([info], shifts=[2], fill="nearest")))
    _row(preset=name, section="border_change", images=len(caches.run_test_set(info)["y"]),
         first_s=statistics.median(border), note="flips and shifts computed, then Border: edge pixels repeated")


READ = """
import sys, time
from types import SimpleNamespace
import sklearn.model_selection  # the stratified split's import, paid either way: outside the clock
from cnnviz.data import datasets
from cnnviz.runs import rundata
from cnnviz.training.spec import spec_from_preset
info = SimpleNamespace(spec=spec_from_preset("seed000_model1", dataset="cifar10"))  # 10,000 + 2,000 images
start = time.perf_counter()
if sys.argv[1] == "whole":
    x = rundata.run_dataset(info, full=datasets.load("cifar10")).x_test
else:
    x = rundata.run_test_images(info, full=datasets.load("cifar10", mapped=True))[0]
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))  # since exec, unlike ru_maxrss
print(time.perf_counter() - start, int(peak.split()[1]) / 1024, len(x))
"""


def test_set_read(repeats: int) -> None:
    """A run's 2,000 test images re-created in a fresh process: the whole file read, or mapped."""
    times: dict[str, list] = {"whole": [], "mapped": []}
    for _ in range(repeats):
        for how in times:
            out = subprocess.run([sys.executable, "-c", READ, how], capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
            times[how].append([float(v) for v in out.stdout.split()[:2]])
    for how, rows in times.items():
        _row(section=f"test_set_{how}", images=2_000, seconds=statistics.median(r[0] for r in rows),
             peak_rss_mb=statistics.median(r[1] for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar", required=True, type=Path, help="a cifar-10-batches-bin folder")
    parser.add_argument("--presets", nargs="+", default=["seed000_model1", "fast_3min"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS), help="what to measure")
    args = parser.parse_args()
    home = scratch_dir(prefix="cnnviz-bench-")
    os.environ["CNNVIZ_HOME"] = home
    logging.disable(logging.WARNING)  # bare Streamlit warns about its missing runtime at every call
    warnings.simplefilter("ignore")
    from cnnviz.data import datasets

    datasets.import_cifar10(args.cifar)
    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count(), home=home)
    if "test_set" in args.parts:
        test_set_read(args.repeats)
    for name in args.presets:
        whole = _train(name, None)
        if "ratio" in args.parts:
            inference_ratio(name, whole, args.repeats)
        if "evaluate" in args.parts:
            evaluate_times(name, whole, args.repeats)
        if "robustness" in args.parts:
            robustness_times(name, _train(name, 2_000), args.repeats)
    _row(load_after=list(os.getloadavg()))


if __name__ == "__main__":
    sys.exit(main())
