"""Notebook questions answered on the run pages (Runs, Evaluate, Inside the network, Robustness): the values
shown against the trained Keras models themselves (issue 16).

Two tiny digits runs are trained once; each check compares what a page shows with the run's own files
(history.json) or with the saved Keras model run here on the test images: accuracy and loss from
``predict``, the confusion matrix from scikit-learn, feature maps from a Keras sub-model, accuracy on
test images turned with ``np.rot90``. Rows of docs/notebooks.md marked ``value (test_notebook_answers_runs.py)``.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs
from tests.support.notebook import metric, run_checks
from tests.support.pages import figure
from tests.support.runs import reference_data, train_runs
from tests.support.specs import FLAT_MODEL, page_spec
from tests.support.views import open_view

pytestmark = pytest.mark.slow
REFERENCE = {}  # run name: what the saved model gives here (filled by the ``reference`` fixture)


@pytest.fixture(scope="module", name="stored_runs")
def _stored_runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("notebook-answer-runs")
    # "flat" trained last: the newest run, the pages' default
    return home, train_runs(home, {"other": page_spec(FLAT_MODEL, seed=1, epochs=1), "flat": page_spec(FLAT_MODEL)})


@pytest.fixture(scope="module", autouse=True)
def reference(stored_runs):
    """Each run's model, scaled and uint8 test images, labels, predictions and history, loaded without the app."""
    home, ids = stored_runs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        for name, run_id in ids.items():
            model, x, y, names, x_uint8 = reference_data(run_id)
            probs = np.asarray(model.predict(x, verbose=0))
            history = json.loads((home / "runs" / run_id / "history.json").read_text(encoding="utf-8"))
            REFERENCE[name] = dict(model=model, x=x, y=y, names=names, x_uint8=x_uint8, probs=probs,
                                   pred=probs.argmax(axis=1), history=history, info=runs.load_run(run_id))
    yield
    REFERENCE.clear()


def _accuracy(name: str = "flat") -> float:
    ref = REFERENCE[name]
    return float(np.mean(ref["pred"] == ref["y"]))


# --- Runs --------------------------------------------------------------------------------------------------

def _curves(at, which: str) -> dict[str, list[float]]:
    at.segmented_control(key="runs_metric").set_value(which).run()
    return {t["name"]: [float(v) for v in t["y"]] for t in figure(at, "runs_curves")["data"]}


def q11_train_against_test(at):
    """Training (solid) and validation (dashed) accuracy per epoch are the run's history; the test accuracy
    is the model's on the test images."""
    curves = _curves(at, "accuracy")
    for ref in REFERENCE.values():
        label = ref["info"].label
        assert curves[f"{label} training"] == pytest.approx(ref["history"]["accuracy"])
        assert curves[f"{label} validation"] == pytest.approx(ref["history"]["val_accuracy"])
    assert metric(at, "Test accuracy") == f"{_accuracy():.1%}"


def tensorboard_curves(at):
    """The loss curves (what seed 002 watched in TensorBoard) are the runs' per-epoch losses."""
    curves = _curves(at, "loss")
    for ref in REFERENCE.values():
        assert curves[f"{ref['info'].label} training"] == pytest.approx(ref["history"]["loss"])
        assert curves[f"{ref['info'].label} validation"] == pytest.approx(ref["history"]["val_loss"])
    _curves(at, "accuracy")


def q22_best_run(at):
    """Each run's test accuracy in the runs table is its model's; the best one is the one the models say."""
    table = next(f.value for f in at.dataframe if "test accuracy" in f.value.columns and "by" in f.value.columns)
    shown = dict(zip(table["run"], table["test accuracy"]))
    expected = {ref["info"].run_id: _accuracy(name) for name, ref in REFERENCE.items()}
    assert shown == pytest.approx(expected, abs=1e-6)
    assert max(shown, key=shown.get) == max(expected, key=expected.get)


# --- Evaluate ----------------------------------------------------------------------------------------------

def part11_test_accuracy(at):
    """Test accuracy and test images shown = the saved model's on the run's test images."""
    assert metric(at, "Test accuracy") == f"{_accuracy():.1%}"
    assert metric(at, "Test images") == f"{len(REFERENCE['flat']['y']):,}"
    assert metric(at, "Mistakes") == f"{int(np.sum(REFERENCE['flat']['pred'] != REFERENCE['flat']['y'])):,}"


def loss_shown(at):
    """Test loss shown = the mean cross-entropy of the model's probabilities (Keras' loss function)."""
    import keras

    ref = REFERENCE["flat"]
    onehot = keras.utils.to_categorical(ref["y"], len(ref["names"]))
    loss = float(np.mean(keras.losses.categorical_crossentropy(onehot, ref["probs"])))
    assert float(metric(at, "Test loss")) == pytest.approx(loss, abs=1e-4)


def confusion_matrix(at):
    """The confusion matrix is scikit-learn's; the most confused pair named is its largest off-diagonal cell."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    ref = REFERENCE["flat"]
    cm = sk_confusion(ref["y"], ref["pred"], labels=range(len(ref["names"])))
    np.testing.assert_array_equal(np.asarray(figure(at, "eval_cm")["data"][0]["z"]), cm)
    off = cm - np.diag(np.diag(cm))
    t, p = np.unravel_index(np.argmax(off), off.shape)  # row-major: ties go to the lower indices, as the page's
    said = next(m.value for m in at.markdown if m.value.startswith("Most often confused"))
    assert said.startswith(f"Most often confused: **{ref['names'][t]}** taken for **{ref['names'][p]}** "
                           f"{off[t, p]}×"), said


def part20_mistakes(at):
    """The images behind the numbers (mistakes by default): each one the model gets wrong, with its true and
    predicted class, and all of the mistakes (up to the limit)."""
    ref = REFERENCE["flat"]
    table = next(f.value for f in at.dataframe if "test image" in f.value.columns)
    wrong = np.flatnonzero(ref["pred"] != ref["y"])
    assert set(table["test image"]) <= set(wrong.tolist()) and len(table) == min(len(wrong), 20)
    for index, true, said in zip(table["test image"], table["true"], table["said"]):
        assert (true, said) == (ref["names"][ref["y"][index]], ref["names"][ref["pred"][index]])


def predictions(at):
    """seed 002 1.5.6: each picture of the gallery is a test image, titled with the model's prediction, in
    green when right, red with the true class when wrong."""
    ref = REFERENCE["flat"]
    fig = figure(at, "eval_predictions")
    pictures = [np.asarray(t["z"]) for t in fig["data"] if t["type"] == "image"]
    notes = fig["layout"]["annotations"]
    assert len(pictures) == len(notes) == 16
    grey = ref["x_uint8"][..., 0]
    for picture, note in zip(pictures, notes):
        found = [i for i in range(len(grey)) if np.array_equal(picture[..., 0], grey[i])]
        assert found, "a picture that is no test image"
        said = {(ref["names"][ref["pred"][i]] if ref["pred"][i] == ref["y"][i]
                 else f"{ref['names'][ref['pred'][i]]} ({ref['names'][ref['y'][i]]})",
                 "green" if ref["pred"][i] == ref["y"][i] else "red") for i in found}
        colour = note["font"]["color"]
        assert (note["text"], colour) in said, (note["text"], colour, said)


# --- Inside the network ---------------------------------------------------------------------------------------

def feature_maps(at):
    """Per-channel mean, min and max of the feature maps shown = a Keras sub-model's output for that image."""
    import keras

    ref = REFERENCE["flat"]
    index = at.number_input(key="inside_index").value
    layer = at.selectbox(key="inside_layer").value
    sub = keras.Model(ref["model"].inputs[0], ref["model"].get_layer(layer).output)
    maps = np.asarray(sub(ref["x"][index:index + 1]))[0]
    bars = figure(at, "inside_stats")["data"][0]
    np.testing.assert_allclose(bars["y"], maps.mean(axis=(0, 1)), rtol=1e-4, atol=1e-6)
    low_high = np.asarray(bars["customdata"], dtype=float)[:, :2]
    np.testing.assert_allclose(low_high, np.stack([maps.min(axis=(0, 1)), maps.max(axis=(0, 1))], axis=1),
                               rtol=1e-4, atol=1e-6)


def filters(at):
    """seed 004: the learned filters shown are the Keras layer's kernel, one grey scale for the whole layer."""
    at.session_state["inside_tab"] = "Filters"
    at.run()
    at.radio(key="inside_filter_scale").set_value("global").run()
    layer = at.selectbox(key="inside_filter_layer").value
    kernel = np.asarray(REFERENCE["flat"]["model"].get_layer(layer).get_weights()[0], dtype=np.float64)
    levels = np.round((kernel - kernel.min()) / (kernel.max() - kernel.min()) * 255)
    fig = figure(at, "inside_filters")
    tiles = [np.asarray(t["z"])[..., 0] for t in fig["data"] if t["type"] == "image"]
    names = [a["text"] for a in fig["layout"]["annotations"]]
    assert len(tiles) == len(names) == kernel.shape[2] * kernel.shape[3]
    for tile, name in zip(tiles, names):
        f, c = (int(n) for n in re.fullmatch(r"f(\d+) c(\d+)", name).groups())
        assert np.abs(tile.astype(int) - levels[:, :, c, f]).max() <= 1, name
    at.session_state["inside_tab"] = "Feature maps"
    at.run()


# --- Robustness ------------------------------------------------------------------------------------------------

def q23_rotation(at):
    """Accuracy at 0°, 90°, 180°, 270°: the model on the test images turned by np.rot90 (counter-clockwise)."""
    ref = REFERENCE["flat"]
    line = next(t for t in figure(at, "robust_angle_chart")["data"] if t["type"] == "scatter")
    assert np.asarray(line["x"]).tolist() == [0, 90, 180, 270]
    expected = []
    for k in range(4):
        turned = prepare_inputs(ref["info"], np.rot90(ref["x_uint8"], k=k, axes=(1, 2)))
        expected.append(float(np.mean(ref["model"].predict(turned, verbose=0).argmax(axis=1) == ref["y"])))
    assert np.asarray(line["y"]) == pytest.approx(expected)
    assert expected[0] == pytest.approx(_accuracy())


def other_sizes(at):
    """Q27 / Part 21: a Flatten network trained on 8×8 cannot take 12×12 or 16×16 images: the same network
    built by Keras for that size does not take the trained weights (the dense layer would need more), and
    the page says so for each size (no accuracy) and offers the global-pooling twin."""
    from cnnviz.models.config import ModelConfig
    from cnnviz.models.network import build_model

    ref = REFERENCE["flat"]
    at.session_state["robust_tab"] = "Other sizes"
    at.run()
    at.pills(key="robust_size_factors").set_value([1.5, 2.0]).run()  # 12×12 and 16×16
    side = ref["x"].shape[1]
    sizes = sorted({round(side * f) for f in at.pills(key="robust_size_factors").value})
    for size in sizes:
        bigger = build_model(ModelConfig.from_dict(FLAT_MODEL), input_shape=(size, size, 1), num_classes=10)
        with pytest.raises(ValueError):
            bigger.set_weights(ref["model"].get_weights())
    assert not at.success and len(at.info) >= len(sizes) == 2, [m.value for m in at.success]
    assert at.button(key=f"robust_gap_twin_{ref['info'].run_id}")  # the way out: the global-pooling twin


CHECKS = {"seed 000 Q11": q11_train_against_test, "seed 002 TensorBoard": tensorboard_curves,
          "seed 000 Q22": q22_best_run, "seed 003 4.3": q22_best_run,
          "seed 000 Part 11": part11_test_accuracy, "seed 002 1.4.5": loss_shown,
          "seed 001 PlotModelEval": confusion_matrix, "seed 000 Part 20": part20_mistakes, "seed 002 1.5.6": predictions,
          "seed 004 feature maps": feature_maps, "seed 004 filters": filters,
 "seed 000 Q23": q23_rotation, "seed 000 Part 16": q23_rotation,
          "seed 000 Q27": other_sizes, "seed 000 Part 21": other_sizes}  # after the rotation rows: it changes tab


@pytest.mark.parametrize("view", ["runs", "evaluate", "inside", "robustness"])
def test_run_page_answers(view, app_path, request):
    run_checks(open_view(view, app_path, request), view, CHECKS)
