"""The class's results table: the best run per dataset and network, and who sees it."""

from __future__ import annotations

import pytest

from cnnviz.classroom import roster, settings
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.runs import results
from tests.support.runfolders import GOOD_CONFIG, GOOD_METRICS, write_run


def _run(home, run_id, *, accuracy, owner=None, name=None, dataset="digits", filters=4, seconds=3.0):
    config = {**GOOD_CONFIG, "dataset": dataset, "model": {**GOOD_CONFIG["model"], "filters": filters}}
    if owner:
        config.update(owner=owner, owner_name=name)
    write_run(home, run_id, config=config,
              metrics={**GOOD_METRICS, "test_accuracy": accuracy, "train_seconds": seconds})


def test_best_run_per_dataset_and_network(cnnviz_home):
    _run(cnnviz_home, "20260101-000000-0000000a", accuracy=0.6, owner="key:a", name="Ann", seconds=5.0)
    _run(cnnviz_home, "20260101-000000-0000000b", accuracy=0.8, owner="key:b", name="Ben", seconds=7.5)
    _run(cnnviz_home, "20260101-000000-0000000c", accuracy=None)  # counted, never best
    _run(cnnviz_home, "20260101-000000-0000000d", accuracy=0.4, dataset="cifar10")
    rows = results.class_results(local_teacher())
    assert [(r["dataset"], r["network"], r["best test accuracy"], r["who"], r["runs"], r["seconds"], r["epochs"])
            for r in rows] == [("cifar10", "custom", 0.4, "Teacher", 1, 3.0, 2),
                               ("digits", "custom", 0.8, "Ben", 3, 7.5, 2)]
    assert rows[1]["run"] == "20260101-000000-0000000b"


def test_runs_of_one_network_on_one_dataset_are_one_row():
    from tests.support.runs import fake_run_info

    rows = results.results_table([fake_run_info(), fake_run_info(preset=None)])
    assert len(rows) == 1 and rows[0]["runs"] == 2
    assert results.results_table([]) == []


def test_students_see_it_only_when_the_teacher_shares_it(cnnviz_home):
    _, ann = roster.register("Ann")
    with pytest.raises(NotAllowed, match="Ann may not see the class's results table: the teacher has not shared it"):
        results.class_results(ann)
    settings.set_results_shared(True, by=local_teacher())
    assert results.class_results(ann) == []


def test_networks_of_one_dataset_are_listed_best_first():
    import dataclasses

    from tests.support.runs import fake_run_info

    def run(run_id, accuracy, **config):
        info = fake_run_info(**config)
        return dataclasses.replace(info, run_id=run_id, metrics={"test_accuracy": accuracy})

    rows = results.results_table([run("20250101-120000-0000000a", 0.4),
                                  run("20250101-120000-0000000b", 0.7, preset="seed000_model1"),
                                  run("20250101-120000-0000000c", 0.9, dataset="cifar10")])
    assert [(r["dataset"], r["network"], r["best test accuracy"]) for r in rows] == [
        ("cifar10", "custom", 0.9), ("digits", "CNN Lab: 2 conv layers, 16 filters", 0.7), ("digits", "custom", 0.4)]
