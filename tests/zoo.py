"""The board tests' model zoo: every registered model, briefly trained on real MNIST, exported float32 + int8.

Used by tests/test_board.py and benchmarks/board_agreement.py (so the agreement table in docs/device.md is
rerun on the same models). Needs TensorFlow (the train extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TRAIN_IMAGES = 1000  # one epoch: enough for most classes to be predicted, seconds per model
CALIBRATION_IMAGES = 64


def subset():
    """The tests' MNIST subset (conftest's mnist_small): 2,000 training and 500 test images, stratified, seed 0."""
    from edgenets.data import load_dataset, stratified_indices

    mnist = load_dataset("mnist", quiet=True)
    tr = stratified_indices(mnist.y_train, 2000, seed=0)
    te = stratified_indices(mnist.y_test, 500, seed=0)
    return mnist.x_train[tr], mnist.y_train[tr], mnist.x_test[te], mnist.y_test[te]


def build_zoo(root: Path, x_train: np.ndarray, y_train: np.ndarray) -> list[Path]:
    """root/<model>/export/model_{float32,int8}.tflite for every registered model; returns the files in order.

    The graphs are what `edgenets export` writes by default (edgenets.export.optimize: logits output, channel
    shuffles folded, the int8 stem rewrite, a resizable batch), so the boards run the files users ship."""
    import keras

    from edgenets.export.convert import to_tflite
    from edgenets.export.optimize import make_dynamic_batch, transform_keras
    from edgenets.models import create_model, list_models

    x = x_train[:TRAIN_IMAGES].astype("float32") / 255.0
    files = []
    for name in list_models():
        keras.utils.set_random_seed(0)
        model = create_model(name)
        for layer in model.layers:  # BatchNorm statistics that settle within one short epoch: real predictions
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.5
        model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
        model.fit(x, y_train[:TRAIN_IMAGES], epochs=1, batch_size=64, verbose=0)
        export = Path(root) / name / "export"
        export.mkdir(parents=True)
        for precision in ("float32", "int8"):
            path = export / f"model_{precision}.tflite"
            rep = x_train[:CALIBRATION_IMAGES] if precision == "int8" else None
            graph, _ = transform_keras(model, logits=True, fold_shuffle=True, int8_stem=precision == "int8",
                                       log=lambda message: None)
            blob, _ = make_dynamic_batch(to_tflite(graph, precision, representative=rep, progress=False))
            path.write_bytes(blob)
            files.append(path)
    return files
