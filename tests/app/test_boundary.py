"""cnnviz.app.boundary: what a page shows when something fails."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.support.pages import markdown_in, shown


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


#: A student's text that Markdown would make bold, a link, red and a formula.
TYPED = "**x** [a](http://e) :red[b] $x$"

TYPED_SCRIPT = """
from cnnviz.app.boundary import friendly_errors
from cnnviz.errors import InvalidArgument

with friendly_errors("Naming the dataset"):
    raise InvalidArgument(f"a dataset name is 1 to 40 letters, got {{{typed!r}!r}}")
"""


def test_an_error_that_repeats_typed_text_shows_it_as_typed():
    at = AppTest.from_string(TYPED_SCRIPT.format(typed=TYPED), default_timeout=30).run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert shown(error) == f"a dataset name is 1 to 40 letters, got {TYPED!r}"
    assert markdown_in(error) == [], error
