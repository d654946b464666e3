"""cnnviz.inspect."""
