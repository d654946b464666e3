"""AppTest of Explain's "What a filter looks for" (filters beside their top test images, classes, Stop and Go on)
and "Embeddings" (PCA and t-SNE against the backend, a click shows the image, the untrained twin beside, pictures),
the FGSM curve of a run and its augmented twin, and Robustness's FGSM curve beside the rotation curve."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnviz.app import actmax as actmax_view
from cnnviz.inspect import actmax, adversarial, embeddings
from cnnviz.runs import labels
from cnnviz.runs import store as runs
from cnnviz.training.spec import twin_spec
from tests.support.pages import chart, chart_keys, figure, no_errors, open_page, texts
from tests.support.progress import record_progress
from tests.support.runs import copy_runs, reference_data, train_runs
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.slow

PAGE = "app_pages/explain.py"
EPSILONS = [0, 1, 2, 4, 8, 12, 16, 32]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("explain-lookfor-runs")
    ids = train_runs(home, {"flat": page_spec(FLAT_MODEL)})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        twin = twin_spec(runs.load_run(ids["flat"]), rotation=30)
    ids.update(train_runs(home, {"twin": twin}))
    return home, ids


@pytest.fixture
def run_ids(stored, cnnviz_home) -> dict[str, str]:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]


@pytest.fixture(scope="module")
def reference(stored):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        return {name: (*reference_data(run_id), runs.load_run(run_id)) for name, run_id in stored[1].items()}


def _open(app_path, run_id: str, tab: str):
    at = open_page(app_path, PAGE)
    at.selectbox(key="explain_run").set_value(run_id).run()
    at.session_state["explain_tab"] = tab
    at.run()
    no_errors(at)
    return at


def _titles(fig) -> list[str]:
    return [a["text"] for a in fig["layout"]["annotations"]]


def test_filters_beside_the_test_images_that_excite_them(app_path, run_ids, reference):
    model, x, y, names, x_uint8, info = reference["flat"]
    at = _open(app_path, run_ids["flat"], "What a filter looks for")
    layer = actmax.conv_layers(model)[0]
    assert at.selectbox(key="explain_actmax_layer").value == layer
    count = actmax.channel_count(model, layer)
    assert at.select_slider(key="explain_actmax_count").value == count  # 4 filters: all of them
    expected = actmax.maximize(model, list(range(count)), layer=layer, lower=0.0, upper=1.0)
    top = actmax.top_images(model, x, layer, list(range(count)), k=5)
    titles = _titles(figure(at, "explain_actmax_filters"))
    assert len(titles) == count * 6
    for c in range(count):
        row = titles[6 * c:6 * c + 6]
        assert row[0] == f"filter {c}<br>{expected.start[c]:.2f} → {expected.final[c]:.2f}"
        assert [int(t.split(" ")[0][1:]) for t in row[1:]] == list(top.indices[c])
    assert np.all(expected.final > expected.start)
    assert "the 5 test images (#number, mean activation) that excite it most" in texts(at)


def test_the_top_images_move_a_bar_with_the_test_images(app_path, run_ids, monkeypatch):
    """2,000 test images through ResNet50's deep layers take minutes on two cores (MobileNetV2's about 16 s): a bar
    that moves with every batch, a spinner only before."""
    moved = record_progress(monkeypatch, actmax, "top_images")  # the page's own bar, wrapped to see it move
    _open(app_path, run_ids["flat"], "What a filter looks for")
    assert moved == [(40, 40)]  # the run's 40 test images, one batch (the backend's batches: test_actmax.py)


def test_stop_keeps_what_is_done_and_go_on_finishes(app_path, run_ids, reference):
    model, *_ = reference["flat"]
    at = open_page(app_path, PAGE)
    at.selectbox(key="explain_run").set_value(run_ids["flat"]).run()
    layer = actmax.conv_layers(model)[0]
    at.session_state["explain_tab"] = "What a filter looks for"
    at.session_state[actmax_view.STOPPED_KEY] = (run_ids["flat"], "channel", layer, (0, 1, 2, 3))
    at.run()
    no_errors(at)
    assert "Stopped after 0 of 4 pictures." in texts(at)
    assert "explain_actmax_filters" not in chart_keys(at)
    at.button(key="explain_actmax_go_on").click().run()
    no_errors(at)
    assert "explain_actmax_filters" in chart_keys(at) and "Stopped after" not in texts(at)


def test_what_each_class_looks_for(app_path, run_ids, reference):
    model, x, y, names, x_uint8, info = reference["flat"]
    at = _open(app_path, run_ids["flat"], "What a filter looks for")
    at.radio(key="explain_actmax_kind").set_value(actmax_view.CLASS).run()
    no_errors(at)
    groups = [actmax.maximize(model, list(range(k, min(k + actmax_view.GROUP, len(names)))), target="class",
                              lower=0.0, upper=1.0) for k in range(0, len(names), actmax_view.GROUP)]
    start, final = (np.concatenate([getattr(g, a) for g in groups]) for a in ("start", "final"))
    titles = _titles(figure(at, "explain_actmax_classes"))
    assert titles == [f"{n}<br>{s:.2f} → {f:.2f}" for n, s, f in zip(names, start, final)]
    assert np.all(final > start)


def _select_point(at, key: str, index: int):
    """Click a point of an embedding scatter (the browser's selection, as tests/support/pages.select_on_chart)."""
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart(at, key).proto.id
    point = {"curve_number": 0, "point_number": 0, "point_index": 0, "customdata": [index, "x", 0.5]}
    state.string_value = json.dumps({"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}})
    return at._run(states)


def _positions(fig) -> tuple[np.ndarray, np.ndarray]:
    """(test-image numbers, N×2 positions) of an embedding scatter, in image order."""
    idx = np.concatenate([[row[0] for row in t["customdata"]] for t in fig["data"]]).astype(int)
    xy = np.concatenate([np.stack([np.asarray(t["x"]), np.asarray(t["y"])], axis=1) for t in fig["data"]])
    order = np.argsort(idx)
    return idx[order], xy[order]


def test_embeddings_pca_tsne_click_untrained_and_pictures(app_path, run_ids, reference):
    model, x, y, names, x_uint8, info = reference["flat"]
    at = _open(app_path, run_ids["flat"], "Embeddings")
    n = len(y)
    assert at.select_slider(key="explain_emb_count").value == n  # fewer test images than 500: all of them
    idx, xy = _positions(figure(at, "explain_emb_trained"))
    np.testing.assert_array_equal(idx, np.arange(n))
    np.testing.assert_allclose(xy, embeddings.pca(embeddings.features(model, x)), rtol=1e-3, atol=1e-3)
    fig = figure(at, "explain_emb_trained")
    assert [t["name"] for t in fig["data"]] == [names[c] for c in sorted(set(y.tolist()))]

    at = _select_point(at, "explain_emb_trained", 3)
    no_errors(at)
    p = model.predict(x[3:4], verbose=0)[0]
    assert (f"Test image #3: truly **{names[int(y[3])]}**; the trained network says **{names[int(np.argmax(p))]}** "
            f"({p.max():.0%})") in texts(at)
    assert "explain_emb_trained_image" in chart_keys(at)

    at.toggle(key="explain_emb_compare").set_value(True).run()
    at.toggle(key="explain_emb_thumbs").set_value(True).run()
    no_errors(at)
    assert {"explain_emb_trained", "explain_emb_untrained"} <= chart_keys(at)
    assert len(figure(at, "explain_emb_untrained")["layout"]["images"]) == min(200, n)
    _, untrained_xy = _positions(figure(at, "explain_emb_untrained"))
    assert not np.allclose(untrained_xy, xy, atol=1e-3)

    at.radio(key="explain_emb_method").set_value("tsne").run()
    no_errors(at)
    idx, layout = _positions(figure(at, "explain_emb_trained"))
    np.testing.assert_allclose(layout, embeddings.tsne(embeddings.features(model, x)), rtol=1e-3, atol=1e-2)


def test_embeddings_move_a_bar_with_the_test_images(app_path, run_ids, reference, monkeypatch):
    """1,000 test images through a ResNet50 transfer network take a minute and more on two cores (3.5 s per 64
    images' features and 2.4 s per 64 answers once warm): a bar that moves with every batch, a spinner only before."""
    moved = record_progress(monkeypatch, embeddings, "features")  # the page's own bar, wrapped to see it move
    _open(app_path, run_ids["flat"], "Embeddings")
    assert moved == [(40, 40)]  # the run's 40 test images, one batch (the backend's batches: test_embeddings.py)


def test_fgsm_curve_of_a_run_and_its_augmented_twin(app_path, run_ids, reference):
    at = _open(app_path, run_ids["flat"], "Fooling the network")
    at.toggle(key="explain_curve").set_value(True).run()
    no_errors(at)
    fig = figure(at, "explain_eps_curve")
    assert [t["name"] for t in fig["data"]] == [labels.legend_label(reference[k][5]) for k in ("flat", "twin")]
    for trace, name in zip(fig["data"], ("flat", "twin")):
        model, x, y, *_ = reference[name]
        ref = adversarial.accuracy_curve(model, x, y, EPSILONS, unit=1 / 255, lower=0.0, upper=1.0)
        assert np.asarray(trace["y"]) == pytest.approx(ref.accuracy)
    assert "for this run and its augmented twin" in texts(at)


def test_explains_fgsm_curve_is_measured_on_robustnesss_test_images(app_path, run_ids, reference, monkeypatch):
    from cnnviz.inspect import robustness

    model, x, y, *_ = reference["flat"]
    limit = len(y) // 3
    monkeypatch.setattr(robustness, "SAMPLE_IMAGES", limit)
    at = _open(app_path, run_ids["flat"], "Fooling the network")
    at.toggle(key="explain_curve").set_value(True).run()
    no_errors(at)
    keep = robustness.sample_indices(len(y), limit)
    ref = adversarial.accuracy_curve(model, x[keep], y[keep], EPSILONS, unit=1 / 255, lower=0.0, upper=1.0)
    fig = figure(at, "explain_eps_curve")
    assert np.asarray(fig["data"][0]["y"]) == pytest.approx(ref.accuracy)
    assert fig["layout"]["title"]["text"] == f"Accuracy of {limit} test images under FGSM"
    assert f"measured on the same test images (at most {limit:,}, evenly spaced)" in texts(at)


def test_robustness_draws_the_fgsm_curves_beside_the_rotation_curve(app_path, run_ids, reference):
    at = open_page(app_path, "app_pages/robustness.py")
    at.multiselect(key="robust_runs").set_value([run_ids["flat"], run_ids["twin"]]).run()
    at.toggle(key="robust_fgsm").set_value(True).run()
    no_errors(at)
    assert {"robust_angle_chart", "robust_fgsm_chart"} <= chart_keys(at)
    fig = figure(at, "robust_fgsm_chart")
    for trace, name in zip(fig["data"], ("flat", "twin")):
        model, x, y, *_ = reference[name]
        assert trace["name"] == labels.legend_label(reference[name][5])
        ref = adversarial.accuracy_curve(model, x, y, EPSILONS, unit=1 / 255, lower=0.0, upper=1.0)
        assert np.asarray(trace["y"]) == pytest.approx(ref.accuracy)


@pytest.fixture(scope="module")
def four_test_images(tmp_path_factory):
    """A run tested on its first 4 test images only (Build & train allows any test size with "first")."""
    home = tmp_path_factory.mktemp("explain-four-test-images")
    spec = page_spec(FLAT_MODEL, test_size=4, selection={"subset": "first", "split": "stratified"})
    return home, train_runs(home, {"four": spec})["four"]


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embeddings_of_too_few_test_images_say_so_in_words(app_path, four_test_images, cnnviz_home, method):
    """The tab showed the backend's "features must be N×D finite numbers with N ≥ 5, got shape (4, 64)"."""
    copy_runs(four_test_images[0], cnnviz_home)
    at = open_page(app_path, PAGE)
    at.session_state["explain_tab"] = "Embeddings"
    at.session_state["explain_emb_method"] = method
    at.run()
    no_errors(at)
    assert f"at least {embeddings.MIN_POINTS} test images" in texts(at) and "has 4" in texts(at)
    assert not {"explain_emb_trained", "explain_emb_untrained"} & chart_keys(at)



@pytest.fixture(scope="module")
def dead_filter(stored, tmp_path_factory):
    """The flat run saved again with filter 0 of its first conv dead: a bias of -100 keeps its ReLU at 0 on every
    image (pixels are in 0..1 and the weights small)."""
    from cnnviz.runs import saving

    home = tmp_path_factory.mktemp("explain-dead-filter")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        info = runs.load_run(stored[1]["flat"])
        model = runs.load_model(info.run_id)
        mp.setenv("CNNVIZ_HOME", str(home))
        conv = model.get_layer(actmax.conv_layers(model)[0])
        bias = conv.bias.numpy()
        bias[0] = -100.0
        conv.bias.assign(bias)
        run_id = saving.save_run(model, config=info.config, history=info.history, metrics=info.metrics,
                                 status="finished").run_id
        return home, run_id, model


def test_a_filter_that_never_fires_is_not_said_to_be_excited_by_the_first_test_images(app_path, dead_filter,
                                                                                       cnnviz_home):
    """A dead filter (ReLU output 0 on every test image) got the first 5 test images, all (0.00), shown as
    "the test images that excite it most" without a word."""
    home, run_id, model = dead_filter
    copy_runs(home, cnnviz_home)
    at = _open(app_path, run_id, "What a filter looks for")
    titles = _titles(figure(at, "explain_actmax_filters"))
    assert titles[1:6] == [f"#{i} (0.00)" for i in range(5)]  # the first five: none excites it
    (note,) = [c.value for c in at.caption if "never" in c.value]
    assert note.startswith("Filter 0 is 0 on every one of the first ") and "not images that excite it" in note
