"""Runs: every saved training run with its settings and test accuracy; overlay their curves,
see which settings differ, download a model or its history, delete runs (seed 000 Parts 12-15:
"compare with the previous model")."""

import streamlit as st

from cnnviz.app import identity, report, tables
from cnnviz.app.boundary import friendly_errors
from cnnviz.classroom import policy, roster
from cnnviz.data import images
from cnnviz.app.remember import KEEP
from cnnviz.app.state import TRAIN_JOB_KEY, TRANSFER_JOB_KEYS, say_runs_gone, still_chosen, tick_belongs_to
from cnnviz.errors import CnnvizError
from cnnviz.markup import plain_text
from cnnviz.plots import training as plots
from cnnviz.runs import compare as runs_compare
from cnnviz.runs import details as run_details
from cnnviz.runs import labels as runs_labels
from cnnviz.runs import notebook
from cnnviz.runs import store as runs
from cnnviz.runs.compare import differing_settings, history_csv


COMPARE_KEY = "runs_compare"
CONFIRM_KEY = "runs_delete_confirm"
DAMAGED_CONFIRM_KEY = "runs_damaged_delete_confirm"
DAMAGED_SHOWN_KEY = "runs_damaged_delete_shown"  # the damaged run the Delete tick was last drawn for
SHOWN_KEY = "runs_delete_shown"  # the run the Delete tick was last drawn for
SELECTED_KEY = "runs_selected"
SEEN_TRAINED_KEY = "runs_seen_trained_run"  # the run this session trained that this page has taken in


def _overview(items: list[runs.RunInfo]) -> None:
    who = roster.shown_names((info.owner, info.owner_name) for info in items)  # two Anns: "Ann (3f2a)", "Ann (91bc)"
    rows = [{"by": who[info.owner, info.owner_name], **row} for info, row in zip(items, runs_compare.runs_table(items))]
    st.dataframe(
        rows, hide_index=True, key="runs_table", placeholder=tables.MISSING,
        column_config={"test accuracy": st.column_config.NumberColumn(format="percent"),
                       "notebook's accuracy": st.column_config.NumberColumn(format="percent"),
                       "test loss": st.column_config.NumberColumn(format="%.3f"),
                       "validation_fraction": st.column_config.NumberColumn("validation share", format="percent")},
    )


def _compare(items: list[runs.RunInfo]) -> None:
    st.subheader("Compare runs")
    by_id = {r.run_id: r for r in items}
    if COMPARE_KEY not in st.session_state:
        st.session_state[COMPARE_KEY] = list(by_id)[:2]  # the newest two (set here: the page may also set it)
    say_runs_gone(st.session_state[COMPARE_KEY], items)  # deleted meanwhile: said, not silently dropped
    chosen_ids = st.multiselect("Runs", list(by_id), key=COMPARE_KEY, persist_state=KEEP,
                                format_func=lambda i: by_id[i].label)
    chosen = [by_id[i] for i in chosen_ids if i in by_id]
    if not chosen:
        st.info("Choose one or more runs to see their curves.")
        return
    note = runs_compare.datasets_note(chosen)
    if note is not None:  # above the curves: a higher one on easier data is no better network
        st.warning(plain_text(note), icon=":material/compare_arrows:")
    metric = st.segmented_control("Curve", ["accuracy", "loss"], default="accuracy", key="runs_metric",
                                  persist_state=KEEP) or "accuracy"
    st.plotly_chart(plots.compare_runs(chosen, metric), key="runs_curves")
    without = [r for r in chosen if not r.has_validation]
    kept_none = [r.label for r in without if not r.metrics.get("n_val")]
    stopped = [r.label for r in without if r.metrics.get("n_val")]  # its validation images were never measured
    st.caption("Solid: training; dashed: validation."
               + (f" No dashed line for {', '.join(kept_none)}: {'it' if len(kept_none) == 1 else 'they'} kept no "
                  "validation images (all the training images were used to train)." if kept_none else "")
               + (f" No dashed line for {', '.join(stopped)}: {'it was' if len(stopped) == 1 else 'they were'} "
                  f"stopped before the end of {'its' if len(stopped) == 1 else 'their'} first epoch, when the "
                  "validation images are first measured." if stopped else ""))
    if len(chosen) > 1:
        differing = differing_settings(chosen)
        if differing:
            st.write("Settings that differ (highlighted):")
            st.dataframe(tables.settings_table(runs_compare.runs_table(chosen), differing), hide_index=True,
                         key="runs_differ", placeholder=tables.MISSING)
        else:
            st.write("These runs used the same settings.")


def _one_run(items: list[runs.RunInfo]) -> None:
    st.subheader("One run")
    by_id = {r.run_id: r for r in items}
    wanted = st.session_state.get(SELECTED_KEY)  # what the student chose, before a vanished run is replaced
    say_runs_gone([wanted], items)
    run_id = st.selectbox("Run", list(by_id), key=SELECTED_KEY, persist_state=KEEP,
                          format_func=lambda i: by_id[i].label)
    info = by_id[run_id]
    me = identity.person()
    mine = policy.can_change(me, info.owner)
    if info.owner != me.user_id:
        shown = roster.shown_names([(info.owner, info.owner_name)])[info.owner, info.owner_name]
        st.caption(f"Trained by {images.plain_name(shown)}" + ("." if mine else ": shared with the class, read-only."))
    acc = info.test_accuracy
    figure = notebook.for_run(info)
    seed_acc = figure.shown_accuracy if figure is not None else None
    loss_text = runs_labels.test_loss_text(info)
    cols = st.columns(4)
    cols[0].metric("Test accuracy", "–" if acc is None else f"{acc:.1%}",
                   help=None if loss_text is None else loss_text[0].upper() + loss_text[1:] + ".")
    cols[1].metric("The notebook's", "–" if seed_acc is None else f"{seed_acc:.1%}",
                   help=figure.text() if figure is not None else "Only runs of a notebook's network have its figure.")
    cols[2].metric("Epochs done", info.metrics.get("epochs_completed", "–"))
    cols[3].metric("Status", info.status)
    gap = runs_labels.accuracy_gap_note(info.spec)
    if gap:
        st.caption(gap)
    c1, c2, c3 = st.columns(3)
    try:  # checked now: a failure inside the deferred download would only reach the server log
        model_path = runs.model_file(run_id, me)
    except CnnvizError as err:
        model_path = None
        c1.warning(f"The model cannot be downloaded: {plain_text(str(err))}")
    c1.download_button("Download model (.keras)", data=lambda: model_path.read_bytes(),
                       file_name=f"cnnviz-{run_id}.keras", mime="application/octet-stream", on_click="ignore",
                       key="runs_download_model", icon=":material/download:", disabled=model_path is None)
    c2.download_button("Download history (CSV)", data=history_csv(info), file_name=f"cnnviz-{run_id}-history.csv",
                       mime="text/csv", on_click="ignore", key="runs_download_csv", icon=":material/table:")
    tick_belongs_to(run_id, confirm_key=CONFIRM_KEY, shown_key=SHOWN_KEY)
    confirm = c3.checkbox("Yes, delete this run", key=CONFIRM_KEY) if mine else False
    clicked = mine and c3.button("Delete", key="runs_delete", disabled=not confirm, icon=":material/delete:")
    if clicked and not still_chosen(wanted, run_id):  # deleted in another tab: never delete the next run
        c3.warning("The run you chose is gone (deleted in another tab?): nothing was deleted.")
    elif clicked:
        with friendly_errors("Deleting the run"):  # e.g. a read-only CNNVIZ_HOME: its own words, not "reading"
            runs.delete_run(run_id, by=me)
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()
    report.report_download(info)
    with st.expander("All settings and results"):
        st.dataframe(run_details.run_details(info), hide_index=True, key="runs_details",
                     column_config={"what": "setting or result", "value": "value"})


def _damaged(damaged: list[runs.DamagedRun]) -> None:
    """Runs whose files cnnviz cannot use: why (in a table cell, never markdown), and a Delete."""
    st.subheader("Damaged runs")
    one = len(damaged) == 1
    st.warning(f"{len(damaged)} run{'' if one else 's'} cannot be shown, evaluated or inspected: "
               f"{'its' if one else 'their'} files are damaged or were changed after saving. "
               "The other runs are not affected.")
    st.dataframe([{"run": d.run_id, "why": d.reason} for d in damaged], hide_index=True, key="runs_damaged_table")
    by_id = {d.run_id: d for d in damaged}
    left, right = st.columns([3, 1])
    run_id = left.selectbox("Damaged run", list(by_id), key="runs_damaged_selected", persist_state=KEEP)
    # The tick arms only the run it was given for: one deleted meanwhile must not pass it on to the next.
    tick_belongs_to(run_id, confirm_key=DAMAGED_CONFIRM_KEY, shown_key=DAMAGED_SHOWN_KEY)
    confirm = right.checkbox("Yes, delete this damaged run", key=DAMAGED_CONFIRM_KEY)
    if right.button("Delete damaged run", key="runs_damaged_delete", disabled=not confirm,
                    icon=":material/delete:"):
        with friendly_errors("Deleting the run"):
            runs.delete_run(run_id, by=identity.person())
            st.session_state.pop(DAMAGED_CONFIRM_KEY, None)
            st.rerun()


def _training_now() -> bool:
    """Whether one of this session's trainings is queued or running (its run is saved only when it ends)."""
    keys = [TRAIN_JOB_KEY, *TRANSFER_JOB_KEYS.values()]
    if not any(st.session_state.get(k) for k in keys):
        return False
    from cnnviz.app import jobs  # lazy: only a session that trained needs the job manager here

    return jobs.active(keys)  # a job table that cannot be read raises: main()'s friendly_errors says why


def main() -> None:
    st.title("Runs")
    listing = runs.Listing([], [])
    with friendly_errors("Reading the runs"):
        listing = runs.scan(identity.person())  # only the runs this person may see
        items = listing.runs
        training_now = _training_now()
        if training_now:
            st.info("Your training is still going on: its run is saved, and listed on Runs when it ends. "
                    "Its live progress is on the page you started it from.", icon=":material/hourglass_top:")
        if not items:
            say_runs_gone([st.session_state.get(SELECTED_KEY), *st.session_state.get(COMPARE_KEY, [])], items)
            if not training_now:
                st.info("No runs yet: train a network first.")
            st.page_link("app_pages/build_train.py", label="Build & train", icon=":material/model_training:")
        else:
            if st.session_state.get(TRAIN_JOB_KEY):  # lazy: only a session that trained needs the job manager
                from cnnviz.app import jobs

                jobs.take_in_just_trained([r.run_id for r in items], multi_key=COMPARE_KEY, single_key=SELECTED_KEY,
                                          seen_key=SEEN_TRAINED_KEY)
            _overview(items)
            _compare(items)
            _one_run(items)
    if listing.damaged:  # outside: a failure above must not hide the damaged runs' Delete
        _damaged(listing.damaged)


main()
