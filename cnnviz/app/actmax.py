"""Explain's "What a filter looks for" tab: activation-maximisation pictures of the first filters of a conv
layer (or of the classes), each beside the test images that excite it most.

Pictures are made a few units at a time (:data:`GROUP`), each group cached for all sessions by run, layer and
units, so the progress bar moves between groups, the model's lock is free between them, and a Stop button
(which reruns the page: Streamlit stops the script at its next call) keeps what is done. This session
remembers the groups it has finished, so a stopped grid shows them and "Go on" computes only the rest.
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from cnnviz.app.caches import BY_MODEL, ResultStore, computed_once, run_key, run_model, run_test_set
from cnnviz.app.report import pin_button
from cnnviz.app.state import keep_choice_valid
from cnnviz.inspect import actmax
from cnnviz.plots import actmax as figs
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import prepare_inputs


GROUP = 4  # pictures per cached step: a progress step every ~1 s on 2 cores
COUNTS = (4, 8, 16, 32)
TOP_K = 5
TOP_POOL = 2000  # test images searched for the strongest ones
STOPPED_KEY, DONE_KEY = "explain_actmax_stopped", "explain_actmax_done"
FILTER, CLASS = "A filter of a conv layer", "A class"


def black_and_white(info: runs.RunInfo, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Black and white (per channel) in the run's input scale."""
    black = prepare_inputs(info, np.zeros((1, 1, 1, channels), np.uint8)).reshape(-1)
    white = prepare_inputs(info, np.full((1, 1, 1, channels), 255, np.uint8)).reshape(-1)
    return black, white


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=BY_MODEL)
def conv_layers(info: runs.RunInfo) -> dict[str, int]:
    """``{conv layer: channels}`` of the run, in call order."""
    model, lock = run_model(info)
    with lock:
        return {name: actmax.channel_count(model, name) for name in actmax.conv_layers(model)}


@st.cache_data(max_entries=256, show_spinner=False, hash_funcs=BY_MODEL)
def pictures(info: runs.RunInfo, target: str, layer: str | None, units: tuple[int, ...]) -> actmax.Pictures:
    """:func:`cnnviz.inspect.actmax.maximize` of some units with the default regularisers, between black and white."""
    channels = int(info.input_shape[-1])
    black, white = black_and_white(info, channels)
    model, lock = run_model(info)
    with lock:
        return actmax.maximize(model, list(units), target=target, layer=layer, lower=np.minimum(black, white),
                               upper=np.maximum(black, white), size=tuple(int(s) for s in info.input_shape[:2]))


@st.cache_resource(show_spinner=False)
def _top_images() -> ResultStore:
    """Every session's top images: a ResultStore, not st.cache_data, which would replay the progress bar."""
    return ResultStore(32)


def top_images(info: runs.RunInfo, layer: str, channels: tuple[int, ...]) -> actmax.TopImages:
    """:func:`cnnviz.inspect.actmax.top_images` among the run's first :data:`TOP_POOL` test images, computed once
    per run, layer and channels for all sessions, with a bar that moves with every batch (2,000 images through
    ResNet50's deep layers take minutes on two cores, through MobileNetV2's about 16 s)."""
    x = run_test_set(info)["x"][:TOP_POOL]
    model, lock = run_model(info)
    return computed_once(_top_images(), (run_key(info), layer, tuple(channels)), lock,
                         "Finding the test images that excite each filter most: images", lambda step: actmax.top_images(
                             model, prepare_inputs(info, x), layer, list(channels), k=min(TOP_K, len(x)), progress=step))


def make_grid(info: runs.RunInfo, target: str, layer: str | None, units: list[int]) -> list[actmax.Pictures]:
    """The pictures of ``units``, group by group with a progress bar and a Stop button; what is done when stopped."""
    settings = (info.run_id, target, layer, tuple(units))
    groups = [tuple(units[i:i + GROUP]) for i in range(0, len(units), GROUP)]
    done = st.session_state.setdefault(DONE_KEY, set())
    stopped = st.session_state.get(STOPPED_KEY) == settings
    todo = [g for g in groups if not stopped or (settings, g) in done]
    if stopped and len(todo) < len(groups):
        st.info(f"Stopped after {sum(len(g) for g in todo)} of {len(units)} pictures.")
        st.button("Go on", key="explain_actmax_go_on", icon=":material/play_arrow:",
                  on_click=lambda: st.session_state.pop(STOPPED_KEY, None))
    out = []
    working = any((settings, g) not in done for g in todo)
    if working:
        stop, bar = st.empty(), st.empty()
        stop.button("Stop", key="explain_actmax_stop", icon=":material/stop_circle:",
                    on_click=lambda: st.session_state.__setitem__(STOPPED_KEY, settings))
    for k, group in enumerate(todo):
        if working:
            bar.progress(k / len(todo), text=f"Climbing from noise: pictures {group[0]}–{group[-1]} "
                                             f"({sum(len(g) for g in todo[:k])} of {len(units)} done)")
        out.append(pictures(info, target, layer, group))
        done.add((settings, group))
    if working:
        stop.empty()
        bar.empty()
    return out


def actmax_tab(info: runs.RunInfo) -> None:
    """The tab: what to maximise, the grid, and (filters) the test images beside each picture."""
    layer_channels = conv_layers(info)
    class_names = info.class_names or run_test_set(info)["class_names"]
    kinds = [FILTER, CLASS] if layer_channels else [CLASS]
    keep_choice_valid("explain_actmax_kind", kinds)
    kind = st.radio("What to look for", kinds, horizontal=True, key="explain_actmax_kind")
    black, white = black_and_white(info, int(info.input_shape[-1]))
    if kind == CLASS:
        units = list(range(min(len(class_names), actmax.MAX_UNITS)))
        made = make_grid(info, "class", None, units)
        if not made:
            return
        done = _joined(made)
        # A Plotly title, not Markdown: escaped for Plotly's few HTML tags (it shows "&lt;" as "<"), no backslashes.
        titles = [f"{html.escape(class_names[u], quote=False)}<br>{s:.2f} → {f:.2f}"
                  for u, s, f in zip(done.units, done.start, done.final)]
        fig = figs.pictures_figure(actmax.to_uint8(done.images, black, white), titles, columns=5)
        st.plotly_chart(fig, key="explain_actmax_classes")
        caption = ("Each picture started as grey noise and was changed step by step to raise one class's score "
                   "(its logit: start → end under each picture). Contrast stretched for display.")
        st.caption(caption)
        pin_button(info, "explain_actmax_classes", "What each class looks for", fig, caption)
        return
    names = list(layer_channels)
    keep_choice_valid("explain_actmax_layer", names)
    c1, c2 = st.columns(2)
    layer = c1.selectbox("Convolution layer", names, key="explain_actmax_layer",
                         format_func=lambda n: f"{n} ({layer_channels[n]} filters)")
    counts = [c for c in COUNTS if c <= layer_channels[layer]] or [layer_channels[layer]]
    keep_choice_valid("explain_actmax_count", counts, min(16, counts[-1]))
    count = c2.select_slider("The first … filters", counts, key="explain_actmax_count")
    made = make_grid(info, "channel", layer, list(range(count)))
    if not made:
        return
    done = _joined(made)
    top = top_images(info, layer, done.units)
    x = run_test_set(info)["x"]
    titles = [f"filter {u}<br>{s:.2f} → {f:.2f}" for u, s, f in zip(done.units, done.start, done.final)]
    top_titles = [[f"#{i} ({v:.2f})" for i, v in zip(row, scores)] for row, scores in zip(top.indices, top.scores)]
    fig = figs.filters_and_top_figure(actmax.to_uint8(done.images, black, white), titles, x[top.indices], top_titles)
    st.plotly_chart(fig, key="explain_actmax_filters")
    st.caption(f"Left: a picture grown from grey noise to raise the filter's mean value over the whole map "
               f"(start → end; before its activation function); jitter, total variation, blur and coarse-to-fine "
               f"octaves keep it readable. Right: the {top.indices.shape[1]} test images (#number, mean activation) "
               f"that excite it most among the first {min(TOP_POOL, len(x))}. Contrast stretched for display.")
    dead = [u for u, scores in zip(done.units, top.scores) if not scores.any()]
    if dead:  # every mean is 0: the ranking fell back to test-set order
        st.caption(f"{'Filter' if len(dead) == 1 else 'Filters'} {', '.join(map(str, dead))} "
                   f"{'is' if len(dead) == 1 else 'are'} 0 on every one of the first {min(TOP_POOL, len(x))} test "
                   "images (its activation never lets anything through): the images beside "
                   f"{'it' if len(dead) == 1 else 'them'} are just the first ones, not images that excite it.")
    pin_button(info, "explain_actmax_filters", f"What the first {len(done.units)} filters of {layer} look for", fig,
               "Pictures grown from grey noise to raise each filter's mean value, beside the test images that "
               "excite it most.")


def _joined(parts: list[actmax.Pictures]) -> actmax.Pictures:
    first = parts[0]
    return actmax.Pictures(target=first.target, layer=first.layer, units=tuple(u for p in parts for u in p.units),
                           images=np.concatenate([p.images for p in parts]),
                           start=np.concatenate([p.start for p in parts]),
                           final=np.concatenate([p.final for p in parts]),
                           steps_done=min(p.steps_done for p in parts))
