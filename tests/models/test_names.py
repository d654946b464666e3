"""cnnviz.models.names: networks named as a class knows them, every preset covered (issue 14)."""

from __future__ import annotations

import pytest

from cnnviz.models import names, presets
from cnnviz.models.config import FILTER_GROWTHS


def test_seed_networks_are_named_by_their_notebook_not_by_seed_numbers():
    assert names.network_name("seed000_model1") == "CNN Lab: 2 conv layers, 16 filters"
    assert names.network_name("seed001_mlp") == "CIFAR10-Lab: fully connected network"
    assert names.network_name("seed002_alexnet") == "ML for trading: AlexNet-style CNN"
    for name, preset in presets.PRESETS.items():
        shown = names.network_name(name)
        assert not shown.startswith("Seed ") and "model1" not in shown, (name, shown)
        if preset.family == "seed":
            assert shown.split(":")[0] in names.NOTEBOOKS.values(), (name, shown)


def test_every_filter_growth_has_words_without_seed_numbers():
    assert set(names.FILTER_GROWTH_LABELS) == set(FILTER_GROWTHS)
    assert not any("seed" in label for label in names.FILTER_GROWTH_LABELS.values())


def test_an_unknown_preset_is_named_in_the_error():
    with pytest.raises(KeyError, match="no preset 'nope'"):
        names.network_name("nope")


def test_display_names_never_fail_and_sources_name_the_notebook():
    assert names.display_name("seed001_cnn") == "CIFAR10-Lab: CNN"
    assert names.display_name("seed999_gone") == "seed999_gone"  # a run from another cnnviz keeps its id
    assert names.display_name(None, "resnet50") == "resnet50" and names.display_name(None) == "custom"
    assert names.source_line("seed000_model1") == "seed 000 (CNN Lab, 2020), Part 11 (1.12), model1"
    assert names.source_line(None) is None and names.source_line("seed999_gone") is None
