"""Issue 18, datasets: a name reserved atomically before the long decode, killed saves cleaned up at
start-up, a full or read-only CNNVIZ_HOME said in words."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cnnviz import storage
from cnnviz.data import datasets, folderdata, stored
from cnnviz.errors import InvalidArgument

REPO = Path(__file__).resolve().parents[2]


def _slow_read_zip(seconds: float):
    """A stand-in for the decode: takes ``seconds``, returns 20 images whose pixels say which zip it was."""
    def read_zip(source, **_):
        time.sleep(seconds)
        x = np.full((20, 4, 4, 1), source[0], np.uint8)
        return folderdata.FolderImages(x=x, y=np.arange(20) % 2, class_names=("a", "b"), skipped=(),
                                       skipped_count=0)
    return read_zip


def test_two_imports_of_one_name_at_once_one_wins_the_other_is_told(cnnviz_home, monkeypatch):
    monkeypatch.setattr(folderdata, "read_zip", _slow_read_zip(0.5))
    results: dict[int, object] = {}

    def make(marker: int) -> None:
        try:
            results[marker] = datasets.import_folder_zip(bytes([marker]), name="my_images")
        except InvalidArgument as err:
            results[marker] = err

    first = threading.Thread(target=make, args=(1,))
    first.start()
    time.sleep(0.2)  # the second student presses Make dataset 0.2 s later
    make(2)
    first.join()
    assert isinstance(results[1], dict) and results[1]["name"] == "folder:my_images"
    assert str(results[2]) == "the name 'my_images' was just taken by another import; choose another name"
    stored = datasets.load("folder:my_images")
    assert int(stored.x_train.max()) == 1  # the winner's images, not overwritten
    assert not list((cnnviz_home / "data" / "folders").glob(f"*{storage.TEMP_MARKER}*"))  # reservation gone


def test_after_the_winner_finished_the_name_already_exists(cnnviz_home, monkeypatch):
    monkeypatch.setattr(folderdata, "read_zip", _slow_read_zip(0))
    datasets.import_folder_zip(b"\x01", name="my_images")
    with pytest.raises(InvalidArgument, match="a folder dataset named 'my_images' already exists"):
        datasets.import_folder_zip(b"\x02", name="my_images")
    assert int(datasets.load("folder:my_images").x_train.max()) == 1


def test_a_failed_import_frees_its_name(cnnviz_home, monkeypatch):
    def broken(source, **_):
        raise folderdata.ZipDatasetError("no classes")

    monkeypatch.setattr(folderdata, "read_zip", broken)
    with pytest.raises(folderdata.ZipDatasetError):
        datasets.import_folder_zip(b"\x01", name="my_images")
    monkeypatch.setattr(folderdata, "read_zip", _slow_read_zip(0))
    assert datasets.import_folder_zip(b"\x01", name="my_images")["name"] == "folder:my_images"


_KILLED_WRITER = """
import os, sys, time
from pathlib import Path
from cnnviz.data import datasets
from cnnviz import storage
folders = storage.ensure_dir(storage.data_dir() / "folders")
with datasets._writing(), datasets._reserved("my_images"):
    tmp = storage.temp_path_for(folders / "my_images.npz")
    tmp.write_bytes(b"x" * (1 << 20))  # a save half done
    print(tmp, flush=True)
    time.sleep(60)
"""


def test_a_save_killed_mid_way_leaves_nothing_after_the_next_start(cnnviz_home):
    env = {**os.environ, "CNNVIZ_HOME": str(cnnviz_home), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER], env=env, stdout=subprocess.PIPE, text=True)
    try:
        tmp = Path(child.stdout.readline().strip())
        folders = cnnviz_home / "data" / "folders"
        assert tmp.is_file() and (folders / "my_images.tmp-reserved").is_file()
        assert stored.cleanup() == []  # a live writer's young files are kept
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    stored._first_cleanup.done = False  # a fresh process: its first dataset listing cleans up
    assert stored.folder_datasets() == []
    assert not list(folders.iterdir())
    with pytest.MonkeyPatch.context() as mp:  # and the name is free again
        mp.setattr(folderdata, "read_zip", _slow_read_zip(0))
        assert datasets.import_folder_zip(b"\x01", name="my_images")["train"] == 16


def test_cleanup_keeps_young_files_of_a_live_writer_and_removes_old_ones(cnnviz_home):
    folders = storage.ensure_dir(cnnviz_home / "data" / "folders")
    old, young = folders / "a.npz.tmp-1-x", cnnviz_home / "data" / "cifar10.npz.tmp-2-y"
    for path in (old, young):
        path.write_bytes(b"x")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    keep = folders / "kept.npz"
    keep.write_bytes(b"x")
    with datasets._writing():
        assert stored.cleanup(min_age_s=600) == [old]
    assert young.exists() and keep.exists()
    assert stored.cleanup() == [young] and keep.exists()


@pytest.mark.parametrize(("code", "words"), [
    (errno.EROFS, "Could not make the dataset 'my_images': the disk is read-only"),
    (errno.ENOSPC, "Could not make the dataset 'my_images': the disk is full"),
])
def test_a_read_only_or_full_home_is_said_before_the_decode(cnnviz_home, monkeypatch, code, words):
    storage.ensure_dir(cnnviz_home / "data" / "folders")
    real_open = os.open

    def refuse(path, flags, *args):
        if str(path).endswith("my_images.tmp-reserved"):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(folderdata, "read_zip", lambda *a, **k: pytest.fail("decoded although nothing can be saved"))
    with pytest.raises(storage.SaveFailed, match=words) as caught:
        datasets.import_folder_zip(b"\x01", name="my_images")
    assert f"(CNNVIZ_HOME={cnnviz_home})" in str(caught.value)


@pytest.mark.parametrize(("code", "kind"), [(errno.ENOSPC, storage.DiskFull), (errno.EROFS, storage.SaveFailed)])
def test_a_disk_that_refuses_the_save_is_said_in_words(cnnviz_home, monkeypatch, code, kind):
    monkeypatch.setattr(folderdata, "read_zip", _slow_read_zip(0))

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(np, "savez", refuse)
    with pytest.raises(kind, match="Could not save the dataset my_images \\(your folders\\): the disk is") as caught:
        datasets.import_folder_zip(b"\x01", name="my_images")
    assert "internal error" not in str(caught.value)
    assert not list((cnnviz_home / "data" / "folders").iterdir())  # no temporary, no reservation


@pytest.mark.parametrize("where", ["data", "data/folders"])
def test_a_file_where_the_data_folder_goes_is_said_not_called_a_taken_name(cnnviz_home, monkeypatch, where):
    # A teacher's copy left a file named data (or data/folders): every import, whatever its name, said "the name
    # ... was just taken by another import; choose another name".
    blocker = cnnviz_home / where
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"not a folder")
    monkeypatch.setattr(folderdata, "read_zip", lambda *a, **k: pytest.fail("decoded although nothing can be saved"))
    with pytest.raises(storage.SaveFailed, match=f"Could not make the dataset 'my_images': a file stands where cnnviz "
                                                 f"keeps a folder \\({blocker}\\)") as caught:
        datasets.import_folder_zip(b"\x01", name="my_images")
    assert "just taken" not in str(caught.value) and blocker.read_bytes() == b"not a folder"
