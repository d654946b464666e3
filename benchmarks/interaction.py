"""One slider move on Convolution and Inside, two source trees side by side in one run (issue 19).

What a rerun recomputes after a slider move, timed through the same backend calls the pages make:
- ``conv15``: Convolution with the seed's 15×15 Gaussian (σ = 4) on a 512×512 grayscale image:
  ``compare_modes`` (full, same, valid) + ``modes_figure`` + ``plotly.io.to_json`` (what
  ``st.plotly_chart`` sends), and the JSON's size.
  The image is scikit-learn's temple photo in grayscale, resized to 512×512.
- ``sobel``: the same with the 3×3 Sobel X kernel.
- ``noise15``: ``conv15`` on random noise, the worst case for a compressed picture.
- ``inside``: ``feature_map_figure`` for 32 feature maps of 16×16 (+ its JSON).

Each figure runs in a fresh process per tree, alternating the order per round, and prints the
median per tree and the ratio (tree B / tree A) with the load average. Run from the repository root:

    PYTHONPATH=. python benchmarks/interaction.py --before 53d402f            # a commit vs the working tree
    PYTHONPATH=. python benchmarks/interaction.py --before 53d402f --rounds 7
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEASURE = r"""
import json, statistics, sys, time
import numpy as np
import plotly.io as pio
from cnnviz.lessons import convolution as conv
from cnnviz.plots import convolution as plots

def timed(fn, repeats=5):
    fn()  # warm-up: first-call imports and caches
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter(); out = fn(); runs.append(time.perf_counter() - t0)
    return statistics.median(runs), out

from PIL import Image
from cnnviz.data import samples
photo = Image.fromarray(samples.sample_photo("china.jpg")).convert("L").resize((512, 512))
gray = np.asarray(photo, dtype=np.float64)
noise = np.random.default_rng(0).integers(0, 256, (512, 512)).astype(np.float64)
figures = {}
for name, gray, kernel in (("conv15", gray, conv.gaussian_kernel(15, 4.0)), ("sobel", gray, conv.SOBEL_X),
                           ("noise15", noise, conv.gaussian_kernel(15, 4.0))):
    compute, results = timed(lambda: conv.compare_modes(gray, kernel))
    build, fig = timed(lambda: plots.modes_figure(results, kernel=kernel))
    encode, text = timed(lambda: pio.to_json(fig, validate=False))
    figures[name] = {"compute_ms": compute * 1e3, "figure_ms": build * 1e3, "json_ms": encode * 1e3,
                     "total_ms": (compute + build + encode) * 1e3, "json_kb": len(text) / 1024}

from cnnviz.inspect.features import FeatureMaps
from cnnviz.plots import features as fplots
rng = np.random.default_rng(1)
act = rng.random((16, 16, 32)).astype(np.float32)
fm = FeatureMaps(layer_name="conv1", layer_type="Conv2D", kind="conv", activations=act, channels=tuple(range(32)),
                 images=(act.transpose(2, 0, 1) * 255).astype(np.uint8), rows=4, columns=8,
                 normalization="per_map", stats=tuple({"channel": c} for c in range(32)))
build, fig = timed(lambda: fplots.feature_map_figure(fm))
encode, text = timed(lambda: pio.to_json(fig, validate=False))
figures["inside"] = {"compute_ms": 0.0, "figure_ms": build * 1e3, "json_ms": encode * 1e3,
                     "total_ms": (build + encode) * 1e3, "json_kb": len(text) / 1024}
print(json.dumps(figures))
"""


def measure(tree: Path) -> dict:
    """One fresh process's figures for ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree), "CNNVIZ_HOME": tempfile.gettempdir()}
    done = subprocess.run([sys.executable, "-c", MEASURE], cwd=tree, env=env, check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _checkout(ref: str, folder: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(folder), ref], cwd=REPO, check=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git ref of tree A (checked out in a temporary worktree)")
    parser.add_argument("--after", default=None, help="git ref of tree B (default: this working tree)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="cnnviz-interaction-"))
    trees = {"A": _checkout(args.before, scratch / "a")}
    trees["B"] = _checkout(args.after, scratch / "b") if args.after else REPO
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        for round_no in range(args.rounds):
            for key in (("A", "B") if round_no % 2 == 0 else ("B", "A")):
                runs[key].append(measure(trees[key]))
    finally:
        for key in ("A", "B"):
            if trees[key] != REPO:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees[key])], cwd=REPO, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nmedians of {args.rounds} rounds; A = {args.before}, B = {args.after or 'working tree'}")
    print(f"{'case':<8} {'figure':<11} {'A':>9} {'B':>9} {'B/A':>6}")
    for case in runs["A"][0]:
        for figure in ("compute_ms", "figure_ms", "json_ms", "total_ms", "json_kb"):
            a = statistics.median(r[case][figure] for r in runs["A"])
            b = statistics.median(r[case][figure] for r in runs["B"])
            print(f"{case:<8} {figure:<11} {a:9.1f} {b:9.1f} {b / a if a else float('nan'):6.2f}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
