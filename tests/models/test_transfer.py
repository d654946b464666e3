"""Transfer learning: settings and summary without TensorFlow, the built network, preprocessing
against keras.applications, tiny frozen/unfrozen runs through the training job, weights files,
the offline message, downloads from a loopback server and the CLI."""

from __future__ import annotations

import os

import numpy as np
import pytest

from cnnviz import cli, storage, weights
from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.models import network as models
from cnnviz.models import transfer
from cnnviz.models.backbones import FROZEN_LEARNING_RATE, HEAD_DROPOUT, UNFROZEN_LEARNING_RATE, feature_side
from cnnviz.models.config import ModelConfig
from cnnviz.runs import rundata
from cnnviz.runs import store as runs
from cnnviz.runs.compare import differing_settings
from cnnviz.training import loop as training
from cnnviz.training.spec import frozen_and_unfrozen, transfer_spec
from tests.support.http import loopback_server, md5, refused_url, stalling_server
from tests.support.models import legacy_weights_file
from tests.support.specs import TINY_TRANSFER, tiny_transfer_spec


# --- settings and summary (no TensorFlow) ---------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"backbone": "vgg19"}, "backbone must be one of mobilenetv2, resnet50, vgg16; got 'vgg19'"),
    ({"weights": "random"}, "weights must be one of imagenet, none; got 'random'"),
    ({"frozen": "yes"}, "frozen must be true or false, got 'yes'"),
    ({"image_size": 16}, "image size must be a whole number from 32 to 224, got 16"),
    ({"image_size": 96.0}, "image size must be a whole number from 32 to 224, got 96.0"),
    ({"alpha": 0.3}, "MobileNetV2 width (alpha) must be one of 0.35, 0.5, 0.75, 1.0; got 0.3"),
    ({"weights": "imagenet", "image_size": 100},
     "MobileNetV2's ImageNet weights exist for image sizes 96, 128, 160, 192, 224 only; got image size 100"),
])
def test_settings_are_checked_with_the_value_received(changes, message):
    cfg = ModelConfig(architecture="transfer", **{**TINY_TRANSFER, **changes})
    with pytest.raises(InvalidArgument) as err:
        cfg.validate((32, 32, 3), 10)
    assert str(err.value) == message


def test_other_inputs_are_refused():
    cfg = transfer.config(**TINY_TRANSFER)
    with pytest.raises(InvalidArgument, match="grey .1 channel. or colour .3 channel. images, got 4 channels"):
        cfg.validate((32, 32, 4), 10)
    with pytest.raises(InvalidArgument, match="number of classes must be a whole number from 2 to 1000, got 1"):
        cfg.validate((32, 32, 3), 1)


def test_config_round_trips_and_picks_learning_rates():
    cfg = transfer.config(backbone="resnet50", frozen=False, weights="none", image_size=64)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.learning_rate == UNFROZEN_LEARNING_RATE == 1e-4
    assert transfer.config().learning_rate == FROZEN_LEARNING_RATE == 1e-3
    assert transfer.config().image_size == 96 and transfer.config().weights == "imagenet"
    # older run configs without the new keys still load, as custom networks with the defaults
    old = {k: v for k, v in ModelConfig().to_dict().items() if k not in ("backbone", "frozen", "weights")}
    assert ModelConfig.from_dict(old).architecture == "custom"


def test_summary_of_frozen_and_unfrozen_by_hand():
    frozen = transfer.config(**TINY_TRANSFER).validate((8, 8, 1), 10)
    names = [r["name"] for r in frozen.rows]
    assert names == ["image", "to_pixels", "gray_to_rgb", "resize", "mobilenet_preprocess", "mobilenetv2_backbone",
                     "head_pool", "head_dropout", "head_output"]
    head = (1280 + 1) * 10
    assert frozen.row("head_output")["formula"] == "(1,280+1)·10 = 12,810"
    assert frozen.row("mobilenetv2_backbone")["output_shape"] == "1×1×1280"  # 32 halved five times
    assert (frozen.total, frozen.trainable) == (410_208 + head, head)
    unfrozen = transfer.config(frozen=False, **TINY_TRANSFER).validate((8, 8, 1), 10)
    assert (unfrozen.total, unfrozen.trainable) == (410_208 + head, 396_128 + head)
    resnet = transfer.config(backbone="resnet50", weights="none", image_size=96).validate((32, 32, 3), 2)
    assert [r["name"] for r in resnet.rows][2:4] == ["resize", "caffe_preprocess"]
    assert resnet.row("resnet50_backbone")["output_shape"] == "3×3×2048"
    assert (resnet.total, resnet.trainable) == (23_587_712 + 12 + 2049 * 2, 2049 * 2)


def test_feature_side_matches_keras_for_odd_sizes():
    import keras

    for size in (33, 100):
        base = keras.applications.MobileNetV2(include_top=False, weights=None, alpha=0.35, input_shape=(size, size, 3))
        assert base.output_shape[1] == feature_side(size)


# --- the built network ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def grey_frozen():
    cfg = transfer.config(**TINY_TRANSFER)
    return models.build_model(cfg, input_shape=(8, 8, 1), num_classes=10)


@pytest.fixture(scope="module")
def resnet_frozen():
    cfg = transfer.config(backbone="resnet50", weights="none", image_size=32)
    return models.build_model(cfg, input_shape=(32, 32, 3), num_classes=3)


def _trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def test_built_network_layers_flags_and_counts(grey_frozen, resnet_frozen):
    table = transfer.config(**TINY_TRANSFER).validate((8, 8, 1), 10)
    assert [layer.name for layer in grey_frozen.layers] == [r["name"] for r in table.rows]
    assert grey_frozen.count_params() == table.total and _trainable_count(grey_frozen) == table.trainable
    base = transfer.backbone_layer(grey_frozen)
    assert base.trainable is False and base.trainable_weights == []
    assert grey_frozen.get_layer("head_output").trainable
    assert grey_frozen.get_layer("head_dropout").rate == HEAD_DROPOUT
    table = transfer.config(backbone="resnet50", weights="none", image_size=32).validate((32, 32, 3), 3)
    assert resnet_frozen.count_params() == table.total and _trainable_count(resnet_frozen) == table.trainable
    assert resnet_frozen.get_layer("caffe_preprocess").trainable is False


def test_mobilenet_preprocessing_equals_keras(grey_frozen):
    import keras

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    cfg = transfer.config(**TINY_TRANSFER)
    model = models.build_model(cfg, input_shape=(32, 32, 3), num_classes=2)
    upto = keras.Model(model.input, model.get_layer("mobilenet_preprocess").output)
    ours = np.asarray(upto(pixels.astype(np.float32) / 255.0))
    theirs = keras.applications.mobilenet_v2.preprocess_input(pixels.astype(np.float32))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    # grey images: the one channel three times, then the same preprocessing
    grey = rng.integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
    rgb = keras.Model(grey_frozen.input, grey_frozen.get_layer("gray_to_rgb").output)(grey / 255.0)
    np.testing.assert_allclose(np.asarray(rgb), np.repeat(grey, 3, axis=-1).astype(np.float32), atol=1e-4)


def test_resnet_preprocessing_equals_keras(resnet_frozen):
    import keras

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    layer = np.asarray(resnet_frozen.get_layer("caffe_preprocess")(pixels))
    theirs = keras.applications.resnet50.preprocess_input(pixels.copy())
    np.testing.assert_allclose(layer, theirs, rtol=0, atol=1e-4)
    upto = keras.Model(resnet_frozen.input, resnet_frozen.get_layer("caffe_preprocess").output)
    np.testing.assert_allclose(np.asarray(upto(pixels / 255.0)), theirs, rtol=0, atol=1e-3)


# --- tiny runs through the training job --------------------------------------------------------------
class _Capture:
    """Keras callback factory: the backbone's weights before training, and the trained model."""

    def __init__(self):
        import keras

        outer = self

        class Cb(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                outer.before = [np.array(w) for w in transfer.backbone_layer(self.model).get_weights()]

            def on_train_end(self, logs=None):
                outer.model = self.model

        self.callback = Cb()


def _train(spec):
    cap = _Capture()
    result = training.train(spec, callbacks=[cap.callback])
    return result.run, cap


@pytest.fixture
def frozen_pair():
    """The frozen and the unfrozen tiny run of one spec, trained through training.train."""
    first, second = frozen_and_unfrozen(tiny_transfer_spec())
    return _train(first), _train(second)


def test_frozen_and_unfrozen_runs(frozen_pair):
    (frozen_run, frozen_cap), (unfrozen_run, unfrozen_cap) = frozen_pair
    assert {r.run_id for r in runs.list_runs()} == {frozen_run.run_id, unfrozen_run.run_id}
    assert frozen_run.status == "finished" and frozen_run.metrics["n_train"] == 45
    assert frozen_run.config["model"]["frozen"] is True and unfrozen_run.config["model"]["frozen"] is False
    assert frozen_run.config["scaling"] == "unit"
    differing = differing_settings([frozen_run, unfrozen_run])
    assert differing == ["model.frozen", "model.learning_rate"]
    head = 1281 * 10
    assert frozen_run.metrics["params_trainable"] == head
    assert unfrozen_run.metrics["params_trainable"] == 396_128 + head

    # frozen: every backbone array byte for byte as before training (batch norm statistics too)
    after = transfer.backbone_layer(frozen_cap.model).get_weights()
    assert len(after) == len(frozen_cap.before) == 260  # 52 convs, 52 batch norms × 4 (MobileNetV2)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(after, frozen_cap.before))
    # ... and in the saved run, which reloads with safe_mode and predicts the same
    reloaded = runs.load_model(frozen_run.run_id)
    assert all(a.tobytes() == b.tobytes()
               for a, b in zip(transfer.backbone_layer(reloaded).get_weights(), frozen_cap.before))
    assert transfer.backbone_layer(reloaded).trainable is False
    data = rundata.run_dataset(frozen_run)
    x = rundata.prepare_inputs(frozen_run, data.x_test)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), frozen_cap.model.predict(x, verbose=0))

    # unfrozen from random weights: kernels and batch norm statistics both moved
    base = transfer.backbone_layer(unfrozen_cap.model)
    changed = {v.path.split("/")[-1] for v, a, b in zip(base.weights, base.get_weights(), unfrozen_cap.before)
               if a.tobytes() != b.tobytes()}
    assert {"kernel", "moving_mean", "moving_variance"} <= changed
    reloaded = runs.load_model(unfrozen_run.run_id)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), unfrozen_cap.model.predict(x, verbose=0))


def test_imagenet_file_loads_and_fine_tuning_keeps_batchnorm_statistics(tmp_path, keras_home, monkeypatch):
    weights = legacy_weights_file(tmp_path / "fake_official.h5")
    monkeypatch.setenv("CNNVIZ_MOBILENETV2_WEIGHTS", str(weights))
    spec = tiny_transfer_spec(frozen=False, weights="imagenet", image_size=96)
    run, cap = _train(spec)
    import keras

    reference = keras.applications.MobileNetV2(include_top=False, weights=str(weights), alpha=0.35,
                                               input_shape=(96, 96, 3))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(reference.get_weights(), cap.before))
    base = transfer.backbone_layer(cap.model)
    moved = {}
    for v, a, b in zip(base.weights, base.get_weights(), cap.before):
        moved.setdefault(v.path.split("/")[-1], []).append(a.tobytes() != b.tobytes())
    assert any(moved["kernel"])  # the backbone learns ...
    for frozen_part in ("moving_mean", "moving_variance", "gamma", "beta"):  # ... with its batch norms frozen
        assert not any(moved[frozen_part]), frozen_part
    assert run.config["model"]["weights"] == "imagenet"
    table = spec.model.validate((8, 8, 1), 10)
    assert run.metrics["params_trainable"] == table.trainable == 2 * 396_128 - 410_208 + 1281 * 10
    assert table.row("mobilenetv2_backbone")["formula"].endswith("its batch norm layers stay frozen)")


def test_missing_weights_say_what_and_how(keras_home, cnnviz_home):
    cfg = transfer.config()  # MobileNetV2 α 0.35, 96×96, ImageNet weights
    with pytest.raises(Unavailable) as err:
        models.build_model(cfg, input_shape=(32, 32, 3), num_classes=10)
    text = str(err.value)
    wf = weights.backbone_file("mobilenetv2")
    assert text == weights.missing_weights_message(wf)
    assert wf.file == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    for part in (wf.file, str(cnnviz_home / "weights"), str(keras_home / "models"),
                 "`python -m cnnviz download mobilenetv2 --alpha 0.35 --size 96`", "CNNVIZ_MOBILENETV2_WEIGHTS",
                 "(weights: none), but that is not transfer learning"):
        assert part in text
    spec = transfer_spec(cfg, dataset="digits", train_size=40, test_size=20, epochs=1)
    with pytest.raises(Unavailable, match="MobileNetV2's ImageNet weights are not on this machine"):
        training.train(spec)
    status = weights.backbone_status(cfg)
    assert status["needed"] and not status["present"] and status["message"] == text
    assert weights.backbone_status(transfer.config(**TINY_TRANSFER))["needed"] is False


def test_explicit_weights_file_must_exist(keras_home, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNVIZ_RESNET50_NOTOP_WEIGHTS", str(tmp_path / "nope.h5"))
    cfg = transfer.config(backbone="resnet50")
    with pytest.raises(Unavailable, match=r"nope.h5 \(from CNNVIZ_RESNET50_NOTOP_WEIGHTS\) does not exist"):
        weights.resolve_backbone(cfg)


def test_a_damaged_resnet_copy_is_skipped(keras_home, cnnviz_home):
    wf = weights.backbone_file("resnet50")
    (keras_home / "models").mkdir(parents=True)
    (keras_home / "models" / wf.file).write_bytes(b"partial download")
    with pytest.raises(Unavailable, match="is there but its checksum is wrong"):
        weights.resolve_backbone(transfer.config(backbone="resnet50"))


# --- downloads (loopback only) and the CLI ------------------------------------------------------------
def _leftovers(folder):
    return [p.name for p in folder.iterdir() if storage.TEMP_MARKER in p.name] if folder.is_dir() else []


def test_download_resnet_notop_with_md5(keras_home, cnnviz_home):
    payload = os.urandom(3000)
    with loopback_server({"/r.h5": payload}) as mirror:
        path = weights.download_backbone("resnet50", url=mirror.base + "/r.h5", md5=md5(payload))
        assert path == cnnviz_home / "weights" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
        assert path.read_bytes() == payload and mirror.hits == ["/r.h5"]
        weights.download_backbone("resnet50", url=mirror.base + "/r.h5", md5=md5(payload))  # a good copy: no request
        assert mirror.hits == ["/r.h5"]
    assert _leftovers(path.parent) == []


def test_download_with_a_wrong_checksum_keeps_nothing(keras_home, cnnviz_home):
    with loopback_server({"/r.h5": b"corrupted"}) as mirror:
        with pytest.raises(Unavailable, match="has MD5 .*, not the expected 4d473c1dd8becc155b73f8504c6f6626; "
                                              "it is damaged or is not Keras' resnet50_weights_tf_dim_ordering"):
            weights.download_backbone("resnet50", url=mirror.base + "/r.h5")
    folder = cnnviz_home / "weights"
    assert not (folder / weights.backbone_file("resnet50").file).exists() and _leftovers(folder) == []


def test_download_mobilenet_is_checked_by_loading(keras_home, cnnviz_home, tmp_path):
    good = legacy_weights_file(tmp_path / "good.h5").read_bytes()
    with loopback_server({"/m.h5": good, "/bad.h5": b"not hdf5"}) as mirror:
        with pytest.raises(InvalidArgument, match="does not hold MobileNetV2 weights for α 0.35, 96×96"):
            weights.download_backbone("mobilenetv2", url=mirror.base + "/bad.h5")
        assert _leftovers(cnnviz_home / "weights") == []
        path = weights.download_backbone("mobilenetv2", url=mirror.base + "/m.h5")
    assert path.read_bytes() == good
    assert weights.resolve_backbone(transfer.config()) == path
    assert weights.backbone_status(transfer.config())["present"]


def test_download_offline_is_unavailable(keras_home, cnnviz_home):
    with pytest.raises(Unavailable, match="could not download http://127.0.0.1"):
        weights.download_backbone("mobilenetv2", url=refused_url("/m.h5"))
    with pytest.raises(InvalidArgument, match="must start with http:// or https://, got 'file:///etc/passwd'"):
        weights.download_backbone("mobilenetv2", url="file:///etc/passwd")


def test_a_stalled_download_gives_up_after_the_timeout_and_keeps_nothing(keras_home, cnnviz_home):
    with stalling_server() as url:
        with pytest.raises(Unavailable, match=r"could not download http://127\.0\.0\.1:\d+/stalled\.h5: "
                                              r"no answer for 0\.5 s; try again"):
            weights.download_backbone("resnet50", url=url, timeout=0.5)
    folder = cnnviz_home / "weights"
    assert not (folder / weights.backbone_file("resnet50").file).exists() and _leftovers(folder) == []


def test_cli_download_and_copy(keras_home, cnnviz_home, tmp_path, capsys):
    payload = os.urandom(2000)
    with loopback_server({"/r.h5": payload}) as mirror:
        assert cli.main(["download", "resnet50-notop", "--url", mirror.base + "/r.h5", "--md5", md5(payload)]) == 0
    assert "ResNet50 ImageNet weights (no top) downloaded and checked" in capsys.readouterr().out
    good = legacy_weights_file(tmp_path / "m.h5", alpha=0.5, image_size=128)
    assert cli.main(["download", "mobilenetv2", "--alpha", "0.5", "--size", "128", "--from", str(good)]) == 0
    dest = cnnviz_home / "weights" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.5_128_no_top.h5"
    assert dest.read_bytes() == good.read_bytes()
    assert cli.main(["download", "mobilenetv2", "--size", "100"]) == 2
    assert "got image size 100" in capsys.readouterr().err


# --- looking inside: Grad-CAM and feature maps see the nested backbone -------------------------------
def test_gradcam_and_feature_maps_reach_the_nested_backbone():
    import keras
    import tensorflow as tf

    from cnnviz.inspect import features, gradcam

    keras.utils.set_random_seed(3)
    cfg = transfer.config(**{**TINY_TRANSFER, "image_size": 96})  # 96 px: a 3×3 backbone map, so the map has a shape
    model = models.build_model(cfg, input_shape=(8, 8, 1), num_classes=10)
    image = np.random.default_rng(0).random((8, 8, 1)).astype(np.float32)

    name = gradcam.last_conv_layer_name(model)
    assert name == transfer.backbone_layer(model).name
    cam = gradcam.gradcam(model, image, class_index=4)

    # Reference: the layers one after the other, Grad-CAM written out with a tape.
    pre = keras.Model(model.inputs[0], model.get_layer("mobilenet_preprocess").output)
    with tf.GradientTape() as tape:
        fmap = transfer.backbone_layer(model)(pre(image[None]), training=False)
        tape.watch(fmap)
        pooled = model.get_layer("head_pool")(fmap)
        out = model.get_layer("head_output")
        logit = (tf.matmul(pooled, out.kernel) + out.bias)[0, 4]
    grads = tape.gradient(logit, fmap)
    weights = tf.reduce_mean(grads, axis=(1, 2))
    ref = tf.nn.relu(tf.einsum("nhwk,nk->nhw", fmap, weights))
    ref = tf.image.resize(ref[..., None], (8, 8), method="bilinear")[0, ..., 0].numpy()
    ref = ref / ref.max() if ref.max() > 0 else ref
    assert cam.shape == (8, 8)
    np.testing.assert_allclose(cam, ref, atol=1e-4)

    listed = {d["name"]: d for d in features.inspectable_layers(model)}
    assert listed[name]["output_shape"] == (3, 3, 1280)
    maps = features.feature_maps(model, image, name)
    np.testing.assert_allclose(maps.activations, fmap.numpy()[0], rtol=1e-4, atol=1e-4)
