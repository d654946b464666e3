"""VGG16 as a transfer backbone (seed 004 task 4): counts without TensorFlow, offline message, a download
from the loopback server into CNNVIZ_HOME/weights, and the model built from that file, frozen and not."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnviz import weights
from cnnviz.errors import Unavailable
from cnnviz.models import backbones, transfer
from cnnviz.models.network import build_model
from tests.support.http import loopback_server, md5

VGG16_NOTOP = 14_714_688  # Keras' VGG16(include_top=False).count_params(): 13 convs, no batch norm


def test_vgg16_counts_and_shapes_without_tensorflow():
    for size, side in ((200, 6), (224, 7), (96, 3), (32, 1)):
        table = transfer.config(backbone="vgg16", image_size=size).validate((size, size, 1), 2)
        row = table.row("vgg16_backbone")
        assert row["shape"] == (side, side, 512) and row["params"] == VGG16_NOTOP and row["trainable"] == 0
        assert table.row("head_output")["params"] == (512 + 1) * 2
        assert table.row("caffe_preprocess")["params"] == 12  # RGB → BGR minus the means, frozen
    unfrozen = transfer.config(backbone="vgg16", frozen=False).validate((32, 32, 3), 10)
    assert unfrozen.trainable == VGG16_NOTOP + 513 * 10  # no batch norm: every weight learns
    assert backbones.BACKBONES["vgg16"].preprocessing == "caffe"


def test_missing_vgg16_weights_say_what_and_how(keras_home, cnnviz_home):
    cfg = transfer.config(backbone="vgg16", image_size=32)
    with pytest.raises(Unavailable) as err:
        build_model(cfg, input_shape=(32, 32, 3), num_classes=2)
    text = str(err.value)
    assert text.startswith("VGG16's ImageNet weights are not on this machine: "
                           "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (about 56 MB) is not in ")
    assert "`python -m cnnviz download vgg16-notop`" in text and "CNNVIZ_VGG16_NOTOP_WEIGHTS" in text
    status = weights.backbone_status(cfg)
    assert (status["needed"], status["present"], status["command"]) == (
        True, False, "python -m cnnviz download vgg16-notop")


def _vgg16_file(path):
    """Random VGG16 "no top" weights in the legacy HDF5 layout Keras publishes."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(3)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, base)
    return base


@pytest.mark.slow
def test_vgg16_downloaded_from_a_mirror_is_checked_and_loaded(keras_home, cnnviz_home, tmp_path, monkeypatch):
    reference = _vgg16_file(tmp_path / "official.h5")
    payload = (tmp_path / "official.h5").read_bytes()
    wf = weights.VGG16_NOTOP
    with loopback_server({"/vgg16.h5": payload}) as mirror:
        with pytest.raises(Unavailable, match=re.escape("has MD5")):  # not Keras' file: refused, nothing kept
            weights.download_weights(wf, url=mirror.base + "/vgg16.h5")
        path = weights.download_weights(wf, url=mirror.base + "/vgg16.h5", md5=md5(payload))
    assert path == cnnviz_home / "weights" / wf.file
    # Keras' own MD5 does not match the test file: name it explicitly, as a teacher's own copy would be
    monkeypatch.setenv(wf.env, str(path))
    for frozen in (True, False):
        cfg = transfer.config(backbone="vgg16", image_size=32, frozen=frozen)
        model = build_model(cfg, input_shape=(32, 32, 1), num_classes=2)
        base = transfer.backbone_layer(model)
        assert base.name == "vgg16_backbone" and base.trainable is (not frozen)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(reference.get_weights(), base.get_weights()))
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        assert (model.count_params(), trainable) == (VGG16_NOTOP + 12 + 1026, 1026 if frozen else VGG16_NOTOP + 1026)
        expected = cfg.validate((32, 32, 1), 2)
        assert (expected.total, expected.trainable) == (model.count_params(), trainable)


def test_unfrozen_vgg16_is_not_said_to_have_batch_norm():
    """VGG16 has no batch normalisation: its summary row says every layer learns, never that 'its batch norm
    layers stay frozen' (ImageNet weights) or that 'batch norm statistics are averaged' (random weights)."""
    for weights_choice in ("imagenet", "none"):
        cfg = transfer.config(backbone="vgg16", weights=weights_choice, frozen=False, image_size=32)
        row = cfg.validate((32, 32, 3), 2).row("vgg16_backbone")
        assert row["trainable"] == VGG16_NOTOP
        assert row["formula"] == "14,714,688 (VGG16 base, 14,714,688 trained: every layer, it has no batch norm)"
    for backbone in ("mobilenetv2", "resnet50"):  # the others do have batch norm layers
        formula = transfer.config(backbone=backbone, frozen=False).validate((32, 32, 3), 2).row(
            f"{backbone}_backbone")["formula"]
        assert formula.endswith("its batch norm layers stay frozen)")
