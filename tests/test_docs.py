"""README.md against the code: what the teacher is told to type exists and says what the README says it does."""

from __future__ import annotations

import re

import pytest

from cnnviz import cli, weights
from cnnviz.training import jobs, jobtable
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _help(capsys: pytest.CaptureFixture, *argv: str) -> str:
    with pytest.raises(SystemExit):
        cli.main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines at any space


def test_every_environment_variable_the_code_reads_is_in_the_readme():
    read = set()
    for path in [REPO / "app.py", *(REPO / "cnnviz").rglob("*.py"), *(REPO / "app_pages").rglob("*.py")]:
        read |= set(re.findall(r"\bCNNVIZ_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    assert "CNNVIZ_HOME" in read and "CNNVIZ_RESNET50_WEIGHTS" in read  # the scan found what it is for
    assert sorted(v for v in read if f"`{v}" not in README) == []


def test_download_help_lists_every_weights_variable_as_the_readme_says(capsys):
    # README: "CNNVIZ_RESNET50_WEIGHTS points at a ResNet50 weights file of your own; ... (`python -m cnnviz
    # download --help` lists them all)". The help named the four weights but none of their variables.
    assert "`python -m cnnviz download --help` lists them all" in README
    text = _help(capsys, "download")
    for key in weights.KEYS:
        assert weights.weights_file(key).env in text, key


def test_jobs_work_help_gives_the_default_cap_it_really_works_under(capsys, monkeypatch):
    # Without --max-jobs and the variable, `jobs work` keeps the cap already set for the home (the Class page's, as
    # README says of a restarted server): the help said "default $CNNVIZ_MAX_TRAINING_JOBS or half the cores".
    monkeypatch.delenv(jobs.MAX_JOBS_ENV, raising=False)
    jobtable.JobTable().set_max_jobs(jobs.default_max_jobs() + 2)  # the teacher's number on the Class page
    manager = jobs.JobManager()  # as `jobs work` makes it (its workers start only later, in its loop)
    assert manager.max_jobs == jobs.default_max_jobs() + 2
    text = _help(capsys, "jobs", "work")
    assert "Class page" in text and "or half the cores)" not in text


def test_the_readmes_prefetch_names_every_weights_file_the_pages_need():
    # A teacher prefetching "what the class needs" word for word had no Transfer learning backbone offline: the
    # line named only ResNet50's classifier.
    prefetch = README.split("- Prefetch what the class needs")[1].split("\n- ")[0]
    for key in weights.KEYS:
        assert f"`python -m cnnviz download {key}`" in prefetch, key
