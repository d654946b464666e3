"""How a run is named for people: the one place for pickers, legends, job names and listings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnviz.errors import InvalidArgument
from cnnviz.models import names
from cnnviz.models.backbones import BACKBONES

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo
    from cnnviz.training.spec import TrainSpec


def what(spec: TrainSpec) -> str:
    """The network of a run as a class knows it (:func:`names.display_name`), e.g.
    ``"CNN Lab: 2 conv layers, 16 filters"``; a transfer run by its backbone and whether it was frozen, e.g.
    ``"MobileNetV2 frozen"`` (the Transfer page trains both to compare them); else its architecture, else
    ``"custom"``."""
    model = spec.model
    if spec.preset is None and model.architecture == "transfer" and model.backbone in BACKBONES:
        return f"{BACKBONES[model.backbone].title} {'frozen' if model.frozen else 'unfrozen'}"
    return names.display_name(spec.preset, model.architecture)


def network_id(spec: TrainSpec) -> str:
    """The network's id as the command line takes it (``--preset``), e.g. ``"seed000_model1"``."""
    return spec.preset or spec.model.architecture or "custom"


def network(info: RunInfo) -> str:
    """:func:`what` of a run; never fails: a config without model settings is named by its preset."""
    try:
        return what(info.spec)
    except InvalidArgument:
        return names.display_name(info.config.get("preset"))


def label(info: RunInfo) -> str:
    """``what on dataset (id tail)``, e.g. ``"custom on digits (0123abcd)"``: short, unique."""
    return f"{network(info)} on {info.config.get('dataset', '?')} ({info.run_id[-8:]})"


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


def loss_kind(spec: TrainSpec) -> str:
    """What a run's loss is, in words: "cross-entropy", "cross-entropy with label smoothing 0.2", ..."""
    if spec.model.loss == "mean_squared_error":
        return "mean squared error"
    smoothing = spec.model.label_smoothing
    return "cross-entropy" + (f" with label smoothing {smoothing:g}" if smoothing else "")


def test_loss_text(info: RunInfo) -> str | None:
    """The run's test loss and what it includes, e.g. ``"test loss 1.4650 (cross-entropy with label
    smoothing 0.2 of the answers with test-time augmentation, the training loss); without smoothing
    1.0664, the number Evaluate shows"``; None when it was not measured.

    Evaluate shows the plain cross-entropy of the predictions the run was tested with; a run's
    ``test_loss`` is its training loss on the test set, which differs with label smoothing or MSE.
    """
    loss = info.metrics.get("test_loss")
    if loss is None:
        return None
    try:
        spec = info.spec
    except InvalidArgument:  # a run without readable settings still shows its number
        return f"test loss {loss:.4f}"
    kind = loss_kind(spec)
    tested = " of the answers with test-time augmentation" if spec.tta != "none" else ""
    if kind == "cross-entropy":
        return f"test loss {loss:.4f} (cross-entropy{tested}, the number Evaluate shows)"
    text = f"test loss {loss:.4f} ({kind}{tested}, the training loss)"
    plain = info.metrics.get("test_cross_entropy")
    if plain is not None:
        text += f"; plain cross-entropy {plain:.4f}, the number Evaluate shows"
    return text


def accuracy_gap_note(spec: TrainSpec) -> str | None:
    """Why the training accuracy can sit below the test accuracy (augmentation, label smoothing and
    dropout make training harder; test-time augmentation helps the test), or None when nothing does."""
    harder = []
    if spec.augment is not None and not spec.augment.is_identity:
        harder.append(f"saw randomly changed images ({spec.augment.describe()})")
    if spec.model.label_smoothing:
        harder.append(f"was taught with label smoothing {spec.model.label_smoothing:g}, which counts a sure "
                      "right answer as only partly right")
    dropouts = [d for d in (spec.model.dropout, spec.model.conv_dropout) if d]
    if dropouts:
        harder.append(f"had {max(dropouts):.0%} of some layers' nodes switched off at random (dropout)")
    helped = spec.tta != "none"
    if not harder and not helped:
        return None
    text = "Why the training accuracy can be lower than the test accuracy: "
    if harder:
        text += "during training the network " + "; ".join(harder) + ". The test uses the plain images"
    else:
        text += "the test uses the plain images"
    if helped:
        text += ", and averages the network's answers over a few changed copies of each (test-time augmentation)"
    return text + "."
