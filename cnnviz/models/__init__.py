"""cnnviz.models."""
