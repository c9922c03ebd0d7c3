"""``train_run``: one training run from settings to a complete run directory.

The steps, each a function below, in the order ``train_run`` calls them:

1. :func:`~edgenets.train.settings.resolve_settings` -- validate every argument (or read a resumed
   run's config.json) and fill the unset ones from the recipe;
2. :func:`load_data` -- the data set, loaded with its options (a resumed run: the saved ones);
3. :func:`~edgenets.train.splits.make_splits` -- train / validation / test, seeded, stratified where
   the classes allow;
4. :func:`training_set` -- the seed augmentation's copies, and a default batch size fitted to the data;
5. :func:`resolve_preprocessing` -- mean-std from the training split (a resumed run keeps its own);
6. :func:`prepare_run_dir` -- create (or ``--force`` replace) the run directory;
7. :func:`write_config` -- config.json, through :mod:`edgenets.runconfig`;
8. :func:`build_model` -- for the data's image shape and class count, compiled with the recipe;
9. :func:`fit` -- the epochs, each checkpointed (edgenets/train/loop.py);
10. :func:`evaluate` -- test and perturbed-test metrics of the best epoch -> metrics.json;
11. :func:`write_plots` -- curves.png and confusion.png.

Nothing is written before step 6, so a bad argument or an unreadable data set leaves nothing
behind. See docs/training.md.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np

from edgenets import _io, runconfig
from edgenets.data import Dataset, check_trainable, load_dataset
from edgenets.errors import InputError, require
from edgenets.models import get_model_info
from edgenets.models.common import check_min_input
from edgenets.preprocessing import DEFAULT_PREPROCESSING, Spec
from edgenets.preprocessing import describe as describe_preprocessing
from edgenets.preprocessing import resolve as resolve_spec
from edgenets.train import augment as aug
from edgenets.train.loop import recorder, restore
from edgenets.train.metrics import metrics_from_probabilities
from edgenets.train.pipeline import steps_per_epoch
from edgenets.train.recipes import MIN_STEPS_PER_EPOCH, apply_to_model, batch_size_for, build_optimizer
from edgenets.train.settings import Plan, Settings, as_json, data_options, default_name, resolve_settings
from edgenets.train.splits import Splits, make_splits

__all__ = ["Plan", "Settings", "Splits", "default_name", "make_splits", "resolve_settings", "train_run"]

Log = Callable[[str], None]


# ------------------------------------------------------------------ 2. data

def load_data(plan: Plan, given: Optional[Dataset], *, quiet: bool) -> Dataset:
    """Step 2: the data set as given, or loaded with the run's data options; a resumed run's data must
    still have the shape and classes its model was built for."""
    if given is not None:
        data = given
    elif plan.resumed is not None:
        data = plan.resumed.load_data(quiet=quiet)
    else:
        data = load_dataset(plan.settings.dataset, quiet=quiet, **plan.data_options)
    # before the run directory exists: data a model cannot be trained on, or built for, leaves nothing behind
    check_trainable(data, f"--dataset {plan.settings.dataset}")
    check_min_input(plan.settings.model, data.image_shape, get_model_info(plan.settings.model).min_input)
    if plan.resumed is not None:
        saved = plan.resumed
        if tuple(data.image_shape) != tuple(saved.input_shape) or data.num_classes != saved.num_classes:
            raise InputError(f"{plan.settings.dataset}: now {_shape_text(data.image_shape)} images in "
                             f"{data.num_classes} classes, but {plan.run_dir} was trained on "
                             f"{_shape_text(saved.input_shape)} in {saved.num_classes}")
    return data


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def training_set(plan: Plan, splits: Splits, log: Log) -> tuple[np.ndarray, np.ndarray]:
    """Step 4: the images an epoch goes through (the seed augmentation doubles them), and a batch size that
    fits them: the recipe's default shrinks for a small set (recipes.batch_size_for; said in the log); an
    explicit --batch-size larger than the set is an error."""
    settings = plan.settings
    for note in splits.notes:
        log(note)
    x, y = splits.x_train, splits.y_train
    if settings.augment == "seed":
        x, y = aug.seed_augment(x, y, settings.seed)
    if plan.resumed is not None:
        return x, y  # the run's own batch size
    if plan.batch_size_given:
        if settings.batch_size > len(x):
            raise InputError(f"--batch-size {settings.batch_size} is larger than the training set "
                             f"({len(x)} images); use --batch-size {len(x)} or less")
    else:
        fitted = batch_size_for(plan.recipe, len(x))
        if fitted != settings.batch_size:
            log(f"batch size {fitted}: the {settings.recipe} recipe's {settings.batch_size} would give "
                f"{steps_per_epoch(len(x), settings.batch_size)} step(s) an epoch on {len(x)} training images "
                f"(at least {MIN_STEPS_PER_EPOCH} keep BatchNorm's statistics current); --batch-size sets it")
            settings.batch_size = fitted
    return x, y


def resolve_preprocessing(plan: Plan, splits: Splits) -> Spec:
    """Step 5: the preprocessing made concrete: mean-std is computed on the training split only (no
    validation or test pixel informs it); a resumed run keeps the spec its model was trained with."""
    if plan.resumed is not None:
        return plan.resumed.preprocessing
    return resolve_spec(plan.settings.preprocessing, splits.x_train)


# ------------------------------------------------------------------ 6-7. run directory

def prepare_run_dir(plan: Plan) -> dict:
    """Step 6: an empty run directory (replacing a run with --force), or the resumed run's checkpoint state."""
    if plan.resumed is not None:
        return plan.state  # type: ignore[return-value]
    if plan.run_dir.exists():  # --force, on a run directory (resolve_settings checked)
        shutil.rmtree(plan.run_dir)
    (plan.run_dir / "checkpoints").mkdir(parents=True)
    return {"epochs_done": 0, "history": [], "seconds": 0.0}


def _array_sha256(*arrays: Optional[np.ndarray]) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _versions() -> dict:
    from edgenets._meta import dist_version

    out = {"python": platform.python_version()}
    for dist in ("edgenets", "tensorflow", "keras", "numpy", "scikit-learn", "pandas", "matplotlib"):
        out[dist] = dist_version(dist)
    return out


def augmentation_block(mode: str, shape: Sequence[int]) -> dict:
    """config.json's "augmentation": the mode, the rule by which it follows the image, and its parameters."""
    return {"mode": mode,
            "rule": ("shifts in proportion to the image side (" + aug.SHIFT_RULE + "); online mode adds colour "
                     "jitter to colour images; online augmentation works on pixels/255 before the preprocessing's "
                     "normalisation"),
            "seed": aug.describe(shape) if mode == "seed" else None,
            "online": aug.describe_online(shape) if mode == "online" else None}


def _config(plan: Plan, data: Dataset, splits: Splits, spec: Spec, peak_lr: float, images_per_epoch: int) -> dict:
    settings, recipe = plan.settings, plan.recipe
    return {
        # the keys export and report read (edgenets/runconfig.py)
        "model": settings.model,
        "dataset": settings.dataset,
        "seed": settings.seed,
        "val_split": settings.val_split,
        "num_classes": data.num_classes,
        "class_names": [str(c) for c in data.class_names],
        "input_shape": list(data.image_shape),
        "preprocessing": spec,
        "data_options": {k: as_json(v) for k, v in dict(data.load_options).items()},
        # every setting, as resolved
        "settings": asdict(settings),
        "recipe": recipe.as_dict(),
        "peak_learning_rate": peak_lr,
        "loss": "sparse_categorical_crossentropy",
        "augmentation": augmentation_block(settings.augment, data.image_shape),
        "data": {"name": data.name, "source": data.source, "splits": splits.info,
                 "train_images_per_epoch": int(images_per_epoch),
                 "sha256": {"train_arrays": _array_sha256(data.x_train, data.y_train),
                            "test_arrays": _array_sha256(data.x_test, data.y_test)}},
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": __import__("os").cpu_count()},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv) if sys.argv and sys.argv[0].endswith("edgenets") else None,
    }


def write_config(plan: Plan, data: Dataset, splits: Splits, spec: Spec, images_per_epoch: int, start_epoch: int) -> dict:
    """Step 7: config.json (a resumed run keeps its creation time and gains a "resumed" entry)."""
    settings = plan.settings
    config = _config(plan, data, splits, spec, plan.recipe.peak_lr(settings.batch_size), images_per_epoch)
    if plan.resumed is not None:
        old = plan.resumed.raw
        config["created"] = old.get("created")
        config["resumed"] = old.get("resumed", []) + [{"at_epoch": start_epoch, "epochs": settings.epochs,
                                                        "when": datetime.now(timezone.utc).isoformat(timespec="seconds")}]
    runconfig.write(plan.run_dir, config)
    return config


# ------------------------------------------------------------------ 8-9. model and fit

def build_model(plan: Plan, data: Dataset, state: dict, steps: int):
    """Step 8: the registered model for the data's (H, W, C) and class count, compiled with the recipe's
    optimizer; a resumed run's weights and optimizer state restored."""
    import keras

    from edgenets.models import create_model

    settings = plan.settings
    keras.utils.set_random_seed(settings.seed)
    net = create_model(settings.model, num_classes=data.num_classes, input_shape=tuple(data.image_shape),
                       alpha=settings.alpha)
    apply_to_model(plan.recipe, net)
    net.compile(optimizer=build_optimizer(plan.recipe, batch_size=settings.batch_size, steps_per_epoch=steps,
                                          epochs=settings.epochs),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if state["epochs_done"]:
        restore(net, plan.run_dir, state)
    return net


def fit(net, plan: Plan, x_train: np.ndarray, y_train: np.ndarray, splits: Splits, spec: Spec, state: dict,
        *, steps: int, quiet: bool, log: Log, on_epoch: Optional[Callable[[dict], None]] = None) -> float:
    """Step 9: the remaining epochs (each one recorded and checkpointed); returns this session's seconds.
    Ctrl-C leaves the completed epochs and says how to continue."""
    from edgenets.train.pipeline import eval_dataset, train_dataset

    settings, run_dir = plan.settings, plan.run_dir
    start_epoch = int(state["epochs_done"])
    train_ds = train_dataset(x_train, y_train, batch_size=settings.batch_size, seed=settings.seed,
                             augment=settings.augment == "online", initial_epoch=start_epoch, epochs=settings.epochs,
                             preprocessing=spec)
    callback = recorder(run_dir, state, steps=steps, images_per_epoch=len(x_train), on_epoch=on_epoch)
    started = time.perf_counter()
    try:
        net.fit(train_ds, epochs=settings.epochs, initial_epoch=start_epoch, steps_per_epoch=steps,
                validation_data=eval_dataset(splits.x_val, splits.y_val, preprocessing=spec), callbacks=[callback],
                verbose=_io.keras_verbose(quiet), shuffle=False)
    except KeyboardInterrupt:
        done = state["epochs_done"]
        epochs_text = "epoch 1" if done == 1 else f"epochs 1-{done}"
        where = (f"{epochs_text} of {settings.epochs} saved in {run_dir}" if done
                 else f"no epoch completed; {run_dir} holds the settings only")
        log(f"interrupted during epoch {done + 1}: {where}. Continue with: edgenets train --resume {run_dir}")
        raise
    return time.perf_counter() - started


# ------------------------------------------------------------------ 10-11. results

def _predict(model, x: np.ndarray, spec: Spec = DEFAULT_PREPROCESSING) -> np.ndarray:
    from edgenets.train.pipeline import eval_dataset

    return np.asarray(model.predict(eval_dataset(x, preprocessing=spec), verbose=0))


def evaluate(plan: Plan, data: Dataset, splits: Splits, spec: Spec, state: dict, *, fit_seconds: float,
             images_per_epoch: int) -> dict:
    """Step 10: the best epoch's model on the test split and on its perturbed copy (same preprocessing);
    metrics.json."""
    import keras

    best = keras.models.load_model(plan.run_dir / "model.keras", compile=False)
    test = metrics_from_probabilities(splits.y_test, _predict(best, splits.x_test, spec), data.class_names)
    x_pert, _ = aug.perturb(splits.x_test)
    robust = metrics_from_probabilities(splits.y_test, _predict(best, x_pert, spec), data.class_names)
    history = state["history"]
    train_seconds = float(sum(row["train_seconds"] for row in history))
    images = int(images_per_epoch) * len(history)
    metrics = {
        "test": test,
        "perturbed_test": {**robust, "perturbation": {**aug.describe(data.image_shape), "seed": aug.PERTURB_SEED,
                                                       "note": "each test image shifted and darkened once (seed study 2.2)"}},
        "training": {
            "epochs": len(history), "best_epoch": state.get("best_epoch"),
            "best_val_accuracy": state.get("best_val_accuracy"),
            "seconds": round(float(sum(row["seconds"] for row in history)), 3),
            "train_seconds": round(train_seconds, 3),
            "images_per_second": round(images / train_seconds, 1) if train_seconds else None,
            "this_session_seconds": round(fit_seconds, 3),
            "train_images_per_epoch": int(images_per_epoch),
            "params": int(best.count_params()),
        },
        "model_keras": "best epoch by validation accuracy",
    }
    _io.write_json(plan.run_dir / "metrics.json", metrics)
    return metrics


def write_plots(plan: Plan, data: Dataset, history: list[dict], test: dict) -> None:
    """Step 11: curves.png and confusion.png, titled with the model and its input size."""
    from edgenets.train import plots

    settings, size = plan.settings, _shape_text(data.image_shape)
    plots.curves(history, plan.run_dir / "curves.png", title=f"{settings.model} {size} / {settings.recipe} recipe")
    plots.confusion(test["confusion_matrix"], [str(c) for c in data.class_names], plan.run_dir / "confusion.png",
                    title=f"{settings.model} {size}: test accuracy {test['accuracy']:.4f}")


def start_line(plan: Plan, data: Dataset, splits: Splits, spec: Spec, images_per_epoch: int, start_epoch: int) -> str:
    """The one log line that opens training: what goes in (shape, classes, preprocessing) and how many images."""
    s = plan.settings
    begin = f"resuming {s.model} at epoch {start_epoch + 1}/{s.epochs}" if start_epoch else f"training {s.model}"
    return (f"{begin}: input {_shape_text(data.image_shape)}, {data.num_classes} classes, preprocessing "
            f"{describe_preprocessing(spec)}; {images_per_epoch} training images per epoch, {splits.info['val']} "
            f"validation, {splits.info['test']} test; batch {s.batch_size}")


def train_run(
    model: str,
    dataset: Union[str, Dataset, None] = None,
    *,
    alpha: Optional[float] = None,
    recipe: Optional[str] = None,
    epochs: Optional[int] = None,
    batch_size: Optional[int] = None,
    augment: Optional[str] = None,
    val_split: Optional[float] = None,
    seed: Optional[int] = None,
    limit: Optional[int] = None,
    preprocessing: Optional[str] = None,
    color: Optional[str] = None,
    image_size: Union[str, Sequence[int], None] = None,
    image_shape: Union[str, Sequence[int], None] = None,
    name: Optional[str] = None,
    out: Union[str, Path] = "runs",
    resume: Optional[Union[str, Path]] = None,
    force: bool = False,
    quiet: bool = False,
    log: Log = lambda msg: print(msg, file=sys.stderr),
    on_epoch: Optional[Callable[[dict], None]] = None,
) -> dict:
    """Train ``model`` and write a complete run directory; returns the summary dict.

    ``dataset`` is a built-in name, a path, or an in-memory :class:`edgenets.data.Dataset`; ``color``,
    ``image_size`` ((H, W) or "HxW") and ``image_shape`` ((H, W, C) or "HxWxC") go to ``load_dataset``.
    The model is built for the data's image shape and class count, at width multiplier ``alpha``
    (default 1.0: the registered architecture). ``preprocessing`` is "pixels/255"
    or "mean-std" (per channel, from the training split). ``resume`` continues RUN_DIR from its last
    completed epoch (its own settings and data options; ``epochs`` may be raised; any other setting
    given must equal the run's). Arguments left as None come from the recipe, or: dataset "mnist",
    recipe "default", val_split 0.1, seed 0, preprocessing "pixels/255". ``on_epoch`` is called with each
    completed (checkpointed) epoch's history row.
    """
    given = dataset if isinstance(dataset, Dataset) else None
    spec_name = given.name if given is not None else (None if dataset is None else str(dataset))
    choice = None if preprocessing is None else str(getattr(preprocessing, "value", preprocessing))
    plan = resolve_settings(model, spec_name, recipe=recipe, epochs=epochs, batch_size=batch_size, augment=augment,
                            val_split=val_split, seed=seed, limit=limit, preprocessing=choice,
                            options=data_options(color, image_size, image_shape), name=name, out=out, resume=resume,
                            force=force, alpha=alpha)
    data = load_data(plan, given, quiet=quiet)
    if data.source.get("note"):  # e.g. which image size a folder of several sizes was resized to
        log(str(data.source["note"]))
    splits = make_splits(data, plan.settings)
    x_train, y_train = training_set(plan, splits, log)
    spec = resolve_preprocessing(plan, splits)
    require("tensorflow", "train", "edgenets train")

    state = prepare_run_dir(plan)
    start_epoch = int(state["epochs_done"])
    write_config(plan, data, splits, spec, len(x_train), start_epoch)
    steps = steps_per_epoch(len(x_train), plan.settings.batch_size)
    net = build_model(plan, data, state, steps)
    log(start_line(plan, data, splits, spec, len(x_train), start_epoch))
    fit_seconds = fit(net, plan, x_train, y_train, splits, spec, state, steps=steps, quiet=quiet, log=log,
                      on_epoch=on_epoch)
    metrics = evaluate(plan, data, splits, spec, state, fit_seconds=fit_seconds, images_per_epoch=len(x_train))
    write_plots(plan, data, state["history"], metrics["test"])
    return {"run_dir": str(plan.run_dir), "settings": asdict(plan.settings), "metrics": metrics,
            "history": state["history"]}
