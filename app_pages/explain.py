"""Explain: what a trained run looks at and how to fool it. Saliency (gradients, SmoothGrad, Integrated
Gradients with its completeness check) beside Grad-CAM, occlusion, FGSM/PGD and the accuracy against ε,
one neuron's arithmetic on the real network, what a filter or class looks for (activation maximisation) and
the test images' embeddings."""

import numpy as np
import streamlit as st

from cnnviz.app import boundary, caches, identity, imagesource
from cnnviz.app.report import pin_button
from cnnviz.app import explain as explain_cache
from cnnviz.app.actmax import actmax_tab
from cnnviz.app.embeddings import embeddings_tab
from cnnviz.app.numbers import checked_number
from cnnviz.app.pickers import tested_answer_caption
from cnnviz.app.remember import KEEP, remembered_tabs
from cnnviz.app.state import keep_choice_valid
from cnnviz.data import images
from cnnviz.inspect import adversarial, neuron, occlusion, robustness, saliency
from cnnviz.plots import explain as explain_figs
from cnnviz.plots.common import image_grid
from cnnviz.runs import store as runs


RUN_KEY, SOURCE_KEY, INDEX_KEY = "explain_run", "explain_source", "explain_index"
TEST_IMAGE, UPLOAD = "A test image", "Your own picture"
TABS = ("Saliency", "Occlusion", "Fooling the network", "One neuron", "What a filter looks for", "Embeddings")
METHOD_LABELS = {"fgsm": "FGSM (one step)", "pgd": "PGD (several steps)"}


def _pick_image(info: runs.RunInfo, input_shape) -> tuple[np.ndarray | None, str, int | None, int | None]:
    """The image to explain (uint8, the run's input size), a caption, its true class and its test image number
    when it is a test image (as on Inside the network)."""
    source = imagesource.source_radio("Image", [TEST_IMAGE], upload=UPLOAD, key=SOURCE_KEY)
    if source == TEST_IMAGE:
        data = caches.run_test_set(info)
        n = len(data["y"])
        # Checked here, not by Streamlit: a number outside the range (e.g. kept from a run with more test
        # images) is said under the box, and no picture is drawn for another number.
        index = checked_number(f"Test image (0 to {n - 1})", 0, n - 1, 0, key=INDEX_KEY)
        if index is None:
            return None, "", None, None
        truth = int(data["y"][index])
        truly = images.plain_name(data["class_names"][truth])  # a folder's name, as typed
        return data["x"][index], f"Test image #{index}: truly {truly}", truth, index
    pictures = imagesource.own_pictures(source, upload=UPLOAD, upload_key="explain_upload",
                                        camera_key="explain_camera",
                                        upload_label="Your picture (JPEG, PNG, WebP, BMP or GIF)",
                                        empty_note="Choose a picture to upload, or explain a test image.")
    if not pictures:
        return None, "", None, None
    picture = pictures[0]
    loaded = caches.inspect_upload(picture.data, picture.name, input_shape)
    for note in loaded.notes:
        st.caption(note)
    return loaded.array, f"{images.plain_name(picture.name)} ({loaded.format})", None, None


def _class_picker(key: str, class_names, predicted: int):
    keep_choice_valid(key, [None, *range(len(class_names))])
    return st.selectbox("Explain the class", [None, *range(len(class_names))], key=key, persist_state=KEEP,
                        format_func=lambda c: f"the predicted one ({class_names[predicted]})" if c is None
                        else class_names[c])


def _saliency_tab(info, image, layers, class_names, predicted: int) -> None:
    cls = _class_picker("explain_sal_class", class_names, predicted)
    c1, c2, c3, c4 = st.columns(4)
    samples = c1.select_slider("SmoothGrad samples", [5, 10, 20, 40], 20, key="explain_samples", persist_state=KEEP)
    noise = c2.select_slider("SmoothGrad noise", [0.05, 0.1, 0.15, 0.2, 0.3], 0.15, key="explain_noise",
                             persist_state=KEEP)
    steps = c3.select_slider("Integrated Gradients steps", [8, 16, 32, 64, 128], 32, key="explain_steps",
                             persist_state=KEEP)
    baseline = c4.radio("Baseline", list(saliency.BASELINES), key="explain_baseline", persist_state=KEEP,
                        format_func={"black": "a black image", "blurred": "a blurred copy"}.get)
    maps = {"gradients": explain_cache.attribution(info, image, method="gradients", class_index=cls),
            "SmoothGrad": explain_cache.attribution(info, image, method="smoothgrad", class_index=cls,
                                                    samples=samples, noise=noise),
            "Integrated Gradients": explain_cache.attribution(info, image, method="integrated", class_index=cls,
                                                              steps=steps, baseline=baseline)}
    heats = {name: a.heat for name, a in maps.items()}
    if layers["last_conv"] is not None:
        heats["Grad-CAM"] = caches.gradcam_heatmap(info, image, class_index=cls, layer=layers["last_conv"])
    fig = explain_figs.heat_figure(image, heats)
    st.plotly_chart(fig, key="explain_saliency")
    ig = maps["Integrated Gradients"]
    shown = images.plain_name(class_names[ig.class_index])
    gap = ig.completeness_gap
    st.markdown(f"**Completeness check** for **{shown}**: the attributions add up to **{ig.total:.4f}**; "
                f"score(image) − score(baseline) = {ig.score:.4f} − {ig.baseline_score:.4f} = "
                f"**{ig.score - ig.baseline_score:.4f}** (gap {gap:.2%}).")
    precision = info.model_config.precision
    gap_cause = ("A gap of more than a few percent means too few steps: ReLU kinks make the path's gradient jump; "
                 "more steps shrink it." if precision == "float32" else
                 f"This network computes in {precision.removeprefix('mixed_')} (8 significant bits, about 3 digits): "
                 "its scores and gradients are rounded, so a gap of a few percent can remain however many steps "
                 "are taken.")
    st.caption("Red: pixels the score of the class is most sensitive to (gradients), the same averaged over noisy "
               "copies (SmoothGrad), and each pixel's share of the score's change from the baseline (Integrated "
               "Gradients). " + gap_cause)
    pin_button(info, "explain_saliency", f"Saliency of {class_names[ig.class_index]}", fig,
               f"Integrated Gradients add up to {ig.total:.4f}; score difference {ig.score - ig.baseline_score:.4f}.")


def _occlusion_tab(info, image, class_names, predicted: int) -> None:
    cls = _class_picker("explain_occ_class", class_names, predicted)
    height, width = image.shape[:2]
    c1, c2 = st.columns(2)
    # Only sizes and strides within occlusion.MAX_PATCHES forward passes are offered (a large image needs
    # larger ones); one choice is no slider: Streamlit refuses a slider from 1 to 1.
    low = occlusion.smallest_patch(height, width)
    high = max(low, min(height, width) // 2)
    patch = low if low == high else int(c1.slider("Patch size (pixels)", low, high, min(max(4, low), high),
                                                  key="explain_patch", persist_state=KEEP))
    least = occlusion.smallest_stride(height, width, patch)
    stride = least if least == patch else int(c2.slider("Stride (pixels)", least, patch, max(least, min(2, patch)),
                                                        key="explain_stride", persist_state=KEEP))
    occ = explain_cache.occlusion_map(info, image, class_index=cls, patch=patch, stride=stride)
    fig = explain_figs.occlusion_figure(image, occ.heat)
    st.plotly_chart(fig, key="explain_occlusion")
    st.caption(f"A grey {patch}×{patch} patch slid every {stride} pixels ({len(occ.row_starts) * len(occ.col_starts)}"
               f" forward passes). Red: hiding these pixels lowers the probability of "
               f"**{images.plain_name(class_names[occ.class_index])}** ({occ.probability:.1%}) the most.")
    pin_button(info, "explain_occlusion", f"Occlusion of {class_names[occ.class_index]}", fig,
               f"A grey {patch}×{patch} patch slid every {stride} pixels.")


def _fooling_tab(info, image, class_names, label: int | None) -> None:
    """FGSM/PGD raise the loss of ``label`` (the true class of a test image; None: the predicted class)."""
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Attack", list(adversarial.METHODS), key="explain_attack", persist_state=KEEP,
                      format_func=METHOD_LABELS.get)
    eps = c2.slider("ε (grey levels of 255)", 0, 32, 4, key="explain_eps", persist_state=KEEP)
    steps = int(c3.slider("PGD steps", 1, 20, 10, key="explain_pgd_steps", persist_state=KEEP,
                          disabled=method == "fgsm"))
    result, adv_uint8 = explain_cache.attack(info, image, label=label, method=method, epsilon=float(eps), steps=steps)
    before, after = result.predicted_before, result.predicted_after
    captions = [f"{class_names[before]} ({result.probs_before[before]:.0%})", "perturbation × 10",
                f"{class_names[after]} ({result.probs_after[after]:.0%})"]
    fig = explain_figs.attack_figure(image, adv_uint8, captions)
    st.plotly_chart(fig, key="explain_adversarial")
    verdict = "The network changed its mind." if after != before else "The network kept its answer."
    st.markdown(f"Before: **{images.plain_name(class_names[before])}**; after: "
                f"**{images.plain_name(class_names[after])}**. {verdict} No pixel moved by more than {eps} "
                "grey levels.")
    pin_button(info, "explain_adversarial", f"{METHOD_LABELS[method]} with ε = {eps}", fig,
               f"Before: {class_names[before]}; after: {class_names[after]}.")
    if st.toggle("Show the test accuracy against ε", key="explain_curve", persist_state=KEEP):
        twins = explain_cache.augmented_twins(info, runs.scan(identity.person()).runs)
        curve_fig = explain_cache.epsilon_curves_chart([info, *twins], key="explain_eps_curve")
        st.caption("FGSM on each test image's true class" + (", for this run and its augmented twin" if twins else
                   " (train an augmented twin on the Robustness page to compare)") + ". Compare with the rotation "
                   "curve on the Robustness page, measured on the same test images (at most "
                   f"{robustness.SAMPLE_IMAGES:,}, evenly spaced): changes too small to see hurt more than a "
                   "quarter turn.")
        pin_button(info, "explain_eps_curve", "Test accuracy against the FGSM ε", curve_fig)


def _neuron_tab(info, image, layers) -> None:
    names = explain_cache.conv2d_layers(info)
    if not names:
        inner = sorted({c["name"].split("/")[0] for c in layers["convs"] if "/" in c["name"]})
        if inner:  # a transfer run: the backbone's convolutions are not offered here
            st.info(f"This network's convolutions are all inside its backbone {', '.join(inner)}; the arithmetic of "
                    "one neuron is shown for a network's own Conv2D layers, and it has none.")
        else:
            st.info("This network has no plain Conv2D layer whose arithmetic can be shown.")
        return
    keep_choice_valid("explain_neuron_layer", names)
    layer = st.selectbox("Convolution layer", names, key="explain_neuron_layer", persist_state=KEEP)
    io = explain_cache.layer_io(info, image, layer)
    out_h, out_w, cout = io.outputs.shape
    c1, c2, c3 = st.columns(3)
    channel = checked_number(f"Filter (0 to {cout - 1})", 0, cout - 1, 0, key="explain_neuron_channel", where=c1)
    row = checked_number(f"Row (0 to {out_h - 1})", 0, out_h - 1, 0, key="explain_neuron_row", where=c2)
    col = checked_number(f"Column (0 to {out_w - 1})", 0, out_w - 1, 0, key="explain_neuron_col", where=c3)
    if channel is None or row is None or col is None:  # said under the box: no neuron of another number
        return
    n = neuron.neuron(io, channel, row, col)
    fig = explain_figs.neuron_figure(n)
    st.plotly_chart(fig, key="explain_neuron")
    check = ("equal" + ("" if io.precision == "float32" else f" up to {io.precision} rounding")) if n.matches \
        else "NOT equal"
    st.markdown(f"Sum of the {n.products.size} products = **{n.total:.4f}**; plus the bias {n.bias:.4f} = "
                f"{n.pre_activation:.4f}; {n.activation} → **{n.value:.4f}**. Keras computed "
                f"**{n.keras_value:.4f}**: {check}.")
    st.caption(f"{io.padding!r} padding, stride {io.strides[0]}×{io.strides[1]}: this window starts at row "
               f"{n.window[0]}, column {n.window[1]} of the layer's input"
               + (" (cells marked 'pad' are the zeros of the padding)." if n.padded.any() else "."))
    pin_button(info, "explain_neuron", f"One neuron: {layer}, filter {channel}, position ({row}, {col})", fig,
               f"Keras computed {n.keras_value:.4f}; the arithmetic gives {n.value:.4f}.")
    if st.toggle("Step the position across the map (animation)", key="explain_neuron_animate"):
        spots = neuron.sweep_positions((out_h, out_w), (row, col))
        anim = explain_figs.neuron_animation_figure(io.inputs, neuron.sweep(io, channel, spots), (out_h, out_w))
        st.plotly_chart(anim, key="explain_neuron_animation")
        block = "every position" if len(spots) == out_h * out_w else f"the {len(spots)} positions around ({row}, {col})"
        st.caption(f"Play, or drag the slider: the window slides over {block} of the {out_h}×{out_w} map, and each "
                   "value the arithmetic gives fills its cell of the output map (the title compares it with Keras).")
        pin_button(info, "explain_neuron_animation", f"One neuron across the map: {layer}, filter {channel}", anim)


def _explain(info: runs.RunInfo) -> None:
    layers = caches.run_layers(info)
    class_names = info.class_names or caches.run_test_set(info)["class_names"]
    image, caption, truth, index = _pick_image(info, tuple(info.config["input_shape"]))
    if image is None:
        return
    probs = caches.image_probabilities(info, image)
    predicted = int(np.argmax(probs))
    st.plotly_chart(image_grid([image], titles=["what the network gets"], columns=1, tile_px=150),
                    key="explain_image")
    st.caption(f"{caption}. It says {images.plain_name(class_names[predicted])} ({probs[predicted]:.0%}).")
    tested = None if index is None else caches.tested_answer(info, index)
    if tested is not None:  # the answer Evaluate and the test accuracy counted
        st.caption(tested_answer_caption(info, tested, class_names))
    tabs = remembered_tabs(TABS, key="explain_tab")
    with tabs[0]:
        if tabs[0].open:
            _saliency_tab(info, image, layers, class_names, predicted)
    with tabs[1]:
        if tabs[1].open:
            _occlusion_tab(info, image, class_names, predicted)
    with tabs[2]:
        if tabs[2].open:
            _fooling_tab(info, image, class_names, truth)
    with tabs[3]:
        if tabs[3].open:
            _neuron_tab(info, image, layers)
    with tabs[4]:
        if tabs[4].open:
            actmax_tab(info)
    with tabs[5]:
        if tabs[5].open:
            embeddings_tab(info)


def main() -> None:
    st.title("Explain")
    st.write("Which pixels made a trained network choose its answer, what happens when parts are hidden, how "
             "little it takes to fool it, the arithmetic of one of its neurons, number by number, what its filters "
             "look for and where it puts the test images.")
    boundary.run_page("Explaining the network", "explain it", _explain, key=RUN_KEY)


main()
