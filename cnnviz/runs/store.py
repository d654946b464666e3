"""The run store: every finished or stopped training run as one folder under ``CNNVIZ_HOME/runs``.

A run folder ``runs/<run id>/`` holds ``config.json``, ``history.json``, ``metrics.json`` and
``model.keras``. Each file is written crash-safely (:mod:`cnnviz.runs.saving`: temporary file,
fsync, ``os.replace``) and ``manifest.json`` with the sha256 of every file is written
LAST: a folder without a manifest is an unfinished write and is ignored (and removed by
:func:`cleanup`). Run ids are generated here, never taken from user text, and checked
against :data:`RUN_ID_RE` before any path is built from them. Models are loaded only from
this store, after checksum verification, with ``keras.saving.load_model(safe_mode=True)``
(:mod:`cnnviz.runs.modelfile`).

Runs have an owner (``owner``/``owner_name`` in config; older runs: the teacher). Listing and loading give a
``viewer`` only what it may see (:mod:`cnnviz.classroom.policy`; else "not found", as for a missing run); only
the owner or the teacher deletes. ``viewer=None``/``by=None`` is the command line or laptop user: the teacher.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cnnviz import storage
from cnnviz.classroom import policy
from cnnviz.classroom import settings as class_settings
from cnnviz.classroom.people import TEACHER_NAME, TEACHER_OWNER, Person
from cnnviz.storage import disk_failure
from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.models.config import ModelConfig
from cnnviz.report import pins
from cnnviz.report import saved as saved_reports
from cnnviz.runs import labels, modelfile, schema
from cnnviz.runs.modelfile import REFUSED_SUFFIXES, RunCorrupted
from cnnviz.training.callbacks import epoch_ends
from cnnviz.training.spec import TrainSpec


if TYPE_CHECKING:  # pragma: no cover
    import keras


log = logging.getLogger("cnnviz.runs.store")

#: ``YYYYmmdd-HHMMSS-`` + 8 random hex digits; nothing else is ever a run id.
RUN_ID_RE = re.compile(r"\A\d{8}-\d{6}-[0-9a-f]{8}\Z")
MODEL_FILE = "model.keras"
DATA_FILES = ("config.json", "history.json", "metrics.json")
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
STATUSES = ("finished", "stopped")
#: Unfinished folders/temporaries younger than this may belong to a write in progress in
#: another process (e.g. ``python -m cnnviz train`` while the app starts): leave them (judgement).
#: Applies only while some process holds the writers' lock; with no writer alive, cleanup
#: removes every leftover whatever its age (see :func:`cleanup`).
CLEANUP_MIN_AGE_S = storage.LEFTOVER_MIN_AGE_S
#: Every save and delete holds a shared ``flock`` on this file (in ``CNNVIZ_HOME``, beside
#: ``runs/`` so the store's listing stays runs only); the kernel releases it when the writer
#: dies, even by SIGKILL.
WRITERS_LOCK = ".runs-writers.lock"


class RunNotFound(CnnvizError):
    """No complete run with this id is in the store."""


@dataclass(frozen=True)
class RunInfo:
    """One complete run, as read from its folder.

    Attributes:
        run_id: the generated id (folder name).
        config: what was trained and how, as saved: :meth:`TrainSpec.to_dict` plus ``input_shape``,
            ``num_classes``, ``class_names``, ``scaling_affine`` and ``labels`` (read it through the
            typed properties below).
        history: per-epoch lists, e.g. ``{"loss": [...], "val_accuracy": [...]}`` (None = not measured).
        metrics: results, e.g. ``test_accuracy``, ``test_loss``, ``epochs_completed``.
        created: ISO 8601 time the run was saved (UTC).
        status: ``"finished"`` or ``"stopped"``.
        path: the run's folder.
        model_sha256: the checksum of ``model.keras`` from the manifest (a cache key for its model).
    """

    run_id: str
    config: dict
    history: dict
    metrics: dict
    created: str
    status: str
    path: Path = field(repr=False, compare=False, default=Path("."))
    model_sha256: str = field(repr=False, compare=False, default="")

    @property
    def spec(self) -> TrainSpec:
        """The run's training settings, typed (runs saved before a setting existed get its default)."""
        return TrainSpec.from_dict(self.config)

    @property
    def model_config(self) -> ModelConfig:
        """The run's network settings."""
        return self.spec.model

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of the images the run trained on."""
        return tuple(int(d) for d in self.config["input_shape"])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.config["num_classes"])

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(str(c) for c in self.config.get("class_names") or ())

    @property
    def scaling_affine(self) -> dict:
        """How the run scaled its images (:func:`cnnviz.data.scaling.affine`)."""
        return self.config["scaling_affine"]

    @property
    def test_accuracy(self) -> float | None:
        value = self.metrics.get("test_accuracy")
        return None if value is None else float(value)

    @property
    def has_validation(self) -> bool:
        """Whether any epoch was measured on validation images (none when the split was 0)."""
        return any(v is not None for key, values in self.history.items() if key.startswith("val_")
                   for v in values or [])

    @property
    def history_epochs(self) -> list[float]:
        """The epoch each history row ends at, as curves and the CSV draw it: 1, 2, ... but a run
        stopped mid-epoch ends at ``epochs_completed`` (2.333, not 3), as "Epochs done" says."""
        rows = max((len(values or []) for values in self.history.values()), default=0)
        done = self.metrics.get("epochs_completed")
        return epoch_ends(rows, None if done is None else float(done))

    @property
    def owner(self) -> str:
        """The owner's user id (the teacher's for runs saved before owners existed)."""
        return policy.owner_or_teacher(self.config.get("owner"))

    @property
    def owner_name(self) -> str:
        """The owner's display name, as it was when the run was saved."""
        name = self.config.get("owner_name")
        return str(name) if name else TEACHER_NAME if self.owner == TEACHER_OWNER else self.owner

    @property
    def label(self) -> str:
        """Short human name: ``preset or model`` on ``dataset``, with the id's tail (:func:`labels.label`)."""
        return labels.label(self)


# --- ids and paths ---------------------------------------------------------------------------
def new_run_id() -> str:
    """A fresh id: UTC time stamp plus 32 random bits (never derived from user text)."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(4)}"


def _check_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not RUN_ID_RE.match(run_id):
        raise InvalidArgument(f"run id must look like 20250101-120000-0123abcd, got {run_id!r}")
    return run_id


def run_path(run_id: str) -> Path:
    """The folder of ``run_id`` after validating the id and that it stays inside the store."""
    _check_id(run_id)
    root = storage.runs_dir()
    path = root / run_id
    if not storage.is_inside(path, root) or path.is_symlink():
        raise InvalidArgument(f"run id {run_id!r} does not name a folder inside the run store")
    return path


def is_stored(run_id: str) -> bool:
    """Whether the store holds a run (its folder with a manifest) with this id, whoever may see it: one stat."""
    return (run_path(run_id) / MANIFEST).is_file()


# --- reading -------------------------------------------------------------------------------
def _damaged(run_id: str, err: schema.RunDamaged) -> RunCorrupted:
    return RunCorrupted(f"run {run_id!r} is damaged: {err}")


def _read_manifest(folder: Path, run_id: str) -> dict:
    path = folder / MANIFEST
    if not path.is_file():
        raise _not_found(run_id)
    try:
        manifest = schema.parse(schema.read_bytes(path, MANIFEST), MANIFEST)
    except schema.RunDamaged as err:
        raise _damaged(run_id, err) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != MANIFEST_FORMAT
        or manifest.get("run_id") != run_id
        or manifest.get("status") not in STATUSES
        or not isinstance(files, dict)
        or set(files) != {*DATA_FILES, MODEL_FILE}
    ):
        named = sorted(files) if isinstance(files, dict) else files
        bad = [n for n in (named or []) if str(n).lower().endswith(REFUSED_SUFFIXES)]
        if bad:
            raise RunCorrupted(f"run {run_id!r} names {bad[0]!r}: only .keras models written by cnnviz are loaded")
        raise RunCorrupted(f"the manifest of run {run_id!r} is not one cnnviz wrote (files: {named})")
    try:
        schema.check_manifest(manifest, files=(*DATA_FILES, MODEL_FILE))
    except schema.RunDamaged as err:
        raise _damaged(run_id, err) from None
    return manifest


def _verified_file(folder: Path, manifest: dict, name: str, run_id: str) -> Path:
    path = folder / name
    if path.is_symlink() or not path.is_file() or not storage.is_inside(path, folder):
        raise RunCorrupted(f"run {run_id!r} is missing its file {name}")
    if storage.sha256_file(path) != manifest["files"][name]:
        raise RunCorrupted(f"run {run_id!r}: {name} does not match its checksum (the file was changed or damaged)")
    return path


#: Each JSON file's check (:mod:`cnnviz.runs.schema`): a file that breaks it makes the run damaged
#: (and :func:`cnnviz.runs.saving.save_run` refuses to write it).
JSON_CHECKS = {"config.json": schema.check_config, "history.json": schema.check_history,
           "metrics.json": schema.check_metrics}


def _not_found(run_id: str) -> RunNotFound:
    # In words, never the server's folder: a student reads it (a run deleted in another tab, by the teacher).
    return RunNotFound(f"there is no complete run {run_id!r} on the server: it was deleted (in another tab or by "
                       "the teacher), or never finished saving")


def load_run(run_id: str, viewer: Person | None = None) -> RunInfo:
    """Read one complete run: each JSON file size-capped, checksum-verified and schema-checked.

    Args:
        run_id: the run's id.
        viewer: who asks; a run they may not see is :class:`RunNotFound`, as if it did not exist
            (None: the teacher).

    Raises:
        InvalidArgument: the id is not a generated run id.
        RunNotFound: no complete run with that id.
        RunCorrupted: a file is missing, too big, does not match the manifest or breaks the
            schema (the message says which and why).
    """
    folder = run_path(run_id)
    manifest = _read_manifest(folder, run_id)
    parts = {}
    try:
        for name in DATA_FILES:
            parts[name] = schema.parse(schema.read_bytes(folder / name, name), name, manifest["files"][name])
            JSON_CHECKS[name](parts[name])
        model = folder / MODEL_FILE
        if model.is_symlink() or not model.is_file():  # a stat, not a checksum: listing stays cheap
            raise schema.RunDamaged(f"its model file {MODEL_FILE} is missing")
    except schema.RunDamaged as err:
        if not (folder / MANIFEST).is_file():  # deleted while we read it (the manifest goes first): gone, not damaged
            raise _not_found(run_id) from None
        raise _damaged(run_id, err) from None
    info = RunInfo(
        run_id=run_id,
        config=parts["config.json"],
        history=parts["history.json"],
        metrics=parts["metrics.json"],
        created=str(manifest.get("created", "")),
        status=manifest["status"],
        path=folder,
        model_sha256=str(manifest["files"][MODEL_FILE]),
    )
    if viewer is not None and not _visible(viewer, [info])[0]:
        raise _not_found(run_id)
    return info


def _visible(viewer: Person | None, items: list[RunInfo]) -> list[bool]:
    return class_settings.runs_visible(viewer, [(i.owner, i.run_id) for i in items])


@dataclass(frozen=True)
class DamagedRun:
    """A run folder with a manifest whose files cnnviz cannot use: listed so it can be deleted.

    Attributes:
        run_id: the folder's name (a generated run id).
        reason: what is wrong, in words (e.g. "its files were changed after it was saved ...").
    """

    run_id: str
    reason: str


@dataclass(frozen=True)
class Listing:
    """The run store read once: the usable runs (newest first) and the damaged ones (by id)."""

    runs: list[RunInfo]
    damaged: list[DamagedRun]


def scan(viewer: Person | None = None) -> Listing:
    """Read every run folder with a manifest: good runs and damaged runs, each on its own.

    Only the runs ``viewer`` may see are listed (None: the teacher, who sees all). Damaged runs
    are listed for the teacher only: their owner cannot be trusted.

    One bad folder never stops the listing: whatever goes wrong reading it (a file of the wrong
    type, too big, changed after saving, unreadable) makes that run damaged, with the reason.
    The first listing in a process also removes leftovers of crashed writes (:func:`cleanup_once`).
    """
    cleanup_once()
    root = storage.runs_dir()
    if not root.is_dir():
        return Listing([], [])
    good, damaged = [], []
    for entry in root.iterdir():
        if not RUN_ID_RE.match(entry.name) or not entry.is_dir() or entry.is_symlink():
            continue
        if not (entry / MANIFEST).is_file():
            continue  # unfinished write (or a crash): never listed
        try:
            good.append(load_run(entry.name))
        except RunNotFound:
            continue  # deleted while we listed
        except CnnvizError as err:
            log.warning("damaged run %s: %s", entry.name, err)
            damaged.append(DamagedRun(entry.name, _reason(str(err), entry.name)))
        except Exception as err:  # a bug in a check must not break every page: log it, list the run
            log.exception("reading run %s failed", entry.name)
            damaged.append(DamagedRun(entry.name, f"it could not be read ({type(err).__name__})"))
    good = [r for r, seen in zip(good, _visible(viewer, good)) if seen]
    if viewer is not None and not viewer.is_teacher:
        damaged = []
    good.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    damaged.sort(key=lambda d: d.run_id, reverse=True)
    return Listing(good, damaged)


def _reason(message: str, run_id: str) -> str:
    """The reason of a RunCorrupted message without the leading "run '<id>' is damaged: "."""
    for prefix in (f"run {run_id!r} is damaged: ", f"run {run_id!r}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def list_runs(viewer: Person | None = None) -> list[RunInfo]:
    """Every usable run ``viewer`` may see, newest first (:func:`scan`; damaged runs are in :func:`damaged_runs`)."""
    return scan(viewer).runs


def damaged_runs(viewer: Person | None = None) -> list[DamagedRun]:
    """Every run folder with a manifest that cannot be used, with the reason (:func:`scan`; teacher only)."""
    return scan(viewer).damaged


def job_run(job_id: str) -> RunInfo | None:
    """The run training job ``job_id`` saved (its config names the job), or None."""
    return next((info for info in list_runs() if info.config.get("job_id") == job_id), None)


def model_file(run_id: str, viewer: Person | None = None) -> Path:
    """Path of the run's checksum-verified ``model.keras`` (for downloads and loading); a run ``viewer``
    may not see is :class:`RunNotFound` (None: the teacher)."""
    if viewer is not None:
        load_run(run_id, viewer)
    folder = run_path(run_id)
    return _verified_file(folder, _read_manifest(folder, run_id), MODEL_FILE, run_id)


def model_sha256(run_id: str) -> str:
    """The model's checksum from the manifest (a cheap cache key for a loaded model)."""
    return str(_read_manifest(run_path(run_id), run_id)["files"][MODEL_FILE])


def load_model(run_id: str, viewer: Person | None = None) -> keras.Model:
    """Load a run's model (one ``viewer`` may see: :func:`model_file`): id validated, checksum verified, then
    :func:`cnnviz.runs.modelfile.load_model`.

    The checksum proves the file is the one the manifest names; whoever can write the store
    can rewrite both, so the archive is also checked before Keras parses it.

    Raises:
        InvalidArgument: the id is not a generated run id. RunNotFound: no complete run with that id
            (or not one ``viewer`` may see). RunCorrupted: the file does not match the manifest, is
            not an archive cnnviz writes, or Keras refuses it.
    """
    return modelfile.load_model(model_file(run_id, viewer), run_id)


def delete_run(run_id: str, by: Person | None = None) -> None:
    """Remove a run, usable or damaged. The manifest goes first, so a half-deleted run is never listed.

    Args:
        run_id: the run's id.
        by: who deletes it: its owner or the teacher (None: the teacher). Damaged runs are the teacher's
            to delete. A refusal changes nothing on disk.

    Raises:
        InvalidArgument: the id is not a generated run id (nothing else is ever deleted).
        RunNotFound: no run folder with a manifest has that id (or ``by`` may not see it).
        NotAllowed: ``by`` may see the run but is neither its owner nor the teacher.
        SaveFailed: the disk refused (read-only, permission), said in words.
    """
    folder = run_path(run_id)
    if not (folder / MANIFEST).is_file():
        raise _not_found(run_id)
    if by is not None and not by.is_teacher:
        try:
            info = load_run(run_id, viewer=by)
        except RunCorrupted:
            raise policy.NotAllowed(f"{by.display_name} may not delete run {run_id}: it is damaged, and only the "
                                    "teacher deletes damaged runs.") from None
        policy.check_change(by, info.owner, f"delete run {run_id}")
    # A writer too: cleanup must not count this half-deleted folder as a dead writer's leftover
    # while we still remove it (harmless either way, but keeps the rule simple).
    try:
        with storage.shared_lock(storage.home() / WRITERS_LOCK):
            try:
                (folder / MANIFEST).unlink()
            except FileNotFoundError:  # deleted meanwhile (its owner and the teacher at once, two tabs)
                raise _not_found(run_id) from None
            storage.fsync_dir(folder)
            shutil.rmtree(folder, ignore_errors=True)
    except OSError as err:  # e.g. a read-only CNNVIZ_HOME: say so, not "internal error"
        failure = disk_failure(err, f"delete run {run_id}")
        if failure is None:
            raise
        raise failure from err
    log.info("deleted run %s", run_id)
    _forget_run_elsewhere(run_id)


def _forget_run_elsewhere(run_id: str) -> None:
    """What is kept of a deleted run outside its folder goes too: everyone's pins and lab reports of it. The run
    is gone already, so a failure here is logged, not raised."""
    for what, forget in (("pinned views", pins.forget_run), ("lab reports", saved_reports.forget_run)):
        try:
            forget(run_id)
        except (OSError, CnnvizError) as err:
            log.warning("run %s was deleted, but its %s were not: %s", run_id, what, err)


# --- start-up cleanup --------------------------------------------------------------------------
_first_cleanup = storage.Once(log, "run store cleanup")


def cleanup(*, min_age_s: float = CLEANUP_MIN_AGE_S) -> list[Path]:
    """Remove leftovers of crashed writes: run folders without a manifest and temporary files; and the pins, lab
    reports and their temporaries that outlived their run (:func:`_cleanup_elsewhere`).

    Every save and delete holds a shared lock on :data:`WRITERS_LOCK`, which the kernel drops
    when the writer dies. If cleanup gets the lock exclusively, no writer is alive, so every
    leftover belongs to a dead one and all are removed at once, whatever their age: a restart
    after a crash leaves a clean store. If a writer holds it (``python -m cnnviz train``
    saving while the app starts), anything younger than ``min_age_s`` is kept: it may be that
    writer's work in progress. Where locks are not supported, the age rule always applies.

    Returns:
        The paths removed (:func:`cleanup_once` logs them).
    """
    root = storage.runs_dir()
    removed: list[Path] = []
    if root.is_dir():
        with storage.exclusive_lock_if_free(storage.home() / WRITERS_LOCK) as no_writer:
            # -inf, not 0: a clock stepped back must not make a dead writer's leftovers look young.
            removed = _cleanup(root, float("-inf") if no_writer else min_age_s)
    return removed + _cleanup_elsewhere(min_age_s)


def _cleanup(root: Path, min_age_s: float) -> list[Path]:
    now = time.time()
    removed: list[Path] = []

    def old(path: Path) -> bool:
        with contextlib.suppress(OSError):
            return now - path.lstat().st_mtime >= min_age_s
        return False

    for entry in root.iterdir():
        if entry.is_symlink():
            continue
        if entry.is_dir() and RUN_ID_RE.match(entry.name):
            if not (entry / MANIFEST).is_file():
                # Judge by the newest file inside: a slow write in progress keeps touching them.
                newest = max(path.lstat().st_mtime for path in [entry, *entry.iterdir()])
                if now - newest >= min_age_s:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
                continue
            for inner in entry.iterdir():
                if storage.TEMP_MARKER in inner.name and inner.is_file() and old(inner):
                    inner.unlink(missing_ok=True)
                    removed.append(inner)
        elif storage.TEMP_MARKER in entry.name and entry.is_file() and old(entry):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def _cleanup_elsewhere(min_age_s: float) -> list[Path]:
    """What outlived its run outside the store: the pins and lab reports of runs deleted by hand (``rm -rf``), and
    the temporaries of pin and report writes killed half-way (their writers hold no writers' lock: by age only).
    A failure is logged: the runs' own clean-up is done."""

    def gone(run_id: str) -> bool:  # asked at the moment of removing: a run saved meanwhile is not gone
        try:
            return bool(RUN_ID_RE.match(run_id)) and not is_stored(run_id)
        except InvalidArgument:  # e.g. a symlink where the run's folder goes: not ours to judge, left alone
            return False

    removed: list[Path] = []
    try:
        removed += saved_reports.leftovers(gone, min_age_s=min_age_s)
    except OSError as err:
        log.warning("cleaning up the lab reports failed: %s", err)
    try:
        removed += pins.remove_temporaries(min_age_s=min_age_s)
        dropped = pins.forget_gone_runs(gone)
        if dropped:
            log.info("dropped %d pinned views of runs deleted by hand", dropped)
    except (OSError, CnnvizError) as err:
        log.warning("cleaning up the pinned views failed: %s", err)
    return removed


def cleanup_once() -> None:
    """Run :func:`cleanup` once per process (the app and the CLI call it at start-up)."""
    _first_cleanup.run(cleanup)
