"""The parameter bar chart shows exactly the layers with weights and their counts."""

from __future__ import annotations

from cnnviz.models.config import ModelConfig
from cnnviz.plots.models import param_bars


def test_param_bars_values():
    table = ModelConfig().validate((32, 32, 3), 10)  # seed 000 model1
    fig = param_bars(table, log_scale=True)
    trainable, frozen = fig.data
    assert list(trainable.y) == ["conv_1", "bn_1", "conv_2", "bn_2", "output"]
    assert list(trainable.x) == [448, 32, 4640, 64, 20490]
    assert list(frozen.x) == [0, 32, 0, 64, 0]
    assert sum(trainable.x) + sum(frozen.x) == 25_770
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.title.text == "25,770 parameters (25,674 trainable)"
    assert "(3·3·16+1)·32 = 4,640" in trainable.hovertext[2]


def test_linear_by_default_and_never_stacked_on_a_log_axis():
    table = ModelConfig().validate((32, 32, 3), 10)
    linear = param_bars(table)
    assert (linear.layout.xaxis.type, linear.layout.barmode) == ("linear", "stack")
    log = param_bars(table, log_scale=True)
    assert (log.layout.xaxis.type, log.layout.barmode) == ("log", "group")
    assert log.layout.xaxis.title.text == "parameters (log scale)"
