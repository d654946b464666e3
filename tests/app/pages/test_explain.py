"""AppTest of Explain: no runs, then every tab on a tiny run's test image against the backend on the same
model (saliency with the completeness numbers, occlusion, FGSM/PGD and the ε curve, one neuron), and an upload."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.catalog import PAGES
from cnnviz.inspect import adversarial, gradcam, neuron, occlusion, saliency
from cnnviz.plots.explain import PERTURBATION_GAIN
from tests.support.images import png_bytes
from tests.support.pages import assert_no_runs_notice, chart_keys, figure, no_errors, open_page, texts
from tests.support.runs import copy_runs, reference_data, train_runs, tta_reference
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.slow

PAGE = "app_pages/explain.py"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("explain-runs")
    return home, train_runs(home, {"tta": page_spec(FLAT_MODEL, tta="flip"), "flat": page_spec(FLAT_MODEL)})


@pytest.fixture
def run_id(stored, cnnviz_home) -> str:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]["flat"]


@pytest.fixture(scope="module")
def reference(stored):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        return reference_data(stored[1]["flat"])


def _open_tab(app_path, tab: str):
    at = open_page(app_path, PAGE)
    at.session_state["explain_tab"] = tab
    at.run()
    no_errors(at)
    return at


def test_catalog_places_explain_after_inside():
    paths = [p.path for p in PAGES]
    assert paths.index("app_pages/explain.py") == paths.index("app_pages/inside.py") + 1


def test_without_runs_says_so_and_links_to_training(app_path):
    assert_no_runs_notice(open_page(app_path, PAGE))


def test_saliency_tab_shows_four_maps_and_the_completeness_numbers(app_path, run_id, reference):
    model, x, y, names, x_uint8 = reference
    at = _open_tab(app_path, "Saliency")
    assert at.selectbox(key="explain_run").value == run_id
    fig = figure(at, "explain_saliency")
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles == ["network<br>input", "gradients", "SmoothGrad", "Integrated<br>Gradients", "Grad-CAM"]
    grads = saliency.gradients(model, x[0])
    assert np.array_equal(np.asarray(fig["data"][1]["z"]), gradcam.overlay(x_uint8[0], grads.heat))
    black = np.zeros_like(x_uint8[:1])
    from cnnviz.runs import store as runs
    from cnnviz.runs.rundata import prepare_inputs
    info = runs.load_run(run_id)
    ig = saliency.integrated_gradients(model, x[0], prepare_inputs(info, black)[0], steps=32)
    assert f"the attributions add up to **{ig.total:.4f}**" in texts(at)
    assert f"**{ig.score - ig.baseline_score:.4f}** (gap" in texts(at)
    at.radio(key="explain_baseline").set_value("blurred").run()
    no_errors(at)
    assert "Completeness check" in texts(at)


def test_occlusion_tab(app_path, run_id, reference):
    model, x, y, names, x_uint8 = reference
    at = _open_tab(app_path, "Occlusion")
    assert "explain_occlusion" in chart_keys(at) and "explain_saliency" not in chart_keys(at)
    at.slider(key="explain_patch").set_value(2).run()
    at.slider(key="explain_stride").set_value(1).run()
    no_errors(at)
    from cnnviz.runs import store as runs
    from cnnviz.runs.rundata import prepare_inputs
    grey = prepare_inputs(runs.load_run(run_id), np.full((1, 1, 1, 1), 128, np.uint8)).reshape(-1)
    occ = occlusion.occlusion(model, x[0], patch=2, stride=1, fill=grey)
    assert "A grey 2×2 patch slid every 1 pixels (49 forward passes)" in texts(at)
    title = figure(at, "explain_occlusion")["layout"]["annotations"][1]["text"]
    assert title == f"probability drop<br>(red = {max(float(occ.heat.max()), 0.0):.1%})"


def test_occlusion_with_one_pixel_patches(app_path, run_id, reference):
    """A 1×1 patch leaves one stride (1): the page draws no stride slider from 1 to 1, which Streamlit refuses."""
    model, x, y, names, x_uint8 = reference
    at = _open_tab(app_path, "Occlusion")
    at.slider(key="explain_patch").set_value(1).run()
    no_errors(at)
    assert "A grey 1×1 patch slid every 1 pixels (64 forward passes)" in texts(at)
    from cnnviz.runs import store as runs
    from cnnviz.runs.rundata import prepare_inputs
    grey = prepare_inputs(runs.load_run(run_id), np.full((1, 1, 1, 1), 128, np.uint8)).reshape(-1)
    occ = occlusion.occlusion(model, x[0], patch=1, stride=1, fill=grey)
    title = figure(at, "explain_occlusion")["layout"]["annotations"][1]["text"]
    assert title == f"probability drop<br>(red = {max(float(occ.heat.max()), 0.0):.1%})"
    at.slider(key="explain_patch").set_value(3).run()  # a stride slider again, from 1 to 3
    no_errors(at)
    assert at.slider(key="explain_stride").max == 3


def test_occlusion_moves_a_bar_with_its_forward_passes(app_path, run_id, monkeypatch):
    """Up to occlusion.MAX_PATCHES forward passes (13 s for 2,500 of seed 004's cats-vs-dogs network on the
    2-core machine): a bar that moves with each batch of patches, a spinner only before."""
    moved, compute = [], occlusion.occlusion

    def watched(*args, progress=None, **kw):  # the page's own bar, wrapped to see it move
        if progress is None:
            return compute(*args, **kw)
        return compute(*args, **kw, progress=lambda done, total: moved.append((done, total)) or progress(done, total))

    monkeypatch.setattr(occlusion, "MAX_PATCHES", 256)
    monkeypatch.setattr(occlusion, "BATCH", 16)
    monkeypatch.setattr(occlusion, "occlusion", watched)
    at = _open_tab(app_path, "Occlusion")
    assert moved == [(9, 9)]  # the default 4×4 patch every 2 pixels: 3×3 positions, one batch
    at.slider(key="explain_patch").set_value(1).run()  # 64 forward passes, 16 at a time
    no_errors(at)
    assert moved[1:] == [(16, 64), (32, 64), (48, 64), (64, 64)]
    assert "A grey 1×1 patch slid every 1 pixels (64 forward passes)" in texts(at)


def test_occlusion_offers_only_patches_within_the_forward_pass_budget(app_path, run_id, monkeypatch):
    """A 160×160 image (a folder dataset's size; seed 004's cats vs dogs are 200×200) makes the default 4×4 patch
    every 2 pixels 79×79 = 6,241 forward passes, more than occlusion.MAX_PATCHES: the tab opened on an error.
    Here the budget shrinks to 8 for the 8×8 digits: only a 4×4 patch every 4 pixels fits."""
    monkeypatch.setattr(occlusion, "MAX_PATCHES", 8)
    at = _open_tab(app_path, "Occlusion")
    assert "A grey 4×4 patch slid every 4 pixels (4 forward passes)" in texts(at)
    assert not at.slider  # nothing else to choose
    monkeypatch.setattr(occlusion, "MAX_PATCHES", 16)  # 2×2 patches every 2 pixels fit, and 3×3 every 2 or 3
    at.run()
    no_errors(at)
    assert (at.slider(key="explain_patch").min, at.slider(key="explain_patch").max) == (2, 4)
    at.slider(key="explain_patch").set_value(3).run()
    no_errors(at)
    assert (at.slider(key="explain_stride").min, at.slider(key="explain_stride").max) == (2, 3)


def test_fooling_tab_fgsm_pgd_and_the_curve(app_path, run_id, reference):
    model, x, y, names, x_uint8 = reference
    at = _open_tab(app_path, "Fooling the network")
    at.slider(key="explain_eps").set_value(8).run()
    no_errors(at)
    expected = adversarial.attack(model, x[0], label=int(y[0]), epsilon=8, unit=1 / 255, lower=0.0, upper=1.0)
    shown = figure(at, "explain_adversarial")
    after = np.asarray(shown["data"][2]["z"])
    assert np.abs(after.astype(int) - x_uint8[0].astype(int)).max() <= 8
    amplified = np.asarray(shown["data"][1]["z"])[..., 0].astype(int)
    np.testing.assert_array_equal(amplified, np.clip(128 + PERTURBATION_GAIN * (after[..., 0].astype(int)
                                                                                 - x_uint8[0][..., 0]), 0, 255))
    assert f"after: **{names[expected.predicted_after]}**" in texts(at)
    at.radio(key="explain_attack").set_value("pgd").run()
    no_errors(at)
    assert "No pixel moved by more than 8 grey levels" in texts(at)
    at.toggle(key="explain_curve").set_value(True).run()
    no_errors(at)
    curve = figure(at, "explain_eps_curve")["data"][0]
    ref = adversarial.accuracy_curve(model, x, y, [0, 1, 2, 4, 8, 12, 16, 32], unit=1 / 255, lower=0.0, upper=1.0)
    assert np.asarray(curve["y"]) == pytest.approx(ref.accuracy)


def test_neuron_tab_equals_keras(app_path, run_id, reference):
    model, x, *_ = reference
    at = _open_tab(app_path, "One neuron")
    layer = neuron.conv2d_layers(model)[0]
    assert at.selectbox(key="explain_neuron_layer").value == layer
    at.number_input(key="explain_neuron_row").set_value(2).run()
    at.number_input(key="explain_neuron_channel").set_value(1).run()
    no_errors(at)
    n = neuron.neuron(neuron.layer_io(model, x[0], layer), 1, 2, 0)
    assert f"Keras computed **{n.keras_value:.4f}**: equal." in texts(at)
    assert figure(at, "explain_neuron")["layout"]["title"]["text"].endswith(f"→ {n.value:.4f}")


def test_numbers_out_of_range_are_said_and_nothing_computed_with_another(app_path, run_id):
    """Issue 14: the image number and the neuron's filter, row and column are checked in Python; a box holding
    a number outside its range keeps it, says why, and nothing is drawn for another number."""
    at = _open_tab(app_path, "One neuron")
    assert "explain_neuron" in chart_keys(at)
    filters, rows = (int(at.number_input(key=k).label.split(" to ")[1].rstrip(")"))  # "Row (0 to 5)" → 5
                     for k in ("explain_neuron_channel", "explain_neuron_row"))
    at.number_input(key="explain_neuron_row").set_value(rows + 1).run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"Row (0 to {rows}) must be from 0 to {rows}; the box shows {rows + 1}."]
    assert at.number_input(key="explain_neuron_row").value == rows + 1
    assert "explain_neuron" not in chart_keys(at) and "Keras computed" not in texts(at)
    at.number_input(key="explain_neuron_row").set_value(0).run()
    at.number_input(key="explain_neuron_channel").set_value(filters + 1).run()
    assert [e.value for e in at.error] == [
        f"Filter (0 to {filters}) must be from 0 to {filters}; the box shows {filters + 1}."]
    assert "explain_neuron" not in chart_keys(at)
    at.number_input(key="explain_neuron_channel").set_value(0).run()
    at.number_input(key="explain_index").set_value(40).run()  # 40 test images: 0 to 39
    assert [e.value for e in at.error] == ["Test image (0 to 39) must be from 0 to 39; the box shows 40."]
    assert at.number_input(key="explain_index").value == 40
    assert "explain_image" not in chart_keys(at) and "Test image #" not in texts(at)


def test_upload_is_explained_without_a_true_class(app_path, run_id):
    picture = np.random.default_rng(0).integers(0, 255, size=(12, 12, 3), dtype=np.uint8)
    at = open_page(app_path, PAGE)
    at.radio(key="explain_source").set_value("Your own picture").run()
    at.file_uploader(key="explain_upload").upload("mine.png", png_bytes(picture), "image/png").run()
    no_errors(at)
    assert "resized from 12×12 to 8×8 pixels" in texts(at)
    assert "explain_saliency" in chart_keys(at)


def test_a_tta_runs_test_image_says_what_evaluate_counted(app_path, run_id, stored):
    at = open_page(app_path, PAGE)
    at.number_input(key="explain_index").set_value(5).run()
    assert "test-time augmentation" not in texts(at)
    at.selectbox(key="explain_run").set_value(stored[1]["tta"]).run()
    no_errors(at)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        names, tested, plain = tta_reference(stored[1]["tta"], 5)
    assert f". It says {names[int(np.argmax(plain))]} ({plain.max():.0%})." in texts(at)
    assert ("Its test accuracy and Evaluate average the answers on each test image and its mirror image "
            f"(test-time augmentation): there it says {names[int(np.argmax(tested))]} ({tested.max():.0%}).") in texts(at)


def test_a_bfloat16_networks_completeness_gap_is_put_down_to_its_rounding(app_path, cnnviz_home):
    """A bfloat16 network (the fast presets from 3 minutes up) rounds its scores and gradients to 8 significant bits:
    its Integrated Gradients gap stays at a few percent however many steps are taken, so the page must not tell the
    student that more steps shrink it."""
    train_runs(cnnviz_home, {"bf16": page_spec({**FLAT_MODEL, "precision": "mixed_bfloat16"})})
    at = _open_tab(app_path, "Saliency")
    assert "Completeness check" in texts(at)
    assert "This network computes in bfloat16" in texts(at) and "however many steps" in texts(at)
    assert "more steps shrink it" not in texts(at)
