"""The load test's browser wrapper lowers nice and its own session's autogroup, never the caller's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.load_driver import niced_chromium

AUTOGROUP = Path("/proc/self/autogroup")


def _report(tmp_path: Path, **popen) -> tuple[str, str]:
    """Run the wrapper around a shell that prints its autogroup line and its nice value.

    A process that never left the first session (a CI runner's tree can be one) is in the root group,
    whose autogroup file reads empty: hence the labels, so an empty line keeps its place.
    """
    reporter = tmp_path / "report.sh"
    reporter.write_text('#!/bin/sh\necho "autogroup=$(cat /proc/self/autogroup)"\n'
                        'echo "nice=$(cut -d" " -f19 /proc/$$/stat)"\n')
    reporter.chmod(0o755)
    wrapper = niced_chromium(tmp_path, 19, executable=str(reporter))
    out = subprocess.run([wrapper], capture_output=True, text=True, timeout=30, check=True, **popen).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines())
    return fields["autogroup"], fields["nice"]


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no autogroup scheduling")
def test_a_browser_in_its_own_session_gets_a_nice_19_autogroup(tmp_path):
    autogroup, nice = _report(tmp_path, start_new_session=True)
    assert autogroup.endswith("nice 19") and nice == "19"


@pytest.mark.skipif(not AUTOGROUP.exists(), reason="this kernel has no autogroup scheduling")
def test_the_callers_autogroup_is_left_alone(tmp_path):
    mine = AUTOGROUP.read_text().strip()
    autogroup, nice = _report(tmp_path)  # same session as this test: not its own (maybe the root group)
    assert autogroup == mine and AUTOGROUP.read_text().strip() == mine and nice == "19"


def test_nice_0_is_the_browser_itself(tmp_path):
    assert niced_chromium(tmp_path, 0, executable="/usr/bin/true") == "/usr/bin/true"
    assert not list(tmp_path.iterdir()) and os.path.isabs(niced_chromium(tmp_path, 0))
