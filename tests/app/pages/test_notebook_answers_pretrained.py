"""Notebook questions answered on Pretrained ResNet50 (seed 000 Q29-Q31): the facts shown against Keras' own
``keras.applications.ResNet50`` (built without weights: the facts do not depend on them) and the figures
Keras publishes for it (issue 16). Rows of docs/notebooks.md marked ``value (test_notebook_answers_pretrained.py)``.
"""

from __future__ import annotations

import pytest

from tests.support.notebook import metric, number, run_checks, page_text
from tests.support.views import open_view

pytestmark = pytest.mark.slow
KERAS_RESNET50 = {}  # filled once: building it takes seconds


def _keras_resnet50():
    if not KERAS_RESNET50:
        import keras

        model = keras.applications.ResNet50(weights=None)
        kinds = [type(layer).__name__ for layer in model.layers]
        KERAS_RESNET50.update(conv=kinds.count("Conv2D"), dense=kinds.count("Dense"), total=model.count_params(),
                              trainable=int(sum(w.numpy().size for w in model.trainable_weights)),
                              input=tuple(model.input_shape[1:]))
    return KERAS_RESNET50


def q29_conv_layers(at):
    """53 Conv2D layers and 1 Dense, as Keras' ResNet50 has."""
    ref = _keras_resnet50()
    assert number(metric(at, "Conv2D layers")) == ref["conv"] == 53
    assert f"It has {ref['conv']} convolution layers and {ref['dense']} dense layer" in page_text(at)


def q30_trainable(at):
    """25,636,712 parameters of which 25,583,592 are trained (Keras' published count; BN statistics are not)."""
    ref = _keras_resnet50()
    assert number(metric(at, "Parameters")) == ref["total"] == 25_636_712
    sentence = next(m.value for m in at.markdown if m.value.startswith("Of the "))
    assert sentence.startswith(f"Of the {ref['total']:,} parameters, {ref['trainable']:,} are trained by gradient "
                               f"descent; the other {ref['total'] - ref['trainable']:,}"), sentence


def q31_input(at):
    """The input ResNet50 expects: Keras' input shape without the batch axis."""
    assert metric(at, "Input") == "×".join(map(str, _keras_resnet50()["input"])) == "224×224×3"


def q32_hessian(at):
    """Why second derivatives are not used: the Hessian of Keras' ResNet50 has trainable² entries."""
    n = _keras_resnet50()["trainable"]
    note = next(m.value for m in at.markdown if "(the Hessian)" in m.value)
    assert note.startswith(f"With {n:,} trainable parameters, the matrix of second derivatives (the Hessian) has "
                           f"{n:,}² ≈ {n * n:.1e} entries: about {n * n * 4 / 1e15:,.1f} petabytes in float32"), note


CHECKS = {"seed 000 Q32": q32_hessian, "seed 000 Q29": q29_conv_layers, "seed 000 Q30": q30_trainable, "seed 000 Q31": q31_input}


def test_pretrained_answers(app_path, request, keras_home):
    run_checks(open_view("pretrained", app_path, request), "pretrained", CHECKS)
