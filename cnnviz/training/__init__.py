"""cnnviz.training."""
