"""Inside the network: one image through a trained run, layer by layer. Feature maps of any layer
(normalised as seed 004), the learned filters, and Grad-CAM: where the network looked to decide."""

import numpy as np
import streamlit as st

from cnnviz.app import boundary, caches, imagesource
from cnnviz.app.numbers import checked_number
from cnnviz.app.pickers import tested_answer_caption
from cnnviz.app.remember import KEEP, remembered_tabs
from cnnviz.app.state import CURRENT_RUN_KEY, INSPECT_TARGET_KEY, keep_choice_valid
from cnnviz.data import images
from cnnviz.inspect import features, topk
from cnnviz.models.config import smoothed_target
from cnnviz.plots import features as feature_figs
from cnnviz.plots import pretrained as pretrained_figs
from cnnviz.plots.common import image_grid
from cnnviz.runs import store as runs


RUN_KEY, SOURCE_KEY, INDEX_KEY = "inside_run", "inside_source", "inside_index"
SENT_KEY = "inside_sent"  # the gallery image last sent here, to say where it came from
TEST_IMAGE, UPLOAD = "A test image", "Your own picture"
NORM_LABELS = {"per_map": "each map on its own (seed 004)", "shared": "one scale for all maps"}
SCALE_LABELS = {"global": "one scale for the layer (seed 004)", "per_filter": "each filter on its own"}
TABS = ("Feature maps", "Filters", "Grad-CAM")


def _take_sent_image(items: list[runs.RunInfo]) -> None:
    """Point the widgets at an image sent from the Evaluate page's galleries."""
    target = st.session_state.pop(INSPECT_TARGET_KEY, None)
    if not target or target.get("run_id") not in {r.run_id for r in items}:
        return
    st.session_state[RUN_KEY] = st.session_state[CURRENT_RUN_KEY] = target["run_id"]
    st.session_state[SOURCE_KEY] = TEST_IMAGE
    st.session_state[INDEX_KEY] = int(target["index"])
    st.session_state[SENT_KEY] = dict(target)


def _pick_image(info: runs.RunInfo, input_shape) -> tuple[np.ndarray | None, str, int | None]:
    """The image to look at (uint8, the size of the run's training images), a caption and its test image
    number (None for the student's own picture)."""
    source = imagesource.source_radio("Image", [TEST_IMAGE], upload=UPLOAD, key=SOURCE_KEY)
    if source == TEST_IMAGE:
        data = caches.run_test_set(info)
        n = len(data["y"])
        # Checked here, not by Streamlit: a number outside the range (e.g. kept from a run with more test
        # images) is said under the box, and no picture is drawn for another number.
        index = checked_number(f"Test image (0 to {n - 1})", 0, n - 1, 0, key=INDEX_KEY)
        if index is None:
            return None, "", None
        sent = st.session_state.get(SENT_KEY)
        note = " (sent from Evaluate)" if sent == {"run_id": info.run_id, "index": index} else ""
        truly = images.plain_name(data["class_names"][data["y"][index]])  # a folder's name, as typed
        return data["x"][index], f"Test image #{index}{note}: truly {truly}", index
    pictures = imagesource.own_pictures(source, upload=UPLOAD, upload_key="inside_upload", camera_key="inside_camera",
                                        upload_label="Your picture (JPEG, PNG, WebP, BMP or GIF)",
                                        empty_note="Choose a picture to upload, or look at a test image.")
    if not pictures:
        return None, "", None
    picture = pictures[0]
    loaded = caches.inspect_upload(picture.data, picture.name, input_shape)
    for note in loaded.notes:
        st.caption(note)
    return loaded.array, f"{images.plain_name(picture.name)} ({loaded.format})", None  # name as typed, not Markdown


def _prediction(info: runs.RunInfo, image: np.ndarray, caption: str, class_names, index: int | None) -> np.ndarray:
    probs = caches.image_probabilities(info, image)
    left, right = st.columns([1, 2])
    left.plotly_chart(image_grid([image], titles=["what the network gets"], columns=1, tile_px=180),
                      key="inside_image")
    left.caption(caption)
    top = topk.top_classes(probs, class_names, 10)
    fig = pretrained_figs.topk_figure([(str(i), name, p) for i, name, p in top],
                                      title=f"It says {top[0][1]} ({top[0][2]:.0%})")
    right.plotly_chart(fig, key="inside_probs")
    tested = None if index is None else caches.tested_answer(info, index)
    if tested is not None:  # Evaluate, which sent it here, counted another answer
        right.caption(tested_answer_caption(info, tested, class_names))
    smoothing = info.model_config.label_smoothing
    if smoothing:
        target = smoothed_target(smoothing, len(probs))
        right.caption(f"This network was trained with label smoothing {smoothing:g}: it was taught to give the "
                      f"right class {target:.0%}, never 100%, so even its sure answers look modest. Read the "
                      "order of the bars as much as their length.")
    return probs


def _layer_label(layer: dict) -> str:
    shape = "×".join("any" if d is None else str(d) for d in layer["output_shape"])
    return f"{layer['name']} ({layer['type']}, {shape})"


def _feature_maps_tab(info: runs.RunInfo, image: np.ndarray, layers: dict) -> None:
    maps = {layer["name"]: layer for layer in layers["maps"]}
    if not maps:
        st.info("This network has no layer with feature maps.")
        return
    c1, c2, c3 = st.columns(3)
    keep_choice_valid("inside_layer", maps)
    name = c1.selectbox("Layer", list(maps), key="inside_layer", persist_state=KEEP,
                        format_func=lambda n: _layer_label(maps[n]))
    norm = c2.radio("Brightness", list(features.NORMALIZATIONS), key="inside_norm", persist_state=KEEP,
                    format_func=NORM_LABELS.get)
    count = c3.select_slider("Channels to show at most", [4, 8, 16, 32, 64, 128], 32, key="inside_channels",
                             persist_state=KEEP)
    fm = caches.feature_maps(info, image, name, normalization=norm, max_channels=count)
    st.plotly_chart(feature_figs.feature_map_figure(fm), key="inside_maps")
    st.caption("Each tile is one channel: bright where the filters of this layer respond strongly. With 'each map "
               "on its own' every tile is stretched to its own mean ± 2 standard deviations (seed 004), so "
               "brightness cannot be compared between tiles; with 'one scale' it can.")
    st.plotly_chart(feature_figs.channel_stats_figure(fm), key="inside_stats")
    dead = features.zero_channels(fm)
    if fm.kind in ("conv", "activation") and dead:
        st.caption(f"{dead} of {len(fm.stats)} channels are zero everywhere for this image.")


def _filters_tab(info: runs.RunInfo, layers: dict) -> None:
    convs = {layer["name"]: layer for layer in layers["convs"]}
    if not convs:
        st.info("This network has no convolution layer, so there are no filters to show.")
        return
    c1, c2, c3 = st.columns(3)
    keep_choice_valid("inside_filter_layer", convs)
    name = c1.selectbox("Convolution layer", list(convs), key="inside_filter_layer", persist_state=KEEP,
                        format_func=lambda n: f"{n} ({'×'.join(str(d) for d in convs[n]['kernel_shape'])})")
    count = c2.select_slider("Filters to show at most", [4, 8, 16, 32, 64], 16, key="inside_filter_count",
                             persist_state=KEEP)
    scale = c3.radio("Scale", list(features.FILTER_SCALES), key="inside_filter_scale", persist_state=KEEP,
                     format_func=SCALE_LABELS.get)
    in_channels = convs[name]["kernel_shape"][2]
    mode = "channels"
    if in_channels == 3:
        mode = st.radio("Show", ["rgb", "channels"], horizontal=True, key="inside_filter_mode", persist_state=KEEP,
                        format_func={"rgb": "one colour tile per filter", "channels": "each input channel"}.get)
    channels = 8 if mode == "channels" else 3
    if mode == "channels" and in_channels > 1:
        channels = st.select_slider("Input channels per filter at most", [1, 2, 4, 8, 16], 4,
                                    key="inside_filter_channels", persist_state=KEEP)
    filters = caches.layer_filters(info, name, max_filters=count, max_channels=channels, scale=scale)
    st.plotly_chart(feature_figs.filters_figure(filters, mode=mode), key="inside_filters")
    if convs[name].get("trainable", True):
        st.caption("The learned weights, min-max scaled to grey (or colour) levels: dark = most negative, "
                   "bright = most positive. A first layer on colour images often learns colour blobs and edges.")
    elif "/" in name:  # a conv inside a frozen transfer backbone
        st.caption(f"These weights were not learned in this run: {name.split('/')[0]} was frozen, so they are the "
                   "backbone's own (ImageNet's, or random when trained without them). Min-max scaled to grey (or "
                   "colour) levels: dark = most negative, bright = most positive.")
    else:  # e.g. the fast networks' whitening layer: set before training, then frozen
        st.caption(f"These weights were not learned: layer {name} is frozen, its weights were set before training "
                   "(a whitening layer's are computed from patches of the training images) and never changed. "
                   "Min-max scaled to grey (or colour) levels: dark = most negative, bright = most positive.")


def _gradcam_tab(info: runs.RunInfo, image: np.ndarray, layers: dict, probs: np.ndarray, class_names) -> None:
    if layers["last_conv"] is None:
        st.info("Grad-CAM needs a convolution layer, and this network has none.")
        return
    maps = [layer["name"] for layer in layers["maps"] if "/" not in layer["name"]]  # not inside a backbone
    predicted = int(np.argmax(probs))
    c1, c2 = st.columns(2)
    keep_choice_valid("inside_cam_class", [None, *range(len(class_names))])
    cls = c1.selectbox("Explain the class", [None, *range(len(class_names))], key="inside_cam_class",
                       persist_state=KEEP,
                       format_func=lambda c: f"the predicted one ({class_names[predicted]})" if c is None
                       else class_names[c])
    keep_choice_valid("inside_cam_layer", maps, layers["last_conv"])  # the usual choice
    layer = c2.selectbox("Feature maps of", maps, key="inside_cam_layer", persist_state=KEEP,
                         help="Grad-CAM usually explains the last convolution's maps.")
    heat = caches.gradcam_heatmap(info, image, class_index=cls, layer=layer)
    shown = predicted if cls is None else int(cls)
    st.plotly_chart(pretrained_figs.gradcam_figure(image, heat), key="inside_cam")
    st.caption(f"Red: places whose features raised the score of **{images.plain_name(class_names[shown])}** "
               f"(probability {probs[shown]:.1%}) at layer {layer}; blue: little or nothing. "
               + ("Nothing in the image speaks for this class." if not heat.any() else ""))


def _inspect(info: runs.RunInfo) -> None:
    layers = caches.run_layers(info)
    class_names = info.class_names or caches.run_test_set(info)["class_names"]
    image, caption, index = _pick_image(info, tuple(info.config["input_shape"]))
    if image is None:
        return
    probs = _prediction(info, image, caption, class_names, index)
    tabs = remembered_tabs(TABS, key="inside_tab")
    with tabs[0]:
        if tabs[0].open:
            _feature_maps_tab(info, image, layers)
    with tabs[1]:
        if tabs[1].open:
            _filters_tab(info, layers)
    with tabs[2]:
        if tabs[2].open:
            _gradcam_tab(info, image, layers, probs, class_names)


def main() -> None:
    st.title("Inside the network")
    st.write("Send one image through a trained network and look at what each layer makes of it, what its "
             "filters learned, and which places made it choose its answer.")
    boundary.run_page("Looking inside the network", "look inside it", _inspect, key=RUN_KEY,
                      before=_take_sent_image)


main()
