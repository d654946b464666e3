"""cnnviz.runs."""
