"""Dirac (identity) initialisation: a conv that starts by copying its first input channels."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.models import dirac
from cnnviz.models.network import build_model, init_from_data
from cnnviz.models.presets import PRESETS


def test_dirac_kernel_makes_a_same_conv_copy_its_first_channels():
    import keras

    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(5, 3, padding="same", use_bias=False, name="conv")
    x = rng.normal(size=(2, 6, 7, 3)).astype(np.float32)
    conv(x)
    before = conv.get_weights()[0]
    kernel = dirac.dirac_kernel(before)
    conv.set_weights([kernel])
    y = np.asarray(conv(x))
    np.testing.assert_allclose(y[..., :3], x, atol=1e-6)  # output channel i = input channel i
    np.testing.assert_array_equal(kernel[..., 3:], before[..., 3:])  # the other filters keep their random start
    assert kernel.shape == before.shape and kernel.dtype == before.dtype
    assert np.count_nonzero(kernel[..., :3]) == 3


def test_dirac_kernel_with_fewer_filters_than_inputs_and_bad_kernels():
    kernel = dirac.dirac_kernel(np.ones((3, 3, 4, 2), np.float32))
    assert kernel[1, 1, 0, 0] == kernel[1, 1, 1, 1] == 1 and kernel.sum() == 2
    with pytest.raises(InvalidArgument, match=r"odd sides, got shape \(2, 2, 3, 4\)"):
        dirac.dirac_kernel(np.zeros((2, 2, 3, 4)))
    with pytest.raises(InvalidArgument, match=r"got shape \(3, 3\)"):
        dirac.dirac_kernel(np.zeros((3, 3)))


@pytest.mark.slow
def test_the_fast_network_starts_with_identity_convs_when_asked():
    config = PRESETS["fast_1min"].config
    assert config.dirac_init
    model = build_model(config, input_shape=(32, 32, 3), num_classes=10)
    x = np.random.default_rng(1).normal(size=(4, 32, 32, 3)).astype(np.float32)
    done = init_from_data(model, config, x)
    assert done == ["whiten"] + [f"group{g}_conv_{i}" for g in (1, 2, 3) for i in (1, 2)]
    for name in done[1:]:
        kernel = model.get_layer(name).get_weights()[0]
        n = min(kernel.shape[2:])
        np.testing.assert_array_equal(kernel[1, 1, np.arange(n), np.arange(n)], 1)
        assert np.count_nonzero(kernel[..., :n]) == n
    plain = build_model(config.replace(dirac_init=False), input_shape=(32, 32, 3), num_classes=10)
    assert init_from_data(plain, config.replace(dirac_init=False), x) == ["whiten"]
