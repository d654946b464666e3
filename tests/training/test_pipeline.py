"""The training pipelines' batches are a function of the run's seeds and their place in the run: a run resumed at an
epoch gets the batches the uninterrupted run got from there (order, augmentation, flips and crops)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import augment
from cnnviz.errors import InvalidArgument
from cnnviz.training import fastdata, pipeline

IDENTITY = {"scale": [1.0], "offset": [0.0]}
N, BATCH, EPOCHS = 10, 4, 4  # 3 batches an epoch, the last of 2 images


def _images(n: int = N) -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, (n, 6, 6, 1), dtype=np.uint8)


def _batches(ds) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(images), np.asarray(labels)) for images, labels in ds]


def _assert_same_batches(a, b) -> None:
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa, xb)


def test_every_epoch_has_its_own_order_of_all_the_images():
    batches = list(pipeline.epoch_batches(N, batch_size=BATCH, seed=3, epochs=EPOCHS))
    assert [int(i) for i, _ in batches] == list(range(EPOCHS * 3))
    orders = [np.concatenate([np.asarray(o) for _, o in batches[e * 3:e * 3 + 3]]) for e in range(EPOCHS)]
    assert all(sorted(o.tolist()) == list(range(N)) for o in orders)
    assert len({tuple(o) for o in orders}) == EPOCHS
    with pytest.raises(InvalidArgument, match="first epoch must be from 0 to 3, got 4"):
        pipeline.epoch_batches(N, batch_size=BATCH, seed=3, epochs=EPOCHS, first_epoch=4)


@pytest.mark.slow
@pytest.mark.parametrize("first_epoch", [1, 2, 3])
def test_a_resumed_plain_pipeline_gives_the_batches_the_whole_one_gave_from_there(first_epoch):
    cfg = augment.AugmentConfig(rotation=20, flip="horizontal", translate=0.1, zoom=0.1, crop=1, seed=5)
    common = dict(batch_size=BATCH, affine=IDENTITY, num_classes=N, one_hot=True, seed=2, epochs=EPOCHS,
                  augment_seed=cfg.seed)
    whole = _batches(pipeline.training_pipeline(_images(), np.arange(N), augmenter=augment.build_augmenter(cfg),
                                                **common))
    resumed = _batches(pipeline.training_pipeline(_images(), np.arange(N), augmenter=augment.build_augmenter(cfg),
                                                  first_epoch=first_epoch, **common))
    _assert_same_batches(resumed, whole[first_epoch * 3:])
    assert not np.array_equal(whole[0][0], whole[3][0])  # not the same draws every epoch


@pytest.mark.slow
@pytest.mark.parametrize("flip", ["random", "alternating"])
def test_a_resumed_fast_pipeline_gives_the_batches_the_whole_one_gave_from_there(flip):
    common = dict(batch_size=BATCH, affine=IDENTITY, num_classes=N, one_hot=False, seed=4, epochs=EPOCHS, crop=2,
                  flip=flip)
    whole = _batches(fastdata.epoch_pipeline(_images(), np.arange(N), **common))
    for first_epoch in (1, 3):
        _assert_same_batches(_batches(fastdata.epoch_pipeline(_images(), np.arange(N), first_epoch=first_epoch,
                                                              **common)), whole[first_epoch * 3:])
