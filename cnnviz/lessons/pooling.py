"""Seed 000 Q19 in words: what pooling does to a network's parameter count.

Pooling has no weights, yet it changes the count: it shrinks the map that the flatten passes
to the first dense layer, which needs one weight per value and node. Seed 000's model1 has
25,770 parameters with 2×2 max pooling and 332,970 without. No TensorFlow: counts by formula.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from cnnviz.errors import InvalidArgument
from cnnviz.models.config import LAYERS, ModelConfig
from cnnviz.models.layerlist import ConvLayer
from cnnviz.models.layerspec import SummaryTable, shape_text


@dataclass(frozen=True)
class PoolingEffect:
    """The same network with and without pooling.

    Attributes:
        pooled, unpooled: total parameters (None when that variant does not fit the input).
        pooled_map, unpooled_map: the map the head receives (e.g. ``"8×8×32"``), or "".
        has_pooling: whether the network as chosen pools.
        text: the effect in words.
    """

    pooled: int | None
    unpooled: int | None
    pooled_map: str
    unpooled_map: str
    has_pooling: bool
    text: str


def _variants(config: ModelConfig) -> tuple[ModelConfig, ModelConfig, bool]:
    """(with pooling, without pooling, whether ``config`` pools) for the slider or the layer-by-layer builder."""
    if config.architecture == "custom":
        pools = config.pooling != "none"
        return (config if pools else config.replace(pooling="max")), config.replace(pooling="none"), pools
    if config.architecture == LAYERS and config.layer_list is not None:
        layers = config.layer_list.layers
        pools = any(isinstance(lay, ConvLayer) and lay.pooling != "none" for lay in layers)

        def each(layer, pooling: str):
            if not isinstance(layer, ConvLayer):
                return layer
            bn = "after_activation" if pooling == "none" and layer.batch_norm == "after_pooling" else layer.batch_norm
            return dataclasses.replace(layer, pooling=pooling, batch_norm=bn)

        def with_layers(pooling: str | None) -> ModelConfig:
            new = tuple(layer if pooling is None else each(layer, pooling) for layer in layers)
            return config.replace(layer_list=config.layer_list.replace(layers=new))

        return (config if pools else with_layers("max")), with_layers("none"), pools
    raise InvalidArgument(f"the pooling comparison is for the builders' networks (custom or layers), "
                          f"got architecture {config.architecture!r}")


def _count(config: ModelConfig, input_shape: Sequence[int], num_classes: int) -> tuple[int | None, str]:
    try:
        table: SummaryTable = config.validate(tuple(input_shape), num_classes)
    except InvalidArgument:
        return None, ""
    names = [r["name"] for r in table.rows]
    head = next((i for i, n in enumerate(names) if n in ("flat", "global_avg")), None)
    return table.total, ("" if head is None else shape_text(table.rows[head - 1]["shape"]))


def pooling_effect(config: ModelConfig, input_shape: Sequence[int], num_classes: int) -> PoolingEffect:
    """The parameter count with and without pooling, and why they differ, in words.

    Args:
        config: a slider-builder (``custom``) or layer-by-layer (``layers``) network.
        input_shape: (height, width, channels) of the images.
        num_classes: classes of the output.
    Returns:
        A :class:`PoolingEffect`; its ``text`` says which is the network as chosen.
    Raises:
        InvalidArgument: another architecture.
    """
    pooled_cfg, unpooled_cfg, pools = _variants(config)
    pooled, pooled_map = _count(pooled_cfg, input_shape, num_classes)
    unpooled, unpooled_map = _count(unpooled_cfg, input_shape, num_classes)
    if pooled is None or unpooled is None:
        which = "with" if pooled is None else "without"
        text = (f"This network does not fit a {shape_text(input_shape)} image {which} pooling, so there is no "
                "comparison.")
    elif pooled == unpooled:
        text = (f"With or without pooling this network has {pooled:,} parameters: its global-average head gives the "
                "dense layers one value per channel whatever the size of the map, and pooling has no weights.")
    else:
        now = "With pooling (as chosen)" if pools else "With 2×2 max pooling after each conv layer"
        other = "without it" if pools else "without pooling (as chosen)"
        text = (f"{now} this network has {pooled:,} parameters; {other} {unpooled:,}"
                f" ({unpooled / pooled:.1f}× as many). ")
        text += (f"Pooling has no weights of its own: it shrinks the map the flatten receives from {unpooled_map} "
                 f"to {pooled_map}, and the dense layer after the flatten needs one weight per value it receives "
                 "and per node.")
    return PoolingEffect(pooled, unpooled, pooled_map, unpooled_map, pools, text)
