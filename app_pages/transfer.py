"""Transfer learning: an ImageNet backbone, frozen or not, plus a new head, trained on the chosen
dataset through the normal training job (seed 004: VGG16 frozen vs unfrozen on cats vs dogs)."""

import streamlit as st

from cnnviz.app import downloads, identity, jobs, panel, pickers, tables
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.numbers import checked_number
from cnnviz.app.remember import KEEP, URL
from cnnviz.app.state import TRANSFER_JOB_KEYS
from cnnviz.data import datasets, stored
from cnnviz.models import transfer
from cnnviz.models.backbones import (
    BACKBONES,
    BATCH_SIZE,
    FROZEN_LEARNING_RATE,
    MOBILENET_ALPHAS,
    MOBILENET_SIZES,
    UNFROZEN_LEARNING_RATE,
    WEIGHTS_OPTIONS,
    measured_at,
)
from cnnviz.models.config import ModelConfig
from cnnviz.training.spec import TrainSpec, frozen_and_unfrozen, transfer_spec
from cnnviz.weights import backbone_status


VALIDATION_FRACTION = 0.25
WEIGHTS_LABELS = {"imagenet": "ImageNet (transfer learning)", "none": "none: random start (not transfer learning)"}
ANY_SIZES = (32, 64, 96, 128, 160, 192, 224)


def _pick_dataset() -> datasets.Dataset:
    own = stored.folder_datasets(identity.person())
    return pickers.pick_dataset(key="tl_dataset", prefer=(*own, "cifar10"),
                                help="Your own folder of images (such as cats vs dogs), CIFAR-10 and others: "
                                     "get or import them on the Datasets page.")


def _network() -> ModelConfig:
    c1, c2, c3 = st.columns(3)
    backbone = c1.radio("Backbone", list(BACKBONES), key="tl_backbone", persist_state=KEEP, bind=URL,
                        format_func=lambda b: BACKBONES[b].title,
                        captions=["light: usable on a CPU", "23.6 million parameters: slow on a CPU",
                                  "14.7 million parameters, seed 004's choice: slow on a CPU"])
    weights = c2.radio("Weights", WEIGHTS_OPTIONS, key="tl_weights", persist_state=KEEP, format_func=WEIGHTS_LABELS.get)
    frozen = c3.toggle("Freeze the backbone", True, key="tl_frozen", persist_state=KEEP,
                       help="Frozen: only the new head learns. Unfrozen: the whole network learns, more slowly.")
    alpha = 0.35
    mobilenet = backbone == "mobilenetv2"
    if mobilenet:
        alpha = c1.select_slider("MobileNetV2 width α", MOBILENET_ALPHAS, 0.35, key="tl_alpha", persist_state=KEEP)
    sizes = MOBILENET_SIZES if mobilenet and weights == "imagenet" else ANY_SIZES
    size = c2.select_slider("Resize the images to", sizes, 96, key=f"tl_size_{len(sizes)}", persist_state=KEEP,
                            format_func=lambda s: f"{s}×{s}")
    return transfer.config(backbone=backbone, frozen=frozen, weights=weights, alpha=alpha, image_size=size)


def _weights_box(cfg: ModelConfig) -> bool:
    """Show whether the weights are here (and how to get them); False when training cannot start."""
    status = backbone_status(cfg)
    if not status["needed"]:
        st.warning("Random weights: the backbone starts from nothing, as your own CNN would. This is NOT "
                   "transfer learning; it is the comparison that shows what the ImageNet weights bring.",
                   icon=":material/warning:")
        return True
    if status["present"]:
        st.success(f"ImageNet weights present: {status['path']}", icon=":material/check_circle:")
        return True
    st.warning(status["message"], icon=":material/cloud_off:")
    if st.button("Download them now", key="tl_download", icon=":material/download:",
                 help="Needs the internet on the server; or run the command above once."):
        with friendly_errors("Downloading the weights"):
            downloads.transfer_download(cfg.backbone, alpha=float(cfg.alpha), image_size=cfg.image_size)
            st.rerun()
    return False


def _summary(cfg: ModelConfig, ds: datasets.Dataset) -> bool:
    with friendly_errors("The summary"):
        table = cfg.validate(ds.input_shape, ds.num_classes)
        tables.parameter_metrics(table, labels=("Parameters", "Trained", "Not trained"))
        tables.layer_table(table, key="tl_summary")
        return True
    return False


def _training(cfg: ModelConfig, ds: datasets.Dataset) -> TrainSpec | None:
    """The training settings; None while a box holds a value outside its range (said under it)."""
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    c1, c2, c3 = st.columns(3)
    epochs = checked_number("Epochs", 1, 50, 3, key="tl_epochs", where=c1)
    train_size = checked_number(f"Training images (of {n_train:,})", min(20, n_train), n_train,
                                min(n_train, 1000), key=f"tl_train_size_{ds.name}", where=c2,
                                help=f"{VALIDATION_FRACTION:.0%} of them are kept for validation.")
    test_size = checked_number(f"Test images (of {n_test:,})", min(10, n_test), n_test, min(n_test, 500),
                               key=f"tl_test_size_{ds.name}", where=c3)
    seed = checked_number("Random seed", 0, 2**31 - 1, 0, key="tl_seed", where=c1)
    if None in (epochs, train_size, test_size, seed):
        return None
    spec = transfer_spec(cfg, dataset=ds.name, train_size=int(train_size), test_size=int(test_size),
                         epochs=int(epochs), validation_fraction=VALIDATION_FRACTION, seed=int(seed))
    fitted, times = jobs.transfer_epoch_seconds(cfg, int(train_size), VALIDATION_FRACTION)
    if times[cfg.frozen] is not None:
        c2.metric("Expected time per epoch", f"≈{times[cfg.frozen]:,.0f} s",
                  help=f"Measured at {measured_at(cfg.backbone)}; other trainings on the server make it slower.")
        if None not in times.values():
            c3.caption(f"Frozen ≈{times[True]:,.0f} s, unfrozen ≈{times[False]:,.0f} s per epoch of {fitted:,} "
                       f"images (measured at {measured_at(cfg.backbone)}, scaled to this size).")
    st.caption(f"Adam, learning rate {cfg.learning_rate:g} ({FROZEN_LEARNING_RATE:g} when frozen: only the "
               f"new head learns; {UNFROZEN_LEARNING_RATE:g} when unfrozen, so the head's first large "
               "corrections do not wreck the pretrained features). Batch size "
               f"{BATCH_SIZE}; images scaled to [0, 1], which the network turns back into pixels.")
    return spec


def main() -> None:
    st.title("Transfer learning")
    st.write(
        "A network trained on 1.28 million ImageNet photos already knows edges, textures and shapes. "
        "Keep its convolutional layers (the backbone), put a new head on top for your classes, and "
        "train on a few hundred images. Seed 004 did this with VGG16 on cats vs dogs, once with the "
        "backbone **frozen** (only the head learns) and once **unfrozen** (every layer learns): "
        "train both and compare them on the Runs page."
    )
    busy = jobs.busy(TRANSFER_JOB_KEYS.values())
    with friendly_errors("Loading the data"):
        st.subheader("1. Data")
        ds = _pick_dataset()
        st.subheader("2. Backbone and head")
        cfg = _network()
        weights_ok = _weights_box(cfg)
        st.caption("Inside the network: the [0, 1] images become pixels again, grey images get three equal "
                   "channels, everything is resized to the backbone's size and preprocessed as the backbone "
                   "was trained; then global average pooling, dropout 0.2 and a softmax layer for your classes. "
                   "A frozen backbone trains nothing; an unfrozen one with ImageNet weights trains everything but its "
                   "batch normalisation layers, which keep the statistics they learned on ImageNet.")
        fits = _summary(cfg, ds)
        st.subheader("3. Training")
        spec = _training(cfg, ds)
        c1, c2 = st.columns(2)
        blocked = busy or not fits or not weights_ok or spec is None
        if c1.button("Train", key="tl_train", icon=":material/play_arrow:", disabled=blocked,
                     help="Trains the settings above."):
            jobs.submit_transfer([spec], ds)
            st.rerun()
        if c2.button("Train frozen and unfrozen", key="tl_train_both", type="primary", icon=":material/compare:",
                     disabled=blocked, help="Queues both runs, same data and seed; they appear side by side on "
                                            "the Runs page with 'frozen' and the learning rate highlighted."):
            jobs.submit_transfer(list(frozen_and_unfrozen(spec)), ds)
            st.rerun()
    panel.training_panel(list(TRANSFER_JOB_KEYS.values()),
                         titles={key: f"**{'Frozen' if is_frozen else 'Unfrozen'} backbone**"
                                 for is_frozen, key in TRANSFER_JOB_KEYS.items()})


main()
