"""Occlusion sensitivity against the hand formula of a model that reads one pixel."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import occlusion
from tests.support.models import pixel_image, pixel_model, pixel_probs, small_cnn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    return pixel_model()


def test_a_model_that_reads_one_pixel_lights_only_that_pixel(model):
    image = pixel_image(2, 1.0)
    got = occlusion.occlusion(model, image, patch=1, stride=1)
    assert got.class_index == 2  # predicted
    expected_drop = pixel_probs(2, 1.0)[2] - pixel_probs(2, 0.0)[2]
    assert got.probability == pytest.approx(pixel_probs(2, 1.0)[2], abs=1e-6)
    lit = np.argwhere(np.abs(got.heat) > 1e-6)
    assert lit.tolist() == [[0, 2]]
    assert got.heat[0, 2] == pytest.approx(expected_drop, abs=1e-6)
    assert got.drops.shape == (8, 8)


def test_larger_patches_light_the_pixels_whose_patches_cover_it(model):
    image = pixel_image(2, 1.0)
    got = occlusion.occlusion(model, image, class_index=2, patch=3, stride=1)
    drop = pixel_probs(2, 1.0)[2] - pixel_probs(2, 0.0)[2]
    assert got.row_starts == tuple(range(6)) and got.col_starts == tuple(range(6))
    # the patch (r, c) hides pixel (0, 2) exactly when r == 0 and c in 0..2
    expected = np.zeros((6, 6))
    expected[0, 0:3] = drop
    np.testing.assert_allclose(got.drops, expected, atol=1e-6)
    covered = np.zeros((8, 8))
    counts = np.zeros((8, 8))
    for r in range(6):
        for c in range(6):
            covered[r:r + 3, c:c + 3] += expected[r, c]
            counts[r:r + 3, c:c + 3] += 1
    np.testing.assert_allclose(got.heat, covered / counts, atol=1e-6)
    assert set(map(tuple, np.argwhere(got.heat > 1e-6))) == {(r, c) for r in range(3) for c in range(5)}


def test_fill_value_and_an_unwatched_class(model):
    image = pixel_image(1, 0.5)
    got = occlusion.occlusion(model, image, class_index=0, patch=1, stride=1, fill=0.5)
    assert {tuple(p) for p in np.argwhere(np.abs(got.heat) > 1e-6)} == {(0, 0), (0, 2)}  # (0, 1) is 0.5 already
    filled = occlusion.occlusion(model, image, class_index=0, patch=1, stride=1, fill=2.0)
    lit = {tuple(p) for p in np.argwhere(np.abs(filled.heat) > 1e-6)}
    assert lit == {(0, 0), (0, 1), (0, 2)}  # the three pixels the model reads
    assert filled.heat[0, 0] < 0 < filled.heat[0, 1]  # class 0's pixel set to 2 raises class 0, class 1's lowers it


def test_matches_a_loop_of_single_predictions():
    model = small_cnn(seed=2)
    image = np.random.default_rng(0).uniform(size=(8, 8, 3)).astype(np.float32)
    got = occlusion.occlusion(model, image, class_index=1, patch=3, stride=2, fill=[0.5, 0.4, 0.3])
    assert got.row_starts == (0, 2, 4, 5)
    base = model.predict(image[None], verbose=0)[0, 1]
    for i, r in enumerate(got.row_starts):
        for j, c in enumerate(got.col_starts):
            hidden = image.copy()
            hidden[r:r + 3, c:c + 3] = [0.5, 0.4, 0.3]
            assert got.drops[i, j] == pytest.approx(base - model.predict(hidden[None], verbose=0)[0, 1], abs=1e-5)


def test_errors_and_doctest(model):
    image = pixel_image(0, 1.0)
    with pytest.raises(InvalidArgument, match="patch must be a whole number from 1 to 8, got 9"):
        occlusion.occlusion(model, image, patch=9)
    with pytest.raises(InvalidArgument, match="stride must be a whole number from 1 to 2, got 3"):
        occlusion.occlusion(model, image, patch=2, stride=3)
    with pytest.raises(InvalidArgument, match=r"fill must be one number or one per channel \(1\), got \[1, 2\]"):
        occlusion.occlusion(model, image, fill=[1, 2])
    with pytest.raises(InvalidArgument, match=r"class index must be 0\.\.2, got 7"):
        occlusion.occlusion(model, image, class_index=7)
    assert doctest.testmod(occlusion).failed == 0


def test_a_wide_image_is_covered_across_its_whole_width():
    """Rows and columns get their own patch positions: a 6×10 image has patches at columns 0..8, not only the
    rows' 0..4, and every pixel's heat is a mean over the patches covering it."""
    from tests.support.models import linear_model

    weights = np.random.default_rng(4).normal(size=(6, 10, 1, 2)).astype(np.float32)
    model = linear_model(weights)
    image = np.random.default_rng(5).uniform(0, 1, (6, 10, 1)).astype(np.float32)
    got = occlusion.occlusion(model, image, class_index=1, patch=2, stride=2)
    assert got.row_starts == (0, 2, 4) and got.col_starts == (0, 2, 4, 6, 8)
    assert got.heat.shape == (6, 10) and got.drops.shape == (3, 5)
    # stride = patch: each pixel lies under exactly one patch, so its heat is that patch's drop
    np.testing.assert_allclose(got.heat, np.kron(got.drops, np.ones((2, 2))), rtol=1e-6)
    logits = lambda im: im.reshape(-1) @ weights.reshape(-1, 2)  # noqa: E731
    p = lambda im: np.exp(logits(im) - logits(im).max()) / np.exp(logits(im) - logits(im).max()).sum()  # noqa: E731
    hidden = image.copy()
    hidden[4:6, 8:10] = 0.0
    assert got.drops[2, 4] == pytest.approx(p(image)[1] - p(hidden)[1], abs=1e-5)
