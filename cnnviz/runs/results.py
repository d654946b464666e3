"""The class's results table: per dataset and network, the best test accuracy, its epochs, time and who.

The teacher sees it on the Class page; students see it when the teacher shares it
(:func:`cnnviz.classroom.settings.results_shared`). It is built from every run, so it is the
teacher's listing that goes in, not a student's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cnnviz.classroom import policy, roster
from cnnviz.classroom import settings as class_settings
from cnnviz.classroom.people import Person
from cnnviz.runs import labels
from cnnviz.runs import store
from cnnviz.runs.store import RunInfo


COLUMNS = ("dataset", "network", "best test accuracy", "epochs", "seconds", "who", "runs", "run")


def results_table(runs: Iterable[RunInfo], names: Mapping[tuple[str, str], str] | None = None) -> list[dict[str, Any]]:
    """One row per (dataset, network): the run with the best test accuracy, and how many runs tried it.

    Runs without a test accuracy count in ``runs`` but never win. Rows are sorted by dataset, then
    best accuracy (highest first). ``seconds`` is the training time (``train_seconds``). ``names``: who is shown as
    what, by (user id, display name) (:func:`cnnviz.classroom.roster.shown_names`; else each run's owner name).
    """
    groups: dict[tuple[str, str], list[RunInfo]] = {}
    for info in runs:
        key = (str(info.config.get("dataset", "?")), labels.network(info))  # never fails: every run counts
        groups.setdefault(key, []).append(info)
    rows = []
    for (dataset, network), items in groups.items():
        measured = [r for r in items if r.test_accuracy is not None]
        best = max(measured, key=lambda r: (r.test_accuracy, r.created)) if measured else None
        rows.append({
            "dataset": dataset,
            "network": network,
            "best test accuracy": None if best is None else best.test_accuracy,
            "epochs": None if best is None else best.metrics.get("epochs_completed"),
            "seconds": None if best is None else best.metrics.get("train_seconds"),
            "who": None if best is None else (names or {}).get((best.owner, best.owner_name), best.owner_name),
            "runs": len(items),
            "run": None if best is None else best.run_id,
        })
    rows.sort(key=lambda r: (r["dataset"], -(r["best test accuracy"] if r["best test accuracy"] is not None else -1)))
    return rows


def class_results(viewer: Person) -> list[dict[str, Any]]:
    """:func:`results_table` of every run in the store, for the teacher, or for a student once it is shared.

    Raises:
        NotAllowed: ``viewer`` is a student and the teacher has not shared the results table.
    """
    if not viewer.is_teacher and not class_settings.results_shared():
        raise policy.NotAllowed(f"{viewer.display_name} may not see the class's results table: the teacher has "
                                "not shared it yet.")
    items = store.list_runs()
    return results_table(items, roster.shown_names((r.owner, r.owner_name) for r in items))  # two Anns: two names
