"""Who this browser session is: an account, a student's private key in the URL, the teacher, or the laptop user.

:func:`gate` runs before every page (``app.py``): on a laptop (nothing configured) it draws nothing and
everyone is the local teacher, as before classrooms. In a classroom it draws the sidebar's Teacher
box, keeps a student's key in the URL across page switches and reloads, and stops the page with
a short name form (or a Sign in button) while nobody is known. Pages call :func:`person` and pass
it to every backend call that reads or changes someone's things.
"""

from __future__ import annotations

import streamlit as st

from cnnviz import storage
from cnnviz.app import accounts
from cnnviz.app.state import RECONNECT_CHECKED_KEY
from cnnviz.classroom import db, people, roster
from cnnviz.classroom.people import Person
from cnnviz.errors import CnnvizError
from cnnviz.markup import plain_text

#: The URL query parameter that holds a student's private key.
KEY_PARAM = "key"
#: The key this session uses (put back in the URL when a page switch drops it).
SESSION_KEY = "identity_key"
#: ``(key, Person)`` of the last lookup: one SQLite read per key, not per rerun.
LOOKUP_KEY = "identity_lookup"
#: True once the teacher password was entered in this session.
TEACHER_FLAG = "identity_teacher"
#: True right after registering: the page says once to bookmark the address.
WELCOME_KEY = "identity_welcome"
#: The user id this session's state (job ids, chosen runs, results) belongs to.
STATE_OWNER_KEY = "identity_state_owner"
#: ``(user id, display name, class file's stamp, shown name)``: the roster read again only once the class file changed.
SHOWN_KEY = "identity_shown"


def classroom() -> bool:
    """Whether this server is a classroom (:func:`cnnviz.classroom.people.classroom_mode`)."""
    return people.classroom_mode(auth_configured=accounts.auth_written())  # a broken [auth] is still a class


def _student(key: str | None) -> Person | None:
    if not key:
        return None
    cached = st.session_state.get(LOOKUP_KEY)
    if cached and cached[0] == key:
        return cached[1]
    found = roster.lookup(key)
    if found is not None:
        st.session_state[LOOKUP_KEY] = (key, found)
    return found


def _url_key() -> str | None:
    value = st.query_params.get(KEY_PARAM)
    return value if isinstance(value, str) and value else None


def current_person() -> Person | None:
    """This session's person: None in a classroom while nobody is known yet (no account, no known key)."""
    if not classroom():
        return people.local_teacher()
    account = accounts.signed_in_account()
    if account is not None:
        found = people.account_person(account.email, account.name)
        if st.session_state.get(TEACHER_FLAG) and not found.is_teacher:
            found = Person(found.user_id, found.display_name, True, "account")
        return found
    student = _student(_url_key() or st.session_state.get(SESSION_KEY))
    if st.session_state.get(TEACHER_FLAG):
        # A student who enters the password is the teacher under their own user id: what they
        # made stays theirs, and what they make now is theirs too (the teacher sees it anyway).
        return people.local_teacher() if student is None else Person(student.user_id, student.display_name,
                                                                      True, "key")
    return student


def known() -> bool:
    """Whether this session's person is known (False too while the class file cannot be read: :func:`gate` says
    why), for the page list."""
    try:
        return current_person() is not None
    except CnnvizError:
        return False


def person() -> Person:
    """This session's person for a page (the gate has made sure there is one)."""
    found = current_person()
    if found is None:  # only without the gate (a page run on its own): ask on Home
        st.info("Choose your name first: open the lab's Home page.")
        st.stop()
    return found


def gate(here: str | None = None) -> Person:
    """Before every page: in a classroom, the Teacher box, the key kept in the URL, and a name form
    (or Sign in) that stops the page while nobody is known. On a laptop: the local teacher, nothing drawn but
    the note that finds a training again after a reload (:func:`cnnviz.app.reconnect.reattach`).

    ``here``: the title of the page about to run (a note about a training says "below" on its own page).
    """
    if not classroom():
        found = people.local_teacher()
        if not st.session_state.get(RECONNECT_CHECKED_KEY):  # once, at a session's start: never in the middle of one
            if storage.jobs_table_path().exists():  # a laptop that never trained: Home imports no job code (numpy)
                from cnnviz.app import reconnect  # lazy, as below

                reconnect.reattach(found, here=here, one_user=True)  # a reload mid-training finds the panel again
            st.session_state[RECONNECT_CHECKED_KEY] = True
        return found
    accounts.show_auth_problem()  # a half-written [auth]: the teacher reads what is missing
    _teacher_box()
    try:
        found = current_person()
    except CnnvizError as err:  # a damaged or locked class file: nobody can be told apart, so no page; say why
        st.error(str(err))
        st.stop()
    if found is None:
        _who_are_you()
        st.stop()
    if st.session_state.get(STATE_OWNER_KEY, found.user_id) != found.user_id:
        # Someone else in this tab now (the teacher left teacher mode and a student chose a name): nothing of the
        # one before (their job ids, runs chosen, results, the reconnect check) is theirs.
        for name in [k for k in st.session_state if not str(k).startswith("identity_")]:  # this module's own
            del st.session_state[name]
    st.session_state[STATE_OWNER_KEY] = found.user_id
    if found.kind == "key":
        key = _url_key() or st.session_state.get(SESSION_KEY)
        st.session_state[SESSION_KEY] = key
        if _url_key() != key:  # a page switch dropped it: a reload or bookmark must find the student again
            st.query_params[KEY_PARAM] = key
    from cnnviz.data.images import plain_name  # lazy, as in accounts.signed_in_sidebar: numpy and PIL

    me = shown_name(found)  # "Ann (3f2a)" as the teacher's pages say it, while another student reads as "Ann"
    if found.kind == "account":
        accounts.signed_in_sidebar(me, found.is_teacher)
    else:
        # names hold no Markdown characters (roster.clean_name), but "www.…" and "a@b.c" would still be links
        st.sidebar.caption(f"You are **{plain_name(me)}**" + (" (teacher)" if found.is_teacher else ""))
    # lazy: the job modules bring numpy and the training code (0.3-1 s measured), which a laptop's Home never needs
    from cnnviz.app import reconnect

    reconnect.reattach(found, here=here)  # a fresh session after a restart: their trainings, found by owner
    if st.session_state.pop(WELCOME_KEY, False):
        st.success(f"Welcome, {plain_name(me)}! Bookmark this page: its address holds your private key, "
                   "and it brings your runs back. Without it (another browser) you are someone new. Keep it to "
                   "yourself: whoever opens this address is you, and can delete your runs.")
    return found


def shown_name(found: Person) -> str:
    """``found``'s name as the teacher's pages show it (:func:`cnnviz.classroom.roster.shown_name`), read from the
    roster again only once the class file has changed (:func:`cnnviz.classroom.db.stamp`), not on every page."""
    stamp = db.stamp()
    cached = st.session_state.get(SHOWN_KEY)
    if cached and cached[:3] == (found.user_id, found.display_name, stamp):
        return cached[3]
    try:
        shown = roster.shown_name(found)
    except CnnvizError:  # a class file that cannot be read: the pages that need it say so; the teacher's lack tags too
        return found.display_name
    st.session_state[SHOWN_KEY] = (found.user_id, found.display_name, stamp, shown)
    return shown


def _who_are_you() -> None:
    st.title("Welcome to the CNN lab")
    if accounts.auth_configured():
        st.write("Sign in with your school account to train your own networks.")
        accounts.sign_in_button()
        return
    if _url_key() is not None:
        st.warning("This address holds a key that this server does not know (it may be from another server, "
                   "or mistyped). Check your bookmark, or choose a name to start afresh.")
    with st.form("identity_name_form"):
        name = st.text_input("Your name (the class and the teacher see it)", max_chars=roster.NAME_MAX,
                             key="identity_name")
        if st.form_submit_button("Start", icon=":material/login:"):
            try:
                key, _ = roster.register(name)
            except CnnvizError as err:  # a name too short, too long or unprintable: say so (as typed), keep the form
                st.error(plain_text(str(err)))
                return
            st.session_state[SESSION_KEY] = key
            st.session_state[WELCOME_KEY] = True
            st.query_params[KEY_PARAM] = key
            st.rerun()


def _teacher_box() -> None:
    with st.sidebar.expander("Teacher", icon=":material/school:"):
        if st.session_state.get(TEACHER_FLAG):
            st.caption("This browser session is the teacher's.")
            if st.button("Leave teacher mode", key="identity_leave_teacher"):
                st.session_state.pop(TEACHER_FLAG, None)
                st.rerun()
            return
        if people.teacher_password_blank():
            st.caption(f"The teacher password ({people.PASSWORD_ENV}) is set but blank on this server: nobody can "
                       "enter as the teacher until it holds a password and the server is started again.")
            return
        if not people.teacher_password_set():
            st.caption(f"No teacher password is set on this server ({people.PASSWORD_ENV}).")
            return
        with st.form("identity_teacher_form", clear_on_submit=True):
            entered = st.text_input("Teacher password", type="password", key="identity_password")
            if st.form_submit_button("Enter"):
                try:
                    right = people.check_teacher_password(entered)
                except CnnvizError as err:  # too many wrong ones, or the class file that counts them is damaged
                    st.error(plain_text(str(err)))
                    return
                if right:
                    st.session_state[TEACHER_FLAG] = True
                    st.rerun()
                st.error("That is not the teacher password.")
