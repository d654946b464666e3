"""What data and weights are on this machine, for the Home page. Never imports TensorFlow."""

from __future__ import annotations

from cnnviz import storage, weights
from cnnviz.data import stored


def _status_items() -> list[dict]:
    items = []
    for entry in [*stored.status(), *weights.status()]:
        detail = entry["detail"] if entry["present"] else f"{entry['detail']} Not here yet: {entry['how_to_get']}"
        items.append({"name": entry.get("title", entry["name"]), "present": entry["present"], "detail": detail})
    return items


def report() -> dict:
    """Return ``{"home": str, "items": [{"name", "present", "detail"}, ...]}``."""
    items: list[dict] = []
    items.extend(_status_items())
    return {"home": str(storage.home()), "items": items}
