"""Augmentation config and the Keras preprocessing pipeline built from it."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.data import augment
from cnnviz.data.augment import AugmentConfig
from cnnviz.errors import InvalidArgument


def _images(n=4, side=16, channels=3):
    return np.random.default_rng(0).integers(0, 256, (n, side, side, channels), dtype=np.uint8)


def test_config_round_trip_and_describe():
    cfg = AugmentConfig(rotation=30, flip="horizontal", translate=0.1, zoom=0.2, seed=7)
    assert AugmentConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict() == {"rotation": 30, "flip": "horizontal", "translate": 0.1, "zoom": 0.2, "seed": 7,
                             "crop": 0, "alternate_flip": False}
    assert cfg.describe() == "rotate ±30°, flip horizontal, shift ±10%, zoom ±20%"
    assert AugmentConfig().describe() == "no augmentation" and AugmentConfig().is_identity


@pytest.mark.parametrize("kwargs, message", [
    ({"rotation": 200}, "rotation must be 0..180 degrees, got 200"),
    ({"flip": "diagonal"}, "flip must be one of none, horizontal, vertical, horizontal_and_vertical, got 'diagonal'"),
    ({"translate": 0.6}, "translate must be 0..0.5 (a fraction of the image), got 0.6"),
    ({"zoom": -0.1}, "zoom must be 0..0.5 (a fraction of the image), got -0.1"),
    ({"seed": -1}, "seed must be a whole number ≥ 0, got -1"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(InvalidArgument) as err:
        AugmentConfig(**kwargs)
    assert str(err.value) == message


def test_from_dict_refuses_unknown_keys():
    with pytest.raises(InvalidArgument, match=r"unknown augmentation settings \['shear'\]"):
        AugmentConfig.from_dict({"shear": 0.2})


def test_augmenter_layers_are_named_keras_preprocessing_layers():
    import keras

    model = augment.build_augmenter(AugmentConfig(rotation=30, flip="horizontal_and_vertical", translate=0.1, zoom=0.1))
    assert [layer.name for layer in model.layers] == [
        "augment_rotation", "augment_flip", "augment_translation", "augment_zoom"]
    assert isinstance(model.layers[0], keras.layers.RandomRotation)
    assert model.layers[0].factor == pytest.approx((-30 / 360, 30 / 360))
    assert [layer.name for layer in augment.build_augmenter(AugmentConfig()).layers] == ["augment_none"]


def test_preview_shapes_and_seed_repeatability():
    x = _images()
    cfg = AugmentConfig(rotation=45, flip="horizontal", translate=0.2)
    a = augment.preview(x, cfg, seed=1)
    b = augment.preview(x, cfg, seed=1)
    c = augment.preview(x, cfg, seed=2)
    assert a.shape == x.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, x)


def test_preview_identity_and_greyscale():
    x = _images(channels=1)
    np.testing.assert_array_equal(augment.preview(x, AugmentConfig()), x)


def test_flip_only_is_a_mirror():
    x = _images(n=16)
    out = augment.preview(x, AugmentConfig(flip="horizontal"), seed=3)
    for original, flipped in zip(x, out):
        assert np.array_equal(flipped, original) or np.array_equal(flipped, original[:, ::-1])
    assert any(not np.array_equal(f, o) for f, o in zip(out, x))  # some were flipped


def test_preview_validation():
    with pytest.raises(InvalidArgument, match=r"preview needs uint8 images N×H×W×C, got float32 \(2, 4, 4\)"):
        augment.preview(np.zeros((2, 4, 4), np.float32), AugmentConfig())
    with pytest.raises(InvalidArgument, match="preview takes 1..64 images, got 0"):
        augment.preview(np.zeros((0, 4, 4, 1), np.uint8), AugmentConfig())


# --- crop augmentation --------------------------------------------------------------------------
def test_crop_config():
    cfg = augment.AugmentConfig(flip="horizontal", crop=2)
    assert cfg.describe() == "flip horizontal, crop ±2 px" and not cfg.is_identity
    assert augment.AugmentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InvalidArgument) as err:
        augment.AugmentConfig(crop=9)
    assert str(err.value) == "crop must be a whole number of pixels 0..8, got 9"


@pytest.mark.slow
def test_crop_shifts_each_image_by_whole_pixels_with_mirrored_edges():
    x = np.random.default_rng(2).integers(0, 256, (16, 8, 9, 3)).astype(np.float32)
    layer = augment.build_augmenter(augment.AugmentConfig(crop=2)).get_layer("augment_crop")
    out = np.asarray(layer(x, training=True))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    offsets = set()
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if np.array_equal(out[i], padded[i, dy:dy + 8, dx:dx + 9])]
        assert found, f"image {i} is not a 2-pixel shift of its mirrored padding"
        offsets.add(found[0])
    assert len(offsets) > 1  # each image gets its own shift
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


# --- the training pipeline's draws: a function of the batch's seed -------------------------------
@pytest.mark.slow
def test_a_batch_seed_gives_the_same_changes_every_time_and_another_seed_others():
    """augment_batch draws from the seed it is given, not from the layers' seed generators: the same batch seed
    twice (in either order, with other batches between) gives the same images; each layer draws its own."""
    import tensorflow as tf

    x = tf.constant(_images(n=16).astype(np.float32))
    augmenter = augment.build_augmenter(AugmentConfig(rotation=30, flip="horizontal", translate=0.2, zoom=0.2,
                                                      crop=2, seed=4))
    at = lambda a, b: np.asarray(augment.augment_batch(augmenter, x, seed=tf.constant([a, b])))  # noqa: E731
    first, other, again = at(4, 7), at(4, 8), at(4, 7)
    np.testing.assert_array_equal(first, again)
    assert first.shape == x.shape and not np.array_equal(first, other) and not np.array_equal(first, np.asarray(x))
    augmenter(x, training=True)  # the layers' own generators move on: no change to augment_batch's draws
    np.testing.assert_array_equal(at(4, 7), first)


@pytest.mark.slow
def test_a_batch_seeds_flips_and_crops_are_mirrors_and_whole_pixel_shifts():
    import tensorflow as tf

    x = _images(n=16).astype(np.float32)
    flips = augment.build_augmenter(AugmentConfig(flip="horizontal"))
    out = np.asarray(augment.augment_batch(flips, tf.constant(x), seed=tf.constant([0, 1])))
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    assert all(m or np.array_equal(o, i) for m, o, i in zip(mirrored, out, x)) and 0 < sum(mirrored) < len(x)
    crops = augment.build_augmenter(AugmentConfig(crop=2))
    out = np.asarray(augment.augment_batch(crops, tf.constant(x), seed=tf.constant([0, 1])))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    shifts = {next(((dy, dx) for dy in range(5) for dx in range(5)
                    if np.array_equal(out[i], padded[i, dy:dy + 16, dx:dx + 16])), None) for i in range(len(x))}
    assert None not in shifts and len(shifts) > 1


@pytest.mark.parametrize("setting", [{"rotation": 10}, {"flip": "vertical"}, {"translate": 0.1}, {"zoom": 0.1},
                                     {"crop": 2}])
def test_any_one_setting_is_an_augmentation(setting):
    """A run with only a crop (or only any other setting) is augmented: an identity config is dropped from the
    spec (``augment=None``) and would train on the plain images."""
    cfg = AugmentConfig(**setting)
    assert not cfg.is_identity
    assert augment.build_augmenter(cfg).layers[0].name != "augment_none"


def test_translation_and_zoom_move_both_ways_by_the_fraction_given():
    model = augment.build_augmenter(AugmentConfig(translate=0.2, zoom=0.1))
    move, zoom = model.get_layer("augment_translation"), model.get_layer("augment_zoom")
    assert (move.height_factor, move.width_factor) == (0.2, 0.2)  # "shift ±20%": up/down and left/right
    assert zoom.height_factor == 0.1 and zoom.width_factor is None  # None: width zooms with height


@pytest.mark.slow
def test_crop_shifts_reach_every_offset_up_to_the_pad_either_way():
    """"crop ±2 px": each of the 2·2 + 1 = 5 offsets per axis is drawn, in the layer and in the pipeline's
    seeded draws (an exclusive upper bound of 2·pad would never shift by +2)."""
    import tensorflow as tf

    x = np.random.default_rng(6).integers(0, 256, (200, 8, 8, 1)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    augmenter = augment.build_augmenter(AugmentConfig(crop=2))

    def offsets(out):
        found = [next((dy, dx) for dy in range(5) for dx in range(5) if np.array_equal(o, p[dy:dy + 8, dx:dx + 8]))
                 for o, p in zip(out, padded)]
        return {dy for dy, _ in found}, {dx for _, dx in found}

    layer_out = np.asarray(augmenter.get_layer("augment_crop")(x, training=True))
    assert offsets(layer_out) == (set(range(5)), set(range(5)))
    seeded = np.asarray(augment.augment_batch(augmenter, tf.constant(x), seed=tf.constant([0, 3])))
    assert offsets(seeded) == (set(range(5)), set(range(5)))
