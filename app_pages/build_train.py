"""Build & train: pick a seed network or build one with sliders, see its layers and parameters,
train it live (progress, curves, stop) and compare the test accuracy with the notebook's
(seed 000 Parts 10-15, seed 001 parts 2-5, seeds 002-004)."""

import streamlit as st

from cnnviz.app import datachoice, jobs, layerbuilder, panel, pickers, tables
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.numbers import checked_number
from cnnviz.app.remember import KEEP, URL
from cnnviz.data import augment, datasets, stored
from cnnviz.data.scaling import SCALINGS
from cnnviz.errors import InvalidArgument
from cnnviz.lessons import shapes
from cnnviz.markup import plain_text
from cnnviz.models import names as network_names
from cnnviz.models import presets
from cnnviz.models.notebookresults import notebook_networks
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
LAYERS = "Layer by layer"
POWERS_OF_TWO = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def _preset_config(ds: datasets.Dataset) -> tuple[ModelConfig, presets.Preset]:
    names = [n for n, p in presets.PRESETS.items() if p.family == "seed"]
    name = st.selectbox("Network", names, key="train_preset", persist_state=KEEP, bind=URL,
                        format_func=network_names.network_name)
    preset = presets.PRESETS[name]
    st.caption(f"{preset.description} Source: {preset.seed_source}. The notebook: {preset.seed_result}.")
    if preset.training.get("notes"):
        st.caption(f"How the notebook trained it: {preset.training['notes']}")
    return preset.config, preset


def _notebook_networks(preset: presets.Preset) -> None:
    """Seed 000 Q20, seed 004's three: the notebook's networks with the test accuracy it printed for each."""
    with st.expander("This notebook's networks and the test accuracy it printed for each"):
        st.dataframe([{k: r[k] for k in ("title", "parameters", "test accuracy", "where")} for r in
                      notebook_networks(preset.name)], hide_index=True, key="train_notebook_networks",
                     placeholder=tables.MISSING,
                     column_config={"parameters": st.column_config.NumberColumn(format="localized"),
                                    "test accuracy": st.column_config.NumberColumn("the notebook's test accuracy",
                                                                                   format="percent")})


def _fast_preset() -> presets.Preset:
    """The fast presets (issue 8), with what they reach on this kind of machine, before Train."""
    heading = st.empty()  # filled below: it names the time chosen under it
    fast = [n for n, p in presets.PRESETS.items() if p.family == "fast"]
    name = st.radio("Time", fast, index=min(1, len(fast) - 1), key="train_fast_preset", persist_state=KEEP, bind=URL,
                    horizontal=True,
                    format_func=lambda n: presets.PRESETS[n].title.rsplit(" in ", 1)[-1])
    preset = presets.PRESETS[name]
    heading.markdown(f"##### Train a good CIFAR-10 model in {preset.title.rsplit(' in ', 1)[-1]}")
    expected = preset.expected
    cols = st.columns(3)
    cols[0].metric("Expected test accuracy", f"≈{expected['test_accuracy']:.0%}")
    cols[1].metric("Expected time", f"≈{expected['seconds'] / 60:.1f} min")
    cols[2].metric("Epochs", preset.training["epochs"])
    st.caption(f"{preset.description} On {expected['machine']}: {expected['measured']} Other trainings on "
               f"this server make it slower. Source: {preset.seed_source}.")
    st.caption(f"How it trains: {preset.training['notes']}")
    return preset


def _fast_training(ds: datasets.Dataset, preset: presets.Preset) -> TrainSpec | None:
    """The preset's own set-up (only the random seed changes); None when the data is not CIFAR-10."""
    seed = checked_number("Random seed", 0, 2**31 - 1, 0, key="train_fast_seed",
                          help="The same seed and settings give the same run.")
    if ds.name != preset.training["dataset"]:
        if stored.is_present(preset.training["dataset"]):  # else "get CIFAR-10 first" is said above
            st.info("The fast presets are tuned for CIFAR-10: choose CIFAR-10 under 1. Data.")
        return None
    return None if seed is None else spec_from_preset(preset.name, seed=int(seed))


def _builder_config() -> ModelConfig:
    d = ModelConfig()
    c1, c2, c3 = st.columns(3)
    with c1:
        conv_layers = st.slider("Conv layers", *INT_LIMITS["conv_layers"], d.conv_layers, key="build_conv",
                                persist_state=KEEP)
        filters = st.select_slider("Filters in the first layer", POWERS_OF_TWO, d.filters,
                                   key="build_filters", persist_state=KEEP)
        growth = st.radio("Filters after the first layer", FILTER_GROWTHS, key="build_growth", persist_state=KEEP,
                          format_func=network_names.FILTER_GROWTH_LABELS.get)
        kernel = st.select_slider("Kernel size", [1, 3, 5, 7], d.kernel_size, key="build_kernel", persist_state=KEEP)
    with c2:
        activation = st.selectbox("Activation", ACTIVATIONS, key="build_activation", persist_state=KEEP)
        pooling = st.radio("Pooling after each conv", POOLINGS, horizontal=True, key="build_pooling",
                           persist_state=KEEP)
        batch_norm = st.toggle("Batch normalisation", d.batch_norm, key="build_bn", persist_state=KEEP)
        conv_dropout = st.slider("Dropout after conv blocks", 0.0, 0.9, 0.0, 0.05, key="build_conv_dropout",
                                 persist_state=KEEP)
        head = st.radio("Head", HEADS, horizontal=True, key="build_head", persist_state=KEEP,
                        format_func={"flatten": "flatten", "global_avg": "global average"}.get)
    with c3:
        dense_layers = st.slider("Dense layers", *INT_LIMITS["dense_layers"], d.dense_layers,
                                 key="build_dense", persist_state=KEEP)
        dense_units = st.select_slider("Nodes per dense layer", [16, 32, 50, 64, 128, 256, 512, 1024],
                                       d.dense_units, key="build_nodes", persist_state=KEEP)
        dropout = st.slider("Dropout after dense layers", 0.0, 0.9, d.dropout, 0.05, key="build_dropout",
                            persist_state=KEEP)
        optimizer = st.selectbox("Optimiser", OPTIMIZERS, key="build_optimizer", persist_state=KEEP,
                                 format_func={"adam": "Adam", "sgd_nesterov": "SGD with Nesterov momentum",
                                              "rmsprop": "RMSprop"}.get)
        loss = st.selectbox("Loss", LOSSES, key="build_loss", persist_state=KEEP)
    return ModelConfig(
        conv_layers=conv_layers, filters=filters, filter_growth=growth, kernel_size=kernel, activation=activation,
        pooling=pooling, batch_norm=batch_norm, conv_dropout=conv_dropout, dense_layers=dense_layers,
        dense_units=dense_units, dropout=dropout, head=head, optimizer=optimizer, loss=loss,
    )


def _made_for_missing_data(preset: presets.Preset | None, ds: datasets.Dataset) -> bool:
    """Say "get CIFAR-10 first" (with a link) when the preset was made for data not on this machine and
    does not fit the data chosen, instead of a layer-shape error about the other data's images."""
    wanted = preset.training.get("dataset") if preset else None
    if not wanted or wanted == ds.name:
        return False
    try:
        here, name = stored.is_present(wanted), stored.title(wanted)
    except InvalidArgument:  # not a built-in (seed 004's cats and dogs): the class imports those photos as a zip
        here, name = False, wanted.replace("_", " ")
    if here:
        return False
    try:
        preset.config.validate(ds.input_shape, ds.num_classes)
        return False  # it fits the data chosen: the page goes on, the notebook's figure is labelled as such
    except InvalidArgument:
        pass
    st.info(f"This network was made for {name}, which is not on this machine yet, and does not "
            f"fit the {stored.title(ds.name)} images ({'×'.join(map(str, ds.input_shape))}). Get "
            f"{name} first, or choose another network.", icon=":material/download:")
    st.page_link("app_pages/datasets.py", label=f"Get {name} on the Datasets page", icon=":material/photo_library:")
    return True


def _summary(config: ModelConfig, ds: datasets.Dataset, *, pooling_note: bool = False) -> bool:
    """Show the layer table; False when the network does not fit the data."""
    with friendly_errors("The summary"):
        table = config.validate(ds.input_shape, ds.num_classes)
        tables.parameter_metrics(table)
        left, right = st.columns([3, 2])
        tables.layer_table(table, key="train_summary", where=left)
        left.caption(shapes.BATCH_AXIS_NOTE)
        log = right.toggle("Log scale", False, key="train_param_log",
                           help="Small layers stay visible next to big ones; the bars then stand side by side.")
        right.plotly_chart(model_plots.param_bars(table, log_scale=log, title="Where the parameters are"),
                           key="train_param_bars")
        if pooling_note:
            layerbuilder.pooling_note(config, ds.input_shape, ds.num_classes)
        return True
    return False


def _training_options(ds: datasets.Dataset, config: ModelConfig | None,
                      preset: presets.Preset | None) -> TrainSpec | None:
    """The training settings (drawn even while the network is not usable, config None) and their spec, or None."""
    t = preset.training if preset else {}
    same_data = preset is not None and t.get("dataset") == ds.name
    tag = f"{preset.name if preset else 'own'}_{ds.name}"  # new defaults when the preset or data change
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    c1, c2, c3 = st.columns(3)
    with c1:
        epochs = checked_number("Epochs", 1, 500, int(t.get("epochs", 5)), key=f"train_epochs_{tag}")
        batch = st.select_slider("Batch size", [8, 16, 32, 64, 100, 128, 256, 512],
                                 int(t.get("batch_size", 32)), key=f"train_batch_{tag}", persist_state=KEEP)
        lr = checked_number("Learning rate", 1e-5, 1.0, 0.001 if config is None else float(config.learning_rate),
                            format="%.5f", key=f"train_lr_{tag}")
        seed = checked_number("Random seed", 0, 2**31 - 1, 0, key="train_seed",
                              help="The same seed and settings give the same run.")
    with c2:
        train_size = checked_number(f"Training images (of {n_train:,})", min(20, n_train), n_train,
                                    min(n_train, int(t["train_size"])) if same_data else min(n_train, 10_000),
                                    key=f"train_size_{tag}")
        test_size = checked_number(f"Test images (of {n_test:,})", min(10, n_test), n_test,
                                   min(n_test, int(t["test_size"])) if same_data else min(n_test, 2_000),
                                   key=f"test_size_{tag}")
        val = st.slider("Validation share of the training images", 0.0, 0.5,
                        float(t.get("validation_fraction", 0.25)), 0.05, key=f"train_val_{tag}", persist_state=KEEP)
        selection = datachoice.pick_selection(datachoice.preset_selection(preset, same_data),
                                              key=f"train_selection_{tag}")
        scaling = st.radio("Scaling", list(SCALINGS), horizontal=True, key=f"train_scaling_{tag}", persist_state=KEEP,
                           index=list(SCALINGS).index(t.get("scaling", "unit")),
                           format_func={"unit": "[0, 1]", "symmetric": "[-1, 1]", "standardize": "standardise"}.get)
    with c3:
        class_weights = st.toggle("Class weights (balanced)", False, key="train_class_weights", persist_state=KEEP)
        keep_best = st.toggle("Keep the best validation weights", bool(t.get("keep_best_weights", False)),
                              key=f"train_keep_best_{tag}", persist_state=KEEP, disabled=val == 0)
        early = st.toggle("Early stopping", False, key="train_early", persist_state=KEEP, disabled=val == 0)
        patience = checked_number("Patience (epochs)", 1, 50, 3, key="train_patience", disabled=not early)
        with st.expander("Augmentation"):
            seed_aug = t.get("augment") or {}
            rotation = st.slider("Rotate up to ± degrees", 0, 180, int(seed_aug.get("rotation", 0)),
                                 key=f"aug_rotation_{tag}", persist_state=KEEP)
            flip = st.selectbox("Flip", augment.FLIPS, index=augment.FLIPS.index(seed_aug.get("flip", "none")),
                                key=f"aug_flip_{tag}", persist_state=KEEP)
            shift = st.slider("Shift up to ±", 0.0, 0.5, float(seed_aug.get("translate", 0.0)), 0.05,
                              key=f"aug_shift_{tag}", persist_state=KEEP)
            zoom = st.slider("Zoom up to ±", 0.0, 0.5, float(seed_aug.get("zoom", 0.0)), 0.05,
                             key=f"aug_zoom_{tag}", persist_state=KEEP)
    if config is None or None in (epochs, lr, seed, train_size, test_size, patience):
        return None  # a box holds a value outside its range: said under it, and Train waits for it
    aug = augment.AugmentConfig(rotation=float(rotation), flip=flip, translate=shift, zoom=zoom, seed=int(seed))
    spec = TrainSpec(
        model=config.replace(learning_rate=float(lr)), dataset=ds.name,
        train_size=int(train_size), test_size=int(test_size), validation_fraction=float(val), scaling=scaling,
        augment=None if aug.is_identity else aug, class_weights=class_weights, epochs=int(epochs),
        batch_size=int(batch), early_stopping=early and val > 0, patience=int(patience),
        keep_best=keep_best and val > 0, seed=int(seed), preset=preset.name if preset else None,
        selection=selection,
    )
    try:
        spec.validate(num_classes=ds.num_classes)  # e.g. too few images for a stratified validation split
    except InvalidArgument as err:
        st.error(plain_text(str(err)))
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
        default = FAST if stored.is_present("cifar10") else PRESET  # the fast presets need CIFAR-10
        source = st.segmented_control("Start from", [FAST, PRESET, BUILDER, LAYERS], default=default,
                                      key=SOURCE_KEY, persist_state=KEEP, bind=URL) or default
        if source == FAST:
            preset = _fast_preset()
            config = preset.config
        elif source == LAYERS:
            config, preset = layerbuilder.layer_by_layer(ds.input_shape, ds.num_classes), None
            if config is not None:  # None: a layer's box is out of its range (said there); nothing to show yet
                st.markdown("###### For your data")
        else:
            config, preset = _preset_config(ds) if source == PRESET else (_builder_config(), None)
        # says how to get missing weights, whatever the data
        weights_ready = config is not None and layerbuilder.weights_ready(config)
        fits = config is not None and (not _made_for_missing_data(preset, ds)
                                       and _summary(config, ds, pooling_note=source == BUILDER) and weights_ready)
        if source == PRESET:
            _notebook_networks(preset)
        st.subheader("3. Training")
        spec = _fast_training(ds, preset) if source == FAST else _training_options(ds, config, preset)
        if spec is not None and source != FAST:
            datachoice.show_set_up(ds, spec)
        if st.button("Train", type="primary", key="train_start", icon=":material/play_arrow:",
                     disabled=busy or not fits or spec is None,
                     help="One training at a time per student." if spec is not None
                     else "Train waits until the settings above are usable (see the notes there)."):
            jobs.submit_training(spec, ds)
            st.rerun()  # redraw with the Train button disabled and the live panel
    panel.training_panel()


main()
