"""One compiled inference path for every page: a model's forward pass traced once and reused.

``model.predict`` builds a data adapter and a fresh iterator per call (0.67 s warm for 2,000
CIFAR-10 images where a traced forward pass takes 0.46 s, issue 19), and a ``tf.function`` made
per call traces again every time. :func:`compiled` gives each model one :class:`Forward`: a
``tf.function`` of ``model(x, training=False)`` with an input signature whose batch dimension is
open, so it is traced once for the model and serves every batch size. Results equal
``model.predict``'s (same layers in inference mode). Shared models: hold their lock around the
call (Keras models are not thread-safe for inference, tensorflow#61298); tracing is locked here.
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np

from cnnviz.data.scaling import Affine
from cnnviz.errors import InvalidArgument


if TYPE_CHECKING:  # pragma: no cover
    import keras

#: Images per forward pass: large enough that per-call overhead vanishes, small enough for memory.
DEFAULT_BATCH_SIZE = 256
#: ``progress(done, total)``: images (or work units) finished so far of ``total``.
Progress = Callable[[int, int], None]
#: Turns a slice of stored images (e.g. uint8) into model input (float32), batch by batch. An
#: :class:`~cnnviz.data.scaling.Affine` on uint8 images is applied inside the compiled pass instead.
Prepare = Callable[[np.ndarray], np.ndarray]


class Forward:
    """A model's inference-mode forward pass, compiled once.

    Attributes:
        passes: forward passes (batches) run so far, for tests and benchmarks.
        images: images passed through so far.
    """

    def __init__(self, model: "keras.Model", *, fuse_scaling: bool = True) -> None:
        """``fuse_scaling=False`` scales uint8 pixels with TensorFlow's own kernels (for comparison)."""
        import tensorflow as tf

        self._model = weakref.ref(model)  # weak: the cache in compiled() must not keep the model alive
        self.passes = 0
        self.images = 0
        shape = _input_shape(model)
        # An open batch dimension: one trace for every batch size (a full and a last, shorter batch).
        signature = None if shape is None else [tf.TensorSpec((None, *shape[1:]), tf.float32)]
        model_ref = self._model
        self._call = tf.function(lambda x: model_ref()(x, training=False), input_signature=signature,
                                 reduce_retracing=True)
        # uint8 images and a run's scaling: the cast and x·scale + offset in the graph, on every core, instead
        # of NumPy batch by batch (a fast preset's Robustness sections 13-23% faster: benchmarks/README.md).
        # Traced on first use; the scale and offset are inputs, so one trace serves every scaling.
        self._fused = fuse_scaling
        self._scaled_call = None if shape is None else self._scaled_pass(shape, fused=fuse_scaling)

    def _scaled_pass(self, shape: tuple, *, fused: bool) -> Any:
        import tensorflow as tf

        # XLA fuses cast, multiply and add into one pass over the pixels: TensorFlow's three separate
        # kernels cost a small network's inference 3-9% more (benchmarks/README.md, session 14).
        scale_pixels = tf.function(lambda x, scale, offset: tf.cast(x, tf.float32) * scale + offset,
                                   jit_compile=fused)
        model_ref = self._model
        return tf.function(lambda x, scale, offset: model_ref()(scale_pixels(x, scale, offset), training=False),
                           input_signature=[tf.TensorSpec((None, *shape[1:]), tf.uint8),
                                            tf.TensorSpec((shape[-1],), tf.float32),
                                            tf.TensorSpec((shape[-1],), tf.float32)], reduce_retracing=True)

    @property
    def model(self) -> "keras.Model":
        """The model (alive as long as its owner keeps it)."""
        return self._model()

    @property
    def input_shape(self) -> tuple | None:
        """``(None, H, W, C)`` of the model, or None when Keras does not say."""
        return _input_shape(self.model)

    def batch(self, x: Any, prepare: Prepare | None = None) -> np.ndarray:
        """Outputs of one batch (an array or tensor N×H×W×C), as float32 numpy.

        ``prepare`` is applied first; without it ``x`` is taken as float32 model input. A uint8 batch
        with an :class:`~cnnviz.data.scaling.Affine` goes into the graph as uint8 and is scaled there.
        """
        import tensorflow as tf

        if (isinstance(prepare, Affine) and self._scaled_call is not None and len(prepare.scale) == x.shape[-1]
                and tf.as_dtype(x.dtype) == tf.uint8):
            args = (tf.convert_to_tensor(x), tf.constant(prepare.scale, tf.float32),
                    tf.constant(prepare.offset, tf.float32))
            try:
                out = self._scaled_call(*args)
            except tf.errors.OpError:
                if not self._fused:
                    raise
                # A TensorFlow build without XLA for this CPU: the same pass with TensorFlow's own kernels.
                self._fused = False
                self._scaled_call = self._scaled_pass(_input_shape(self.model), fused=False)
                out = self._scaled_call(*args)
        else:
            out = self._call(tf.convert_to_tensor(x if prepare is None else prepare(x), dtype=tf.float32))
        self.passes += 1
        self.images += int(out.shape[0])
        return np.asarray(out, dtype=np.float32)

    def outputs(self, x: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None,
                prepare: Prepare | None = None) -> np.ndarray:
        """Outputs for every image of ``x`` (N×H×W×C), ``batch_size`` at a time.

        ``prepare`` (e.g. the run's scaling of uint8 pixels) is applied batch by batch: scaling
        10,000 CIFAR-10 images at once allocates 120 MB per temporary, which cost more than the
        forward pass of a small network (benchmarks/inference.py).
        """
        x = check_batch(x)
        check_batch_size(batch_size)
        batches = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
        return np.concatenate(list(self.stream(batches, total=len(x), progress=progress, prepare=prepare)))

    def stream(self, batches: Iterable[np.ndarray], *, total: int = 0, progress: Progress | None = None,
               prepare: Prepare | None = None) -> Iterator[np.ndarray]:
        """Outputs of each batch (``prepare``d as in :meth:`batch`) as it comes, calling
        ``progress(images done, total)`` after each."""
        done = 0
        for images in batches:
            out = self.batch(np.asarray(images), prepare)
            done += len(out)
            if progress is not None:
                progress(done, total)
            yield out


def _input_shape(model: Any) -> tuple | None:
    try:
        shape = tuple(model.input_shape)
    except (AttributeError, ValueError, TypeError):  # an unbuilt Sequential
        return None
    return shape if len(shape) == 4 and not isinstance(shape[0], (tuple, list)) else None


def check_batch(x: Any) -> np.ndarray:
    """``x`` as a numpy array N×H×W×C with N ≥ 1, or raise InvalidArgument."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise InvalidArgument(f"images must be a batch N×H×W×C, got an array of shape {x.shape}")
    if x.shape[0] == 0:
        raise InvalidArgument(f"no images to run through the network (shape {x.shape})")
    return x


def check_batch_size(batch_size: Any) -> int:
    """A positive whole batch size, or raise InvalidArgument."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidArgument(f"batch size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


_compiled: "weakref.WeakKeyDictionary[Any, Forward]" = weakref.WeakKeyDictionary()
_compiling = threading.Lock()


def compiled(model: "keras.Model | Forward") -> Forward:
    """The model's :class:`Forward`, made (and traced) once per model object and kept while it lives.

    A :class:`Forward` passed in is returned as it is. The app's shared models live in
    ``st.cache_resource`` keyed by run id and model sha256, so this is one trace per run and model.
    """
    if isinstance(model, Forward):
        return model
    with _compiling:
        forward = _compiled.get(model)
        if forward is None:
            forward = _compiled[model] = Forward(model)
        return forward


def model_outputs(model: "keras.Model | Forward", x: np.ndarray, *, batch_size: int = DEFAULT_BATCH_SIZE,
                  progress: Progress | None = None, prepare: Prepare | None = None) -> np.ndarray:
    """``model.predict(x)`` (of ``prepare(x)``) through the model's compiled forward pass (float32 outputs)."""
    return compiled(model).outputs(x, batch_size=batch_size, progress=progress, prepare=prepare)
