"""Embeddings: the last Dense layer's input, PCA against scikit-learn and numpy's SVD, t-SNE in stages keeping
clusters apart, and the untrained twin (same architecture, other weights, the trained model untouched)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import embeddings
from tests.support.models import linear_model, small_cnn


def _clusters(n_per: int = 20, dims: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, dims)) * 10
    y = np.repeat(np.arange(3), n_per)
    return (centers[y] + rng.normal(size=(len(y), dims))).astype(np.float32), y


def test_pca_equals_scikit_learn_and_the_svd():
    values, _ = _clusters()
    got = embeddings.pca(values)
    assert got.shape == (60, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, PCA(n_components=2).fit_transform(values.astype(np.float64)), rtol=1e-4, atol=1e-4)
    centred = values - values.mean(axis=0)
    _, _, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    by_svd = centred @ vt[:2].T
    for k in range(2):  # the same axes up to their sign
        assert abs(np.corrcoef(got[:, k], by_svd[:, k])[0, 1]) == pytest.approx(1.0, abs=1e-5)


def test_tsne_in_stages_keeps_clusters_apart():
    values, y = _clusters()
    layouts = list(embeddings.tsne_stages(values, stages=2, perplexity=10))
    assert len(layouts) == 2 and all(layout.shape == (60, 2) for layout in layouts)
    assert not np.allclose(layouts[0], layouts[1])  # the second stage went on from the first
    assert KNeighborsClassifier(3).fit(layouts[-1], y).score(layouts[-1], y) == 1.0
    np.testing.assert_array_equal(embeddings.tsne(values, stages=2, perplexity=10), layouts[-1])  # seeded


def test_projections_check_their_input():
    with pytest.raises(InvalidArgument, match=r"N ≥ 5, got shape \(3, 2\)"):
        embeddings.pca(np.zeros((3, 2)))
    with pytest.raises(InvalidArgument, match="finite"):
        embeddings.pca(np.full((6, 2), np.nan))
    with pytest.raises(InvalidArgument, match="stages must be a whole number from 1 to 8, got 0"):
        next(embeddings.tsne_stages(np.zeros((6, 2)), stages=0))


@pytest.mark.slow
def test_features_are_the_last_dense_layers_input():
    import keras

    w = np.random.default_rng(0).normal(size=(4, 4, 2, 3)).astype(np.float32)
    x = np.random.default_rng(1).uniform(size=(7, 4, 4, 2)).astype(np.float32)
    moved = []
    np.testing.assert_allclose(embeddings.features(linear_model(w), x, batch_size=3,
                                                   progress=lambda *done: moved.append(done)),
                               x.reshape(7, -1), rtol=1e-6)
    assert moved == [(3, 7), (6, 7), (7, 7)]  # after every batch
    model = small_cnn(seed=2)
    sub = keras.Model(model.inputs[0], model.get_layer("gap").output)
    images = np.random.default_rng(2).uniform(size=(5, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(embeddings.features(model, images), keras.ops.convert_to_numpy(sub(images)),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidArgument, match=r"got shape \(4, 4, 2\)"):
        embeddings.features(model, x[0])


@pytest.mark.slow
def test_the_untrained_twin_has_the_same_architecture_and_other_weights():
    model = small_cnn(seed=4)
    before = [w.copy() for w in model.get_weights()]
    twin = embeddings.untrained_twin(model)
    assert twin is not model and embeddings.same_architecture(model, twin)
    assert [layer.name for layer in twin.layers] == [layer.name for layer in model.layers]
    assert twin.count_params() == model.count_params()
    kernels = [(a, b) for a, b in zip(model.get_weights(), twin.get_weights()) if a.ndim > 1]
    assert kernels and all(not np.allclose(a, b) for a, b in kernels)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the trained one untouched
    assert not embeddings.same_architecture(model, small_cnn(seed=4, classes=5))
