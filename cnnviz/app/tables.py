"""Tables shared by the pages: a network summary's parameters and layers, and the settings of
compared runs with the ones that differ highlighted."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from cnnviz.lessons.shapes import keras_shape
from cnnviz.runs.details import PERCENT_COLUMNS, format_value


#: What an empty cell reads (``st.dataframe(placeholder=...)``), as :func:`cnnviz.runs.details.format_value` writes
#: a missing value, not Streamlit's grey "None".
MISSING = "–"


def parameter_metrics(table, labels: tuple[str, str, str] = ("Parameters", "Trainable", "Non-trainable")) -> None:
    """Three metrics of a :class:`cnnviz.models.network.SummaryTable`: total, trainable, non-trainable."""
    for col, label, value in zip(st.columns(3), labels, (table.total, table.trainable, table.non_trainable)):
        col.metric(label, f"{value:,}")


def layer_table(table, *, key: str, where=None) -> None:
    """The layer rows of a :class:`cnnviz.models.network.SummaryTable` (in ``where``, e.g. a column), with
    each output shape also as Keras prints it, batch first (seed 000 Q16)."""
    (where or st).dataframe(
        [{**{k: row[k] for k in ("name", "type", "output_shape", "params", "formula")},
          "keras_shape": keras_shape(row["shape"]) if "shape" in row else ""} for row in table.rows],
        hide_index=True, key=key,
        column_config={"output_shape": "output shape", "params": st.column_config.NumberColumn(format="localized"),
                       "keras_shape": "as Keras prints it"})


#: The background of the settings that differ between compared runs.
HIGHLIGHT = "background-color: rgba(255, 193, 7, 0.35)"


def settings_table(rows: list[dict], differing: list[str]):
    """Run rows as a pandas Styler with the settings that differ highlighted (column_config
    cannot colour cells, a Styler can)."""
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in frame.columns if c in ("run", "test accuracy", "status") or c in differing]]
    styled = frame.style.apply(lambda col: [HIGHLIGHT if col.name in differing else ""] * len(col), axis=0)
    # Values as people read them ("–", "yes", "48.1%", "0.4805"), not pandas' "None" and "0.480500".
    return styled.format({c: functools.partial(format_value, percent=c in PERCENT_COLUMNS) for c in frame.columns})
