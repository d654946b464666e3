"""cnnviz.app.jobs: the expected time of a transfer epoch, frozen and unfrozen."""

from __future__ import annotations

import pytest

from cnnviz.app import jobs
from cnnviz.models import transfer
from cnnviz.models.backbones import expected_epoch_seconds


def test_transfer_epoch_estimate_counts_only_the_images_fitted():
    cfg = transfer.config(backbone="mobilenetv2", frozen=True, weights="imagenet", alpha=0.35, image_size=96)
    fitted, times = jobs.transfer_epoch_seconds(cfg, 1000, 0.25)
    assert fitted == 750
    assert times == {f: expected_epoch_seconds(cfg.replace(frozen=f), 750) for f in (True, False)}


@pytest.mark.parametrize("n", [1000, 1001, 1002, 3599])
def test_transfer_epoch_estimate_counts_the_images_the_validation_split_leaves(n):
    import numpy as np

    from cnnviz.data import subsets

    cfg = transfer.config(backbone="mobilenetv2", frozen=True, weights="imagenet", alpha=0.35, image_size=96)
    labels = np.arange(n) % 5
    fit, _, _, _ = subsets.split_validation(labels, labels, fraction=0.25)  # how training splits them
    assert jobs.transfer_epoch_seconds(cfg, n, 0.25)[0] == len(fit)


def test_vgg16_has_a_measured_epoch_time_at_the_presets_size():
    from cnnviz.models.backbones import MEASURED_AT, MEASURED_EPOCH_S, measured_at

    cfg = transfer.config(backbone="vgg16", frozen=True, weights="imagenet", image_size=200)
    fitted, times = jobs.transfer_epoch_seconds(cfg, 3600, 0.1)  # seed 004's presets
    assert fitted == 3240
    assert times[True] == MEASURED_EPOCH_S[("vgg16", True)] * 3.24 * (200 / 96) ** 2 and times[False] > 3 * times[True]
    assert "200×200" in measured_at("vgg16") and measured_at("resnet50") == MEASURED_AT
