"""The in-memory data set every source loads into, and the checks a data set must pass to be trained on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edgenets.data.options import COLOR_OF
from edgenets.errors import InputError


@dataclass
class Dataset:
    """Images uint8 (N, H, W, C), C 1 (grey) or 3 (rgb); labels int64 (N,) in 0..K-1, or None where the
    source has none (a CSV or IDX file of images to predict).

    ``class_names`` holds the K class names (folder names, a names file, the original label values);
    left out, it is "0".."max label". ``source`` says where the data came from and, under ``"note"``,
    any choice the loader made for the user (e.g. the size images were resized to) for commands to show.
    """

    name: str
    x_train: np.ndarray
    y_train: Optional[np.ndarray]
    x_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    class_names: Optional[tuple[str, ...]] = None
    source: dict = field(default_factory=dict)
    # load_dataset's keyword arguments that shaped these arrays (color, image_size, image_shape): what
    # config.json records so that export reloads exactly the images training saw
    load_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.class_names is None:
            labelled = [y for y in (self.y_train, self.y_test) if y is not None and len(y)]
            top = max(int(np.max(y)) for y in labelled) if labelled else -1
            self.class_names = tuple(str(i) for i in range(top + 1))
        else:
            self.class_names = tuple(str(c) for c in self.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)  # type: ignore[arg-type]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of every image."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def color(self) -> str:
        """"grey" (1 channel) or "rgb" (3)."""
        return COLOR_OF.get(self.image_shape[-1], f"{self.image_shape[-1]} channels")

    @property
    def labelled(self) -> bool:
        return self.y_train is not None


def check_trainable(data: Dataset, what: Optional[str] = None) -> None:
    """One InputError line unless ``data`` can be trained on: labels, two classes or more, and at least
    as many training images as classes. ``what`` names the data set in the message (default: its name).

    load_dataset already refuses one class, and too few images when the training split is the only one
    (an evaluation file may carry a token training split beside its test split, see edgenets.remote).
    """
    what = what or data.name
    if data.y_train is None:
        raise InputError(f"{what}: has no labels (a labelled data set is needed)")
    k, n = data.num_classes, len(data.y_train)
    if k < 2:
        raise InputError(f"{what}: only one class ({', '.join(data.class_names) or 'none'}); "  # type: ignore[arg-type]
                         "a classifier needs at least two")
    if n < k:
        raise InputError(f"{what}: {n} training image{'s' if n != 1 else ''} for {k} classes; "
                         "give at least one image per class")
