"""Which images a run trains on, on the Build & train page: the notebook's selection or cnnviz's random
stratified one, the images per class it gives, its class weights, and whether the notebook's figure
applies to the set-up (issue 16)."""

from __future__ import annotations

import streamlit as st

from cnnviz.data import datasets, images, stored
from cnnviz.data import selection as sel
from cnnviz.models import presets
from cnnviz.runs import notebook
from cnnviz.training.spec import TrainSpec


#: The selections offered, by name; the notebooks' each name their seed.
CHOICES = sel.NAMED
WORDS = {
    "stratified": "Random, every class in its share (stratified)",
    "first_shuffled": "The first images; validation at random, not stratified (seed 000)",
    "first_last": "The first images; the last share for validation, unshuffled (seed 001, 003)",
    "first_first": "The first images; the first share for validation (seed 002)",
}
COUNTS_KEY = "train_counts_open"


def preset_selection(preset: presets.Preset | None, same_data: bool) -> sel.Selection | None:
    """The notebook's selection of a preset on the notebook's dataset (None otherwise)."""
    return sel.Selection.from_dict(preset.training.get("selection")) if preset is not None and same_data else None


def pick_selection(own: sel.Selection | None, *, key: str) -> sel.Selection:
    """A select box of the selections, starting on the notebook's (``own``, marked) or the stratified one."""
    names = list(CHOICES)
    default = next((n for n, s in CHOICES.items() if s == own), "stratified")
    name = st.selectbox("Which images", names, index=names.index(default), key=key,
                        format_func=lambda n: WORDS[n] + (" — the notebook's" if CHOICES[n] == own else ""),
                        help="The notebooks take the first images of CIFAR-10 and split validation off as "
                             "their code did; cnnviz can instead draw a random subset with every class in "
                             "its share. Only with the notebook's images is its accuracy the one to compare with.")
    return CHOICES[name]


@st.cache_data(max_entries=32, show_spinner=False,
               hash_funcs={datasets.Dataset: lambda ds: (ds.name, stored.fingerprint(ds.name))})
def _counts(ds: datasets.Dataset, train_size: int | None, test_size: int | None, fraction: float,
            selection: sel.Selection, seed: int) -> list[dict]:
    return sel.count_rows(ds.y_train, ds.y_test, ds.class_names, train_size=train_size, test_size=test_size,
                          validation_fraction=fraction, selection=selection, seed=seed)


def _weights_line(rows: list[dict]) -> str:
    n = rows[-1]["train"]
    pairs = ", ".join(f"{images.plain_name(r['class'])} {r['weight']:.3f}" for r in rows[:-1])  # folders' names
    return (f"Class weights, `compute_class_weight(\"balanced\")` on the {n:,} training images "
            f"(weight = images ÷ (classes × images of the class)): {pairs}.")


def show_set_up(ds: datasets.Dataset, spec: TrainSpec) -> None:
    """The notebook figure's verdict, the class weights (when on) and, on request, the images per class."""
    figure = notebook.notebook_figure(spec)
    if figure is not None:
        st.caption(("These are the notebook's settings: its accuracy is the one to compare with. " if figure.matches
                    else "") + figure.text())
    box = st.expander("Images per class in this run, and their class weights", key=COUNTS_KEY, on_change="rerun")
    if not (box.open or spec.class_weights):  # the split may need scikit-learn: seconds to import, only on request
        return
    rows = _counts(ds, spec.train_size, spec.test_size, spec.validation_fraction, spec.selection, spec.seed)
    if spec.class_weights:
        st.caption(_weights_line(rows))
    with box:
        st.dataframe(rows, hide_index=True, key="train_counts_table",
                     column_config={"weight": st.column_config.NumberColumn("class weight", format="%.3f"),
                                    "subset": st.column_config.NumberColumn("before the split")})
        st.caption(f"{spec.selection.describe().capitalize()}. The class weights are what "
                   "'Class weights (balanced)' gives the training images: 1.0 for every class when they are balanced.")
