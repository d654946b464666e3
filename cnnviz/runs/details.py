"""A run's settings and results for people: formatted values ("–" for not measured, never ``None`` or
``0.480500``) and only the keys a student reads, instead of the raw JSON of its files (issue 14)."""

from __future__ import annotations

import json
import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.models import names as network_names
from cnnviz.runs import labels, notebook

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo

#: Table columns shown as percentages.
PERCENT_COLUMNS = ("test accuracy", "notebook's accuracy", "validation_fraction")


def format_value(value: Any, *, percent: bool = False) -> str:
    """A setting or result as text: "–" when missing, "yes"/"no", ``1,000``, ``0.4805`` or ``48.1%``."""
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):  # numpy's too: pandas columns hold them
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        value = float(value)
        if percent:
            return f"{value:.1%}"
        return f"{value:,.0f}" if value.is_integer() and abs(value) < 1e15 else f"{value:.4g}"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def notebook_accuracy(info: RunInfo) -> float | None:
    """The notebook's test accuracy, only when the run was set up as the notebook did
    (:func:`cnnviz.runs.notebook.for_run`: a digits run of a CIFAR-10 network gets None)."""
    figure = notebook.for_run(info)
    return None if figure is None else figure.shown_accuracy


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} s" if value < 60 else f"{value / 60:.1f} min"


def training_time_text(metrics: dict) -> str:
    """The run's training time; for a run resumed from progress saved without its time, which epochs it covers."""
    text = _seconds(metrics.get("train_seconds"))
    after = metrics.get("train_seconds_after_epoch")
    if after is not None and text != "–":
        text += (f" (the epochs after epoch {format_value(after)} only: it was resumed from progress saved "
                 "without its time)")
    return text


def resumed_text(metrics: dict) -> str:
    """For a run resumed after an interruption: after which epoch, and whether it is the uninterrupted training."""
    after = f"after epoch {format_value(metrics.get('resumed_after_epoch'))}"
    if metrics.get("resumed_exactly"):
        return after + ": the same training as without the interruption"
    return (after + ", from progress saved without its random states: the epochs after it drew other random "
            "numbers (shuffling, augmentation, dropout) than the training without the interruption would have")


def images_per_second_text(metrics: dict) -> str:
    """Images trained per second over the whole training (``images_per_s``: the first batch, which traces
    the network, included; a finished training's live panel shows the same figure)."""
    rate = metrics.get("images_per_s")
    return format_value(None if rate is None else round(rate))


def run_details(info: RunInfo) -> list[dict[str, str]]:
    """The rows of a run's "settings and results" table: ``{"what": ..., "value": ...}``, in reading order."""
    m = info.metrics
    rows: list[tuple[str, Any]] = [("network", None), ("dataset", info.config.get("dataset"))]
    try:
        spec = info.spec
    except InvalidArgument:  # a run without readable settings still lists its results
        spec = None
    if spec is not None:
        rows[0] = ("network", labels.what(spec))
        source = network_names.source_line(spec.preset)
        if source is not None:
            rows.insert(1, ("from", source))
        rows += [
            ("images: training / validation / test",
             f"{format_value(m.get('n_train'))} / {format_value(m.get('n_val'))} / {format_value(m.get('n_test'))}"),
            ("epochs done / asked", f"{format_value(m.get('epochs_completed'))} / {spec.epochs}"),
            ("batch size", spec.batch_size),
            ("optimiser, learning rate", f"{spec.model.optimizer}, {spec.model.learning_rate:g}"),
            ("loss", labels.loss_kind(spec)),
            ("augmentation", spec.augment.describe() if spec.augment is not None else "none"),
            ("test-time augmentation", m.get("test_tta") or "none"),
            ("random seed", spec.seed),
        ]
    rows += [
        ("test accuracy", format_value(info.test_accuracy, percent=True)),
        ("test loss", labels.test_loss_text(info) or "–"),
        ("notebook's test accuracy", format_value(notebook_accuracy(info), percent=True)),
        ("parameters (trainable)",
         f"{format_value(m.get('params_total'))} ({format_value(m.get('params_trainable'))})"),
        ("training time", training_time_text(m)),
        ("images per second", images_per_second_text(m)),
    ]
    if m.get("best_epoch"):
        last = math.ceil(m.get("epochs_completed") or 0)  # a stop's partial epoch is the last one trained
        kept = (" (its weights were kept)" if m.get("restored_best_weights") else
                " (before the training was resumed: its weights were not saved, so the last epoch's were kept)"
                if spec is not None and spec.keep_best else
                f" (not the saved weights: they are the last epoch's, {last}, as the best weights were not kept)"
                if last > m["best_epoch"] else "")
        rows.append(("best validation epoch", format_value(m.get("best_epoch")) + kept))
    if m.get("early_stopped"):
        rows.append(("early stopping", "stopped early"))
    if m.get("resumed_after_epoch"):
        rows.append(("resumed", resumed_text(m)))
    return [{"what": what, "value": value if isinstance(value, str) else format_value(value)} for what, value in rows]
