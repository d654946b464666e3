"""`python -m cnnviz report RUN_ID --out FILE.html`: the run's lab report and its history CSV, offline."""

from __future__ import annotations

import pytest

from cnnviz import cli
from cnnviz.report import page
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
