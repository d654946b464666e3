"""Seconds per training epoch of VGG16 transfer (seed 004 task 4's presets) on this machine.

The presets train 3,600 images (10% validation) at 200×200, batch 32; a whole epoch would take tens of
minutes on 2 cores, so this runs a short one: ``--images`` images (default 200: 180 fitted + 20 validated)
at ``--size`` (default the presets' 200), two epochs each, frozen then unfrozen, through the normal
training job (digits upscaled and repeated to RGB, like any dataset), random weights (``weights="none"``
costs the same time as ImageNet's and needs no download). Epoch 1 includes TensorFlow's tracing; epoch 2 is
the steady pace. Printed per setting: both epochs' wall and CPU seconds (all of the process's threads), the
steady seconds per fitted image, and that pace as seconds per 1,000 images at 96×96 (scaled by pixel count):
the unit of ``cnnviz.models.backbones.MEASURED_EPOCH_S``. On a shared machine (the load average is printed)
the wall time measures the other users too; ``idle_s_per_1000_at_96`` is the CPU time spread over all cores,
what the epoch takes when the machine is this job's alone (TensorFlow keeps every core busy in a convolution). Usage: ``PYTHONPATH=. python benchmarks/vgg16_epoch.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from cnnviz.training.spec import transfer_spec

from scratch import scratch_dir  # benchmarks/scratch.py
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200, help="training images before the 10%% validation split")
    parser.add_argument("--size", type=int, default=200, help="image side given to VGG16")
    parser.add_argument("--frozen", choices=("both", "frozen", "unfrozen"), default="both")
    args = parser.parse_args()
    os.environ["CNNVIZ_HOME"] = scratch_dir(prefix="cnnviz-bench-")
    import keras

    from cnnviz.models import transfer
    from cnnviz.training import loop as training

    class EpochClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.cpu_seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)
            self.cpu_seconds.append(time.process_time() - self._cpu)  # all of this process's threads

    settings = {"both": (True, False), "frozen": (True,), "unfrozen": (False,)}[args.frozen]
    for frozen in settings:
        cfg = transfer.config(backbone="vgg16", frozen=frozen, weights="none", image_size=args.size)
        spec = transfer_spec(cfg, dataset="digits", train_size=args.images, test_size=32, epochs=2,
                             validation_fraction=0.1)
        clock = EpochClock()
        result = training.train(spec, callbacks=[clock])
        n_train = result.run.metrics["n_train"]
        per_image = clock.seconds[-1] / n_train
        cpu_per_image = clock.cpu_seconds[-1] / n_train
        cores = os.cpu_count() or 1
        print(json.dumps({
            "backbone": "vgg16", "frozen": frozen, "size": args.size, "n_train": n_train,
            "n_val": result.run.metrics["n_val"], "epoch_seconds": [round(s, 1) for s in clock.seconds],
            "epoch_cpu_seconds": [round(s, 1) for s in clock.cpu_seconds], "cores": cores,
            "steady_s_per_image": round(per_image, 4), "steady_cpu_s_per_image": round(cpu_per_image, 4),
            "s_per_1000_at_96": round(per_image * 1000 * (96 / args.size) ** 2, 1),
            "idle_s_per_1000_at_96": round(cpu_per_image / cores * 1000 * (96 / args.size) ** 2, 1),
            "load_average": [round(v, 2) for v in os.getloadavg()],
        }), flush=True)


if __name__ == "__main__":
    main()
