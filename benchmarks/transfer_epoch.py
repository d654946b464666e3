"""Seconds per training epoch of the transfer networks on this machine (issue 7's page figure).

One epoch of 1,000 training images (+250 validation) through the normal training job, from
the digits data (8×8 grey, repeated to RGB and resized like any dataset), batch 32, for each
backbone frozen and unfrozen. Random weights (``weights="none"``) cost exactly the same time
as ImageNet weights. Usage: ``PYTHONPATH=. python benchmarks/transfer_epoch.py [backbone ...]``.
"""

from __future__ import annotations

import json
import os
import sys

from cnnviz.training.spec import transfer_spec

from scratch import scratch_dir  # benchmarks/scratch.py

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(backbones: list[str]) -> None:
    os.environ["CNNVIZ_HOME"] = scratch_dir(prefix="cnnviz-bench-")
    from cnnviz.models import transfer
    from cnnviz.training import loop as training

    for backbone in backbones:
        for frozen in (True, False):
            cfg = transfer.config(backbone=backbone, frozen=frozen, weights="none", image_size=96)
            spec = transfer_spec(cfg, dataset="digits", train_size=1250, test_size=100, epochs=1,
                                 validation_fraction=0.2)
            result = training.train(spec)
            m = result.run.metrics
            print(json.dumps({"backbone": backbone, "frozen": frozen, "n_train": m["n_train"], "n_val": m["n_val"],
                              "train_seconds": m["train_seconds"], "images_per_s": m["images_per_s"]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["mobilenetv2", "resnet50"])
