"""The notebook's accuracy for a run: shown only when the run was set up as the notebook did.

One function decides (:func:`notebook_figure`), for the Build & train panel, the Runs page, the runs
table, the command line and the metrics a run saves. A run of a seed preset is compared with the
notebook set-ups of its network: the preset's own, and the notebook's variants of it (seed 000's
model5, model2 with class weights; seed 000's augmented model of Part 19). An augmented run is
compared with the augmented set-ups, any other with the rest; the closest one is its reference.
When a setting differs (epochs, images, selection, augmentation, the network...) the figure is not
the run's to compare with, and the answer says which settings differ instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnnviz.data.augment import AugmentConfig
from cnnviz.errors import InvalidArgument
from cnnviz.models import presets
from cnnviz.training.spec import TrainSpec, spec_from_preset


if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo

_SEED000 = ("seed000_model1", "seed000_model2", "seed000_model3", "seed000_model4")
#: Seed 000 Part 17: ImageDataGenerator(rotation_range=30, horizontal_flip=True, vertical_flip=True).
SEED000_AUGMENT = AugmentConfig(rotation=30.0, flip="horizontal_and_vertical")


@dataclass(frozen=True)
class Variant:
    """A notebook result for a preset's network trained with other settings.

    Attributes:
        presets: the presets whose network it may be.
        changes: TrainSpec fields that differ from the preset's own set-up.
        accuracy: the notebook's test accuracy (0-1).
        result, source: what the notebook printed and where, for people.
        any_network: the notebook does not show the network (any of ``presets`` is accepted).
    """

    presets: tuple[str, ...]
    changes: dict[str, Any]
    accuracy: float
    result: str
    source: str
    any_network: bool = False


VARIANTS = (
    Variant(("seed000_model2",), {"class_weights": True}, 0.5460,
            "Test accuracy 0.5460 after 20 epochs with balanced class weights", "seed 000 Part 15 (1.20), model5"),
    Variant(_SEED000, {"augment": SEED000_AUGMENT, "epochs": 70}, 0.5930,
            "Test accuracy 0.5930 (0.3100 on the test images turned 90°) after 70 epochs with rotations up to "
            "±30° and both flips", "seed 000 Part 19, model6 (the notebook does not show its network)",
            any_network=True),
)


@dataclass(frozen=True)
class NotebookFigure:
    """The notebook result a run is compared with, and whether it may be.

    Attributes:
        accuracy: the notebook's test accuracy (0-1), or None when it printed none.
        result: what the notebook printed, in words.
        source: where in the notebooks.
        differences: the run's settings that are not the notebook's, in words (empty: the same set-up).
    """

    accuracy: float | None
    result: str
    source: str
    differences: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        """True when the run was set up as the notebook did (then its figure is the one to compare with)."""
        return not self.differences

    @property
    def shown_accuracy(self) -> float | None:
        """The notebook's accuracy when the set-up matches, else None (never another set-up's figure)."""
        return self.accuracy if self.matches else None

    def text(self) -> str:
        """One sentence for people."""
        if self.matches:
            return f"The notebook ({self.source}): {self.result}."
        return (f"No notebook figure for this set-up: it differs from the notebook's ({self.source}: "
                f"{self.result}) in {'; '.join(self.differences)}.")


def _words(name: str, value: Any) -> str:
    if name == "augment":
        return "none" if value is None else value.describe()
    if name == "selection":
        return value.short()
    if isinstance(value, bool):
        return "on" if value else "off"
    if name in ("train_size", "test_size"):
        return "all" if value is None else f"{value:,}"
    return str(value)


_SKIPPED = {"seed", "preset", "patience"}  # the seed only changes the random draws; patience only with early stop
_NAMES = {"train_size": "training images", "test_size": "test images", "validation_fraction": "validation share",
          "augment": "augmentation", "selection": "which images", "class_weights": "class weights",
          "batch_size": "batch size", "early_stopping": "early stopping", "keep_best": "keep best weights",
          "tta": "test-time augmentation"}


def differences(spec: TrainSpec, reference: TrainSpec, *, any_network: bool = False) -> tuple[str, ...]:
    """The settings of ``spec`` that are not ``reference``'s, e.g. ``"epochs 20 (the notebook: 70)"``.

    On another dataset only that is said (its sizes and selection follow from it).
    """
    if spec.dataset != reference.dataset:
        return (f"dataset {spec.dataset} (the notebook: {reference.dataset})",)
    out = []
    for field in dataclasses.fields(TrainSpec):
        name = field.name
        if name in _SKIPPED or (name == "model" and any_network):
            continue
        mine, theirs = getattr(spec, name), getattr(reference, name)
        if name == "augment":  # its random seed follows the run's
            mine, theirs = (None if a is None else dataclasses.replace(a, seed=0) for a in (mine, theirs))
        if name == "model":
            out.extend(f"network {k} {v} (the notebook: {getattr(theirs, k)})"
                       for k, v in sorted(mine.to_dict().items()) if getattr(theirs, k) != v)
        elif mine != theirs:
            out.append(f"{_NAMES.get(name, name)} {_words(name, mine)} (the notebook: {_words(name, theirs)})")
    return tuple(out)


def notebook_figure(spec: TrainSpec) -> NotebookFigure | None:
    """The notebook figure a run of ``spec`` is compared with; None when it is no notebook preset's run."""
    preset = presets.PRESETS.get(spec.preset or "")
    if preset is None or preset.family != "seed":
        return None
    own = spec_from_preset(preset.name, seed=spec.seed)
    candidates = [(own, preset.seed_test_accuracy, preset.seed_result, preset.seed_source, False)]
    candidates += [(dataclasses.replace(own, **v.changes), v.accuracy, v.result, v.source, v.any_network)
                   for v in VARIANTS if preset.name in v.presets]
    augmented = [c for c in candidates if (c[0].augment is None) == (spec.augment is None)]
    figures = [NotebookFigure(acc, result, source, differences(spec, ref, any_network=any_network))
               for ref, acc, result, source, any_network in augmented or candidates]
    return min(figures, key=lambda f: len(f.differences))  # the first of the closest: the preset's own first


def for_run(info: RunInfo) -> NotebookFigure | None:
    """:func:`notebook_figure` of a saved run; None also when its settings cannot be read."""
    try:
        return notebook_figure(info.spec)
    except InvalidArgument:
        return None
