"""A run's data: load and subset the dataset, split off validation, class weights, the ``tf.data`` pipeline.

Data stays uint8 until the last moment: ``tf.data`` batches it, then casts, augments and scales
each batch (a quarter of the memory of a float32 copy of the training set).
TensorFlow and scikit-learn are imported inside the functions that need them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz.data import augment as augmentation
from cnnviz.data import datasets, scaling
from cnnviz.data import selection as data_selection
from cnnviz.errors import InvalidArgument
from cnnviz.training.spec import TrainSpec


if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from cnnviz.data.datasets import Dataset


def load_training_data(
    name: str, *, train_size: int | None, test_size: int | None, seed: int, full: "Dataset | None" = None,
    selection: data_selection.Selection = data_selection.STRATIFIED,
) -> "Dataset":
    """The dataset a run trains and tests on: ``datasets.load`` then the subset ``selection`` names.

    Args:
        name: dataset name.
        train_size, test_size: images to draw (None = all).
        seed: seed of the subset.
        full: the already-loaded full dataset ``name`` (e.g. the app's shared read-only
            copy), to avoid loading a second one; never modified.
        selection: stratified at random (cnnviz's) or the first images (the notebooks').
    """
    if full is not None and full.name != name:
        raise InvalidArgument(f"the dataset given is {full.name!r}, but the run asks for {name!r}")
    ds = full if full is not None else datasets.load(name)
    if train_size is None and test_size is None:
        return ds
    tr, te = data_selection.subset_indices(ds.y_train, ds.y_test, train_size=train_size, test_size=test_size,
                                           selection=selection, seed=seed)
    if len(tr) == len(ds.y_train) and len(te) == len(ds.y_test):
        return ds
    how = "first" if selection.subset == "first" else f"stratified subset (seed {seed}) of"
    return replace(
        ds, x_train=ds.x_train[tr], y_train=ds.y_train[tr], x_test=ds.x_test[te], y_test=ds.y_test[te],
        source=f"{ds.source}; {how} {len(tr):,} training and {len(te):,} test images",
    )


@dataclass(frozen=True)
class PreparedData:
    """The uint8 arrays of one run, split, plus what the model needs to know."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    affine: dict

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def prepare_data(spec: TrainSpec, *, full: Dataset | None = None) -> PreparedData:
    """Load (or take ``full``), subset and split the data of ``spec``; work out its scaling."""
    ds = load_training_data(spec.dataset, train_size=spec.train_size, test_size=spec.test_size, seed=spec.seed,
                            full=full, selection=spec.selection)
    x_tr, y_tr = ds.x_train, ds.y_train
    x_val = y_val = None
    if spec.validation_fraction > 0:
        fit, val = data_selection.split_indices(y_tr, fraction=spec.validation_fraction, selection=spec.selection,
                                                seed=spec.seed)
        x_tr, x_val, y_tr, y_val = x_tr[fit], x_tr[val], y_tr[fit], y_tr[val]
    return PreparedData(
        x_train=x_tr, y_train=np.asarray(y_tr, dtype=np.int64),
        x_val=x_val, y_val=None if y_val is None else np.asarray(y_val, dtype=np.int64),
        x_test=ds.x_test, y_test=np.asarray(ds.y_test, dtype=np.int64),
        class_names=tuple(ds.class_names),
        affine=scaling.affine(spec.scaling, x_tr),
    )


def balanced_class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    """``compute_class_weight("balanced")`` as a dict for ``fit``; absent classes get 1.0."""
    return data_selection.balanced_weights(y, num_classes)


def wants_one_hot(model: keras.Model) -> bool:
    """True when the compiled loss expects one-hot labels (anything but the sparse losses)."""
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or type(loss).__name__
    return "sparse" not in str(name).lower()


def make_pipeline(
    x_uint8: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    affine: dict,
    num_classes: int,
    one_hot: bool,
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of the images in their order: uint8 batches, then cast, scale, (one-hot) per batch
    (validation and test data; training has :func:`training_pipeline`).

    Args:
        x_uint8: images N×H×W×C, uint8 (kept as such in memory).
        y: integer labels.
        batch_size: images per batch.
        affine: :func:`cnnviz.data.scaling.affine` result.
        num_classes: for one-hot labels.
        one_hot: give one-hot labels (categorical losses) instead of integers.
    Returns:
        A prefetched ``tf.data.Dataset`` of (float32 images, labels).
    """
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x_uint8, np.asarray(y, dtype=np.int64))).batch(batch_size)
    to_model_input = _model_input(affine, num_classes, one_hot)
    return mapped_and_prefetched(data, lambda images, labels: to_model_input(tf.cast(images, tf.float32), labels))


def epoch_batches(n: int, *, batch_size: int, seed: int, epochs: int, first_epoch: int = 0) -> tf.data.Dataset:
    """The batches of epochs ``first_epoch`` … ``epochs − 1`` as (batch index in the run, image indices).

    Each epoch's order is a stateless shuffle of ``0 … n − 1`` seeded by ``(seed, epoch)``: a function of
    the run's seed and the epoch alone, so a run resumed at ``first_epoch`` sees the batches the uninterrupted
    run saw from there (``Dataset.shuffle`` would start its sequence of orders again with the resumed job).

    Args:
        n: number of training images.
        batch_size: images per batch (the last batch of an epoch may be smaller).
        seed: the run's seed.
        epochs: the run's epochs; ``first_epoch``: the first one to give.
    Returns:
        A ``tf.data.Dataset`` of ``(epochs − first_epoch) × ceil(n / batch_size)`` pairs (int64 scalar, int64 vector).
    """
    if not 0 <= first_epoch < epochs:
        raise InvalidArgument(f"first epoch must be from 0 to {epochs - 1}, got {first_epoch!r}")
    import tensorflow as tf

    steps = math.ceil(n / batch_size)

    def epoch_order(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64),
                                                         seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_order).enumerate(start=first_epoch * steps)


def training_pipeline(
    x_uint8: np.ndarray,
    y: np.ndarray,
    *,
    batch_size: int,
    affine: dict,
    num_classes: int,
    one_hot: bool,
    seed: int,
    epochs: int,
    first_epoch: int = 0,
    augmenter: Any = None,
    augment_seed: int = 0,
) -> tf.data.Dataset:
    """The training batches of epochs ``first_epoch`` … ``epochs − 1``, shuffled anew each epoch, augmented.

    Every batch is a function of the run's seeds and its place in the run: the order of its epoch
    (:func:`epoch_batches`) and the augmentation's draws (:func:`cnnviz.data.augment.augment_batch`, seeded
    by ``(augment_seed, batch index)``), so a resumed run trains on what the uninterrupted run would have,
    and the draws do not depend on which of the parallel map calls runs first. The training job calls
    ``fit(..., steps_per_epoch=ceil(N / batch_size))``.

    Args:
        x_uint8: images N×H×W×C, uint8 (kept as such in memory).
        y: integer labels.
        batch_size, affine, num_classes, one_hot: as :func:`make_pipeline`.
        seed: the run's seed (the order of every epoch).
        epochs: the run's epochs; ``first_epoch``: where a resumed run starts.
        augmenter: :func:`cnnviz.data.augment.build_augmenter`'s model, applied to whole batches in pixel units.
        augment_seed: the augmentation's seed.
    Returns:
        A prefetched ``tf.data.Dataset`` of (float32 images, labels).
    """
    import tensorflow as tf

    images_all = tf.constant(x_uint8)
    labels_all = tf.constant(np.asarray(y, dtype=np.int64))
    to_model_input = _model_input(affine, num_classes, one_hot)

    def batch_at(index, order):
        images = tf.cast(tf.gather(images_all, order), tf.float32)
        if augmenter is not None:  # geometry only: works in pixel units
            images = augmentation.augment_batch(augmenter, images, seed=tf.stack([tf.constant(augment_seed, tf.int64),
                                                                                  index]))
        return to_model_input(images, tf.gather(labels_all, order))

    data = epoch_batches(len(y), batch_size=batch_size, seed=seed, epochs=epochs, first_epoch=first_epoch)
    return mapped_and_prefetched(data, batch_at)


def _model_input(affine: dict, num_classes: int, one_hot: bool) -> Any:
    """``(float32 images in pixel units, integer labels) → (scaled images, labels or one-hot labels)``."""
    import tensorflow as tf

    scale = tf.constant(affine["scale"], dtype=tf.float32)
    offset = tf.constant(affine["offset"], dtype=tf.float32)

    def to_model_input(images, labels):
        images = images * scale + offset
        if one_hot:
            labels = tf.one_hot(labels, num_classes)
        return images, labels

    return to_model_input


#: Batches made ahead of the training step (each a few MB); the map runs on every core.
PREFETCH_BATCHES = 2


def mapped_and_prefetched(data: "tf.data.Dataset", to_model_input: Any) -> "tf.data.Dataset":
    """``data.map(to_model_input)`` on every core, ``PREFETCH_BATCHES`` ahead, with tf.data's autotuning off.

    Deleting an iterator waits for the autotuning thread, which sleeps up to a minute between rounds:
    ``fit`` returned 6-16 s late in half the fast_1min runs and 38 s late in a fast_3min run (gdb: the
    main thread in ``~RootDataset::Iterator``, waiting for ``Model::OptimizeLoop``), and Keras drops an
    iterator per epoch of a plain pipeline. With autotuning off, AUTOTUNE's parallelism is the number of
    cores; the same steps, without the waits (benchmarks/pipeline_autotune.py).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    data = data.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(PREFETCH_BATCHES)
    return data.with_options(options)
