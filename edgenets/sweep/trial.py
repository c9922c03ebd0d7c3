"""One sweep trial, as a Ray worker runs it: train, then export every precision -- and pick up where it was.

:func:`run_trial` is what Ray Tune calls (through :mod:`edgenets.sweep.tuning`); it imports no Ray, so it
can be called and tested without. Its work lives in ``SWEEP/trials/NAME/`` (a normal ``edgenets train``
run directory with its ``export/``) and its log in ``SWEEP/trials/NAME.log``. Every stage checks what is
already on disk, so a trial restarted by ``edgenets sweep --resume`` never redoes finished work:

1. train -- skipped when the run has all its epochs and metrics.json; a run with some epochs continues
   from its last checkpoint (``train --resume``); otherwise a fresh run (a half-made folder is replaced);
2. export -- skipped when every precision's .tflite and export.json are there.

Each completed epoch but the last is reported (``report``, Ray Tune's) so a scheduler such as ASHA can
stop a poor training between epochs; the last epoch is reported once the exports exist, so a trial that
reaches the end is always exported. A stopped trial leaves ``stopped.json`` in its run directory.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from edgenets.sweep.space import Trial

Report = Callable[[dict], None]
STOPPED = "stopped.json"
TRIALS = "trials"


def run_dir(sweep_dir: Path, trial: Trial) -> Path:
    return Path(sweep_dir) / TRIALS / trial.name


def log_path(sweep_dir: Path, trial: Trial) -> Path:
    return Path(sweep_dir) / TRIALS / f"{trial.name}.log"


def export_paths(directory: Path, precisions) -> dict[str, Path]:
    return {p: directory / "export" / f"model_{p}.tflite" for p in precisions}


def _read_json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def epochs_of(trial: Trial) -> int:
    """The epochs the trial trains for: its own, or its recipe's."""
    if trial.epochs is not None:
        return int(trial.epochs)
    from edgenets.train.recipes import get_recipe

    return int(get_recipe(trial.recipe).epochs)


def training_state(directory: Path) -> tuple[int, bool]:
    """(epochs committed, finished: metrics.json written) of a run directory; (0, False) when there is none."""
    state = _read_json(directory / "checkpoints" / "state.json") or {}
    return int(state.get("epochs_done", 0)), (directory / "metrics.json").is_file()


def exported(directory: Path, precisions) -> bool:
    return (directory / "export" / "export.json").is_file() and all(p.is_file() for p in export_paths(directory, precisions).values())


def limit_threads(cpus: int) -> None:
    """TensorFlow uses the trial's declared CPUs, not every core of the node (set before TensorFlow starts)."""
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(cpus))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(cpus))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran an op in this process: its pools are fixed
        pass


def run_trial(trial: Trial, sweep_dir: Path, *, cpus: int = 1,
              report: Report = lambda metrics: None) -> dict:
    """Train and export ``trial`` under ``sweep_dir`` (skipping what is done); returns the final metrics,
    which are also the last ``report``. Errors propagate (Ray Tune records them); ``SystemExit`` from
    ``report`` (the scheduler stopped the trial) leaves ``stopped.json`` and propagates."""
    sweep_dir = Path(sweep_dir)
    directory = run_dir(sweep_dir, trial)
    directory.parent.mkdir(parents=True, exist_ok=True)
    (directory / STOPPED).unlink(missing_ok=True)  # a record of an earlier stop, not of this run
    total = epochs_of(trial)
    limit_threads(cpus)  # training and export alike use the trial's CPUs
    with open(log_path(sweep_dir, trial), "a", encoding="utf-8") as log_file:
        def log(line: str) -> None:
            stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
            log_file.write(f"{stamp} {line}\n")
            log_file.flush()

        def on_epoch(row: dict) -> None:
            log(f"epoch {row['epoch']}/{total}: val accuracy {row['val_accuracy']:.4f}")
            if row["epoch"] < total:
                report({"epoch": int(row["epoch"]), "val_accuracy": float(row["val_accuracy"]), "stage": "training"})

        log(f"trial {trial.id}: {json.dumps(trial.as_dict(), sort_keys=True)}")
        try:
            summary = _train(trial, directory, total=total, log=log, on_epoch=on_epoch)
        except SystemExit:
            done, _ = training_state(directory)
            log(f"stopped by the scheduler after epoch {done}")
            from edgenets import _io

            _io.write_json(directory / STOPPED, {"epoch": done, "of": total,
                                                 "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            raise
        except BaseException as exc:
            log(f"failed: {type(exc).__name__}: {exc}")
            raise
        try:
            exports = _export(trial, directory, log=log)
        except BaseException as exc:
            log(f"export failed: {type(exc).__name__}: {exc}")
            raise
        final = {"epoch": total, "val_accuracy": summary["val_accuracy"], "test_accuracy": summary["test_accuracy"],
                 "stage": "done", "run_dir": str(directory), "exports": {p: str(f) for p, f in exports.items()}}
        log("done")
    report(final)
    return final


def _train(trial: Trial, directory: Path, *, total, log, on_epoch) -> dict:
    done, finished = training_state(directory)
    if finished and done >= total:
        log(f"already trained ({done} epochs): not retrained")
    else:
        from edgenets.train import train_run

        if 0 < done < total and (directory / "config.json").is_file():
            log(f"continuing from epoch {done}")
            train_run(None, resume=directory, epochs=total, quiet=True, log=log, on_epoch=on_epoch)
        else:  # nothing yet, or a folder a killed trial left before its first epoch or its evaluation
            # (a data path is absolute: the sweep saved it so, since Ray runs a trial in its own folder)
            train_run(**trial.train_kwargs(), out=directory.parent, force=True, quiet=True, log=log, on_epoch=on_epoch)
    metrics = _read_json(directory / "metrics.json") or {}
    training = metrics.get("training", {})
    return {"val_accuracy": training.get("best_val_accuracy"), "test_accuracy": metrics.get("test", {}).get("accuracy")}


def _export(trial: Trial, directory: Path, *, log) -> dict[str, Path]:
    paths = export_paths(directory, trial.precisions)
    if exported(directory, trial.precisions):
        log("already exported: " + ", ".join(trial.precisions))
        return paths
    from edgenets.export import export_run

    log("exporting " + ", ".join(trial.precisions))
    export_run(directory, precisions=trial.precisions, progress=False)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"export wrote no {missing[0]}")
    return paths
