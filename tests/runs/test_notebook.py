"""The notebook's accuracy, shown only for the notebook's own set-up: the decision table."""

from __future__ import annotations

import dataclasses

import pytest

from cnnviz.data.augment import AugmentConfig
from cnnviz.data.selection import STRATIFIED
from cnnviz.runs import compare, notebook
from cnnviz.runs.notebook import notebook_figure
from cnnviz.training.spec import spec_from_preset, twin_spec
from tests.support.runs import fake_run_info

MODEL4 = spec_from_preset("seed000_model4")
SEED000_AUG = AugmentConfig(rotation=30.0, flip="horizontal_and_vertical", seed=7)


def _change(spec, **changes):
    return dataclasses.replace(spec, **changes)


@pytest.mark.parametrize("spec, accuracy, differences", [
    # the notebook's own set-up, whatever the random seed
    (MODEL4, 0.5505, ()),
    (_change(MODEL4, seed=9), 0.5505, ()),
    (spec_from_preset("seed002_cnn_augmented"), 0.7479, ()),
    # each changed setting is named, and no figure is shown
    (_change(MODEL4, epochs=5), None, ("epochs 5 (the notebook: 20)",)),
    (_change(MODEL4, train_size=5000), None, ("training images 5,000 (the notebook: 10,000)",)),
    (_change(MODEL4, selection=STRATIFIED), None,
     ("which images random stratified (the notebook: the first images, validation at random (not stratified))",)),
    (_change(MODEL4, model=MODEL4.model.replace(head="global_avg")), None,
     ("network head global_avg (the notebook: flatten)",)),
    (spec_from_preset("seed000_model4", dataset="digits"), None, ("dataset digits (the notebook: cifar10)",)),
    # the augmented twin is compared with the notebook's augmented model (59.3%), not model4's 55.05%
    (_change(MODEL4, augment=SEED000_AUG, epochs=70), 0.5930, ()),
    (_change(MODEL4, augment=SEED000_AUG), None, ("epochs 20 (the notebook: 70)",)),
    (_change(MODEL4, augment=AugmentConfig(rotation=15.0), epochs=70), None,
     ("augmentation rotate ±15° (the notebook: rotate ±30°, flip horizontal and vertical)",)),
    # seed 000's model5: model2 with class weights
    (_change(spec_from_preset("seed000_model2"), class_weights=True), 0.5460, ()),
    (_change(spec_from_preset("seed000_model1"), class_weights=True), None,
     ("class weights on (the notebook: off)",)),
    # the notebook tested each image once: a mean over mirrored copies is another measurement
    (_change(MODEL4, tta="flip"), None, ("test-time augmentation flip (the notebook: none)",)),
])
def test_the_figure_only_for_the_notebooks_set_up(spec, accuracy, differences):
    figure = notebook_figure(spec)
    assert figure.differences == differences
    assert figure.shown_accuracy == accuracy and figure.matches == (not differences)


def test_the_augmented_figure_names_its_reference_and_a_differing_run_says_why():
    figure = notebook_figure(_change(MODEL4, augment=SEED000_AUG))
    assert figure.accuracy == 0.5930 and "Part 19" in figure.source
    assert figure.text().startswith("No notebook figure for this set-up") and "epochs 20 (the notebook: 70)" in figure.text()
    assert notebook_figure(MODEL4).text() == ("The notebook (seed 000 (CNN Lab, 2020), Part 14 (1.18), model4): "
                                              "Test accuracy 0.5505 after 20 epochs.")


def test_a_preset_without_a_printed_accuracy_and_runs_of_no_notebook():
    figure = notebook_figure(spec_from_preset("seed003_cnn"))
    assert figure.matches and figure.shown_accuracy is None and "validation accuracy 0.7437" in figure.result
    assert notebook_figure(spec_from_preset("fast_1min")) is None
    assert notebook_figure(_change(MODEL4, preset=None)) is None


def test_twins_made_by_the_robustness_page_are_judged_by_their_own_settings():
    info = fake_run_info(**MODEL4.to_dict(), input_shape=[32, 32, 3])
    assert compare.runs_table([info])[0]["notebook's accuracy"] == 0.5505
    gap = twin_spec(info, head="global_avg")
    assert notebook_figure(gap).shown_accuracy is None
    aug = twin_spec(info, rotation=30, flip="horizontal_and_vertical")
    assert notebook_figure(aug).differences == ("epochs 20 (the notebook: 70)",)
    assert notebook.for_run(fake_run_info(**_change(MODEL4, epochs=3).to_dict(), input_shape=[32, 32, 3])
                            ).shown_accuracy is None


def test_the_runs_table_names_the_images_and_tells_runs_apart_by_them():
    from cnnviz.data.selection import FIRST_LAST

    old = fake_run_info()
    old.config.pop("selection")  # saved before selections existed
    first = fake_run_info(selection=FIRST_LAST.to_dict())
    rows = compare.runs_table([old, first])
    assert [r["selection"] for r in rows] == ["random stratified", "the first images, the last share for validation"]
    assert compare.differing_settings([old, first]) == ["selection"]
