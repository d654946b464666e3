"""The Robustness page's experiments over runs, cached and with progress in the page.

Each (run, angle) of a rotation sweep is one cached step, so a progress bar can follow the
sweep and changing the angles or adding a run only computes what is new. Runs are keyed as in
:mod:`cnnviz.app.caches` (their id, model sha256 and dataset fingerprint).
"""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from cnnviz.app.caches import BY_RUN, run_model, run_test_set
from cnnviz.inspect import robustness
from cnnviz.runs import labels
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs


#: One rotation angle of one run is two small arrays; 512 covers 8 runs × every 5°.
STEP_CACHE_ENTRIES = 512


def _on_test_set(info: runs.RunInfo, experiment, **options):
    """``experiment(model, x, y, class_names, **options)`` on the run's test images, scaled as in training."""
    data = run_test_set(info)
    model, lock = run_model(info)
    with lock:
        return experiment(model, data["x"], data["y"], data["class_names"],
                          prepare=functools.partial(prepare_inputs, info), **options)


@st.cache_data(max_entries=STEP_CACHE_ENTRIES, show_spinner=False, hash_funcs=BY_RUN)
def rotation_step(info: runs.RunInfo, angle: float, fill: str) -> robustness.SweepResult:
    """:func:`cnnviz.inspect.robustness.rotation_sweep` of one run at one angle."""
    return _on_test_set(info, robustness.rotation_sweep, angles=(float(angle),), fill=fill)


def join_sweeps(parts: list) -> robustness.SweepResult:
    """One :class:`cnnviz.inspect.robustness.SweepResult` from single-angle results of the same run, in order."""
    first = parts[0]
    return robustness.SweepResult(
        angles=tuple(a for p in parts for a in p.angles),
        accuracy=np.concatenate([p.accuracy for p in parts]),
        per_class=np.vstack([p.per_class for p in parts]),
        class_names=first.class_names, support=first.support, fill=first.fill,
    )


def rotation_sweeps(infos: list, angles, *, fill: str) -> dict:
    """``{legend name: SweepResult}``: each run on its own test set rotated by every angle, with a progress bar."""
    steps = [(info, float(a)) for info in infos for a in angles]
    bar = st.progress(0.0, text="Rotating the test images…")
    parts: dict[str, list] = {}
    for k, (info, a) in enumerate(steps):
        bar.progress(k / len(steps), text=f"{labels.legend_label(info)}: {a:g}° ({k + 1} of {len(steps)})")
        parts.setdefault(labels.legend_label(info), []).append(rotation_step(info, a, fill))
    bar.empty()
    return {name: join_sweeps(p) for name, p in parts.items()}


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=BY_RUN)
def transform_step(info: runs.RunInfo, shifts: tuple[int, ...], fill: str) -> robustness.TransformResult:
    """:func:`cnnviz.inspect.robustness.transform_test` (flips and shifts) of one run."""
    return _on_test_set(info, robustness.transform_test, shifts=tuple(int(s) for s in shifts), fill=fill)


def transform_results(infos: list, *, shifts, fill: str) -> dict:
    """``{legend name: TransformResult}`` of flips and shifts, one spinner per run."""
    out = {}
    for info in infos:
        with st.spinner(f"Flipping and shifting the test images for {labels.legend_label(info)}…"):
            out[labels.legend_label(info)] = transform_step(info, tuple(int(s) for s in shifts), fill)
    return out


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=BY_RUN)
def sizes_step(info: runs.RunInfo, sizes: tuple[int, ...], method: str) -> list:
    """:func:`cnnviz.inspect.robustness.other_sizes` of one run."""
    return _on_test_set(info, robustness.other_sizes, sizes=tuple(int(s) for s in sizes), method=method)


def size_results(infos: list, *, sizes, method: str) -> dict:
    """``{legend name: [SizeResult, ...]}`` of the other-size experiment, one spinner per run."""
    out = {}
    for info in infos:
        with st.spinner(f"Trying other image sizes with {labels.legend_label(info)}…"):
            out[labels.legend_label(info)] = sizes_step(info, tuple(int(s) for s in sizes), method)
    return out
