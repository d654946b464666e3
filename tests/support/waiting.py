"""Polling for a condition that another process or thread makes true (jobs, workers, Ray)."""

from __future__ import annotations

import time
from typing import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 180.0, interval: float = 0.05) -> bool:
    """True as soon as ``predicate()`` is truthy, False once ``timeout`` seconds have passed without it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
