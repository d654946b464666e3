"""The lab report in the app: "Pin to report" buttons under the Explain views, and the Runs page's button that
makes the report (:mod:`cnnviz.report`) and offers it.

Pins are the person's own (:mod:`cnnviz.report.pins`: a small file under ``CNNVIZ_HOME``), so they survive a
reload and ``python -m cnnviz report --owner`` finds them; the session keeps a copy, read once per person.

The measurements come from the caches the Evaluate and Robustness pages fill (the same evaluation, the
same rotation steps), so a report of a run already looked at costs little more than writing the HTML.
"""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from cnnviz.app import identity
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.state import still_chosen
from cnnviz.errors import CnnvizError
from cnnviz.markup import plain_text
from cnnviz.report import pins as pin_store
from cnnviz.report import saved
from cnnviz.runs import store as runs

PINS_KEY = "report_pins"  # [{"run_id", "id", "title", "caption"}], in pinning order (the figures: in the file)
PINS_OWNER_KEY = "report_pins_owner"  # whose pin file PINS_KEY was read from
DRAWN_FOR_KEY = "report_drawn_for"  # the run the lab report's buttons were last drawn for
MADE_KEY = "report_made"  # {"run_id", "pins"}: the last report made in this session (its HTML is a file: saved)
MAX_PINS = pin_store.MAX_PER_RUN  # each pinned figure is a few hundred KB at most


def _as_dict(pin: pin_store.Pin) -> dict:
    """A pin as the session keeps it: without its figure, which stays in the person's file (an embeddings scatter
    of 2,000 CIFAR-10 images with pictures is 0.8 MB of JSON)."""
    return {"run_id": pin.run_id, "id": pin.view_id, "title": pin.title, "caption": pin.caption}


def _session_pins() -> list[dict]:
    """This person's pins: read from their file once per session (and again if the person changes)."""
    person = identity.current_person()
    owner = None if person is None else person.user_id
    if owner is not None and st.session_state.get(PINS_OWNER_KEY) != owner:
        st.session_state[PINS_KEY] = [_as_dict(p) for p in pin_store.load(owner, person)]
        st.session_state[PINS_OWNER_KEY] = owner
    return st.session_state.get(PINS_KEY, [])


def pinned(run_id: str) -> list[dict]:
    """The views this person pinned for ``run_id``, in pinning order."""
    return [p for p in _session_pins() if p["run_id"] == run_id]


def pin_button(info: runs.RunInfo, view_id: str, title: str, fig: go.Figure, caption: str = "") -> None:
    """A "Pin to report" button under an Explain view: pins (or updates) this view of this run.

    Args:
        info: the run the view explains.
        view_id: the view's chart key (one pin per view and run; pinning again replaces it).
        title, caption: shown above and under the figure in the report (escaped there).
        fig: the figure as drawn.
    """
    here = any(p["id"] == view_id for p in pinned(info.run_id))
    st.button("Update the pinned view" if here else "Pin to report", key=f"{view_id}_pin",
              icon=":material/push_pin:", on_click=_pin, args=(info.run_id, view_id, title, fig, caption),
              help="Adds this figure to the run's lab report (Runs page: Make the lab report).")


def _pin(run_id: str, view_id: str, title: str, fig: go.Figure, caption: str) -> None:
    """The button's callback (before the rerun draws the page, so the label says it is pinned); the figure
    becomes JSON only when pinned, not on every rerun."""
    kept = [p for p in _session_pins() if not (p["run_id"] == run_id and p["id"] == view_id)]
    if sum(p["run_id"] == run_id for p in kept) >= MAX_PINS:
        st.toast(f"At most {MAX_PINS} views can be pinned: unpin some on the Runs page first.", icon=":material/block:")
        return
    pin = pin_store.Pin(run_id, view_id, title, fig.to_json(), caption)
    person = identity.current_person()
    if person is not None:
        try:
            st.session_state[PINS_KEY] = [_as_dict(p) for p in pin_store.add(person, pin)]
            # Deleted since the page was drawn (another tab, the teacher): the pins went with the run, this one too.
            # Asked after the pin is written, so a delete at the same moment either drops it or is seen here.
            if not runs.is_stored(run_id):
                st.session_state[PINS_KEY] = [_as_dict(p) for p in pin_store.remove(person, run_id, [view_id])]
                st.toast(f"Run {run_id} was deleted: nothing was pinned.", icon=":material/block:")
                return
        except CnnvizError as err:  # e.g. a full disk: the pin is not kept
            st.toast(f"Could not pin this view: {plain_text(str(err))}", icon=":material/error:")
            return
    elif not runs.is_stored(run_id):
        st.toast(f"Run {run_id} was deleted: nothing was pinned.", icon=":material/block:")
        return
    else:  # nobody to keep a file for: the session keeps the figure itself
        st.session_state[PINS_KEY] = [*kept, {**_as_dict(pin), "figure_json": pin.figure_json}]
    st.toast("Pinned to the lab report.", icon=":material/push_pin:")


def _pinned_views(run_id: str, ids: list[str]) -> list:
    """The views ``ids`` of ``run_id`` (as this page lists them) with their figures, for the report: from the
    person's file, where the figures are kept (one unpinned meanwhile in another tab is left out)."""
    from cnnviz.report import inputs  # lazy: see report_inputs

    person = identity.current_person()
    if person is None:
        return inputs.pinned_from_dicts(pinned(run_id))
    by_id = {p.view_id: p for p in pin_store.for_run(pin_store.load(person.user_id, person), run_id)}
    return [inputs.Pinned(by_id[i].title, by_id[i].figure_json, by_id[i].caption) for i in ids if i in by_id]


#: What making a report does, in order: the share of the bar each step starts at, and what the bar says.
REPORT_STEPS = ((0.0, "Reading the run's test images…"), (0.2, "Testing the run on them (Evaluate's numbers)…"),
                (0.45, "The rotation test (Robustness' every 90°)…"), (0.7, "Measuring the network…"),
                (0.85, "Writing the report: figures and tables…"))


def report_inputs(info: runs.RunInfo, step: Callable[[int], None] | None = None):
    """:func:`cnnviz.report.inputs.gather` from the Evaluate and Robustness pages' caches (not cached itself:
    only the parameter table is new, a few milliseconds, and a copy of the test images per entry would not be).
    ``step(i)`` hears when step ``i`` of :data:`REPORT_STEPS` begins (0 to 3 here; 4 is the caller's)."""
    # Lazy: the caches, inspection modules and scikit-learn they load took a fresh Runs page from 1.5 to
    # 5.4 s of imports (load 11); the report needs them only when it is made.
    from cnnviz.app import caches, sweeps
    from cnnviz.inspect.robustness import RIGHT_ANGLES
    from cnnviz.report import inputs

    step = step or (lambda i: None)
    step(0)
    data = caches.run_test_set(info)
    step(1)
    evaluated = caches.run_evaluation(info)
    step(2)
    (rotation,) = sweeps.rotation_sweeps([info], RIGHT_ANGLES, fill="constant").values()  # Robustness' store
    step(3)
    model, lock = caches.run_model(info)
    with lock:
        return inputs.gather(info, model=model, test_set=data, evaluated=evaluated, rotation=rotation)


def report_download(info: runs.RunInfo) -> None:
    """The Runs page's lab report: which views are pinned, a button to make it, then its download."""
    drawn_for = st.session_state.get(DRAWN_FOR_KEY)  # the run the buttons were drawn for: the one a click means
    st.session_state[DRAWN_FOR_KEY] = info.run_id
    gone = not still_chosen(drawn_for, info.run_id)  # deleted meanwhile: a click must not act on the next run
    pins = pinned(info.run_id)
    st.markdown("**Lab report**: the network, set-up, curves, test results, worst mistakes and rotation test in "
                "one HTML file that opens offline" + (f", with {len(pins)} pinned Explain view"
                                                       f"{'' if len(pins) == 1 else 's'}." if pins else
                                                       ". Pin Explain views on the Explain page to add them."))
    if pins:
        drop = st.multiselect("Unpin", [p["id"] for p in pins], key="report_unpin",
                              format_func={p["id"]: p["title"] for p in pins}.get)
        unpin = bool(drop) and st.button("Unpin these views", key="report_unpin_go", icon=":material/delete:")
        if unpin and gone:
            st.warning("The run you chose is gone (deleted in another tab?): nothing was unpinned.")
        elif unpin:
            person = identity.current_person()
            with friendly_errors("Unpinning"):
                st.session_state[PINS_KEY] = ([_as_dict(p) for p in pin_store.remove(person, info.run_id, drop)]
                                              if person is not None else
                                              [p for p in st.session_state[PINS_KEY]
                                               if not (p["run_id"] == info.run_id and p["id"] in drop)])
            st.session_state.pop("report_unpin", None)
            st.rerun()
    ids = [p["id"] for p in pins]
    owner = identity.person().user_id
    path = saved.report_file(info.run_id, owner)
    make = st.button("Make the lab report", key="report_make", icon=":material/description:")
    if make and gone:
        st.warning("The run you chose is gone (deleted in another tab?): no report was made.")
    elif make:
        from cnnviz.report import page  # lazy: see report_inputs

        with friendly_errors("Making the lab report"):
            bar = st.progress(0.0)  # each step moves it: a fresh run's report takes 10 s and more on 2 cores

            def step(i: int) -> None:
                bar.progress(REPORT_STEPS[i][0], text=REPORT_STEPS[i][1])

            measured = report_inputs(info, step)
            step(len(REPORT_STEPS) - 1)
            text = page.report_html(info, measured, _pinned_views(info.run_id, ids))
            bar.empty()
            saved.save(info.run_id, identity.person().user_id, text)  # a file: the session keeps kilobytes
            if not runs.is_stored(info.run_id):  # deleted while it was measured (another tab, the teacher): the
                saved.forget_run(info.run_id)  # run's reports went with it, this one too (asked after the save)
                raise runs.RunNotFound(f"Run {info.run_id} was deleted while its report was made: no report is kept.")
            st.session_state[MADE_KEY] = {"run_id": info.run_id, "pins": ids}
    made_at = saved.made_at(path)  # None: never made (or the file is gone)
    if made_at is not None:
        made = st.session_state.get(MADE_KEY)
        # Read only on a click, outside this script run: a run deleted since gives a page that says so.
        st.download_button("Download the lab report (HTML)", data=lambda: saved.download(info.run_id, owner),
                           file_name=f"cnnviz-{info.run_id}-report.html", mime="text/html", on_click="ignore",
                           key="report_download", icon=":material/download:")
        if not made or made["run_id"] != info.run_id:  # made earlier, e.g. before a reload
            st.caption(f"Made {made_at:%d %b at %H:%M}: make it again if you pinned or unpinned views since.")
        elif made["pins"] != ids:
            st.caption("The pinned views changed since: make the report again to include them.")
