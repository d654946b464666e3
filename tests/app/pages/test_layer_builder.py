"""AppTest: Build & train's "Layer by layer" section (add, remove, move, settings, any input size, the
notebook's wrong Q3.2 answer, pooling in words, the chart's log scale) and a training through the job path."""

from __future__ import annotations

import pytest

from cnnviz.app import jobs as appjobs
from cnnviz.models.config import ModelConfig
from cnnviz.models.layerlist import ConvLayer, DenseLayer, LayerList
from cnnviz.runs import store as runs
from tests.support.pages import figure, open_page, start_page_training

pytestmark = pytest.mark.slow


def _preview(at):
    for frame in at.dataframe:
        if "output shape" in frame.value.columns:
            return frame.value
    raise AssertionError("no preview table")


def _layers_page(app_path):
    at = open_page(app_path, "app_pages/build_train.py")
    at.segmented_control(key="train_source").set_value("Layer by layer").run()
    assert not at.exception, at.exception
    return at


def test_add_remove_move_and_set_layers(app_path):
    at = _layers_page(app_path)  # seed 000 model1 on the 8×8×1 digits
    table = _preview(at)
    assert list(table["layer"])[:4] == ["image", "conv_1", "bn_1", "pool_1"]
    assert list(table["output shape"])[:2] == ["(None, 8, 8, 1)", "(None, 8, 8, 16)"]
    assert list(table["parameters"])[1] == (3 * 3 * 1 + 1) * 16
    assert any("the first number is the **batch axis**" in c.value for c in at.caption)
    assert not at.error and not at.button(key="train_start").disabled

    at.button(key="lb_add_conv").click().run()
    at.button(key="lb_add_conv").click().run()  # four 2×2 poolings: 8 → 4 → 2 → 1 → nothing
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("layer 4 of the list (conv) cannot take its 1×1×16 input" in e for e in errors), errors
    assert at.button(key="train_start").disabled
    at.button(key="lb_3_remove").click().run()
    assert not at.error and len(_preview(at)[lambda f: f["type"] == "Conv2D"]) == 3
    at.button(key="lb_2_up").click().run()  # the new 16-filter layer before model1's 32-filter one
    assert list(_preview(at)["output shape"])[4] == "(None, 4, 4, 16)"
    at.number_input(key="lb_0_filters").set_value(8).run()
    at.number_input(key="lb_0_l2").set_value(0.001).run()
    table = _preview(at)
    assert list(table["parameters"])[1] == (3 * 3 * 1 + 1) * 8
    assert any("L1 0 / L2 0.001" in m.value for m in at.markdown)
    at.button(key="lb_add_dense").click().run()
    assert "fc_1" in list(_preview(at)["layer"])

    at.radio(key="lb_output").set_value("sigmoid").run()
    assert any("one sigmoid output tells two classes apart; these data have 10 classes" in e.value for e in at.error)
    at.radio(key="lb_output").set_value("softmax").run()
    assert not at.error

    # any input size: the dense part grows with the image
    at.number_input(key="lb_in_h").set_value(32).run()
    at.number_input(key="lb_in_w").set_value(32).run()
    at.radio(key="lb_in_c").set_value(3).run()
    table = _preview(at)
    assert list(table["output shape"])[0] == "(None, 32, 32, 3)" and list(table["parameters"])[1] == (27 + 1) * 8


def test_seed003_question_32_and_pooling_in_words(app_path):
    at = _layers_page(app_path)
    at.selectbox(key="lb_template").set_value("seed003_q32").run()
    at.button(key="lb_load").click().run()
    assert not at.exception, at.exception
    table = _preview(at).set_index("layer")
    assert table.loc["image", "output shape"] == "(None, 64, 64, 3)"
    assert [int(table.loc[n, "parameters"]) for n in ("conv_1", "conv_2", "pool_2", "conv_3", "output")] == [
        448, 12_832, 0, 36_992, 615_045]
    assert table.loc["pool_2", "output shape"] == "(None, 31, 31, 32)"
    assert any("In all 665,317 parameters" in c.value for c in at.caption)
    infos = "\n".join(i.value for i in at.info)
    assert "not 4,640" in infos and "not 309,765" in infos
    assert "With pooling (as chosen) this network has 665,317 parameters; without it 2,671,717" in infos

    at.selectbox(key="lb_template").set_value("seed004_cats_dogs").run()
    at.button(key="lb_load").click().run()
    table = _preview(at).set_index("layer")
    assert table.loc["fc_1", "output shape"] == "(None, 32)" and int(table.loc["fc_1", "parameters"]) == 4_718_624
    assert any("In all 4,737,473 parameters" in c.value for c in at.caption)


def test_slider_builder_says_what_pooling_did_and_the_chart_scale(app_path):
    at = open_page(app_path, "app_pages/build_train.py")
    at.segmented_control(key="train_source").set_value("My own network").run()
    # digits 8×8×1: with pooling conv_2 hands 2×2×32 to the output, without 8×8×32
    with_pool = 160 + 64 + 4_640 + 128 + (2 * 2 * 32 + 1) * 10
    without = 160 + 64 + 4_640 + 128 + (8 * 8 * 32 + 1) * 10
    text = "\n".join(i.value for i in at.info)
    assert f"With pooling (as chosen) this network has {with_pool:,} parameters; without it {without:,}" in text
    at.radio(key="build_pooling").set_value("none").run()
    text = "\n".join(i.value for i in at.info)
    assert f"without pooling (as chosen) {without:,}" in text
    fig = figure(at, "train_param_bars")
    assert fig["layout"]["xaxis"].get("type", "linear") == "linear" and fig["layout"]["barmode"] == "stack"
    at.toggle(key="train_param_log").set_value(True).run()
    fig = figure(at, "train_param_bars")
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["barmode"] == "group"


def test_a_layer_list_trains_through_the_job_path(app_path):
    at = _layers_page(app_path)
    at.button(key="lb_add_dense").click().run()
    at.selectbox(key="lb_2_batch_norm").set_value("before_activation").run()
    job_id = start_page_training(at, "own_digits", epochs=1, train_size=60, test_size=30, batch=8)
    status = appjobs.training_jobs().wait(job_id, timeout=240)
    assert status.state == "finished", status
    info = runs.load_run(status.run_id)
    config = info.model_config
    assert config == ModelConfig.from_dict(info.config["model"]) and config.architecture == "layers"
    assert config.layer_list == LayerList((
        ConvLayer(filters=16, batch_norm="after_activation", pooling="max"),
        ConvLayer(filters=32, batch_norm="after_activation", pooling="max"),
        DenseLayer(batch_norm="before_activation")))
    model = runs.load_model(status.run_id)
    assert model.get_layer("fc_act_1").activation.__name__ == "relu" and model.count_params() == (
        config.validate((8, 8, 1), 10).total)


def test_vgg16_preset_without_its_weights_says_how_to_get_them(app_path, keras_home):
    at = open_page(app_path, "app_pages/build_train.py")
    at.segmented_control(key="train_source").set_value("A network from the notebooks").run()
    at.selectbox(key="train_preset").set_value("seed004_vgg16_frozen").run()
    assert not at.exception, at.exception
    assert any("VGG16's ImageNet weights are not on this machine" in w.value
               and "python -m cnnviz download vgg16-notop" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled and not at.error  # seed 004's own data is not a built-in
    summary = at.dataframe[0].value.set_index("name")
    assert int(summary.loc["vgg16_backbone", "params"]) == 14_714_688


def test_blocks_in_the_list(app_path):
    at = _layers_page(app_path)
    at.selectbox(key="lb_template").set_value("seed004_residual").run()
    at.button(key="lb_load").click().run()  # uids 2, 3, 4 (model1's first two were 0 and 1)
    assert any("Residual block: 2 × conv 64 3×3 + skip (1×1 projection), relu" in m.value for m in at.markdown)
    at.number_input(key="lb_in_h").set_value(32).run()
    at.number_input(key="lb_in_w").set_value(32).run()
    at.radio(key="lb_in_c").set_value(3).run()
    assert any("In all 1,445,066 parameters" in c.value for c in at.caption)  # the seed 004 preset's count
    at.button(key="lb_add_inception").click().run()  # uid 5, after the last conv layer or block
    table = _preview(at).set_index("layer")
    assert table.loc["inception_1_concat", "output shape"] == "(None, 32, 32, 64)"  # 16+32+8+8 channels
    assert list(table.index).index("inception_1_concat") < list(table.index).index("flat")
    at.number_input(key="lb_5_b1").set_value(32).run()
    assert _preview(at).set_index("layer").loc["inception_1_concat", "output shape"] == "(None, 32, 32, 80)"
    assert not at.exception and not at.error


def test_the_per_layer_l1_l2_boxes_are_named_for_what_they_do(app_path):
    """They set Keras' kernel_regularizer (a penalty added to the loss, seed 000 Q21's regularizers.l2), not weight
    decay: an L1 penalty decays nothing, and the optimiser's weight decay is another setting with another scale."""
    import keras

    from cnnviz.models import network

    at = _layers_page(app_path)
    l1, l2 = at.number_input(key="lb_0_l1"), at.number_input(key="lb_0_l2")
    assert (l1.label, l2.label) == ("L1 regularisation", "L2 regularisation")
    assert "to the loss" in l1.help and "not weight decay" in l1.help
    assert "regularizers.l2(0.01)" in l2.help and "Not the optimiser's weight decay" in l2.help
    assert not any("weight decay" in (n.label or "").lower() for n in at.number_input)
    l1.set_value(0.001).run()
    layer_list = LayerList((ConvLayer(l1=0.001, pooling="max"),))
    model = network.build_model(ModelConfig(architecture="layers", layer_list=layer_list), input_shape=(8, 8, 1),
                                num_classes=10)
    regulariser = model.get_layer("conv_1").kernel_regularizer  # what the box sets: a penalty, not a decay
    assert isinstance(regulariser, keras.regularizers.L1L2) and regulariser.get_config() == {"l1": 0.001, "l2": 0.0}


def test_a_layer_number_out_of_range_is_said_and_nothing_built_from_another(app_path):
    """Issue 14: a layer's box (kernel 0, L2 2) and the preview's input boxes are checked in Python: the box
    keeps what was typed and says why, no table or network is made of the last valid numbers, Train waits."""
    at = _layers_page(app_path)
    assert not at.button(key="train_start").disabled
    at.number_input(key="lb_0_kernel").set_value(0).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["Kernel size must be from 1 to 11; the box shows 0."]
    assert at.number_input(key="lb_0_kernel").value == 0  # never silently replaced
    assert "Kernel size" in " ".join(i.value for i in at.info)
    assert not [f for f in at.dataframe if "output shape" in f.value.columns]  # no preview of the old kernel
    assert at.button(key="train_start").disabled
    at.number_input(key="lb_0_kernel").set_value(5).run()
    at.number_input(key="lb_0_l2").set_value(2.0).run()
    assert [e.value for e in at.error] == ["L2 regularisation must be from 0 to 1; the box shows 2."]
    assert at.button(key="train_start").disabled
    at.number_input(key="lb_0_l2").set_value(0.0).run()
    assert not at.error and not at.button(key="train_start").disabled
    assert list(_preview(at)["parameters"])[1] == (5 * 5 * 1 + 1) * 16  # the kernel typed, not the old 3

    at.number_input(key="lb_in_h").set_value(0).run()  # the preview's input: only its table waits
    assert [e.value for e in at.error] == ["Height must be from 1 to 224; the box shows 0."]
    assert at.number_input(key="lb_in_h").value == 0
    assert not at.button(key="train_start").disabled  # the network itself is fine: it trains on the data's size
