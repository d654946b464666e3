"""First visits against a bare Streamlit app drawing one chart, started the same way (issue 19).

Each figure is the wall time of a fresh Python process that imports Streamlit's AppTest, runs one
script once and exits (imports included), the way ``startup.py``'s ``import`` figure is taken:
- ``bare``: ``st.title`` and one ``st.plotly_chart`` of a three-point line: the reference.
- ``home``: cnnviz's ``app.py`` (Home, the default page).
- ``convolution``: a direct first visit to Convolution (``app.py``'s set-up with Convolution as the
  default page), to the end of its script; ``convolution_first_chart`` stops the script at its first
  ``st.plotly_chart`` (what a browser sees first, since Streamlit sends elements as they are drawn).

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

from cnnviz.app import compat

compat.install()
st.set_page_config(page_title="cnnviz: a CNN lab", layout="wide")
st.navigation([st.Page({page!r}, title="Convolution", default=True)]).run()
"""
# Stops the script at its first chart: what the browser has drawn by then.
FIRST_CHART = """
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

class FirstChart(Exception):
    pass

def stop(self, *args, **kwargs):
    raise FirstChart("first chart drawn")
DeltaGenerator.plotly_chart = stop
"""
RUN = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=120).run()
assert not at.exception or "first chart drawn" in at.exception[0].message, at.exception
assert "tensorflow" not in sys.modules
"""


def scripts(tree: Path, folder: Path) -> dict[str, Path]:
    """The four scripts for ``tree`` (the cnnviz ones point at its pages)."""
    folder.mkdir(parents=True, exist_ok=True)
    convolution = CONVOLUTION.format(page=str(tree / "app_pages" / "convolution.py"))
    texts = {"bare": BARE, "convolution": convolution, "convolution_first_chart": FIRST_CHART + convolution}
    paths = {"home": tree / "app.py"}
    for name, text in texts.items():
        paths[name] = folder / f"{name}.py"
        paths[name].write_text(text)
    return paths


def time_run(tree: Path, script: Path, home: Path) -> float:
    """Wall seconds of a fresh process running ``script`` once in AppTest."""
    env = {**os.environ, "PYTHONPATH": str(tree), "CNNVIZ_HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUN, str(script)], cwd=tree, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


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
    figures = {name: {script: [] for script in runs[name]} for name in trees}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        for round_no in range(args.rounds):
            order = [(t, s) for t in trees for s in runs[t]]
            for tree_name, script in (order if round_no % 2 == 0 else order[::-1]):
                home = Path(tempfile.mkdtemp(prefix="home-", dir=scratch))
                figures[tree_name][script].append(time_run(trees[tree_name], runs[tree_name][script], home))
            print(f"round {round_no + 1}/{args.rounds} done", flush=True)
    finally:
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(scratch / "before")], cwd=REPO, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    for tree_name in trees:
        bare = statistics.median(figures[tree_name]["bare"])
        print(f"\n{tree_name}: medians of {args.rounds} fresh processes (seconds), ratio to the bare app")
        for script, values in figures[tree_name].items():
            median = statistics.median(values)
            print(f"{script:<26} {median:6.2f} {median / bare:6.2f}×")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
