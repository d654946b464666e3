"""Build & train's "Layer by layer" section: add, remove, reorder and set each layer of a network.

The list lives in the session as ``[(uid, ConvLayer | DenseLayer), ...]``; each layer's widgets
are keyed by its uid, so a layer keeps its settings when it moves. The section returns a
``ModelConfig(architecture="layers")`` that the page trains through the normal job path; the
shapes and parameters are shown for any input size (the data's by default), Keras-style with
the batch axis first. Backend: :mod:`cnnviz.models.layerlist`, :mod:`cnnviz.lessons.pooling`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from cnnviz.app.numbers import checked_number
from cnnviz.errors import InvalidArgument
from cnnviz.markup import plain_text
from cnnviz.lessons.pooling import pooling_effect
from cnnviz.models.config import LAYERS, OPTIMIZERS, ModelConfig
from cnnviz.models.layerlist import (
    ACTIVATIONS,
    CONV_BN,
    DENSE_BN,
    HEADS,
    LIMITS,
    MAX_LAYERS,
    MAX_SIDE,
    OUTPUTS,
    POOLINGS,
    SPATIAL,
    ConvLayer,
    DenseLayer,
    InceptionBlock,
    LayerList,
    ResidualBlock,
    keras_shape,
)
from cnnviz.models.layertemplates import TEMPLATES
from cnnviz.weights import backbone_status

ITEMS_KEY = "lb_items"  # [(uid, layer)]
NEXT_KEY = "lb_next_uid"
NOTE_KEY = "lb_note"  # the template loaded last
DATA_KEY = "lb_data"  # (input_shape, num_classes) of the chosen data
CIFAR = (32, 32, 3)
DEFAULT_TEMPLATE = "seed000_model1"
BN_LABELS = {"none": "none", "before_activation": "before the activation (seed 001)",
             "after_activation": "after the activation (seed 000)", "after_pooling": "after the pooling (seed 002)"}
#: What the two per-layer boxes do: a penalty on the kernel added to the loss (Keras' ``kernel_regularizer``), which
#: is not the optimiser's weight decay (every weight shrunk by learning rate × decay each step).
REGULARISATION_HELP = {
    "l1": "L1 regularisation (Keras' kernel_regularizer): adds this number × the sum of the kernel's |weights| to "
          "the loss, which pushes small weights to exactly 0. It is not weight decay.",
    "l2": "L2 regularisation (Keras' kernel_regularizer, the notebooks' regularizers.l2(0.01)): adds this number × "
          "the sum of the kernel's squared weights to the loss. Not the optimiser's weight decay (each weight "
          "shrunk by learning rate × decay every step): the penalty's gradient, 2 × this number × the weight, goes "
          "through the optimiser (momentum, Adam's scaling) like any other.",
}
BATCH_AXIS = ("Shapes as Keras prints them: the first number is the **batch axis**, `None` because the "
              "network takes any number of images at once (a batch); the rest is one image's output, "
              "height × width × channels for a conv layer, a flat vector after the flatten. So yes, the batch "
              "is always the first dimension in Keras.")


def _load(name: str) -> None:
    """Put a template's layers in the list (new uids: fresh widgets) and its input in the preview.

    A CIFAR-10 network is previewed on the chosen data; seed 003 Q3.2 and the cats-vs-dogs CNN on
    the input their notebook counted for.
    """
    template = TEMPLATES[name]
    start = st.session_state.get(NEXT_KEY, 0)
    st.session_state[ITEMS_KEY] = [(start + i, layer) for i, layer in enumerate(template.layer_list.layers)]
    st.session_state[NEXT_KEY] = start + len(template.layer_list.layers)
    st.session_state[NOTE_KEY] = name
    shape, classes = st.session_state.get(DATA_KEY, (CIFAR, 10))
    if template.input_shape != CIFAR:
        shape, classes = template.input_shape, template.num_classes
    values = {"lb_output": template.layer_list.output, "lb_flatten_dropout": float(template.layer_list.flatten_dropout),
              "lb_in_h": min(shape[0], MAX_SIDE), "lb_in_w": min(shape[1], MAX_SIDE),
              "lb_in_c": shape[2] if shape[2] in (1, 3) else 3, "lb_in_classes": classes}
    st.session_state.update(values)


def _items() -> list[tuple[int, Any]]:
    if ITEMS_KEY not in st.session_state:
        _load(DEFAULT_TEMPLATE)
    return st.session_state[ITEMS_KEY]


NEW_LAYERS = {"conv": lambda: ConvLayer(pooling="max"), "inception": InceptionBlock, "residual": ResidualBlock,
              "dense": DenseLayer}


def _add(kind: str) -> None:
    items = _items()
    uid = st.session_state[NEXT_KEY]
    st.session_state[NEXT_KEY] = uid + 1
    if kind == "dense":
        items.append((uid, DenseLayer()))
        return
    # a new conv layer or block goes after the last one (before the dense layers)
    at = max((i + 1 for i, (_, layer) in enumerate(items) if isinstance(layer, SPATIAL)), default=0)
    items.insert(at, (uid, NEW_LAYERS[kind]()))


def _move(index: int, step: int) -> None:
    items = _items()
    other = index + step
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]


def _remove(index: int) -> None:
    del _items()[index]


def _describe(layer: Any) -> str:
    if isinstance(layer, InceptionBlock):
        return (f"Inception block: 1×1 {layer.b1} · 1×1 {layer.b3_reduce} → 3×3 {layer.b3} · "
                f"1×1 {layer.b5_reduce} → 5×5 {layer.b5} · 3×3 max pool → 1×1 {layer.pool_proj}, concatenated "
                f"({layer.b1 + layer.b3 + layer.b5 + layer.pool_proj} channels)")
    if isinstance(layer, ResidualBlock):
        skip = "1×1 projection" if layer.projection else "identity"
        return (f"Residual block: 2 × conv {layer.filters} {layer.kernel}×{layer.kernel} + skip ({skip}), "
                f"{layer.activation}")
    if isinstance(layer, DenseLayer):
        text = f"Dense {layer.units} {layer.activation}"
    else:
        text = (f"Conv {layer.filters} {layer.kernel}×{layer.kernel}, stride {layer.stride}, {layer.padding}, "
                f"{layer.activation}")
        if layer.pooling != "none":
            text += (f" · {layer.pooling} pool {layer.pool_size}×{layer.pool_size}/"
                     f"{layer.pool_stride or layer.pool_size}")
    if layer.batch_norm != "none":
        text += f" · batch norm {layer.batch_norm.replace('_', ' ')}"
    if layer.dropout:
        text += f" · dropout {layer.dropout:g}"
    if layer.l1 or layer.l2:
        text += f" · L1 {layer.l1:g} / L2 {layer.l2:g}"
    return text


def _number(where, label: str, name: str, layer: Any, uid: int, bad: list[str], low: float, high: float,
            **kw) -> float:
    """A float :func:`checked_number` box for one layer setting: out of its range, the box keeps what was typed
    (said under it), ``bad`` gets its label, and the layer keeps its last value (no network is returned then)."""
    start = type(low)(getattr(layer, name))  # the box's type follows the range's: 0 → 0.0 for a float setting
    value = checked_number(label, low, high, start, key=f"lb_{uid}_{name}", where=where, **kw)
    if value is None:
        bad.append(label)
        return start
    return value


def _int(where, label: str, name: str, layer: Any, uid: int, bad: list[str], **kw) -> int:
    low, high = LIMITS.get(name, LIMITS["filters"])
    return int(_number(where, label, name, layer, uid, bad, int(low), int(high), **kw))


def _block_settings(layer: InceptionBlock | ResidualBlock, uid: int, bad: list[str]) -> Any:
    c1, c2, c3 = st.columns(3)
    if isinstance(layer, ResidualBlock):
        return dataclasses.replace(
            layer, filters=_int(c1, "Filters", "filters", layer, uid, bad),
            kernel=_int(c1, "Kernel size", "kernel", layer, uid, bad),
            projection=c2.toggle("1×1 projection on the skip", layer.projection, key=f"lb_{uid}_projection",
                                 help="Needed when the block's input has another number of channels."),
            activation=c3.selectbox("Activation", ACTIVATIONS, ACTIVATIONS.index(layer.activation),
                                    key=f"lb_{uid}_activation"))
    labels = {"b1": "1×1 branch", "b3_reduce": "3×3 branch: 1×1 reduction", "b3": "3×3 branch: 3×3 filters",
              "b5_reduce": "5×5 branch: 1×1 reduction", "b5": "5×5 branch: 5×5 filters",
              "pool_proj": "pooling branch: 1×1 filters"}
    cols = (c1, c2, c3, c1, c2, c3)
    return dataclasses.replace(layer, **{name: _int(col, label, name, layer, uid, bad)
                                         for col, (name, label) in zip(cols, labels.items())})


def _settings(layer: Any, uid: int, bad: list[str]) -> Any:
    """The widgets of one layer; returns the layer as set (a box out of its range is named in ``bad``)."""
    if isinstance(layer, (InceptionBlock, ResidualBlock)):
        return _block_settings(layer, uid, bad)
    c1, c2, c3 = st.columns(3)
    values: dict[str, Any] = {}
    if isinstance(layer, ConvLayer):
        values["filters"] = _int(c1, "Filters", "filters", layer, uid, bad)
        values["kernel"] = _int(c1, "Kernel size", "kernel", layer, uid, bad)
        values["stride"] = _int(c1, "Stride", "stride", layer, uid, bad)
        values["padding"] = c1.radio("Padding", ("same", "valid"), ("same", "valid").index(layer.padding),
                                     key=f"lb_{uid}_padding", horizontal=True)
        values["pooling"] = c2.radio("Pooling", POOLINGS, POOLINGS.index(layer.pooling), key=f"lb_{uid}_pooling",
                                     horizontal=True)
        pooled = values["pooling"] != "none"
        values["pool_size"] = _int(c2, "Pool size", "pool_size", layer, uid, bad, disabled=not pooled)
        values["pool_stride"] = _int(c2, "Pool stride (0: the pool size)", "pool_stride", layer, uid, bad,
                                     disabled=not pooled)
        values["pool_padding"] = c2.radio("Pool padding", ("valid", "same"),
                                          ("valid", "same").index(layer.pool_padding), key=f"lb_{uid}_pool_padding",
                                          horizontal=True, disabled=not pooled)
        positions = CONV_BN
    else:
        values["units"] = _int(c1, "Nodes", "units", layer, uid, bad)
        positions = DENSE_BN
    values["activation"] = c1.selectbox("Activation", ACTIVATIONS, ACTIVATIONS.index(layer.activation),
                                        key=f"lb_{uid}_activation")
    values["batch_norm"] = c3.selectbox("Batch norm", positions, positions.index(layer.batch_norm),
                                        key=f"lb_{uid}_batch_norm", format_func=BN_LABELS.get)
    values["bn_momentum"] = _number(c3, "Batch-norm momentum", "bn_momentum", layer, uid, bad, 0.0, 0.999, step=0.01,
                                    disabled=values["batch_norm"] == "none")
    values["dropout"] = c3.slider("Dropout", 0.0, 0.9, float(layer.dropout), 0.05, key=f"lb_{uid}_dropout")
    values["l1"] = _number(c3, "L1 regularisation", "l1", layer, uid, bad, 0.0, 1.0, step=1e-4, format="%.5f",
                           help=REGULARISATION_HELP["l1"])
    values["l2"] = _number(c3, "L2 regularisation", "l2", layer, uid, bad, 0.0, 1.0, step=1e-4, format="%.5f",
                           help=REGULARISATION_HELP["l2"])
    return dataclasses.replace(layer, **values)


def _layer_rows(bad: list[str]) -> LayerList:
    items = _items()
    for index, (uid, layer) in enumerate(items):
        with st.container(border=True):
            text, up, down, remove = st.columns([10, 1, 1, 1], vertical_alignment="center")
            line = text.empty()  # filled after the settings, so it shows this run's values
            up.button("", key=f"lb_{uid}_up", icon=":material/arrow_upward:", on_click=_move, args=(index, -1),
                      disabled=index == 0, help="Move up")
            down.button("", key=f"lb_{uid}_down", icon=":material/arrow_downward:", on_click=_move,
                        args=(index, 1), disabled=index == len(items) - 1, help="Move down")
            remove.button("", key=f"lb_{uid}_remove", icon=":material/delete:", on_click=_remove, args=(index,),
                          help="Remove this layer")
            with st.expander(f"Settings of layer {index + 1}"):
                items[index] = (uid, _settings(layer, uid, bad))
            line.markdown(f"**{index + 1}.** {_describe(items[index][1])}")
    full = len(items) >= MAX_LAYERS
    for col, (kind, label) in zip(st.columns(4), (("conv", "Conv layer"), ("inception", "Inception block"),
                                                  ("residual", "Residual block"), ("dense", "Dense layer"))):
        col.button(label, key=f"lb_add_{kind}", icon=":material/add:", on_click=_add, args=(kind,), disabled=full)
    c1, c2 = st.columns(2)
    flatten_dropout = c1.slider("Dropout after the flatten", 0.0, 0.9, step=0.05, key="lb_flatten_dropout")
    output = c2.radio("Output", OUTPUTS, key="lb_output", horizontal=True,
                      format_func={"softmax": "softmax (one unit per class)",
                                   "sigmoid": "one sigmoid unit (two classes)"}.get)
    return LayerList(tuple(layer for _, layer in items), flatten_dropout=float(flatten_dropout), output=output)


def preview(config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int, *, key: str) -> None:
    """Each layer's Keras output shape and parameters for one input, and the pooling comparison (Q19)."""
    try:
        table = config.validate(input_shape, num_classes)
    except InvalidArgument as err:
        st.error(plain_text(str(err)))
        return
    st.dataframe([{"layer": r["name"], "type": r["type"], "output shape": keras_shape(r["shape"]),
                   "parameters": r["params"], "how they are counted": r["formula"]} for r in table.rows],
                 hide_index=True, key=key, column_config={"parameters": st.column_config.NumberColumn(
                     format="localized")})
    st.caption(f"In all {table.total:,} parameters ({table.trainable:,} trainable) for a "
               f"{'×'.join(map(str, input_shape))} input and {num_classes} classes. {BATCH_AXIS}")


def pooling_note(config: ModelConfig, input_shape: tuple[int, int, int], num_classes: int) -> None:
    """Seed 000 Q19: what pooling does to this network's parameter count, in words."""
    if config.architecture in ("custom", LAYERS):
        st.info(pooling_effect(config, input_shape, num_classes).text, icon=":material/compress:")


def weights_ready(config: ModelConfig) -> bool:
    """For a transfer preset (seed 004's VGG16): False, with what to do, when its ImageNet weights are missing."""
    if config.architecture != "transfer":
        return True
    status = backbone_status(config)
    if status["needed"] and not status["present"]:
        st.warning(status["message"], icon=":material/cloud_off:")
        return False
    return True


def layer_by_layer(input_shape: tuple[int, int, int], num_classes: int) -> ModelConfig | None:
    """The section: a starting network, the layer rows, the head, the preview for any input size.

    Args:
        input_shape, num_classes: the chosen data's (the preview's default input).
    Returns:
        The network as a ``ModelConfig(architecture="layers")`` (validated by the page's summary), or None
        while a layer's number box holds a value outside its range (said under the box).
    """
    st.session_state[DATA_KEY] = (tuple(input_shape), int(num_classes))
    st.markdown("##### Layer by layer")
    st.caption("Each layer has its own kernel, stride, padding, pooling, activation, batch norm, dropout and "
               "L1/L2 regularisation. Start from a notebook's network, then add, remove and move layers.")
    pick, load = st.columns([4, 1], vertical_alignment="bottom")
    name = pick.selectbox("Start from", list(TEMPLATES), key="lb_template",
                          index=list(TEMPLATES).index(DEFAULT_TEMPLATE), format_func=lambda n: TEMPLATES[n].title)
    load.button("Load", key="lb_load", on_click=_load, args=(name,), icon=":material/download:")
    bad: list[str] = []
    layer_list = _layer_rows(bad)
    note = TEMPLATES.get(st.session_state.get(NOTE_KEY, ""))
    c1, c2 = st.columns(2)
    head = c1.radio("Head", HEADS, key="lb_head", horizontal=True,
                    format_func={"flatten": "flatten", "global_avg": "global average"}.get)
    optimizer = c2.selectbox("Optimiser", OPTIMIZERS, key="lb_optimizer",
                             format_func={"adam": "Adam", "sgd_nesterov": "SGD with Nesterov momentum",
                                          "rmsprop": "RMSprop"}.get)
    if bad:  # each box says what is wrong under it: no table, and no network, of other numbers
        st.info(f"The network waits until {', '.join(bad)} {'is' if len(bad) == 1 else 'are'} inside the range "
                "(see the note under the box).", icon=":material/pending:")
        return None
    config = ModelConfig(architecture=LAYERS, layer_list=layer_list, head=head, optimizer=optimizer,
                         learning_rate=0.001)
    st.markdown("###### Shapes and parameters for any input")
    h, w, c, k = st.columns(4)
    height = checked_number("Height", 1, MAX_SIDE, CIFAR[0], key="lb_in_h", where=h)
    width = checked_number("Width", 1, MAX_SIDE, CIFAR[1], key="lb_in_w", where=w)
    channels = int(c.radio("Channels", (1, 3), key="lb_in_c", horizontal=True))
    classes = checked_number("Classes", 2, 1000, 10, key="lb_in_classes", where=k)
    if None not in (height, width, classes):  # else the box says why: no table for other numbers
        shape = (int(height), int(width), channels)
        preview(config, shape, int(classes), key="lb_preview")
        if note and note.note:
            st.info(note.note, icon=":material/calculate:")
        pooling_note(config, shape, int(classes))
    return config
