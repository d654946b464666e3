"""Notebook question answered on Transfer learning (seed 004 task 4: VGG16 frozen and unfrozen): the
parameters trained in each case against Keras' own VGG16 (issue 16). Rows of docs/notebooks.md marked
``value (test_notebook_answers_transfer.py)``.
"""

from __future__ import annotations

import pytest

from tests.support.notebook import metric, number, run_checks
from tests.support.views import open_view

pytestmark = pytest.mark.slow


def vgg16_frozen_and_unfrozen(at):
    """Unfreezing trains exactly Keras' VGG16 (without its top, at the size chosen) in addition: the trained
    and not-trained counts shown move by its count_params(), the total stays."""
    import keras

    at.radio(key="tl_backbone").set_value("vgg16").run()
    at.radio(key="tl_weights").set_value("none").run()  # the counts do not depend on the weights
    size = next(s.value for s in at.select_slider if s.key and s.key.startswith("tl_size_"))
    backbone = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3)).count_params()
    assert backbone == 14_714_688  # Keras' published count, at any input size
    counts = {}
    for frozen in (True, False):
        at.toggle(key="tl_frozen").set_value(frozen).run()
        counts[frozen] = (number(metric(at, "Parameters")), number(metric(at, "Trained")),
                          number(metric(at, "Not trained")))
    assert counts[True][0] == counts[False][0] == counts[True][1] + counts[True][2]
    assert counts[False][1] - counts[True][1] == backbone == counts[True][2] - counts[False][2]
    table = next(f.value for f in at.dataframe if "keras_shape" in f.value.columns)
    assert int(table["params"].sum()) == counts[True][0]  # the layer table adds up to the total
    at.toggle(key="tl_frozen").set_value(True).run()


CHECKS = {"seed 004 VGG16": vgg16_frozen_and_unfrozen}


def test_transfer_answers(app_path, request, keras_home):
    run_checks(open_view("transfer", app_path, request), "transfer", CHECKS)
