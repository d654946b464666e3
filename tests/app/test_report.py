"""The lab report in the app: pin Explain views, make the report on the Runs page, download it; the report
holds the pinned figures and the same measurements as the command line's."""

from __future__ import annotations

import json
import pickle

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from cnnviz.app import pickers, report
from cnnviz.classroom import people, roster
from cnnviz.classroom import settings as class_settings
from cnnviz.report import inputs, page, pins
from cnnviz.runs import labels
from cnnviz.runs import store as runs
from tests.support.pages import TIMEOUT, figure, no_errors, open_page
from tests.support.runs import copy_runs, train_runs
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("report-runs")
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL)})


@pytest.fixture
def run_id(stored, cnnviz_home) -> str:
    copy_runs(stored[0], cnnviz_home)
    return stored[1]["flat"]


def _downloads(at):
    return [d for d in at.get("download_button") if d.proto.id and "report_download" in d.proto.id]


@pytest.fixture
def clicked(monkeypatch):
    """``clicked(name)``: what a click on the download button of file ``name`` gives (the last one drawn), as text."""
    deferred = {}
    add = MediaFileManager.add_deferred

    def remember(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        deferred[file_name] = data_callable
        return add(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", remember)
    return lambda name: deferred[name]().decode("utf-8")


def _report_name(run_id: str) -> str:
    return f"cnnviz-{run_id}-report.html"


def test_pin_views_then_make_and_download_the_report(app_path, run_id, clicked):
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "Occlusion"
    at.run()
    no_errors(at)
    at.button(key="explain_occlusion_pin").click().run()
    no_errors(at)
    [pin] = at.session_state[report.PINS_KEY]
    drawn = figure(at, "explain_occlusion")
    assert pin["run_id"] == run_id and pin["id"] == "explain_occlusion" and pin["title"].startswith("Occlusion of ")
    [kept] = pins.load(people.TEACHER_OWNER)  # the figure is kept in the person's file
    pinned_title = json.loads(kept.figure_json)["layout"]["annotations"][1]["text"]
    assert pinned_title == drawn["layout"]["annotations"][1]["text"]
    assert at.button(key="explain_occlusion_pin").label == "Update the pinned view"
    at.button(key="explain_occlusion_pin").click().run()  # pinning again replaces, never duplicates
    assert len(at.session_state[report.PINS_KEY]) == 1
    at.session_state["explain_tab"] = "One neuron"
    at.run()
    at.button(key="explain_neuron_pin").click().run()
    no_errors(at)
    assert [p["id"] for p in at.session_state[report.PINS_KEY]] == ["explain_occlusion", "explain_neuron"]

    at.switch_page("app_pages/runs.py").run()
    no_errors(at)
    assert "with 2 pinned Explain views" in " ".join(m.value for m in at.markdown)
    assert not _downloads(at)
    at.button(key="report_make").click().run()
    no_errors(at)
    assert len(_downloads(at)) == 1
    made = at.session_state[report.MADE_KEY]
    assert made["run_id"] == run_id and made["pins"] == ["explain_occlusion", "explain_neuron"]
    text = clicked(_report_name(run_id))
    for anchor, heading in page.SECTIONS:
        assert f'<section id="{anchor}"><h2>{heading}</h2>' in text
    assert "<h3>One neuron: " in text and "<h3>Occlusion of " in text
    assert text.count("<h3>") == 2
    # The same measurements as the command line's gather (model, test set, evaluation, rotation).
    info = runs.load_run(run_id)
    direct = inputs.gather(info)
    assert f"Test accuracy <b>{direct.evaluation.accuracy:.1%}</b>" in text
    assert f"<td>90°</td><td class=num>{direct.rotation.accuracy[1]:.1%}</td>" in text

    at.multiselect(key="report_unpin").set_value(["explain_neuron"]).run()
    at.button(key="report_unpin_go").click().run()
    no_errors(at)
    assert [p["id"] for p in at.session_state[report.PINS_KEY]] == ["explain_occlusion"]
    assert "The pinned views changed since" in " ".join(c.value for c in at.caption)


def test_no_pins_the_report_says_how_to_add_them(app_path, run_id, clicked):
    at = open_page(app_path, "app_pages/runs.py")
    assert "Pin Explain views on the Explain page to add them." in " ".join(m.value for m in at.markdown)
    at.button(key="report_make").click().run()
    no_errors(at)
    assert "No Explain views were pinned" in clicked(_report_name(run_id))


def test_the_filter_grid_and_the_embeddings_scatter_are_pinned_into_the_report(app_path, run_id, clicked):
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "What a filter looks for"
    at.run()
    at.button(key="explain_actmax_filters_pin").click().run()
    no_errors(at)
    at.session_state["explain_tab"] = "Embeddings"
    at.run()
    at.button(key="explain_emb_trained_pin").click().run()
    no_errors(at)
    assert [p["id"] for p in at.session_state[report.PINS_KEY]] == ["explain_actmax_filters", "explain_emb_trained"]
    grid, scatter = (json.loads(p.figure_json) for p in pins.load(people.TEACHER_OWNER))
    drawn = figure(at, "explain_emb_trained")
    assert scatter["layout"]["title"]["text"] == drawn["layout"]["title"]["text"]
    assert [a["text"] for a in grid["layout"]["annotations"]][0].startswith("filter 0<br>")

    at.switch_page("app_pages/runs.py").run()
    at.button(key="report_make").click().run()
    no_errors(at)
    text = clicked(_report_name(run_id))
    assert text.count("<h3>") == 2
    assert "<h3>What the first 4 filters of " in text and "<h3>Embeddings: Trained network: PCA of " in text
    assert "Pictures grown from grey noise" in text and "placed by the network&#x27;s last hidden layer" in text


def test_the_session_keeps_no_copy_of_the_report_and_a_reload_still_offers_it(app_path, run_id, clicked):
    at = open_page(app_path, "app_pages/runs.py")
    at.button(key="report_make").click().run()
    no_errors(at)
    kept = {key: len(pickle.dumps(value)) for key, value in at.session_state.to_dict().items()}
    assert sum(kept.values()) < 100_000, kept  # kilobytes: thirty students' reports are not in the server's memory
    text = clicked(_report_name(run_id))
    assert len(text) > 4_000_000 and text.rstrip().endswith("</html>")  # the whole report, plotly.js inlined
    assert not any(c.value.startswith("Made ") for c in at.caption)

    again = open_page(app_path, "app_pages/runs.py")  # a reload: a new session, the report is still offered
    assert len(_downloads(again)) == 1 and clicked(_report_name(run_id)) == text
    assert any(c.value.startswith("Made ") and "make it again if you pinned" in c.value for c in again.caption)


def _session_holds(at: AppTest, text: str) -> bool:
    return text.encode("utf-8") in pickle.dumps(at.session_state.to_dict())


def test_the_session_keeps_no_copy_of_the_pinned_figures(app_path, run_id, clicked):
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "Occlusion"
    at.run()
    at.button(key="explain_occlusion_pin").click().run()
    no_errors(at)
    [pin] = pins.load(people.TEACHER_OWNER)  # kept in the person's file (a CIFAR-10 embeddings pin: 0.8 MB) ...
    assert at.button(key="explain_occlusion_pin").label == "Update the pinned view"
    assert not _session_holds(at, pin.figure_json)  # ... and only there
    at.switch_page("app_pages/runs.py").run()
    assert "with 1 pinned Explain view." in " ".join(m.value for m in at.markdown)
    at.button(key="report_make").click().run()
    no_errors(at)
    assert not _session_holds(at, pin.figure_json)
    text = clicked(_report_name(run_id))
    assert "<h3>Occlusion of " in text and text.count("<h3>") == 1


def _as_student(app_path: str, key: str, page_path: str) -> AppTest:
    """A fresh browser session of the student whose private key is ``key`` (a reload), on ``page_path``."""
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    at.switch_page(page_path).run()
    no_errors(at)
    return at


def test_pins_are_the_students_own_and_survive_a_reload(app_path, run_id, monkeypatch, clicked):
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    (ann_key, ann), (ben_key, ben) = roster.register("Ann"), roster.register("Ben")
    class_settings.set_class_sees_all(True, by=people.local_teacher())  # both see the teacher's run
    # AppTest calls a select box's format_func outside the script run, where the run picker's label cannot ask
    # who is looking (identity reads the URL): label the runs without "· by ..." in this test.
    monkeypatch.setattr(pickers, "run_label", lambda info, who=None: labels.picker_label(info))

    at = _as_student(app_path, ann_key, "app_pages/explain.py")
    at.session_state["explain_tab"] = "Occlusion"
    at.run()
    at.button(key="explain_occlusion_pin").click().run()
    no_errors(at)
    saved = json.loads(pins.pin_file(ann.user_id).read_text(encoding="utf-8"))
    assert saved["owner"] == ann.user_id and saved["owner_name"] == "Ann"
    assert [(p["run_id"], p["view_id"]) for p in saved["pins"]] == [(run_id, "explain_occlusion")]
    pinned_title = json.loads(saved["pins"][0]["figure_json"])["layout"]["annotations"][1]["text"]
    assert pinned_title == figure(at, "explain_occlusion")["layout"]["annotations"][1]["text"]

    again = _as_student(app_path, ann_key, "app_pages/runs.py")  # a reload: a new session finds her pin
    assert "with 1 pinned Explain view." in " ".join(m.value for m in again.markdown)
    again.button(key="report_make").click().run()
    no_errors(again)
    assert "<h3>Occlusion of " in clicked(_report_name(run_id))

    other = _as_student(app_path, ben_key, "app_pages/runs.py")  # Ben's session: none of Ann's pins
    assert "Pin Explain views on the Explain page to add them." in " ".join(m.value for m in other.markdown)
    assert not _downloads(other)  # nor her report of the same run
    other.switch_page("app_pages/explain.py").run()
    other.session_state["explain_tab"] = "Occlusion"
    other.run()
    no_errors(other)
    assert other.button(key="explain_occlusion_pin").label == "Pin to report"
    assert not pins.pin_file(ben.user_id).exists() and len(pins.load(ann.user_id)) == 1

    again.multiselect(key="report_unpin").set_value(["explain_occlusion"]).run()
    again.button(key="report_unpin_go").click().run()
    no_errors(again)
    assert json.loads(pins.pin_file(ann.user_id).read_text(encoding="utf-8"))["pins"] == []


def _pin_button_script(run_id: str) -> None:
    import plotly.graph_objects as go
    import streamlit as st

    from cnnviz.app import report
    from cnnviz.runs import store

    if "info" not in st.session_state:  # the page as drawn while the run was there
        st.session_state["info"] = store.load_run(run_id)
    report.pin_button(st.session_state["info"], "explain_occlusion", "Occlusion of cat", go.Figure())


def test_a_view_of_a_run_deleted_since_the_page_was_drawn_is_not_pinned(cnnviz_home):
    # Pin on an Explain page drawn before the run was deleted (another tab, the teacher) said "Pinned" and kept a
    # pin of a run that no page lists any more, so that nobody could unpin it.
    from tests.support.runfolders import write_run

    gone = "20260101-000000-0000a001"
    write_run(cnnviz_home, gone)
    at = AppTest.from_function(_pin_button_script, args=(gone,), default_timeout=TIMEOUT).run()
    no_errors(at)
    runs.delete_run(gone)
    at.button(key="explain_occlusion_pin").click().run()
    no_errors(at)
    assert [t.value for t in at.toast] == [f"Run {gone} was deleted: nothing was pinned."]
    assert pins.load(people.TEACHER_OWNER) == [] and at.session_state[report.PINS_KEY] == []


def test_making_the_report_moves_a_bar_step_by_step(app_path, run_id, clicked, monkeypatch):
    """A fresh run's report took 13 s on the 2-core machine behind a spinner: a bar moves at each step."""
    steps, gather = [], report.report_inputs
    progress = []
    real_progress = report.st.progress

    def watched(info, step=None):
        return gather(info, lambda i: steps.append(i) or step(i))

    def bar(*args, **kwargs):  # the bar the page draws, and each move of it
        drawn = real_progress(*args, **kwargs)
        move = drawn.progress
        drawn.progress = lambda value, text=None: progress.append((value, text)) or move(value, text=text)
        return drawn

    monkeypatch.setattr(report, "report_inputs", watched)
    monkeypatch.setattr(report.st, "progress", bar)
    at = open_page(app_path, "app_pages/runs.py")
    at.button(key="report_make").click().run()
    no_errors(at)
    assert steps == [0, 1, 2, 3]
    ours = [move for move in progress if move in report.REPORT_STEPS]  # the rotation test moves a bar of its own
    assert ours == list(report.REPORT_STEPS) and progress[-1] == report.REPORT_STEPS[-1]  # in order, writing last
    assert "No Explain views were pinned" in clicked(_report_name(run_id))
