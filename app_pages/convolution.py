"""Convolution: filters by hand, full/same/valid sizes, colour Conv2D and its speed (seed 000 Parts 1-4)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnnviz.app import convcaches, imagesource
from cnnviz.app.boundary import friendly_errors
from cnnviz.app.numbers import checked_number
from cnnviz.app.remember import KEEP, URL
from cnnviz.data import images
from cnnviz.errors import Unavailable
from cnnviz.lessons import convolution as conv
from cnnviz.lessons import speed
from cnnviz.lessons.checks import MAX_KERNEL
from cnnviz.plots import convolution as plots
from cnnviz.plots.common import image_grid


SOURCES = ("Sample photo", "Test pattern", "CIFAR-10 test image")  # then Upload and Camera
SPEED_RESULT = "conv_speed_result"  # session-state keys for results that survive reruns
FFT_RESULT = "conv_fft_result"


def _pick_image() -> tuple[np.ndarray, tuple[int, int, int]] | None:
    """The image chosen in the sidebar-free picker as uint8 RGB, shrunk to the working size, and the
    picture's own height, width and channels (seed 000 Q2)."""
    left, right = st.columns([2, 1])
    source = imagesource.source_radio("Image", SOURCES, key="conv_source", where=left, bind=URL)
    max_side = right.select_slider("Working size (longest side, pixels)", options=[32, 64, 128, 192, 256, 384, 512],
                                   value=256, key="conv_max_side", persist_state=KEEP,
                                   help="Big images are shrunk first so every filter answers at once.")
    if source == "Sample photo":
        name = st.selectbox("Photo", list(conv.SAMPLE_PHOTOS), key="conv_sample", persist_state=KEEP)
        photo = convcaches.sample_photo(name)
        return images.fit_within(photo, max_side), photo.shape
    if source == "Test pattern":
        name = st.selectbox("Pattern", conv.PATTERNS, key="conv_pattern", persist_state=KEEP)
        gray = conv.pattern_image(name, min(max_side, 128))
        return np.repeat(gray[..., None], 3, axis=-1), (*gray.shape, 1)
    if source == "CIFAR-10 test image":
        try:
            found = convcaches.cifar10_examples()
        except Unavailable as err:  # not an error: the data is simply not on this machine yet
            st.info(str(err))
            return None
        index = st.slider("Test image number", 0, len(found["images"]) - 1, 0, key="conv_cifar_index",
                          persist_state=KEEP)
        st.caption(f"Class: {found['class_names'][int(found['labels'][index])]} (32×32 pixels, shown as is)")
        return found["images"][index], found["images"][index].shape
    pictures = imagesource.own_pictures(source, upload_key="conv_upload", camera_key="conv_camera",
                                        upload_label="Your picture (JPEG, PNG, WebP, BMP or GIF, up to 10 MB)",
                                        empty_note="Choose a picture to upload, or pick a sample photo above.")
    if not pictures:
        return None
    loaded = convcaches.load_upload(pictures[0].data, pictures[0].name, max_side)
    for note in loaded.notes:
        st.caption(f":material/info: {note}")
    return loaded.array, (*(loaded.original_size or loaded.array.shape[:2]), loaded.channels)


def _sizes_text(original: tuple[int, int, int], working: tuple[int, int]) -> str:
    """Seed 000 Q2: the picture's own size and channels, apart from the size the page works at."""
    height, width, channels = original
    kind = "grey" if channels == 1 else "colour: red, green and blue"
    text = f"**The picture:** {height}×{width} pixels (height × width), **{channels} channel{'s' if channels != 1 else ''}** ({kind}). "
    if tuple(working) == (height, width):
        text += "The page works on it at this size. "
    else:
        text += f"**Working size:** {working[0]}×{working[1]} (shrunk so that its longest side fits the slider). "
    return text + "A colour image normally has 3 channels; a grey one has 1."


def _seed_setup() -> None:
    """Seed Part 1: the 15×15 Gaussian on the biggest working size (a button's callback, before the widgets)."""
    st.session_state.update(conv_kernel="Gaussian", conv_gauss_size=conv.SEED_GAUSSIAN_SIZE,
                            conv_gauss_sigma=conv.SEED_GAUSSIAN_SIGMA, conv_max_side=conv.SEED_WORKING_SIZE)


def _pick_kernel() -> np.ndarray:
    left, right = st.columns([1, 1])
    left.button(f"The seed's set-up: {conv.SEED_GAUSSIAN_SIZE}×{conv.SEED_GAUSSIAN_SIZE} Gaussian "
                f"(σ {conv.SEED_GAUSSIAN_SIGMA:g}) at {conv.SEED_WORKING_SIZE} pixels", key="conv_seed_setup",
                on_click=_seed_setup, icon=":material/school:")
    name = left.selectbox("Kernel", conv.KERNEL_NAMES, key="conv_kernel", persist_state=KEEP, bind=URL)
    left.caption(conv.KERNEL_SOURCES[name])
    if name == "Gaussian":
        size = left.slider("Size k", 1, MAX_KERNEL, 3, key="conv_gauss_size", persist_state=KEEP)
        sigma = left.slider("Sigma σ (pixels)", 0.1, 10.0, 0.5, step=0.1, key="conv_gauss_sigma", persist_state=KEEP)
        kernel = conv.gaussian_kernel(size, float(sigma))
    elif name == "Box blur":
        kernel = conv.box_kernel(left.slider("Size k", 1, 15, 3, key="conv_box_size", persist_state=KEEP))
    elif name == "Custom":
        text = left.text_area("Your kernel: one row per line, numbers split by spaces (1/9 works too)",
                              value=conv.kernel_to_text(conv.SHARPEN), height=150, key="conv_custom",
                              persist_state=KEEP)
        kernel = conv.parse_kernel_text(text)
    else:
        kernel = conv.named_kernel(name)
    right.plotly_chart(plots.kernel_figure(kernel, title=f"{kernel.shape[0]}×{kernel.shape[1]} kernel, sum "
                                                         f"{kernel.sum():.3g}"), key="conv_kernel_fig")
    return kernel


def _modes_section(gray: np.ndarray, kernel: np.ndarray) -> None:
    st.subheader("full, same and valid")
    shown = st.multiselect("Modes", conv.MODES, default=list(conv.MODES), key="conv_modes", persist_state=KEEP)
    if not shown:
        st.info("Pick at least one mode.")
        return
    results = conv.compare_modes(gray, kernel)
    st.plotly_chart(plots.modes_figure({m: results[m] for m in shown}, kernel=kernel), key="conv_modes_fig")
    st.markdown("  \n".join(conv.size_lines({m: results[m] for m in shown})))
    st.caption(
        "One colour scale for all panels"
        + (", centred on 0 because this kernel has negative weights (blue below 0, red above)" if conv.is_signed(kernel)
           else "")
        + ". 'full' and 'same' pad the image with zeros, which shows as a frame at the border; "
        "'valid' keeps only positions where the whole kernel fits. Each panel is "
        + conv.method_text(kernel.shape) + "; the picture has 256 colour levels, hover gives the position."
    )


def _shrink_section() -> None:
    st.subheader("Why 'valid' is a problem for deep networks")
    a, b, c = st.columns(3)
    n = checked_number("Input size N", 4, 1024, 32, key="conv_shrink_n", where=a, help="CIFAR-10 images are 32×32.")
    k = b.slider("Kernel size k", 1, 15, 3, key="conv_shrink_k", persist_state=KEEP)
    layers = c.slider("Layers", 1, 50, 20, key="conv_shrink_layers", persist_state=KEEP)
    if n is not None:
        st.plotly_chart(plots.shrink_figure(int(n), int(k), int(layers)), key="conv_shrink_fig")


def _color_section(rgb: np.ndarray) -> None:
    st.subheader("Colour: what a Conv2D filter computes")
    st.write("A Conv2D filter on a colour image is k×k×3: it has one k×k slice per input channel, "
             "multiplies each slice with its channel *without flipping* (cross-correlation) and adds the "
             "three results into one output map. That is the sum of three `convolve2d` calls with the "
             "slices flipped, so Conv2D is not quite the convolution `convolve2d` computes.")
    a, b = st.columns(2)
    name = a.selectbox("Filter", conv.COLOR_KERNEL_NAMES, key="conv_color_kernel", persist_state=KEEP)
    size = b.slider("Filter size k", 1, 7, 3, key="conv_color_size", persist_state=KEEP)
    small = images.fit_within(rgb, 96)
    height, width = small.shape[:2]
    if min(height, width) < size:  # thin pictures: say so here instead of failing the section
        st.info(f"This picture is {height} pixel{'s' if height != 1 else ''} high and {width} wide: a {size}×{size} "
                "filter does not fit inside it. Choose a smaller filter size, or another picture.")
        return
    result = conv.color_identity(small, conv.color_kernel(name, size))
    st.plotly_chart(plots.color_identity_figure(result), key="conv_color_fig")
    note = ("this filter is the same when flipped, so both sums agree" if result["kernel_symmetric"]
            else "flipping matters for this filter")
    st.caption(f"Conv2D equals the sum of flipped convolutions up to rounding "
               f"(largest difference {result['max_diff_flipped']:.1e}); without flipping the largest "
               f"difference is {result['max_diff_unflipped']:.3g}: {note}.")

    st.markdown("**How many output channels?** One per filter, whatever the input has.")
    a, b, c = st.columns(3)
    in_ch = checked_number("Input channels", 1, 4096, 32, key="conv_q17_in", where=a)
    filters = checked_number("Filters", 1, 4096, 128, key="conv_q17_filters", where=b)
    k = checked_number("Filter size k", 1, 15, 3, key="conv_q17_k", where=c)
    if None in (in_ch, filters, k):
        return
    shapes = conv.conv_layer_shapes(32, 32, int(in_ch), int(filters), int(k), padding="same")
    st.markdown(
        f"Each filter is **{'×'.join(map(str, shapes['filter_shape']))}**; a 32×32×{in_ch} input gives a "
        f"**{'×'.join(map(str, shapes['output_shape']))}** output ('same' padding): **{filters}** channels. "
        f"Parameters: {shapes['weights']:,} weights + {shapes['biases']:,} biases = **{shapes['params']:,}**."
    )


def _bar_mover(bar):
    """A timing's ``progress(share, words)`` moving ``bar`` (both timings take seconds: no wait without a bar)."""
    return lambda share, words: bar.progress(min(max(share, 0.0), 1.0), text=f"Timing: {words} ({share:.0%})")


def _speed_section(gray: np.ndarray) -> None:
    st.subheader("How fast is a graphics card?")
    if not st.toggle("Time Conv2D on the CPU and every GPU (loads TensorFlow)", key="conv_speed_on",
                     persist_state=KEEP):
        st.caption("Turn this on to time the seed's Conv2D: 32 filters of 7×7×3 over a batch of random "
                   "100×100×3 images.")
    else:
        a, b = st.columns(2)
        largest = a.slider("Largest batch N", 2, speed.MAX_TIMING_BATCH, 100, key="conv_speed_n", persist_state=KEEP)
        repeats = b.slider("Repeats per batch size", 1, 10, 5, key="conv_speed_repeats", persist_state=KEEP)
        if st.button("Run the timing", key="conv_speed_run", icon=":material/timer:"):
            bar = st.progress(0.0, text="Loading TensorFlow ...")
            st.session_state[SPEED_RESULT] = speed.time_conv2d(speed.batch_size_steps(largest), repeats=repeats,
                                                               progress=_bar_mover(bar))
            bar.empty()
        result = st.session_state.get(SPEED_RESULT)
        if result:
            (st.success if result["gpu_available"] else st.info)(result["message"])
            st.plotly_chart(plots.conv_timing_figure(result), key="conv_speed_fig")
            speedup = plots.speedup_figure(result)
            if speedup is not None:
                st.plotly_chart(speedup, key="conv_speedup_fig")
            st.caption(f"TensorFlow {result['tensorflow']}; median of {result['repeats']} runs after a warm-up run.")
            for label, used in result.get("gpu_memory", {}).items():  # seed questions 9 and 12
                st.markdown(f"**{label} memory** (TensorFlow's `get_memory_info`): peak "
                            f"{used['peak_bytes'] / 2**20:,.1f} MiB while timing, {used['current_bytes'] / 2**20:,.1f} "
                            "MiB in use now. `nvidia-smi` shows more, because TensorFlow reserves most of the "
                            "card's memory for itself; it also shows how busy the GPU is, which TensorFlow does not.")

    st.markdown("**Direct or FFT?** `convolve2d` multiplies every kernel weight at every pixel; "
                "`fftconvolve` goes through the Fourier transform, whose cost hardly depends on the kernel size.")
    if st.button("Time convolve2d against fftconvolve", key="conv_fft_run", icon=":material/speed:"):
        bar = st.progress(0.0, text="Timing ...")
        st.session_state[FFT_RESULT] = speed.time_direct_vs_fft(gray, progress=_bar_mover(bar))
        bar.empty()
    if st.session_state.get(FFT_RESULT):
        fft = st.session_state[FFT_RESULT]
        st.plotly_chart(plots.fft_timing_figure(fft), key="conv_fft_fig")
        st.caption(f"Both give the same answer: the largest difference is {max(fft['max_abs_difference']):.1e}.")


def main() -> None:
    st.title("Convolution")
    st.write("Turn a small grid of numbers, the **kernel**, by 180°, slide it over an image, multiply and add: "
             "that is a convolution (a CNN's Conv2D skips the turn: see the colour section), and a CNN learns "
             "its kernels. Try the classic ones here, then see what the output "
             "sizes are, what a Conv2D layer does with colour, and how much a GPU speeds it up.")
    picked = None
    with friendly_errors("Loading the image"):
        picked = _pick_image()
    if picked is None:
        return
    rgb, (height, width, channels) = picked
    gray = images.to_grayscale(rgb)
    st.markdown(_sizes_text((height, width, channels), rgb.shape[:2]))
    colour = "colour" if channels == 3 else "grey, the same in all 3 channels"
    captions = [f"{colour}: {rgb.shape[0]}×{rgb.shape[1]}×3 (working size)",
                f"grayscale for 2D work: {gray.shape[0]}×{gray.shape[1]} (1 channel)"]
    st.plotly_chart(image_grid([rgb, gray], titles=captions, columns=2, tile_px=260, title="The image"),
                    key="conv_image_fig")

    kernel = None
    with friendly_errors("Building the kernel"):
        kernel = _pick_kernel()
    if kernel is not None:
        with friendly_errors("The convolution"):
            _modes_section(gray, kernel)
    with friendly_errors("The shrinking chart"):
        _shrink_section()
    with friendly_errors("The colour example"):
        _color_section(rgb)
    with friendly_errors("The timing"):
        _speed_section(gray)


main()
