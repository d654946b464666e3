"""Evaluate: how good is a trained run and where does it fail? Test accuracy and loss, a confusion
matrix whose cells open the images behind them, per-class results, predictions titled green/red
and the most confident mistakes with their top-3 probabilities (seed 001 PlotModelEval, seed 000
Part 20, seed 002 1.5.6). Any image can be sent to Inside the network."""

import streamlit as st

from cnnviz.app import boundary, caches
from cnnviz.app.pickers import tta_phrase
from cnnviz.app.remember import KEEP
from cnnviz.app.state import INSPECT_TARGET_KEY, keep_choice_valid, still_chosen
from cnnviz.data import images
from cnnviz.inspect import evaluation
from cnnviz.plots import evaluation as figs
from cnnviz.runs import labels as runs_labels
from cnnviz.runs import store as runs


CHART_KEY = "eval_cm"
TRUE_KEY, PRED_KEY = "eval_true", "eval_pred"
#: Which control chose the gallery last: "chart" (a click/box on the matrix) or "boxes".
SOURCE_KEY = "eval_gallery_source"
PRED_SEED_KEY = "eval_pred_seed"
WHICH_LABELS = {"mistakes": "mistakes", "correct": "correct ones", "all": "all"}
ORDER_LABELS = {"confidence": "most confident first", "low_confidence": "least confident first",
                "random": "random", "index": "test-set order"}
INSIDE_PAGE = "app_pages/inside.py"


def _chart_selected() -> None:
    """The matrix was clicked: its cells choose the gallery; one cell also sets the select boxes."""
    cells = figs.cells_from_selection(st.session_state.get(CHART_KEY))
    st.session_state[SOURCE_KEY] = "chart" if cells else "boxes"
    if len(cells) == 1:
        st.session_state[TRUE_KEY], st.session_state[PRED_KEY] = cells[0]


def _boxes_changed() -> None:
    st.session_state[SOURCE_KEY] = "boxes"


def _metrics(info: runs.RunInfo, ev: evaluation.Evaluation) -> None:
    cols = st.columns(4)
    saved = info.test_accuracy
    cols[0].metric("Test accuracy", f"{ev.accuracy:.1%}",
                   help=None if saved is None else f"Measured at the end of training: {saved:.1%}.")
    tested = " of the answers with test-time augmentation" if info.spec.tta != "none" else ""
    cols[1].metric("Test loss", f"{ev.loss:.4f}",
                   help=f"Mean cross-entropy of the true class{tested}, without label smoothing: the run's "
                        "plain test cross-entropy.")
    cols[2].metric("Test images", f"{len(ev.y_true):,}")
    cols[3].metric("Mistakes", f"{int((~ev.correct).sum()):,}")
    if info.spec.tta != "none":
        plain = info.metrics.get("test_accuracy_without_tta")
        st.caption("Tested as in training, with test-time augmentation: the mean of the network's answers on "
                   + tta_phrase(info.spec.tta)
                   + ("." if plain is None else f" (without it the network got {plain:.1%})."))
    kind, stored = runs_labels.loss_kind(info.spec), info.metrics.get("test_loss")
    if kind != "cross-entropy" and stored is not None:
        st.caption(f"The test loss above is plain cross-entropy. Build & train and Runs also show the run's "
                   f"training loss on the test set, {kind}: {stored:.4f}.")
    pairs = evaluation.most_confused(ev.confusion, ev.class_names, top=3) if (~ev.correct).any() else []
    if pairs:
        shown = images.plain_name  # folders' names, as typed: never bold, never a link
        st.write("Most often confused: " + "; ".join(
            f"**{shown(p['true_name'])}** taken for **{shown(p['predicted_name'])}** {p['count']}× "
            f"({p['fraction']:.0%} of {shown(p['true_name'])})" for p in pairs) + ".")


def _confusion(ev: evaluation.Evaluation) -> list[tuple[int, int]]:
    """Draw the matrix; return the cells chosen on it (empty when the select boxes lead)."""
    st.subheader("Confusion matrix")
    normalized = st.toggle("Show each row as shares of its true class", key="eval_cm_normalized", persist_state=KEEP)
    event = st.plotly_chart(
        figs.confusion_matrix_figure(ev.confusion, ev.class_names, normalized=normalized, title=None),
        on_select=_chart_selected, selection_mode=("points", "box"), key=CHART_KEY,
    )
    st.caption("Rows are the true classes, columns what the network said; the diagonal is right. Click a cell "
               "(or drag a box over several) to see its images below, or use the select boxes.")
    if st.session_state.get(SOURCE_KEY) != "chart":
        return []
    return figs.cells_from_selection(event)


def _per_class(ev: evaluation.Evaluation) -> None:
    metrics = st.pills("Per-class results", list(figs.PER_CLASS_METRICS), selection_mode="multi",
                       default=["accuracy"], key="eval_metrics", persist_state=KEEP) or ["accuracy"]
    st.plotly_chart(figs.per_class_figure(ev.per_class, metrics=metrics, title=None), key="eval_per_class")
    st.caption("Accuracy of a class (= recall): share of its images classified right. Precision: share of the "
               "images called that class that really are.")


def _send_to_inspector(info: runs.RunInfo, ev: evaluation.Evaluation, indices, *, key: str) -> None:
    """A picker and button that open one of the shown images in Inside the network."""
    if len(indices) == 0:
        return
    described = {d["index"]: d for d in evaluation.describe_images(ev, indices)}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    keep_choice_valid(key, [int(i) for i in indices])
    chosen = c1.selectbox(
        "Look inside the network at", [int(i) for i in indices], key=key, persist_state=KEEP,
        format_func=lambda i: (f"test image #{i}: said {described[i]['predicted_name']} "
                               f"({described[i]['confidence']:.0%}), truly {described[i]['true_name']}"),
    )
    drawn_for = st.session_state.get(f"{key}_run")  # the run the button was drawn for: the one the click means
    st.session_state[f"{key}_run"] = info.run_id
    if c2.button("Look inside", key=f"{key}_go", icon=":material/layers:"):
        if not still_chosen(drawn_for, info.run_id):  # deleted meanwhile: never send the next run's image
            c2.warning("The run you chose is gone (deleted in another tab?): nothing was sent to Inside the network.")
            return
        st.session_state[INSPECT_TARGET_KEY] = {"run_id": info.run_id, "index": int(chosen)}
        st.switch_page(INSIDE_PAGE)


def _gallery_indices(ev: evaluation.Evaluation, cells: list[tuple[int, int]]) -> tuple[list[int], str, str]:
    """The chosen images (all of them, in gallery order), a heading (Markdown), and the order used."""
    options = [None, *range(len(ev.class_names))]
    fmt = {None: "any class", **dict(enumerate(ev.class_names))}.get
    names = [images.plain_name(n) for n in ev.class_names]  # for the heading: folders' names, as typed
    c1, c2, c3, c4 = st.columns(4)
    keep_choice_valid(TRUE_KEY, options)
    keep_choice_valid(PRED_KEY, options)
    true_class = c1.selectbox("True class", options, key=TRUE_KEY, persist_state=KEEP, format_func=fmt,
                              on_change=_boxes_changed)
    pred_class = c2.selectbox("Predicted class", options, key=PRED_KEY, persist_state=KEEP, format_func=fmt,
                              on_change=_boxes_changed)
    order = c4.selectbox("Order", list(ORDER_LABELS), key="eval_order", persist_state=KEEP,
                         format_func=ORDER_LABELS.get)
    if cells:
        idx = evaluation.cells_images(ev, cells, order=order)
        heading = ", ".join(f"true {names[t]} → said {names[p]}" for t, p in cells)
        c3.caption("Chosen on the matrix. Change a select box to choose here instead.")
    elif true_class is not None and pred_class is not None:
        idx = evaluation.cell_images(ev, true_class, pred_class, order=order)
        heading = f"true {names[true_class]} → said {names[pred_class]}"
    else:
        which = c3.selectbox("Show", list(WHICH_LABELS), key="eval_which", persist_state=KEEP,
                             format_func=WHICH_LABELS.get)
        idx = evaluation.select_images(ev, true_class=true_class, predicted_class=pred_class, which=which,
                                       order=order, seed=0)
        heading = f"{WHICH_LABELS[which]}" + (f", true {names[true_class]}" if true_class is not None else "") + (
            f", said {names[pred_class]}" if pred_class is not None else "")
    return [int(i) for i in idx], heading, order


def _images_behind(info: runs.RunInfo, ev: evaluation.Evaluation, x, cells) -> None:
    st.subheader("The images behind the numbers")
    idx, heading, _ = _gallery_indices(ev, cells)
    limit = st.slider("Images to show at most", 5, 100, 20, 5, key="eval_limit", persist_state=KEEP)
    shown = idx[:limit]
    st.write(f"**{heading}**: {len(idx):,} image(s)" + (f", showing the first {len(shown)}" if len(shown) < len(idx)
                                                         else "") + ".")
    if not shown:
        st.info("No test image matches this choice.")
        return
    described = evaluation.describe_images(ev, shown)
    st.plotly_chart(figs.mistakes_gallery(x[shown], described, columns=4), key="eval_gallery")
    st.caption("Each image: its true class, then the network's three most likely classes; red when the top "
               "class is wrong.")
    with st.expander("The same images as a table"):
        st.dataframe([{"test image": d["index"], "true": d["true_name"], "said": d["predicted_name"],
                       "confidence": d["confidence"],
                       "top 3": " · ".join(f"{n} {p:.0%}" for _, n, p in d["top"])} for d in described],
                     hide_index=True, key="eval_gallery_table",
                     column_config={"confidence": st.column_config.NumberColumn(format="percent")})
    _send_to_inspector(info, ev, shown, key="eval_send")


def _predictions(info: runs.RunInfo, ev: evaluation.Evaluation, x) -> None:
    st.subheader("Predictions on random test images")
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    count = c1.slider("Images", 8, 64, 16, 8, key="eval_pred_count", persist_state=KEEP)
    if c2.button("Other images", key="eval_pred_shuffle", icon=":material/shuffle:"):
        st.session_state[PRED_SEED_KEY] = st.session_state.get(PRED_SEED_KEY, 0) + 1
    idx = evaluation.select_images(ev, which="all", order="random", seed=st.session_state.get(PRED_SEED_KEY, 0),
                                   limit=count)
    st.plotly_chart(figs.prediction_gallery(x[idx], ev.y_true[idx], ev.predicted[idx], ev.class_names,
                                            title=None), key="eval_predictions")
    st.caption("Green: the network is right. Red: what it said, with the true class in brackets (seed 002).")
    _send_to_inspector(info, ev, idx, key="eval_send_pred")


def main() -> None:
    st.title("Evaluate")
    st.write("How good is a trained network, and where does it go wrong? Everything here is measured on the "
             "run's own test images, scaled exactly as in training.")
    boundary.run_page("Evaluating the run", "evaluate it", _evaluate, key="eval_run")


def _evaluate(info: runs.RunInfo) -> None:
    ev = caches.run_evaluation(info)
    x = caches.run_test_set(info)["x"]
    _metrics(info, ev)
    cells = _confusion(ev)  # the whole width: beside the per-class bars it was squeezed at 1024 pixels
    _per_class(ev)
    _images_behind(info, ev, x, cells)
    _predictions(info, ev, x)


main()
