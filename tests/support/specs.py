"""The tiny TrainSpecs of the tests: digits runs that train in seconds.

One set of sizes (:data:`TINY_RUN`) serves the training/runs tests (:func:`tiny_spec`, a 1-conv
``test-tiny`` network) and the transfer tests (:func:`tiny_transfer_spec`); the page tests train a
little more (:data:`PAGE_RUN`, :func:`page_spec`) so that some test images come out right and some wrong.
"""

from __future__ import annotations

from cnnviz.models import config as models_config
from cnnviz.models import transfer
from cnnviz.training.spec import TrainSpec, transfer_spec

#: 60 training (45 + 15 validation) and 30 test digits, one epoch, batch 8.
TINY_RUN = dict(dataset="digits", train_size=60, test_size=30, epochs=1, batch_size=8)
#: 120 training (90 + 30 validation) and 40 test digits, two epochs, batch 16, seed 0.
PAGE_RUN = dict(dataset="digits", train_size=120, test_size=40, epochs=2, batch_size=16, seed=0)

#: The network tiny_build makes (tests register it as architecture "test-tiny").
TINY_MODEL = {"architecture": "test-tiny", "filters": 4}
#: The least config.json a run needs to be listed (cnnviz.runs.schema): a tiny run on 8×8 grey digits.
RUN_CONFIG = {"model": TINY_MODEL, "dataset": "digits", "input_shape": [8, 8, 1], "num_classes": 10,
              "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]}}
#: A real ModelConfig (so the run can be rebuilt for a twin): conv → max pool → Flatten → softmax.
FLAT_MODEL = models_config.ModelConfig(conv_layers=1, filters=4, batch_norm=False).to_dict()
#: The same with global average pooling instead of Flatten (takes any image size).
GAP_MODEL = models_config.ModelConfig(conv_layers=1, filters=4, batch_norm=False, head="global_avg").to_dict()
#: The smallest MobileNetV2 Keras builds: α 0.35 at 32×32 (random weights: nothing to download).
TINY_TRANSFER = dict(backbone="mobilenetv2", alpha=0.35, image_size=32, weights="none")


def tiny_spec(model: dict | models_config.ModelConfig = TINY_MODEL, **changes) -> TrainSpec:
    """A :data:`TINY_RUN` spec of ``model`` with ``changes``, parsed as a saved run's settings (dicts) are."""
    options = {**TINY_RUN, "model": model, **changes}
    return TrainSpec.from_dict({k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in options.items()})


def page_spec(model: dict, **changes) -> TrainSpec:
    """A :data:`PAGE_RUN` spec (a few seconds, some right, some wrong) for the run pages' tests."""
    return tiny_spec(model, **{**PAGE_RUN, **changes})


def tiny_transfer_spec(*, frozen: bool = True, **changes) -> TrainSpec:
    """A :data:`TINY_RUN` transfer spec of the tiny MobileNetV2 (``changes`` go to its settings)."""
    cfg = transfer.config(frozen=frozen, **{**TINY_TRANSFER, **changes})
    return transfer_spec(cfg, **TINY_RUN)
