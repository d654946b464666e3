"""Notebook questions answered on Build & train: the counts and shapes shown against Keras (issue 16).

The parameters and output shapes the page shows are compared with a Keras model built here (the seed
networks with the notebooks' counts; seed 003's question-3.2 network written out layer by layer from the
notebook), the pooling sentence with both networks' ``count_params()``, and the images per class and class
weights of the notebook's selection with NumPy and scikit-learn on a tiny CIFAR-10. Rows of
docs/notebooks.md marked ``value (test_notebook_answers_build.py)``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnviz.data import datasets
from cnnviz.models import presets
from cnnviz.models.config import LAYERS, ModelConfig
from cnnviz.models.layertemplates import TEMPLATES
from cnnviz.models.network import build_model
from tests.support.notebook import metric, number, run_checks
from tests.support.pages import texts
from tests.support.views import open_view

pytestmark = pytest.mark.slow
DIGITS = ((8, 8, 1), 10)


def _frame(at, column: str):
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _keras_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


# --- build: seed 000's model1 (the first notebook network) on the test's digits -------------------------

def _model1():
    return build_model(presets.PRESETS["seed000_model1"].config, input_shape=DIGITS[0], num_classes=DIGITS[1])


def q14_parameters(at):
    """Parameters, trainable and non-trainable shown = the Keras model's; the dense output holds the most here."""
    model = _model1()
    assert number(metric(at, "Parameters")) == model.count_params()
    assert number(metric(at, "Trainable")) == _trainable(model)
    assert number(metric(at, "Non-trainable")) == model.count_params() - _trainable(model)
    table = _frame(at, "keras_shape")
    assert dict(zip(table["name"], table["params"])) == {layer.name: layer.count_params() for layer in model.layers
                                                          if layer.name in set(table["name"])}


def q15_q16_shapes(at):
    """Each layer's output shape, batch axis first as None, is the Keras layer's output shape."""
    model = _model1()
    table = _frame(at, "keras_shape")
    shown = dict(zip(table["name"], table["keras_shape"]))
    expected = {"image": _keras_shape(model.inputs[0].shape)}
    expected.update({layer.name: _keras_shape(layer.output.shape) for layer in model.layers if layer.name in shown})
    assert shown == expected
    assert all(s.startswith("(None, ") for s in shown.values())


def part10_build_cnn(at):
    """The build_CNN call shown builds the table shown: as many conv layers, the first with n_filters."""
    call = next(c.value for c in at.caption if c.value.startswith("build_CNN("))
    args = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", call.split(")")[0]))
    model = _model1()
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"][:-1]  # not the output
    assert (len(convs), convs[0].filters, len(dense)) == (args["n_conv_layers"], args["n_filters"],
                                                          args["n_dense_layers"])
    table = _frame(at, "keras_shape")
    assert list(table["type"]).count("Conv2D") == args["n_conv_layers"]


# --- builder: pooling's effect on the parameters (Q19) ------------------------------------------------------

def q19_pooling(at):
    """The sentence's two counts are Keras' count_params() with max pooling and without."""
    at.radio(key="build_pooling").set_value("max").run()
    shown = next(i.value for i in at.info if i.value.startswith("With pooling"))
    pooled, unpooled = (number(n) for n in re.search(r"has ([\d,]+) parameters; without it ([\d,]+)", shown).groups())
    counts = {p: build_model(ModelConfig(pooling=p), input_shape=DIGITS[0], num_classes=10).count_params()
              for p in ("max", "none")}
    assert (pooled, unpooled) == (counts["max"], counts["none"]) and unpooled > pooled, shown
    assert number(metric(at, "Parameters")) == counts["max"]


# --- layers: seed 003's question 3.2 and seed 004's cats-vs-dogs network ----------------------------------------

def _seed003_q32_by_hand():
    """The notebook's 3.2 network as its text describes it, written here in Keras."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((64, 64, 3), name="image"),
        layers.Conv2D(16, 3, padding="same", name="conv_1"), layers.Conv2D(32, 5, padding="same", name="conv_2"),
        layers.MaxPooling2D(3, strides=2, name="pool_2"), layers.Conv2D(128, 3, padding="same", name="conv_3"),
        layers.Flatten(name="flat"), layers.Dense(5, name="output")])


def _load(at, name: str) -> None:
    at.selectbox(key="lb_template").set_value(name).run()
    at.button(key="lb_load").click().run()


def seed003_q32_per_layer(at):
    """Every layer's parameters and output shape = the notebook's network built by hand in Keras; the answers."""
    _load(at, "seed003_q32")
    model = _seed003_q32_by_hand()
    table = _frame(at, "how they are counted")
    shown = dict(zip(table["layer"], table["parameters"]))
    assert shown == {"image": 0, **{layer.name: layer.count_params() for layer in model.layers}}
    assert [shown[n] for n in ("conv_1", "conv_2", "pool_2", "conv_3", "output")] == [448, 12832, 0, 36992, 615045]
    assert dict(zip(table["layer"], table["output shape"]))["pool_2"] == _keras_shape(model.get_layer("pool_2").output.shape)
    total = next(c.value for c in at.caption if c.value.startswith("In all"))
    assert number(re.match(r"In all ([\d,]+) parameters", total).group(1)) == model.count_params() == 665_317


def seed003_q32_most(at):
    """The layer with the most parameters shown is Keras' (the dense output)."""
    _load(at, "seed003_q32")
    table = _frame(at, "how they are counted")
    model = _seed003_q32_by_hand()
    biggest = max(model.layers, key=lambda layer: layer.count_params()).name
    assert table.loc[table["parameters"].idxmax(), "layer"] == biggest == "output"


def seed003_q32_note(at):
    """The note's corrected counts are Keras'; the notebook's 4,640 and 309,765 are not."""
    _load(at, "seed003_q32")
    model = _seed003_q32_by_hand()
    note = next(i.value for i in at.info if i.value.startswith("The notebook's own answer is wrong"))
    assert f"= {model.get_layer('conv_2').count_params():,} parameters, not 4,640" in note
    assert f"= {model.get_layer('output').count_params():,}, not 309,765" in note
    assert f"= {model.count_params():,}." in note
    assert 4_640 != model.get_layer("conv_2").count_params() and 309_765 != model.get_layer("output").count_params()


def seed004_cats_dogs(at):
    """Seed 004's cats-vs-dogs network on 200×200 grey: 4,737,473 parameters, Keras' count."""
    _load(at, "seed004_cats_dogs")
    config = ModelConfig(architecture=LAYERS, layer_list=TEMPLATES["seed004_cats_dogs"].layer_list, head="flatten")
    model = build_model(config, input_shape=(200, 200, 1), num_classes=2)
    total = next(c.value for c in at.caption if c.value.startswith("In all"))
    assert number(re.match(r"In all ([\d,]+) parameters", total).group(1)) == model.count_params() == 4_737_473
    assert "for a 200×200×1 input" in total
    _load(at, "seed003_q32")


def _first_layer_key(at, name: str) -> str:
    """The widget key of the first listed layer's setting ``name`` (keys are ``lb_<uid>_<name>``)."""
    keys = [w.key for w in at.main if getattr(w, "key", None) and re.fullmatch(rf"lb_\d+_{name}", w.key)]
    found = sorted(keys, key=lambda k: int(k.split("_")[1]))
    assert found, f"no {name} setting"
    return found[0]


def _rows(at) -> list[tuple]:
    table = _frame(at, "how they are counted")
    return list(zip(table["layer"], table["type"], table["parameters"], table["output shape"]))


def _keras_rows(model) -> list[tuple]:
    return [(layer.name, type(layer).__name__, layer.count_params(), _keras_shape(layer.output.shape))
            for layer in model.layers]


def filters_and_kernel(at):
    """seed 001 challenge: 8 filters of 5×5 in the first layer: its parameters and those of the layer after
    it (which sees 8 channels now) are Keras'."""
    import keras
    from keras import layers

    _load(at, "seed003_q32")
    at.number_input(key=_first_layer_key(at, "filters")).set_value(8).run()
    at.number_input(key=_first_layer_key(at, "kernel")).set_value(5).run()
    model = keras.Sequential([keras.Input((64, 64, 3)), layers.Conv2D(8, 5, padding="same", name="conv_1"),
                              layers.Conv2D(32, 5, padding="same", name="conv_2")])
    assert _rows(at)[1:3] == _keras_rows(model)
    _load(at, "seed003_q32")


def batch_norm_before(at):
    """seed 001's order, Conv2D → BatchNormalization → Activation: the rows shown and their parameters are
    those of that Keras stack (4·C weights for batch norm, none for the activation)."""
    import keras
    from keras import layers

    _load(at, "seed003_q32")
    at.selectbox(key=_first_layer_key(at, "batch_norm")).set_value("before_activation").run()
    model = keras.Sequential([keras.Input((64, 64, 3)), layers.Conv2D(16, 3, padding="same", name="conv_1"),
                              layers.BatchNormalization(name="bn_1"), layers.Activation("relu", name="act_1")])
    assert _rows(at)[1:4] == _keras_rows(model)
    _load(at, "seed003_q32")


def global_average_any_size(at):
    """Q28: with global average pooling the network takes any image size with the same parameters: the total
    shown for 64×64 and 100×80 inputs is Keras' count_params() of the network built for each."""
    _load(at, "seed003_q32")
    at.radio(key="lb_head").set_value("global_avg").run()
    config = ModelConfig(architecture=LAYERS, layer_list=TEMPLATES["seed003_q32"].layer_list, head="global_avg")
    totals = []
    for h, w in ((64, 64), (100, 80)):
        at.number_input(key="lb_in_h").set_value(h)
        at.number_input(key="lb_in_w").set_value(w).run()
        total = next(c.value for c in at.caption if c.value.startswith("In all"))
        shown = number(re.match(r"In all ([\d,]+) parameters", total).group(1))
        assert shown == build_model(config, input_shape=(h, w, 3), num_classes=5).count_params(), total
        totals.append(shown)
    assert totals[0] == totals[1]
    at.radio(key="lb_head").set_value("flatten").run()
    _load(at, "seed003_q32")


# --- presets: each seed network on (a tiny) CIFAR-10, as the notebooks counted it ------------------------------

def _preset_check(name: str):
    def check(at):
        """Parameters (and trainable) shown = the notebook's model.summary() = Keras' count_params()."""
        at.selectbox(key="train_preset").set_value(name).run()
        preset = presets.PRESETS[name]
        model = build_model(preset.config, input_shape=presets.CIFAR_SHAPE, num_classes=10)
        assert number(metric(at, "Parameters")) == preset.expected_params["total"] == model.count_params()
        assert number(metric(at, "Trainable")) == _trainable(model)
        if preset.expected_params.get("trainable") is not None:
            assert number(metric(at, "Trainable")) == preset.expected_params["trainable"]
        assert preset.seed_result in texts(at)  # the notebook's accuracy, beside it
    return check


def q20_dropout(at):
    """Dropout's improvement: model3 and model4 (model3 with dropout) side by side with the accuracies the
    notebook printed (Parts 13 and 14: "Test accuracy: 0.5030" and "0.5505"); the same parameters (Keras)."""
    _preset_check("seed000_model4")(at)
    table = next(f.value for f in at.dataframe if "where" in f.value.columns)
    by_title = {t: (a, n) for t, a, n in zip(table["title"], table["test accuracy"], table["parameters"])}
    (acc3, n3), (acc4, n4) = (by_title[presets.PRESETS[m].title] for m in ("seed000_model3", "seed000_model4"))
    assert (acc3, acc4) == (0.5030, 0.5505) and round(acc4 - acc3, 4) == 0.0475
    keras_counts = {m: build_model(presets.PRESETS[m].config, input_shape=presets.CIFAR_SHAPE,
                                   num_classes=10).count_params() for m in ("seed000_model3", "seed000_model4")}
    assert n3 == n4 == keras_counts["seed000_model3"] == keras_counts["seed000_model4"]


def seed004_three_compared(at):
    """seed 004's three networks side by side with the accuracies it printed (0.7364, 0.7364, 0.7480: the
    residual one best), each with its parameters shown = Keras' count_params()."""
    _preset_check("seed004_residual")(at)
    table = next(f.value for f in at.dataframe if "where" in f.value.columns)
    by_title = dict(zip(table["title"], zip(table["test accuracy"], table["parameters"])))
    three = ("seed004_base", "seed004_inception", "seed004_residual")
    shown = [by_title[presets.PRESETS[m].title] for m in three]
    assert [a for a, _ in shown] == [0.7364, 0.7364, 0.7480]
    assert [n for _, n in shown] == [build_model(presets.PRESETS[m].config, input_shape=presets.CIFAR_SHAPE,
                                                 num_classes=10).count_params() for m in three]


PRESET_ROWS = {"seed 001 Q2": "seed001_mlp", "seed 001 Q4": "seed001_cnn",
               "seed 001 Q8": "seed001_best", "seed 002 1.4": "seed002_mlp", "seed 002 1.5": "seed002_cnn",
               "seed 002 1.6.3": "seed002_cnn_augmented", "seed 002 1.7": "seed002_alexnet",
               "seed 003 4.2a": "seed003_mlp", "seed 003 4.2b": "seed003_cnn", "seed 004 CIFAR-10": "seed004_base",
               "seed 004 inception": "seed004_inception"}


def part5_part15_counts_and_weights(at):
    """The notebook's images (the first 100 of the tiny CIFAR-10, train_test_split(0.25, random_state=0)):
    images per class before and after the split, and the balanced class weights, from NumPy and scikit-learn."""
    from sklearn.model_selection import train_test_split
    from sklearn.utils.class_weight import compute_class_weight

    at.selectbox(key="train_preset").set_value("seed000_model1").run()
    ds = datasets.load("cifar10")
    n_train, n_test = min(len(ds.y_train), 10_000), min(len(ds.y_test), 2_000)
    y = ds.y_train[:n_train]
    fit, val = train_test_split(np.arange(n_train), test_size=0.25, random_state=0)
    table = _frame(at, "validation")
    rows = table[table["class"] != "total"]
    assert list(rows["class"]) == list(ds.class_names)
    assert list(rows["subset"]) == np.bincount(y, minlength=10).tolist()
    assert list(rows["train"]) == np.bincount(y[fit], minlength=10).tolist()
    assert list(rows["validation"]) == np.bincount(y[val], minlength=10).tolist()
    assert list(rows["test"]) == np.bincount(ds.y_test[:n_test], minlength=10).tolist()
    weights = compute_class_weight("balanced", classes=np.arange(10), y=y[fit])
    np.testing.assert_allclose(rows["weight"].astype(float), weights, rtol=1e-12)
    assert len(set(np.round(weights, 3))) > 1  # uneven after the notebook's split: the weights matter
    line = next(c.value for c in at.caption if c.value.startswith("Class weights"))
    assert ", ".join(f"{c} {w:.3f}" for c, w in zip(ds.class_names, weights)) in line


CHECKS = {"seed 000 Q14": q14_parameters, "seed 000 Q15": q15_q16_shapes, "seed 000 Q16": q15_q16_shapes,
          "seed 000 Part 10": part10_build_cnn, "seed 000 Q19": q19_pooling,
          "seed 003 3.2a": seed003_q32_most, "seed 003 3.2b": seed003_q32_per_layer,
          "seed 003 3.2 note": seed003_q32_note, "seed 004 CNN": seed004_cats_dogs,
          "seed 000 Q28": global_average_any_size,
          "seed 001 challenge filters": filters_and_kernel, "seed 001 batch norm": batch_norm_before, "seed 001 challenge layers": global_average_any_size,
          "seed 000 Part 5": part5_part15_counts_and_weights, "seed 000 Part 15": part5_part15_counts_and_weights,
          "seed 000 Q20": q20_dropout, "seed 004 residual": seed004_three_compared,
          **{row: _preset_check(name) for row, name in PRESET_ROWS.items()}}


@pytest.mark.parametrize("view", ["build", "builder", "layers", "presets"])
def test_build_train_answers(view, app_path, request):
    run_checks(open_view(view, app_path, request), view, CHECKS)
