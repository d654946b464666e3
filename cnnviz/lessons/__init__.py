"""Lessons without a trained network.

``convolution`` (filters by hand: full, same and valid), ``speed`` (timing Conv2D on CPU and GPU),
``shapes`` (shapes as Keras writes them, one-hot labels), ``pooling`` (what pooling does to the
parameter count, seed 000 Q19) and ``checks`` (their shared argument checks).
"""
