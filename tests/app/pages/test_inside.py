"""AppTest of Inside the network: no runs, a test image through a tiny run (prediction, feature maps,
layer switch, filters, Grad-CAM), uploads of a good and a bad picture."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from cnnviz.inspect import evaluation

from cnnviz.inspect import features

from cnnviz.inspect import gradcam
from cnnviz.data.images import ImageError, load_image
from tests.support.images import png_bytes, source_pixels
from tests.support.pages import (
    assert_no_runs_notice,
    chart_keys,
    figure,
    image_count,
    no_errors,
    open_page,
    texts,
)
from tests.support.runs import copy_runs, reference_data, train_runs, tta_reference
from tests.support.specs import FLAT_MODEL, GAP_MODEL, page_spec

pytestmark = pytest.mark.slow

PAGE = "app_pages/inside.py"
BROKEN_PNG = b"\x89PNG\r\n\x1a\n broken"
SMOOTH_MODEL = {**FLAT_MODEL, "label_smoothing": 0.2}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("inside-runs")
    # "flat" trained last: the newest run, the page's default.
    return home, train_runs(home, {"smooth": page_spec(SMOOTH_MODEL), "gap": page_spec(GAP_MODEL),
                                   "tta": page_spec(FLAT_MODEL, tta="flip"), "flat": page_spec(FLAT_MODEL)})


@pytest.fixture
def run_id(stored, cnnviz_home) -> str:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]["flat"]  # newest: the page's default


@pytest.fixture(scope="module")
def reference(stored):
    """The flat run's model and scaled test images, loaded without the app."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        return reference_data(stored[1]["flat"])


def test_without_runs_says_so_and_links_to_training(app_path):
    at = open_page(app_path, PAGE)
    assert_no_runs_notice(at)


def test_test_image_prediction_and_feature_maps(app_path, run_id, reference):
    model, x, y, names, _ = reference
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert at.selectbox(key="inside_run").value == run_id
    assert {"inside_image", "inside_probs", "inside_maps", "inside_stats"} <= chart_keys(at)
    at.number_input(key="inside_index").set_value(5).run()
    no_errors(at)
    probs = evaluation.predict_probabilities(model, x[5:6])[0]
    probs_fig = figure(at, "inside_probs")
    assert probs_fig["layout"]["title"]["text"] == f"It says {names[int(np.argmax(probs))]} ({probs.max():.0%})"
    assert sorted(np.asarray(probs_fig["data"][0]["x"]).tolist()) == pytest.approx(sorted(probs.tolist()), abs=1e-5)
    assert f"Test image #5: truly {names[y[5]]}" in texts(at)
    # The default layer is the first conv: its 4 channels as 4 tiles.
    layers = features.inspectable_layers(model)
    assert at.selectbox(key="inside_layer").options == [
        f"{la['name']} ({la['type']}, {'×'.join(str(d) for d in la['output_shape'])})" for la in layers]
    maps = figure(at, "inside_maps")
    expected = features.feature_maps(model, x[5], layers[0]["name"])
    channels = layers[0]["output_shape"][-1]
    assert [a["text"] for a in maps["layout"]["annotations"]] == [f"ch {c}" for c in range(channels)]
    mosaic, (h, w) = source_pixels(maps["data"][0]), expected.images.shape[1:]
    for caption, tile in zip(maps["layout"]["annotations"], expected.images):  # one picture, a tile per channel
        top, left = int(caption["y"] + 0.5), int(caption["x"] - (w - 1) / 2)
        np.testing.assert_array_equal(mosaic[top:top + h, left:left + w], tile)
    stats = figure(at, "inside_stats")["data"][0]
    assert np.asarray(stats["y"]) == pytest.approx([s["mean"] for s in expected.stats], abs=1e-5)


def test_layer_and_normalisation_switch(app_path, run_id, reference):
    model, x, *_ = reference
    layers = features.inspectable_layers(model)
    pool = next(la for la in layers if la["kind"] == "pooling")
    at = open_page(app_path, PAGE)
    at.selectbox(key="inside_layer").set_value(pool["name"]).run()
    no_errors(at)
    title = figure(at, "inside_maps")["layout"]["title"]["text"]
    h, w, c = pool["output_shape"]
    assert title.startswith(f"{pool['name']} (MaxPooling2D): {c} of {c} channels, {h}×{w}")
    at.radio(key="inside_norm").set_value("shared").run()
    no_errors(at)
    assert figure(at, "inside_maps")["layout"]["title"]["text"].endswith("one shared scale")


def test_filters_tab(app_path, run_id, reference):
    model = reference[0]
    conv = features.conv_layers(model)[0]
    at = open_page(app_path, PAGE)
    assert "inside_filters" not in chart_keys(at)  # hidden tabs are not computed
    at.session_state["inside_tab"] = "Filters"
    at.run()
    no_errors(at)
    assert at.selectbox(key="inside_filter_layer").value == conv["name"]
    fig = figure(at, "inside_filters")
    kh, kw, cin, cout = conv["kernel_shape"]
    assert image_count(fig) == cout * cin  # grey digits: one tile per filter and input channel
    assert "inside_maps" not in chart_keys(at)


def test_a_frozen_layers_weights_are_not_called_learned(app_path, run_id, monkeypatch):
    """The fast networks' whitening conv is set from the data and frozen (issue 14)."""
    real = features.conv_layers
    monkeypatch.setattr(features, "conv_layers", lambda model: [dict(c, trainable=False) for c in real(model)])
    at = open_page(app_path, PAGE)
    at.session_state["inside_tab"] = "Filters"
    at.run()
    no_errors(at)
    shown = texts(at)
    assert "These weights were not learned: layer conv_1 is frozen" in shown
    assert "The learned weights" not in shown


def test_gradcam_tab(app_path, run_id, reference):
    model, x, y, names, x_uint8 = reference
    at = open_page(app_path, PAGE)
    at.session_state["inside_tab"] = "Grad-CAM"
    at.run()
    no_errors(at)
    assert at.selectbox(key="inside_cam_layer").value == gradcam.last_conv_layer_name(model)
    assert "inside_cam" in chart_keys(at)
    predicted = int(np.argmax(evaluation.predict_probabilities(model, x[:1])[0]))
    assert f"raised the score of **{names[predicted]}**" in texts(at)
    other = (predicted + 1) % len(names)
    at.selectbox(key="inside_cam_class").set_value(other).run()
    no_errors(at)
    assert f"raised the score of **{names[other]}**" in texts(at)
    # The overlay tile is the heat map blended over the image the page shows.
    heat = gradcam.gradcam(model, x[:1], class_index=other)
    overlay = np.asarray(figure(at, "inside_cam")["data"][2]["z"])
    assert np.array_equal(overlay, gradcam.overlay(x_uint8[0], heat))


def test_upload_good_picture_is_resized_to_the_input(app_path, run_id):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 255, size=(30, 20, 3), dtype=np.uint8)
    at = open_page(app_path, PAGE)
    at.radio(key="inside_source").set_value("Your own picture").run()
    assert "Choose a picture to upload" in texts(at)
    at.file_uploader(key="inside_upload").upload("mine.png", png_bytes(picture), "image/png").run()
    no_errors(at)
    shown = texts(at)
    assert "resized from 20×30 to 8×8 pixels" in shown and "made grey" in shown
    assert "mine.png (PNG)" in shown
    tile = np.asarray(figure(at, "inside_image")["data"][0]["z"])
    grey = np.asarray(Image.fromarray(picture).convert("L").resize((8, 8), Image.Resampling.BILINEAR))
    assert np.array_equal(tile[..., 0], grey)
    assert {"inside_probs", "inside_maps"} <= chart_keys(at)


def test_upload_bad_picture_shows_the_loaders_message(app_path, run_id):
    at = open_page(app_path, PAGE)
    at.radio(key="inside_source").set_value("Your own picture").run()
    at.file_uploader(key="inside_upload").upload("broken.png", BROKEN_PNG, "image/png").run()
    assert not at.exception
    with pytest.raises(ImageError) as err:
        load_image(BROKEN_PNG, name="broken.png")
    assert [e.value for e in at.error] == [str(err.value)]
    assert "inside_maps" not in chart_keys(at)


def test_global_pooling_run_takes_any_size_layers(app_path, run_id, stored):
    at = open_page(app_path, PAGE)
    at.selectbox(key="inside_run").set_value(stored[1]["gap"]).run()
    no_errors(at)
    assert at.selectbox(key="inside_layer").options[0] == "conv_1 (Conv2D, any×any×4)"
    assert "inside_maps" in chart_keys(at)


def test_label_smoothing_is_explained_next_to_the_probabilities(app_path, run_id, stored):
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert "label smoothing" not in texts(at)  # the flat run trained without it
    at.selectbox(key="inside_run").set_value(stored[1]["smooth"]).run()
    no_errors(at)
    assert ("trained with label smoothing 0.2: it was taught to give the right class 82%, never 100%"
            in texts(at))  # 1 − 0.2 + 0.2/10 of the digits' 10 classes


def test_a_test_image_number_out_of_range_is_said_and_no_picture_drawn(app_path, run_id):
    """Issue 14: the range is checked in Python; the box keeps what was typed and no other image is shown."""
    at = open_page(app_path, PAGE)
    at.number_input(key="inside_index").set_value(3).run()
    assert "Test image #3" in texts(at)
    at.number_input(key="inside_index").set_value(40).run()  # 40 test images: 0 to 39
    assert not at.exception
    assert [e.value for e in at.error] == ["Test image (0 to 39) must be from 0 to 39; the box shows 40."]
    assert at.number_input(key="inside_index").value == 40  # never silently replaced
    assert "Test image #" not in texts(at) and not {"inside_image", "inside_probs"} & chart_keys(at)
    at.number_input(key="inside_index").set_value(-1).run()
    assert [e.value for e in at.error] == ["Test image (0 to 39) must be from 0 to 39; the box shows -1."]


def test_a_tta_runs_test_image_says_what_evaluate_counted_beside_the_one_pass(app_path, run_id, stored):
    at = open_page(app_path, PAGE)
    at.number_input(key="inside_index").set_value(5).run()
    assert "test-time augmentation" not in texts(at)  # the flat run is tested on each image as it is
    at.selectbox(key="inside_run").set_value(stored[1]["tta"]).run()
    no_errors(at)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        names, tested, plain = tta_reference(stored[1]["tta"], 5)
    assert figure(at, "inside_probs")["layout"]["title"]["text"] == (
        f"It says {names[int(np.argmax(plain))]} ({plain.max():.0%})")  # the bars: one pass, as the tabs use
    assert ("These answers are one pass on the image as it is. Its test accuracy and Evaluate average the answers "
            "on each test image and its mirror image (test-time augmentation): there it says "
            f"{names[int(np.argmax(tested))]} ({tested.max():.0%}).") in texts(at)
    at.radio(key="inside_source").set_value(at.radio(key="inside_source").options[-1]).run()
    assert "test-time augmentation" not in texts(at)  # the student's own picture was never tested
