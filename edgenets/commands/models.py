"""`edgenets models [NAME]`: the model zoo (parameters, MACs, size) or one model's layer table."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from edgenets.commands.common import print_table
from edgenets.errors import InputError

FORMATS = ("table", "json")


def register(app: typer.Typer) -> None:
    app.command("models")(models)


def models(
    name: Annotated[str, typer.Argument(help="A registered model; omit to list them all.")] = "",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the registered models with parameters, MACs per 28x28 image and float32 weight size,
    or show one model's layers (output shape, parameters, MACs)."""
    from edgenets.models import get_model_info, list_models, stats_for

    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    if name:
        info = get_model_info(name)  # an unknown name fails here, before TensorFlow loads
        stats = stats_for(name)
        if fmt == "json":
            typer.echo(json.dumps({**info.as_dict(), **stats.as_dict()}, indent=2))
            return
        typer.echo(f"{name}: {info.description} ({info.paper})")
        rows = [
            [r.name, r.kind, _shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}" if r.macs else ""]
            for r in stats.layers
        ]
        print_table(rows, ["layer", "type", "output shape", "params", "MACs"])
        typer.echo(
            f"total params: {stats.params:,} (trainable {stats.trainable_params:,}) | "
            f"MACs per image: {stats.macs:,} | float32 weights: {_mb(stats.float32_bytes)}"
        )
        return
    zoo = [{**get_model_info(n).as_dict(), **stats_for(n).as_dict(layers=False)} for n in list_models()]
    if fmt == "json":
        typer.echo(json.dumps(zoo, indent=2))
        return
    rows = [
        [m["name"], f"{m['params']:,}", f"{m['macs'] / 1e6:.2f} M", _mb(m["float32_bytes"]), m["description"]]
        for m in zoo
    ]
    print_table(rows, ["model", "params", "MACs (28x28)", "float32 weights", "description"])


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB"
