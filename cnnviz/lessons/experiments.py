"""Small experiments a student runs to answer a notebook's "why" question by seeing it (issue 16).

* :func:`compare_batch_sizes`: the same network from the same start, trained with batch 8, 64 and 512
  (seed 000 Q13: why mini-batches), with batch normalisation and batch 2 against 64 (seed 001 Q7);
* :func:`batch_mean_noise`: how far one batch's channel mean, which batch norm divides by, strays from
  the whole data's (seed 001 Q7: too small a batch);
* :func:`compare_memory_and_streaming`: one epoch from arrays in memory against one from image files
  read batch by batch (seed 000 Q24: data larger than memory, and what streaming costs);
* :func:`compare_networks`: a dense and a convolutional network on the same images, with their parameter
  counts (seed 001 Q5, seed 003 3.1), or one network on two datasets (seed 001 Q3);
* :func:`conv_and_dense_parameters`: a layer's parameters at several image sizes (seed 003 3.1);
* :func:`dropout_predictions`: one image's prediction with dropout off (as at test time) and on (seed 001 Q6).

Keras is imported inside the functions that train. Every result is a frozen dataclass of plain numbers.
``progress(fraction, words)`` is called after every batch; it may raise to end the experiment there (the
job's stop: :mod:`cnnviz.training.experiment_jobs` runs these in a training worker).
"""

from __future__ import annotations

import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from cnnviz.data.images import plain_name
from cnnviz.errors import InvalidArgument

Progress = Callable[[float, str], None]
BATCH_SIZES = (8, 64, 512)
BN_BATCH_SIZES = (2, 64)
MAX_IMAGES = 5_000  # one experiment trains in seconds to a minute on a classroom laptop
#: The batch norm layers' momentum, seed 001's (4.2: "For this test we recommend a momentum of 0.75"). Keras'
#: 0.99 keeps 0.99^16 = 85% of the starting statistics (mean 0, variance 1) after a batch of 64's 16 updates
#: (500 images, 2 epochs), so its validation, which normalises by them, failed for that reason and not the
#: batch size, while a batch of 2's 500 updates had forgotten them.
BN_MOMENTUM = 0.75
@dataclass(frozen=True)
class Data:
    """Images scaled to 0..1 (float32 N×H×W×C) and int class labels, split into training and validation."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int


@dataclass(frozen=True)
class Trained:
    """One network trained in an experiment.

    Attributes:
        label: what differs, e.g. ``"batch 64"`` or ``"dense"``.
        parameters: its number of parameters.
        steps_per_epoch: weight updates in one epoch.
        seconds_per_epoch: the fastest epoch's wall time (the first one includes TensorFlow's tracing).
        images_seen: images trained on after each step (the x of ``step_loss``).
        step_loss: the running mean of the training loss after each step, all epochs.
        train_accuracy: training accuracy after each epoch (the network in training mode: dropout on).
        val_accuracy: validation accuracy after each epoch (inference mode).
    """

    label: str
    parameters: int
    steps_per_epoch: int
    seconds_per_epoch: float
    images_seen: tuple[int, ...]
    step_loss: tuple[float, ...]
    train_accuracy: tuple[float, ...]
    val_accuracy: tuple[float, ...]


def make_data(x: np.ndarray, y: np.ndarray, *, train_size: int, val_size: int, num_classes: int,
              seed: int = 0) -> Data:
    """A random (repeatable) subset of uint8 images for an experiment, scaled to 0..1.

    Args:
        x: uint8 N×H×W×C images. y: their int labels.
        train_size, val_size: images for training and for validation, drawn without overlap.
        num_classes: classes of the dataset. seed: the draw.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 4 or len(x) != len(y):
        raise InvalidArgument(f"images must be N×H×W×C with one label each, got {x.shape} and {len(y)} labels")
    if train_size < 1 or val_size < 1 or train_size + val_size > min(len(x), MAX_IMAGES):
        raise InvalidArgument(f"training and validation sizes must be at least 1 and together at most "
                              f"{min(len(x), MAX_IMAGES)}, got {train_size} and {val_size}")
    order = np.random.default_rng(seed).permutation(len(x))[:train_size + val_size]
    scaled = x[order].astype(np.float32) / 255.0
    return Data(scaled[:train_size], y[order[:train_size]].astype(np.int64), scaled[train_size:],
                y[order[train_size:]].astype(np.int64), int(num_classes))


def small_network(kind: str, input_shape: Sequence[int], num_classes: int, *, batch_norm: bool = False,
                  dropout: float = 0.0, hidden: int = 32, seed: int = 0):
    """A tiny uncompiled Keras network for the experiments, every layer named.

    Args:
        kind: ``"conv"`` (two 3×3 convolutions of 8 and 16 filters, each followed by 2×2 max pooling, then a
            softmax) or ``"dense"`` (Flatten, one hidden layer of ``hidden`` units, softmax).
        batch_norm: batch normalisation after each convolution (or the hidden layer), momentum
            :data:`BN_MOMENTUM`.
        dropout: rate of a Dropout layer before the output (0 for none).
        seed: the initial weights (and the dropout's masks).
    """
    if kind not in ("conv", "dense"):
        raise InvalidArgument(f"kind must be 'conv' or 'dense', got {kind!r}")
    if not 0.0 <= dropout < 1.0:
        raise InvalidArgument(f"dropout must be 0 to below 1, got {dropout}")
    import keras  # lazy: TensorFlow's first import takes seconds
    from keras import layers

    # Seeded initialisers, not keras.utils.set_random_seed: that would reseed the whole server process.
    def init(offset: int):
        return keras.initializers.GlorotUniform(seed=seed * 10 + offset)

    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    if kind == "conv":
        for i, filters in enumerate((8, 16), start=1):
            x = layers.Conv2D(filters, 3, padding="same", activation=None if batch_norm else "relu",
                              kernel_initializer=init(i), name=f"conv{i}")(x)
            if batch_norm:
                x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"bn{i}")(x)
                x = layers.Activation("relu", name=f"relu{i}")(x)
            x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
        x = layers.Flatten(name="flatten")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(hidden, activation=None if batch_norm else "relu", kernel_initializer=init(1),
                         name="hidden")(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="bn1")(x)
            x = layers.Activation("relu", name="relu1")(x)
    if dropout:
        x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer=init(9), name="output")(x)
    return keras.Model(inputs, outputs, name=f"experiment_{kind}")


def _train(model, data: Data, *, label: str, batch_size: int, epochs: int, learning_rate: float,
           progress: Progress | None, done: float, share: float) -> Trained:
    import keras  # lazy: see small_network

    # No XLA: compiling each tiny network for each batch shape would take longer than its training.
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], jit_compile=False)
    steps = -(-len(data.x_train) // batch_size)
    losses, seconds, started, current = [], [], [0.0], [0]

    class _Watch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started[0], current[0] = time.perf_counter(), epoch

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - started[0])
            if progress:
                progress(done + share * (epoch + 1) / epochs, f"{label}: epoch {epoch + 1} of {epochs}")

        def on_train_batch_end(self, batch, logs=None):
            losses.append(float((logs or {}).get("loss", np.nan)))
            if progress:  # every batch: a job's progress callback may stop the training here
                progress(done + share * (current[0] + (batch + 1) / steps) / epochs,
                         f"{label}: epoch {current[0] + 1} of {epochs}")

    history = model.fit(data.x_train, data.y_train, batch_size=batch_size, epochs=epochs, verbose=0,
                        validation_data=(data.x_val, data.y_val), shuffle=True, callbacks=[_Watch()])
    step = np.arange(len(losses))  # images seen: whole epochs before, then this epoch's batches (the last short)
    images = (step // steps) * len(data.x_train) + np.minimum((step % steps + 1) * batch_size, len(data.x_train))
    return Trained(label=label, parameters=int(model.count_params()), steps_per_epoch=steps,
                   seconds_per_epoch=min(seconds), images_seen=tuple(int(i) for i in images),
                   step_loss=tuple(losses), train_accuracy=tuple(map(float, history.history["accuracy"])),
                   val_accuracy=tuple(map(float, history.history["val_accuracy"])))


def _check_epochs(epochs: int) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 20:
        raise InvalidArgument(f"epochs must be a whole number from 1 to 20, got {epochs!r}")


def compare_batch_sizes(data: Data, batch_sizes: Sequence[int] = BATCH_SIZES, *, epochs: int = 2,
                        batch_norm: bool = False, learning_rate: float = 1e-3,
                        progress: Progress | None = None) -> list[Trained]:
    """The same conv network, from the same initial weights, trained once per batch size, labelled
    ``"batch 64"``, or ``"batch 500 (all images)"`` for a batch size of at least the 500 training images.

    A small batch makes many noisy updates per epoch and uses the hardware poorly (slow epochs); a large one
    makes few (the loss falls little in an epoch) and, with batch norm, a batch of 2 normalises by statistics
    of two images only.
    """
    _check_epochs(epochs)
    if not batch_sizes or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 4096
                              for b in batch_sizes):
        raise InvalidArgument(f"batch sizes must be whole numbers from 1 to 4096, got {list(batch_sizes)}")
    results = []
    for i, batch in enumerate(batch_sizes):
        model = small_network("conv", data.x_train.shape[1:], data.num_classes, batch_norm=batch_norm)
        n = len(data.x_train)  # Keras' batch is at most the whole training set: say the batch it really was
        label = f"batch {batch}" if batch < n else f"batch {n} (all images)"
        results.append(_train(model, data, label=label, batch_size=batch, epochs=epochs,
                              learning_rate=learning_rate, progress=progress, done=i / len(batch_sizes),
                              share=1 / len(batch_sizes)))
    return results


def compare_networks(datasets: dict[str, Data], kinds: Sequence[str] = ("dense", "conv"), *, epochs: int = 3,
                     batch_size: int = 32, hidden: int = 32, dropout: float = 0.0,
                     progress: Progress | None = None) -> list[Trained]:
    """Each kind of :func:`small_network` trained on each dataset, labelled ``"kind"`` or ``"kind on name"``.

    With one dataset and kinds dense and conv: the conv net has fewer parameters and learns more (it looks
    at neighbouring pixels with the same few weights everywhere). With two datasets and one kind: how much
    harder one is than the other for the same network.
    """
    _check_epochs(epochs)
    if not datasets or not kinds:
        raise InvalidArgument(f"need at least one dataset and one kind, got {list(datasets)} and {list(kinds)}")
    jobs = [(name, kind) for name in datasets for kind in kinds]
    results = []
    for i, (name, kind) in enumerate(jobs):
        data = datasets[name]
        model = small_network(kind, data.x_train.shape[1:], data.num_classes, hidden=hidden, dropout=dropout)
        label = kind if len(datasets) == 1 else (name if len(kinds) == 1 else f"{kind} on {name}")
        results.append(_train(model, data, label=label, batch_size=batch_size, epochs=epochs, learning_rate=1e-3,
                              progress=progress, done=i / len(jobs), share=1 / len(jobs)))
    return results


def conv_and_dense_parameters(sides: Sequence[int] = (8, 32, 224), *, channels: int = 3,
                              units: int = 16, kernel: int = 3) -> list[dict]:
    """Parameters of one Conv2D layer and one Dense layer with ``units`` outputs, per square input size.

    The convolution's ``(kernel·kernel·channels + 1)·units`` does not depend on the image's size; the dense
    layer's ``(side·side·channels + 1)·units`` grows with its area. Returns ``[{"side", "conv", "dense"}]``.
    """
    if any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 1024 for s in sides):
        raise InvalidArgument(f"sides must be whole numbers from 1 to 1024, got {list(sides)}")
    return [{"side": s, "conv": (kernel * kernel * channels + 1) * units,
             "dense": (s * s * channels + 1) * units} for s in sides]


def batch_mean_noise(x: np.ndarray, batch_sizes: Sequence[int] = (2, 8, 64, 512), *, draws: int = 200,
                     seed: int = 0) -> dict[int, float]:
    """How far the channel means of random batches stray from the whole data's, in its standard deviations.

    Batch normalisation (in training) subtracts the batch's mean and divides by the batch's standard
    deviation, over the batch and the pixels. Returns, per batch size, the root mean square over ``draws``
    batches and the channels of (batch mean − data mean) / data standard deviation: for independent
    values about ``1/sqrt(batch × pixels)``; images' pixels are alike, so it is larger.
    """
    x = np.asarray(x)
    if x.ndim != 4 or len(x) < 2:
        raise InvalidArgument(f"need N×H×W×C values with N ≥ 2, got shape {x.shape}")
    # Every image has as many pixels, so a batch's channel mean is the mean of its images' channel means:
    # the draws pick rows of this N×C table, not copies of their images (draws × batch × pixels numbers:
    # 2.5 GB and tens of seconds for 200 batches of 512 CIFAR-10 images, on every rerun of the page).
    image_means = x.mean(axis=(1, 2), dtype=np.float64)
    mean = image_means.mean(axis=0)
    std = x.std(axis=(0, 1, 2), dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    rng = np.random.default_rng(seed)
    noise = {}
    for batch in batch_sizes:
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= len(x):
            raise InvalidArgument(f"batch sizes must be 1..{len(x)} (the number of images), got {batch!r}")
        picks = np.stack([rng.choice(len(x), size=batch, replace=False) for _ in range(draws)])
        batch_means = image_means[picks].mean(axis=1)  # draws × channels
        noise[batch] = float(np.sqrt(np.mean(((batch_means - mean) / std) ** 2)))
    return noise


@dataclass(frozen=True)
class Streaming:
    """One epoch from memory against one from files (seed 000 Q24).

    Attributes:
        memory_bytes: what the training images take in memory as float32 arrays (all at once).
        streaming_bytes: what one batch takes (all a generator holds at a time).
        file_bytes: the PNG files on disk.
        memory_seconds, streaming_seconds: the faster of two epochs each way.
        memory_accuracy, streaming_accuracy: validation accuracy after the epochs (the same images and network,
            not always the same number: the two trainings go through the images in orders of their own).
    """

    memory_bytes: int
    streaming_bytes: int
    file_bytes: int
    memory_seconds: float
    streaming_seconds: float
    memory_accuracy: float
    streaming_accuracy: float


def write_png_files(x: np.ndarray, folder: Path) -> list[Path]:
    """Each uint8 image as ``folder/00000.png``, as a dataset too big for memory sits on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(np.asarray(x)):
        path = folder / f"{i:05d}.png"
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)
        paths.append(path)
    return paths


def read_png_batch(paths: Sequence[Path]) -> np.ndarray:
    """The images of ``paths`` decoded and scaled to 0..1, float32 N×H×W×C: one batch of a generator."""
    images = [np.asarray(Image.open(io.BytesIO(p.read_bytes())), dtype=np.float32) / 255.0 for p in paths]
    return np.stack([im[..., None] if im.ndim == 2 else im for im in images])


def compare_memory_and_streaming_in_temp(data: Data, *, progress: Progress | None = None, **options) -> Streaming:
    """:func:`compare_memory_and_streaming` with its files in a temporary folder removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cnnviz-stream-") as folder:
        return compare_memory_and_streaming(data, Path(folder), progress=progress, **options)


def compare_memory_and_streaming(data: Data, folder: Path, *, batch_size: int = 32, epochs: int = 2,
                                 progress: Progress | None = None) -> Streaming:
    """Train the same network one way and the other: arrays in memory, then PNG files read batch by batch.

    The generator (a ``keras.utils.PyDataset``) holds one batch at a time, so the data may be larger than
    memory; it pays for reading and decoding every image again in every epoch. Both ways time the same
    work, one ``fit`` epoch without validation; each validates once at the end.
    """
    _check_epochs(epochs)
    import keras  # lazy: see small_network

    x_uint8 = np.round(data.x_train * 255).astype(np.uint8)
    paths = write_png_files(x_uint8, Path(folder))
    labels = data.y_train

    class _Files(keras.utils.PyDataset):
        def __len__(self):
            return -(-len(paths) // batch_size)

        def __getitem__(self, index):
            part = slice(index * batch_size, (index + 1) * batch_size)
            return read_png_batch(paths[part]), labels[part]

    steps = -(-len(paths) // batch_size)

    def timed(way: str, done: float, **fit_data) -> tuple[float, float]:
        """The fastest epoch's seconds, training only (the same work both ways), and the validation accuracy."""
        model = small_network("conv", data.x_train.shape[1:], data.num_classes)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=False)
        seconds = []
        for epoch in range(epochs):
            text = f"{way}: epoch {epoch + 1} of {epochs}"
            watch = [keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs, e=epoch, t=text: progress(
                done + 0.5 * (e + (batch + 1) / steps) / epochs, t))] if progress else []
            start = time.perf_counter()
            model.fit(**fit_data, epochs=1, verbose=0, callbacks=watch)
            seconds.append(time.perf_counter() - start)
            if progress:
                progress(done + 0.5 * (epoch + 1) / epochs, text)
        return min(seconds), float(model.evaluate(data.x_val, data.y_val, verbose=0)[1])

    memory_seconds, memory_accuracy = timed("memory", 0.0, x=data.x_train, y=labels, batch_size=batch_size)
    streaming_seconds, streaming_accuracy = timed("from files", 0.5, x=_Files())
    one = data.x_train[:1].nbytes
    return Streaming(memory_bytes=int(data.x_train.nbytes), streaming_bytes=int(one * min(batch_size, len(paths))),
                     file_bytes=int(sum(p.stat().st_size for p in paths)), memory_seconds=memory_seconds,
                     streaming_seconds=streaming_seconds, memory_accuracy=memory_accuracy,
                     streaming_accuracy=streaming_accuracy)


@dataclass(frozen=True)
class DropoutPredictions:
    """One image's class probabilities with dropout off (``training=False``, as ``predict`` and test time do)
    and on (``training=True``, as during training): ``off`` is one vector, ``on`` one row per try.
    ``off_spread``: the largest change of a class's probability over as many tries with dropout off (0: the
    same numbers every time), measured, not assumed."""

    off: np.ndarray
    on: np.ndarray
    off_spread: float

    def in_words(self, class_names: Sequence[str]) -> str:
        """What the tries gave, as Markdown: the numbers' spread decides what is said, not what dropout should do."""
        tries = len(self.on)
        top = plain_name(class_names[int(self.off.argmax())])  # a folder's name, shown as typed
        off = (f"the same probabilities in all {tries} tries, {top} first ({self.off.max():.1%})"
               if self.off_spread == 0 else
               f"{top} first ({self.off.max():.1%}), the probabilities changing by up to {self.off_spread:.2%} "
               f"over {tries} tries")
        spread, tops = float(np.ptp(self.on, axis=0).max()), len({int(i) for i in self.on.argmax(axis=1)})
        on = (f"the probabilities changed by up to {spread:.1%} from try to try, "
              + ("the top class the same in all of them" if tops == 1 else f"with {tops} different top classes")
              if spread > 0 else "the same probabilities in every try")
        return f"Dropout off: {off}. Dropout on: {on}."


def dropout_experiment(data: Data, *, epochs: int = 3, tries: int = 10,
                       progress: Progress | None = None) -> DropoutPredictions:
    """Train a dense net with dropout 0.5, then :func:`dropout_predictions` of the first validation image."""
    _check_epochs(epochs)
    model = small_network("dense", data.x_train.shape[1:], data.num_classes, dropout=0.5)
    _train(model, data, label="dropout 0.5", batch_size=32, epochs=epochs, learning_rate=1e-3, progress=progress,
           done=0.0, share=1.0)
    return dropout_predictions(model, data.x_val[0], tries=tries)


def dropout_predictions(model, image: np.ndarray, *, tries: int = 10) -> DropoutPredictions:
    """Predict one image ``tries`` times with dropout on and as many with it off (seed 001 Q6).

    Args:
        model: a Keras model with Dropout layers. image: one H×W×C input, scaled as the model expects.
    """
    if not 1 <= tries <= 100:
        raise InvalidArgument(f"tries must be 1 to 100, got {tries}")
    batch = np.asarray(image, dtype=np.float32)[None]
    if batch.shape[1:] != tuple(model.input_shape[1:]):
        raise InvalidArgument(f"the model takes {tuple(model.input_shape[1:])}, got an image of {batch.shape[1:]}")
    off = np.stack([np.asarray(model(batch, training=False))[0] for _ in range(tries)])
    on = np.stack([np.asarray(model(batch, training=True))[0] for _ in range(tries)])
    return DropoutPredictions(off=off[0], on=on, off_spread=float(np.ptp(off, axis=0).max()))
