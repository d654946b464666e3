"""Lessons without a trained network.

``convolution`` (filters by hand: full, same and valid), ``speed`` (timing Conv2D on CPU and GPU) and
``checks`` (their shared argument checks).
"""
