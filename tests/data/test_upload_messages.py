"""Clear words for odd uploads (issue 18): one-byte files and impossible EXIF orientations."""

from __future__ import annotations

import pytest

from cnnviz.data.images import ImageError, load_image
from tests.support.hostile_decode import (
    EXIF_ASCII,
    EXIF_LONG,
    EXIF_SHORT,
    EXIF_SLONG,
    EXIF_SSHORT,
    exif_orientation_jpeg,
)


@pytest.mark.parametrize("data,name,kind", [
    (b"\x89", "one.png", "PNG"), (b"\xff", "one.jpg", "JPEG"), (b"\xff\xd8", "two.jpg", "JPEG"),
    (b"G", "one.gif", "GIF"), (b"\x89PN", "three.png", "PNG"),
])
def test_a_few_bytes_that_start_a_picture_are_called_cut_off_not_text(data, name, kind):
    with pytest.raises(ImageError) as err:
        load_image(data, name=name)
    message = str(err.value)
    assert "text" not in message
    assert f"is far too short to be a picture; it starts like a {kind} file" in message
    assert "cut off (truncated) or damaged" in message


@pytest.mark.parametrize("data", [b"\x00", b"\x80\x81", b"\xfe\xfe\xfe"])
def test_a_few_bytes_of_nothing_are_called_too_short(data):
    with pytest.raises(ImageError, match=r"is only \d bytes?: far too short to be a picture \(it is damaged"):
        load_image(data, name="x.png")


def test_short_text_is_still_called_text():
    with pytest.raises(ImageError, match="looks like text, not a picture"):
        load_image(b"oops", name="x.png")


@pytest.mark.parametrize("value,field_type", [
    (0, EXIF_SHORT), (9, EXIF_SHORT), (65535, EXIF_SHORT), (4294967295, EXIF_LONG), ("6", EXIF_ASCII),
    (-6, EXIF_SSHORT), (-6, EXIF_SLONG),
])
def test_impossible_exif_orientations_are_not_said_to_be_applied(value, field_type):
    loaded = load_image(exif_orientation_jpeg(value, field_type), name="odd.jpg")
    assert loaded.array.shape == (10, 20, 3)  # as stored
    assert not any("applied" in note for note in loaded.notes)
    assert loaded.notes == ("the camera's rotation (EXIF orientation) holds an invalid value: ignored, the picture "
                            "is shown as stored",)


@pytest.mark.parametrize("field_type", [EXIF_SHORT, EXIF_LONG])
def test_a_valid_orientation_in_any_integer_type_is_applied(field_type):
    loaded = load_image(exif_orientation_jpeg(6, field_type), name="ok.jpg")
    assert loaded.array.shape == (20, 10, 3)
    assert loaded.notes == ("EXIF orientation 6 applied (the camera's rotation)",)
