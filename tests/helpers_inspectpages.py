"""Tiny digits runs for the Evaluate / Inside the network / Robustness page tests.

Each run is two epochs on 120 training and 40 test digits (seconds). They are trained once per
test module in a store of their own and copied into each test's empty CNNVIZ_HOME: a copied
run folder stays valid (its manifest names files by checksum, not by path).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.models import config as models_config
from cnnviz.runs.rundata import prepare_inputs
from cnnviz.training import loop as training
from cnnviz.training.spec import TrainSpec


#: A real ModelConfig (so the run can be rebuilt for a twin): conv → max pool → Flatten → softmax.

FLAT_MODEL = models_config.ModelConfig(conv_layers=1, filters=4, batch_norm=False).to_dict()
#: The same with global average pooling instead of Flatten (takes any image size).
GAP_MODEL = models_config.ModelConfig(conv_layers=1, filters=4, batch_norm=False, head="global_avg").to_dict()
TIMEOUT = 120  # TensorFlow pages: the first import alone can take ~20 s on the shared machine


def tiny_spec(model: dict, **changes) -> TrainSpec:
    """120 training (90 + 30 validation) and 40 test digits, two epochs: a few seconds, some right, some wrong."""
    options = dict(model=model, dataset="digits", train_size=120, test_size=40, epochs=2, batch_size=16, seed=0)
    options.update(changes)
    return TrainSpec.from_dict({k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in options.items()})


def train_runs(home: Path, specs: dict[str, TrainSpec]) -> dict[str, str]:
    """Train each spec into ``home`` (as CNNVIZ_HOME); return ``{name: run id}``."""
    ids = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(home))
        for name, spec in specs.items():
            ids[name] = training.train(spec).run.run_id
    return ids


def copy_runs(src_home: Path, dst_home: Path) -> None:
    shutil.copytree(src_home / "runs", dst_home / "runs", dirs_exist_ok=True)


def open_page(app_path: str, page: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str):
    for element in at.get("plotly_chart"):
        if element.key == key:
            return element
    raise AssertionError(f"no plotly chart {key!r}; have {[c.key for c in at.get('plotly_chart')]}")


def _decode(value):
    """Plotly ≥ 6 sends numeric arrays as ``{"dtype", "bdata" (base64), "shape"}``: back to numpy."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            shape = value.get("shape")
            return arr.reshape([int(n) for n in str(shape).split(",")]) if shape else arr
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def figure(at: AppTest, key: str) -> dict:
    """The chart's Plotly figure as a dict, numeric arrays decoded to numpy."""
    return _decode(json.loads(chart(at, key).proto.spec))


def chart_keys(at: AppTest) -> set[str]:
    return {c.key for c in at.get("plotly_chart")}


def no_errors(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [s.value for s in at.success]
    return "\n".join(parts)


def assert_no_runs_notice(at: AppTest) -> None:
    """The page says there are no runs and links to Build & train."""
    assert not at.exception, at.exception
    assert any("No trained runs yet" in i.value for i in at.info), [i.value for i in at.info]
    links = at.get("page_link")
    assert [link.proto.page for link in links] == ["build_train"]


def reference_data(run_id: str):
    """The run's model, its test images scaled as in training, labels and class names, loaded directly
    (not through the app's caches): what the pages must agree with."""
    from cnnviz.runs import rundata
    from cnnviz.runs import store as runs

    info = runs.load_run(run_id)
    ds = rundata.run_dataset(info)
    return runs.load_model(run_id), prepare_inputs(info, ds.x_test), ds.y_test, ds.class_names, ds.x_test


def gallery_indices(at: AppTest) -> list[int]:
    """The test-image numbers of the Evaluate page's 'images behind the numbers' gallery (its table)."""
    for frame in at.dataframe:  # AppTest does not keep a dataframe's key: find it by its column
        if "test image" in frame.value.columns:
            return [int(i) for i in frame.value["test image"]]
    raise AssertionError("no gallery table on the page")


def image_count(fig: dict) -> int:
    return sum(1 for trace in fig["data"] if trace["type"] == "image")


def select_on_chart(at: AppTest, key: str, cells: list[tuple[int, int, int]]) -> AppTest:
    """Click / box-select cells ``(true, predicted, count)`` on a confusion-matrix chart, then rerun.

    AppTest has no Plotly chart widget and Streamlit refuses session-state writes to a chart's
    selection (``writes_allowed=False``), so this sends the widget state the browser would send:
    the chart's element id with the selection JSON string (``PlotlyChartSelectionSerde``) added to the
    other widgets' states. Uses AppTest's private ``_tree``/``_run`` (Streamlit 1.67).
    """
    element = chart(at, key)
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = element.proto.id
    points = [{"curve_number": 1, "point_number": k, "point_index": k, "customdata": [t, p, c]}
              for k, (t, p, c) in enumerate(cells)]
    state.string_value = json.dumps({"selection": {"points": points, "point_indices": list(range(len(points))),
                                                 "box": [], "lasso": []}})
    return at._run(states)
