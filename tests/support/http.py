"""One loopback HTTP server on 127.0.0.1 for the download tests: nothing ever leaves the machine.

It serves files from ``routes``, records every requested path in ``hits``, and can misbehave on purpose:
send half of what Content-Length promised, send no Content-Length, or stall after a few bytes.
:func:`refused_url` is an address where nothing listens (an offline machine).
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


def md5(data: bytes) -> str:
    """The MD5 a download of ``data`` is checked against."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Route:
    """What the server answers on one path.

    Attributes:
        body: the file's bytes.
        mode: ``"ok"``; ``"truncate"`` (Content-Length says ``len(body)``, half is sent); ``"no_length"``
            (no Content-Length header); ``"stall"`` (Content-Length says ``announced``, ``body`` is sent,
            then nothing more until the server closes: a stalled mirror).
        announced: the Content-Length a ``"stall"`` route announces.
    """

    body: bytes
    mode: str = "ok"
    announced: int = 1000


@dataclass
class LoopbackServer:
    """A running server: ``base`` URL, ``routes`` by path (add more any time), requested paths in ``hits``."""

    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body: bytes, mode: str = "ok", **kw) -> str:
        """Serve ``body`` on ``path``; return its URL."""
        self.routes[path] = Route(body, mode, **kw)
        return self.url(path)

    def close(self) -> None:
        self.closing.set()  # releases stalled answers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state: LoopbackServer = self.server.state  # type: ignore[attr-defined]
        state.hits.append(self.path)
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if route.mode != "no_length":
            self.send_header("Content-Length", str(route.announced if route.mode == "stall" else len(route.body)))
        self.end_headers()
        body = route.body[: len(route.body) // 2] if route.mode == "truncate" else route.body
        self.wfile.write(body)
        self.wfile.flush()
        if route.mode == "stall":
            state.closing.wait(30)
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


def start_server(files: dict[str, bytes] | None = None) -> LoopbackServer:
    """Start a server on a free port serving ``{path: bytes}``; the caller closes it (see :func:`loopback_server`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    state = LoopbackServer(base=f"http://127.0.0.1:{server.server_address[1]}",
                           routes={path: Route(body) for path, body in (files or {}).items()})
    server.state = state  # type: ignore[attr-defined]
    state._server = server
    state._thread = threading.Thread(target=server.serve_forever, daemon=True)
    state._thread.start()
    return state


@contextlib.contextmanager
def loopback_server(files: dict[str, bytes] | None = None) -> Iterator[LoopbackServer]:
    """A server serving ``{path: bytes}`` for the ``with`` block."""
    state = start_server(files)
    try:
        yield state
    finally:
        state.close()


@contextlib.contextmanager
def stalling_server(sent: bytes = b"0123456789", announced: int = 1000) -> Iterator[str]:
    """A server that answers 200, announces ``announced`` bytes, sends ``sent`` and then says nothing
    more until the block ends (a stalled mirror). Yields the URL."""
    with loopback_server() as server:
        yield server.serve("/stalled.h5", sent, mode="stall", announced=announced)


def refused_url(path: str = "/weights.h5") -> str:
    """A loopback URL nobody listens on (the port was just freed): connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
