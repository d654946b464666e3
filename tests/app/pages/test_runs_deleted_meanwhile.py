"""The Runs page's lab report when its run is deleted after the page was drawn (in another tab, by the teacher): the
download click and the report being made. The runs are written by hand (no TensorFlow)."""

from __future__ import annotations

from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from cnnviz.app import report
from cnnviz.classroom.people import TEACHER_OWNER
from cnnviz.report import page, saved
from cnnviz.runs import store as runs
from tests.support.runfolders import write_run

PAGE = "app_pages/runs.py"
GOOD = "20260101-000000-00000001"


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

    monkeypatch.setattr(report, "report_inputs", lambda info: None)
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
