"""The datasets of cnnviz.app.caches: one shared, read-only copy per stored version."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.app import caches
from cnnviz.data import datasets
from tests.support.archives import tiny_batch, tiny_files, write_tiny_dir


def test_shared_dataset_is_read_only_and_reused():
    a = caches.load_dataset("digits")
    assert caches.load_dataset("digits") is a
    assert not a.x_train.flags.writeable and not a.y_test.flags.writeable
    with pytest.raises(ValueError):
        a.x_train[0, 0, 0, 0] = 1


def test_reimport_gives_a_new_copy(tmp_path):
    datasets.import_cifar10(write_tiny_dir(tmp_path / "a"))
    first = caches.load_dataset("cifar10")
    files = tiny_files()
    files["test_batch.bin"] = tiny_batch(7, n=10)[2]
    datasets.import_cifar10(write_tiny_dir(tmp_path / "b", files))
    second = caches.load_dataset("cifar10")
    assert second is not first and len(second.y_test) == 10


def test_cached_scaling_preview_matches_backend():
    ds = caches.load_dataset("digits")
    opts = dict(train_size=500, test_size=100, validation_fraction=0.25, seed=1, sample=32)
    cached = caches.scaling_preview(ds, "standardize", **opts)
    direct = datasets.scaling_preview(ds, "standardize", **opts)
    np.testing.assert_array_equal(cached["scaled"], direct["scaled"])
    assert cached["stats"] == direct["stats"]
