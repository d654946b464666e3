"""Compare's note under the curves says why a run has no dashed (validation) line: it kept no validation images, or
it was stopped before the end of its first epoch, when its validation images had not been measured yet."""

from __future__ import annotations

import pytest

from cnnviz.classroom import people
from cnnviz.runs import store as runs
from tests.support.pages import no_errors, open_page
from tests.support.runfolders import GOOD_CONFIG, GOOD_METRICS, write_run

NO_SPLIT, STOPPED = "20260101-000000-0000000a", "20260102-000000-0000000b"


@pytest.fixture(autouse=True)
def _laptop(monkeypatch):
    for name in (people.PASSWORD_ENV, people.TEACHERS_ENV, people.CLASSROOM_ENV):
        monkeypatch.delenv(name, raising=False)


def test_a_run_stopped_before_its_first_validation_is_not_said_to_have_kept_no_validation_images(app_path,
                                                                                             cnnviz_home):
    write_run(cnnviz_home, NO_SPLIT, config={**GOOD_CONFIG, "validation_fraction": 0.0},
              history={"loss": [2.0, 1.5], "accuracy": [0.2, 0.4]}, metrics={**GOOD_METRICS, "n_val": 0})
    # Stopped a third into epoch 1 (the training loop saves it so): 30 validation images, none measured yet.
    write_run(cnnviz_home, STOPPED, created="2026-01-02T00:00:00+00:00", history={"loss": [2.2], "accuracy": [0.1]},
              metrics={**GOOD_METRICS, "epochs_completed": 0.333, "n_val": 30})
    at = open_page(app_path, "app_pages/runs.py")
    no_errors(at)
    assert at.multiselect(key="runs_compare").value == [STOPPED, NO_SPLIT]
    [note] = [c.value for c in at.caption if c.value.startswith("Solid: training; dashed: validation.")]
    no_split, stopped = runs.load_run(NO_SPLIT).label, runs.load_run(STOPPED).label
    assert f"No dashed line for {no_split}: it kept no validation images" in note, note
    assert f"No dashed line for {stopped}: it was stopped before the end of its first epoch" in note, note
    assert note.count("kept no validation images") == 1, note
