"""What is left of run and dataset ownership (issue 14): a run id typed or guessed gives "not found" for the
model file and the model too, another student's import is "not on this machine" for datasets.load and the
page caches, and the Datasets page offers a Delete for one's own imports only."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.app import caches
from cnnviz.classroom import people, roster
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.data import datasets, stored
from cnnviz.errors import Unavailable
from cnnviz.runs import store as runs
from tests.support.archives import class_folders, make_zip, write_tiny_dir
from tests.support.pages import TIMEOUT, no_errors
from tests.support.runfolders import GOOD_CONFIG, write_run

ANNS = "folder:anns"


@pytest.fixture
def room(cnnviz_home, monkeypatch):
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(people.CLASSROOM_ENV, "1")
    (ann_key, ann), (ben_key, ben) = roster.register("Ann"), roster.register("Ben")
    return {"Ann": (ann_key, ann), "Ben": (ben_key, ben)}


def test_anothers_run_id_gives_not_found_for_the_model_file_and_the_model(room, cnnviz_home):
    ann, ben = room["Ann"][1], room["Ben"][1]
    run_id = "20260101-000000-0000a001"
    write_run(cnnviz_home, run_id, config={**GOOD_CONFIG, "owner": ann.user_id, "owner_name": "Ann"})
    assert runs.model_file(run_id, ann).name == runs.MODEL_FILE
    assert runs.model_file(run_id, local_teacher()) == runs.model_file(run_id)
    for call in (runs.model_file, runs.load_model):
        with pytest.raises(runs.RunNotFound, match=f"there is no complete run '{run_id}'"):
            call(run_id, ben)


def test_anothers_import_is_not_on_this_machine_for_a_student(room):
    ann, ben = room["Ann"][1], room["Ben"][1]
    datasets.import_folder_zip(make_zip(class_folders()), name="anns", image_size=16, owner=ann)
    assert datasets.load(ANNS, ann).class_names == ("cats", "dogs")
    assert datasets.load(ANNS, local_teacher()).class_names == ("cats", "dogs")
    caches.load_dataset(ANNS)  # the shared copy is cached now: Ben must not get it either
    for load in (datasets.load, caches.load_dataset):
        with pytest.raises(Unavailable, match="anns \\(your folders\\) is not on this machine"):
            load(ANNS, ben)


def _datasets_page(app_path: str, key: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=TIMEOUT)
    at.query_params["key"] = key
    at.run()
    at.switch_page("app_pages/datasets.py").run()
    no_errors(at)
    return at


def test_the_datasets_page_deletes_ones_own_import_only(room, app_path):
    (ann_key, ann), (ben_key, _) = room["Ann"], room["Ben"]
    datasets.import_folder_zip(make_zip(class_folders()), name="anns", image_size=16, owner=ann)

    ben = _datasets_page(app_path, ben_key)
    assert not any("anns" in shown for shown in ben.selectbox(key="datasets_source").options)
    assert not [b for b in ben.button if b.key == "datasets_delete"]

    at = _datasets_page(app_path, ann_key)
    at.selectbox(key="datasets_source").set_value(ANNS).run()
    no_errors(at)
    delete = at.button(key="datasets_delete")
    assert delete.disabled  # not before the box is ticked
    at.checkbox(key="datasets_delete_confirm").check().run()
    at.button(key="datasets_delete").click().run()
    no_errors(at)
    assert ANNS not in stored.folder_datasets()
    assert "Deleted anns (your folders)." in [s.value for s in at.success]
    assert not any("anns" in shown for shown in at.selectbox(key="datasets_source").options)


def test_a_student_gets_no_server_path_box_and_cannot_replace_the_class_cifar10(room, app_path, tmp_path,
                                                                                 monkeypatch):
    """CNNVIZ_ALLOW_SERVER_PATHS=1 is for the teacher's offline import: a student's import from a path would replace
    CIFAR-10 for the whole class, and its answers ("Nothing at ...", "not a readable archive") map the server's
    files. Before, Ben got the box and the import ran."""
    monkeypatch.setenv(datasets.SERVER_PATHS_ENV, "1")
    folder = write_tiny_dir(tmp_path / "copy")
    ben_key, ben = room["Ben"]
    at = _datasets_page(app_path, ben_key)
    at.selectbox(key="datasets_source").set_value("cifar10").run()
    no_errors(at)
    assert not [t for t in at.text_input if t.key == "datasets_import_path"]
    assert "Only the teacher can install CIFAR-10 from a file on the server." in [c.value for c in at.caption]
    with pytest.raises(NotAllowed, match=r"^Ben may not install CIFAR-10 from a path on the server: only the teacher "
                                         r"can\.$"):
        datasets.import_cifar10(folder, by=ben)
    assert not stored.is_present("cifar10")
    assert datasets.import_cifar10(folder, by=local_teacher()).startswith("Installed CIFAR-10")
