"""Seeing a page's progress bar move without a browser."""

from __future__ import annotations


def record_progress(monkeypatch, owner, name: str) -> list[tuple[int, int]]:
    """Wrap ``owner.name`` so that every ``progress(done, total)`` the page passes it is also recorded; returns the
    list the calls are appended to (the page's own bar still moves)."""
    moved, compute = [], getattr(owner, name)

    def watched(*args, progress=None, **kw):
        if progress is None:
            return compute(*args, **kw)
        return compute(*args, **kw, progress=lambda done, total: moved.append((done, total)) or progress(done, total))

    monkeypatch.setattr(owner, name, watched)
    return moved
