"""Test-set metrics from predictions (numpy, via edgenets.inference.metrics; no TensorFlow here)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgenets.inference.metrics import classification_metrics


def metrics_from_probabilities(y_true: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro P/R/F1, per-class P/R/F1/support and the confusion matrix of argmax predictions."""
    y_pred = np.asarray(probabilities).argmax(axis=1)
    out = classification_metrics(np.asarray(y_true), y_pred, [str(c) for c in class_names])
    out["images"] = int(len(y_true))
    return out
