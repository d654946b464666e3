"""Seconds per Explain technique on a seed 000 network and the fast 3-minute network (issue 17's targets).

Random weights cost the same time as trained ones. One 32×32×3 image (uniform noise in the unit scale);
each technique runs once to compile ("first") and then three times ("warm", the median), as a page does
on its first and later clicks. The FGSM curve is 8 values of ε on 2,000 images (Robustness's sample, as the page). The activation-maximisation
grid is the first 16 filters of the network's last conv layer, made as the page does (4 groups of 4; the
first group compiles); PCA and t-SNE (3 stages of 250 iterations, the page's) project the network's
embedding of 2,000 images (the features are computed once, outside the timing), on one BLAS/OpenMP thread as
the page does and, for comparison, on two. Prints one JSON row per
network and technique with the target and the ratio warm / target (and the warm call's CPU seconds, the work
whatever the load), then the load average.
Usage: ``PYTHONPATH=. python benchmarks/explain_speed.py [preset ...] [--only=technique,...]`` (default
seed000_model1 fast_3min, every technique).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

import numpy as np


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TARGETS = {"saliency": 1.0, "smoothgrad_20": 3.0, "integrated_32": 3.0, "occlusion_32x32": 2.0,
           "fgsm_curve_8x2000": 20.0, "actmax_grid_16": 30.0, "pca_2000": 3.0, "tsne_2000": 30.0,
           "tsne_2000_two_threads": 30.0, "pca_2000_two_threads": 3.0}
SLOW = ("fgsm", "actmax")  # timed once warm, not three times
ONCE = ("tsne",)  # nothing to compile: timed once
EPSILONS = [0, 1, 2, 4, 8, 12, 16, 32]


def _timed(fn, repeats: int = 3) -> tuple[float, float, float]:
    """Wall seconds of the first call and the median warm call, and the warm call's CPU seconds (this process's,
    all threads: the work, which the load of other processes does not change)."""
    start = time.perf_counter()
    cpu = time.process_time()
    fn()
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    if not repeats:  # nothing compiles: the first time is the time
        return first, first, first_cpu
    warm = []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        warm.append((time.perf_counter() - start, time.process_time() - cpu))
    return first, statistics.median(w for w, _ in warm), statistics.median(c for _, c in warm)


def _two_threads(fn, *args):
    """``fn(*args)`` with BLAS and OpenMP (PCA's SVD, t-SNE's gradient) on two threads (the page uses one)."""
    from cnnviz.inspect import embeddings

    old, embeddings.THREADS = embeddings.THREADS, 2
    try:
        return fn(*args)
    finally:
        embeddings.THREADS = old


def main(names: list[str], only: set[str] | None = None) -> None:
    from cnnviz.inspect import adversarial, occlusion, saliency
    from cnnviz.models.network import build_model
    from cnnviz.models.presets import PRESETS

    rng = np.random.default_rng(0)
    image = rng.uniform(size=(32, 32, 3)).astype(np.float32)
    test_x = rng.uniform(size=(2000, 32, 32, 3)).astype(np.float32)
    test_y = rng.integers(0, 10, size=2000)  # Robustness's sample, as the page
    embed_x = rng.uniform(size=(2000, 32, 32, 3)).astype(np.float32)
    print(json.dumps({"load_before": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count()}), flush=True)
    for name in names:
        preset = PRESETS[name]
        model = build_model(preset.config, input_shape=preset.input_shape, num_classes=preset.num_classes)
        wants = {t for t in TARGETS if not only or t in only}
        if "actmax_grid_16" in wants:  # imported only when timed: --only lets an older tree (no actmax) run
            from cnnviz.inspect import actmax

            last_conv = actmax.conv_layers(model)[-1]
        if any(t.endswith(("_2000", "_two_threads")) for t in wants):
            from cnnviz.inspect import embeddings

            features = embeddings.features(model, embed_x)
        runs = {
            "saliency": lambda: saliency.gradients(model, image),
            "smoothgrad_20": lambda: saliency.smoothgrad(model, image, samples=20),
            "integrated_32": lambda: saliency.integrated_gradients(model, image, np.zeros_like(image), steps=32),
            "occlusion_32x32": lambda: occlusion.occlusion(model, image, patch=4, stride=2, fill=0.5),
            "fgsm_curve_8x2000": lambda: adversarial.accuracy_curve(model, test_x, test_y, EPSILONS, unit=1 / 255,
                                                                    lower=0.0, upper=1.0),
            "actmax_grid_16": lambda: [actmax.maximize(model, list(range(k, k + 4)), layer=last_conv)
                                       for k in range(0, 16, 4)],
            "pca_2000": lambda: embeddings.pca(features),
            "pca_2000_two_threads": lambda: _two_threads(embeddings.pca, features),
            "tsne_2000": lambda: embeddings.tsne(features),
            "tsne_2000_two_threads": lambda: _two_threads(embeddings.tsne, features),
        }
        for technique, fn in runs.items():
            if only and technique not in only:
                continue
            repeats = 0 if technique.startswith(ONCE) else 1 if technique.startswith(SLOW) else 3
            first, warm, warm_cpu = _timed(fn, repeats=repeats)
            print(json.dumps({"network": name, "params": model.count_params(), "technique": technique,
                              **({"layer": last_conv} if technique.startswith("actmax") else {}),
                              **({"features": list(features.shape)} if "_2000" in technique else {}),
                              "first_s": round(first, 3), "warm_s": round(warm, 3), "warm_cpu_s": round(warm_cpu, 3),
                              "target_s": TARGETS[technique],
                              "warm/target": round(warm / TARGETS[technique], 3)}), flush=True)
    print(json.dumps({"load_after": [round(v, 2) for v in os.getloadavg()]}), flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--only=")]
    chosen = {t for a in sys.argv[1:] if a.startswith("--only=") for t in a[len("--only="):].split(",")}
    main(args or ["seed000_model1", "fast_3min"], chosen or None)
