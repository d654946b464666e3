"""cnnviz.lessons."""
