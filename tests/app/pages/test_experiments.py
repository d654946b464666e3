"""Experiments page: each experiment runs on tiny digits and shows what the notebooks' questions ask about."""

from __future__ import annotations

from tests.support.pages import chart_keys, figure, no_errors, open_page, texts


def _frame(at, column, first_row=None):
    """The table with ``column`` (and ``first_row`` as its first value, to tell alike tables apart)."""
    for frame in at.dataframe:
        if column in frame.value.columns and first_row in (None, frame.value.iloc[0, 0]):
            return frame.value
    raise AssertionError(f"no table with a {column!r} column; have {[list(f.value.columns) for f in at.dataframe]}")


def test_every_experiment_runs_and_shows_its_answer(app_path):
    at = open_page(app_path, "app_pages/experiments.py")
    no_errors(at)
    at.slider(key="exp_size").set_value(100).run()
    # seed 003 3.1 / seed 001 Q5 without training: a conv layer's parameters do not grow with the image
    sizes = _frame(at, "Dense, 16 units")
    assert sizes["Conv2D, 16 filters of 3×3"].tolist() == ["448"] * 3
    assert sizes["Dense, 16 units"].tolist() == ["3,088", "49,168", "2,408,464"]
    noise = _frame(at, "batch mean off by (std)")  # seed 001 Q7: a batch of 2 is noisier than 64
    assert noise["batch size"].tolist() == [2, 8, 64]
    assert noise["batch mean off by (std)"].iloc[0] > noise["batch mean off by (std)"].iloc[2]

    at.button(key="exp_run_batch").click().run()  # seed 000 Q13
    no_errors(at)
    table = _frame(at, "updates per epoch")
    assert table["training"].tolist() == ["batch 8", "batch 64", "batch 512"]
    assert table["updates per epoch"].tolist() == [13, 2, 1]  # ceil(100 / batch)
    assert [t["name"] for t in figure(at, "exp_batch_loss")["data"]] == ["batch 8", "batch 64", "batch 512"]

    at.button(key="exp_run_bn").click().run()  # seed 001 Q7
    assert "exp_bn_accuracy" in chart_keys(at)
    at.button(key="exp_run_stream").click().run()  # seed 000 Q24
    no_errors(at)
    stream = _frame(at, "held in memory")
    assert stream["held in memory"].tolist() == ["25 KiB (all images)", "8 KiB (one batch)"]  # 100·8·8·4 B; 32 of them
    assert "on disk (PNG)" in texts(at)
    at.button(key="exp_run_dense_conv").click().run()  # seed 001 Q5
    trained = _frame(at, "parameters", first_row="dense")
    assert trained["training"].tolist() == ["dense", "conv"]
    assert trained["parameters"].tolist() == ["2,410", "1,898"]  # 8×8×1 digits: the conv net is the smaller
    at.button(key="exp_run_dropout").click().run()  # seed 001 Q6
    no_errors(at)
    assert "every time. Dropout on:" in texts(at)
    bars = figure(at, "exp_dropout")["data"]
    assert bars[0]["name"] == "dropout off (test time)" and len(bars[1]["y"]) == 10 * 10
    assert "Choose CIFAR-10 (or another dataset) above to compare it with the digits." in texts(at)  # seed 001 Q3
