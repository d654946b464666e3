"""First visits against a bare Streamlit app drawing one chart, started the same way (issue 19).

Each figure is the wall time of a fresh Python process that imports Streamlit's AppTest, runs one
script once and exits (imports included), the way ``startup.py``'s ``import`` figure is taken:
- ``bare``: ``st.title`` and one ``st.plotly_chart`` of a three-point line: the reference.
- ``home``: cnnviz's ``app.py`` (Home, the default page).
- ``convolution``: a direct first visit to Convolution (``app.py``'s set-up, identity gate included, with
  Convolution as the default page), to the end of its script.
- ``…_first_chart``: from the process's start to the script's first ``st.plotly_chart`` call (what a
  browser sees first: Streamlit sends elements as they are drawn), for the bare app and Convolution.

Targets from issue 19: home ≤ 1.2× bare, Convolution's first chart ≤ 1.3× bare. Rounds alternate the
order; medians and ratios are printed with the load average. Optionally a second tree (``--before``)
is measured the same way. Run from the repository root:

    PYTHONPATH=. python benchmarks/first_paint.py --rounds 5
    PYTHONPATH=. python benchmarks/first_paint.py --rounds 5 --before 53d402f
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BARE = """
import plotly.graph_objects as go
import streamlit as st

st.title("A bare app")
st.plotly_chart(go.Figure(go.Scatter(y=[1, 3, 2])))
"""
CONVOLUTION = """
import streamlit as st

from cnnviz.app import compat, identity

compat.install()
st.set_page_config(page_title="cnnviz: a CNN lab", layout="wide")
identity.gate()
st.navigation([st.Page({page!r}, title="Convolution", default=True)]).run()
"""
# Notes when the script draws its first chart (perf_counter is system-wide: CLOCK_MONOTONIC on Linux).
FIRST_CHART = """
import os, time
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

def _note():
    path = os.environ["CNNVIZ_FIRST_CHART_FILE"]
    if not os.path.exists(path):
        with open(path, "w") as out:
            out.write(repr(time.perf_counter()))

def _noting(draw):
    def drawing(*args, **kwargs):
        _note()
        return draw(*args, **kwargs)
    return drawing

# st.plotly_chart is bound to the main container at import: patch it and the class (columns etc.)
st.plotly_chart = _noting(st.plotly_chart)
DeltaGenerator.plotly_chart = _noting(DeltaGenerator.plotly_chart)
"""
RUN = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception, at.exception
assert "tensorflow" not in sys.modules
"""


def scripts(tree: Path, folder: Path) -> dict[str, Path]:
    """The four scripts for ``tree`` (the cnnviz ones point at its pages)."""
    folder.mkdir(parents=True, exist_ok=True)
    convolution = CONVOLUTION.format(page=str(tree / "app_pages" / "convolution.py"))
    texts = {"bare": FIRST_CHART + BARE, "convolution": FIRST_CHART + convolution}
    paths = {"home": tree / "app.py"}
    for name, text in texts.items():
        paths[name] = folder / f"{name}.py"
        paths[name].write_text(text)
    return paths


def time_run(tree: Path, script: Path, home: Path) -> tuple[float, float | None]:
    """Wall seconds of a fresh process running ``script`` once in AppTest, and to its first chart."""
    noted = home / "first-chart.txt"
    env = {**os.environ, "PYTHONPATH": str(tree), "CNNVIZ_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2",
           "CNNVIZ_FIRST_CHART_FILE": str(noted)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, str(script)], cwd=tree, env=env, check=True, capture_output=True)
    total = time.perf_counter() - t0
    return total, float(noted.read_text()) - t0 if noted.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", default=None, help="also measure this git ref (a temporary worktree)")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="cnnviz-first-paint-"))
    trees = {"working tree": REPO}
    if args.before:
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(scratch / "before"), args.before], cwd=REPO,
                       check=True)
        trees = {args.before: scratch / "before", **trees}
    runs = {name: scripts(tree, scratch / f"scripts-{i}") for i, (name, tree) in enumerate(trees.items())}
    figures = {name: {f: [] for f in ("bare", "bare_first_chart", "home", "convolution", "convolution_first_chart")}
               for name in trees}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        for round_no in range(args.rounds):
            order = [(t, s) for t in trees for s in runs[t]]
            for tree_name, script in (order if round_no % 2 == 0 else order[::-1]):
                home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
                total, first_chart = time_run(trees[tree_name], runs[tree_name][script], home)
                figures[tree_name][script].append(total)
                if first_chart is not None:
                    figures[tree_name][f"{script}_first_chart"].append(first_chart)
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
    finally:
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(scratch / "before")], cwd=REPO, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    # The bare app is the same script for every tree: its runs are pooled. Under a changing load the median of
    # per-round ratios (each figure over the bare run of the same round and tree, seconds apart) is steadier.
    pooled = {ref: statistics.median([v for t in trees for v in figures[t][ref]])
              for ref in ("bare", "bare_first_chart")}
    for tree_name in trees:
        medians = {figure: statistics.median(values) for figure, values in figures[tree_name].items()}
        print(f"\n{tree_name}: medians of {args.rounds} fresh processes (seconds); ratio to this tree's bare "
              "median, to the pooled bare median, and the median of per-round ratios")
        for figure, median in medians.items():
            ref = "bare_first_chart" if figure.endswith("first_chart") else "bare"
            paired = statistics.median(v / b for v, b in zip(figures[tree_name][figure], figures[tree_name][ref]))
            print(f"{figure:<26} {median:6.2f} {median / medians[ref]:6.2f}× {median / pooled[ref]:6.2f}× "
                  f"{paired:6.2f}×")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
