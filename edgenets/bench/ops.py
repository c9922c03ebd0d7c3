"""The op types a model contains, and a cheap structural check of a .tflite file.

The interpreter's ``_get_ops_details()`` is the source when the runtime has it (ai-edge-litert,
tflite-runtime >= 2.7, tf.lite). Otherwise, and for the pre-load check, a ~60-line read-only
walk of the flatbuffer (schema: tensorflow/compiler/mlir/lite/schema/schema.fbs) counts the
operators without importing anything: the boards this runs on may lack the ``flatbuffers`` and
``tflite`` packages.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path
from typing import Any, Optional

IDENTIFIER = b"TFL3"  # file_identifier of the TFLite schema, at bytes 4..8
MIN_SIZE = 16

# BuiltinOperator codes of the ops small CNNs use (schema.fbs); others are named BUILTIN_<code>.
# tests/test_bench.py checks these against the runtime's generated schema.
BUILTIN_NAMES = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU",
    21: "RELU6", 22: "RESHAPE", 25: "SOFTMAX", 26: "SPACE_TO_DEPTH", 28: "TANH", 32: "CUSTOM", 34: "PAD", 36: "GATHER",
    39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 43: "SQUEEZE", 45: "STRIDED_SLICE", 49: "SPLIT", 51: "DELEGATE",
    53: "CAST", 65: "SLICE", 77: "SHAPE", 83: "PACK", 88: "UNPACK", 102: "SPLIT_V", 114: "QUANTIZE",
    117: "HARD_SWISH", 126: "BATCH_MATMUL",
}


class FlatbufferError(ValueError):
    """The file is not a structurally sound TFLite flatbuffer."""


class _Reader:
    """Bounds-checked access to flatbuffer tables and vectors (little-endian)."""

    def __init__(self, buf: bytes):
        self.buf = buf

    def _unpack(self, fmt: str, pos: int) -> Any:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise FlatbufferError(f"offset {pos} is outside the {len(self.buf)}-byte file (truncated?)")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def root(self) -> int:
        return self._unpack("<I", 0)

    def field(self, table: int, index: int) -> Optional[int]:
        """Position of field ``index`` of the table at ``table``, or None when it is absent."""
        vtable = table - self._unpack("<i", table)
        vt_size = self._unpack("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        off = self._unpack("<H", vtable + slot)
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default: Any = 0) -> Any:
        pos = self.field(table, index)
        return default if pos is None else self._unpack(fmt, pos)

    def deref(self, pos: int) -> int:
        return pos + self._unpack("<I", pos)

    def vector(self, table: int, index: int, elem_size: int = 4) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.deref(pos)
        n = self._unpack("<I", vec)
        if vec + 4 + n * elem_size > len(self.buf):
            raise FlatbufferError(f"a vector of {n} elements at offset {vec} runs past the end of the file (truncated?)")
        return vec + 4, n

    def tables(self, table: int, index: int) -> list[int]:
        start, n = self.vector(table, index)
        return [self.deref(start + 4 * i) for i in range(n)]

    def string(self, table: int, index: int) -> Optional[str]:
        start, n = self.vector(table, index, elem_size=1)
        return self.buf[start : start + n].decode("utf-8", "replace") if n else None


def check_header(path: str | Path) -> Optional[str]:
    """A reason the file cannot be a TFLite model (size, identifier), or None. Reads 8 bytes."""
    path = Path(path)
    if not path.is_file():
        return "file not found"
    size = path.stat().st_size
    if size < MIN_SIZE:
        return f"not a TFLite model: only {size} bytes"
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] != IDENTIFIER:
        return f"not a TFLite model: file identifier is {head[4:8]!r}, expected {IDENTIFIER!r} at bytes 4..8"
    return None


def parse_op_counts(buf: bytes) -> dict[str, int]:
    """Operator type -> count over all subgraphs, read from the flatbuffer; also bounds-checks buffers."""
    r = _Reader(buf)
    model = r.root()
    names = []
    for code in r.tables(model, 1):  # Model.operator_codes
        # builtin_code (field 3, int32) superseded deprecated_builtin_code (field 0, int8) at 127.
        value = max(r.scalar(code, 0, "<b"), r.scalar(code, 3, "<i"))
        custom = r.string(code, 1)
        names.append(custom if value == 32 and custom else BUILTIN_NAMES.get(value, f"BUILTIN_{value}"))
    counts: Counter = Counter()
    subgraphs = r.tables(model, 2)  # Model.subgraphs
    if not subgraphs:
        raise FlatbufferError("the model has no subgraphs")
    for sub in subgraphs:
        for op in r.tables(sub, 3):  # SubGraph.operators
            idx = r.scalar(op, 0, "<I")  # Operator.opcode_index
            if idx >= len(names):
                raise FlatbufferError(f"operator refers to opcode {idx}, the model defines {len(names)}")
            counts[names[idx]] += 1
    for buffer in r.tables(model, 4):  # Model.buffers: weights must lie inside the file
        r.vector(buffer, 0, elem_size=1)
        offset, size = r.scalar(buffer, 1, "<Q"), r.scalar(buffer, 2, "<Q")
        if offset > 1 and offset + size > len(buf):
            raise FlatbufferError(f"a weight buffer ends at byte {offset + size}, past the end of the file (truncated?)")
    return dict(sorted(counts.items()))


def interpreter_op_counts(interpreter: Any) -> Optional[dict[str, int]]:
    """Op type -> count as the loaded interpreter sees it (DELEGATE nodes left out), or None."""
    details = getattr(interpreter, "_get_ops_details", None)
    if details is None:
        return None
    counts = Counter(op["op_name"] for op in details() if op.get("op_name") != "DELEGATE")
    return dict(sorted(counts.items()))
