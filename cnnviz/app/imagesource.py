"""Where a page's picture comes from: the page's own choices (a sample photo, a test image), the student's
upload or the student's camera, in one radio. Pages that accept pictures (Convolution, Inside the
network, Explain, Pretrained ResNet50) all use it.

A camera shot is bytes like an upload (``st.camera_input`` sends a JPEG) and goes through the page's
same safe loader (:func:`cnnviz.data.images.load_image`, its decode limits), so a camera photo is
refused or accepted exactly as an uploaded file would be; it is named :data:`CAMERA_NAME` in messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import streamlit as st

from cnnviz.app import uploads
from cnnviz.app.remember import KEEP

from cnnviz.data import images
from cnnviz.errors import InvalidArgument

UPLOAD, CAMERA = "Upload", "Camera"
CAMERA_NAME = "camera photo"  # what messages call a camera shot (the browser's own name is always image.jpg)
CAMERA_NOTE = "Allow the browser to use the camera, then take a picture."


@dataclass(frozen=True)
class Picture:
    """A student's picture as sent: its name (the file's, or :data:`CAMERA_NAME`) and its bytes, undecoded."""

    name: str
    data: bytes


def source_radio(label: str, options: Sequence[str], *, key: str, upload: str = UPLOAD, where=None,
                 bind: str | None = None) -> str:
    """A horizontal radio of the page's ``options``, then ``upload`` and :data:`CAMERA`; the choice (kept across
    page switches; ``bind=remember.URL`` also keeps it in the page address)."""
    if upload in options or CAMERA in options:
        raise InvalidArgument(f"the page's own sources must not be named {upload!r} or {CAMERA!r}, got {list(options)}")
    return (where or st).radio(label, [*options, upload, CAMERA], horizontal=True, key=key, persist_state=KEEP,
                               bind=bind)


def own_pictures(choice: str, *, upload: str = UPLOAD, upload_key: str, camera_key: str, upload_label: str,
                 empty_note: str, multiple: bool = False, max_files: int | None = None) -> list[Picture] | None:
    """The uploader or the camera for ``choice`` and what the student gave it.

    Args:
        choice: what :func:`source_radio` returned.
        upload: the page's name of its upload choice (as given to :func:`source_radio`).
        upload_key, camera_key: the widgets' keys.
        upload_label: the uploader's label.
        empty_note: the info shown while nothing is uploaded yet ("": the page says it itself; the camera's
            own note is then left out too).
        multiple: whether the uploader takes several files.
        max_files: how many of them the page uses (None: all). The ones after the first ``max_files`` are let go
            unread (the server would hold them in memory for the session) and a warning says so, on this run and
            the next ones while the browser still lists them.
    Returns:
        None when ``choice`` is one of the page's own sources; else the pictures (empty until given).
    """
    if choice == upload:
        files = uploads.uploader(upload_label, type=list(images.ALLOWED_EXTENSIONS), accept_multiple_files=multiple,
                                 key=upload_key)
        files = [] if files is None else files if multiple else [files]
        if max_files is not None:
            files = uploads.first_files(files, max_files, upload_key)
        if not files and empty_note:
            st.info(empty_note)
        return [Picture(name=f.name, data=f.getvalue()) for f in files]
    if choice == CAMERA:
        shot = uploads.camera("Take a picture", key=camera_key)
        if shot is None:
            if empty_note:
                st.info(CAMERA_NOTE)
            return []
        return [Picture(name=CAMERA_NAME, data=shot.getvalue())]
    return None

