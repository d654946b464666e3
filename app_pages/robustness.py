"""Robustness: how much accuracy is left when the test images are rotated, flipped, shifted or
resized, and does training with rotated images help? (seed 000 Parts 16-19 and 21, Q23, Q25-28:
upright CIFAR-10 55% falls to 22% at 90°; augmentation recovers part of it.)"""

import streamlit as st

from cnnviz.app import boundary, caches, jobs, panel, sweeps
from cnnviz.app import explain as explain_cache
from cnnviz.app.pickers import tta_phrase
from cnnviz.app.remember import KEEP, remembered_tabs
from cnnviz.app.state import keep_choice_valid, still_chosen
from cnnviz.data import augment
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import robustness
from cnnviz.markup import plain_text
from cnnviz.plots import robustness as figs
from cnnviz.runs import labels, rundata
from cnnviz.runs import store as runs
from cnnviz.training.spec import twin_spec


RUNS_KEY = "robust_runs"
STEPS = (90, 45, 30, 15, 10)
FILL_LABELS = {"constant": "black", "reflect": "mirrored image", "nearest": "edge pixels repeated"}
SHIFT_OPTIONS = (1, 2, 3, 4, 6, 8)
SIZE_FACTORS = (1.5, 2.0, 3.0)  # seed 000 Q27-28: 32×32 CIFAR-10 at 48×48 and 64×64
# Chosen at first: fewer copies, so a fast preset's first answer comes sooner (fast_3min, 2,000 images, 2 cores:
# flips and shifts 4.9 -> 3.6 s, sizes 4.1 -> 1.4 s; benchmarks/README.md). An added choice computes only its copies.
FIRST_SHIFTS, FIRST_SIZE_FACTORS = (2,), (1.5,)
SIZE_METHOD_LABELS = {"upscale": "stretched (bilinear)", "pad": "padded with black"}
TABS = ("Rotation", "Flips and shifts", "Other sizes")
TWIN_FLIP = "horizontal_and_vertical"  # seed 000 Part 17: rotation_range=30, both flips
EXAMPLES = 8


def _same_test_images(chosen: list[runs.RunInfo]) -> bool:
    return len({rundata.test_draw(r.spec) for r in chosen}) == 1


def _tta_note(chosen: list[runs.RunInfo]) -> None:
    averaged = [r for r in chosen if r.spec.tta != "none"]
    if averaged:
        st.caption("Here each image is judged once, as it is. " + " ".join(
            f"For its own test accuracy (the % in its name), **{labels.legend_label(r)}** averaged its answers on "
            f"{tta_phrase(r.spec.tta)}, so upright it may score a little lower here." for r in averaged))


def _rotation_tab(chosen: list[runs.RunInfo]) -> None:
    c1, c2 = st.columns(2)
    step = c1.selectbox("Angles every", STEPS, key="robust_step", persist_state=KEEP,
                        format_func=lambda s: f"{s}°" + (" (the notebook's 90° test, exact)" if s == 90 else ""))
    fill = c2.radio("Corners of rotated images", list(robustness.FILLS), key="robust_fill",
                    persist_state=KEEP, horizontal=True,
                    format_func=FILL_LABELS.get, help="Only angles that are not multiples of 90° leave corners "
                                                      "to fill; multiples of 90° use np.rot90, which is exact.")
    angles = tuple(range(0, 360, step))
    data = caches.run_test_set(chosen[0])
    turn = [a for a in angles if a] or [90]
    keep_choice_valid("robust_example_angle", turn, 90)
    angle = st.select_slider("Example rotation", turn, key="robust_example_angle", persist_state=KEEP,
                             format_func=lambda a: f"{a}°")
    _, originals, rotated = robustness.rotation_examples(data["x"], angle, n=EXAMPLES, seed=0, fill=fill)
    st.plotly_chart(figs.rotated_examples_figure(originals, rotated, angle), key="robust_examples")

    beside = st.toggle("Beside it: the accuracy under FGSM, changes too small to see (Explain's attack)",
                       key="robust_fgsm")
    left, right = st.columns(2) if beside else (st.container(), None)
    chart = left.empty()  # the angles done so far are drawn here while the others are computed
    results = sweeps.rotation_sweeps(chosen, angles, fill=fill,
                                     draw=lambda partial: chart.plotly_chart(figs.accuracy_vs_angle_figure(
                                         partial, title="Accuracy vs rotation: the angles measured so far")))
    chart.plotly_chart(figs.accuracy_vs_angle_figure(results), key="robust_angle_chart")
    if right is not None:
        with right:
            explain_cache.epsilon_curves_chart(chosen, key="robust_fgsm_chart")
    st.caption("Dotted: each run's accuracy on upright images. Seed 000 (Q23): a CNN trained on upright "
               "CIFAR-10 scored 54.6% on upright and 22.2% on 90°-rotated test images; with rotation and flip "
               "augmentation (Part 19) 59% and 31%.")
    if not _same_test_images(chosen):
        st.caption("These runs were tested on different test images (dataset, sizes, selection or seed differ).")
    _tta_note(chosen)
    st.dataframe([{"rotation": f"{a:g}°", **{name: float(r.accuracy[i]) for name, r in results.items()}}
                  for i, a in enumerate(next(iter(results.values())).angles)],
                 hide_index=True, key="robust_angle_table",
                 column_config={name: st.column_config.NumberColumn(format="percent") for name in results})
    for i, (name, result) in enumerate(results.items()):
        st.plotly_chart(figs.per_class_angle_figure(result, title=f"{name}: accuracy per class and angle"),
                        key=f"robust_heat_{i}")


def _transforms_tab(chosen: list[runs.RunInfo]) -> None:
    side = min(min(r.input_shape[:2]) for r in chosen)
    options = [s for s in SHIFT_OPTIONS if s < side]
    c1, c2 = st.columns(2)
    shifts = c1.pills("Shifts (pixels)", options, selection_mode="multi", key="robust_shifts", persist_state=KEEP,
                      default=[s for s in FIRST_SHIFTS if s in options], format_func=lambda s: f"{s} px")
    fill = c2.radio("Border left by a shift", list(robustness.FILLS), key="robust_shift_fill",
                    persist_state=KEEP, horizontal=True,
                    format_func=FILL_LABELS.get)
    chart = st.empty()  # the copies done so far are drawn here while the others are computed
    results = sweeps.transform_results(chosen, shifts=sorted(shifts), fill=fill,
                                       draw=lambda partial: chart.plotly_chart(figs.transforms_figure(
                                           partial, title="Flips and shifts: the copies tested so far")))
    chart.plotly_chart(figs.transforms_figure(results), key="robust_transforms")
    st.caption("A flip is a mirror image: a network that learned that cars face left may not know them facing "
               "right. A shift moves the whole picture a few pixels; convolutions slide, but the layers after "
               "Flatten remember where things were.")
    names = next(iter(results.values())).names
    st.dataframe([{"test images": t, **{name: float(r.accuracy[i]) for name, r in results.items()}}
                  for i, t in enumerate(names)], hide_index=True, key="robust_transforms_table",
                 column_config={name: st.column_config.NumberColumn(format="percent") for name in results})


def _sizes_tab(chosen: list[runs.RunInfo], busy: bool) -> None:
    c1, c2 = st.columns(2)
    factors = c1.pills("Image sides", SIZE_FACTORS, selection_mode="multi", default=list(FIRST_SIZE_FACTORS),
                       key="robust_size_factors", persist_state=KEEP,
                       format_func=lambda f: f"{f:g}× the training size")
    method = c2.radio("Made bigger by", list(robustness.SIZE_METHODS), key="robust_size_method",
                      persist_state=KEEP, horizontal=True,
                      format_func=SIZE_METHOD_LABELS.get)
    if not factors:
        st.info("Choose at least one image size.")
        return
    results = {}
    for info in chosen:
        side = int(info.input_shape[0])
        sizes = sorted({min(robustness.MAX_SIZE, round(side * f)) for f in factors})
        results.update(sweeps.size_results([info], sizes=sizes, method=method))
    st.plotly_chart(figs.sizes_figure(results), key="robust_sizes_chart")
    for info, (name, rows) in zip(chosen, results.items()):
        st.markdown(f"**{name}**")
        for r in rows:
            if r.works:
                st.success(f"{r.size}×{r.size}: accuracy {r.accuracy:.1%}. {r.explanation}")
            else:
                st.info(r.explanation)
        if not all(r.works for r in rows):
            try:  # e.g. a network without convolutions: global pooling has no feature maps to pool
                twin = twin_spec(info, head="global_avg")
            except InvalidArgument as err:
                st.caption(f"No size-agnostic twin can be trained of this network: {plain_text(str(err))}.")
                continue
            if st.button("Train its size-agnostic twin (global average pooling instead of Flatten)",
                         # keyed by run, not place: a run deleted before the click must not pass it to the next
                         key=f"robust_gap_twin_{info.run_id}", disabled=busy, icon=":material/model_training:"):
                jobs.submit_twin(info, twin)
                st.rerun()


def _twin(chosen: list[runs.RunInfo], busy: bool) -> None:
    st.subheader("Train the augmented twin")
    st.write("The same network and data with the same seed, trained on images turned by a random angle "
             "each time they are seen (seed 000 Part 17 used up to ±30° and flips). Then compare both here.")
    by_id = {r.run_id: r for r in chosen}
    c1, c2, c3 = st.columns([2, 1, 1])
    wanted = st.session_state.get("robust_twin_of")  # what the student chose, before a vanished run is replaced
    keep_choice_valid("robust_twin_of", by_id)
    run_id = c1.selectbox("Twin of", list(by_id), key="robust_twin_of", persist_state=KEEP,
                          format_func=lambda i: labels.picker_label(by_id[i]))
    rotation = c2.slider("Rotate up to ± degrees", 5, int(augment.MAX_ROTATION_DEGREES), 30, 5,
                         key="robust_twin_rotation", persist_state=KEEP)
    flips = c3.toggle("And flips, as the notebook", True, key="robust_twin_flip", persist_state=KEEP)
    if st.button("Train the augmented twin", key="robust_twin_go", type="primary", disabled=busy,
                 icon=":material/rotate_right:", help="One training at a time per student."):
        if not still_chosen(wanted, run_id):  # deleted in another tab: never train the twin of the next run
            st.warning("The run you chose is gone (deleted in another tab?): no twin was queued.")
            return
        info = by_id[run_id]
        jobs.submit_twin(info, twin_spec(info, rotation=rotation, flip=TWIN_FLIP if flips else None))
        st.rerun()  # redraw with the buttons disabled and the live panel


def main() -> None:
    st.title("Robustness")
    st.write("A network only knows the images it was trained on. Rotate, flip, shift or resize the test images "
             "and see how much of its accuracy is left.")
    boundary.run_page("Testing the runs", "test it", _test, key=RUNS_KEY, many=True)
    panel.training_panel()


def _test(chosen: list[runs.RunInfo]) -> None:
    if not chosen:
        st.info("Choose one or more runs, e.g. a network and its augmented twin.")
        return
    busy = jobs.busy()
    counts = {caches.run_robustness_set(r)["of"] for r in chosen}
    if max(counts) > robustness.SAMPLE_IMAGES:
        everything = f"all {max(counts):,}" if len(counts) == 1 else "all of them"
        st.caption(f"Each run is tested here on at most {robustness.SAMPLE_IMAGES:,} of its test images (evenly "
                   "spaced: the same ones for every rotation, flip, shift and FGSM ε), so that each section answers "
                   f"in seconds; Evaluate uses {everything}.")
    tabs = remembered_tabs(TABS, key="robust_tab")
    with tabs[0]:
        if tabs[0].open:
            _rotation_tab(chosen)
    with tabs[1]:
        if tabs[1].open:
            _transforms_tab(chosen)
    with tabs[2]:
        if tabs[2].open:
            _sizes_tab(chosen, busy)
    _twin(chosen, busy)


main()
