"""Training callbacks: the one-cycle learning-rate schedule, set before every step."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.training import loop as training
from cnnviz.training.callbacks import ETA_MIN_BATCHES, ETA_MIN_SECONDS, lr_at, seconds_left
from tests.support.models import tiny_build
from tests.support.specs import TINY_MODEL, tiny_spec


# --- learning-rate schedule -----------------------------------------------------------------
def test_one_cycle_values():
    assert lr_at("one_cycle", 0.5, 0.0) == pytest.approx(0.1)
    assert lr_at("one_cycle", 0.5, 0.23) == pytest.approx(0.5)
    assert lr_at("one_cycle", 0.5, 0.115) == pytest.approx(0.5 * 0.6)  # half way up from 0.2 to 1
    assert lr_at("one_cycle", 0.5, 1.0) == pytest.approx(0.035)
    assert lr_at("constant", 0.5, 0.7) == 0.5
    with pytest.raises(InvalidArgument, match="constant or one_cycle, got 'step'"):
        lr_at("step", 0.5, 0.1)


@pytest.mark.slow
def test_one_cycle_sets_the_rate_before_every_step(cnnviz_home):
    import keras

    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

    spec = tiny_spec(model=TINY_MODEL | {"lr_schedule": "one_cycle", "learning_rate": 0.02}, epochs=2)
    training.train(spec, build=tiny_build, callbacks=[Record()])
    steps = 2 * int(np.ceil(45 / 8))  # 45 training images (15 for validation), batch 8
    assert len(seen) == steps
    expected = [lr_at("one_cycle", 0.02, i / (steps - 1)) for i in range(steps)]
    np.testing.assert_allclose(seen, expected, rtol=1e-6)


# --- time left ------------------------------------------------------------------------------
def test_time_left_waits_for_a_stable_pace():
    """Batch 1 includes tracing: no estimate from it, nor from a handful of batches or a blink (issue 14)."""
    assert seconds_left(0, 0.0, 100) is None
    assert seconds_left(ETA_MIN_BATCHES - 1, 10.0, 100) is None
    assert seconds_left(50, ETA_MIN_SECONDS / 2, 100) is None
    assert seconds_left(10, 2.0, 90) == pytest.approx(18.0)
    with pytest.raises(ValueError, match="batches_left=-1"):
        seconds_left(10, 2.0, -1)


# --- a resumed run goes on where it stopped ---------------------------------------------------
def _fake_model():
    from types import SimpleNamespace

    return SimpleNamespace(optimizer=SimpleNamespace(learning_rate=None), stop_training=False,
                           get_weights=lambda: [])


def test_a_resumed_schedule_starts_at_its_step_not_at_the_first():
    """11 steps, resumed at step 5 = half way: 0.2 → 1 over the first 23%, then down to 0.07 (airbench's triangle),
    so at 0.5 the rate is peak × (1 − 0.27 / 0.77 × 0.93)."""
    from cnnviz.training.callbacks import schedule_callback

    callback, model = schedule_callback("one_cycle", 0.1, total_steps=11, start_step=5), _fake_model()
    callback.set_model(model)
    callback.on_train_batch_begin(0)
    assert model.optimizer.learning_rate == pytest.approx(0.1 * (1 - 0.27 / 0.77 * 0.93))
    callback.on_train_batch_begin(1)
    assert model.optimizer.learning_rate == pytest.approx(lr_at("one_cycle", 0.1, 0.6))


@pytest.mark.parametrize("earlier", [[1.0, 1.1], [1.0, 0.9, 0.95], [1.0]])
def test_a_resumed_early_stop_stops_at_the_epoch_the_uninterrupted_run_would(earlier):
    """Keras' own EarlyStopping fed every epoch is the reference; the resumed one sees only the epochs after the
    resume and the earlier ones' history."""
    import keras

    from cnnviz.training.callbacks import early_stopping_callback

    later = [1.2, 1.3, 1.4, 1.5]

    def stopping_epoch(callback, values, first_epoch):
        model = _fake_model()
        callback.set_model(model)
        callback.on_train_begin()
        for epoch, value in enumerate(values, start=first_epoch):
            callback.on_epoch_end(epoch, {"val_loss": value})
            if model.stop_training:
                return epoch
        return None

    want = stopping_epoch(keras.callbacks.EarlyStopping(monitor="val_loss", patience=2), earlier + later, 0)
    assert want is not None
    assert stopping_epoch(early_stopping_callback(2, {"val_loss": earlier}), later, len(earlier)) == want


def test_progress_fraction_counts_the_epochs_before_this_one():
    from cnnviz.training.callbacks import Progress

    assert Progress(epoch=2, epochs=4, batch=5, batches=10).fraction == pytest.approx(15 / 40)
    assert Progress(epoch=1, epochs=4, batch=0, batches=10).fraction == 0.0


def test_callbacks_doctests():
    import doctest

    from cnnviz.training import callbacks

    assert doctest.testmod(callbacks).failed == 0
