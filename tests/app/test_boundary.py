"""cnnviz.app.boundary: what a page shows when something fails."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


SCRIPT = """
from cnnviz.app.boundary import friendly_errors
from cnnviz.errors import Unavailable

with friendly_errors("Loading the thing"):
    raise Unavailable("The thing is not on this machine yet.") if {ours} else ValueError("boom")
"""


def test_our_errors_are_shown_as_they_are():
    at = AppTest.from_string(SCRIPT.format(ours=True), default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["The thing is not on this machine yet."]


def test_a_bug_shows_a_short_note_and_keeps_the_details_in_the_log():
    at = AppTest.from_string(SCRIPT.format(ours=False), default_timeout=30).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Loading the thing failed because of an internal error. The details are in the server log."]
