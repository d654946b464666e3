"""cnnviz.data."""
