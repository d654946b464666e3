"""Hostile orders of events between reruns: what another tab (or a forged message) changes under a page."""

from __future__ import annotations

import shutil

from streamlit.testing.v1 import AppTest

from tests.support.runfolders import write_run

FIRST = "20260101-000000-00000001"
SECOND = "20260101-000000-00000002"


def _second_ticked_for_delete(app_path, cnnviz_home) -> AppTest:
    """The Runs page with runs FIRST and SECOND, SECOND chosen and 'Yes, delete this run' ticked."""
    write_run(cnnviz_home, FIRST)
    write_run(cnnviz_home, SECOND)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/runs.py").run()
    at.selectbox(key="runs_selected").set_value(SECOND).run()
    next(c for c in at.checkbox if c.label == "Yes, delete this run").check().run()
    return at


def test_runs_delete_never_deletes_a_run_the_student_did_not_choose(app_path, cnnviz_home):
    """The student picks SECOND and ticks 'Yes, delete'; another tab deletes SECOND; the student's Delete
    must not fall through to the run the picker snapped back to."""
    at = _second_ticked_for_delete(app_path, cnnviz_home)
    assert at.selectbox(key="runs_selected").value == SECOND
    shutil.rmtree(cnnviz_home / "runs" / SECOND)  # deleted in another tab before the click arrives
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not at.exception
    assert (cnnviz_home / "runs" / FIRST).is_dir(), "Delete removed a run the student never chose"


def test_class_stop_never_stops_a_training_the_teacher_did_not_choose(app_path, cnnviz_home, monkeypatch):
    """The teacher picks Ben's training; Ben stops it himself; the teacher's 'Stop it' arrives after: it must not
    stop Ann's training, to which the picker snapped back."""
    from cnnviz.classroom import people, roster
    from cnnviz.training import jobs as jobmanager
    from cnnviz.training.jobtable import JobTable
    from tests.support.models import tiny_build
    from tests.support.specs import tiny_spec

    monkeypatch.setattr(jobmanager.JobManager, "ensure_workers", lambda self: None)
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)
    (_, ann), (_, ben) = roster.register("Ann"), roster.register("Ben")
    manager = jobmanager.JobManager(workers=False)
    ann_job, ben_job = (manager.submit(tiny_spec(seed=s), build=tiny_build, owner=who)
                        for s, who in enumerate((ann, ben)))
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/class_room.py").run()
    at.selectbox(key="class_stop_job").select(ben_job).run()
    manager.stop(ben_job, by=ben)  # Ben cancels his own job before the teacher's click arrives
    next(b for b in at.button if b.label == "Stop it").click().run()
    assert not at.exception
    assert JobTable().status(ann_job).state == "queued", "'Stop it' stopped a training the teacher never chose"


def test_explain_what_a_filter_looks_for_on_a_global_pooling_run(app_path, cnnviz_home, tmp_path_factory):
    """A global-average-pooling network takes any image size (its model's input is None×None): the
    'What a filter looks for' tab must draw its pictures at the run's training size, not fail."""
    from tests.support.pages import no_errors, open_page
    from tests.support.runs import copy_runs, train_runs
    from tests.support.specs import GAP_MODEL, page_spec

    store = tmp_path_factory.mktemp("gap-store")
    train_runs(store, {"gap": page_spec(GAP_MODEL, epochs=1)})
    copy_runs(store, cnnviz_home)
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "What a filter looks for"
    at.run()
    no_errors(at)  # today: "Explaining the network failed because of an internal error."
    assert "explain_actmax_filters" in {c.key for c in at.get("plotly_chart")}


def test_a_runs_delete_confirmation_does_not_carry_over_to_another_run(app_path, cnnviz_home):
    """'Yes, delete this run' ticked for one run must not arm Delete for the next run the student looks at."""
    at = _second_ticked_for_delete(app_path, cnnviz_home)
    at.selectbox(key="runs_selected").set_value(FIRST).run()
    assert not next(c for c in at.checkbox if c.label == "Yes, delete this run").value
    assert next(b for b in at.button if b.label == "Delete").disabled


def test_a_custom_kernel_too_large_for_floats_is_refused_not_drawn_as_nan(app_path):
    """Every weight is finite, but 1e308 × 255 overflows: the page drew 'sum inf' and NaN panels."""
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/convolution.py").run()
    at.selectbox(key="conv_kernel").set_value("Custom").run()
    at.text_area(key="conv_custom").set_value("1e308 1e308\n1e308 1e308").run()
    assert not at.exception
    assert any("kernel values must be from -1e+06 to 1e+06; row 1, column 1 is 1e+308" in e.value for e in at.error)
    assert "conv_modes_fig" not in {c.key for c in at.get("plotly_chart")}  # nothing drawn from NaN


def _import_two(cnnviz_home):
    from cnnviz.data import datasets
    from tests.support.archives import class_folders, make_zip

    for name in ("pets", "toys"):
        datasets.import_folder_zip(make_zip(class_folders()), name=name, image_size=16)


def test_datasets_delete_never_deletes_a_dataset_that_was_not_chosen(app_path, cnnviz_home):
    """The teacher picks "toys" and ticks 'Yes, delete'; another tab deletes it; the Delete must not fall
    through to the dataset the picker snapped back to, and a tick for one dataset does not arm another."""
    from cnnviz.data import datasets, stored

    _import_two(cnnviz_home)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/datasets.py").run()
    at.selectbox(key="datasets_source").set_value("folder:toys").run()
    at.checkbox(key="datasets_delete_confirm").check().run()
    at.selectbox(key="datasets_source").set_value("folder:pets").run()
    assert not at.checkbox(key="datasets_delete_confirm").value  # the tick was for toys
    at.checkbox(key="datasets_delete_confirm").check().run()
    datasets.remove("folder:pets")  # deleted in another tab before the click arrives
    at.button(key="datasets_delete").click().run()
    assert not at.exception
    assert stored.is_present("folder:toys"), "Delete removed a dataset nobody chose"
    assert at.selectbox(key="datasets_source").value != "folder:toys"
