"""ModelConfig: its checks (exact messages, refused before any TensorFlow), options, round trip, label
encoding and the label-smoothing target."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.models import architectures
from cnnviz.models.config import encode_labels, min_input_side, ModelConfig
from cnnviz.models.network import build_model
from tests.conftest import REPO


CIFAR = (32, 32, 3)


@pytest.mark.parametrize(
    ("changes", "shape", "classes", "message"),
    [
        ({"filters": 0}, CIFAR, 10, "filters must be a whole number from 1 to 512, got 0"),
        ({"conv_layers": 9}, CIFAR, 10, "conv layers must be a whole number from 0 to 8, got 9"),
        ({"conv_layers": True}, CIFAR, 10, "conv layers must be a whole number from 0 to 8, got True"),
        ({"kernel_size": 2.0}, CIFAR, 10, "kernel size must be a whole number from 1 to 7, got 2.0"),
        ({"dense_units": 0}, CIFAR, 10, "dense nodes must be a whole number from 1 to 4096, got 0"),
        ({"learning_rate": 0}, CIFAR, 10, "learning rate must be above 0 and at most 1, got 0"),
        ({"learning_rate": -0.01}, CIFAR, 10, "learning rate must be above 0 and at most 1, got -0.01"),
        ({"learning_rate": float("nan")}, CIFAR, 10, "learning rate must be above 0 and at most 1, got nan"),
        ({"dropout": 1.0}, CIFAR, 10, "dropout must be at least 0 and below 1, got 1.0"),
        ({"conv_dropout": -0.1}, CIFAR, 10, "conv dropout must be at least 0 and below 1, got -0.1"),
        ({"optimizer": "adagrad"}, CIFAR, 10, "optimizer must be one of adam, sgd_nesterov, rmsprop; got 'adagrad'"),
        ({"activation": "softsign"}, CIFAR, 10,
         "activation must be one of relu, elu, gelu, leaky_relu, selu, sigmoid, swish, tanh; got 'softsign'"),
        ({"loss": "hinge"}, CIFAR, 10, "loss must be one of categorical_crossentropy, "
         "sparse_categorical_crossentropy, mean_squared_error; got 'hinge'"),
        ({"architecture": "vgg16"}, CIFAR, 10, "architecture must be one of " + ", ".join(
            ("custom", *architectures.FIXED, "transfer", "layers")) + "; got 'vgg16'"),
        ({"batch_norm": "yes"}, CIFAR, 10, "batch norm must be true or false, got 'yes'"),
        ({"loss": "sparse_categorical_crossentropy", "label_smoothing": 0.1}, CIFAR, 10,
         "label smoothing works only with categorical_crossentropy, got loss='sparse_categorical_crossentropy' "
         "with label smoothing 0.1"),
        ({"conv_layers": 5}, (8, 8, 1), 10,
         "conv layers: each conv layer halves the image with 2×2 pooling, so a 8×8×1 image fits at most 3 "
         "before it is smaller than 1×1, got conv layers = 5"),
        ({"head": "global_avg", "conv_layers": 0}, CIFAR, 10,
         "head 'global_avg' needs at least one conv layer, got conv layers = 0"),
        ({"architecture": "seed001_mlp", "head": "global_avg"}, CIFAR, 10,
         "head 'global_avg' needs convolution layers and seed001_mlp has none, got head='global_avg'"),
        ({"architecture": "seed002_alexnet"}, (8, 8, 1), 10,
         "Seed 002 AlexNet-style CNN does not fit a 8×8×1 image: layer 'POOL2' (MaxPooling2D 3×3, stride 2, "
         "padding valid) would shrink its 2×2×256 input below 1×1; use a larger image or fewer pooling layers"),
        # 28·512 + 4·512 + (32·32·512+1)·4096 + 4·4096 + 4097·10 = 2,147,561,482
        ({"conv_layers": 1, "filters": 512, "pooling": "none", "dense_layers": 1, "dense_units": 4096}, CIFAR, 10,
         "this network would have 2,147,561,482 parameters, more than this server's limit of 30,000,000: "
         "use fewer filters or dense nodes, or more pooling, got 2,147,561,482"),
        ({}, CIFAR, 1, "number of classes must be a whole number from 2 to 1000, got 1"),
        ({}, (32, 32, 0), 10,
         "input shape must be (height, width, channels) with positive whole numbers, got (32, 32, 0)"),
    ],
)
def test_validation_messages(changes, shape, classes, message):
    config = ModelConfig(**changes)
    with pytest.raises(InvalidArgument) as info:
        config.validate(shape, classes)
    assert str(info.value) == message
    with pytest.raises(InvalidArgument):  # build_model refuses it the same way
        build_model(config, input_shape=shape, num_classes=classes)


def test_validation_and_refusals_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "from cnnviz.models.network import ModelConfig, build_model\n"
        "from cnnviz.models.presets import PRESETS, presets_table\n"
        "from cnnviz.errors import InvalidArgument\n"
        "ModelConfig().validate((32, 32, 3), 10); presets_table()\n"
        "try:\n"
        "    build_model(ModelConfig(filters=0), input_shape=(32, 32, 3), num_classes=10)\n"
        "except InvalidArgument:\n"
        "    pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


def test_filter_growth_options():
    def filters(growth):
        return architectures.conv_filters(ModelConfig(conv_layers=4, filters=8, filter_growth=growth))

    assert filters("double_once") == [8, 16, 16, 16]  # seed 000's code
    assert filters("double_each") == [8, 16, 32, 64]  # seed 000's text
    assert filters("constant") == [8, 8, 8, 8]


def test_custom_layer_order_follows_build_cnn():
    config = ModelConfig(conv_layers=2, dense_layers=1, dropout=0.5, conv_dropout=0.1, pooling="avg")
    kinds = [(s["name"], s["kind"]) for s in config.layers(10)]
    assert kinds == [
        ("conv_1", "conv"), ("bn_1", "batchnorm"), ("pool_1", "avgpool"), ("conv_dropout_1", "dropout"),
        ("conv_2", "conv"), ("bn_2", "batchnorm"), ("pool_2", "avgpool"), ("conv_dropout_2", "dropout"),
        ("flat", "flatten"), ("fc_1", "dense"), ("fc_bn_1", "batchnorm"), ("drop_1", "dropout"),
        ("output", "dense"),
    ]
    plain = [s["kind"] for s in ModelConfig(batch_norm=False, pooling="none").layers(10)]
    assert plain == ["conv", "conv", "flatten", "dense"]


def test_to_dict_from_dict_round_trip_through_json():
    config = ModelConfig(architecture="custom", conv_layers=3, filter_growth="double_each", head="global_avg",
                         optimizer="rmsprop", learning_rate=0.002, label_smoothing=0.1, dropout=0.25)
    data = json.loads(json.dumps(config.to_dict()))
    assert ModelConfig.from_dict(data) == config
    assert ModelConfig.from_dict({}) == ModelConfig()  # older runs: missing keys take defaults
    with pytest.raises(InvalidArgument) as info:
        ModelConfig.from_dict({"filters": 8, "nodes": 3})
    assert str(info.value) == "unknown model setting(s) 'nodes'"


def test_min_input_side():
    assert min_input_side(ModelConfig()) == 4  # two 2×2 poolings
    # AlexNet: POOL5 (3×3/2) needs 3×3, so POOL2 needs 7×7, POOL_1 14×14, the stride-2 CONV_1 27×27.
    assert min_input_side(ModelConfig(architecture="seed002_alexnet")) == 27


def test_encode_labels():
    y = np.array([2, 0, 1])
    assert encode_labels(ModelConfig(), y, 3).tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert encode_labels(ModelConfig(loss="sparse_categorical_crossentropy"), y, 3).tolist() == [2, 0, 1]
    with pytest.raises(InvalidArgument) as info:
        encode_labels(ModelConfig(), np.array([0, 3]), 3)
    assert str(info.value) == "labels must be from 0 to 2, got 0..3"


def test_smoothed_target_matches_the_keras_loss_minimum():
    import keras

    from cnnviz.models.config import smoothed_target

    assert smoothed_target(0.2, 10) == pytest.approx(0.82)
    assert smoothed_target(0.0, 3) == 1.0
    # Label-smoothed cross-entropy is lowest when the network gives the true class exactly that much.
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.2)
    y = np.eye(10, dtype="float32")[[3]]

    def loss_when_true_class_gets(p: float) -> float:
        probs = np.full((1, 10), (1 - p) / 9, dtype="float32")
        probs[0, 3] = p
        return float(loss(y, probs))

    best = smoothed_target(0.2, 10)
    assert loss_when_true_class_gets(best) < min(loss_when_true_class_gets(best - 0.05),
                                                 loss_when_true_class_gets(best + 0.05))
    for args, message in (((1.0, 10), "label smoothing must be at least 0 and below 1, got 1.0"),
                          ((0.1, 1), "number of classes must be a whole number of at least 2, got 1")):
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            smoothed_target(*args)


def test_airbench_options_round_trip_and_are_checked():
    config = ModelConfig(architecture="fast_w16", dirac_init=True, bn_scale=False, bn_bias_lr=64.0, lookahead=True)
    assert ModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    defaults = ModelConfig.from_dict({})  # runs saved before these options: Keras' plain behaviour
    assert (defaults.dirac_init, defaults.bn_scale, defaults.bn_bias_lr, defaults.lookahead) == (False, True, 1.0, False)
    table = config.validate((32, 32, 3), 10)
    assert table.row("group1_bn_1")["formula"] == "3·16 = 48 (1·16 = 16 trainable)"  # β and the statistics, no γ
    for changes, message in (({"bn_bias_lr": 0}, "factor must be above 0 and at most 1000.0, got 0"),
                             ({"bn_bias_lr": "64"}, "got '64'"), ({"lookahead": 1}, "lookahead must be true or false, got 1"),
                             ({"dirac_init": "yes"}, "dirac init must be true or false, got 'yes'"),
                             ({"bn_scale": None}, "bn scale must be true or false, got None")):
        with pytest.raises(InvalidArgument, match=message):
            config.replace(**changes).validate((32, 32, 3), 10)
