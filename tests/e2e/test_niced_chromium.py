"""The load test's browser wrapper: nice 19 and its own session's autogroup (never the caller's), and a cgroup."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.load_driver import _cpu_cgroup_root, idle_cpu_cgroup, niced_chromium

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


def test_the_wrapper_moves_the_browser_into_the_cgroup_before_it_starts(tmp_path):
    """A stand-in cgroup folder: the pid written to its ``cgroup.procs`` is the browser's own (exec keeps it)."""
    group = tmp_path / "browsers"
    group.mkdir()
    (group / "cgroup.procs").write_text("")
    reporter = tmp_path / "pid.sh"
    reporter.write_text('#!/bin/sh\necho "$$"\n')
    reporter.chmod(0o755)
    wrapper = niced_chromium(tmp_path, 0, executable=str(reporter), cgroup=group)
    pid = subprocess.run([wrapper], capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert wrapper != str(reporter) and (group / "cgroup.procs").read_text().strip() == pid


def test_a_browser_that_cannot_join_its_cgroup_does_not_start(tmp_path):
    reporter = tmp_path / "started.sh"
    reporter.write_text(f'#!/bin/sh\ntouch "{tmp_path}/started"\n')
    reporter.chmod(0o755)
    wrapper = niced_chromium(tmp_path, 19, executable=str(reporter), cgroup=tmp_path / "missing")
    assert subprocess.run([wrapper], capture_output=True, timeout=30).returncode != 0
    assert not (tmp_path / "started").exists()


@pytest.mark.skipif(_cpu_cgroup_root() is None, reason="no writable CPU cgroup here (needs root)")
def test_an_idle_cgroup_holds_the_browser_and_goes_afterwards(tmp_path):
    with idle_cpu_cgroup("cnnviz-test-browsers") as group:
        idle = group / "cpu.idle"
        assert (idle.read_text().strip() == "1" if idle.exists()
                else (group / "cpu.shares").read_text().strip() == "2" if (group / "cpu.shares").exists()
                else (group / "cpu.weight").read_text().strip() == "1")
        reporter = tmp_path / "cgroup.sh"
        reporter.write_text("#!/bin/sh\ncat /proc/self/cgroup\n")
        reporter.chmod(0o755)
        lines = subprocess.run([niced_chromium(tmp_path, 19, executable=str(reporter), cgroup=group)],
                               capture_output=True, text=True, timeout=30, check=True).stdout.splitlines()
        assert any(line.endswith("/" + group.name) for line in lines), lines
        straggler = subprocess.Popen(["sleep", "60"])
        (group / "cgroup.procs").write_text(str(straggler.pid))
    try:
        assert not group.exists() and group.name not in Path(f"/proc/{straggler.pid}/cgroup").read_text()
    finally:
        straggler.kill()
        straggler.wait()
