"""Run a .tflite model on uint8 images and score it: the TensorFlow-free core that bench, the accuracy
check after export, training's test metrics and ``edgenets predict`` share.

Modules, one job each:

- ``tensors``: a model's input and output tensors -- pixels to the input dtype (preprocessing, then the
  model's own scale/zero point), outputs back to float scores, scores to probabilities;
- ``batching``: raw outputs for many inputs, batched only where that is bit-identical to batch 1;
- ``metrics``: accuracy, macro precision/recall/F1 and the confusion matrix, in numpy;
- ``litert``: an ai-edge-litert interpreter for a file or bytes, and the images-to-predictions path of
  the accuracy check after export (with the builtin-kernel fallback).

Nothing here imports TensorFlow (tests/test_light_imports.py checks it), so a board with
``pip install "edgenets[device]"`` runs all of it. ``edgenets.bench.evaluate`` and
``edgenets.export.verify`` re-export the names they used to define.
"""
