"""cnnviz.data.stored: which datasets are here, read without numpy (the source note of each file)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from cnnviz.data import datasets, stored
from tests.support.archives import tiny_archive_bytes


@pytest.mark.parametrize("source", ["CIFAR-10 binary version from /tmp/x.tar.gz", "", "Zürich — 猫 🐱 data",
                                    "x" * 5000])
def test_stored_source_reads_what_numpy_reads(tmp_path, source):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros(3, np.uint8), source=np.array(source))
    with np.load(path, allow_pickle=False) as f:
        assert stored.stored_source(path) == str(f["source"]) == source


def test_stored_source_of_an_imported_dataset_is_the_loaded_one(tmp_path, cnnviz_home):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    datasets.import_cifar10(archive)
    assert stored.stored_source(stored.file_for("cifar10")) == datasets.load("cifar10").source
    cifar = [s for s in stored.status() if s["name"] == "cifar10"][0]
    assert cifar["detail"].endswith(f"Stored: {datasets.load('cifar10').source}.")


def test_stored_source_is_none_for_missing_damaged_or_other_files(tmp_path):
    assert stored.stored_source(tmp_path / "absent.npz") is None
    (tmp_path / "garbage.npz").write_bytes(b"garbage")
    assert stored.stored_source(tmp_path / "garbage.npz") is None
    np.savez(tmp_path / "numbers.npz", source=np.arange(3))  # not text
    assert stored.stored_source(tmp_path / "numbers.npz") is None
    np.savez(tmp_path / "none.npz", x=np.zeros(1))  # no source member
    assert stored.stored_source(tmp_path / "none.npz") is None
    with zipfile.ZipFile(tmp_path / "cut.npz", "w") as archive:  # a header promising more text than there is
        archive.writestr("source.npy", b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little")
                         + b"{'descr': '<U10', 'fortran_order': False, 'shape': (), }".ljust(118) + b"ab")
    assert stored.stored_source(tmp_path / "cut.npz") is None
