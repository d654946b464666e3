"""A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: ``oidc-provider-mock`` in a thread.

:func:`running_provider` starts it on a free port with the given accounts (email, name) and stops it afterwards.
Its authorize page offers each account as a button labelled with the email (the account's ``sub``): a test
signs in by clicking one. Any client id and secret are accepted. :func:`write_auth_secrets` writes the
``[auth]`` section a ``streamlit run`` needs to use it; :func:`server_env` points the server at that file.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The client id and secret the app presents (the provider takes any).
CLIENT_ID = "cnnviz-tests"
CLIENT_SECRET = "not-a-real-secret"
#: Streamlit puts the server's port in place of ``{port}``, so the file can be written before the port is known.
REDIRECT_URI = "http://127.0.0.1:{port}/oauth2callback"


@dataclass(frozen=True)
class ProviderUser:
    """An account the provider knows: the email is also its subject (``sub``), shown on the authorize page."""

    email: str
    name: str


@dataclass(frozen=True)
class Provider:
    """A running provider: ``base`` is its address, e.g. ``http://127.0.0.1:40123``."""

    base: str

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"


@contextlib.contextmanager
def running_provider(accounts: Sequence[ProviderUser]) -> Iterator[Provider]:
    """Serve an OpenID Connect provider on a free 127.0.0.1 port in a thread; stop it when the block ends."""
    import oidc_provider_mock
    import werkzeug.serving

    users = [oidc_provider_mock.User(sub=a.email, claims={"email": a.email, "email_verified": True, "name": a.name})
             for a in accounts]
    app = oidc_provider_mock.app(user_claims=users)
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name="oidc-provider-mock")
    thread.start()
    try:
        yield Provider(base=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def auth_settings(provider: Provider, *, cookie_secret: str = "cookie-secret-for-the-sign-in-tests") -> dict:
    """The ``[auth]`` section for ``provider``, as one unnamed (default) provider."""
    return {"redirect_uri": REDIRECT_URI, "cookie_secret": cookie_secret, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "server_metadata_url": provider.metadata_url}


def write_auth_secrets(path: Path, auth: dict) -> Path:
    """Write ``auth`` as the ``[auth]`` section of a secrets.toml at ``path`` (flat string values only)."""
    lines = ["[auth]"]
    for key, value in auth.items():
        if not isinstance(value, str):
            raise TypeError(f"write_auth_secrets takes string values only; {key!r} is {value!r}")
        lines.append(f"{key} = {json.dumps(value)}")  # a JSON string is a TOML basic string for these values
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def server_env(secrets_file: Path) -> dict[str, str]:
    """Environment for ``streamlit run`` that reads only ``secrets_file`` (not the repository's or the user's) and
    reaches the provider directly even where a proxy is configured."""
    return {"STREAMLIT_SECRETS_FILES": str(secrets_file), "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost"}
