"""ImageNet's 1,000 classes and facts about a network, computed from the model itself.

* class names: ``assets/imagenet_class_index.json``, byte-for-byte the file Keras downloads
  for ``decode_predictions`` (see ``assets/README.md``); :func:`decode` is ``decode_predictions``;
* facts (seed lab 000, questions 29-32): why ResNet50 is "50", its stages, the Hessian's size.

Keras is imported inside functions only (and only to recognise nested models).
"""

from __future__ import annotations

import graphlib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnviz.errors import InvalidArgument, Unavailable
from cnnviz.inspect.layers import CONV_CLASS_NAMES


if TYPE_CHECKING:  # pragma: no cover
    import keras

# --- class names (assets/README.md): the MD5 is Keras' file_hash for imagenet_class_index.json.
CLASS_INDEX_PATH = Path(__file__).resolve().parents[2] / "assets" / "imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
NUM_CLASSES = 1000

# Layer types that carry trained weights and so count towards a network's "depth".
_WEIGHTED_CLASS_NAMES = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv2D", "DepthwiseConv2D",
                         "Conv2DTranspose", "Dense")


# --- class names ---------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def class_index() -> tuple[tuple[str, str], ...]:
    """The 1,000 ImageNet classes as ``(wnid, label)`` in Keras' order (index = model output).

    Raises:
        Unavailable: the bundled file is missing or damaged.
    """
    try:
        raw = json.loads(CLASS_INDEX_PATH.read_text(encoding="utf-8"))
        entries = tuple((str(raw[str(i)][0]), str(raw[str(i)][1])) for i in range(NUM_CLASSES))
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise Unavailable(
            f"the ImageNet class names file {CLASS_INDEX_PATH} is missing or damaged ({err}); "
            "reinstall cnnviz from its repository"
        ) from None
    return entries


def decode(probabilities: np.ndarray, *, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """Top classes of each row, like ``keras.applications.resnet50.decode_predictions``.

    Args:
        probabilities: N×1000 model outputs.
        top: how many classes per image, 1..1000.
    Returns:
        One list per image of ``(wnid, label, probability)``, most probable first.
    """
    preds = np.asarray(probabilities)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise InvalidArgument(f"expected predictions of shape (N, {NUM_CLASSES}), got {preds.shape}")
    if not 1 <= top <= NUM_CLASSES:
        raise InvalidArgument(f"top must be 1..{NUM_CLASSES}, got {top}")
    names = class_index()
    results = []
    for row in preds:
        best = row.argsort()[-top:][::-1]  # the same selection and tie order as Keras
        result = [(*names[i], float(row[i])) for i in best]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


# --- model facts -----------------------------------------------------------------------------------


def model_facts(model: "keras.Model") -> dict:
    """Facts about a network, computed from the model itself (seed questions 29-31).

    ``weighted_depth`` is the number of layers with weights (convolutions and Dense) on the
    longest path from input to output: the "50" in ResNet50. Weighted layers on no longest
    path (ResNet's 1×1 projection shortcuts) are ``side_weighted_layers``.

    Returns:
        dict with name, input_shape, classes, keras_layers, conv_layers, dense_layers,
        weighted_depth, side_weighted_layers (names), total_params, trainable_params,
        non_trainable_params.
    """
    kinds = [type(layer).__name__ for layer in model.layers]
    trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    total = int(model.count_params())
    depth, side = _longest_weighted_path(model)
    return {
        "name": model.name,
        "input_shape": tuple(int(d) if d is not None else None for d in model.input_shape[1:]),
        "classes": int(model.output_shape[-1]),
        "keras_layers": len(model.layers),
        "conv_layers": sum(k in CONV_CLASS_NAMES for k in kinds),
        "dense_layers": sum(k == "Dense" for k in kinds),
        "weighted_depth": depth,
        "side_weighted_layers": side,
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
    }


def depth_explanation(facts: dict) -> str:
    """Why the network is called "<depth>" in plain words, from :func:`model_facts`."""
    side = facts["side_weighted_layers"]
    dense = facts["dense_layers"]
    text = (f"It has {facts['conv_layers']} convolution layers and {dense} dense layer{'s' if dense != 1 else ''}. "
            f"The longest path from the input to the output passes through {facts['weighted_depth']} layers "
            f"that have weights ({facts['weighted_depth'] - facts['dense_layers']} convolutions and "
            f"{facts['dense_layers']} dense): that is the number in the name.")
    if side:
        text += (f" The other {len(side)} convolutions ({', '.join(side)}) are 1×1 shortcut projections: "
                 "at the start of each stage they reshape the shortcut so it can be added to the block's "
                 "output, running beside the main path, so they add no depth.")
    text += (f" Keras lists {facts['keras_layers']} layer objects because padding, batch normalisation, "
             "activation, pooling and add layers are layers too; they are not counted in the depth.")
    return text


def hessian_note(facts: dict) -> str:
    """Seed question 32 in numbers: how big the second derivative (Hessian) would be."""
    n = facts["trainable_params"]
    entries = n * n
    petabytes = entries * 4 / 1e15  # float32
    return (f"With {n:,} trainable parameters, the matrix of second derivatives (the Hessian) has "
            f"{n:,}² ≈ {entries:.1e} entries: about {petabytes:,.1f} petabytes in float32, for one step. "
            "The gradient has just one number per parameter, which is why training uses first derivatives.")


def stage_table(model: "keras.Model") -> list[dict]:
    """ResNet50 summarised by stage: blocks, convolutions, output shape, parameters.

    Stages follow Keras' layer names (``conv1_*``/``pool1_*`` stem, ``conv2``..``conv5``
    residual stages, then the head); layers of other models fall into "head".

    Returns:
        One dict per stage, in order: stage, blocks, conv_layers, output_shape, params.
    """
    rows: dict[str, dict] = {}
    for layer in model.layers:
        name = layer.name
        if type(layer).__name__ == "InputLayer":
            stage, block = "input", None
        elif re.match(r"(conv1|pool1)_", name):
            stage, block = "conv1 (stem)", None
        elif m := re.match(r"(conv[2-9])_block(\d+)_", name):
            stage, block = m.group(1), int(m.group(2))
        else:
            stage, block = "head", None
        row = rows.setdefault(stage, {"stage": stage, "blocks": 0, "conv_layers": 0, "output_shape": "",
                                      "params": 0})
        if block is not None:
            row["blocks"] = max(row["blocks"], block)
        row["conv_layers"] += type(layer).__name__ in CONV_CLASS_NAMES
        row["params"] += int(layer.count_params()) if layer.built else 0
        shape = getattr(layer.output, "shape", None) if _has_output(layer) else None
        if shape is not None:
            row["output_shape"] = "×".join(str(d) for d in shape[1:])
    return list(rows.values())


def _has_output(layer) -> bool:
    try:
        layer.output  # noqa: B018 - raises for a layer used several times or never
    except (AttributeError, ValueError):
        return False
    return True


def _weight_of(layer) -> int:
    import keras

    if isinstance(layer, keras.Model):
        return _longest_weighted_path(layer)[0]
    return int(type(layer).__name__ in _WEIGHTED_CLASS_NAMES)


def _parents_from_config(node_args) -> list[str]:
    """Layer names referenced by ``keras_history`` anywhere in a serialised inbound node."""
    found = []
    if isinstance(node_args, dict):
        history = node_args.get("config", {}).get("keras_history") if node_args.get("class_name") == "__keras_tensor__" else None
        if history:
            found.append(history[0])
        else:
            for value in node_args.values():
                found += _parents_from_config(value)
    elif isinstance(node_args, (list, tuple)):
        for value in node_args:
            found += _parents_from_config(value)
    return found


def _longest_weighted_path(model: "keras.Model") -> tuple[int, list[str]]:
    """(weighted layers on the longest input→output path, weighted layers on no such path)."""
    layers = {layer.name: layer for layer in model.layers}
    weight = {name: _weight_of(layer) for name, layer in layers.items()}
    config = model.get_config()
    entries = config.get("layers", [])
    parents: dict[str, list[str]] = {}
    if entries and all("inbound_nodes" in e for e in entries):  # functional graph
        for e in entries:
            parents[e["name"]] = _parents_from_config(e["inbound_nodes"])
    else:  # Sequential: a chain
        names = list(layers)
        parents = {n: ([names[i - 1]] if i else []) for i, n in enumerate(names)}
    children: dict[str, list[str]] = {n: [] for n in parents}
    for n, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(n)
    order = list(graphlib.TopologicalSorter(parents).static_order())  # every layer after those feeding it
    upto: dict[str, int] = {}  # best path ending at a layer, counting it
    for n in order:
        upto[n] = weight.get(n, 0) + max((upto[p] for p in parents.get(n, []) if p in upto), default=0)
    after: dict[str, int] = {}  # best path starting at a layer, counting it
    for n in reversed(order):
        after[n] = weight.get(n, 0) + max((after[c] for c in children.get(n, []) if c in after), default=0)
    depth = max(upto.values(), default=0)
    side = [n for n in layers if weight[n] and n in upto and upto[n] + after[n] - weight[n] < depth]  # model order
    return depth, side
