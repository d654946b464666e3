"""Run folders written by hand (no Keras): a usable one and the damaged kinds of issue 18.

Each folder has a manifest whose checksums match its files, exactly as the store writes it, so
only the schema can tell a damaged run from a good one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from cnnviz.models.config import ModelConfig
from cnnviz.runs import store as runs
from cnnviz.training.spec import TrainSpec

GOOD_CONFIG = {
    **TrainSpec(model=ModelConfig(conv_layers=1, filters=4, batch_norm=False), dataset="digits", train_size=120,
                test_size=40, epochs=2, batch_size=16).to_dict(),
    "input_shape": [8, 8, 1], "num_classes": 10, "class_names": [str(d) for d in range(10)],
    "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]}, "labels": "one_hot",
}
GOOD_HISTORY = {"loss": [2.0, 1.5], "accuracy": [0.2, 0.4], "val_loss": [2.1, 1.9], "val_accuracy": [0.1, 0.3]}
GOOD_METRICS = {"test_accuracy": 0.5, "test_loss": 1.25, "epochs_completed": 2, "n_train": 90, "n_val": 30,
                "n_test": 40}
#: The damaged kinds the issue lists, each as (file, content, words the reason must hold).
DAMAGED = {
    "config is a list": ("config.json", [], "config.json holds list"),
    "test accuracy is text": ("metrics.json", {**GOOD_METRICS, "test_accuracy": "high"}, "test_accuracy as 'high'"),
    "model is a word": ("config.json", {**GOOD_CONFIG, "model": "custom"}, "model configuration must be a dict"),
    "val_loss is a number": ("history.json", {**GOOD_HISTORY, "val_loss": 5}, "val_loss as 5"),
    "filters is text": ("config.json", {**GOOD_CONFIG, "model": {**GOOD_CONFIG["model"], "filters": "many"}},
                        "model.filters must be a whole number"),
    "augment is text": ("config.json", {**GOOD_CONFIG, "augment": "lots"}, "settings of the wrong kind"),
    "no input shape": ("config.json", {k: v for k, v in GOOD_CONFIG.items() if k != "input_shape"},
                       "no 'input_shape'"),
    "history is null": ("history.json", None, "history.json holds NoneType"),
    "loss is NaN": ("history.json", '{"loss": [NaN]}', "history.json is not valid JSON"),
    "nested too deep": ("metrics.json", "[" * 100_000 + "]" * 100_000, "metrics.json is not valid JSON"),
    "seed_result is a list": ("metrics.json", {**GOOD_METRICS, "seed_result": [1]}, "seed_result as [1]"),
}


def write_run(home: Path, run_id: str, *, config=GOOD_CONFIG, history=GOOD_HISTORY, metrics=GOOD_METRICS,
              created: str = "2026-01-01T00:00:00+00:00", **raw: bytes | str) -> Path:
    """A complete run folder with matching checksums; ``raw`` gives a file's exact text or bytes.

    Keyword ``raw`` names use ``_`` for ``.``: ``config_json="[]"``.
    """
    folder = home / "runs" / run_id
    folder.mkdir(parents=True)
    contents = {"config.json": config, "history.json": history, "metrics.json": metrics}
    for name, value in contents.items():
        data = raw.get(name.replace(".", "_"), json.dumps(value))
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)
    (folder / runs.MODEL_FILE).write_bytes(b"PK not really a model")
    manifest = {"format": runs.MANIFEST_FORMAT, "run_id": run_id, "status": "finished", "created": created,
                "files": {name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
                          for name in (*runs.DATA_FILES, runs.MODEL_FILE)}}
    (folder / runs.MANIFEST).write_text(json.dumps(manifest))
    return folder


def write_damaged(home: Path, run_id: str, kind: str) -> Path:
    """A run of damaged kind ``kind`` (a key of :data:`DAMAGED`), checksums consistent."""
    name, content, _ = DAMAGED[kind]
    text = content if isinstance(content, str) else json.dumps(content)
    return write_run(home, run_id, **{name.replace(".", "_"): text})


def sparse(path: Path, size: int) -> None:
    """Make ``path`` a sparse file of ``size`` bytes (no disk used)."""
    with open(path, "r+b" if path.exists() else "wb") as fh:
        fh.truncate(size)
    os.utime(path)
