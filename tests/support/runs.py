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
from cnnviz.runs.store import RunInfo
from cnnviz.training import loop as training
from cnnviz.training.spec import TrainSpec
from tests.support.specs import FLAT_MODEL, page_spec


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


def fake_run_info(**changes) -> RunInfo:
    """A RunInfo with the config training.train would save for a :func:`page_spec` run (no training needed)."""
    config = {**page_spec(FLAT_MODEL).to_dict(), "input_shape": [8, 8, 1], "num_classes": 10,
              "class_names": [str(d) for d in range(10)], "scaling_affine": {}, "labels": "one_hot"}
    config.update(changes)
    return RunInfo(run_id="20250101-120000-0123abcd", config=config, history={}, metrics={"test_accuracy": 0.5},
                   created="2025-01-01T12:00:00+00:00", status="finished")


def tta_reference(run_id: str, index: int):
    """``(class names, Evaluate's answer, one pass's answer)`` on test image ``index`` of a flip-TTA run:
    the mean answer on the image and its mirror, and the answer on the image as it is."""
    from cnnviz.inspect import evaluation

    model, x, y, names, _ = reference_data(run_id)
    tested = evaluation.evaluate(model, x, y, names, tta="flip").probabilities[index]
    plain = evaluation.predict_probabilities(model, x[index:index + 1])[0]
    return names, tested, plain
