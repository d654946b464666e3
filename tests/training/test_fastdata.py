"""airbench's data path: pre-padded uint8 images, crops, random and alternating flips, epoch by epoch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.training import fastdata

IDENTITY = {"scale": [1.0, 1.0, 1.0], "offset": [0.0, 0.0, 0.0]}


def _marked_images(n: int, width: int = 4) -> np.ndarray:
    """Image i is black but for the value i + 1 in its left column: mirrored, it is in the right one."""
    x = np.zeros((n, 3, width, 3), np.uint8)
    x[:, :, 0, :] = (np.arange(n) + 1)[:, None, None]
    return x


def _epochs(ds, steps: int) -> list[dict[int, bool]]:
    """Per epoch: label → mirrored?"""
    out: list[dict[int, bool]] = []
    for k, (images, labels) in enumerate(ds):
        if k % steps == 0:
            out.append({})
        images = np.asarray(images)
        for image, label in zip(images, np.asarray(labels)):
            assert label not in out[-1]  # each image once per epoch
            left, right = image[0, 0, 0], image[0, -1, 0]
            assert {left, right} == {0, label + 1}
            out[-1][int(label)] = bool(right)
    return out


def test_alternating_flip_mirrors_exactly_the_chosen_half_then_the_other():
    n, batch, epochs = 12, 5, 4
    ds = fastdata.epoch_pipeline(_marked_images(n), np.arange(n), batch_size=batch, affine=IDENTITY,
                                 num_classes=n, one_hot=False, seed=3, epochs=epochs, flip="alternating")
    seen = _epochs(ds, steps=3)
    assert len(seen) == epochs and all(len(e) == n for e in seen)
    first = fastdata.first_flips(n, 3)
    assert 0 < first.sum() < n
    for e, flipped in enumerate(seen):
        expected = fastdata.flipped_on_epoch(first, e)
        assert [flipped[i] for i in range(n)] == expected.tolist(), e
        np.testing.assert_array_equal(expected, first if e % 2 == 0 else ~first)


def test_random_flip_and_no_flip_and_the_order_changes_every_epoch():
    n = 40
    x, y = _marked_images(n), np.arange(n)
    common = dict(batch_size=8, affine=IDENTITY, num_classes=n, one_hot=False, seed=0, epochs=2)
    seen = _epochs(fastdata.epoch_pipeline(x, y, flip="random", **common), steps=5)
    assert seen[0] != seen[1] and 5 < sum(seen[0].values()) < 35
    assert not any(any(e.values()) for e in _epochs(fastdata.epoch_pipeline(x, y, **common), steps=5))
    order = [np.concatenate([np.asarray(b[1]) for b in list(fastdata.epoch_pipeline(x, y, **common))[k:k + 5]])
             for k in (0, 5)]
    assert sorted(order[0]) == sorted(order[1]) == list(range(n)) and list(order[0]) != list(order[1])


def test_crops_are_windows_of_the_image_padded_once_by_mirroring():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 5, 5, 3), dtype=np.uint8)
    padded = fastdata.pad_images(x, 2)
    np.testing.assert_array_equal(padded, np.asarray(tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")))
    ds = fastdata.epoch_pipeline(x, np.arange(6), batch_size=6, affine={"scale": [2.0] * 3, "offset": [-1.0] * 3},
                                 num_classes=6, one_hot=True, seed=1, epochs=3, crop=2)
    shifts = set()
    for images, labels in ds:
        assert images.dtype == tf.float32 and labels.shape == (6, 6)
        for image, label in zip(np.asarray(images), np.asarray(labels).argmax(1)):
            windows = {(dy, dx) for dy in range(5) for dx in range(5)
                       if np.array_equal(image, padded[label, dy:dy + 5, dx:dx + 5] * 2.0 - 1.0)}
            assert windows  # the scaled crop of its own padded image
            shifts |= windows
    assert len(shifts) > 3


def test_a_resumed_run_gets_only_its_remaining_epochs_with_the_right_parity():
    n = 6
    ds = fastdata.epoch_pipeline(_marked_images(n), np.arange(n), batch_size=4, affine=IDENTITY, num_classes=n,
                                 one_hot=False, seed=2, epochs=3, first_epoch=1, flip="alternating")
    seen = _epochs(ds, steps=2)
    first = fastdata.first_flips(n, 2)
    assert [[e[i] for i in range(n)] for e in seen] == [(~first).tolist(), first.tolist()]


def test_bad_settings_are_refused():
    x, y = _marked_images(4), np.arange(4)
    common = dict(batch_size=2, affine=IDENTITY, num_classes=4, one_hot=False, seed=0)
    with pytest.raises(InvalidArgument, match="got 'sometimes'"):
        fastdata.epoch_pipeline(x, y, epochs=1, flip="sometimes", **common)
    with pytest.raises(InvalidArgument, match="from 0 to 1, got 2"):
        fastdata.epoch_pipeline(x, y, epochs=2, first_epoch=2, **common)
    with pytest.raises(InvalidArgument, match="3 labels"):
        fastdata.epoch_pipeline(x, y[:3], epochs=1, **common)


def test_the_training_pipelines_run_without_tf_data_autotuning():
    # Deleting an autotuned iterator waits for the tuning thread's next round (up to a minute): fit returned
    # 8-21 s late after a 30-s epoch (benchmarks/pipeline_autotune.py). Both pipelines turn it off.
    from cnnviz.training.pipeline import training_pipeline

    n = 12
    fast = fastdata.epoch_pipeline(_marked_images(n), np.arange(n), batch_size=5, affine=IDENTITY, num_classes=n,
                                   one_hot=False, seed=3, epochs=2, flip="random")
    plain = training_pipeline(_marked_images(n), np.arange(n), batch_size=5, affine=IDENTITY, num_classes=n,
                              one_hot=False, seed=1, epochs=2)
    assert [ds.options().autotune.enabled for ds in (fast, plain)] == [False, False]
    assert sorted(int(v) for _, labels in plain for v in np.asarray(labels)) == sorted(list(range(n)) * 2)
    assert sorted(int(v) for _, labels in fast for v in np.asarray(labels)) == sorted(list(range(n)) * 2)


def test_crops_reach_every_offset_up_to_the_pad_either_way():
    """crop 2 shifts by −2..+2 pixels: each of the 5 windows per axis is drawn (an upper bound of 2·crop, exclusive
    in TensorFlow's draw, would never shift by +2)."""
    x = np.random.default_rng(7).integers(0, 256, size=(120, 5, 5, 1), dtype=np.uint8)
    padded = fastdata.pad_images(x, 2)
    ds = fastdata.epoch_pipeline(x, np.arange(120), batch_size=40, affine={"scale": [1.0], "offset": [0.0]},
                                 num_classes=120, one_hot=False, seed=3, epochs=1, crop=2)
    rows, cols = set(), set()
    for images, labels in ds:
        for image, label in zip(np.asarray(images), np.asarray(labels)):
            dy, dx = next((dy, dx) for dy in range(5) for dx in range(5)
                          if np.array_equal(image, padded[label, dy:dy + 5, dx:dx + 5]))
            rows.add(dy)
            cols.add(dx)
    assert rows == cols == set(range(5))
