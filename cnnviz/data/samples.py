"""Sample photos that are always there, offline: the two JPEGs scikit-learn ships.

Used by the Convolution lesson and the Pretrained ResNet50 page.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image

from cnnviz.errors import InvalidArgument, Unavailable


#: File names as ``sklearn.datasets.load_sample_image`` knows them (both 427×640 RGB).
SAMPLE_FILES = ("china.jpg", "flower.jpg")


def sample_file(file: str) -> Path:
    """Where scikit-learn keeps ``file`` (``sklearn/datasets/images``), found without importing it.

    ``sklearn.datasets.load_sample_image`` only opens this file with PIL, but importing scikit-learn
    for it cost 0.7-0.9 s of the Convolution page's first visit.
    """
    if file not in SAMPLE_FILES:
        raise InvalidArgument(f"sample photo must be one of {', '.join(SAMPLE_FILES)}, got {file!r}")
    spec = importlib.util.find_spec("sklearn")  # finds the package folder; runs none of its code
    path = None if spec is None or not spec.submodule_search_locations else \
        Path(next(iter(spec.submodule_search_locations))) / "datasets" / "images" / file
    if path is None or not path.is_file():
        raise Unavailable(f"scikit-learn's sample photo {file} is missing: reinstall scikit-learn "
                          "(pip install --force-reinstall scikit-learn)")
    return path


def sample_photo(file: str) -> np.ndarray:
    """One of :data:`SAMPLE_FILES` as uint8 H×W×3, the pixels ``load_sample_image`` gives."""
    with Image.open(sample_file(file)) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.uint8)


def sample_photos() -> dict[str, np.ndarray]:
    """Every sample photo by file name (a Chinese temple, a flower), uint8 RGB."""
    return {file: sample_photo(file) for file in SAMPLE_FILES}
