"""Layers inside a nested model (a transfer run's backbone), named ``"backbone/inner"``, as the outer model sees them.

A transfer network calls its ImageNet backbone as one layer, so its convolutions are not among the outer model's
layers, and ``keras.Model(model.inputs, backbone.get_layer(name).output)`` fails with "Graph disconnected": the
inner layer's output belongs to the backbone's own graph, which starts at the backbone's ``Input``
(keras-team/keras#16123, tensorflow/tensorflow#34977). The fix the Keras maintainers suggest there is the one
used here: a model from the backbone's input to the inner tensor, called on the tensor the outer graph feeds the
backbone, gives that tensor in the outer graph; recursively for a model nested in a nested model.

A path is the outer layer's name, then each nested model's inner layer name, joined by ``/`` (Keras 3 refuses
``/`` in a layer name, so the split is unambiguous). Only functional models are looked into (a Sequential
model built without ``Input`` has no graph to start from). Keras is imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import layers


if TYPE_CHECKING:  # pragma: no cover
    import keras

SEPARATOR = "/"


def is_nested(path: str) -> bool:
    """Whether ``path`` names a layer inside a nested model."""
    return SEPARATOR in path


def _has_graph(model: Any) -> bool:
    """A functional model (its own ``Input``s and a graph of layers), not a Sequential one or a plain layer."""
    import keras

    return isinstance(model, keras.Model) and not isinstance(model, keras.Sequential) and bool(
        getattr(model, "inputs", None))


def _own_layers(model: Any) -> list:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def inner_layers(model: "keras.Model") -> Iterator[tuple[str, Any]]:
    """``(path, layer)`` of every layer inside the functional models nested in ``model``, in call order.

    The nested models' own layers come with their outer name in front (``"resnet50_backbone/conv1_conv"``);
    a model nested deeper gives a longer path. The top-level layers themselves are not listed.
    """
    if not _has_graph(model):
        return
    for outer in _own_layers(model):
        if _has_graph(outer) and getattr(outer, "_inbound_nodes", None):
            for inner in _own_layers(outer):
                yield outer.name + SEPARATOR + inner.name, inner
            for path, inner in inner_layers(outer):
                yield outer.name + SEPARATOR + path, inner


def get(model: "keras.Model", path: str) -> Any:
    """The layer at ``path`` (a top-level name, or ``"outer/inner"``).

    Raises:
        InvalidArgument: no such layer (the message names what was asked for).
    """
    if not isinstance(path, str) or not path or any(not part for part in path.split(SEPARATOR)):
        raise InvalidArgument(f"a layer is named by its name, or 'model/layer' inside a nested model, got {path!r}")
    holder = model
    parts = path.split(SEPARATOR)
    for depth, part in enumerate(parts):
        if (depth and not _has_graph(holder)) or part not in [layer.name for layer in _own_layers(holder)]:
            raise InvalidArgument(f"model {model.name!r} has no layer {path!r}"
                                  + (f" ({SEPARATOR.join(parts[:depth])!r} holds no layer {part!r})" if depth else ""))
        holder = holder.get_layer(part)
    return holder


def graph_tensor(model: "keras.Model", path: str, which: str = "output") -> Any:
    """The output (or ``which="input"``: the input) of the layer at ``path`` as a tensor of ``model``'s graph,
    connected to ``model.inputs``, so ``keras.Model(model.inputs, tensor)`` computes it from the model's input.

    Raises:
        InvalidArgument: no such layer, or one that the model does not call exactly once.
    """
    import keras

    if which not in ("output", "input"):
        raise InvalidArgument(f"which must be 'output' or 'input', got {which!r}")
    layer = get(model, path)
    if not is_nested(path):
        return layers.graph_output(layer) if which == "output" else layer.input
    head, rest = path.split(SEPARATOR, 1)
    holder = model.get_layer(head)
    nodes = getattr(holder, "_inbound_nodes", None) or []
    if len(nodes) != 1:
        raise InvalidArgument(f"model {head!r} is called {len(nodes)} times in {model.name!r}, not once: "
                              f"which call of {rest!r} to show is ambiguous")
    inside = graph_tensor(holder, rest, which)  # in the nested model's own graph, from its Input
    fed = nodes[0].input_tensors
    reach = keras.Model(holder.inputs[0] if len(holder.inputs) == 1 else holder.inputs, inside,
                        name=f"{holder.name}_to_{rest.replace(SEPARATOR, '_')}")
    return reach(fed[0] if len(fed) == 1 else list(fed))


def submodel(model: "keras.Model", paths: list[str], which: str = "output", name: str = "") -> "keras.Model":
    """A model from ``model``'s input to the outputs (or inputs) of the layers at ``paths``, sharing their weights."""
    import keras

    tensors = [graph_tensor(model, path, which) for path in paths]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    return keras.Model(inputs, tensors[0] if len(tensors) == 1 else tensors, name=name or f"{model.name}_inside")
