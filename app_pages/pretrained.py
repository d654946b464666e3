"""Pretrained ResNet50: the student's own photos through a network trained on ImageNet (seed 000, Part 22)."""

import streamlit as st

from cnnviz.app import caches, downloads, imagesource
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.remember import KEEP, URL, remembered_tabs
from cnnviz.data import images
from cnnviz.errors import Unavailable
from cnnviz.inspect import pretrained
from cnnviz.inspect.imagenet import depth_explanation, hessian_note
from cnnviz.markup import plain_text
from cnnviz.models.resnet50 import IMAGENET_MEAN_BGR
from cnnviz.plots import pretrained as figs


SOURCES = ("Sample photos",)  # then Upload and Camera
TABS = ("Your photos", "The model", "CIFAR-10 bridge")
CIFAR_COUNT = 6


def _photos(source: str) -> list[pretrained.Photo]:
    """The photos the student picked, with the loader's messages shown for the bad ones."""
    if source == "Sample photos":
        samples = caches.sample_photos()
        chosen = st.multiselect("Bundled photos (from scikit-learn)", list(samples), default=list(samples),
                                key="pre_samples", persist_state=KEEP)
        return [pretrained.Photo(name=n, array=samples[n]) for n in chosen]
    pictures = imagesource.own_pictures(source, upload_key="pre_upload", camera_key="pre_camera", multiple=True,
                                        upload_label=f"Your photos (up to {pretrained.MAX_IMAGES} at a time)",
                                        max_files=pretrained.MAX_IMAGES,  # the rest: let go, not held unread
                                        empty_note="")  # the tab says what to do when there is no photo
    photos, messages = caches.load_photos([(p.name, p.data) for p in pictures or []])
    for message in messages:
        st.error(plain_text(message))  # they name the student's files
    return photos


def _photos_tab(clf) -> None:
    source = imagesource.source_radio("Photos from", SOURCES, key="pre_source", bind=URL)
    photos = _photos(source)
    top = st.slider("Classes to list", 1, 10, 5, key="pre_top", persist_state=KEEP)
    if not photos:
        st.info("Choose, upload or take a photo to see what ResNet50 says about it.")
        return
    if clf is None:
        st.info("The predictions need ResNet50's ImageNet weights: see the note at the top of the page.")
        return
    with friendly_errors("Classifying the photos"):
        results = caches.classify_photos(clf, [p.array for p in photos], top=top)
        for i, (photo, result) in enumerate(zip(photos, results)):
            best = result.top[0]
            # The name is the student's browser's: shown as typed, never as Markdown.
            st.subheader(f"{images.plain_name(photo.name)}: {best[1].replace('_', ' ')} ({best[2]:.1%})")
            for note in photo.notes:
                st.caption(note)
            left, right = st.columns(2)
            left.plotly_chart(figs.topk_figure(result.top, title=f"Top {top} of 1,000 classes"),
                              key=f"pre_top_{i}")
            right.plotly_chart(figs.gradcam_figure(result.prepared.resized, result.heatmap),
                               key=f"pre_cam_{i}")
            with st.expander("What the network's input looks like"):
                st.plotly_chart(figs.preprocessing_figure(result.prepared), key=f"pre_prep_{i}")
                st.caption(
                    "keras.applications.resnet50.preprocess_input: the photo is squeezed to "
                    f"{clf.input_size[0]}×{clf.input_size[1]}, its channels reordered to B, G, R and the "
                    f"ImageNet mean of each channel {IMAGENET_MEAN_BGR} subtracted, "
                    "as when ResNet50 was trained (in Caffe)."
                )
        st.caption(
            "The bars are the softmax probabilities of the most likely of ImageNet's 1,000 classes; the "
            "rest of the probability is spread over the other classes. Grad-CAM colours the places "
            "whose features raised the top class's score (red) at the last convolution, 7×7 cells "
            "upsampled to the input."
        )


def _model_tab() -> None:
    facts, stages = caches.resnet50_facts()
    cols = st.columns(4)
    cols[0].metric("Conv2D layers", facts["conv_layers"])
    cols[1].metric("Depth (layers with weights)", facts["weighted_depth"])
    cols[2].metric("Parameters", f"{facts['total_params']:,}")
    cols[3].metric("Input", "×".join(str(d) for d in facts["input_shape"]))
    st.write(depth_explanation(facts))
    st.write(
        f"Of the {facts['total_params']:,} parameters, {facts['trainable_params']:,} are trained by "
        f"gradient descent; the other {facts['non_trainable_params']:,} are batch normalisation's "
        "running means and variances, updated by averaging rather than by gradients."
    )
    st.write(hessian_note(facts))
    st.dataframe(stages, hide_index=True, key="pre_stages", column_config={
        "conv_layers": "Conv2D layers",
        "output_shape": "output shape",
        "params": st.column_config.NumberColumn("parameters", format="localized"),
    })
    st.plotly_chart(figs.stage_params_figure(stages), key="pre_stage_params")


def _cifar_tab(clf) -> None:
    st.write(
        "What does ResNet50 make of a CIFAR-10 image? Each 32×32 picture is blown up 7× to 224×224. "
        "It struggles for two reasons: the blow-up is a blur without the fine texture its first "
        "layers learned from full-size photos, and its 1,000 ImageNet classes are not CIFAR-10's ten: "
        "there is no 'automobile', 'bird' or 'dog', but 'sports car', 'goldfinch' and over a hundred "
        "dog breeds. Transfer learning keeps its features and trains a new 10-class head instead."
    )
    try:
        picked = caches.cifar_bridge_images(CIFAR_COUNT, 0)
    except Unavailable as err:
        st.info(str(err))
        return
    if clf is None:
        st.info("The predictions need ResNet50's ImageNet weights: see the note at the top of the page.")
        return
    with friendly_errors("Classifying the CIFAR-10 images"):
        results = caches.classify_photos(clf, [img for img, _ in picked], top=3, explain=False)  # no heat maps here
        cols = st.columns(3)
        for i, ((img, truth), result) in enumerate(zip(picked, results)):
            with cols[i % 3]:
                st.image(result.prepared.resized, caption=f"CIFAR-10 says: {truth}", width=180)
                st.markdown("  \n".join(f"{label.replace('_', ' ')}: {p:.1%}" for _, label, p in result.top))


def main() -> None:
    st.title("Pretrained ResNet50")
    st.write(
        "ResNet50 learned from 1.28 million ImageNet photos in 1,000 classes. Show it your own "
        "photos: what does it see, how sure is it, and where in the picture does it look?"
    )
    clf = None
    with friendly_errors("Loading ResNet50"):
        try:
            clf = downloads.resnet50()
            st.caption(f"Model: {clf.model.name}, {clf.weights_source}.")
        except Unavailable as err:  # the whole class sees this page: one calm line, the details for the teacher
            st.info("ResNet50's ImageNet weights are not installed on this server yet, so it cannot look at "
                    "photos today. The other tabs and pages work without them.", icon=":material/info:")
            with st.expander("For the teacher: how to install the weights"):
                st.markdown(str(err))
    # The tab last opened opens again after a page switch. Every tab's content is drawn, as before (the
    # photos' results are cached, and the notebook-question check reads the photos and the model tab at once).
    photos_tab, model_tab, cifar_tab = remembered_tabs(TABS, key="pre_tab")
    with photos_tab:
        _photos_tab(clf)
    with model_tab:
        with friendly_errors("Counting ResNet50's layers"):
            _model_tab()
    with cifar_tab:
        _cifar_tab(clf)


main()
