"""cnnviz.models.notebookresults: a preset's notebook companions with the accuracies the notebook printed."""

from __future__ import annotations

import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.models.notebookresults import notebook_networks, notebook_of
from cnnviz.models.presets import PRESETS


def test_seed000s_four_networks_with_the_accuracies_it_printed():
    rows = notebook_networks("seed000_model4")
    # seed 000 prints "Test accuracy: 0.5290", "0.5435", "0.5030" and "0.5505" for model1..model4 (Parts 11-14)
    assert [(r["network"], r["test accuracy"]) for r in rows] == [
        ("seed000_model1", 0.5290), ("seed000_model2", 0.5435), ("seed000_model3", 0.5030), ("seed000_model4", 0.5505)]
    assert [r["parameters"] for r in rows] == [25_770, 108_440, 31_192, 31_192]  # dropout adds no parameters
    assert notebook_networks("seed000_model1") == rows


def test_every_seed_preset_is_among_its_notebooks_networks():
    for name, preset in PRESETS.items():
        if preset.family == "seed":
            assert name in [r["network"] for r in notebook_networks(name)]
            assert notebook_of(preset).startswith("seed 00")
    assert {r["network"] for r in notebook_networks("seed002_cnn")} == {
        "seed002_mlp", "seed002_cnn", "seed002_cnn_augmented", "seed002_alexnet"}


def test_a_notebooks_networks_are_all_of_its_presets():
    """Seed 003's question-3.2 network is one of its notebook's, beside the MLP and the CNN of 4.2: every preset of a
    notebook (``seedNNN_…``) lists the same companions, whichever part of the notebook its source line names."""
    seed = [n for n, p in PRESETS.items() if p.family == "seed"]
    for name in seed:
        assert [r["network"] for r in notebook_networks(name)] == [n for n in seed if n[:7] == name[:7]], name


def test_unknown_preset_is_named():
    with pytest.raises(InvalidArgument, match="unknown preset 'seed009'; choose one of seed000_model1"):
        notebook_networks("seed009")
