"""The embedding scatter: test images as points in 2-D, coloured by their true class.

Plotly's hover labels cannot show pictures (they accept a little text markup, no ``<img>``), so the
pictures come two other ways: clicking a point selects it (``customdata`` carries the test image's
number for the page's ``on_select``), and ``thumbnails`` draws small pictures at their points as layout
images, like TensorBoard's projector's sprites (a few hundred at most: each is a PNG in the figure).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.errors import InvalidArgument
from cnnviz.plots.actmax import rgb_source
# Plotly's default qualitative palette: ten classes, ten colours
CLASS_COLOURS = ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF",
                 "#FECB52")
MAX_THUMBNAILS = 300
THUMBNAIL_FRACTION = 0.035  # a picture's side as a fraction of the axes' span


def embedding_figure(xy: np.ndarray, labels: np.ndarray, class_names: Sequence[str], predicted: np.ndarray,
                     confidence: np.ndarray, *, indices: np.ndarray | None = None,
                     thumbnails: np.ndarray | None = None, title: str | None = None, height: int = 520) -> go.Figure:
    """A scatter of ``xy`` (N×2), one trace per true class (its legend entry toggles it).

    Args:
        xy: N×2 positions.
        labels, predicted: N true and predicted classes; confidence: N probabilities of the predicted class.
        class_names: names of the classes.
        indices: N test-image numbers carried in ``customdata[0]`` (default 0..N−1).
        thumbnails: M×H×W×C uint8 pictures of the first M points (M ≤ 300) drawn at their points.
        title: figure title.
    """
    xy = np.asarray(xy, dtype=np.float64)
    n = len(xy)
    labels, predicted, confidence = np.asarray(labels), np.asarray(predicted), np.asarray(confidence)
    if xy.ndim != 2 or xy.shape[1] != 2 or not (len(labels) == len(predicted) == len(confidence) == n):
        raise InvalidArgument(f"need N×2 positions and N labels, predictions and confidences, got {xy.shape}, "
                              f"{labels.shape}, {predicted.shape} and {confidence.shape}")
    indices = np.arange(n) if indices is None else np.asarray(indices)
    names = [str(c) for c in class_names]
    fig = go.Figure()
    for c, name in enumerate(names):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            continue
        custom = [[int(indices[i]), names[int(predicted[i])], float(confidence[i])] for i in rows]
        fig.add_trace(go.Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=name, customdata=custom,
            marker=dict(size=6, color=CLASS_COLOURS[c % len(CLASS_COLOURS)], opacity=0.75),
            hovertemplate=f"test image #%{{customdata[0]}}<br>truly {name}<br>"
                          "predicted %{customdata[1]} (%{customdata[2]:.0%})<extra></extra>"))
    if thumbnails is not None:
        _add_thumbnails(fig, xy, np.asarray(thumbnails))
    fig.update_layout(title=title, height=height, legend=dict(title="true class", itemsizing="constant"),
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10), clickmode="event+select",
                      xaxis=dict(showticklabels=False, zeroline=False), yaxis=dict(showticklabels=False,
                                                                                   zeroline=False))
    return fig


def selected_index(event: Any) -> int | None:
    """The test-image number of the first point selected on :func:`embedding_figure` (``st.plotly_chart``'s
    ``on_select`` value), or None."""
    selection = event.get("selection") if isinstance(event, Mapping) else None
    points = selection.get("points") if isinstance(selection, Mapping) else None
    for point in points or []:
        data = point.get("customdata") if isinstance(point, Mapping) else None
        if data is not None and len(data) >= 1:
            return int(data[0])
    return None


def _add_thumbnails(fig: go.Figure, xy: np.ndarray, thumbnails: np.ndarray) -> None:
    if thumbnails.ndim != 4 or len(thumbnails) > min(MAX_THUMBNAILS, len(xy)):
        raise InvalidArgument(f"thumbnails must be M×H×W×C with M ≤ {MAX_THUMBNAILS} and ≤ the points, "
                              f"got shape {thumbnails.shape} for {len(xy)} points")
    span = np.ptp(xy, axis=0)
    size_x, size_y = (float(s) * THUMBNAIL_FRACTION or 1.0 for s in span)
    fig.update_layout(images=[dict(source=rgb_source(t), x=float(x), y=float(y), xref="x", yref="y",
                                   sizex=size_x, sizey=size_y, xanchor="center", yanchor="middle",
                                   sizing="stretch", layer="above")
                              for t, (x, y) in zip(thumbnails, xy)])
