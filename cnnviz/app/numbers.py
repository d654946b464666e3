"""Number boxes that never hide a value (issue 14).

``st.number_input(min_value=..., max_value=...)`` checks the range in the browser: a number typed
outside it is shown in the box with a red note, but never reaches Python, so the page goes on with the
last valid value (a learning rate of 0 in the box trained at 0.001). :func:`checked_number` draws the
box without Streamlit's range, checks the range here and returns None, with a message under the box,
while the box holds a value outside it: the page then disables the action the value feeds.
"""

from __future__ import annotations

import streamlit as st

from cnnviz.app.remember import KEEP


def _plain(x: float) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def range_problem(label: str, value: float | None, low: float, high: float) -> str | None:
    """Why ``value`` cannot be used for ``label`` (empty, or outside ``[low, high]``), or None when it can."""
    if value is None:
        return f"{label}: the box is empty; type a number from {_plain(low)} to {_plain(high)}."
    if not low <= value <= high:
        return f"{label} must be from {_plain(low)} to {_plain(high)}; the box shows {_plain(value)}."
    return None


def checked_number(label: str, low: float, high: float, value: float, *, key: str, where=None,
                   **kwargs) -> float | int | None:
    """A number box (kept across page switches) whose value is used only when inside ``[low, high]``.

    Args:
        label: the box's label.
        low, high: the accepted range (ints for an integer box).
        value: the starting value, inside the range.
        key: the widget key.
        where: the container to draw in (``st`` when None), e.g. a column.
        **kwargs: passed on to ``st.number_input`` (step, format, help, disabled).

    Returns:
        The number, or None while the box is empty or outside the range (the message is shown under it).
    """
    if not low <= value <= high:
        raise ValueError(f"checked_number({label!r}): the start value {value} is outside [{low}, {high}]")
    where = st if where is None else where
    got = where.number_input(label, value=value, key=key, persist_state=KEEP, **kwargs)
    problem = range_problem(label, got, low, high)
    if problem is not None:
        where.error(problem, icon=":material/error:")
        return None
    return got
