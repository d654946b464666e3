"""Where a page meets failure: errors shown kindly, and the skeleton of the pages about saved runs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import streamlit as st

from cnnviz.errors import CnnvizError
from cnnviz.markup import plain_text

if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.runs.store import RunInfo


log = logging.getLogger("cnnviz")


@contextlib.contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show CnnvizError messages with ``st.error``; log anything else and show a short note.

    A message shows its characters as they are (:func:`cnnviz.markup.plain_text`): it may repeat what the
    student typed. Streamlit's own control-flow exceptions (rerun, stop) derive from BaseException
    and pass through untouched.
    """
    try:
        yield
    except CnnvizError as err:
        st.error(plain_text(str(err)))
    except Exception:  # a bug: keep the traceback on the server, not in front of the class
        log.exception("%s failed", action)
        st.error(f"{action} failed because of an internal error. The details are in the server log.")


def no_runs_notice(what: str) -> None:
    """Say that there is nothing to look at yet and link to the page that makes runs."""
    st.info(f"No trained runs yet: train a network first, then come back to {what}.")
    st.page_link("app_pages/build_train.py", label="Build & train", icon=":material/model_training:")


def run_page(action: str, what: str, draw: Callable, *, key: str, many: bool = False,
             before: Callable[[list[RunInfo]], None] | None = None) -> None:
    """The skeleton of the pages about saved runs: friendly errors, the runs listed, a notice when
    there are none, a run picked, then the page's own part.

    Args:
        action: what the page does, for the error note ("Evaluating the run").
        what: the end of the no-runs notice ("... then come back to {what}").
        draw: called with the picked run (a list of runs with ``many``, maybe empty).
        key: the picker's session-state key.
        many: pick several runs (:func:`cnnviz.app.pickers.pick_runs`) instead of one.
        before: called with every run before the picker is drawn (e.g. to point it at a run sent
            from another page).
    """
    # lazy: the run store and the pickers pull in the training and model settings modules, 0.05-0.15 s
    # of Home's start-up (Home needs only friendly_errors)
    from cnnviz.app import identity, pickers
    from cnnviz.app.state import say_runs_gone
    from cnnviz.runs import store as runs

    with friendly_errors(action):
        listing = runs.scan(identity.person())  # only the runs this person may see
        items = listing.runs
        if listing.damaged:  # never silently missing: the Runs page lists them with the reason
            count = len(listing.damaged)
            st.caption(f"{count} damaged run{'s are' if count > 1 else ' is'} not offered here; the Runs page says "
                       f"what is wrong and can delete {'them' if count > 1 else 'it'}.")
        if not items:
            say_runs_gone(pickers.chosen_ids(key), items)  # the last one deleted meanwhile: not "no runs yet"
            no_runs_notice(what)
            return
        if before is not None:
            before(items)
        draw(pickers.pick_runs(items, key=key) if many else pickers.pick_run(items, key=key))
