"""AppTest of the convolutions inside a transfer run's backbone (a tiny MobileNetV2 with random weights): Inside's
feature maps and filters pickers list "mobilenetv2_backbone/..." layers and draw them as the backend computes them,
Grad-CAM keeps to the outer layers, and Explain's "What a filter looks for" grows pictures of an inner filter."""

from __future__ import annotations

import pytest

from cnnviz.inspect import actmax, features
from tests.support.pages import figure, image_count, no_errors, open_page, texts
from tests.support.runs import copy_runs, reference_data, train_runs
from tests.support.specs import tiny_transfer_spec

pytestmark = pytest.mark.slow

INNER = "mobilenetv2_backbone/Conv1"  # MobileNetV2's first convolution (3×3, 3 → 16 at α 0.35)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("inside-backbone-runs")
    return home, train_runs(home, {"transfer": tiny_transfer_spec()})


@pytest.fixture
def run_id(stored, cnnviz_home) -> str:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]["transfer"]


@pytest.fixture(scope="module")
def reference(stored):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        return reference_data(stored[1]["transfer"])


def test_inner_convolutions_in_the_feature_maps_and_filters_pickers(app_path, run_id, reference):
    model, x, *_ = reference
    at = open_page(app_path, "app_pages/inside.py")
    no_errors(at)
    names = [la["name"] for la in features.inspectable_layers(model)]
    assert INNER in names and names.index(INNER) < names.index("mobilenetv2_backbone")
    at.selectbox(key="inside_layer").set_value(INNER).run()
    no_errors(at)
    expected = features.feature_maps(model, x[0], INNER, max_channels=32)
    h, w, c = expected.activations.shape
    assert figure(at, "inside_maps")["layout"]["title"]["text"].startswith(f"{INNER} (Conv2D): {c} of {c} channels, "
                                                                          f"{h}×{w}")
    at.session_state["inside_tab"] = "Filters"
    at.run()
    no_errors(at)
    assert f"{INNER} (3×3×3×16)" in at.selectbox(key="inside_filter_layer").options
    at.selectbox(key="inside_filter_layer").set_value(INNER).run()
    no_errors(at)
    kernel = model.get_layer("mobilenetv2_backbone").get_layer("Conv1").kernel
    assert tuple(kernel.shape) == (3, 3, 3, 16)
    at.radio(key="inside_filter_mode").set_value("rgb").run()
    no_errors(at)
    assert image_count(figure(at, "inside_filters")) == 16  # one colour tile per filter of the inner kernel
    assert "mobilenetv2_backbone was frozen" in texts(at)
    at.session_state["inside_tab"] = "Grad-CAM"
    at.run()
    no_errors(at)
    assert not [o for o in at.selectbox(key="inside_cam_layer").options if "/" in o]


def test_what_an_inner_filter_looks_for(app_path, run_id, reference):
    model, x, *_ = reference
    assert actmax.conv_layers(model)[0] == INNER
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "What a filter looks for"
    at.run()
    no_errors(at)
    assert at.selectbox(key="explain_actmax_layer").value == INNER
    at.select_slider(key="explain_actmax_count").set_value(4).run()
    no_errors(at)
    titles = [a["text"] for a in figure(at, "explain_actmax_filters")["layout"]["annotations"]]
    starts_ends = [t.split("<br>")[1].split(" → ") for t in titles if t.startswith("filter ")]
    assert len(starts_ends) == 4 and all(float(b) > float(a) for a, b in starts_ends)
    top = actmax.top_images(model, x, INNER, [0, 1, 2, 3], k=5)  # beside each picture: its top 5 test images
    for c in range(4):
        assert [int(t.split(" ")[0][1:]) for t in titles[6 * c + 1:6 * c + 6]] == list(top.indices[c])


def test_one_neuron_says_the_convolutions_are_inside_the_backbone(app_path, run_id):
    """It said "This network has no plain Conv2D layer" of a MobileNetV2, whose backbone is full of them."""
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "One neuron"
    at.run()
    no_errors(at)
    assert "no plain Conv2D layer" not in texts(at)
    assert "inside its backbone mobilenetv2_backbone" in texts(at)
