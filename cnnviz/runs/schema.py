"""What a run's JSON files must hold, checked when they are read (types, ranges, sizes).

A run folder is written by cnnviz, but anyone who can write ``CNNVIZ_HOME`` can change it (and
fix the checksums). Pages assume the types checked here (a number for ``test_accuracy``, a
list per history key, a dict for the model settings); a file that breaks them makes its run
*damaged* (listed with the reason, deletable) instead of breaking every page that lists runs.
Sizes are capped before a byte is read: a 4 GB sparse ``history.json`` is refused by ``stat``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from cnnviz.errors import CnnvizError, InvalidArgument
from cnnviz.models.config import INT_LIMITS, ModelConfig
from cnnviz.training.spec import TrainSpec


#: The largest file of each kind read (judgement: ~50× the biggest a 1000-class, 1000-epoch run writes).
MAX_BYTES = {"manifest.json": 64 << 10, "config.json": 1 << 20, "history.json": 4 << 20,
             "metrics.json": 256 << 10}
MAX_EPOCHS = 10_000  # history entries per key (epochs are capped at 1000; a partial epoch adds one)
MAX_KEYS = 200  # history or metrics entries
MAX_SIDE = 8192  # image side in input_shape
MAX_CLASSES = 1000
MAX_OWNER = 200  # characters of an owner's user id or display name
#: metrics.json values that pages format as numbers: (low, high); None is always allowed ("not measured").
NUMBER_METRICS = {
    "test_accuracy": (0.0, 1.0), "seed_test_accuracy": (0.0, 1.0), "test_accuracy_without_tta": (0.0, 1.0),
    "preset_expected_test_accuracy": (0.0, 1.0), "test_loss": (0.0, math.inf),
    "test_cross_entropy": (0.0, math.inf), "best_val_loss": (0.0, math.inf),
    "epochs_completed": (0.0, MAX_EPOCHS), "best_epoch": (0.0, MAX_EPOCHS), "train_seconds": (0.0, math.inf),
    "test_seconds": (0.0, math.inf), "images_per_s": (0.0, math.inf), "preset_expected_seconds": (0.0, math.inf),
    "n_train": (0, math.inf), "n_val": (0, math.inf), "n_test": (0, math.inf), "params_total": (0, math.inf),
    "params_trainable": (0, math.inf), "data_init_seconds": (0.0, math.inf),
    "train_seconds_after_epoch": (0, MAX_EPOCHS),
}
TEXT_METRICS = ("seed_result", "seed_source", "seed_dataset", "test_tta")


class RunDamaged(CnnvizError):
    """A run file breaks the schema; ``str(err)`` is the reason in words (no run id)."""


def read_bytes(path: Path, name: str) -> bytes:
    """Read a run file of at most :data:`MAX_BYTES` bytes: a regular file, size checked before reading.

    Raises:
        RunDamaged: missing, not a regular file, or too big.
    """
    limit = MAX_BYTES[name]
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise RunDamaged(f"its file {name} is missing") from None
    except OSError as err:
        raise RunDamaged(f"its file {name} cannot be read ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RunDamaged(f"its {name} is not a regular file")
        if info.st_size > limit:
            raise RunDamaged(f"its {name} has {info.st_size:,} bytes, more than a run's {name} may have "
                             f"({limit:,}); it was not read")
        data = fh.read(limit + 1)  # the file may grow after fstat
    if len(data) > limit:
        raise RunDamaged(f"its {name} has more than {limit:,} bytes; it was not read")
    return data


def parse(data: bytes, name: str, checksum: str | None = None) -> Any:
    """JSON of ``data`` (strict: no NaN/Infinity), after comparing its sha256 with ``checksum``."""
    if checksum is not None and hashlib.sha256(data).hexdigest() != checksum:
        raise RunDamaged(f"its files were changed after it was saved ({name} does not match its checksum)")
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as err:  # RecursionError: "[[[[…" nested thousands deep
        raise RunDamaged(f"its {name} is not valid JSON ({str(err)[:120] or type(err).__name__})") from None


def _refuse_constant(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON number")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_manifest(manifest: Any, *, files: tuple[str, ...]) -> None:
    """The manifest's own fields beyond what the store checks (run id, status, file names)."""
    if not isinstance(manifest.get("created", ""), str):
        raise RunDamaged(f"its manifest.json gives the time it was saved as {_shown(manifest.get('created'))}, "
                         "not as text")
    for name in files:
        digest = manifest["files"][name]
        if not isinstance(digest, str) or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
            raise RunDamaged(f"its manifest.json gives {name} the checksum {_shown(digest)}, not a sha256")


def check_config(config: Any) -> TrainSpec:
    """Refuse a config.json pages cannot use; return its typed spec.

    Settings are parsed by :meth:`TrainSpec.from_dict` and checked by :meth:`TrainSpec.validate`;
    the model settings' types and whole-number limits are checked, not their option names (a
    network cnnviz no longer offers still lists; rebuilding it is refused where it is tried).
    """
    if not isinstance(config, dict):
        raise RunDamaged(f"its config.json holds {type(config).__name__} {_shown(config)}, not the settings")
    for key in ("model", "input_shape", "num_classes", "scaling_affine"):
        if key not in config:
            raise RunDamaged(f"its config.json has no {key!r}")
    try:
        spec = TrainSpec.from_dict(config)
        _check_fields(spec.model)
        _check_fields(spec)
        spec.validate()
    except InvalidArgument as err:
        raise RunDamaged(f"its config.json has an impossible setting: {err}") from None
    except (TypeError, ValueError) as err:  # e.g. "augment": "lots" (dict("lots") fails)
        raise RunDamaged(f"its config.json has settings of the wrong kind ({str(err)[:120]})") from None
    shape = config["input_shape"]
    if (not isinstance(shape, list) or len(shape) != 3 or not all(_is_int(d) for d in shape)
            or not all(1 <= d <= MAX_SIDE for d in shape[:2]) or shape[2] not in (1, 3)):
        raise RunDamaged(f"its config.json gives the image shape as {_shown(shape)}, not [height, width, 1 or 3]")
    classes = config["num_classes"]
    if not _is_int(classes) or not 2 <= classes <= MAX_CLASSES:
        raise RunDamaged(f"its config.json gives {_shown(classes)} classes, not a whole number 2..{MAX_CLASSES}")
    names = config.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != classes
                              or not all(isinstance(n, str) and len(n) <= 200 for n in names)):
        raise RunDamaged(f"its config.json has class names {_shown(names)}, not {classes} names")
    _check_affine(config["scaling_affine"], shape[2])
    digest = config.get("test_sha256")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                   and all(c in "0123456789abcdef" for c in digest)):
        raise RunDamaged(f"its config.json gives its test images' checksum as {_shown(digest)}, not a sha256")
    _check_owner(config)
    return spec


def _check_owner(config: dict) -> None:
    """``owner`` (a user id) and ``owner_name``: text of 1 to :data:`MAX_OWNER` characters when present."""
    for key in ("owner", "owner_name"):
        value = config.get(key)
        if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= MAX_OWNER):
            raise RunDamaged(f"its config.json gives the {key.replace('_', ' ')} as {_shown(value)}, not text of "
                             f"1 to {MAX_OWNER} characters")


#: A dataclass field's declared type: (check, words).
_KINDS = {"str": (lambda v: isinstance(v, str), "text"), "bool": (lambda v: isinstance(v, bool), "true or false"),
          "int": (_is_int, "a whole number"), "float": (_is_number, "a number"),
          "str | None": (lambda v: v is None or isinstance(v, str), "text or null")}


def _check_fields(settings: ModelConfig | TrainSpec) -> None:
    """Each plain setting has its declared type (from the dataclass); the model's whole numbers within limits.

    Options given as text are checked by ``validate``; this catches what ``validate`` would
    trip over or never look at (``"filters": "many"``, ``"keep_best": "yes"``).
    """
    is_model = isinstance(settings, ModelConfig)
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        kind = str(field.type)
        check, words = _KINDS.get(kind, (lambda v: True, kind))
        if not check(value):
            raise InvalidArgument(f"setting {'model.' * is_model}{field.name} must be {words}, got {_shown(value)}")
        low, high = INT_LIMITS.get(field.name, (-math.inf, math.inf)) if is_model else (-math.inf, math.inf)
        if kind == "int" and not low <= value <= high:
            raise InvalidArgument(f"setting model.{field.name} must be {low}..{high}, got {value!r}")


def _check_affine(affine: Any, channels: int) -> None:
    ok = (isinstance(affine, dict) and isinstance(affine.get("method"), str)
          and all(isinstance(affine.get(k), list) and len(affine[k]) == channels
                  and all(_is_number(v) for v in affine[k]) for k in ("scale", "offset")))
    if not ok:
        raise RunDamaged(f"its config.json gives the image scaling as {_shown(affine)}, not a method with "
                         f"{channels} scale and offset number(s)")


def check_history(history: Any) -> None:
    """Per-epoch lists: ``{name: [number or null, ...]}``."""
    if not isinstance(history, dict):
        raise RunDamaged(f"its history.json holds {type(history).__name__} {_shown(history)}, not per-epoch lists")
    if len(history) > MAX_KEYS:
        raise RunDamaged(f"its history.json has {len(history)} entries, more than {MAX_KEYS}")
    for key, values in history.items():
        if not isinstance(values, list) or len(values) > MAX_EPOCHS:
            raise RunDamaged(f"its history.json gives {key} as {_shown(values)}, not a list of up to "
                             f"{MAX_EPOCHS} epochs")
        bad = next((v for v in values if v is not None and not _is_number(v)), None)
        if bad is not None:
            raise RunDamaged(f"its history.json has {_shown(bad)} in {key}, not a number")


def check_metrics(metrics: Any) -> None:
    """Results: known numbers in their ranges, known texts as text, everything else plain values."""
    if not isinstance(metrics, dict):
        raise RunDamaged(f"its metrics.json holds {type(metrics).__name__} {_shown(metrics)}, not the results")
    if len(metrics) > MAX_KEYS:
        raise RunDamaged(f"its metrics.json has {len(metrics)} entries, more than {MAX_KEYS}")
    for key, value in metrics.items():
        if key in NUMBER_METRICS:
            low, high = NUMBER_METRICS[key]
            if value is not None and (not _is_number(value) or not low <= value <= high):
                raise RunDamaged(f"its metrics.json gives {key} as {_shown(value)}, not a number from {low:g} "
                                 f"to {high:g}")
        elif key in TEXT_METRICS:
            if value is not None and not isinstance(value, str):
                raise RunDamaged(f"its metrics.json gives {key} as {_shown(value)}, not text")
        elif not _plain(value):
            raise RunDamaged(f"its metrics.json gives {key} as {_shown(value)}, not a plain value")


def _plain(value: Any) -> bool:
    """A JSON scalar or a list of scalars (what cnnviz writes in metrics.json)."""
    scalar = (str, bool, int, float, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))
