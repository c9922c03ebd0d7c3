"""How a data set is to be loaded: ``--color``, ``--image-size HxW``, ``--image-shape HxWxC``.

``parse_size`` / ``parse_shape`` read the ``HxW`` / ``HxWxC`` strings (train, export and models use
them too); :class:`LoadOptions` holds ``load_dataset``'s keyword options checked and normalised, and
:meth:`LoadOptions.as_dict` is what a run's config.json stores so that export reloads the same images.

- ``color``: "grey" or "rgb" (None: what the images are).
- ``image_size``: (H, W) the images are resized to (None: their own size; for a folder of images of
  several sizes, the most common one).
- ``image_shape``: (H, W, C) of the images. It is how a flat row of pixels (a CSV row, an (N, H*W*C)
  array) is read; for images that already have a shape it means ``image_size`` (H, W) and ``color``
  (C = 1 grey, 3 rgb), and it must agree with those options where they are given too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

from edgenets.errors import InputError

COLORS = ("rgb", "grey")
CHANNELS = {"grey": 1, "rgb": 3}
COLOR_OF = {1: "grey", 3: "rgb"}
_DIM = r"\s*(\d+)\s*"


def _dims(value: Any, n: int, option: str, example: str) -> tuple[int, ...]:
    form = "HxW" if n == 2 else "HxWxC"
    if isinstance(value, str):
        match = re.fullmatch("[xX]".join([_DIM] * n), value)
        if match is None:
            raise InputError(f"{option} must be {form}, e.g. {example}. Received: {value!r}")
        dims = tuple(int(g) for g in match.groups())
    else:
        try:
            items = list(value)
        except TypeError:
            raise InputError(f"{option} must be {form}, e.g. {example}. Received: {value!r}") from None
        if len(items) != n or any(isinstance(v, bool) or not isinstance(v, int) and not _whole(v) for v in items):
            raise InputError(f"{option} must be {n} whole numbers ({form}), e.g. {example}. Received: {value!r}")
        dims = tuple(int(v) for v in items)
    if min(dims) <= 0:
        raise InputError(f"{option} must be positive, e.g. {example}. Received: {_text(value)!r}")
    return dims


def _whole(v: Any) -> bool:
    try:
        return float(v) == int(v)
    except (TypeError, ValueError, OverflowError):
        return False


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "x".join(str(v) for v in value)


def parse_size(value: Any, option: str = "--image-size") -> tuple[int, int]:
    """``"32x32"`` (or a (H, W) pair) -> (32, 32); anything else is one InputError naming ``option``."""
    return _dims(value, 2, option, "32x32")  # type: ignore[return-value]


def parse_shape(value: Any, option: str = "--image-shape") -> tuple[int, int, int]:
    """``"32x32x3"`` (or an (H, W, C) triple) -> (32, 32, 3), C 1 (grey) or 3 (rgb); else one InputError."""
    dims = _dims(value, 3, option, "32x32x3")
    if dims[2] not in COLOR_OF:
        raise InputError(f"{option} must end in 1 (grey) or 3 (rgb) channels, e.g. 32x32x3. Received: {_text(value)!r}")
    return dims  # type: ignore[return-value]


def parse_color(value: Any, option: str = "--color") -> str:
    value = getattr(value, "value", value)  # the CLI's Color enum
    if value not in COLORS:
        raise InputError(f"{option} must be one of {', '.join(COLORS)}. Received: {value!r}")
    return value


@dataclass(frozen=True)
class LoadOptions:
    """load_dataset's keyword options, checked; None where not given."""

    color: Optional[str] = None
    image_size: Optional[tuple[int, int]] = None
    image_shape: Optional[tuple[int, int, int]] = None

    @classmethod
    def parse(cls, color: Any = None, image_size: Any = None, image_shape: Any = None) -> "LoadOptions":
        opts = cls(None if color is None else parse_color(color),
                   None if image_size is None else parse_size(image_size),
                   None if image_shape is None else parse_shape(image_shape))
        if opts.image_shape is not None:
            h, w, c = opts.image_shape
            if opts.color is not None and CHANNELS[opts.color] != c:
                raise InputError(f"--color {opts.color} and --image-shape {h}x{w}x{c} disagree "
                                 f"({c} channel{'s' if c > 1 else ''} is {COLOR_OF[c]}); give one of them")
            if opts.image_size is not None and opts.image_size != (h, w):
                raise InputError(f"--image-size {opts.image_size[0]}x{opts.image_size[1]} and --image-shape "
                                 f"{h}x{w}x{c} disagree; give one of them")
        return opts

    @property
    def target_color(self) -> Optional[str]:
        """The colour every image must end up in (None: keep what the source has)."""
        if self.color is not None:
            return self.color
        return COLOR_OF[self.image_shape[2]] if self.image_shape is not None else None

    @property
    def target_size(self) -> Optional[tuple[int, int]]:
        """The (H, W) every image must end up in (None: keep what the source has)."""
        if self.image_size is not None:
            return self.image_size
        return self.image_shape[:2] if self.image_shape is not None else None  # type: ignore[return-value]

    def as_dict(self) -> dict:
        """The options given, as JSON values: ``load_dataset(spec, **opts.as_dict())`` loads the same arrays."""
        out: dict = {}
        if self.color is not None:
            out["color"] = self.color
        if self.image_size is not None:
            out["image_size"] = list(self.image_size)
        if self.image_shape is not None:
            out["image_shape"] = list(self.image_shape)
        return out
