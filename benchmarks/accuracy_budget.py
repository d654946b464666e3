"""Accuracy per CPU minute: the fast presets against seed presets given the same time, on CIFAR-10.

Each fast preset trains through the normal training job (:func:`cnnviz.training.loop.train`: the
same pipeline, progress callback and run store as the app) on the full CIFAR-10 training
set and is tested on all 10,000 test images. Its time is counted from the start of ``fit``
to the end of testing (``train_seconds + test_seconds`` of the run), plus the
``data_init_seconds`` the whitening layer takes to compute just before. Then each seed preset trains
as its notebook did, but is stopped when its ``fit`` has run for the same budget, and is
tested the same way (its test time comes on top of the budget, in its favour).

Timings on shared machines drift by up to ±40%: the 1-minute load average is
printed before and after every run.

Run (CIFAR-10 must be in the data store: ``python -m cnnviz data import cifar10 FILE``)::

    PYTHONPATH=. python benchmarks/accuracy_budget.py                      # all fast presets; seeds at 1 and 3 min
    PYTHONPATH=. python benchmarks/accuracy_budget.py --fast fast_1min --seed-budgets 60
    PYTHONPATH=. python benchmarks/accuracy_budget.py --fast fast_1min --epochs 1 --train-size 25000 --seeds

(``--seeds`` with no names skips the seed presets; ``--epochs``/``--train-size``/``--set``/``--tta`` are
for exploring: they change the fast presets' set-up.) The runs are deleted afterwards unless
``--keep-runs`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnviz.models.config import ModelConfig  # noqa: E402
from cnnviz.training.spec import spec_from_preset  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_FAST = ("fast_1min", "fast_3min", "fast_10min")
#: The seed 003 six-layer CNN the issue quotes (~160 s per epoch here) and seed 001's best network.
DEFAULT_SEEDS = ("seed003_cnn", "seed001_best")
DEFAULT_SEED_BUDGETS = (60, 180)
#: airbench's tricks (issue 19) as the settings that turn each one off again: ``--without NAME…``
#: (``--without all``: the fast presets as they were before issue 19).
TRICKS_OFF = {
    "dirac": {"model": {"dirac_init": False}},
    "bn_scale": {"model": {"bn_scale": True}},  # batch norm learns γ again
    "bias_lr": {"model": {"bn_bias_lr": 1.0}},
    "lookahead": {"model": {"lookahead": False}},
    "alternate_flip": {"augment": {"alternate_flip": False}},
    "prepadded": {"augment": {"alternate_flip": False}, "spec": {"prepadded": False}},
}


def load1() -> float:
    return os.getloadavg()[0]


def budget_callback(budget_s: float | None, stop: threading.Event):
    """A Keras callback that sets ``stop`` once ``fit`` has run ``budget_s`` seconds."""
    import keras

    class Budget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            if budget_s is not None and time.monotonic() - self.start >= budget_s:
                stop.set()

    return Budget()


def run_one(spec, full, *, budget_s: float | None, keep: bool) -> dict:
    """Train ``spec`` through the training job and return its figures."""
    from cnnviz.runs import store as runs
    from cnnviz.training import loop as training

    stop = threading.Event()
    load_before = load1()
    t0 = time.monotonic()
    result = training.train(spec, dataset=full, stop_event=stop, callbacks=[budget_callback(budget_s, stop)])
    wall = time.monotonic() - t0
    m = result.run.metrics
    row = {
        "preset": spec.preset, "epochs_done": m["epochs_completed"], "fit_s": m["train_seconds"],
        "test_s": m["test_seconds"], "fit_to_test_s": round(m["train_seconds"] + m["test_seconds"] + m.get("data_init_seconds", 0), 1),
        "test_accuracy": m["test_accuracy"], "without_tta": m.get("test_accuracy_without_tta"),
        "images_per_s": m["images_per_s"], "wall_s": round(wall, 1), "stopped": result.stopped,
        "load_before": round(load_before, 2), "load_after": round(load1(), 2), "budget_s": budget_s,
    }
    if not keep:
        runs.delete_run(result.run.run_id)
    return row


def without_tricks(spec, names: list[str]):
    """``spec`` with the named airbench tricks turned off (``all``: every one)."""
    import dataclasses

    names = list(TRICKS_OFF) if "all" in names else names
    for name in names:
        off = TRICKS_OFF[name]
        changes = dict(off.get("spec", {}))
        if "model" in off:
            changes["model"] = spec.model.replace(**off["model"])
        if "augment" in off and spec.augment is not None:
            changes["augment"] = dataclasses.replace(spec.augment, **off["augment"])
        spec = dataclasses.replace(spec, **changes)
    spec.validate()
    return spec


def flop_per_image(spec) -> float:
    """Training FLOP per image: 2 × the multiply-adds of a forward pass (convs and dense layers, by their
    output sizes and weights), × 3 for forward plus backward (weights and inputs)."""
    table = spec.model.validate((32, 32, 3), 10)
    macs = 0
    for row in table.rows:
        if row["type"] == "Conv2D":
            h, w, _ = row["shape"]
            macs += h * w * row["params"]
        elif row["type"] == "Dense":
            macs += row["params"]
    return 3 * 2 * macs


def peak_flops(cpuinfo: str | None = None, cores: int | None = None) -> tuple[float, str]:
    """The CPU's FP32 peak: cores × clock × FLOP per cycle. AVX-512 on Intel Xeon: 2 FMA units of 16 floats,
    64 FLOP a cycle (Xeons with one FMA unit do half: /proc/cpuinfo does not say); Zen 4 runs AVX-512 on
    2 × 256-bit pipes, 32 FLOP a cycle; others (AVX2: 2 × 8 floats) 32. Names AMX where the CPU has it."""
    if cpuinfo is None:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    fields = {}
    for line in cpuinfo.splitlines():  # the first processor's fields
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    mhz = float(fields.get("cpu MHz", 0.0))
    flags = fields.get("flags", "").split()
    intel_avx512 = fields.get("vendor_id") == "GenuineIntel" and "avx512f" in flags
    per_cycle = 64 if intel_avx512 else 32
    cores = cores or os.cpu_count() or 1
    how = (f"{cores} cores × {mhz / 1000:.2f} GHz × {per_cycle} FLOP/cycle "
           f"({'Intel AVX-512, 2 FMA units' if intel_avx512 else 'fp32 FMA, 2 × 256 bits'})")
    if "amx_bf16" in flags:
        how += "; AMX for bfloat16 (oneDNN's brg kernels) not counted"
    return cores * mhz * 1e6 * per_cycle, how


def fast_spec(name: str, args):
    from cnnviz.models import presets

    spec = spec_from_preset(name, epochs=args.epochs, train_size=args.train_size, seed=args.seed,
                            batch_size=args.batch_size)
    if args.without:
        spec = without_tricks(spec, args.without)
    if args.tta:
        import dataclasses

        spec = dataclasses.replace(spec, tta=args.tta)
    if args.set:
        model = spec.model.to_dict()
        for item in args.set:
            key, _, value = item.partition("=")
            try:  # numbers, true/false, lists; anything else (e.g. float32) is a string
                model[key] = json.loads(value)
            except json.JSONDecodeError:
                model[key] = value
        import dataclasses

        spec = dataclasses.replace(spec, model=ModelConfig.from_dict(model))
    budget = presets.PRESETS[name].expected.get("seconds")
    return spec, budget


def print_row(row: dict) -> None:
    budget = "-" if row["budget_s"] is None else f"{row['budget_s']:.0f}"
    tta = "-" if row["without_tta"] is None else f"{row['without_tta']:.4f}"
    print(f"{row['preset']:<15} {budget:>6} {row['epochs_done']:>7.2f} {row['fit_s']:>7.1f} {row['test_s']:>6.1f} "
          f"{row['fit_to_test_s']:>8.1f} {row['test_accuracy']:>8.4f} {tta:>8} {row['images_per_s']:>7.0f} "
          f"{row['load_before']:>5.2f}/{row['load_after']:<5.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", nargs="*", default=list(DEFAULT_FAST), help="fast presets to train")
    parser.add_argument("--seeds", nargs="*", default=list(DEFAULT_SEEDS), help="seed presets to compare")
    parser.add_argument("--seed-budgets", nargs="*", type=float, default=list(DEFAULT_SEED_BUDGETS),
                        help="seconds of fit each seed preset gets (default 60 180)")
    parser.add_argument("--epochs", type=int, default=None, help="override the fast presets' epochs")
    parser.add_argument("--train-size", type=int, default=None, help="override: fewer training images")
    parser.add_argument("--set", nargs="*", default=[], help="override model settings, e.g. learning_rate=0.3")
    parser.add_argument("--tta", default=None, help="override the fast presets' test-time augmentation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without", nargs="*", default=[], choices=[*TRICKS_OFF, "all"],
                        help="turn these airbench tricks off in the fast presets (all: the presets before issue 19)")
    parser.add_argument("--batch-size", type=int, default=None, help="override the fast presets' batch size")
    parser.add_argument("--keep-runs", action="store_true")
    args = parser.parse_args(argv)

    from cnnviz import storage
    from cnnviz.data import datasets


    t_load = time.monotonic()
    full = datasets.load("cifar10")
    import tensorflow as tf

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"TensorFlow {tf.__version__}; CIFAR-10 from {storage.data_dir()} "
          f"({len(full.y_train):,} train, {len(full.y_test):,} test, loaded in {time.monotonic() - t_load:.1f} s)")
    print("fit_to_test = seconds from the start of fit to the end of testing; load = 1-min load average "
          "before/after the run")
    header = (f"{'preset':<15} {'budget':>6} {'epochs':>7} {'fit_s':>7} {'test_s':>6} {'fit+test':>8} "
              f"{'test_acc':>8} {'no_tta':>8} {'img/s':>7} {'load':>11}")
    print(header, flush=True)
    rows = []
    for name in args.fast:
        spec, budget = fast_spec(name, args)
        row = run_one(spec, full, budget_s=None, keep=args.keep_runs)
        row["budget_s"] = budget
        rows.append(row)
        print_row(row)
        flop = flop_per_image(spec)
        peak, how = peak_flops()
        rate = flop * row["images_per_s"]
        print(f"    {', '.join(args.without) or 'all tricks'} (batch {spec.batch_size}, {spec.model.precision}): "
              f"{flop / 1e6:.1f} MFLOP per training image × {row['images_per_s']:.0f} img/s = {rate / 1e9:.1f} "
              f"GFLOP/s, {rate / peak:.1%} of the fp32 peak {peak / 1e9:.0f} GFLOP/s ({how})", flush=True)
    for budget in args.seed_budgets:
        for name in args.seeds:
            spec = spec_from_preset(name, epochs=1000, seed=args.seed)
            row = run_one(spec, full, budget_s=budget, keep=args.keep_runs)
            rows.append(row)
            print_row(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
