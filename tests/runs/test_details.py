"""cnnviz.runs.details: a run's values as people read them, and only the keys a student reads (issue 14)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from cnnviz.app.tables import settings_table
from cnnviz.runs import details
from tests.support.runs import fake_run_info


def with_metrics(metrics: dict):
    return dataclasses.replace(fake_run_info(), metrics=metrics)


def test_values_are_formatted_not_raw():
    assert details.format_value(None) == "–"
    assert details.format_value(float("nan")) == "–"
    assert details.format_value(0.4805) == "0.4805"
    assert details.format_value(0.4805, percent=True) == "48.0%"  # 48.05% rounds to even
    assert details.format_value(np.float64(0.25), percent=True) == "25.0%"
    assert details.format_value(10000) == "10,000" and details.format_value(np.int64(20)) == "20"
    assert details.format_value(20.0) == "20"
    assert details.format_value(True) == "yes" and details.format_value(np.bool_(False)) == "no"
    assert details.format_value("adam") == "adam"


def test_a_digits_run_of_a_cifar10_network_has_no_notebook_figure():
    from cnnviz.runs.compare import runs_table
    from cnnviz.training.spec import spec_from_preset

    def run_of(spec):
        return dataclasses.replace(fake_run_info(**spec.to_dict()), metrics={"test_accuracy": 0.5})

    cifar = run_of(spec_from_preset("seed000_model4"))  # the notebook's own set-up
    digits = run_of(spec_from_preset("seed000_model4", dataset="digits"))
    assert details.notebook_accuracy(cifar) == 0.5505
    assert details.notebook_accuracy(digits) is None
    assert [row["notebook's accuracy"] for row in runs_table([cifar, digits])] == [0.5505, None]


def test_run_details_list_the_relevant_keys_formatted():
    info = with_metrics({"test_accuracy": 0.4805, "test_loss": 1.4651, "n_train": 90, "n_val": 30,
                                  "n_test": 40, "epochs_completed": 2.0, "train_seconds": 12.345,
                                  "params_total": 1234, "params_trainable": 1234, "images_per_s": 456.7})
    rows = {r["what"]: r["value"] for r in details.run_details(info)}
    assert rows["images: training / validation / test"] == "90 / 30 / 40"
    assert rows["epochs done / asked"] == "2 / 2"
    assert rows["test accuracy"] == "48.0%"
    assert rows["notebook's test accuracy"] == "–"
    assert rows["training time"] == "12.3 s"
    assert rows["parameters (trainable)"] == "1,234 (1,234)"
    assert all(isinstance(v, str) and v != "None" for v in rows.values())
    assert "scaling_affine" not in rows and "class_names" not in rows


def test_a_training_time_that_misses_the_epochs_before_a_resume_says_so():
    rows = {r["what"]: r["value"] for r in details.run_details(with_metrics(
        {"epochs_completed": 3.0, "train_seconds": 75.0, "train_seconds_after_epoch": 1, "images_per_s": 187.4}))}
    assert rows["training time"] == ("1.2 min (the epochs after epoch 1 only: it was resumed from progress saved "
                                     "without its time)")
    assert rows["images per second"] == "187"
    no_time = {r["what"]: r["value"] for r in details.run_details(with_metrics({"train_seconds_after_epoch": 1}))}
    assert no_time["training time"] == "–"


def test_a_resumed_run_says_after_which_epoch_and_whether_it_is_the_uninterrupted_training():
    def resumed_row(metrics):
        return {r["what"]: r["value"] for r in details.run_details(with_metrics(metrics))}.get("resumed")

    assert resumed_row({"epochs_completed": 4.0}) is None  # never interrupted
    assert resumed_row({"resumed_after_epoch": 2, "resumed_exactly": True}) == (
        "after epoch 2: the same training as without the interruption")
    assert resumed_row({"resumed_after_epoch": 2, "resumed_exactly": False}) == (
        "after epoch 2, from progress saved without its random states: the epochs after it drew other random "
        "numbers (shuffling, augmentation, dropout) than the training without the interruption would have")


def test_the_best_validation_epoch_says_whose_weights_the_saved_model_has():
    """Keep the best validation weights off (early stopping alone, as Keras' restore_best_weights=False): the
    saved model is the last epoch's, not the best one's, and its row says so; the last epoch being the best needs
    no word."""
    def best_row(metrics, **config):
        info = dataclasses.replace(fake_run_info(**config), metrics=metrics)
        return {r["what"]: r["value"] for r in details.run_details(info)}["best validation epoch"]

    early = {"best_epoch": 2, "epochs_completed": 4.0, "early_stopped": True, "restored_best_weights": False}
    assert best_row(early, early_stopping=True, patience=2, epochs=10) == (
        "2 (not the saved weights: they are the last epoch's, 4, as the best weights were not kept)")
    stopped = {"best_epoch": 2, "epochs_completed": 2.5, "restored_best_weights": False}  # a stop cut epoch 3
    assert best_row(stopped) == "2 (not the saved weights: they are the last epoch's, 3, as the best weights were " \
                                "not kept)"
    assert best_row({"best_epoch": 2, "epochs_completed": 2.0, "restored_best_weights": False}) == "2"
    assert best_row({"best_epoch": 2, "epochs_completed": 4.0, "restored_best_weights": True},
                    keep_best=True) == "2 (its weights were kept)"


def test_the_settings_table_shows_dashes_and_short_numbers():
    rows = [{"run": "a", "test accuracy": 0.4805, "status": "finished", "validation_fraction": 0.25,
             "model.learning_rate": 0.001, "train_size": None},
            {"run": "b", "test accuracy": None, "status": "finished", "validation_fraction": 0.1,
             "model.learning_rate": 0.01, "train_size": 100}]
    html = settings_table(rows, ["validation_fraction", "model.learning_rate", "train_size"]).to_html()
    assert "None" not in html and "0.480500" not in html and "nan" not in html
    assert "48.0%" in html and "25.0%" in html and "0.001" in html and ">100<" in html and "–" in html
    assert isinstance(pd.DataFrame(rows), pd.DataFrame)


def test_a_preset_run_is_named_as_a_class_knows_it_with_its_notebook():
    from cnnviz.training.spec import spec_from_preset

    info = dataclasses.replace(fake_run_info(**spec_from_preset("seed000_model1", dataset="digits").to_dict()),
                               metrics={"test_accuracy": 0.5})
    rows = [(r["what"], r["value"]) for r in details.run_details(info)]
    assert rows[:3] == [("network", "CNN Lab: 2 conv layers, 16 filters"),
                        ("from", "seed 000 (CNN Lab, 2020), Part 11 (1.12), model1"), ("dataset", "digits")]
    assert "from" not in [r["what"] for r in details.run_details(fake_run_info())]  # a custom network: no source
