"""A run deleted while a session uses it (in another tab, by the teacher, by hand): the downloads' clicks, the report
being made, the pickers of every page that shows runs (said in words, the rest offered) and clicks that arrive after
the page fell back to another run (they never act on it). The runs are written by hand (no TensorFlow)."""

from __future__ import annotations

import contextlib
import shutil

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from cnnviz.app import caches, jobs, remember, report, sweeps
from cnnviz.classroom.people import TEACHER_OWNER, local_teacher
from cnnviz.inspect import evaluation, robustness
from cnnviz.plots import robustness as robustness_figs
from cnnviz.report import page, pins, saved
from cnnviz.runs import store as runs
from tests.support.runfolders import write_damaged, write_run

PAGE = "app_pages/runs.py"
GOOD = "20260101-000000-00000001"
OTHER = "20260101-000000-00000002"
GONE_NOTE = f"Run {GOOD} was deleted (in another tab or by the teacher): it is no longer shown here."


def _runs_page(app_path: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_the_lab_report_of_a_run_deleted_after_the_page_was_drawn_downloads_as_a_note(app_path, cnnviz_home,
                                                                                       monkeypatch):
    # The download reads the report on the click, inside Streamlit's handler: a run deleted meanwhile (another tab,
    # the teacher) failed there, outside the page's error boundary ("Failed to generate file for download" and a
    # traceback in the server log).
    deferred = {}
    real_add = MediaFileManager.add_deferred

    def remember(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        deferred[file_name] = data_callable
        return real_add(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", remember)
    write_run(cnnviz_home, GOOD)
    saved.save(GOOD, TEACHER_OWNER, "<html>the report</html>")
    at = _runs_page(app_path)
    click = deferred[f"cnnviz-{GOOD}-report.html"]
    assert click() == b"<html>the report</html>"
    runs.delete_run(GOOD)  # in another tab
    note = click().decode("utf-8")
    assert note.startswith("<!doctype html>") and (
        f"Sorry: the lab report of run {GOOD} is no longer on the server: the run was deleted (or its report "
        "removed) after the page offered the download. Reload the Runs page") in note


def test_a_run_deleted_while_its_report_is_made_keeps_no_report(app_path, cnnviz_home, monkeypatch):
    # The report of a run deleted while it was measured (another tab, the teacher) was written after the run's
    # reports were removed: kept for ever, and offered for download on the page as if the run were there.
    def made_while_deleted(info, inputs, pinned):
        runs.delete_run(GOOD)
        return "<html>the report</html>"

    monkeypatch.setattr(report, "report_inputs", lambda info, step=None: None)
    monkeypatch.setattr(page, "report_html", made_while_deleted)
    write_run(cnnviz_home, GOOD)
    at = _runs_page(app_path)
    at.button(key="report_make").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"Run {GOOD} was deleted while its report was made: no report is kept."]
    assert not (cnnviz_home / "reports" / GOOD).exists()
    assert not [d for d in at.get("download_button") if "report_download" in d.proto.id]


def test_a_run_deleted_by_two_sessions_at_once_is_gone_in_words_not_a_server_path(app_path, cnnviz_home,
                                                                                   monkeypatch):
    # Both pages listed the run and both clicked Delete: the second was told "there is no complete run ... in
    # /srv/.../runs", the server's folder shown to a student.
    real_delete = runs.delete_run

    def deleted_by_the_other_session_first(run_id, by=None):
        real_delete(run_id)
        real_delete(run_id, by)

    write_run(cnnviz_home, GOOD)
    at = _runs_page(app_path)
    at.checkbox(key="runs_delete_confirm").check().run()
    monkeypatch.setattr(runs, "delete_run", deleted_by_the_other_session_first)
    at.button(key="runs_delete").click().run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert shown == [f"there is no complete run '{GOOD}' on the server: it was deleted (in another tab or by the "
                     "teacher), or never finished saving"]
    assert str(cnnviz_home) not in shown[0]


@pytest.mark.parametrize("page, key", [("app_pages/evaluate.py", "eval_run"), ("app_pages/inside.py", "inside_run"),
                                       ("app_pages/explain.py", "explain_run")])
def test_a_run_picked_on_a_page_and_deleted_meanwhile_is_said_deleted(app_path, cnnviz_home, page, key):
    # The picker fell back to another run without a word: the page showed that run as if it were the one chosen.
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page(page).run()
    at.selectbox(key=key).set_value(GOOD).run()
    shutil.rmtree(cnnviz_home / "runs" / GOOD)  # by hand, or by the teacher
    at.run()
    assert not at.exception
    assert GONE_NOTE in [w.value for w in at.warning]
    assert at.selectbox(key=key).value == OTHER  # the rest is offered
    at.run()
    assert GONE_NOTE not in [w.value for w in at.warning]  # said once


def test_a_run_chosen_on_another_page_and_deleted_meanwhile_is_said_deleted(app_path, cnnviz_home):
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/evaluate.py").run()
    at.selectbox(key="eval_run").set_value(GOOD).run()
    shutil.rmtree(cnnviz_home / "runs" / GOOD)
    at.switch_page("app_pages/inside.py").run()  # opens on the run chosen last: gone
    assert not at.exception
    assert GONE_NOTE in [w.value for w in at.warning]


def test_runs_compared_on_robustness_and_deleted_meanwhile_are_said_deleted(app_path, cnnviz_home):
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/robustness.py").run()
    at.multiselect(key="robust_runs").set_value([GOOD, OTHER]).run()
    runs.delete_run(GOOD)
    at.run()
    assert not at.exception
    assert GONE_NOTE in [w.value for w in at.warning]
    assert at.multiselect(key="robust_runs").value == [OTHER]


def test_a_run_chosen_and_compared_on_runs_and_deleted_meanwhile_is_said_deleted(app_path, cnnviz_home):
    # One run and Compare fell back to the other run without a word: its numbers shown as the chosen run's.
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = _runs_page(app_path)
    at.selectbox(key="runs_selected").set_value(GOOD).run()
    at.multiselect(key="runs_compare").set_value([GOOD, OTHER]).run()
    shutil.rmtree(cnnviz_home / "runs" / GOOD)  # by hand, or by the teacher
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == [GONE_NOTE, GONE_NOTE]  # above Compare and above One run
    assert at.selectbox(key="runs_selected").value == OTHER and at.multiselect(key="runs_compare").value == [OTHER]


class _ClosedTab(contextlib.nullcontext):
    open = False


def test_the_twin_of_a_run_deleted_meanwhile_is_not_trained_of_another_run(app_path, cnnviz_home, monkeypatch):
    # "Twin of" fell back to the other run when the chosen one was deleted before the click arrived: the click
    # queued the twin of a run the student never chose, in their one training place. (The tabs stay closed: they
    # test the models, which these hand-written runs do not have.)
    queued = []
    monkeypatch.setattr(remember, "remembered_tabs", lambda labels, key: [_ClosedTab() for _ in labels])
    monkeypatch.setattr(caches, "run_robustness_set", lambda info: {"of": 10})
    monkeypatch.setattr(jobs, "submit_twin", lambda info, spec: queued.append(info.run_id))
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/robustness.py").run()
    at.multiselect(key="robust_runs").set_value([GOOD, OTHER]).run()
    at.selectbox(key="robust_twin_of").set_value(GOOD).run()
    runs.delete_run(GOOD)  # in another tab, before the click arrives
    at.button(key="robust_twin_go").click().run()
    assert not at.exception
    assert queued == []
    assert "The run you chose is gone (deleted in another tab?): no twin was queued." in [w.value for w in at.warning]


class _Tab(contextlib.nullcontext):
    def __init__(self, open_):
        super().__init__()
        self.open = open_


def test_the_size_agnostic_twin_of_a_run_deleted_meanwhile_is_not_trained_of_another_run(app_path, cnnviz_home,
                                                                                        monkeypatch):
    # The Other sizes tab's twin buttons were keyed by position: with the first run deleted before the click arrived,
    # the second took its place and its key, and the click queued the second run's twin.
    queued = []
    cannot = [robustness.SizeResult(size=16, method="upscale", works=False, accuracy=None, per_class=None,
                                    explanation="This network cannot take 16×16 images.")]
    monkeypatch.setattr(remember, "remembered_tabs", lambda labels, key: [_Tab(label == "Other sizes")
                                                                          for label in labels])
    monkeypatch.setattr(caches, "run_robustness_set", lambda info: {"of": 10})
    monkeypatch.setattr(sweeps, "size_results", lambda infos, **kw: {info.run_id: cannot for info in infos})
    monkeypatch.setattr(robustness_figs, "sizes_figure", lambda results: go.Figure())
    monkeypatch.setattr(jobs, "submit_twin", lambda info, spec: queued.append(info.run_id))
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/robustness.py").run()
    at.multiselect(key="robust_runs").set_value([GOOD, OTHER]).run()
    twin_buttons = [b for b in at.button if b.key.startswith("robust_gap_twin")]
    assert len(twin_buttons) == 2
    runs.delete_run(GOOD)  # in another tab, before the click arrives
    twin_buttons[0].click().run()  # GOOD's
    assert not at.exception
    assert queued == []


def test_a_run_chosen_for_sharing_and_deleted_meanwhile_is_said_deleted(app_path, cnnviz_home):
    # The teacher's "Runs shared with the class" dropped it without a word: Share then shared only the others.
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/class_room.py").run()
    at.multiselect(key="class_shared_runs").set_value([GOOD, OTHER]).run()
    shutil.rmtree(cnnviz_home / "runs" / GOOD)  # by hand, or in another tab
    at.run()
    assert not at.exception
    assert GONE_NOTE in [w.value for w in at.warning]
    assert at.multiselect(key="class_shared_runs").value == [OTHER]


def _evaluated(info):
    """A made-up evaluation of the hand-written run: 40 test images, each class four times, said as class 0."""
    y = np.repeat(np.arange(10), 4)
    return evaluation.evaluation_from_probabilities(np.eye(10)[np.zeros(40, dtype=int)] * 0.9 + 0.01, y,
                                                    [str(d) for d in range(10)])


def test_look_inside_on_a_run_deleted_meanwhile_sends_no_image_of_another_run(app_path, cnnviz_home, monkeypatch):
    # Evaluate fell back to the other run when the chosen one was deleted before the click on "Look inside" arrived:
    # the click opened Inside the network on an image of a run the student never chose.
    monkeypatch.setattr(caches, "run_evaluation", _evaluated)
    monkeypatch.setattr(caches, "run_test_set", lambda info: {"x": np.zeros((40, 8, 8, 1), np.uint8)})
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/evaluate.py").run()
    at.selectbox(key="eval_run").set_value(GOOD).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    runs.delete_run(GOOD)  # in another tab, before the click arrives
    at.button(key="eval_send_pred_go").click().run()
    assert not at.exception
    assert "inside_sent" not in at.session_state  # what Inside was sent (it takes "inspect_target" at once)
    assert [w.value for w in at.warning] == [GONE_NOTE, "The run you chose is gone (deleted in another tab?): "
                                                        "nothing was sent to Inside the network."]


def test_make_the_lab_report_of_a_run_deleted_meanwhile_makes_no_report_of_another_run(app_path, cnnviz_home,
                                                                                      monkeypatch):
    # One run fell back to the other run when the chosen one was deleted before the click arrived: the click measured
    # and kept the lab report of a run the student never chose.
    monkeypatch.setattr(report, "report_inputs", lambda info, step=None: None)
    monkeypatch.setattr(page, "report_html", lambda info, inputs, pinned: "<html>the report</html>")
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    at = _runs_page(app_path)
    at.selectbox(key="runs_selected").set_value(GOOD).run()
    runs.delete_run(GOOD)  # in another tab, before the click arrives
    at.button(key="report_make").click().run()
    assert not at.exception
    assert saved.made_at(saved.report_file(OTHER, TEACHER_OWNER)) is None
    assert "The run you chose is gone (deleted in another tab?): no report was made." in [w.value for w in at.warning]


def test_unpin_on_a_run_deleted_meanwhile_unpins_nothing_of_another_run(app_path, cnnviz_home):
    # The same view pinned for two runs: Unpin for the chosen run, deleted before the click arrived, unpinned the
    # view of the run the page fell back to.
    write_run(cnnviz_home, GOOD)
    write_run(cnnviz_home, OTHER)
    for run_id in (GOOD, OTHER):
        pins.add(local_teacher(), pins.Pin(run_id, "explain_saliency", "Saliency", go.Figure().to_json()))
    at = _runs_page(app_path)
    at.selectbox(key="runs_selected").set_value(GOOD).run()
    at.multiselect(key="report_unpin").set_value(["explain_saliency"]).run()
    runs.delete_run(GOOD)  # in another tab, before the click arrives
    at.button(key="report_unpin_go").click().run()
    assert not at.exception
    assert [p.run_id for p in pins.load(TEACHER_OWNER)] == [OTHER]


def test_delete_damaged_run_never_deletes_a_damaged_run_not_chosen(app_path, cnnviz_home):
    # The damaged runs' picker fell back to the other one when the chosen one was deleted (by hand, in another tab)
    # before the click arrived, with 'Yes, delete' still ticked: Delete removed a run the teacher never chose.
    first = write_damaged(cnnviz_home, GOOD, "config is a list")
    write_damaged(cnnviz_home, OTHER, "history is null")
    at = _runs_page(app_path)
    at.selectbox(key="runs_damaged_selected").set_value(OTHER).run()
    at.checkbox(key="runs_damaged_delete_confirm").check().run()
    shutil.rmtree(cnnviz_home / "runs" / OTHER)  # before the click arrives
    at.button(key="runs_damaged_delete").click().run()
    assert not at.exception
    assert first.is_dir(), "Delete removed a damaged run the teacher never chose"
    assert at.selectbox(key="runs_damaged_selected").value == GOOD
    assert not at.checkbox(key="runs_damaged_delete_confirm").value  # ticked for the run that went, not this one


@pytest.mark.parametrize("page", ["app_pages/runs.py", "app_pages/evaluate.py", "app_pages/robustness.py"])
def test_the_only_run_deleted_meanwhile_is_said_deleted_not_no_runs_yet(app_path, cnnviz_home, page):
    # With no run left the page said only "No runs yet: train a network first", as if there never was one.
    write_run(cnnviz_home, GOOD)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page(page).run()
    shutil.rmtree(cnnviz_home / "runs" / GOOD)  # by hand, or by the teacher
    at.run()
    assert not at.exception
    assert GONE_NOTE in [w.value for w in at.warning]
