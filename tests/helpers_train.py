"""Tiny models and specs for the training/runs tests (a few dozen digits images, seconds to train)."""

from __future__ import annotations

import time

from cnnviz.training.spec import TrainSpec


TINY_MODEL = {"architecture": "test-tiny", "filters": 4}
#: The least config.json a run needs to be listed (cnnviz.runs.schema): a tiny run on 8×8 grey digits.
RUN_CONFIG = {"model": TINY_MODEL, "dataset": "digits", "input_shape": [8, 8, 1], "num_classes": 10,
              "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]}}


def tiny_build(input_shape, num_classes, *, loss="categorical_crossentropy", learning_rate=0.01):
    """A compiled 1-conv network with every layer named (what build_model would give, only smaller)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(input_shape, name="image"),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv-1"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(num_classes, activation="softmax", name="predictions"),
        ],
        name="test-tiny",
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    return model


def tiny_spec(**changes) -> TrainSpec:
    """60 training (45 + 15 validation) and 30 test digits, one epoch, batch 8."""
    options = dict(model=TINY_MODEL, dataset="digits", train_size=60, test_size=30, epochs=1, batch_size=8)
    options.update(changes)  # settings as a saved run has them (dicts), parsed at the file boundary
    return TrainSpec.from_dict({k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in options.items()})


def run_until(at, done, timeout: float = 240.0) -> None:
    """Re-run an AppTest page (as the live fragment would) until ``done(at)`` or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def start_page_training(at, tag: str, *, epochs: int, train_size: int, test_size: int, batch: int) -> str:
    """Set Build & train's training options (widget keys end in ``tag``), press Train; return the job id."""
    from cnnviz.app import state

    at.number_input(key=f"train_epochs_{tag}").set_value(epochs)
    at.number_input(key=f"train_size_{tag}").set_value(train_size)
    at.number_input(key=f"test_size_{tag}").set_value(test_size)
    at.select_slider(key=f"train_batch_{tag}").set_value(batch)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    return at.session_state[state.TRAIN_JOB_KEY]
