"""cnnviz.weights: the catalogue against Keras' own names, one fetch (timeout, size, checksum, temporary
file), install and status. Every download is from a loopback server on 127.0.0.1."""

from __future__ import annotations

import builtins
import errno
import os
import re
from pathlib import Path

import pytest

from cnnviz import storage, weights
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.weights import DownloadError
from tests.support.disks import refuse_mkdir_under
from tests.support.http import loopback_server, md5, refused_url, stalling_server


def _everything(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --- the catalogue ---------------------------------------------------------------------------------


def test_catalogue_uses_keras_own_names_addresses_and_checksums():
    from keras.src.applications import mobilenet_v2, resnet, vgg16

    top, notop = resnet.WEIGHTS_HASHES["resnet50"]
    assert (weights.RESNET50.file, weights.RESNET50.md5) == ("resnet50_weights_tf_dim_ordering_tf_kernels.h5", top)
    assert weights.RESNET50.url == resnet.BASE_WEIGHTS_PATH + weights.RESNET50.file
    notop_file = weights.backbone_file("resnet50")
    assert notop_file is weights.RESNET50_NOTOP and notop_file.md5 == notop
    assert notop_file.url == resnet.BASE_WEIGHTS_PATH + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    mobile = weights.backbone_file("mobilenetv2", alpha=0.5, image_size=128)
    assert mobile.file == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128_no_top.h5"
    assert mobile.url == mobilenet_v2.BASE_WEIGHT_PATH + mobile.file and mobile.md5 is None
    assert [weights.weights_file(k).key for k in weights.KEYS] == list(weights.KEYS)
    vgg = weights.backbone_file("vgg16")
    assert vgg is weights.VGG16_NOTOP and vgg.key == "vgg16-notop"
    assert (vgg.url, vgg.md5) == (vgg16.WEIGHTS_PATH_NO_TOP, "6d6bbae143d832006294945121d1f1fc")
    assert vgg.file == vgg16.WEIGHTS_PATH_NO_TOP.rsplit("/", 1)[1]
    assert f'file_hash="{vgg.md5}"' in Path(vgg16.__file__).read_text()  # the MD5 Keras itself checks


def test_catalogue_refuses_what_keras_does_not_publish():
    with pytest.raises(InvalidArgument, match=r"weights must be one of resnet50, mobilenetv2, resnet50-notop, "
                                              r"vgg16-notop; got 'vgg19'"):
        weights.weights_file("vgg19")
    with pytest.raises(InvalidArgument, match="backbone must be one of mobilenetv2, resnet50, vgg16; got 'vgg19'"):
        weights.backbone_file("vgg19")
    with pytest.raises(InvalidArgument, match=r"width \(alpha\) must be one of 0.35, 0.5, 0.75, 1.0; got 1.4"):
        weights.mobilenetv2(1.4, 96)
    with pytest.raises(InvalidArgument, match="only; got image size 100"):
        weights.mobilenetv2(0.35, 100)


def test_commands_places_and_the_missing_message(keras_home, cnnviz_home, monkeypatch):
    assert weights.download_command(weights.RESNET50) == "python -m cnnviz download resnet50"
    assert weights.download_command(weights.mobilenetv2(0.75, 160)) == \
        "python -m cnnviz download mobilenetv2 --alpha 0.75 --size 160"
    wf = weights.RESNET50_NOTOP
    assert weights.weights_candidates(wf) == [cnnviz_home / "weights" / wf.file, keras_home / "models" / wf.file]
    monkeypatch.delenv("KERAS_HOME")
    assert weights.keras_cache_dir() == Path.home() / ".keras" / "models"
    text = weights.missing_weights_message(wf, reason="no network", damaged=[cnnviz_home / "x.h5"])
    assert text.startswith(f"ResNet50's ImageNet weights are not on this machine: {wf.file} (about 95 MB) is not in "
                           f"{cnnviz_home / 'weights'} or ")
    assert f"({cnnviz_home / 'x.h5'} is there but its checksum is wrong), and downloading it failed: no network." in text
    assert "`python -m cnnviz download resnet50-notop --from FILE`" in text and text.endswith(wf.without)


def test_status_lists_every_default_file(keras_home, cnnviz_home):
    items = weights.status()
    assert [i["name"] for i in items] == ["ResNet50 ImageNet weights", "MobileNetV2 ImageNet weights (no top)",
                                          "ResNet50 ImageNet weights (no top)", "VGG16 ImageNet weights (no top)"]
    assert not any(i["present"] for i in items)
    assert items[0]["detail"].endswith("the Pretrained ResNet50 page downloads it when it can.")
    storage.atomic_write_bytes(keras_home / "models" / weights.RESNET50_NOTOP.file, b"x")
    assert weights.status()[2]["detail"] == f"{keras_home / 'models' / weights.RESNET50_NOTOP.file} " \
                                            "(for the Transfer learning page)"


# --- one fetch -------------------------------------------------------------------------------------


def test_fetch_writes_through_a_temporary_file_and_reports_progress(tmp_path):
    payload = bytes(range(256)) * 9000  # 2.3 MB: several chunks
    seen = []
    with loopback_server({"/f.bin": payload}) as mirror:
        dest = weights.fetch_url(mirror.base + "/f.bin", tmp_path / "out" / "f.bin", md5=md5(payload), size=len(payload),
                                 progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == payload and _everything(tmp_path / "out") == ["f.bin"]
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload)) and len(seen) >= 4


def test_a_checksum_mismatch_keeps_nothing(tmp_path):
    with loopback_server({"/f.h5": b"corrupted"}) as mirror:
        with pytest.raises(DownloadError) as err:
            weights.fetch_url(mirror.base + "/f.h5", tmp_path / "out" / "f.h5", md5="0" * 32, what="the test file")
    assert str(err.value) == (f"Checksum mismatch for {mirror.base}/f.h5: the file has MD5 {md5(b'corrupted')}, not the "
                              f"expected {'0' * 32}; it is damaged or is not the test file, so it was not kept.")
    assert isinstance(err.value, Unavailable) and _everything(tmp_path / "out") == []


def test_a_stalled_server_times_out_and_the_temporary_file_is_removed(tmp_path):
    with stalling_server(sent=b"0123456789", announced=1000) as url:
        with pytest.raises(DownloadError, match=re.escape(f"could not download {url}: no answer for 0.3 s; try again. "
                                                          "Ask the teacher.")):
            weights.fetch_url(url, tmp_path / "out" / "w.h5", timeout=0.3, hint="Ask the teacher.")
    assert _everything(tmp_path / "out") == []


def test_a_failed_check_or_an_interrupt_keeps_nothing(tmp_path):
    def refuse(tmp: Path) -> None:
        assert tmp.suffix == ".h5" and storage.TEMP_MARKER in tmp.name and tmp.read_bytes() == b"weights"
        raise InvalidArgument("not the weights")

    def stop(done: int, total: int | None) -> None:
        if done:
            raise KeyboardInterrupt

    with loopback_server({"/w.h5": b"weights"}) as mirror:
        with pytest.raises(InvalidArgument, match="not the weights"):
            weights.fetch_url(mirror.base + "/w.h5", tmp_path / "out" / "w.h5", verify=refuse)
        with pytest.raises(KeyboardInterrupt):
            weights.fetch_url(mirror.base + "/w.h5", tmp_path / "out" / "w.h5", progress=stop)
        with pytest.raises(DownloadError, match="the server offers 7 bytes but the expected file has 8 bytes"):
            weights.fetch_url(mirror.base + "/w.h5", tmp_path / "out" / "w.h5", size=8)
        with pytest.raises(DownloadError, match="the server answered HTTP 404 \\(Not Found\\)"):
            weights.fetch_url(mirror.base + "/none.h5", tmp_path / "out" / "w.h5")
    assert _everything(tmp_path / "out") == []


class _FullDisk:
    """Writes to files under ``folder`` fail with ENOSPC once ``room`` bytes are written (a disk filling up)."""

    def __init__(self, folder: Path, room: int) -> None:
        self.folder, self.room = str(folder), room

    def install(self, monkeypatch) -> None:
        real_open, disk = builtins.open, self

        class Writer:
            def __init__(self, fh):
                self._fh = fh

            def write(self, data):
                if len(data) > disk.room:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                disk.room -= len(data)
                return self._fh.write(data)

            def __getattr__(self, name):
                return getattr(self._fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self._fh.close()

        def fake_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            mine = isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith(disk.folder)
            return Writer(fh) if mine and "w" in mode else fh

        monkeypatch.setattr(builtins, "open", fake_open)


def test_a_full_disk_is_said_as_such_not_as_a_broken_connection(cnnviz_home, monkeypatch):
    payload = b"w" * (3 * weights.CHUNK)
    _FullDisk(cnnviz_home, room=weights.CHUNK).install(monkeypatch)
    with loopback_server({"/w.h5": payload}) as mirror:
        with pytest.raises(storage.DiskFull) as err:
            weights.fetch_url(mirror.base + "/w.h5", storage.weights_dir() / "w.h5", what="the test file",
                              hint="If this machine is offline, copy it.")
    text = str(err.value)
    assert text.startswith(f"Could not save the test file: the disk is full (CNNVIZ_HOME={cnnviz_home}).")
    assert "connection" not in text and "offline" not in text and "try again" not in text, text
    assert _everything(storage.weights_dir()) == []


def test_a_read_only_home_is_said_not_raised(cnnviz_home, monkeypatch):
    refuse_mkdir_under(monkeypatch, cnnviz_home)
    with loopback_server({"/w.h5": b"weights"}) as mirror:
        with pytest.raises(storage.SaveFailed, match=re.escape(
                f"Could not save the test file: the disk is read-only (CNNVIZ_HOME={cnnviz_home}). Whoever runs "
                "the server: point CNNVIZ_HOME to a folder on a writable disk.")):
            weights.fetch_url(mirror.base + "/w.h5", storage.weights_dir() / "w.h5", what="the test file")
    assert not cnnviz_home.exists()


def test_a_killed_downloads_temporary_file_goes_at_the_next_start_a_live_ones_stays(keras_home, cnnviz_home):
    folder = storage.ensure_dir(storage.weights_dir())
    killed = storage.temp_path_for(folder / weights.RESNET50.file, ".h5")  # what a download killed mid-way leaves
    killed.write_bytes(b"x" * 1000)
    payload = b"official" * 1000
    during = []

    def another_process_starts(done, total):
        if done:
            during.extend(weights.cleanup())

    with loopback_server({"/r.h5": payload}) as mirror:
        weights.download_weights(weights.RESNET50_NOTOP, url=mirror.base + "/r.h5", md5=md5(payload),
                                 progress=another_process_starts)
    assert during == [] and killed.exists()  # a writer at work: nothing goes
    weights._first_cleanup.done = False  # a fresh process: its first look at the weights cleans up
    weights.status()
    assert _everything(folder) == [weights.RESNET50_NOTOP.file]


def test_fetch_validates_its_arguments_first(tmp_path):
    with pytest.raises(InvalidArgument, match="must start with http:// or https://, got 'ftp://x/y'"):
        weights.fetch_url("ftp://x/y", tmp_path / "y")
    with pytest.raises(InvalidArgument, match="the expected MD5 must be 32 hex digits, got 'xyz'"):
        weights.fetch_url("http://127.0.0.1/y", tmp_path / "y", md5="xyz")
    with pytest.raises(InvalidArgument, match="the expected size must be a positive number of bytes, got 0"):
        weights.fetch_url("http://127.0.0.1/y", tmp_path / "y", size=0)
    url = refused_url()
    with pytest.raises(DownloadError, match=re.escape(f"could not download {url}: [Errno 111] Connection refused "
                                                      "(this machine looks offline")):
        weights.fetch_url(url, tmp_path / "y")


# --- download, resolve, install --------------------------------------------------------------------


def test_download_resolve_and_install_share_one_check(keras_home, cnnviz_home, tmp_path):
    payload = b"official" * 1000
    wf = weights.RESNET50_NOTOP
    with loopback_server({"/r.h5": payload}) as mirror:
        path = weights.download_weights(wf, url=mirror.base + "/r.h5", md5=md5(payload))
        assert weights.download_weights(wf, url=mirror.base + "/r.h5", md5=md5(payload)) == path  # a good copy: kept
        assert mirror.hits == ["/r.h5"]
    assert path == cnnviz_home / "weights" / wf.file and path.read_bytes() == payload
    assert weights.is_good_copy(path, wf, md5=md5(payload)) and not weights.is_good_copy(path, wf)
    assert weights.resolve_weights(wf, md5=md5(payload)) == path
    with pytest.raises(Unavailable, match=re.escape(f"({path} is there but its checksum is wrong)")):
        weights.resolve_weights(wf)
    brought = tmp_path / "usb.h5"
    brought.write_bytes(payload)
    with pytest.raises(InvalidArgument, match=re.escape(f"{brought} has MD5 {md5(payload)}, but Keras' {wf.file} "
                                                        f"has {wf.md5}; not copied")):
        weights.install_weights_file(brought, wf)
    assert weights.install_weights_file(brought, wf, md5=md5(payload), dest=tmp_path / "copy.h5").read_bytes() == payload
    assert storage.remove_temporaries(cnnviz_home) == []


def test_a_page_instead_of_mobilenet_weights_names_the_address_not_the_temporary_file(keras_home, cnnviz_home):
    wf = weights.mobilenetv2(0.35, 96)  # Keras publishes no MD5 for it: the download is checked by loading
    with loopback_server({"/m.h5": b"<html><body>Sign in to the school network</body></html>"}) as mirror:
        with pytest.raises(InvalidArgument) as err:
            weights.download_weights(wf, url=mirror.base + "/m.h5")
    text = str(err.value)
    assert text.startswith(f"{mirror.base}/m.h5 does not hold MobileNetV2 weights for α 0.35, 96×96, so it was not "
                           "kept: "), text
    assert storage.TEMP_MARKER not in text and _everything(cnnviz_home / "weights") == []


def test_the_mobilenet_variable_names_one_width_and_size_or_a_folder_of_them(keras_home, monkeypatch, tmp_path):
    small, large = weights.mobilenetv2(0.35, 96), weights.mobilenetv2(0.35, 160)
    (tmp_path / small.file).write_bytes(b"x")
    monkeypatch.setenv(small.env, str(tmp_path / small.file))
    assert weights.resolve_weights(small) == tmp_path / small.file
    with pytest.raises(InvalidArgument, match=re.escape(
            f"{tmp_path / small.file} (from {small.env}) is MobileNetV2's file for width 0.35 and 96×96 images, but "
            f"this network has width 0.35 and 160×160 images ({large.file}). Give that file, or set {small.env} to "
            f"a folder holding the files of every size you use.")):
        weights.resolve_weights(large)  # before: the 96×96 weights, silently, for 160×160 images
    from cnnviz.models.config import ModelConfig

    said = weights.backbone_status(ModelConfig(backbone="mobilenetv2", alpha=0.35, image_size=160, weights="imagenet"))
    assert not said["present"] and said["message"].startswith(f"{tmp_path / small.file} (from {small.env}) is ")
    monkeypatch.setenv(small.env, str(tmp_path))
    assert weights.resolve_weights(small) == tmp_path / small.file
    with pytest.raises(Unavailable, match=re.escape(f"the MobileNetV2 weights file {tmp_path / large.file} (from "
                                                    f"{small.env}) does not exist")):
        weights.resolve_weights(large)
    (tmp_path / large.file).write_bytes(b"y")
    assert weights.resolve_weights(large) == tmp_path / large.file
    monkeypatch.setenv(small.env, str(tmp_path / "mine.h5"))  # a name of the teacher's own: taken as given
    (tmp_path / "mine.h5").write_bytes(b"z")
    assert weights.resolve_weights(large) == tmp_path / "mine.h5"


def test_resolve_reports_the_progress_of_a_download_only(keras_home, cnnviz_home):
    payload = b"official" * 200_000  # 1.6 MB: two blocks
    wf = weights.RESNET50
    moves = []
    with loopback_server({"/r.h5": payload}) as mirror:
        path = weights.resolve_weights(wf, download=True, url=mirror.base + "/r.h5", md5=md5(payload),
                                       progress=lambda done, total: moves.append((done, total)))
        assert moves == [(0, len(payload)), (2**20, len(payload)), (len(payload), len(payload))]
        assert weights.resolve_weights(wf, download=True, url=mirror.base + "/r.h5", md5=md5(payload),
                                       progress=lambda done, total: moves.append("again")) == path
        assert mirror.hits == ["/r.h5"] and len(moves) == 3  # the copy here: no request, no progress


def test_an_explicit_file_is_named_by_its_variable(keras_home, monkeypatch, tmp_path):
    wf = weights.mobilenetv2()
    monkeypatch.setenv(wf.env, str(tmp_path / "mine.h5"))
    with pytest.raises(Unavailable, match=re.escape(f"the MobileNetV2 weights file {tmp_path / 'mine.h5'} (from "
                                                    f"{wf.env}) does not exist. Give the path of an existing file, or "
                                                    f"unset {wf.env} and run `{weights.download_command(wf)}`.")):
        weights.resolve_weights(wf)
    (tmp_path / "mine.h5").write_bytes(b"x")
    assert weights.resolve_weights(wf) == tmp_path / "mine.h5"
    with pytest.raises(InvalidArgument, match="must be an HDF5 weights file ending in .h5"):
        weights.resolve_weights(wf, tmp_path / "mine.keras")


def test_a_variable_naming_no_file_is_not_hidden_by_a_copy_here(keras_home, cnnviz_home, monkeypatch, tmp_path):
    # The variable comes first and resolve_weights refuses a wrong one even with a copy here: Home and the Transfer
    # page said "present" (the copy), and then the page and the training refused the weights.
    from cnnviz.models.config import ModelConfig

    for wf in (weights.RESNET50, weights.mobilenetv2(0.35, 96)):
        storage.atomic_write_bytes(cnnviz_home / "weights" / wf.file, b"x")
        monkeypatch.setenv(wf.env, str(tmp_path / "typo.h5"))
        with pytest.raises(Unavailable, match=re.escape(f"{tmp_path / 'typo.h5'} (from {wf.env}) does not exist")):
            weights.resolve_weights(wf)
    home = weights.status()
    assert [item["present"] for item in home[:2]] == [False, False]
    assert home[0]["detail"].startswith(f"the ResNet50 weights file {tmp_path / 'typo.h5'} (from {weights.RESNET50.env}) "
                                        "does not exist")
    said = weights.backbone_status(ModelConfig(backbone="mobilenetv2", alpha=0.35, image_size=96, weights="imagenet"))
    assert not said["present"] and said["path"] is None
    assert said["message"].startswith(f"the MobileNetV2 weights file {tmp_path / 'typo.h5'} (from ")
