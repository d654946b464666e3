"""Own datasets (issue 14): a zip import belongs to whoever imported it; built-ins and the teacher's are everyone's."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from cnnviz.classroom import roster
from cnnviz.classroom.people import local_teacher
from cnnviz.classroom.policy import NotAllowed
from cnnviz.data import datasets, owners, stored
from tests.support.archives import class_folders, make_zip

ZIP = make_zip(class_folders(per_class=10))


@pytest.fixture
def room():
    """Ann imported "anns", the teacher "shared_set"; Ben imported nothing."""
    _, ann = roster.register("Ann")
    _, ben = roster.register("Ben")
    datasets.import_folder_zip(ZIP, name="anns", image_size=16, owner=ann)
    datasets.import_folder_zip(ZIP, name="shared_set", image_size=16)  # no owner: the teacher
    return ann, ben


def test_listing_is_filtered_by_viewer(room):
    ann, ben = room
    builtins = list(stored.SOURCES)
    assert stored.names(ann) == [*builtins, "folder:anns", "folder:shared_set"]
    assert stored.names(ben) == [*builtins, "folder:shared_set"]
    assert stored.names(local_teacher()) == stored.names() == stored.names(ann)
    assert [s["name"] for s in stored.status(ben)] == [*builtins, "folder:shared_set"]
    assert owners.owner("folder:anns") == ann.user_id and owners.owner("folder:shared_set") == "teacher"


def test_others_may_not_remove_or_replace_a_dataset(room, cnnviz_home):
    ann, ben = room
    path = cnnviz_home / "data" / "folders" / "anns.npz"
    before = path.read_bytes()
    with pytest.raises(NotAllowed, match="Ben may not remove dataset folder:anns: it belongs to someone else"):
        datasets.remove("folder:anns", by=ben)
    with pytest.raises(NotAllowed, match="Ben may not replace dataset folder:anns"):
        datasets.import_folder_zip(ZIP, name="anns", image_size=24, owner=ben, overwrite=True)
    with pytest.raises(NotAllowed, match="Ann may not remove dataset folder:shared_set"):
        datasets.remove("folder:shared_set", by=ann)
    with pytest.raises(NotAllowed, match="Ann may not remove dataset cifar10"):
        datasets.remove("cifar10", by=ann)
    assert path.read_bytes() == before and owners.owner("folder:anns") == ann.user_id


def test_the_owner_and_the_teacher_removing_one_dataset_at_once(room, monkeypatch):
    """Both pass the "is it stored" check before either removes the file (held at the unlink by a barrier):
    one removes it, the other is told there was none, never an internal error."""
    ann, _ = room
    both_checked = threading.Barrier(2, timeout=30)

    class HeldPath(type(Path())):
        def unlink(self, missing_ok=False):
            both_checked.wait()
            return super().unlink(missing_ok)

    file_for = datasets.file_for
    monkeypatch.setattr(datasets, "file_for", lambda name: HeldPath(file_for(name)))
    outcomes = {}

    def remove(who):
        try:
            outcomes[who.display_name] = datasets.remove("folder:anns", by=who)
        except Exception as err:  # noqa: BLE001 - what each click would show
            outcomes[who.display_name] = err

    clicks = [threading.Thread(target=remove, args=(who,)) for who in (ann, local_teacher())]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join(60)
    assert sorted(outcomes.values(), key=str) == [False, True], outcomes
    assert stored.folder_datasets() == ["folder:shared_set"]


def test_owners_and_the_teacher_remove(room):
    ann, _ = room
    assert datasets.remove("folder:anns", by=ann)
    assert owners.owner("folder:anns") == "teacher"  # the record went with the data
    assert datasets.remove("folder:shared_set", by=local_teacher())
    assert stored.folder_datasets() == []
