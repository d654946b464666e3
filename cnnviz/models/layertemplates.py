"""Every seed network as a :class:`~cnnviz.models.layerlist.LayerList`.

The layer-by-layer builder starts from any of these and the student changes layers from
there. Each has the parameter count of its preset (tests compare it with the seed's
``model.summary()`` and with Keras' ``count_params``); layer names follow the builder
(``conv_1``, ``bn_1``, ``fc_1``…), not the seeds'. Seed 004's inception and residual networks
(described in the seed only in words; see :mod:`cnnviz.models.architectures`) use the builder's
inception and residual blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnviz.models.layerlist import ConvLayer, DenseLayer, InceptionBlock, LayerList, ResidualBlock


@dataclass(frozen=True)
class Template:
    """A starting point of the builder.

    Attributes:
        name: the preset it reproduces (``seed000_model1``…).
        title: for people.
        layer_list: the network.
        input_shape, num_classes: what the seed counted its parameters for.
        note: what to know about it (e.g. a wrong answer in the notebook), or "".
    """

    name: str
    title: str
    layer_list: LayerList
    input_shape: tuple[int, int, int] = (32, 32, 3)
    num_classes: int = 10
    note: str = ""


def _seed000(convs: int, dense: bool, dropout: float = 0.0) -> LayerList:
    """build_CNN: conv 'same' + relu, batch norm after the activation, 2×2 max pool; dense 50 + batch norm."""
    layers = [ConvLayer(filters=16 if i == 0 else 32, batch_norm="after_activation", pooling="max")
              for i in range(convs)]
    if dense:
        layers.append(DenseLayer(units=50, batch_norm="after_activation", dropout=dropout))
    return LayerList(tuple(layers))


def _seed001(filters: tuple[int, int], units: int, drops: tuple[float, float, float] | None,
             momentum: float | None) -> LayerList:
    """5×5 'valid' convs, 2×2 max pool, batch norm before the relu (with its momentum), dropout."""
    bn = "none" if momentum is None else "before_activation"
    m = 0.99 if momentum is None else momentum
    d = drops or (0.0, 0.0, 0.0)
    layers = [ConvLayer(filters=f, kernel=5, padding="valid", batch_norm=bn, bn_momentum=m, pooling="max",
                        dropout=d[i]) for i, f in enumerate(filters)]
    return LayerList((*layers, DenseLayer(units=units, batch_norm=bn, bn_momentum=m, dropout=d[2])))


def _mlp(units: tuple[int, ...], dropout: float = 0.0, activation: str = "relu") -> LayerList:
    return LayerList(tuple(DenseLayer(units=u, activation=activation, dropout=dropout) for u in units))


_S002_CNN = LayerList((ConvLayer(filters=16, kernel=2, pooling="max"), ConvLayer(filters=32, kernel=2, pooling="max"),
                       ConvLayer(filters=64, kernel=2, pooling="max", dropout=0.3), DenseLayer(units=500, dropout=0.4)))
_S002_ALEXNET = LayerList((
    ConvLayer(filters=96, kernel=3, stride=2, pooling="max", batch_norm="after_pooling"),
    ConvLayer(filters=256, kernel=5, pooling="max", pool_size=3, pool_stride=2, batch_norm="after_pooling"),
    ConvLayer(filters=384), ConvLayer(filters=384),
    ConvLayer(filters=256, pooling="max", pool_size=3, pool_stride=2, batch_norm="after_pooling"),
    DenseLayer(units=4096, dropout=0.4), DenseLayer(units=4096, dropout=0.4)))
_S003_CNN = LayerList(tuple(
    ConvLayer(filters=f, pooling="max" if second else "none", pool_padding="same")
    for f in (32, 64, 128) for second in (False, True)) + (DenseLayer(units=512, dropout=0.2),), flatten_dropout=0.2)
_S004_TAIL = ConvLayer(filters=128, batch_norm="after_activation", dropout=0.25)
_S004_BASE = LayerList((ConvLayer(filters=32, kernel=5), ConvLayer(filters=64), ConvLayer(filters=64), _S004_TAIL))
_S004_INCEPTION = LayerList((ConvLayer(filters=32, kernel=5), InceptionBlock(), InceptionBlock(), _S004_TAIL))
_S004_RESIDUAL = LayerList((ConvLayer(filters=32, kernel=5), ResidualBlock(filters=64, projection=True), _S004_TAIL))
#: Seed 003 question 3.2 (a pen-and-paper count): 64×64×3, five outputs.
SEED003_Q32 = LayerList((ConvLayer(filters=16), ConvLayer(filters=32, kernel=5, pooling="max", pool_size=3,
                                                          pool_stride=2),
                         ConvLayer(filters=128, activation="linear")))
SEED003_Q32_NOTE = (
    "The notebook's own answer is wrong for two layers: the 5×5 convolution sees 16 channels, so it has "
    "(5·5·16+1)·32 = 12,832 parameters, not 4,640 (that would be 3×3 kernels); and 3×3 pooling with stride 2 "
    "turns 64×64 into 31×31 (not 22×22), so the dense layer has (31·31·128+1)·5 = 615,045, not 309,765. "
    "In all 448 + 12,832 + 36,992 + 615,045 = 665,317.")
#: Seed 004's cats-vs-dogs CNN (its model.summary(): 4,737,473): 200×200 grey, 'valid' convs, one sigmoid.
SEED004_CATS_DOGS = LayerList((ConvLayer(filters=32, padding="valid", pooling="max"),
                               ConvLayer(filters=64, padding="valid", pooling="max"), DenseLayer(units=32)),
                              output="sigmoid")

TEMPLATES: dict[str, Template] = {t.name: t for t in [
    Template("seed000_model1", "Seed 000 model1", _seed000(2, False)),
    Template("seed000_model2", "Seed 000 model2", _seed000(2, True)),
    Template("seed000_model3", "Seed 000 model3", _seed000(4, True)),
    Template("seed000_model4", "Seed 000 model4", _seed000(4, True, 0.5)),
    Template("seed001_mlp", "Seed 001 fully connected network", _mlp((512, 256), activation="tanh")),
    Template("seed001_cnn", "Seed 001 CNN", _seed001((96, 80), 256, None, None)),
    Template("seed001_cnn_dropout", "Seed 001 CNN with dropout", _seed001((96, 80), 256, (0.25, 0.25, 0.5), None)),
    Template("seed001_cnn_batchnorm", "Seed 001 CNN with dropout and batch norm",
             _seed001((96, 80), 256, (0.25, 0.25, 0.5), 0.75)),
    Template("seed001_best", "Seed 001 best model", _seed001((64, 128), 512, (0.25, 0.3, 0.5), 0.8)),
    Template("seed002_mlp", "Seed 002 feedforward network", _mlp((1000, 512), 0.2)),
    Template("seed002_cnn", "Seed 002 three-layer CNN", _S002_CNN),
    Template("seed002_alexnet", "Seed 002 AlexNet-style CNN", _S002_ALEXNET),
    Template("seed003_mlp", "Seed 003 MLP", _mlp((128, 256, 512), 0.2)),
    Template("seed003_cnn", "Seed 003 six-layer CNN", _S003_CNN),
    Template("seed003_q32", "Seed 003 question 3.2 (64×64×3, 5 outputs)", SEED003_Q32, (64, 64, 3), 5,
             SEED003_Q32_NOTE),
    Template("seed004_base", "Seed 004 CIFAR-10 base CNN", _S004_BASE),
    Template("seed004_inception", "Seed 004 CNN with inception blocks", _S004_INCEPTION),
    Template("seed004_residual", "Seed 004 CNN with a residual block", _S004_RESIDUAL),
    Template("seed004_cats_dogs", "Seed 004 cats vs dogs (200×200 grey, sigmoid)", SEED004_CATS_DOGS,
             (200, 200, 1), 2),
]}
