"""Time to refuse (or accept) each worst small-but-costly file of issue 18 (wall and CPU seconds).

Run from the repository root (the files are built by tests/support/hostile_decode.py):

    PYTHONPATH=. python benchmarks/hostile_decode.py              # 6000×6000 JPEG with 20,000 scans
    PYTHONPATH=. python benchmarks/hostile_decode.py 6000 5000    # side, repeated scans
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnnviz.data import folderdata, images  # noqa: E402
from cnnviz.inspect import pretrained  # noqa: E402
from tests.support.hostile_decode import jpeg_segments, repeated_scan_jpeg, scan_zip, tiny_huge_webp  # noqa: E402


def timed(label: str, work: Callable[[], object]) -> None:
    """Run ``work`` once; print its wall and CPU seconds and whether it was accepted or why not."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        work()
        outcome = "accepted"
    except Exception as err:  # a refusal is the expected outcome here: print its words
        outcome = f"{type(err).__name__}: {str(err)[:160]}"
    print(f"{label}: wall {time.perf_counter() - wall:.2f} s, CPU {time.process_time() - cpu:.2f} s -> {outcome}",
          flush=True)


def main(argv: list[str]) -> int:
    side, repeats = (int(argv[0]), int(argv[1])) if len(argv) >= 2 else (6000, 20000)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    jpeg = repeated_scan_jpeg(side, repeats)
    print(f"progressive JPEG: {len(jpeg):,} bytes, {len(jpeg_segments(jpeg)):,} segments")
    webp = tiny_huge_webp()
    print(f"lossless WebP: {len(webp):,} bytes")
    timed(f"load_image, {side}×{side} JPEG with {repeats:,} extra scans", lambda: images.load_image(jpeg, name="scans.jpg"))
    timed("load_image, one 6300×6300 WebP", lambda: images.load_image(webp, name="w.webp"))
    timed("load_photos, 100 such WebPs", lambda: pretrained.load_photos([(f"{i}.webp", webp) for i in range(100)]))
    archive = scan_zip(20, 6000, 5000)
    print(f"zip of 20 scan-heavy JPEGs: {len(archive):,} bytes")
    timed("read_zip, 20 JPEGs of 6000×6000 with 5,000 scans each", lambda: folderdata.read_zip(archive, image_size=32))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
