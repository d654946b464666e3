"""Fixtures for the pretrained and Grad-CAM tests: tiny models, a loopback file server, images."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import socket
import threading
from typing import Iterator

import numpy as np
from PIL import Image

TINY_SIZE = 32  # input size of the stand-in for ResNet50 in page tests


def tiny_imagenet_model(seed: int = 0):
    """A small 1000-class softmax CNN (32×32×3) standing in for ResNet50 (every layer named)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((TINY_SIZE, TINY_SIZE, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1_conv")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1_pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2_block1_1_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_imagenet")


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random uint8 RGB "photo" (gradients plus noise), not a flat colour."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), (xx + yy) / max(height + width - 2, 1)], -1)
    img = base * 200 + rng.integers(0, 55, size=(height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@contextlib.contextmanager
def loopback_server(files: dict[str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """Serve ``{path: bytes}`` on 127.0.0.1 (a free port); yield (base URL, list of requested paths)."""
    handler = type("Handler", (_Handler,), {"files": dict(files), "hits": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url(path: str = "/weights.h5") -> str:
    """A loopback URL nobody listens on: connecting is refused at once (an offline machine)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@contextlib.contextmanager
def stalling_server(sent: bytes = b"0123456789", announced: int = 1000) -> Iterator[str]:
    """A loopback server that answers 200, announces ``announced`` bytes, sends ``sent`` and then
    says nothing more until the test is over (a stalled mirror). Yields the URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    done = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         + f"Content-Length: {announced}\r\n\r\n".encode() + sent)
            done.wait(30)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/stalled.h5"
    finally:
        done.set()
        listener.close()
        thread.join(timeout=5)
