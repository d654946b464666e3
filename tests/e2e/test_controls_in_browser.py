"""Each page's main control, used once in real chromium against a server that has a trained run and
(random, weights-free) ResNet50 weights: kernel change, reshuffle, evaluation gallery, robustness
chart, a photo upload (and a bad one) on the pretrained page."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from PIL import Image

from cnnviz import weights
from cnnviz.models import resnet50
from cnnviz.training import loop as training
from tests.e2e.conftest import running_app
from tests.e2e.streamlit_page import assert_no_errors, on_live_element, screenshot, wait_idle
from tests.support.specs import FLAT_MODEL, page_spec


pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stocked_server(tmp_path_factory):
    """A server whose CNNVIZ_HOME holds one tiny digits run, and whose ResNet50 reads random weights
    (the real ones are 100 MB and not here): the page's whole path runs, the labels are noise."""
    home = tmp_path_factory.mktemp("e2e-stocked")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        run_id = training.train(page_spec(FLAT_MODEL, epochs=1)).run.run_id
    weights_path = home / "resnet50-random.weights.h5"
    resnet50.build_resnet50().save_weights(str(weights_path))
    with running_app(home, log_name="streamlit-stocked.log",
                     env={weights.RESNET50.env: str(weights_path)}) as url:
        yield url, run_id


def _main(page):
    return page.locator('[data-testid="stMain"]')


def _wait_for(page, pattern: str, timeout: float = 120.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(pattern, on_live_element(lambda: _main(page).inner_text(timeout=5000)))
        if match:
            return match
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} never appeared: {_main(page).inner_text()[-1500:]}")


def _open(page, url: str) -> None:
    page.goto(url)
    wait_idle(page, timeout=180)
    assert_no_errors(page)


def _choose(page, label: str, option: str, attempts: int = 3) -> None:
    """Pick ``option`` in the Streamlit select box labelled ``label``.

    A rerun that lands while the list is open closes it again: open it once more in that case.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).first
    for attempt in range(attempts):
        wait_idle(page, timeout=120)
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000)
            break
        except PlaywrightTimeout:
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
    wait_idle(page, timeout=120)


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_controls_of_every_page(stocked_server, page):
    url, run_id = stocked_server
    # Enter through the root so app.py's navigation is registered before direct page links.
    _open(page, url)

    _open(page, f"{url}/convolution")
    _choose(page, "Kernel", "Sobel X")
    assert_no_errors(page)
    _wait_for(page, r"3×3 kernel, sum 0\b")  # the kernel figure now shows Sobel's
    screenshot(page, "convolution_sobel")

    _open(page, f"{url}/datasets")
    samples = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    before = samples.screenshot()
    page.get_by_role("button", name="Reshuffle").click()
    wait_idle(page, timeout=120)
    assert_no_errors(page)
    assert page.locator('[data-testid="stPlotlyChart"]').nth(1).screenshot() != before, "reshuffle changed nothing"

    _open(page, f"{url}/evaluate")
    _wait_for(page, r"Test accuracy")
    _choose(page, "Show", "all")
    gallery = _wait_for(page, r"all: ([\d,]+) image\(s\), showing the first (\d+)")
    assert gallery.group(2) == "20"  # the gallery's default limit over the 40 test digits
    assert_no_errors(page)
    wait_idle(page, timeout=120)
    screenshot(page, "evaluate_gallery")

    _open(page, f"{url}/robustness")
    _wait_for(page, r"Accuracy")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2  # examples, accuracy vs angle
    assert_no_errors(page)
    screenshot(page, "robustness_rotation")

    _open(page, f"{url}/pretrained")
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page, timeout=120)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files([{"name": "noise.png", "mimeType": "image/png", "buffer": _png(1)},
                              {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": b"not a picture at all"}])
    wait_idle(page, timeout=180)
    _wait_for(page, r"noise\.png: .+ \(\d+\.\d%\)", timeout=180)  # top class with its probability
    errors = page.locator('[data-testid="stAlertContainer"]').filter(has_text="notes.jpg")
    assert errors.count() == 1, "the bad upload got no message"
    assert_no_errors(page)  # a message, not a traceback
    screenshot(page, "pretrained_upload")
