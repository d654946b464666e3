"""CIFAR-10 binary layout: verified downloads from a loopback server, parsing, import."""

from __future__ import annotations

import io
import tarfile
import zlib

import numpy as np
import pytest

from cnnviz.data import cifar10
from cnnviz.data.cifar10 import FormatError
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.weights import DownloadError
from tests.support.archives import tiny_archive_bytes, tiny_batch, tiny_files, write_tiny_dir
from tests.support.http import Route, refused_url, md5


def _leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# --- download ---------------------------------------------------------------------------
def test_download_verifies_and_reports_progress(loopback, tmp_path):
    body = tiny_archive_bytes()
    loopback.routes["/c.tar.gz"] = Route(body)
    events = []
    final = tmp_path / "data" / cifar10.ARCHIVE_NAME
    out = cifar10.download_file(loopback.url("/c.tar.gz"), final, expected_size=len(body),
                                expected_md5=md5(body), progress=lambda d, t: events.append((d, t)))
    assert out == final and final.read_bytes() == body
    assert _leftovers(tmp_path / "data") == [cifar10.ARCHIVE_NAME]  # no temporary left behind
    assert events[0] == (0, len(body)) and events[-1] == (len(body), len(body))
    done = [d for d, _ in events]
    assert done == sorted(done) and len(events) >= 2


def test_download_without_expectations_uses_content_length(loopback, tmp_path):
    body = b"x" * 1000
    loopback.routes["/f"] = Route(body)
    events = []
    cifar10.download_file(loopback.url("/f"), tmp_path / "f", expected_size=None, expected_md5=None,
                          progress=lambda d, t: events.append((d, t)))
    assert events[-1] == (1000, 1000)


def test_checksum_mismatch_leaves_nothing(loopback, tmp_path):
    body = tiny_archive_bytes()
    loopback.routes["/c.tar.gz"] = Route(body)
    wrong = "0" * 32
    with pytest.raises(DownloadError) as err:
        cifar10.download_file(loopback.url("/c.tar.gz"), tmp_path / "data" / "a.tar.gz",
                              expected_size=len(body), expected_md5=wrong)
    assert str(err.value) == (
        f"Checksum mismatch for {loopback.url('/c.tar.gz')}: the file has MD5 {md5(body)}, not the expected {wrong}; "
        "it is damaged or is not CIFAR-10's binary archive, so it was not kept.")
    assert _leftovers(tmp_path / "data") == []


def test_truncated_body_leaves_nothing(loopback, tmp_path):
    body = b"y" * 100_000
    loopback.routes["/t"] = Route(body, mode="truncate")
    with pytest.raises(DownloadError) as err:
        cifar10.download_file(loopback.url("/t"), tmp_path / "data" / "a", expected_size=len(body),
                              expected_md5=md5(body))
    assert "was truncated: received 50,000 of 100,000 bytes" in str(err.value)
    assert _leftovers(tmp_path / "data") == []


def test_short_body_without_length_is_truncated(loopback, tmp_path):
    loopback.routes["/n"] = Route(b"z" * 10, mode="no_length")
    with pytest.raises(DownloadError, match="truncated: received 10 of 20 bytes"):
        cifar10.download_file(loopback.url("/n"), tmp_path / "data" / "a", expected_size=20, expected_md5=None)
    assert _leftovers(tmp_path / "data") == []


def test_wrong_announced_size_is_refused_before_reading(loopback, tmp_path):
    loopback.routes["/w"] = Route(b"z" * 10)
    with pytest.raises(DownloadError, match="offers 10 bytes but CIFAR-10's binary archive has 170,052,171"):
        cifar10.download_file(loopback.url("/w"), tmp_path / "data" / "a",
                              expected_size=cifar10.OFFICIAL_SIZE, expected_md5=cifar10.OFFICIAL_MD5)
    assert _leftovers(tmp_path / "data") == []


def test_http_404_says_so_and_leaves_nothing(loopback, tmp_path):
    with pytest.raises(DownloadError) as err:
        cifar10.download_file(loopback.url("/missing.tar.gz"), tmp_path / "data" / "a",
                              expected_size=10, expected_md5=None)
    assert str(err.value).startswith(
        f"could not download {loopback.url('/missing.tar.gz')}: the server answered HTTP 404 (Not Found). ")
    assert "python -m cnnviz data import cifar10 PATH" in str(err.value)
    assert _leftovers(tmp_path / "data") == []


def test_connection_refused_says_offline(tmp_path):
    url = refused_url("/cifar-10-binary.tar.gz")
    with pytest.raises(Unavailable) as err:
        cifar10.download_file(url, tmp_path / "data" / "a", expected_size=10, expected_md5=None)
    assert str(err.value).startswith(f"could not download {url}: [Errno 111] Connection refused (")
    assert "looks offline" in str(err.value)
    assert _leftovers(tmp_path / "data") == []


def test_interrupted_download_removes_the_temporary(loopback, tmp_path):
    body = b"q" * 300_000
    loopback.routes["/big"] = Route(body)

    def stop(done, total):
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cifar10.download_file(loopback.url("/big"), tmp_path / "data" / "a", expected_size=None,
                              expected_md5=None, progress=stop)
    assert _leftovers(tmp_path / "data") == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "cifar.tar.gz"])
def test_only_http_urls(url, tmp_path):
    with pytest.raises(InvalidArgument, match="download URL must start with http:// or https://"):
        cifar10.download_file(url, tmp_path / "a", expected_size=None, expected_md5=None)


def test_bad_md5_argument(tmp_path):
    with pytest.raises(InvalidArgument, match="expected MD5 must be 32 hex digits, got 'abc'"):
        cifar10.download_file("http://127.0.0.1/x", tmp_path / "a", expected_size=None, expected_md5="abc")


# --- parsing ----------------------------------------------------------------------------
def test_parse_records_matches_the_planar_layout():
    images, labels, records = tiny_batch(3, n=4)
    x, y = cifar10.parse_records(records, name="b.bin")
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    # By hand: record 1's byte 1 + 1024 + 32*2 + 5 is the G value at row 2, column 5.
    assert x[1, 2, 5, 1] == records[1 * 3073 + 1 + 1024 + 2 * 32 + 5]


@pytest.mark.parametrize("size", [0, 3072, 3074, 3073 * 2 - 1])
def test_record_size_validation(size):
    with pytest.raises(FormatError) as err:
        cifar10.parse_records(bytes(size), name="data_batch_1.bin")
    assert str(err.value) == (f"data_batch_1.bin has {size:,} bytes, which is not a whole number of "
                              "3,073-byte CIFAR-10 records (1 label byte + 3,072 pixel bytes).")


def test_label_out_of_range_is_refused():
    _, _, records = tiny_batch(0, n=2)
    bad = bytearray(records)
    bad[3073] = 10
    with pytest.raises(FormatError, match="data_batch_1.bin has label 10; CIFAR-10 labels are 0..9."):
        cifar10.parse_records(bytes(bad), name="data_batch_1.bin")


def test_read_archive_and_directory_agree(tmp_path):
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    folder = write_tiny_dir(tmp_path / "extracted")
    a, d = cifar10.read_any(archive), cifar10.read_any(folder.parent)
    assert a.x_train.shape == (100, 32, 32, 3) and a.x_test.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(a.x_train, d.x_train)
    np.testing.assert_array_equal(a.y_test, d.y_test)
    np.testing.assert_array_equal(a.x_train[:20], tiny_batch(0)[0])  # data_batch_1 first
    np.testing.assert_array_equal(a.x_train[20:40], tiny_batch(1)[0])
    assert a.class_names == cifar10.CLASS_NAMES
    assert a.notes == ("100 training and 20 test images", "smaller than the official 50,000 + 10,000")
    assert not (tmp_path / "c.tar.gz").with_suffix("").exists()  # nothing was extracted


def test_every_training_image_keeps_its_own_label(tmp_path):
    """Batch k's records all carry label k here: the five batches' labels come out in the order of their images."""
    files = tiny_files()
    for k, name in enumerate(cifar10.TRAIN_FILES):
        records = bytearray(files[name])
        records[::cifar10.RECORD_BYTES] = bytes([k]) * (len(records) // cifar10.RECORD_BYTES)
        files[name] = bytes(records)
    got = cifar10.read_any(write_tiny_dir(tmp_path / "extracted", files).parent)
    np.testing.assert_array_equal(got.y_train, np.repeat(np.arange(5), 20))
    np.testing.assert_array_equal(got.x_train[40:60], tiny_batch(2)[0])


def test_archive_member_paths_are_not_used(tmp_path):
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(tiny_archive_bytes(prefix="../../evil"))
    arrays = cifar10.read_archive(archive)  # read by base name, never written anywhere
    assert arrays.x_train.shape[0] == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tar.gz"]


def test_missing_batch_is_named(tmp_path):
    files = tiny_files()
    del files["data_batch_3.bin"]
    with pytest.raises(FormatError, match=r"is missing data_batch_3.bin; is it the CIFAR-10 \*binary\*"):
        cifar10.read_directory(write_tiny_dir(tmp_path, files))


def test_unequal_batches_are_refused(tmp_path):
    files = tiny_files()
    files["data_batch_2.bin"] = tiny_batch(1, n=19)[2]
    with pytest.raises(FormatError, match="data_batch_2.bin: 19"):
        cifar10.read_directory(write_tiny_dir(tmp_path, files))


def test_member_with_bad_size_is_refused_before_reading(tmp_path):
    files = tiny_files()
    files["test_batch.bin"] = files["test_batch.bin"][:-1]
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(tiny_archive_bytes(files))
    with pytest.raises(FormatError, match="test_batch.bin has 61,459 bytes; a CIFAR-10 batch is a whole number"):
        cifar10.read_archive(archive)


def test_wrong_class_list_is_refused(tmp_path):
    files = tiny_files()
    files["batches.meta.txt"] = b"cat\ndog\n"
    with pytest.raises(FormatError, match=r"lists \('cat', 'dog'\), not the ten CIFAR-10 classes"):
        cifar10.read_directory(write_tiny_dir(tmp_path, files))


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file at all")
    with pytest.raises(FormatError, match="is not a readable .tar.gz archive"):
        cifar10.read_any(junk)
    with pytest.raises(FormatError, match="Nothing at"):
        cifar10.read_any(tmp_path / "nope")


@pytest.mark.parametrize("at", [10, 2], ids=["in-pixels", "in-a-block-header"])
def test_a_changed_bit_in_the_archive_is_refused_not_installed(at, tmp_path):
    """A copy off a USB stick with one bit changed: only gzip's CRC-32 at the end of the stream can tell (a rebuilt
    archive is not held to the official MD5), and tarfile stops reading before it. Before: installed with changed
    pixels ("in-pixels"), or "is missing data_batch_4.bin, ..." ("in-a-block-header")."""
    data = bytearray(tiny_archive_bytes())
    data[len(data) // at] ^= 0x01  # random pixels are stored, not compressed: 1/10 is inside data_batch_1's pixels
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(bytes(data))
    with pytest.raises(FormatError) as err:
        cifar10.read_archive(archive)
    assert str(err.value) == (f"{archive} is damaged: its data fails the checksum stored in it (bytes changed, lost "
                              "or added on the way). Copy it onto the server again, or download it.")


def test_an_archive_whose_compressed_data_breaks_is_refused_in_words(tmp_path):
    """A deflate stream that breaks after the first batch (a reserved block type): zlib's own error is not a
    FormatError, and must not reach the page or the command line as one."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:  # uncompressed: the stream is cut at a member's end below
        first = tiny_files()[cifar10.TRAIN_FILES[0]]
        info = tarfile.TarInfo(f"{cifar10.BATCH_DIR}/{cifar10.TRAIN_FILES[0]}")
        info.size = len(first)
        tar.addfile(info, io.BytesIO(first))
    member_end = 512 + -(-len(first) // 512) * 512
    deflate = zlib.compressobj(wbits=-15)
    body = deflate.compress(buf.getvalue()[:member_end]) + deflate.flush(zlib.Z_SYNC_FLUSH)
    archive = tmp_path / "c.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff" + body + b"\x07" + bytes(16))  # 0x07: last block, type 3
    with pytest.raises(FormatError) as err:
        cifar10.read_archive(archive)
    assert str(err.value) == (f"{archive} is damaged: its compressed data does not unpack. Copy it onto the server "
                              "again, or download it.")


def test_reading_says_how_many_bytes_are_read(tmp_path):
    archive = tmp_path / "copy.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    seen: list[tuple[int, int]] = []
    cifar10.read_any(archive, lambda done, total: seen.append((done, total)))
    size = archive.stat().st_size
    assert len(seen) == 7 and seen[-1] == (size, size)  # after each of the 6 batches, then at the end
    assert all(total == size for _, total in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    seen.clear()
    cifar10.read_any(write_tiny_dir(tmp_path / "folder").parent, lambda done, total: seen.append((done, total)))
    batch = len(tiny_files()[cifar10.TEST_FILE])
    assert seen == [(k * batch, 6 * batch) for k in range(1, 7)]
