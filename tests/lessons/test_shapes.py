"""cnnviz.lessons.shapes: Keras' batch-first shapes and to_categorical, checked against Keras itself."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.lessons import shapes


def test_doctests():
    result = doctest.testmod(shapes)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize("labels", [np.array([3, 0, 9, 3]), np.array([[4], [1]]), 7])
def test_one_hot_is_keras_to_categorical(labels):
    from keras.utils import to_categorical

    expected = to_categorical(labels, 10)
    got = shapes.one_hot(labels, 10)
    assert got.shape == expected.shape and got.dtype == expected.dtype and np.array_equal(got, expected)


def test_one_hot_refuses_labels_outside_the_classes_repeating_them():
    with pytest.raises(InvalidArgument, match=r"labels must be whole numbers 0..9, got \[3, 10\]"):
        shapes.one_hot([3, 10], 10)
    with pytest.raises(InvalidArgument, match="number of classes must be a positive whole number, got 0"):
        shapes.one_hot([0], 0)


def test_keras_shape_is_what_a_keras_model_prints():
    import keras

    inputs = keras.Input((32, 32, 3), name="image")
    out = keras.layers.Conv2D(16, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, out, name="q16")
    assert shapes.keras_shape((32, 32, 16)) == str(model.output_shape) == "(None, 32, 32, 16)"


def test_label_shapes_of_seed_000():
    rows = shapes.label_shapes(10_000, 10, (32, 32, 3))
    assert [r["shape"] for r in rows] == ["(10000, 1)", "(10000, 10)", "(None, 32, 32, 3)", "(None, 10)"]


def test_only_cifar10_loads_its_labels_as_a_column():
    """keras.datasets.cifar10.load_data reshapes its labels to N×1; mnist's and the others' stay one number each."""
    rows = shapes.label_shapes(1_797, 10, (8, 8, 1), dataset="digits")
    assert rows[0] == {"what": "labels: one class number per image", "shape": "(1797,)"}
    assert shapes.label_shapes(50_000, 10, (32, 32, 3), dataset="cifar10")[0]["shape"] == "(50000, 1)"
