"""`edgenets export RUN_DIR | MODEL.keras`: TFLite models + sidecars + a float-vs-quantised accuracy table."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.commands.choices import Color
from edgenets.commands.common import print_table


class IoType(str, Enum):
    int8 = "int8"
    uint8 = "uint8"
    float32 = "float32"


class Batch(str, Enum):
    """--batch: the exported input's batch dimension."""

    dynamic = "dynamic"
    one = "1"


KERAS_ONLY = "Keras file only"  # the help panel of the options that describe a user's own model's data


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    source: Annotated[Path, typer.Argument(metavar="RUN_DIR|MODEL.keras", help="A run directory made by `edgenets train` (config.json + model.keras), or your own Keras model file (.keras) with --dataset.")],
    int8: Annotated[bool, typer.Option("--int8", help="Also write the full-integer int8 model (calibrated).")] = False,
    float16: Annotated[bool, typer.Option("--float16", help="Also write a float16-weight model.")] = False,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="Also write a dynamic-range (int8 weight) model.")] = False,
    calib_samples: Annotated[Optional[int], typer.Option("--calib-samples", metavar="N", show_default="500, or all of the training split when it has fewer", help="Calibration images (stratified, seeded, training split); more than the split holds is an error.")] = None,
    io: Annotated[IoType, typer.Option("--io", help="Input/output dtype of the int8 model (uint8 for Edge TPU-style accelerators).")] = IoType.int8,
    max_drop: Annotated[Optional[float], typer.Option("--max-drop", metavar="PP", help="Fail (exit 1, files kept) if int8 accuracy is more than PP percentage points below float.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Per-layer int8 quantisation error: CSV + the worst ten layers.")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Output folder (default RUN_DIR/export, or <model stem>_export/ beside MODEL.keras).")] = None,
    logits: Annotated[bool, typer.Option("--logits/--softmax", help="Output the scores before the final softmax (same argmax; int8 SOFTMAX runs outside XNNPACK) or keep the softmax.")] = True,
    fold_shuffle: Annotated[bool, typer.Option("--fold-shuffle/--no-fold-shuffle", help="Fold channel shuffles into the neighbouring layers' weights (exact; no TRANSPOSE ops).")] = True,
    int8_stem: Annotated[bool, typer.Option("--int8-stem/--no-int8-stem", help="int8 only: rewrite a convolution over one input channel into ops XNNPACK's int8 kernels run without padding (exact).")] = True,
    batch: Annotated[Batch, typer.Option("--batch", help="dynamic: the input's batch can be resized (RESHAPE ops rewritten); 1: fixed batch 1.")] = Batch.dynamic,
    dataset: Annotated[Optional[str], typer.Option("--dataset", metavar="NAME|PATH", rich_help_panel=KERAS_ONLY, help="MODEL.keras: the data set to calibrate and verify on (a built-in name, or a path: image folder, .npz, .csv, IDX). Calibration uses its training images (seed 0); accuracy its test split, or 20 % of its training images held out when it has none.")] = None,
    preprocessing: Annotated[Optional[str], typer.Option("--preprocessing", metavar="NAME|mean-std|JSON", rich_help_panel=KERAS_ONLY, help="MODEL.keras: how the model's inputs were made from pixels: pixels/255 (default), pixels, pixels/127.5-1, mean-std (per-channel, computed on the training images), or a block '{\"name\": \"mean-std\", \"mean\": [...], \"std\": [...]}' in pixels/255 units.")] = None,
    color: Annotated[Optional[Color], typer.Option("--color", rich_help_panel=KERAS_ONLY, help="MODEL.keras: load the images as rgb or grey (default for an image folder: the model's input channels).")] = None,
    image_size: Annotated[Optional[str], typer.Option("--image-size", metavar="HxW", rich_help_panel=KERAS_ONLY, help="MODEL.keras: resize the images to HxW (default for an image folder: the model's input size).")] = None,
    image_shape: Annotated[Optional[str], typer.Option("--image-shape", metavar="HxWxC", rich_help_panel=KERAS_ONLY, help="MODEL.keras: the image shape of a CSV whose rows are not square grey images.")] = None,
) -> None:
    """Convert a trained run, or your own Keras model, to TFLite (float32 always; int8/float16/dynamic on
    request) and verify each file's accuracy.

    A run directory's config.json fixes the data, colour, size and preprocessing it was trained with, so
    --dataset, --preprocessing, --color, --image-size and --image-shape are for a Keras file only (given with a
    run directory they are an error, not an override).
    """
    from edgenets.errors import InputError
    from edgenets.export.optimize import GraphOptions
    from edgenets.export.run import KERAS_SUFFIXES, QualityGateError, export_keras, export_run

    precisions = ["float32"] + [name for name, on in (("float16", float16), ("dynamic", dynamic), ("int8", int8)) if on]
    graph = GraphOptions(output="logits" if logits else "softmax", fold_shuffle=fold_shuffle, int8_stem=int8_stem,
                         batch=batch.value)
    common = dict(precisions=precisions, calib_samples=calib_samples, io_type=io.value, max_drop=max_drop,
                  debug=debug, out=out, graph=graph)
    keras_only = {"--dataset": dataset, "--preprocessing": preprocessing, "--color": color,
                  "--image-size": image_size, "--image-shape": image_shape}
    try:
        if source.suffix.lower() in KERAS_SUFFIXES and not source.is_dir():
            result = export_keras(source, dataset, preprocessing=preprocessing,
                                  color=None if color is None else color.value, image_size=image_size,
                                  image_shape=image_shape, **common)
        else:
            given = [name for name, value in keras_only.items() if value is not None]
            if given and source.is_dir():
                raise InputError(f"{', '.join(given)}: for a Keras model file only; {source} is a run directory, "
                                 f"whose config.json fixes the data and preprocessing it was trained with")
            if source.is_file():
                raise InputError(f"{source}: neither a run directory nor a Keras model file ({', '.join(KERAS_SUFFIXES)})")
            result = export_run(source, **common)
    except QualityGateError as exc:
        render(exc.result)
        raise
    render(result)


def render(result: dict) -> None:
    """The export summary as terminal tables (the same data as export.json)."""
    ev = result["evaluated_on"]
    typer.echo(f"\n{result['model']}: accuracy on the {ev['split']} split ({ev['images']} images, {ev['runtime']}); "
               f"Keras float {result['keras_float_accuracy']:.2%}")
    if ev["split"] != "test" and ev.get("detail"):
        typer.echo(f"({ev['detail']})")
    rows = [["keras (float32)", "-", "float32", f"{result['keras_float_accuracy']:.2%}", "", "", ""]]
    for r in result["models"]:
        graph = r.get("graph") or {}
        rows.append([r["file"], f"{r['size_bytes'] / 1024:.1f} KiB", f"{r['input_dtype']}/{r['output_dtype']}",
                     f"{r['accuracy']:.2%}", f"{r['delta_pp']:+.2f}", graph.get("output", ""),
                     ", ".join(t.replace("_", "-") for t in graph.get("applied", [])) or "-"])
    print_table(rows, ["model", "size", "in/out dtype", "accuracy", "Δ vs float (pp)", "output", "graph transforms"])
    if result.get("debug_worst"):
        typer.echo(f"\nint8 quantisation error, worst {len(result['debug_worst'])} layers (all in {result['debug_csv']}):")
        print_table([[d["rank"], d["layers"], d["op_name"], d["rmse"], d["rmse_over_scale"], d["scale"]]
                     for d in result["debug_worst"]], ["#", "layers", "op", "RMSE", "RMSE/scale", "scale"])
    gate = result.get("gate")
    if gate:
        verdict = "passed" if gate["passed"] else "FAILED"
        typer.echo(f"\nquality gate {verdict}: int8 drop {gate['drop_pp']:.2f} pp (limit {gate['max_drop_pp']:g} pp)")
    for warning in result.get("warnings") or []:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW, err=True)
    for r in result["models"]:
        bad = r.get("not_delegated")
        if bad:
            why = (bad.get("diagnosis") or {}).get("reason") or bad.get("message")
            typer.secho(f"warning: {r['file']}: XNNPACK cannot prepare this model, so it runs on builtin kernels "
                        f"(3-5x slower on the CPU measured in docs/bench.md): {why}. Fix: calibrate on images on which that layer's output varies "
                        f"(--calib-samples), or retrain (docs/bench.md, 'NOT DELEGATED')", fg=typer.colors.YELLOW, err=True)
    typer.echo(f"written to {result['out_dir']}")
