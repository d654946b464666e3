"""What a training run is: :class:`TrainSpec`, and every factory that makes one.

A spec holds typed settings (:class:`~cnnviz.models.config.ModelConfig`,
:class:`~cnnviz.data.augment.AugmentConfig`); it becomes a plain dict only when a run is saved
(:meth:`TrainSpec.to_dict`) and is parsed back once (:meth:`TrainSpec.from_dict`). The factories:
a seed preset (:func:`spec_from_preset`), a transfer network (:func:`transfer_spec`,
:func:`frozen_and_unfrozen`) and a saved run's robustness twin (:func:`twin_spec`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from cnnviz.data import augment as augmentation
from cnnviz.data.scaling import SCALINGS
from cnnviz.data.selection import STRATIFIED, Selection, validation_count
from cnnviz.data.subsets import smallest_split_size
from cnnviz.errors import InvalidArgument
from cnnviz.models import backbones, presets
from cnnviz.models import names as network_names
from cnnviz.models.config import ModelConfig
from cnnviz.training.tta import TTA_MODES


if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo

AugmentConfig = augmentation.AugmentConfig


@dataclass(frozen=True)
class TrainSpec:
    """Everything that defines a training run (saved as the run's config).

    Attributes:
        model: the network and its optimiser.
        dataset: dataset name for :func:`cnnviz.data.datasets.load`.
        train_size, test_size: images used, chosen as ``selection`` says; None keeps all.
        validation_fraction: share of the training images held out for validation (0 = none).
        scaling: ``"unit"`` [0,1], ``"symmetric"`` [-1,1] or ``"standardize"`` (per channel).
        augment: the training images' random changes, or None.
        class_weights: weight classes by ``compute_class_weight("balanced")`` (seed 000 Part 13).
        epochs, batch_size: as in ``model.fit``.
        early_stopping: stop when validation loss has not improved for ``patience`` epochs.
        keep_best: end with the weights of the best validation-loss epoch (seed 002's checkpoint).
        seed: makes weights, split, shuffling and augmentation repeatable.
        preset: the preset's name when the model came from one.
        tta: test-time augmentation of the run's test accuracy: "none", "flip" or "flip_translate"
            (see ``TTA_MODES``).
        selection: how the images and the validation share are chosen: random stratified (cnnviz's,
            and every run saved before selections existed) or a notebook's (the first images; see
            :mod:`cnnviz.data.selection`).
        prepadded: airbench's data path (:mod:`cnnviz.training.fastdata`): the uint8 training images are
            padded once in memory for ``augment.crop`` and every batch is cut, mirrored (at random, or
            alternating with ``augment.alternate_flip``) and scaled in one step. Only flips and crops.
    """

    model: ModelConfig
    dataset: str = "digits"
    train_size: int | None = None
    test_size: int | None = None
    validation_fraction: float = 0.25
    scaling: str = "unit"
    augment: AugmentConfig | None = None
    class_weights: bool = False
    epochs: int = 5
    batch_size: int = 32
    early_stopping: bool = False
    patience: int = 3
    keep_best: bool = False
    seed: int = 0
    preset: str | None = None
    tta: str = "none"
    selection: Selection = STRATIFIED
    prepadded: bool = False

    def validate(self, *, num_classes: int | None = None) -> None:
        """Raise :class:`InvalidArgument` naming the first impossible setting.

        Args:
            num_classes: the dataset's classes, when known: then the training images must be
                enough for a stratified validation split (every class on both sides).
        """
        if not isinstance(self.model, ModelConfig):
            raise InvalidArgument(f"model must be a ModelConfig, got {type(self.model).__name__}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise InvalidArgument(f"dataset must be a dataset name, got {self.dataset!r}")
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise InvalidArgument(f"{name} must be a positive whole number or empty, got {value!r}")
        fraction = self.validation_fraction  # checked as a number first: float("lots") or float(None) would escape
        if not isinstance(fraction, (int, float, np.number)) or isinstance(fraction, bool) or not 0.0 <= fraction < 1.0:
            raise InvalidArgument(f"validation fraction must be in [0, 1), got {fraction!r}")
        if not isinstance(self.scaling, str) or self.scaling not in SCALINGS:
            raise InvalidArgument(f"scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        if self.augment is not None and not isinstance(self.augment, AugmentConfig):
            raise InvalidArgument(f"augment must be an AugmentConfig or None, got {self.augment!r}")
        if not _is_int(self.epochs) or not 1 <= self.epochs <= 1000:
            raise InvalidArgument(f"epochs must be 1..1000, got {self.epochs!r}")
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= 8192:
            raise InvalidArgument(f"batch size must be 1..8192, got {self.batch_size!r}")
        if not _is_int(self.patience) or not 1 <= self.patience <= 1000:
            raise InvalidArgument(f"early-stopping patience must be 1..1000 epochs, got {self.patience!r}")
        if not isinstance(self.selection, Selection):
            raise InvalidArgument(f"selection must be a Selection, got {self.selection!r}")
        if self.tta not in TTA_MODES:
            raise InvalidArgument(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
        if not _is_int(self.seed) or not 0 <= self.seed < 2**31:
            raise InvalidArgument(f"seed must be a whole number 0..2147483647, got {self.seed!r}")
        if not isinstance(self.prepadded, bool):
            raise InvalidArgument(f"prepadded must be true or false, got {self.prepadded!r}")
        aug = self.augment
        if self.prepadded and not prepadded_fits(aug):
            raise InvalidArgument(f"pre-padded data takes only horizontal flips and crops, got augment {aug.describe()!r}")
        if aug is not None and aug.alternate_flip and not self.prepadded:
            raise InvalidArgument("alternate flip needs the pre-padded data path (prepadded=True), got prepadded=False")
        if (self.early_stopping or self.keep_best) and self.validation_fraction <= 0:
            setting = "early stopping" if self.early_stopping else "keep best weights"
            raise InvalidArgument(
                f"{setting} needs validation data, but the validation fraction is {self.validation_fraction}"
            )
        if fraction > 0 and self.train_size is not None and self.selection.split in ("first", "last") and not (
                1 <= validation_count(self.train_size, fraction) < self.train_size):
            raise InvalidArgument(f"a validation share of {fraction:.2f} of {self.train_size} training images leaves "
                                  "no images for validation or none to train on")
        stratified = self.selection.split == "stratified"  # only it needs every class on both sides
        if num_classes is not None and fraction > 0 and self.train_size is not None and stratified:
            needed = smallest_split_size(num_classes, fraction)
            if self.train_size < needed:
                raise InvalidArgument(
                    f"With {num_classes} classes and a validation share of {fraction:.2f}, training needs at least "
                    f"{needed} images (every class on both sides of the split), got {self.train_size}."
                )

    def to_dict(self) -> dict:
        """JSON-safe dict (model and augmentation as plain dicts): the run's saved config."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSpec:
        """The spec of a saved run's config (keys that are no spec field, e.g. ``input_shape``, are skipped).

        Missing keys take their defaults, so runs saved before a setting existed still load.
        """
        if not isinstance(data, Mapping):
            raise InvalidArgument(f"a run configuration must be a dict, got {data!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        if "model" not in fields:
            raise InvalidArgument(f"a run configuration needs its model settings, got keys {sorted(data)}")
        fields["model"] = ModelConfig.from_dict(fields["model"])
        augment = fields.get("augment")
        fields["augment"] = None if augment is None else AugmentConfig.from_dict(dict(augment))
        fields["selection"] = Selection.from_dict(fields.get("selection"))
        return cls(**fields)

    @property
    def label(self) -> str:
        """What is trained on what, e.g. ``"CNN Lab: 2 conv layers, 16 filters on cifar10"`` (a job's name)."""
        return f"{network_names.display_name(self.preset, self.model.architecture)} on {self.dataset}"


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# --- presets -------------------------------------------------------------------------------
def augment_from_text(text: str | None) -> AugmentConfig | None:
    """Parse ``"rotation=30,flip=horizontal,translate=0.1,zoom=0.1"`` (or ``"none"``) to an AugmentConfig.

    >>> augment_from_text("flip=horizontal, rotation=15").rotation
    15.0
    """
    if text is None or text.strip().lower() in ("", "none", "off"):
        return None
    values: dict[str, Any] = {}
    numbers = {"rotation": float, "translate": float, "zoom": float, "seed": int, "crop": int}
    for part in text.split(","):
        key, sep, value = (p.strip() for p in part.partition("="))
        if not sep or not key or not value:
            raise InvalidArgument(f"augmentation must look like rotation=30,flip=horizontal; got {text!r}")
        if key in numbers:
            try:
                values[key] = numbers[key](value)
            except ValueError:
                raise InvalidArgument(f"augmentation {key} must be a number, got {value!r}") from None
        else:
            values[key] = value
    return AugmentConfig.from_dict(values)


def prepadded_fits(aug: AugmentConfig | None) -> bool:
    """True when the pre-padded data path can do this augmentation (none, or horizontal flips and crops)."""
    return aug is None or not (aug.rotation or aug.translate or aug.zoom or aug.flip not in ("none", "horizontal"))


def _preset_augment(seed_words: dict | None) -> AugmentConfig | None:
    """A preset's augmentation (in the seed's words) as an AugmentConfig."""
    if not seed_words:
        return None
    words = dict(seed_words)
    if "rotation_degrees" in words:
        words["rotation"] = float(words.pop("rotation_degrees"))
    return AugmentConfig.from_dict(words)


def _as_augment(value: AugmentConfig | Mapping | None) -> AugmentConfig | None:
    """An augmentation given as settings (a dict, e.g. from the command line's JSON) parsed once."""
    return AugmentConfig.from_dict(dict(value)) if isinstance(value, Mapping) else value


def spec_from_preset(
    name: str,
    *,
    dataset: str | None = None,
    epochs: int | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    augment: AugmentConfig | Mapping | None | str = "preset",
    seed: int = 0,
    selection: Selection | None = None,
) -> TrainSpec:
    """A :class:`TrainSpec` that trains preset ``name`` as its seed did, with some settings changed.

    On another dataset than the seed's, the seed's image counts do not apply: all images
    are used unless ``train_size``/``test_size`` say otherwise.

    Args:
        name: a key of :data:`cnnviz.models.presets.PRESETS`.
        dataset, epochs, train_size, test_size, batch_size, learning_rate: None keeps the seed's.
        augment: an AugmentConfig, None for none, or ``"preset"`` for the seed's.
        seed: random seed of the run.
        selection: None takes the notebook's (the first images, its validation split) on the
            seed's dataset, random stratified on any other (its images may be sorted by class).
    Returns:
        The validated spec.
    """
    preset = presets.PRESETS.get(name)
    if preset is None:
        raise InvalidArgument(f"unknown preset {name!r}; known: {', '.join(presets.PRESETS)}")
    t = preset.training
    dataset = dataset or t["dataset"]
    same = dataset == t["dataset"]
    config = preset.config if learning_rate is None else preset.config.replace(learning_rate=learning_rate)
    aug = _preset_augment(t.get("augment")) if augment == "preset" else _as_augment(augment)
    spec = TrainSpec(
        model=config,
        dataset=dataset,
        train_size=train_size if train_size is not None else (t.get("train_size") if same else None),
        test_size=test_size if test_size is not None else (t.get("test_size") if same else None),
        validation_fraction=float(t.get("validation_fraction", 0.25)),
        scaling=t.get("scaling", "unit"),
        augment=aug,
        epochs=epochs if epochs is not None else int(t.get("epochs", 5)),
        batch_size=batch_size if batch_size is not None else int(t.get("batch_size", 32)),
        keep_best=bool(t.get("keep_best_weights", False)),
        seed=seed,
        preset=name,
        tta=t.get("tta", "none"),
        selection=selection or (Selection.from_dict(t.get("selection")) if same else STRATIFIED),
        prepadded=bool(t.get("prepadded", False)) and prepadded_fits(aug),
    )
    spec.validate()
    return spec


# --- transfer learning ----------------------------------------------------------------------
def transfer_spec(cfg: ModelConfig, *, dataset: str, train_size: int | None, test_size: int | None, epochs: int,
                  batch_size: int = backbones.BATCH_SIZE, validation_fraction: float = 0.25,
                  seed: int = 0) -> TrainSpec:
    """A validated TrainSpec for a transfer network: "unit" scaling, as the model expects."""
    if cfg.architecture != backbones.ARCHITECTURE:
        raise InvalidArgument(f"expected a transfer model configuration, got architecture {cfg.architecture!r}")
    backbones.check_settings(cfg)
    out = TrainSpec(model=cfg, dataset=dataset, train_size=train_size, test_size=test_size,
                    validation_fraction=validation_fraction, scaling="unit", epochs=epochs,
                    batch_size=batch_size, seed=seed)
    out.validate()
    return out


def frozen_and_unfrozen(base: TrainSpec) -> tuple[TrainSpec, TrainSpec]:
    """The same run twice: frozen backbone (lr 1e-3) and unfrozen (lr 1e-4); everything else equal."""
    pair = []
    for is_frozen in (True, False):
        lr = backbones.FROZEN_LEARNING_RATE if is_frozen else backbones.UNFROZEN_LEARNING_RATE
        pair.append(dataclasses.replace(base, model=base.model.replace(frozen=is_frozen, learning_rate=lr)))
    return pair[0], pair[1]


# --- robustness twins ------------------------------------------------------------------------
def twin_spec(info: RunInfo, *, rotation: float | None = None, flip: str | None = None,
              head: str | None = None) -> TrainSpec:
    """The run's own training settings (same seed) with rotation augmentation and/or another head.

    Args:
        info: the run to copy.
        rotation: largest rotation of the augmentation in degrees (None: keep the run's).
        flip: flips of the augmentation (None: keep the run's).
        head: "global_avg" for the size-agnostic variant (None: keep the run's).
    Returns:
        A validated :class:`TrainSpec`.
    Raises:
        InvalidArgument: the run's network cannot be rebuilt from its saved settings.
    """
    spec = info.spec
    changes: dict[str, Any] = {}
    if rotation is not None or flip is not None:
        aug = spec.augment or AugmentConfig(seed=spec.seed)
        if rotation is not None:
            aug = dataclasses.replace(aug, rotation=float(rotation))
        if flip is not None:
            aug = dataclasses.replace(aug, flip=flip, alternate_flip=aug.alternate_flip and flip == "horizontal")
        changes["augment"] = None if aug.is_identity else aug
        changes["prepadded"] = spec.prepadded and prepadded_fits(aug)  # rotations need the Keras layers
        if not changes["prepadded"] and aug.alternate_flip:
            changes["augment"] = dataclasses.replace(aug, alternate_flip=False)
    if head is not None:
        changes["model"] = spec.model.replace(head=head)
    spec = dataclasses.replace(spec, **changes)
    spec.model.validate(info.input_shape, info.num_classes)
    spec.validate()
    return spec
