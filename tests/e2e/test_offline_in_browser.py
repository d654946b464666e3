"""A classroom without the internet: the Home page asks nothing of any host but the server, and the tab's
icon is one the server sends (Streamlit fetches a ``:material/...:`` page icon from fonts.gstatic.com, so an
offline room got no icon)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.e2e.streamlit_page import assert_no_errors, screenshot, wait_idle

pytestmark = pytest.mark.e2e

SERVER_HOST = "127.0.0.1"


def test_home_makes_no_request_beyond_the_server_and_has_its_icon(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def only_the_server(route) -> None:  # as in a room without the internet: anything else fails
        if urlparse(route.request.url).hostname == SERVER_HOST:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        page.goto(server)
        wait_idle(page, timeout=120)
        assert_no_errors(page)
        # Chromium may not fetch a tab's icon through the page (no request event): where it points says it.
        icon = page.locator("link[rel='shortcut icon']").get_attribute("href")
        screenshot(page, "home-offline")
    finally:
        context.close()
    assert outside == []
    assert [url for url in requested if urlparse(url).scheme in ("http", "https", "ws", "wss")
            and urlparse(url).hostname != SERVER_HOST] == []
    assert icon.startswith("data:image/") or urlparse(icon).hostname == SERVER_HOST, icon
    assert "favicon.png" not in icon  # Streamlit's own default icon: ours was never set
