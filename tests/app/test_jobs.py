"""cnnviz.app.jobs: the expected time of a transfer epoch, frozen and unfrozen."""

from __future__ import annotations

from cnnviz.app import jobs
from cnnviz.models import transfer
from cnnviz.models.backbones import expected_epoch_seconds


def test_transfer_epoch_estimate_counts_only_the_images_fitted():
    cfg = transfer.config(backbone="mobilenetv2", frozen=True, weights="imagenet", alpha=0.35, image_size=96)
    fitted, times = jobs.transfer_epoch_seconds(cfg, 1000, 0.25)
    assert fitted == 750
    assert times == {f: expected_epoch_seconds(cfg.replace(frozen=f), 750) for f in (True, False)}
