"""Stores of tiny trained runs for the run pages' tests (Evaluate, Inside the network, Robustness).

The runs are trained once per test module in a store of their own and copied into each test's empty
CNNVIZ_HOME: a copied run folder stays valid (its manifest names files by checksum, not by path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnnviz.runs import rundata
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs
from cnnviz.training import loop as training
from cnnviz.training.spec import TrainSpec


def train_runs(home: Path, specs: dict[str, TrainSpec]) -> dict[str, str]:
    """Train each spec into ``home`` (as CNNVIZ_HOME); return ``{name: run id}``."""
    ids = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        for name, spec in specs.items():
            ids[name] = training.train(spec).run.run_id
    return ids


def copy_runs(src_home: Path, dst_home: Path) -> None:
    shutil.copytree(src_home / "runs", dst_home / "runs", dirs_exist_ok=True)


def reference_data(run_id: str):
    """The run's model, its test images scaled as in training, labels and class names, loaded directly
    (not through the app's caches): what the pages must agree with."""
    info = runs.load_run(run_id)
    ds = rundata.run_dataset(info)
    return runs.load_model(run_id), prepare_inputs(info, ds.x_test), ds.y_test, ds.class_names, ds.x_test
