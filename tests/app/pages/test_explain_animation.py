"""AppTest of Explain's neuron animation: the frames step across the whole (small) map of a tiny run, each
frame's value equal to the layer output Keras computes for the test image."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.inspect import neuron
from tests.support.pages import figure, no_errors, open_page, texts
from tests.support.runs import copy_runs, reference_data, train_runs
from tests.support.specs import FLAT_MODEL, page_spec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    home = tmp_path_factory.mktemp("animation-runs")
    return home, train_runs(home, {"flat": page_spec(FLAT_MODEL, epochs=1)})


def test_the_animation_steps_across_the_map(app_path, stored, cnnviz_home):
    copy_runs(stored[0], cnnviz_home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(stored[0]))
        model, x, *_ = reference_data(stored[1]["flat"])
    at = open_page(app_path, "app_pages/explain.py")
    at.session_state["explain_tab"] = "One neuron"
    at.run()
    at.number_input(key="explain_neuron_channel").set_value(2).run()
    assert "explain_neuron_animation" not in {c.key for c in at.get("plotly_chart")}
    at.toggle(key="explain_neuron_animate").set_value(True).run()
    no_errors(at)
    io = neuron.layer_io(model, x[0], neuron.conv2d_layers(model)[0])
    out_h, out_w, _ = io.outputs.shape
    fig = figure(at, "explain_neuron_animation")
    assert len(fig["frames"]) == out_h * out_w
    for k, frame in enumerate(fig["frames"]):
        i, j = divmod(k, out_w)
        z = np.asarray(frame["data"][1]["z"], dtype=float)
        assert z[i, j] == pytest.approx(float(io.outputs[i, j, 2]), abs=1e-5)
    assert f"every position of the {out_h}×{out_w} map" in texts(at)
    at.button(key="explain_neuron_animation_pin").click().run()
    no_errors(at)
    assert [p["id"] for p in at.session_state["report_pins"]] == ["explain_neuron_animation"]
