"""Settings survive page switches (issue 14): on every page, change its main controls, visit another
page, come back and find them as left. Streamlit drops the value of a widget whose page is not drawn;
``cnnviz.app.remember`` keeps them (``persist_state="session"``, and the open tab)."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.support.images import png_bytes
from tests.support.pages import no_errors, open_page
from tests.support.runs import copy_runs, train_runs
from tests.support.specs import FLAT_MODEL, page_spec

HOME, RUNS = "app_pages/home.py", "app_pages/runs.py"


def away_and_back(at: AppTest, page: str, away: str = HOME) -> AppTest:
    at.switch_page(away).run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    no_errors(at)
    return at


def by_label(at: AppTest, kind: str, start: str):
    """The widget of ``kind`` whose label starts with ``start`` (for keys that name the preset or data)."""
    found = [w for w in at.get(kind) if w.label.startswith(start)]
    assert len(found) == 1, [w.label for w in at.get(kind)]
    return found[0]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("survive-runs")
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL)})


@pytest.fixture
def run_id(stored, cnnviz_home) -> str:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]["flat"]


def test_convolution_kernel_survives_upload_and_home(app_path):
    page = "app_pages/convolution.py"
    at = open_page(app_path, page)
    at.selectbox(key="conv_kernel").set_value("Gaussian").run()
    at.slider(key="conv_gauss_size").set_value(7).run()
    at.select_slider(key="conv_max_side").set_value(128).run()
    at.selectbox(key="conv_kernel").set_value("Sobel X").run()
    at.radio(key="conv_source").set_value("Upload").run()  # no file yet: the kernel is not drawn
    away_and_back(at, page)
    assert at.radio(key="conv_source").value == "Upload"
    at.radio(key="conv_source").set_value("Sample photo").run()
    assert at.selectbox(key="conv_kernel").value == "Sobel X"
    assert at.select_slider(key="conv_max_side").value == 128
    at.selectbox(key="conv_kernel").set_value("Gaussian").run()
    assert at.slider(key="conv_gauss_size").value == 7


def test_datasets_settings_survive(app_path):
    page = "app_pages/datasets.py"
    at = open_page(app_path, page)
    at.slider(key="datasets_per_class").set_value(5).run()
    at.radio(key="datasets_scaling").set_value("symmetric").run()
    away_and_back(at, page)
    assert at.slider(key="datasets_per_class").value == 5
    assert at.radio(key="datasets_scaling").value == "symmetric"


def test_build_and_train_network_and_training_options_survive_a_visit_to_runs(app_path):
    page = "app_pages/build_train.py"
    at = open_page(app_path, page)
    presets = at.selectbox(key="train_preset").options
    other = at.selectbox(key="train_preset")
    chosen = [v for v in presets if v != other.value][0]
    other.select(chosen).run()
    preset = at.selectbox(key="train_preset").value
    by_label(at, "number_input", "Epochs").set_value(4).run()
    by_label(at, "number_input", "Training images").set_value(800).run()
    at.number_input(key="train_seed").set_value(7).run()
    away_and_back(at, page, RUNS)
    assert at.selectbox(key="train_preset").value == preset
    assert by_label(at, "number_input", "Epochs").value == 4
    assert by_label(at, "number_input", "Training images").value == 800
    assert at.number_input(key="train_seed").value == 7


def test_build_and_train_own_network_survives(app_path):
    page = "app_pages/build_train.py"
    at = open_page(app_path, page)
    at.button_group(key="train_source").set_value("My own network").run()
    at.slider(key="build_conv").set_value(3).run()
    at.selectbox(key="build_optimizer").set_value("sgd_nesterov").run()
    away_and_back(at, page, RUNS)
    assert at.button_group(key="train_source").value == "My own network"
    assert at.slider(key="build_conv").value == 3
    assert at.selectbox(key="build_optimizer").value == "sgd_nesterov"


def test_runs_page_choices_survive(app_path, run_id):
    at = open_page(app_path, RUNS)
    at.button_group(key="runs_metric").set_value("loss").run()
    away_and_back(at, RUNS)
    assert at.button_group(key="runs_metric").value == "loss"


def test_evaluate_filters_survive(app_path, run_id):
    page = "app_pages/evaluate.py"
    at = open_page(app_path, page)
    at.toggle(key="eval_cm_normalized").set_value(True).run()
    at.selectbox(key="eval_true").set_value(3).run()
    at.selectbox(key="eval_order").set_value("index").run()
    at.slider(key="eval_limit").set_value(40).run()
    away_and_back(at, page)
    assert at.toggle(key="eval_cm_normalized").value is True
    assert at.selectbox(key="eval_true").value == 3
    assert at.selectbox(key="eval_order").value == "index"
    assert at.slider(key="eval_limit").value == 40


def test_inside_tab_and_layer_survive_a_page_switch_and_an_upload(app_path, run_id):
    page = "app_pages/inside.py"
    at = open_page(app_path, page)
    layers = at.selectbox(key="inside_layer").options
    at.selectbox(key="inside_layer").set_value(at.selectbox(key="inside_layer").value).run()
    last = len(layers) - 1
    at.selectbox(key="inside_layer").select_index(last).run()
    layer = at.selectbox(key="inside_layer").value
    at.select_slider(key="inside_channels").set_value(8).run()
    at.session_state["inside_tab"] = "Filters"
    at.run()
    at.select_slider(key="inside_filter_count").set_value(4).run()
    away_and_back(at, page)
    assert at.select_slider(key="inside_filter_count").value == 4  # the Filters tab is open again
    at.session_state["inside_tab"] = "Feature maps"
    at.run()
    assert at.selectbox(key="inside_layer").value == layer
    assert at.select_slider(key="inside_channels").value == 8
    # choosing "Your own picture" hides the tabs until a file comes: the choices come back with the picture
    at.radio(key="inside_source").set_value("Your own picture").run()
    picture = np.random.default_rng(0).integers(0, 255, size=(12, 12, 3), dtype=np.uint8)
    at.file_uploader(key="inside_upload").upload("mine.png", png_bytes(picture), "image/png").run()
    no_errors(at)
    assert at.session_state["inside_tab"] == "Feature maps"
    assert at.selectbox(key="inside_layer").value == layer
    assert at.select_slider(key="inside_channels").value == 8


def test_explain_tab_and_settings_survive(app_path, run_id):
    page = "app_pages/explain.py"
    at = open_page(app_path, page)
    at.select_slider(key="explain_samples").set_value(10).run()
    at.session_state["explain_tab"] = "Fooling the network"
    at.run()
    at.slider(key="explain_eps").set_value(9).run()
    away_and_back(at, page)
    assert at.slider(key="explain_eps").value == 9  # the tab is open again
    at.session_state["explain_tab"] = "Saliency"
    at.run()
    assert at.select_slider(key="explain_samples").value == 10


def test_robustness_settings_survive(app_path, run_id):
    page = "app_pages/robustness.py"
    at = open_page(app_path, page)
    at.selectbox(key="robust_step").set_value(30).run()
    away_and_back(at, page)
    assert at.selectbox(key="robust_step").value == 30


def test_transfer_settings_survive(app_path):
    page = "app_pages/transfer.py"
    at = open_page(app_path, page)
    at.toggle(key="tl_frozen").set_value(False).run()
    at.number_input(key="tl_epochs").set_value(5).run()
    away_and_back(at, page)
    assert at.toggle(key="tl_frozen").value is False
    assert at.number_input(key="tl_epochs").value == 5


def test_pretrained_tab_and_settings_survive(app_path, keras_home):
    page = "app_pages/pretrained.py"
    at = open_page(app_path, page)
    at.slider(key="pre_top").set_value(3).run()
    at.session_state["pre_tab"] = "The model"  # as a click on the tab sets it
    at.run()
    no_errors(at)
    at.switch_page(HOME).run()
    # Streamlit drops the tabs' state with their page; AppTest keeps a value the test set itself, so drop it
    # here as the browser's session does (a plain st.tabs would then open on its first tab).
    if "pre_tab" in at.session_state:
        del at.session_state["pre_tab"]
    at.switch_page(page).run()
    no_errors(at)
    assert at.session_state["pre_tab"] == "The model"  # the tab is open again (issue 14)
    assert at.slider(key="pre_top").value == 3


# --- a browser reload ----------------------------------------------------------------------------
def reload(app_path: str, at: AppTest, page: str) -> AppTest:
    """A browser reload: a new session that opens the page from its URL (query parameters included)."""
    fresh = AppTest.from_file(app_path, default_timeout=at.default_timeout)
    for key in at.query_params:
        fresh.query_params[key] = at.query_params.get_all(key) if hasattr(at.query_params, "get_all") else \
            at.query_params[key]
    fresh.run()
    fresh.switch_page(page).run()
    no_errors(fresh)
    return fresh


def test_main_choices_survive_a_reload_and_keep_other_query_parameters(app_path):
    """The main choice of each page is also kept in the URL (bind="query-params"): a reload or a bookmark
    opens the page as left; a parameter of someone else's (class-core's ``?key=``) stays untouched."""
    page = "app_pages/convolution.py"
    at = AppTest.from_file(app_path, default_timeout=120)
    at.query_params["key"] = "student-key-1"
    at.run()
    at.switch_page(page).run()
    at.selectbox(key="conv_kernel").set_value("Laplacian").run()
    at.radio(key="conv_source").set_value("Test pattern").run()
    away_and_back(at, page)  # AppTest reads the URL Streamlit wrote when a page is entered
    assert at.query_params["key"] == "student-key-1"
    fresh = reload(app_path, at, page)
    assert fresh.selectbox(key="conv_kernel").value == "Laplacian"
    assert fresh.radio(key="conv_source").value == "Test pattern"
    assert fresh.query_params["key"] == "student-key-1"

    page = "app_pages/build_train.py"
    at.switch_page(page).run()
    other = [v for v in at.selectbox(key="train_preset").options if v != at.selectbox(key="train_preset").value][0]
    at.selectbox(key="train_preset").select(other).run()
    chosen = at.selectbox(key="train_preset").value
    away_and_back(at, page)
    fresh = reload(app_path, at, page)
    assert fresh.selectbox(key="train_preset").value == chosen
    assert fresh.query_params["key"] == "student-key-1"
