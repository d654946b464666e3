"""Build & train: pick a seed network or build one with sliders, see its layers and parameters,
train it live (progress, curves, stop) and compare the test accuracy with the notebook's
(seed 000 Parts 10-15, seed 001 parts 2-5, seeds 002-004)."""

import streamlit as st

from cnnviz.app import jobs, panel, pickers, tables
from cnnviz.app.boundary import friendly_errors
from cnnviz.data import augment, datasets
from cnnviz.data.scaling import SCALINGS
from cnnviz.errors import InvalidArgument
from cnnviz.models import presets
from cnnviz.models.config import (
    ACTIVATIONS,
    FILTER_GROWTHS,
    HEADS,
    INT_LIMITS,
    LOSSES,
    OPTIMIZERS,
    POOLINGS,
    ModelConfig,
)
from cnnviz.plots import models as model_plots
from cnnviz.training.spec import TrainSpec, spec_from_preset


SOURCE_KEY = "train_source"
FAST, PRESET, BUILDER = "Fast CIFAR-10 (minutes)", "A network from the notebooks", "My own network"
POWERS_OF_TWO = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def _preset_config(ds: datasets.Dataset) -> tuple[ModelConfig, presets.Preset]:
    names = [n for n, p in presets.PRESETS.items() if p.family == "seed"]
    name = st.selectbox("Network", names, key="train_preset", format_func=lambda n: presets.PRESETS[n].title)
    preset = presets.PRESETS[name]
    st.caption(f"{preset.description} Source: {preset.seed_source}. The notebook: {preset.seed_result}.")
    if preset.training.get("notes"):
        st.caption(f"How the notebook trained it: {preset.training['notes']}")
    return preset.config, preset


def _fast_preset() -> presets.Preset:
    """The fast presets (issue 8), with what they reach on this kind of machine, before Train."""
    st.markdown("##### Train a good CIFAR-10 model in 3 minutes")
    fast = [n for n, p in presets.PRESETS.items() if p.family == "fast"]
    name = st.radio("Time", fast, index=min(1, len(fast) - 1), key="train_fast_preset", horizontal=True,
                    format_func=lambda n: presets.PRESETS[n].title.rsplit(" in ", 1)[-1])
    preset = presets.PRESETS[name]
    expected = preset.expected
    cols = st.columns(3)
    cols[0].metric("Expected test accuracy" if preset.measured else "Target test accuracy (not measured yet)",
                   f"≈{expected['test_accuracy']:.0%}")
    cols[1].metric("Expected time", f"≈{expected['seconds'] / 60:.1f} min")
    cols[2].metric("Epochs", preset.training["epochs"])
    st.caption(f"{preset.description} On {expected['machine']}: {expected['measured']} Other trainings on "
               f"this server make it slower. Source: {preset.seed_source}.")
    st.caption(f"How it trains: {preset.training['notes']}")
    return preset


def _fast_training(ds: datasets.Dataset, preset: presets.Preset) -> TrainSpec | None:
    """The preset's own set-up (only the random seed changes); None when the data is not CIFAR-10."""
    seed = st.number_input("Random seed", 0, 2**31 - 1, 0, key="train_fast_seed",
                           help="The same seed and settings give the same run.")
    if ds.name != preset.training["dataset"]:
        st.info("The fast presets are tuned for CIFAR-10: choose CIFAR-10 under 1. Data "
                "(get it on the Datasets page if it is not there).")
        return None
    return spec_from_preset(preset.name, seed=int(seed))


def _builder_config() -> ModelConfig:
    d = ModelConfig()
    c1, c2, c3 = st.columns(3)
    with c1:
        conv_layers = st.slider("Conv layers", *INT_LIMITS["conv_layers"], d.conv_layers, key="build_conv")
        filters = st.select_slider("Filters in the first layer", POWERS_OF_TWO, d.filters, key="build_filters")
        growth = st.radio("Filters after the first layer", FILTER_GROWTHS, key="build_growth",
                          format_func={"double_once": "2× the first (seed 000 code)",
                                       "double_each": "double every layer (seed 000 text)",
                                       "constant": "the same"}.get)
        kernel = st.select_slider("Kernel size", [1, 3, 5, 7], d.kernel_size, key="build_kernel")
    with c2:
        activation = st.selectbox("Activation", ACTIVATIONS, key="build_activation")
        pooling = st.radio("Pooling after each conv", POOLINGS, horizontal=True, key="build_pooling")
        batch_norm = st.toggle("Batch normalisation", d.batch_norm, key="build_bn")
        conv_dropout = st.slider("Dropout after conv blocks", 0.0, 0.9, 0.0, 0.05, key="build_conv_dropout")
        head = st.radio("Head", HEADS, horizontal=True, key="build_head",
                        format_func={"flatten": "flatten", "global_avg": "global average"}.get)
    with c3:
        dense_layers = st.slider("Dense layers", *INT_LIMITS["dense_layers"], d.dense_layers, key="build_dense")
        dense_units = st.select_slider("Nodes per dense layer", [16, 32, 50, 64, 128, 256, 512, 1024],
                                       d.dense_units, key="build_nodes")
        dropout = st.slider("Dropout after dense layers", 0.0, 0.9, d.dropout, 0.05, key="build_dropout")
        optimizer = st.selectbox("Optimiser", OPTIMIZERS, key="build_optimizer",
                                 format_func={"adam": "Adam", "sgd_nesterov": "SGD with Nesterov momentum",
                                              "rmsprop": "RMSprop"}.get)
        loss = st.selectbox("Loss", LOSSES, key="build_loss")
    return ModelConfig(
        conv_layers=conv_layers, filters=filters, filter_growth=growth, kernel_size=kernel, activation=activation,
        pooling=pooling, batch_norm=batch_norm, conv_dropout=conv_dropout, dense_layers=dense_layers,
        dense_units=dense_units, dropout=dropout, head=head, optimizer=optimizer, loss=loss,
    )


def _summary(config: ModelConfig, ds: datasets.Dataset) -> bool:
    """Show the layer table; False when the network does not fit the data."""
    with friendly_errors("The summary"):
        table = config.validate(ds.input_shape, ds.num_classes)
        tables.parameter_metrics(table)
        left, right = st.columns([3, 2])
        tables.layer_table(table, key="train_summary", where=left)
        right.plotly_chart(model_plots.param_bars(table, log_scale=True, title="Where the parameters are"),
                           key="train_param_bars")
        return True
    return False


def _training_options(ds: datasets.Dataset, config: ModelConfig,
                      preset: presets.Preset | None) -> TrainSpec | None:
    t = preset.training if preset else {}
    same_data = preset is not None and t.get("dataset") == ds.name
    tag = f"{preset.name if preset else 'own'}_{ds.name}"  # new defaults when the preset or data change
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    c1, c2, c3 = st.columns(3)
    with c1:
        epochs = st.number_input("Epochs", 1, 500, int(t.get("epochs", 5)), key=f"train_epochs_{tag}")
        batch = st.select_slider("Batch size", [8, 16, 32, 64, 100, 128, 256, 512],
                                 int(t.get("batch_size", 32)), key=f"train_batch_{tag}")
        lr = st.number_input("Learning rate", 1e-5, 1.0, float(config.learning_rate), format="%.5f",
                             key=f"train_lr_{tag}")
        seed = st.number_input("Random seed", 0, 2**31 - 1, 0, key="train_seed",
                               help="The same seed and settings give the same run.")
    with c2:
        train_size = st.number_input(f"Training images (of {n_train:,})", min(20, n_train), n_train,
                                     min(n_train, int(t["train_size"])) if same_data else min(n_train, 10_000),
                                     key=f"train_size_{tag}")
        test_size = st.number_input(f"Test images (of {n_test:,})", min(10, n_test), n_test,
                                    min(n_test, int(t["test_size"])) if same_data else min(n_test, 2_000),
                                    key=f"test_size_{tag}")
        val = st.slider("Validation share of the training images", 0.0, 0.5,
                        float(t.get("validation_fraction", 0.25)), 0.05, key=f"train_val_{tag}")
        scaling = st.radio("Scaling", list(SCALINGS), horizontal=True, key=f"train_scaling_{tag}",
                           index=list(SCALINGS).index(t.get("scaling", "unit")),
                           format_func={"unit": "[0, 1]", "symmetric": "[-1, 1]", "standardize": "standardise"}.get)
    with c3:
        class_weights = st.toggle("Class weights (balanced)", False, key="train_class_weights")
        keep_best = st.toggle("Keep the best validation weights", bool(t.get("keep_best_weights", False)),
                              key=f"train_keep_best_{tag}", disabled=val == 0)
        early = st.toggle("Early stopping", False, key="train_early", disabled=val == 0)
        patience = st.number_input("Patience (epochs)", 1, 50, 3, key="train_patience", disabled=not early)
        with st.expander("Augmentation"):
            seed_aug = t.get("augment") or {}
            rotation = st.slider("Rotate up to ± degrees", 0, 180, int(seed_aug.get("rotation", 0)),
                                 key=f"aug_rotation_{tag}")
            flip = st.selectbox("Flip", augment.FLIPS, index=augment.FLIPS.index(seed_aug.get("flip", "none")),
                                key=f"aug_flip_{tag}")
            shift = st.slider("Shift up to ±", 0.0, 0.5, float(seed_aug.get("translate", 0.0)), 0.05,
                              key=f"aug_shift_{tag}")
            zoom = st.slider("Zoom up to ±", 0.0, 0.5, float(seed_aug.get("zoom", 0.0)), 0.05, key=f"aug_zoom_{tag}")
    aug = augment.AugmentConfig(rotation=float(rotation), flip=flip, translate=shift, zoom=zoom, seed=int(seed))
    spec = TrainSpec(
        model=config.replace(learning_rate=float(lr)), dataset=ds.name,
        train_size=int(train_size), test_size=int(test_size), validation_fraction=float(val), scaling=scaling,
        augment=None if aug.is_identity else aug, class_weights=class_weights, epochs=int(epochs),
        batch_size=int(batch), early_stopping=early and val > 0, patience=int(patience),
        keep_best=keep_best and val > 0, seed=int(seed), preset=preset.name if preset else None,
    )
    try:
        spec.validate(num_classes=ds.num_classes)  # e.g. too few images for a stratified validation split
    except InvalidArgument as err:
        st.error(str(err))
        return None
    return spec


def main() -> None:
    st.title("Build & train")
    st.write("Choose a network, look at its layers and parameters, then train it and watch it learn. "
             "Training runs on the server in the background: you can change pages and come back.")
    busy = jobs.busy()

    with friendly_errors("Loading the data"):
        st.subheader("1. Data")
        ds = pickers.pick_dataset(key="train_dataset", prefer=("cifar10",),
                                  help="Get CIFAR-10 and others on the Datasets page.")
        st.subheader("2. Network")
        default = FAST if datasets.is_present("cifar10") else PRESET  # the fast presets need CIFAR-10
        source = st.segmented_control("Start from", [FAST, PRESET, BUILDER], default=default,
                                      key=SOURCE_KEY) or default
        if source == FAST:
            preset = _fast_preset()
            config = preset.config
        else:
            config, preset = _preset_config(ds) if source == PRESET else (_builder_config(), None)
        fits = _summary(config, ds)
        st.subheader("3. Training")
        spec = _fast_training(ds, preset) if source == FAST else _training_options(ds, config, preset)
        if st.button("Train", type="primary", key="train_start", icon=":material/play_arrow:",
                     disabled=busy or not fits or spec is None, help="One training at a time per student."):
            jobs.submit_training(spec, ds)
            st.rerun()  # redraw with the Train button disabled and the live panel
    panel.training_panel()


main()
