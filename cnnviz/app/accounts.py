"""Sign-in with school accounts: Streamlit's own OpenID Connect (``st.login`` / ``st.user``).

The teacher turns it on with an ``[auth]`` section in ``.streamlit/secrets.toml`` (README, "Sign-in"): one
provider in ``[auth]`` itself, or named ones in ``[auth.google]``, ``[auth.microsoft]``... Without that section
(a laptop, an offline classroom) nothing here draws anything and :func:`auth_configured` is False. Reading the
settings never touches the network: Streamlit fetches the provider's metadata only when someone clicks Sign in.
A half-written section is not usable: :func:`auth_problem` says what is missing, in words for the teacher.

Teachers by account are the emails listed in ``CNNVIZ_TEACHERS`` (comma-separated). This module only reads
accounts and draws their buttons; who is who without accounts (names and keys, the teacher password) and what
each may do belong to the classroom modules, which can use these pieces in place of :func:`sign_in_gate`.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

import streamlit as st

from cnnviz.classroom.people import teacher_emails

_LOG = logging.getLogger(__name__)

#: Environment variable: the teachers' account emails, comma-separated.
#: The provider Streamlit uses when the client settings sit in ``[auth]`` itself.
DEFAULT_PROVIDER = "default"

#: Shorter cookie secrets could be guessed, and a guessed one signs a cookie for any account (the teacher's).
MIN_COOKIE_SECRET = 16

_SHARED_KEYS = ("redirect_uri", "cookie_secret")
_PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
_SIGN_OUT_KEY = "accounts_sign_out"


@dataclass(frozen=True)
class Account:
    """A signed-in school account, from the provider's identity token (``st.user``)."""

    email: str
    name: str

    @property
    def user_id(self) -> str:
        """The account's owner id: ``"account:"`` and the email in lower case."""
        return "account:" + self.email.lower()


def auth_configured() -> bool:
    """True when ``.streamlit/secrets.toml`` has a complete, usable ``[auth]`` section (and Authlib is installed).

    Cheap: reads the secrets file Streamlit has already parsed; no network.
    """
    return _auth_section() is not None and auth_problem() is None


def auth_written() -> bool:
    """True when ``.streamlit/secrets.toml`` has an ``[auth]`` section at all, usable or not: the teacher meant
    this server for a class with accounts, so a broken section must not make it a one-person laptop."""
    return _auth_section() is not None


def auth_problem() -> str | None:
    """What keeps a written ``[auth]`` section from working, as one message for the teacher; None when it works
    or when there is no ``[auth]`` section at all (sign-in simply not set up). Never repeats a secret's value."""
    section = _auth_section()
    if section is None:
        return None
    if not isinstance(section, Mapping):
        return "`[auth]` in .streamlit/secrets.toml must be a section (a table), not a single value."
    missing = [key for key in _SHARED_KEYS if not _text(section.get(key))]
    if missing:
        return f"`[auth]` in .streamlit/secrets.toml has no {_keys(missing)}."
    if len(_text(section["cookie_secret"])) < MIN_COOKIE_SECRET:
        return (f"`cookie_secret` in `[auth]` is too short to keep sign-in cookies from being forged "
                f"({len(_text(section['cookie_secret']))} characters; use {MIN_COOKIE_SECRET} or more: "
                "python -c \"import secrets; print(secrets.token_urlsafe(32))\").")
    redirect = _text(section["redirect_uri"])
    if not redirect.startswith(("http://", "https://")) or not redirect.endswith("/oauth2callback"):
        return ("`redirect_uri` in `[auth]` must be the app's full address ending in /oauth2callback "
                f"(e.g. https://cnnviz.school.example/oauth2callback); it is {redirect!r}.")
    providers = _provider_sections(section)
    if not providers:
        return ("`[auth]` in .streamlit/secrets.toml names no sign-in provider: add `client_id`, `client_secret` and "
                "`server_metadata_url` to `[auth]`, or a section such as `[auth.google]` with them.")
    for name, provider in providers.items():
        where = "`[auth]`" if name == DEFAULT_PROVIDER else f"`[auth.{name}]`"
        if "_" in name:
            return f"{where}: Streamlit does not accept a provider name with an underscore; rename it."
        missing = [key for key in _PROVIDER_KEYS if not _text(provider.get(key))]
        if missing:
            return f"{where} in .streamlit/secrets.toml has no {_keys(missing)}."
        metadata = _text(provider["server_metadata_url"])
        if not metadata.startswith(("http://", "https://")):
            return f"`server_metadata_url` in {where} must be a full https:// address; it is {metadata!r}."
        if _any_microsoft_tenant(metadata):
            return (f"`server_metadata_url` in {where} lets any organisation's Microsoft accounts sign in, and each "
                    "organisation writes its own users' e-mail addresses, the teacher's too: use your school's "
                    "tenant, https://login.microsoftonline.com/YOUR-TENANT-ID/v2.0/.well-known/openid-configuration; "
                    f"it is {metadata!r}.")
    if not _authlib_installed():
        return "Sign-in needs the Authlib package on the server: run `pip install -e .` in cnnviz's folder again."
    return None


def providers() -> list[str]:
    """The configured provider names (``"default"`` for settings in ``[auth]`` itself); empty when not usable."""
    if not auth_configured():
        return []
    return list(_provider_sections(_auth_section()))


def signed_in_account() -> Account | None:
    """The account signed in to this browser session, or None (nobody signed in, or sign-in not configured).

    The email is the account's identity (and makes a teacher): an account whose provider shares no email
    address, or says it is not verified, counts as not signed in (Streamlit asks for the ``email`` scope by
    default). Microsoft may send the address as ``preferred_username`` only. The name falls back to the email.
    """
    if not auth_configured() or st.user.get("is_logged_in") is not True or _says_unverified(st.user.get("email_verified")):
        return None
    email = _text(st.user.get("email")) or _text(st.user.get("preferred_username"))
    if "@" not in email:
        return None
    name = _text(st.user.get("name")) or " ".join(
        part for part in (_text(st.user.get("given_name")), _text(st.user.get("family_name"))) if part)
    return Account(email=email, name=name or email)


def is_teacher_account(account: Account) -> bool:
    """True when the account's email is on the teacher list (``CNNVIZ_TEACHERS``), compared case-insensitively."""
    return account.email.lower() in teacher_emails()


def sign_in_button() -> None:
    """One "Sign in" button per configured provider; a click starts Streamlit's sign-in (``st.login``).

    Draws nothing when sign-in is not configured.
    """
    for name in providers():
        label = "Sign in" if name == DEFAULT_PROVIDER else f"Sign in with {name.title()}"
        if st.button(label, key=f"accounts_sign_in_{name}", type="primary", icon=":material/login:"):
            st.login(None if name == DEFAULT_PROVIDER else name)


def sign_out_button() -> None:
    """A "Sign out" button (``st.logout``: the identity cookie goes, the provider's session ends, a new session)."""
    if st.button("Sign out", key=_SIGN_OUT_KEY, icon=":material/logout:"):
        st.logout()


def signed_in_sidebar(name: str, is_teacher: bool = False) -> None:
    """The sidebar line "Signed in as NAME" (and "teacher") with a Sign out button under it."""
    # Lazy: cnnviz.data.images brings numpy and PIL (~50 ms measured), which a signed-out start does not need.
    from cnnviz.data.images import plain_name

    with st.sidebar:
        role = " · teacher" if is_teacher else ""
        st.markdown(f"Signed in as **{plain_name(name)}**{role}")
        sign_out_button()


def show_auth_problem() -> bool:
    """Say in the sidebar (and once in the server log) what keeps a written ``[auth]`` from working; True if
    something does. The app then goes on without accounts rather than failing at the first sign-in."""
    problem = auth_problem()
    if problem is None:
        return False
    _log_once(problem)
    st.sidebar.error(f"Sign-in with school accounts is not working. {problem} (README: Sign-in)",
                     icon=":material/lock_open:")
    return True


def sign_in_gate() -> Account | None:
    """Who this session is, on a server with sign-in; call it before the pages are drawn.

    Sign-in configured: the signed-in account (with "Signed in as" in the sidebar), or else a sign-in screen
    and ``st.stop()``. Not configured: None, and a half-written ``[auth]`` shows the teacher what is missing.
    """
    if show_auth_problem() or not auth_configured():
        return None
    account = signed_in_account()
    if account is None:
        st.title("cnnviz: a CNN lab")
        st.write("Sign in with your school account to start.")
        sign_in_button()
        st.stop()
    signed_in_sidebar(account.name, is_teacher_account(account))
    return account


def _auth_section():
    """``[auth]`` from ``st.secrets`` (the file Streamlit reads, or AppTest's secrets), or None when absent."""
    secrets = st.secrets
    if not secrets.load_if_toml_exists() or "auth" not in secrets:
        return None
    return secrets["auth"]


def _provider_sections(section: Mapping) -> dict[str, Mapping]:
    """Provider settings by name: ``"default"`` when ``[auth]`` holds client settings itself, then each
    ``[auth.NAME]`` subsection that holds any (``client_kwargs`` is a setting, not a provider)."""
    found = {}
    if any(key in section for key in _PROVIDER_KEYS):
        found[DEFAULT_PROVIDER] = section
    for name, value in section.items():
        if isinstance(value, Mapping) and name != "client_kwargs" and any(key in value for key in _PROVIDER_KEYS):
            found[name] = value
    return found


@functools.cache
def _authlib_installed() -> bool:
    """Whether Streamlit's sign-in can work here (looked up once: a path search costs ~0.1 ms a call)."""
    return importlib.util.find_spec("authlib") is not None


@functools.cache
def _log_once(problem: str) -> None:
    """Tell the server log once per distinct problem, not on every rerun of every page."""
    _LOG.warning("sign-in with school accounts is not set up: %s", problem)


#: Microsoft's sign-in addresses that take accounts of every organisation (``consumers``, personal accounts only,
#: has addresses Microsoft checked).
_MULTI_TENANT = ("common", "organizations")


def _any_microsoft_tenant(metadata_url: str) -> bool:
    """Whether ``metadata_url`` is Microsoft's sign-in for every organisation (``/common/``, ``/organizations/``):
    there the e-mail claim is whatever another organisation's administrator wrote, unchecked (Microsoft's "nOAuth"
    warning), so a stranger's account could carry the teacher's address."""
    url = urllib.parse.urlsplit(metadata_url.strip())
    tenant = url.path.strip("/").split("/")[0].lower()
    return (url.hostname or "").lower().startswith("login.microsoftonline.") and tenant in _MULTI_TENANT


def _says_unverified(claim) -> bool:
    """Whether an ``email_verified`` claim says no: False, or the text "false" (Sign in with Apple sends the claim as
    a string; the text "false" is not the boolean False, and a check for ``is False`` let it through)."""
    return claim is False or (isinstance(claim, str) and claim.strip().lower() == "false")


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def _keys(names: list[str]) -> str:
    return " or ".join(f"`{name}`" for name in names)
