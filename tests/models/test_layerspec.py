"""Parameter counting by formula (no TensorFlow): seed 003 Q3.2 and the shape rules."""

from __future__ import annotations

import doctest

import pytest

from cnnviz.models import layerspec
from cnnviz.errors import InvalidArgument
from cnnviz.models.layerspec import param_calculator, pooled_size

# Seed 003 Q3.2: 64×64×3 input; conv 16 3×3 same relu; conv 32 5×5 same relu; max pool 3×3
# stride 2; conv 128 3×3 same; fully connected, 5 outputs. The seed's own answer (4,640 and
# 309,765) is wrong: the second conv sees 16 channels, and Keras' default 'valid' pooling
# gives (64-3)//2+1 = 31, so the dense layer reads 31·31·128 = 123,008 values.
SEED003_Q32 = [
    {"kind": "conv", "name": "conv_1", "filters": 16, "kernel": 3, "padding": "same", "activation": "relu"},
    {"kind": "conv", "name": "conv_2", "filters": 32, "kernel": 5, "padding": "same", "activation": "relu"},
    {"kind": "maxpool", "name": "pool", "pool": 3, "strides": 2},
    {"kind": "conv", "name": "conv_3", "filters": 128, "kernel": 3, "padding": "same"},
    {"kind": "flatten", "name": "flatten"},
    {"kind": "dense", "name": "fc", "units": 5},
]


def test_seed003_q32_answers():
    table = param_calculator(SEED003_Q32, (64, 64, 3))
    counts = [table.row(n)["params"] for n in ("conv_1", "conv_2", "pool", "conv_3", "fc")]
    assert counts == [448, 12_832, 0, 36_992, 615_045]
    assert table.total == 448 + 12_832 + 36_992 + 615_045 == 665_317
    assert table.trainable == table.total and table.non_trainable == 0
    assert [r["output_shape"] for r in table.rows] == [
        "64×64×3", "64×64×16", "64×64×32", "31×31×32", "31×31×128", "123008", "5"]
    assert table.row("conv_2")["formula"] == "(5·5·16+1)·32 = 12,832"
    assert table.row("fc")["formula"] == "(123,008+1)·5 = 615,045"
    assert table.rows[0] == {"name": "image", "type": "InputLayer", "output_shape": "64×64×3", "shape": (64, 64, 3),
                             "params": 0, "trainable": 0, "formula": "0 (no weights)"}


def test_same_pooling_changes_the_dense_count():
    spec = [dict(s) for s in SEED003_Q32]
    spec[2]["padding"] = "same"  # ceil(64/2) = 32 → 32·32·128 inputs
    assert param_calculator(spec, (64, 64, 3)).row("fc")["params"] == (32 * 32 * 128 + 1) * 5


def test_formulas_and_batchnorm_split():
    spec = [
        {"kind": "conv", "filters": 32, "kernel": [3, 5], "use_bias": False},
        {"kind": "batchnorm"},
        {"kind": "global_avg"},
        {"kind": "dense", "units": 10, "use_bias": False},
    ]
    table = param_calculator(spec, (10, 12, 16))
    assert [r["name"] for r in table.rows] == ["image", "conv_1", "batchnorm_2", "global_avg_3", "dense_4"]
    assert table.row("conv_1")["formula"] == "3·5·16·32 = 7,680"
    assert table.row("conv_1")["output_shape"] == "8×8×32"  # valid: 10-3+1, 12-5+1
    assert table.row("batchnorm_2")["formula"] == "4·32 = 128 (2·32 = 64 trainable)"
    assert table.row("dense_4")["formula"] == "32·10 = 320"
    assert (table.total, table.trainable, table.non_trainable) == (7_680 + 128 + 320, 7_680 + 64 + 320, 64)


def test_branches_concat_and_add():
    spec = [
        {"kind": "conv", "name": "a", "filters": 8, "kernel": 1},
        {"kind": "conv", "name": "b", "filters": 4, "kernel": 3, "padding": "same", "inputs": ["image"]},
        {"kind": "concat", "name": "cat", "inputs": ["a", "b"]},
        {"kind": "conv", "name": "c", "filters": 12, "kernel": 1, "inputs": ["image"]},
        {"kind": "add", "name": "sum", "inputs": ["cat", "c"]},
    ]
    table = param_calculator(spec, (6, 6, 3))
    assert table.row("cat")["shape"] == (6, 6, 12)
    assert table.row("sum")["shape"] == (6, 6, 12)
    assert table.total == (3 + 1) * 8 + (27 + 1) * 4 + (3 + 1) * 12


def test_pooled_size_matches_keras_rules():
    assert [pooled_size(n, 2, 2, "valid") for n in (1, 2, 3, 7, 8)] == [0, 1, 1, 3, 4]
    assert [pooled_size(n, 3, 2, "same") for n in (1, 2, 3, 7, 8)] == [1, 1, 2, 4, 4]
    assert doctest.testmod(layerspec).failed == 0


@pytest.mark.parametrize(
    ("layers", "shape", "message"),
    [
        ([{"kind": "maxpool", "name": "p", "pool": 2}], (1, 1, 3),
         "layer 'p' (MaxPooling2D 2×2, stride 2, padding valid) would shrink its 1×1×3 input below 1×1; "
         "use a larger image or fewer pooling layers"),
        ([{"kind": "dense", "name": "fc", "units": 5}], (4, 4, 2),
         "dense layer 'fc' needs a flat input but gets 4×4×2: add a flatten (or global average) layer before it"),
        ([{"kind": "flatten", "name": "f"}, {"kind": "conv", "name": "c", "filters": 2, "kernel": 1}], (2, 2, 1),
         "layer 'c' (conv) needs an image-shaped input (height×width×channels), got 4: "
         "it cannot come after a flatten or dense layer"),
        ([{"kind": "conv", "name": "c", "filters": 0, "kernel": 3}], (8, 8, 1),
         "filters of layer 'c' must be a positive whole number, got 0"),
        ([{"kind": "conv", "name": "c", "filters": 4, "kernel": 0}], (8, 8, 1),
         "kernel of layer 'c' must be a positive whole number or two of them, got 0"),
        ([{"kind": "conv", "name": "c", "filters": 4, "kernel": 3, "padding": "full"}], (8, 8, 1),
         "padding of layer 'c' must be 'valid' or 'same', got 'full'"),
        ([{"kind": "lstm"}], (8, 8, 1),
         "layer kind must be one of conv, maxpool, avgpool, batchnorm, activation, dropout, flatten, "
         "global_avg, global_max, rescale, dense, concat, add, got 'lstm'"),
        ([{"kind": "flatten", "name": "x"}, {"kind": "dropout", "name": "x", "rate": 0.1}], (2, 2, 1),
         "layer names must be unique, got 'x' twice"),
        ([{"kind": "add", "name": "s", "inputs": ["image", "nowhere"]}], (2, 2, 1),
         "layer 's' reads 'nowhere', which is not an earlier layer"),
        ([{"kind": "conv", "name": "a", "filters": 2, "kernel": 1},
          {"kind": "add", "name": "s", "inputs": ["image", "a"]}], (2, 2, 1),
         "add layer 's' needs inputs of one shape, got 2×2×1, 2×2×2"),
        (["conv"], (2, 2, 1), "layer 1 must be a dict with a 'kind', got 'conv'"),
        ([], (0, 32, 3), "input shape must be (height, width, channels) with positive whole numbers, got (0, 32, 3)"),
        ([], (32, 32), "input shape must be (height, width, channels) with positive whole numbers, got (32, 32)"),
    ],
)
def test_calculator_errors_name_the_layer_and_value(layers, shape, message):
    with pytest.raises(InvalidArgument) as info:
        param_calculator(layers, shape)
    assert str(info.value) == message
