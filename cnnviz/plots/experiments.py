"""Figures of the experiments page (cnnviz.lessons.experiments): curves of several trainings side by side."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from cnnviz.lessons.experiments import DropoutPredictions, Trained
from cnnviz.plots.common import LEGEND_BELOW, LEGEND_MARGIN


def loss_by_images(results: Sequence[Trained], *, title: str = "Training loss by images seen") -> go.Figure:
    """Each training's running loss against the images it has seen: small batches update more often."""
    fig = go.Figure([go.Scatter(x=list(r.images_seen), y=list(r.step_loss), mode="lines+markers"
                                if r.steps_per_epoch < 5 else "lines", name=r.label) for r in results])
    fig.update_layout(title=title, xaxis_title="images seen", yaxis_title="training loss (running mean)",
                      legend=LEGEND_BELOW, margin=dict(b=LEGEND_MARGIN))
    return fig


def accuracy_by_epoch(results: Sequence[Trained], *, title: str = "Validation accuracy") -> go.Figure:
    """Validation accuracy after each epoch, one line per training."""
    fig = go.Figure([go.Scatter(x=list(range(1, len(r.val_accuracy) + 1)), y=list(r.val_accuracy),
                                mode="lines+markers", name=r.label) for r in results])
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="validation accuracy", yaxis_range=[0, 1],
                      legend=LEGEND_BELOW, margin=dict(b=LEGEND_MARGIN))
    return fig


def dropout_bars(result: DropoutPredictions, class_names: Sequence[str]) -> go.Figure:
    """The probabilities with dropout off (bars) and each try with it on (dots): off never changes."""
    names = list(class_names)
    fig = go.Figure(go.Bar(x=names, y=result.off.tolist(), name="dropout off (test time)", opacity=0.6))
    tries = result.on.shape[0]
    fig.add_trace(go.Scatter(x=np.tile(names, tries).tolist(), y=result.on.ravel().tolist(), mode="markers",
                             name=f"dropout on ({tries} tries)"))
    fig.update_layout(title="One image's prediction, dropout off and on", xaxis_title="class",
                      yaxis_title="probability", yaxis_range=[0, 1], legend=LEGEND_BELOW, margin=dict(b=LEGEND_MARGIN))
    return fig
