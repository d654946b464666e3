"""cnnviz.inspect.topk: the one top-k of the lab, against the three it replaced."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import topk


def test_doctests():
    assert doctest.testmod(topk).failed == 0


@pytest.mark.parametrize("seed", range(5))
def test_same_order_as_the_gallery_and_the_inside_page(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random(12), 1)  # rounded: many ties
    lexsort = np.lexsort((np.arange(len(p)), -p))[:5]  # evaluation.describe_images before issue 13
    stable = np.argsort(-p, kind="stable")[:5]  # app_pages/inside.py before issue 13
    np.testing.assert_array_equal(topk.top_k(p, 5), lexsort)
    np.testing.assert_array_equal(topk.top_k(p, 5), stable)


def test_batches_ties_and_large_k():
    p = np.array([[0.1, 0.3, 0.3, 0.3], [0.4, 0.0, 0.6, 0.0]])
    np.testing.assert_array_equal(topk.top_k(p, 2), [[1, 2], [2, 0]])
    assert topk.top_k(p, 99).shape == (2, 4)
    assert topk.top_k(p[0], 1).dtype == np.int64
    assert topk.top_classes(p[1], ("a", "b", "c", "d"), 3) == [(2, "c", 0.6), (0, "a", 0.4), (1, "b", 0.0)]


def test_messages_repeat_what_was_received():
    with pytest.raises(InvalidArgument, match="k must be a positive integer, got 0"):
        topk.top_k(np.ones(3), 0)
    with pytest.raises(InvalidArgument, match=r"got an array of shape \(1, 2, 3\)"):
        topk.top_k(np.ones((1, 2, 3)), 1)
    with pytest.raises(InvalidArgument, match=r"need one probability per class \(2\), got an array of shape \(3,\)"):
        topk.top_classes(np.ones(3), ("a", "b"), 1)
