"""cnnviz.app.sweeps: the Robustness results kept per (run, transformed copy)."""

from __future__ import annotations

from cnnviz.app import sweeps


def test_store_forgets_the_least_recently_used():
    store = sweeps.ResultStore(max_entries=2)
    store.put("a", 1)
    store.put("b", 2)
    assert store.get("a") == 1  # now "b" is the oldest
    store.put("c", 3)
    assert (store.get("a"), store.get("b"), store.get("c"), len(store)) == (1, None, 3, 2)
