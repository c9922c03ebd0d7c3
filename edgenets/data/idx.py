"""The IDX file format of the original MNIST distribution (raw or gzip-compressed).

Layout: two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
dimension, then the payload. Only the unsigned-byte type (0x08) is used by MNIST-style data.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

from edgenets.errors import InputError

_UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected an IDX file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"{path}: corrupt gzip data ({exc})") from None
    return raw


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into a uint8 array, validating magic, dimensions and payload length."""
    if len(raw) < 4:
        raise InputError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0:
        raise InputError(f"{name}: not an IDX file (bad magic {raw[:4].hex()})")
    if dtype != _UBYTE:
        raise InputError(f"{name}: unsupported IDX element type 0x{dtype:02x} (only unsigned bytes, 0x08)")
    if not 1 <= ndim <= 4:
        raise InputError(f"{name}: IDX file with {ndim} dimensions (expected 1 to 4)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise InputError(f"{name}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected:
        what = "truncated" if payload < expected else "has trailing bytes"
        raise InputError(
            f"{name}: IDX payload {what}: dimensions {'x'.join(map(str, dims))} need {expected} bytes, found {payload}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    return parse_idx(_read_bytes(path), str(path))


def to_idx_bytes(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return struct.pack(">HBB", 0, _UBYTE, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
