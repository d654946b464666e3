"""AppTest of the Robustness page: no runs, rotation sweep (one line per run, values equal to the
backend's), flips and shifts, other sizes (Flatten explains, global pooling measures), and the
augmented twin trained through the normal training job."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.app import state
from cnnviz.inspect import robustness
from cnnviz.models import config as models_config
from cnnviz.runs import labels, predictions
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs
from cnnviz.training import jobs as jobmanager
from tests.support.pages import assert_no_runs_notice, chart_keys, figure, no_errors, open_page, texts
from tests.support.runs import copy_runs, reference_data, train_runs
from tests.support.specs import FLAT_MODEL, GAP_MODEL, page_spec


pytestmark = pytest.mark.slow

PAGE = "app_pages/robustness.py"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("robustness-runs")
    # "flat" trained last: the newest run, the page's default.
    return home, train_runs(home, {"flip_tta": page_spec(FLAT_MODEL, tta="flip"), "gap": page_spec(GAP_MODEL),
                                   "flat": page_spec(FLAT_MODEL)})


@pytest.fixture
def run_ids(stored, cnnviz_home) -> dict[str, str]:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]


@pytest.fixture(scope="module")
def references(stored):
    """``{name: (model, scaled x, y, class names, uint8 x, RunInfo)}`` loaded without the app."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        for name, run_id in stored[1].items():
            out[name] = (*reference_data(run_id), runs.load_run(run_id))
    return out


def _both(at, run_ids):
    at.multiselect(key="robust_runs").set_value([run_ids["flat"], run_ids["gap"]]).run()
    no_errors(at)
    return at


def test_without_runs_says_so_and_links_to_training(app_path):
    at = open_page(app_path, PAGE)
    assert_no_runs_notice(at)


def test_rotation_sweep_one_line_per_run(app_path, run_ids, references):
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert at.multiselect(key="robust_runs").value == [run_ids["flat"]]  # the newest run
    assert {"robust_examples", "robust_angle_chart", "robust_heat_0"} <= chart_keys(at)
    _both(at, run_ids)
    lines = [t for t in figure(at, "robust_angle_chart")["data"] if t["type"] == "scatter"]
    assert len(lines) == 2
    for line, name in zip(lines, ("flat", "gap")):
        model, _, y, names, x_uint8, info = references[name]
        expected = robustness.rot90_test(model, x_uint8, y, names, prepare=lambda x, i=info: prepare_inputs(i, x))
        assert line["name"] == labels.legend_label(info)
        assert np.asarray(line["x"]).tolist() == [0, 90, 180, 270]
        assert np.asarray(line["y"]) == pytest.approx(expected.accuracy)
    assert {"robust_heat_0", "robust_heat_1"} <= chart_keys(at)
    # Finer angles: 8 points per line, corners filled as chosen.
    at.selectbox(key="robust_step").set_value(45).run()
    at.radio(key="robust_fill").set_value("nearest").run()
    no_errors(at)
    lines = [t for t in figure(at, "robust_angle_chart")["data"] if t["type"] == "scatter"]
    assert [len(np.asarray(t["x"])) for t in lines] == [8, 8]
    model, _, y, names, x_uint8, info = references["flat"]
    at45 = robustness.rotation_sweep(model, x_uint8, y, names, angles=(45,), fill="nearest",
                                     prepare=lambda x: prepare_inputs(info, x))
    assert np.asarray(lines[0]["y"])[1] == pytest.approx(at45.accuracy[0])


def test_flips_and_shifts(app_path, run_ids, references):
    at = _both(open_page(app_path, PAGE), run_ids)
    assert "robust_transforms" not in chart_keys(at)
    at.session_state["robust_tab"] = "Flips and shifts"
    at.run()
    no_errors(at)
    bars = figure(at, "robust_transforms")["data"]
    assert len(bars) == 2
    model, _, y, names, x_uint8, info = references["flat"]
    assert at.pills(key="robust_shifts").value == [2]  # fewer copies at first: a sooner first answer
    expected = robustness.transform_test(model, x_uint8, y, names, shifts=(2,),
                                         prepare=lambda x: prepare_inputs(info, x))
    assert list(bars[0]["x"]) == list(expected.names)
    assert np.asarray(bars[0]["y"]) == pytest.approx(expected.accuracy)
    at.pills(key="robust_shifts").set_value([2, 4]).run()
    no_errors(at)
    expected = robustness.transform_test(model, x_uint8, y, names, shifts=(2, 4),
                                         prepare=lambda x: prepare_inputs(info, x))
    bars = figure(at, "robust_transforms")["data"]
    assert list(bars[0]["x"]) == list(expected.names) and len(expected.names) == 3 + 8
    assert np.asarray(bars[0]["y"]) == pytest.approx(expected.accuracy)
    at.pills(key="robust_shifts").set_value([1]).run()
    no_errors(at)
    assert len(figure(at, "robust_transforms")["data"][0]["x"]) == 3 + 4


def test_a_large_test_set_is_sampled_and_the_page_says_so(app_path, run_ids, references, monkeypatch):
    model, _, y, names, x_uint8, info = references["flat"]
    limit = len(y) // 3
    monkeypatch.setattr(robustness, "SAMPLE_IMAGES", limit)
    at = open_page(app_path, PAGE)
    no_errors(at)
    said = texts(at)
    assert f"at most {limit:,} of its test images" in said and f"Evaluate uses all {len(y):,}." in said, said
    keep = robustness.sample_indices(len(y), limit)
    assert len(keep) == limit
    expected = robustness.rot90_test(model, x_uint8[keep], y[keep], names, prepare=lambda x: prepare_inputs(info, x))
    full = robustness.rot90_test(model, x_uint8, y, names, prepare=lambda x: prepare_inputs(info, x))
    (line,) = [t for t in figure(at, "robust_angle_chart")["data"] if t["type"] == "scatter"]
    assert np.asarray(line["y"]) == pytest.approx(expected.accuracy)
    assert not np.allclose(expected.accuracy, full.accuracy)  # the sample is not the whole set here


def test_the_fgsm_curve_beside_rotation_starts_at_the_same_upright_accuracy(app_path, run_ids, references,
                                                                           monkeypatch):
    from cnnviz.inspect import adversarial

    limit = len(references["flat"][2]) // 3  # a sample, not the first images, nor all of them
    monkeypatch.setattr(robustness, "SAMPLE_IMAGES", limit)
    at = open_page(app_path, PAGE)
    at.multiselect(key="robust_runs").set_value([run_ids["flat"], run_ids["flip_tta"]]).run()
    at.toggle(key="robust_fgsm").set_value(True).run()
    no_errors(at)
    table = next(f.value for f in at.dataframe if "rotation" in f.value.columns)
    fgsm = figure(at, "robust_fgsm_chart")
    assert fgsm["layout"]["title"]["text"] == f"Accuracy of {limit} test images under FGSM"
    for trace, name in zip(fgsm["data"], ("flat", "flip_tta")):  # a run tested with TTA too: one plain look
        model, x, y, _, _, info = references[name]
        keep = robustness.sample_indices(len(y), limit)
        expected = adversarial.accuracy_curve(model, x[keep], y[keep], [0, 1], unit=1 / 255, lower=0.0, upper=1.0)
        assert float(np.asarray(trace["x"])[0]) == 0.0 and trace["name"] == labels.legend_label(info)
        upright = float(table[trace["name"]].iloc[0])  # the 0° row
        assert float(np.asarray(trace["y"])[0]) == pytest.approx(upright) == pytest.approx(expected.accuracy[0])
    assert "the same ones for every rotation, flip, shift and FGSM ε" in texts(at)


def test_other_sizes_flatten_explains_global_pooling_measures(app_path, run_ids, references):
    at = _both(open_page(app_path, PAGE), run_ids)
    at.session_state["robust_tab"] = "Other sizes"
    at.run()
    no_errors(at)
    assert at.pills(key="robust_size_factors").value == [1.5]
    at.pills(key="robust_size_factors").set_value([1.5, 2.0]).run()
    no_errors(at)
    flat_notes = [i.value for i in at.info if "cannot take" in i.value]
    assert len(flat_notes) == 2  # 12×12 and 16×16 for the 8×8 digits
    assert "This network cannot take 12×12 images" in flat_notes[0] and "Flatten layer" in flat_notes[0]
    model, _, y, names, x_uint8, info = references["gap"]
    expected = robustness.other_sizes(model, x_uint8, y, names, sizes=(12, 16),
                                      prepare=lambda x: prepare_inputs(info, x))
    shown = [s.value for s in at.success]
    assert [s.split(":")[0] for s in shown] == ["12×12", "16×16"]
    for text, result in zip(shown, expected):
        assert f"accuracy {result.accuracy:.1%}" in text and "global pooling" in text
    bars = figure(at, "robust_sizes_chart")["data"]
    assert list(bars[0]["text"]) == ["cannot run", "cannot run"]
    assert at.button(key=f"robust_gap_twin_{run_ids['flat']}")  # offered for the Flatten run only
    assert len([b for b in at.button if b.key.startswith("robust_gap_twin")]) == 1



@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    """A run of a network without convolutions (Flatten straight after the input, as the seed MLPs)."""
    home = tmp_path_factory.mktemp("robustness-mlp")
    mlp = models_config.ModelConfig(conv_layers=0, batch_norm=False).to_dict()
    return home, train_runs(home, {"mlp": page_spec(mlp)})["mlp"]


def test_other_sizes_offer_no_pooling_twin_to_a_network_without_convolutions(app_path, mlp_run, cnnviz_home):
    """The button trained nothing: it answered "head 'global_avg' needs at least one conv layer"."""
    copy_runs(mlp_run[0], cnnviz_home)
    at = open_page(app_path, PAGE)
    at.session_state["robust_tab"] = "Other sizes"
    at.run()
    no_errors(at)
    (note,) = [i.value for i in at.info if "cannot take" in i.value]
    assert "the images reaching Flatten layer" in note and "global average pooling" not in note
    assert not [b for b in at.button if b.key.startswith("robust_gap_twin")]
    assert any("No size-agnostic twin" in c.value and "conv layer" in c.value for c in at.caption), texts(at)

def test_train_the_augmented_twin(app_path, run_ids, monkeypatch):
    jobs = jobmanager.JobManager(max_jobs=1)
    monkeypatch.setattr(jobmanager, "_manager", jobs)
    at = open_page(app_path, PAGE)
    at.slider(key="robust_twin_rotation").set_value(45)
    at.button(key="robust_twin_go").click().run()
    no_errors(at)
    job_id = at.session_state[state.TRAIN_JOB_KEY]
    assert at.button(key="robust_twin_go").disabled  # one training at a time per student
    status = jobs.wait(job_id, timeout=300)
    assert status.state == "finished", status
    twin, original = runs.load_run(status.run_id), runs.load_run(run_ids["flat"])
    assert twin.config["augment"] == {"rotation": 45.0, "flip": "horizontal_and_vertical", "translate": 0.0,
                                      "zoom": 0.0, "crop": 0, "seed": 0, "alternate_flip": False}
    same = ("model", "dataset", "train_size", "test_size", "validation_fraction", "scaling", "epochs",
            "batch_size", "seed", "preset")
    assert {k: twin.config[k] for k in same} == {k: original.config[k] for k in same}
    at.run()  # the live panel reruns the page when the job ends
    no_errors(at)
    assert at.multiselect(key="robust_runs").value == [run_ids["flat"], status.run_id]
    assert any(f"run `{status.run_id}`" in s.value for s in at.success)
    lines = [t for t in figure(at, "robust_angle_chart")["data"] if t["type"] == "scatter"]
    assert [t["name"] for t in lines][1].endswith("rotate ±45°, flip horizontal and vertical")


def test_runs_tested_with_averaged_views_are_told_apart(app_path, run_ids):
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert "judged once" not in texts(at)  # the flat run's own accuracy is also one look per image
    at.multiselect(key="robust_runs").set_value([run_ids["flat"], run_ids["flip_tta"]]).run()
    no_errors(at)
    label = labels.legend_label(runs.load_run(run_ids["flip_tta"]))
    note = next(t for t in texts(at).splitlines() if "judged once" in t)
    assert f"**{label}** averaged its answers on each test image and its mirror image" in note
    assert labels.legend_label(runs.load_run(run_ids["flat"])) not in note


def test_the_rotation_chart_is_drawn_with_the_angles_done_while_the_others_are_computed(app_path, run_ids,
                                                                                        monkeypatch):
    from cnnviz.app import sweeps
    from cnnviz.plots import robustness as figs

    drawn = []
    real = figs.accuracy_vs_angle_figure

    def recording(results, **options):
        drawn.append(([tuple(r.angles) for r in results.values()], options.get("title")))
        return real(results, **options)

    monkeypatch.setattr(sweeps, "DRAW_EVERY_S", 0.0)
    monkeypatch.setattr(figs, "accuracy_vs_angle_figure", recording)
    at = open_page(app_path, PAGE)
    at.selectbox(key="robust_step").set_value(45).run()
    no_errors(at)
    so_far = [angles for angles, title in drawn if title == "Accuracy vs rotation: the angles measured so far"]
    assert so_far and all(len(a) < 8 for (a,) in so_far)  # never the whole sweep: that is the keyed chart
    assert [len(a) for (a,) in so_far] == sorted(len(a) for (a,) in so_far)  # only ever finer
    assert figure(at, "robust_angle_chart")["data"][0]["x"] == [float(a) for a in range(0, 360, 45)]


def test_the_flips_and_shifts_chart_is_drawn_with_the_copies_done_while_the_others_are_computed(app_path, run_ids,
                                                                                                monkeypatch):
    from cnnviz.app import sweeps
    from cnnviz.plots import robustness as figs

    drawn = []
    real = figs.transforms_figure

    def recording(results, **options):
        drawn.append(([tuple(r.names) for r in results.values()], options.get("title")))
        return real(results, **options)

    monkeypatch.setattr(sweeps, "DRAW_EVERY_S", 0.0)
    monkeypatch.setattr(figs, "transforms_figure", recording)
    at = open_page(app_path, PAGE)
    at.session_state["robust_tab"] = "Flips and shifts"
    at.run()
    no_errors(at)
    final = figure(at, "robust_transforms")["data"][0]["x"]
    so_far = [names for names, title in drawn if title == "Flips and shifts: the copies tested so far"]
    assert so_far and [len(n) for (n,) in so_far] == sorted(len(n) for (n,) in so_far) and len(so_far[-1][0]) < len(final)
    for (names,) in so_far:  # the page's bars, in the page's order, only those done
        assert list(names) == [n for n in final if n in names]


def test_a_border_change_computes_only_the_shifted_copies_in_one_pass(app_path, run_ids, monkeypatch):
    asked = []
    real = robustness.variant_scores

    def counting(model, x, y, num_classes, variants, **options):
        asked.append(list(variants))
        return real(model, x, y, num_classes, variants, **options)

    monkeypatch.setattr(robustness, "variant_scores", counting)
    at = open_page(app_path, PAGE)  # the Rotation tab: 180°, 90°, 270° (coarse to fine) in one pass (0° kept)
    no_errors(at)
    assert [[(v.kind, v.angle) for v in a] for a in asked] == [[("rotate", 180.0), ("rotate", 90.0), ("rotate", 270.0)]]
    asked.clear()
    at.session_state["robust_tab"] = "Flips and shifts"
    at.run()
    no_errors(at)
    assert [len(a) for a in asked] == [2 + 4]  # one pass: 2 flips, 4 shifts of 2 px (the original is known)
    asked.clear()
    at.run()
    assert asked == []  # nothing new
    at.pills(key="robust_shifts").set_value([2, 4]).run()
    no_errors(at)
    assert [sorted(abs(v.dx or v.dy) for v in a) for a in asked] == [[4] * 4]  # only the new shifts
    asked.clear()
    at.radio(key="robust_shift_fill").set_value("nearest").run()
    no_errors(at)
    assert len(asked) == 1 and {v.kind for v in asked[0]} == {"shift"} and len(asked[0]) == 8
    asked.clear()
    at.session_state["robust_tab"] = "Rotation"
    at.session_state["robust_fill"] = "nearest"
    at.run()
    no_errors(at)
    assert at.radio(key="robust_fill").value == "nearest"
    assert asked == []  # right angles fill no corner: the same copies as with black corners


def test_the_training_jobs_kept_views_are_read_not_predicted_again(app_path, run_ids, references, monkeypatch):
    asked = []
    real = robustness.variant_scores

    def counting(model, x, y, num_classes, variants, **options):
        asked.append([(v.kind, v.angle or v.direction) for v in variants if v.kind != "shift"])
        return real(model, x, y, num_classes, variants, **options)

    monkeypatch.setattr(robustness, "variant_scores", counting)
    # A run saved before the views were kept (or with its file damaged) is predicted as before.
    predictions.path(runs.load_run(run_ids["flat"]).path).unlink()
    at = open_page(app_path, PAGE)
    no_errors(at)
    assert asked == [[("original", ""), ("rotate", 180.0), ("rotate", 90.0), ("rotate", 270.0)]]  # coarse to fine
    asked.clear()
    at.multiselect(key="robust_runs").set_value([run_ids["flip_tta"]]).run()
    at.session_state["robust_tab"] = "Flips and shifts"
    at.run()
    no_errors(at)
    # Tested with its mirror image: the original and the left-right flip are the training job's answers.
    assert asked == [[("rotate", 180.0), ("rotate", 90.0), ("rotate", 270.0)], [("flip", "vertical")]]
    model, _, y, names, x_uint8, info = references["flip_tta"]
    expected = robustness.transform_test(model, x_uint8, y, names, shifts=(2,), prepare=lambda x: prepare_inputs(info, x))
    (bars,) = figure(at, "robust_transforms")["data"]
    assert list(bars["x"]) == list(expected.names)
    assert np.asarray(bars["y"]) == pytest.approx(expected.accuracy)
