"""Side-by-side subplot titles on a phone: at 390 px (a figure :data:`~tests.support.layout.PHONE_PX` wide) the
titles of the Convolution page's rows, the Explain page's saliency row and the galleries ran into each other.
Every such figure keeps its captions apart there and on a desktop (tests/support/layout.py estimates where
they land, with generous character widths)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.lessons import convolution as conv
from cnnviz.plots import common
from cnnviz.plots import convolution as conv_plots
from cnnviz.plots import datasets as dataset_plots
from cnnviz.plots import evaluation as eval_plots
from cnnviz.plots import explain as explain_plots
from tests.support.layout import PHONE_PX, overlapping_captions

CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DESKTOP_PX = 820  # the main column of a 1280 px window with the sidebar open
RNG = np.random.default_rng(0)
PHOTO = RNG.integers(0, 256, (256, 192, 3), dtype=np.uint8)
TINY = PHOTO[:32, :32]
GREY = PHOTO.mean(axis=-1)


def _convolution_image():  # as app_pages/convolution.py captions its picture, at the working size 256
    return common.image_grid([PHOTO, GREY], titles=["colour: 256×192×3 (working size)",
                                                    "grayscale for 2D work: 256×192 (1 channel)"],
                             columns=2, tile_px=260, title="The image")


def _modes():  # the seed's 15×15 Gaussian: the longest formulas
    kernel = conv.gaussian_kernel(15, 4.0)
    return conv_plots.modes_figure(conv.compare_modes(GREY, kernel), kernel=kernel)


def _colour_identity():
    return conv_plots.color_identity_figure(conv.color_identity(PHOTO[:96, :72], conv.color_kernel(
        conv.COLOR_KERNEL_NAMES[0], 3)))


def _saliency():
    heats = {name: RNG.random((32, 32)) for name in ("gradients", "SmoothGrad", "Integrated Gradients", "Grad-CAM")}
    return explain_plots.heat_figure(TINY, heats)


def _occlusion():
    return explain_plots.occlusion_figure(TINY, RNG.random((32, 32)))


def _attack():
    return explain_plots.attack_figure(TINY, TINY, ["automobile (85%)", "perturbation × 10", "automobile (60%)"])


def _predictions():  # the widest titles CIFAR-10 gives: "automobile (automobile)" cannot be, "truck (automobile)" can
    images = np.repeat(TINY[None], 16, axis=0)
    return eval_plots.prediction_gallery(images, [1] * 16, [9] * 16, CIFAR, title=None)


def _mistakes():  # as the Evaluate page draws it (4 columns)
    described = [dict(true_name="automobile", correct=False,
                      top=[(9, "automobile", 0.71), (1, "automobile", 0.2), (2, "airplane", 0.05)])] * 10
    return eval_plots.mistakes_gallery(np.repeat(TINY[None], 10, axis=0), described, columns=4)


FIGURES = {"Convolution: the image": _convolution_image, "Convolution: full, same, valid": _modes,
           "Convolution: colour Conv2D": _colour_identity, "Explain: saliency": _saliency,
           "Explain: occlusion": _occlusion, "Explain: fooling": _attack, "Evaluate: predictions": _predictions,
           "Evaluate: the images behind the numbers": _mistakes}


@pytest.mark.parametrize("build", FIGURES.values(), ids=FIGURES.keys())
@pytest.mark.parametrize("width", [PHONE_PX, DESKTOP_PX], ids=["phone", "desktop"])
def test_side_by_side_captions_stay_apart(build, width):
    assert overlapping_captions(build(), width) == []


def test_the_estimate_sees_captions_run_into_each_other():
    fig = common.image_grid([TINY, TINY], titles=["a", "b"], columns=2)
    fig.layout.annotations[0].text = "a caption far too long to stand beside another one on a phone's page, 358 px"
    assert overlapping_captions(fig, PHONE_PX) == [(fig.layout.annotations[0].text, "b")]
    assert overlapping_captions(fig, 2000) == []


def test_long_captions_wrap_between_words_or_shrink_for_many_columns():
    fig = _convolution_image()
    assert [a.text for a in fig.layout.annotations] == ["colour: 256×192×3<br>(working size)",
                                                        "grayscale for 2D work:<br>256×192 (1 channel)"]
    assert fig.layout.margin.t >= 40 + 2 * 14  # the figure's title, then two lines of captions above the pictures
    saliency = _saliency().layout.annotations
    assert [a.text for a in saliency] == ["network<br>input", "gradients", "SmoothGrad", "Integrated<br>Gradients",
                                          "Grad-CAM"]
    assert {a.font.size for a in saliency} == {11}
    # Five in a row: "(automobile)" fits a fifth of a phone's page at the usual size.
    predictions = _predictions().layout.annotations
    assert predictions[0].text == "truck<br>(automobile)" and {a.font.size for a in predictions} == {11}
    # Short captions stay as they were.
    assert [(a.text, a.font.size) for a in common.image_grid([TINY] * 3, titles=["a", "b", "c"]).layout.annotations] \
        == [("a", 11), ("b", 11), ("c", 11)]


def test_gallery_column_labels_turn_upright_instead_of_running_into_each_other():
    """Datasets' augmentation preview labels its eight columns with class names on the axis: Plotly's default 30°
    still ran "truck" into "automobile" at 390 px in Chromium; upright (90°) they stand apart."""
    fig = dataset_plots.before_after(np.repeat(TINY[None], 8, axis=0), np.repeat(TINY[None], 8, axis=0),
                                     captions=list(CIFAR[:8]))
    assert list(fig.layout.xaxis.ticktext) == list(CIFAR[:8])
    assert fig.layout.xaxis.autotickangles == (0, 90)
