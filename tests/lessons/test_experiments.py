"""The experiments behind seed 000 Q13/Q24, seed 001 Q3/Q5/Q6/Q7 and seed 003 3.1, against references."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from cnnviz.data import datasets
from cnnviz.errors import InvalidArgument
from cnnviz.lessons import experiments


@pytest.fixture(scope="module")
def digits():
    ds = datasets.load_digits()
    return experiments.make_data(ds.x_train, ds.y_train, train_size=96, val_size=40, num_classes=10)


def test_make_data_draws_without_overlap_and_scales():
    x = np.arange(20, dtype=np.uint8).reshape(20, 1, 1, 1) * 10
    data = experiments.make_data(x, np.arange(20), train_size=12, val_size=5, num_classes=20)
    assert data.x_train.dtype == np.float32 and data.x_train.max() <= 1.0
    picked = np.concatenate([data.y_train, data.y_val])
    assert len(set(picked.tolist())) == 17  # no image twice
    np.testing.assert_allclose(data.x_train[:, 0, 0, 0], data.y_train * 10 / 255, rtol=1e-6)  # labels follow images
    with pytest.raises(InvalidArgument, match="got 15 and 10"):
        experiments.make_data(x, np.arange(20), train_size=15, val_size=10, num_classes=20)


def test_batch_sizes_same_start_different_updates(digits):
    results = experiments.compare_batch_sizes(digits, (8, 32, 96), epochs=2)
    assert [r.label for r in results] == ["batch 8", "batch 32", "batch 96 (all images)"]
    bigger = experiments.compare_batch_sizes(digits, (512,), epochs=1)  # 96 images: the batch was 96, not 512
    assert bigger[0].label == "batch 96 (all images)" and bigger[0].steps_per_epoch == 1
    assert [r.steps_per_epoch for r in results] == [12, 3, 1]  # ceil(96 / batch) updates per epoch
    assert len({r.parameters for r in results}) == 1
    assert results[0].images_seen[:3] == (8, 16, 24) and results[0].images_seen[-1] == 192
    assert results[2].images_seen == (96, 192) and len(results[1].step_loss) == 6
    assert all(len(r.val_accuracy) == 2 and r.seconds_per_epoch > 0 for r in results)
    # many small steps learn more in two epochs than two big ones (Q13)
    assert results[0].val_accuracy[-1] > results[2].val_accuracy[-1]


def test_batchnorm_with_batch_2_and_64(digits):
    results = experiments.compare_batch_sizes(digits, experiments.BN_BATCH_SIZES, epochs=1, batch_norm=True)
    assert [r.steps_per_epoch for r in results] == [48, 2]
    # conv1 3·3·1·8+8, bn1 4·8, conv2 3·3·8·16+16, bn2 4·16, output (2·2·16)·10+10
    assert results[0].parameters == 80 + 32 + 1168 + 64 + 650


def test_batchnorm_statistics_for_validation_are_the_data_s_after_a_batch_of_64(monkeypatch):
    """Validation normalises by the moving statistics. With Keras' momentum 0.99 a batch of 64 (16 updates:
    512 images, 2 epochs) kept 85% of the starting variance 1 (0.85 against the data's 0.01-0.1), so its
    validation accuracy fell for that reason, not its batch size (seed 001 Q7 uses momentum 0.75)."""
    import keras

    ds = datasets.load_digits()
    data = experiments.make_data(ds.x_train, ds.y_train, train_size=512, val_size=40, num_classes=10)
    models, build = [], experiments.small_network
    monkeypatch.setattr(experiments, "small_network", lambda *a, **k: models.append(build(*a, **k)) or models[-1])
    experiments.compare_batch_sizes(data, (64,), epochs=2, batch_norm=True)
    model = models[0]
    conv1 = np.asarray(keras.Model(model.input, model.get_layer("conv1").output)(data.x_train))
    moving = np.asarray(model.get_layer("bn1").moving_variance)
    ratio = moving / conv1.var(axis=(0, 1, 2))
    assert np.all((ratio > 0.25) & (ratio < 4)), ratio  # was 9 to 96 times the data's


def test_batch_mean_noise_matches_one_over_root_n_for_independent_values():
    x = np.random.default_rng(1).normal(5.0, 2.0, size=(4000, 1, 1, 2))
    noise = experiments.batch_mean_noise(x, (4, 64), draws=2000)
    assert noise[4] == pytest.approx(1 / np.sqrt(4), rel=0.1)
    assert noise[64] == pytest.approx(1 / np.sqrt(64), rel=0.1)
    images = datasets.load_digits().x_train
    real = experiments.batch_mean_noise(images, (2, 64))
    assert real[2] > 3 * real[64]
    with pytest.raises(InvalidArgument, match="got 0"):
        experiments.batch_mean_noise(x, (0,))


def test_batch_mean_noise_does_not_copy_every_batch_of_images():
    """The Experiments page computes this table on every rerun: 200 batches of 512 CIFAR-10 images copied at
    once were 2.5 GB and tens of seconds. The numbers are those of each batch's images, drawn as before."""
    import tracemalloc

    x = np.random.default_rng(2).random((600, 8, 8, 3), dtype=np.float32)
    tracemalloc.start()
    try:
        noise = experiments.batch_mean_noise(x, (2, 512), draws=200, seed=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * x.astype(np.float64).nbytes  # copies of the batches: 200·512·8·8·3 float64, 157 MB
    data = x.astype(np.float64)
    mean, std = data.mean(axis=(0, 1, 2)), data.std(axis=(0, 1, 2))
    rng = np.random.default_rng(3)
    for batch in (2, 512):
        off = [(data[rng.choice(600, size=batch, replace=False)].mean(axis=(0, 1, 2)) - mean) / std
               for _ in range(200)]
        assert noise[batch] == pytest.approx(float(np.sqrt(np.mean(np.square(off)))), rel=1e-9)


def test_dense_and_conv_parameters_by_formula_and_keras():
    rows = experiments.conv_and_dense_parameters((8, 32, 224))
    assert rows == [{"side": 8, "conv": 448, "dense": 3088}, {"side": 32, "conv": 448, "dense": 49_168},
                    {"side": 224, "conv": 448, "dense": 2_408_464}]
    dense = experiments.small_network("dense", (32, 32, 3), 10)
    conv = experiments.small_network("conv", (32, 32, 3), 10)
    assert dense.count_params() == (3072 + 1) * 32 + (32 + 1) * 10 == 98_666
    assert conv.count_params() == (27 + 1) * 8 + (72 + 1) * 16 + (8 * 8 * 16 + 1) * 10 == 11_642


def test_conv_beats_dense_with_fewer_parameters_and_digits_compare(digits):
    dense, conv = experiments.compare_networks({"digits": digits}, epochs=3)
    assert (dense.label, conv.label) == ("dense", "conv")
    assert conv.parameters < dense.parameters
    two = experiments.compare_networks({"a": digits, "b": digits}, ("conv",), epochs=1)
    assert [t.label for t in two] == ["a", "b"] and two[0].parameters == two[1].parameters
    first, again = (experiments.small_network("conv", (8, 8, 1), 10).get_weights() for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # the same start each time, no global seed
    other = experiments.small_network("conv", (8, 8, 1), 10, seed=1).get_weights()
    assert not np.array_equal(first[0], other[0])


def test_streaming_holds_one_batch_and_reads_files(digits, tmp_path):
    result = experiments.compare_memory_and_streaming(digits, tmp_path / "files", batch_size=16, epochs=1)
    assert result.memory_bytes == 96 * 8 * 8 * 1 * 4 and result.streaming_bytes == 16 * 8 * 8 * 4
    assert len(list((tmp_path / "files").glob("*.png"))) == 96 and result.file_bytes > 0
    batch = experiments.read_png_batch(sorted((tmp_path / "files").glob("*.png"))[:3])
    np.testing.assert_allclose(batch, np.round(digits.x_train[:3] * 255) / 255, atol=1e-6)
    assert 0 <= result.streaming_accuracy <= 1 and result.streaming_seconds > 0


def test_streaming_and_memory_epochs_time_the_same_work(digits, tmp_path, monkeypatch):
    """Both ways' seconds per epoch cover training only: a validation pass inside the memory epochs (and not
    the file ones) made memory look slower than files. The clock here moves only while Keras validates."""
    import keras

    validating = [0.0]
    evaluate = keras.Model.evaluate

    def slow_evaluate(self, *args, **kwargs):
        validating[0] += 1000.0
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", slow_evaluate)
    monkeypatch.setattr(experiments, "time", SimpleNamespace(perf_counter=lambda: validating[0]))
    result = experiments.compare_memory_and_streaming(digits, tmp_path / "files", batch_size=16, epochs=2)
    assert (result.memory_seconds, result.streaming_seconds) == (0.0, 0.0)
    assert 0 <= result.memory_accuracy <= 1 and 0 <= result.streaming_accuracy <= 1


def test_dropout_is_off_at_test_time():
    model = experiments.small_network("dense", (8, 8, 1), 10, dropout=0.5)
    image = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8, 1)
    result = experiments.dropout_predictions(model, image, tries=5)
    np.testing.assert_allclose(result.off, model.predict(image[None], verbose=0)[0], rtol=1e-5)
    assert result.on.shape == (5, 10) and np.allclose(result.on.sum(axis=1), 1, atol=1e-5)
    assert np.ptp(result.on, axis=0).max() > 1e-3  # a different guess each try
    assert result.off_spread == 0.0  # measured over as many tries: the same numbers each time
    with pytest.raises(InvalidArgument, match=r"takes \(8, 8, 1\), got an image of \(4, 4, 1\)"):
        experiments.dropout_predictions(model, image[:4, :4])


def test_the_dropout_result_in_words_follows_its_numbers():
    off = np.array([0.1, 0.7, 0.2])
    same = experiments.DropoutPredictions(off, np.tile(off, (4, 1)), off_spread=0.0)
    assert same.in_words(["cat", "dog", "*bird*"]) == (
        "Dropout off: the same probabilities in all 4 tries, dog first (70.0%). "
        "Dropout on: the same probabilities in every try.")
    on = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.4, 0.4]])
    varied = experiments.DropoutPredictions(np.array([0.1, 0.2, 0.7]), on, off_spread=0.0012)
    assert varied.in_words(["cat", "dog", "*bird*"]) == (
        r"Dropout off: \*bird\* first (70.0%), the"  # a class name is shown as typed, not as Markdown
        " probabilities changing by up to 0.12% over 4 tries. "
        "Dropout on: the probabilities changed by up to 40.0% from try to try, with 2 different top classes.")


def test_what_the_experiments_page_says_of_batch_norm_and_dense_layers_is_what_keras_does():
    from pathlib import Path

    import keras

    text = (Path(__file__).resolve().parents[2] / "app_pages" / "experiments.py").read_text(encoding="utf-8")
    out = np.asarray(keras.layers.BatchNormalization(epsilon=0.0)(np.array([[1.0], [3.0]], np.float32), training=True))
    np.testing.assert_allclose(out[:, 0], [-1.0, 1.0])  # (x − mean 2) / std 1: subtracts the mean
    assert "subtracts the mean of the batch it is given and divides by its standard deviation" in text
    row = next(r for r in experiments.conv_and_dense_parameters() if r["side"] == 32)
    assert row["dense"] == (32 * 32 * 3 + 1) * 16  # one weight per input value, colour channels included
    assert "one weight per input value (pixel and colour channel) and unit" in text
