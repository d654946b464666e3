"""Errors whose message is written for a student and may be shown as-is in the page."""


class CnnvizError(Exception):
    """Base class: ``str(err)`` is a complete, student-readable sentence.

    Pages catch this and show it with ``st.error``; anything else is a bug and is
    logged on the server.
    """


class InvalidArgument(CnnvizError, ValueError):
    """A setting is out of range; the message repeats the value received."""


class Unavailable(CnnvizError):
    """Something needed (data, weights, a GPU) is not on this machine; says how to get it."""
