"""A student back after the server restarted (or from a bookmark): their trainings found again by owner.

A browser that reconnects to a restarted server starts a fresh session: the job ids it kept in
session state are gone, but the jobs are not (they are rows in the job table, trained by worker
processes that outlive the server's process). :func:`reattach` runs once per session, from the
identity gate: for a person who is the same across sessions (a key in the URL, an account) it
puts their newest Build & train job and their newest transfer jobs back under the session keys,
when they are still worth watching: running in a worker (the live panel again), queued (their
place) or interrupted (said so, with Resume). Finished or stopped ones are on the Runs page. A laptop
has one user, the local teacher in every session: a reload mid-training finds their training the same way
(and so does a second tab: it follows the newest training, as a student's second tab does).
The teacher by password in a classroom is not looked for: that is any browser that typed it, not one person.
"""

from __future__ import annotations

import streamlit as st

from cnnviz.app.state import RECONNECT_CHECKED_KEY, TRAIN_JOB_KEY, TRANSFER_JOB_KEYS
from cnnviz.classroom.people import Person
from cnnviz.errors import CnnvizError
from cnnviz.training import jobs as training_jobs
from cnnviz.training.jobtable import JOB_STATES, JobStatus

#: Set once this session has looked for its person's jobs (one table read per session).
CHECKED_KEY = RECONNECT_CHECKED_KEY
#: States worth a panel on a fresh session.
REATTACH_STATES = ("queued", "running", "interrupted")
#: Who is the same person in another session (a key in the URL, a signed-in account).
LASTING_KINDS = ("key", "account")


def _session_key(table, status: JobStatus) -> str:
    """The session key a job's panel lives under: a transfer run's (frozen or not), else Build & train's."""
    record = table.record(status.job_id)
    panel = ("train",) if record is None else training_jobs.panel_of(record.spec)
    return TRANSFER_JOB_KEYS[panel[1]] if panel[0] == "transfer" else TRAIN_JOB_KEY


def newest_jobs(person: Person) -> dict[str, JobStatus]:
    """``{session key: status}`` of ``person``'s newest job per panel that is queued, running or interrupted."""
    table = training_jobs.manager().table  # its creation at a server's start marks orphaned jobs interrupted
    mine = [s for s in table.jobs(JOB_STATES) if s.owner == person.user_id and s.kind == "training"]
    newest: dict[str, JobStatus] = {}
    for status in reversed(mine):  # the table lists in queue order: newest last
        newest.setdefault(_session_key(table, status), status)
    order = (TRAIN_JOB_KEY, *TRANSFER_JOB_KEYS.values())
    return {key: newest[key] for key in order if key in newest and newest[key].state in REATTACH_STATES}


def reattach(person: Person, *, here: str | None = None, one_user: bool = False) -> list[JobStatus]:
    """Once per session: put ``person``'s jobs still worth watching back under this session's keys, and
    say what became of them. Returns the jobs put back (none when the session already has jobs).

    ``here``: the title of the page about to be drawn under the note: its panel is "below", not "on" it.
    ``one_user``: the server has one user (a laptop), the same person in every session whatever their kind.
    """
    if st.session_state.get(CHECKED_KEY) or not (one_user or person.kind in LASTING_KINDS):
        return []
    st.session_state[CHECKED_KEY] = True
    if any(st.session_state.get(k) for k in (TRAIN_JOB_KEY, *TRANSFER_JOB_KEYS.values())):
        return []
    try:
        found = newest_jobs(person)
    except CnnvizError as err:  # e.g. a damaged job table: said (naming it), and the pages without training open
        st.error(str(err))
        return []
    for key, status in found.items():
        st.session_state[key] = status.job_id
    if found:
        st.info(" ".join(["Welcome back.", *(_sentence(k, s, here) for k, s in found.items())]), icon=":material/sync:")
    return list(found.values())


def _sentence(key: str, status: JobStatus, here: str | None) -> str:
    where = "Build & train" if key == TRAIN_JOB_KEY else "Transfer learning"  # the pages' titles (cnnviz.catalog)
    what = f"Your training “{status.label}”"
    if status.state == "running":
        return f"{what} is still running: follow it {'below' if where == here else f'on {where}'}."
    if status.state == "queued":
        return (f"{what} is waiting for a free training slot, number {status.queue_position} in the queue: "
                + ("its place is shown below." if where == here else f"{where} shows its place."))
    return (f"{what} was interrupted when the server stopped: "
            + ("resume it below." if where == here else f"{where} offers to resume it."))
