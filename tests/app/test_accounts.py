"""Sign-in with school accounts (cnnviz.app.accounts): settings read from ``[auth]``, ``st.user`` read as an Account,
the sign-in screen, the sidebar line and sign-out, all in AppTest (``at.secrets``, ``at.user``)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import accounts
from cnnviz.classroom import people

SHARED = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "a-long-random-cookie-secret"}
CLIENT = {"client_id": "cnnviz", "client_secret": "client-secret-value",
          "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}
MICROSOFT = "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"
ADA = {"is_logged_in": True, "email": "Ada@School.example", "name": "Ada Lovelace", "sub": "1"}


def _script():
    """The app's gate and a line after it that shows what the page would see."""
    import streamlit as st

    from cnnviz.app import accounts

    account = accounts.sign_in_gate()
    st.session_state["probe"] = {
        "configured": accounts.auth_configured(), "problem": accounts.auth_problem(),
        "written": accounts.auth_written(), "account": account, "signed_in": accounts.signed_in_account(),
        "providers": accounts.providers(),
    }
    st.write("the pages")


def _run(auth=None, user=None) -> AppTest:
    at = AppTest.from_function(_script, default_timeout=30)
    if auth is not None:
        at.secrets["auth"] = auth
    if user is not None:
        at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def _probe(at: AppTest) -> dict:
    return at.session_state["probe"]


def test_no_auth_section_means_not_configured_and_nothing_drawn():
    at = _run()
    probe = _probe(at)
    assert probe == {"configured": False, "problem": None, "written": False, "account": None, "signed_in": None,
                     "providers": []}
    assert not at.sidebar.markdown and not at.sidebar.error and not at.button
    assert [m.value for m in at.markdown] == ["the pages"]


def test_outside_a_script_run_with_no_secrets_file_it_is_not_configured():
    # A laptop: no .streamlit/secrets.toml anywhere Streamlit looks (the tests run without one).
    assert accounts.auth_configured() is False
    assert accounts.auth_problem() is None


def test_signed_out_student_sees_only_the_sign_in_screen():
    at = _run({**SHARED, **CLIENT}, user={"is_logged_in": False})
    assert "probe" not in at.session_state  # st.stop(): no page drawn
    assert [b.label for b in at.button] == ["Sign in"]
    assert at.title[0].value == "cnnviz: a CNN lab"
    assert "Sign in with your school account" in at.markdown[0].value


def test_signed_in_account_is_read_from_st_user():
    at = _run({**SHARED, **CLIENT}, user=ADA)
    probe = _probe(at)
    assert probe["configured"] is True and probe["providers"] == ["default"]
    assert probe["account"] == accounts.Account(email="Ada@School.example", name="Ada Lovelace")
    assert probe["signed_in"] == probe["account"]
    assert probe["account"].user_id == "account:ada@school.example"
    assert at.sidebar.markdown[0].value == "Signed in as **Ada Lovelace**"
    assert [b.label for b in at.sidebar.button] == ["Sign out"]


def test_a_teacher_by_email_is_marked_teacher(monkeypatch):
    monkeypatch.setenv(people.TEACHERS_ENV, " grace@school.example , ADA@school.example")
    at = _run({**SHARED, **CLIENT}, user=ADA)
    assert at.sidebar.markdown[0].value == "Signed in as **Ada Lovelace** · teacher"
    assert accounts.teacher_emails() == {"grace@school.example", "ada@school.example"}


def test_a_student_is_not_a_teacher(monkeypatch):
    monkeypatch.setenv(people.TEACHERS_ENV, "grace@school.example")
    at = _run({**SHARED, **CLIENT}, user=ADA)
    assert at.sidebar.markdown[0].value == "Signed in as **Ada Lovelace**"
    assert not accounts.is_teacher_account(accounts.Account("ada@school.example", "Ada"))


def test_sign_out_clears_the_user_and_shows_sign_in_again():
    at = _run({**SHARED, **CLIENT}, user=ADA)
    at.sidebar.button(key="accounts_sign_out").click().run()
    assert at.user == {"is_logged_in": False}
    at.run()  # a browser is sent to Streamlit's logout route and back, which starts a new run
    assert [b.label for b in at.button] == ["Sign in"] and not at.sidebar.markdown


def test_a_markdown_name_is_shown_as_typed():
    at = _run({**SHARED, **CLIENT}, user={**ADA, "name": "**Bold** [x](http://127.0.0.1:9/)"})
    shown = at.sidebar.markdown[0].value
    assert "\\*\\*Bold\\*\\*" in shown and "\\[x\\]" in shown and "http://" not in shown


def test_name_falls_back_to_given_and_family_name_then_email():
    at = _run({**SHARED, **CLIENT}, user={"is_logged_in": True, "email": "b@s.example", "given_name": "Bo",
                                          "family_name": "Li"})
    assert _probe(at)["account"] == accounts.Account("b@s.example", "Bo Li")
    at = _run({**SHARED, **CLIENT}, user={"is_logged_in": True, "email": "b@s.example"})
    assert _probe(at)["account"] == accounts.Account("b@s.example", "b@s.example")


@pytest.mark.parametrize("user", [
    {"is_logged_in": True, "name": "No Mail", "sub": "42"},
    {**ADA, "email_verified": False},  # an address the provider has not checked could be the teacher's
    {**ADA, "email_verified": "false"},  # Sign in with Apple sends the claim as text
    {**ADA, "email_verified": " False "},
])
def test_an_account_without_a_verified_email_is_not_signed_in(user):
    at = _run({**SHARED, **CLIENT}, user=user)
    assert "probe" not in at.session_state and [b.label for b in at.button] == ["Sign in"]


def test_an_address_in_preferred_username_is_the_email():
    # Microsoft Entra sends the address as preferred_username when the account has no mailbox.
    at = _run({**SHARED, **CLIENT}, user={"is_logged_in": True, "preferred_username": "bo@s.example", "name": "Bo",
                                          "email_verified": True})
    assert _probe(at)["account"] == accounts.Account("bo@s.example", "Bo")


def test_named_providers_get_one_button_each():
    at = _run({**SHARED, "google": CLIENT, "microsoft": {**CLIENT, "client_kwargs": {"prompt": "login"}}},
              user={"is_logged_in": False})
    assert [b.label for b in at.button] == ["Sign in with Google", "Sign in with Microsoft"]


def test_a_sign_in_click_calls_st_login_with_its_provider(monkeypatch):
    # Streamlit's st.login reads the secrets file itself (AppTest's secrets do not reach it): the redirect it
    # starts is driven in the real browser (tests/e2e/test_accounts_in_browser.py); here, which provider it gets.
    import streamlit as st

    calls = []
    monkeypatch.setattr(st, "login", calls.append)
    at = _run({**SHARED, "google": CLIENT, "microsoft": CLIENT}, user={"is_logged_in": False})
    at.button(key="accounts_sign_in_microsoft").click().run()
    assert calls == ["microsoft"]
    at = _run({**SHARED, **CLIENT}, user={"is_logged_in": False})
    at.button(key="accounts_sign_in_default").click().run()
    assert calls == ["microsoft", None]


@pytest.mark.parametrize(("auth", "words"), [
    ({"cookie_secret": "s" * 20, **CLIENT}, "no `redirect_uri`"),
    ({**SHARED, "cookie_secret": ""}, "no `cookie_secret`"),
    ({**SHARED, **CLIENT, "cookie_secret": "xxx"}, "too short to keep sign-in cookies from being forged (3 char"),
    ({**SHARED, "redirect_uri": "localhost:8501"}, "ending in /oauth2callback"),
    (SHARED, "names no sign-in provider"),
    ({**SHARED, "client_id": "x", "server_metadata_url": CLIENT["server_metadata_url"]},
     "`[auth]` in .streamlit/secrets.toml has no `client_secret`"),
    ({**SHARED, "google": {"client_id": "x"}}, "`[auth.google]` in .streamlit/secrets.toml has no `client_secret` or"),
    ({**SHARED, "my_school": CLIENT}, "underscore"),
    ({**SHARED, **CLIENT, "server_metadata_url": "accounts.google.com"}, "full https:// address"),
    ("yes", "must be a section"),
    # Any organisation's Microsoft accounts: their e-mail claim is whatever their own administrator wrote (nOAuth)
    ({**SHARED, "microsoft": {**CLIENT, "server_metadata_url": MICROSOFT.format(tenant="common")}},
     "lets any organisation's Microsoft accounts sign in"),
    ({**SHARED, "microsoft": {**CLIENT, "server_metadata_url": MICROSOFT.format(tenant="Organizations")}},
     "use your school's tenant"),
])
def test_a_half_written_auth_section_tells_the_teacher_and_does_not_crash(auth, words):
    at = _run(auth, user={"is_logged_in": False})
    probe = _probe(at)
    assert probe["configured"] is False and probe["account"] is None and words in probe["problem"]
    assert probe["written"] is True  # a classroom still: names and keys, not everyone the teacher
    assert words in at.sidebar.error[0].value and "client-secret-value" not in at.sidebar.error[0].value
    assert [m.value for m in at.markdown] == ["the pages"]  # the app goes on without accounts


def test_the_test_provider_issues_the_claims_the_app_reads():
    # The harness the browser test signs in through: a code flow by hand, the identity token's claims read back.
    import base64
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from tests.support import oidc

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    redirect = "http://127.0.0.1:9/oauth2callback"
    with oidc.running_provider([oidc.ProviderUser("ada@school.example", "Ada Lovelace")]) as provider:
        with urllib.request.urlopen(provider.metadata_url, timeout=10) as resp:
            metadata = json.load(resp)
        assert metadata["issuer"] == provider.base and provider.base.startswith("http://127.0.0.1:")
        query = urllib.parse.urlencode({"client_id": oidc.CLIENT_ID, "redirect_uri": redirect, "response_type": "code",
                                        "scope": "openid email profile", "state": "s"})
        form = urllib.parse.urlencode({"sub": "ada@school.example"}).encode()
        with pytest.raises(urllib.error.HTTPError) as answer:  # the 302 back to the app, not followed
            urllib.request.build_opener(_NoRedirect).open(f"{metadata['authorization_endpoint']}?{query}", form,
                                                           timeout=10)
        back = urllib.parse.urlparse(answer.value.headers["Location"])
        answer.value.close()
        code = urllib.parse.parse_qs(back.query)["code"][0]
        token_form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                             "client_id": oidc.CLIENT_ID, "client_secret": oidc.CLIENT_SECRET}).encode()
        with urllib.request.urlopen(metadata["token_endpoint"], token_form, timeout=10) as resp:
            id_token = json.load(resp)["id_token"]
    payload = id_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["email"], claims["name"], claims["iss"]) == ("ada@school.example", "Ada Lovelace", provider.base)


def test_the_readme_example_is_a_working_auth_section():
    import re
    import tomllib

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(\[auth\].*?)```", readme, re.S).group(1)
    filled = example.replace('"..."', '"' + "x" * 32 + '"')  # the teacher's own id, secret and cookie secret
    at = _run(tomllib.loads(filled)["auth"], user={"is_logged_in": False})
    assert not at.sidebar.error and [b.label for b in at.button] == ["Sign in with Google"]


def test_a_schools_own_microsoft_tenant_is_a_working_auth_section():
    tenant = MICROSOFT.format(tenant="0f3c9b2e-1d4a-4c7b-9e8f-123456789abc")
    at = _run({**SHARED, "microsoft": {**CLIENT, "server_metadata_url": tenant}}, user={"is_logged_in": False})
    assert not at.sidebar.error and [b.label for b in at.button] == ["Sign in with Microsoft"]


def test_without_authlib_the_teacher_is_told_to_reinstall(monkeypatch):
    monkeypatch.setattr(accounts, "_authlib_installed", lambda: False)
    at = _run({**SHARED, **CLIENT}, user=ADA)
    assert _probe(at)["configured"] is False and "Authlib" in at.sidebar.error[0].value
    assert "probe" in at.session_state and not at.button  # the pages go on, no Sign in that would fail


def test_a_half_written_auth_section_keeps_the_server_a_classroom(app_path):
    # Not a laptop where everyone is the teacher: the name form (or Sign in) and the teacher's message.
    pytest.importorskip("cnnviz.app.identity", reason="who is who comes with the classroom modules (issue 14)")
    at = AppTest.from_file(app_path, default_timeout=60)
    at.secrets["auth"] = {**SHARED, "client_id": "cnnviz"}  # no client_secret, no server_metadata_url
    at.run()
    assert not at.exception, at.exception
    assert "has no `client_secret` or `server_metadata_url`" in at.sidebar.error[0].value
    assert at.text_input and "cnnviz: a CNN lab" not in [t.value for t in at.title]  # a name form, not Home
