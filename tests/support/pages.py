"""AppTest helpers for the page tests: open a page, read its charts (Plotly figures decoded), texts and
errors, click on a confusion matrix, and drive Build & train until a job is done."""

from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
from streamlit.testing.v1 import AppTest

from cnnviz.app import state

TIMEOUT = 120  # TensorFlow pages: the first import alone can take ~20 s on the shared machine


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


#: What Markdown acts on in the text as sent: emphasis, written links, formulas, code, lists (unless escaped).
MARKDOWN_SYNTAX = re.compile(r"(?<!\\)[*\[\]$`]|^\s*(\d+[.)]|[-+])\s", re.M)
#: What Streamlit acts on once escapes are resolved: GFM autolinks, e-mail links, shortcodes (icons, emoji, colours).
STREAMLIT_ACTS_ON = re.compile(r"https?://|ftp://|\bwww\.|:material/\w+:|:[a-z]+\[|:\w+:|[\w.+-]@[\w-]+\.\w", re.I)


def shown(value: str) -> str:
    """What a reader sees of a message drawn as Markdown: backslash escapes resolved, invisible joiners dropped."""
    return re.sub(r"\\(.)", r"\1", value).replace("\u2060", "")


def markdown_in(value: str) -> list[str]:
    """What Markdown or Streamlit would act on in ``value`` (a message as sent to ``st.error``): none when every
    character shows as typed."""
    resolved = re.sub(r"\\(.)", r"\1", value)  # the invisible joiners stay: they are what breaks the patterns
    return [m.group(0) for m in (*MARKDOWN_SYNTAX.finditer(value), *STREAMLIT_ACTS_ON.finditer(resolved))]


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


def run_until(at, done, timeout: float = 240.0) -> None:
    """Re-run an AppTest page (as the live fragment would) until ``done(at)`` or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        at.run()
        assert not at.exception, at.exception
        if done(at):
            return
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def start_page_training(at, tag: str, *, epochs: int, train_size: int, test_size: int, batch: int) -> str:
    """Set Build & train's training options (widget keys end in ``tag``), press Train; return the job id."""
    at.number_input(key=f"train_epochs_{tag}").set_value(epochs)
    at.number_input(key=f"train_size_{tag}").set_value(train_size)
    at.number_input(key=f"test_size_{tag}").set_value(test_size)
    at.select_slider(key=f"train_batch_{tag}").set_value(batch)
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    return at.session_state[state.TRAIN_JOB_KEY]
