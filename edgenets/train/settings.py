"""Step 1 of a training run: the settings, checked at the door, or a resumed run's own.

:func:`resolve_settings` validates every argument (naming it) before anything is loaded or
written, fills the unset ones from the recipe and decides where the run goes; for ``--resume`` it
reads the run's config.json through :mod:`edgenets.runconfig` and its checkpoint state, and any
setting or data option given that differs from the run's is an error (only ``--epochs`` may grow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from edgenets import runconfig
from edgenets.errors import InputError
from edgenets.preprocessing import DEFAULT_PREPROCESSING, MEAN_STD
from edgenets.preprocessing import check as check_preprocessing
from edgenets.train.loop import read_state
from edgenets.train.recipes import AUGMENTATIONS, Recipe, get_recipe


@dataclass
class Settings:
    """Everything that determines a run (config.json stores it; --resume reads it back)."""

    model: str
    dataset: str
    recipe: str
    epochs: int
    batch_size: int
    augment: str
    val_split: float
    seed: int
    limit: Optional[int]
    # the --preprocessing choice; config.json's top-level "preprocessing" holds what it resolved to
    preprocessing: str = DEFAULT_PREPROCESSING
    # the width multiplier given to create_model (a config.json from before it existed: 1.0, what it trained)
    alpha: float = 1.0


@dataclass
class Plan:
    """What :func:`resolve_settings` decided: the settings, where the run goes, how to load its data."""

    settings: Settings
    recipe: Recipe
    run_dir: Path
    data_options: dict  # load_dataset's keyword arguments (color, image_size, image_shape) that were given
    resumed: Optional[runconfig.RunConfig] = None  # the run's own config.json when resuming
    state: Optional[dict] = None  # its checkpoint state when resuming
    batch_size_given: bool = False  # an explicit --batch-size is never changed, only checked


def data_options(color: Any = None, image_size: Any = None, image_shape: Any = None) -> dict:
    """The given data options checked (edgenets.data.options), as JSON values for ``load_dataset`` and config.json."""
    from edgenets.data.options import LoadOptions

    return LoadOptions.parse(color=color, image_size=image_size, image_shape=image_shape).as_dict()


def _resolve(model, dataset, recipe, epochs, batch_size, augment, val_split, seed, limit,
             preprocessing=DEFAULT_PREPROCESSING, alpha=1.0) -> tuple[Settings, Recipe]:
    """Validate at the door (argument named), fill unset values from the recipe."""
    from edgenets.models import get_model_info

    rec = get_recipe(recipe)
    get_model_info(model)  # the registry's own "unknown model ... choose one of" error
    epochs = rec.epochs if epochs is None else epochs
    batch_size = rec.batch_size if batch_size is None else batch_size
    augment = rec.augment if augment is None else augment
    if epochs <= 0:
        raise InputError(f"--epochs must be > 0. Received: {epochs}")
    if batch_size <= 0:
        raise InputError(f"--batch-size must be > 0. Received: {batch_size}")
    if not 0.0 < val_split < 1.0:
        raise InputError(f"--val-split must be between 0 and 1 (exclusive). Received: {val_split}")
    if limit is not None and limit <= 0:
        raise InputError(f"--limit must be > 0. Received: {limit}")
    if augment not in AUGMENTATIONS:
        raise InputError(f"--augment: unknown augmentation {augment!r}: choose one of {', '.join(AUGMENTATIONS)}")
    if not 0 <= seed < 2**32:
        raise InputError(f"--seed must be between 0 and 2**32 - 1. Received: {seed}")
    if preprocessing != MEAN_STD:
        check_preprocessing(preprocessing, "--preprocessing")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise InputError(f"--alpha must be a number > 0 (the width multiplier). Received: {alpha!r}")
    return Settings(model, str(dataset), rec.name, int(epochs), int(batch_size), augment, float(val_split),
                    int(seed), None if limit is None else int(limit), str(preprocessing), float(alpha)), rec


def as_json(value: Any) -> Any:
    """A tuple as the list JSON makes of it (data options compare equal however they were given)."""
    return list(value) if isinstance(value, tuple) else value


def _resume_plan(run_dir: Path, overrides: dict, options: dict) -> Plan:
    """The run's own settings and data options; --epochs may grow, any other differing setting is an error."""
    if not (run_dir / runconfig.FILENAME).is_file():
        raise InputError(f"--resume {run_dir}: not a run directory (no config.json)")
    config = runconfig.read(run_dir, purpose="a run directory made by `edgenets train` (--resume)")
    try:
        settings = Settings(**config.raw["settings"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{config.path}: not a config.json written by edgenets train ({exc})") from None
    for key, value in overrides.items():
        if value is None or key == "epochs":
            continue
        if value != getattr(settings, key):
            raise InputError(f"--{key.replace('_', '-')}: a resumed run keeps its settings "
                             f"({getattr(settings, key)!r}); received {value!r}")
    for key, value in options.items():
        saved = config.data_options.get(key)
        if as_json(value) != as_json(saved):
            raise InputError(f"--{key.replace('_', '-')}: a resumed run keeps its data options "
                             f"({saved!r}); received {as_json(value)!r}")
    if overrides.get("epochs") is not None:
        if overrides["epochs"] <= 0:
            raise InputError(f"--epochs must be > 0. Received: {overrides['epochs']}")
        settings.epochs = int(overrides["epochs"])
    state = read_state(run_dir) or {"epochs_done": 0, "history": [], "seconds": 0.0}
    done = int(state["epochs_done"])
    if done >= settings.epochs:
        raise InputError(f"--epochs: {run_dir} already has {done} epochs; pass --epochs N > {done} to continue")
    return Plan(settings, get_recipe(settings.recipe), run_dir, dict(config.data_options), config, state)


def resolve_settings(model, dataset_spec, *, recipe, epochs, batch_size, augment, val_split, seed, limit,
                     preprocessing, options: dict, name, out, resume, force, alpha=None) -> Plan:
    """Step 1: every argument checked (nothing loaded or written yet); a resumed run's own settings."""
    if resume is not None:
        overrides = {"model": model, "dataset": dataset_spec, "recipe": recipe, "batch_size": batch_size,
                     "augment": augment, "val_split": val_split, "seed": seed, "epochs": epochs, "limit": limit,
                     "preprocessing": preprocessing, "alpha": None if alpha is None else float(alpha)}
        return _resume_plan(Path(resume), overrides, options)
    settings, rec = _resolve(model, dataset_spec or "mnist", recipe or "default", epochs, batch_size, augment,
                             0.1 if val_split is None else val_split, 0 if seed is None else seed, limit,
                             preprocessing or DEFAULT_PREPROCESSING, 1.0 if alpha is None else alpha)
    run_name = name or default_name(settings)
    if Path(run_name).name != run_name or run_name in (".", ".."):
        raise InputError(f"--name must be a plain folder name (no '/', '.' or '..'). Received: {run_name!r}")
    run_dir = Path(out) / run_name
    if run_dir.exists() and not force:
        raise InputError(f"{run_dir}: run directory exists (use --force to overwrite or --resume {run_dir})")
    if run_dir.exists() and not (run_dir / "config.json").is_file() and any(run_dir.iterdir()):
        # --force replaces a run, never an arbitrary folder
        raise InputError(f"{run_dir}: exists and is not a run directory (no config.json); --force will not delete it")
    return Plan(settings, rec, run_dir, options, batch_size_given=batch_size is not None)


def default_name(settings: Settings) -> str:
    stem = Path(settings.dataset).stem if settings.dataset not in ("mnist", "fashion-mnist") else settings.dataset
    width = "" if settings.alpha == 1.0 else f"-a{settings.alpha:g}"
    return f"{settings.model}{width}-{stem}-{settings.recipe}-s{settings.seed}"
