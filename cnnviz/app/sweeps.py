"""The Robustness page's experiments over runs: one batched pass per request, results kept per (run, copy).

Each transformed copy of a run's test set (:class:`cnnviz.inspect.transforms.Variant`: an angle, a
flip, a shift, a size, with its border fill only where pixels are filled) is scored once and kept
in a store shared by all sessions, keyed by the run (its id, model sha256 and dataset fingerprint,
as in :mod:`cnnviz.app.caches`) and the copy. A request computes only the copies no one has
asked for yet, all of them in one stream of batches through the run's compiled forward pass with
a progress bar that moves with every batch; so a Border change re-uses the original, the flips and
every right angle, and adding a run or an angle computes only what is new; the original and its mirror
image come from the training job's kept answers when it kept them. Each run is tested on at most
:data:`~cnnviz.inspect.robustness.SAMPLE_IMAGES` of its test images (:func:`cnnviz.app.caches.run_robustness_set`).
"""

from __future__ import annotations

import time
from typing import Callable, Hashable, Sequence

import numpy as np
import streamlit as st

from cnnviz.app.caches import (WAITING_TEXT, ResultStore, model_turn, run_key, run_model, run_robustness_set,
                               run_test_set)
from cnnviz.inspect import robustness, transforms
from cnnviz.runs import labels, predictions
from cnnviz.runs import store as runs
from cnnviz.runs.rundata import input_scaling


#: One copy of one run is an accuracy and one per class: 4,096 cover 8 runs × every 5° and more.
STORE_ENTRIES = 4096


@st.cache_resource(show_spinner=False)
def result_store() -> ResultStore:
    """The store of every session's Robustness results (cleared with the other Streamlit caches)."""
    return ResultStore(STORE_ENTRIES)


def _with_progress(requests: Sequence[tuple[runs.RunInfo, Sequence[Hashable]]], kind: str, text: str,
                   compute: Callable, on_result: Callable[[list[dict]], None] | None = None) -> list[dict]:
    """``{key: result}`` per request, computing the keys not stored yet (in the order given) with one bar.

    ``compute(model, info, data, keys, progress, finished)`` returns ``{key: result}`` for one run's missing
    keys, calling ``progress(images done, images in all)`` as it goes and, if it can, ``finished(key, result)``
    as each key is done (stored at once, then ``on_result(the results so far)``); it is called holding the
    model's lock, after the keys another session stored meanwhile were taken (a class asking at once computes
    once).
    """
    store = result_store()
    found: list[dict] = []
    todo: list[tuple[runs.RunInfo, list]] = []
    for info, keys in requests:
        if kind == "score":
            _store_kept_views(info, keys)
        stored = {k: store.get((kind, run_key(info), k)) for k in dict.fromkeys(keys)}
        found.append({k: v for k, v in stored.items() if v is not None})
        todo.append((info, [k for k, v in stored.items() if v is None]))
    sizes = [len(run_robustness_set(info)["y"]) * len(keys) for info, keys in todo]
    total, done = sum(sizes), 0
    if total:
        bar = st.progress(0.0, text=text)
        for (info, keys), size, out in zip(todo, sizes, found):
            if not keys:
                continue
            name = labels.legend_label(info)

            def step(images: int, _all: int, before: int = done, name: str = name) -> None:
                share = min(1.0, (before + images) / total)
                bar.progress(share, text=f"{text} {name}: {share:.0%}")

            def finished(key: Hashable, result, info: runs.RunInfo = info, out: dict = out) -> None:
                store.put((kind, run_key(info), key), result)
                out[key] = result
                if on_result is not None:
                    on_result(found)

            model, lock = run_model(info)
            with model_turn(lock, lambda: bar.progress(done / total, text=f"{text} {name}: {WAITING_TEXT}")):
                meanwhile = {k: store.get((kind, run_key(info), k)) for k in keys}
                out.update({k: v for k, v in meanwhile.items() if v is not None})
                missing = [k for k, v in meanwhile.items() if v is None]
                results = compute(model, info, run_robustness_set(info), missing, step, finished) if missing else {}
                for k, v in results.items():
                    store.put((kind, run_key(info), k), v)
            out.update(results)
            done += size
        bar.empty()
    return found


def _store_kept_views(info: runs.RunInfo, variants: Sequence[Hashable]) -> None:
    """Store the scores of the wanted copies the training job already predicted (its plain and mirrored
    answers on every test image, :mod:`cnnviz.runs.predictions`), read on the run's sample."""
    store = result_store()
    if not any(v in robustness.KEPT_VIEWS.values() and store.get(("score", run_key(info), v)) is None
               for v in variants):
        return
    views = predictions.load_views(info.path, info.model_sha256, run_test_set(info)["y"])
    if views:
        sample = run_robustness_set(info)
        scores = robustness.kept_view_scores({k: v[sample["keep"]] for k, v in views.items()}, sample["y"],
                                             len(sample["class_names"]))
        for variant, score in scores.items():
            store.put(("score", run_key(info), variant), score)


def _score(model, info: runs.RunInfo, data: dict, variants: list, progress, finished=None) -> dict:
    return robustness.variant_scores(model, data["x"], data["y"], len(data["class_names"]), variants,
                                     prepare=input_scaling(info), progress=progress, finished=finished)


#: Seconds between two drawings of a result still being computed (each is a new chart to send).
DRAW_EVERY_S = 1.0


def _drawer(draw: Callable[[dict], None] | None, every_s: float | None,
            partial: Callable[[list[dict]], dict | None]) -> Callable[[list[dict]], None] | None:
    """``_with_progress``'s ``on_result``: ``draw(partial(results so far))`` at most every ``every_s`` (default
    :data:`DRAW_EVERY_S`); ``partial`` gives None when everything is done (the page draws that itself)."""
    if draw is None:
        return None
    every_s = DRAW_EVERY_S if every_s is None else every_s
    last = [time.monotonic()]

    def on_result(scores: list[dict]) -> None:
        if time.monotonic() - last[0] >= every_s and (shown := partial(scores)):
            draw(shown)
            last[0] = time.monotonic()

    return on_result


def rotation_sweeps(infos: list, angles, *, fill: str, draw: Callable[[dict], None] | None = None,
                    draw_every_s: float | None = None) -> dict:
    """``{legend name: SweepResult}``: each run on its own test set rotated by every angle.

    The angles are computed coarse to fine (:func:`cnnviz.inspect.transforms.coarse_to_fine`), and ``draw``
    gets ``{legend name: SweepResult of the angles done}`` at most every ``draw_every_s`` (default
    :data:`DRAW_EVERY_S`) while the rest is computed: every point drawn is final, the curve only gets finer
    (a wide network takes ~14 s for every 15° of 2,000 images on 2 cores).
    """
    angles = tuple(float(a) for a in angles)
    order = transforms.coarse_to_fine(angles)
    wanted = [dict(zip(order, robustness.rotation_variants(order, fill=fill, shape=(0, *info.input_shape))))
              for info in infos]

    def sweeps_of(scores: list[dict], complete: bool = True) -> dict | None:
        if not complete and all(len(got) == len(set(v.values())) for v, got in zip(wanted, scores)):
            return None
        out = {}
        for info, variants, got in zip(infos, wanted, scores):
            done = list(angles) if complete else [a for a in angles if variants[a] in got]
            if done:
                data = run_robustness_set(info)
                out[labels.legend_label(info)] = robustness.sweep_result(
                    done, [got[variants[a]] for a in done], data["class_names"], data["y"], fill)
        return out

    scores = _with_progress([(info, list(variants.values())) for info, variants in zip(infos, wanted)], "score",
                            "Rotating the test images…", _score,
                            _drawer(draw, draw_every_s, lambda scores: sweeps_of(scores, complete=False)))
    return sweeps_of(scores)


def transform_results(infos: list, *, shifts, fill: str, draw: Callable[[dict], None] | None = None,
                      draw_every_s: float | None = None) -> dict:
    """``{legend name: TransformResult}`` of the original, flips and shifts; ``draw`` as in
    :func:`rotation_sweeps` (the copies done so far, in the order of the page's bars)."""
    named = robustness.transform_variants(tuple(int(s) for s in shifts), fill=fill)

    def results_of(scores: list[dict], complete: bool = True) -> dict | None:
        if not complete and all(len(got) == len({v for _, v in named}) for got in scores):
            return None
        out = {}
        for info, got in zip(infos, scores):
            done = named if complete else [(n, v) for n, v in named if v in got]
            if done:
                out[labels.legend_label(info)] = robustness.TransformResult(
                    tuple(n for n, _ in done), np.array([got[v][0] for _, v in done]),
                    np.stack([got[v][1] for _, v in done]), run_robustness_set(info)["class_names"])
        return out

    scores = _with_progress([(info, [v for _, v in named]) for info in infos], "score",
                            "Flipping and shifting the test images…", _score,
                            _drawer(draw, draw_every_s, lambda scores: results_of(scores, complete=False)))
    return results_of(scores)


def _sizes(model, info: runs.RunInfo, data: dict, variants: list, progress, finished=None) -> dict:
    rows = robustness.other_sizes(model, data["x"], data["y"], data["class_names"],
                                  sizes=[v.size for v in variants], method=variants[0].method,
                                  prepare=input_scaling(info), progress=progress)
    return dict(zip(variants, rows))


def size_results(infos: list, *, sizes, method: str) -> dict:
    """``{legend name: [SizeResult, ...]}`` of the other-size experiment (black borders when padded)."""
    wanted = [transforms.resize(int(s), method=method) for s in sizes]
    found = _with_progress([(info, wanted) for info in infos], "size", "Trying other image sizes…", _sizes)
    return {labels.legend_label(info): [got[v] for v in wanted] for info, got in zip(infos, found)}
