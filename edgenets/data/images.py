"""Decode one image file into uint8 (H, W, C) pixels: the one reader for data sets and ``edgenets predict``.

Pillow does the decoding (the ``images`` extra, also in ``device``); colour is kept unless asked
(``color="grey"`` -> 1 channel, ``"rgb"`` -> 3; alpha is dropped, palettes expanded), and an image is
resized with Pillow's bilinear filter when ``size`` differs from its own. Any failure is one
``InputError`` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edgenets.errors import InputError, require

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
COLORS = ("rgb", "grey")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}  # Pillow modes with one colour channel (alpha aside)


def native_color(mode: str) -> str:
    """"grey" for Pillow's one-channel modes, else "rgb"."""
    return "grey" if mode in GREY_MODES else "rgb"


def open_image(path: Path):
    """The decoded Pillow image (loaded), or an InputError naming the file."""
    Image = require("PIL.Image", "images", "reading image files")
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: not a readable image ({exc.__class__.__name__})") from None


def probe_image(path: Path) -> tuple[str, tuple[int, int]]:
    """(native colour, (H, W)) from the file's header alone (nothing decoded), or an InputError naming it."""
    Image = require("PIL.Image", "images", "reading image files")
    try:
        with Image.open(path) as im:
            return native_color(im.mode), (int(im.height), int(im.width))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{path}: not a readable image ({exc.__class__.__name__})") from None


def is_image_file(path: Path) -> bool:
    """A visible file whose suffix is an image format's (what a class folder's images are)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def to_array(im, *, size: Optional[tuple[int, int]] = None, color: Optional[str] = None) -> np.ndarray:
    """A Pillow image -> uint8 (H, W, C): ``color`` "grey"/"rgb" (None: its own), resized to ``size`` (H, W)."""
    Image = require("PIL.Image", "images", "reading image files")
    color = color or native_color(im.mode)
    if color not in COLORS:
        raise InputError(f"--color must be one of {', '.join(COLORS)}. Received: {color!r}")
    if im.mode.startswith("I") or im.mode == "F":
        # 16-bit and float greyscale to 0..255 by a fixed scale, never by the image's own maximum (two images of one
        # scene must come out alike): integer modes are 16-bit samples (0..65535 -> /257, as 8-bit 0..255 maps
        # to 16-bit), float images are 0..1 intensities (x255); both rounded and clipped
        a = np.asarray(im, dtype=np.float64)
        scale = 255.0 if im.mode == "F" else 1.0 / 257.0
        im = Image.fromarray(np.clip(np.round(a * scale), 0, 255).astype(np.uint8), mode="L")
    im = im.convert("L" if color == "grey" else "RGB")
    if size is not None and (im.height, im.width) != tuple(size):
        im = im.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return np.ascontiguousarray(a[..., None] if a.ndim == 2 else a)


def read_image(path: str | Path, *, size: Optional[tuple[int, int]] = None, color: Optional[str] = None) -> np.ndarray:
    """Decode ``path`` into uint8 (H, W, C); see :func:`to_array`."""
    return to_array(open_image(Path(path)), size=size, color=color)
