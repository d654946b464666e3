"""The networks as layer-spec lists (pure Python): the seed 000 builder and each seed's fixed net.

Each function takes a :class:`cnnviz.models.network.ModelConfig` and the number of classes and
returns the layer specs of :mod:`cnnviz.models.layerspec`; :func:`cnnviz.models.network.build_model` turns
them into Keras layers with the same names. The comments give where each network comes
from in ``shared/seeds`` and what the seed text left open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable


if TYPE_CHECKING:  # pragma: no cover
    from cnnviz.models.config import ModelConfig

Spec = dict[str, Any]


# --- small constructors -----------------------------------------------------------------
def conv(name: str, filters: int, kernel: int, *, activation: str | None = "relu", padding: str = "same",
         strides: int = 1, inputs: list[str] | None = None) -> Spec:
    spec = {"kind": "conv", "name": name, "filters": filters, "kernel": kernel, "strides": strides,
            "padding": padding, "activation": activation}
    return spec | ({"inputs": inputs} if inputs else {})


def pool(name: str, size: int = 2, *, kind: str = "maxpool", strides: int | None = None,
         padding: str = "valid", inputs: list[str] | None = None) -> Spec:
    spec = {"kind": kind, "name": name, "pool": size, "strides": strides or size, "padding": padding}
    return spec | ({"inputs": inputs} if inputs else {})


def batchnorm(name: str, momentum: float = 0.99) -> Spec:
    return {"kind": "batchnorm", "name": name, "momentum": momentum}


def act(name: str, activation: str) -> Spec:
    return {"kind": "activation", "name": name, "activation": activation}


def dropout(name: str, rate: float) -> Spec:
    return {"kind": "dropout", "name": name, "rate": rate}


def dense(name: str, units: int, activation: str | None = "relu", *, use_bias: bool = True) -> Spec:
    spec = {"kind": "dense", "name": name, "units": units, "activation": activation}
    return spec | ({} if use_bias else {"use_bias": False})


def head(cfg: ModelConfig, name: str = "flat") -> Spec:
    """Flatten (the seeds' choice) or global average pooling, which fits any image size."""
    if cfg.head == "global_avg":
        return {"kind": "global_avg", "name": "global_avg"}
    return {"kind": "flatten", "name": name}


def output(num_classes: int, name: str = "output") -> Spec:
    return dense(name, num_classes, "softmax")


# --- seed 000: build_CNN as parameters -----------------------------------------------------
def conv_filters(cfg: ModelConfig) -> list[int]:
    """Filters of each conv layer. Seed 000's text says "double with each layer"; its code
    uses ``2*n_filters`` for every layer after the first ("double_once")."""
    f = cfg.filters
    if cfg.filter_growth == "double_each":
        return [f * 2**i for i in range(cfg.conv_layers)]
    if cfg.filter_growth == "double_once":
        return [f if i == 0 else 2 * f for i in range(cfg.conv_layers)]
    return [f] * cfg.conv_layers


def custom(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Seed 000 Part 10 ``build_CNN``: [conv 'same' + activation, batch norm, 2×2 pooling] ×
    conv layers, flatten, [dense, batch norm, dropout] × dense layers, softmax.

    As in the seed, batch norm comes after the activation and dropout only follows the dense
    layers (``conv_dropout`` adds it after each conv block too; 0 = the seed's network).
    """
    layers: list[Spec] = []
    for i, filters in enumerate(conv_filters(cfg), start=1):
        layers.append(conv(f"conv_{i}", filters, cfg.kernel_size, activation=cfg.activation))
        if cfg.batch_norm:
            layers.append(batchnorm(f"bn_{i}"))
        if cfg.pooling != "none":
            layers.append(pool(f"pool_{i}", 2, kind="maxpool" if cfg.pooling == "max" else "avgpool"))
        if cfg.conv_dropout > 0:
            layers.append(dropout(f"conv_dropout_{i}", cfg.conv_dropout))
    layers.append(head(cfg))
    for j in range(1, cfg.dense_layers + 1):
        layers.append(dense(f"fc_{j}", cfg.dense_units, cfg.activation))
        if cfg.batch_norm:
            layers.append(batchnorm(f"fc_bn_{j}"))
        if cfg.dropout > 0:
            layers.append(dropout(f"drop_{j}", cfg.dropout))
    layers.append(output(num_classes))
    return layers


# --- seed 001: CIFAR10-Lab (2023) -----------------------------------------------------------
def seed001_mlp(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Part 2: flatten, 512 tanh, 256 tanh, softmax (1,707,274 parameters)."""
    return [{"kind": "flatten", "name": "flat"}, dense("fc_1", 512, "tanh"),
            dense("fc_2", 256, "tanh"), output(num_classes)]


def _seed001_cnn(cfg: ModelConfig, num_classes: int, *, filters: tuple[int, int], units: int,
                 drops: tuple[float, float, float] | None, bn_momentum: float | None) -> list[Spec]:
    """[conv 5×5 'valid', (batch norm, then activation), 2×2 max pool, (dropout)] × 2,
    flatten, dense, (batch norm, activation), (dropout), softmax. With batch norm the seed
    leaves the activation out of the conv/dense layer and adds it after the normalisation."""
    layers: list[Spec] = []
    for i, f in enumerate(filters, start=1):
        if bn_momentum is None:
            layers.append(conv(f"conv_{i}", f, 5, padding="valid"))
        else:
            layers += [conv(f"conv_{i}", f, 5, padding="valid", activation=None),
                       batchnorm(f"bn_{i}", bn_momentum), act(f"relu_{i}", "relu")]
        layers.append(pool(f"pool_{i}", 2))
        if drops:
            layers.append(dropout(f"drop_{i}", drops[i - 1]))
    layers.append(head(cfg))
    if bn_momentum is None:
        layers.append(dense("fc_1", units))
    else:
        layers += [dense("fc_1", units, None), batchnorm("fc_bn_1", bn_momentum), act("fc_relu_1", "relu")]
    if drops:
        layers.append(dropout("drop_3", drops[2]))
    return layers + [output(num_classes)]


def seed001_cnn(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Part 3: 96 5×5, pool, 80 5×5, pool, dense 256 (714,202 parameters)."""
    return _seed001_cnn(cfg, num_classes, filters=(96, 80), units=256, drops=None, bn_momentum=None)


def seed001_cnn_dropout(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Part 4.1: the Part 3 CNN with dropout 0.25 after each pooling and 0.5 after the dense layer."""
    return _seed001_cnn(cfg, num_classes, filters=(96, 80), units=256, drops=(0.25, 0.25, 0.5), bn_momentum=None)


def seed001_cnn_batchnorm(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Part 4.2: the dropout CNN with batch norm (momentum 0.75) before each activation (715,930)."""
    return _seed001_cnn(cfg, num_classes, filters=(96, 80), units=256, drops=(0.25, 0.25, 0.5), bn_momentum=0.75)


def seed001_best(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Part 5, the students' 75.8% model: 64 5×5, 128 5×5, dense 512, batch norm 0.8,
    dropout 0.25 / 0.3 / 0.5 (1,856,650 parameters)."""
    return _seed001_cnn(cfg, num_classes, filters=(64, 128), units=512, drops=(0.25, 0.3, 0.5), bn_momentum=0.8)


# --- seed 002: ML for trading, CIFAR-10 chapter (2021); the seed's own layer names --------
def seed002_mlp(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Flatten, 1000 relu, dropout 0.2, 512 relu, dropout 0.2, softmax (3,590,642). The seed
    calls its Flatten 'input' and its dropouts 'dropout_1', 'dropout_2'; here they are 'flat',
    'drop_1', 'drop_2', so that no name looks like one Keras makes up."""
    return [{"kind": "flatten", "name": "flat"}, dense("hidden_layer_1", 1000), dropout("drop_1", 0.2),
            dense("hidden_layer_2", 512), dropout("drop_2", 0.2), output(num_classes)]


def seed002_cnn(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Three 2×2 'same' convs of 16/32/64 with 2×2 pooling, dropout 0.3, dense 500,
    dropout 0.4, softmax (528,054 parameters)."""
    return [conv("CONV1", 16, 2), pool("POOL1"), conv("CONV2", 32, 2), pool("POOL2"),
            conv("CONV3", 64, 2), pool("POOL3"), dropout("DROP1", 0.3), head(cfg, "FLAT1"),
            dense("FC1", 500), dropout("DROP2", 0.4), output(num_classes, "FC2")]


def seed002_alexnet(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """AlexNet narrowed to 32×32 inputs (21,592,330 parameters): five convs (96 3×3 stride 2,
    256 5×5, 384, 384, 256 3×3), overlapping 3×3/2 pooling, batch norm after each pooling,
    two dense layers of 4096 with dropout 0.4. The seed left the last layer unnamed; 'FC3'."""
    return [conv("CONV_1", 96, 3, strides=2), pool("POOL_1", 2), batchnorm("NORM_1"),
            conv("CONV2", 256, 5), pool("POOL2", 3, strides=2), batchnorm("NORM_2"),
            conv("CONV3", 384, 3), conv("CONV4", 384, 3), conv("CONV5", 256, 3),
            pool("POOL5", 3, strides=2), batchnorm("NORM_5"), head(cfg, "FLAT"),
            dense("FC1", 4096), dropout("DROP1", 0.4), dense("FC2", 4096), dropout("DROP2", 0.4),
            output(num_classes, "FC3")]


# --- seed 003: CS109A HW9 (2018), Q4.2 --------------------------------------------------------
def seed003_mlp(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Flatten, 128 / 256 / 512 relu each followed by dropout 0.2, softmax (563,082)."""
    layers: list[Spec] = [{"kind": "flatten", "name": "flat"}]
    for i, units in enumerate((128, 256, 512), start=1):
        layers += [dense(f"fc_{i}", units), dropout(f"drop_{i}", 0.2)]
    return layers + [output(num_classes)]


def seed003_cnn(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """2×32, pool, 2×64, pool, 2×128, pool (3×3 'same' convs, 2×2 'same' pooling), flatten,
    dropout 0.2, dense 512, dropout, softmax (1,341,226). The task text asks for dropout 0.5
    after the dense layer; the code that produced the seed's summary and training log uses
    0.2, which is what is rebuilt here (dropout has no parameters, so the count is the same)."""
    layers: list[Spec] = []
    for block, filters in enumerate((32, 64, 128)):
        layers += [conv(f"conv_{2 * block + 1}", filters, 3), conv(f"conv_{2 * block + 2}", filters, 3),
                   pool(f"pool_{block + 1}", 2, padding="same")]
    return layers + [head(cfg), dropout("drop_1", 0.2), dense("fc_1", 512), dropout("drop_2", 0.2),
                     output(num_classes)]


# --- seed 004: CS-577 HW4, CIFAR-10 part -------------------------------------------------------
# The report prints only the base network's summary (1,442,954 parameters): convs of 32 5×5,
# 64, 64, 128 3×3 without pooling (outputs stay 32×32, so 'same' padding), batch norm,
# dropout, flatten, softmax. Its activation and dropout rate are not shown: relu and 0.25
# here. The inception and residual versions are described only in words ("we concatenate
# multiple blocks"; "we incorporate residual blocks"), so cnnviz swaps the base's middle pair
# of 64-filter convs for the block in question and keeps everything else.
SEED004_DROPOUT = 0.25  # not given in the seed (judgement)


def _seed004_tail(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    return [conv("conv_4", 128, 3), batchnorm("bn_1"), dropout("drop_1", SEED004_DROPOUT), head(cfg),
            output(num_classes)]


def seed004_base(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """The report's CIFAR-10 base network (1,442,954 parameters)."""
    return [conv("conv_1", 32, 5), conv("conv_2", 64, 3), conv("conv_3", 64, 3)] + _seed004_tail(cfg, num_classes)


def inception_block(prefix: str, source: str, *, b1: int, b3: tuple[int, int], b5: tuple[int, int],
                    proj: int) -> list[Spec]:
    """GoogLeNet-style inception module (Szegedy et al. 2015): 1×1; 1×1 → 3×3; 1×1 → 5×5;
    3×3 max pool → 1×1; the four branches concatenated along the channels."""
    return [
        conv(f"{prefix}_1x1", b1, 1, inputs=[source]),
        conv(f"{prefix}_3x3_reduce", b3[0], 1, inputs=[source]), conv(f"{prefix}_3x3", b3[1], 3),
        conv(f"{prefix}_5x5_reduce", b5[0], 1, inputs=[source]), conv(f"{prefix}_5x5", b5[1], 5),
        pool(f"{prefix}_pool", 3, strides=1, padding="same", inputs=[source]), conv(f"{prefix}_pool_proj", proj, 1),
        {"kind": "concat", "name": f"{prefix}_concat",
         "inputs": [f"{prefix}_1x1", f"{prefix}_3x3", f"{prefix}_5x5", f"{prefix}_pool_proj"]},
    ]


def seed004_inception(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """The base with conv_2 and conv_3 replaced by two inception blocks of 64 output channels
    (GoogLeNet's inception 3a widths divided by 4: 16 + 32 + 8 + 8). 1,408,130 parameters."""
    widths = {"b1": 16, "b3": (24, 32), "b5": (4, 8), "proj": 8}
    return ([conv("conv_1", 32, 5)] + inception_block("inception_1", "conv_1", **widths)
            + inception_block("inception_2", "inception_1_concat", **widths) + _seed004_tail(cfg, num_classes))


def seed004_residual(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """The base with a skip connection around conv_2 → conv_3 (a ResNet basic block, He et
    al. 2016): conv_3 loses its activation, a 1×1 projection brings conv_1's 32 channels to
    64, the two are added and then activated. The skip costs (1·1·32+1)·64 = 2,112
    parameters: 1,445,066 in all."""
    return [conv("conv_1", 32, 5), conv("conv_2", 64, 3), conv("conv_3", 64, 3, activation=None),
            conv("shortcut", 64, 1, activation=None, inputs=["conv_1"]),
            {"kind": "add", "name": "residual_add", "inputs": ["conv_3", "shortcut"]},
            act("residual_relu", "relu")] + _seed004_tail(cfg, num_classes)


# --- cnnviz's fast CIFAR-10 networks (airbench-style) ---------------------------------------
# After airbench94 (Keller Jordan, arXiv 2404.00498; github.com/KellerJordan/cifar10-airbench),
# narrowed for a 2-core CPU: a frozen 2×2 patch-whitening conv, GELU,
# three groups of (3×3 conv, 2×2 max pool, batch norm, GELU, 3×3 conv, batch norm, GELU),
# a global max pool (airbench's MaxPool2d(3) on the last 3×3 map), a linear layer without
# bias and the logits scaled by 1/9 before the softmax.
#: Filters of the whitening conv: 2·(2·2·3) for colour images (greyscale leaves 16 of them zero).
FAST_WHITEN_FILTERS = 24
#: Keras momentum (weight of the old moving average). airbench's ``batchnorm_momentum`` 0.6 is already in
#: this convention: its BatchNorm passes PyTorch ``momentum=1 - 0.6`` (the weight of the new batch).
FAST_BN_MOMENTUM = 0.6
#: airbench's ``scaling_factor`` of the logits.
FAST_LOGIT_SCALE = 1 / 9


def gelu(name: str) -> Spec:
    # In float32 even in a bfloat16 model: TensorFlow's bfloat16 GELU on the CPU is 2× slower than casting to
    # float32 and back (its GELUs were ~70% of the fast networks' forward pass; benchmarks/README, session 19).
    return act(name, "gelu") | {"dtype": "float32"}


def fast_cnn(cfg: ModelConfig, num_classes: int, widths: tuple[int, int, int]) -> list[Spec]:
    """The fast network with groups of ``widths`` filters (airbench94: 64/256/256)."""
    whiten = conv("whiten", FAST_WHITEN_FILTERS, 2, padding="valid", activation=None)
    layers: list[Spec] = [whiten | {"use_bias": False, "trainable": False, "init": "patch_whitening"},
                          gelu("whiten_gelu")]
    # airbench's options (ModelConfig): convs that start as identities, batch norm without a learned γ
    conv_extra = {"use_bias": False} | ({"init": "dirac"} if cfg.dirac_init else {})
    bn_extra = {} if cfg.bn_scale else {"scale": False}
    for g, width in enumerate(widths, start=1):
        layers += [
            conv(f"group{g}_conv_1", width, 3, activation=None) | conv_extra,
            pool(f"group{g}_pool", 2),
            batchnorm(f"group{g}_bn_1", FAST_BN_MOMENTUM) | bn_extra, gelu(f"group{g}_gelu_1"),
            conv(f"group{g}_conv_2", width, 3, activation=None) | conv_extra,
            batchnorm(f"group{g}_bn_2", FAST_BN_MOMENTUM) | bn_extra, gelu(f"group{g}_gelu_2"),
        ]
    return layers + [
        {"kind": "global_max", "name": "global_max"},
        dense("logits", num_classes, None, use_bias=False),
        {"kind": "rescale", "name": "logit_scale", "scale": FAST_LOGIT_SCALE},
        act("output", "softmax"),
    ]


def fast_w16(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Groups of 16/64/64 filters (airbench94 at a quarter width)."""
    return fast_cnn(cfg, num_classes, (16, 64, 64))


def fast_w32(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """Groups of 32/128/128 filters (airbench94 at half width)."""
    return fast_cnn(cfg, num_classes, (32, 128, 128))


def fast_airbench93(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """airbench93's widths: groups of 64/128/128 filters."""
    return fast_cnn(cfg, num_classes, (64, 128, 128))


def fast_airbench94(cfg: ModelConfig, num_classes: int) -> list[Spec]:
    """airbench94's widths: groups of 64/256/256 filters."""
    return fast_cnn(cfg, num_classes, (64, 256, 256))


# id → (title, layer-list function, has convolution layers)
FIXED: dict[str, tuple[str, Callable[[Any, int], list[Spec]], bool]] = {
    "seed001_mlp": ("Seed 001 MLP (512 tanh, 256 tanh)", seed001_mlp, False),
    "seed001_cnn": ("Seed 001 CNN (96 and 80 5×5 filters, dense 256)", seed001_cnn, True),
    "seed001_cnn_dropout": ("Seed 001 CNN with dropout", seed001_cnn_dropout, True),
    "seed001_cnn_batchnorm": ("Seed 001 CNN with dropout and batch norm", seed001_cnn_batchnorm, True),
    "seed001_best": ("Seed 001 best model (75.8%)", seed001_best, True),
    "seed002_mlp": ("Seed 002 MLP (1000, 512, dropout)", seed002_mlp, False),
    "seed002_cnn": ("Seed 002 three-layer CNN", seed002_cnn, True),
    "seed002_alexnet": ("Seed 002 AlexNet-style CNN", seed002_alexnet, True),
    "seed003_mlp": ("Seed 003 MLP (128, 256, 512)", seed003_mlp, False),
    "seed003_cnn": ("Seed 003 six-layer CNN", seed003_cnn, True),
    "seed004_base": ("Seed 004 CIFAR-10 base CNN", seed004_base, True),
    "seed004_inception": ("Seed 004 CNN with inception blocks", seed004_inception, True),
    "seed004_residual": ("Seed 004 CNN with a residual block", seed004_residual, True),
    "fast_w16": ("Fast CIFAR-10 CNN, width 16 (airbench-style)", fast_w16, True),
    "fast_w32": ("Fast CIFAR-10 CNN, width 32 (airbench-style)", fast_w32, True),
    "fast_airbench93": ("Fast CIFAR-10 CNN, airbench93 widths 64/128/128", fast_airbench93, True),
    "fast_airbench94": ("Fast CIFAR-10 CNN, airbench94 widths 64/256/256", fast_airbench94, True),
}
