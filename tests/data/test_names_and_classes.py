"""Names a student controls are shown as typed (issue 18): no link, no icon, no bold; look-alike classes warned.

Streamlit finds links ("http://", "www.") and shortcodes (":material/x:", ":red[x]") in the text
*after* Markdown is parsed, so the checks below undo Markdown's backslash escapes first.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.data import folderdata
from cnnviz.data.images import code_name, plain_name
from tests.support.archives import class_folders, make_zip
from tests.support.images import png_bytes


HOSTILE_NAME = "![t](http://127.0.0.1:9/x.png) :material/warning: :red[RED].png"
# What Streamlit's Markdown would act on once escapes are resolved (GFM autolink literals, remark-emoji,
# material icons, coloured-text directives, e-mail autolinks).
ACTS_ON = re.compile(r"https?://|ftp://|\bwww\.|:material/\w+:|:[a-z]+\[|:\w+:|[\w.+-]@[\w-]+\.\w", re.I)


def _after_markdown(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@pytest.mark.parametrize("name", [HOSTILE_NAME, "see www.evil.example.png", "me@evil.example.png",
                                  ":smile: :red[x] :material/home:.png"])
def test_plain_name_leaves_nothing_for_the_autolinker_or_shortcodes(name):
    shown = plain_name(name, limit=200)
    assert not ACTS_ON.search(_after_markdown(shown)), shown
    assert _after_markdown(shown).replace("\u2060", "") == name  # and it reads exactly as typed


def test_code_name_cannot_close_its_code_span():
    assert code_name("a`b`c.png") == "`a'b'c.png`"
    assert code_name("__init__") == "`__init__`"


def _zip(classes: dict[str, str], per_class: int = 10) -> bytes:
    members = {}
    for folder, color_of in classes.items():
        members.update({k.replace(color_of, folder, 1): v
                        for k, v in class_folders(per_class=per_class, classes=(color_of,)).items()})
    return make_zip(members)


def test_nfc_and_nfd_spellings_of_one_folder_are_one_class():
    nfc, nfd = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")
    assert nfc != nfd
    members = {**{f"{nfc}/{i}.png": png_bytes((200, 30, 30)) for i in range(5)},
               **{f"{nfd}/{i + 5}.png": png_bytes((200, 30, 30)) for i in range(5)},
               **{f"dogs/{i}.png": png_bytes((30, 30, 200)) for i in range(10)}}
    result = folderdata.read_zip(make_zip(members), image_size=16)
    assert result.class_names == (nfc, "dogs")
    assert result.skipped_count == 0 and result.warnings == ()
    assert (result.y == 0).sum() == 10


def test_look_alike_class_names_give_a_warning():
    members = {}
    for folder, color in (("cats", (200, 30, 30)), ("ｃａｔｓ", (30, 200, 30)), ("cats ", (90, 90, 90)),
                          ("dogs", (30, 30, 200))):
        members.update({f"{folder}/{i}.png": png_bytes(color) for i in range(10)})
    result = folderdata.read_zip(make_zip(members), image_size=16)
    assert len(result.class_names) == 4  # the folders stay what the student made
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert "`cats`, `cats `, `ｃａｔｓ` look alike" in warning and "3 different classes" in warning
    assert folderdata.lookalike_warnings(("cats", "dogs")) == []
    assert len(folderdata.lookalike_warnings(("Cats", "cats", "Dogs", "dogs"))) == 2


def test_bad_folder_names_are_not_repeated_in_the_reason():
    members = {**class_folders(per_class=10), ":material/warning:/1.png": png_bytes((1, 2, 3))}
    result = folderdata.read_zip(make_zip(members), image_size=16)
    (name, why), = result.skipped
    assert name == ":material/warning:/1.png" and "material" not in why and "not a usable class name" in why


def test_datasets_page_shows_class_names_as_typed_and_warns_of_look_alikes(app_path, cnnviz_home):
    # No chdir: Streamlit reads .streamlit/config.toml from the working directory once per process.
    members = {}
    for folder, color in (("__init__", (200, 30, 30)), ("cats", (30, 200, 30)), ("ｃａｔｓ", (30, 30, 200))):
        members.update({f"{folder}/{i}.png": png_bytes(color) for i in range(10)})
    members["**x** [y](http://e.x)`z/1.png"] = b"x"
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page("app_pages/datasets.py").run()
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    at.select_slider(key="datasets_zip_size").set_value(16).run()
    at.file_uploader(key="datasets_zip").upload("odd.zip", make_zip(members), "application/zip").run()
    at.text_input(key="datasets_zip_name").input("odd")
    at.button(key="datasets_zip_import").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    success = at.success[0].value
    assert "in classes `__init__`, `cats`, `ｃａｔｓ`." in success  # a code span: not bold "init"
    assert [w.value for w in at.warning if "look alike" in w.value] and "`cats`, `ｃａｔｓ`" in at.warning[-1].value
    assert "- `**x** [y](http://e.x)'z/1.png`: its folder's name is not" in at.info[0].value
