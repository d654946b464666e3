"""A resumed training is the training it interrupted: "train 4 epochs, stop after 2, resume to 4" ends with the
weights, the per-epoch history and the test accuracy of "train 4 epochs".

Every epoch's shuffle order and augmentation draws are a function of the run's seed and the epoch (not of where
the job started), and the checkpoint keeps what the model file does not: the dropout layers' random states,
Lookahead's average and the best epoch's weights. Both data paths are covered: the plain ``tf.data`` pipeline with
Keras' augmentation layers, dropout, the one-cycle schedule, keep-best and early stopping, and the fast presets'
pre-padded path with crops, the alternating flip, Lookahead and the batch-norm bias learning rate.

Exact equality, not a tolerance: each pair of runs is trained in the same process on the same CPU with the same
thread pools, so the same kernels see the same inputs in the same order; any difference is a draw, an order or a
state that the resume did not restore.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest

from cnnviz.models.config import ModelConfig
from cnnviz.runs import store as runs
from cnnviz.training import checkpoint
from tests.support.specs import tiny_spec

pytestmark = pytest.mark.slow

EPOCHS, STOP_AFTER = 4, 2

#: The plain path with every source of randomness it has: Keras' random layers (all four, and the crop), dropout
#: after the convolutions and in the head, batch norm, the one-cycle schedule, keep-best on a validation split.
PLAIN = dict(
    model=ModelConfig(conv_layers=2, filters=4, batch_norm=True, conv_dropout=0.2, dense_layers=1, dense_units=8,
                      dropout=0.3, optimizer="adam", learning_rate=0.01, lr_schedule="one_cycle").to_dict(),
    augment={"rotation": 15.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.1, "crop": 1, "seed": 3},
    validation_fraction=0.25, keep_best=True, seed=5,
)
#: The fast presets' path: the 3-minute preset's network and training (airbench's tricks: Lookahead, the batch-norm
#: bias learning rate, patch whitening from the data; SGD, one-cycle, bfloat16) on its pre-padded data path.
FAST_PRESET = "fast_3min"


#: Early stopping's counting across a resume, with the validation split and dropout.
EARLY = dict(
    model=ModelConfig(conv_layers=1, filters=4, batch_norm=False, dense_layers=1, dense_units=8,
                      dropout=0.5, learning_rate=0.05).to_dict(),
    validation_fraction=0.25, early_stopping=True, patience=2, seed=2,
)


def _spec(settings: dict):
    return tiny_spec(**{"train_size": 80, "test_size": 30, "batch_size": 16, "epochs": EPOCHS, **settings})


def _every_epoch_saved(monkeypatch):
    """Checkpoints after every epoch (a tiny run's epochs are shorter than the 5 s between saves)."""
    monkeypatch.setattr(checkpoint, "callback", functools.partial(checkpoint.callback, min_interval_s=0.0))


def _stop_after(epochs: int, stop: threading.Event):
    import keras

    class StopAfter(keras.callbacks.Callback):  # as the worker's SIGTERM does, at the end of an epoch
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == epochs:
                stop.set()

    return StopAfter()


def _weights(run_id: str) -> list[np.ndarray]:
    return runs.load_model(run_id).get_weights()


def _whole_and_resumed(spec, tmp_path, dataset=None, stop_after: int = STOP_AFTER):
    from cnnviz.training import loop as training

    whole = training.train(spec, dataset=dataset).run
    stop = threading.Event()
    training.train(spec, stop_event=stop, callbacks=[_stop_after(stop_after, stop)], checkpoint_dir=tmp_path / "one",
                   dataset=dataset)
    point = checkpoint.read(tmp_path / "one")
    assert point is not None and point.epochs_done == stop_after and point.exact
    resumed = training.train(spec, resume_from=point, checkpoint_dir=tmp_path / "two", dataset=dataset).run
    assert (resumed.metrics["resumed_after_epoch"], resumed.metrics["resumed_exactly"]) == (stop_after, True)
    assert checkpoint.read(tmp_path / "two").exact  # and so is a second resume
    return runs.load_run(whole.run_id), runs.load_run(resumed.run_id)


def _tiny_cifar():
    """64 training and 32 test images of 32×32×3 (the fast networks pool a 32×32 image three times)."""
    from cnnviz.data.datasets import Dataset

    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n) % 10
        base = (np.stack([y * 25, 250 - y * 25, (y * 77) % 256], axis=1)[:, None, None, :]).astype(float)
        return np.clip(base + rng.normal(0, 30, (n, 32, 32, 3)), 0, 255).astype(np.uint8), y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(64), split(32)
    return Dataset(name="tinycifar", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                   class_names=tuple(f"c{i}" for i in range(10)), source="synthetic (tests)")


def _assert_same_run(whole, resumed):
    assert resumed.history == whole.history  # every epoch's loss, accuracy and validation, to the last bit
    for a, b in zip(_weights(whole.run_id), _weights(resumed.run_id), strict=True):
        np.testing.assert_array_equal(a, b)
    for key in ("test_accuracy", "test_loss", "epochs_completed", "best_epoch", "best_val_loss",
                "restored_best_weights", "early_stopped"):
        assert resumed.metrics.get(key) == whole.metrics.get(key), key


def test_a_resumed_run_is_the_run_it_interrupted(cnnviz_home, tmp_path, monkeypatch):
    _every_epoch_saved(monkeypatch)
    whole, resumed = _whole_and_resumed(_spec(PLAIN), tmp_path)
    assert len(whole.history["loss"]) == EPOCHS
    # 45 digits, turned, shifted, zoomed and mirrored: validation is best early, so keep-best must end with the
    # weights of an epoch trained before the interruption (gone from a resumed run before they were checkpointed).
    assert whole.metrics["best_epoch"] <= STOP_AFTER and whole.metrics["restored_best_weights"]
    _assert_same_run(whole, resumed)


def test_a_resumed_fast_preset_run_is_the_run_it_interrupted(cnnviz_home, tmp_path, monkeypatch):
    import dataclasses

    from cnnviz.training.spec import spec_from_preset

    _every_epoch_saved(monkeypatch)
    data = _tiny_cifar()
    spec = dataclasses.replace(spec_from_preset(FAST_PRESET, dataset=data.name, epochs=EPOCHS, seed=7), batch_size=16)
    assert spec.prepadded and spec.model.lookahead and spec.model.precision == "mixed_bfloat16"
    whole, resumed = _whole_and_resumed(spec, tmp_path, dataset=data)
    assert len(whole.history["loss"]) == EPOCHS
    _assert_same_run(whole, resumed)


@pytest.mark.parametrize("stop_after", [2, 4])
def test_a_resumed_run_stops_early_where_the_run_it_interrupted_did(cnnviz_home, tmp_path, monkeypatch, stop_after):
    """Validation is best at epoch 4 of 6 (patience 2): interrupted after epoch 2, early stopping counts across the
    resume; after epoch 4, the checkpoint of the best epoch itself must hold its weights for keep-best."""
    _every_epoch_saved(monkeypatch)
    spec = _spec({**EARLY, "epochs": 8, "keep_best": True})
    whole, resumed = _whole_and_resumed(spec, tmp_path, stop_after=stop_after)
    assert whole.metrics["early_stopped"] and whole.metrics["epochs_completed"] == 6
    assert whole.metrics["best_epoch"] == 4 and whole.metrics["restored_best_weights"]
    _assert_same_run(whole, resumed)
