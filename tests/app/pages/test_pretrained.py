"""The Pretrained ResNet50 page: with a small stand-in model, with uploads, offline, and online without weights."""

from __future__ import annotations

import dataclasses

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz import weights
from cnnviz.app import caches, downloads
from cnnviz.data import samples
from cnnviz.inspect import imagenet, pretrained
from tests.support.http import loopback_server, md5
from tests.support.images import photo, png_bytes
from tests.support.models import tiny_imagenet_model
from tests.support.progress import record_progress


PAGE = "app_pages/pretrained.py"
TIMEOUT = 180  # TensorFlow on a busy 2-core machine


@pytest.fixture(scope="module")
def tiny_clf():
    return pretrained.SharedClassifier(tiny_imagenet_model(), weights_source="tiny test weights")


@pytest.fixture
def patched(monkeypatch, tiny_clf):
    """The page's cached loader returns the tiny model instead of loading ResNet50."""
    monkeypatch.setattr(caches, "resnet50", lambda: tiny_clf)
    return tiny_clf


def _open_page(app_path) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT).run()
    assert not at.exception
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    return " ".join(parts)


def test_sample_photos_are_classified_with_charts(app_path, patched):
    at = _open_page(app_path)
    assert at.title[0].value == "Pretrained ResNet50"
    assert not at.error
    heads = [s.value for s in at.subheader]
    assert [h.split(":")[0] for h in heads] == ["china.jpg", "flower.jpg"]
    results = pretrained.classify(patched, list(samples.sample_photos().values()), top=5)
    for head, result in zip(heads, results):  # the page shows what the backend computes
        label, prob = result.top[0][1], result.top[0][2]
        assert head.endswith(f"{label.replace('_', ' ')} ({prob:.1%})")
    charts = at.get("plotly_chart")
    assert len(charts) >= 6  # top-k, Grad-CAM and preprocessing per photo (+ stage chart)
    assert "tiny test weights" in _texts(at)
    # The model tab: facts of the model actually loaded.
    facts = imagenet.model_facts(patched.model)
    assert [m.value for m in at.metric][:2] == [str(facts["conv_layers"]), str(facts["weighted_depth"])]
    # CIFAR-10 is not in the empty CNNVIZ_HOME: an info, not an error.
    assert at.info and not at.exception


def test_fewer_classes_and_one_sample(app_path, patched):
    at = _open_page(app_path)
    at.multiselect(key="pre_samples").set_value(["flower.jpg"])
    at.slider(key="pre_top").set_value(3)
    at.run()
    assert not at.exception and not at.error
    assert [s.value.split(":")[0] for s in at.subheader] == ["flower.jpg"]


def test_listing_more_or_fewer_classes_does_not_run_the_network_again(app_path, patched, monkeypatch):
    """The model is the class's one shared ResNet50 (one lock) and its Grad-CAM costs about a second per photo: the
    'Classes to list' slider only changes how many of the computed classes are shown."""
    from tests.support.pages import figure

    calls, gradcam = [], patched.gradcam
    monkeypatch.setattr(patched, "gradcam", lambda *a, **kw: calls.append(len(a[0])) or gradcam(*a, **kw))
    at = _open_page(app_path)
    assert sum(calls) == 2  # the two sample photos, once
    at.slider(key="pre_top").set_value(3).run()
    assert not at.exception and not at.error
    assert sum(calls) == 2
    results = pretrained.classify(patched, list(samples.sample_photos().values()), top=3)
    for i, result in enumerate(results):
        bars = figure(at, f"pre_top_{i}")
        assert bars["layout"]["title"]["text"] == "Top 3 of 1,000 classes"
        assert list(bars["data"][0]["customdata"]) == [wnid for wnid, _, _ in result.top][::-1]


def test_grad_cam_moves_a_bar_photo_by_photo(app_path, patched, monkeypatch):
    """ResNet50's Grad-CAM costs about a second per photo (12 photos: 16 s on the 2-core machine): a bar that moves
    with each photo, a spinner only before."""
    moved = record_progress(monkeypatch, pretrained, "classify")  # the page's own bar, wrapped to see it move
    at = _open_page(app_path)
    assert not at.exception and not at.error
    assert moved == [(1, 2), (2, 2)]  # the two sample photos
    assert len([s for s in at.subheader]) == 2


def test_uploads_good_and_bad(app_path, patched):
    at = _open_page(app_path)
    at.radio(key="pre_source").set_value("Upload").run()
    assert not at.exception
    at.file_uploader(key="pre_upload").set_value([
        ("mine.png", png_bytes(photo(120, 160)), "image/png"),
        ("broken.png", b"\x89PNG\r\n\x1a\n broken", "image/png"),
    ]).run()
    assert not at.exception
    assert [s.value.split(":")[0] for s in at.subheader] == ["mine.png"]
    from cnnviz.data.images import ImageError, load_image

    with pytest.raises(ImageError) as err:
        load_image(b"\x89PNG\r\n\x1a\n broken", name="broken.png")
    assert [e.value for e in at.error] == [str(err.value)]


def _held_uploads(monkeypatch):
    """``held()``: the names of the uploaded files the server holds after the last ``run()`` (each AppTest run has an
    upload manager of its own, given the files the browser still lists)."""
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager

    managers = []
    real_add = MemoryUploadedFileManager.add_file
    monkeypatch.setattr(MemoryUploadedFileManager, "add_file",
                        lambda self, session_id, file: managers.append(self) or real_add(self, session_id, file))
    return lambda: sorted(rec.name for recs in managers[-1].file_storage.values() for rec in recs.values())


def test_only_the_first_twelve_uploads_are_read_and_kept(app_path, patched, monkeypatch):
    # A student who dropped 300 photos held all 300 in the server's memory for their session, while the page read
    # 12; the uploader has no cap on how many files it takes (streamlit 1.67), so the page lets the others go.
    held = _held_uploads(monkeypatch)
    at = _open_page(app_path)
    at.radio(key="pre_source").set_value("Upload").run()
    names = [f"p{i:02d}.png" for i in range(pretrained.MAX_IMAGES + 2)]
    at.file_uploader(key="pre_upload").set_value([(n, png_bytes(photo(16, 16, seed=i)), "image/png")
                                                  for i, n in enumerate(names)]).run()
    assert not at.exception
    assert held() == names[:12]
    assert not at.error
    assert [s.value.split(":")[0] for s in at.subheader] == names[:pretrained.MAX_IMAGES]
    assert [w.value for w in at.warning] == [
        "Only the first 12 pictures are used: the other 2 were not read, and the server does not keep them. To look "
        "at others, remove pictures from the list above and add the ones you want, at most 12 at a time."]
    # Session state keeps the uploader's files until the browser next sends its state: theirs are let go now.
    assert [len(f.getvalue()) > 0 for f in at.session_state["pre_upload"]] == [True] * 12 + [False] * 2


@pytest.mark.parametrize("away", ["Sample photos", "Home"])
def test_photos_are_let_go_once_the_student_turns_to_another_source_or_page(app_path, patched, monkeypatch, away):
    # The uploader's state goes when a run does not draw it, and the browser shows it empty when it is back, but
    # its files stayed in the server's memory until the session ended: upload, look at the samples (or another
    # page), upload again, and each round's photos were held.
    held = _held_uploads(monkeypatch)
    at = _open_page(app_path)
    at.radio(key="pre_source").set_value("Upload").run()
    at.file_uploader(key="pre_upload").set_value([(f"p{i}.png", png_bytes(photo(16, 16, seed=i)), "image/png")
                                                  for i in range(2)]).run()
    assert not at.exception and held() == ["p0.png", "p1.png"]
    if away == "Home":
        at.switch_page("app_pages/home.py").run()
    else:
        at.radio(key="pre_source").set_value(away).run()
    assert not at.exception
    assert held() == []


def test_camera_photo(app_path, patched):
    import io

    from PIL import Image

    at = _open_page(app_path)
    at.radio(key="pre_source").set_value("Camera").run()
    buf = io.BytesIO()
    Image.fromarray(photo(96, 128)).save(buf, format="JPEG")
    at.camera_input(key="pre_camera").set_value(("shot.jpg", buf.getvalue(), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert [s.value.split(":")[0] for s in at.subheader] == ["camera photo"]


def test_cifar_bridge_with_images(app_path, patched, monkeypatch):
    pictures = [(photo(32, 32, seed=i), name) for i, name in enumerate(["airplane", "automobile"])]
    monkeypatch.setattr(caches, "cifar_bridge_images", lambda count, seed: pictures)
    calls, gradcam = [], patched.gradcam  # Grad-CAM costs about a second per photo on the class's one model
    monkeypatch.setattr(patched, "gradcam", lambda *a, **kw: calls.append(len(a[0])) or gradcam(*a, **kw))
    at = _open_page(app_path)
    assert not at.exception
    assert sum(calls) == 2  # the two sample photos' heat maps; the bridge draws none, so computes none
    captions = [c for img in at.image for c in img.captions]
    assert captions == ["CIFAR-10 says: airplane", "CIFAR-10 says: automobile"]
    results = pretrained.classify(patched, [img for img, _ in pictures], top=3)
    shown = " ".join(m.value for m in at.markdown)
    for result in results:
        for _, label, p in result.top:
            assert f"{label.replace('_', ' ')}: {p:.1%}" in shown


def test_offline_page_explains_and_still_shows_the_model(app_path, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(weights.RESNET50.env, raising=False)
    monkeypatch.setattr(downloads, "_resnet50_failure", {})
    with loopback_server({}) as mirror:  # a server without the file: every download fails
        monkeypatch.setattr(weights, "RESNET50", dataclasses.replace(weights.RESNET50, url=mirror.base + "/resnet50.h5"))
        at = _open_page(app_path)
        # Students get one calm line; the teacher's details (URL, error, paths) wait in an expander.
        assert not at.error
        assert at.info[0].value.startswith("ResNet50's ImageNet weights are not installed on this server yet")
        assert mirror.base not in at.info[0].value
        [details] = [e for e in at.expander if e.label == "For the teacher: how to install the weights"]
        error = details.markdown[0]
        assert error.value.startswith("ResNet50's ImageNet weights are not on this machine")
        assert "`python -m cnnviz download resnet50`" in error.value
        assert f"downloading it failed: could not download {mirror.base}/resnet50.h5: the server answered HTTP 404 (Not Found)." in error.value
        assert any("need ResNet50's ImageNet weights" in i.value for i in at.info)
        assert not at.get("progress")  # the failed download's bar is gone
        # The facts come from the architecture alone.
        assert [m.value for m in at.metric] == ["53", "50", "25,636,712", "224×224×3"]
        assert "49 convolutions and 1 dense" in _texts(at)
        # A rerun inside the retry window says the same without asking the network again.
        at.run()
        assert [e.markdown[0].value for e in at.expander if e.label.startswith("For the teacher")] == [error.value]
        assert mirror.hits == ["/resnet50.h5"]



def test_online_without_weights_the_page_downloads_them_with_a_bar_once(app_path, monkeypatch, keras_home,
                                                                        cnnviz_home, tiny_clf):
    """The ~100 MB download happens on the page with a moving bar, not inside the cached model; the next
    rerun loads the kept model without a bar or a request."""
    payload = b"ResNet50 weights" * 100_000  # 1.6 MB: the bar moves
    loads = []

    def load(*, download, progress):  # the shared model: the weights from disk (checked as ResNet50's), the tiny network
        loads.append(download)
        weights.resolve_weights(weights.RESNET50)
        for done, words in enumerate(("starting TensorFlow", "building the network's layers", "reading", "ready")):
            progress(done, 3, words)  # the note and bar of the load, on the page
        return tiny_clf

    monkeypatch.setattr(pretrained, "load_resnet50", load)
    monkeypatch.setattr(downloads, "_resnet50_failure", {})
    moves = []
    real = weights.download_weights
    monkeypatch.setattr(weights, "download_weights", lambda wf, progress, **kw: real(
        wf, progress=lambda done, total: moves.append((done, total)) or progress(done, total), **kw))
    with loopback_server({"/resnet50.h5": payload}) as mirror:
        monkeypatch.setattr(weights, "RESNET50", dataclasses.replace(
            weights.RESNET50, url=mirror.base + "/resnet50.h5", md5=md5(payload)))
        at = _open_page(app_path)
        assert (cnnviz_home / "weights" / weights.RESNET50.file).read_bytes() == payload
        assert moves == [(0, len(payload)), (2**20, len(payload)), (len(payload), len(payload))]
        # Once the model is ready, one line instead of the download's "Done" bar and the load's note.
        assert not at.get("progress")
        assert [s.value for s in at.success] == [
            "ResNet50's ImageNet weights are downloaded and loaded: ResNet50 is ready."]
        assert not any(i.value == caches.RESNET50_FIRST_LOAD for i in at.info)
        assert "tiny test weights" in _texts(at) and not any("not installed" in i.value for i in at.info)
        assert loads == [False, False]  # missing, then loaded: the cached model never downloads
        at.run()
        assert not at.get("progress") and not at.success
        assert mirror.hits == ["/resnet50.h5"] and loads == [False, False]


def test_the_first_load_from_the_disk_leaves_nothing_behind_once_ready(app_path, monkeypatch, tiny_clf):
    """The load's note and bar of steps (tests/app/test_downloads.py follows them) are gone once the model is
    ready; the next visit takes the kept model without loading it again."""
    steps = []

    def load(*, download, progress):
        for step in ((0, 3, "starting TensorFlow"), (1, 3, "building the network's layers"),
                     (2, 3, "reading its 103 MB of ImageNet weights from the disk"), (3, 3, "ready")):
            progress(*step)
            steps.append(step)
        return tiny_clf

    monkeypatch.setattr(pretrained, "load_resnet50", load)
    at = _open_page(app_path)
    assert len(steps) == 4 and not at.error
    assert not at.get("progress") and not any(i.value == caches.RESNET50_FIRST_LOAD for i in at.info)
    assert not at.success and "tiny test weights" in _texts(at)
    at.run()
    assert len(steps) == 4 and "tiny test weights" in _texts(at)
