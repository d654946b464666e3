"""Plotly figures for every page. Each area has its own submodule; shared helpers are in
:mod:`cnnviz.plots.common`. Functions return ``plotly.graph_objects.Figure`` and never show it."""
