"""The lab report's HTML: every section, only data: URIs, hostile names escaped, the CSV equal to the history,
pinned Explain views, and the measurements equal to the inspection backends' own."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from html.parser import HTMLParser

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation, robustness
from cnnviz.report import inputs, page
from cnnviz.runs import compare
from cnnviz.runs import saving
from cnnviz.runs.rundata import prepare_inputs
from tests.support.models import tiny_build

pytestmark = pytest.mark.slow

HOSTILE = ('<img src=x onerror=alert(1)>', '</script><script>alert("x")</script>',
           '<a href="http://127.0.0.1:9/">a</a>', "**bold** & 'quote'")
CONFIG = {
    "model": {"architecture": "test-tiny", "filters": 4},
    "dataset": "digits", "train_size": 60, "test_size": 30, "validation_fraction": 0.25, "scaling": "unit",
    "augment": None, "epochs": 3, "batch_size": 8, "seed": 3, "preset": None,
    "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]},
    "input_shape": [8, 8, 1], "num_classes": 4, "class_names": list(HOSTILE),
}
HISTORY = {"loss": [2.0, 1.5, 1.25], "accuracy": [0.2, 0.4, 0.5], "val_loss": [2.1, None, 1.9],
           "val_accuracy": [0.1, None, 0.3]}
WHEN = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.timezone.utc)


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of each h2/h3."""

    def __init__(self):
        super().__init__()
        self.tags, self.headings, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h2", "h3"):
            self._in, self.headings = tag, self.headings + [[tag, ""]]

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.headings[-1][1] += data


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A saved run with hostile class names, its model and a small test set (no training: the report reads)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(tmp_path_factory.mktemp("home")))
        model = tiny_build((8, 8, 1), 4)
        info = saving.save_run(model, config=CONFIG, history=HISTORY, metrics={"test_accuracy": 0.5, "test_loss": 1.3},
                             status="finished")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (24, 8, 8, 1), dtype=np.uint8)
    y = np.arange(24, dtype=np.int64) % 4
    test_set = {"x": x, "y": y, "class_names": HOSTILE}
    gathered = inputs.gather(info, model=model, test_set=test_set)
    return info, model, test_set, gathered


def _pin(title="Saliency of <b>my</b> cat.png", caption="caption <script>x</script>"):
    fig = go.Figure(go.Scatter(x=[0, 1], y=[2, 3], name="pinned trace"))
    return inputs.Pinned(title=title, figure_json=fig.to_json(), caption=caption)


def test_gather_equals_the_backends(made):
    info, model, test_set, got = made
    x = prepare_inputs(info, test_set["x"])
    ev = evaluation.evaluate(model, x, test_set["y"], HOSTILE)
    np.testing.assert_allclose(got.evaluation.probabilities, ev.probabilities, atol=1e-6)
    rot = robustness.rot90_test(model, test_set["x"], test_set["y"], HOSTILE, prepare=lambda i: prepare_inputs(info, i))
    assert got.rotation.angles == (0.0, 90.0, 180.0, 270.0)
    np.testing.assert_allclose(got.rotation.accuracy, rot.accuracy)
    assert got.summary.total == model.count_params()
    assert [r["name"] for r in got.summary.rows] == [layer.name for layer in model.layers]
    assert inputs.gather(info, model=model, test_set=test_set, evaluated=ev, rotate=False).rotation is None


def test_every_section_in_order_and_nothing_from_the_internet(made):
    info, _, _, got = made
    text = page.report_html(info, got, [_pin()], generated=WHEN)
    parser = _Tags()
    parser.feed(text)
    assert [h for tag, h in parser.headings if tag == "h2"] == [heading for _, heading in page.SECTIONS]
    assert [attrs["id"] for tag, attrs in parser.tags if tag == "section"] == [a for a, _ in page.SECTIONS]
    for tag, attrs in parser.tags:
        for name in ("src", "href", "action", "srcset", "data", "poster"):
            value = attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), (tag, name, value[:80])
    ours = text.replace(get_plotlyjs(), "")  # plotly.js' own source mentions addresses it never loads here
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", ours, re.I)
    assert text.count("<script") == 1 + 5  # plotly.js once, then one per figure: 2 curves, matrix, rotation, pinned
    assert "report made 2026-01-02 03:04 UTC" in text and info.run_id in text
    assert f"<p>{int(got.rotation.support.sum()):,} of the run's test images turned by quarter turns" in text
    images = [attrs["src"] for tag, attrs in parser.tags if tag == "img"]
    assert len(images) == min(page.MISTAKES, int((~got.evaluation.correct).sum()))
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_hostile_names_are_escaped_everywhere(made):
    info, _, _, got = made
    text = page.report_html(info, got, [_pin()], generated=WHEN)
    for name in HOSTILE:
        assert name not in text  # never raw: not in the HTML, not in a figure's JSON
    assert "&lt;img src=x onerror=alert(1)&gt;" in text  # the per-class table shows it as typed
    assert "&lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "Saliency of &lt;b&gt;my&lt;/b&gt; cat.png" in text and "caption &lt;script&gt;x&lt;/script&gt;" in text
    parser = _Tags()
    parser.feed(text)
    assert not [t for t, a in parser.tags if t == "img" and "onerror" in a]
    assert not [t for t, a in parser.tags if t == "a" and not a.get("href", "").startswith(("#", "data:"))]
    # Inside Plotly's JSON the names are entity-escaped (Plotly draws <b>, <a href> of labels; it shows entities
    # as the characters), and "<" never appears raw (Plotly writes \u003c).
    blobs = re.findall(r'Plotly\.newPlot\(\s*"figure-\d+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', text, re.S)
    matrix = json.loads(blobs[2][0])[0]
    assert list(matrix["x"]) == [page.plotly_text(n) for n in HOSTILE]
    assert "<" not in "".join(a for b in blobs for a in b)


def test_history_csv_and_table_equal_the_history(made):
    info, _, _, got = made
    text = page.report_html(info, got, generated=WHEN)
    [uri] = re.findall(r'href="(data:text/csv;base64,[^"]+)"', text)
    csv_text = base64.b64decode(uri.split(",", 1)[1]).decode()
    assert csv_text == compare.history_csv(info)
    lines = csv_text.strip().split("\n")
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy"
    assert lines[2] == "2,1.5,0.4,," and lines[3] == "3,1.25,0.5,1.9,0.3"
    history = text.split('<section id="history">')[1]
    assert "<td class=num>1.2500</td><td class=num>0.5000</td><td class=num>1.9000</td>" in history
    assert f'download="cnnviz-{info.run_id}-history.csv"' in history


def test_no_pins_no_rotation_no_mistakes_and_errors(made):
    info, _, _, got = made
    bare = inputs.ReportInputs(summary=got.summary, evaluation=got.evaluation, x_test=got.x_test, rotation=None)
    text = page.report_html(info, bare, generated=WHEN, mistakes=0)
    assert "No Explain views were pinned" in text and "Not measured for this report." in text
    assert "No mistakes on the test set." in text
    with pytest.raises(InvalidArgument, match=r"mistakes must be a non-negative whole number, got -1"):
        page.report_html(info, got, mistakes=-1)
    damaged = page.report_html(info, got, [inputs.Pinned("bad", "{not json"), _pin("good")])  # the rest is kept
    assert ("<h3>bad</h3><p class=\"wrong\">This pinned view cannot be drawn: it is not a Plotly figure (Expecting "
            "property name enclosed in double quotes: line 1 column 2 (char 1)).</p><h3>good</h3>") in damaged
    assert inputs.pinned_from_dicts([{"title": "t", "figure_json": "{}", "caption": "c"}]) == [
        inputs.Pinned("t", "{}", "c")]
    with pytest.raises(InvalidArgument, match="a pinned view needs a title and its figure as JSON, got"):
        inputs.pinned_from_dicts([{"title": "t"}])


def test_the_same_run_gives_the_same_file(made):
    info, _, _, got = made
    assert page.report_html(info, got, [_pin()], generated=WHEN) == page.report_html(info, got, [_pin()],
                                                                                        generated=WHEN)


def test_the_rotation_test_runs_on_the_robustness_pages_sample_as_the_apps_report(made, monkeypatch):
    info, model, test_set, _ = made
    monkeypatch.setattr(robustness, "SAMPLE_IMAGES", 10)  # 24 test images: every 2.4th, as the page samples
    got = inputs.gather(info, model=model, test_set=test_set)
    keep = robustness.sample_indices(24, 10)
    rot = robustness.rot90_test(model, test_set["x"][keep], test_set["y"][keep], HOSTILE,
                                prepare=lambda i: prepare_inputs(info, i))
    assert int(got.rotation.support.sum()) == 10
    np.testing.assert_allclose(got.rotation.accuracy, rot.accuracy)
    assert "<p>10 of the run's test images turned by quarter turns" in page.report_html(info, got, generated=WHEN)


@pytest.mark.parametrize("tta", ["none", "flip", "flip_translate"])
def test_the_rotation_section_says_when_the_test_accuracy_averaged_several_views(made, tta):
    import dataclasses

    from cnnviz.training.tta import TTA_SHORT

    info, _, _, got = made
    info = dataclasses.replace(info, config={**info.config, "tta": tta})
    rotation = re.search(r'<section id="rotation">(.*?)</section>', page.report_html(info, got, generated=WHEN),
                         re.S).group(1)
    said = "Each image is judged once, as it is: the test accuracy above averages the network's answers on"
    assert (said in rotation) is (tta != "none")
    if tta != "none":
        assert page.escape(TTA_SHORT[tta]) in rotation
