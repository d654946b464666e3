"""The embedding scatter: one trace per true class carrying the test-image numbers, pictures as layout images,
and the clicked point read back from Streamlit's selection."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.plots import embeddings


def test_one_trace_per_class_with_the_image_numbers_and_predictions():
    xy = np.arange(12, dtype=float).reshape(6, 2)
    labels = np.array([0, 2, 0, 2, 2, 0])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    fig = embeddings.embedding_figure(xy, labels, ["cat", "dog", "ship"], predicted, np.full(6, 0.5),
                                      indices=np.arange(10, 16))
    assert [t.name for t in fig.data] == ["cat", "ship"]  # no dog in the true classes
    cat = fig.data[0]
    np.testing.assert_array_equal(cat.x, xy[[0, 2, 5], 0])
    assert [list(c) for c in cat.customdata] == [[10, "cat", 0.5], [12, "dog", 0.5], [15, "cat", 0.5]]
    assert "truly cat" in cat.hovertemplate and fig.data[0].marker.color != fig.data[1].marker.color


def test_thumbnails_sit_on_their_points():
    xy = np.array([[0.0, 0.0], [10.0, 20.0], [5.0, 5.0]])
    pictures = np.zeros((2, 4, 4, 3), np.uint8)
    fig = embeddings.embedding_figure(xy, [0, 1, 1], ["a", "b"], [0, 1, 1], [1, 1, 1], thumbnails=pictures)
    assert [(im.x, im.y) for im in fig.layout.images] == [(0.0, 0.0), (10.0, 20.0)]
    assert fig.layout.images[0].sizex == pytest.approx(10 * embeddings.THUMBNAIL_FRACTION)
    assert fig.layout.images[0].source.startswith("data:image/png;base64,")
    with pytest.raises(InvalidArgument, match="M ≤ 300"):
        embeddings.embedding_figure(xy, [0, 1, 1], ["a", "b"], [0, 1, 1], [1, 1, 1],
                                    thumbnails=np.zeros((4, 4, 4, 3), np.uint8))


def test_selected_index():
    event = {"selection": {"points": [{"customdata": [42, "cat", 0.9]}, {"customdata": [7]}]}}
    assert embeddings.selected_index(event) == 42
    assert embeddings.selected_index({"selection": {"points": []}}) is None
    assert embeddings.selected_index(None) is None


def test_mismatched_lengths_are_refused():
    with pytest.raises(InvalidArgument, match=r"got \(3, 2\), \(2,\)"):
        embeddings.embedding_figure(np.zeros((3, 2)), [0, 1], ["a", "b"], [0, 1, 1], [1, 1, 1])
