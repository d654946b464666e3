"""Another student's private import neither reveals its name nor blocks it: Ben's import under the name of
Ann's private "my_images" (the page's default name) gets a name of its own."""

from __future__ import annotations

import pytest

from cnnviz.classroom import roster
from cnnviz.data import datasets, stored
from cnnviz.errors import CnnvizError
from tests.support.archives import class_folders, make_zip


def test_anothers_private_import_name_neither_leaks_nor_blocks(cnnviz_home):
    (_, ann), (_, ben) = roster.register("Ann"), roster.register("Ben")
    anns = datasets.import_folder_zip(make_zip(class_folders()), name="my_images", image_size=16, owner=ann)["name"]
    assert anns not in stored.names(ben)  # private to Ann ...
    try:
        report = datasets.import_folder_zip(make_zip(class_folders(classes=("mum", "dad"))), name="my_images",
                                            image_size=16, owner=ben)
    except CnnvizError as err:
        pytest.fail(f"Ben's import under a name he cannot see was refused: {err}")
    assert report["name"] in stored.names(ben)
    assert report["name"] not in stored.names(ann)
    assert datasets.load(anns, ann).class_names == ("cats", "dogs")  # Ann's is untouched
