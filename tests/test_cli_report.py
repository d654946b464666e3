"""`python -m cnnviz report RUN_ID --out FILE.html`: the run's lab report and its history CSV, offline."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest

from cnnviz import cli
from cnnviz.classroom.people import Person, local_teacher
from cnnviz.report import page, pins
from cnnviz.runs import compare
from cnnviz.runs import saving
from tests.support.models import tiny_build

pytestmark = pytest.mark.slow

CONFIG = {
    "model": {"architecture": "test-tiny", "filters": 4}, "dataset": "digits", "train_size": 60, "test_size": 30,
    "validation_fraction": 0.25, "scaling": "unit", "augment": None, "epochs": 1, "batch_size": 8, "seed": 3,
    "preset": None, "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]},
    "input_shape": [8, 8, 1], "num_classes": 10,
}


def _model():
    model = tiny_build((8, 8, 1), 10)
    model.optimizer.build(model.trainable_variables)  # as after training: the optimizer state is saved too
    return model


def test_report_writes_the_html_and_the_csv(tmp_path, capsys):
    info = saving.save_run(_model(), config=CONFIG, history={"loss": [2.0], "accuracy": [0.3]},
                         metrics={"test_accuracy": 0.3}, status="finished")
    out, csv = tmp_path / "mine.html", tmp_path / "mine.csv"
    assert cli.main(["report", info.run_id, "--out", str(out), "--csv", str(csv)]) == 0
    printed = capsys.readouterr()
    assert f"wrote {out} (" in printed.out and f"wrote {csv}" in printed.out
    text = out.read_text(encoding="utf-8")
    for anchor, heading in page.SECTIONS:
        assert f'<section id="{anchor}"><h2>{heading}</h2>' in text
    assert "30 test images" in text and "Not measured" not in text  # the run's own 30 test digits, rotated too
    assert csv.read_text() == compare.history_csv(info) == "epoch,loss,accuracy\n1,2.0,0.3\n"


def test_report_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["report", "20250101-000000-00000000", "--out", str(tmp_path / "x.html")]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    info = saving.save_run(_model(), config=CONFIG, history={}, metrics={}, status="finished")
    (tmp_path / "a-file").write_text("not a folder")
    assert cli.main(["report", info.run_id, "--out", str(tmp_path / "a-file" / "x.html")]) == 2
    assert capsys.readouterr().err == (f"error: cannot write the report to {tmp_path / 'a-file' / 'x.html'}: "
                                       f"{tmp_path / 'a-file'} is a file\n")
    assert cli.main(["report", info.run_id, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: cannot write the report to {tmp_path}: {tmp_path} is a folder\n"


ANN = Person("key:ann0001", "Ann", False, "key")


def _figure(title: str) -> str:
    return go.Figure(go.Scatter(x=[0, 1], y=[2, 3], name="pinned trace"), layout={"title": {"text": title}}).to_json()


def test_report_has_the_pinned_views_of_the_teacher_or_of_a_student(tmp_path, capsys):
    info = saving.save_run(_model(), config=CONFIG, history={"loss": [2.0], "accuracy": [0.3]},
                         metrics={"test_accuracy": 0.3}, status="finished")
    pins.add(ANN, pins.Pin(info.run_id, "explain_occlusion", "Occlusion of test image 3", _figure("ann's map"),
                           "Red: where a grey patch lowered the score"))
    pins.add(ANN, pins.Pin("20250101-000000-00000000", "explain_neuron", "Another run's view", _figure("x")))
    pins.add(local_teacher(), pins.Pin(info.run_id, "explain_saliency", "The teacher's saliency", _figure("t")))
    out = tmp_path / "ann.html"
    assert cli.main(["report", info.run_id, "--owner", "ann", "--out", str(out)]) == 0
    assert f"1 pinned Explain view of {ANN.user_id}" in capsys.readouterr().err
    explain = out.read_text(encoding="utf-8").split('<section id="explain">')[1].split("</section>")[0]
    assert explain.count("<h3>") == 1 and "<h3>Occlusion of test image 3</h3>" in explain
    assert "<p>Red: where a grey patch lowered the score</p>" in explain and "ann's map" in explain  # the figure
    mine = tmp_path / "mine.html"
    assert cli.main(["report", info.run_id, "--out", str(mine)]) == 0  # the command line is the teacher
    assert "1 pinned Explain view of teacher" in capsys.readouterr().err
    explain = mine.read_text(encoding="utf-8").split('<section id="explain">')[1].split("</section>")[0]
    assert explain.count("<h3>") == 1 and "<h3>The teacher&#x27;s saliency</h3>" in explain
    assert cli.main(["report", info.run_id, "--owner", "Cy", "--out", str(mine)]) == 2
    assert capsys.readouterr().err.startswith("error: nobody called 'Cy' has pinned views; people with pinned views: "
                                              f"Ann ({ANN.user_id}), Teacher (teacher)")


def test_a_hostile_pin_file_is_escaped_and_fetches_nothing(tmp_path, capsys):
    info = saving.save_run(_model(), config=CONFIG, history={"loss": [2.0], "accuracy": [0.3]},
                         metrics={"test_accuracy": 0.3}, status="finished")
    script = '</script><script>alert("pin")</script>'
    fig = go.Figure(go.Scatter(x=[0], y=[0], name=script), layout={
        "title": {"text": '<img src=x onerror=alert(2)>'},
        "images": [{"source": "http://127.0.0.1:9/tracker.png", "x": 0, "y": 0},
                   {"source": "data:image/png;base64,iVBORw0KGgo=", "x": 0, "y": 0}]})
    pins.add(ANN, pins.Pin(info.run_id, "explain_saliency", "ok", fig.to_json()))
    path = pins.pin_file(ANN.user_id)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["pins"][0].update(title=script, caption='<img src=x onerror=alert(3)> & "quotes"')
    data["pins"].append({"run_id": info.run_id, "view_id": "broken", "title": "<b>broken</b>",
                         "figure_json": '{"layout": {"nonsense": "<script>alert(4)</script>"}}', "caption": ""})
    data["owner_name"] = "<i>Ann</i>"
    path.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "hostile.html"
    assert cli.main(["report", info.run_id, "--owner", ANN.user_id, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    for raw in (script, "<img src=x", "alert(3)>", "<b>broken</b>", "<script>alert(4)", "<i>Ann</i>"):
        assert raw not in text
    explain = text.split('<section id="explain">')[1].split("</section>")[0]
    assert "<h3>&lt;/script&gt;&lt;script&gt;alert(&quot;pin&quot;)&lt;/script&gt;</h3>" in explain
    assert "<p>&lt;img src=x onerror=alert(3)&gt; &amp; &quot;quotes&quot;</p>" in explain
    assert "<h3>&lt;b&gt;broken&lt;/b&gt;</h3><p class=\"wrong\">This pinned view cannot be drawn" in explain
    assert "127.0.0.1:9" not in text  # the picture it would fetch is dropped; the inline one stays
    assert "data:image\\u002fpng;base64,iVBORw0KGgo=" in explain  # (Plotly's JSON writes / as \\u002f)
    assert explain.count("<script") == 1  # the one pinned figure that could be drawn


@pytest.mark.parametrize("which", ["out", "csv"])
def test_report_to_a_folder_it_may_not_write_is_refused_before_measuring(tmp_path, capsys, monkeypatch, which):
    """A folder of another user (or on a read-only disk) was found out only after the minutes of measuring."""
    import os

    from cnnviz.report import inputs

    info = saving.save_run(_model(), config=CONFIG, history={"loss": [2.0]}, metrics={}, status="finished")
    locked = tmp_path / "theirs"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: not (mode & os.W_OK and str(path).startswith(
        str(locked))) and real_access(path, mode, **kw))
    monkeypatch.setattr(inputs, "gather", lambda *a, **kw: pytest.fail("measured before refusing the path"))
    paths = {"out": tmp_path / "r.html", "csv": None, which: locked / "sub" / f"r.{which.replace('out', 'html')}"}
    argv = ["report", info.run_id, "--out", str(paths["out"])] + (["--csv", str(paths["csv"])] if paths["csv"] else [])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: cannot write the report to {paths[which]}: ") and str(locked) in err[-1], err
