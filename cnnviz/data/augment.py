"""Data augmentation from a plain config, with Keras 3 preprocessing layers.

Replaces seed 000 Part 17's ``ImageDataGenerator(rotation_range=30, horizontal_flip=True,
vertical_flip=True)`` (deprecated) with ``RandomRotation``, ``RandomFlip``,
``RandomTranslation`` and ``RandomZoom``. The Dataset page previews exactly the pipeline
training uses (:func:`build_augmenter`). Keras is imported inside the functions.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz.errors import InvalidArgument


if TYPE_CHECKING:
    import keras
    import tensorflow as tf

FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")
MAX_ROTATION_DEGREES = 180.0
MAX_SHIFT = 0.5  # translate and zoom, as a fraction of the image side
# Keras' default: pixels moved in from outside mirror the image (ImageDataGenerator used "nearest").
FILL_MODE = "reflect"
MAX_PREVIEW_IMAGES = 64
#: Largest ``crop`` shift in pixels (airbench uses 2 on 32×32 images).
MAX_CROP = 8


@dataclass(frozen=True)
class AugmentConfig:
    """What random changes each training image gets.

    Attributes:
        rotation: largest rotation in degrees, either way (seed 000 used 30).
        flip: one of ``FLIPS``.
        translate: largest shift, as a fraction of height/width (seed 002 used 0.1).
        zoom: largest zoom in or out, as a fraction (0.1 = 90%..110%).
        crop: pad each image by this many pixels (mirroring its edge) and cut it back out at
            a random place: a shift by whole pixels, up to ``crop`` either way (airbench's
            "translate 2"; sharper and cheaper than ``translate``, which interpolates).
        seed: seed of the random layers (each layer gets ``seed + i``).
        alternate_flip: airbench's alternating flip (needs ``flip="horizontal"`` and the training
            job's pre-padded data, ``TrainSpec.prepadded``): half the images, drawn once, are
            mirrored on even epochs and the other half on odd epochs, so every image is seen both
            ways every two epochs instead of at random.
    """

    rotation: float = 0.0
    flip: str = "none"
    translate: float = 0.0
    zoom: float = 0.0
    seed: int = 0
    crop: int = 0
    alternate_flip: bool = False

    def __post_init__(self) -> None:
        for field in ("rotation", "translate", "zoom"):  # "x" or None would fail the range checks with a TypeError
            value = getattr(self, field)
            if not isinstance(value, numbers.Real):
                raise InvalidArgument(f"augmentation {field} must be a number, got {value!r}")
        if not 0.0 <= self.rotation <= MAX_ROTATION_DEGREES:
            raise InvalidArgument(f"rotation must be 0..{MAX_ROTATION_DEGREES:g} degrees, got {self.rotation}")
        if self.flip not in FLIPS:
            raise InvalidArgument(f"flip must be one of {', '.join(FLIPS)}, got {self.flip!r}")
        for field in ("translate", "zoom"):
            value = getattr(self, field)
            if not 0.0 <= value <= MAX_SHIFT:
                raise InvalidArgument(f"{field} must be 0..{MAX_SHIFT:g} (a fraction of the image), got {value}")
        if not isinstance(self.crop, int) or isinstance(self.crop, bool) or not 0 <= self.crop <= MAX_CROP:
            raise InvalidArgument(f"crop must be a whole number of pixels 0..{MAX_CROP}, got {self.crop!r}")
        if not isinstance(self.alternate_flip, bool):
            raise InvalidArgument(f"alternate flip must be true or false, got {self.alternate_flip!r}")
        if self.alternate_flip and self.flip != "horizontal":
            raise InvalidArgument(f"alternate flip needs flip='horizontal', got flip={self.flip!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise InvalidArgument(f"seed must be a whole number ≥ 0, got {self.seed!r}")

    @property
    def is_identity(self) -> bool:
        """True when nothing would change (no layer is built)."""
        return (self.rotation == 0 and self.flip == "none" and self.translate == 0 and self.zoom == 0
                and self.crop == 0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidArgument(f"unknown augmentation settings {unknown}; known: {sorted(known)}")
        return cls(**d)

    def describe(self) -> str:
        """One line for people, e.g. ``"rotate ±30°, flip horizontal"``."""
        parts = []
        if self.rotation:
            parts.append(f"rotate ±{self.rotation:g}°")
        if self.flip != "none":
            parts.append(f"flip {self.flip.replace('_', ' ')}" + (" (alternating epochs)" if self.alternate_flip else ""))
        if self.translate:
            parts.append(f"shift ±{self.translate:.0%}")
        if self.zoom:
            parts.append(f"zoom ±{self.zoom:.0%}")
        if self.crop:
            parts.append(f"crop ±{self.crop} px")
        return ", ".join(parts) or "no augmentation"


def flip_images(x: "np.ndarray | tf.Tensor", direction: str = "horizontal") -> Any:
    """Mirror every image of a batch N×H×W×C: "horizontal" (left-right) or "vertical" (upside down).

    The one flip of the lab: robustness tests and test-time augmentation both use it.

    Args:
        x: a NumPy array (the result is a contiguous copy) or a TensorFlow tensor (``tf.reverse``).
        direction: "horizontal" or "vertical".
    Returns:
        The mirrored batch, same shape and dtype.
    """
    if direction not in ("horizontal", "vertical"):
        raise InvalidArgument(f"flip direction must be 'horizontal' or 'vertical', got {direction!r}")
    if len(x.shape) != 4:
        raise InvalidArgument(f"images must be a batch N×H×W×C, got an array of shape {tuple(x.shape)}")
    axis = 2 if direction == "horizontal" else 1
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(np.flip(x, axis=axis))
    import tensorflow as tf

    return tf.reverse(x, axis=[axis])


def build_augmenter(cfg: AugmentConfig) -> "keras.Sequential":
    """A ``keras.Sequential`` of named preprocessing layers for ``cfg``.

    Active only with ``training=True`` (Keras skips random layers at inference). With an
    identity config it holds one ``Identity`` layer, so callers need no special case.
    Input: images N×H×W×C in any numeric range (floats come out; uint8 goes in fine).
    """
    import keras

    layers: list = []
    if cfg.rotation:
        # Keras expresses rotation as a fraction of a full turn.
        layers.append(keras.layers.RandomRotation(cfg.rotation / 360.0, fill_mode=FILL_MODE,
                                                  seed=cfg.seed + len(layers), name="augment_rotation"))
    if cfg.flip != "none":
        layers.append(keras.layers.RandomFlip(cfg.flip, seed=cfg.seed + len(layers), name="augment_flip"))
    if cfg.translate:
        layers.append(keras.layers.RandomTranslation(cfg.translate, cfg.translate, fill_mode=FILL_MODE,
                                                     seed=cfg.seed + len(layers), name="augment_translation"))
    if cfg.zoom:
        # One factor zooms height and width together (aspect ratio kept).
        layers.append(keras.layers.RandomZoom(cfg.zoom, fill_mode=FILL_MODE,
                                              seed=cfg.seed + len(layers), name="augment_zoom"))
    if cfg.crop:
        layers.append(random_crop_layer(cfg.crop, seed=cfg.seed + len(layers), name="augment_crop"))
    if not layers:
        layers.append(keras.layers.Identity(name="augment_none"))
    return keras.Sequential(layers, name="augmentation")


def preview(images: np.ndarray, cfg: AugmentConfig, seed: int | None = None) -> np.ndarray:
    """Augment a few uint8 images once, repeatably, for showing before/after.

    Args:
        images: uint8 N×H×W×C (N ≤ 64).
        cfg: the augmentation.
        seed: overrides ``cfg.seed`` (a reroll button changes it); same seed, same output.
    Returns:
        uint8 array of the same shape.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise InvalidArgument(f"preview needs uint8 images N×H×W×C, got {images.dtype} {images.shape}")
    if not 1 <= len(images) <= MAX_PREVIEW_IMAGES:
        raise InvalidArgument(f"preview takes 1..{MAX_PREVIEW_IMAGES} images, got {len(images)}")
    if seed is not None:
        cfg = AugmentConfig(**{**cfg.to_dict(), "seed": seed})
    # A fresh augmenter per call: its seed generators start from the seed, so it repeats.
    out = build_augmenter(cfg)(images.astype(np.float32), training=True)
    return np.clip(np.round(np.asarray(out)), 0, 255).astype(np.uint8)


def augment_batch(augmenter: "keras.Sequential", images: "tf.Tensor", *, seed: "tf.Tensor") -> "tf.Tensor":
    """``augmenter``'s layers applied to a batch with draws that are a function of ``seed`` alone.

    Calling the augmenter draws from each layer's seed generator, a state that every call moves on:
    the draws then depend on how many batches came before (a resumed run starts it again) and, in a
    parallel ``tf.data`` map, on which call ran first. Here each layer's draws are stateless, seeded
    by ``seed`` folded with the layer's place and the draw's: the same batch seed, the same changes.

    Args:
        augmenter: :func:`build_augmenter`'s model.
        images: float images N×H×W×C in pixel units.
        seed: two integers (e.g. the augmentation's seed and the batch's index in the run).
    Returns:
        The augmented batch, float32.
    """
    import tensorflow as tf

    for place, layer in enumerate(augmenter.layers):
        layer_seed = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), place)
        if isinstance(layer, _crop_class()):
            offsets = tf.random.stateless_uniform([tf.shape(images)[0], 2], seed=layer_seed, minval=0,
                                                  maxval=2 * layer.pad + 1, dtype=tf.int32)
            images = layer.shift(images, offsets)
        elif hasattr(layer, "get_random_transformation"):  # Keras' random image layers
            change = layer.get_random_transformation(images, training=True, seed=_stateless_draws(layer_seed))
            images = layer.transform_images(images, change, training=True)
    return images


def _stateless_draws(seed: "tf.Tensor") -> Any:
    """A stand-in for a Keras ``SeedGenerator`` whose ``k``-th draw is the seed ``fold_in(seed, k)``.

    Keras' random ops take a seed generator or a Python int; this one has no state to move on, the
    count of draws is kept while the layer's function is traced (each draw is one op in the graph).
    Skipping ``SeedGenerator.__init__`` and overriding ``next`` leans on Keras 3.15's internals (as
    ``cnnviz.app.compat.WRITTEN_FOR`` says): tests/training/test_resume_identical.py checks they still hold.
    """
    import keras
    import tensorflow as tf

    class StatelessDraws(keras.random.SeedGenerator):
        def __init__(self) -> None:  # no state variable: nothing to create inside a tf.data function
            self.draws = 0

        def next(self, ordered=True):
            self.draws += 1
            return tf.random.experimental.stateless_fold_in(seed, self.draws)

    return StatelessDraws()


def random_crop_layer(pad: int, *, seed: int, name: str) -> "keras.layers.Layer":
    """A Keras layer that shifts each image of a batch by up to ``pad`` whole pixels either way.

    The batch is padded by mirroring (``REFLECT``: the edge row is not repeated) and each
    image is cut back to its size at its own random offset with two batched gathers, so the
    whole batch is done in a few TensorFlow ops (whole batches, not one image at a time, keep CPU training fast).
    Only active with ``training=True``. The layer lives in the data pipeline, never in a saved model.
    """
    return _crop_class()(pad, seed=seed, name=name)


_CROP_CLASS = None


def _crop_class():
    global _CROP_CLASS
    if _CROP_CLASS is None:
        import keras
        import tensorflow as tf

        class RandomReflectCrop(keras.layers.Layer):
            def __init__(self, pad: int, seed: int = 0, **kwargs):
                super().__init__(**kwargs)
                self.pad, self.seed = int(pad), int(seed)

            def call(self, images, training=None):
                if not training:
                    return images
                shape = tf.shape(images)
                return self.shift(images, tf.random.uniform([shape[0], 2], 0, 2 * self.pad + 1, dtype=tf.int32,
                                                            seed=self.seed))

            def shift(self, images, offsets):
                """Each image cut out of its padded copy at its ``offsets`` row (N×2 int32, 0..2·pad)."""
                p = self.pad
                shape = tf.shape(images)
                h, w = shape[1], shape[2]
                padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
                rows = offsets[:, :1] + tf.range(h)[None, :]  # N×H row indices into the padded image
                cols = offsets[:, 1:] + tf.range(w)[None, :]
                out = tf.gather(padded, rows, axis=1, batch_dims=1)
                return tf.gather(out, cols, axis=2, batch_dims=1)

            def compute_output_shape(self, input_shape):
                return input_shape

            def get_config(self):
                return super().get_config() | {"pad": self.pad, "seed": self.seed}

        _CROP_CLASS = RandomReflectCrop
    return _CROP_CLASS
