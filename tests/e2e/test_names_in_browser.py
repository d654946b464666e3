"""A file name written as Markdown, an icon shortcode, a colour and a link (issue 18) is shown in the real
browser as typed: no link, no icon, no colour."""

from __future__ import annotations

import pytest

from tests.e2e.streamlit_page import assert_no_errors, screenshot, wait_idle


pytestmark = pytest.mark.e2e

HOSTILE_NAME = "![t](http://127.0.0.1:9/x.png) :material/warning: :red[RED].png"


def test_a_markdown_file_name_is_shown_as_typed(server, page):
    page.goto(f"{server}/convolution")
    wait_idle(page, timeout=120)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page, timeout=60)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [{"name": HOSTILE_NAME, "mimeType": "image/png", "buffer": b"this is text, not a picture"}])
    wait_idle(page, timeout=120)
    alert = page.locator('[data-testid="stAlertContainer"]').filter(has_text="not a picture")
    alert.first.wait_for(timeout=60_000)
    shown = alert.first.inner_text().replace("\u2060", "")  # the word joiners that stop the autolinker
    # Chromium hands the file over as ":material_warning:" (no "/" in a file's own name): still a shortcode
    assert ":material_warning:" in shown and ":red[RE" in shown and "![t](http://127.0.0.1:9/x.png)" in shown  # cut at 60
    main = page.locator('[data-testid="stMain"]')
    assert main.locator('a[href*="127.0.0.1:9"]').count() == 0  # no link made
    assert main.locator("img[src*='127.0.0.1:9']").count() == 0  # no image fetched
    assert alert.first.locator('[data-testid="stIconMaterial"]').count() == 0  # no icon drawn from the name
    assert alert.first.locator('span[style*="color"]').count() == 0  # ":red[" stayed text (asserted above)
    assert_no_errors(page)
    screenshot(page, "convolution_hostile_name")
