"""A classifier's class scores before its softmax, and compiled functions cached per model.

Saliency, Integrated Gradients and the adversarial attacks differentiate the *logits*, as Grad-CAM
does: a softmax probability saturates near 1 and its gradient vanishes. :func:`logits_fn` finds them
(the last Dense layer's output before its softmax, the input of a final Softmax layer, one sigmoid unit's
logit as two class scores (:func:`cnnviz.inspect.gradcam.class_scores`), or the model's output otherwise) through a sub-model that shares the model's layers and never changes it.
:func:`compiled` keeps one compiled TensorFlow function per model and purpose, with a weak reference so a
recycled ``id`` never returns another model's function.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Callable

from cnnviz.errors import InvalidArgument
from cnnviz.inspect.gradcam import class_scores, score_source


if TYPE_CHECKING:  # pragma: no cover
    import keras

_CACHE_SIZE = 16
_cache: dict[tuple[int, str], tuple[weakref.ref, object]] = {}
_cache_lock = threading.Lock()


def logits_fn(model: "keras.Model") -> Callable:
    """A callable ``x (N×H×W×C tensor) -> logits (N×classes)`` in inference mode, usable inside ``tf.function``.

    Raises:
        InvalidArgument: the model has no graph inputs (a Sequential model built without ``Input``).
    """
    import keras

    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise InvalidArgument(f"model {model.name!r} is not built: give it an Input first")
    kind, last = score_source(model)
    if kind == "output":
        return lambda x: model(x, training=False)
    inputs = inputs[0] if len(inputs) == 1 else inputs  # a bare tensor is called with a bare tensor
    sub = keras.Model(inputs, last.input, name=f"logits_{model.name}")

    def logits(x):
        return class_scores(kind, last, sub(x, training=False))  # before the softmax or sigmoid

    return logits


def compiled(model: "keras.Model", purpose: str, build: Callable[[], object]):
    """``build()`` once per model and purpose (a compiled function), kept while the model lives (bounded)."""
    key = (id(model), purpose)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is model:
            return hit[1]
    fn = build()
    with _cache_lock:
        _cache[key] = (weakref.ref(model), fn)
        while len(_cache) > _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
    return fn
