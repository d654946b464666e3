"""cnnviz.app.downloads: one progress bar for every download and import, that moves with the bytes or
files, ends full, and is removed when the work fails; ResNet50's weights fetched with it, outside the
cached model, at most once per retry window when offline, by one session at a time."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
import streamlit as st

from cnnviz import weights
from cnnviz.app import caches, downloads
from cnnviz.data import cifar10, datasets, folderdata
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.inspect import pretrained
from tests.support.archives import class_folders, make_zip, tiny_files, write_tiny_dir
from tests.support.http import loopback_server, md5, refused_url

MB = 10**6  # as the bar counts them


class Slot:
    """``st.empty()`` stand-in: every (value, text) its bar showed, the notes drawn in it (its ``container()``
    is itself), and whether it was removed."""

    def __init__(self) -> None:
        self.shown: list[tuple[float, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.removed = False

    def progress(self, value: float, text: str = "") -> "Slot":
        self.shown.append((value, text))
        return self

    def info(self, text: str, **_) -> None:
        self.notes.append(("info", text))

    def success(self, text: str, **_) -> None:
        self.notes.append(("success", text))

    def container(self) -> "Slot":
        return self

    def __enter__(self) -> "Slot":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def empty(self) -> None:
        self.removed = True


@pytest.fixture
def slots(monkeypatch) -> list[Slot]:
    """The slots the code under test made with ``st.empty()``, in order."""
    made: list[Slot] = []
    monkeypatch.setattr(st, "empty", lambda: made.append(Slot()) or made[-1])
    return made


# --- the bar ---------------------------------------------------------------------------------------


def test_the_bar_moves_once_per_percent_and_ends_full(slots):
    with downloads._moving_bar("Connecting…") as report:
        for done in range(0, 100 * MB + 1, MB // 4):  # 401 blocks of a quarter MB
            report(done, 100 * MB)
    [slot] = slots
    assert len(slot.shown) == 1 + 101 + 1  # the first line, 0 % to 100 %, "Done"
    assert slot.shown[:3] == [(0.0, "Connecting…"), (0.0, "0.0 of 100.0 MB"), (0.01, "1.0 of 100.0 MB")]
    assert slot.shown[-2:] == [(1.0, "100.0 of 100.0 MB: checking the file…"), (1.0, "Done")]
    assert not slot.removed


def test_without_a_total_the_bar_counts_megabytes(slots):
    with downloads._moving_bar("Connecting…") as report:
        for done in (0, MB // 2, MB // 2, 3 * MB):
            report(done, None)
    assert slots[0].shown == [(0.0, "Connecting…"), (0.0, "0.0 MB"), (0.0, "0.5 MB"), (0.0, "3.0 MB"), (1.0, "Done")]


def test_a_failure_removes_the_bar(slots):
    with pytest.raises(Unavailable, match="offline"):
        with downloads._moving_bar("Connecting…") as report:
            report(MB, 4 * MB)
            raise Unavailable("offline")
    assert slots[0].shown == [(0.0, "Connecting…"), (0.25, "1.0 of 4.0 MB")] and slots[0].removed


# --- the Transfer page's backbone weights ------------------------------------------------------------


@pytest.fixture
def notop_mirror(monkeypatch, keras_home):
    """ResNet50's "no top" file (2.5 MiB of random bytes) on a loopback mirror, with its checksum."""
    payload = os.urandom(5 * MB // 2)
    with loopback_server({"/notop.h5": payload}) as mirror:
        monkeypatch.setattr(weights, "RESNET50_NOTOP", dataclasses.replace(
            weights.RESNET50_NOTOP, url=mirror.url("/notop.h5"), md5=md5(payload)))
        yield payload, mirror


def test_transfer_download_moves_a_bar_with_the_bytes(slots, notop_mirror, cnnviz_home):
    payload, mirror = notop_mirror
    path = downloads.transfer_download("resnet50", alpha=0.35, image_size=96)
    assert path == str(cnnviz_home / "weights" / weights.RESNET50_NOTOP.file)
    assert Path(path).read_bytes() == payload and mirror.hits == ["/notop.h5"]
    [slot] = slots
    assert slot.shown == [  # one move per 1 MiB block read (cnnviz.weights.CHUNK), counted in 10⁶ bytes
        (0.0, "Connecting to download ResNet50's ImageNet weights…"), (0.0, "0.0 of 2.5 MB"), (0.41, "1.0 of 2.5 MB"),
        (0.83, "2.1 of 2.5 MB"), (1.0, "2.5 of 2.5 MB: checking the file…"), (1.0, "Done")]
    assert not slot.removed


def test_a_failed_transfer_download_leaves_no_bar(slots, monkeypatch, keras_home):
    monkeypatch.setattr(weights, "RESNET50_NOTOP", dataclasses.replace(weights.RESNET50_NOTOP, url=refused_url()))
    with pytest.raises(Unavailable, match="could not download http://127.0.0.1"):
        downloads.transfer_download("resnet50", alpha=0.35, image_size=96)
    assert slots[0].shown == [(0.0, "Connecting to download ResNet50's ImageNet weights…")] and slots[0].removed


# --- CIFAR-10 from a path on the server -----------------------------------------------------------


def test_cifar10_from_a_server_path_moves_a_bar_with_the_bytes_read(slots, monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.SERVER_PATHS_ENV, "1")
    folder = write_tiny_dir(tmp_path / "copy")
    assert downloads.import_cifar10(str(folder)).startswith("Installed CIFAR-10 binary version")
    batch = len(tiny_files()[cifar10.TEST_FILE])
    [slot] = slots
    assert slot.shown == [(0.0, "Opening CIFAR-10…")] + [
        (k * 100 // 6 / 100, f"{k * batch / MB:,.1f} of {6 * batch / MB:,.1f} MB read") for k in range(1, 6)] + [
        (1.0, f"{6 * batch / MB:,.1f} of {6 * batch / MB:,.1f} MB read: checking and saving…"), (1.0, "Done")]


def test_a_refused_cifar10_path_leaves_no_bar(slots, monkeypatch, tmp_path):
    monkeypatch.setenv(datasets.SERVER_PATHS_ENV, "1")
    (tmp_path / "copy.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(cifar10.FormatError, match="is not a readable .tar.gz archive"):
        downloads.import_cifar10(str(tmp_path / "copy.tar.gz"))
    assert slots[0].shown == [(0.0, "Opening CIFAR-10…")] and slots[0].removed


# --- a zip of class folders ------------------------------------------------------------------------


def test_zip_import_moves_a_bar_with_the_files(slots):
    report = downloads.import_folder_zip(make_zip(class_folders(per_class=10)), name="pets", image_size=16)
    assert report["name"] == "folder:pets"
    [slot] = slots
    assert slot.shown == [(0.0, "Opening the zip…")] + [
        (5 * done / 100, f"{done} of 20 files in the zip read") for done in range(20)] + [
        (1.0, "20 of 20 files in the zip read: saving the dataset…"), (1.0, "Done")]


def test_a_refused_zip_leaves_no_bar(slots):
    with pytest.raises(folderdata.ZipDatasetError, match="only one class"):
        downloads.import_folder_zip(make_zip(class_folders(per_class=10, classes=("cats",))), name="cats",
                                    image_size=16)
    assert slots[0].shown[-1] == (1.0, "10 of 10 files in the zip read: saving the dataset…") and slots[0].removed


# --- the pretrained ResNet50 -------------------------------------------------------------------------


@pytest.fixture
def from_disk(monkeypatch, keras_home):
    """The cached model loads a stand-in from the weights file on disk (no TensorFlow), and says how it was called."""
    monkeypatch.setattr(downloads, "_resnet50_failure", {})
    asked = []

    def load(*, download, progress=None):
        asked.append(download)
        return f"a model from {weights.resolve_weights(weights.RESNET50)}"  # Unavailable while missing

    monkeypatch.setattr(pretrained, "load_resnet50", load)
    return asked


def _serve_resnet50(mirror, monkeypatch, payload: bytes) -> None:
    monkeypatch.setattr(weights, "RESNET50", dataclasses.replace(
        weights.RESNET50, url=mirror.url("/resnet50.h5"), md5=md5(payload)))


def test_resnet50_weights_are_downloaded_with_a_bar_outside_the_cached_model(slots, from_disk, monkeypatch,
                                                                           cnnviz_home):
    payload = os.urandom(3 * MB)
    with loopback_server({"/resnet50.h5": payload}) as mirror:
        _serve_resnet50(mirror, monkeypatch, payload)
        model = downloads.resnet50()
        path = cnnviz_home / "weights" / weights.RESNET50.file
        assert model == f"a model from {path}" and path.read_bytes() == payload
        place, bar = slots  # the bar is drawn in a place of its own
        assert bar.shown == [
            (0.0, "Connecting to download ResNet50's ImageNet weights (about 100 MB)…"), (0.0, "0.0 of 3.0 MB"),
            (0.34, "1.0 of 3.0 MB"), (0.69, "2.1 of 3.0 MB"), (1.0, "3.0 of 3.0 MB: checking the file…"),
            (1.0, "Done")]
        # Once the model is loaded, one line instead of a "Done" bar that stayed until the next click.
        assert place.notes == [("success", "ResNet50's ImageNet weights are downloaded and loaded: ResNet50 is ready.")]
        assert from_disk == [False, False]  # the cached model never downloads: missing, then loaded
        assert downloads.resnet50() is model and caches.resnet50() is model  # kept: no bar, no request
        assert len(slots) == 2 and mirror.hits == ["/resnet50.h5"] and from_disk == [False, False]


def test_a_downloaded_file_that_does_not_load_leaves_no_done_bar(slots, monkeypatch, keras_home, cnnviz_home):
    payload = b"not ResNet50 weights"

    def load(*, download, progress=None):
        weights.resolve_weights(weights.RESNET50)  # Unavailable while missing
        raise InvalidArgument("could not read ResNet50 weights from the file")

    monkeypatch.setattr(pretrained, "load_resnet50", load)
    monkeypatch.setattr(downloads, "_resnet50_failure", {})
    with loopback_server({"/resnet50.h5": payload}) as mirror:
        _serve_resnet50(mirror, monkeypatch, payload)
        with pytest.raises(InvalidArgument, match="could not read"):
            downloads.resnet50()
    place, bar = slots
    assert bar.shown[-1] == (1.0, "Done") and place.removed and place.notes == []


def test_offline_the_download_is_tried_once_per_retry_window(slots, from_disk, monkeypatch, cnnviz_home):
    monkeypatch.setattr(weights, "RESNET50", dataclasses.replace(weights.RESNET50, url=refused_url("/resnet50.h5")))
    with pytest.raises(Unavailable) as first:
        downloads.resnet50()
    message = str(first.value)
    assert message.startswith("ResNet50's ImageNet weights are not on this machine")
    assert "downloading it failed: could not download http://127.0.0.1" in message
    assert "`python -m cnnviz download resnet50`" in message
    assert slots[0].removed and slots[1].removed  # no stale bar above the message
    with pytest.raises(Unavailable) as again:  # inside the window: the same message, no bar, no network
        downloads.resnet50()
    assert str(again.value) == message and len(slots) == 2
    failure = downloads._resnet50_failure
    failure["at"] -= downloads.RESNET50_RETRY_S  # as if the window had passed
    with pytest.raises(Unavailable):  # the window is over: tried again, with a bar
        downloads.resnet50()
    assert len(slots) == 4 and slots[2].removed and slots[3].removed
    assert from_disk == [False] * 3  # each time the disk was looked at first


def test_a_session_waiting_for_another_ones_download_follows_its_bar_then_loads_its_file(
        slots, from_disk, monkeypatch, cnnviz_home):
    payload = b"the other session's download"
    # Any request would fail: the waiting session must not download again.
    monkeypatch.setattr(weights, "RESNET50", dataclasses.replace(
        weights.RESNET50, url=refused_url("/resnet50.h5"), md5=md5(payload)))
    monkeypatch.setattr(downloads, "WAIT_STEP_S", 0.01)
    followed = threading.Event()

    class Watched(Slot):
        def progress(self, value: float, text: str = "") -> Slot:
            if (value, text) == (0.5, "3.0 of 6.0 MB"):  # the other session's bytes, on this one's bar
                followed.set()
            return super().progress(value, text)

    monkeypatch.setattr(st, "empty", lambda: slots.append(Watched()) or slots[-1])
    results = []
    waiting = threading.Thread(target=lambda: results.append(downloads.resnet50()), daemon=True)
    with downloads._resnet50_download:  # the other session holds the download, half done
        downloads._resnet50_progress["at"] = (3 * MB, 6 * MB)
        waiting.start()
        assert followed.wait(30)
        (cnnviz_home / "weights").mkdir(parents=True)
        (cnnviz_home / "weights" / weights.RESNET50.file).write_bytes(payload)  # its download lands
        downloads._resnet50_progress.clear()
    waiting.join(30)
    assert results == [f"a model from {cnnviz_home / 'weights' / weights.RESNET50.file}"]
    place, bar = slots
    assert bar.shown[-1] == (1.0, "Done") and not downloads._resnet50_failure
    assert place.notes == [("success", "ResNet50's ImageNet weights are downloaded and loaded: ResNet50 is ready.")]


# --- loading ResNet50 from the disk ------------------------------------------------------------------


def _stepping_load(calls: list, model="the model"):
    """A stand-in for pretrained.load_resnet50 that goes through three steps, as the real one reports them."""

    def load(*, download, progress=None):
        calls.append(download)
        for done, words in enumerate(("starting TensorFlow", "building the network's layers",
                                      "reading its 103 MB of ImageNet weights from the disk", "ready")):
            progress(done, 3, words)
        return model

    return load


def test_the_first_load_says_what_happens_and_why_with_a_bar_of_its_steps_then_goes(slots, monkeypatch):
    calls = []
    monkeypatch.setattr(pretrained, "load_resnet50", _stepping_load(calls))
    assert caches.resnet50() == "the model"
    [note] = slots
    assert note.notes == [("info", caches.RESNET50_FIRST_LOAD)]
    assert "once after the server starts" in caches.RESNET50_FIRST_LOAD
    assert note.shown == [(0.0, ""), (0.0, "Step 1 of 3: starting TensorFlow…"),
                          (pytest.approx(1 / 3), "Step 2 of 3: building the network's layers…"),
                          (pytest.approx(2 / 3), "Step 3 of 3: reading its 103 MB of ImageNet weights from the disk…"),
                          (1.0, "ready")]
    assert note.removed
    assert caches.resnet50() == "the model" and downloads.resnet50() == "the model"  # kept: no note, no load
    assert len(slots) == 1 and calls == [False]


def test_missing_weights_draw_no_loading_note(slots, from_disk, keras_home):
    with pytest.raises(Unavailable):
        caches.resnet50()
    assert slots == [] and from_disk == [False]


def test_a_class_opening_the_page_at_once_loads_it_once_the_others_wait_with_a_note(slots, monkeypatch):
    calls = []
    monkeypatch.setattr(pretrained, "load_resnet50", _stepping_load(calls))
    told = threading.Event()

    class Watched(Slot):
        def progress(self, value: float, text: str = "") -> Slot:
            if text == caches.RESNET50_WAITING:
                told.set()
            return super().progress(value, text)

    monkeypatch.setattr(st, "empty", lambda: slots.append(Watched()) or slots[-1])
    store, lock = caches._resnet50_slot()
    results = []
    waiting = threading.Thread(target=lambda: results.append(caches.resnet50()), daemon=True)
    with lock:  # another session is loading it
        waiting.start()
        assert told.wait(30)
        store.put("resnet50", "the other session's model")
    waiting.join(30)
    assert results == ["the other session's model"] and calls == []
    [note] = slots
    assert note.shown[-1] == (0.0, caches.RESNET50_WAITING) and note.removed
