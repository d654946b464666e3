"""How a run is named for people: the one place for pickers, legends, job names and listings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnviz.errors import InvalidArgument

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo
    from cnnviz.training.spec import TrainSpec


def what(spec: TrainSpec) -> str:
    """The network of a run: its preset's name, else its architecture (e.g. ``"seed000_model1"``)."""
    return spec.preset or spec.model.architecture or "custom"


def label(info: RunInfo) -> str:
    """``what on dataset (id tail)``, e.g. ``"custom on digits (0123abcd)"``: short, unique."""
    try:
        spec = info.spec
    except InvalidArgument:  # a label never fails: a config without model settings still gets a name
        return f"{info.config.get('preset') or 'custom'} on {info.config.get('dataset', '?')} ({info.run_id[-8:]})"
    return f"{what(spec)} on {spec.dataset} ({info.run_id[-8:]})"


def _augment_text(spec: TrainSpec) -> str:
    return spec.augment.describe() if spec.augment is not None else "no augmentation"


def _global_average(spec: TrainSpec) -> bool:
    return spec.model.head == "global_avg"


def picker_label(info: RunInfo) -> str:
    """``label · head · augmentation · test accuracy``, for run pickers."""
    spec, acc = info.spec, info.test_accuracy
    head = " · global-average head" if _global_average(spec) else ""
    return f"{label(info)}{head} · {_augment_text(spec)} · " + ("–" if acc is None else f"{acc:.1%}")


def legend_label(info: RunInfo) -> str:
    """A unique legend name: what, head, id tail and augmentation."""
    spec = info.spec
    head = ", global-average head" if _global_average(spec) else ""
    return f"{what(spec)}{head} ({info.run_id[-8:]}), {_augment_text(spec)}"
