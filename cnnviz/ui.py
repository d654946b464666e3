"""The one Streamlit-aware module: cached shared loaders, session-state keys, page helpers.

Rules (see DEVELOPERS.md): objects shared by all sessions go in ``st.cache_resource`` and
are never trained or mutated; a session's own model lives in the run store. Nothing in
the rest of ``cnnviz`` imports this module.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import streamlit as st

from cnnviz.errors import CnnvizError

log = logging.getLogger("cnnviz")


@contextlib.contextmanager
def friendly_errors(action: str = "That") -> Iterator[None]:
    """Show CnnvizError messages with ``st.error``; log anything else and show a short note.

    Streamlit's own control-flow exceptions (rerun, stop) derive from BaseException
    and pass through untouched.
    """
    try:
        yield
    except CnnvizError as err:
        st.error(str(err))
    except Exception:  # a bug: keep the traceback on the server, not in front of the class
        log.exception("%s failed", action)
        st.error(f"{action} failed because of an internal error. The details are in the server log.")


# --- convolution and images ---------------------------------------------------------------


@st.cache_data(max_entries=4, show_spinner=False)
def conv_sample_photo(name: str):
    """A scikit-learn sample photo (cached: decoding the JPEG on every rerun is wasted work)."""
    from cnnviz import convolution

    return convolution.sample_photo(name)


@st.cache_data(max_entries=1, show_spinner="Loading CIFAR-10 test images ...")
def conv_cifar10_examples(count: int = 20) -> dict:
    """A few CIFAR-10 test images: ``{"images", "labels", "class_names"}``.

    Only the small slice is cached. ``Unavailable`` is raised, not cached, so data fetched
    meanwhile shows up on the next rerun (the check for missing files is cheap).
    """
    from cnnviz import convolution

    x, y, names = convolution.cifar10_test_images(count)
    return {"images": x, "labels": y, "class_names": names}


@st.cache_data(max_entries=8, show_spinner="Reading your image ...")
def conv_load_upload(_data: bytes, digest: str, name: str, max_side: int):
    """Decode an upload safely and shrink it for the lab; keyed by the bytes' sha256 ``digest``.

    Streamlit hashes big arguments by sampling, so the bytes themselves are not the key.
    Raises ``ImageError`` (not cached) for a bad file.
    """
    from dataclasses import replace

    from cnnviz import images

    loaded = images.load_image(_data, name=name, mode="RGB")
    return replace(loaded, array=images.fit_within(loaded.array, max_side))


def upload_digest(data: bytes) -> str:
    """sha256 of uploaded bytes, the cache key for :func:`conv_load_upload`."""
    import hashlib

    return hashlib.sha256(data).hexdigest()


# --- datasets ---------------------------------------------------------------------------


# --- models, training and runs ----------------------------------------------------------


# --- evaluation and features ------------------------------------------------------------


# --- pretrained -------------------------------------------------------------------------
