"""The lab report in the app: pin Explain views, make the report on the Runs page, download it; the report
holds the pinned figures and the same measurements as the command line's."""

from __future__ import annotations

import json

import pytest

from cnnviz.app import report
from cnnviz.report import inputs, page
from cnnviz.runs import store as runs
from tests.support.pages import figure, no_errors, open_page
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


def test_pin_views_then_make_and_download_the_report(app_path, run_id):
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "Occlusion"
    at.run()
    no_errors(at)
    at.button(key="explain_occlusion_pin").click().run()
    no_errors(at)
    [pin] = at.session_state[report.PINS_KEY]
    drawn = figure(at, "explain_occlusion")
    assert pin["run_id"] == run_id and pin["id"] == "explain_occlusion" and pin["title"].startswith("Occlusion of ")
    pinned_title = json.loads(pin["figure_json"])["layout"]["annotations"][1]["text"]
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
    text = made["html"]
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


def test_no_pins_the_report_says_how_to_add_them(app_path, run_id):
    at = open_page(app_path, "app_pages/runs.py")
    assert "Pin Explain views on the Explain page to add them." in " ".join(m.value for m in at.markdown)
    at.button(key="report_make").click().run()
    no_errors(at)
    assert "No Explain views were pinned" in at.session_state[report.MADE_KEY]["html"]


def test_the_filter_grid_and_the_embeddings_scatter_are_pinned_into_the_report(app_path, run_id):
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "What a filter looks for"
    at.run()
    at.button(key="explain_actmax_filters_pin").click().run()
    no_errors(at)
    at.session_state["explain_tab"] = "Embeddings"
    at.run()
    at.button(key="explain_emb_trained_pin").click().run()
    no_errors(at)
    pins = at.session_state[report.PINS_KEY]
    assert [p["id"] for p in pins] == ["explain_actmax_filters", "explain_emb_trained"]
    grid, scatter = (json.loads(p["figure_json"]) for p in pins)
    drawn = figure(at, "explain_emb_trained")
    assert scatter["layout"]["title"]["text"] == drawn["layout"]["title"]["text"]
    assert [a["text"] for a in grid["layout"]["annotations"]][0].startswith("filter 0<br>")

    at.switch_page("app_pages/runs.py").run()
    at.button(key="report_make").click().run()
    no_errors(at)
    text = at.session_state[report.MADE_KEY]["html"]
    assert text.count("<h3>") == 2
    assert "<h3>What the first 4 filters of " in text and "<h3>Embeddings: Trained network: PCA of " in text
    assert "Pictures grown from grey noise" in text and "placed by the network&#x27;s last hidden layer" in text
