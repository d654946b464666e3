"""cnnviz.runs.predictions: a run's kept test answers are used only for the same model and labels."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.runs import predictions


SHA = "ab" * 32
Y = np.array([0, 2, 1, 1])
P = np.random.default_rng(0).dirichlet(np.ones(3), size=4).astype(np.float32)


def test_answers_come_back_for_the_same_model_and_labels_only(tmp_path):
    assert predictions.load(tmp_path, SHA, Y) is None  # none kept (a run saved before)
    assert predictions.save(tmp_path, SHA, Y, P)
    np.testing.assert_array_equal(predictions.load(tmp_path, SHA, Y), P)
    assert predictions.load(tmp_path, "cd" * 32, Y) is None  # another model file
    assert predictions.load(tmp_path, SHA, Y[::-1]) is None  # other test images (or order)
    assert predictions.load(tmp_path, SHA, Y[:3]) is None


def test_the_single_views_come_back_with_the_answers_and_only_whole_ones(tmp_path):
    assert predictions.load_views(tmp_path, SHA, Y) == {}  # none kept
    mirrored = P[:, ::-1].copy()
    assert predictions.save(tmp_path, SHA, Y, P, views={"original": P, "flip_horizontal": mirrored})
    views = predictions.load_views(tmp_path, SHA, Y)
    assert sorted(views) == ["flip_horizontal", "original"]
    np.testing.assert_array_equal(views["flip_horizontal"], mirrored)
    np.testing.assert_array_equal(predictions.load(tmp_path, SHA, Y), P)  # the answers as before
    assert predictions.load_views(tmp_path, "cd" * 32, Y) == {} and predictions.load_views(tmp_path, SHA, Y[:3]) == {}
    broken = mirrored.copy()
    broken[0, 0] = np.inf
    predictions.save(tmp_path, SHA, Y, P, views={"original": P, "flip_horizontal": broken})
    assert sorted(predictions.load_views(tmp_path, SHA, Y)) == ["original"]  # a view that is not finite is left out
    predictions.save(tmp_path, SHA, Y, P)
    assert predictions.load_views(tmp_path, SHA, Y) == {}  # a run tested without keeping them


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04junk", b"not a zip at all"])
def test_a_damaged_file_reads_as_no_answers(tmp_path, content):
    predictions.path(tmp_path).write_bytes(content)
    assert predictions.load(tmp_path, SHA, Y) is None


def test_nonfinite_answers_are_not_used(tmp_path):
    bad = P.copy()
    bad[1, 1] = np.nan
    predictions.save(tmp_path, SHA, Y, bad)
    assert predictions.load(tmp_path, SHA, Y) is None


def test_a_refusing_disk_costs_only_the_kept_answers(tmp_path):
    assert not predictions.save(tmp_path / "deleted run", SHA, Y, P)
    assert not (tmp_path / "deleted run").exists()
    (tmp_path / "file").write_bytes(b"")
    assert not predictions.save(tmp_path / "file", SHA, Y, P)


@pytest.mark.parametrize("args, message", [
    ((SHA, Y, P[:3]), "answers of shape \\(3, 3\\) and labels of shape \\(4,\\)"),
    (("abc", Y, P), "got 'abc'"),
    ((SHA, Y, P, {"original": P[:2]}), "the answers' shape \\(4, 3\\), got 'original' of shape \\(2, 3\\)"),
    ((SHA, Y, P, {"../x": P}), "a plain name .*got '../x'"),
])
def test_bad_arguments_repeat_what_was_received(tmp_path, args, message):
    with pytest.raises(InvalidArgument, match=message):
        predictions.save(tmp_path, *args)
