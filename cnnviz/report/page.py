"""The lab report as one self-contained HTML file: plotly.js inlined once in the head, every figure a
``div`` drawn by it, pictures and the history CSV as ``data:`` URIs, so opening the file fetches nothing.

Every text a student or a dataset chose (class names, pinned titles and captions, file names in them)
is escaped with :func:`html.escape` before it enters the HTML; inside Plotly figures it is escaped too,
because Plotly draws a few HTML tags (``<b>``, ``<a href>``) of its labels; it decodes the entities
back, so the text shows as typed.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from PIL import Image
from plotly.offline import get_plotlyjs

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation
from cnnviz.plots import evaluation as eval_figs
from cnnviz.plots import robustness as robust_figs
from cnnviz.plots import training as training_figs
from cnnviz.plots.common import as_display_rgb
from cnnviz.report.inputs import Pinned, ReportInputs
from cnnviz.runs import compare, labels
from cnnviz.runs import store
from cnnviz.training.tta import TTA_SHORT

#: ``(anchor, heading)`` of every section, in order: the table of contents and the tests use them.
SECTIONS = (
    ("network", "The network"),
    ("setup", "Training set-up"),
    ("curves", "Training curves"),
    ("results", "Test results"),
    ("mistakes", "The worst mistakes"),
    ("rotation", "Rotation test"),
    ("explain", "Explain views"),
    ("history", "History"),
)
MISTAKES = 12  # the most confident mistakes shown
MISTAKE_PX = 96  # their width on the page
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #666; } .figure { margin: 0.8em 0; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; }
.gallery figure { margin: 0; width: 150px; font-size: 0.85em; overflow-wrap: anywhere; }
.gallery img { width: 96px; image-rendering: pixelated; display: block; border: 1px solid #ccc; }
.wrong { color: #b00020; } nav ol { columns: 2; }
@media print { .plotly-graph-div { break-inside: avoid; } }
"""


def escape(text: object) -> str:
    """Any text for the HTML (quotes too: it may end up in an attribute)."""
    return html.escape(str(text), quote=True)


def plotly_text(text: object) -> str:
    """A student's or dataset's text for a Plotly label: shown as typed, never as Plotly's HTML subset."""
    return html.escape(str(text), quote=False)


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 picture (H×W, H×W×1 or H×W×3) as a ``data:image/png`` URI."""
    buffer = io.BytesIO()
    Image.fromarray(as_display_rgb(image)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def history_data_uri(info: store.RunInfo) -> str:
    """The run's history CSV (:func:`cnnviz.runs.compare.history_csv`) as a ``data:text/csv`` URI."""
    return "data:text/csv;base64," + base64.b64encode(compare.history_csv(info).encode()).decode("ascii")


class _Figures:
    """Numbers the figure divs so the file is the same for the same run (Plotly picks random ids)."""

    def __init__(self) -> None:
        self.count = 0

    def div(self, fig: go.Figure) -> str:
        self.count += 1
        return ('<div class="figure">' + fig.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG,
                                                     div_id=f"figure-{self.count}") + "</div>")


def _table(rows: Sequence[Sequence[object]], header: Sequence[str], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{escape(v)}</td>'
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _network(inputs: ReportInputs) -> str:
    s = inputs.summary
    rows = [(r["name"], r["type"], r["output_shape"], f"{r['params']:,}", r["formula"]) for r in s.rows]
    return (f"<p>{s.total:,} parameters: {s.trainable:,} trainable, {s.non_trainable:,} not trainable.</p>"
            + _table(rows, ("layer", "type", "output shape", "parameters", "formula"), numeric=(3,)))


def _setup(info: store.RunInfo) -> str:
    [row] = compare.runs_table([info])
    rows = [(key, "–" if value is None else value) for key, value in row.items()
            if key not in ("test accuracy", "test loss", "notebook's accuracy")]
    augment = info.spec.augment.describe() if info.spec.augment is not None else "none"
    return (f"<p>{escape(labels.what(info.spec))} trained on {escape(info.spec.dataset)} "
            f"({escape(info.input_shape[0])}×{escape(info.input_shape[1])}×{escape(info.input_shape[2])} images, "
            f"{info.num_classes} classes); augmentation: {escape(augment)}; loss: "
            f"{escape(labels.loss_kind(info.spec))}.</p>" + _table(rows, ("setting", "value")))


def _curves(info: store.RunInfo, figures: _Figures) -> str:
    if not any(v is not None for values in info.history.values() for v in values or []):
        return "<p>This run recorded no epochs.</p>"
    out = []
    for metric in ("accuracy", "loss"):
        fig = training_figs.compare_runs([info], metric, height=340)
        fig.update_layout(title=f"{metric} per epoch (solid: training, dashed: validation)")
        out.append(figures.div(fig))
    return "".join(out)


def _results(info: store.RunInfo, ev: evaluation.Evaluation, figures: _Figures) -> str:
    names = [plotly_text(n) for n in ev.class_names]
    wrong = int((~ev.correct).sum())
    loss_text = labels.test_loss_text(info)
    text = (f"<p>Test accuracy <b>{ev.accuracy:.1%}</b> on {len(ev.y_true):,} test images ({wrong:,} mistakes); "
            f"mean cross-entropy {ev.loss:.4f}."
            + (f" Saved with the run: {escape(loss_text)}." if loss_text else "")
            + (f" Tested with test-time augmentation ({escape(info.spec.tta)})." if info.spec.tta != "none" else "")
            + "</p>")
    pairs = evaluation.most_confused(ev.confusion, ev.class_names, top=3) if wrong else []
    if pairs:
        text += "<p>Most often confused: " + "; ".join(
            f"<b>{escape(p['true_name'])}</b> taken for <b>{escape(p['predicted_name'])}</b> {p['count']}×"
            for p in pairs) + ".</p>"
    rows = [(c["name"], c["support"], c["correct"], _percent(c["accuracy"]), _percent(c["precision"]),
             f"{c['f1']:.3f}") for c in ev.per_class]
    matrix = eval_figs.confusion_matrix_figure(ev.confusion, names, title="Confusion matrix (rows: true class)")
    return (text + figures.div(matrix)
            + _table(rows, ("class", "test images", "right", "accuracy", "precision", "F1"), numeric=(1, 2, 3, 4, 5)))


def _mistakes(inputs: ReportInputs, count: int) -> str:
    ev = inputs.evaluation
    shown = evaluation.select_images(ev, which="mistakes", order="confidence", limit=count)
    if len(shown) == 0:
        return "<p>No mistakes on the test set.</p>"
    cards = []
    for d in evaluation.describe_images(ev, shown):
        top = " · ".join(f"{escape(name)} {p:.0%}" for _, name, p in d["top"])
        cards.append(f'<figure><img src="{png_data_uri(inputs.x_test[d["index"]])}" '
                     f'alt="test image {d["index"]}"><figcaption>#{d["index"]}: truly '
                     f'<b>{escape(d["true_name"])}</b><br><span class="wrong">{top}</span></figcaption></figure>')
    return (f"<p>The {len(shown)} mistakes the network was most sure of: each test image, its true class, then "
            "the network's three most likely classes.</p><div class=\"gallery\">" + "".join(cards) + "</div>")


def _rotation(info: store.RunInfo, inputs: ReportInputs, figures: _Figures) -> str:
    r = inputs.rotation
    if r is None:
        return "<p>Not measured for this report.</p>"
    fig = robust_figs.accuracy_vs_angle_figure({"this run": r}, title="Test accuracy of rotated test images")
    rows = [(f"{a:g}°", _percent(float(acc))) for a, acc in zip(r.angles, r.accuracy)]
    return (f"<p>{int(r.support.sum()):,} of the run's test images turned by quarter turns (exact, no corners to "
            "fill): a network only knows the images it was trained on."
            + (" Each image is judged once, as it is: the test accuracy above averages the network's answers on "
               f"{escape(TTA_SHORT[info.spec.tta])} (test-time augmentation), so 0° may differ from it."
               if info.spec.tta != "none" else "") + "</p>"
            + figures.div(fig) + _table(rows, ("rotation", "accuracy"), numeric=(1,)))


def _offline(fig: go.Figure) -> go.Figure:
    """The figure without pictures it would fetch when opened (a pin file is text anyone with the disk can edit):
    only ``data:`` sources stay, for layout images and Image traces."""
    def inline(source: object) -> bool:
        return source is None or (isinstance(source, str) and source.startswith("data:"))

    fig.layout.images = [image for image in fig.layout.images if inline(image.source)]
    for trace in fig.data:
        if trace.type == "image" and not inline(trace.source):
            trace.source = None
    return fig


def _explain(pinned: Sequence[Pinned], figures: _Figures) -> str:
    if not pinned:
        return "<p>No Explain views were pinned (the Explain page's “Pin to report” buttons add them).</p>"
    out = []
    for p in pinned:
        try:
            drawn = figures.div(_offline(pio.from_json(p.figure_json)))
        except ValueError as err:  # a damaged or edited pin: say so, keep the rest of the report
            why = escape(str(err).strip().split("\n")[0][:200])  # Plotly's own lists every valid property
            drawn = f'<p class="wrong">This pinned view cannot be drawn: it is not a Plotly figure ({why}).</p>'
        out.append(f"<h3>{escape(p.title)}</h3>" + drawn + (f"<p>{escape(p.caption)}</p>" if p.caption else ""))
    return "".join(out)


def _history(info: store.RunInfo) -> str:
    csv_text = compare.history_csv(info)
    lines = [line.split(",") for line in csv_text.strip().split("\n")]
    link = (f'<p><a download="cnnviz-{escape(info.run_id)}-history.csv" href="{history_data_uri(info)}">'
            "Download the history as CSV</a> (inside this file: it works offline).</p>")
    if len(lines) < 2:
        return link + "<p>No epochs recorded.</p>"
    rows = [[line[0]] + [f"{float(v):.4f}" if v else "–" for v in line[1:]] for line in lines[1:]]
    return link + _table(rows, lines[0], numeric=tuple(range(len(lines[0]))))


def report_html(info: store.RunInfo, inputs: ReportInputs, pinned: Sequence[Pinned] = (), *,
                generated: _dt.datetime | None = None, mistakes: int = MISTAKES) -> str:
    """The whole report of one run as an HTML document (text).

    Args:
        info: the run.
        inputs: :func:`cnnviz.report.inputs.gather` of the run.
        pinned: the Explain views the student pinned, in order.
        generated: when the report was made (UTC now when None).
        mistakes: how many of the most confident mistakes to show.
    Returns:
        One self-contained HTML document: nothing is fetched when it is opened.
    """
    if not isinstance(mistakes, int) or mistakes < 0:
        raise InvalidArgument(f"mistakes must be a non-negative whole number, got {mistakes!r}")
    when = (generated or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    figures = _Figures()
    bodies = {
        "network": _network(inputs),
        "setup": _setup(info),
        "curves": _curves(info, figures),
        "results": _results(info, inputs.evaluation, figures),
        "mistakes": _mistakes(inputs, mistakes),
        "rotation": _rotation(info, inputs, figures),
        "explain": _explain(pinned, figures),
        "history": _history(info),
    }
    title = f"Lab report: {info.label}"
    toc = "".join(f'<li><a href="#{anchor}">{escape(heading)}</a></li>' for anchor, heading in SECTIONS)
    sections = "".join(f'<section id="{anchor}"><h2>{escape(heading)}</h2>{bodies[anchor]}</section>'
                       for anchor, heading in SECTIONS)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
            f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
            f'<h1>{escape(title)}</h1><p class="meta">Run {escape(info.run_id)}, trained {escape(info.created[:19])} '
            f'({escape(info.status)}); report made {when} by cnnviz.</p><nav><ol>{toc}</ol></nav>{sections}'
            "</body></html>\n")
