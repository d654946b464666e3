"""Offline start (issue 9): no network, no CIFAR-10, no ResNet50 weights. Every page opens and says
what is missing and how to get it, a download attempt fails with a message, and the bundled digits
data goes all the way: train, evaluate, look inside, rotate."""

from __future__ import annotations

import socket

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz import catalog
from cnnviz.app import jobs as appjobs
from tests.support.pages import run_until, start_page_training


pytestmark = pytest.mark.slow

LOOPBACK = ("127.0.0.1", "::1", "localhost")


class NetworkBlocked(OSError):
    pass


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No name resolution and no connection beyond loopback; an empty Keras cache; no weights file set."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect
    attempts: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK:
            attempts.append(str(host))
            raise socket.gaierror(socket.EAI_NONAME, f"offline test: no name resolution for {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            attempts.append(str(address[0]))
            raise NetworkBlocked(f"offline test: no route to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-empty"))
    monkeypatch.delenv("CNNVIZ_RESNET50_WEIGHTS", raising=False)
    return attempts


def _open(app_path: str, page: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=240).run()
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    return at


def _text(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    return "\n".join(p.value for p in parts)


def test_every_page_opens_offline_and_says_what_is_missing(app_path, cnnviz_home, offline):
    seen = {}
    for page in catalog.PAGES:
        at = _open(app_path, page.path)
        text = _text(at)
        assert "Traceback" not in text, (page.path, text)
        seen[page.path] = (at, text)

    home = seen["app_pages/home.py"][1]
    assert "python -m cnnviz data download cifar10" in home  # what is missing, and the command that gets it
    assert "python -m cnnviz download resnet50" in home
    for page in ("app_pages/evaluate.py", "app_pages/inside.py", "app_pages/robustness.py"):
        assert "No trained runs yet" in seen[page][1]
    pretrained_at, pretrained = seen["app_pages/pretrained.py"]
    assert "ImageNet weights are not on this machine" in pretrained
    assert "python -m cnnviz download resnet50" in pretrained
    assert not pretrained_at.exception

    # The Datasets page offers CIFAR-10's download; offline, pressing it gives a message, not a crash.
    at = seen["app_pages/datasets.py"][0]
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    assert any("CIFAR-10 is not on this machine yet" in w.value for w in at.warning)
    at.button(key="datasets_download").click().run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "Traceback" not in errors and "looks offline" in errors, errors
    assert "python -m cnnviz data import cifar10 PATH" in errors  # and what to do instead
    assert offline, "the download never tried the network: the block proved nothing"


def _chart_keys(at: AppTest) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def test_digits_end_to_end_offline(app_path, cnnviz_home, offline):
    at = _open(app_path, "app_pages/build_train.py")
    assert at.selectbox(key="train_dataset").value == "digits"  # the offline default
    tag = f"{at.selectbox(key='train_preset').value}_digits"
    job_id = start_page_training(at, tag, epochs=1, train_size=120, test_size=40, batch=16)
    status = appjobs.training_jobs().wait(job_id, timeout=240)
    assert status.state == "finished", status
    run_until(at, lambda at: any("test accuracy" in s.value for s in at.success))

    at.switch_page("app_pages/evaluate.py").run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert at.selectbox(key="eval_run").value == status.run_id
    assert {m.label: m.value for m in at.metric}["Test images"] == "40"
    assert {"eval_cm", "eval_per_class"} <= _chart_keys(at)

    at.switch_page("app_pages/inside.py").run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert {"inside_probs", "inside_maps"} <= _chart_keys(at)

    at.switch_page("app_pages/robustness.py").run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert "robust_angle_chart" in _chart_keys(at)
