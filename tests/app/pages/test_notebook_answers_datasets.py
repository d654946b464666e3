"""Notebook questions answered on the Datasets page: shapes, one-hot labels, the notebook's split and the
augmentation set-ups against Keras, scikit-learn and the notebooks' own code (issue 16).

Rows of docs/notebooks.md marked ``value (test_notebook_answers_datasets.py)``; the page opens on the
built-in digits (8×8 grey, the test data every page test uses).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnviz.data import datasets
from tests.support.notebook import metric, number, run_checks
from tests.support.pages import figure
from tests.support.views import open_view

pytestmark = pytest.mark.slow


def _digits():
    return datasets.load("digits")


def _shapes(at) -> dict[str, str]:
    table = next(f.value for f in at.dataframe if "what" in f.value.columns)
    return dict(zip(table["what"], table["shape"]))


def x_train_shape(at):
    """seed 001 Q1: X_train's four numbers (images, height, width, channels) as the page shows them, and the
    shapes of the labels before and after Keras' to_categorical and of one batch going in."""
    import keras

    ds = _digits()
    n, h, w, c = ds.x_train.shape
    assert number(metric(at, "Training images")) == n
    assert metric(at, "Image size") == f"{h}×{w}×{c}"
    shapes = _shapes(at)
    onehot = keras.utils.to_categorical(ds.y_train, ds.num_classes)
    assert shapes[f"labels after to_categorical(y, {ds.num_classes})"] == str(onehot.shape)
    assert shapes["labels: one class number per image"] == str((n,))  # cifar10.load_data alone gives N×1
    assert shapes["images going into the network (one batch)"] == f"(None, {h}, {w}, {c})"


def one_hot(at):
    """The label beside its one-hot vector is Keras' to_categorical of that training image's label."""
    import keras

    ds = _digits()
    for index in (0, 7):
        at.number_input(key="datasets_inspect_digits").set_value(index).run()
        said = next(m.value for m in at.markdown if m.value.startswith("**Its label as the network gets it:**"))
        label = int(ds.y_train[index])
        vector = keras.utils.to_categorical([label], ds.num_classes)[0].astype(int).tolist()
        assert f"class number {label} → one-hot `{vector}`" in said, said


def one_image(at):
    """seed 003 4.1: one image's values (0..255, its min and max) and its class are the array's."""
    ds = _digits()
    at.number_input(key="datasets_inspect_digits").set_value(3).run()
    image = ds.x_train[3]
    said = next(m.value for m in at.markdown if m.value.startswith("Class "))
    assert said.startswith(f"Class `{ds.class_names[int(ds.y_train[3])]}`, values {image.min()}..{image.max()} "), said
    assert image.dtype == np.uint8


def notebook_split(at):
    """seed 000 Part 7: the first images, 25% split off with train_test_split(random_state=0), per class."""
    from sklearn.model_selection import train_test_split

    ds = _digits()
    at.selectbox(key="datasets_selection_digits").set_value("first_shuffled").run()
    n_train, n_test = min(len(ds.y_train), 10_000), min(len(ds.y_test), 2_000)
    fit, val = train_test_split(np.arange(n_train), test_size=0.25, random_state=0)
    table = next(f.value for f in at.dataframe if "validation" in f.value.columns)
    rows = table[table["class"] != "total"]
    y = ds.y_train[:n_train]
    assert list(rows["subset"]) == np.bincount(y, minlength=10).tolist()
    assert list(rows["train"]) == np.bincount(y[fit], minlength=10).tolist()
    assert list(rows["validation"]) == np.bincount(y[val], minlength=10).tolist()
    assert list(rows["test"]) == np.bincount(ds.y_test[:n_test], minlength=10).tolist()
    at.selectbox(key="datasets_selection_digits").set_value("stratified").run()


def standardise(at):
    """seed 000 Part 8: standardising uses the mean and std per channel of the training part only (the
    notebook's first images less its train_test_split validation), as NumPy computes them."""
    from sklearn.model_selection import train_test_split

    ds = _digits()
    at.selectbox(key="datasets_selection_digits").set_value("first_shuffled").run()
    at.radio(key="datasets_scaling").set_value("standardize").run()
    n_train = min(len(ds.y_train), 10_000)
    fit, _ = train_test_split(np.arange(n_train), test_size=at.slider(key="datasets_val_fraction").value,
                              random_state=0)
    part = ds.x_train[:n_train][fit].astype(np.float64)
    mean, std = part.mean(axis=(0, 1, 2)), part.std(axis=(0, 1, 2))
    said = next(c.value for c in at.caption if c.value.startswith("Training mean per channel"))
    assert said == ("Training mean per channel: " + ", ".join(f"{m:.1f}" for m in mean) + "; std: "
                    + ", ".join(f"{v:.1f}" for v in std)), said
    at.radio(key="datasets_scaling").set_value("unit").run()
    at.selectbox(key="datasets_selection_digits").set_value("stratified").run()


def first_share_for_validation(at):
    """seed 002 1.3.4: X_valid = X_train[:5000]: the validation images are the first of the subset, unshuffled,
    as many as train_test_split would hold out for that share."""
    from sklearn.model_selection import train_test_split

    ds = _digits()
    at.selectbox(key="datasets_selection_digits").set_value("first_first").run()
    n_train = min(len(ds.y_train), 10_000)
    fraction = at.slider(key="datasets_val_fraction").value
    n_val = len(train_test_split(np.arange(n_train), test_size=fraction)[1])
    table = next(f.value for f in at.dataframe if "validation" in f.value.columns)
    rows = table[table["class"] != "total"]
    y = ds.y_train[:n_train]
    assert list(rows["validation"]) == np.bincount(y[:n_val], minlength=10).tolist()
    assert list(rows["train"]) == np.bincount(y[n_val:], minlength=10).tolist()
    at.selectbox(key="datasets_selection_digits").set_value("stratified").run()


def images_of_each_class(at):
    """Each row of "Random images of each class" holds training images of that row's class, as many as asked."""
    ds = _digits()
    fig = figure(at, "datasets_samples")
    canvas = np.asarray(fig["data"][0]["z"])
    labels = list(fig["layout"]["yaxis"]["ticktext"])
    per_class = at.slider(key="datasets_per_class").value
    h, w = ds.x_train.shape[1:3]
    assert labels == list(ds.class_names)
    for row, name in enumerate(labels):
        for col in range(per_class):
            tile = canvas[row * (h + 1): row * (h + 1) + h, col * (w + 1): col * (w + 1) + w, 0]
            found = {int(ds.y_train[i]) for i in np.flatnonzero((ds.x_train[..., 0] == tile).all(axis=(1, 2)))}
            assert found == {row}, (name, col, found)


def image_sizes(at):
    """seed 004 sizes: a 200×200 grey image's bytes, and 4× as float32, as NumPy counts them."""
    at.select_slider(key="datasets_zip_size").set_value(200).run()
    at.radio(key="datasets_zip_mode").set_value("L").run()
    note = next(c.value for c in at.caption if c.value.startswith("One 200×200×1 image"))
    one = np.zeros((200, 200, 1), np.uint8)
    assert f"takes {one.nbytes / 1024:,.0f} KiB" in note
    most = number(re.search(r"at most ([\d,]+) images", note).group(1))
    assert f"({most * one.nbytes / 2**20:,.0f} MiB as bytes" in note
    assert np.zeros((1,), np.float32).nbytes == 4 and "4× that as float32" in note


def _augment_controls(at) -> dict:
    return {"rotation": at.slider(key="datasets_aug_rotation").value, "flip": at.selectbox(key="datasets_aug_flip").value,
            "shift": at.slider(key="datasets_aug_translate").value, "zoom": at.slider(key="datasets_aug_zoom").value}


def seed002_augmentation(at):
    """seed 002 1.6.1: the preview starts on the notebook's ImageDataGenerator(width_shift_range=0.1,
    height_shift_range=0.1, horizontal_flip=True)."""
    at.toggle(key="datasets_aug_on").set_value(True).run()
    assert _augment_controls(at) == {"rotation": 0, "flip": "horizontal", "shift": 0.1, "zoom": 0.0}


def seed000_augmentation(at):
    """seed 000 Part 17: its button gives ImageDataGenerator(rotation_range=30, horizontal_flip=True,
    vertical_flip=True)."""
    at.toggle(key="datasets_aug_on").set_value(True).run()
    at.button(key="datasets_aug_seed000").click().run()
    assert _augment_controls(at) == {"rotation": 30, "flip": "horizontal_and_vertical", "shift": 0.0, "zoom": 0.0}
    at.button(key="datasets_aug_seed002").click().run()


CHECKS = {"seed 001 Q1": x_train_shape, "seed 000 Part 9": one_hot, "seed 002 1.3.3": one_hot,
          "seed 003 4.1": one_image, "seed 000 Part 7": notebook_split, "seed 004 sizes": image_sizes,
          "seed 002 1.3.4": first_share_for_validation, "seed 000 Part 8": standardise, "seed 000 Part 6": images_of_each_class,
          "seed 001 PlotRandomFromEachClass": images_of_each_class, "seed 002 1.3.1": images_of_each_class,
          "seed 002 1.6.1": seed002_augmentation, "seed 000 Part 17": seed000_augmentation}


def test_datasets_answers(app_path, request):
    run_checks(open_view("datasets", app_path, request), "datasets", CHECKS)
