"""Facts about a Keras layer that the inspect modules share: its kind, whether it convolves, its output.

One place for "is this a convolution" (Grad-CAM's default layer, the Inside page's layer kinds,
ResNet50's facts) and for a layer's output tensor and shape as the model that calls it sees them.
Keras is imported inside the functions that need it.
"""

from __future__ import annotations

from typing import Any


# Keras layer classes that convolve a feature map.
CONV_CLASS_NAMES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")

# Layer class name -> what a student should call it.
KINDS: dict[str, str] = {
    **dict.fromkeys(CONV_CLASS_NAMES, "conv"),
    "MaxPooling2D": "pooling", "AveragePooling2D": "pooling",
    "BatchNormalization": "batch norm", "LayerNormalization": "normalization", "GroupNormalization": "normalization",
    "Activation": "activation", "ReLU": "activation", "LeakyReLU": "activation", "ELU": "activation",
    "PReLU": "activation", "Softmax": "activation",
    "Add": "merge", "Concatenate": "merge", "Multiply": "merge", "Average": "merge", "Maximum": "merge",
    "Dropout": "dropout", "SpatialDropout2D": "dropout", "GaussianNoise": "dropout",
}


def is_conv(layer: Any) -> bool:
    """Whether the layer is one of :data:`CONV_CLASS_NAMES` (by class name: no Keras import)."""
    return type(layer).__name__ in CONV_CLASS_NAMES


def layer_kind(layer: Any) -> str:
    """Kind of a layer for people: conv, pooling, batch norm, activation, merge, dropout or other."""
    return KINDS.get(type(layer).__name__, "other")


def graph_output(layer: Any) -> Any:
    """The layer's output tensor in the graph of the model that calls it.

    For a nested model (a transfer-learning backbone) ``layer.output`` is the output of its own
    inner graph, which is not connected to the outer model's inputs; the node Keras made when
    the outer model called it is (Keras 3 keeps it in ``_inbound_nodes``; no public accessor).
    """
    import keras

    nodes = getattr(layer, "_inbound_nodes", None)
    if isinstance(layer, keras.Model) and nodes:
        return nodes[-1].output_tensors[0]
    return layer.output


def output_shape(layer: Any) -> tuple | None:
    """Shape of :func:`graph_output` with the batch axis, or None when the layer has no single output."""
    try:
        return tuple(graph_output(layer).shape)
    except (AttributeError, ValueError, RuntimeError):  # no graph node, or shared by several models
        return None
