"""Seed 000 Q19: what pooling does to the parameter count, for both builders."""

from __future__ import annotations

import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.lessons.pooling import pooling_effect
from cnnviz.models.config import ModelConfig
from cnnviz.models.presets import PRESETS


def test_model1_with_and_without_pooling():
    chosen = pooling_effect(ModelConfig(), (32, 32, 3), 10)  # seed 000 model1
    assert (chosen.pooled, chosen.unpooled, chosen.has_pooling) == (25_770, 332_970, True)
    # without pooling the output layer sees 32·32·32 values: (32,768+1)·10 = 327,690 of the 332,970
    assert (chosen.pooled_map, chosen.unpooled_map) == ("8×8×32", "32×32×32")
    assert chosen.text.startswith("With pooling (as chosen) this network has 25,770 parameters; without it "
                                  "332,970 (12.9× as many).")
    assert "shrinks the map the flatten receives from 32×32×32 to 8×8×32" in chosen.text
    toggled = pooling_effect(ModelConfig(pooling="none"), (32, 32, 3), 10)
    assert (toggled.pooled, toggled.unpooled, toggled.has_pooling) == (25_770, 332_970, False)
    assert "without pooling (as chosen) 332,970" in toggled.text


def test_layer_by_layer_and_global_average():
    q32 = pooling_effect(PRESETS["seed003_q32"].config, (64, 64, 3), 5)
    # without the 3×3/2 pooling the dense layer sees 64·64·128: (524,288+1)·5
    assert (q32.pooled, q32.unpooled) == (665_317, 665_317 - 615_045 + (64 * 64 * 128 + 1) * 5)
    same = pooling_effect(ModelConfig(head="global_avg"), (32, 32, 3), 10)
    assert same.pooled == same.unpooled and "global-average head" in same.text
    too_small = pooling_effect(ModelConfig(conv_layers=4), (8, 8, 1), 10)
    assert too_small.pooled is None and "does not fit a 8×8×1 image with pooling" in too_small.text
    with pytest.raises(InvalidArgument, match="got architecture 'seed001_cnn'"):
        pooling_effect(PRESETS["seed001_cnn"].config, (32, 32, 3), 10)
