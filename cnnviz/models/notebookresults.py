"""The networks of one notebook side by side with what the notebook printed for each (issue 16).

Seed 000 Q20 asks how much dropout improved the test accuracy (model3 against model4), seed 003 4.3 and
seed 004 compare their networks: the Build & train page lists the preset's notebook companions with their
parameter counts and the notebook's test accuracies, so the comparison can be read off before training.
"""

from __future__ import annotations

from typing import Any

from cnnviz.errors import InvalidArgument
from cnnviz.models.presets import PRESETS, Preset


def notebook_of(preset: Preset) -> str:
    """The notebook a preset comes from: its ``seed_source`` up to the first comma ("seed 000 (CNN Lab, 2020)")."""
    source = preset.seed_source
    return source[:source.index(")") + 1] if ")" in source else source.split(",")[0]


def notebook_networks(name: str) -> list[dict[str, Any]]:
    """The seed presets of the notebook that preset ``name`` comes from, in the presets' order.

    Returns:
        ``[{"network", "title", "parameters", "test accuracy", "where"}, ...]``; "test accuracy" is the
        notebook's printed score (0-1) or None where it printed none.
    """
    if name not in PRESETS:
        raise InvalidArgument(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    notebook = notebook_of(PRESETS[name])
    return [{"network": p.name, "title": p.title, "parameters": p.expected_params.get("total"),
             "test accuracy": p.seed_test_accuracy, "where": p.seed_source}
            for p in PRESETS.values() if p.family == "seed" and notebook_of(p) == notebook]
