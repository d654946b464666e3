"""A disk that refuses: ``Path.mkdir`` under a folder fails as a read-only disk or a folder without permission does."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def refuse_mkdir_under(monkeypatch, folder: Path, code: int = errno.EROFS) -> None:
    """Make ``Path.mkdir`` under ``folder`` raise ``OSError(code)`` (EACCES gives a PermissionError, as the OS's)."""
    real_mkdir = Path.mkdir

    def refused(self, *args, **kwargs):
        if str(self).startswith(str(folder)):
            raise OSError(code, os.strerror(code), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refused)
