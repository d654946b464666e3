"""Training: options, data pipeline, a tiny real run, stop within one batch, best weights."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from cnnviz.data import scaling
from cnnviz.data.scaling import channel_stats, scale
from cnnviz.errors import InvalidArgument
from cnnviz.runs import predictions, rundata
from cnnviz.runs import store as runs
from cnnviz.training import loop as training
from cnnviz.training.callbacks import MAX_CURVE_POINTS, PUBLISH_INTERVAL_S, Progress, _thin
from cnnviz.training.pipeline import (balanced_class_weights, load_training_data, make_pipeline, training_pipeline,
                                     wants_one_hot)
from cnnviz.training.spec import augment_from_text, spec_from_preset
from tests.support.models import tiny_build
from tests.support.specs import FLAT_MODEL, tiny_spec


pytestmark = pytest.mark.slow


# --- options ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs must be 1..1000, got 0"),
        ({"batch_size": 0}, "batch size must be 1..8192, got 0"),
        ({"train_size": -5}, "train_size must be a positive whole number or empty, got -5"),
        ({"validation_fraction": 1.0}, r"validation fraction must be in \[0, 1\), got 1.0"),
        ({"scaling": "zscore"}, "scaling must be one of unit, symmetric, standardize, got 'zscore'"),
        ({"seed": -1}, "seed must be a whole number 0..2147483647, got -1"),
        ({"seed": 2**31}, "seed must be a whole number 0..2147483647, got 2147483648"),
        ({"test_size": 0}, "test_size must be a positive whole number or empty, got 0"),
        ({"patience": 0}, "early-stopping patience must be 1..1000 epochs, got 0"),
        ({"early_stopping": True, "validation_fraction": 0.0},
         "early stopping needs validation data, but the validation fraction is 0.0"),
        ({"keep_best": True, "validation_fraction": 0.0},
         "keep best weights needs validation data, but the validation fraction is 0.0"),
        ({"epochs": True}, "epochs must be 1..1000, got True"),
    ],
)
def test_spec_validation_names_the_setting(changes, message):
    with pytest.raises(InvalidArgument, match=message):
        tiny_spec(**changes).validate()


# --- data ----------------------------------------------------------------------------------
def test_scaling_affine_matches_hand_computed_values():
    x = np.array([[0, 100], [50, 200]], dtype=np.uint8).reshape(2, 1, 1, 2)
    unit = scaling.apply(x, scaling.affine("unit", x))
    np.testing.assert_allclose(unit[..., 0].ravel(), [0.0, 50 / 255], atol=1e-7)
    sym = scaling.apply(x, scaling.affine("symmetric", x))
    np.testing.assert_allclose(sym[..., 1].ravel(), [100 / 127.5 - 1, 200 / 127.5 - 1], atol=1e-6)
    std = scaling.apply(x, scaling.affine("standardize", x))
    np.testing.assert_allclose(std.reshape(2, 2), [[-1, -1], [1, 1]], atol=1e-5)  # two values per channel
    flat = np.full((3, 2, 2, 1), 7, np.uint8)  # a constant channel is centred, not divided by zero
    np.testing.assert_allclose(scaling.apply(flat, scaling.affine("standardize", flat)), 0, atol=1e-6)


def test_balanced_class_weights_follow_sklearn_formula():
    y = np.array([0, 0, 0, 1, 2, 2])
    weights = balanced_class_weights(y, 4)
    # n_samples / (n_present_classes * count): 6/(3*3), 6/(3*1), 6/(3*2); class 3 absent -> 1
    assert weights == pytest.approx({0: 2 / 3, 1: 2.0, 2: 1.0, 3: 1.0})


def test_pipeline_scales_batches_and_encodes_labels():
    x = np.arange(5 * 2 * 2 * 1, dtype=np.uint8).reshape(5, 2, 2, 1)
    y = np.array([0, 1, 2, 1, 0])
    affine = scaling.affine("symmetric", x)
    batches = list(make_pipeline(x, y, batch_size=2, affine=affine, num_classes=3, one_hot=True))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_allclose(images, scaling.apply(x, affine), atol=1e-6)
    np.testing.assert_array_equal(labels, np.eye(3)[y])
    sparse = list(make_pipeline(x, y, batch_size=5, affine=affine, num_classes=3, one_hot=False))
    np.testing.assert_array_equal(sparse[0][1].numpy(), y)


def test_pipeline_shuffle_is_seeded():
    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1)
    y = np.arange(20) % 2
    affine = scaling.affine("unit", x)

    def order(seed):
        ds = training_pipeline(x, y, batch_size=20, affine=affine, num_classes=2, one_hot=False, seed=seed, epochs=1)
        return np.round(next(iter(ds))[0].numpy().ravel() * 255).astype(int).tolist()

    assert sorted(order(1)) == list(range(20))
    assert order(1) == order(1) and order(1) != order(2)


def test_wants_one_hot():
    assert wants_one_hot(tiny_build((8, 8, 1), 10))
    assert not wants_one_hot(tiny_build((8, 8, 1), 10, loss="sparse_categorical_crossentropy"))


# --- a real (tiny) run ------------------------------------------------------------------------
class _Capture:
    """Keras callback factory that records the model, weights and val loss at each epoch end."""

    def __init__(self, stop_at: tuple[int, int] | None = None, stop_event: threading.Event | None = None):
        import keras

        capture = self
        self.model = None
        self.batches_after_stop = 0
        self.epoch_weights: list = []
        self.val_losses: list = []
        self.stop_requested = False

        class Cb(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                capture.model = self.model

            def on_train_batch_end(self, batch, logs=None):
                if capture.stop_requested:
                    capture.batches_after_stop += 1
                if stop_at is not None and (self._epoch, batch) == stop_at:
                    stop_event.set()
                    capture.stop_requested = True

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = epoch

            def on_epoch_end(self, epoch, logs=None):
                capture.epoch_weights.append(self.model.get_weights())
                capture.val_losses.append((logs or {}).get("val_loss"))

        self.callback = Cb()


def test_tiny_run_produces_a_complete_run_that_reloads_and_predicts_the_same(cnnviz_home):
    capture = _Capture()
    seen: list[Progress] = []
    result = training.train(tiny_spec(), build=tiny_build, on_progress=seen.append, callbacks=[capture.callback])
    info = result.run
    assert not result.stopped and info.status == "finished"
    assert sorted(p.name for p in (cnnviz_home / "runs" / info.run_id).iterdir()) == [
        "config.json", "history.json", "manifest.json", "metrics.json", "model.keras",
        "test_predictions.npz"]  # the tested answers, beside the manifest's files (Evaluate reads them)
    assert [r.run_id for r in runs.list_runs()] == [info.run_id]
    m = info.metrics
    assert (m["n_train"], m["n_val"], m["n_test"]) == (45, 15, 30)
    assert m["epochs_completed"] == 1 and 0.0 <= m["test_accuracy"] <= 1.0
    assert m["params_total"] == (3 * 3 * 1 + 1) * 4 + (6 * 6 * 4 + 1) * 10
    assert len(info.history["loss"]) == 1 and info.history["val_loss"][0] is not None
    cfg = info.config
    assert cfg["dataset"] == "digits" and cfg["input_shape"] == [8, 8, 1] and cfg["labels"] == "one_hot"
    assert cfg["class_names"] == [str(d) for d in range(10)] and cfg["model"] == tiny_spec().model.to_dict()
    phases = [p.phase for p in seen]
    assert phases[:2] == ["loading data", "building"] and phases[-2:] == ["testing", "saving"]
    assert "training" in phases

    data = rundata.run_dataset(info)
    x = rundata.prepare_inputs(info, data.x_test)
    loaded = runs.load_model(info.run_id)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), capture.model.predict(x, verbose=0), rtol=1e-5,
                               atol=1e-6)
    accuracy = float(np.mean(np.argmax(loaded.predict(x, verbose=0), axis=1) == data.y_test))
    assert accuracy == pytest.approx(m["test_accuracy"], abs=1e-6)
    views = predictions.load_views(info.path, info.model_sha256, data.y_test)  # Robustness' original copy
    assert list(views) == ["original"]  # tested without TTA: no mirrored answers
    np.testing.assert_allclose(views["original"], loaded.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    # test_loss is Keras' own loss on the test set; without label smoothing it is the plain cross-entropy
    import keras

    keras_loss = float(keras.losses.CategoricalCrossentropy()(np.eye(10)[data.y_test], loaded.predict(x, verbose=0)))
    assert m["test_loss"] == pytest.approx(keras_loss, rel=1e-5) and m["test_cross_entropy"] == m["test_loss"]


def test_with_label_smoothing_test_loss_is_the_training_loss_and_cross_entropy_is_plain(cnnviz_home):
    import keras

    spec = tiny_spec({**FLAT_MODEL, "label_smoothing": 0.2})
    info = training.train(spec).run  # the real build: compiled with CategoricalCrossentropy(label_smoothing=0.2)
    data = rundata.run_dataset(info)
    x = rundata.prepare_inputs(info, data.x_test)
    probs, onehot = runs.load_model(info.run_id).predict(x, verbose=0), np.eye(10)[data.y_test]
    smoothed = float(keras.losses.CategoricalCrossentropy(label_smoothing=0.2)(onehot, probs))
    assert info.metrics["test_loss"] == pytest.approx(smoothed, rel=1e-5)
    plain = float(keras.losses.CategoricalCrossentropy()(onehot, probs))
    assert info.metrics["test_cross_entropy"] == pytest.approx(plain, rel=1e-5)
    assert info.metrics["test_cross_entropy"] < info.metrics["test_loss"]


def test_stop_ends_within_one_batch_and_keeps_partial_history(cnnviz_home):
    stop = threading.Event()
    capture = _Capture(stop_at=(1, 2), stop_event=stop)  # epoch 2 (0-based 1), after its 3rd batch
    spec = tiny_spec(epochs=50)
    result = training.train(spec, build=tiny_build, stop_event=stop, callbacks=[capture.callback])
    assert result.stopped and result.run.status == "stopped"
    assert capture.batches_after_stop == 0  # no batch ran after the one that saw the flag
    history = result.run.history
    assert len(history["loss"]) == 2
    assert history["val_loss"][0] is not None and history["val_loss"][1] is None  # interrupted epoch
    steps = 6  # ceil(45 / 8)
    assert result.run.metrics["epochs_completed"] == pytest.approx(1 + 3 / steps, abs=1e-3)
    assert result.run.metrics["test_accuracy"] is not None
    assert [r.status for r in runs.list_runs()] == ["stopped"]


def test_a_stopped_runs_curves_and_history_end_at_the_epochs_it_did(cnnviz_home):
    from cnnviz.plots import training as plots
    from cnnviz.runs.compare import history_csv

    stop, published = threading.Event(), []
    capture = _Capture(stop_at=(2, 1), stop_event=stop)  # epoch 3 (0-based 2), after its 2nd batch of 6
    training.train(tiny_spec(epochs=5), build=tiny_build, stop_event=stop, callbacks=[capture.callback],
                   on_progress=published.append)
    info = runs.load_run(runs.list_runs()[0].run_id)
    done = info.metrics["epochs_completed"]
    assert info.status == "stopped" and done == pytest.approx(2 + 2 / 6, abs=1e-3)
    assert [line.split(",")[0] for line in history_csv(info).splitlines()[1:]] == ["1", "2", "2.333"]
    for fig in (plots.compare_runs([info], "loss"), plots.live_curves(published[-1].curve, epochs=5)):
        epoch_traces = [t for t in fig.data if t.name != "training (during epoch)" and t.y is not None and len(t.y)]
        assert [list(t.x) for t in epoch_traces][0] == pytest.approx([1, 2, done], abs=1e-3)
        assert max(max(t.x) for t in fig.data if t.x is not None and len(t.x)) == pytest.approx(done, abs=1e-3)
    assert info.history_epochs == [1, 2, done]


def test_stop_before_training_saves_nothing(cnnviz_home):
    stop = threading.Event()
    stop.set()
    result = training.train(tiny_spec(), build=tiny_build, stop_event=stop)
    assert result.run is None and result.stopped and runs.list_runs() == []


def test_keep_best_restores_the_best_validation_epoch(cnnviz_home):
    capture = _Capture()
    spec = tiny_spec(epochs=5, keep_best=True, seed=5)  # with this seed validation loss rises in epoch 5
    info = training.train(spec, build=lambda s, n: tiny_build(s, n, learning_rate=0.05),
                          callbacks=[capture.callback]).run
    best = int(np.argmin(capture.val_losses))
    assert best != len(capture.val_losses) - 1, capture.val_losses  # else this test proves nothing
    assert info.metrics["best_epoch"] == best + 1 and info.metrics["restored_best_weights"]
    assert info.metrics["best_val_loss"] == pytest.approx(capture.val_losses[best])
    saved = runs.load_model(info.run_id).get_weights()
    for got, want in zip(saved, capture.epoch_weights[best]):
        np.testing.assert_array_equal(got, want)
    assert any(not np.array_equal(a, b) for a, b in zip(saved, capture.epoch_weights[-1]))


def test_early_stopping_stops_when_validation_loss_stalls(cnnviz_home):
    # learning rate 0: validation loss never improves, so patience 1 stops after epoch 2
    info = training.train(tiny_spec(epochs=10, early_stopping=True, patience=1),
                          build=lambda s, n: tiny_build(s, n, learning_rate=0.0)).run
    assert info.status == "finished" and info.metrics["early_stopped"]
    assert info.metrics["epochs_completed"] == 2 and len(info.history["loss"]) == 2


def test_same_seed_repeats_the_run(cnnviz_home):
    spec = tiny_spec(epochs=2, seed=11, class_weights=True, scaling="standardize")
    a = training.train(spec, build=tiny_build).run
    b = training.train(spec, build=tiny_build).run
    c = training.train(tiny_spec(epochs=2, seed=12, class_weights=True, scaling="standardize"), build=tiny_build).run
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-5)
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]
    assert a.history["loss"] != c.history["loss"]
    assert a.config["scaling_affine"] == b.config["scaling_affine"] and a.config["class_weights"]


def test_progress_is_throttled(cnnviz_home, monkeypatch):
    seen: list[Progress] = []
    spec = tiny_spec(epochs=3, batch_size=1)  # 135 batches
    training.train(spec, build=tiny_build, on_progress=seen.append)
    live = [p for p in seen if p.phase == "training"]
    elapsed = live[-1].elapsed_s
    # one publish per epoch end plus at most one per second of training
    assert len(live) <= spec.epochs + elapsed / PUBLISH_INTERVAL_S + 1
    last = live[-1]
    assert (last.epoch, last.batch, last.batches) == (3, 45, 45)
    assert last.curve["epoch_loss"] == pytest.approx(
        [v for v in runs.list_runs()[0].history["loss"]])
    assert all(0 < x <= 3 for x in last.curve["x"]) and last.curve["x"] == sorted(last.curve["x"])
    assert any(p.images_per_s for p in live) and all(p.eta_s is None or p.eta_s >= 0 for p in live)


def test_testing_says_how_many_test_images_are_done(cnnviz_home):
    """The fast 1-minute preset's 10,000 test images, each with its mirror image, took 16 s on a busy 2-core server
    under a full bar that said only "Testing…": nothing on the panel moved."""
    seen: list[Progress] = []
    training.train(tiny_spec(), build=tiny_build, on_progress=seen.append)
    testing = [p for p in seen if p.phase == "testing"]
    assert testing[-1].note == "30 of 30 test images"
    assert all(p.note == "" for p in seen if p.phase != "testing")  # "saving" and "done" say nothing of it


def test_curve_points_are_thinned(monkeypatch):
    points = list(range(MAX_CURVE_POINTS + 1))
    _thin(points)
    assert len(points) <= MAX_CURVE_POINTS // 2 + 2 and points[0] == 0 and points[-1] == MAX_CURVE_POINTS


# --- presets, augmentation, the datasets API ---------------------------------------------------
@pytest.mark.parametrize("method", ["unit", "symmetric", "standardize"])
def test_scaling_affine_equals_datasets_scale(method):
    pass

    x = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    stats = channel_stats(x)
    want = scale(x, method, stats if method == "standardize" else None)
    got = scaling.apply(x, scaling.affine(method, x))
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_augment_from_text():
    assert augment_from_text("none") is None and augment_from_text(None) is None
    assert augment_from_text("rotation=30, flip=horizontal,translate=0.1").to_dict() == {
        "rotation": 30.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.0, "seed": 0, "crop": 0, "alternate_flip": False}
    assert augment_from_text("flip=horizontal,crop=2").crop == 2
    with pytest.raises(InvalidArgument, match="augmentation must look like rotation=30,flip=horizontal; got 'spin'"):
        augment_from_text("spin")
    with pytest.raises(InvalidArgument, match="augmentation rotation must be a number, got 'lots'"):
        augment_from_text("rotation=lots")
    with pytest.raises(InvalidArgument, match="unknown augmentation settings"):
        augment_from_text("shear=3")


def test_spec_from_preset_follows_the_seed_and_overrides():
    spec = spec_from_preset("seed002_cnn_augmented")
    assert (spec.dataset, spec.train_size, spec.test_size, spec.validation_fraction) == ("cifar10", 50_000, 10_000, 0.1)
    assert spec.keep_best and spec.epochs == 20 and spec.batch_size == 32 and spec.preset == "seed002_cnn_augmented"
    assert spec.augment.to_dict() == {"rotation": 0.0, "flip": "horizontal", "translate": 0.1, "zoom": 0.0, "seed": 0,
                            "crop": 0, "alternate_flip": False}
    assert spec.model.architecture == "seed002_cnn" and spec.model.learning_rate == 0.001

    other = spec_from_preset("seed000_model1", dataset="digits", epochs=1, learning_rate=0.05, augment=None,
                                      batch_size=16, seed=4)
    assert other.train_size is None and other.test_size is None  # the seed's CIFAR sizes don't apply to digits
    assert (other.scaling, other.epochs, other.batch_size, other.seed) == ("symmetric", 1, 16, 4)
    assert other.model.learning_rate == 0.05 and other.augment is None
    with pytest.raises(InvalidArgument, match="unknown preset 'seed999'; known: seed000_model1"):
        spec_from_preset("seed999")
    with pytest.raises(InvalidArgument, match="rotation must be 0..180 degrees, got 400"):
        tiny_spec(augment={"rotation": 400}).validate()


def test_preset_trains_on_digits_with_augmentation_and_the_shared_dataset(cnnviz_home):
    from cnnviz.data import datasets
    from cnnviz.data.augment import AugmentConfig

    full = datasets.load("digits")
    for arr in (full.x_train, full.y_train, full.x_test, full.y_test):
        arr.flags.writeable = False  # as the app's shared copy
    spec = spec_from_preset("seed000_model1", dataset="digits", epochs=1, train_size=60, test_size=30,
                                     batch_size=8, augment=AugmentConfig(rotation=20.0, flip="horizontal"))
    info = training.train(spec, dataset=full).run
    assert info.config["augment"]["rotation"] == 20.0 and info.config["preset"] == "seed000_model1"
    assert info.metrics["params_total"] == 6_282  # the formula table's count for 8×8×1 input
    assert not info.metrics["same_dataset_as_seed"]  # so not the notebook's figure: not its set-up
    # an augmented run is compared with the notebook's augmented model (Part 19), not model1
    assert info.metrics["seed_test_accuracy"] is None and info.metrics["seed_result"].startswith("Test accuracy 0.5930")
    assert info.metrics["notebook_differences"] == ["dataset digits (the notebook: cifar10)"]
    model = runs.load_model(info.run_id)
    assert not any(layer.name.startswith("augment") for layer in model.layers)  # augmentation is not in the model
    with pytest.raises(InvalidArgument, match="the dataset given is 'digits', but the run asks for 'mnist'"):
        load_training_data("mnist", train_size=None, test_size=None, seed=0, full=full)


def test_augmented_pipeline_changes_training_batches_only():
    from cnnviz.data import augment

    x = np.random.default_rng(1).integers(0, 256, (4, 8, 8, 1), dtype=np.uint8)
    y = np.arange(4)
    affine = scaling.affine("unit", x)
    flip = augment.build_augmenter(augment.AugmentConfig(flip="horizontal", seed=3))
    batches = [(images.numpy(), labels.numpy()) for images, labels in training_pipeline(
        x, y, batch_size=4, affine=affine, num_classes=4, one_hot=False, seed=0, epochs=6, augmenter=flip,
        augment_seed=3)]
    plain = scaling.apply(x, affine)
    assert len(batches) == 6
    for out, labels in batches:  # every image (its label) is itself or its mirror image
        for img, label in zip(out, labels):
            ref = plain[label]
            assert np.allclose(img, ref, atol=1e-6) or np.allclose(img, ref[:, ::-1], atol=1e-6)
    assert any(not np.allclose(out, plain[labels], atol=1e-6) for out, labels in batches)


def test_stop_during_validation_ends_the_run_after_that_epoch(cnnviz_home):
    import keras

    stop = threading.Event()

    class StopInValidation(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_test_batch_begin(self, batch, logs=None):
            if self.epoch == 1:
                stop.set()

    result = training.train(tiny_spec(epochs=50, keep_best=True), build=tiny_build, stop_event=stop,
                            callbacks=[StopInValidation()])
    info = result.run
    assert result.stopped and info.status == "stopped"
    assert len(info.history["loss"]) == 2 and info.metrics["epochs_completed"] == 2  # epoch 2 trained fully
    assert info.history["val_loss"][0] is not None and info.history["val_loss"][1] is None  # its validation was cut
    assert info.metrics["best_epoch"] == 1  # the cut validation is not a candidate
