"""Open every page of the catalog in real chromium, use its main control, and look for errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnviz.catalog import PAGES
from tests.e2e.conftest import running_app
from tests.e2e.streamlit_page import assert_no_errors, screenshot, wait_idle

pytestmark = pytest.mark.e2e


def _url_path(page_path: str) -> str:
    # st.Page infers the URL path from the file name.
    return Path(page_path).stem


@pytest.mark.parametrize("info", PAGES, ids=[p.title for p in PAGES])
def test_page_opens_without_errors(server, page, info):
    url = server if info.path == PAGES[0].path else f"{server}/{_url_path(info.path)}"
    page.goto(url)
    wait_idle(page, timeout=120)
    assert_no_errors(page)
    # The page's own title is shown, not a "page not found" notice.
    assert page.locator("h1").count() >= 1
    screenshot(page, _url_path(info.path))


def test_home_lists_every_page(server, page):
    page.goto(server)
    wait_idle(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    for info in PAGES[1:]:
        assert info.title in body


def test_direct_link_on_a_fresh_server_goes_through_app(tmp_path, page):
    """The very first request to a fresh server is a page's own URL: it must still be routed by app.py
    (catalog titles in the sidebar, not the legacy pages/ file names)."""
    with running_app(tmp_path, log_name="streamlit-direct-link.log") as url:
        page.goto(f"{url}/convolution")
        wait_idle(page, timeout=120)
        assert_no_errors(page)
        assert page.locator("h1").first.inner_text().strip().startswith("Convolution")
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Convolution" in nav and "Home" in nav
        assert "app" not in nav.split()
