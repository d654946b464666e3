"""cnnviz.lessons.speed: Conv2D per device and direct against FFT convolution."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.lessons import speed


def test_doctests():
    result = doctest.testmod(speed)
    assert result.attempted >= 2 and result.failed == 0


def test_batch_size_steps():
    assert speed.batch_size_steps(2) == [2]
    assert speed.batch_size_steps(100) == [2, 5, 10, 20, 50, 100]
    assert speed.batch_size_steps(200) == [2, 5, 10, 20, 50, 100, 200]
    with pytest.raises(InvalidArgument, match="largest batch must be a whole number from 2 to 200, got 201"):
        speed.batch_size_steps(201)


def test_timing_summary_speedup_and_messages():
    devices = [{"name": "/device:CPU:0", "label": "CPU", "kind": "CPU"},
               {"name": "/device:GPU:0", "label": "GPU 0", "kind": "GPU"}]
    res = speed._timing_summary([2, 100], devices, {"CPU": [0.01, 0.5], "GPU 0": [0.005, 0.01]}, repeats=3,
                               tf_version="x", operation="op")
    assert res["speedup"] == {"GPU 0": [2.0, 50.0]}
    assert res["images_per_second"]["CPU"] == [200.0, 200.0]
    assert res["gpu_available"] and res["message"].startswith(
        "GPU 0 is 50.0× faster than the CPU for a batch of 100 and 2.0× for a batch of 2")
    slower = speed._timing_summary([2, 100], devices, {"CPU": [0.01, 0.5], "GPU 0": [0.04, 0.05]}, repeats=3,
                                  tf_version="x", operation="op")  # launching costs more than 2 images' work
    assert slower["message"].startswith(
        "GPU 0 is 10.0× faster than the CPU for a batch of 100 and 4.0× slower than the CPU for a batch of 2: small")
    # the numbers, not what a GPU usually does, decide the words: here the small batch gained more
    less = speed._timing_summary([2, 100], devices, {"CPU": [0.01, 0.5], "GPU 0": [0.001, 0.25]}, repeats=3,
                                tf_version="x", operation="op")
    assert less["message"] == ("GPU 0 is 2.0× faster than the CPU for a batch of 100 and 10.0× faster than the CPU "
                               "for a batch of 2: this time the larger batch did not gain more, as it usually does on "
                               "a GPU; run the timing again to see whether that holds.")
    one = speed._timing_summary([2], devices, {"CPU": [0.01], "GPU 0": [0.02]}, repeats=1, tf_version="x",
                               operation="op")
    assert one["message"] == "GPU 0 is 2.0× slower than the CPU for a batch of 2."
    cpu_only = speed._timing_summary([2], devices[:1], {"CPU": [0.01]}, repeats=1, tf_version="x", operation="op")
    assert cpu_only["speedup"] == {} and not cpu_only["gpu_available"]
    assert cpu_only["message"].startswith("No GPU on this machine")


@pytest.mark.slow
def test_time_conv2d_tiny_on_this_machine():
    moved = []
    res = speed.time_conv2d((1, 3), filters=2, kernel_size=3, image_size=12, repeats=2,
                            progress=lambda share, words: moved.append((share, words)))
    shares = [share for share, _ in moved]
    assert shares == sorted(shares) and shares[-1] == 1.0 and moved[0][1] == "CPU: batch of 1 timed"
    assert res["batch_sizes"] == [1, 3]
    assert res["devices"][0] == {"name": "/device:CPU:0", "label": "CPU", "kind": "CPU"}
    assert len(res["seconds"]["CPU"]) == 2 and all(t > 0 for t in res["seconds"]["CPU"])
    assert res["operation"] == "2 filters of 3×3×3 over N random 12×12×3 images ('valid' padding)"
    assert res["repeats"] == 2 and res["tensorflow"]
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):  # the CI machines have none
        assert not res["gpu_available"] and res["speedup"] == {}
        assert res["message"].startswith("No GPU on this machine: TensorFlow sees only the CPU")
        assert [d["kind"] for d in res["devices"]] == ["CPU"]
        assert res["gpu_memory"] == {}  # no GPU: no memory figures, and no error


@pytest.mark.slow
def test_time_conv2d_times_every_device_it_is_given(monkeypatch):
    # Stand in a second "GPU" that really is the CPU: the GPU branch runs end to end.
    fake = [{"name": "/device:CPU:0", "label": "CPU", "kind": "CPU"},
            {"name": "/device:CPU:0", "label": "GPU 0 (stand-in)", "kind": "GPU"}]
    monkeypatch.setattr(speed, "_tf_devices", lambda tf: fake)
    asked = []
    monkeypatch.setattr(speed, "gpu_memory", lambda tf, name: asked.append(name) or {"current_bytes": 1, "peak_bytes": 2})
    res = speed.time_conv2d((2,), filters=1, kernel_size=3, image_size=8, repeats=1)
    assert asked == ["/device:CPU:0"] and res["gpu_memory"] == {"GPU 0 (stand-in)": {"current_bytes": 1, "peak_bytes": 2}}
    assert res["gpu_available"] and list(res["seconds"]) == ["CPU", "GPU 0 (stand-in)"]
    assert len(res["speedup"]["GPU 0 (stand-in)"]) == 1 and res["speedup"]["GPU 0 (stand-in)"][0] > 0


class _FakeExperimental:
    """``tf.config.experimental`` of a TensorFlow with one GPU, or of one that cannot tell (``error``)."""

    def __init__(self, error: Exception | None = None):
        self.error, self.asked, self.reset = error, [], []

    def get_memory_info(self, device):
        self.asked.append(device)
        if self.error:
            raise self.error
        return {"current": 3 * 2**20, "peak": 40 * 2**20}

    def reset_memory_stats(self, device):
        self.reset.append(device)
        if self.error:
            raise self.error


def _fake_tf(experimental):
    return type("TF", (), {"config": type("Config", (), {"experimental": experimental})})


def test_gpu_memory_asks_tensorflow_by_device_name_and_is_guarded():
    ok = _FakeExperimental()
    assert speed.gpu_memory(_fake_tf(ok), "/device:GPU:0") == {"current_bytes": 3 * 2**20, "peak_bytes": 40 * 2**20}
    speed.reset_gpu_peak(_fake_tf(ok), "/job:localhost/replica:0/task:0/device:GPU:1")
    assert ok.asked == ["GPU:0"] and ok.reset == ["GPU:1"]
    for error in (ValueError("not a GPU"), RuntimeError("no memory stats"), AttributeError("old TensorFlow")):
        failing = _FakeExperimental(error)
        assert speed.gpu_memory(_fake_tf(failing), "/device:GPU:0") is None
        speed.reset_gpu_peak(_fake_tf(failing), "/device:GPU:0")  # says nothing
    assert speed.gpu_memory(object(), "/device:GPU:0") is None  # no tf.config at all


def test_time_conv2d_validates_before_importing_tensorflow():
    with pytest.raises(InvalidArgument, match="batch size must be a whole number from 1 to 200, got 500"):
        speed.time_conv2d((2, 500))
    with pytest.raises(InvalidArgument, match="give at least one batch size to time"):
        speed.time_conv2d(())
    with pytest.raises(InvalidArgument, match="image size must be a whole number from 7 to 256, got 5"):
        speed.time_conv2d((2,), image_size=5)


def test_time_direct_vs_fft():
    image = np.random.default_rng(9).random((40, 50))
    moved = []
    res = speed.time_direct_vs_fft(image, (3, 9), repeats=1, progress=lambda share, words: moved.append((share, words)))
    assert moved == [(0.5, "3×3 kernel timed"), (1.0, "9×9 kernel timed")]
    assert res["kernel_sizes"] == [3, 9] and res["image_shape"] == (40, 50)
    assert len(res["direct_seconds"]) == len(res["fft_seconds"]) == 2
    assert all(t > 0 for t in res["direct_seconds"] + res["fft_seconds"])
    assert max(res["max_abs_difference"]) < 1e-9
    with pytest.raises(InvalidArgument, match=r"time on an image of at most 512×512 pixels, got 600×10"):
        speed.time_direct_vs_fft(np.ones((600, 10)))
