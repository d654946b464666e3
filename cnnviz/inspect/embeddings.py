"""Embeddings: what the network's last hidden layer makes of each test image, projected to 2-D.

The features are the input of the classifier's last Dense layer (flattened): the numbers the class scores
are a weighted sum of. PCA (scikit-learn, exact) keeps the two directions of largest variance; t-SNE
(scikit-learn, Barnes-Hut, angle 0.8) keeps neighbours together, after a PCA to at most 50 dimensions (as
TensorBoard's projector and the t-SNE authors advise). scikit-learn's t-SNE has no progress callback, so
:func:`tsne_stages` runs it in stages: the first with early exaggeration, each next one starting from the
last layout without it (sklearn takes an array as ``init``); a page can show progress between stages.

:func:`untrained_twin` is the same architecture with fresh weights (``keras.models.clone_model``), to
compare with the trained network. Shared models: hold the model's lock while calling :func:`features`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import layers


if TYPE_CHECKING:  # pragma: no cover
    import keras

BATCH = 256
TSNE_PCA_DIMS = 50
# 750 iterations in all (openTSNE's default: 250 exaggerated, then 500); 250 a stage is sklearn's least
TSNE_STAGES, TSNE_STAGE_ITERATIONS = 3, 250
# BLAS and OpenMP on one thread: on the busy 2-core machine two threads spin against each other and the
# web server's (benchmarks/README.md: PCA of 2,000×2,048 2.4 → 0.5 s, t-SNE of 2,000 125 → 39 s at load 9).
# threadpoolctl's limit is process-wide while it lasts: other sessions' numpy calls get one thread meanwhile.
THREADS = 1
TSNE_EXAGGERATION = 12.0  # sklearn's default, first stage only
# Barnes-Hut's coarsest summary of far points (sklearn allows 0.2-0.8, default 0.5): 2,000 seed 000 embeddings
# in 5.9 CPU s instead of 8.6, trustworthiness 0.731 instead of 0.746 (benchmarks/tsne_options.py)
TSNE_ANGLE = 0.8
MIN_POINTS = 5


def feature_layer(model: "keras.Model"):
    """The last Dense layer of the model (its input is the embedding)."""
    import keras

    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise InvalidArgument(f"model {model.name!r} has no Dense layer whose input could be its embedding")
    return dense[-1]


def features(model: "keras.Model", x: np.ndarray, *, batch_size: int = BATCH,
             progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """N×D float32: the input of the last Dense layer for each image of ``x`` (scaled as the model expects);
    ``progress(images done, images in all)`` is called after each batch."""
    import keras

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 4 or len(x) == 0:
        raise InvalidArgument(f"x must be N×H×W×C images (N ≥ 1), got shape {x.shape}")
    sub = keras.Model(model.inputs[0], feature_layer(model).input, name=f"{model.name}_embedding")
    parts = []
    for s in range(0, len(x), int(batch_size)):
        parts.append(keras.ops.convert_to_numpy(sub(x[s:s + batch_size], training=False)))
        if progress is not None:
            progress(min(s + int(batch_size), len(x)), len(x))
    return np.concatenate(parts).reshape(len(x), -1).astype(np.float32)


def pca(values: np.ndarray) -> np.ndarray:
    """N×2: the features projected on their two principal components (scikit-learn's PCA and its choice of solver:
    a randomised SVD for wide features; ``random_state`` 0)."""
    v = _check(values)
    with threadpool_limits(THREADS):
        return PCA(n_components=2, random_state=0).fit_transform(v).astype(np.float32)


def tsne_stage(values: np.ndarray, previous: np.ndarray | None = None, *, seed: int = 0,
               perplexity: float = 30.0) -> np.ndarray:
    """One stage (250 iterations) of t-SNE: the first (``previous`` None) with early exaggeration from a PCA
    start, a later one from ``previous`` (N×2) without it. The learning rate is sklearn's "auto" for the
    first stage, kept for all of them.

    Args:
        values: N×D features (N ≥ 5).
        previous: the layout the last stage gave, or None.
        seed: t-SNE's random state.
        perplexity: about how many neighbours each point keeps (capped at (N − 1) / 3).
    Returns:
        The N×2 layout.
    """
    v = _check(values)
    if not (isinstance(perplexity, (int, float)) and not isinstance(perplexity, bool) and perplexity > 0):
        raise InvalidArgument(f"perplexity must be a number > 0, got {perplexity!r}")
    if previous is not None and np.shape(previous) != (len(v), 2):
        raise InvalidArgument(f"previous layout must be {len(v)}×2, got shape {np.shape(previous)}")
    with threadpool_limits(THREADS):
        return _tsne_stage(v, previous, seed=seed, perplexity=perplexity)


def reduce_for_tsne(values: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """N×min(D, 50): the features on their first 50 principal components, what :func:`tsne_stage` works on (a
    caller running several stages reduces once)."""
    v = _check(values)
    if v.shape[1] <= TSNE_PCA_DIMS:
        return v.astype(np.float32)
    with threadpool_limits(THREADS):
        return PCA(n_components=min(TSNE_PCA_DIMS, len(v)), random_state=seed).fit_transform(v).astype(np.float32)


def _tsne_stage(v: np.ndarray, previous: np.ndarray | None, *, seed: int, perplexity: float) -> np.ndarray:
    if v.shape[1] > TSNE_PCA_DIMS:
        v = reduce_for_tsne(v, seed=seed)
    tsne = TSNE(n_components=2, perplexity=float(min(perplexity, (len(v) - 1) / 3)),
                init="pca" if previous is None else np.asarray(previous, np.float32), random_state=seed,
                max_iter=TSNE_STAGE_ITERATIONS, learning_rate=max(len(v) / TSNE_EXAGGERATION / 4, 50.0),
                early_exaggeration=TSNE_EXAGGERATION if previous is None else 1.0, angle=TSNE_ANGLE)
    return tsne.fit_transform(v.astype(np.float32)).astype(np.float32)


def tsne_stages(values: np.ndarray, *, stages: int = TSNE_STAGES, **options) -> Iterator[np.ndarray]:
    """:func:`tsne_stage` ``stages`` times (1..8), each from the last: yields each layout (the last is the result)."""
    if isinstance(stages, bool) or not isinstance(stages, (int, np.integer)) or not 1 <= stages <= 8:
        raise InvalidArgument(f"stages must be a whole number from 1 to 8, got {stages!r}")
    layout = None
    values = reduce_for_tsne(values, seed=options.get("seed", 0))
    for _ in range(int(stages)):
        layout = tsne_stage(values, layout, **options)
        yield layout


def tsne(values: np.ndarray, **options) -> np.ndarray:
    """N×2 t-SNE layout (all of :func:`tsne_stages`)."""
    *_, last = tsne_stages(values, **options)
    return last


def untrained_twin(model: "keras.Model") -> "keras.Model":
    """The same architecture (layers, names, shapes) with freshly initialised weights; ``model`` is not changed.

    The fresh weights are random (no global seed is set: a web server's other sessions share it); callers
    that need the same twin twice keep it (the page caches it per run).
    """
    import keras

    twin = keras.models.clone_model(model)
    twin.build(model.input_shape)
    return twin


def same_architecture(a: "keras.Model", b: "keras.Model") -> bool:
    """Whether two models have the same layers (names, classes, output shapes) and weight shapes."""
    def describe(m):
        return [(layer.name, type(layer).__name__, layers.output_shape(layer), [tuple(w.shape) for w in layer.weights])
                for layer in m.layers]

    return describe(a) == describe(b)


def _check(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values)
    if v.ndim != 2 or len(v) < MIN_POINTS or not np.issubdtype(v.dtype, np.number) or not np.all(np.isfinite(v)):
        raise InvalidArgument(f"features must be N×D finite numbers with N ≥ {MIN_POINTS}, got shape {v.shape} "
                              f"and dtype {v.dtype}")
    return v.astype(np.float64)
