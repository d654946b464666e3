"""Figures of the Datasets page: what each one carries, checked against numpy."""

from __future__ import annotations

import numpy as np

from cnnviz.plots import datasets as plots


def test_class_counts_bar_groups_and_stacks():
    fig = plots.class_counts_bar({"train": [3, 4], "test": [1, 2]}, ["a", "b"], title="t")
    assert [t.name for t in fig.data] == ["train", "test"]
    assert list(fig.data[0].y) == [3, 4] and list(fig.data[1].x) == ["a", "b"]
    assert fig.layout.barmode == "group"
    assert plots.class_counts_bar({"train": [1]}, ["a"], stacked=True).layout.barmode == "stack"


def test_mosaic_tiles_images_in_rows():
    red = np.zeros((4, 5, 3), np.uint8)
    red[..., 0] = 200
    grey = np.full((4, 5, 1), 50, np.uint8)
    fig = plots.samples_per_class([[red, red, red], [grey]], ["cat", "dog"])
    z = np.asarray(fig.data[0].z)
    assert z.shape == (4 * 2 + 1, 5 * 3 + 2, 3)  # 1-pixel white gaps
    np.testing.assert_array_equal(z[:4, 6:11], red)
    np.testing.assert_array_equal(z[5:9, :5], np.full((4, 5, 3), 50))
    assert (z[5:9, 6:] == 255).all()  # a class with fewer images leaves white space
    assert list(fig.layout.yaxis.ticktext) == ["cat", "dog"]
    assert list(fig.layout.yaxis.tickvals) == [2.0, 7.0]


def test_before_after_has_two_labelled_rows():
    x = np.zeros((3, 6, 6, 3), np.uint8)
    fig = plots.before_after(x, x + 1, captions=["a", "b", "c"])
    assert list(fig.layout.yaxis.ticktext) == ["original", "augmented"]
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "c"]
    assert np.asarray(fig.data[0].z)[7, 0, 0] == 1


def test_channel_values_one_heatmap_per_channel():
    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    fig = plots.channel_values(img)
    assert len(fig.data) == 3
    np.testing.assert_array_equal(np.asarray(fig.data[1].z), img[..., 1])
    assert fig.data[0].texttemplate == "%{z}"  # small images show their numbers
    big = plots.channel_values(np.zeros((32, 32, 1), np.uint8))
    assert len(big.data) == 1 and big.data[0].texttemplate is None
    thin = plots.channel_values(np.zeros((4, 32), np.uint8))  # one long side is enough to crowd the numbers
    assert thin.data[0].texttemplate is None


def test_pixel_histogram_counts_match_numpy():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    fig = plots.pixel_histogram(img, bins=16)
    expected, _ = np.histogram(img[..., 2].ravel(), bins=np.linspace(0, 255, 17))
    np.testing.assert_array_equal(np.asarray(fig.data[2].y), expected)
    edges = np.linspace(0, 255, 17)
    np.testing.assert_allclose(np.asarray(fig.data[2].x), (edges[:-1] + edges[1:]) / 2)  # each bar on its bin
    assert sum(np.asarray(fig.data[0].y)) == 100
    assert [t.name for t in fig.data] == ["R", "G", "B"]


def test_scaling_histograms_show_both_ranges():
    raw = np.array([0, 255, 255, 128], np.uint8).reshape(1, 2, 2, 1)
    scaled = raw.astype(np.float32) / 127.5 - 1
    fig = plots.scaling_histograms(raw, scaled, method_label="[-1, 1]", bins=4)
    assert len(fig.data) == 2
    assert float(min(fig.data[1].x)) < 0 < float(max(fig.data[1].x))
    assert sum(fig.data[1].y) == 4
