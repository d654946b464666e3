"""t-SNE of 2,000 embeddings of a seed 000 network with scikit-learn's options side by side (issue 17: ≤ 30 s).

The features are those of benchmarks/explain_speed.py (random weights, 2,000 random 32×32×3 images),
reduced once to 50 dimensions by PCA as the page does (not timed). Each variant runs once on one BLAS/OpenMP
thread (the page's), one after the other on the same features, so their ratios compare on a busy machine:

- ``page``: the page's 3 stages of 250 iterations (cnnviz.inspect.embeddings.tsne_stages), its angle
  (``TSNE_ANGLE``: 0.5 when first measured, 0.8 since);
- ``page_angle_0.5``: the same with angle 0.5;
- ``one_fit``: the same 750 iterations as one ``TSNE`` fit (the neighbours and affinities computed once, not
  three times);
- ``angle_0.8``: one fit with Barnes-Hut's ``angle`` 0.8 (coarser far-field summaries, sklearn allows 0.2-0.8);
- ``iter_500``: one fit of 500 iterations (250 exaggerated, 250 more), angle 0.5;
- ``n_jobs_2``: one fit with the neighbour search on 2 jobs.

Prints one JSON row per variant and round: seconds, CPU seconds (one thread: the work, whatever the load),
ratio to the 30 s target and the trustworthiness of the layout (scikit-learn's, 10 neighbours: how well it
keeps each point's neighbours; 1 is perfect) against the 50-D features, then the load average.

    PYTHONPATH=. python benchmarks/tsne_options.py [variant ...] [--rounds=N]   # N rounds, variants interleaved
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGET_S = 30.0


def _one_fit(values: np.ndarray, *, angle: float = 0.5, max_iter: int = 750, n_jobs: int | None = None):
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from cnnviz.inspect import embeddings

    with threadpool_limits(embeddings.THREADS):
        return TSNE(n_components=2, perplexity=30.0, init="pca", random_state=0, max_iter=max_iter, angle=angle,
                    learning_rate=max(len(values) / embeddings.TSNE_EXAGGERATION / 4, 50.0),
                    early_exaggeration=embeddings.TSNE_EXAGGERATION, n_jobs=n_jobs).fit_transform(values)


def _with_angle(angle: float, fn, *args):
    """``fn(*args)`` with the page's t-SNE angle set to ``angle``."""
    from cnnviz.inspect import embeddings

    old, embeddings.TSNE_ANGLE = embeddings.TSNE_ANGLE, angle
    try:
        return fn(*args)
    finally:
        embeddings.TSNE_ANGLE = old


def main(chosen: list[str], rounds: int = 1) -> None:
    from sklearn.manifold import trustworthiness

    from cnnviz.inspect import embeddings
    from cnnviz.models.network import build_model
    from cnnviz.models.presets import PRESETS

    preset = PRESETS["seed000_model1"]
    model = build_model(preset.config, input_shape=preset.input_shape, num_classes=preset.num_classes)
    x = np.random.default_rng(0).uniform(size=(2000, 32, 32, 3)).astype(np.float32)
    reduced = embeddings.reduce_for_tsne(embeddings.features(model, x)).astype(np.float64)
    variants = {
        "page": lambda: embeddings.tsne(reduced),
        "page_angle_0.5": lambda: _with_angle(0.5, embeddings.tsne, reduced),
        "one_fit": lambda: _one_fit(reduced),
        "angle_0.8": lambda: _one_fit(reduced, angle=0.8),
        "iter_500": lambda: _one_fit(reduced, max_iter=500),
        "n_jobs_2": lambda: _one_fit(reduced, n_jobs=2),
    }
    print(json.dumps({"load_before": [round(v, 2) for v in os.getloadavg()], "features": list(reduced.shape)}),
          flush=True)
    for name, fn in [(n, f) for _ in range(rounds) for n, f in variants.items() if not chosen or n in chosen]:
        start, cpu = time.perf_counter(), time.process_time()
        layout = fn()
        took = time.perf_counter() - start
        print(json.dumps({"variant": name, "s": round(took, 2), "cpu_s": round(time.process_time() - cpu, 2),
                          "s/target": round(took / TARGET_S, 3),
                          "trustworthiness": round(float(trustworthiness(reduced, layout, n_neighbors=10)), 4),
                          "load": round(os.getloadavg()[0], 2)}), flush=True)
    print(json.dumps({"load_after": [round(v, 2) for v in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    names = [a for a in sys.argv[1:] if not a.startswith("--rounds=")]
    main(names, int(next((a[len("--rounds="):] for a in sys.argv[1:] if a.startswith("--rounds=")), 1)))
