"""Classification metrics from labels and predictions, in numpy (no scikit-learn on a board)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator in float64, 0 where the denominator is 0 (sklearn's zero_division=0)."""
    numerator, denominator = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    zero = denominator == 0
    return np.where(zero, 0.0, numerator / np.where(zero, 1.0, denominator))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class scores and the confusion matrix, in numpy.

    The definitions are scikit-learn's (``precision_recall_fscore_support(labels=range(K),
    zero_division=0)``, ``confusion_matrix(labels=range(K))``, ``accuracy_score``), computed from
    the counts: precision = tp / predicted, recall = tp / true, F1 = 2 tp / (true + predicted), each
    0 where its denominator is 0 (a class never predicted, never present, or both); macro = the
    unweighted mean over all K classes. Every count is an exact integer in float64, so each score is
    one correctly rounded division, and the macro mean is numpy's mean as in sklearn:
    tests/test_light_deps.py checks the results equal sklearn's exactly (==) on random cases.
    Labels outside 0..K-1 count in accuracy only, as in sklearn.
    """
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions")
    k = len(class_names)
    true_in = (y_true >= 0) & (y_true < k)
    pred_in = (y_pred >= 0) & (y_pred < k)
    both = true_in & pred_in
    # confusion[i, j]: images of class i predicted as j (rows true, columns predicted, as in sklearn)
    # np.intp: bincount refuses int64 on a 32-bit board (armv7)
    confusion = np.bincount(y_true[both].astype(np.intp) * k + y_pred[both].astype(np.intp),
                            minlength=k * k).reshape(k, k)
    tp = np.diagonal(confusion)
    # per-class totals over all images, so a label outside 0..K-1 on the other side still counts
    # (when every label is in range these are the confusion matrix's row and column sums)
    support = np.bincount(y_true[true_in].astype(np.intp), minlength=k)
    predicted = np.bincount(y_pred[pred_in].astype(np.intp), minlength=k)
    precision = _divide(tp, predicted)
    recall = _divide(tp, support)
    f1 = _divide(2.0 * tp, support.astype(np.float64) + predicted)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
        "per_class": [
            {"label": str(name), "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "support": int(support[i])}
            for i, name in enumerate(class_names)
        ],
        "confusion_matrix": confusion.tolist(),
    }
