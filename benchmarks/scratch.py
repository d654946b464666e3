"""Temporary folders (a benchmark's ``CNNVIZ_HOME``) removed when the benchmark's process exits."""

from __future__ import annotations

import atexit
import shutil
import tempfile


def scratch_dir(prefix: str) -> str:
    """A new temporary folder named ``prefix…``, deleted with everything in it at exit."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
