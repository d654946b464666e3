"""Every seed preset rebuilt with Keras: the seeds' parameter counts, formulas, names, set-ups, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cnnviz import cli
from cnnviz.data import stored
from cnnviz.errors import InvalidArgument
from cnnviz.models import architectures
from cnnviz.models.config import encode_labels, ModelConfig
from cnnviz.models.layerspec import param_calculator
from cnnviz.models.network import build_model, summary_table
from cnnviz.models.presets import Preset, PRESETS, presets_table
from tests.support.models import AB93_TOTAL, AB93_TRAINABLE, AUTO_NAME, COUNTS, FAST, formula_value


# Total / trainable parameters as each seed's model.summary() printed them (32×32×3, 10 classes).
SEED_COUNTS = {
    "seed000_model1": (25_770, 25_674),
    "seed000_model2": (108_440, 108_244),
    "seed000_model3": (31_192, 30_868),
    "seed000_model4": (31_192, 30_868),
    "seed001_mlp": (1_707_274, 1_707_274),
    "seed001_cnn": (714_202, 714_202),
    "seed001_cnn_dropout": (714_202, 714_202),
    "seed001_cnn_batchnorm": (715_930, 715_066),
    "seed001_best": (1_856_650, 1_855_242),
    "seed002_mlp": (3_590_642, 3_590_642),
    "seed002_cnn": (528_054, 528_054),
    "seed002_cnn_augmented": (528_054, 528_054),
    "seed002_alexnet": (21_592_330, 21_591_114),
    "seed003_mlp": (563_082, 563_082),
    "seed003_cnn": (1_341_226, 1_341_226),
    "seed004_base": (1_442_954, 1_442_698),
    # The seed prints no table for these two (cnnviz's design, see architectures.py):
    # inception: base - conv_2 (18,496) - conv_3 (36,928) + blocks of 9,468 and 11,132;
    # residual: base + the 1×1 shortcut (1·1·32+1)·64 = 2,112.
    "seed004_inception": (1_408_130, 1_407_874),
    "seed004_residual": (1_445_066, 1_444_810),
    # Built layer by layer (issue 16): seed 003 Q3.2 by hand (64×64×3, 5 classes), seed 004's cats-vs-dogs
    # summary (200×200×1, one sigmoid), VGG16's no-top base (14,714,688) + preprocessing (12, frozen) + head 1,026.
    "seed003_q32": (665_317, 665_317),
    "seed004_cats_dogs": (4_737_473, 4_737_473),
    "seed004_vgg16_unfrozen": (14_715_726, 14_715_714),
    "seed004_vgg16_frozen": (14_715_726, 1_026),
}
#: The presets trained on something other than CIFAR-10 32×32×3 with 10 classes.
OTHER_INPUTS = {"seed003_q32": ((64, 64, 3), 5), "seed004_cats_dogs": ((200, 200, 1), 2),
                "seed004_vgg16_unfrozen": ((200, 200, 1), 2), "seed004_vgg16_frozen": ((200, 200, 1), 2)}
SEED_ACCURACY = {
    "seed000_model1": 0.5290, "seed000_model2": 0.5435, "seed000_model3": 0.5030, "seed000_model4": 0.5505,
    "seed001_mlp": 0.485, "seed001_cnn": 0.663, "seed001_cnn_dropout": 0.653, "seed001_cnn_batchnorm": 0.701,
    "seed001_best": 0.758, "seed002_mlp": 0.4422, "seed002_cnn": 0.6707, "seed002_cnn_augmented": 0.7479,
    "seed002_alexnet": 0.7684, "seed003_mlp": None, "seed003_cnn": None, "seed004_base": 0.7364,
    "seed004_inception": 0.7364, "seed004_residual": 0.7480, "seed003_q32": None, "seed004_cats_dogs": None,
    "seed004_vgg16_unfrozen": None, "seed004_vgg16_frozen": None,
}


@pytest.fixture(scope="module")
def built() -> dict:
    """Each preset built once (AlexNet-style included: building 21.6M weights takes well under a second);
    VGG16 from random weights (the same count, no download in tests)."""
    return {name: build_model(p.config.replace(weights="none") if p.config.architecture == "transfer" else p.config,
                              input_shape=p.input_shape, num_classes=p.num_classes)
            for name, p in PRESETS.items()}


def test_preset_list_and_records():
    assert {n for n, p in PRESETS.items() if p.family == "seed"} == set(SEED_COUNTS)
    for name, preset in PRESETS.items():
        if preset.family != "seed":
            continue  # the fast presets are tested in test_fast.py
        assert isinstance(preset, Preset) and preset.name == name
        assert (preset.expected_params["total"], preset.expected_params["trainable"]) == SEED_COUNTS[name]
        assert preset.seed_test_accuracy == SEED_ACCURACY[name]
        assert preset.seed_source.startswith(f"seed {name[4:7]} ")
        assert (preset.input_shape, preset.num_classes) == OTHER_INPUTS.get(name, ((32, 32, 3), 10))
        training = preset.training
        # seed 004's photos: the name importing a zip as 'cats_vs_dogs' on the Datasets page gives them
        assert training["dataset"] == ("folder:cats_vs_dogs" if name.startswith("seed004_") and name in OTHER_INPUTS
                                       else "cifar10")
        stored.check_name(training["dataset"])  # a dataset this machine can have
        assert training["scaling"] in ("unit", "symmetric")
        assert training["epochs"] >= 1 and training["batch_size"] >= 1 and 0 < training["validation_fraction"] < 1
        assert training["train_size"] + training["test_size"] <= 60_000
        assert json.loads(json.dumps(preset.to_dict()))["config"] == preset.config.to_dict()
    s000 = PRESETS["seed000_model1"].training
    assert (s000["train_size"], s000["test_size"], s000["validation_fraction"], s000["scaling"],
            s000["batch_size"]) == (10_000, 2_000, 0.25, "symmetric", 100)
    assert PRESETS["seed002_alexnet"].training["augment"] == {"translate": 0.1, "flip": "horizontal"}
    assert PRESETS["seed002_cnn"].training["keep_best_weights"] is True


@pytest.mark.parametrize("name", sorted(SEED_COUNTS))
def test_the_notes_give_the_set_up_the_preset_trains_with(name):
    """"How the notebook trained it" (the Build & train page) names the optimiser's learning rate, epochs and
    batch size: those the preset trains with, not another preset's."""
    preset = PRESETS[name]
    notes = preset.training["notes"]
    rates = re.findall(r"(?:Adam|SGD)\s*\(?(?:default learning rate |learning rate |lr=)?(\d[\d.e-]*\d)", notes)
    assert all(float(rate) == preset.config.learning_rate for rate in rates), (notes, preset.config.learning_rate)
    for epochs, batch in re.findall(r"(\d+) epochs of batch (\d+)", notes):
        assert (int(epochs), int(batch)) == (preset.training["epochs"], preset.training["batch_size"]), notes


@pytest.mark.parametrize("name", sorted(SEED_COUNTS))
def test_formula_counts_equal_the_seed_without_tensorflow(name):
    preset = PRESETS[name]
    table = preset.config.validate(preset.input_shape, preset.num_classes)
    assert (table.total, table.trainable) == SEED_COUNTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SEED_COUNTS))
def test_keras_counts_formulas_and_names(name, built):
    preset, model = PRESETS[name], built[name]
    trainable = sum(int(v.numpy().size) for v in model.trainable_weights)
    assert (model.count_params(), trainable) == SEED_COUNTS[name]
    table = summary_table(model)
    expected = preset.config.validate(preset.input_shape, preset.num_classes)
    assert (table.total, table.trainable, table.non_trainable) == (
        expected.total, expected.trainable, expected.non_trainable)
    if preset.config.architecture == "transfer":  # a Keras backbone: names, shapes and counts per row
        assert [(r["name"], r["shape"], r["params"], r["trainable"]) for r in table.rows] == [
            (r["name"], r["shape"], r["params"], r["trainable"]) for r in expected.rows]
        return
    spec_names = ["image"] + [s["name"] for s in preset.config.layers(preset.num_classes)]
    assert sorted(r["name"] for r in table.rows) == sorted(spec_names)
    for row in table.rows:
        assert not AUTO_NAME.match(row["name"]), row["name"]
        assert formula_value(row["formula"]) == row["params"], row
        assert row["params"] == model.get_layer(row["name"]).count_params()
        ref = expected.row(row["name"])
        assert (row["type"], row["shape"], row["params"], row["formula"]) == (
            ref["type"], ref["shape"], ref["params"], ref["formula"])


@pytest.mark.slow
def test_seed_details_survive_into_keras(built):
    bn = built["seed001_cnn_batchnorm"]
    assert [bn.get_layer(n).momentum for n in ("bn_1", "bn_2", "fc_bn_1")] == [0.75, 0.75, 0.75]
    assert bn.get_layer("conv_1").activation.__name__ == "linear"  # relu comes after batch norm
    assert bn.get_layer("relu_1").activation.__name__ == "relu"
    assert [built["seed001_best"].get_layer(n).rate for n in ("drop_1", "drop_2", "drop_3")] == [0.25, 0.3, 0.5]
    assert built["seed000_model4"].get_layer("drop_1").rate == 0.5
    alex = built["seed002_alexnet"]
    assert alex.get_layer("CONV_1").strides == (2, 2) and alex.get_layer("POOL2").pool_size == (3, 3)
    assert alex.get_layer("POOL5").output.shape[1:] == (1, 1, 256)
    assert summary_table(built["seed000_model1"]).row("conv_2")["formula"] == "(3·3·16+1)·32 = 4,640"
    assert summary_table(alex).row("FC3")["formula"] == "(4,096+1)·10 = 40,970"
    assert summary_table(alex).row("NORM_1")["formula"] == "4·96 = 384 (2·96 = 192 trainable)"
    sgd = built["seed001_best"].optimizer
    assert sgd.nesterov and float(sgd._learning_rate(0)) == pytest.approx(0.04)


@pytest.mark.slow
def test_global_average_variant_of_a_preset():
    config = PRESETS["seed004_residual"].config.replace(head="global_avg")
    model = build_model(config, input_shape=(32, 32, 3), num_classes=10)
    table = summary_table(model, input_shape=(48, 48, 3))
    assert table.row("global_avg")["output_shape"] == "128"
    assert table.row("output")["params"] == (128 + 1) * 10
    assert table.row("residual_add")["output_shape"] == "48×48×64"


def test_presets_table_and_cli(capsys):
    rows = {r["name"]: r for r in presets_table()}
    assert (rows["seed002_alexnet"]["total"], rows["seed002_alexnet"]["trainable"]) == (21_592_330, 21_591_114)
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("seed002_alexnet "))
    assert line.split()[:6] == ["seed002_alexnet", "21,592,330", "21,591,114", "32×32×3,", "10", "76.84%"]
    line = next(l for l in out.splitlines() if l.startswith("seed003_cnn "))
    assert line.split()[:6] == ["seed003_cnn", "1,341,226", "1,341,226", "32×32×3,", "10", "-"]
    # every seed network, the layer-by-layer ones and VGG16 transfer included, with its own input
    for name, counts in SEED_COUNTS.items():
        line = next(l for l in out.splitlines() if l.startswith(f"{name} "))
        shape, classes = OTHER_INPUTS.get(name, ((32, 32, 3), 10))
        assert line.split()[:5] == [name, f"{counts[0]:,}", f"{counts[1]:,}", "×".join(map(str, shape)) + ",",
                                    str(classes)]
    assert cli.main(["presets", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == list(PRESETS)
    assert data[0]["seed_test_accuracy"] == 0.529 and data[0]["total"] == 25_770


def test_preset_config_is_a_model_config():
    config = PRESETS["seed000_model2"].config
    assert isinstance(config, ModelConfig) and config.dense_layers == 1
    assert ModelConfig.from_dict(config.to_dict()) == config


@pytest.mark.slow
def test_trained_model_saves_and_reloads_in_safe_mode(tmp_path):
    """Runs are stored as .keras and loaded with safe_mode=True: a functional model with an
    add layer and seed 001's learning-rate decay schedule must come back without custom
    objects. (One training step first: Keras 3.15 refuses to load a model saved with an
    optimizer that has never been built, i.e. never trained.)"""
    import keras
    import numpy as np

    name = "seed004_residual"
    config = PRESETS[name].config.replace(optimizer="sgd_nesterov", lr_decay=1e-6,
                                          loss="sparse_categorical_crossentropy")
    model = build_model(config, input_shape=(16, 16, 3), num_classes=10)
    x = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
    loss = model.train_on_batch(x, encode_labels(config, np.array([1, 2]), 10))
    assert np.isfinite(loss).all()
    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    assert [layer.name for layer in again.layers] == [layer.name for layer in model.layers]
    assert again.optimizer.get_config()["learning_rate"] == model.optimizer.get_config()["learning_rate"]


# --- the fast presets: records and architecture ---------------------------------------------------------------
def test_fast_preset_records():
    assert [n for n, p in PRESETS.items() if p.family == "fast"] == list(FAST)
    for name in FAST:
        preset = PRESETS[name]
        t = preset.training
        assert preset.config.architecture in ("fast_w16", "fast_w32", "fast_airbench93", "fast_airbench94")
        assert preset.input_shape == (32, 32, 3)
        assert (t["dataset"], t["train_size"], t["test_size"], t["validation_fraction"]) == ("cifar10", None, None, 0.0)
        assert (t["scaling"], t["augment"]) == ("standardize", {"flip": "horizontal", "crop": 2, "alternate_flip": True})
        assert t["prepadded"] is True
        assert t["tta"] == ("flip" if name in ("fast_1min", "fast_3min") else "flip_translate")
        c = preset.config
        assert (c.optimizer, c.momentum, c.lr_schedule, c.label_smoothing) == ("sgd_nesterov", 0.85, "one_cycle", 0.2)
        # airbench's tricks (issue 19)
        assert (c.dirac_init, c.bn_scale, c.bn_bias_lr, c.lookahead) == (True, False, 64.0, True)
        assert (preset.expected_params["total"], preset.expected_params["trainable"]) == COUNTS[name]
        assert preset.seed_test_accuracy is None
        assert set(preset.expected) == {"test_accuracy", "seconds", "machine", "measured"}
    # what the benchmark measured (benchmarks/README.md): more time, more accuracy
    expected = [(PRESETS[n].expected["test_accuracy"], PRESETS[n].expected["seconds"]) for n in FAST]
    assert expected == sorted(expected) and expected[0] >= (0.60, 0) and expected[1][0] >= 0.75
    same_net = FAST[:3]  # the width-16/32 presets: more epochs for more time (the airbench ones are wider)
    assert [PRESETS[n].training["epochs"] for n in same_net] == sorted(PRESETS[n].training["epochs"] for n in same_net)
    assert PRESETS["fast_10min"].config.precision == "mixed_bfloat16"
    assert PRESETS["fast_10min"].expected["test_accuracy"] >= 0.85 and PRESETS["fast_10min"].expected["seconds"] <= 600
    # the 15-minute preset is the 10-minute one trained longer; the 45-minute one airbench94's wider network
    assert PRESETS["fast_15min"].config == PRESETS["fast_10min"].config
    assert PRESETS["fast_15min"].training["epochs"] > PRESETS["fast_10min"].training["epochs"]
    assert PRESETS["fast_45min"].config.architecture == "fast_airbench94"
    assert all("(seeds 0 and 1, " in PRESETS[n].expected["measured"] for n in FAST)  # figures from two runs each
    assert {PRESETS[n].training["batch_size"] for n in FAST} == {128}


def test_airbench93_architecture_keeps_its_widths():
    """airbench93's network is no preset's any more, but stays a choice of Build & train's architectures."""
    cfg = PRESETS["fast_10min"].config.replace(architecture="fast_airbench93")
    table = cfg.validate((32, 32, 3), 10)
    assert (table.total, table.trainable) == (AB93_TOTAL, AB93_TRAINABLE)
    assert [table.row(f"group{g}_conv_2")["shape"][-1] for g in (1, 2, 3)] == [64, 128, 128]


@pytest.mark.parametrize("name", FAST)
def test_fast_counts_by_formula(name):
    preset = PRESETS[name]
    table = preset.config.validate(preset.input_shape, preset.num_classes)
    assert (table.total, table.trainable) == COUNTS[name]
    assert table.row("whiten")["trainable"] == 0 and table.row("whiten")["formula"].endswith("(frozen: not trained)")
    last = {"fast_10min": 128, "fast_15min": 128, "fast_45min": 256}.get(name, 64)
    assert table.row("global_max")["output_shape"] == str(last)
    assert table.row("logit_scale")["type"] == "Rescaling" and table.row("output")["output_shape"] == "10"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fast_1min", "fast_10min"])
def test_fast_keras_model_matches_the_formulas(name):
    preset = PRESETS[name]
    model = build_model(preset.config, input_shape=preset.input_shape, num_classes=10)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert (model.count_params(), trainable) == COUNTS[name]
    expected = preset.config.validate(preset.input_shape, 10)
    table = summary_table(model)
    assert [r["name"] for r in table.rows] == [r["name"] for r in expected.rows]
    for row in table.rows:
        assert not AUTO_NAME.match(row["name"]), row["name"]
        assert formula_value(row["formula"]) == row["params"], row
        ref = expected.row(row["name"])
        assert (row["type"], row["shape"], row["params"], row["trainable"], row["formula"]) == (
            ref["type"], ref["shape"], ref["params"], ref["trainable"], ref["formula"])
    assert not model.get_layer("whiten").trainable and model.get_layer("whiten").kernel.shape == (2, 2, 3, 24)
    assert model.get_layer("group2_bn_1").momentum == architectures.FAST_BN_MOMENTUM
    assert model.get_layer("logit_scale").scale == pytest.approx(1 / 9)
    assert model.get_layer("output").dtype_policy.name == "float32"
    if preset.config.precision == "mixed_bfloat16":
        assert model.get_layer("group1_conv_1").dtype_policy.name == "mixed_bfloat16"
    # every GELU in float32 (TensorFlow's bfloat16 GELU is the slow part of the forward pass on a CPU)
    gelus = [layer for layer in model.layers if "gelu" in layer.name]
    assert len(gelus) == 7 and {layer.dtype_policy.name for layer in gelus} == {"float32"}
    opt = model.optimizer
    assert opt.nesterov and float(opt.momentum) == 0.85 and opt.weight_decay == pytest.approx(0.009)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.2)


@pytest.mark.parametrize(("changes", "message"), [
    ({"lr_schedule": "cosine"}, "lr schedule must be one of constant, one_cycle; got 'cosine'"),
    ({"precision": "float16"}, "precision must be one of float32, mixed_bfloat16; got 'float16'"),
    ({"weight_decay": 1.0}, "weight decay must be at least 0 and below 1, got 1.0"),
    ({"lr_schedule": "one_cycle", "lr_decay": 1e-6}, "learning-rate decay and the one_cycle schedule cannot be "
     "combined, got learning-rate decay 1e-06 with lr_schedule='one_cycle'"),
])
def test_new_model_settings_are_checked(changes, message):
    with pytest.raises(InvalidArgument) as err:
        ModelConfig(**changes).validate((32, 32, 3), 10)
    assert str(err.value) == message


def test_new_layer_kinds_in_the_calculator():
    layers = [{"kind": "conv", "name": "c", "filters": 4, "kernel": 2, "use_bias": False, "trainable": False},
              {"kind": "global_max", "name": "g"}, {"kind": "rescale", "name": "r", "scale": 0.5}]
    table = param_calculator(layers, (5, 5, 3))
    assert (table.total, table.trainable, table.non_trainable) == (48, 0, 48)
    assert table.row("c")["formula"] == "2·2·3·4 = 48 (frozen: not trained)"
    assert [table.row(n)["output_shape"] for n in ("c", "g", "r")] == ["4×4×4", "4", "4"]
    with pytest.raises(InvalidArgument, match="scale of layer 'r' must be a number, got 'x'"):
        param_calculator([{"kind": "rescale", "name": "r", "scale": "x"}], (5, 5, 3))


def test_a_fast_networks_gelu_is_computed_in_float32_between_bfloat16_layers():
    """The GELU after a bfloat16 batch norm is a float32 layer: its output is x·Φ(x) of the batch norm's
    bfloat16 output computed in float32 (scipy's normal CDF as the reference), not rounded to bfloat16."""
    import keras
    from scipy.stats import norm

    config = PRESETS["fast_3min"].config
    assert config.precision == "mixed_bfloat16"
    model = build_model(config, input_shape=(32, 32, 3), num_classes=10)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    probe = keras.Model(model.input, [model.get_layer("group1_bn_1").output, model.get_layer("group1_gelu_1").output])
    before, after = (np.asarray(keras.ops.convert_to_numpy(t)) for t in probe(x, training=False))
    assert before.dtype.name == "bfloat16" and after.dtype == np.float32
    wide = before.astype(np.float64)
    np.testing.assert_allclose(after, wide * norm.cdf(wide), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["seed004_cats_dogs", "seed004_vgg16_unfrozen", "seed004_vgg16_frozen"])
def test_the_cats_and_dogs_presets_say_how_to_import_the_photos_they_need(name):
    # "Import the photos as 'cats_vs_dogs' on the Datasets page": its uploads stop at 10 MB (.streamlit/config.toml),
    # 4,000 photos are some 100 MB, and the page's default (64×64 colour) is not the 200×200 grey the network takes.
    preset = PRESETS[name]
    notes = preset.training["notes"]
    command = re.search(r"`python -m cnnviz (data import folder ZIP [^`]+)`", notes)
    assert command, notes
    args = cli.build_parser().parse_args(command.group(1).replace("ZIP", "cats.zip").split())
    assert (f"{stored.FOLDER_PREFIX}{args.name}", args.image_size, args.grey) == (preset.training["dataset"], 200, True)
    assert preset.input_shape == (200, 200, 1)
