"""The layer-by-layer builder: counts against the seeds, hand counts and Keras, shapes, messages, round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.models.config import LAYERS, ModelConfig, encode_labels
from cnnviz.models.layerlist import ConvLayer, DenseLayer, InceptionBlock, LayerList, ResidualBlock, keras_shape
from cnnviz.models.layertemplates import SEED003_Q32, SEED004_CATS_DOGS, TEMPLATES
from cnnviz.models.network import build_model, summary_table
from cnnviz.models.presets import PRESETS
from cnnviz.training.spec import TrainSpec
from tests.support.models import AUTO_NAME, formula_value


def _config(layer_list: LayerList, **kw) -> ModelConfig:
    return ModelConfig(architecture=LAYERS, layer_list=layer_list, **kw)


# --- counts by formula ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(n for n in TEMPLATES if n in PRESETS))
def test_every_seed_network_is_a_layer_list_with_the_seed_count(name):
    template, preset = TEMPLATES[name], PRESETS[name]
    table = template.layer_list.validate(preset.input_shape, preset.num_classes)
    assert (table.total, table.trainable) == (preset.expected_params["total"], preset.expected_params["trainable"])


def test_seed003_question_32_layer_by_layer():
    table = SEED003_Q32.validate((64, 64, 3), 5)
    rows = {r["name"]: r for r in table.rows}
    assert [rows[n]["params"] for n in ("conv_1", "conv_2", "pool_2", "conv_3", "output")] == [
        448, 12_832, 0, 36_992, 615_045]
    assert table.total == 665_317 == 448 + 12_832 + 36_992 + 615_045
    assert rows["pool_2"]["output_shape"] == "31×31×32" and rows["flat"]["shape"] == (31 * 31 * 128,)
    assert rows["conv_2"]["formula"] == "(5·5·16+1)·32 = 12,832"
    assert rows["output"]["formula"] == "(123,008+1)·5 = 615,045"
    assert "4,640" in TEMPLATES["seed003_q32"].note and "309,765" in TEMPLATES["seed003_q32"].note


def test_seed004_cats_and_dogs_as_its_summary_printed_it():
    table = SEED004_CATS_DOGS.validate((200, 200, 1), 2)
    shapes = [(r["name"], r["shape"], r["params"]) for r in table.rows]
    assert shapes == [("image", (200, 200, 1), 0), ("conv_1", (198, 198, 32), 320), ("pool_1", (99, 99, 32), 0),
                      ("conv_2", (97, 97, 64), 18_496), ("pool_2", (48, 48, 64), 0), ("flat", (147_456,), 0),
                      ("fc_1", (32,), 4_718_624), ("output", (1,), 33), ("p_first_class", (1,), 0),
                      ("two_class_probs", (2,), 0)]
    assert table.total == 4_737_473


def test_presets_of_the_builder_and_vgg16():
    for name, total in (("seed003_q32", 665_317), ("seed004_cats_dogs", 4_737_473)):
        preset = PRESETS[name]
        assert preset.config.architecture == LAYERS
        assert preset.config.validate(preset.input_shape, preset.num_classes).total == total
        assert preset.expected_params["total"] == total
    for name, trainable in (("seed004_vgg16_unfrozen", 14_715_714), ("seed004_vgg16_frozen", 1_026)):
        preset = PRESETS[name]
        table = preset.config.validate(preset.input_shape, preset.num_classes)
        assert (table.total, table.trainable) == (14_715_726, trainable)
        assert table.row("vgg16_backbone")["shape"] == (6, 6, 512)  # 200 halved five times, rounding down


def test_any_input_size_and_the_batch_axis():
    layers = LayerList((ConvLayer(filters=16, pooling="max"), ConvLayer(filters=32, pooling="max"),
                        DenseLayer(units=50)))
    for side, channels in ((32, 3), (28, 1), (224, 3), (9, 1)):
        table = layers.validate((side, side, channels), 10)
        flat = (side // 2 // 2) ** 2 * 32
        assert table.row("flat")["shape"] == (flat,)
        assert table.row("fc_1")["params"] == (flat + 1) * 50
        assert table.row("conv_1")["params"] == (9 * channels + 1) * 16
    assert keras_shape((32, 32, 16)) == "(None, 32, 32, 16)" and keras_shape((10,)) == "(None, 10)"


def test_batch_norm_positions_dropout_and_decay_become_named_layers():
    layers = LayerList((
        ConvLayer(filters=8, batch_norm="before_activation", pooling="avg", dropout=0.1, l2=1e-4),
        ConvLayer(filters=8, batch_norm="after_activation", pooling="max", pool_size=3, pool_stride=1),
        ConvLayer(filters=8, batch_norm="after_pooling", pooling="max"),
        DenseLayer(units=20, batch_norm="before_activation", dropout=0.5, l1=1e-5),
    ), flatten_dropout=0.2)
    names = [(s["name"], s["kind"]) for s in layers.specs(10)]
    assert names == [
        ("conv_1", "conv"), ("bn_1", "batchnorm"), ("act_1", "activation"), ("pool_1", "avgpool"),
        ("drop_1", "dropout"), ("conv_2", "conv"), ("bn_2", "batchnorm"), ("pool_2", "maxpool"),
        ("conv_3", "conv"), ("pool_3", "maxpool"), ("bn_3", "batchnorm"), ("flat", "flatten"),
        ("flat_drop", "dropout"), ("fc_1", "dense"), ("fc_bn_1", "batchnorm"), ("fc_act_1", "activation"),
        ("fc_drop_1", "dropout"), ("output", "dense")]
    specs = {s["name"]: s for s in layers.specs(10)}
    assert specs["conv_1"]["activation"] is None and specs["conv_2"]["activation"] == "relu"
    assert specs["conv_1"]["l2"] == 1e-4 and "l1" not in specs["conv_1"] and specs["fc_1"]["l1"] == 1e-5
    # 16×16 → 8×8 after pool_1; then a 3×3 window with stride 1
    assert layers.validate((16, 16, 3), 10).row("pool_2")["shape"] == (6, 6, 8)
    gap = layers.specs(10, head="global_avg")
    assert [s["name"] for s in gap if s["kind"] == "global_avg"] == ["global_avg"]


def test_inception_and_residual_blocks():
    layers = LayerList((ConvLayer(filters=32, kernel=5), InceptionBlock(), ResidualBlock(filters=64, projection=False),
                        ResidualBlock(filters=16)))
    table = layers.validate((16, 16, 3), 10)
    assert table.row("inception_1_concat")["shape"] == (16, 16, 16 + 32 + 8 + 8)
    assert table.row("inception_1_5x5")["params"] == (5 * 5 * 4 + 1) * 8
    assert table.row("residual_1_add")["shape"] == (16, 16, 64)  # identity skip: 64 channels in and out
    assert "residual_1_shortcut" not in [r["name"] for r in table.rows]
    assert table.row("residual_2_shortcut")["params"] == (64 + 1) * 16
    assert table.row("residual_2_relu")["shape"] == (16, 16, 16)
    spec = {s["name"]: s for s in layers.specs(10)}
    assert spec["residual_1_conv_1"]["inputs"] == ["inception_1_concat"]
    assert spec["residual_2_add"]["inputs"] == ["residual_2_conv_2", "residual_2_shortcut"]
    with pytest.raises(InvalidArgument, match=r"layer 2 of the list \(residual\) cannot take its 8×8×32 input: add "
                                              r"layer 'residual_1_add' needs inputs of one shape, got 8×8×64, 8×8×32"):
        LayerList((ConvLayer(filters=32), ResidualBlock(projection=False))).validate((8, 8, 3), 10)
    with pytest.raises(InvalidArgument, match=r"layer 2 \(inception\) comes after dense layer 1"):
        LayerList((DenseLayer(), InceptionBlock())).validate((8, 8, 3), 10)
    with pytest.raises(InvalidArgument, match=r"layer 1 \(inception\): b5 must be a whole number from 1 to 1024, "
                                              r"got 0"):
        LayerList((InceptionBlock(b5=0),)).validate((8, 8, 3), 10)
    assert LayerList.from_dict(json.loads(json.dumps(layers.to_dict()))) == layers


# --- messages --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("layers", "shape", "classes", "message"), [
    (LayerList((ConvLayer(pooling="max"),) * 4), (8, 8, 1), 10,
     "layer 4 of the list (conv) cannot take its 1×1×16 input: layer 'pool_4' (MaxPooling2D 2×2, stride 2, "
     "padding valid) would shrink its 1×1×16 input below 1×1"),
    (LayerList((ConvLayer(kernel=5, padding="valid"),)), (3, 3, 3), 10,
     "layer 1 of the list (conv) cannot take its 3×3×3 input: layer 'conv_1' (Conv2D 5×5, stride 1"),
    (LayerList((DenseLayer(), ConvLayer())), (8, 8, 3), 10,
     "layer 2 (conv) comes after dense layer 1: a convolution needs an image"),
    (LayerList((ConvLayer(kernel=13),)), (8, 8, 3), 10,
     "layer 1 (conv): kernel must be a whole number from 1 to 11, got 13"),
    (LayerList((ConvLayer(batch_norm="middle"),)), (8, 8, 3), 10,
     "layer 1 (conv): batch norm must be one of none, before_activation, after_activation, after_pooling; "
     "got 'middle'"),
    (LayerList((DenseLayer(batch_norm="after_pooling"),)), (8, 8, 3), 10,
     "layer 1 (dense): batch norm must be one of none, before_activation, after_activation; got 'after_pooling'"),
    (LayerList((ConvLayer(batch_norm="after_pooling"),)), (8, 8, 3), 10,
     "layer 1 (conv): batch norm after the pooling needs pooling, got pooling='none'"),
    (LayerList((DenseLayer(dropout=1.0),)), (8, 8, 3), 10,
     "layer 1 (dense): dropout must be at least 0 and below 1, got 1.0"),
    (LayerList((DenseLayer(l2=-1.0),)), (8, 8, 3), 10,
     "layer 1 (dense): L2 regularisation must be from 0 to 1, got -1.0"),
    (LayerList(output="sigmoid"), (8, 8, 3), 10, "one sigmoid output tells two classes apart; these data have 10"),
    (LayerList(), (225, 225, 3), 10, "sides from 1 to 224 and 1 (grey) or 3 (colour) channels, got (225, 225, 3)"),
    (LayerList(), (32, 32, 4), 10, "got (32, 32, 4)"),
    (LayerList(output="tanh"), (8, 8, 3), 10, "output must be one of softmax, sigmoid; got 'tanh'"),
])
def test_messages_repeat_what_was_received(layers, shape, classes, message):
    with pytest.raises(InvalidArgument) as err:
        layers.validate(shape, classes)
    assert message in str(err.value)


def test_global_average_head_needs_a_conv_layer_and_a_list():
    with pytest.raises(InvalidArgument, match="head 'global_avg' needs at least one conv layer, got none"):
        _config(LayerList((DenseLayer(),)), head="global_avg").validate((8, 8, 3), 10)
    with pytest.raises(InvalidArgument, match="architecture 'layers' needs a layer list, got layer_list=None"):
        ModelConfig(architecture=LAYERS).validate((8, 8, 3), 10)


# --- the file boundary -----------------------------------------------------------------------------------------
def test_round_trip_through_json_and_a_train_spec():
    config = _config(SEED004_CATS_DOGS, optimizer="rmsprop")
    data = json.loads(json.dumps(config.to_dict()))
    assert data["layer_list"]["layers"][0]["kind"] == "conv" and data["layer_list"]["output"] == "sigmoid"
    assert ModelConfig.from_dict(data) == config
    spec = TrainSpec(model=config, dataset="cats_vs_dogs")
    again = TrainSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and isinstance(again.model.layer_list.layers[2], DenseLayer)
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()  # other networks: layer_list None


@pytest.mark.parametrize(("data", "message"), [
    ({"layers": [{"kind": "pool"}]},
     "layer 1 must be a dict with kind 'conv', 'dense', 'inception', 'residual', got {'kind': 'pool'}"),
    ({"layers": [{"kind": "conv", "size": 3}]}, "layer 1 (conv) has unknown setting(s) 'size'"),
    ({"layers": "conv"}, "the layers of a layer list must be a list, got 'conv'"),
    ({"head": "flatten"}, "unknown layer-list setting(s) 'head'"),
])
def test_from_dict_refuses_what_it_cannot_read(data, message):
    with pytest.raises(InvalidArgument) as err:
        LayerList.from_dict(data)
    assert message in str(err.value)


# --- Keras ------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_keras_counts_equal_the_formulas(name):
    template = TEMPLATES[name]
    config = _config(template.layer_list)
    model = build_model(config, input_shape=template.input_shape, num_classes=template.num_classes)
    expected = config.validate(template.input_shape, template.num_classes)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert (model.count_params(), trainable) == (expected.total, expected.trainable)
    table = summary_table(model)
    for row in table.rows:
        assert not AUTO_NAME.match(row["name"]), row["name"]
        ref = expected.row(row["name"])
        assert (row["shape"], row["params"]) == (ref["shape"], ref["params"]), row
        assert formula_value(row["formula"]) == row["params"]


@pytest.mark.slow
def test_sigmoid_output_trains_as_two_probabilities_and_reloads(tmp_path):
    import keras

    layers = LayerList((ConvLayer(filters=4, padding="valid", pooling="max", l2=1e-3),
                        DenseLayer(units=8, batch_norm="before_activation", l1=1e-4)), output="sigmoid")
    config = _config(layers, learning_rate=0.01)
    model = build_model(config, input_shape=(12, 12, 1), num_classes=2)
    assert model.get_layer("output").units == 1 and model.output_shape == (None, 2)
    assert model.get_layer("conv_1").kernel_regularizer.l2 == pytest.approx(1e-3)
    x = np.random.default_rng(0).random((4, 12, 12, 1), dtype=np.float32)
    y = encode_labels(config, np.array([0, 1, 1, 0]), 2)
    assert np.isfinite(model.train_on_batch(x, y)).all()
    probs = np.asarray(model(x))
    p_dog = np.asarray(keras.Model(model.input, model.get_layer("output").output)(x))[:, 0]
    np.testing.assert_allclose(probs[:, 1], p_dog, rtol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), probs, rtol=1e-5, atol=1e-6)


def test_a_run_config_with_a_layer_list_is_checked_when_read():
    from cnnviz.runs import schema

    spec = TrainSpec(model=_config(SEED004_CATS_DOGS), dataset="cats_vs_dogs")
    config = json.loads(json.dumps(spec.to_dict())) | {
        "input_shape": [200, 200, 1], "num_classes": 2,
        "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]}}
    assert schema.check_config(config) == spec
    config["model"]["layer_list"]["layers"][0]["kernel"] = "big"
    with pytest.raises(schema.RunDamaged, match=r"impossible setting: layer 1 \(conv\): kernel must be a whole "
                                                r"number from 1 to 11, got 'big'"):
        schema.check_config(config)


def test_every_seed_preset_has_a_template():
    seeds = {n for n, p in PRESETS.items() if p.family == "seed" and p.config.architecture != "transfer"}
    # seed002_cnn_augmented is seed002_cnn's network trained on augmented images
    assert seeds - {"seed002_cnn_augmented"} == set(TEMPLATES)
    assert PRESETS["seed002_cnn_augmented"].config == PRESETS["seed002_cnn"].config
    assert len(TEMPLATES) == 19  # the 17 CIFAR-10 networks, seed 003's Q3.2 and seed 004's cats vs dogs
