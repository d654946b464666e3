"""Explain's helpers that need no model: which saved runs are a run's augmented twins."""

from __future__ import annotations

import dataclasses

from cnnviz.app.explain import augmented_twins
from tests.support.runs import fake_run_info

AUGMENT = {"rotation": 30.0, "flip": "horizontal_and_vertical", "seed": 0}


def _run(tail: str, **changes):
    info = fake_run_info(**changes)
    return dataclasses.replace(info, run_id=info.run_id[:-8] + tail)


def test_the_augmented_twin_of_a_prepadded_run_is_found_both_ways():
    from cnnviz.training.spec import twin_spec

    base = _run("00000001", augment={"flip": "horizontal", "crop": 2, "alternate_flip": True, "seed": 0},
                prepadded=True)
    spec = twin_spec(base, rotation=30, flip="horizontal_and_vertical")
    assert spec.prepadded is False  # Robustness's twin leaves the pre-padded path for the rotations
    twin = _run("00000002", **spec.to_dict())
    assert augmented_twins(base, [base, twin]) == [twin]
    assert augmented_twins(twin, [base, twin]) == [base]


def test_twins_differ_only_in_their_augmentation():
    plain = _run("00000001")
    twin = _run("00000002", augment=AUGMENT)
    other_seed = _run("00000003", augment=AUGMENT, seed=1)
    other_data = _run("00000004", augment=AUGMENT, test_size=20)
    same = _run("00000005")  # trained the same way again: not a twin (no other augmentation)
    everyone = [plain, twin, other_seed, other_data, same]
    assert augmented_twins(plain, everyone) == [twin]
    assert augmented_twins(twin, everyone) == [plain, same]  # and the twin finds the plain runs
