"""Sign-in with school accounts in the real browser (issue 14): Streamlit's own OpenID Connect against a real
provider on 127.0.0.1 (oidc-provider-mock, tests/support/oidc.py), a student and a teacher (by CNNVIZ_TEACHERS).

Each browser context is one person's browser (its own cookies): :func:`signed_in` gives one, signed in. The
ownership check (a student's run seen by its owner and the teacher only) runs once the classroom modules that
record run owners are in the tree (``cnnviz.classroom``); until then it is skipped.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import running_app
from tests.e2e.streamlit_page import assert_no_errors, offered, screenshot, wait_idle
from tests.support import oidc
from tests.support.runfolders import GOOD_CONFIG, write_run

pytestmark = pytest.mark.e2e

STUDENT = oidc.ProviderUser("ada@school.example", "Ada Lovelace")
OTHER_STUDENT = oidc.ProviderUser("alan@school.example", "Alan Turing")
TEACHER = oidc.ProviderUser("grace@school.example", "Grace Hopper")
#: One saved run each for Ada and Alan (written by hand, owned by their accounts); pages show an id's last 8 digits.
RUNS = {STUDENT: "20260101-000000-0000ada1", OTHER_STUDENT: "20260101-000000-0000a1a2"}


@pytest.fixture(scope="module")
def provider():
    with oidc.running_provider([STUDENT, OTHER_STUDENT, TEACHER]) as running:
        yield running


@pytest.fixture(scope="module")
def accounts_server(provider, tmp_path_factory):
    """``streamlit run app.py`` with ``[auth]`` pointing at the provider and Grace on the teacher list."""
    home = tmp_path_factory.mktemp("e2e-accounts-home")
    for who, run_id in RUNS.items():
        write_run(home, run_id, config={**GOOD_CONFIG, "owner": "account:" + who.email, "owner_name": who.name})
    secrets = oidc.write_auth_secrets(home / "secrets" / "secrets.toml", oidc.auth_settings(provider))
    env = {**oidc.server_env(secrets), "CNNVIZ_TEACHERS": TEACHER.email}
    with running_app(home, "streamlit-accounts.log", env=env) as url:
        yield url


def sign_in(page, server: str, provider: oidc.Provider, who: oidc.ProviderUser) -> None:
    """From the app's sign-in screen through the provider's authorize page back to the app, signed in."""
    page.goto(server)
    wait_idle(page, timeout=120)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(provider.base) + "/oauth2/authorize"), timeout=60_000)
    page.get_by_role("button", name=who.email, exact=True).click()  # the provider's one-click user
    page.wait_for_url(re.compile("^" + re.escape(server) + "/?$"), timeout=60_000)
    wait_signed_in(page, who)
    wait_idle(page, timeout=120)


def sign_out(page, server: str, provider: oidc.Provider) -> None:
    """Sidebar "Sign out", then the provider's end-session page, back to the app's sign-in screen."""
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(provider.base) + "/oauth2/end_session"), timeout=60_000)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(re.compile("^" + re.escape(server) + "/?$"), timeout=60_000)
    page.get_by_role("button", name="Sign in").wait_for(timeout=120_000)


def wait_signed_in(page, who: oidc.ProviderUser) -> None:
    """Until the sidebar names ``who`` and offers Sign out (the words around the name may change)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar).to_contain_text(who.name, timeout=120_000)
    expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible(timeout=60_000)


def name_line(page, who: oidc.ProviderUser) -> str:
    """The sidebar's line that names ``who`` ("Signed in as Ada Lovelace"), or "" when none does."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    if sidebar.count() == 0:  # the sign-in screen draws no sidebar
        return ""
    lines = sidebar.inner_text().splitlines()
    return next((line for line in lines if who.name in line), "")


@contextlib.contextmanager
def signed_in(browser, server: str, provider: oidc.Provider, who: oidc.ProviderUser):
    """A browser of its own (cookies and all) for ``who``, signed in; closed afterwards."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        sign_in(page, server, provider, who)
        yield page
    finally:
        context.close()


def test_nobody_signed_in_sees_only_the_sign_in_screen(accounts_server, page):
    page.goto(accounts_server)
    wait_idle(page, timeout=120)
    assert page.get_by_role("button", name="Sign in").count() == 1
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0  # no pages before signing in
    assert_no_errors(page)
    screenshot(page, "accounts_sign_in_screen")


def test_a_student_signs_in_sees_their_name_and_signs_out(accounts_server, provider, page):
    sign_in(page, accounts_server, provider, STUDENT)
    assert "teacher" not in name_line(page, STUDENT)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 1  # the pages are there
    assert_no_errors(page)
    screenshot(page, "accounts_student_signed_in")

    page.reload()  # the identity cookie keeps the student signed in across a reload
    wait_signed_in(page, STUDENT)

    sign_out(page, accounts_server, provider)
    page.reload()  # and the cookie is gone: still signed out after a reload
    wait_idle(page, timeout=120)
    assert page.get_by_role("button", name="Sign in").count() == 1 and name_line(page, STUDENT) == ""
    assert_no_errors(page)


def test_a_teacher_by_email_signs_in_as_teacher(accounts_server, provider, page):
    sign_in(page, accounts_server, provider, TEACHER)
    assert "teacher" in name_line(page, TEACHER)  # "Signed in as Grace Hopper · teacher"
    assert_no_errors(page)
    screenshot(page, "accounts_teacher_signed_in")


def test_two_people_at_once_are_each_themselves(accounts_server, provider, browser):
    # The frame for the ownership checks (issue 14): two browsers, two accounts, one server.
    with signed_in(browser, accounts_server, provider, STUDENT) as ada, \
            signed_in(browser, accounts_server, provider, OTHER_STUDENT) as alan:
        ada.reload()
        wait_signed_in(ada, STUDENT)
        assert name_line(ada, OTHER_STUDENT) == "" and name_line(alan, STUDENT) == ""
        assert_no_errors(ada)
        assert_no_errors(alan)


def test_a_students_run_is_seen_by_its_owner_and_the_teacher_only(accounts_server, provider, browser):
    pytest.importorskip("cnnviz.classroom", reason="run owners come with the classroom modules (issue 14)")
    tail = {who: run_id[-8:] for who, run_id in RUNS.items()}
    with signed_in(browser, accounts_server, provider, STUDENT) as ada, \
            signed_in(browser, accounts_server, provider, OTHER_STUDENT) as alan, \
            signed_in(browser, accounts_server, provider, TEACHER) as grace:
        shown = {}
        for who, page in ((STUDENT, ada), (OTHER_STUDENT, alan), (TEACHER, grace)):
            page.goto(f"{accounts_server}/runs")
            wait_idle(page, timeout=180)
            assert_no_errors(page)
            shown[who] = page.locator('[data-testid="stMain"]').inner_text()
        screenshot(ada, "accounts_student_runs")
    assert tail[STUDENT] in shown[STUDENT] and tail[OTHER_STUDENT] not in shown[STUDENT]
    assert tail[OTHER_STUDENT] in shown[OTHER_STUDENT] and tail[STUDENT] not in shown[OTHER_STUDENT]
    assert tail[STUDENT] in shown[TEACHER] and tail[OTHER_STUDENT] in shown[TEACHER]


def test_the_run_pages_offer_a_student_only_their_own_run(accounts_server, provider, browser):
    pytest.importorskip("cnnviz.classroom", reason="run owners come with the classroom modules (issue 14)")
    tail = {who: run_id[-8:] for who, run_id in RUNS.items()}
    with signed_in(browser, accounts_server, provider, OTHER_STUDENT) as alan:
        for path, label in (("evaluate", "Run"), ("inside", "Run"), ("robustness", "Runs")):
            alan.goto(f"{accounts_server}/{path}")
            wait_idle(alan, timeout=240)
            seen = offered(alan, label)
            assert tail[OTHER_STUDENT] in seen and tail[STUDENT] not in seen, f"Alan on {path}: {seen}"
            assert_no_errors(alan)
