"""cnnviz.data.npzmap: arrays of an uncompressed .npz mapped, equal to np.load's, read-only."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from cnnviz.data import npzmap
from cnnviz.errors import InvalidArgument


def test_mapped_arrays_equal_the_stored_ones(tmp_path):
    rng = np.random.default_rng(0)
    arrays = dict(x=rng.integers(0, 256, (30, 5, 4, 3), dtype=np.uint8), y=np.arange(30, dtype=np.int64),
                  f=np.asfortranarray(rng.normal(size=(6, 7))), empty=np.zeros((0, 3), np.uint8),
                  names=np.array(["cat", "dog"]))
    path = tmp_path / "a.npz"
    np.savez(path, **arrays)
    mapped = npzmap.map_arrays(path, tuple(arrays))
    for key, value in arrays.items():
        assert mapped[key].dtype == value.dtype and mapped[key].shape == value.shape
        np.testing.assert_array_equal(mapped[key], value)
        assert not mapped[key].flags.writeable
    assert isinstance(mapped["x"].base, np.memmap)  # mapped, not read


def test_what_cannot_be_mapped_is_named(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, x=np.zeros((3, 3)))
    with pytest.raises(InvalidArgument, match="array 'x' of .*c.npz is compressed"):
        npzmap.map_arrays(path, ("x",))
    with pytest.raises(InvalidArgument, match="holds no array 'z'; it holds \\['x.npy'\\]"):
        npzmap.map_arrays(path, ("z",))
    with zipfile.ZipFile(tmp_path / "o.npz", "w") as archive:  # an object array (pickled)
        with archive.open("o.npy", "w") as fh:
            np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object))
    with pytest.raises(InvalidArgument, match="holds Python objects"):
        npzmap.map_arrays(tmp_path / "o.npz", ("o",))
