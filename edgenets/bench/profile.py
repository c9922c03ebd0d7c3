"""Per-operator latency of a .tflite model, measured with the real interpreter and checked independently.

Why by measurement: the Python LiteRT interpreter has no op profiler (TFLite's ``benchmark_model``
has one, but it is a C++ tool that the boards do not carry). So every number here is the wall time of
``invoke()`` on interpreters made with the caller's own factory (same threads, same delegate or
``cpu-ref`` resolver as the bench row), on one real, preprocessed image set once per interpreter.

Method, "prefix differences": for nodes ``0..n-1`` of subgraph 0 in execution order, ``P_k`` is the
model cut after node ``k`` (``edgenets.bench.graph``; a cut exposes every tensor a later node still
needs, so residual and split/concat branches are kept). Node ``k`` costs ``T(P_k) - T(P_k-1)``, and
``T(P_-1)`` is the per-invoke overhead (below), so the node times plus the overhead add up to the
whole model's time exactly, by construction: this proves nothing about the split between nodes.

Validation, "one-op models": each node is also timed alone, as a model of that one node whose
activation inputs are graph inputs filled with the values the full model gave them on the same image
(captured by an interpreter with ``experimental_preserve_all_tensors=True``; its weights are kept).
Its time minus the per-invoke overhead is ``one_op_us``. Two independent measurements of the same
node that agree are evidence the split is real; where they differ the node is flagged.

Per-invoke overhead: the time of a model of one float32 ADD of a single element, made with the same
factory (Python -> C++ -> the interpreter's node loop -> the delegate, for almost no work). It is
``T(P_-1)`` and is subtracted from every one-op time; ``overhead_us`` reports it (~1 us here).

Timing: every interpreter (the overhead model, each cut, the whole model, each one-op model) is
created once and kept. ``rounds`` interleaved rounds each visit all of them, in alternating order,
the cut and the one-op model of a node side by side, the overhead model at both ends; a visit
re-warms with :data:`VISIT_WARMUP` untimed invokes and keeps the median of its timed ones. Every
visit times the same number of invokes, as many as fit ``min_seconds`` per round (at least
:data:`VISIT_RUNS`): a long cut gets as many samples as a short one, and the long cuts are the ones
whose small differences are hardest to see. A time is the median of its round medians; a node's
``spread_us`` is the interquartile range of its per-round prefix differences. Defaults (5 rounds,
0.5 s) profile a 15-30 node model in 2.5-3 s and the 89 nodes of shufflenet_v2 in 4 s, creating and
packing the ~2n models included (twice that when the second opinion below runs).

Resolution: two interpreters of the *same* model differ steadily, round after round, by up to about
1 % (measured: 316.9-319.2 us for six copies of mobilenet_v2 float32, 104.1-105.2 us for shufflenet;
memory placement, presumably). Every cut is its own interpreter, so a prefix difference carries that
error of the cut's *whole* time: a node late in a model that costs less than ~1 % of the model is
not resolved by the prefix method (its one-op time is the better number) and may come out negative.

Tolerance, chosen from measurements (shared 2-core AMD EPYC VM, 1 thread, ai-edge-litert 2.3,
XNNPACK and ``cpu-ref`` builtin kernels, the four zoo models in float32 and int8, four runs;
benchmarks/profile_validation.py prints them). A node agrees when ``|us - one_op_us| <=
NODE_ABS_TOL_US + NODE_REL_TOL * max(|us|, one_op_us) + CUT_REL_TOL * cut_us + spread_us``: 1 us
+ 25 % + 1.5 % of the cut + the node's own spread. The sum agrees when ``|sum(one_op_us) + overhead_us
- total_us| <= SUM_REL_TOL * total_us``: 15 %. Why: nodes over 10 us agreed within 1.5-2 % (median)
and 8-13 % (90th percentile) on the XNNPACK path, so 25 % bounds gross errors, not noise; the floor
covers sub-microsecond nodes and the overhead subtraction (an int8 SOFTMAX, not delegated, skips the
delegate's share of the overhead); the cut term is the resolution above; the spread term keeps a
noisy stretch of the machine from reading as a wrong profile (the node is flagged ``noisy``
instead). The sums came out 0.95-1.02 of the whole on the XNNPACK path and 0.93-0.99 on ``cpu-ref``:
a node alone runs with its inputs and weights hot in cache, so it tends to be a little cheaper than
inside the model, the builtin kernels more so; 15 % leaves twice that margin.

Beyond the tolerance the profile is wrong for that node: the interpreter does something in the
whole model that the cut or the node alone does not. One such effect is real and shows here: XNNPACK
elides a RESHAPE (a copy) between two nodes, but a cut right after it must write its output; the copy
is then charged to the RESHAPE and taken back from the next node, which comes out negative
(shufflenet float32, node 10 MEAN: -1.4 us as a prefix difference, +1.1 us alone).

Second opinion: an interpreter *instance* can be slow for reasons of its own (seen: one cut 40 %
slower, steadily, than the cuts either side of it and than a fresh copy of itself), which shows as a
node that disagrees next to a neighbour that disagrees the other way. When any node disagrees, the
cuts either side of it and its one-op model get a fresh instance, everything is timed again (the new
instances next to the old) and a twice-instanced model counts the faster instance of each round; the
profile is assembled from that second sweep, and ``validation.recheck`` says what was redone.

Threads: with ``threads > 1`` every one of the ~2n interpreters has its own thread pool. On this
2-core VM shared with other work, threads=2 profiles failed validation in 2 to 5 of the 8 models
depending on the load (one-op sums 0.88-2.7x the whole in the worst run, 0.94-1.05 in a quiet one):
a multi-threaded profile needs idle cores; read it through its validation block.

Flags per node: ``negative`` (a prefix difference below zero: noise, or the cut costs less with
this node than without -- an elided op), ``noisy`` (``spread_us`` larger than
``NOISY_REL * |us|`` and larger than ``NOISY_FLOOR_US``), ``disagree`` (prefix difference and one-op
time beyond the tolerance), ``one-op failed`` (the node could not run alone; the reason is kept).
"""

from __future__ import annotations

import dataclasses
import gc
import time
import warnings
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edgenets.bench.latency import steady_state
from edgenets.errors import EdgenetsError, InputError, MissingDependencyError, first_line

METHOD = ("prefix differences: node k = T(model cut after k) - T(cut after k-1), T(cut before node 0) = "
          "per-invoke overhead; validated against each node timed alone as a one-op model on the real activations")

DEFAULT_PROFILE_ROUNDS = 5
DEFAULT_PROFILE_SECONDS = 0.5  # timed budget of one round, shared by all its interpreters
VISIT_WARMUP = 2  # untimed invokes at the start of each visit: the caches went cold while others ran
VISIT_RUNS = 5  # timed invokes per visit at least; the visit's median is its sample

NODE_ABS_TOL_US = 1.0
NODE_REL_TOL = 0.25
CUT_REL_TOL = 0.015
SUM_REL_TOL = 0.15
NOISY_REL = 0.5
NOISY_FLOOR_US = 1.0

TOLERANCE_RULE = (f"node: |us - one_op_us| <= {NODE_ABS_TOL_US:g} us + {NODE_REL_TOL:.0%} of the larger of the two "
                  f"+ {CUT_REL_TOL:.1%} of the cut's time + the node's spread; sum: |sum(one_op_us) + overhead_us - whole_us| <= "
                  f"{SUM_REL_TOL:.0%} of whole_us")

PROFILE_HEADERS = ["node", "op", "output", "us", "%", "cum %", "one-op us", "±us", "flags"]
BY_TYPE_HEADERS = ["op", "count", "us", "%", "cum %"]
OVERHEAD_ROW = "(per-invoke overhead)"

Factory = Callable[[bytes], Any]


# -- interpreters --------------------------------------------------------------------------------------------
def content_factory(runtime: Any, **options: Any) -> Factory:
    """``make(model_content) -> interpreter`` (not allocated) with exactly the options of
    ``runtime.make_interpreter(path, **options)`` (threads, device, delegate): the runtime builds its
    keyword arguments as for a file, and the model's bytes take the place of the path."""

    def make(content: bytes) -> Any:
        def from_content(**kwargs: Any) -> Any:
            kwargs.pop("model_path", None)
            return runtime.interpreter_cls(model_content=content, **kwargs)

        return dataclasses.replace(runtime, interpreter_cls=from_content).make_interpreter("<memory>", **options)

    return make


@dataclasses.dataclass
class _Timed:
    """An allocated interpreter with its inputs set, and its per-round visit medians (ns)."""

    interpreter: Any
    rounds: list = dataclasses.field(default_factory=list)

    def median_us(self) -> float:
        return float(np.median([np.median(r) for r in self.rounds])) / 1e3

    def round_us(self) -> np.ndarray:
        return np.array([np.median(r) for r in self.rounds]) / 1e3


def _start(make: Factory, content: bytes, feeds: Sequence[np.ndarray]) -> _Timed:
    """Create, resize to the feeds' shapes where they differ, allocate, set the inputs once, invoke once."""
    interpreter = make(content)
    details = interpreter.get_input_details()
    if len(details) != len(feeds):
        raise InputError(f"the model has {len(details)} inputs, {len(feeds)} were given")
    for detail, value in zip(details, feeds):
        if np.dtype(detail["dtype"]) != value.dtype:
            raise InputError(f"input {detail['name']!r} is {np.dtype(detail['dtype']).name}, the sample is {value.dtype.name}")
    _feed(interpreter, details, feeds)
    return _Timed(interpreter)


def _feed(interpreter: Any, details: Sequence[dict], feeds: Sequence[np.ndarray]) -> None:
    """Resize the inputs to the feeds' shapes where they differ, allocate, set them once, invoke once."""
    for detail, value in zip(details, feeds):
        if tuple(detail["shape"]) != value.shape:
            interpreter.resize_tensor_input(detail["index"], list(value.shape))
    interpreter.allocate_tensors()
    for detail, value in zip(details, feeds):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()


def _capture(cls: type, content: bytes, feeds: Sequence[np.ndarray], wanted: set[int]) -> dict[int, np.ndarray]:
    """The values of tensors ``wanted`` in one run of the whole model on ``feeds``, from an interpreter
    of the same class (runtime) that keeps every intermediate tensor (which turns the default delegate
    off: these values come from the builtin kernels, which is all the one-op models need)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "preserve_all_tensors is intended for debugging"
            interpreter = cls(model_content=content, experimental_preserve_all_tensors=True)
    except TypeError as exc:
        raise MissingDependencyError(
            f"validating the op profile needs a runtime with experimental_preserve_all_tensors "
            f"(ai-edge-litert, tflite-runtime >= 2.5): {first_line(exc)}; profile with validate=False") from exc
    _feed(interpreter, interpreter.get_input_details(), feeds)
    return {t: np.array(interpreter.get_tensor(t)) for t in sorted(wanted)}


def _as_feeds(sample: Any) -> list[np.ndarray]:
    if isinstance(sample, np.ndarray):
        return [np.ascontiguousarray(sample)]
    if isinstance(sample, (list, tuple)) and sample and all(isinstance(v, np.ndarray) for v in sample):
        return [np.ascontiguousarray(v) for v in sample]
    raise InputError(f"sample must be a numpy array (or one per model input), got {type(sample).__name__}")


# -- timing --------------------------------------------------------------------------------------------------
def _sweep(order: Sequence[_Timed], rounds: int, min_seconds: float) -> None:
    """``rounds`` interleaved rounds over ``order`` (alternating direction); appends each visit's median
    to its interpreter's current round. Every visit times the same number of invokes, as many as fit
    ``min_seconds`` per round (at least :data:`VISIT_RUNS`): a long cut then gets as many samples as a
    short one, and the long cuts are the ones whose small differences are hardest to see."""
    unique = list({id(t): t for t in order}.values())
    runs = _runs_per_visit(order, unique, min_seconds)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a timed invoke is an outlier the median need not absorb
    try:
        for r in range(rounds):
            for timed in unique:
                timed.rounds.append([])
            for timed in (order if r % 2 == 0 else order[::-1]):
                invoke = timed.interpreter.invoke
                for _ in range(VISIT_WARMUP):
                    invoke()
                timed.rounds[-1].append(float(np.median(steady_state(invoke, runs, 0.0))))
    finally:
        if gc_was_enabled:
            gc.enable()


def _runs_per_visit(order: Sequence[_Timed], unique: Sequence[_Timed], min_seconds: float) -> int:
    """Invokes per visit so that one round of ``order`` takes about ``min_seconds``, from a quick
    estimate of each interpreter's invoke time (the median of :data:`VISIT_RUNS` invokes)."""
    estimate = {id(t): float(np.median(steady_state(t.interpreter.invoke, VISIT_RUNS, 0.0))) for t in unique}
    round_ns = sum(estimate[id(t)] for t in order)
    return max(VISIT_RUNS, int(min_seconds * 1e9 / max(round_ns, 1.0)))


def _iqr(values: np.ndarray) -> float:
    if len(values) < 2:
        return 0.0
    if len(values) < 4:
        return float(values.max() - values.min())
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


# -- the profile ---------------------------------------------------------------------------------------------
def profile_model(model_path: Any, make_interpreter: Factory, sample: Any, *, rounds: int = DEFAULT_PROFILE_ROUNDS,
                  min_seconds: float = DEFAULT_PROFILE_SECONDS, validate: bool = True) -> dict:
    """Per-node latency of the model at ``model_path`` (a path, or the model's bytes): see the module doc.

    ``make_interpreter(model_content: bytes)`` returns an interpreter, not allocated, with the bench
    row's options (:func:`content_factory` makes one from a ``Runtime``); ``sample`` is one input in the
    model's input dtype and shape (or a list, one per input). Returns a JSON-able dict."""
    from edgenets.bench.graph import load, trivial_model

    if int(rounds) < 1:
        raise InputError(f"rounds must be at least 1. Received: {rounds}")
    if not min_seconds >= 0:
        raise InputError(f"min_seconds must be >= 0. Received: {min_seconds}")
    started = time.perf_counter()
    graph = load(model_path)
    feeds = _as_feeds(sample)
    n = len(graph)

    whole = _start_or_fail(make_interpreter, graph.content, feeds, f"{graph.source}: the interpreter rejected the model")
    overhead = _start_or_fail(make_interpreter, trivial_model(), [np.zeros(1, np.float32)],
                              "the per-invoke overhead model (one float32 ADD) could not run")
    prefixes = [_start_or_fail(make_interpreter, graph.prefix(k).content, feeds,
                               f"{graph.source}: the model cut after node {k} ({graph.op_name(k)}) could not run")
                for k in range(n - 1)] + [whole]
    singles: list[Optional[_Timed]] = [None] * n
    failures: dict[int, str] = {}
    one_op_feeds: dict[int, list] = {}
    if validate:
        singles, failures, one_op_feeds = _start_singles(graph, make_interpreter, type(whole.interpreter), feeds)

    _sweep(_order(overhead, prefixes, singles), int(rounds), float(min_seconds))
    profile = _assemble(graph, overhead, prefixes, singles, failures, validate=validate, rounds=int(rounds))
    if validate:
        suspects = [node["index"] for node in profile["nodes"] if "disagree" in node["flags"]]
        if suspects:
            profile = _recheck(graph, make_interpreter, feeds, one_op_feeds, suspects, overhead, prefixes, singles,
                               failures, rounds=int(rounds), min_seconds=float(min_seconds), first=profile)
    profile["seconds"] = round(time.perf_counter() - started, 3)
    return profile


def _order(overhead: _Timed, prefixes: Sequence[_Timed], singles: Sequence[Optional[_Timed]],
           extra: Optional[dict] = None) -> list[_Timed]:
    """The visiting order of a round: the overhead model at both ends (sampled early and late), and
    in between each cut followed by its node's one-op model (and by the second instances of ``extra``,
    keyed like ``("cut", k)`` / ``("one", k)``)."""
    extra = extra or {}
    order: list[_Timed] = [overhead]
    for k, cut in enumerate(prefixes):
        order.append(cut)
        order.extend([extra[("cut", k)]] if ("cut", k) in extra else [])
        order.extend([singles[k]] if singles[k] is not None else [])
        order.extend([extra[("one", k)]] if ("one", k) in extra else [])
    order.append(overhead)
    return order


def _recheck(graph: Any, make: Factory, feeds: Sequence[np.ndarray], one_op_feeds: dict[int, list],
             suspects: Sequence[int], overhead: _Timed, prefixes: list, singles: list, failures: dict[int, str], *,
             rounds: int, min_seconds: float, first: dict) -> dict:
    """A second opinion for the nodes whose two measurements disagree. An interpreter *instance* can be
    slow for reasons of its own (observed: one cut 40 % slower, steadily, round after round, than the
    cuts either side of it and than a fresh copy of itself), which shows as a node that disagrees and a
    neighbour that disagrees the other way. So the cuts either side of each such node and its one-op
    model get a fresh instance; all interpreters are timed again, the new ones next to the old, and a
    twice-instanced model counts the faster of its two instances in each round (an unlucky instance is
    slow, never fast). The profile is assembled from this second sweep alone."""
    wanted: dict = {}
    for k in suspects:
        for j in (k - 1, k):
            if j >= 0:
                wanted[("cut", j)] = lambda j=j: (graph.content if j == len(graph) - 1 else graph.prefix(j).content, feeds)
        if singles[k] is not None:
            wanted[("one", k)] = lambda k=k: (graph.single(k).content, one_op_feeds[k])
    extra: dict = {}
    for key, source in wanted.items():
        try:
            extra[key] = _start(make, *source())
        except Exception:  # noqa: BLE001 - it ran once already; without a second instance the first stands
            continue
    everything = [overhead, *prefixes, *(s for s in singles if s is not None)]
    for timed in everything:
        timed.rounds.clear()
    _sweep(_order(overhead, prefixes, singles, extra), rounds, min_seconds)
    prefixes = [_faster(p, extra[("cut", j)]) if ("cut", j) in extra else p for j, p in enumerate(prefixes)]
    singles = [_faster(s, extra[("one", k)]) if ("one", k) in extra else s for k, s in enumerate(singles)]
    profile = _assemble(graph, overhead, prefixes, singles, failures, validate=True, rounds=rounds)
    still = [node["index"] for node in profile["nodes"] if "disagree" in node["flags"]]
    profile["validation"]["recheck"] = {
        "first_disagree": list(suspects),
        "first_ok": first["validation"]["ok"],
        "reinstanced_cuts": sorted(j for kind, j in extra if kind == "cut"),
        "reinstanced_one_op": sorted(k for kind, k in extra if kind == "one"),
        "still_disagree": still,
    }
    profile["validation"]["note"] += (f" (after a second sweep with fresh instances for the {len(suspects)} nodes that "
                                      f"disagreed at first: {', '.join(map(str, suspects))})")
    return profile


def _faster(a: _Timed, b: _Timed) -> _Timed:
    """One model timed through two interpreter instances: in each round, the faster one's median."""
    return _Timed(a.interpreter, [[min(float(np.median(x)), float(np.median(y)))] for x, y in zip(a.rounds, b.rounds)])


def _start_or_fail(make: Factory, content: bytes, feeds: Sequence[np.ndarray], what: str) -> _Timed:
    try:
        return _start(make, content, feeds)
    except EdgenetsError:
        raise
    except Exception as exc:  # noqa: BLE001 - the runtime raises RuntimeError / ValueError with native text
        raise EdgenetsError(f"{what}: {first_line(exc)}") from exc


def _start_singles(graph: Any, make: Factory, cls: type, feeds: Sequence[np.ndarray]) -> tuple[list, dict, dict]:
    """One-op interpreters fed with the full model's activations, with the reasons of the nodes that
    cannot stand alone (recorded instead of failing the profile) and each node's input values."""
    derived = [graph.single(k) for k in range(len(graph))]
    try:
        values = _capture(cls, graph.content, feeds, {t for d in derived for t in d.inputs})
    except EdgenetsError:
        raise
    except Exception as exc:  # noqa: BLE001 - native runtime errors
        raise EdgenetsError(f"{graph.source}: capturing the activations for the one-op models failed: "
                            f"{first_line(exc)}; profile with validate=False") from exc
    singles: list[Optional[_Timed]] = []
    failures: dict[int, str] = {}
    inputs = {k: [values[t] for t in d.inputs] for k, d in enumerate(derived)}
    for k, d in enumerate(derived):
        try:
            singles.append(_start(make, d.content, inputs[k]))
        except Exception as exc:  # noqa: BLE001 - any runtime refusal is a finding about that node
            singles.append(None)
            failures[k] = first_line(exc)
    return singles, failures, inputs


def _assemble(graph: Any, overhead: _Timed, prefixes: Sequence[_Timed], singles: Sequence[Optional[_Timed]],
              failures: dict[int, str], *, validate: bool, rounds: int) -> dict:
    overhead_us = overhead.median_us()
    cut_us = np.array([p.median_us() for p in prefixes])
    total_us = float(cut_us[-1])
    node_us = np.diff(np.concatenate([[overhead_us], cut_us]))
    per_round = np.stack([overhead.round_us()] + [p.round_us() for p in prefixes], axis=1)  # rounds x (n+1)
    round_diffs = np.diff(per_round, axis=1)
    nodes = []
    for k in range(len(graph)):
        single = singles[k]
        one_op = None if single is None else single.median_us() - overhead_us
        outputs = graph.node_outputs(k)
        spread = _iqr(round_diffs[:, k])
        node = {
            "index": k,
            "op": graph.op_name(k),
            "output_shape": graph.tensor_shape(outputs[0]) if outputs else [],
            "us": float(node_us[k]),
            "share": float(node_us[k] / total_us) if total_us > 0 else None,
            "one_op_us": None if one_op is None else float(one_op),
            "spread_us": spread,
            "cut_us": float(cut_us[k]),
            "tolerance_us": None if one_op is None else node_tolerance_us(float(node_us[k]), float(one_op),
                                                                           float(cut_us[k]), spread),
            "delegated": None,  # filled by the caller (edgenets.bench.delegation)
            "flags": [],
        }
        node["flags"] = _flags(node, failures.get(k), validate)
        if k in failures:
            node["one_op_error"] = failures[k]
        nodes.append(node)
    return {
        "method": METHOD,
        "total_us": total_us,
        "total_spread_us": _iqr(per_round[:, -1]),
        "overhead_us": overhead_us,
        "rounds": rounds,
        "seconds": None,  # set by profile_model
        "nodes": nodes,
        "by_type": _by_type(nodes, total_us),
        "validation": _validation(nodes, total_us, overhead_us) if validate else
        {"ok": None, "note": "not validated (validate=False): the prefix differences add up to the whole by construction"},
    }


def node_tolerance_us(us: float, one_op_us: float, cut_us: float, spread_us: float) -> float:
    """How far a node's two measurements may differ and still agree (see the module doc): a floor,
    a share of the node's own time, a share of the time of the cut that ends at it, and the node's
    own round-to-round spread."""
    return NODE_ABS_TOL_US + NODE_REL_TOL * max(abs(us), abs(one_op_us)) + CUT_REL_TOL * abs(cut_us) + spread_us


def _flags(node: dict, failure: Optional[str], validate: bool) -> list[str]:
    flags = []
    us, spread = node["us"], node["spread_us"]
    if us < 0:
        flags.append("negative")
    if spread > NOISY_REL * abs(us) and spread > NOISY_FLOOR_US:
        flags.append("noisy")
    if validate and failure is not None:
        flags.append("one-op failed")
    elif node["one_op_us"] is not None and abs(us - node["one_op_us"]) > node["tolerance_us"]:
        flags.append("disagree")
    return flags


def _by_type(nodes: Sequence[dict], total_us: float) -> list[dict]:
    groups: dict[str, dict] = {}
    for node in nodes:
        g = groups.setdefault(node["op"], {"op": node["op"], "count": 0, "us": 0.0})
        g["count"] += 1
        g["us"] += node["us"]
    for g in groups.values():
        g["share"] = g["us"] / total_us if total_us > 0 else None
    return sorted(groups.values(), key=lambda g: -g["us"])


def _validation(nodes: Sequence[dict], total_us: float, overhead_us: float) -> dict:
    measured = [n for n in nodes if n["one_op_us"] is not None]
    one_op_sum = float(sum(n["one_op_us"] for n in measured))
    sum_diff = one_op_sum + overhead_us - total_us
    sum_ok = len(measured) == len(nodes) and abs(sum_diff) <= SUM_REL_TOL * total_us
    diffs = [abs(n["us"] - n["one_op_us"]) for n in measured]
    flagged = [{"index": n["index"], "op": n["op"], "flags": n["flags"]} for n in nodes if n["flags"]]
    disagree = [n for n in nodes if "disagree" in n["flags"] or "one-op failed" in n["flags"]]
    ok = sum_ok and not disagree
    if ok:
        note = f"one-op times agree with the prefix differences for all {len(nodes)} nodes and in sum"
    else:
        parts = []
        if not sum_ok:
            parts.append(f"one-op sum + overhead is {one_op_sum + overhead_us:.1f} us against {total_us:.1f} us for the whole"
                         if len(measured) == len(nodes) else f"{len(nodes) - len(measured)} nodes could not run alone")
        if disagree:
            parts.append(f"{len(disagree)} of {len(nodes)} nodes disagree beyond the tolerance: "
                         + ", ".join(f"{n['index']} {n['op']}" for n in disagree[:8]) + (" ..." if len(disagree) > 8 else ""))
        note = "; ".join(parts)
    return {
        "tolerance": {"node_abs_us": NODE_ABS_TOL_US, "node_rel": NODE_REL_TOL, "cut_rel": CUT_REL_TOL,
                      "sum_rel": SUM_REL_TOL, "rule": TOLERANCE_RULE},
        "one_op_sum_us": one_op_sum,
        "whole_us": total_us,
        "overhead_us": overhead_us,
        "sum_diff_us": sum_diff,
        "sum_ratio": (one_op_sum + overhead_us) / total_us if total_us > 0 else None,
        "sum_ok": sum_ok,
        "max_node_diff_us": max(diffs) if diffs else None,
        "nodes_agreeing": len(measured) - len([n for n in measured if "disagree" in n["flags"]]),
        "nodes": len(nodes),
        "ok": ok,
        "flagged": flagged,
        "note": note,
    }


# -- tables --------------------------------------------------------------------------------------------------
def _r(x: Optional[float], digits: int) -> Optional[float]:
    return None if x is None else round(float(x), digits)


def profile_rows(profile: dict, top: int = 10) -> list[list]:
    """"Top by computation time": the ``top`` slowest nodes (None: all), with the cumulative share."""
    nodes = sorted(profile["nodes"], key=lambda n: -n["us"])
    if top is not None:
        nodes = nodes[: int(top)]
    total, cumulative, rows = profile["total_us"], 0.0, []
    for n in nodes:
        cumulative += n["us"]
        rows.append([n["index"], n["op"], "x".join(map(str, n["output_shape"])), _r(n["us"], 2),
                     _r(100 * n["us"] / total, 1) if total > 0 else None,
                     _r(100 * cumulative / total, 1) if total > 0 else None,
                     _r(n["one_op_us"], 2), _r(n["spread_us"], 2), " ".join(n["flags"])])
    return rows


def by_type_rows(profile: dict) -> list[list]:
    """"Summary by node type", then the per-invoke overhead, so the % column adds up to 100."""
    total, cumulative, rows = profile["total_us"], 0.0, []
    entries = [(g["op"], g["count"], g["us"]) for g in profile["by_type"]]
    entries.append((OVERHEAD_ROW, None, profile["overhead_us"]))
    for op, count, us in entries:
        cumulative += us
        rows.append([op, count, _r(us, 2), _r(100 * us / total, 1) if total > 0 else None,
                     _r(100 * cumulative / total, 1) if total > 0 else None])
    return rows
