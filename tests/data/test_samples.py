"""The bundled sample photos: scikit-learn's pixels, read without importing scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cnnviz.data import samples
from cnnviz.errors import InvalidArgument


@pytest.mark.parametrize("file", samples.SAMPLE_FILES)
def test_sample_photo_is_what_scikit_learn_loads(file):
    from sklearn.datasets import load_sample_image

    photo = samples.sample_photo(file)
    assert photo.dtype == np.uint8 and photo.shape == (427, 640, 3)
    np.testing.assert_array_equal(photo, load_sample_image(file))


def test_reading_a_sample_photo_does_not_import_scikit_learn():
    code = ("import sys\nfrom cnnviz.data import samples\nassert samples.sample_photo('china.jpg').shape == "
            "(427, 640, 3)\nprint('sklearn' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_unknown_sample_photo():
    with pytest.raises(InvalidArgument, match=r"sample photo must be one of china.jpg, flower.jpg, got 'ascent.png'"):
        samples.sample_photo("ascent.png")
