"""Issue 18 on the Runs page: damaged runs beside good ones, their reasons, their Delete; a model file gone;
Delete on a read-only home. The runs are written by hand (no TensorFlow): the page never loads a model."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.runfolders import DAMAGED, write_damaged, write_run

PAGE = "app_pages/runs.py"
GOOD = "20260101-000000-00000001"
BAD = "20260101-000000-0000000b"


def _runs_page(app_path: str) -> AppTest:
    at = AppTest.from_file(app_path, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _damaged_table(at: AppTest):
    """The damaged runs' table (run, why), or None."""
    tables = [d.value for d in at.dataframe if list(d.value.columns) == ["run", "why"]]
    return tables[0] if tables else None


def _no_internal_error(at: AppTest) -> None:
    assert not [e.value for e in at.error if "internal error" in e.value]


@pytest.mark.parametrize("kind", DAMAGED)
def test_a_damaged_run_leaves_the_others_working_and_can_be_deleted(app_path, cnnviz_home, kind):
    write_run(cnnviz_home, GOOD)
    folder = write_damaged(cnnviz_home, BAD, kind)
    at = _runs_page(app_path)
    _no_internal_error(at)
    assert not at.error
    assert at.selectbox(key="runs_selected").value == GOOD  # the good run works as before
    assert at.selectbox(key="runs_selected").options == ["custom on digits (00000001)"]
    assert {m.label for m in at.metric} >= {"Test accuracy", "Epochs done"}
    table = _damaged_table(at)
    assert list(table["run"]) == [BAD] and DAMAGED[kind][2] in table["why"][0]
    assert any("1 run cannot be shown" in w.value for w in at.warning)

    at.checkbox(key="runs_damaged_delete_confirm").check().run()
    at.button(key="runs_damaged_delete").click().run()
    assert not at.exception and not at.error
    assert not folder.exists() and (cnnviz_home / "runs" / GOOD).is_dir()
    assert _damaged_table(at) is None


def test_only_damaged_runs_still_get_their_delete(app_path, cnnviz_home):
    write_damaged(cnnviz_home, BAD, "config is a list")
    at = _runs_page(app_path)
    assert any("No runs yet" in i.value for i in at.info)
    assert list(_damaged_table(at)["run"]) == [BAD]


def test_a_run_whose_model_file_is_gone_says_so(app_path, cnnviz_home):
    write_run(cnnviz_home, GOOD)
    (write_run(cnnviz_home, BAD) / "model.keras").unlink()
    at = _runs_page(app_path)
    assert not at.error
    table = _damaged_table(at)
    assert list(table["why"]) == ["its model file model.keras is missing"]


def test_a_model_file_changed_after_listing_disables_its_download_with_the_reason(app_path, cnnviz_home):
    folder = write_run(cnnviz_home, GOOD)
    (folder / "model.keras").write_bytes(b"PK something else")
    at = _runs_page(app_path)
    assert at.get("download_button")[0].proto.disabled
    assert any("The model cannot be downloaded" in w.value and "model.keras does not match its checksum" in w.value
               for w in at.warning)


def test_delete_on_a_read_only_home_says_so(app_path, cnnviz_home, monkeypatch):
    folder = write_run(cnnviz_home, GOOD)
    real_unlink = Path.unlink

    def read_only(self, *args, **kwargs):
        if self.parent == folder:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_unlink(self, *args, **kwargs)

    at = _runs_page(app_path)
    monkeypatch.setattr(Path, "unlink", read_only)
    at.checkbox(key="runs_delete_confirm").check().run()
    at.button(key="runs_delete").click().run()
    _no_internal_error(at)
    assert any(f"Could not delete run {GOOD}: the disk is read-only" in e.value for e in at.error)
    assert folder.is_dir()
