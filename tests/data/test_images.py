"""Safe image input: every bad case gets its own student-readable message; good cases decode right.

All files are built in memory with Pillow and numpy.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnviz.data import images
from cnnviz.data.images import ImageError, LoadedImage, load_image
from cnnviz.errors import CnnvizError, InvalidArgument
from tests.support.images import encode, png_bytes
from tests.support.hostile_corpus import png_header_only as _png_header_only


@pytest.fixture
def noise_rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)


# --- good files ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,expected", [("PNG", "PNG"), ("BMP", "BMP"), ("WEBP", "WebP")])
def test_lossless_formats_round_trip_exactly(noise_rgb, fmt, expected):
    kw = {"lossless": True} if fmt == "WEBP" else {}
    loaded = load_image(encode(Image.fromarray(noise_rgb), fmt, **kw), name=f"x.{fmt.lower()}")
    assert isinstance(loaded, LoadedImage)
    assert loaded.format == expected
    assert loaded.array.dtype == np.uint8
    np.testing.assert_array_equal(loaded.array, noise_rgb)
    assert loaded.notes == ()


def test_jpeg_decodes_close_to_the_original():
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))
    rgb = np.stack([smooth, smooth[:, ::-1], np.full_like(smooth, 128)], axis=-1)
    loaded = load_image(encode(Image.fromarray(rgb), "JPEG", quality=95))
    assert loaded.format == "JPEG" and loaded.array.shape == (24, 32, 3)
    assert np.abs(loaded.array.astype(int) - rgb).mean() < 3


def test_grayscale_mode_uses_pillow_luma(noise_rgb):
    loaded = load_image(encode(Image.fromarray(noise_rgb), "PNG"), mode="L")
    assert loaded.array.shape == (20, 30)
    expected = noise_rgb @ np.array([0.299, 0.587, 0.114])
    assert np.abs(loaded.array - expected).max() <= 1


def test_grayscale_file_becomes_three_equal_channels_in_rgb_mode():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    loaded = load_image(encode(Image.fromarray(gray), "PNG"))
    assert loaded.array.shape == (8, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(loaded.array[..., c], gray)


@pytest.mark.parametrize("fmt,kw", [("JPEG", {"quality": 100}), ("PNG", {}), ("WEBP", {"lossless": True})])
def test_exif_orientation_is_applied(fmt, kw):
    stored = np.zeros((10, 20, 3), np.uint8)
    stored[0, 0] = 255  # bright corner top-left as stored
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    loaded = load_image(encode(im, fmt, exif=exif.tobytes(), **kw))
    assert loaded.array.shape == (20, 10, 3)
    assert np.unravel_index(loaded.array[..., 0].argmax(), (20, 10)) == (0, 9)  # now top-right
    assert loaded.notes == ("EXIF orientation 6 applied (the camera's rotation)",)


def test_orientation_1_is_not_mentioned(noise_rgb):
    im = Image.fromarray(noise_rgb)
    exif = im.getexif()
    exif[0x0112] = 1
    assert load_image(encode(im, "PNG", exif=exif.tobytes())).notes == ()


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("WEBP", {"lossless": True})])
def test_rgba_is_composited_on_white(fmt, kw):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half fully transparent
    rgba[4:6, :, 3] = 128  # then half transparent
    loaded = load_image(encode(Image.fromarray(rgba), fmt, **kw))
    np.testing.assert_array_equal(loaded.array[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(loaded.array[7, 7], [255, 255, 255])  # not black
    assert loaded.array[5, 0, 0] == 255 and 120 <= loaded.array[5, 0, 1] <= 135  # red over white, half
    assert "transparent areas shown on a white background" in loaded.notes


def test_la_is_composited_on_white():
    gray = np.full((8, 8), 50, np.uint8)
    alpha = np.zeros((8, 8), np.uint8)
    alpha[:, ::2] = 255
    la = Image.fromarray(np.stack([gray, alpha], axis=-1), "LA")
    loaded = load_image(encode(la, "PNG"), mode="L")
    np.testing.assert_array_equal(loaded.array[:, 0], 50)
    np.testing.assert_array_equal(loaded.array[:, 1], 255)


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_is_composited_on_white(fmt):
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    loaded = load_image(encode(pal, fmt, transparency=0))
    np.testing.assert_array_equal(loaded.array[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(loaded.array[3, 3], [255, 255, 255])  # colour 0 was black, now white
    assert "transparent areas shown on a white background" in loaded.notes


def test_opaque_rgba_gets_no_transparency_note(noise_rgb):
    rgba = np.concatenate([noise_rgb, np.full((20, 30, 1), 255, np.uint8)], axis=-1)
    loaded = load_image(encode(Image.fromarray(rgba), "PNG"))
    np.testing.assert_array_equal(loaded.array, noise_rgb)
    assert loaded.notes == ()


def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # no cyan, full magenta+yellow = red
    data = encode(cmyk, "JPEG", quality=100)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    loaded = load_image(data)
    assert loaded.array.shape == (8, 8, 3)
    assert np.abs(loaded.array[4, 4].astype(int) - [255, 0, 0]).max() <= 3
    assert "CMYK (print) colours converted to RGB, approximately" in loaded.notes


def test_16_bit_png_is_scaled_not_clipped():
    ramp = (np.arange(16 * 64).reshape(16, 64) * 64).astype(np.uint16)  # 0..65472
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    loaded = load_image(data, mode="L")
    np.testing.assert_array_equal(loaded.array, np.round(ramp / 257.0).astype(np.uint8))
    assert loaded.array.max() == 255 and (loaded.array < 255).mean() > 0.99  # not a white image
    assert loaded.notes == ("16-bit image scaled to 8 bits (0..65535 → 0..255)",)
    assert load_image(data).array.shape == (16, 64, 3)


def test_32_bit_modes_are_scaled_or_stretched():
    # Pillow cannot write mode "I"/"F" in the allowed formats; the converter is tested directly.
    notes: list[str] = []
    out = images._to_uint8_from_wide(Image.fromarray(np.array([[0, 65535, 257]], np.int32)), notes)
    np.testing.assert_array_equal(np.asarray(out), [[0, 255, 1]])
    notes.clear()
    out = images._to_uint8_from_wide(Image.fromarray(np.array([[-1.0, 0.0, 1.0]], np.float32)), notes)
    np.testing.assert_array_equal(np.asarray(out), [[0, 128, 255]])
    assert notes == ["F-mode image stretched from -1..1 to 0..255"]


def test_bilevel_image_becomes_black_and_white():
    im = Image.new("1", (4, 3), 0)
    im.putpixel((1, 1), 1)
    loaded = load_image(encode(im, "PNG"), mode="L")
    assert loaded.array.shape == (3, 4) and loaded.array[1, 1] == 255 and loaded.array.sum() == 255


def test_animated_gif_uses_first_frame_with_a_note():
    frames = [Image.new("L", (5, 5), v) for v in (10, 100, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(buf.getvalue(), mode="L")
    np.testing.assert_array_equal(loaded.array, 10)
    assert loaded.notes[0] == "animated GIF: showing the first of 3 frames"


def test_animated_webp_uses_first_frame_with_a_note():
    frames = [Image.new("RGB", (8, 8), (v, v, v)) for v in (10, 100, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    loaded = load_image(buf.getvalue(), mode="L")
    np.testing.assert_array_equal(loaded.array, 10)
    assert loaded.format == "WebP" and loaded.notes == ("animated WebP: showing the first of 3 frames",)


def test_multi_picture_jpeg_from_a_phone_opens_as_jpeg():
    first, second = Image.new("RGB", (16, 12), (200, 10, 10)), Image.new("RGB", (16, 12), (10, 200, 10))
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second], quality=95)
    loaded = load_image(buf.getvalue())
    assert loaded.format == "JPEG" and loaded.array.shape == (12, 16, 3)
    assert np.abs(loaded.array[6, 8].astype(int) - [200, 10, 10]).max() <= 4
    assert loaded.notes == ("multi-picture JPEG (MPO): showing the first of 2 pictures",)


def test_single_pixel_image_loads_with_a_note():
    loaded = load_image(encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG"))
    np.testing.assert_array_equal(loaded.array, [[[1, 2, 3]]])
    assert loaded.notes == ("the picture is a single pixel: there is nothing for a filter to find",)


def test_extremely_thin_image_loads_with_notes():
    loaded = load_image(encode(Image.new("L", (20000, 1), 9), "PNG"), mode="L")
    assert loaded.array.shape == (1, 20000)
    assert loaded.notes == (
        "very small (20000 pixels wide, 1 tall): kernels larger than 1 pixels leave nothing in 'valid' mode",
        "extreme shape (20000 pixels wide, 1 tall): shrunk to fit the screen it becomes a thin line",
    )
    small = images.fit_within(loaded.array, 256)
    assert small.shape == (1, 256) and small.dtype == np.uint8


# --- bad files: one message each ----------------------------------------------------------


def test_empty_bytes():
    with pytest.raises(ImageError) as err:
        load_image(b"", name="cat.jpg")
    assert str(err.value) == "`cat.jpg` is empty (0 bytes). Choose the picture again, or try another file."


def test_text_with_an_image_name():
    with pytest.raises(ImageError) as err:
        load_image(b"hello, this is not a photo\n", name="cat.png")
    assert str(err.value) == (
        "`cat.png` (27 bytes) is not a picture cnnviz can read: it looks like text, not a picture. "
        "Upload a JPEG, PNG, WebP, BMP or GIF image (for example, export or screenshot it as PNG)."
    )


def test_random_binary_with_an_image_name():
    junk = bytes(np.random.default_rng(1).integers(128, 256, 300, dtype=np.uint8))
    with pytest.raises(ImageError, match=r"^`x.jpg` \(300 bytes\) is not a picture .* it looks like data in an "
                                         r"unknown format\. Upload a JPEG"):
        load_image(junk, name="x.jpg")


@pytest.mark.parametrize("fmt,kind", [("TIFF", "a TIFF file"), ("ICO", "a Windows icon (ICO) file"),
                                      ("PDF", "a PDF file")])
def test_formats_outside_the_allow_list_are_refused_by_name(noise_rgb, fmt, kind):
    data = encode(Image.fromarray(noise_rgb), fmt)
    with pytest.raises(ImageError) as err:
        load_image(data, name="photo.png")
    assert f"it looks like {kind}. Upload a JPEG, PNG, WebP, BMP or GIF image" in str(err.value)


@pytest.mark.parametrize("head,kind", [(b"\x00\x00\x00\x18ftypheic", "a HEIC (iPhone photo) file"),
                                       (b"\x00\x00\x00\x1cftypavif", "an AVIF file"),
                                       (b"<svg xmlns='http://www.w3.org/2000/svg'>", "an SVG drawing file")])
def test_phone_and_web_formats_are_named(head, kind):
    with pytest.raises(ImageError) as err:
        load_image(head + b"\x00" * 40, name="IMG_0001.jpg")
    assert f"it looks like {kind}. Upload a JPEG, PNG" in str(err.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_truncated_files(noise_rgb, fmt):
    data = encode(Image.fromarray(noise_rgb), fmt)
    with pytest.raises(ImageError) as err:
        load_image(data[: len(data) * 2 // 3], name=f"cut.{fmt.lower()}")
    message = str(err.value)
    assert message.startswith(f"`cut.{fmt.lower()}` (")
    assert "cut off (truncated)" in message and "upload the complete file" in message


def test_header_only_png_says_it_starts_like_a_png(noise_rgb):
    data = encode(Image.fromarray(noise_rgb), "PNG")
    with pytest.raises(ImageError) as err:
        load_image(data[:40], name="cut.png")
    assert str(err.value) == (
        "`cut.png` (40 bytes) starts like a PNG file but cannot be read: it is cut off (truncated) or "
        "damaged. Download or export it again and upload the complete file."
    )


def test_damaged_pixel_data_in_a_png(noise_rgb):
    data = bytearray(encode(Image.fromarray(noise_rgb), "PNG"))
    start = data.index(b"IDAT") + 4
    data[start:start + 40] = b"\x00" * 40  # wreck the compressed stream, keep the length
    with pytest.raises(ImageError, match=r"^`bad.png` \(PNG, 30×20 pixels, .*\) cannot be decoded: it is"):
        load_image(bytes(data), name="bad.png")


def test_image_over_our_pixel_limit_is_refused_before_decoding():
    data = _png_header_only(8000, 6000)  # 48 MP declared, 60 bytes on disk
    with pytest.raises(ImageError) as err:
        load_image(data, name="huge.png")
    assert str(err.value) == (
        "`huge.png` says it is 8000×6000 pixels (48.0 million), more than the 40 million pixels cnnviz "
        "accepts. Very large declared sizes are how \"decompression bomb\" files exhaust a server's "
        "memory. Resize the picture (for example to 2000 pixels wide) and upload it again."
    )


def test_smaller_custom_limit():
    data = encode(Image.new("L", (100, 100)), "PNG")
    with pytest.raises(ImageError, match=r"says it is 100×100 pixels \(0.0 million\), more than the 0.005 million"):
        load_image(data, max_pixels=5000)
    assert load_image(data, max_pixels=10_000).array.shape == (100, 100, 3)


def test_pillow_decompression_bomb_warning_becomes_an_error():
    # 10000×10000 = 100 MP is past Pillow's warning limit (89.5 MP) but under its error limit:
    # Pillow would only warn. With a generous max_pixels our size check would let it through,
    # so this proves the warning itself is turned into a refusal.
    assert Image.MAX_IMAGE_PIXELS < 100_000_000 < 2 * Image.MAX_IMAGE_PIXELS
    data = _png_header_only(10000, 10000)
    with pytest.raises(ImageError) as err:
        load_image(data, name="bomb.png", max_pixels=10**9)
    assert str(err.value).startswith(
        "`bomb.png` says it has 100.0 million pixels, more than the 89.48 million pixels cnnviz accepts."
    )


def test_pillow_decompression_bomb_error_becomes_our_message():
    data = _png_header_only(20000, 20000)  # 400 MP: Pillow raises by itself
    with pytest.raises(ImageError, match=r"^`bomb.png` says it has 400.0 million pixels, more than the 40 million"):
        load_image(data, name="bomb.png")


def test_file_name_cannot_inject_markdown():
    with pytest.raises(ImageError) as err:
        load_image(b"", name="`[click](http://evil)`\n" + "x" * 100)
    message = str(err.value)
    assert message.startswith("`'[click](http://evil)'") and "\n" not in message and "..." in message


def test_image_error_is_a_cnnviz_error():
    assert issubclass(ImageError, CnnvizError)


def test_wrong_arguments():
    with pytest.raises(InvalidArgument, match=r"mode must be one of \('RGB', 'L'\), got 'CMYK'"):
        load_image(b"x", mode="CMYK")
    with pytest.raises(InvalidArgument, match="max_pixels must be a positive whole number, got 0"):
        load_image(b"x", max_pixels=0)
    with pytest.raises(ImageError, match="did not arrive as file bytes \\(got str\\)"):
        load_image("not bytes")  # type: ignore[arg-type]


# --- resize, fit_within, to_grayscale ---------------------------------------------------------


def test_resize_matches_pillow_bilinear(noise_rgb):
    out = images.resize(noise_rgb, (10, 15))
    expected = np.asarray(Image.fromarray(noise_rgb).resize((15, 10), Image.Resampling.BILINEAR))
    assert out.shape == (10, 15, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, expected)


def test_resize_keeps_constant_images_constant_and_channel_axis():
    gray = np.full((7, 9, 1), 77, np.uint8)
    out = images.resize(gray, (224, 224))
    assert out.shape == (224, 224, 1)
    np.testing.assert_array_equal(out, 77)
    assert images.resize(np.full((3, 3), 5, np.uint8), (1, 1)).shape == (1, 1)


def test_resize_rejects_bad_input():
    with pytest.raises(InvalidArgument, match="resize expects a uint8 image, got dtype float64"):
        images.resize(np.zeros((4, 4)), (2, 2))
    with pytest.raises(InvalidArgument, match=r"expects an image H×W, H×W×1 or H×W×3, got shape \(4, 4, 2\)"):
        images.resize(np.zeros((4, 4, 2), np.uint8), (2, 2))
    with pytest.raises(InvalidArgument, match=r"size must be \(height, width\) of 1..40000000 pixels in all, "
                                              r"got \(0, 3\)"):
        images.resize(np.zeros((4, 4), np.uint8), (0, 3))


def test_fit_within_keeps_aspect_and_never_enlarges(noise_rgb):
    assert images.fit_within(noise_rgb, 100) is noise_rgb
    assert images.fit_within(noise_rgb, 15).shape == (10, 15, 3)
    assert images.fit_within(np.zeros((1000, 3), np.uint8), 100).shape == (100, 1)
    assert images.fit_within(noise_rgb, max(noise_rgb.shape[:2])) is noise_rgb  # exactly the limit: as it is
    assert images.fit_within(np.zeros((1000, 339), np.uint8), 100).shape == (100, 34)  # 33.9 rounds to 34
    with pytest.raises(InvalidArgument, match="max_side must be a positive whole number of pixels, got 0"):
        images.fit_within(noise_rgb, 0)


def test_to_grayscale_matches_load_image_l_mode(noise_rgb):
    gray = images.to_grayscale(noise_rgb)
    np.testing.assert_array_equal(gray, load_image(encode(Image.fromarray(noise_rgb), "PNG"), mode="L").array)
    np.testing.assert_array_equal(images.to_grayscale(gray), gray)


def test_a_loaded_picture_keeps_its_own_size_and_channels():
    """Seed 000 Q2: a grey picture has one channel, even when the lab asks for RGB."""
    grey = np.arange(24 * 30, dtype=np.uint32).reshape(24, 30).astype(np.uint8)
    loaded = images.load_image(png_bytes(grey), mode="RGB")
    assert loaded.array.shape == (24, 30, 3) and loaded.original_size == (24, 30) and loaded.channels == 1
    colour = images.load_image(png_bytes(np.zeros((5, 7, 3), np.uint8)), mode="L")
    assert colour.array.shape == (5, 7) and colour.original_size == (5, 7) and colour.channels == 3
