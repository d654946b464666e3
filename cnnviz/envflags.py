"""Yes/no environment variables (``CNNVIZ_CLASSROOM``, ``CNNVIZ_ALLOW_SERVER_PATHS``), read one way everywhere."""

from __future__ import annotations

import os

#: The values that switch a flag on, after trimming and lower-casing; anything else (unset, "0", "off") is off.
ON_WORDS = ("1", "true", "yes", "on")


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to one of :data:`ON_WORDS`."""
    return os.environ.get(name, "").strip().lower() in ON_WORDS
