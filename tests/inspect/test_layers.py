"""cnnviz.inspect.layers: one answer to "is it a convolution" and "what shape comes out"."""

from __future__ import annotations

import pytest

from cnnviz.inspect import layers


def _fake(class_name: str):
    return type(class_name, (), {})()


def test_conv_detection_and_kinds_by_class_name():
    assert all(layers.is_conv(_fake(n)) for n in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose"))
    assert not layers.is_conv(_fake("Dense")) and not layers.is_conv(_fake("Conv1D"))
    assert [layers.layer_kind(_fake(n)) for n in ("Conv2D", "MaxPooling2D", "BatchNormalization", "Add", "Flatten")] \
        == ["conv", "pooling", "batch norm", "merge", "other"]


def test_output_shape_of_a_layer_with_and_without_a_graph():
    keras = pytest.importorskip("keras")
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, name="c")
    keras.Model(inputs, conv(inputs))
    assert layers.output_shape(conv) == (None, 6, 6, 4)
    assert layers.output_shape(keras.layers.Dense(2)) is None  # never called: no output
