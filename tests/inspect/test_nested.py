"""Layers inside a nested backbone (a transfer run in miniature): listed as "backbone/inner", their kernels,
feature maps equal to the inner layers called by hand, and activation maximisation through them."""

from __future__ import annotations

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.inspect import actmax, features, nested
from tests.support.models import nested_backbone_model

pytestmark = pytest.mark.slow

SIZE = 12


@pytest.fixture(scope="module")
def model():
    return nested_backbone_model(SIZE)


def _by_hand(model, x, upto: str) -> np.ndarray:
    """The backbone's layers called one after the other on the outer model's preprocessing (the reference)."""
    backbone = model.get_layer("tiny_backbone")
    h = model.get_layer("to_pixels")(x[None])
    for name in ("bb_conv1", "bb_bn", "bb_conv2", "bb_relu"):
        h = backbone.get_layer(name)(h, training=False)
        if name == upto:
            return np.asarray(h)[0]
    raise AssertionError(upto)


def test_pickers_list_the_inner_convolutions_before_the_backbone(model):
    assert [c["name"] for c in features.conv_layers(model)] == ["tiny_backbone/bb_conv1", "tiny_backbone/bb_conv2"]
    maps = features.inspectable_layers(model)
    assert [m["name"] for m in maps] == ["to_pixels", "tiny_backbone/bb_conv1", "tiny_backbone/bb_conv2",
                                         "tiny_backbone"]
    assert maps[2]["output_shape"] == (SIZE - 2, SIZE - 2, 5) and maps[2]["kind"] == "conv"
    assert actmax.conv_layers(model) == ["tiny_backbone/bb_conv1", "tiny_backbone/bb_conv2"]
    assert actmax.channel_count(model, "tiny_backbone/bb_conv2") == 5
    assert [p for p, _ in nested.inner_layers(model)] == [f"tiny_backbone/{n}" for n in
                                                         ("bb_conv1", "bb_bn", "bb_conv2", "bb_relu")]


def test_filters_are_the_inner_kernel(model):
    kernel = np.asarray(model.get_layer("tiny_backbone").get_layer("bb_conv2").kernel)
    shown = features.layer_filters(model, "tiny_backbone/bb_conv2", max_filters=64, max_channels=64)
    assert shown.kernel_shape == kernel.shape == (3, 3, 4, 5)
    assert shown.per_channel.shape == (5, 4, 3, 3)
    np.testing.assert_allclose(shown.weights, kernel, rtol=1e-6)
    lo, hi = kernel.min(), kernel.max()
    np.testing.assert_allclose(shown.per_channel, np.transpose((kernel - lo) / (hi - lo), (3, 2, 0, 1)), atol=1e-6)


@pytest.mark.parametrize("backbone, first", [("vgg16", "block1_conv1"), ("resnet50", "conv1_conv")])
def test_colour_tiles_of_a_caffe_backbone_show_the_colours_its_filters_respond_to(backbone, first):
    """VGG16 and ResNet50 see B, G, R (the transfer network swaps the channels before the backbone): a filter that
    fires on red weighs input channel 2, and its colour tile must be red, not blue."""
    from cnnviz.models import transfer

    net = transfer.build(transfer.config(backbone=backbone, weights="none", image_size=32), input_shape=(8, 8, 3),
                         num_classes=2)
    conv = net.get_layer(f"{backbone}_backbone").get_layer(first)
    kernel, bias = (np.zeros(w.shape, np.float32) for w in conv.get_weights())
    kernel[:, :, 2, 0] = 1.0  # filter 0 weighs the backbone's channel 2 (red in B, G, R)
    kernel[:, :, 0, 1] = 1.0  # filter 1 weighs its channel 0 (blue)
    conv.set_weights([kernel, bias])
    red = np.zeros((8, 8, 3), np.float32)
    red[..., 0] = 1.0  # a red picture, scaled to [0, 1] as the run's images
    response = features.activations(net, red, [f"{backbone}_backbone/{first}"])[f"{backbone}_backbone/{first}"]
    assert response[..., 0].max() > 0 and response[..., 0].max() > response[..., 1].max()  # filter 0 fires on red
    tiles = features.layer_filters(net, f"{backbone}_backbone/{first}", max_filters=2).rgb
    np.testing.assert_array_equal(tiles[0, ..., 0], 1.0)  # filter 0: red
    np.testing.assert_array_equal(tiles[0, ..., 1:], 0.0)
    np.testing.assert_array_equal(tiles[1, ..., 2], 1.0)  # filter 1: blue
    np.testing.assert_array_equal(tiles[1, ..., :2], 0.0)
    assert features.image_channel_order(net, f"{backbone}_backbone/{first}").tolist() == [2, 1, 0]


def test_feature_maps_equal_the_inner_layers_called_by_hand(model):
    x = np.random.default_rng(1).uniform(size=(SIZE, SIZE, 3)).astype(np.float32)
    for path, upto in (("tiny_backbone/bb_conv1", "bb_conv1"), ("tiny_backbone/bb_conv2", "bb_conv2")):
        fm = features.feature_maps(model, x, path, max_channels=64)
        np.testing.assert_allclose(fm.activations, _by_hand(model, x, upto), rtol=1e-5, atol=1e-5)
        assert fm.layer_type == "Conv2D" and fm.kind == "conv"
    both = features.activations(model, x, ["tiny_backbone/bb_conv2", "tiny_backbone", "to_pixels"])
    np.testing.assert_allclose(both["tiny_backbone"], _by_hand(model, x, "bb_relu"), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both["to_pixels"], 2 * x, rtol=1e-6)


def test_activation_maximisation_through_the_backbone(model):
    pics = actmax.maximize(model, [0, 1], layer="tiny_backbone/bb_conv1", steps=8, octaves=1)
    assert pics.images.shape == (2, SIZE, SIZE, 3) and pics.layer == "tiny_backbone/bb_conv1"
    assert np.all(pics.final > pics.start)  # the ascent climbs the inner channel's (pre-ReLU) mean
    pics = actmax.maximize(model, [3], layer="tiny_backbone/bb_conv2", steps=8, octaves=1)
    ref = _by_hand(model, pics.images[0], "bb_conv2")[..., 3].mean()
    np.testing.assert_allclose(pics.final[0], ref, rtol=1e-4, atol=1e-5)  # the objective is that channel's mean
    x = np.random.default_rng(2).uniform(size=(6, SIZE, SIZE, 3)).astype(np.float32)
    top = actmax.top_images(model, x, "tiny_backbone/bb_conv2", [0, 4], k=2)
    conv = np.stack([_by_hand(model, img, "bb_conv2").mean(axis=(0, 1)) for img in x])
    assert top.indices.tolist() == [list(np.argsort(-conv[:, c], kind="stable")[:2]) for c in (0, 4)]


def test_wrong_paths_are_refused_with_what_was_asked(model):
    with pytest.raises(InvalidArgument, match=r"has no layer 'tiny_backbone/nope' \('tiny_backbone' holds no layer"):
        features.feature_maps(model, np.zeros((SIZE, SIZE, 3), np.float32), "tiny_backbone/nope")
    with pytest.raises(InvalidArgument, match=r"has no layer 'head_pool/x'"):
        nested.get(model, "head_pool/x")
    with pytest.raises(InvalidArgument, match=r"got 'tiny_backbone/'"):
        nested.get(model, "tiny_backbone/")
    with pytest.raises(InvalidArgument, match="is not a convolution layer"):
        features.layer_filters(model, "tiny_backbone/bb_bn")
    with pytest.raises(InvalidArgument, match="has no convolution layer 'tiny_backbone/bb_bn'"):
        actmax.maximize(model, [0], layer="tiny_backbone/bb_bn")
