"""Hostile input: every malformed or awkward upload of ``tests/support/hostile_corpus.py`` through the loader and
through every page that takes pictures; hostile zips through the folder-dataset import; impossible
hyperparameters. Refusals must be clear sentences, never a traceback; the page must recover."""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import caches
from cnnviz.data import datasets, folderdata, images, stored
from cnnviz.data.folderdata import ZipDatasetError
from cnnviz.data.images import ImageError, load_image
from cnnviz.errors import InvalidArgument
from cnnviz.models import config as models_config
from cnnviz.training.spec import TrainSpec
from tests.support.archives import class_folders, make_zip
from tests.support.images import png_bytes
from tests.support.hostile_corpus import ACCEPTED, by_kind, corpus, REFUSED, representative, valid_upload


# What must never reach a student: exception class names, tracebacks, source paths.
LEAKS = re.compile(r"Traceback|File \"|\.py\b|site-packages|\b[A-Z]\w*(Error|Exception|Warning)\b|"
                   r"\bline \d+\b")
# The element kinds whose text a page shows.
TEXT_KINDS = ("title", "header", "subheader", "markdown", "caption", "text", "code", "error", "warning", "info",
              "success", "exception")


def loader_message(entry, mode: str = "RGB") -> str:
    with pytest.raises(ImageError) as err:
        load_image(entry.data, name=entry.name, mode=mode)
    return str(err.value)


def shown_text(at: AppTest) -> list[str]:
    out = []
    for kind in TEXT_KINDS:
        for element in at.get(kind):
            value = getattr(element, "value", None) or getattr(element, "message", "")
            out.append(str(value))
    return out


def leaks(at: AppTest) -> list[str]:
    return [text[:200] for text in shown_text(at) if LEAKS.search(text)]


# --- (a) the loader -----------------------------------------------------------------------------------


def test_corpus_is_big_varied_small_and_deterministic():
    entries = corpus()
    assert len(entries) >= 50
    assert {e.expect for e in entries} == {REFUSED, ACCEPTED}
    assert set(by_kind()) == {"empty", "not-image", "truncated", "foreign", "bomb", "damaged", "mode", "exif",
                              "shape", "name"}
    assert max(len(e.data) for e in entries) < 64 * 1024
    rebuilt = corpus.__wrapped__()
    assert [(e.name, e.data) for e in rebuilt] == [(e.name, e.data) for e in entries]
    assert len({e.name for e in entries}) == len(entries)


@pytest.mark.parametrize("entry", corpus(), ids=lambda e: e.id)
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_loader_refuses_clearly_or_returns_a_sane_array(entry, mode):
    if entry.expect == REFUSED:
        message = loader_message(entry, mode)
        assert entry.says in message
        assert message.startswith("`") and "\n" not in message and 40 < len(message) < 500, message
        assert not LEAKS.search(message), message
        return
    loaded = load_image(entry.data, name=entry.name, mode=mode)
    assert loaded.array.dtype == np.uint8 and loaded.array.flags.c_contiguous
    assert loaded.array.shape == (entry.shape if mode == "RGB" else entry.shape[:2])
    assert loaded.format in ("JPEG", "PNG", "WebP", "BMP", "GIF")
    if entry.says:
        assert any(entry.says in note for note in loaded.notes), loaded.notes
    for note in loaded.notes:
        assert not LEAKS.search(note), note


def test_exif_orientations_put_the_bright_corner_where_the_camera_meant():
    # Stored: bright top-left 3×3 block of a 10×20 picture. The corner each EXIF orientation moves it to
    # (EXIF 2.3, tag 0x0112: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90° clockwise,
    # 7 transverse, 8 rotate 270° clockwise).
    where = {1: "tl", 2: "tr", 3: "br", 4: "bl", 5: "tl", 6: "tr", 7: "br", 8: "bl"}
    for k, corner in where.items():
        entry = next(e for e in corpus() if e.name == f"exif-{k}.jpg")
        gray = load_image(entry.data, mode="L").array
        h_, w_ = gray.shape
        corners = {"tl": gray[0, 0], "tr": gray[0, w_ - 1], "bl": gray[h_ - 1, 0], "br": gray[h_ - 1, w_ - 1]}
        assert max(corners, key=corners.get) == corner, (k, corners)


def test_names_are_shown_as_typed_never_as_markdown():
    assert images.plain_name("mine.png") == "mine.png"
    assert images.plain_name("**b** [l](http://e.x) `c` $x$ <i>") == (
        "\\*\\*b\\*\\* \\[l\\](http\\:\u2060//e.x) \\`c\\` \\$x\\$ \\<i\\>")  # issue 18: word joiner
    assert images.plain_name("see www.evil.example") == "see www\u2060\\.evil.example"
    assert images.plain_name("a\x00b\u202e\n.png") == "ab.png"
    assert images.plain_name("x" * 100) == "x" * 57 + "..."
    assert images.plain_name("") == "upload"


# --- (b) every page that takes picture uploads --------------------------------------------------------


def _upload(at: AppTest, key: str, name: str, data: bytes) -> AppTest:
    return at.file_uploader(key=key).upload(name, data, "application/octet-stream").run()


def test_convolution_page_survives_every_entry(app_path):
    """All entries through one session of the cheap Convolution page (NumPy/SciPy only).

    Every refusal must show the loader's message and draw nothing. After the last refused entry of
    each kind the same session uploads a good picture, which must work: the page recovers. (Not after
    every refusal: a full page run costs 0.4-1 s on the shared 2-core machine, and the next entry's
    own upload already proves the page took a new file; after an accepted entry the page drew it,
    which is the same proof.)
    """
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/convolution.py").run()
    at.select_slider(key="conv_max_side").set_value(32).run()  # small working size: fast reruns
    at.multiselect(key="conv_modes").set_value([]).run()  # skip the modes figure: the image figure suffices
    at.radio(key="conv_source").set_value("Upload").run()
    good_name, good = valid_upload()
    # Pictures the loader accepts but the colour section's 3×3 filter cannot use: a note there, no error.
    section_notes = {"dot.png": "This picture is 1 pixel high and 1 wide: a 3×3 filter does not fit inside it.",
                     "wide.png": "This picture is 1 pixel high and 32 wide: a 3×3 filter does not fit inside it.",
                     "tall.png": "This picture is 32 pixels high and 1 wide: a 3×3 filter does not fit inside it."}
    entries = [e for e in corpus()]
    last_of_kind = {e.name for e, after in zip(entries, entries[1:] + [None]) if after is None or after.kind != e.kind}
    problems = []
    for entry in entries:
        if entry.streamlit_refuses:
            continue  # see test_names_streamlit_refuses_are_stopped_before_the_page
        _upload(at, "conv_upload", entry.name, entry.data)
        errors = [e.value for e in at.error]
        charts = {c.key for c in at.get("plotly_chart")}
        if at.exception:
            problems.append((entry.id, "exception", [e.value for e in at.exception]))
        elif leaks(at):
            problems.append((entry.id, "leak", leaks(at)))
        elif entry.expect == REFUSED:
            if errors != [loader_message(entry)] or "conv_image_fig" in charts:
                problems.append((entry.id, "refusal", errors))
            if entry.name not in last_of_kind:
                continue
            _upload(at, "conv_upload", good_name, good)
            if at.exception or at.error or "conv_image_fig" not in {c.key for c in at.get("plotly_chart")}:
                problems.append((entry.id, "no recovery", [e.value for e in at.error]))
        else:
            captions = " ".join(c.value for c in at.caption)
            note = section_notes.get(entry.name)
            if (errors or "conv_image_fig" not in charts or (entry.says and entry.says not in captions)
                    or (note and not any(i.value.startswith(note) for i in at.info))):
                problems.append((entry.id, "accepted", errors, captions[:300]))
    assert not problems, problems


def test_names_streamlit_refuses_are_stopped_before_the_page(app_path):
    """A NUL byte in a file name (only a hand-made request can send one; browsers cannot) is refused by
    ``st.file_uploader``'s own server-side name check before any page code runs. Streamlit then shows
    its generic redacted message (``client.showErrorDetails = "none"``), no traceback, and the next
    rerun works again."""
    [entry] = [e for e in corpus() if e.streamlit_refuses]
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/convolution.py").run()
    at.select_slider(key="conv_max_side").set_value(32).run()
    at.radio(key="conv_source").set_value("Upload").run()
    _upload(at, "conv_upload", entry.name, entry.data)
    [shown] = at.exception
    assert "redacted" in shown.message and "null" not in shown.message.lower() and not leaks(at)
    assert shown.stack_trace == []  # client.showErrorDetails = "none": no traceback reaches the browser
    at.run()
    assert not at.exception
    _upload(at, "conv_upload", *valid_upload())
    assert not at.exception and not at.error
    assert "conv_image_fig" in {c.key for c in at.get("plotly_chart")}


@pytest.mark.slow
def test_inside_page_survives_representative_entries(app_path, cnnviz_home):
    """A representative subset (every kind, refused and accepted) rather than all entries: each
    accepted picture costs a TensorFlow prediction and feature maps, and the page needs a trained run;
    the loader itself sees every entry above and the Convolution page all of them."""
    from tests.support.pages import open_page
    from tests.support.runs import train_runs
    from tests.support.specs import FLAT_MODEL, page_spec

    train_runs(cnnviz_home, {"flat": page_spec(FLAT_MODEL, epochs=1)})
    at = open_page(app_path, "app_pages/inside.py")
    at.radio(key="inside_source").set_value("Your own picture").run()
    good_name, good = valid_upload()
    problems = []
    for entry in representative():
        _upload(at, "inside_upload", entry.name, entry.data)
        errors = [e.value for e in at.error]
        charts = {c.key for c in at.get("plotly_chart")}
        if at.exception or leaks(at):
            problems.append((entry.id, "exception or leak", [e.value for e in at.exception], leaks(at)))
        elif entry.expect == REFUSED:
            if errors != [loader_message(entry, "L")] or "inside_probs" in charts:  # digits runs are grey
                problems.append((entry.id, "refusal", errors))
            _upload(at, "inside_upload", good_name, good)
            if at.exception or at.error or "inside_probs" not in {c.key for c in at.get("plotly_chart")}:
                problems.append((entry.id, "no recovery", [e.value for e in at.error]))
        else:
            texts = " ".join(c.value for c in at.caption)
            if errors or not {"inside_probs", "inside_maps"} <= charts or (entry.says and entry.says not in texts):
                problems.append((entry.id, "accepted", errors, texts[:300]))
            elif f"{images.plain_name(entry.name)} (" not in texts:
                problems.append((entry.id, "name not shown as typed", texts[:300]))
    assert not problems, problems


@pytest.mark.slow
def test_pretrained_page_survives_representative_entries(app_path, monkeypatch):
    """Each representative entry uploaded together with a good photo (the uploader takes several): the
    bad one gets the loader's message, the good one (and an accepted entry) is still classified. A
    subset, because each accepted photo costs a classification and a Grad-CAM."""
    from cnnviz.inspect import pretrained
    from tests.support.models import tiny_imagenet_model

    clf = pretrained.SharedClassifier(tiny_imagenet_model(), weights_source="tiny test weights")
    monkeypatch.setattr(caches, "resnet50", lambda: clf)
    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/pretrained.py").run()
    at.radio(key="pre_source").set_value("Upload").run()
    good_name, good = valid_upload()
    problems = []
    for entry in representative():
        at.file_uploader(key="pre_upload").set_value([
            (entry.name, entry.data, "application/octet-stream"), (good_name, good, "image/png")]).run()
        errors = [e.value for e in at.error]
        heads = [s.value.split(": ")[0] for s in at.subheader]
        expected_heads = [good_name] if entry.expect == REFUSED else [images.plain_name(entry.name), good_name]
        if at.exception or leaks(at):
            problems.append((entry.id, "exception or leak", [e.value for e in at.exception], leaks(at)))
        elif entry.expect == REFUSED and errors != [loader_message(entry)]:
            problems.append((entry.id, "refusal", errors))
        elif entry.expect == ACCEPTED and errors:
            problems.append((entry.id, "accepted", errors))
        elif heads != expected_heads:
            problems.append((entry.id, "not classified", heads))
    assert not problems, problems


# --- (c) zips of class folders ------------------------------------------------------------------------


def _zip_with(extra: dict[str, bytes] | None = None, per_class: int = 10, **kw) -> bytes:
    members = class_folders(per_class=per_class, **kw)
    members.update(extra or {})
    return make_zip(members)


def _patch_members(data: bytes, edit) -> bytes:
    """Apply ``edit(buffer, offset, is_central)`` to every local and central header of a zip."""
    buf = bytearray(data)
    for sig, central in ((b"PK\x03\x04", False), (b"PK\x01\x02", True)):
        at = buf.find(sig)
        while at >= 0:
            edit(buf, at, central)
            at = buf.find(sig, at + 4)
    return bytes(buf)


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in class_folders(per_class=10).items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("cats/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../etc/passwd")
    return buf.getvalue()


def _one_member_flagged_encrypted() -> bytes:
    data = make_zip(class_folders(per_class=11), compression=zipfile.ZIP_STORED)
    first = [True, True]  # patch only the first local and the first central header

    def edit(buf, at, central):
        if first[central]:
            buf[at + (8 if central else 6)] |= 0x01
            first[central] = False
    return _patch_members(data, edit)


def _unknown_method() -> bytes:
    data = make_zip(class_folders(per_class=10), compression=zipfile.ZIP_STORED)
    return _patch_members(data, lambda buf, at, central: buf.__setitem__(
        slice(at + (10 if central else 8), at + (12 if central else 10)), struct.pack("<H", 99)))


def _bad_checksum() -> bytes:
    data = bytearray(make_zip(class_folders(per_class=11), compression=zipfile.ZIP_STORED))
    at = data.index(b"IDAT") + 8
    data[at] ^= 0xFF  # one pixel byte of the first PNG: its CRC-32 in the zip no longer matches
    return bytes(data)


@pytest.mark.parametrize("evil", ["../escape.png", "cats/../../escape.png", "/tmp/cats/escape.png",
                                  "C:/cats/escape.png", "cats\\..\\..\\escape.png", "..\\escape.png"])
def test_zip_path_traversal_refused_and_nothing_written(evil, tmp_path, cnnviz_home, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ZipDatasetError) as err:
        datasets.import_folder_zip(_zip_with({evil: png_bytes((1, 2, 3))}), name="evil")
    assert str(err.value) == (f"The zip contains {evil!r}, a path that points outside the folder; "
                              "such a zip is refused.")
    assert not list(tmp_path.parent.rglob("escape.png"))
    written = [p for p in cnnviz_home.rglob("*") if p.is_file()] if cnnviz_home.exists() else []
    assert [p.name for p in written] in ([], [stored.WRITERS_LOCK])  # at most the empty writers' lock file
    assert not stored.is_present("folder:evil")


@pytest.mark.parametrize("make,reason,outcome", [
    (_symlink_zip, "a symbolic link, not a file", "made"),
    (_one_member_flagged_encrypted, "password-protected (encrypted) in the zip", "made"),
    (_bad_checksum, "damaged inside the zip (it could not be unpacked)", "made"),
    (_unknown_method, "packed with a compression method cnnviz cannot unpack",
     "The zip has no usable images (20 files skipped)."),
], ids=["symlink", "encrypted", "bad-crc", "unknown-method"])
def test_odd_zip_members_are_skipped_with_a_reason(make, reason, outcome):
    data = make()
    if outcome == "made":
        found = folderdata.read_zip(data, image_size=16)
        assert reason in dict(found.skipped).values() and found.class_names == ("cats", "dogs")
    else:
        with pytest.raises(ZipDatasetError) as err:
            folderdata.read_zip(data, image_size=16)
        assert str(err.value).startswith(outcome)


def test_zip_bomb_and_too_many_files(monkeypatch):
    with pytest.raises(ZipDatasetError,
                       match=r"^`dogs/bomb.png` inflates [\d,]+× \(a zip bomb\?\); the zip is refused\.$"):
        folderdata.read_zip(_zip_with({"dogs/bomb.png": bytes(4 * 1024 * 1024)}))
    monkeypatch.setattr(folderdata, "MAX_MEMBERS", 25)
    with pytest.raises(ZipDatasetError, match=r"^The zip has 30 entries; at most 25 are accepted\.$"):
        folderdata.read_zip(_zip_with(per_class=15))


def test_class_folder_problems_have_messages():
    with pytest.raises(ZipDatasetError, match=r"only one class \('cats'\)"):
        folderdata.read_zip(_zip_with(classes=("cats",)))
    # An empty class folder is only a directory entry: it is no class at all.
    with pytest.raises(ZipDatasetError, match=r"only one class \('cats'\)"):
        folderdata.read_zip(make_zip({**class_folders(per_class=10, classes=("cats",)), "dogs/": b""}))
    few = {k: v for k, v in class_folders(per_class=10).items() if not k.startswith("dogs/00") or k < "dogs/002"}
    with pytest.raises(ZipDatasetError, match=r"^Each class needs at least 10 images, but 'dogs' has 2\.$"):
        folderdata.read_zip(make_zip(few))


def test_non_images_are_skipped_and_nested_folders_use_the_nearest_folder():
    junk = {"Pets/2024/cats/notes.txt": b"hi", "Pets/2024/dogs/fake.png": b"\x89PNG\r\n\x1a\n not really",
            "Pets/2024/dogs/bomb.png": next(e.data for e in corpus() if e.name == "bomb.png"),
            "Pets/2024/dogs/cut.jpg": next(e.data for e in corpus() if e.name == "cut-half.jpg"),
            "Pets/2024/dogs/crc.png": next(e.data for e in corpus() if e.name == "crc.png"), ".DS_Store": b"\x00"}
    found = folderdata.read_zip(_zip_with(junk, prefix="Pets/2024/"), image_size=16)
    assert found.class_names == ("cats", "dogs") and found.x.shape == (20, 16, 16, 3)
    reasons = dict(found.skipped)
    assert found.skipped_count == len(junk) and len(reasons) == len(junk)
    assert reasons == {
        "Pets/2024/cats/notes.txt": "not an image file name (.jpg, .jpeg, .png, .gif, .bmp, .webp)",
        "Pets/2024/dogs/fake.png": "not an image Pillow can read (JPEG, PNG, GIF, BMP, WebP)",
        "Pets/2024/dogs/bomb.png": "declares more pixels than cnnviz accepts (a decompression bomb?)",
        "Pets/2024/dogs/cut.jpg": "damaged or unsupported image (cut off)",
        "Pets/2024/dogs/crc.png": "not an image Pillow can read (JPEG, PNG, GIF, BMP, WebP)",
        ".DS_Store": "hidden or macOS metadata file",
    }
    assert all(not LEAKS.search(why) for why in reasons.values())


@pytest.mark.parametrize("data,start", [
    (b"", "This is not a readable zip file"),
    (b"this is just text renamed .zip", "This is not a readable zip file"),
    (next(e.data for e in corpus() if e.name == "notes.jpg"), "This is not a readable zip file"),
    (b"PK\x03\x04" + bytes(40), "This is not a readable zip file"),
])
def test_non_zips_are_refused(data, start):
    with pytest.raises(ZipDatasetError) as err:
        folderdata.read_zip(data)
    assert str(err.value).startswith(start) and not LEAKS.search(str(err.value))


def test_damaged_zips_never_escape_as_other_exceptions():
    """Random byte flips in a small zip (a fixed seed, 300 variants): only ZipDatasetError comes out."""
    base = make_zip(class_folders(per_class=2))
    rng = np.random.default_rng(7)
    for _ in range(300):
        data = bytearray(base)
        for pos in rng.integers(0, len(data), rng.integers(1, 9)):
            data[pos] = int(rng.integers(0, 256))
        try:
            folderdata.read_zip(bytes(data), image_size=16, min_per_class=2)
        except ZipDatasetError as err:
            assert not LEAKS.search(str(err)), str(err)


def test_datasets_page_zip_upload_hostile_then_good(app_path, cnnviz_home, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/datasets.py").run()
    # CIFAR-10 is not on this machine: the page then draws no charts above the zip import (fast reruns).
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    at.select_slider(key="datasets_zip_size").set_value(16).run()
    hostile = [
        ("traversal.zip", _zip_with({"../../escape.png": png_bytes((1, 2, 3))}), "points outside the folder"),
        ("bomb.zip", _zip_with({"dogs/bomb.png": bytes(4 * 1024 * 1024)}), "a zip bomb?"),
        ("photo.zip", next(e.data for e in corpus() if e.name == "notes.jpg"), "This is not a readable zip file"),
        ("one.zip", _zip_with(classes=("cats",)), "only one class"),
        ("odd.zip", _unknown_method(), "The zip has no usable images"),
    ]
    # One run per zip (name, file and click sent together) to keep the test short; the button is
    # enabled once the first file is there.
    at.file_uploader(key="datasets_zip").upload(*hostile[0][:2], "application/zip").run()
    for name, data, says in hostile:
        at.text_input(key="datasets_zip_name").input(name.split(".")[0])
        at.file_uploader(key="datasets_zip").upload(name, data, "application/zip")
        at.button(key="datasets_zip_import").click().run()
        assert not at.exception, (name, at.exception)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and says in errors[0], (name, errors)
        assert not leaks(at), leaks(at)
    assert not any(tmp_path.rglob("escape.png")) and not any(tmp_path.parent.rglob("escape.png"))
    at.text_input(key="datasets_zip_name").input("pets")
    at.file_uploader(key="datasets_zip").upload("pets.zip", _zip_with({"cats/notes.txt": b"x"}), "application/zip")
    at.button(key="datasets_zip_import").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("Made folder:pets: 16 training and 4 test images") for s in at.success)
    assert any("`cats/notes.txt`: not an image file name" in i.value for i in at.info)


# --- (d) hyperparameters ------------------------------------------------------------------------------
# tests/models/test_config.py and tests/training/test_loop.py already check the range of every setting with exact
# messages; these are the hostile values they leave out: NaN, infinity, strings, None, huge numbers.


@pytest.mark.parametrize("changes,message", [
    ({"learning_rate": float("nan")}, "learning rate must be above 0 and at most 1, got nan"),
    ({"learning_rate": float("inf")}, "learning rate must be above 0 and at most 1, got inf"),
    ({"learning_rate": "0.01"}, "learning rate must be above 0 and at most 1, got '0.01'"),
    ({"dropout": float("nan")}, "dropout must be at least 0 and below 1, got nan"),
    ({"dropout": -0.0001}, "dropout must be at least 0 and below 1, got -0.0001"),
    ({"filters": 10**12}, "got 1000000000000"),
    ({"filters": 16.0}, "got 16.0"),
    ({"filters": None}, "got None"),
    ({"kernel_size": True}, "got True"),
    ({"conv_layers": -1}, "got -1"),
    ({"activation": ["relu"]}, "got ['relu']"),
    ({"optimizer": "adam; import os"}, "got 'adam; import os'"),
    ({"batch_norm": "yes"}, "batch norm must be true or false, got 'yes'"),
    ({"lr_decay": float("-inf")}, "learning-rate decay must be from 0 to 1, got -inf"),
])
def test_model_config_refuses_hostile_values(changes, message):
    from cnnviz.models.config import ModelConfig

    with pytest.raises(InvalidArgument) as err:
        ModelConfig(**changes).validate((32, 32, 3), 10)
    assert message in str(err.value)
    with pytest.raises(InvalidArgument):
        ModelConfig.from_dict(changes).validate((32, 32, 3), 10)


@pytest.mark.parametrize("shape,classes,message", [
    ((32, 32, 3), 10**6, "number of classes must be a whole number from 2 to 1000, got 1000000"),
    ((32, 32, 3), 2.5, "got 2.5"),
    ((-32, 32, 3), 10, "got (-32, 32, 3)"),
    ((32, 32), 10, "got (32, 32)"),
])
def test_model_config_refuses_hostile_shapes(shape, classes, message):
    from cnnviz.models.config import ModelConfig

    with pytest.raises(InvalidArgument) as err:
        ModelConfig().validate(shape, classes)
    assert message in str(err.value)


@pytest.mark.parametrize("changes,message", [
    ({"validation_fraction": float("nan")}, "validation fraction must be in [0, 1), got nan"),
    ({"validation_fraction": "lots"}, "validation fraction must be in [0, 1), got 'lots'"),
    ({"validation_fraction": None}, "validation fraction must be in [0, 1), got None"),
    ({"epochs": 10**9}, "epochs must be 1..1000, got 1000000000"),
    ({"epochs": 2.0}, "epochs must be 1..1000, got 2.0"),
    ({"batch_size": -32}, "batch size must be 1..8192, got -32"),
    ({"seed": 2**31}, "seed must be a whole number 0..2147483647, got 2147483648"),
    ({"scaling": ["unit"]}, "scaling must be one of unit, symmetric, standardize, got ['unit']"),
    ({"dataset": ""}, "dataset must be a dataset name, got ''"),
    ({"train_size": 1.5}, "train_size must be a positive whole number or empty, got 1.5"),
    ({"augment": {"rotation": "lots"}}, "augmentation rotation must be a number, got 'lots'"),
    ({"augment": {"zoom": None}}, "augmentation zoom must be a number, got None"),
    ({"augment": {"rotation": float("nan")}}, "rotation must be 0..180 degrees, got nan"),
    ({"augment": {"translate": float("inf")}}, "translate must be 0..0.5 (a fraction of the image), got inf"),
])
def test_train_spec_refuses_hostile_values(changes, message):
    pass

    saved = {**TrainSpec(model=models_config.ModelConfig()).to_dict(), **changes}
    with pytest.raises(InvalidArgument) as err:  # a saved or submitted config: refused when parsed or validated
        TrainSpec.from_dict(saved).validate()
    assert str(err.value) == message
