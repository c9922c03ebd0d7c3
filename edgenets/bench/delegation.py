"""Which nodes of a loaded model ran inside a delegate (XNNPACK on the default CPU path), which on
builtin kernels, and why.

Read from the interpreter after ``allocate_tensors()``: ``_get_ops_details()`` lists every node of
the original graph and then one ``DELEGATE`` node per delegate partition, whose inputs and outputs
are the partition's boundary tensors. A node belongs to a partition when it is reached by walking
back from the partition's outputs to its inputs; every other node runs on a builtin kernel.

Two ways XNNPACK leaves int8 work to builtin kernels, both silent in today's runtimes:

- it declines single nodes while partitioning (an int8 SOFTMAX: XNNPACK's softmax is float only;
  an op whose input and output quantisation differ where XNNPACK needs them equal) — the graph
  then has builtin nodes between or after partitions;
- it accepts the graph but cannot build its runtime for it, e.g. a convolution or fully connected
  layer whose requantisation scale ``s_in * s_w / s_out`` is 256 or more. ai-edge-litert's
  ``allocate_tensors()`` then raises "failed to create XNNPACK runtime ... failed to prepare";
  the bench runs the model on builtin kernels instead and reports the node and the scale
  (:func:`diagnose_prepare_failure`). Measured limit (ai-edge-litert 2.3, a one-node int8 FULLY_CONNECTED;
  tests/test_delegation.py checks it against the installed runtime): 255.0 prepares, 256.0 fails.

Nothing here imports TensorFlow; it needs only what every runtime's interpreter offers.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

# XNNPACK's limit on a quantised convolution / fully connected layer's requantisation scale.
XNNPACK_MAX_REQUANT_SCALE = 256.0
# Ops whose int8 kernels requantise with s_in * s_w / s_out: input 0 = activations, 1 = weights.
WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
# Ops XNNPACK takes on int8 only when input and output share scale and zero point.
SAME_QUANT_OPS = ("CONCATENATION", "TRANSPOSE", "RESHAPE", "MAX_POOL_2D", "PAD", "STRIDED_SLICE", "SLICE",
                  "SPLIT", "SPLIT_V", "SQUEEZE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH")

FIX_PREPARE = ("re-export with calibration images on which that layer's output varies (edgenets export "
               "--calib-samples), or retrain so the layer does not cancel out; until then the model runs on "
               "builtin kernels (what --device cpu-ref measures)")

PREPARE_FAILURE_MARKERS = ("failed to create xnnpack", "tflitexnnpackdelegate", "xnnpack delegate failed")


def is_delegate_prepare_failure(message: str) -> bool:
    """Does an ``allocate_tensors()`` error say the default XNNPACK delegate could not be prepared?"""
    text = message.lower()
    return any(marker in text for marker in PREPARE_FAILURE_MARKERS)


def _ops(interpreter: Any) -> Optional[list[dict]]:
    details = getattr(interpreter, "_get_ops_details", None)
    if details is None:
        return None
    try:
        return list(details())
    except Exception:  # noqa: BLE001 - a runtime without node introspection: no report, not an error
        return None


def partition_members(ops: Sequence[dict]) -> list[set[int]]:
    """For each DELEGATE node, the indices of the original nodes it runs."""
    original = [op for op in ops if op.get("op_name") != "DELEGATE"]
    producer = {int(t): int(op["index"]) for op in original for t in op.get("outputs", [])}
    by_index = {int(op["index"]): op for op in original}
    members = []
    for op in ops:
        if op.get("op_name") != "DELEGATE":
            continue
        boundary = {int(t) for t in op.get("inputs", [])}
        inside: set[int] = set()
        stack = [int(t) for t in op.get("outputs", [])]
        seen: set[int] = set()
        while stack:
            tensor = stack.pop()
            if tensor in seen or tensor in boundary:
                continue
            seen.add(tensor)
            node = producer.get(tensor)
            if node is None or node in inside:
                continue
            inside.add(node)
            stack.extend(int(t) for t in by_index[node].get("inputs", []) if int(t) >= 0)
        members.append(inside)
    return members


def _quant(tensors: dict[int, dict], index: int) -> tuple[np.ndarray, np.ndarray]:
    """(scales, zero points) of a tensor; empty arrays when it is not quantised."""
    params = (tensors.get(index) or {}).get("quantization_parameters") or {}
    return np.asarray(params.get("scales", []), np.float64), np.asarray(params.get("zero_points", []), np.int64)


def _is_int(tensors: dict[int, dict], index: int) -> bool:
    detail = tensors.get(index)
    return detail is not None and np.dtype(detail["dtype"]).kind in "iu"


def requant_scale(op: dict, tensors: dict[int, dict]) -> Optional[float]:
    """The largest ``s_in * s_w / s_out`` over output channels of a quantised weighted op, else None."""
    if op.get("op_name") not in WEIGHTED_OPS:
        return None
    inputs, outputs = [int(t) for t in op.get("inputs", [])], [int(t) for t in op.get("outputs", [])]
    if op["op_name"] == "TRANSPOSE_CONV":  # (output_shape, weights, input[, bias])
        inputs = [inputs[2], inputs[1]] if len(inputs) >= 3 else inputs
    if len(inputs) < 2 or not outputs or not all(_is_int(tensors, t) for t in (inputs[0], inputs[1], outputs[0])):
        return None
    s_in, _ = _quant(tensors, inputs[0])
    s_w, _ = _quant(tensors, inputs[1])
    s_out, _ = _quant(tensors, outputs[0])
    if not (len(s_in) and len(s_w) and len(s_out)) or s_out[0] <= 0:
        return None
    return float(np.max(s_in[0] * s_w / s_out[0]))


def _quant_mismatch(op: dict, tensors: dict[int, dict]) -> Optional[str]:
    if op.get("op_name") not in SAME_QUANT_OPS:
        return None
    outputs = [int(t) for t in op.get("outputs", [])]
    inputs = [int(t) for t in op.get("inputs", []) if _is_int(tensors, int(t)) and len(_quant(tensors, int(t))[0])]
    if not outputs or not inputs or not _is_int(tensors, outputs[0]):
        return None
    s_out, z_out = _quant(tensors, outputs[0])
    if not len(s_out):
        return None
    for t in inputs:
        if (tensors.get(t) or {}).get("shape") is not None and len(tensors[t]["shape"]) == 1 and op["op_name"] != "CONCATENATION":
            continue  # a shape / permutation / paddings operand, not data
        s_in, z_in = _quant(tensors, t)
        if not np.isclose(s_in[0], s_out[0], rtol=1e-6) or z_in[0] != z_out[0]:
            return (f"input and output quantisation differ (input scale {s_in[0]:.4g} zero point {int(z_in[0])}, "
                    f"output scale {s_out[0]:.4g} zero point {int(z_out[0])})")
    return None


def why_builtin(op: dict, tensors: dict[int, dict]) -> str:
    """Why a node stayed on builtin kernels, as far as the model's own tensors can tell."""
    name = op.get("op_name", "?")
    if name == "SOFTMAX" and _is_int(tensors, int(op["inputs"][0])):
        return "XNNPACK has no int8 SOFTMAX (its softmax is float only); export logits to drop it"
    scale = requant_scale(op, tensors)
    if scale is not None and scale >= XNNPACK_MAX_REQUANT_SCALE:
        return f"requantisation scale {scale:.4g} >= {XNNPACK_MAX_REQUANT_SCALE:g}, XNNPACK's limit"
    mismatch = _quant_mismatch(op, tensors)
    if mismatch:
        return f"{mismatch}; XNNPACK needs them equal"
    return "not taken by the delegate (op, version or parameters it does not support)"


def diagnose_prepare_failure(interpreter: Any) -> Optional[dict]:
    """The node that makes XNNPACK's runtime fail to build, from an interpreter loaded WITHOUT the
    delegate (builtin kernels, allocated): the weighted op with the largest requantisation scale
    at or above XNNPACK's limit, or None when no node breaks a known limit."""
    ops = _ops(interpreter)
    if not ops:
        return None
    tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    worst = None
    for op in ops:
        scale = requant_scale(op, tensors)
        if scale is not None and scale >= XNNPACK_MAX_REQUANT_SCALE and (worst is None or scale > worst[0]):
            worst = (scale, op)
    if worst is None:
        return None
    scale, op = worst
    return {"node": int(op["index"]), "op": op["op_name"], "requant_scale": scale,
            "reason": f"node {int(op['index'])} ({op['op_name']}) has requantisation scale s_in*s_w/s_out = "
                      f"{scale:.4g} >= {XNNPACK_MAX_REQUANT_SCALE:g}, XNNPACK's limit (its output range is tiny "
                      f"next to its input and weights: the calibration images made this layer nearly constant)"}


def reverted(message: str, builtin_interpreter: Any) -> dict:
    """The record of a model the delegate failed to prepare (``message``), diagnosed on an interpreter of the
    same model WITHOUT the delegate (allocated here): what bench's row and export's check both keep."""
    builtin_interpreter.allocate_tensors()
    return {"message": message, "diagnosis": diagnose_prepare_failure(builtin_interpreter)}


def report(interpreter: Any, *, expected: Optional[str], reverted: Optional[dict] = None) -> Optional[dict]:
    """The delegation block of a results row, from an allocated interpreter.

    ``expected`` names the delegate the row should have run in ("XNNPACK" on the default CPU path, an
    external delegate's path, None for builtin kernels by choice: --device cpu-ref). ``reverted``: the
    row fell back to builtin kernels because the delegate failed to prepare (its message and diagnosis).
    """
    ops = _ops(interpreter)
    if ops is None:
        return None
    original = [op for op in ops if op.get("op_name") != "DELEGATE"]
    members = partition_members(ops)
    inside = set().union(*members) if members else set()
    tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    def why(op: dict) -> Optional[str]:
        if expected is None:
            return None
        if reverted is not None:
            return f"the whole graph is on builtin kernels: {expected} failed to prepare"
        return why_builtin(op, tensors)

    builtin = [{"node": int(op["index"]), "op": op["op_name"], "why": why(op)}
               for op in original if int(op["index"]) not in inside]
    block: dict[str, Any] = {
        "delegate": expected, "partitions": len(members), "nodes": len(original), "delegated_nodes": len(inside),
        "builtin_nodes": builtin, "reason": None, "fix": None,
    }
    if expected is None:
        block["status"] = "builtin by choice"
    elif reverted is not None:
        block["status"] = "not delegated"
        diagnosis = reverted.get("diagnosis") or {}
        block["reason"] = diagnosis.get("reason") or f"{expected} failed to prepare: {reverted.get('message')}"
        block["failed_node"] = {k: diagnosis[k] for k in ("node", "op", "requant_scale") if k in diagnosis} or None
        block["message"] = reverted.get("message")
        block["fix"] = FIX_PREPARE if diagnosis else None
    elif not members:
        block["status"] = "not delegated"
        block["reason"] = f"{expected} took no node (the runtime applied no delegate, or reverted it)"
    elif builtin:
        block["status"] = "partial"
    else:
        block["status"] = "full"
    return block


def summary_cell(block: Optional[dict]) -> Optional[str]:
    """A short table cell: "all (1 part.)", "17/18 (1 part.)", "none: reverted", "builtin"."""
    if not block:
        return None
    status = block.get("status")
    if status == "builtin by choice":
        return "builtin (cpu-ref)"
    if status == "not delegated":
        return "NOT DELEGATED"
    parts = block.get("partitions")
    tail = f" ({parts} part.)" if parts else ""
    if status == "full":
        return f"all{tail}"
    return f"{block.get('delegated_nodes')}/{block.get('nodes')}{tail}"


def notes(results: Sequence[dict]) -> list[str]:
    """One line per row whose nodes did not all run in the delegate: which nodes, and why."""
    lines = []
    for r in results:
        block = r.get("delegation")
        if not isinstance(block, dict) or block.get("status") in ("full", "builtin by choice", None):
            continue
        head = f"{r.get('model')} {r.get('precision')}, {r.get('threads')} thread(s)"
        if block.get("status") == "not delegated":
            fix = f" Fix: {block['fix']}." if block.get("fix") else ""
            lines.append(f"{head}: NOT DELEGATED, measured on builtin kernels: {block.get('reason')}.{fix}")
            continue
        by_reason: dict[str, list[str]] = {}
        for node in block.get("builtin_nodes") or []:
            by_reason.setdefault(str(node.get("why")), []).append(f"{node.get('op')} (node {node.get('node')})")
        for why, nodes in by_reason.items():
            lines.append(f"{head}: {', '.join(nodes)} on builtin kernels: {why}")
    return lines
