"""Folder datasets from a zip of class folders: the good case and every refusal."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from cnnviz.data import datasets, folderdata, stored, subsets
from cnnviz.data.folderdata import ZipDatasetError
from cnnviz.errors import InvalidArgument
from tests.support.archives import class_folders, make_zip
from tests.support.images import jpeg_bytes, png_bytes


def test_cats_vs_dogs_zip_becomes_a_dataset(cnnviz_home):
    members = class_folders(per_class=10, prefix="PetImages/")
    members["PetImages/cats/notes.txt"] = b"hello"
    members["PetImages/dogs/broken.jpg"] = jpeg_bytes((9, 9, 9), size=(64, 64))[:300]  # truncated
    members["PetImages/dogs/fake.jpg"] = b"not really a jpeg"
    members["__MACOSX/PetImages/cats/._000.png"] = b"\x00\x05\x16\x07"
    members["README.md"] = b"# my data"
    report = datasets.import_folder_zip(make_zip(members), name="cats_vs_dogs", image_size=16)
    assert report["name"] == "folder:cats_vs_dogs"
    assert report["class_names"] == ("cats", "dogs") and report["counts"] == [10, 10]
    assert report["train"] == 16 and report["test"] == 4
    reasons = dict(report["skipped"])
    assert reasons["PetImages/cats/notes.txt"].startswith("not an image file name")
    assert reasons["PetImages/dogs/broken.jpg"].startswith("damaged or unsupported image")
    assert reasons["__MACOSX/PetImages/cats/._000.png"] == "hidden or macOS metadata file"
    assert reasons["PetImages/dogs/fake.jpg"] == "not an image Pillow can read (JPEG, PNG, GIF, BMP, WebP)"
    assert reasons["README.md"] == "not inside a class folder"
    assert report["skipped_count"] == 5

    ds = datasets.load("folder:cats_vs_dogs")
    assert ds.x_train.shape == (16, 16, 16, 3) and ds.x_train.dtype == np.uint8
    assert subsets.class_counts(ds.y_test, 2).tolist() == [2, 2]  # stratified 80/20
    # cats are red and dogs blue in the fixture: labels and pixels must agree
    reds = ds.x_train[ds.y_train == 0][..., 0].mean()
    blues = ds.x_train[ds.y_train == 1][..., 2].mean()
    assert reds > 150 and blues > 150
    assert "folder:cats_vs_dogs" in stored.names()
    assert stored.is_present("folder:cats_vs_dogs")
    status = [s for s in stored.status() if s["name"] == "folder:cats_vs_dogs"][0]
    assert status["present"] and status["title"] == "cats_vs_dogs (your folders)"


def test_greyscale_and_size():
    images = folderdata.read_zip(make_zip(class_folders(per_class=10)), image_size=24, mode="L")
    assert images.x.shape == (20, 24, 24, 1)


def test_transparent_png_is_composited_on_white():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(buf, format="PNG")
    assert folderdata._decode(buf.getvalue(), size=16, mode="RGB").min() == 255


def test_16_bit_grey_is_scaled_as_for_uploads():
    from PIL import Image

    from cnnviz.data import images

    values = np.array([[0, 257, 32896, 65535]] * 4, dtype=np.uint16)  # 0, 1, 128, 255 in 8 bits
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    decoded = folderdata._decode(buf.getvalue(), size=4, mode="L")[..., 0]
    np.testing.assert_array_equal(decoded[0], [0, 1, 128, 255])  # scaled (/257), not clipped at 255
    np.testing.assert_array_equal(decoded, images.load_image(buf.getvalue(), mode="L").array)


@pytest.mark.parametrize("evil", ["../evil.jpg", "cats/../../evil.jpg", "/etc/cats/x.jpg",
                                  "C:/cats/x.jpg", "cats\\..\\..\\x.jpg"])
def test_path_traversal_refused(evil, tmp_path):
    members = class_folders(per_class=10)
    members[evil] = png_bytes((1, 2, 3))
    with pytest.raises(ZipDatasetError) as err:
        folderdata.read_zip(make_zip(members))
    assert str(err.value) == f"The zip contains {evil!r}, a path that points outside the folder; such a zip is refused."
    assert list(tmp_path.iterdir()) == []


def test_zip_bomb_refused_before_inflating():
    members = class_folders(per_class=10)
    members["cats/bomb.png"] = bytes(5 * 1024 * 1024)  # 5 MiB of zeros deflate ~1000×
    with pytest.raises(ZipDatasetError, match=r"`cats/bomb.png` inflates [\d,]+× \(a zip bomb\?\); the zip is refused."):
        folderdata.read_zip(make_zip(members))


def test_total_size_and_member_limits(monkeypatch):
    data = make_zip(class_folders(per_class=10), compression=zipfile.ZIP_STORED)
    monkeypatch.setattr(folderdata, "MAX_TOTAL_UNCOMPRESSED", 1000)
    with pytest.raises(ZipDatasetError, match="MiB are accepted"):
        folderdata.read_zip(data)
    monkeypatch.setattr(folderdata, "MAX_TOTAL_UNCOMPRESSED", 10**9)
    monkeypatch.setattr(folderdata, "MAX_MEMBERS", 5)
    with pytest.raises(ZipDatasetError, match="The zip has 20 entries; at most 5 are accepted."):
        folderdata.read_zip(data)


def test_no_images():
    data = make_zip({"cats/a.txt": b"x", "dogs/b.txt": b"y"})
    with pytest.raises(ZipDatasetError, match=r"The zip has no usable images \(2 files skipped\)"):
        folderdata.read_zip(data)


def test_one_class():
    with pytest.raises(ZipDatasetError, match=r"The zip has only one class \('cats'\); a classifier needs at least 2"):
        folderdata.read_zip(make_zip(class_folders(per_class=10, classes=("cats",))))


def test_too_few_images_per_class():
    members = class_folders(per_class=10)
    members = {k: v for k, v in members.items() if not (k.startswith("dogs/") and k > "dogs/003")}
    with pytest.raises(ZipDatasetError, match="Each class needs at least 10 images, but 'dogs' has 3."):
        folderdata.read_zip(make_zip(members))


def test_not_a_zip_and_bad_options(cnnviz_home):
    with pytest.raises(ZipDatasetError, match="This is not a readable zip file"):
        folderdata.read_zip(b"PK not really")
    with pytest.raises(InvalidArgument, match=r"image size must be one of \(16, 24, 32, 48, 64, 96, 128, 160, 200, 224\), got 30"):
        folderdata.read_zip(b"", image_size=30)
    with pytest.raises(InvalidArgument, match="colour mode must be 'RGB' or 'L', got 'CMYK'"):
        folderdata.read_zip(b"", mode="CMYK")
    with pytest.raises(InvalidArgument, match="dataset name must be 1-40 lower-case letters"):
        datasets.import_folder_zip(b"", name="../Etc")


def test_existing_name_needs_overwrite():
    data = make_zip(class_folders(per_class=10))
    datasets.import_folder_zip(data, name="pets", image_size=16)
    with pytest.raises(InvalidArgument, match="a folder dataset named 'pets' already exists; choose another name"):
        datasets.import_folder_zip(data, name="pets", image_size=16)
    datasets.import_folder_zip(data, name="pets", image_size=32, overwrite=True)
    assert datasets.load("folder:pets").input_shape == (32, 32, 3)


def test_zip_from_a_path(tmp_path):
    path = tmp_path / "pets.zip"
    path.write_bytes(make_zip(class_folders(per_class=10)))
    assert folderdata.read_zip(path, image_size=16).x.shape == (20, 16, 16, 3)
    with pytest.raises(ZipDatasetError, match="No zip file at"):
        folderdata.read_zip(tmp_path / "missing.zip")


def test_pixels_decoded_per_zip_are_bounded(monkeypatch):
    data = make_zip(class_folders(per_class=10))  # 10 PNGs of 12×10 and 10 JPEGs of 20×16 per class
    total = 10 * 12 * 10 + 10 * 20 * 16
    monkeypatch.setattr(folderdata, "MAX_TOTAL_PIXELS", total - 1)
    with pytest.raises(ZipDatasetError, match=r"add up to more than 0 million pixels to decode; shrink them"):
        folderdata.read_zip(data)
    monkeypatch.setattr(folderdata, "MAX_TOTAL_PIXELS", total)  # exactly enough
    assert len(folderdata.read_zip(data).x) == 20


def test_seed_004_sizes_200_and_224_are_offered_and_decoded():
    members = {f"PetImages/{c}/{i:03d}.jpg": jpeg_bytes(colour, size=(500, 375))
               for c, colour in (("Cat", (200, 40, 40)), ("Dog", (40, 40, 200))) for i in range(10)}
    grey = folderdata.read_zip(make_zip(members), image_size=200, mode="L")  # seed 004: 200×200 grey
    assert grey.x.shape == (20, 200, 200, 1)
    colour = folderdata.read_zip(make_zip(members), image_size=224)
    assert colour.x.shape == (20, 224, 224, 3)
    assert colour.x[colour.y == colour.class_names.index("Cat"), 112, 112, 0].min() > 150


def test_large_images_are_bounded_in_bytes_and_the_form_says_how_big():
    assert folderdata.max_images(224, "RGB") == folderdata.MAX_DATASET_BYTES // (224 * 224 * 3) == 1783
    assert folderdata.max_images(200, "L") == folderdata.MAX_IMAGES  # seed 004's 4,000 grey images fit
    assert folderdata.max_images(32, "RGB") == folderdata.MAX_IMAGES
    note = folderdata.size_note(224, "RGB")
    assert "224×224×3 image takes 147 KiB" in note and "at most 1,783 images" in note and "256 MiB" in note
    with pytest.raises(InvalidArgument, match="got 100"):
        folderdata.max_images(100, "RGB")


def test_a_zip_over_the_byte_bound_is_refused_with_the_size_named(monkeypatch):
    monkeypatch.setattr(folderdata, "MAX_DATASET_BYTES", 224 * 224 * 3 * 15)
    with pytest.raises(ZipDatasetError, match=r"more than 15 images; at 224×224 in RGB"):
        folderdata.read_zip(make_zip(class_folders(per_class=10)), image_size=224)
    assert folderdata.read_zip(make_zip(class_folders(per_class=10)), image_size=224, mode="L").x.shape[0] == 20


def test_progress_counts_every_file_of_the_zip_as_it_is_read():
    members = class_folders(per_class=10)
    members["cats/notes.txt"] = b"skipped, but read past"
    members["README.md"] = b"# not in a class folder"
    data = make_zip(members)
    calls = []
    images = folderdata.read_zip(data, image_size=16, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 22) for done in range(23)]  # 20 images and 2 other files: 0, 1, ..., 22 of 22
    np.testing.assert_array_equal(images.x, folderdata.read_zip(data, image_size=16).x)  # the same images


def test_progress_stops_where_the_zip_is_refused(monkeypatch):
    monkeypatch.setattr(folderdata, "MAX_IMAGES", 12)
    calls = []
    with pytest.raises(ZipDatasetError, match="The zip has more than 12 images"):
        folderdata.read_zip(make_zip(class_folders(per_class=10)), image_size=16,
                            progress=lambda done, total: calls.append((done, total)))
    assert calls == [(done, 20) for done in range(13)]  # the 13th image is refused before it is decoded


def test_import_passes_progress_through_and_refuses_a_non_function():
    calls = []
    report = datasets.import_folder_zip(make_zip(class_folders(per_class=10)), name="pets", image_size=16,
                                        progress=lambda done, total: calls.append((done, total)))
    assert report["train"] + report["test"] == 20 and calls == [(done, 20) for done in range(21)]
    with pytest.raises(InvalidArgument, match=r"progress must be a function called as progress\(done, total\), "
                                              r"got 'a bar'"):
        folderdata.read_zip(make_zip(class_folders(per_class=10)), progress="a bar")


def test_decoding_holds_the_warnings_lock_the_uploads_hold(monkeypatch):
    # warnings.catch_warnings swaps the process-wide filter list and puts back what it found on leaving: a zip
    # member decoded while a student's photo upload is decoded (images.load_image, which holds the lock) could put
    # back the upload's filters ("ignore UserWarning") for the whole server, or drop its own bomb filter.
    import types
    import warnings

    from cnnviz.data import images

    entered = []

    def recording(*args, **kwargs):
        entered.append(images.WARNINGS_LOCK.locked())
        return warnings.catch_warnings(*args, **kwargs)

    # folderdata's own reference only: pytest uses catch_warnings too.
    monkeypatch.setattr(folderdata, "warnings", types.SimpleNamespace(catch_warnings=recording,
                                                                      simplefilter=warnings.simplefilter))
    arr = folderdata._decode(png_bytes(np.zeros((20, 30, 3), np.uint8)), size=16, mode="RGB")
    assert arr.shape == (16, 16, 3)
    assert entered == [True]
    assert not images.WARNINGS_LOCK.locked()  # let go again


def test_classes_are_numbered_in_the_folders_sorted_order_whatever_the_zips_order():
    """A zip listing dogs/ before cats/ still makes cats class 0 (the folder names sorted, as documented), and each
    image keeps its folder's class: the second folder in the zip, cats, holds the blue images here."""
    got = folderdata.read_zip(make_zip(class_folders(per_class=10, classes=("dogs", "cats"))),
                               image_size=16)
    assert got.class_names == ("cats", "dogs")
    blue = got.x[..., 2].mean(axis=(1, 2)) > got.x[..., 0].mean(axis=(1, 2))  # class_folders: red, then blue
    np.testing.assert_array_equal(got.y, np.where(blue, 0, 1))
    assert sorted(got.y.tolist()) == [0] * 10 + [1] * 10
