"""Sign-in with Streamlit's own authentication (``st.login`` / ``st.user``, OpenID Connect).

A minimal version of the contract in the session plan (the class-oidc work replaces it with the
full one): whether ``[auth]`` is configured, the signed-in account, and the two buttons.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Account:
    """A signed-in person as the identity provider names them."""

    email: str
    name: str


def auth_configured() -> bool:
    """Whether Streamlit's ``[auth]`` settings are present (in ``.streamlit/secrets.toml``)."""
    try:
        auth = st.secrets.get("auth")
    except FileNotFoundError:  # no secrets file at all (StreamlitSecretNotFoundError is one)
        return False
    return bool(auth) and bool(auth.get("redirect_uri")) and bool(auth.get("cookie_secret"))


def signed_in_account() -> Account | None:
    """The account signed in to this browser session, or None (not signed in, or no sign-in configured)."""
    if not auth_configured() or not st.user.is_logged_in:
        return None
    email = st.user.get("email")
    if not isinstance(email, str) or "@" not in email:
        return None
    name = st.user.get("name")
    return Account(email=email, name=name if isinstance(name, str) else "")


def sign_in_button() -> None:
    if st.button("Sign in", key="accounts_sign_in", icon=":material/login:"):
        st.login()


def sign_out_button() -> None:
    if st.button("Sign out", key="accounts_sign_out", icon=":material/logout:"):
        st.logout()
