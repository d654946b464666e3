"""Comparing runs: their settings as one flat row, which settings differ, the runs table, history as CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from cnnviz.data.selection import Selection
from cnnviz.errors import InvalidArgument
from cnnviz.runs import labels
from cnnviz.runs.details import notebook_accuracy

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo

#: Settings shown in the runs table, in this order (flattened config keys).
SETTING_KEYS = (
    "preset", "dataset", "train_size", "test_size", "validation_fraction", "scaling", "augment",
    "class_weights", "epochs", "batch_size", "early_stopping", "patience", "keep_best", "seed", "selection",
    "tta", "prepadded",
)
#: Model settings only a transfer network uses (cnnviz.models.config.ModelConfig): every other network saves
#: their defaults (a MobileNetV2 backbone, ImageNet weights), which it never had, so they are shown as not set.
TRANSFER_ONLY = ("backbone", "alpha", "image_size", "frozen", "weights")


def flat_settings(info: RunInfo) -> dict[str, Any]:
    """The run's settings as one flat dict (model settings prefixed ``model.``), values JSON-ish."""
    config = info.config
    flat: dict[str, Any] = {key: config.get(key) for key in SETTING_KEYS}
    # Runs saved before a setting existed did what its default does; patience counts only with early stopping.
    flat["tta"] = config.get("tta") or "none"
    flat["prepadded"] = bool(config.get("prepadded", False))
    flat["patience"] = config.get("patience") if config.get("early_stopping") else None
    try:  # a run saved before selections existed drew a random stratified subset
        flat["selection"] = Selection.from_dict(flat["selection"]).short()
    except InvalidArgument:
        flat["selection"] = str(flat["selection"])
    if isinstance(flat.get("augment"), dict):
        flat["augment"] = ", ".join(f"{k}={v}" for k, v in sorted(flat["augment"].items()) if k != "seed")
    model = config.get("model") or {}
    for key, value in sorted(model.items()):
        flat[f"model.{key}"] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    if model.get("architecture") != "transfer":
        flat.update({f"model.{key}": None for key in TRANSFER_ONLY if f"model.{key}" in flat})
    elif model.get("backbone") != "mobilenetv2" and "model.alpha" in flat:
        flat["model.alpha"] = None  # MobileNetV2's width: the other backbones have none
    return flat


def differing_settings(runs: Sequence[RunInfo]) -> list[str]:
    """Names of the settings whose values are not all equal across ``runs`` (in table order)."""
    flats = [flat_settings(r) for r in runs]
    keys: list[str] = []
    for flat in flats:
        keys.extend(k for k in flat if k not in keys)
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]


def datasets_note(runs: Sequence[RunInfo]) -> str | None:
    """A warning for an overlay of runs trained on different datasets (None when they share one): their curves and
    accuracies measure different tasks, so side by side they cannot say which network or setting is better."""
    classes: dict[str, Any] = {}
    for info in runs:
        classes.setdefault(str(info.config.get("dataset", "?")), info.config.get("num_classes"))
    if len(classes) < 2:
        return None
    named = [f"{name} ({count} classes)" if isinstance(count, int) else name for name, count in classes.items()]
    return (f"These runs were trained on different datasets: {', '.join(named[:-1])} and {named[-1]}. Their curves "
            "and accuracies measure different tasks (other images, other classes, another chance level), so side by "
            "side they do not say which network or setting is better: compare runs of one dataset for that.")


def runs_table(runs: Iterable[RunInfo]) -> list[dict[str, Any]]:
    """One row per run: id, time, status, test accuracy, epochs done and every setting."""
    rows = []
    for info in runs:
        row = {
            "run": info.run_id,
            "network": labels.network(info),  # the name a class knows; the preset id stays under "preset"
            "created": info.created.replace("T", " ")[:19],
            "status": info.status,
            "test accuracy": info.test_accuracy,
            "test loss": info.metrics.get("test_loss"),
            "notebook's accuracy": notebook_accuracy(info),  # only for the notebook's own set-up
            "epochs done": info.metrics.get("epochs_completed"),
        }
        row.update(flat_settings(info))
        # A size of None means "all of them" (the fast presets): show how many that was, not "None".
        m = info.metrics
        drawn = {"train_size": (m.get("n_train"), m.get("n_val", 0)), "test_size": (m.get("n_test"), 0)}
        for key, (count, extra) in drawn.items():
            if row.get(key) is None and count is not None:
                row[key] = int(count) + int(extra or 0)
        rows.append(row)
    return rows


HISTORY_COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy")


def history_csv(info: RunInfo) -> str:
    """The run's per-epoch history as CSV text (``epoch`` then one column per metric).

    ``epoch`` is where the row ends (:attr:`RunInfo.history_epochs`): a stopped run's last row at its
    epochs done, e.g. 2.333, as the curves draw it.
    """
    keys = [k for k in HISTORY_COLUMNS if k in info.history] + sorted(
        k for k in info.history if k not in HISTORY_COLUMNS
    )
    n = max((len(info.history[k]) for k in keys), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i, epoch in enumerate(info.history_epochs[:n]):
        values = [info.history[k][i] if i < len(info.history[k]) else None for k in keys]
        writer.writerow([f"{epoch:g}", *("" if v is None else repr(float(v)) for v in values)])
    return out.getvalue()
