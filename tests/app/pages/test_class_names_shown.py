"""Class names come from the folders of a student's zip (``__init__``, ``www.evil.example`` pass the importer's
letters-digits-dots rule): where a page puts one in Markdown (a caption), it must be shown as typed, never bold and
never a link (Streamlit autolinks ``www.`` even in escaped text, docs/hazards: "Markdown in text the student
controls")."""

from __future__ import annotations

import shutil

import pytest

from cnnviz.data import datasets
from cnnviz.data.images import plain_name
from cnnviz.training import loop as training
from tests.support.archives import class_folders, make_zip
from tests.support.pages import figure, no_errors, open_page
from tests.support.runs import copy_runs, reference_data
from tests.support.specs import FLAT_MODEL, tiny_spec

pytestmark = pytest.mark.slow

CLASSES = ("__init__", "www.evil.example")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A folder dataset with those class names and one tiny run trained on it, made once. Both folders hold the
    same pictures, so the run answers one class for all of them: its mistakes name both classes on Evaluate."""
    home = tmp_path_factory.mktemp("odd-class-names")
    first = class_folders(per_class=10, classes=CLASSES[:1])
    same = {name.replace(CLASSES[0], CLASSES[1], 1): data for name, data in first.items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        datasets.import_folder_zip(make_zip({**first, **same}), name="odd", image_size=16)
        run_id = training.train(tiny_spec(FLAT_MODEL, dataset="folder:odd", train_size=16, test_size=4)).run.run_id
    return home, run_id


@pytest.fixture
def truth(stored, cnnviz_home) -> str:
    """The class name of test image 0 (the pages' default picture), with the dataset and the run in this home."""
    home, run_id = stored
    copy_runs(home, cnnviz_home)
    shutil.copytree(home / "data", cnnviz_home / "data", dirs_exist_ok=True)
    _, _, y_test, class_names, _ = reference_data(run_id)
    return class_names[int(y_test[0])]


@pytest.mark.parametrize("page", ["app_pages/inside.py", "app_pages/explain.py"])
def test_a_test_images_true_class_is_shown_as_typed(page, truth, app_path):
    at = open_page(app_path, page)
    no_errors(at)
    captions = [c.value for c in at.caption if c.value.startswith("Test image #0")]
    assert captions and all(f"truly {plain_name(truth)}" in c for c in captions), (truth, captions)


def test_the_evaluate_page_names_the_chosen_classes_as_typed(stored, truth, app_path):
    """The gallery's heading ("**true … → said …**") and the most confused pairs: no name bold, no name a link."""
    names = reference_data(stored[1])[3]
    at = open_page(app_path, "app_pages/evaluate.py")
    at.selectbox(key="eval_true").select(0).run()
    at.selectbox(key="eval_pred").select(1).run()
    no_errors(at)
    heading = [m.value for m in at.markdown if m.value.startswith("**true ")]
    assert heading and heading[0].startswith(f"**true {plain_name(names[0])} → said {plain_name(names[1])}**: "), \
        heading
    confused = [m.value for m in at.markdown if m.value.startswith("Most often confused")]
    assert confused, "the run answers one class for the same pictures of both: it makes mistakes"
    assert all(f"**{plain_name(n)}**" in confused[0] for n in names), confused


def test_what_each_class_looks_for_is_titled_with_the_names_as_typed(stored, truth, app_path):
    """Plotly titles are not Markdown: a name there is shown as typed, without plain_name's backslashes."""
    names = reference_data(stored[1])[3]
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "What a filter looks for"
    at.run()
    at.radio(key="explain_actmax_kind").set_value("A class").run()
    no_errors(at)
    titles = [a["text"] for a in figure(at, "explain_actmax_classes")["layout"]["annotations"]]
    assert [t.split("<br>")[0] for t in titles] == list(names), titles


def test_build_and_train_names_the_classes_of_their_weights_as_typed(truth, app_path):
    """The class weights' caption ("Class weights, …: __init__ 1.000, …") under the training settings."""
    at = open_page(app_path, "app_pages/build_train.py")
    at.selectbox(key="train_dataset").set_value("folder:odd").run()
    at.toggle(key="train_class_weights").set_value(True).run()
    no_errors(at)
    weights = [c.value for c in at.caption if c.value.startswith("Class weights")]
    assert weights and all(f"{plain_name(name)} 1.000" in weights[0] for name in CLASSES), weights
