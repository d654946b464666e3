"""Decode work is bounded, not only pixels (issue 18): JPEG scans, lists cut before decoding, a request budget.

The hostile files are built here (tests/hostile_decode.py); sizes are kept small so that the
old code's cost shows as a count of decodes or scans rather than as minutes of CPU.
"""

from __future__ import annotations

import time

import pytest
from PIL import Image

from cnnviz.data import decodelimits, folderdata, images
from cnnviz.data.decodelimits import DecodeBudget, DecodeRefused, jpeg_scan_count
from cnnviz.data.folderdata import ZipDatasetError
from cnnviz.data.images import ImageError, load_image
from cnnviz.inspect import pretrained
from tests.support.archives import class_folders, make_zip
from tests.support.hostile_corpus import photo_rgb
from tests.support.hostile_decode import jpeg_segments, repeated_scan_jpeg, scan_zip, tiny_huge_webp
from tests.support.images import encode


def test_scan_count_matches_an_independent_walk_of_the_markers():
    baseline = encode(Image.fromarray(photo_rgb()), "JPEG")
    progressive = encode(Image.fromarray(photo_rgb()), "JPEG", progressive=True)
    grey = encode(Image.new("L", (64, 48), 9), "JPEG", progressive=True)
    restarts = encode(Image.fromarray(photo_rgb(96, 128)), "JPEG", progressive=True, restart_marker_blocks=1)
    for data in (baseline, progressive, grey, restarts, repeated_scan_jpeg(64, 30)):
        assert jpeg_scan_count(data, stop_after=10_000) == len(jpeg_segments(data))
    assert jpeg_scan_count(baseline) == 1
    assert jpeg_scan_count(progressive) == 10  # libjpeg's progressive script for colour
    assert jpeg_scan_count(repeated_scan_jpeg(64, 5000), stop_after=40) == 41  # stops early
    assert jpeg_scan_count(b"not a jpeg") == 0
    assert jpeg_scan_count(progressive[:300]) <= 10  # damaged: counted up to the damage, no exception


def test_many_scans_are_refused_before_decoding_with_the_reason():
    data = repeated_scan_jpeg(2000, 5000)
    started = time.process_time()
    with pytest.raises(ImageError) as err:
        load_image(data, name="scans.jpg")
    assert time.process_time() - started < 1.0  # the old code decoded all 5,000 scans (tens of seconds)
    message = str(err.value)
    assert "`scans.jpg` is a JPEG with more than 400 progressive scans" in message
    assert "cameras and phones have at most about 10" in message and "hold the shared server" in message
    few = repeated_scan_jpeg(64, decodelimits.MAX_JPEG_SCANS - 6)  # 6 scans + the repeats: exactly the limit
    assert load_image(few, name="ok.jpg").array.shape == (64, 64, 3)
    with pytest.raises(ImageError, match=r"is a JPEG with 41 progressive scans"):
        load_image(repeated_scan_jpeg(64, decodelimits.MAX_JPEG_SCANS - 5), name="one-too-many.jpg")


def test_a_zip_of_many_scan_jpegs_skips_them_undecoded():
    good = class_folders(per_class=10)
    bad = repeated_scan_jpeg(1000, 2000)
    members = {**good, **{f"cats/bad{i}.jpg": bad for i in range(5)}}
    started = time.process_time()
    result = folderdata.read_zip(make_zip(members), image_size=16)
    assert time.process_time() - started < 5.0
    assert result.skipped_count == 5
    assert all("progressive scans" in why for _, why in result.skipped)
    with pytest.raises(ZipDatasetError, match="no usable images"):
        folderdata.read_zip(scan_zip(6, 500, 1000), image_size=16)


def test_pretrained_cuts_the_list_before_decoding(monkeypatch):
    decoded = []
    real = images.load_image

    def counting(data, **kw):
        decoded.append(kw.get("name"))
        return real(data, **kw)

    monkeypatch.setattr(pretrained, "load_image", counting)
    small = encode(Image.fromarray(photo_rgb(8, 8)), "PNG")
    photos, messages = pretrained.load_photos([(f"p{i}.png", small) for i in range(100)])
    assert len(photos) == pretrained.MAX_IMAGES and len(decoded) == pretrained.MAX_IMAGES
    assert messages[-1].startswith("ResNet50 looks at 12 photos at a time: left out `p12.png`")
    assert messages[-1].endswith("and 68 more.")


def test_tiny_but_huge_webps_count_against_the_request_budget(monkeypatch):
    """At a tenth of the real scale (the 6300×6300 files and the 150 MP budget: see the report's timings)."""
    webp = tiny_huge_webp(2000)
    assert len(webp) < 1024
    monkeypatch.setattr(decodelimits, "REQUEST_PIXELS", 15_000_000)
    photos, messages = pretrained.load_photos([(f"w{i}.webp", webp) for i in range(100)])
    assert len(photos) == 3  # 3 × 4 MP decoded, then the budget is spent
    refusals = [m for m in messages if "million pixels to decode" in m]
    assert len(refusals) == pretrained.MAX_IMAGES - len(photos)
    assert refusals[0].startswith("The photos of this upload add up to more than 15 million pixels to decode")
    assert "`w3.webp` (4.0 million pixels) and what follows were not decoded" in refusals[0]


def test_request_budget_pixels_are_charged_before_decoding():
    budget = DecodeBudget(pixels=100, what="these uploads")
    photo = encode(Image.new("RGB", (8, 8)), "PNG")
    load_image(photo, name="a.png", budget=budget)
    assert budget.pixels_left == 36
    with pytest.raises(ImageError, match=r"These uploads add up to more than 0 million pixels to decode"):
        load_image(photo, name="b.png", budget=budget)
    assert budget.pixels_left == 36  # a refused picture takes nothing
    with pytest.raises(Exception, match="pixels must be a positive whole number, got 0"):
        DecodeBudget(pixels=0)
    with pytest.raises(Exception, match="cpu_seconds must be positive, got -1"):
        DecodeBudget(cpu_seconds=-1)


def test_request_budget_cpu_seconds_are_enforced():
    budget = DecodeBudget(cpu_seconds=0.01, what="these uploads")
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass
    with pytest.raises(DecodeRefused, match=r"Decoding these uploads already took 0\.\d s of the server's processor"):
        budget.charge(1, "`x.png`")
    with pytest.raises(ImageError, match="processor time"):
        load_image(encode(Image.new("RGB", (4, 4)), "PNG"), name="x.png", budget=budget)


def test_zip_cpu_budget_ends_the_import_with_the_reason(monkeypatch):
    monkeypatch.setattr(folderdata, "MAX_DECODE_CPU_S", 1e-9)
    with pytest.raises(ZipDatasetError, match="Decoding the images in the zip already took"):
        folderdata.read_zip(make_zip(class_folders(per_class=10)), image_size=16)


def test_a_zip_refused_for_skipped_files_says_why_the_first_was_skipped():
    with pytest.raises(ZipDatasetError) as err:
        folderdata.read_zip(scan_zip(4, 500, 1000), image_size=16)
    message = str(err.value)
    assert message.startswith("The zip has no usable images (4 files skipped).")
    assert "The first skipped file, `dogs/000.jpg`: a JPEG with far more progressive scans than cameras write" in message
