"""Networks named as a class knows them (issue 14): "CNN Lab: 2 conv layers, 16 filters", not "Seed 000
model1". The one place for these display names; presets keep their ids and titles (and the notebook
each comes from stays on the page as a source line).
"""

from __future__ import annotations

import re

from cnnviz.models import presets

#: The notebooks behind the seed presets, by seed number, as their titles name them.
NOTEBOOKS = {"000": "CNN Lab", "001": "CIFAR10-Lab", "002": "ML for trading", "003": "CS109A",
             "004": "CS-577"}

#: Seed 000's networks are called model1 … model4 in the notebook: say what they are instead.
NAMES = {
    "seed000_model1": "CNN Lab: 2 conv layers, 16 filters",
    "seed000_model2": "CNN Lab: 2 conv layers, 16 filters, a dense layer of 50",
    "seed000_model3": "CNN Lab: 4 conv layers, 16 filters, a dense layer of 50",
    "seed000_model4": "CNN Lab: 4 conv layers, a dense layer of 50, dropout",
}

#: The builder's "filters after the first layer" choices, in words.
FILTER_GROWTH_LABELS = {"double_once": "twice the first, from the second layer on (as the CNN Lab code)",
                        "double_each": "double at every layer (as the CNN Lab text says)",
                        "constant": "the same in every layer"}

_SEED_TITLE = re.compile(r"^Seed (\d{3}) (?:model\d+: )?(.+)$")


def network_name(preset_name: str) -> str:
    """The name a class knows a preset network by, e.g. ``"CIFAR10-Lab: CNN with dropout"``.

    Raises:
        KeyError: for a name that is not a preset, with the name received.
    """
    if preset_name not in presets.PRESETS:
        raise KeyError(f"no preset {preset_name!r}")
    if preset_name in NAMES:
        return NAMES[preset_name]
    title = presets.PRESETS[preset_name].title
    found = _SEED_TITLE.match(title)
    if found and found.group(1) in NOTEBOOKS:
        rest = found.group(2)
        first = rest.split(" ", 1)[0]
        if first[1:] == first[1:].lower() and not first.isupper():  # "Fully …" → "fully …", not "alexNet"
            rest = rest[0].lower() + rest[1:]
        return f"{NOTEBOOKS[found.group(1)]}: {rest}"
    return title


def display_name(preset: str | None, architecture: str | None = None) -> str:
    """How a run's network is shown: :func:`network_name` for a preset, else the preset id a newer or
    older cnnviz knew (never an error), else the architecture, else ``"custom"``."""
    if preset in presets.PRESETS:
        return network_name(preset)
    return preset or architecture or "custom"


def source_line(preset: str | None) -> str | None:
    """Where a preset network comes from, e.g. ``"seed 000 (CNN Lab, 2020), Part 11 (1.12), model1"``;
    None for a network that is not a preset."""
    return presets.PRESETS[preset].seed_source if preset in presets.PRESETS else None
