"""Class: the teacher's page. Who is training and who is waiting, stop any training, the number of
trainings at once, which runs the class sees, and the class's results table (students see the
table once the teacher shares it)."""

import datetime as dt

import streamlit as st

from cnnviz.app import accounts, identity, jobs, tables
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.numbers import checked_number
from cnnviz.app.state import say_runs_gone, still_chosen
from cnnviz.classroom import people, roster
from cnnviz.classroom import settings as class_settings
from cnnviz.markup import plain_text
from cnnviz.runs import results
from cnnviz.runs import store as runs
from cnnviz.training.jobs import MAX_JOBS_LIMIT


RESULT_COLUMNS = {"best test accuracy": st.column_config.NumberColumn(format="percent"),
                  "seconds": st.column_config.NumberColumn("training time (s)", format="%.0f")}


def _results_table(me) -> None:
    st.subheader("Results of the class")
    st.caption("Per dataset and network: the best test accuracy anyone reached, with its epochs, training time "
               "and who trained it.")
    rows = results.class_results(me)
    if not rows:
        st.info("No runs yet.")
        return
    st.dataframe(rows, hide_index=True, key="class_results", column_config=RESULT_COLUMNS, placeholder=tables.MISSING)


def _when(seconds: float | None) -> str:
    return "" if seconds is None else dt.datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


def _progress(status) -> str:
    """A training's epoch, or what an experiment (the Experiments page) is doing and its share done."""
    p = status.progress
    if status.kind == "experiment":
        return f"experiment: {p.note or p.phase} ({p.fraction:.0%})"
    return f"epoch {p.epoch} of {p.epochs}"


def _state(status) -> str:
    """A job's state for the table: a running one asked to stop is "stopping" until its next batch ends it."""
    return "stopping" if status.state == "running" and status.stop_requested else status.state


def _trainings(me) -> None:
    st.subheader("Trainings")
    manager = jobs.training_jobs()
    active = manager.active_jobs()
    running = [s for s in active if s.state == "running"]
    waiting = [s for s in active if s.state == "queued"]
    stopping = sum(s.stop_requested for s in running)  # a running job ends at its next batch: say it was asked to
    asked = f" ({stopping} stopping within a batch)" if stopping else ""
    st.write(f"{len(running)} training{asked}, {len(waiting)} waiting; the server trains {manager.max_jobs} at a time.")
    problem = manager.slot_problem()  # e.g. a slot's lock file left by a server once run as root
    if problem:
        st.warning(plain_text(problem), icon=":material/block:")
    if active:
        shown = roster.shown_names((s.owner, s.owner_name) for s in active)  # two Anns: "Ann (3f2a)", "Ann (91bc)"

        def who(s) -> str:
            return shown[s.owner, s.owner_name]

        st.dataframe([{"who": who(s), "what": s.label, "state": _state(s),
                       "place in queue": s.queue_position or None,
                       "progress": _progress(s) if s.state == "running" else "",
                       "since": _when(s.started or s.submitted), "job": s.job_id} for s in active],
                     hide_index=True, key="class_jobs", placeholder=tables.MISSING)
        by_id = {s.job_id: s for s in active}
        left, right = st.columns([3, 1])
        wanted = st.session_state.get("class_stop_job")  # the teacher's choice, before an ended job is replaced
        job_id = left.selectbox("Training", list(by_id), key="class_stop_job",
                                format_func=lambda i: f"{who(by_id[i])}: {by_id[i].label} ({_state(by_id[i])})")
        clicked = right.button("Stop it", key="class_stop", icon=":material/stop_circle:")
        if clicked and not still_chosen(wanted, job_id):  # it ended meanwhile: never stop the next one
            right.warning("The training you chose has ended or left the queue: nothing was stopped.")
        elif clicked:
            with friendly_errors("Stopping the training"):
                manager.stop(job_id, by=me)
                st.rerun()
    else:
        st.caption("Nobody is training right now.")
    left, right = st.columns([3, 1])
    cap = checked_number("Trainings at once", 1, max(MAX_JOBS_LIMIT, manager.max_jobs), manager.max_jobs,
                         key="class_cap", where=left, help="More at once share the server's cores: each goes slower.")
    if right.button("Apply", key="class_cap_apply", disabled=cap is None or int(cap) == manager.max_jobs):
        with friendly_errors("Changing the number of trainings at once"):
            manager.set_max_jobs(int(cap), by=me)
            st.rerun()


def _flag(label: str, key: str, value: bool, setter, me, help: str) -> None:
    """A toggle that always shows the stored setting (another teacher's tab may have changed it)."""
    def store() -> None:
        with friendly_errors("Changing what the class sees"):
            setter(bool(st.session_state[key]), by=me)

    st.session_state[key] = value
    st.toggle(label, key=key, help=help, on_change=store)


def _sharing(me) -> None:
    st.subheader("What the class sees")
    _flag("The class sees all runs", "class_sees_all", class_settings.class_sees_all(),
          class_settings.set_class_sees_all, me, "Every student sees every run, read-only; each still deletes only "
          "their own.")
    _flag("Students see the results table", "class_results_shared", class_settings.results_shared(),
          class_settings.set_results_shared, me, "The table below appears on this page for the students.")
    items = runs.list_runs(me)
    if not items:
        return
    by_id = {r.run_id: r for r in items}
    who = roster.shown_names((r.owner, r.owner_name) for r in items)
    label = {r.run_id: f"{who[r.owner, r.owner_name]}: {r.label}" for r in items}
    shared = sorted(i for i in class_settings.shared_runs() if i in by_id)
    say_runs_gone(st.session_state.get("class_shared_runs", []), items)  # deleted meanwhile: said, not dropped
    chosen = st.multiselect("Runs shared with the class (read-only for them)", list(by_id), default=shared,
                            key="class_shared_runs", format_func=label.get)
    if st.button("Share these runs", key="class_share_apply", disabled=set(chosen) == set(shared)):
        with friendly_errors("Sharing runs"):
            for run_id in set(chosen) ^ set(shared):
                class_settings.share_run(run_id, run_id in chosen, by=me)
            st.rerun()


def _how_to_enter() -> str:
    """How the teacher gets in on this server: the password, a teacher's account, or (neither set) not here."""
    if people.teacher_password_set():
        return "The teacher opens it with the password in the sidebar's Teacher box."
    if people.teacher_emails() and accounts.auth_configured():
        return "The teacher opens it signed in with a teacher's account."
    return (f"No teacher can open it in a browser on this server: it has no teacher password ({people.PASSWORD_ENV}) "
            f"and no sign-in with teachers' accounts ({people.TEACHERS_ENV} and [auth] in .streamlit/secrets.toml).")


def main() -> None:
    st.title("Class")
    me = identity.person()
    if not me.is_teacher:
        st.info("This page is for the teacher: who is training, the queue, and what the class shares. " + _how_to_enter())
        with friendly_errors("Reading the results"):
            if class_settings.results_shared():
                _results_table(me)
        return
    with friendly_errors("Reading the trainings"):
        _trainings(me)
    with friendly_errors("Reading the class settings"):
        _sharing(me)
    with friendly_errors("Reading the results"):
        _results_table(me)
    with friendly_errors("Reading the class list"):
        students = roster.students()  # oldest first
        shown = roster.shown_names((p.user_id, p.display_name) for p in students)
        names = [shown[p.user_id, p.display_name] for p in students]
        if names:
            with st.expander(f"Students with a key ({len(names)})"):
                st.text(", ".join(names))  # names as typed: Markdown would link "www.…" and list "1. Ann"


main()
