"""What data and weights are on this machine, for the Home page. Never imports TensorFlow."""

from __future__ import annotations

from cnnviz import storage


def report() -> dict:
    """Return ``{"home": str, "items": [{"name", "present", "detail"}, ...]}``."""
    items: list[dict] = []
    items.append({
        "name": "scikit-learn digits",
        "present": True,
        "detail": "8×8 handwritten digits that ship with scikit-learn; always available offline.",
    })
    return {"home": str(storage.home()), "items": items}
