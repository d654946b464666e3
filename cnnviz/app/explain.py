"""The Explain page's computations, cached for all sessions in :mod:`cnnviz.app.caches`' style.

Each function takes a run (keyed by its id and model sha256, or with its dataset's fingerprint when
its test images are involved) and uint8 images (keyed by their pixels), scales them as the run was
trained and holds the shared model's lock while the backend works. Baselines, the grey patch and ε
are made in the run's own input scale from uint8 pictures, so "black", "grey" and "one grey level" mean
what they say whatever the scaling.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from cnnviz.app.caches import (BY_MODEL, IMAGE_CACHE_ENTRIES, ResultStore, computed_once, image_digest, model_key,
                               run_key, run_model, run_robustness_set)
from cnnviz.errors import InvalidArgument
from cnnviz.inspect import adversarial, neuron, occlusion, saliency
from cnnviz.plots import explain as explain_figs
from cnnviz.runs import labels
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs

if TYPE_CHECKING:  # pragma: no cover
    import plotly.graph_objects as go

GREY = 128
EPSILONS = (0, 1, 2, 4, 8, 12, 16, 32)  # grey levels: 8 points for the curve


def input_range(info: runs.RunInfo, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unit, lower, upper)`` per channel in the run's input scale: one grey level, black and white."""
    black = prepare_inputs(info, np.zeros((1, 1, 1, channels), np.uint8)).reshape(-1)
    white = prepare_inputs(info, np.full((1, 1, 1, channels), 255, np.uint8)).reshape(-1)
    return np.abs(white - black) / 255.0, np.minimum(black, white), np.maximum(black, white)


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Computing the saliency map…", hash_funcs=BY_MODEL)
def attribution(info: runs.RunInfo, image: np.ndarray, *, method: str, class_index: int | None, samples: int = 20,
                noise: float = 0.15, steps: int = 32, baseline: str = "black") -> saliency.Attribution:
    """:mod:`cnnviz.inspect.saliency` of one uint8 image: "gradients", "smoothgrad" or "integrated"."""
    if method not in saliency.METHODS:
        raise InvalidArgument(f"method must be one of {', '.join(saliency.METHODS)}, got {method!r}")
    x = prepare_inputs(info, image)
    model, lock = run_model(info)
    with lock:
        if method == "gradients":
            return saliency.gradients(model, x, class_index=class_index)
        if method == "smoothgrad":
            return saliency.smoothgrad(model, x, class_index=class_index, samples=int(samples), noise=float(noise))
        x0 = prepare_inputs(info, saliency.baseline_image(baseline, image))
        return saliency.integrated_gradients(model, x, x0, class_index=class_index, steps=int(steps))


@st.cache_resource(show_spinner=False)
def _occlusion_maps() -> ResultStore:
    """Every session's occlusion maps: a ResultStore, not st.cache_data, which would replay the progress bar."""
    return ResultStore(IMAGE_CACHE_ENTRIES)


def occlusion_map(info: runs.RunInfo, image: np.ndarray, *, class_index: int | None, patch: int,
                  stride: int) -> occlusion.Occlusion:
    """:func:`cnnviz.inspect.occlusion.occlusion` of one uint8 image with a mid-grey patch, computed once per run,
    image and settings for all sessions, with a progress bar that moves with every batch of patches (a large
    image's 4,096 forward passes take tens of seconds on two cores)."""
    grey = prepare_inputs(info, np.full((1, 1, 1, image.shape[-1]), GREY, np.uint8)).reshape(-1)
    model, lock = run_model(info)
    key = (model_key(info), image_digest(image), class_index, int(patch), int(stride))
    return computed_once(_occlusion_maps(), key, lock, "Hiding one patch at a time: forward passes",
                         lambda step: _shared(occlusion.occlusion(
                             model, prepare_inputs(info, image), class_index=class_index, patch=int(patch),
                             stride=int(stride), fill=grey, progress=step)))


def _shared(found: occlusion.Occlusion) -> occlusion.Occlusion:
    for arr in (found.drops, found.heat):
        arr.flags.writeable = False  # shared by all sessions
    return found


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Attacking the image…", hash_funcs=BY_MODEL)
def attack(info: runs.RunInfo, image: np.ndarray, *, label: int | None, method: str, epsilon: float,
           steps: int) -> tuple[adversarial.Attack, np.ndarray]:
    """FGSM/PGD on one uint8 image with ε in grey levels; also the perturbed image as uint8 (rounded)."""
    unit, lower, upper = input_range(info, image.shape[-1])
    model, lock = run_model(info)
    with lock:
        result = adversarial.attack(model, prepare_inputs(info, image), label=label, method=method,
                                    epsilon=float(epsilon), steps=int(steps), unit=unit, lower=lower, upper=upper)
    # back to grey levels: one level is `step` in the input scale (negative if the scaling flips)
    step = np.diff(prepare_inputs(info, np.array([[[[0] * image.shape[-1]], [[255] * image.shape[-1]]]], np.uint8)),
                   axis=1).reshape(-1) / 255.0
    levels = image.astype(np.float32) + np.divide(result.perturbation, step, out=np.zeros_like(result.perturbation),
                                                  where=step != 0)
    return result, np.clip(np.round(levels), 0, 255).astype(np.uint8)


#: FGSM curves kept (run × ε list): a few runs' curves on each page.
EPSILON_CURVE_ENTRIES = 8


@st.cache_resource(show_spinner=False)
def _epsilon_curves() -> ResultStore:
    """Every session's FGSM curves: a ResultStore, not st.cache_data, which would replay the progress bar."""
    return ResultStore(EPSILON_CURVE_ENTRIES)


def epsilon_curve(info: runs.RunInfo, epsilons: tuple[float, ...]) -> adversarial.AccuracyCurve:
    """Accuracy under FGSM of each ε (grey levels) on the test images Robustness rotates
    (:func:`~cnnviz.app.caches.run_robustness_set`), so that ε = 0 is the rotation curve's 0°: both
    one plain pass per image, even for a run tested with test-time augmentation. Computed once per run
    and ε list for all sessions, with a progress bar that moves with every batch (2,000 images of a
    fast preset take seconds: a gradient pass and a forward pass per ε for each)."""
    data = run_robustness_set(info)
    unit, lower, upper = input_range(info, data["x"].shape[-1])
    model, lock = run_model(info)
    return computed_once(
        _epsilon_curves(), (run_key(info), tuple(float(e) for e in epsilons)), lock,
        f"Attacking the test images of {labels.legend_label(info)}…",
        lambda step: adversarial.accuracy_curve(model, prepare_inputs(info, data["x"]), data["y"], list(epsilons),
                                                unit=unit, lower=lower, upper=upper, progress=step))


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=BY_MODEL)
def conv2d_layers(info: runs.RunInfo) -> list[str]:
    """The run's Conv2D layers whose arithmetic the page can show."""
    model, lock = run_model(info)
    with lock:
        return neuron.conv2d_layers(model)


@st.cache_data(max_entries=IMAGE_CACHE_ENTRIES, show_spinner="Running the image to that layer…",
               hash_funcs=BY_MODEL)
def layer_io(info: runs.RunInfo, image: np.ndarray, layer: str) -> neuron.LayerIO:
    """:func:`cnnviz.inspect.neuron.layer_io` of one uint8 image."""
    model, lock = run_model(info)
    with lock:
        return neuron.layer_io(model, prepare_inputs(info, image), layer)


def augmented_twins(info: runs.RunInfo, candidates: list[runs.RunInfo]) -> list[runs.RunInfo]:
    """The runs among ``candidates`` trained as ``info`` (network, data, sizes, seed, epochs) but for their
    augmentation: Robustness's augmented twins of it, or the run it is the twin of."""
    def without_augmentation(r: runs.RunInfo):
        try:
            # twin_spec turns the pre-padded data path off when it adds rotations: part of the augmentation
            return dataclasses.replace(r.spec, augment=None, prepadded=False)
        except InvalidArgument:  # a run whose settings cannot be read is nobody's twin
            return None

    own = without_augmentation(info)
    return [r for r in candidates if r.run_id != info.run_id and own is not None
            and without_augmentation(r) == own and r.spec.augment != info.spec.augment]


def epsilon_curves_chart(infos: list[runs.RunInfo], *, key: str) -> go.Figure:
    """One figure of the FGSM accuracy curves of several runs (each on its Robustness sample), a progress bar
    per run; Robustness draws it beside the rotation curve. Returns the figure (to pin to the report)."""
    curves = {labels.legend_label(info): epsilon_curve(info, EPSILONS) for info in infos}
    counts = {c.count for c in curves.values()}
    fig = explain_figs.epsilon_curves_figure({k: (c.epsilons, c.accuracy) for k, c in curves.items()},
                                             count=max(counts), title="Accuracy under FGSM" if len(counts) > 1 else None)
    st.plotly_chart(fig, key=key)
    return fig
