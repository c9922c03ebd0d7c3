"""`edgenets models [NAME] [--input HxWxC] [--classes N]`: the model zoo (parameters, MACs, size,
the head's feature map) for an input shape, or one model's layer table."""

from __future__ import annotations

import json
import re
from typing import Annotated, Optional

import typer

from edgenets.commands.common import print_table
from edgenets.errors import InputError

FORMATS = ("table", "json")
_SHAPE = re.compile(r"(\d+)x(\d+)x(\d+)", re.ASCII | re.IGNORECASE)


def register(app: typer.Typer) -> None:
    app.command("models")(models)


def models(
    name: Annotated[str, typer.Argument(help="A registered model; omit to list them all.")] = "",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    input_shape: Annotated[Optional[str], typer.Option(
        "--input", metavar="HxWxC",
        help="Count the models for this input, e.g. 96x96x3 (C: 1 grey, 3 colour). "
             "Default: each model's registered input (28x28x1).")] = None,
    classes: Annotated[Optional[int], typer.Option(
        "--classes", help="Number of classes of the classifier head (default 10).")] = None,
) -> None:
    """List the registered models with parameters, MACs per image, the feature map their head sees
    (each model picks its number of stride-2 steps from the input's size) and float32 weight size,
    or show one model's layers (output shape, parameters, MACs)."""
    from edgenets.models import get_model_info, list_models
    from edgenets.models.common import check_min_input

    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}. Received: {fmt!r}")
    shape = None if input_shape is None else parse_input_shape(input_shape)
    if classes is not None and classes < 2:
        raise InputError(f"--classes must be an integer >= 2. Received: {classes}")
    num_classes = 10 if classes is None else classes
    names = [name] if name else list_models()
    infos = {n: get_model_info(n) for n in names}  # an unknown name fails here, before TensorFlow loads
    if shape is not None:
        for n, info in infos.items():
            try:
                check_min_input(n, shape, info.min_input)
            except InputError as exc:
                raise InputError(f"--input {input_shape}: {exc}") from None

    from edgenets.models import stats_for

    zoo = {n: stats_for(n, num_classes=num_classes, input_shape=shape) for n in names}
    if name:
        _show_one(infos[name], zoo[name], num_classes, fmt)
        return
    if fmt == "json":
        typer.echo(json.dumps([{**infos[n].as_dict(), "num_classes": num_classes, **zoo[n].as_dict(layers=False)}
                               for n in names], indent=2))
        return
    inputs = {_size(zoo[n].input_shape) for n in names}
    rows = [
        [n, f"{s.params:,}", f"{s.macs / 1e6:.2f} M", _size(s.head_map or ()), _mb(s.float32_bytes),
         infos[n].description]
        for n, s in zoo.items()
    ]
    label = inputs.pop() if len(inputs) == 1 else "default input"
    print_table(rows, ["model", "params", f"MACs ({label})", "head map", "float32 weights", "description"])


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """``"96x96x3"`` -> (96, 96, 3); anything else is a one-line InputError naming --input."""
    match = _SHAPE.fullmatch(text.strip())
    shape = tuple(int(g) for g in match.groups()) if match else ()
    if not shape or min(shape) < 1:
        raise InputError(
            f"--input must be HEIGHTxWIDTHxCHANNELS of positive integers, e.g. 96x96x3. Received: {text!r}")
    return shape  # type: ignore[return-value]


def _show_one(info, stats, num_classes: int, fmt: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps({**info.as_dict(), "num_classes": num_classes, **stats.as_dict()}, indent=2))
        return
    typer.echo(f"{info.name}: {info.description} ({info.paper})")
    typer.echo(f"input {_size(stats.input_shape)}, {num_classes} classes (registered default input "
               f"{_size(info.default_input)}, preprocessing {info.preprocessing}, smallest input "
               f"{info.min_input}x{info.min_input})")
    rows = [
        [r.name, r.kind, _shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}" if r.macs else ""]
        for r in stats.layers
    ]
    print_table(rows, ["layer", "type", "output shape", "params", "MACs"])
    typer.echo(
        f"total params: {stats.params:,} (trainable {stats.trainable_params:,}) | "
        f"MACs per image: {stats.macs:,} | float32 weights: {_mb(stats.float32_bytes)} | "
        f"head feature map: {_size(stats.head_map or ())}"
    )


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _size(dims) -> str:
    return "x".join(str(d) for d in dims) or "-"


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.2f} MB"
