"""A fresh server's first Evaluate: kept test answers against predicting again, side by side (issue 19).

In a temporary CNNVIZ_HOME with a tiny CIFAR-shaped dataset (the tests' 100 + 20 images), one run is
trained with flip TTA (as the fast presets are tested). Then rounds alternate two fresh Python
processes that import the app's caches and call ``caches.run_evaluation`` once, as Evaluate's first
visit on a fresh server does:

* ``kept``: the run as trained now, with the answers its training job kept (``test_predictions.npz``);
* ``predicted``: the same run with that file moved away (a run saved before): the model is loaded
  (TensorFlow imported) and the test images predicted.

Each process reports its wall time from its first line to the evaluation's end (imports included)
and whether TensorFlow and scikit-learn were imported. Medians of ``--rounds``, with the load average.
The test set is tiny, so this measures what a fresh server pays besides the forward passes
(``robustness_profile.py`` measures those: 20,000 for a fast preset's 10,000 test images).
Usage: ``PYTHONPATH=. python benchmarks/fresh_evaluate.py [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

from scratch import scratch_dir  # benchmarks/scratch.py

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
EVALUATE = """
import time
start = time.perf_counter()
import logging, sys, warnings
logging.disable(logging.WARNING)
warnings.simplefilter("ignore")
from cnnviz.app import caches
from cnnviz.runs import store as runs
ev = caches.run_evaluation(runs.load_run(sys.argv[1]))
print(time.perf_counter() - start, ev.accuracy, "tensorflow" in sys.modules, "sklearn" in sys.modules)
"""


def _row(**values) -> None:
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}), flush=True)


def _train(home: str) -> str:
    sys.path.insert(0, str(REPO))
    from cnnviz.data import datasets
    from cnnviz.models.config import ModelConfig
    from cnnviz.training import loop as training
    from cnnviz.training.spec import TrainSpec
    from tests.support.archives import write_tiny_dir

    datasets.import_cifar10(write_tiny_dir(Path(home) / "tiny"))
    model = ModelConfig(conv_layers=1, filters=4, batch_norm=False).to_dict()
    spec = TrainSpec.from_dict({"model": model, "dataset": "cifar10", "train_size": 100, "test_size": 20,
                                "epochs": 1, "batch_size": 16, "tta": "flip"})
    return training.train(spec).run.run_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    home = scratch_dir(prefix="cnnviz-bench-")
    os.environ["CNNVIZ_HOME"] = home
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    run_id = _train(home)
    from cnnviz.runs import predictions
    from cnnviz.runs import store as runs

    kept = predictions.path(runs.load_run(run_id).path)
    away = kept.with_name("moved-away.npz")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count())
    rows: dict[str, list] = {"kept": [], "predicted": []}
    for r in range(args.rounds):
        for how in (("kept", "predicted") if r % 2 == 0 else ("predicted", "kept")):
            if how == "predicted":
                kept.rename(away)
            try:
                out = subprocess.run([sys.executable, "-c", EVALUATE, run_id], capture_output=True, text=True,
                                     check=True, env=env)
            finally:
                if how == "predicted":
                    away.rename(kept)
            seconds, accuracy, tf_imported, sk_imported = out.stdout.split()[-4:]
            rows[how].append((float(seconds), float(accuracy), tf_imported, sk_imported))
    med = {how: statistics.median(r[0] for r in v) for how, v in rows.items()}
    for how, v in rows.items():
        _row(evaluate=how, seconds=med[how], accuracy=v[0][1], tensorflow=v[0][2], sklearn=v[0][3])
    _row(kept_per_predicted=med["kept"] / med["predicted"], load_after=list(os.getloadavg()))


if __name__ == "__main__":
    sys.exit(main())
