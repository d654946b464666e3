"""What a lab report shows that must be measured: the network's parameter table, the test-set
evaluation and the rotation test, gathered with the inspection backends (never recomputed here).

The app passes the pieces its caches already hold; the command line lets :func:`gather` compute them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import evaluation, robustness
from cnnviz.models.layerspec import SummaryTable
from cnnviz.models.network import summary_table
from cnnviz.runs import rundata
from cnnviz.runs import store
from cnnviz.runs.rundata import input_scaling, prepare_inputs

if TYPE_CHECKING:  # pragma: no cover
    import keras


@dataclass(frozen=True)
class ReportInputs:
    """The measured parts of a report.

    Attributes:
        summary: the network's layers and parameter counts (Keras' own counts).
        evaluation: the run's test set as the Evaluate page measures it (scaling and test-time augmentation).
        x_test: the test images, uint8 N×H×W×C, for the worst mistakes.
        rotation: accuracy at 0°, 90°, 180° and 270° (exact ``np.rot90``), or None when not measured.
    """

    summary: SummaryTable
    evaluation: evaluation.Evaluation
    x_test: np.ndarray
    rotation: robustness.SweepResult | None


@dataclass(frozen=True)
class Pinned:
    """An Explain view the student pinned: a Plotly figure (its JSON) with a title and a caption."""

    title: str
    figure_json: str
    caption: str = ""


def pinned_from_dicts(items: Any) -> list[Pinned]:
    """Pinned views from the app's session state (dicts with ``title``, ``figure_json``, ``caption``)."""
    out = []
    for item in items or ():
        if not isinstance(item, dict) or not isinstance(item.get("figure_json"), str):
            raise InvalidArgument(f"a pinned view needs a title and its figure as JSON, got {item!r:.200}")
        out.append(Pinned(title=str(item.get("title", "")), figure_json=item["figure_json"],
                          caption=str(item.get("caption", ""))))
    return out


def gather(info: store.RunInfo, *, model: "keras.Model | None" = None, test_set: dict | None = None,
           evaluated: evaluation.Evaluation | None = None, rotation: robustness.SweepResult | None = None,
           rotate: bool = True) -> ReportInputs:
    """Measure what the report of ``info`` needs; pieces already at hand are used as given.

    Args:
        info: the run.
        model: its Keras model (loaded from the run when None).
        test_set: ``{"x", "y", "class_names"}`` of the run's own test images (re-created when None).
        evaluated: :func:`cnnviz.inspect.evaluation.evaluate` of the test set (computed when None).
        rotation: :func:`cnnviz.inspect.robustness.rot90_test` of the test set (computed when None and ``rotate``).
        rotate: whether to run the rotation test when ``rotation`` is None.
    Returns:
        :class:`ReportInputs`.
    """
    if model is None:
        model = store.load_model(info.run_id)
    if test_set is None:
        ds = rundata.run_dataset(info)
        rundata.check_test_images(info, ds.x_test, ds.y_test)
        test_set = {"x": ds.x_test, "y": np.asarray(ds.y_test, np.int64), "class_names": tuple(ds.class_names)}
    x, y, names = test_set["x"], test_set["y"], test_set["class_names"]
    if evaluated is None:
        evaluated = evaluation.evaluate(model, prepare_inputs(info, x), y, names, tta=info.spec.tta)
    if rotation is None and rotate:  # on the Robustness page's sample, as the app's report
        keep = robustness.sample_indices(len(y), robustness.SAMPLE_IMAGES)
        rotation = robustness.rot90_test(model, x[keep], y[keep], names, prepare=input_scaling(info))
    return ReportInputs(summary=summary_table(model, input_shape=info.input_shape), evaluation=evaluated,
                        x_test=np.asarray(x), rotation=rotation)
