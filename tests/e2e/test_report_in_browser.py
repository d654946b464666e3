"""The lab report opened from disk in Chromium (no server): nothing is requested from any network, every
section heading shows, every Plotly graph is drawn, and hostile class names show as typed (no image
loaded, no script run, no link made)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from cnnviz.report import inputs, page as report_page
from cnnviz.runs import saving
from tests.e2e.conftest import SCREENSHOTS
from tests.support.models import tiny_build

pytestmark = pytest.mark.e2e

HOSTILE = ('<img src="http://127.0.0.1:9/class.png">', "<script>alert('class')</script>",
           '<a href="https://example.invalid/">link</a>', "plain & simple")
CONFIG = {
    "model": {"architecture": "test-tiny", "filters": 4}, "dataset": "digits", "train_size": 60, "test_size": 30,
    "validation_fraction": 0.25, "scaling": "unit", "augment": None, "epochs": 3, "batch_size": 8, "seed": 3,
    "preset": None, "scaling_affine": {"method": "unit", "scale": [1 / 255], "offset": [0.0]},
    "input_shape": [8, 8, 1], "num_classes": 4, "class_names": list(HOSTILE),
}
HISTORY = {"loss": [2.0, 1.5, 1.2], "accuracy": [0.2, 0.4, 0.5], "val_loss": [2.1, 1.8, 1.9],
           "val_accuracy": [0.1, 0.3, 0.3]}


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNVIZ_HOME", str(folder / "home"))
        model = tiny_build((8, 8, 1), 4)
        info = saving.save_run(model, config=CONFIG, history=HISTORY, metrics={"test_accuracy": 0.5}, status="finished")
    rng = np.random.default_rng(0)
    test_set = {"x": rng.integers(0, 256, (24, 8, 8, 1), dtype=np.uint8), "y": np.arange(24) % 4,
                "class_names": HOSTILE}
    pinned = [inputs.Pinned(title='Saliency of <img src="http://127.0.0.1:9/pin.png">',
                            figure_json=go.Figure(go.Bar(x=["a", "b"], y=[1, 2])).to_json(), caption="pinned")]
    text = report_page.report_html(info, inputs.gather(info, model=model, test_set=test_set), pinned)
    path = folder / "report.html"
    path.write_text(text, encoding="utf-8")
    return path, text.count('class="plotly-graph-div"')


def test_report_opens_offline_with_every_section_and_graph(browser, report_file):
    path, graphs = report_file
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    tab = context.new_page()
    requested, dialogs, errors = [], [], []
    tab.on("request", lambda request: requested.append(request.url))
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda err: errors.append(str(err)))
    try:
        tab.goto(path.as_uri(), wait_until="load")
        tab.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {graphs}",
                              timeout=60_000)
        for _, heading in report_page.SECTIONS:
            assert tab.get_by_role("heading", name=heading, level=2).is_visible(), heading
        assert graphs == 5  # two curves, the confusion matrix, the rotation curve, the pinned view
        assert tab.locator(".js-plotly-plot").count() == graphs
        for i in range(1, graphs + 1):  # each drawn: its traces are in the SVG
            assert tab.locator(f"#figure-{i} .main-svg g.trace").count() >= 1, i
        ticks = tab.locator("#figure-3 .xtick text").all_text_contents()  # the confusion matrix's class names
        assert [t.replace("\u00a0", " ") for t in ticks] == list(HOSTILE)
        table = tab.locator("#results table").inner_text()
        assert all(name in table for name in HOSTILE)  # shown as typed
        assert tab.locator("#mistakes img").count() >= 1
        assert tab.evaluate("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
        assert tab.locator("a[href^='http']").count() == 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / "lab_report.png"), full_page=True)
    finally:
        context.close()
    assert [url for url in requested if not url.startswith(("file:", "data:"))] == []
    assert [url for url in requested if url.startswith("file:")] == [path.as_uri()]
    assert dialogs == [] and errors == []
