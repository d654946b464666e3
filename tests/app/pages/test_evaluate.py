"""AppTest of the Evaluate page: no runs, metrics and figures of a tiny run, confusion cell → gallery
(select boxes, a click and a box on the chart), sending a gallery image to the inspector."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.app import state
from cnnviz.inspect import evaluation
from cnnviz.runs import store as runs
from cnnviz.training import jobs as jobmanager
from cnnviz.training.callbacks import Progress
from tests.support.pages import (
    assert_no_runs_notice,
    figure,
    gallery_indices,
    image_count,
    no_errors,
    open_page,
    select_on_chart,
)
from tests.support.runs import copy_runs, reference_data, train_runs
from tests.support.specs import FLAT_MODEL, page_spec


pytestmark = pytest.mark.slow

PAGE = "app_pages/evaluate.py"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("evaluate-runs")
    return home, train_runs(home, {"first": page_spec(FLAT_MODEL, seed=1), "flat": page_spec(FLAT_MODEL)})


@pytest.fixture
def run_id(stored, cnnviz_home) -> str:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]["flat"]  # the newest run: the page's default


@pytest.fixture(scope="module")
def reference(stored):
    """The evaluation of the newest run computed without the app."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        model, x, y, names, _ = reference_data(stored[1]["flat"])
        return evaluation.evaluate(model, x, y, names)


def test_without_runs_says_so_and_links_to_training(app_path):
    at = open_page(app_path, PAGE)
    assert_no_runs_notice(at)
    assert not at.get("plotly_chart")


def test_metrics_and_figures_of_a_run(app_path, run_id, reference):
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert at.selectbox(key="eval_run").value == run_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{reference.accuracy:.1%}"
    assert metrics["Test loss"] == f"{reference.loss:.4f}"
    assert metrics["Test images"] == "40"
    assert metrics["Mistakes"] == str(int((~reference.correct).sum()))
    cm = figure(at, "eval_cm")
    assert np.array_equal(np.array(cm["data"][0]["z"]), reference.confusion)
    bars = figure(at, "eval_per_class")
    assert bars["data"][0]["y"] == pytest.approx([row["accuracy"] for row in reference.per_class])
    # Default gallery: the most confident mistakes, at most 20.
    expected = evaluation.select_images(reference, which="mistakes", order="confidence")[:20]
    assert gallery_indices(at) == list(expected)
    assert image_count(figure(at, "eval_gallery")) == len(expected)
    assert image_count(figure(at, "eval_predictions")) == 16


def test_normalised_matrix_and_more_metrics(app_path, run_id, reference):
    at = open_page(app_path, PAGE)
    at.toggle(key="eval_cm_normalized").set_value(True).run()
    at.pills(key="eval_metrics").set_value(["accuracy", "precision"]).run()
    no_errors(at)
    assert np.allclose(np.array(figure(at, "eval_cm")["data"][0]["z"]), reference.confusion_normalized)
    assert [t["name"] for t in figure(at, "eval_per_class")["data"]] == ["accuracy", "precision"]


def _off_diagonal_cell(ev) -> tuple[int, int]:
    pair = evaluation.most_confused(ev.confusion, ev.class_names, top=1)[0]
    return pair["true"], pair["predicted"]


def test_select_boxes_open_exactly_the_images_of_a_cell(app_path, run_id, reference):
    t, p = _off_diagonal_cell(reference)
    at = open_page(app_path, PAGE)
    at.selectbox(key="eval_true").set_value(t)
    at.selectbox(key="eval_pred").set_value(p).run()
    no_errors(at)
    expected = np.flatnonzero((reference.y_true == t) & (reference.predicted == p))
    assert len(expected) == reference.confusion[t, p] > 0
    assert sorted(gallery_indices(at)) == sorted(expected.tolist())
    assert image_count(figure(at, "eval_gallery")) == len(expected)
    # A diagonal cell holds the right answers of that class.
    right = int(np.argmax(np.diag(reference.confusion)))
    at.selectbox(key="eval_true").set_value(right)
    at.selectbox(key="eval_pred").set_value(right).run()
    assert sorted(gallery_indices(at)) == np.flatnonzero(
        (reference.y_true == right) & (reference.predicted == right)).tolist()


def test_clicking_a_cell_on_the_matrix(app_path, run_id, reference):
    t, p = _off_diagonal_cell(reference)
    at = open_page(app_path, PAGE)
    select_on_chart(at, "eval_cm", [(t, p, int(reference.confusion[t, p]))])
    no_errors(at)
    expected = np.flatnonzero((reference.y_true == t) & (reference.predicted == p)).tolist()
    assert sorted(gallery_indices(at)) == expected
    # The select boxes follow the click, so keyboard users see which cell is open.
    assert (at.selectbox(key="eval_true").value, at.selectbox(key="eval_pred").value) == (t, p)


def test_box_over_two_cells_then_back_to_the_boxes(app_path, run_id, reference):
    cells = [(int(t), int(p)) for t, p in zip(*np.nonzero(reference.confusion))][:2]
    at = open_page(app_path, PAGE)
    select_on_chart(at, "eval_cm", [(t, p, int(reference.confusion[t, p])) for t, p in cells])
    no_errors(at)
    expected = [i for t, p in cells for i in np.flatnonzero((reference.y_true == t) & (reference.predicted == p))]
    assert sorted(gallery_indices(at)) == sorted(expected)
    # Changing a select box hands the choice back to the boxes.
    at.selectbox(key="eval_true").set_value(cells[0][0]).run()
    assert sorted(gallery_indices(at)) == evaluation.select_images(
        reference, true_class=cells[0][0], which="mistakes", order="index").tolist()


def test_send_a_gallery_image_to_the_inspector(app_path, run_id, reference):
    at = open_page(app_path, PAGE)
    shown = gallery_indices(at)
    index = shown[1]
    at.selectbox(key="eval_send").set_value(index)
    at.button(key="eval_send_go").click().run()
    no_errors(at)
    assert at.title[0].value == "Inside the network"
    assert at.selectbox(key="inside_run").value == run_id
    assert at.number_input(key="inside_index").value == index
    truth = reference.class_names[reference.y_true[index]]
    assert any(f"Test image #{index} (sent from Evaluate): truly {truth}" in c.value for c in at.caption)
    assert state.INSPECT_TARGET_KEY not in at.session_state  # used once


def test_opens_on_the_run_this_session_just_trained(app_path, run_id, stored, monkeypatch):
    older = stored[1]["first"]

    class Finished:
        """A job manager whose only job saved the older run."""

        def status(self, job_id):
            return jobmanager.JobStatus(job_id=job_id, label="tiny", state="finished", queue_position=0,
                                      progress=Progress(), run_id=older)

    monkeypatch.setattr(jobmanager, "_manager", Finished())
    at = open_page(app_path, PAGE)
    assert at.selectbox(key="eval_run").value == run_id  # no job in this session: the newest
    at.session_state[state.TRAIN_JOB_KEY] = "job-1"
    at.switch_page("app_pages/runs.py").run()  # the student trained, looked at Runs, came back
    at.switch_page(PAGE).run()
    no_errors(at)
    assert at.selectbox(key="eval_run").value == older
    # Only once: a run chosen afterwards sticks, here and on the other inspection pages.
    at.selectbox(key="eval_run").set_value(run_id).run()
    at.switch_page("app_pages/inside.py").run()
    no_errors(at)
    assert at.selectbox(key="inside_run").value == run_id


def test_choices_that_vanish_are_reset_not_errors(app_path, run_id, reference):
    """The image picked for the inspector, then a gallery that no longer holds it."""
    t, p = _off_diagonal_cell(reference)
    at = open_page(app_path, PAGE)
    outside = next(i for i in gallery_indices(at) if not (reference.y_true[i] == t and reference.predicted[i] == p))
    at.selectbox(key="eval_send").set_value(outside).run()
    at.selectbox(key="eval_true").set_value(t)
    at.selectbox(key="eval_pred").set_value(p).run()
    no_errors(at)
    assert at.selectbox(key="eval_send").value == gallery_indices(at)[0]


def test_a_run_tested_with_flip_tta_is_evaluated_the_same_way(app_path, cnnviz_home):
    run_id = train_runs(cnnviz_home, {"tta": page_spec(FLAT_MODEL, epochs=1, tta="flip")})["tta"]
    info = runs.load_run(run_id)
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert at.selectbox(key="eval_run").value == run_id
    # The page's accuracy is the one the training job measured (with TTA), not the plain one.
    assert {m.label: m.value for m in at.metric}["Test accuracy"] == f"{info.test_accuracy:.1%}"
    plain = info.metrics["test_accuracy_without_tta"]
    assert any(f"without it the network got {plain:.1%}" in c.value for c in at.caption)


def test_test_loss_is_the_runs_number_and_says_what_label_smoothing_adds(app_path, cnnviz_home):
    spec = page_spec({**FLAT_MODEL, "label_smoothing": 0.2}, epochs=1, tta="flip")
    run_id = train_runs(cnnviz_home, {"smoothed": spec})["smoothed"]
    metrics = runs.load_run(run_id).metrics
    plain, smoothed = metrics["test_cross_entropy"], metrics["test_loss"]
    assert smoothed > plain  # label smoothing adds s × the cross-entropy of every class
    at = open_page(app_path, PAGE)
    no_errors(at)
    # Evaluate recomputes the plain cross-entropy of the TTA answers: the run's stored number
    assert {m.label: m.value for m in at.metric}["Test loss"] == f"{plain:.4f}"
    assert any(f"training loss on the test set, cross-entropy with label smoothing 0.2: {smoothed:.4f}" in c.value
               for c in at.caption)
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    help_text = next(m.proto.help for m in at.metric if m.label == "Test accuracy")
    assert f"Test loss {smoothed:.4f} (cross-entropy with label smoothing 0.2" in help_text
    assert f"plain cross-entropy {plain:.4f}, the number Evaluate shows" in help_text


def test_the_confusion_matrix_has_the_whole_width(app_path, run_id):
    """Beside the per-class bars, the matrix was squeezed on a 1024-pixel projector (issue 14)."""
    at = open_page(app_path, PAGE)
    no_errors(at)
    in_columns = {c.key for column in at.columns for c in column.get("plotly_chart")}
    assert "eval_cm" in {c.key for c in at.get("plotly_chart")} and "eval_cm" not in in_columns
