"""Figures of the Pretrained page: what each trace holds."""

import numpy as np

from cnnviz.inspect.gradcam import colorize, overlay
from cnnviz.plots import pretrained as figs


def test_topk_bars_put_the_best_class_on_top():
    top = [("n1", "golden_retriever", 0.7), ("n2", "tabby", 0.2), ("n3", "crane", 0.05)]
    fig = figs.topk_figure(top, title="Top 3")
    bar = fig.data[0]
    assert list(bar.y) == ["crane", "tabby", "golden retriever"]  # plotly draws the last on top
    assert list(bar.x) == [0.05, 0.2, 0.7] and list(bar.customdata) == ["n3", "n2", "n1"]
    assert list(bar.text) == ["5.0%", "20.0%", "70.0%"]
    assert tuple(fig.layout.xaxis.range) == (0, 1) and fig.layout.title.text == "Top 3"
    assert fig.layout.yaxis.type == "category"  # digits' "0".."9" stay labels


def test_preprocessing_and_gradcam_figures_show_each_step():
    original = np.zeros((30, 40, 3), np.uint8)
    resized = np.full((8, 8, 3), 200, np.uint8)
    resized[..., 0] = 10
    bgr = resized[..., ::-1]
    net_input = bgr.astype(np.float32) - 100
    from cnnviz.inspect.pretrained import Prepared

    fig = figs.preprocessing_figure(Prepared((30, 40), original, resized, bgr, net_input))
    assert len(fig.data) == 4
    np.testing.assert_array_equal(fig.data[2].z, bgr)
    assert fig.layout.annotations[0].text == "your photo<br>(30×40)"  # wrapped: the panels stay apart on a phone
    heat = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    cam = figs.gradcam_figure(resized, heat)
    assert len(cam.data) == 3
    np.testing.assert_array_equal(cam.data[1].z, colorize(heat))
    np.testing.assert_array_equal(cam.data[2].z, overlay(resized, heat))


def test_stage_figure_skips_stages_without_parameters():
    rows = [{"stage": "input", "params": 0}, {"stage": "conv1 (stem)", "params": 9728},
            {"stage": "head", "params": 2_049_000}]
    fig = figs.stage_params_figure(rows)
    assert list(fig.data[0].x) == ["conv1 (stem)", "head"] and list(fig.data[0].y) == [9728, 2_049_000]
    assert list(fig.data[0].text) == ["0.01 M", "2.05 M"]
