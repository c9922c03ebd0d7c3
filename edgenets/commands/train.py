"""`edgenets train`: train a registered model into a run directory (thin wrapper over train_run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.commands.choices import Color, Preprocessing
from edgenets.commands.common import print_table


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="A registered model (see `edgenets models`).")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="mnist, fashion-mnist, or a path (IDX dir, CSV, NPZ, image folder). [default: mnist]")] = None,
    alpha: Annotated[Optional[float], typer.Option(help="Width multiplier: scales every layer's channels (0.5 = half as wide). [default: 1.0]")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs (default: the recipe's).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Batch size (default: the recipe's; the LR follows it).")] = None,
    augment: Annotated[Optional[str], typer.Option(help="none | online | seed (default: the recipe's).")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="seed (the reference study) | default (ours: faster, more accurate). [default: default]")] = None,
    val_split: Annotated[Optional[float], typer.Option(help="Fraction of the training images held out for validation. [default: 0.1]")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for splits, shuffles, augmentation and initialisation. [default: 0]")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Train on N stratified images (validation in proportion).")] = None,
    preprocessing: Annotated[Optional[Preprocessing], typer.Option(help="How pixels become inputs: pixels/255, or per-channel mean-std computed on the training split (saved with the run). [default: pixels/255]")] = None,
    color: Annotated[Optional[Color], typer.Option(help="Load images as rgb or grey (default: what the images are).")] = None,
    image_size: Annotated[Optional[str], typer.Option(help="Resize images to HxW, e.g. 32x32 (default: the most common size).")] = None,
    image_shape: Annotated[Optional[str], typer.Option(help="HxWxC of each CSV row when its width is not a square grey image, e.g. 32x32x3.")] = None,
    name: Annotated[Optional[str], typer.Option(help="Run directory name (default: MODEL-DATASET-RECIPE-sSEED).")] = None,
    out: Annotated[Path, typer.Option(help="Parent folder of run directories.")] = Path("runs"),
    resume: Annotated[Optional[Path], typer.Option(help="Continue RUN_DIR from its last completed epoch.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing run directory.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="One log line per epoch instead of progress bars (the default when stdout is not a terminal).")] = False,
) -> None:
    """Train a model for the data's image shape and classes; writes config.json, model.keras, history.csv,
    metrics.json and plots to a run directory."""
    from edgenets import runconfig
    from edgenets.errors import InputError
    from edgenets.train import train_run

    if model is None and resume is None:
        raise InputError("--model is required (or --resume RUN_DIR)")
    result = train_run(model, dataset, alpha=alpha, recipe=recipe, epochs=epochs, batch_size=batch_size, augment=augment,
                       val_split=val_split, seed=seed, limit=limit,
                       preprocessing=None if preprocessing is None else preprocessing.value,
                       color=None if color is None else color.value, image_size=image_size, image_shape=image_shape,
                       name=name, out=out, resume=resume, force=force, quiet=quiet,
                       log=lambda msg: typer.echo(msg, err=True))
    m, s = result["metrics"], result["settings"]
    t = m["training"]
    shape = "x".join(str(d) for d in runconfig.read(result["run_dir"]).input_shape)
    typer.echo("")
    print_table(
        [[s["model"], shape, s["recipe"], f"{t['epochs']} (best {t['best_epoch']})", f"{t['best_val_accuracy']:.4f}",
          f"{m['test']['accuracy']:.4f}", f"{m['test']['f1']:.4f}", f"{m['perturbed_test']['accuracy']:.4f}",
          f"{t['train_seconds']:.1f}", f"{t['images_per_second']:.0f}"]],
        ["model", "input", "recipe", "epochs", "val acc", "test acc", "macro F1", "perturbed acc", "train s", "images/s"],
    )
    typer.echo(f"run directory: {result['run_dir']}")
