"""The Convolution page's caches, apart from :mod:`cnnviz.app.caches` so its first visit loads only this.

``cnnviz.app.caches`` imports the inspection modules (scikit-learn and scipy.special: about 1.3 s of
a fresh server's first Convolution visit); the lesson needs none of them.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from cnnviz.data import images
from cnnviz.lessons import convolution


@st.cache_data(max_entries=4, show_spinner=False)
def sample_photo(name: str) -> np.ndarray:
    """A scikit-learn sample photo (decoding the JPEG on every rerun is wasted work)."""
    return convolution.sample_photo(name)


@st.cache_data(max_entries=1, show_spinner="Loading CIFAR-10 test images ...")
def cifar10_examples(count: int = 20) -> dict:
    """A few CIFAR-10 test images: ``{"images", "labels", "class_names"}``.

    Only the small slice is cached. ``Unavailable`` is raised, not cached, so data fetched
    meanwhile shows up on the next rerun (the check for missing files is cheap).
    """
    x, y, names = convolution.cifar10_test_images(count)
    return {"images": x, "labels": y, "class_names": names}


@st.cache_data(max_entries=8, show_spinner="Reading your image ...")
def load_upload(data: bytes, name: str, max_side: int) -> images.LoadedImage:
    """Decode an upload safely and shrink it for the lab; raises ``ImageError`` (not cached) for a bad file."""
    loaded = images.load_image(data, name=name, mode="RGB")
    return replace(loaded, array=images.fit_within(loaded.array, max_side))
