"""AppTest of the Convolution page: default widgets, changed widgets, uploads, CIFAR-10 and timings.

Streamlit 1.67's AppTest drives ``st.file_uploader`` itself (``FileUploader.upload``), so uploads
go through the real widget here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.data.datasets import Dataset
from cnnviz.lessons import convolution as conv
from cnnviz.lessons import speed
from cnnviz.lessons.speed import FFT_KERNEL_SIZES, _timing_summary
from tests.support.images import png_bytes


PAGE = "app_pages/convolution.py"


@pytest.fixture
def at(app_path) -> AppTest:
    app = AppTest.from_file(app_path, default_timeout=60).run()
    app.switch_page(PAGE).run()
    assert not app.exception
    return app


def figure(at: AppTest, key: str) -> dict:
    for chart in at.get("plotly_chart"):
        if chart.key == key:
            return json.loads(chart.proto.spec)
    raise AssertionError(f"no plotly chart with key {key!r}; have {[c.key for c in at.get('plotly_chart')]}")


def titles(fig: dict) -> list[str]:
    return [a.get("text", "") for a in fig["layout"].get("annotations", [])]


def texts(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


def no_errors(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_default_page(at):
    no_errors(at)
    assert at.title[0].value == "Convolution"
    assert [s.value for s in at.subheader] == [
        "full, same and valid", "Why 'valid' is a problem for deep networks",
        "Colour: what a Conv2D filter computes", "How fast is a graphics card?"]
    # default: scikit-learn's temple photo (427×640) shrunk to 171×256, Gaussian 3×3 σ 0.5
    modes = titles(figure(at, "conv_modes_fig"))
    assert modes[0].startswith("<b>full</b><br>173×258") and modes[2].startswith("<b>valid</b><br>169×254")
    kernel = figure(at, "conv_kernel_fig")["data"][0]
    assert kernel["texttemplate"] == "%{z:.3g}"
    assert "**full**, 173×258: rows N + k − 1 = 171 + 3 − 1 = 173; columns N + k − 1 = 256 + 3 − 1 = 258" in texts(at)
    assert "colour: 171×256×3<br>(working size)" in titles(figure(at, "conv_image_fig"))  # wrapped for a phone
    assert "**The picture:** 427×640 pixels (height × width), **3 channels** (colour: red, green and blue)" in texts(at)
    assert "**Working size:** 171×256" in texts(at)
    assert "Conv2D equals the sum of flipped convolutions up to rounding" in texts(at)
    assert "a **32×32×128** output" in texts(at)  # seed question 17: 128 filters → 128 channels
    assert not at.button(key="conv_fft_run").value


def test_kernel_change_to_sobel_uses_a_symmetric_scale(at):
    at.selectbox(key="conv_kernel").set_value("Sobel X").run()
    no_errors(at)
    layout = figure(at, "conv_modes_fig")["layout"]
    assert layout["coloraxis"]["cmin"] == -layout["coloraxis"]["cmax"]
    assert "centred on 0 because this kernel has negative weights" in texts(at)


def test_gaussian_size_and_sigma(at):
    at.slider(key="conv_gauss_size").set_value(15).run()
    at.slider(key="conv_gauss_sigma").set_value(2.0).run()
    no_errors(at)
    modes = titles(figure(at, "conv_modes_fig"))
    # the seed's numbers: full N + 14, valid N − 14
    assert modes[0].startswith("<b>full</b><br>185×270") and modes[2].startswith("<b>valid</b><br>157×242")


def test_seed_setup_button_gives_the_15x15_gaussian_at_512_through_the_fft(at):
    at.selectbox(key="conv_kernel").set_value("Sobel X").run()
    assert "computed with `convolve2d` (direct): 9 weights" in texts(at)
    at.button(key="conv_seed_setup").click().run()
    no_errors(at)
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="conv_kernel").value == "Gaussian"
    assert (at.slider(key="conv_gauss_size").value, at.slider(key="conv_gauss_sigma").value) == (15, 4.0)
    assert at.select_slider(key="conv_max_side").value == 512
    assert figure(at, "conv_kernel_fig")["layout"]["title"]["text"].startswith("15×15 kernel, sum 1")
    modes = figure(at, "conv_modes_fig")
    # the temple photo shrunk to 342×512; full N + 14, valid N − 14
    assert titles(modes)[0].startswith("<b>full</b><br>356×526")
    assert titles(modes)[2].startswith("<b>valid</b><br>328×498")
    assert [t["type"] for t in modes["data"]] == ["image", "image", "image", "scatter"]
    assert all(t["source"].startswith("data:image/png;base64,") for t in modes["data"][:3])
    assert "computed with `fftconvolve`: a 15×15 kernel has 225 weights" in texts(at)


def test_box_and_other_named_kernels(at):
    for name in ("Box blur", "Sobel Y", "Laplacian", "Sharpen", "Emboss"):
        at.selectbox(key="conv_kernel").set_value(name).run()
        no_errors(at)
        assert conv.KERNEL_SOURCES[name] in texts(at)


def test_mode_selection(at):
    at.multiselect(key="conv_modes").set_value(["valid"]).run()
    no_errors(at)
    modes = titles(figure(at, "conv_modes_fig"))
    assert modes[0].startswith("<b>valid</b>") and not any(t.startswith("<b>full</b>") for t in modes)
    at.multiselect(key="conv_modes").set_value([]).run()
    assert "Pick at least one mode." in texts(at)


def test_custom_kernel_good_and_bad(at):
    at.selectbox(key="conv_kernel").set_value("Custom").run()
    no_errors(at)
    assert at.text_area(key="conv_custom").value == "0 -1 0\n-1 5 -1\n0 -1 0"
    at.text_area(key="conv_custom").set_value("1 2\n3 4").run()  # an even 2×2 kernel
    no_errors(at)
    assert titles(figure(at, "conv_modes_fig"))[0].startswith("<b>full</b><br>172×257")
    at.text_area(key="conv_custom").set_value("1 2 3\n4 five 6").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["'five' in row 2 is not a number (write numbers like -1, 0.5 or 1/9)"]
    assert at.subheader[0].value == "Why 'valid' is a problem for deep networks"  # the rest still renders


def test_test_pattern_and_working_size(at):
    at.radio(key="conv_source").set_value("Test pattern").run()
    at.selectbox(key="conv_pattern").set_value("Circle").run()
    at.select_slider(key="conv_max_side").set_value(64).run()
    no_errors(at)
    assert titles(figure(at, "conv_modes_fig"))[1].startswith("<b>same</b><br>64×64")


def test_shrink_chart_widgets(at):
    at.number_input(key="conv_shrink_n").set_value(100).run()
    at.slider(key="conv_shrink_k").set_value(5).run()
    no_errors(at)
    fig = figure(at, "conv_shrink_fig")
    assert "N = 100, k = 5" in fig["layout"]["title"]["text"] and "after 25 layers" in fig["layout"]["title"]["text"]


def test_colour_section_widgets(at):
    at.selectbox(key="conv_color_kernel").set_value("Red minus blue").run()
    at.slider(key="conv_color_size").set_value(5).run()
    no_errors(at)
    assert "this filter is the same when flipped, so both sums agree" in texts(at)
    at.number_input(key="conv_q17_in").set_value(3).run()
    at.number_input(key="conv_q17_filters").set_value(32).run()
    at.number_input(key="conv_q17_k").set_value(7).run()
    assert "Each filter is **7×7×3**" in texts(at) and "= **4,736**" in texts(at)


def test_upload_good_image(at):
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 30:] = 200
    at.radio(key="conv_source").set_value("Upload").run()
    assert "Choose a picture to upload" in texts(at)
    at.file_uploader(key="conv_upload").upload("edge.png", png_bytes(rgb), "image/png").run()
    no_errors(at)
    assert titles(figure(at, "conv_modes_fig"))[1].startswith("<b>same</b><br>40×60")
    assert "**The picture:** 40×60 pixels (height × width), **3 channels**" in texts(at)


def test_a_grey_upload_is_called_grey_with_its_own_size_and_the_working_size_apart(at):
    """Seed 000 Q2: the notebook's picture is 512×512 with one channel; a grey picture must not be called
    colour, and its own size must be shown apart from the shrunk working size."""
    grey = np.tile(np.arange(0, 250, 2, dtype=np.uint8), (300, 3))[:, :400]  # 300×375 grey ramp
    at.radio(key="conv_source").set_value("Upload").run()
    at.file_uploader(key="conv_upload").upload("ascent.png", png_bytes(grey), "image/png").run()
    no_errors(at)
    shown = texts(at)
    assert f"**The picture:** {grey.shape[0]}×{grey.shape[1]} pixels (height × width), **1 channel** (grey)" in shown
    assert "**Working size:** 205×256" in shown and "A colour image normally has 3 channels" in shown
    image_titles = titles(figure(at, "conv_image_fig"))
    assert image_titles[0] == "grey, the same in all<br>3 channels: 205×256×3<br>(working size)"  # half a phone
    assert not any(t.startswith("colour") for t in image_titles)


def test_upload_notes_are_shown(at):
    rgba = np.zeros((1, 300, 4), np.uint8)  # a transparent, 1-pixel-tall strip
    at.radio(key="conv_source").set_value("Upload").run()
    at.file_uploader(key="conv_upload").upload("strip.png", png_bytes(rgba), "image/png").run()
    assert not at.exception
    captions = texts(at)
    assert "transparent areas shown on a white background" in captions
    assert "extreme shape (300 pixels wide, 1 tall)" in captions
    # 'valid' of a 1-pixel-tall image with a 3×3 kernel leaves nothing, and the page says so
    assert "nothing left" in " ".join(titles(figure(at, "conv_modes_fig")))
    # the colour section's 3×3 filter does not fit a 1-pixel strip (shrunk to 96 wide): a note, not an error
    assert not at.error
    assert any(i.value.startswith("This picture is 1 pixel high and 96 wide: a 3×3 filter does not fit") for i in at.info)


@pytest.mark.parametrize("name,data,start", [
    ("notes.png", b"this is text, not a picture", "`notes.png` (27 bytes) is not a picture cnnviz can read"),
    ("cut.png", png_bytes(np.full((30, 30, 3), 7, np.uint8))[:70], "`cut.png` ("),
])
def test_upload_bad_file_shows_its_message(at, name, data, start):
    at.radio(key="conv_source").set_value("Upload").run()
    at.file_uploader(key="conv_upload").upload(name, data, "image/png").run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith(start)
    assert not at.subheader or at.subheader[0].value != "full, same and valid"


def test_cifar10_missing_says_how_to_get_it(at, monkeypatch):
    from cnnviz.data import datasets
    from cnnviz.errors import Unavailable

    def missing(name, **_):
        raise Unavailable("CIFAR-10 is not on this machine. Get it with: cnnviz data get cifar10")

    monkeypatch.setattr(datasets, "load", missing, raising=False)
    at.radio(key="conv_source").set_value("CIFAR-10 test image").run()
    no_errors(at)
    assert [i.value for i in at.info] == ["CIFAR-10 is not on this machine. Get it with: cnnviz data get cifar10"]


def test_cifar10_present(at, monkeypatch):
    from cnnviz.data import datasets

    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    fake = Dataset(name="cifar10", x_train=images, y_train=np.arange(5), x_test=images,
                   y_test=np.array([3, 1, 0, 0, 0]),
                   class_names=("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
                   source="test")
    monkeypatch.setattr(datasets, "load", lambda name, **_: fake, raising=False)
    at.radio(key="conv_source").set_value("CIFAR-10 test image").run()
    no_errors(at)
    assert "Class: cat (32×32 pixels, shown as is)" in texts(at)
    assert titles(figure(at, "conv_modes_fig"))[2].startswith("<b>valid</b><br>30×30")
    at.slider(key="conv_cifar_index").set_value(1).run()
    assert "Class: car" in texts(at)


def test_speed_section_with_a_gpu_result(at, monkeypatch):
    calls = []

    def fake_timing(batch_sizes, *, repeats, progress):
        calls.append((list(batch_sizes), repeats))
        progress(0.5, "CPU: batch of 20 timed")  # the page's bar moves with the timing (a spinner before)
        devices = [{"name": "/device:CPU:0", "label": "CPU", "kind": "CPU"},
                   {"name": "/device:GPU:0", "label": "GPU 0 (stand-in)", "kind": "GPU"}]
        n = len(batch_sizes)
        return _timing_summary(list(batch_sizes), devices, {"CPU": [0.1] * n, "GPU 0 (stand-in)": [0.01] * n},
                               repeats=repeats, tf_version="test", operation="op") | {
            "gpu_memory": {"GPU 0 (stand-in)": {"current_bytes": 3 * 2**20, "peak_bytes": 41.5 * 2**20}}}

    monkeypatch.setattr(speed, "time_conv2d", fake_timing)
    assert not at.button(key="conv_fft_run").value
    at.toggle(key="conv_speed_on").set_value(True).run()
    at.slider(key="conv_speed_n").set_value(20).run()
    at.button(key="conv_speed_run").click().run()
    no_errors(at)
    assert calls == [([2, 5, 10, 20], 5)]
    assert at.success[0].value.startswith("GPU 0 (stand-in) is 10.0× faster than the CPU for a batch of 20")
    assert [t["name"] for t in figure(at, "conv_speed_fig")["data"]] == ["CPU", "GPU 0 (stand-in)"]
    assert figure(at, "conv_speedup_fig")["data"][0]["y"] == [10.0] * 4
    assert ("**GPU 0 (stand-in) memory** (TensorFlow's `get_memory_info`): peak 41.5 MiB while timing, 3.0 MiB "
            "in use now") in texts(at)  # seed questions 9 and 12


@pytest.mark.slow
def test_speed_section_really_times_on_this_machine(app_path):
    app = AppTest.from_file(app_path, default_timeout=180).run()
    app.switch_page(PAGE).run()
    app.toggle(key="conv_speed_on").set_value(True).run()
    app.slider(key="conv_speed_n").set_value(2).run()
    app.slider(key="conv_speed_repeats").set_value(1).run()
    app.button(key="conv_speed_run").click().run()
    no_errors(app)
    fig = figure(app, "conv_speed_fig")
    assert fig["data"][0]["name"] == "CPU" and fig["data"][0]["x"] == [2]
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        assert app.info[0].value.startswith("No GPU on this machine")
        assert "memory** (TensorFlow's" not in texts(app)  # nothing to say about a GPU's memory


def test_fft_timing_button(at, monkeypatch):
    """The timing moves a bar after each kernel size (6 s on 512×512 under load, a spinner only before)."""
    moved, timing = [], speed.time_direct_vs_fft

    def watched(gray, progress=None, **kw):  # the page's own bar, wrapped to see it move
        seen = progress and (lambda share, words: moved.append(share) or progress(share, words))
        return timing(gray, **kw, progress=seen)

    monkeypatch.setattr(speed, "time_direct_vs_fft", watched)
    at.select_slider(key="conv_max_side").set_value(64).run()
    at.button(key="conv_fft_run").click().run()
    no_errors(at)
    assert moved == [(i + 1) / len(FFT_KERNEL_SIZES) for i in range(len(FFT_KERNEL_SIZES))]
    fig = figure(at, "conv_fft_fig")
    assert fig["data"][0]["x"] == list(FFT_KERNEL_SIZES)
    assert "Both give the same answer" in texts(at)
