"""checked_number: a value outside the range is said under the box and never used (issue 14)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app.numbers import checked_number, range_problem


def _script():
    import streamlit as st

    from cnnviz.app.numbers import checked_number

    value = checked_number("Learning rate", 1e-5, 1.0, 0.001, key="lr", format="%.5f")
    st.session_state["used"] = value


def test_range_problem_says_what_the_box_shows():
    assert range_problem("Epochs", 3, 1, 500) is None
    assert range_problem("Epochs", 0, 1, 500) == "Epochs must be from 1 to 500; the box shows 0."
    assert range_problem("Learning rate", 2.5, 1e-5, 1.0) == ("Learning rate must be from 1e-05 to 1; the box "
                                                              "shows 2.5.")
    assert range_problem("Seed", None, 0, 10_000) == "Seed: the box is empty; type a number from 0 to 10,000."


def test_a_value_outside_the_range_is_not_used_and_is_said():
    at = AppTest.from_function(_script).run()
    assert at.session_state["used"] == 0.001 and not at.error
    at.number_input(key="lr").set_value(0.0).run()  # Streamlit's own range check would keep 0.001 here
    assert at.session_state["used"] is None
    assert [e.value for e in at.error] == ["Learning rate must be from 1e-05 to 1; the box shows 0."]
    at.number_input(key="lr").set_value(0.01).run()
    assert at.session_state["used"] == 0.01 and not at.error


def test_a_start_value_outside_the_range_is_a_bug():
    with pytest.raises(ValueError, match=r"the start value 9 is outside \[1, 5\]"):
        checked_number("Epochs", 1, 5, 9, key="epochs")
