"""The epoch loop's bookkeeping: per-epoch history, best model, resumable checkpoints.

Layout inside a run directory::

    model.keras                    best epoch so far by validation accuracy
    history.csv                    one row per completed epoch (a rendering of state.json)
    checkpoints/epoch_NNN.keras    the last completed epoch: weights + optimizer state
    checkpoints/state.json         the commit point: epochs done, history, best epoch, checkpoint name

Every file is written atomically and state.json is written last, so a run killed at any moment
resumes from the last epoch whose state.json landed: it loses at most the epoch in progress.
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Callable, Optional

from edgenets import _io
from edgenets.errors import EdgenetsError

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "train_seconds",
                   "ms_per_step", "images_per_second")


def save_keras(model, path: Path) -> None:
    """``model.save`` to ``path`` atomically (Keras insists on a .keras suffix, so stage one)."""
    with _io.atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + ".keras")
        try:
            model.save(staged)
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)


def read_state(run_dir: Path) -> Optional[dict]:
    path = run_dir / "checkpoints" / "state.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EdgenetsError(f"{path}: unreadable checkpoint state ({exc})") from None


def history_csv(history: list[dict]) -> str:
    import pandas as pd

    buf = io.StringIO()
    pd.DataFrame(history, columns=list(HISTORY_COLUMNS)).to_csv(buf, index=False)
    return buf.getvalue()


def restore(model, run_dir: Path, state: dict) -> None:
    """Load weights and optimizer state (incl. its step counter) of the last checkpoint into ``model``.

    ``model`` is freshly built and compiled with the recipe's optimizer; copying the variables
    (rather than using the loaded model) keeps the LR schedule of this invocation.
    """
    import keras

    path = run_dir / "checkpoints" / state["checkpoint"]
    try:
        saved = keras.models.load_model(path, compile=True)
    except Exception as exc:  # noqa: BLE001 - a damaged zip, a model that changed shape...
        raise EdgenetsError(f"{path}: cannot load checkpoint ({type(exc).__name__}: {exc})") from None
    model.set_weights(saved.get_weights())
    model.optimizer.build(model.trainable_variables)
    src, dst = saved.optimizer.variables, model.optimizer.variables
    if len(src) != len(dst) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(src, dst)):
        raise EdgenetsError(f"{path}: optimizer state does not match this run's optimizer")
    for a, b in zip(src, dst):
        b.assign(a)


def recorder(run_dir: Path, state: dict, *, steps: int, images_per_epoch: int,
             on_epoch: Optional[Callable[[dict], None]] = None):
    """A Keras callback that records each epoch and checkpoints it (see the module docstring); then, if given,
    calls ``on_epoch`` with the epoch's history row (a sweep reports it to Ray Tune, whose scheduler may stop
    the training there: the epoch is already committed)."""
    import keras

    class RunRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.train_seconds = time.perf_counter(), None

        def on_test_begin(self, logs=None):  # validation starts: the training part of the epoch is over
            if self.train_seconds is None:
                self.train_seconds = time.perf_counter() - self.start

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            seconds = time.perf_counter() - self.start
            train_seconds = self.train_seconds or seconds
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            row = {"epoch": epoch + 1, **{k: float(logs[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")},
                   "lr": lr, "seconds": round(seconds, 3), "train_seconds": round(train_seconds, 3),
                   "ms_per_step": round(1000 * train_seconds / steps, 3),
                   "images_per_second": round(images_per_epoch / train_seconds, 1)}
            state["history"].append(row)
            if row["val_accuracy"] > state.get("best_val_accuracy", -1.0):
                save_keras(self.model, run_dir / "model.keras")
                state.update(best_epoch=epoch + 1, best_val_accuracy=row["val_accuracy"])
            previous = state.get("checkpoint")
            state["checkpoint"] = f"epoch_{epoch + 1:03d}.keras"
            save_keras(self.model, run_dir / "checkpoints" / state["checkpoint"])
            state["epochs_done"] = epoch + 1
            _io.write_text(run_dir / "history.csv", history_csv(state["history"]))
            _io.write_json(run_dir / "checkpoints" / "state.json", state)  # the commit point
            if previous and previous != state["checkpoint"]:
                (run_dir / "checkpoints" / previous).unlink(missing_ok=True)
            if on_epoch is not None:
                on_epoch(dict(row))

    return RunRecorder()
