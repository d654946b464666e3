"""Test data for the datasets area: tiny CIFAR-10 files in the official binary layout,
a loopback HTTP server that serves them, and zips of class folders. Nothing downloads."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from cnnviz.data import cifar10

RECORDS_PER_BATCH = 20  # 2 images of each class per batch: 100 training, 20 test images


def tiny_batch(seed: int, n: int = RECORDS_PER_BATCH) -> tuple[np.ndarray, np.ndarray, bytes]:
    """Images N×32×32×3, labels (0..9 cycling) and their binary records (label + R, G, B planes)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(n, 3072)
    records = np.concatenate([labels[:, None], planes], axis=1).astype(np.uint8).tobytes()
    return images, labels.astype(np.int64), records


def tiny_files(n: int = RECORDS_PER_BATCH) -> dict[str, bytes]:
    """The files of ``cifar-10-batches-bin/`` with ``n`` records per batch."""
    files = {name: tiny_batch(i, n)[2] for i, name in enumerate(cifar10.TRAIN_FILES)}
    files[cifar10.TEST_FILE] = tiny_batch(99, n)[2]
    files[cifar10.META_FILE] = ("\n".join(cifar10.CLASS_NAMES) + "\n\n").encode()
    return files


def write_tiny_dir(dest: Path, files: dict[str, bytes] | None = None) -> Path:
    root = Path(dest) / cifar10.BATCH_DIR
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (files or tiny_files()).items():
        (root / name).write_bytes(data)
    return root


def tiny_archive_bytes(files: dict[str, bytes] | None = None, prefix: str = cifar10.BATCH_DIR) -> bytes:
    """A .tar.gz shaped like the official archive (folder ``cifar-10-batches-bin/``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (files or tiny_files()).items():
            info = tarfile.TarInfo(f"{prefix}/{name}" if prefix else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # "ok", "truncate" (Content-Length says more than is sent), "no_length"


@dataclass
class LoopbackServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state: LoopbackServer = self.server.state  # type: ignore[attr-defined]
        state.hits.append(self.path)
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        if route.mode != "no_length":
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        body = route.body[: len(route.body) // 2] if route.mode == "truncate" else route.body
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


def start_server() -> tuple[ThreadingHTTPServer, LoopbackServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = LoopbackServer(base=f"http://127.0.0.1:{server.server_address[1]}")
    server.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, state


def refused_url() -> str:
    """An address on 127.0.0.1 where nothing listens (the port was just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar-10-binary.tar.gz"


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(color: tuple[int, int, int], size: tuple[int, int] = (20, 16)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def class_folders(per_class: int = 10, classes: tuple[str, ...] = ("cats", "dogs"),
                  prefix: str = "") -> dict[str, bytes]:
    """Members of a zip of class folders: class i is a solid colour, JPEGs and PNGs mixed."""
    colors = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]
    members = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            maker = jpeg_bytes if i % 2 else png_bytes
            ext = "jpg" if i % 2 else "png"
            members[f"{prefix}{name}/{i:03d}.{ext}"] = maker(colors[c % len(colors)])
    return members
