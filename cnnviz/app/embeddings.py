"""Explain's "Embeddings" tab: the test images where the network's last hidden layer puts them, in 2-D (PCA or
t-SNE), coloured by their true class; a click on a point shows its image and the prediction, and a toggle
puts the same architecture with fresh weights beside the trained network.

Features, projections and each t-SNE stage are cached for all sessions by run, network (trained or not)
and number of images; the untrained twin is one per run and server (its weights are random).
"""

from __future__ import annotations

import threading

import numpy as np
import streamlit as st

from cnnviz.app.caches import BY_MODEL, BY_RUN, ResultStore, computed_once, run_key, run_model, run_test_set
from cnnviz.app.report import pin_button
from cnnviz.data import images
from cnnviz.inspect import embeddings, evaluation
from cnnviz.plots import embeddings as figs
from cnnviz.plots.common import image_grid
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs


COUNTS = (500, 1000, 2000)
METHODS = {"pca": "PCA (straight directions of most spread)", "tsne": "t-SNE (neighbours kept together)"}
THUMBNAILS = 200


@st.cache_resource(max_entries=2, show_spinner="Building the same network with fresh weights…", hash_funcs=BY_MODEL)
def untrained_model(info: runs.RunInfo) -> tuple:
    """``(model, lock)``: the run's architecture with freshly initialised weights (never trained)."""
    model, lock = run_model(info)
    with lock:
        return embeddings.untrained_twin(model), threading.Lock()


@st.cache_resource(show_spinner=False)
def _features() -> ResultStore:
    """Every session's features: a ResultStore, not st.cache_data, which would replay the progress bar."""
    return ResultStore(8)


def features(info: runs.RunInfo, trained: bool, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(features N×D, probabilities N×K)`` of the run's first ``count`` test images, computed once per run,
    network and count for all sessions, with a bar that moves with every batch (a transfer network takes a minute
    and more for 1,000 images on two cores). The projections below read them from here once computed (the tab
    asks for them first), so their cached functions draw no bar."""
    x = prepare_inputs(info, run_test_set(info)["x"][:int(count)])
    model, lock = run_model(info) if trained else untrained_model(info)
    n = len(x)

    def compute(step) -> tuple[np.ndarray, np.ndarray]:  # each image twice: to the features, then to the answers
        values = embeddings.features(model, x, progress=lambda done, _: step(done, 2 * n))
        values.flags.writeable = False  # shared by all sessions
        probs = evaluation.predict_probabilities(model, x, progress=lambda done, _: step(n + done, 2 * n))
        probs.flags.writeable = False
        return values, probs

    return computed_once(_features(), (run_key(info), bool(trained), int(count)), lock,
                         f"Running the {'trained' if trained else 'untrained'} network on the test images (each "
                         "twice: features, then answers):", compute)


@st.cache_data(max_entries=16, show_spinner="Projecting with PCA…", hash_funcs=BY_RUN)
def pca(info: runs.RunInfo, trained: bool, count: int) -> np.ndarray:
    return embeddings.pca(features(info, trained, count)[0])


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=BY_RUN)
def reduced(info: runs.RunInfo, trained: bool, count: int) -> np.ndarray:
    return embeddings.reduce_for_tsne(features(info, trained, count)[0])


@st.cache_data(max_entries=64, show_spinner=False, hash_funcs=BY_RUN)
def tsne_stage(info: runs.RunInfo, trained: bool, count: int, stage: int) -> np.ndarray:
    """Stage ``stage`` (from 0) of :func:`cnnviz.inspect.embeddings.tsne_stage`, from the cached stage before."""
    previous = None if stage == 0 else tsne_stage(info, trained, count, stage - 1)
    return embeddings.tsne_stage(reduced(info, trained, count), previous)


def tsne(info: runs.RunInfo, trained: bool, count: int) -> np.ndarray:
    """The t-SNE layout, stage by stage with a progress bar."""
    bar = st.progress(0.0)
    for stage in range(embeddings.TSNE_STAGES):
        bar.progress(stage / embeddings.TSNE_STAGES, text=f"t-SNE of {count} images: iterations "
                     f"{stage * embeddings.TSNE_STAGE_ITERATIONS + 1}–{(stage + 1) * embeddings.TSNE_STAGE_ITERATIONS}"
                     f" of {embeddings.TSNE_STAGES * embeddings.TSNE_STAGE_ITERATIONS}")
        layout = tsne_stage(info, trained, count, stage)
    bar.empty()
    return layout


def embeddings_tab(info: runs.RunInfo) -> None:
    """The tab: projection, how many images, pictures or dots, trained beside untrained; a clicked point's image."""
    data = run_test_set(info)
    if len(data["y"]) < embeddings.MIN_POINTS:  # PCA and t-SNE need a few points to place
        st.info(f"Embeddings need at least {embeddings.MIN_POINTS} test images to place, and this run has "
                f"{len(data['y'])}: train it with a larger test set to see them.")
        return
    class_names = info.class_names or data["class_names"]
    counts = [c for c in COUNTS if c < len(data["y"])] + [min(len(data["y"]), COUNTS[-1])]
    counts = sorted(set(counts))
    c1, c2 = st.columns(2)
    method = c1.radio("Projection", list(METHODS), key="explain_emb_method", format_func=METHODS.get)
    if st.session_state.get("explain_emb_count") not in counts:
        st.session_state["explain_emb_count"] = counts[min(1, len(counts) - 1)]
    count = int(c2.select_slider("Test images", counts, key="explain_emb_count"))
    c3, c4 = st.columns(2)
    compare = c3.toggle("Beside it: the same network untrained (fresh weights)", key="explain_emb_compare")
    thumbs = c4.toggle(f"Pictures on the first {THUMBNAILS} points", key="explain_emb_thumbs")
    nets = (False, True) if compare else (True,)
    for column, trained in zip(st.columns(len(nets)), nets):
        with column:
            _scatter(info, trained, count, method, class_names, thumbs, data)
    st.caption("Each dot is a test image, placed by the numbers the network's last hidden layer computes for it "
               "(the input of its last Dense layer); colour = its true class. Hover for its prediction, click for "
               "its picture. Trained, a class gathers in one region; untrained, the same architecture mixes them.")


def _scatter(info, trained: bool, count: int, method: str, class_names, thumbs: bool, data: dict) -> None:
    which = "trained" if trained else "untrained"
    _, probs = features(info, trained, count)
    xy = pca(info, trained, count) if method == "pca" else tsne(info, trained, count)
    predicted = np.argmax(probs, axis=1)
    y = data["y"][:count]
    title = (f"{'Trained' if trained else 'Untrained'} network: {'PCA' if method == 'pca' else 't-SNE'} of "
             f"{count} test images ({np.mean(predicted == y):.0%} right)")
    fig = figs.embedding_figure(xy, y, class_names, predicted, probs[np.arange(count), predicted],
                                thumbnails=data["x"][:min(THUMBNAILS, count)] if thumbs else None, title=title)
    event = st.plotly_chart(fig, key=f"explain_emb_{which}", on_select="rerun", selection_mode="points")
    pin_button(info, f"explain_emb_{which}", f"Embeddings: {title}", fig,
               "Each dot is a test image placed by the network's last hidden layer; colour = its true class.")
    index = figs.selected_index(event)
    if index is None or not 0 <= index < count:
        st.caption("Click a point to see its image.")
        return
    p = probs[index]
    st.plotly_chart(image_grid([data["x"][index]], titles=[f"test image #{index}"], columns=1, tile_px=120),
                    key=f"explain_emb_{which}_image")
    st.markdown(f"Test image #{index}: truly **{images.plain_name(class_names[int(y[index])])}**; the {which} "
                f"network says **{images.plain_name(class_names[int(np.argmax(p))])}** ({p.max():.0%}).")
