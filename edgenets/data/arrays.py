"""Image arrays from any source -> uint8 (N, H, W, C), and converted to the colour and size asked for."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from edgenets.data.options import CHANNELS
from edgenets.errors import InputError


def square_side(pixels: int) -> Optional[int]:
    """The side of a square grey image of ``pixels`` pixels, or None."""
    side = math.isqrt(pixels) if pixels > 0 else 0
    return side if side > 0 and side * side == pixels else None


def check_images(x: np.ndarray, name: str, image_shape: Optional[tuple[int, int, int]] = None) -> np.ndarray:
    """(N, H, W), (N, H, W, C) with C 1 or 3, or flat (N, pixels) rows -> uint8 (N, H, W, C).

    A flat row is read as ``image_shape`` when given, else as a square grey image.
    """
    x = np.asarray(x)
    if x.ndim == 2:
        x = x.reshape(len(x), *_flat_shape(x.shape[1], name, image_shape))
    elif x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or min(x.shape[1:3], default=0) < 1:
        raise InputError(f"{name}: images have shape {x.shape}, expected (N, H, W), (N, H, W, C) with C 1 or 3, "
                         "or (N, pixels)")
    if len(x) == 0:
        raise InputError(f"{name}: no images")
    if x.dtype != np.uint8:
        if x.dtype.kind == "b" or not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
            raise InputError(f"{name}: images have non-numeric dtype {x.dtype}")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            raise InputError(f"{name}: images contain NaN or infinite values")
        if x.min() < 0 or x.max() > 255:
            raise InputError(f"{name}: pixel values must be in 0..255, found {x.min()}..{x.max()}")
        if np.issubdtype(x.dtype, np.floating) and not np.equal(np.floor(x), x).all():
            raise InputError(f"{name}: pixel values must be whole numbers 0..255 (found fractions; scale to 0..255 first)")
        x = x.astype(np.uint8)
    return np.ascontiguousarray(x)


def _flat_shape(pixels: int, name: str, image_shape: Optional[tuple[int, int, int]]) -> tuple[int, int, int]:
    if image_shape is not None:
        h, w, c = image_shape
        if pixels != h * w * c:
            raise InputError(f"{name}: rows of {pixels} pixels, but --image-shape {h}x{w}x{c} needs {h * w * c}; "
                             "check --image-shape")
        return image_shape
    side = square_side(pixels)
    if side is None:
        raise InputError(f"{name}: rows of {pixels} pixels are not a square grey image; pass --image-shape HxWxC "
                         "to read them (e.g. 32x32x3 for 3072 pixels)")
    return (side, side, 1)


def conform(x: np.ndarray, color: Optional[str], size: Optional[tuple[int, int]]) -> np.ndarray:
    """``x`` (N, H, W, C) in ``color`` ("grey"/"rgb") and resized to ``size`` (H, W) where they differ.

    Grey -> rgb repeats the channel; rgb -> grey and resizing go through Pillow (bilinear), image by
    image, in the order :func:`edgenets.data.images.to_array` uses for image files, so an array and a
    folder of the same pictures load alike.
    """
    want_c = CHANNELS[color] if color else x.shape[-1]
    want_hw = tuple(size) if size else tuple(x.shape[1:3])
    if x.shape[-1] == want_c and tuple(x.shape[1:3]) == want_hw:
        return x
    if x.shape[-1] == 1 and want_c == 3 and tuple(x.shape[1:3]) == want_hw:
        return np.ascontiguousarray(np.repeat(x, 3, axis=-1))
    from edgenets.errors import require

    Image = require("PIL.Image", "images", "converting image arrays (--color, --image-size)")
    grey_out = want_c == 1 or x.shape[-1] == 1  # grey stays grey until the end: resizing is per channel
    out = np.empty((len(x), *want_hw, 1 if grey_out else 3), dtype=np.uint8)
    h, w, c = x.shape[1:]
    mode = "L" if c == 1 else "RGB"
    for i in range(len(x)):  # frombuffer/tobytes: half the time of fromarray/asarray, the same pixels
        pil = Image.frombuffer(mode, (w, h), x[i].tobytes(), "raw", mode, 0, 1)
        if mode == "RGB" and want_c == 1:
            pil = pil.convert("L")
        if (h, w) != want_hw:
            pil = pil.resize((want_hw[1], want_hw[0]), Image.BILINEAR)
        out[i] = np.frombuffer(pil.tobytes(), dtype=np.uint8).reshape(out.shape[1:])
    if out.shape[-1] != want_c:
        out = np.repeat(out, want_c, axis=-1)
    return np.ascontiguousarray(out)
