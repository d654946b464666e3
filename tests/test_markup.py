"""cnnviz.markup: a message that repeats a student's text shows every character as typed in Streamlit's Markdown."""

from __future__ import annotations

import pytest

from cnnviz.data.images import code_name
from cnnviz.markup import plain_text
from tests.support.pages import markdown_in, shown

TYPED = ("**x** [a](http://e) :red[b] $x$", "www.evil.example", "bob@evil.example", ":material/home: :smile:",
         "~~gone~~ <b>html</b> | # head", "a_b_c")


@pytest.mark.parametrize("typed", TYPED)
def test_typed_text_in_a_message_reads_as_typed_and_does_nothing(typed):
    message = f"a name may not hold that, got {typed!r}: choose another"
    assert markdown_in(plain_text(message)) == []
    assert shown(plain_text(message)) == message


def test_the_checker_sees_what_markdown_would_do():
    assert markdown_in(TYPED[0]) == ["*", "*", "*", "*", "[", "]", "[", "]", "$", "$", "http://", ":red["]
    assert markdown_in("1. Ann") and markdown_in("see www.evil.example") and markdown_in(":material/home:")


def test_lines_stay_and_none_becomes_a_list_or_a_rule():
    message = "1. Ann\n- Ben\n+ Cy\n==="
    assert plain_text(message).split("\n") == ["1\\. Ann", "\\- Ben", "\\+ Cy", "\\==="]
    assert shown(plain_text(message)) == message


def test_a_plain_message_is_left_as_it_is():
    # ": " starts no link or shortcode: the messages the tests read stay the same, with no invisible characters.
    message = "failed: the training process ended unexpectedly (epoch 3 of 10), 1e-05 to 1; got 0."
    assert plain_text(message) == message


def test_names_the_backend_quoted_in_code_spans_are_kept():
    message = f"{code_name('**cat** :red[x].png')} is empty (0 bytes); got '**x**'"
    assert plain_text(message) == "`**cat** :red[x].png` is empty (0 bytes); got '\\*\\*x\\*\\*'"


def test_invisible_characters_are_dropped():
    assert plain_text("a\u202eb\x00c\rd") == "abcd"
