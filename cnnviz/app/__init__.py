"""cnnviz.app."""
