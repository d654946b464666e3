"""The Explain page in real chromium on a tiny trained run: every tab draws its chart with no error box,
a click on the embeddings scatter shows that test image, the neuron animation plays (its slider moves),
and the camera is offered where an upload is (Convolution), taking a shot from chromium's fake camera."""

from __future__ import annotations

import re
import time

import pytest

from cnnviz.training import loop as training
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, running_app
from tests.e2e.streamlit_page import assert_no_errors, screenshot, wait_idle
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.e2e

TABS = ("Saliency", "Occlusion", "Fooling the network", "One neuron", "What a filter looks for", "Embeddings")
CHART_OF_TAB = {"Saliency": "explain_saliency", "Occlusion": "explain_occlusion",
                "Fooling the network": "explain_adversarial", "One neuron": "explain_neuron",
                "What a filter looks for": "explain_actmax_filters", "Embeddings": "explain_emb_trained"}
# chromium's own test camera (a moving pattern), allowed without a permission prompt
CLASSES_JS = "e => [...new Set([...e.querySelectorAll('[class]')].map(n => n.getAttribute('class')))]"
CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def explain_server(tmp_path_factory):
    """A server whose CNNVIZ_HOME holds one tiny digits run (one conv layer of 4 filters, 1 epoch)."""
    home = tmp_path_factory.mktemp("e2e-explain")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        training.train(page_spec(FLAT_MODEL, epochs=1))
    with running_app(home, log_name="streamlit-explain.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(playwright_driver):
    """This module's chromium: the shared one's arguments plus the fake camera (launched by the session's
    one Playwright)."""
    launched = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=[*CHROMIUM_ARGS, *CAMERA_ARGS])
    yield launched
    launched.close()


@pytest.fixture
def camera_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"])
    yield context.new_page()
    context.close()


def _chart(page, key: str):
    """The drawn Plotly chart of a keyed ``st.plotly_chart`` (Streamlit gives keyed elements a ``st-key-`` class)."""
    return page.locator(f".st-key-{key} .js-plotly-plot")


def _no_error_box(page) -> None:
    assert_no_errors(page)
    boxes = page.locator('[data-testid="stAlertContentError"]')
    assert boxes.count() == 0, boxes.first.inner_text()


def _open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    wait_idle(page, timeout=120)


def test_every_explain_tab_draws_and_answers(explain_server, page):
    url = explain_server
    page.goto(url)  # through the root first, so app.py's navigation is registered
    wait_idle(page, timeout=180)
    page.goto(f"{url}/explain")
    wait_idle(page, timeout=180)
    _no_error_box(page)
    for tab in TABS:
        _open_tab(page, tab)
        _no_error_box(page)
        chart = _chart(page, CHART_OF_TAB[tab])
        chart.locator(".main-svg").first.wait_for(timeout=60_000)
        assert chart.locator("g.trace, g.hm, g.im, .layer-above image").count() >= 1, tab  # scatter, heat map, picture

    # Embeddings: a click on a point shows that test image and the network's answer.
    dots = _chart(page, "explain_emb_trained").locator(".scatterlayer .trace .points path")
    assert dots.count() >= 10
    dots.nth(3).click(force=True)  # force: the hover label may cover the dot
    wait_idle(page, timeout=120)
    _no_error_box(page)
    _chart(page, "explain_emb_trained_image").locator(".main-svg").first.wait_for(timeout=30_000)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert re.search(r"Test image #\d+: truly \S+; the trained network says \S+ \(\d+%\)", text), text[-800:]
    screenshot(page, "explain_embeddings_click")

    # One neuron: the animation plays, so its slider moves on by itself.
    _open_tab(page, "One neuron")
    page.get_by_text("Step the position across the map (animation)").click()
    wait_idle(page, timeout=120)
    _no_error_box(page)
    animation = _chart(page, "explain_neuron_animation")
    animation.locator(".main-svg").first.wait_for(timeout=60_000)
    slider = animation.locator(".slider-container").first
    classes = animation.evaluate(CLASSES_JS)
    assert slider.count() == 1, [c for c in classes if "slider" in c or "menu" in c]
    before = slider.evaluate("e => e.outerHTML")  # the grip's place and the current value's text
    title = animation.locator(".gtitle").first.text_content()
    animation.locator(".updatemenu-button").filter(has_text="play").first.click()
    deadline = time.monotonic() + 20
    while slider.evaluate("e => e.outerHTML") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert slider.evaluate("e => e.outerHTML") != before, "the slider did not move"
    assert animation.locator(".gtitle").first.text_content() != title  # and the frame's title follows it
    screenshot(page, "explain_neuron_animation")


def test_the_camera_is_offered_where_an_upload_is(explain_server, camera_page):
    page, url = camera_page, explain_server
    page.goto(url)
    wait_idle(page, timeout=180)
    page.goto(f"{url}/convolution")
    wait_idle(page, timeout=180)
    radio = page.locator('[data-testid="stRadio"]').filter(has_text="Upload").first
    assert "Camera" in radio.inner_text()
    radio.get_by_text("Camera", exact=True).click()
    wait_idle(page, timeout=120)
    camera = page.locator('[data-testid="stCameraInput"]')
    camera.wait_for(timeout=30_000)
    _no_error_box(page)
    shoot = camera.get_by_role("button", name=re.compile("Take photo", re.I))
    shoot.wait_for(timeout=30_000)
    charts_before = page.locator('[data-testid="stPlotlyChart"]').count()
    shoot.click()
    wait_idle(page, timeout=120)
    _no_error_box(page)
    # The fake camera's frame went through the upload's loader: the page draws it and its convolution.
    deadline = time.monotonic() + 30
    while page.locator('[data-testid="stPlotlyChart"]').count() <= charts_before and time.monotonic() < deadline:
        time.sleep(0.3)
    assert page.locator('[data-testid="stPlotlyChart"]').count() > charts_before
    screenshot(page, "convolution_camera")
