"""build_model and summary_table against Keras: formulas, names, compile settings, one tiny epoch."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.models.config import encode_labels, ModelConfig
from cnnviz.models.network import build_model, summary_table
from tests.support.models import AUTO_NAME, formula_value


@pytest.mark.slow
@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(conv_layers=3, filter_growth="double_each", kernel_size=5, pooling="avg", dense_layers=2,
                    dense_units=20, dropout=0.3, conv_dropout=0.1, activation="gelu", batch_norm=False),
        ModelConfig(head="global_avg", conv_layers=2, dense_layers=1),
        ModelConfig(conv_layers=0, dense_layers=2, dense_units=16),
    ],
    ids=["seed-defaults", "everything-on", "global-avg", "mlp"],
)
def test_custom_models_match_formulas(config):
    shape = (16, 16, 1)
    model = build_model(config, input_shape=shape, num_classes=7)
    table = summary_table(model, input_shape=shape)
    expected = config.validate(shape, 7)
    assert (table.total, table.trainable, table.non_trainable) == (
        expected.total, expected.trainable, expected.non_trainable)
    assert {r["name"] for r in table.rows} == {r["name"] for r in expected.rows}
    for row in table.rows:
        assert formula_value(row["formula"]) == row["params"], row
        ref = expected.row(row["name"])
        assert (row["params"], row["trainable"], row["shape"], row["formula"]) == (
            ref["params"], ref["trainable"], ref["shape"], ref["formula"])
        assert not AUTO_NAME.match(row["name"]), row["name"]
    assert model.output_shape == (None, 7)


@pytest.mark.slow
def test_compile_settings():
    import keras

    model = build_model(ModelConfig(optimizer="sgd_nesterov", momentum=0.8, learning_rate=0.05, lr_decay=1e-6),
                        input_shape=(8, 8, 1), num_classes=3)
    opt = model.optimizer
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == pytest.approx(0.8)
    schedule = opt._learning_rate  # Keras 2's decay=1e-6: lr / (1 + 1e-6 · step)
    assert float(schedule(1_000_000)) == pytest.approx(0.05 / 2)
    assert isinstance(model.loss, keras.losses.CategoricalCrossentropy)
    rms = build_model(ModelConfig(optimizer="rmsprop", learning_rate=0.003, loss="sparse_categorical_crossentropy"),
                      input_shape=(8, 8, 1), num_classes=3)
    assert isinstance(rms.optimizer, keras.optimizers.RMSprop)
    assert float(rms.optimizer.learning_rate) == pytest.approx(0.003)
    assert isinstance(rms.loss, keras.losses.SparseCategoricalCrossentropy)


@pytest.mark.slow
def test_one_tiny_training_epoch():
    """One epoch on 24 images with one-hot labels (the sparse-label loss trains in test_presets)."""
    rng = np.random.default_rng(0)
    x = rng.random((24, 8, 8, 1), dtype=np.float32)
    y = np.arange(24) % 3
    config = ModelConfig(learning_rate=0.001)
    model = build_model(config, input_shape=(8, 8, 1), num_classes=3)
    history = model.fit(x, encode_labels(config, y, 3), epochs=1, batch_size=12, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.slow
def test_global_average_head_accepts_other_image_sizes():
    model = build_model(ModelConfig(head="global_avg"), input_shape=(16, 16, 3), num_classes=4)
    for side in (16, 24, 37):
        probs = model.predict(np.zeros((2, side, side, 3), np.float32), verbose=0)
        assert probs.shape == (2, 4)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    table = summary_table(model, input_shape=(24, 24, 3))
    assert table.row("pool_2")["output_shape"] == "6×6×32"
    assert summary_table(model).row("pool_2")["output_shape"] == "?×?×32"
