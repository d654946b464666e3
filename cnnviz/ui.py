"""The one Streamlit-aware module: cached shared loaders, session-state keys, page helpers.

Rules (see DEVELOPERS.md): objects shared by all sessions go in ``st.cache_resource`` and
are never trained or mutated; a session's own model lives in the run store. Nothing in
the rest of ``cnnviz`` imports this module.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import streamlit as st

from cnnviz.errors import CnnvizError

log = logging.getLogger("cnnviz")


@contextlib.contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show CnnvizError messages with ``st.error``; log anything else and show a short note.

    Streamlit's own control-flow exceptions (rerun, stop) derive from BaseException
    and pass through untouched.
    """
    try:
        yield
    except CnnvizError as err:
        st.error(str(err))
    except Exception:  # a bug: keep the traceback on the server, not in front of the class
        log.exception("%s failed", action)
        st.error(f"{action} failed because of an internal error. The details are in the server log.")


# --- datasets ---------------------------------------------------------------------------


# --- models, training and runs ----------------------------------------------------------


# --- evaluation and features ------------------------------------------------------------


# --- pretrained -------------------------------------------------------------------------
