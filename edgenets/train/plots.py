"""curves.png (loss / accuracy per epoch, train vs validation) and confusion.png.

Figures are built with matplotlib's object API (no pyplot state, Agg canvas), so plotting works
headless and from threads, and the PNG is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from edgenets._io import save_png


def curves(history: Sequence[dict], path: Path, title: str = "") -> None:
    save_png(curves_figure(history, title), path)


def curves_figure(history: Sequence[dict], title: str = ""):
    """The curves as a matplotlib Figure. Loss goes on a log axis when it is positive throughout:
    a first-epoch validation loss of 4.5 (BatchNorm statistics still settling) would otherwise
    flatten every later epoch against the floor."""
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(10, 4))
    for ax, key in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        train, val = [row[key] for row in history], [row[f"val_{key}"] for row in history]
        ax.plot(epochs, train, "o-", label="train")
        ax.plot(epochs, val, "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        if key == "loss" and all(np.isfinite(v) and v > 0 for v in train + val):
            ax.set_yscale("log")
            ax.set_ylabel("loss (log scale)")
        ax.grid(alpha=0.3, which="both" if ax.get_yscale() == "log" else "major")
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


# Above this many classes the cells are too small for their counts: the colours carry the matrix alone.
MAX_ANNOTATED_CLASSES = 20


def confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: Path, title: str = "") -> None:
    save_png(confusion_figure(matrix, class_names, title), path)


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str = ""):
    """The confusion matrix as a Figure that stays readable from 2 to ~100 classes: the figure grows with
    the class count, tick labels shrink (and turn upright on the x axis when side by side they would not
    fit), and per-cell counts are written only up to MAX_ANNOTATED_CLASSES classes."""
    from matplotlib.figure import Figure

    cm = np.asarray(matrix)
    k = len(class_names)
    side = min(16.0, max(5.5, 0.3 * k + 2.5))
    fig = Figure(figsize=(side + 1.0, side))
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)  # as tall as the matrix, however many classes
    ticks = np.arange(k)
    font = 9 if k <= 10 else 8 if k <= 20 else max(4, 8 - (k - 20) // 15)
    longest = max((len(str(c)) for c in class_names), default=0)
    ax.set_xticks(ticks, labels=list(class_names), fontsize=font, rotation=90 if k > 20 or longest * k > 60 else 0)
    ax.set_yticks(ticks, labels=list(class_names), fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= MAX_ANNOTATED_CLASSES:
        threshold = cm.max() / 2 if cm.size else 0
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7 if k <= 12 else 6,
                        color="white" if cm[i, j] > threshold else "black")
    ax.set_title(title or "confusion matrix (test set)")
    fig.tight_layout()
    return fig
