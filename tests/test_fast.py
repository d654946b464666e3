"""The fast CIFAR-10 presets (issue 8): architecture and counts, patch whitening against NumPy,
crop augmentation, the one-cycle schedule, flip test-time augmentation and a one-epoch run
through the training job. No timings: benchmarks/accuracy_budget.py is the proof of speed."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from cnnviz.data import augment, scaling
from cnnviz.data.datasets import Dataset
from cnnviz.errors import InvalidArgument
from cnnviz.models import architectures, whitening
from cnnviz.models.config import ModelConfig
from cnnviz.models.layerspec import param_calculator
from cnnviz.models.network import build_model, summary_table
from cnnviz.models.presets import PRESETS
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs
from cnnviz.training import jobs as jobmanager
from cnnviz.training import loop as training
from cnnviz.training.callbacks import lr_at
from cnnviz.training.pipeline import make_pipeline
from cnnviz.training.spec import spec_from_preset
from cnnviz.training.tta import predict_tta, translate_images
from tests.helpers_train import TINY_MODEL, tiny_build, tiny_spec
from tests.test_models import _formula_value


FAST = ("fast_1min", "fast_3min", "fast_10min")
# Hand count, width 16 (groups 16/64/64) on 32×32×3, 10 classes:
#   whiten 2·2·3·24 = 288 (frozen); group 1: 3·3·24·16 + 3·3·16·16 = 5,760, 2 batch norms of 16: 128;
#   group 2: 3·3·16·64 + 3·3·64·64 = 46,080, batch norms 512; group 3: 2·3·3·64·64 = 73,728, 512;
#   logits 64·10 = 640. Trainable: all but the whitening and the 2·C moving statistics of each batch norm.
W16_TOTAL = 288 + 5_760 + 128 + 46_080 + 512 + 73_728 + 512 + 640
W16_TRAINABLE = W16_TOTAL - 288 - (128 + 512 + 512) // 2
# Width 32 (32/128/128): 288 + (3·3·24·32 + 3·3·32·32) + 4·64 + (3·3·32·128 + 3·3·128·128) + 4·256
#   + 2·3·3·128·128 + 4·256 + 128·10.
W32_TOTAL = 288 + 16_128 + 256 + 184_320 + 1_024 + 294_912 + 1_024 + 1_280
W32_TRAINABLE = W32_TOTAL - 288 - (256 + 1_024 + 1_024) // 2
COUNTS = {"fast_1min": (W16_TOTAL, W16_TRAINABLE), "fast_3min": (W16_TOTAL, W16_TRAINABLE),
          "fast_10min": (W32_TOTAL, W32_TRAINABLE)}
AUTO_NAME = re.compile(
    r"^(input_layer|conv2d|dense|batch_normalization|max_pooling2d|activation|global_max_pooling2d|rescaling)(_\d+)?$"
)


def _tiny_cifar(n_train: int = 64, n_test: int = 32, seed: int = 0) -> Dataset:
    """CIFAR-shaped uint8 images: each class a colour plus noise, so that something is learnable."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % 10
        base = (np.stack([y * 25, 250 - y * 25, (y * 77) % 256], axis=1)[:, None, None, :]).astype(float)
        x = np.clip(base + rng.normal(0, 30, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
        return x, y.astype(np.int64)

    (x_tr, y_tr), (x_te, y_te) = split(n_train), split(n_test)
    return Dataset(name="tinycifar", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
                   class_names=tuple(f"c{i}" for i in range(10)), source="synthetic (tests)")


# --- presets and architecture ---------------------------------------------------------------
def test_fast_preset_records():
    assert [n for n, p in PRESETS.items() if p.family == "fast"] == list(FAST)
    for name in FAST:
        preset = PRESETS[name]
        t = preset.training
        assert preset.config.architecture in ("fast_w16", "fast_w32") and preset.input_shape == (32, 32, 3)
        assert (t["dataset"], t["train_size"], t["test_size"], t["validation_fraction"]) == ("cifar10", None, None, 0.0)
        assert (t["scaling"], t["augment"]) == ("standardize", {"flip": "horizontal", "crop": 2})
        assert t["tta"] == ("flip_translate" if name == "fast_10min" else "flip")
        c = preset.config
        assert (c.optimizer, c.momentum, c.lr_schedule, c.label_smoothing) == ("sgd_nesterov", 0.85, "one_cycle", 0.2)
        assert (preset.expected_params["total"], preset.expected_params["trainable"]) == COUNTS[name]
        assert preset.seed_test_accuracy is None
        assert set(preset.expected) == {"test_accuracy", "seconds", "machine", "measured"}
    # what the benchmark measured (benchmarks/README.md): more time, more accuracy
    expected = [(PRESETS[n].expected["test_accuracy"], PRESETS[n].expected["seconds"]) for n in FAST]
    assert expected == sorted(expected) and expected[0] >= (0.60, 0) and expected[1][0] >= 0.75
    assert [PRESETS[n].training["epochs"] for n in FAST] == sorted(PRESETS[n].training["epochs"] for n in FAST)
    assert PRESETS["fast_10min"].config.precision == "mixed_bfloat16"
    assert PRESETS["fast_10min"].expected["test_accuracy"] >= 0.85 and PRESETS["fast_10min"].expected["seconds"] <= 600


@pytest.mark.parametrize("name", FAST)
def test_fast_counts_by_formula(name):
    preset = PRESETS[name]
    table = preset.config.validate(preset.input_shape, preset.num_classes)
    assert (table.total, table.trainable) == COUNTS[name]
    assert table.row("whiten")["trainable"] == 0 and table.row("whiten")["formula"].endswith("(frozen: not trained)")
    assert table.row("global_max")["output_shape"] == str(64 if name != "fast_10min" else 128)
    assert table.row("logit_scale")["type"] == "Rescaling" and table.row("output")["output_shape"] == "10"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fast_1min", "fast_10min"])
def test_fast_keras_model_matches_the_formulas(name):
    preset = PRESETS[name]
    model = build_model(preset.config, input_shape=preset.input_shape, num_classes=10)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert (model.count_params(), trainable) == COUNTS[name]
    expected = preset.config.validate(preset.input_shape, 10)
    table = summary_table(model)
    assert [r["name"] for r in table.rows] == [r["name"] for r in expected.rows]
    for row in table.rows:
        assert not AUTO_NAME.match(row["name"]), row["name"]
        assert _formula_value(row["formula"]) == row["params"], row
        ref = expected.row(row["name"])
        assert (row["type"], row["shape"], row["params"], row["trainable"], row["formula"]) == (
            ref["type"], ref["shape"], ref["params"], ref["trainable"], ref["formula"])
    assert not model.get_layer("whiten").trainable and model.get_layer("whiten").kernel.shape == (2, 2, 3, 24)
    assert model.get_layer("group2_bn_1").momentum == architectures.FAST_BN_MOMENTUM
    assert model.get_layer("logit_scale").scale == pytest.approx(1 / 9)
    assert model.get_layer("output").dtype_policy.name == "float32"
    if preset.config.precision == "mixed_bfloat16":
        assert model.get_layer("group1_conv_1").dtype_policy.name == "mixed_bfloat16"
    opt = model.optimizer
    assert opt.nesterov and float(opt.momentum) == 0.85 and opt.weight_decay == pytest.approx(0.009)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.2)


@pytest.mark.parametrize(("changes", "message"), [
    ({"lr_schedule": "cosine"}, "lr schedule must be one of constant, one_cycle; got 'cosine'"),
    ({"precision": "float16"}, "precision must be one of float32, mixed_bfloat16; got 'float16'"),
    ({"weight_decay": 1.0}, "weight decay must be at least 0 and below 1, got 1.0"),
    ({"lr_schedule": "one_cycle", "lr_decay": 1e-6}, "learning-rate decay and the one_cycle schedule cannot be "
     "combined, got learning-rate decay 1e-06 with lr_schedule='one_cycle'"),
])
def test_new_model_settings_are_checked(changes, message):
    with pytest.raises(InvalidArgument) as err:
        ModelConfig(**changes).validate((32, 32, 3), 10)
    assert str(err.value) == message


def test_new_layer_kinds_in_the_calculator():
    layers = [{"kind": "conv", "name": "c", "filters": 4, "kernel": 2, "use_bias": False, "trainable": False},
              {"kind": "global_max", "name": "g"}, {"kind": "rescale", "name": "r", "scale": 0.5}]
    table = param_calculator(layers, (5, 5, 3))
    assert (table.total, table.trainable, table.non_trainable) == (48, 0, 48)
    assert table.row("c")["formula"] == "2·2·3·4 = 48 (frozen: not trained)"
    assert [table.row(n)["output_shape"] for n in ("c", "g", "r")] == ["4×4×4", "4", "4"]
    with pytest.raises(InvalidArgument, match="scale of layer 'r' must be a number, got 'x'"):
        param_calculator([{"kind": "rescale", "name": "r", "scale": "x"}], (5, 5, 3))


# --- patch whitening ---------------------------------------------------------------------------
def _reference_kernel(x: np.ndarray, size: int, eps: float) -> np.ndarray:
    """airbench's computation written out with loops: patches, PᵀP/n, eigenvectors / √(λ+eps)."""
    rows = []
    for img in x.astype(np.float64):
        for i in range(img.shape[0] - size + 1):
            for j in range(img.shape[1] - size + 1):
                rows.append(img[i:i + size, j:j + size, :].reshape(-1))  # (row, column, channel) order
    p = np.array(rows)
    lam, vec = np.linalg.eigh(p.T @ p / len(p))
    lam, vec = lam[::-1], vec[:, ::-1]
    scaled = vec / np.sqrt(lam + eps)
    return np.concatenate([scaled, -scaled], axis=1).reshape(size, size, x.shape[-1], -1)


def test_whitening_kernel_matches_the_numpy_reference():
    rng = np.random.default_rng(3)
    mix = rng.normal(size=(3, 3))
    x = rng.normal(size=(7, 6, 5, 3)) @ mix  # correlated channels
    kernel = whitening.patch_whitening_kernel(x, 2, eps=1e-3)
    ref = _reference_kernel(x, 2, 1e-3)
    assert kernel.shape == ref.shape == (2, 2, 3, 24) and kernel.dtype == np.float32
    for f in range(24):  # an eigenvector's sign is arbitrary
        k, r = kernel[..., f].ravel(), ref[..., f].ravel()
        sign = np.sign(k @ r)
        np.testing.assert_allclose(k, sign * r, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])
    # whitened: the patches' second moment becomes diag(λ/(λ+eps)), nearly the identity
    w = kernel[..., :12].reshape(12, 12).astype(np.float64)
    p = whitening.patches(x, 2)
    moment = (p @ w).T @ (p @ w) / len(p)
    np.testing.assert_allclose(moment, np.diag(np.diag(moment)), atol=1e-6)
    lam = np.linalg.eigvalsh(p.T @ p / len(p))[::-1]
    np.testing.assert_allclose(np.diag(moment), lam / (lam + 1e-3), rtol=1e-4)


def test_whitening_options_and_errors():
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 1))
    k = whitening.patch_whitening_kernel(x, 2, filters=24)  # greyscale: 4 directions, the rest zero
    assert k.shape == (2, 2, 1, 24) and np.all(k[..., 4:12] == 0) and np.any(k[..., :4] != 0)
    assert whitening.patch_whitening_kernel(x, 2, filters=4).shape == (2, 2, 1, 4)
    np.testing.assert_allclose(whitening.patch_whitening_kernel(x, 2, max_images=2),
                               whitening.patch_whitening_kernel(x[:2], 2), rtol=1e-6)
    with pytest.raises(InvalidArgument, match=r"whitening filters must be an even number ≥ 2, got 5"):
        whitening.patch_whitening_kernel(x, 2, filters=5)
    with pytest.raises(InvalidArgument, match=r"at least 2×2, got shape \(4, 6\)"):
        whitening.patch_whitening_kernel(np.zeros((4, 6)), 2)


@pytest.mark.slow
def test_keras_conv_with_the_kernel_equals_patches_times_kernel():
    """The patch order (row, column, channel) is Keras' kernel layout: the conv computes P·K."""
    import keras

    x = np.random.default_rng(1).normal(size=(3, 6, 7, 3)).astype(np.float32)
    kernel = whitening.patch_whitening_kernel(x, 2)
    conv = keras.layers.Conv2D(24, 2, use_bias=False, name="w")
    conv.build((None, 6, 7, 3))
    conv.set_weights([kernel])
    out = np.asarray(conv(x)).reshape(-1, 24)
    np.testing.assert_allclose(out, whitening.patches(x, 2) @ kernel.reshape(12, 24), rtol=1e-4, atol=1e-4)


# --- crop augmentation --------------------------------------------------------------------------
def test_crop_config():
    cfg = augment.AugmentConfig(flip="horizontal", crop=2)
    assert cfg.describe() == "flip horizontal, crop ±2 px" and not cfg.is_identity
    assert augment.AugmentConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(InvalidArgument) as err:
        augment.AugmentConfig(crop=9)
    assert str(err.value) == "crop must be a whole number of pixels 0..8, got 9"


@pytest.mark.slow
def test_crop_shifts_each_image_by_whole_pixels_with_mirrored_edges():
    x = np.random.default_rng(2).integers(0, 256, (16, 8, 9, 3)).astype(np.float32)
    layer = augment.build_augmenter(augment.AugmentConfig(crop=2)).get_layer("augment_crop")
    out = np.asarray(layer(x, training=True))
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    offsets = set()
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if np.array_equal(out[i], padded[i, dy:dy + 8, dx:dx + 9])]
        assert found, f"image {i} is not a 2-pixel shift of its mirrored padding"
        offsets.add(found[0])
    assert len(offsets) > 1  # each image gets its own shift
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


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


# --- test-time augmentation ---------------------------------------------------------------------
@pytest.mark.slow
def test_tta_is_the_mean_of_the_image_and_its_mirror():
    model = tiny_build((6, 6, 3), 4)
    x = np.random.default_rng(4).random((11, 6, 6, 3)).astype(np.float32)
    plain = model.predict(x, verbose=0)
    mirror = model.predict(x[:, :, ::-1, :].copy(), verbose=0)
    assert not np.allclose(plain, mirror)  # the test would mean nothing on a symmetric model
    np.testing.assert_allclose(predict_tta(model, x, batch_size=4), (plain + mirror) / 2, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(predict_tta(model, x, tta="none"), plain, rtol=1e-5, atol=1e-6)
    xu = (x * 255).astype(np.uint8)
    affine = scaling.affine("unit", xu)
    pipe = make_pipeline(xu, np.zeros(11, int), batch_size=5, affine=affine, num_classes=4, one_hot=True)
    scaled = scaling.apply(xu, affine)
    np.testing.assert_allclose(predict_tta(model, pipe), predict_tta(model, scaled), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(InvalidArgument, match="test-time augmentation must be one of none, flip, flip_translate, got 'crop'"):
        predict_tta(model, x, tta="crop")


def test_translate_images_shifts_by_one_pixel_with_mirrored_edges():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    reflect = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")  # numpy's reflect is TF's REFLECT
    down_right = np.asarray(translate_images(x, 1, 1))
    np.testing.assert_array_equal(down_right, reflect[:, 0:4, 0:5, :])
    np.testing.assert_array_equal(down_right[:, 1:, 1:, :], x[:, :-1, :-1, :])  # content moved one pixel
    np.testing.assert_array_equal(np.asarray(translate_images(x, -1, -1)), reflect[:, 2:6, 2:7, :])
    np.testing.assert_array_equal(np.asarray(translate_images(x, 0, 0)), x)
    with pytest.raises(InvalidArgument, match=r"at most one pixel, got \(2, 0\)"):
        translate_images(x, 2, 0)


@pytest.mark.slow
def test_flip_translate_tta_weighs_six_views_as_airbench():
    model = tiny_build((6, 6, 3), 4)
    x = np.random.default_rng(5).random((7, 6, 6, 3)).astype(np.float32)

    def mirror_mean(images):
        return (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1, :].copy(), verbose=0)) / 2

    reflect = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    expected = (mirror_mean(x) / 2 + mirror_mean(reflect[:, 0:6, 0:6, :].copy()) / 4
                + mirror_mean(reflect[:, 2:8, 2:8, :].copy()) / 4)
    got = predict_tta(model, x, tta="flip_translate", batch_size=3)
    assert not np.allclose(expected, mirror_mean(x), atol=1e-4)  # the shifts change the answer
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_tta_setting_is_checked():
    with pytest.raises(InvalidArgument) as err:
        tiny_spec(tta="mirror").validate()
    assert str(err.value) == "test-time augmentation must be one of none, flip, flip_translate, got 'mirror'"
    assert spec_from_preset("fast_3min").tta == "flip"
    assert spec_from_preset("seed000_model1").tta == "none"


# --- one epoch through the training job --------------------------------------------------------
@pytest.mark.slow
def test_fast_preset_one_epoch_through_the_training_job(cnnviz_home):
    ds = _tiny_cifar()
    spec = dataclasses.replace(spec_from_preset("fast_1min", dataset=ds.name), batch_size=16)
    assert (spec.epochs, spec.validation_fraction, spec.tta) == (1, 0.0, "flip")
    jobs = jobmanager.JobManager(max_jobs=1)
    status = jobs.wait(jobs.submit(spec, dataset=ds), timeout=300)
    assert status.state == "finished", status
    assert status.progress.phase == "done"
    info = runs.load_run(status.run_id)
    m = info.metrics
    assert (m["n_train"], m["n_val"], m["n_test"], m["epochs_completed"]) == (64, 0, 32, 1)
    assert m["data_init_layers"] == ["whiten"] and m["test_tta"].startswith("flip")
    assert (m["params_total"], m["params_trainable"]) == COUNTS["fast_1min"]
    assert m["preset_expected_test_accuracy"] == PRESETS["fast_1min"].expected["test_accuracy"]
    assert info.config["augment"]["crop"] == 2 and info.config["model"]["lr_schedule"] == "one_cycle"

    model = runs.load_model(status.run_id)  # safe_mode: the whitening is an ordinary frozen Conv2D
    x_first = scaling.apply(ds.x_train, info.config["scaling_affine"])
    np.testing.assert_allclose(model.get_layer("whiten").get_weights()[0],
                               whitening.patch_whitening_kernel(x_first, 2, 24), rtol=1e-5, atol=1e-5)
    x_test = prepare_inputs(info, ds.x_test)
    probs = predict_tta(model, x_test)
    assert m["test_accuracy"] == pytest.approx(float(np.mean(probs.argmax(1) == ds.y_test)))
    plain = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == ds.y_test))
    assert m["test_accuracy_without_tta"] == pytest.approx(plain, abs=1e-6)


# --- the Build & train page ------------------------------------------------------------------
def _page(app_path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(app_path, default_timeout=180).run()
    at.switch_page("app_pages/build_train.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow
def test_page_without_cifar10_explains_and_disables_train(app_path):
    at = _page(app_path)
    assert at.segmented_control(key="train_source").value == "A network from the notebooks"  # digits only
    assert at.segmented_control(key="train_source").options[0] == "Fast CIFAR-10 (minutes)"
    at.segmented_control(key="train_source").set_value("Fast CIFAR-10 (minutes)").run()
    assert not at.exception, at.exception
    assert any("tuned for CIFAR-10" in i.value for i in at.info)
    assert at.button(key="train_start").disabled


@pytest.mark.slow
def test_page_offers_the_fast_presets_first_and_trains_one(app_path, tmp_path):
    from cnnviz.app import jobs as appjobs
    from cnnviz.app import state
    from cnnviz.data import datasets
    from tests.helpers_data import write_tiny_dir

    datasets.import_cifar10(write_tiny_dir(tmp_path))  # 100 training and 20 test images
    at = _page(app_path)
    assert at.selectbox(key="train_dataset").value == "cifar10"
    assert at.segmented_control(key="train_source").value == "Fast CIFAR-10 (minutes)"
    assert at.radio(key="train_fast_preset").value == "fast_3min"
    assert any("Train a good CIFAR-10 model in 3 minutes" in m.value for m in at.markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Expected test accuracy"] == "≈77%" and metrics["Expected time"] == "≈2.4 min"
    assert metrics["Parameters"] == f"{W16_TOTAL:,}"
    assert list(at.dataframe[0].value["name"])[:3] == ["image", "whiten", "whiten_gelu"]
    at.radio(key="train_fast_preset").set_value("fast_1min").run()
    assert {m.label: m.value for m in at.metric}["Expected test accuracy"] == "≈67%"
    assert not at.button(key="train_start").disabled
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    status = appjobs.training_jobs().wait(at.session_state[state.TRAIN_JOB_KEY], timeout=300)
    assert status.state == "finished", status
    info = runs.load_run(status.run_id)
    assert info.config["preset"] == "fast_1min" and info.metrics["n_train"] == 100
    at.run()
    note = next(s.value for s in at.success if "test accuracy" in s.value)
    assert "mirror image" in note and "expected on a quiet 2-core server: ≈67%" in note
