"""cnnviz.inspect.evaluation and cnnviz.plots.evaluation on a model whose outputs are known by hand."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation
from cnnviz.plots import evaluation as plots
from tests.support.models import pixel_image, pixel_model, pixel_probs


NAMES = ("cat", "dog", "frog")
# (true class, class whose pixel is lit = predicted class, pixel value -> confidence)
CASES = [
    (0, 0, 1.0), (0, 0, 0.5), (0, 1, 2.0), (0, 2, 0.3),
    (1, 1, 1.0), (1, 0, 1.5), (1, 0, 0.2),
    (2, 2, 2.0), (2, 2, 0.1), (2, 1, 0.7),
]
# Hand-made confusion matrix of CASES (row true, column predicted).
CONFUSION = np.array([[2, 1, 1], [2, 1, 0], [0, 1, 2]])


@pytest.fixture(scope="module")
def model():
    return pixel_model(3)


@pytest.fixture(scope="module")
def data():
    x = np.stack([pixel_image(k, v) for _, k, v in CASES])
    y = np.array([t for t, _, _ in CASES])
    return x, y


@pytest.fixture(scope="module")
def ev(model, data):
    return evaluation.evaluate(model, *data, NAMES, batch_size=4)


def hand_probs():
    return np.stack([pixel_probs(k, v) for _, k, v in CASES])


def test_doctests():
    assert doctest.testmod(evaluation).failed == 0


@pytest.mark.slow
def test_probabilities_match_the_hand_formula_in_batches(model, data):
    probs = evaluation.predict_probabilities(model, data[0], batch_size=3)
    assert probs.shape == (10, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs, hand_probs(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_metrics_equal_hand_computed_ones(ev):
    np.testing.assert_array_equal(ev.predicted, [k for _, k, _ in CASES])
    np.testing.assert_array_equal(ev.confusion, CONFUSION)
    np.testing.assert_allclose(ev.confusion_normalized, CONFUSION / CONFUSION.sum(axis=1, keepdims=True))
    assert ev.accuracy == pytest.approx(5 / 10)
    p = hand_probs()
    assert ev.loss == pytest.approx(-np.mean(np.log(p[np.arange(10), [t for t, _, _ in CASES]])), rel=1e-5)
    # precision = diagonal / column sum, recall (= per-class accuracy) = diagonal / row sum
    want = {
        "cat": dict(precision=2 / 4, recall=2 / 4, support=4),
        "dog": dict(precision=1 / 3, recall=1 / 3, support=3),
        "frog": dict(precision=2 / 3, recall=2 / 3, support=3),
    }
    for row in ev.per_class:
        w = want[row["name"]]
        assert row["precision"] == pytest.approx(w["precision"])
        assert row["recall"] == pytest.approx(w["recall"]) == pytest.approx(row["accuracy"])
        assert row["support"] == w["support"]
        assert row["f1"] == pytest.approx(2 * w["precision"] * w["recall"] / (w["precision"] + w["recall"]))


@pytest.mark.slow
def test_loss_and_per_class_agree_with_keras_and_sklearn(ev, model, data):
    import keras
    from sklearn.metrics import precision_recall_fscore_support

    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    keras_loss, keras_acc = model.evaluate(data[0], data[1], verbose=0)
    assert ev.loss == pytest.approx(keras_loss, rel=1e-5)
    assert ev.accuracy == pytest.approx(keras_acc)
    assert keras.__version__  # the comparison above really used Keras
    prec, rec, f1, sup = precision_recall_fscore_support(data[1], ev.predicted, labels=[0, 1, 2], zero_division=0)
    np.testing.assert_allclose([r["precision"] for r in ev.per_class], prec)
    np.testing.assert_allclose([r["recall"] for r in ev.per_class], rec)
    np.testing.assert_allclose([r["f1"] for r in ev.per_class], f1)
    np.testing.assert_array_equal([r["support"] for r in ev.per_class], sup)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.2])
def test_cross_entropy_with_label_smoothing_is_keras_loss(smoothing):
    import keras

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), 50).astype(np.float32)
    probs[0] = [1.0, 0.0, 0.0, 0.0]  # clipped at EPSILON as Keras does
    y = rng.integers(0, 4, 50)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    expected = float(loss(np.eye(4, dtype=np.float32)[y], probs))
    assert evaluation.cross_entropy(probs, y, label_smoothing=smoothing) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(InvalidArgument, match="label smoothing must be at least 0 and below 1, got 1.5"):
        evaluation.cross_entropy(probs, y, label_smoothing=1.5)


@pytest.mark.slow
def test_most_confused_pairs(ev):
    pairs = evaluation.most_confused(ev.confusion, NAMES, top=3)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [(1, 0, 2), (0, 1, 1), (0, 2, 1)]
    assert pairs[0]["true_name"] == "dog" and pairs[0]["predicted_name"] == "cat"
    assert pairs[0]["fraction"] == pytest.approx(2 / 3)
    assert len(evaluation.most_confused(ev.confusion, NAMES, top=99)) == 4  # only non-zero cells


@pytest.mark.slow
def test_select_mistakes_filters_return_exact_indices(ev):
    # mistakes are cases 2, 3, 5, 6, 9
    assert set(evaluation.select_images(ev, order="index")) == {2, 3, 5, 6, 9}
    assert list(evaluation.select_images(ev, true_class=0, order="index")) == [2, 3]
    assert list(evaluation.select_images(ev, predicted_class=0, order="index")) == [5, 6]
    assert list(evaluation.select_images(ev, true_class=1, predicted_class=0, order="index")) == [5, 6]
    assert list(evaluation.select_images(ev, true_class=2, predicted_class=0)) == []
    assert list(evaluation.select_images(ev, which="correct", order="index")) == [0, 1, 4, 7, 8]
    assert list(evaluation.select_images(ev, which="all", true_class=2, order="index")) == [7, 8, 9]


@pytest.mark.slow
def test_select_orders(ev):
    # Confidence of the mistakes follows their lit pixel value: 2.0 (idx 2) > 1.5 (5) > 0.7 (9) > 0.3 (3) > 0.2 (6)
    assert list(evaluation.select_images(ev)) == [2, 5, 9, 3, 6]
    assert list(evaluation.select_images(ev, order="low_confidence")) == [6, 3, 9, 5, 2]
    assert list(evaluation.select_images(ev, limit=2)) == [2, 5]
    r1 = evaluation.select_images(ev, order="random", seed=7)
    r2 = evaluation.select_images(ev, order="random", seed=7)
    np.testing.assert_array_equal(r1, r2)
    assert sorted(r1) == [2, 3, 5, 6, 9]
    seeds = {tuple(evaluation.select_images(ev, order="random", seed=s)) for s in range(10)}
    assert len(seeds) > 1


@pytest.mark.slow
def test_cell_images(ev):
    assert list(evaluation.cell_images(ev, 1, 0)) == [5, 6]
    assert list(evaluation.cell_images(ev, 0, 0, order="index")) == [0, 1]
    assert list(evaluation.cells_images(ev, [(1, 0), (2, 1), (1, 0)], order="index")) == [5, 6, 9]
    for t in range(3):
        for p in range(3):
            assert len(evaluation.cell_images(ev, t, p)) == CONFUSION[t, p]


@pytest.mark.slow
def test_describe_images_top3(ev):
    d = evaluation.describe_images(ev, [2, 4], k=3)
    p = pixel_probs(1, 2.0)
    assert d[0]["index"] == 2 and d[0]["true_name"] == "cat" and d[0]["predicted_name"] == "dog"
    assert not d[0]["correct"] and d[1]["correct"]
    assert [t[0] for t in d[0]["top"]] == [1, 0, 2]  # tie between 0 and 2 broken by class index
    assert d[0]["top"][0][2] == pytest.approx(p[1], rel=1e-5)
    assert d[0]["confidence"] == pytest.approx(p[1], rel=1e-5)
    with pytest.raises(InvalidArgument, match="image index must lie in 0..9, got 10"):
        evaluation.describe_images(ev, [10])


def _old_per_class_metrics(confusion, class_names):
    """The hand-written metrics that sklearn's precision_recall_fscore_support replaced (issue 13)."""
    out = []
    for i, name in enumerate(class_names):
        support, predicted, correct = int(confusion[i].sum()), int(confusion[:, i].sum()), int(confusion[i, i])
        recall = correct / support if support else 0.0
        precision = correct / predicted if predicted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out.append(dict(index=i, name=str(name), support=support, correct=correct, predicted=predicted,
                        accuracy=recall, precision=precision, recall=recall, f1=f1))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_per_class_metrics_give_the_old_hand_written_numbers(seed):
    rng = np.random.default_rng(seed)
    names = ("a", "b", "c", "d", "e")
    y_true = rng.integers(0, 4, size=60)  # class "e" has no image
    # "d" predicted only when right, "e" never
    y_pred = np.where(rng.random(60) < 0.5, y_true, rng.integers(0, 3, size=60))
    cm, _ = evaluation.confusion_matrices(y_true, y_pred, len(names))
    new, old = evaluation.per_class_metrics(y_true, y_pred, names), _old_per_class_metrics(cm, names)
    assert [sorted(r) for r in new] == [sorted(r) for r in old]
    for n, o in zip(new, old):
        for key, value in o.items():
            assert type(n[key]) is type(value) and n[key] == pytest.approx(value, abs=1e-12), (key, n, o)


def test_as_probabilities_handles_logits_and_sigmoid():
    logits = np.array([[2.0, -1.0, 0.5]])
    e = np.exp(logits - logits.max())
    np.testing.assert_allclose(evaluation.as_probabilities(logits), e / e.sum(), rtol=1e-6)
    probs = np.array([[0.2, 0.8]])
    np.testing.assert_allclose(evaluation.as_probabilities(probs), probs)
    np.testing.assert_allclose(evaluation.as_probabilities(np.array([[0.3]])), [[0.7, 0.3]], rtol=1e-6)


def test_confusion_matrices_with_an_absent_class():
    counts, norm = evaluation.confusion_matrices(np.array([0, 0, 1]), np.array([0, 1, 1]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(norm, [[0.5, 0.5, 0], [0, 1, 0], [0, 0, 0]])


def test_validation_messages():
    probs = np.full((2, 3), 1 / 3)
    with pytest.raises(InvalidArgument, match="the model outputs 3 classes but 2 class names were given"):
        evaluation.evaluation_from_probabilities(probs, [0, 1], ["a", "b"])
    with pytest.raises(InvalidArgument, match=r"labels must lie in 0..2 for 3 classes, got values from 0 to 5"):
        evaluation.evaluation_from_probabilities(probs, [0, 5], NAMES)
    with pytest.raises(InvalidArgument, match=r"need one integer label per image \(2\), got labels of shape \(3,\)"):
        evaluation.evaluation_from_probabilities(probs, [0, 1, 2], NAMES)
    with pytest.raises(InvalidArgument, match=r"x must be a batch of images N×H×W×C, got an array of shape \(8, 8\)"):
        evaluation.check_images(np.zeros((8, 8)))
    ev = evaluation.evaluation_from_probabilities(probs, [0, 1], NAMES)
    with pytest.raises(InvalidArgument, match="which must be one of mistakes, correct, all, got 'wrong'"):
        evaluation.select_images(ev, which="wrong")
    with pytest.raises(InvalidArgument, match=r"true class must be a class index 0..2 or None, got 3"):
        evaluation.select_images(ev, true_class=3)
    with pytest.raises(InvalidArgument, match="order must be one of"):
        evaluation.select_images(ev, order="best")


@pytest.mark.slow
def test_wrong_image_size_is_explained(model):
    with pytest.raises(InvalidArgument, match="the model expects images of 8×8×1, got images of 16×16×1"):
        evaluation.predict_probabilities(model, np.zeros((2, 16, 16, 1)))


# --- figures ----------------------------------------------------------------------------
@pytest.mark.slow
def test_confusion_figure_matches_hand_matrix_and_carries_cells(ev):
    fig = plots.confusion_matrix_figure(ev.confusion, NAMES)
    heat, cells = fig.data
    np.testing.assert_array_equal(np.array(heat.z), CONFUSION)
    assert list(heat.x) == list(NAMES) and list(heat.y) == list(NAMES)
    custom = np.array(heat.customdata)
    assert custom.shape == (3, 3, 3)
    for t in range(3):
        for p in range(3):
            assert list(custom[t, p]) == [t, p, CONFUSION[t, p]]
    assert cells.name == plots.CELL_TRACE_NAME
    for x, y, cd in zip(cells.x, cells.y, cells.customdata):
        assert (NAMES.index(y), NAMES.index(x)) == (cd[0], cd[1]) and cd[2] == CONFUSION[cd[0], cd[1]]
    norm = plots.confusion_matrix_figure(ev.confusion, NAMES, normalized=True)
    np.testing.assert_allclose(np.array(norm.data[0].z), CONFUSION / CONFUSION.sum(axis=1, keepdims=True))
    assert norm.data[0].text[1][0] == "67%<br>2"


def test_a_single_click_reaches_the_cell_trace():
    """Plotly fires no click event for a trace with hoverinfo "skip" and Streamlit selects no heat-map cell:
    the marker trace must answer the mouse (issue 14: "Click a cell" did nothing, only a box selected)."""
    fig = plots.confusion_matrix_figure(CONFUSION, NAMES, normalized=True)
    heat, cells = fig.data
    assert heat.hoverinfo == "skip"
    assert cells.hoverinfo != "skip" and "%{customdata[2]} images" in cells.hovertemplate
    assert "%{customdata[3]:.1%} of the true class" in cells.hovertemplate
    assert cells.customdata[3][3] == pytest.approx(CONFUSION[1, 0] / CONFUSION[1].sum())
    assert fig.layout.clickmode == "event+select"


def test_cells_from_streamlit_selection():
    event = {"selection": {"points": [
        {"curve_number": 1, "point_index": 3, "x": "cat", "y": "dog", "customdata": [1, 0, 2]},
        {"curve_number": 1, "point_index": 7, "x": "dog", "y": "frog", "customdata": [2, 1, 1]},
        {"curve_number": 1, "point_index": 3, "x": "cat", "y": "dog", "customdata": [1, 0, 2]},
        {"curve_number": 0, "x": "cat", "y": "cat"},
    ], "point_indices": [3, 7], "box": [], "lasso": []}}
    assert plots.cells_from_selection(event) == [(1, 0), (2, 1)]
    assert plots.cells_from_selection(event["selection"]) == [(1, 0), (2, 1)]
    assert plots.cells_from_selection(None) == []
    assert plots.cells_from_selection({"selection": {"points": []}}) == []


def test_per_class_figure_gives_a_class_without_test_images_no_accuracy():
    """A tiny test set (e.g. the first 3 images) leaves classes out: their accuracy is not 0% (none right) but
    undefined, as on Robustness's per-class map; their precision (0 of the images said to be that class) stays."""
    per_class = evaluation.per_class_metrics(np.array([0, 0, 1]), np.array([0, 2, 1]), ("a", "b", "c"))
    fig = plots.per_class_figure(per_class, metrics=("accuracy", "precision", "recall"))
    accuracy, precision, recall = fig.data
    assert list(accuracy.y) == [0.5, 1.0, None] and list(recall.y) == [0.5, 1.0, None]
    assert list(accuracy.text) == ["50%", "100%", "no test images"]
    assert list(precision.y) == [1.0, 1.0, 0.0]


@pytest.mark.slow
def test_per_class_figure_shows_hand_accuracies(ev):
    fig = plots.per_class_figure(ev.per_class, metrics=("accuracy", "precision"))
    assert [t.name for t in fig.data] == ["accuracy", "precision"]
    np.testing.assert_allclose(fig.data[0].y, [2 / 4, 1 / 3, 2 / 3])
    np.testing.assert_allclose(fig.data[1].y, [2 / 4, 1 / 3, 2 / 3])
    assert list(fig.data[0].x) == list(NAMES)
    with pytest.raises(InvalidArgument, match="metric must be one of accuracy, precision, recall, f1, got 'auc'"):
        plots.per_class_figure(ev.per_class, metrics=("auc",))


@pytest.mark.slow
def test_galleries_colour_titles(ev, data):
    idx = np.array([0, 2, 5])
    fig = plots.prediction_gallery(data[0][idx], ev.y_true[idx], ev.predicted[idx], NAMES)
    titles = [(a.text, a.font.color) for a in fig.layout.annotations]
    assert titles == [("cat", "green"), ("dog (cat)", "red"), ("cat (dog)", "red")]
    d = evaluation.describe_images(ev, [2, 4])
    fig = plots.mistakes_gallery(data[0][[2, 4]], d)
    texts = [a.text for a in fig.layout.annotations]
    assert texts[0].startswith("true cat<br>dog ") and texts[0].count("%") == 3
    assert [a.font.color for a in fig.layout.annotations] == ["red", "green"]
    assert len(fig.data) == 2


def test_backend_modules_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import cnnviz.inspect.evaluation, cnnviz.inspect.features, cnnviz.inspect.robustness, cnnviz.plots.evaluation, "
            "cnnviz.plots.features, cnnviz.plots.robustness; print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


@pytest.mark.slow
def test_flip_tta_is_the_mean_with_the_mirror_image(model, data):
    # Mirrored, the one lit pixel (0, k) moves to column 7 - k, which no class looks at: the mirror
    # image's prediction is uniform, so TTA halves each image's distance to 1/3.
    ev_tta = evaluation.evaluate(model, *data, NAMES, batch_size=4, tta="flip")
    np.testing.assert_allclose(ev_tta.probabilities, (hand_probs() + 1 / 3) / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="test-time augmentation must be one of none, flip, flip_translate, got 'rotate'"):
        evaluation.evaluate(model, *data, NAMES, tta="rotate")


@pytest.mark.parametrize("seed", range(6))
def test_confusion_and_per_class_metrics_equal_sklearns(seed):
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 12))
    names = [f"c{i}" for i in range(k)]
    y_true = rng.integers(0, max(1, k - 1), size=int(rng.integers(1, 400)))  # the last class has no image
    y_pred = np.where(rng.random(len(y_true)) < 0.6, y_true, rng.integers(0, k, size=len(y_true)))
    counts, _ = evaluation.confusion_matrices(y_true, y_pred, k)
    np.testing.assert_array_equal(counts, confusion_matrix(y_true, y_pred, labels=np.arange(k)))
    assert counts.dtype == np.int64
    prec, rec, f1, sup = precision_recall_fscore_support(y_true, y_pred, labels=np.arange(k), zero_division=0.0)
    rows = evaluation.per_class_metrics(y_true, y_pred, names)
    for key, want in (("precision", prec), ("recall", rec), ("f1", f1), ("support", sup)):
        np.testing.assert_allclose([r[key] for r in rows], want, rtol=0, atol=1e-12)


def test_evaluate_and_the_app_caches_import_no_scikit_learn():
    import subprocess
    import sys

    code = "import sys, cnnviz.inspect.evaluation, cnnviz.app.caches; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_softmax_rows_with_an_exact_zero_stay_probabilities():
    """A confident float32 softmax underflows to exact zeros: such rows are probabilities already, not logits to
    softmax again (which would turn a 100% answer into 58%)."""
    probs = np.array([[1.0, 0.0, 0.0], [0.0, 0.25, 0.75]])
    np.testing.assert_array_equal(evaluation.as_probabilities(probs), probs.astype(np.float32))
