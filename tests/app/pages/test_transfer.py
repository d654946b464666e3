"""AppTest: the Transfer learning page (weights status, summary, the frozen + unfrozen pair as two runs)."""

from __future__ import annotations

import dataclasses
import time

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz import weights
from cnnviz.app import jobs as appjobs
from cnnviz.app import state
from cnnviz.models import transfer
from cnnviz.models.backbones import BACKBONES
from cnnviz.runs import store as runs
from cnnviz.runs.compare import differing_settings
from tests.support.http import loopback_server, md5, refused_url
from tests.support.pages import shown


pytestmark = pytest.mark.slow


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    for b in BACKBONES.values():
        monkeypatch.delenv(weights.backbone_file(b.name).env, raising=False)


def _page(app_path) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/transfer.py").run()
    assert not at.exception, at.exception
    return at


def test_page_without_weights_says_how_to_get_them(app_path, no_weights):
    at = _page(app_path)
    assert at.title[0].value == "Transfer learning"
    assert at.selectbox(key="tl_dataset").value == "digits"
    assert at.radio(key="tl_backbone").value == "mobilenetv2"
    warning = at.warning[0].value
    assert "MobileNetV2's ImageNet weights are not on this machine" in warning
    assert "python -m cnnviz download mobilenetv2 --alpha 0.35 --size 96" in warning
    assert at.button(key="tl_train").disabled and at.button(key="tl_train_both").disabled
    summary = at.dataframe[0].value
    assert list(summary["name"]) == ["image", "to_pixels", "gray_to_rgb", "resize", "mobilenet_preprocess",
                                     "mobilenetv2_backbone", "head_pool", "head_dropout", "head_output"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Trained"] == f"{1281 * 10:,}"  # frozen: only the head
    assert "Expected time per epoch" in metrics
    at.toggle(key="tl_frozen").set_value(False).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Trained"] == f"{2 * 396_128 - 410_208 + 1281 * 10:,}"  # batch norms stay frozen
    at.radio(key="tl_backbone").set_value("resnet50").run()
    assert "ResNet50's ImageNet weights are not on this machine" in at.warning[0].value
    assert "python -m cnnviz download resnet50-notop" in at.warning[0].value


def test_a_value_outside_its_range_disables_both_trainings(app_path, no_weights):
    at = _page(app_path)
    at.radio(key="tl_weights").set_value("none").run()
    assert not at.button(key="tl_train").disabled
    at.number_input(key="tl_epochs").set_value(60).run()  # Streamlit's own check would train 3 epochs
    assert [e.value for e in at.error] == ["Epochs must be from 1 to 50; the box shows 60."]
    assert at.button(key="tl_train").disabled and at.button(key="tl_train_both").disabled


def test_train_frozen_and_unfrozen_lands_two_runs(app_path, no_weights):
    at = _page(app_path)
    at.radio(key="tl_weights").set_value("none").run()
    assert "NOT transfer learning" in at.warning[0].value
    at.select_slider(key="tl_size_7").set_value(32).run()  # ANY_SIZES: 7 choices without ImageNet weights
    at.number_input(key="tl_epochs").set_value(1).run()
    at.number_input(key="tl_train_size_digits").set_value(40).run()
    at.number_input(key="tl_test_size_digits").set_value(20).run()
    assert not at.button(key="tl_train_both").disabled
    at.button(key="tl_train_both").click().run()
    assert not at.exception, at.exception
    jobs = appjobs.training_jobs()
    ids = [at.session_state[k] for k in state.TRANSFER_JOB_KEYS.values()]
    for job_id in ids:
        status = jobs.wait(job_id, timeout=300)
        assert status.state == "finished", status.error
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the panels notice the end at their next refresh
        at.run()
        if len(at.success) >= 2:
            break
        time.sleep(0.5)
    assert not at.exception, at.exception
    assert sum("Finished: run" in s.value for s in at.success) == 2
    listed = runs.list_runs()
    assert len(listed) == 2
    assert sorted(r.config["model"]["frozen"] for r in listed) == [False, True]
    assert differing_settings(listed) == ["model.frozen", "model.learning_rate"]


def test_vgg16_shows_its_expected_epoch_time_frozen_and_unfrozen(app_path, no_weights):
    at = _page(app_path)
    at.radio(key="tl_backbone").set_value("vgg16").run()
    assert not at.exception, at.exception
    cfg = transfer.config(backbone="vgg16", frozen=True, weights="imagenet", image_size=96)
    fitted, times = appjobs.transfer_epoch_seconds(cfg, 1000, 0.25)
    assert fitted == 750 and None not in times.values()
    metrics = {m.label: m for m in at.metric}
    assert metrics["Expected time per epoch"].value == f"≈{times[True]:,.0f} s"
    assert "200×200 (seed 004's presets)" in metrics["Expected time per epoch"].proto.help
    assert f"Frozen ≈{times[True]:,.0f} s, unfrozen ≈{times[False]:,.0f} s per epoch of 750 images" in \
        " ".join(c.value for c in at.caption)


def _recorded_download(monkeypatch) -> list:
    """Every ``progress(done, total)`` the page's weights download makes."""
    moves = []
    real = weights.download_weights
    monkeypatch.setattr(weights, "download_weights", lambda wf, progress=None, **kw: real(
        wf, progress=lambda done, total: moves.append((done, total)) or progress(done, total), **kw))
    return moves


def test_download_button_fetches_the_weights_with_a_moving_bar(app_path, no_weights, monkeypatch, cnnviz_home):
    payload = b"no top" * 300_000  # 1.8 MB: two blocks
    moves = _recorded_download(monkeypatch)
    with loopback_server({"/notop.h5": payload}) as mirror:
        monkeypatch.setattr(weights, "RESNET50_NOTOP", dataclasses.replace(
            weights.RESNET50_NOTOP, url=mirror.base + "/notop.h5", md5=md5(payload)))
        at = _page(app_path)
        at.radio(key="tl_backbone").set_value("resnet50").run()
        at.button(key="tl_download").click().run()
    assert not at.exception and not at.error
    path = cnnviz_home / "weights" / weights.RESNET50_NOTOP.file
    assert path.read_bytes() == payload and mirror.hits == ["/notop.h5"]
    assert moves == [(0, len(payload)), (2**20, len(payload)), (len(payload), len(payload))]
    assert [s.value for s in at.success] == [f"ImageNet weights present: {path}"]
    assert not at.get("progress")  # gone with the rerun that shows the weights


def test_a_failed_download_says_why_and_leaves_no_bar(app_path, no_weights, monkeypatch):
    moves = _recorded_download(monkeypatch)
    monkeypatch.setattr(weights, "RESNET50_NOTOP", dataclasses.replace(weights.RESNET50_NOTOP, url=refused_url()))
    at = _page(app_path)
    at.radio(key="tl_backbone").set_value("resnet50").run()
    at.button(key="tl_download").click().run()
    assert not at.exception
    assert any("could not download http://127.0.0.1" in shown(e.value) and "looks offline" in e.value for e in at.error)
    assert moves == []  # refused before the first byte
    assert not at.get("progress") and not any("Connecting" in m.value for m in at.markdown)
