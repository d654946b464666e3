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
