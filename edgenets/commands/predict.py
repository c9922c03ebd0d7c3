"""`edgenets predict`: the top-k classes of a .tflite model for the user's own images (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.commands.choices import Runtime

DEFAULT_TOP_K = 3  # edgenets.predict.DEFAULT_TOP_K; repeated so that --help loads no numpy


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)


def predict(
    model: Annotated[Path, typer.Argument(help="An exported .tflite (its .json sidecar beside it gives the class names "
                                               "and preprocessing).", show_default=False)],
    inputs: Annotated[list[Path], typer.Argument(help="Image files, folders of images (searched recursively), an "
                                                      "unlabelled .csv of pixel rows or an .npz of images.",
                                                 show_default=False)],
    top_k: Annotated[int, typer.Option("--top-k", help="Classes to show per input, most probable first.")] = DEFAULT_TOP_K,
    output: Annotated[Optional[Path], typer.Option(help="Also write the predictions here: .csv (one row per input and "
                                                        "rank) or .json (with the model, its SHA-256, the "
                                                        "preprocessing and the runtime).", show_default=False)] = None,
    runtime: Annotated[Runtime, typer.Option(help="auto tries ai-edge-litert, tflite-runtime, then tensorflow.")] = Runtime.auto,
) -> None:
    """Print the top-k classes and their probabilities for each input, as the model on the device sees it.

    Images are read at the model's input size and colour (resized if they differ); CSV rows hold H*W*C pixel
    values 0..255 (header optional, a label column is ignored) and an NPZ holds an array x, x_test or images
    of shape (N, H, W[, C]); CSV rows and NPZ images are named FILE[i], counting from 0. The sidecar's
    preprocessing is applied (pixels/255 without a sidecar) and the model's own quantisation. Probabilities:
    a softmax of the outputs when the sidecar says the graph outputs logits (edgenets export's default);
    without a sidecar, a softmax unless the outputs already sum to 1. Class names come from the sidecar's
    labels, else the output index.

    An input that cannot be read is one line naming it and the rest are still predicted: exit code 1 if any
    failed, 2 if none could be read or the model or an argument is bad.
    """
    from edgenets import predict as lib
    from edgenets.errors import EdgenetsError

    lib.check_output(output)

    def log(line: str) -> None:
        typer.echo(line, err=True)

    doc = lib.predict(model, inputs, top_k=top_k, runtime=runtime.value if hasattr(runtime, "value") else runtime,
                      log=log)
    log(lib.describe_run(doc))
    typer.echo(lib.render_text(doc), nl=False)
    if output is not None:
        lib.write(doc, output)
        log(f"wrote {output}")
    failed = doc["failed"]
    if failed:
        raise EdgenetsError(f"{len(failed)} input(s) could not be read (named above); "
                            f"{len(doc['predictions'])} image(s) were predicted")
