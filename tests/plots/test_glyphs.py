"""Issue 14, "validation counts render as □" on a projector: the figures that draw validation counts and
curves hold only characters every classroom browser has (tests/support/glyphs.py says which and why)."""

from __future__ import annotations

import dataclasses

from cnnviz.data.augment import AugmentConfig
from cnnviz.plots import datasets as dataset_plots
from cnnviz.plots import training as training_plots
from cnnviz.training.spec import spec_from_preset
from tests.support.glyphs import figure_texts, unsafe_characters
from tests.support.runs import fake_run_info

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def test_the_scanner_finds_what_a_browser_may_lack():
    assert unsafe_characters(["1\u202f077", "25\u2009%", "image ⋆ filter", "❚❚ pause", "done ✓"]) == {
        "\u202f": "1\u202f077", "\u2009": "25\u2009%", "⋆": "image ⋆ filter", "❚": "❚❚ pause", "✓": "done ✓"}
    assert unsafe_characters(["8×8 · ±30° · ≈52% – 1,077 … → ≤ ≥ −1"]) == {}


def test_class_counts_with_validation_hold_plain_text():
    counts = {"train": [4500, 4490, 17], "validation": [1500, 1510, 3], "test": [1000, 1000, 1]}
    for stacked in (False, True):
        fig = dataset_plots.class_counts_bar(counts, CIFAR[:3], stacked=stacked,
                                             title="Images per class after subset and split")
        assert unsafe_characters(figure_texts(fig)) == {}
        validation = next(t for t in fig.data if t.name == "validation")
        assert list(validation.text) == ["1500", "1510", "3"]  # digits only: no separator a locale could change


def test_training_curves_hold_plain_text():
    curve = {"x": [0.5, 1.0, 1.5, 2.0], "loss": [2.0, 1.6, 1.4, 1.2], "accuracy": [0.2, 0.4, 0.5, 0.6],
             "epoch_loss": [1.6, 1.2], "epoch_accuracy": [0.4, 0.6], "epoch_val_loss": [1.7, 1.3],
             "epoch_val_accuracy": [0.35, 0.55]}
    assert unsafe_characters(figure_texts(training_plots.live_curves(curve, epochs=4))) == {}
    history = {"loss": [2.0, 1.5], "accuracy": [0.2, 0.4], "val_loss": [2.1, 1.9], "val_accuracy": [0.1, 0.3]}
    named = dataclasses.replace(fake_run_info(**spec_from_preset("seed000_model1", dataset="digits").to_dict()),
                                history=history)
    augmented = dataclasses.replace(fake_run_info(augment=AugmentConfig(rotation=30.0, flip="horizontal",
                                                                          translate=0.1).to_dict()), history=history)
    for metric in ("accuracy", "loss"):
        fig = training_plots.compare_runs([named, augmented], metric)
        assert unsafe_characters(figure_texts(fig)) == {}
        assert any(t.name.endswith("validation") for t in fig.data)
