"""airbench's training tricks: the batch-norm biases' learning-rate factor and Lookahead, against their formulas."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.runs import modelfile
from cnnviz.training import airbench


def _bn_model(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((4, 4, 2), name="image"),
        keras.layers.Conv2D(3, 3, use_bias=False, name="conv"),
        keras.layers.BatchNormalization(scale=False, name="bn"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(2, activation="softmax", name="out"),
    ], name="bn_tiny")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    return model


def _one_step(model, x, y):
    before = {v.path: np.array(v.numpy()) for v in model.trainable_variables}
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return {v.path: v.numpy() - before[v.path] for v in model.trainable_variables}


def test_bias_learning_rate_factor_multiplies_only_the_batch_norm_bias_steps(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4, 4, 2)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)]
    plain, fast = _bn_model(), _bn_model()
    fast.set_weights(plain.get_weights())
    assert airbench.scale_bias_learning_rate(fast, 64.0) == ["bn_tiny/bn/beta"]
    step_plain, step_fast = _one_step(plain, x, y), _one_step(fast, x, y)
    step_plain, step_fast = ({k.split("/", 1)[1]: v for k, v in s.items()} for s in (step_plain, step_fast))
    assert np.abs(step_plain["bn/beta"]).max() > 1e-5
    np.testing.assert_allclose(step_fast["bn/beta"], 64 * step_plain["bn/beta"], rtol=1e-4, atol=1e-7)
    for path in ("conv/kernel", "out/kernel", "out/bias"):
        np.testing.assert_allclose(step_fast[path], step_plain[path], rtol=1e-5, atol=1e-8)
    # the model file still names only Keras' SGD, and cnnviz's loader accepts it
    path = tmp_path / "model.keras"
    fast.save(path)
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    assert config["compile_config"]["optimizer"]["class_name"] == "SGD"
    modelfile.check_model_archive(path, "test")


def test_bias_learning_rate_factor_one_changes_nothing_and_bad_factors_are_refused():
    model = _bn_model()
    apply = model.optimizer.apply
    assert airbench.scale_bias_learning_rate(model, 1.0) == [] and model.optimizer.apply == apply
    for bad in (0, -2.0, "64", True):
        with pytest.raises(InvalidArgument, match=f"got {bad!r}"):
            airbench.scale_bias_learning_rate(model, bad)


def test_lookahead_decay_follows_airbench():
    assert airbench.lookahead_decay(0, 10) == 0
    assert airbench.lookahead_decay(5, 10) == pytest.approx(0.95**5 * 0.125)
    assert airbench.lookahead_decay(10, 10) == pytest.approx(0.95**5)
    with pytest.raises(InvalidArgument, match="got 0"):
        airbench.lookahead_decay(1, 0)


def test_lookahead_weights_equal_the_formula_on_a_tiny_model():
    model = _bn_model()
    callback = airbench.lookahead_callback(total_steps=10)
    callback.set_model(model)
    rng = np.random.default_rng(1)
    average = [np.array(w, np.float64) for w in model.get_weights()]  # the BN statistics are averaged too
    callback.on_train_begin()
    for step in range(1, 11):
        new = [rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()]
        model.set_weights(new)
        callback.on_train_batch_end(step - 1)
        if step % 5:
            for w, n in zip(model.get_weights(), new):  # left alone between updates
                np.testing.assert_array_equal(w, n)
            continue
        d = 0.95**5 * (step / 10) ** 3
        average = [a + (1 - d) * (n - a) for a, n in zip(average, new)]
        for w, a in zip(model.get_weights(), average):
            np.testing.assert_allclose(w, a, rtol=1e-5, atol=1e-6)
    model.set_weights([w + 1 for w in model.get_weights()])
    callback.on_train_end()  # the run ends on the average
    for w, a in zip(model.get_weights(), average):
        np.testing.assert_allclose(w, a, rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidArgument, match="got 11 of 10"):
        airbench.lookahead_callback(10, start_step=11)


def test_airbench_doctests():
    import doctest

    assert doctest.testmod(airbench).failed == 0
