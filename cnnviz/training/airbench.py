"""Two of airbench's training tricks the training job adds to a model: a faster-learning batch-norm bias and Lookahead.

airbench (Keller Jordan, arXiv 2404.00498; its ablation, PFLOP to 94%: 64× bias learning rate
0.65 → 0.49, Lookahead 0.47 → 0.42):

- :func:`scale_bias_learning_rate`: the batch-norm biases (β) take steps ``factor`` times larger than
  the other weights (airbench: 64), their weight decay unchanged.
- :func:`lookahead_callback`: every 5 steps the weights (batch-norm statistics included) move to
  ``ema ← ema + (1 − d)·(w − ema)``, ``w ← ema``, with ``d = 0.95⁵·(step / total)³``: no pull at the
  start, a strong one at the end; the last step leaves the weights at the average.

Neither is saved in the model: a run's ``model.keras`` holds only Keras' own classes (cnnviz loads
nothing else, :mod:`cnnviz.runs.modelfile`), so the optimiser stays Keras' SGD and the training job
applies these again when it resumes a run (Lookahead's average from the checkpoint). Keras is imported inside the functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnviz.errors import InvalidArgument

#: Steps between two Lookahead updates (airbench: 5).
LOOKAHEAD_EVERY = 5
#: airbench's decay at the last step: 0.95 per step over the 5 steps.
LOOKAHEAD_DECAY = 0.95**LOOKAHEAD_EVERY


def lookahead_decay(step: int, total_steps: int) -> float:
    """The Lookahead decay ``d`` at ``step`` (1-based) of ``total_steps``: ``0.95⁵·(step / total)³``.

    >>> round(lookahead_decay(100, 100), 4), lookahead_decay(0, 100)
    (0.7738, 0.0)
    """
    if total_steps < 1:
        raise InvalidArgument(f"total steps must be at least 1, got {total_steps!r}")
    return LOOKAHEAD_DECAY * (min(step, total_steps) / total_steps) ** 3


def bias_variables(model: Any) -> list[Any]:
    """The batch-norm biases (β) of a Keras model, nested models included."""
    import keras

    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization) and layer.center:
            found.append(layer.beta)
    return found


def scale_bias_learning_rate(model: Any, factor: float) -> list[str]:
    """Make the compiled optimiser step the batch-norm biases ``factor`` times further.

    The biases' gradients are multiplied by ``factor`` before the optimiser sees them: for SGD with
    momentum that is exactly a learning rate ``factor`` times larger, and Keras' decoupled weight decay
    (learning rate × decay × weight) is left as it was, as in airbench. Done by wrapping this one
    optimiser object's ``apply`` (traced into the training step), not by a subclass, which would be
    saved into the run's model file.

    Args:
        model: a compiled Keras model.
        factor: learning-rate factor of the biases (1 changes nothing).
    Returns:
        The paths of the scaled variables.
    """
    if not isinstance(factor, (int, float)) or isinstance(factor, bool) or not factor > 0:
        raise InvalidArgument(f"bias learning-rate factor must be a number above 0, got {factor!r}")
    paths = {v.path for v in bias_variables(model)}
    if factor == 1 or not paths:
        return []
    optimizer = model.optimizer
    apply = optimizer.apply

    def scaled_apply(grads, trainable_variables=None):
        if trainable_variables is not None:
            grads = [g * factor if g is not None and v.path in paths else g for g, v in zip(grads, trainable_variables)]
        return apply(grads, trainable_variables)

    optimizer.apply = scaled_apply
    return sorted(paths)


def lookahead_callback(total_steps: int, start_step: int = 0, average: list[np.ndarray] | None = None) -> Any:
    """A Keras callback doing airbench's Lookahead over a training of ``total_steps`` steps.

    Its ``average`` (float64, one array per model weight) is what a checkpoint keeps beside the model.

    Args:
        total_steps: steps of the whole run (epochs × steps per epoch).
        start_step: steps already done (a resumed run).
        average: a resumed run's average at ``start_step``; None starts it from the weights (a new run, or
            a checkpoint written before it was kept).
    """
    if total_steps < 1 or not 0 <= start_step <= total_steps:
        raise InvalidArgument(f"need 0 ≤ start step ≤ total steps ≥ 1, got {start_step!r} of {total_steps!r}")
    import keras

    class Lookahead(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.step = start_step
            self.average: list[np.ndarray] = []

        def on_train_begin(self, logs=None):
            weights = self.model.get_weights()
            if average is not None and [a.shape for a in average] == [w.shape for w in weights]:
                self.average = [np.array(a, dtype=np.float64) for a in average]
            else:
                self.average = [np.array(w, dtype=np.float64) for w in weights]

        def update(self, decay: float) -> None:
            weights = self.model.get_weights()
            self.average = [a + (1 - decay) * (np.asarray(w, np.float64) - a) for a, w in zip(self.average, weights)]
            self.model.set_weights([a.astype(w.dtype) for a, w in zip(self.average, weights)])

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step % LOOKAHEAD_EVERY == 0:
                self.update(lookahead_decay(self.step, total_steps))

        def on_train_end(self, logs=None):
            self.update(1.0)  # end at the average, as airbench does after its last step

    return Lookahead()
