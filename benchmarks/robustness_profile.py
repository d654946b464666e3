"""Where Robustness' flips and shifts, its rotations and a fast preset's Evaluate spend their time (issue 19).

No dataset and no training: a fast-preset-sized network (``fast_3min``'s ``fast_w16``, random weights)
on random uint8 images, scaled batch by batch as a standardised run is. Side by side in one process,
medians of ``--repeats`` interleaved rounds, with the load average before and after:

* ``bare_2000`` / ``bare_10000``: the bare compiled forward pass over N already scaled images (a
  ``tf.function``, 256 a time): the floor for everything below;
* ``flips_shifts``: :func:`cnnviz.inspect.robustness.variant_scores` of the page's 11 copies (original,
  2 flips, shifts of 2 and 4 px in 4 directions) of 2,000 images, and its ratio to 11 bare passes;
* ``rotation_15``: the 24 angles every 15° (23 rotated copies, 15 of them not right angles) of 2,000
  images, and its ratio to 23 bare passes;
* ``evaluate_predict``: :func:`cnnviz.inspect.evaluation.evaluate` of 10,000 images with flip TTA (as the
  fast presets are tested: 20,000 forward passes), ``evaluate_kept``: the same from the answers the
  training job kept (:mod:`cnnviz.runs.predictions`: read the file, compute every metric);
* transforms alone on 2,000 uint8 images: ``rotate_scipy`` (the implementation before: one
  ``scipy.ndimage.rotate`` per image plane) against ``rotate_sparse`` (``transforms.rotate_images``)
  for the 15 angles that are not right angles; ``shift_scipy`` (``ndimage.shift(order=0)``) against
  ``shift_slice`` (``transforms.shift_images``) for the 8 shifts.

``--profile`` also prints the top of cProfile (cumulative) for one round of each.
``bare_2000``/``bare_10000`` are the ``--images``/``--eval-images`` sizes (2,000 and 10,000 by default; smaller on
a crowded machine, where the ratios still hold). Only the compiled pass is traced before the clock starts.
Usage: ``PYTHONPATH=. python benchmarks/robustness_profile.py [--repeats 3] [--profile] [--images 2000]
[--eval-images 10000] [--skip rotation_15]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import warnings
from pathlib import Path


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from inference import BATCH, _row, _seconds  # noqa: E402  (benchmarks/inference.py: one way to print and time)
from scratch import scratch_dir  # noqa: E402


def _model():
    from cnnviz.models.network import build_model
    from cnnviz.models.presets import PRESETS

    preset = PRESETS["fast_3min"]
    return build_model(preset.config, input_shape=(32, 32, 3), num_classes=10)


def _prepare():
    """A standardised run's scaling (about CIFAR-10's mean and spread), as the pages pass it: an Affine, applied
    inside the compiled pass."""
    from cnnviz.data.scaling import Affine

    return Affine((1 / 64.0,) * 3, (-120.0 / 64.0,) * 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--images", type=int, default=2_000, help="test images of the Robustness sections")
    parser.add_argument("--eval-images", type=int, default=10_000, help="test images of Evaluate")
    parser.add_argument("--skip", nargs="*", default=[], help="measurements to leave out, e.g. rotation_15")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import tensorflow as tf

    from scipy import ndimage

    from cnnviz.inspect import evaluation, robustness, transforms
    from cnnviz.runs import predictions

    _row(load_before=list(os.getloadavg()), cpus=os.cpu_count())
    model = _model()
    rng = np.random.default_rng(0)
    x10 = rng.integers(0, 256, size=(max(args.images, args.eval_images), 32, 32, 3), dtype=np.uint8)
    y10 = rng.integers(0, 10, size=len(x10))
    x2, y2 = x10[:args.images], y10[:args.images]
    x10, y10 = x10[:args.eval_images], y10[:args.eval_images]
    names = [str(i) for i in range(10)]
    bare = tf.function(lambda t: model(t, training=False),
                       input_signature=[tf.TensorSpec((None, 32, 32, 3), tf.float32)])

    def bare_pass(x):
        scaled = _prepare()(x)
        for i in range(0, len(x), BATCH):
            np.asarray(bare(tf.constant(scaled[i:i + BATCH])))

    flips_shifts = [v for _, v in robustness.transform_variants((2, 4), fill="constant")]
    angles = [float(a) for a in range(15, 360, 15)]
    rotations = robustness.rotation_variants(angles, fill="constant", shape=x2.shape)
    odd = [a for a in angles if a % 90]
    moves = [(v.dy, v.dx) for v in flips_shifts if v.kind == "shift"]
    home = scratch_dir(prefix="cnnviz-bench-")
    probs = evaluation.evaluate(model, x10, y10, names, tta="flip", prepare=_prepare()).probabilities
    predictions.save(Path(home), "0" * 64, y10, probs)
    runs = {
        "bare_2000": lambda: bare_pass(x2),
        "bare_10000": lambda: bare_pass(x10),
        "flips_shifts": lambda: robustness.variant_scores(model, x2, y2, 10, flips_shifts, prepare=_prepare()),
        "rotation_15": lambda: robustness.variant_scores(model, x2, y2, 10, rotations, prepare=_prepare()),
        "evaluate_predict": lambda: evaluation.evaluate(model, x10, y10, names, tta="flip", prepare=_prepare()),
        "evaluate_kept": lambda: evaluation.evaluation_from_probabilities(
            predictions.load(Path(home), "0" * 64, y10), y10, names),
        "rotate_scipy": lambda: [transforms._like(ndimage.rotate(x2.astype(np.float32), a, axes=(1, 2), reshape=False,
                                                                 order=1), x2.dtype) for a in odd],
        "rotate_sparse": lambda: [transforms.rotate_images(x2, a) for a in odd],
        "shift_scipy": lambda: [ndimage.shift(x2, (0, dy, dx, 0), order=0) for dy, dx in moves],
        "shift_slice": lambda: [transforms.shift_images(x2, dy, dx) for dy, dx in moves],
    }
    runs = {k: v for k, v in runs.items() if k not in args.skip}
    bare_pass(x2[:BATCH])  # trace; every other path shares the model's one compiled pass
    robustness.variant_scores(model, x2[:BATCH], y2[:BATCH], 10, flips_shifts[:1], prepare=_prepare())
    if args.profile:
        for name, fn in runs.items():
            prof = cProfile.Profile()
            prof.enable()
            fn()
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(18)
            print(f"--- {name}\n" + "\n".join(out.getvalue().splitlines()[4:34]), flush=True)
    times = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, fn in runs.items():
            times[k].append(_seconds(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    _row(**{f"{k}_s": v for k, v in med.items()})
    ratios = {"flips_shifts_per_bare": ("flips_shifts", 11, "bare_2000"),
              "rotation_15_per_bare": ("rotation_15", 23, "bare_2000"),
              "evaluate_predict_per_bare": ("evaluate_predict", 2, "bare_10000"),
              "evaluate_kept_per_predict": ("evaluate_kept", 1, "evaluate_predict"),
              "rotate_scipy_per_sparse": ("rotate_scipy", 1, "rotate_sparse"),
              "shift_scipy_per_slice": ("shift_scipy", 1, "shift_slice")}
    _row(images=len(x2), eval_images=len(x10), **{k: med[a] / (n * med[b]) for k, (a, n, b) in ratios.items()
                                                  if a in med and b in med},
         targets="each section <= 3 s on 2,000 images; evaluate <= 3 s on 10,000")
    _row(load_after=list(os.getloadavg()))


if __name__ == "__main__":
    sys.exit(main())
