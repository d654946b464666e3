"""Sample photos that are always there, offline: the two JPEGs scikit-learn ships.

Used by the Convolution lesson and the Pretrained ResNet50 page.
"""

from __future__ import annotations

import numpy as np

from cnnviz.errors import InvalidArgument


#: File names as ``sklearn.datasets.load_sample_image`` knows them (both 427×640 RGB).
SAMPLE_FILES = ("china.jpg", "flower.jpg")


def sample_photo(file: str) -> np.ndarray:
    """One of :data:`SAMPLE_FILES` as uint8 H×W×3."""
    if file not in SAMPLE_FILES:
        raise InvalidArgument(f"sample photo must be one of {', '.join(SAMPLE_FILES)}, got {file!r}")
    # lazy: importing scikit-learn costs about 0.7 s of the app's start-up, and only this needs it
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image(file), dtype=np.uint8)


def sample_photos() -> dict[str, np.ndarray]:
    """Every sample photo by file name (a Chinese temple, a flower), uint8 RGB."""
    return {file: sample_photo(file) for file in SAMPLE_FILES}
