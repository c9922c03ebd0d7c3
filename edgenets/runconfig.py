"""The run directory's ``config.json``: its keys, read and checked in one place.

``edgenets train`` writes it (:func:`write`); ``edgenets export``, ``edgenets train --resume`` and
``edgenets report`` read it through :func:`read`, which returns a :class:`RunConfig` or one
``InputError`` line naming the file and the problem. The keys every reader relies on are
:data:`REQUIRED`; everything else in the file is provenance (versions, machine, the resolved
recipe) that readers may show but never need. See docs/training.md, "The run directory".

No TensorFlow and no pandas: the report and the device side import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from edgenets import _io
from edgenets.errors import InputError
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec
from edgenets.preprocessing import check as check_preprocessing

FILENAME = "config.json"
SCHEMA = "edgenets.run-config/2"
# The keys export, resume and report read (schema 1 files, written before image shapes were free, have
# them too; "data_options" and "preprocessing" default for those).
REQUIRED = ("model", "dataset", "seed", "val_split", "num_classes", "class_names", "input_shape")
DATA_OPTIONS = ("color", "image_size", "image_shape")  # load_dataset's keyword options a run may record


@dataclass
class RunConfig:
    """What a run was trained on and how: enough to reload its data and feed its model exactly."""

    path: Path  # the config.json read
    model: str
    dataset: str  # a built-in name or a path, as given to train
    seed: int
    val_split: float
    num_classes: int
    class_names: list[str]
    input_shape: tuple[int, int, int]  # (H, W, C) of the model's input
    preprocessing: Spec = DEFAULT_PREPROCESSING
    # how the data set was loaded (color, image_size, image_shape: load_dataset's keyword arguments), so
    # export and report load exactly the images training saw
    data_options: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)  # the whole file

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    def load_data(self, *, quiet: bool = True) -> Any:
        """The run's data set, loaded with the options training used."""
        from edgenets.data import load_dataset

        return load_dataset(self.dataset, quiet=quiet, **self.data_options)


def read(run_dir: str | Path, *, purpose: str = "a run directory made by `edgenets train`") -> RunConfig:
    """``RUN_DIR/config.json`` checked: every REQUIRED key present and well-typed, the preprocessing known."""
    run_dir = Path(run_dir)
    path = run_dir / FILENAME
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run directory not found")
    if not path.is_file():
        raise InputError(f"{path}: not found (is {run_dir} {purpose}?)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: expected a JSON object")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise InputError(f"{path}: missing keys {', '.join(missing)}")
    try:
        shape = tuple(int(v) for v in doc["input_shape"])
        names = [str(c) for c in doc["class_names"]]
        num_classes = int(doc["num_classes"])
        seed = int(doc["seed"])
        val_split = float(doc["val_split"] or 0.0)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed value ({exc})") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise InputError(f"{path}: input_shape must be [height, width, channels]; found {doc['input_shape']!r}")
    if num_classes != len(names):
        raise InputError(f"{path}: num_classes is {num_classes} but class_names has {len(names)} names")
    options = doc.get("data_options") or {}
    if not isinstance(options, dict):
        raise InputError(f"{path}: data_options must be a JSON object")
    unknown = sorted(set(options) - set(DATA_OPTIONS))
    if unknown:
        raise InputError(f"{path}: unknown data_options key {unknown[0]!r} (known: {', '.join(DATA_OPTIONS)})")
    from edgenets.data import LoadOptions

    try:
        LoadOptions.parse(**options)
    except InputError as exc:
        raise InputError(f"{path}: data_options: {exc}") from None
    preprocessing = check_preprocessing(doc.get("preprocessing", DEFAULT_PREPROCESSING), str(path))
    return RunConfig(path, str(doc["model"]), str(doc["dataset"]), seed, val_split, num_classes, names,
                     shape, preprocessing, dict(options), doc)  # type: ignore[arg-type]


def write(run_dir: str | Path, doc: dict) -> Path:
    """Write ``config.json`` atomically, after checking it carries every REQUIRED key."""
    missing = [k for k in REQUIRED if k not in doc]
    if missing:  # a bug in the writer, not bad input
        raise ValueError(f"config.json would miss keys {', '.join(missing)}")
    return _io.write_json(Path(run_dir) / FILENAME, {"schema": SCHEMA, **doc})


def read_optional(run_dir: str | Path) -> Optional[RunConfig]:
    """:func:`read`, or None when RUN_DIR has no config.json (e.g. a folder of exports only)."""
    return read(run_dir) if (Path(run_dir) / FILENAME).is_file() else None
