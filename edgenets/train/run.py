"""``train_run``: one training run from settings to a complete run directory.

Order of work: validate every argument, load the data, and only then create the run directory,
so a bad argument or an unreadable data set leaves nothing behind. See docs/training.md.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np

from edgenets import _io
from edgenets.data import Dataset, load_dataset, stratified_indices, train_val_split
from edgenets.errors import InputError, require
from edgenets.preprocessing import DEFAULT_PREPROCESSING
from edgenets.train import augment as aug
from edgenets.train.loop import read_state, recorder, restore
from edgenets.train.metrics import metrics_from_probabilities
from edgenets.train.recipes import AUGMENTATIONS, Recipe, apply_to_model, build_optimizer, get_recipe

PREPROCESSING = DEFAULT_PREPROCESSING  # pipeline.SCALE implements it (tests check they agree)
INPUT_SHAPE = (28, 28, 1)


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


def _resolve(model, dataset, recipe, epochs, batch_size, augment, val_split, seed, limit) -> tuple[Settings, Recipe]:
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
    return Settings(model, str(dataset), rec.name, int(epochs), int(batch_size), augment, float(val_split),
                    int(seed), None if limit is None else int(limit)), rec


def _resume_settings(run_dir: Path, overrides: dict) -> Settings:
    """The run's own settings; --epochs may grow, any other differing setting is an error."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise InputError(f"--resume {run_dir}: not a run directory (no config.json)")
    try:
        saved = _io_json(path)["settings"]
        settings = Settings(**saved)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: not a config.json written by edgenets train ({exc})") from None
    for key, value in overrides.items():
        if value is None or key == "epochs":
            continue
        if value != getattr(settings, key):
            raise InputError(f"--{key.replace('_', '-')}: a resumed run keeps its settings "
                             f"({getattr(settings, key)!r}); received {value!r}")
    if overrides.get("epochs") is not None:
        if overrides["epochs"] <= 0:
            raise InputError(f"--epochs must be > 0. Received: {overrides['epochs']}")
        settings.epochs = int(overrides["epochs"])
    return settings


def _io_json(path: Path) -> dict:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def _array_sha256(*arrays: Optional[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: dict


def make_splits(data: Dataset, settings: Settings) -> Splits:
    """Train / validation / test, all stratified and seeded.

    The validation split is ``train_val_split(x_train, y_train, val_split, seed)`` -- the same call
    export uses to keep calibration images out of it. A data set without a test split gets one
    carved by that same call first (so export's fallback evaluation set is exactly our test set),
    and the validation split is then carved from the rest. ``limit`` caps the training images and
    the validation images in proportion; the test set is never cut.
    """
    if data.y_train is None:
        raise InputError(f"{settings.dataset}: the training images have no labels")
    x, y = data.x_train, data.y_train
    if data.x_test is not None and data.y_test is not None:
        x_test, y_test, test_from = data.x_test, data.y_test, "the data set's test split"
    else:
        x, y, x_test, y_test = train_val_split(x, y, settings.val_split, settings.seed)
        test_from = (f"carved from the training images: train_val_split(x_train, y_train, {settings.val_split}, "
                     f"seed={settings.seed}) (the data set has no test split)")
    x_tr, y_tr, x_val, y_val = train_val_split(x, y, settings.val_split, settings.seed)
    if settings.limit is not None:
        keep = stratified_indices(y_tr, settings.limit, settings.seed)
        n_val = max(1, round(len(keep) * settings.val_split / (1 - settings.val_split)))
        keep_val = stratified_indices(y_val, min(n_val, len(y_val)), settings.seed)
        x_tr, y_tr, x_val, y_val = x_tr[keep], y_tr[keep], x_val[keep_val], y_val[keep_val]
    info = {"train": int(len(y_tr)), "val": int(len(y_val)), "test": int(len(y_test)), "test_from": test_from,
            "limit": settings.limit}
    return Splits(x_tr, y_tr, x_val, y_val, x_test, y_test, info)


def _versions() -> dict:
    from edgenets._meta import dist_version

    out = {"python": platform.python_version()}
    for dist in ("edgenets", "tensorflow", "keras", "numpy", "scikit-learn", "pandas", "matplotlib"):
        out[dist] = dist_version(dist)
    return out


def default_name(settings: Settings) -> str:
    stem = Path(settings.dataset).stem if settings.dataset not in ("mnist", "fashion-mnist") else settings.dataset
    return f"{settings.model}-{stem}-{settings.recipe}-s{settings.seed}"


def _config(settings: Settings, recipe: Recipe, data: Dataset, splits: Splits, peak_lr: float) -> dict:
    return {
        # the keys export and report read (docs/training.md)
        "model": settings.model,
        "dataset": settings.dataset,
        "seed": settings.seed,
        "val_split": settings.val_split,
        "num_classes": data.num_classes,
        "class_names": [str(c) for c in data.class_names],
        "input_shape": list(INPUT_SHAPE),
        "preprocessing": PREPROCESSING,
        # every setting, as resolved
        "settings": asdict(settings),
        "recipe": recipe.as_dict(),
        "peak_learning_rate": peak_lr,
        "loss": "sparse_categorical_crossentropy",
        "augmentation": {"mode": settings.augment,
                         "seed": aug.describe() if settings.augment == "seed" else None,
                         "online": aug.ONLINE if settings.augment == "online" else None},
        "data": {"name": data.name, "source": data.source, "splits": splits.info,
                 "sha256": {"train_arrays": _array_sha256(data.x_train, data.y_train),
                            "test_arrays": _array_sha256(data.x_test, data.y_test)}},
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": __import__("os").cpu_count()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("edgenets") else None,
    }


def _predict(model, x: np.ndarray) -> np.ndarray:
    from edgenets.train.pipeline import eval_dataset

    return np.asarray(model.predict(eval_dataset(x), verbose=0))


def train_run(
    model: str,
    dataset: Union[str, Dataset, None] = None,
    *,
    recipe: Optional[str] = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    augment: Optional[str] = None,
    val_split: Optional[float] = None,
    seed: Optional[int] = None,
    limit: Optional[int] = None,
    name: Optional[str] = None,
    out: Union[str, Path] = "runs",
    resume: Optional[Union[str, Path]] = None,
    force: bool = False,
    quiet: bool = False,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> dict:
    """Train ``model`` and write a complete run directory; returns the summary dict.

    ``dataset`` is a built-in name, a path, or an in-memory :class:`edgenets.data.Dataset`.
    ``resume`` continues RUN_DIR from its last completed epoch (its own settings; ``epochs`` may
    be raised; any other setting given must equal the run's). Arguments left as None come from the
    recipe, or: dataset "mnist", recipe "default", val_split 0.1, seed 0.
    """
    data_obj = dataset if isinstance(dataset, Dataset) else None
    spec = data_obj.name if data_obj is not None else (None if dataset is None else str(dataset))
    if resume is not None:
        run_dir = Path(resume)
        overrides = {"model": model, "dataset": spec, "recipe": recipe, "batch_size": batch_size,
                     "augment": augment, "val_split": val_split, "seed": seed, "epochs": epochs, "limit": limit}
        settings = _resume_settings(run_dir, overrides)
        rec = get_recipe(settings.recipe)
    else:
        settings, rec = _resolve(model, spec or "mnist", recipe or "default", epochs, batch_size, augment,
                                 0.1 if val_split is None else val_split, 0 if seed is None else seed, limit)
        run_name = name or default_name(settings)
        if Path(run_name).name != run_name or run_name in (".", ".."):
            raise InputError(f"--name must be a plain folder name (no '/', '.' or '..'). Received: {run_name!r}")
        run_dir = Path(out) / run_name
        if run_dir.exists() and not force:
            raise InputError(f"{run_dir}: run directory exists (use --force to overwrite or --resume {run_dir})")
        if run_dir.exists() and not (run_dir / "config.json").is_file() and any(run_dir.iterdir()):
            # --force replaces a run, never an arbitrary folder
            raise InputError(f"{run_dir}: exists and is not a run directory (no config.json); --force will not delete it")
    data = data_obj if data_obj is not None else load_dataset(settings.dataset, quiet=quiet)
    splits = make_splits(data, settings)
    x_train, y_train = splits.x_train, splits.y_train
    if settings.augment == "seed":
        x_train, y_train = aug.seed_augment(x_train, y_train, settings.seed)

    require("tensorflow", "train", "edgenets train")
    import keras

    from edgenets.models import create_model
    from edgenets.train.pipeline import eval_dataset, steps_per_epoch, train_dataset

    state = read_state(run_dir) if resume is not None else None
    if resume is None:
        if run_dir.exists():  # --force
            shutil.rmtree(run_dir)
        (run_dir / "checkpoints").mkdir(parents=True)
    state = state or {"epochs_done": 0, "history": [], "seconds": 0.0}
    start_epoch = int(state["epochs_done"])
    if start_epoch >= settings.epochs:
        raise InputError(f"--epochs: {run_dir} already has {start_epoch} epochs; pass --epochs N > {start_epoch} to continue")

    keras.utils.set_random_seed(settings.seed)
    steps = steps_per_epoch(len(x_train), settings.batch_size)
    peak_lr = rec.peak_lr(settings.batch_size)
    config = _config(settings, rec, data, splits, peak_lr)
    config["data"]["train_images_per_epoch"] = int(len(x_train))
    if resume is not None:
        old = _io_json(run_dir / "config.json")
        config["created"] = old.get("created")
        config["resumed"] = old.get("resumed", []) + [{"at_epoch": start_epoch, "epochs": settings.epochs,
                                                        "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}]
    _io.write_json(run_dir / "config.json", config)

    net = create_model(settings.model, num_classes=data.num_classes, input_shape=INPUT_SHAPE)
    apply_to_model(rec, net)
    net.compile(optimizer=build_optimizer(rec, batch_size=settings.batch_size, steps_per_epoch=steps, epochs=settings.epochs),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if start_epoch:
        restore(net, run_dir, state)

    train_ds = train_dataset(x_train, y_train, batch_size=settings.batch_size, seed=settings.seed,
                             augment=settings.augment == "online", initial_epoch=start_epoch, epochs=settings.epochs)
    callback = recorder(run_dir, state, steps=steps, images_per_epoch=len(x_train))
    started = time.perf_counter()
    try:
        net.fit(train_ds, epochs=settings.epochs, initial_epoch=start_epoch, steps_per_epoch=steps,
                validation_data=eval_dataset(splits.x_val, splits.y_val), callbacks=[callback],
                verbose=_io.keras_verbose(quiet), shuffle=False)
    except KeyboardInterrupt:
        done = state["epochs_done"]
        epochs_text = "epoch 1" if done == 1 else f"epochs 1-{done}"
        where = (f"{epochs_text} of {settings.epochs} saved in {run_dir}" if done
                 else f"no epoch completed; {run_dir} holds the settings only")
        log(f"interrupted during epoch {done + 1}: {where}. Continue with: edgenets train --resume {run_dir}")
        raise
    fit_seconds = time.perf_counter() - started

    best = keras.models.load_model(run_dir / "model.keras", compile=False)
    test = metrics_from_probabilities(splits.y_test, _predict(best, splits.x_test), data.class_names)
    x_pert, _ = aug.perturb(splits.x_test)
    robust = metrics_from_probabilities(splits.y_test, _predict(best, x_pert), data.class_names)
    history = state["history"]
    train_seconds = float(sum(row["train_seconds"] for row in history))
    images = int(len(x_train)) * len(history)
    metrics = {
        "test": test,
        "perturbed_test": {**robust, "perturbation": {**aug.describe(), "seed": aug.PERTURB_SEED,
                                                       "note": "each test image shifted and darkened once (seed study 2.2)"}},
        "training": {
            "epochs": len(history), "best_epoch": state.get("best_epoch"),
            "best_val_accuracy": state.get("best_val_accuracy"),
            "seconds": round(float(sum(row["seconds"] for row in history)), 3),
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(images / train_seconds, 1) if train_seconds else None,
            "this_session_seconds": round(fit_seconds, 3),
            "train_images_per_epoch": int(len(x_train)),
            "params": int(best.count_params()),
        },
        "model_keras": "best epoch by validation accuracy",
    }
    _io.write_json(run_dir / "metrics.json", metrics)
    from edgenets.train import plots

    plots.curves(history, run_dir / "curves.png", title=f"{settings.model} / {settings.recipe} recipe")
    plots.confusion(test["confusion_matrix"], [str(c) for c in data.class_names], run_dir / "confusion.png",
                    title=f"{settings.model}: test accuracy {test['accuracy']:.4f}")
    return {"run_dir": str(run_dir), "settings": asdict(settings), "metrics": metrics, "history": history}
