"""What ended jobs leave behind in CNNVIZ_HOME over a term, and the job table's ends (no worker process: the
table and the worker's functions are called directly)."""

from __future__ import annotations

import pytest

from cnnviz.errors import InvalidArgument
from cnnviz.training import jobs as jobmanager


@pytest.mark.parametrize("value", ["65", "1000000"])
def test_a_cap_above_what_the_class_page_accepts_is_refused_in_the_same_words(monkeypatch, value):
    # CNNVIZ_MAX_TRAINING_JOBS=1000000 was taken: a manager tried to start a million workers.
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, value)
    with pytest.raises(InvalidArgument, match=f"CNNVIZ_MAX_TRAINING_JOBS must be a whole number ≤ 64, got '{value}'"):
        jobmanager.default_max_jobs()
    monkeypatch.setenv(jobmanager.MAX_JOBS_ENV, str(jobmanager.MAX_JOBS_LIMIT))
    assert jobmanager.default_max_jobs() == jobmanager.MAX_JOBS_LIMIT
