"""Datasets: what is on this machine, how to get the rest, and a look at the images,
class balance, subsets and splits, scaling and augmentation (seed 000 Parts 5-9 and 17)."""

import streamlit as st

from cnnviz.app import caches, datachoice, downloads, identity, uploads
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.numbers import checked_number
from cnnviz.app.remember import KEEP, URL
from cnnviz.app.state import still_chosen, tick_belongs_to
from cnnviz.classroom import policy
from cnnviz.data import augment, datasets, folderdata, stored
from cnnviz.data import owners as data_owners
from cnnviz.data.folderdata import IMAGE_SIZES
from cnnviz.data.images import code_name
from cnnviz.data.scaling import SCALINGS
from cnnviz.lessons.shapes import BATCH_AXIS_NOTE, label_shapes, one_hot
from cnnviz.data.selection import FIRST_SHUFFLED, count_rows
from cnnviz.data.subsets import (
    DEFAULT_VALIDATION_FRACTION,
    SEED_TEST_SIZE,
    SEED_TRAIN_SIZE,
    class_counts,
    random_per_class,
    sample_indices,
)
from cnnviz.plots import datasets as plots


SAMPLE_SEED_KEY = "datasets_sample_seed"
AUG_SEED_KEY = "datasets_aug_seed"
MESSAGE_KEY = "datasets_message"
ZIP_REPORT_KEY = "datasets_zip_report"  # the import report, shown at the top after the rerun
CHOOSE_KEY = "datasets_choose_next"  # a dataset the picker opens on at the next run (one just made)
SOURCE_KEY = "datasets_source"
DELETE_CONFIRM_KEY = "datasets_delete_confirm"
DELETE_SHOWN_KEY = "datasets_delete_shown"  # the dataset the Delete tick was last drawn for
AUG_PREVIEW_IMAGES = 8
SCALING_SAMPLE = 256


def _status_label(info: dict) -> str:
    return f"{info['title']}: {'on this machine' if info['present'] else 'not on this machine yet'}"


def _get_data(name: str, info: dict) -> None:
    """Download button with progress, or the offline import, for a missing dataset."""
    # This is the Datasets page: not "download it on the Datasets page".
    how = info["how_to_get"].replace("on the Datasets page",
                                     "with the button below" if downloads.downloadable(name) else "here")
    st.warning(f"{info['title']} is not on this machine yet. {how}")
    if downloads.downloadable(name):
        if st.button(f"Download {info['title']}", key="datasets_download", icon=":material/download:"):
            with friendly_errors("The download"):
                st.session_state[MESSAGE_KEY] = downloads.download_dataset(name)
                st.rerun()


def _import_cifar10() -> None:
    with st.expander("Install CIFAR-10 from a file already on the server (offline classrooms)"):
        st.write(
            "Uploading is not practical for the 170 MB archive (this server accepts uploads of a few MB). "
            "Copy `cifar-10-binary.tar.gz` (or an extracted `cifar-10-batches-bin/` folder) onto the "
            "server and run `python -m cnnviz data import cifar10 PATH` there. "
            "The files are checked record by record; a rebuilt copy is fine.")
        if not datasets.server_paths_allowed():
            st.caption(f"To type the path here instead, start the app with `{datasets.SERVER_PATHS_ENV}=1` "
                       "(off by default so that students on a shared server cannot browse its files).")
            return
        if not identity.person().is_teacher:  # it replaces the class's CIFAR-10, and its answers map the server's files
            st.caption("Only the teacher can install CIFAR-10 from a file on the server.")
            return
        path = st.text_input("Path on the server", key="datasets_import_path", persist_state=KEEP)
        if st.button("Import", key="datasets_import", disabled=not path.strip()):
            with friendly_errors("The import"):
                st.session_state[MESSAGE_KEY] = downloads.import_cifar10(path.strip())
                st.rerun()


def _import_zip() -> None:
    with st.expander("Make a dataset from your own images (a zip of class folders)"):
        st.write("One folder per class, e.g. `cats/001.jpg` … and `dogs/001.jpg` …, zipped. "
                 "At least 2 classes with 10 images each; other files are skipped and listed.")
        upload = uploads.uploader("Zip file", type=["zip"], key="datasets_zip")
        name = st.text_input("Name for the dataset", value="my_images", key="datasets_zip_name", persist_state=KEEP)
        size = st.select_slider("Image size (pixels)", options=IMAGE_SIZES, value=64,
                                key="datasets_zip_size", persist_state=KEEP)
        mode = st.radio("Colours", ["RGB", "L"], horizontal=True, key="datasets_zip_mode", persist_state=KEEP,
                        format_func=lambda m: "colour" if m == "RGB" else "grey")
        st.caption(folderdata.size_note(size, mode))
        if st.button("Make dataset", key="datasets_zip_import", disabled=upload is None):
            with friendly_errors("The zip import"):
                report = downloads.import_folder_zip(upload.getvalue(), name=name.strip(), image_size=size, mode=mode,
                                                     owner=identity.person())
                st.session_state[ZIP_REPORT_KEY] = report
                st.session_state[CHOOSE_KEY] = report["name"]
                st.rerun()  # the picker at the top offers (and opens) the new dataset at once


def _zip_report(report: dict) -> None:
    # Names from the zip in code spans: `__init__` is not bold, nothing becomes a link or an icon.
    st.success(f"Made {report['name']}: {report['train']} training and {report['test']} test "
               f"images in classes {', '.join(code_name(c) for c in report['class_names'])}.")
    for warning in report["warnings"]:
        st.warning(warning)
    if report["skipped_count"]:
        st.info(f"{report['skipped_count']} files were skipped:\n\n" + "\n".join(
            f"- {code_name(n)}: {why}" for n, why in report["skipped"]))


def _overview(ds: datasets.Dataset) -> None:
    h, w, c = ds.input_shape
    cols = st.columns(4)
    cols[0].metric("Training images", f"{len(ds.y_train):,}")
    cols[1].metric("Test images", f"{len(ds.y_test):,}")
    cols[2].metric("Image size", f"{h}×{w}×{c}")
    cols[3].metric("Classes", ds.num_classes)
    counts = {"train": class_counts(ds.y_train, ds.num_classes),
              "test": class_counts(ds.y_test, ds.num_classes)}
    st.plotly_chart(plots.class_counts_bar(counts, ds.class_names, title="Images per class"), key="datasets_counts")


def _samples(ds: datasets.Dataset) -> None:
    st.subheader("Random images of each class")
    left, right = st.columns([3, 1])
    per_class = left.slider("Images per class", 1, 10, 3, key="datasets_per_class", persist_state=KEEP)
    if right.button("Reshuffle", key="datasets_reshuffle", icon=":material/shuffle:"):
        st.session_state[SAMPLE_SEED_KEY] = st.session_state.get(SAMPLE_SEED_KEY, 0) + 1
    seed = st.session_state.get(SAMPLE_SEED_KEY, 0)
    groups = random_per_class(ds.y_train, per_class, num_classes=ds.num_classes, seed=seed)
    images = [[ds.x_train[i] for i in group] for group in groups]
    st.plotly_chart(plots.samples_per_class(images, ds.class_names), key="datasets_samples")


def _inspect(ds: datasets.Dataset) -> None:
    st.subheader("One image, pixel by pixel")
    index = checked_number(f"Training image number (0 to {len(ds.y_train) - 1:,})", 0, len(ds.y_train) - 1, 0,
                           key=f"datasets_inspect_{ds.name}")
    if index is None:  # said under the box: no picture of another image
        return
    image = ds.x_train[int(index)]
    st.write(f"Class {code_name(ds.class_names[int(ds.y_train[int(index)])])}, values "  # a folder's name, as typed
             f"{int(image.min())}..{int(image.max())} (uint8, 0 = dark, 255 = bright).")
    left, right = st.columns([1, 3])
    left.plotly_chart(plots.mosaic([[image]], [ds.class_names[int(ds.y_train[int(index)])]], tile_px=160),
                      key="datasets_one_image")
    right.plotly_chart(plots.channel_values(image), key="datasets_channels")
    st.plotly_chart(plots.pixel_histogram(image, title="Pixel values of this image"), key="datasets_image_hist")
    _label(ds, int(ds.y_train[int(index)]))


def _label(ds: datasets.Dataset, label: int) -> None:
    """Seed 000 Part 9, seed 002 1.3.3: the label as the network gets it; Q16: shapes, batch first."""
    vector = one_hot(label, ds.num_classes).astype(int).tolist()
    st.markdown(f"**Its label as the network gets it:** class number {label} → one-hot "
                f"`{vector}` (`to_categorical`: a 1 in position {label}, {code_name(ds.class_names[label])}, "
                f"0 elsewhere; one position per class).")
    st.dataframe(label_shapes(len(ds.y_train), ds.num_classes, ds.input_shape, dataset=ds.name), hide_index=True,
                 key="datasets_label_shapes")
    st.caption(BATCH_AXIS_NOTE)


def _split_and_scale(ds: datasets.Dataset) -> None:
    st.subheader("Subset, validation split and scaling")
    st.write("Seed 000 trains on the first 10,000 CIFAR-10 images, tests on the first 2,000 and keeps 25% of "
             "the training images for validation, split off at random but not stratified: its classes are uneven "
             "(Part 5 prints the counts). cnnviz can instead draw a random subset with every class in its share.")
    selection = datachoice.pick_selection(FIRST_SHUFFLED if ds.name == "cifar10" else None,
                                          key=f"datasets_selection_{ds.name}")
    cols = st.columns(4)
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    train_size = checked_number("Training subset", ds.num_classes * 2, n_train, min(SEED_TRAIN_SIZE, n_train),
                                step=100, key=f"datasets_train_size_{ds.name}", where=cols[0])
    test_size = checked_number("Test subset", ds.num_classes, n_test, min(SEED_TEST_SIZE, n_test),
                               step=100, key=f"datasets_test_size_{ds.name}", where=cols[1])
    fraction = cols[2].slider("Validation fraction", 0.05, 0.5, DEFAULT_VALIDATION_FRACTION, 0.05,
                              key="datasets_val_fraction", persist_state=KEEP)
    seed = checked_number("Seed", 0, 10_000, 0, key="datasets_split_seed", where=cols[3])
    if None in (train_size, test_size, seed):
        return  # the box says what is wrong; no table of numbers the boxes do not show
    opts = dict(train_size=int(train_size), test_size=int(test_size), seed=int(seed))
    rows = count_rows(ds.y_train, ds.y_test, ds.class_names, validation_fraction=fraction, selection=selection, **opts)
    st.dataframe(rows, hide_index=True, key="datasets_split_table", height=35 * (len(rows) + 1) + 3,
                 column_config={"weight": st.column_config.NumberColumn("class weight (balanced)", format="%.3f"),
                                "subset": st.column_config.NumberColumn("before the split")})
    per_class = rows[:-1]
    st.plotly_chart(plots.class_counts_bar(
        {s: [r[s] for r in per_class] for s in ("train", "validation", "test")}, ds.class_names,
        stacked=True, title="Images per class after subset and split"), key="datasets_split_chart")

    method = st.radio("Scaling", list(SCALINGS), key="datasets_scaling", persist_state=KEEP, horizontal=True,
                      format_func=lambda m: SCALINGS[m])
    preview = caches.scaling_preview(ds, method, validation_fraction=fraction, sample=SCALING_SAMPLE,
                                     selection=selection, **opts)
    if preview["stats"]:
        st.caption("Training mean per channel: " + ", ".join(f"{m:.1f}" for m in preview["stats"]["mean"])
                   + "; std: " + ", ".join(f"{s:.1f}" for s in preview["stats"]["std"]))
    st.plotly_chart(plots.scaling_histograms(preview["raw"], preview["scaled"], method_label=SCALINGS[method]),
                    key="datasets_scaling_hist")


#: The preview's starting values, and where each set-up comes from (the text names the one shown).
SEED002_AUGMENT = dict(datasets_aug_rotation=0, datasets_aug_flip="horizontal", datasets_aug_translate=0.1,
                       datasets_aug_zoom=0.0)
SEED000_AUGMENT = dict(datasets_aug_rotation=30, datasets_aug_flip="horizontal_and_vertical",
                       datasets_aug_translate=0.0, datasets_aug_zoom=0.0)


def _augmentation(ds: datasets.Dataset) -> None:
    st.subheader("Augmentation preview")
    st.write("Random changes to each training image every epoch, made by Keras preprocessing layers: the same "
             "pipeline training uses. It starts on seed 002's set-up (shifts up to ±10% and left-right flips, "
             "notebook 1.6); seed 000 Part 17 rotated up to ±30° and flipped both ways.")
    if not st.toggle("Show the preview (loads TensorFlow, a few seconds the first time)",
                     key="datasets_aug_on", persist_state=KEEP):
        return
    left, right = st.columns(2)
    left.button("Seed 002's set-up (1.6)", key="datasets_aug_seed002", on_click=st.session_state.update,
                kwargs=SEED002_AUGMENT, icon=":material/school:")
    right.button("Seed 000 Part 17's set-up", key="datasets_aug_seed000", on_click=st.session_state.update,
                 kwargs=SEED000_AUGMENT, icon=":material/school:")
    cols = st.columns(4)
    rotation = cols[0].slider("Rotation ±degrees", 0, 180, 0, key="datasets_aug_rotation", persist_state=KEEP)
    flip = cols[1].selectbox("Flip", augment.FLIPS, index=1, key="datasets_aug_flip", persist_state=KEEP)
    translate = cols[2].slider("Shift ±fraction", 0.0, 0.5, 0.1, 0.05, key="datasets_aug_translate",
                               persist_state=KEEP)
    zoom = cols[3].slider("Zoom ±fraction", 0.0, 0.5, 0.0, 0.05, key="datasets_aug_zoom", persist_state=KEEP)
    if st.button("Reroll", key="datasets_aug_reroll", icon=":material/casino:"):
        st.session_state[AUG_SEED_KEY] = st.session_state.get(AUG_SEED_KEY, 0) + 1
    seed = st.session_state.get(AUG_SEED_KEY, 0)
    with friendly_errors("The augmentation preview"):
        cfg = augment.AugmentConfig(rotation=float(rotation), flip=flip, translate=translate, zoom=zoom)
        idx = sample_indices(len(ds.y_train), AUG_PREVIEW_IMAGES, seed=0)
        after = augment.preview(ds.x_train[idx], cfg, seed=seed)
        st.plotly_chart(plots.before_after(ds.x_train[idx], after, title=cfg.describe(),
                                           captions=[ds.class_names[int(ds.y_train[i])] for i in idx]),
                        key="datasets_aug_chart")


def _delete_import(name: str, wanted: str | None) -> None:
    """A Delete for an imported dataset its owner (or the teacher) may remove; the backend checks again.
    ``wanted``: the dataset chosen before the picker was drawn (gone meanwhile: nothing is deleted)."""
    me = identity.person()
    if not policy.can_change(me, data_owners.owner(name)):
        return
    left, right = st.columns([3, 1])
    tick_belongs_to(name, confirm_key=DELETE_CONFIRM_KEY, shown_key=DELETE_SHOWN_KEY)
    confirm = left.checkbox(f"Yes, delete {stored.title(name)}", key=DELETE_CONFIRM_KEY)
    clicked = right.button("Delete dataset", key="datasets_delete", disabled=not confirm, icon=":material/delete:")
    if clicked and not still_chosen(wanted, name):
        right.warning("The dataset you chose is gone (deleted in another tab?): nothing was deleted.")
    elif clicked:
        with friendly_errors("Deleting the dataset"):
            datasets.remove(name, by=me)
            caches.forget_datasets()
            st.session_state.pop(DELETE_CONFIRM_KEY, None)
            st.session_state[MESSAGE_KEY] = f"Deleted {stored.title(name)}."
            st.rerun()


def main() -> None:
    st.title("Datasets")
    st.write("Every page trains and tests on one of these. Pick one to see what is in it.")
    statuses = {s["name"]: s for s in stored.status(identity.person())}
    made = st.session_state.pop(CHOOSE_KEY, None)
    if made in statuses:
        st.session_state[SOURCE_KEY] = made
    elif SOURCE_KEY not in st.session_state and statuses.get("cifar10", {}).get("present"):
        st.session_state[SOURCE_KEY] = "cifar10"  # the lab's dataset, when it is here
    wanted = st.session_state.get(SOURCE_KEY)  # before the picker replaces a dataset deleted meanwhile
    name = st.selectbox("Dataset", list(statuses), key=SOURCE_KEY, persist_state=KEEP, bind=URL,
                        format_func=lambda n: _status_label(statuses[n]))
    info = statuses[name]
    st.caption(info["detail"])
    if MESSAGE_KEY in st.session_state:
        st.success(st.session_state.pop(MESSAGE_KEY))
    if ZIP_REPORT_KEY in st.session_state:
        _zip_report(st.session_state.pop(ZIP_REPORT_KEY))
    ds = None
    if not info["present"]:
        _get_data(name, info)
    else:
        with friendly_errors("Loading the dataset"):
            ds = caches.load_dataset(name, identity.person())
    if ds is not None:
        for section in (_overview, _samples, _inspect, _split_and_scale, _augmentation):
            with friendly_errors("This part of the page"):
                section(ds)
    if name.startswith(stored.FOLDER_PREFIX) and info["present"]:
        _delete_import(name, wanted)
    if name == "cifar10":
        _import_cifar10()
    _import_zip()


main()
