"""AppTest: Build & train's "Which images" (the notebook's first images or random stratified), the images per
class a run uses, the class weights they give and the notebook figure's verdict (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from cnnviz.app.datachoice import COUNTS_KEY
from cnnviz.data import cifar10, datasets
from tests.support.archives import class_folders, make_zip, tiny_files, write_tiny_dir
from tests.support.pages import open_page, texts

pytestmark = pytest.mark.slow

#: Labels of the tiny CIFAR-10's five training batches of 20: uneven, as the first 10,000 images of the real one.
TRAIN_LABELS = np.array(([0] * 6 + [1] * 4 + [2] * 3 + [3, 4, 5, 6, 7, 8, 9]) * 5)


def _records(labels: np.ndarray, seed: int) -> bytes:
    images = np.random.default_rng(seed).integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    return np.concatenate([labels.astype(np.uint8)[:, None], images], axis=1).tobytes()


def _uneven_cifar(tmp_path) -> None:
    files = tiny_files()
    for i, name in enumerate(cifar10.TRAIN_FILES):
        files[name] = _records(TRAIN_LABELS[20 * i:20 * (i + 1)], i)
    datasets.import_cifar10(write_tiny_dir(tmp_path / "src", files))


def _counts_table(at):
    """The images-per-class table (AppTest does not give a dataframe's key: found by its columns)."""
    return next((d.value for d in at.dataframe if list(d.value.columns) == ["class", "subset", "train", "validation",
                                                                             "test", "weight"]), None)


def test_a_preset_on_another_dataset_draws_random_stratified_images_and_gets_no_notebook_figure(app_path):
    at = open_page(app_path, "app_pages/build_train.py")
    assert at.selectbox(key="train_selection_seed000_model1_digits").value == "stratified"
    shown = texts(at)
    assert "No notebook figure for this set-up" in shown and "dataset digits (the notebook: cifar10)" in shown
    assert _counts_table(at) is None  # on request only (a split may import scikit-learn: seconds)
    at.toggle(key="train_class_weights").set_value(True).run()
    weights = next(c.value for c in at.caption if c.value.startswith("Class weights"))
    assert 'compute_class_weight("balanced")' in weights and "on the 1,077 training images" in weights


def test_seed_000_on_cifar10_takes_the_first_images_and_shows_their_counts_and_weights(app_path, tmp_path):
    _uneven_cifar(tmp_path)
    at = open_page(app_path, "app_pages/build_train.py")
    at.segmented_control(key="train_source").set_value("A network from the notebooks").run()
    tag = "seed000_model1_cifar10"
    assert at.selectbox(key=f"train_selection_{tag}").value == "first_shuffled"  # the notebook's, by default
    at.session_state[COUNTS_KEY] = True
    at.toggle(key="train_class_weights").set_value(True).run()
    assert not at.exception, at.exception
    table = _counts_table(at)
    # the reference: Xtrain[0:100] (all of the tiny set), train_test_split(test_size=0.25, random_state=0)
    fit, val = train_test_split(np.arange(100), test_size=0.25, random_state=0)
    assert list(table["train"])[:10] == np.bincount(TRAIN_LABELS[fit], minlength=10).tolist()
    assert list(table["validation"])[:10] == np.bincount(TRAIN_LABELS[val], minlength=10).tolist()
    assert list(table["train"])[10] == 75 and list(table["test"])[10] == 20
    assert list(table["subset"])[:10] == np.bincount(TRAIN_LABELS, minlength=10).tolist()  # seed 000 Part 5's counts
    counts = np.bincount(TRAIN_LABELS[fit], minlength=10)
    present = np.count_nonzero(counts)
    assert list(table["weight"])[:10] == pytest.approx([75 / (present * c) if c else 1.0 for c in counts])
    assert list(table["weight"])[0] < 0.5 < 1.5 < list(table["weight"])[9]  # uneven: the weights matter
    shown = texts(at)
    assert "training images 100 (the notebook: 10,000)" in shown  # the tiny set is not the notebook's size

    at.selectbox(key=f"train_selection_{tag}").set_value("stratified").run()
    table = _counts_table(at)
    assert list(table["train"])[10] == 75 and "which images random stratified" in texts(at)


def test_seed_004_cats_and_dogs_on_the_imported_cats_vs_dogs_is_the_notebooks_data(app_path):
    """The preset says: import the photos as 'cats_vs_dogs' at 200×200 in grey. That import (folder:cats_vs_dogs)
    is the notebook's data: the verdict compares the set-up with the notebook's, it does not call it another dataset."""
    report = datasets.import_folder_zip(make_zip(class_folders(per_class=20)), name="cats_vs_dogs", image_size=200,
                                        mode="L")
    at = open_page(app_path, "app_pages/build_train.py")
    at.selectbox(key="train_dataset").set_value(report["name"]).run()
    at.segmented_control(key="train_source").set_value("A network from the notebooks").run()
    at.selectbox(key="train_preset").set_value("seed004_cats_dogs").run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "No notebook figure for this set-up" in shown
    assert "in dataset" not in shown and "(the notebook: cats_vs_dogs)" not in shown
    assert "training images 32 (the notebook: 3,600)" in shown  # 40 photos, 80% kept for training at the import


def test_the_layer_table_gives_each_shape_as_keras_prints_it_batch_first(app_path):
    """Seed 000 Q16: is the batch always the first dimension?"""
    at = open_page(app_path, "app_pages/build_train.py")
    summary = next(d.value for d in at.dataframe if "formula" in d.value.columns)
    assert list(summary["keras_shape"])[:2] == ["(None, 8, 8, 1)", "(None, 8, 8, 16)"]  # digits into 16 filters
    assert any("`None` is the number of images in a batch" in c.value for c in at.caption)
