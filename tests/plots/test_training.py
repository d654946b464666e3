"""Training figures: downsampling, live curves, run overlays."""

from __future__ import annotations

from cnnviz.plots import training as plots
from cnnviz.runs.store import RunInfo


def test_downsample_keeps_ends_and_caps_points():
    assert plots.downsample([0, 1, 2, 3, 4], [5, 6, 7, 8, 9], max_points=3) == ([0, 2, 4], [5, 7, 9])
    xs = list(range(1000))
    dx, dy = plots.downsample(xs, [x * 2 for x in xs], max_points=200)
    assert len(dx) <= 200 and dx[0] == 0 and dx[-1] == 999 and dy == [x * 2 for x in dx]
    assert plots.downsample([1, 2], [3, 4]) == ([1, 2], [3, 4])
    assert plots.downsample([1, 2, 3], [None, 1.0]) == ([1, 2], [None, 1.0])  # uneven lengths: the shorter wins


def test_live_curves_two_panels_growing_with_the_run():
    curve = {"x": [0.5, 1.0, 1.5], "loss": [2.0, 1.8, 1.5], "accuracy": [0.1, 0.2, 0.3],
             "epoch_loss": [1.8], "epoch_accuracy": [0.2], "epoch_val_loss": [1.9], "epoch_val_accuracy": [0.15]}
    fig = plots.live_curves(curve, epochs=4)
    by_axis = {}
    for trace in fig.data:
        by_axis.setdefault(trace.xaxis, []).append(trace)
    assert sorted(by_axis) == ["x", "x2"]
    loss_running, loss_train, loss_val = by_axis["x"]
    assert list(loss_running.y) == [2.0, 1.8, 1.5] and list(loss_running.x) == [0.5, 1.0, 1.5]
    assert list(loss_train.y) == [1.8] and list(loss_val.y) == [1.9] and list(loss_val.x) == [1]
    assert list(by_axis["x2"][2].y) == [0.15]
    assert list(fig.layout.xaxis.range) == [0, 4.05]
    assert [a.text for a in fig.layout.annotations] == ["loss", "accuracy"]
    assert sum(t.showlegend is not False for t in fig.data) == 3  # one legend entry per series, not per panel


def test_live_curves_before_any_point():
    fig = plots.live_curves({}, epochs=None)
    assert all(len(t.x or ()) == 0 for t in fig.data)


def test_compare_runs_one_colour_per_run_dashed_validation():
    def run(run_id, acc, val):
        return RunInfo(run_id=run_id, config={"dataset": "digits", "preset": "p"},
                       history={"accuracy": acc, "val_accuracy": val, "loss": [1.0] * len(acc)},
                       metrics={}, created="", status="finished")

    a = run("20250101-000000-0000000a", [0.1, 0.5], [0.2, None])
    b = run("20250101-000000-0000000b", [0.3], [None])
    fig = plots.compare_runs([a, b], "accuracy")
    names = [t.name for t in fig.data]
    assert names == [f"{a.label} training", f"{a.label} validation", f"{b.label} training"]  # b has no validation
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert fig.data[1].line.dash == "dash" and fig.data[0].line.dash is None
    assert list(fig.data[1].y) == [0.2, None]
    assert fig.layout.yaxis.title.text == "accuracy"


def test_training_plots_doctests():
    import doctest

    assert doctest.testmod(plots).failed == 0
