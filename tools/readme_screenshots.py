"""Regenerate the README's classroom screenshots (the teacher's Class page, a student's Runs page).

They are taken by the real-browser classroom test (a server with a teacher password, two students by name,
Debian chromium through Playwright), then shrunk to small palette PNGs in ``docs/images/``::

    PYTHONPATH=$PWD .venv/bin/python tools/readme_screenshots.py

Needs what the e2e tests need (``/usr/bin/chromium`` or ``CNNVIZ_CHROMIUM``, Playwright); about 2.5 minutes.
``--no-run`` only converts the screenshots the last test run left in ``test-output/screenshots/``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / "test-output" / "screenshots"
OUT = REPO / "docs" / "images"
#: Test screenshot name -> README image name.
IMAGES = {"readme_class_page": "class_page", "readme_student_runs": "student_runs"}
WIDTH = 900  # pixels: readable on GitHub, a few dozen KB each
COLOURS = 128  # Streamlit's flat colours survive a small palette


def shrink(src: Path, dst: Path) -> int:
    """``src`` scaled to :data:`WIDTH` and quantised to :data:`COLOURS`, written to ``dst``; returns its size."""
    with Image.open(src) as im:
        im = im.convert("RGB")
        im = im.resize((WIDTH, round(im.height * WIDTH / im.width)), Image.Resampling.LANCZOS)
        im.quantize(COLOURS, method=Image.Quantize.FASTOCTREE).save(dst, optimize=True)
    return dst.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="only convert the last run's screenshots")
    args = parser.parse_args()
    if not args.no_run:
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "e2e",
                        "tests/e2e/test_classroom_in_browser.py"], cwd=REPO, check=True)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, target in IMAGES.items():
        size = shrink(SHOTS / f"{name}.png", OUT / f"{target}.png")
        print(f"docs/images/{target}.png: {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
