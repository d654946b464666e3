"""The picture sources (sample / upload / camera) of every page that takes pictures, and the hostile-upload
corpus fed as camera bytes: the camera goes through the same safe loader as an upload, so a refused file is
refused with the loader's own message (naming it "camera photo"), an accepted one is drawn, and the page
recovers with the next good picture."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import caches
from cnnviz.app.imagesource import CAMERA, CAMERA_NAME, CAMERA_NOTE
from cnnviz.data.images import ImageError, load_image
from tests.support.hostile_corpus import corpus, representative, valid_upload
from tests.support.pages import open_page
from tests.test_hostile_uploads import leaks


def _helper_app():
    import streamlit as st

    from cnnviz.app import imagesource
    from cnnviz.errors import InvalidArgument

    choice = imagesource.source_radio("Image", ["Sample"], key="src")
    got = imagesource.own_pictures(choice, upload_key="up", camera_key="cam", upload_label="Your picture",
                                   empty_note="Nothing yet.", multiple=st.session_state.get("many", False))
    st.session_state["got"] = got
    try:
        imagesource.source_radio("Image", ["Camera"], key="bad")
    except InvalidArgument as err:
        st.session_state["refused"] = str(err)


def test_the_source_helper_gives_bytes_with_names():
    at = AppTest.from_function(_helper_app).run()
    assert at.radio(key="src").options == ["Sample", "Upload", CAMERA]
    assert at.session_state["got"] is None and not at.info
    assert at.session_state["refused"] == ("the page's own sources must not be named 'Upload' or 'Camera', "
                                           "got ['Camera']")
    at.radio(key="src").set_value("Upload").run()
    assert at.session_state["got"] == [] and [i.value for i in at.info] == ["Nothing yet."]
    at.file_uploader(key="up").upload("mine.png", b"png bytes", "image/png").run()
    [picture] = at.session_state["got"]
    assert (picture.name, picture.data) == ("mine.png", b"png bytes") and not at.info
    at.radio(key="src").set_value(CAMERA).run()
    assert at.session_state["got"] == [] and [i.value for i in at.info] == [CAMERA_NOTE]
    at.camera_input(key="cam").set_value(("image.jpg", b"jpeg bytes", "image/jpeg")).run()
    [picture] = at.session_state["got"]
    assert (picture.name, picture.data) == (CAMERA_NAME, b"jpeg bytes")


def _outcome(data: bytes, mode: str) -> str | None:
    """The loader's refusal of these bytes as a camera photo, or None when it accepts them."""
    try:
        load_image(data, name=CAMERA_NAME, mode=mode)
    except ImageError as err:
        return str(err)
    return None


def _camera(at: AppTest, key: str, data: bytes) -> AppTest:
    return at.camera_input(key=key).set_value(("image.jpg", data, "image/jpeg")).run()


def _feed(at: AppTest, *, key: str, chart: str, entries, mode: str) -> list:
    """Each entry's bytes as a camera shot; a good shot after each refusal. The problems found."""
    good = valid_upload()[1]
    problems = []
    for entry in entries:
        _camera(at, key, entry.data)
        refusal = _outcome(entry.data, mode)
        errors = [e.value for e in at.error]
        charts = {c.key for c in at.get("plotly_chart")}
        if at.exception or leaks(at):
            problems.append((entry.id, "exception or leak", [e.value for e in at.exception], leaks(at)))
        elif refusal is not None:
            if errors != [refusal] or chart in charts or f"`{CAMERA_NAME}`" not in refusal:
                problems.append((entry.id, "refusal", errors))
            _camera(at, key, good)
            if at.exception or at.error or chart not in {c.key for c in at.get("plotly_chart")}:
                problems.append((entry.id, "no recovery", [e.value for e in at.error]))
        else:
            captions = " ".join(c.value for c in at.caption)
            if errors or chart not in charts or (entry.says and entry.says not in captions):
                problems.append((entry.id, "accepted", errors, captions[:300]))
    return problems


def test_convolution_camera_takes_the_whole_corpus(app_path):
    at = open_page(app_path, "app_pages/convolution.py")
    at.select_slider(key="conv_max_side").set_value(32).run()
    at.multiselect(key="conv_modes").set_value([]).run()
    at.radio(key="conv_source").set_value(CAMERA).run()
    assert [i.value for i in at.info] == [CAMERA_NOTE]
    entries = [e for e in corpus() if e.kind != "name"]  # the camera's name is always the same
    assert {e.expect for e in entries} == {"refused", "accepted"}
    assert not _feed(at, key="conv_camera", chart="conv_image_fig", entries=entries, mode="RGB")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    from tests.support.runs import train_runs
    from tests.support.specs import FLAT_MODEL, page_spec

    home = tmp_path_factory.mktemp("camera-runs")
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL, epochs=1)})


@pytest.mark.slow
@pytest.mark.parametrize("page,prefix,chart", [("app_pages/inside.py", "inside", "inside_probs"),
                                                ("app_pages/explain.py", "explain", "explain_image")])
def test_run_pages_camera_survives_representative_entries(app_path, cnnviz_home, stored, page, prefix, chart):
    from tests.support.runs import copy_runs

    copy_runs(stored[0], cnnviz_home)
    at = open_page(app_path, page)
    at.radio(key=f"{prefix}_source").set_value(CAMERA).run()
    assert CAMERA_NOTE in [i.value for i in at.info]
    _camera(at, f"{prefix}_camera", valid_upload()[1])
    assert f"{CAMERA_NAME} (PNG)" in " ".join(c.value for c in at.caption)  # named as a camera photo
    # digits runs are grey: the loader reads in "L" mode
    assert not _feed(at, key=f"{prefix}_camera", chart=chart, entries=representative(), mode="L")


@pytest.mark.slow
def test_pretrained_camera_survives_representative_entries(app_path, monkeypatch):
    from cnnviz.inspect import pretrained
    from tests.support.models import tiny_imagenet_model

    clf = pretrained.SharedClassifier(tiny_imagenet_model(), weights_source="tiny test weights")
    monkeypatch.setattr(caches, "resnet50", lambda: clf)
    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/pretrained.py").run()
    at.radio(key="pre_source").set_value(CAMERA).run()
    problems = []
    for entry in representative():
        _camera(at, "pre_camera", entry.data)
        refusal = _outcome(entry.data, "RGB")
        heads = [s.value.split(": ")[0] for s in at.subheader]
        if at.exception or leaks(at):
            problems.append((entry.id, "exception or leak", leaks(at)))
        elif refusal is not None and ([e.value for e in at.error] != [refusal] or heads):
            problems.append((entry.id, "refusal", [e.value for e in at.error], heads))
        elif refusal is None and (at.error or heads != [CAMERA_NAME]):
            problems.append((entry.id, "accepted", [e.value for e in at.error], heads))
    assert not problems, problems
