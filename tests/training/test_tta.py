"""The one flip_images: NumPy copies both ways, refusals that repeat what was received."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import scaling
from cnnviz.data.augment import flip_images
from cnnviz.errors import InvalidArgument
from cnnviz.training.pipeline import make_pipeline
from cnnviz.training.spec import spec_from_preset
from cnnviz.training.tta import MIRRORED_VIEW, PLAIN_VIEW, evaluate_tta, predict_tta, translate_images
from tests.support.models import tiny_build
from tests.support.specs import tiny_spec


X = np.arange(2 * 3 * 4 * 1, dtype=np.uint8).reshape(2, 3, 4, 1)


def test_flip_images():
    np.testing.assert_array_equal(flip_images(X), X[:, :, ::-1])
    np.testing.assert_array_equal(flip_images(X, "vertical"), X[:, ::-1])
    assert flip_images(X).flags.c_contiguous
    with pytest.raises(InvalidArgument, match="flip direction must be 'horizontal' or 'vertical', got 'diagonal'"):
        flip_images(X, "diagonal")
    with pytest.raises(InvalidArgument, match=r"images must be a batch N×H×W×C, got an array of shape \(3, 4\)"):
        flip_images(X[0, :, :, 0])


# --- test-time augmentation ---------------------------------------------------------------------
@pytest.mark.slow
def test_tta_is_the_mean_of_the_image_and_its_mirror():
    model = tiny_build((6, 6, 3), 4)
    x = np.random.default_rng(4).random((11, 6, 6, 3)).astype(np.float32)
    plain = model.predict(x, verbose=0)
    mirror = model.predict(x[:, :, ::-1, :].copy(), verbose=0)
    assert not np.allclose(plain, mirror)  # the test would mean nothing on a symmetric model
    np.testing.assert_allclose(predict_tta(model, x, batch_size=4), (plain + mirror) / 2, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(predict_tta(model, x, tta="none"), plain, rtol=1e-5, atol=1e-6)
    xu = (x * 255).astype(np.uint8)
    affine = scaling.affine("unit", xu)
    pipe = make_pipeline(xu, np.zeros(11, int), batch_size=5, affine=affine, num_classes=4, one_hot=True)
    scaled = scaling.apply(xu, affine)
    np.testing.assert_allclose(predict_tta(model, pipe), predict_tta(model, scaled), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(InvalidArgument, match="test-time augmentation must be one of none, flip, flip_translate, got 'crop'"):
        predict_tta(model, x, tta="crop")


def test_translate_images_shifts_by_one_pixel_with_mirrored_edges():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    reflect = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")  # numpy's reflect is TF's REFLECT
    down_right = np.asarray(translate_images(x, 1, 1))
    np.testing.assert_array_equal(down_right, reflect[:, 0:4, 0:5, :])
    np.testing.assert_array_equal(down_right[:, 1:, 1:, :], x[:, :-1, :-1, :])  # content moved one pixel
    np.testing.assert_array_equal(np.asarray(translate_images(x, -1, -1)), reflect[:, 2:6, 2:7, :])
    np.testing.assert_array_equal(np.asarray(translate_images(x, 0, 0)), x)
    with pytest.raises(InvalidArgument, match=r"at most one pixel, got \(2, 0\)"):
        translate_images(x, 2, 0)


@pytest.mark.slow
def test_flip_translate_tta_weighs_six_views_as_airbench():
    model = tiny_build((6, 6, 3), 4)
    x = np.random.default_rng(5).random((7, 6, 6, 3)).astype(np.float32)

    def mirror_mean(images):
        return (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1, :].copy(), verbose=0)) / 2

    reflect = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    expected = (mirror_mean(x) / 2 + mirror_mean(reflect[:, 0:6, 0:6, :].copy()) / 4
                + mirror_mean(reflect[:, 2:8, 2:8, :].copy()) / 4)
    got = predict_tta(model, x, tta="flip_translate", batch_size=3)
    assert not np.allclose(expected, mirror_mean(x), atol=1e-4)  # the shifts change the answer
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["none", "flip", "flip_translate"])
def test_the_test_keeps_the_single_views_it_averaged(mode):
    model = tiny_build((6, 6, 3), 4)
    model.compile(loss="categorical_crossentropy")
    xu = (np.random.default_rng(6).random((9, 6, 6, 3)) * 255).astype(np.uint8)
    y = np.arange(9) % 4
    affine = scaling.affine("unit", xu)
    pipe = make_pipeline(xu, y, batch_size=4, affine=affine, num_classes=4, one_hot=True)
    got = evaluate_tta(model, pipe, y, tta=mode, one_hot=True, num_classes=4)
    scaled = scaling.apply(xu, affine)
    plain = model.predict(scaled, verbose=0)
    expected = {PLAIN_VIEW: plain} if mode == "none" else {
        PLAIN_VIEW: plain, MIRRORED_VIEW: model.predict(scaled[:, :, ::-1, :].copy(), verbose=0)}
    assert set(got["views"]) == set(expected)
    for name, view in expected.items():
        np.testing.assert_allclose(got["views"][name], view, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], predict_tta(model, scaled, tta=mode), rtol=1e-5, atol=1e-6)
    assert got["accuracy_plain"] == pytest.approx(np.mean(plain.argmax(1) == y))


def test_tta_setting_is_checked():
    with pytest.raises(InvalidArgument) as err:
        tiny_spec(tta="mirror").validate()
    assert str(err.value) == "test-time augmentation must be one of none, flip, flip_translate, got 'mirror'"
    assert spec_from_preset("fast_3min").tta == "flip"
    assert spec_from_preset("seed000_model1").tta == "none"
