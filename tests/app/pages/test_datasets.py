"""The Datasets page with digits (always there), a fixture CIFAR-10, and CIFAR-10 missing."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import downloads
from cnnviz.data import datasets, stored
from cnnviz.errors import Unavailable
from tests.support.archives import class_folders, make_zip, tiny_archive_bytes, write_tiny_dir
from tests.support.http import Route, loopback_server, refused_url, md5


PAGE = "app_pages/datasets.py"


def _open(app_path) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def _chart_keys(at) -> set[str]:
    return {c.proto.id for c in at.get("plotly_chart")}


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _split_table(at):
    """The images-per-class table after subset and split (found by its columns: AppTest gives no key)."""
    table = next(d.value for d in at.dataframe if "validation" in d.value.columns)
    return table[["class", "train", "validation", "test"]]


def test_digits_page_renders_every_section(app_path):
    at = _open(app_path)
    assert at.title[0].value == "Datasets"
    assert at.selectbox(key="datasets_source").value == "digits"
    assert not _errors(at)
    assert [m.value for m in at.metric][:4] == ["1,437", "360", "8×8×1", "10"]
    charts = at.get("plotly_chart")
    assert len(charts) == 7  # counts, samples, image, channels, image histogram, split, scaling
    table = _split_table(at)
    assert list(table["class"])[-1] == "total"
    assert table.iloc[-1].to_dict() == {"class": "total", "train": 1077, "validation": 360, "test": 360}
    assert at.selectbox(key="datasets_selection_digits").value == "stratified"

    at.button(key="datasets_reshuffle").click().run()
    assert at.session_state["datasets_sample_seed"] == 1 and not at.exception
    at.slider(key="datasets_per_class").set_value(5).run()
    at.number_input(key="datasets_inspect_digits").set_value(7).run()
    at.radio(key="datasets_scaling").set_value("standardize").run()
    assert any("Training mean per channel" in c.value for c in at.caption)
    at.slider(key="datasets_val_fraction").set_value(0.5).run()
    assert _split_table(at).iloc[-1]["validation"] == 719  # sklearn rounds the validation share up
    assert not at.exception and not _errors(at)


def test_counts_and_captions_hold_only_characters_every_browser_draws(app_path):
    """Issue 14 ("validation counts render as □"): the class balance charts, the split table with its
    validation counts, and the page's captions hold no character a classroom browser's fonts may lack."""
    import json

    from tests.support.glyphs import figure_texts, unsafe_characters

    at = _open(app_path)
    texts = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "success")
             for e in at.get(kind)]
    texts += [str(m.label) for m in at.metric] + [str(m.value) for m in at.metric]
    for frame in at.dataframe:
        texts += [str(c) for c in frame.value.columns]
        texts += [v for v in frame.value.to_numpy().ravel() if isinstance(v, str)]
    charts = at.get("plotly_chart")
    for chart in charts:
        texts += figure_texts(json.loads(chart.proto.spec))
    assert len(charts) >= 5 and "validation" in texts  # the split chart's legend: its figure was read
    assert unsafe_characters(texts) == {}


def test_an_image_number_out_of_range_is_said_and_no_picture_drawn(app_path):
    """Issue 14: the range is checked in Python; the box keeps what was typed and no other image is shown."""
    at = _open(app_path)
    box = at.number_input(key="datasets_inspect_digits")
    assert box.label == "Training image number (0 to 1,436)"
    box.set_value(1437).run()
    assert not at.exception
    assert _errors(at) == ["Training image number (0 to 1,436) must be from 0 to 1,436; the box shows 1,437."]
    assert at.number_input(key="datasets_inspect_digits").value == 1437  # never silently replaced
    assert not any(k.endswith(("datasets_one_image", "datasets_channels")) for k in _chart_keys(at))
    at.number_input(key="datasets_inspect_digits").set_value(1436).run()
    assert not _errors(at) and any(k.endswith("datasets_one_image") for k in _chart_keys(at))


@pytest.mark.slow
def test_augmentation_preview_with_reroll(app_path):
    at = _open(app_path)
    before = len(at.get("plotly_chart"))
    at.toggle(key="datasets_aug_on").set_value(True)
    at.run(timeout=180)
    assert not at.exception and not _errors(at)
    assert len(at.get("plotly_chart")) == before + 1
    at.button(key="datasets_aug_reroll").click().run(timeout=120)
    assert at.session_state["datasets_aug_seed"] == 1
    at.selectbox(key="datasets_aug_flip").set_value("none").run(timeout=120)
    assert not at.exception and not _errors(at)


def test_augmentation_preview_names_the_set_up_it_shows(app_path):
    """The defaults are seed 002's: the text said "seed 000 Part 17" (issue 14)."""
    at = _open(app_path)
    intro = next(m.value for m in at.markdown if m.value.startswith("Random changes to each training image"))
    assert "It starts on seed 002's set-up" in intro and "(seed 000 Part 17)" not in intro
    at.toggle(key="datasets_aug_on").set_value(True)
    at.run(timeout=180)
    shown = lambda: (at.slider(key="datasets_aug_rotation").value, at.selectbox(key="datasets_aug_flip").value,  # noqa: E731
                     at.slider(key="datasets_aug_translate").value)
    assert shown() == (0, "horizontal", 0.1)
    at.button(key="datasets_aug_seed000").click().run(timeout=120)
    assert shown() == (30, "horizontal_and_vertical", 0.0)
    at.button(key="datasets_aug_seed002").click().run(timeout=120)
    assert shown() == (0, "horizontal", 0.1)
    assert not at.exception and not _errors(at) and not at.warning


def test_missing_cifar_offers_download_and_import(app_path):
    at = _open(app_path)
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    assert not at.exception
    assert any("CIFAR-10 is not on this machine yet" in w.value for w in at.warning)
    # This is the Datasets page: the warning points at the button, not at "the Datasets page".
    assert not any("on the Datasets page" in w.value for w in at.warning)
    assert any("Download it with the button below" in w.value for w in at.warning)
    assert at.button(key="datasets_download") is not None
    # Importing from a server path is teacher-only: off unless the server was started with the variable.
    with pytest.raises(KeyError):
        at.text_input(key="datasets_import_path")
    assert any("CNNVIZ_ALLOW_SERVER_PATHS=1" in c.value for c in at.caption)
    assert "not on this machine yet" in at.selectbox(key="datasets_source").format_func("cifar10")


def test_fixture_cifar_installed_shows_the_page(app_path, tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(tiny_archive_bytes())
    datasets.import_cifar10(archive)
    at = _open(app_path)
    assert at.selectbox(key="datasets_source").value == "cifar10"  # the lab's dataset first, when it is here
    assert not at.exception and not _errors(at)
    assert [m.value for m in at.metric][:4] == ["100", "20", "32×32×3", "10"]
    table = _split_table(at)
    assert table.iloc[-1].to_dict() == {"class": "total", "train": 75, "validation": 25, "test": 20}
    assert list(table["class"])[:2] == ["airplane", "automobile"]
    # seed 000's selection by default on CIFAR-10: the first images, validation at random, not stratified
    assert at.selectbox(key="datasets_selection_cifar10").value == "first_shuffled"


def test_a_label_next_to_its_one_hot_vector_and_the_shapes_batch_first(app_path):
    """Seed 000 Part 9 and Q16, seed 002 1.3.3."""
    at = _open(app_path)
    at.number_input(key="datasets_inspect_digits").set_value(7).run()
    label = int(datasets.load("digits").y_train[7])
    vector = [1 if i == label else 0 for i in range(10)]
    shown = " ".join(m.value for m in at.markdown)
    assert f"class number {label} → one-hot `{vector}`" in shown and f"a 1 in position {label}" in shown
    shapes = next(d.value for d in at.dataframe if list(d.value.columns) == ["what", "shape"])
    assert list(shapes["shape"]) == ["(1437,)", "(1437, 10)", "(None, 8, 8, 1)", "(None, 10)"]
    assert shapes["what"][0] == "labels: one class number per image"  # only cifar10.load_data gives a column
    assert any("`None` is the number of images in a batch" in c.value for c in at.caption)


def test_import_from_server_path_on_the_page(app_path, tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.SERVER_PATHS_ENV, "1")
    folder = write_tiny_dir(tmp_path / "copy")
    at = _open(app_path)
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    at.text_input(key="datasets_import_path").input(str(tmp_path / "nowhere")).run()
    at.button(key="datasets_import").click().run()
    assert any("Nothing at" in e for e in _errors(at)) and not at.exception
    assert not at.get("progress")  # no stale bar above the message
    at.text_input(key="datasets_import_path").input(str(folder)).run()
    at.button(key="datasets_import").click().run()
    assert not at.exception and not _errors(at)
    assert any(s.value.startswith("Installed CIFAR-10 binary version") for s in at.success)
    assert [m.value for m in at.metric][:2] == ["100", "20"]


def test_download_from_loopback_mirror_on_the_page(app_path, monkeypatch):
    with loopback_server() as state:
        body = tiny_archive_bytes()
        state.routes["/c.tar.gz"] = Route(body)
        # The page downloads from the official address; point it at the loopback mirror.
        real = datasets.download
        monkeypatch.setattr(datasets, "download", lambda name, **kw: real(
            name, **{**kw, "url": state.url("/c.tar.gz"), "expected_size": len(body), "expected_md5": md5(body)}))
        at = _open(app_path)
        at.selectbox(key="datasets_source").set_value("cifar10").run()
        at.button(key="datasets_download").click().run()
        assert not at.exception and not _errors(at)
        assert any("Installed CIFAR-10" in s.value for s in at.success)
        assert [m.value for m in at.metric][:2] == ["100", "20"]


def test_download_failure_is_a_message(app_path, monkeypatch):
    real = datasets.download
    monkeypatch.setattr(datasets, "download", lambda name, **kw: real(name, **{**kw, "url": refused_url("/cifar-10-binary.tar.gz")}))
    at = _open(app_path)
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    at.button(key="datasets_download").click().run()
    assert not at.exception
    assert any("looks offline" in e for e in _errors(at))
    assert not stored.is_present("cifar10")
    # No stale "Connecting…" line and empty progress bar above the error.
    assert not at.get("progress")
    assert not any("Connecting" in m.value for m in at.markdown)


def _import_pets_zip(app_path):
    """The Datasets page after importing a zip of 20 pictures as "pets" (16×16)."""
    at = _open(app_path)
    at.selectbox(key="datasets_source").set_value("cifar10").run()  # no charts: fast reruns
    at.select_slider(key="datasets_zip_size").set_value(16).run()
    at.text_input(key="datasets_zip_name").input("pets")
    at.file_uploader(key="datasets_zip").upload("pets.zip", make_zip(class_folders()), "application/zip").run()
    at.button(key="datasets_zip_import").click().run()
    assert not at.exception and not _errors(at)
    return at


def test_a_made_dataset_is_offered_and_chosen_at_once(app_path):
    at = _import_pets_zip(app_path)
    assert any(s.value.startswith("Made folder:pets") for s in at.success)
    picker = at.selectbox(key="datasets_source")
    assert "folder:pets" in picker.options[-1] or any("pets" in o for o in picker.options)
    assert picker.value == "folder:pets"  # opened at once, no browser reload
    at.switch_page("app_pages/build_train.py").run()
    assert "folder:pets" in [o for o in at.selectbox(key="train_dataset").options] or any(
        "pets" in o for o in at.selectbox(key="train_dataset").options)


def test_a_zip_import_moves_a_bar_with_its_files(app_path, monkeypatch):
    moves = []
    real = datasets.import_folder_zip
    monkeypatch.setattr(datasets, "import_folder_zip", lambda data, progress=None, **kw: real(
        data, progress=lambda done, total: moves.append((done, total)) or progress(done, total), **kw))
    at = _import_pets_zip(app_path)
    assert moves == [(done, 20) for done in range(21)]  # the 20 images of the zip, one by one
    assert not at.get("progress")  # gone with the rerun that opens the new dataset


def test_a_refused_zip_says_why_and_leaves_no_bar(app_path):
    at = _open(app_path)
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    at.file_uploader(key="datasets_zip").upload(
        "cats.zip", make_zip(class_folders(classes=("cats",))), "application/zip").run()
    at.button(key="datasets_zip_import").click().run()
    assert not at.exception
    assert any("only one class" in e for e in _errors(at))
    assert not at.get("progress")


def test_server_path_import_refused_without_the_teacher_switch(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.SERVER_PATHS_ENV, raising=False)
    folder = write_tiny_dir(tmp_path / "copy")
    with pytest.raises(Unavailable, match="start the app with CNNVIZ_ALLOW_SERVER_PATHS=1"):
        downloads.import_cifar10(str(folder))
    assert not stored.is_present("cifar10")
    monkeypatch.setenv(datasets.SERVER_PATHS_ENV, "yes")
    assert datasets.server_paths_allowed()
