"""Which candidate to ship: the Pareto front, the budget, the recommendation.

A *candidate* is one trial's model exported at one precision and measured: test accuracy, p50
latency on the target (microseconds) and .tflite size (bytes). :func:`decide` returns a
:class:`Decision`: the Pareto front of accuracy (max) vs latency (min) and, by default, size (min);
the candidates within the :class:`Budget`; the recommended one -- the most accurate within budget,
ties to the faster, then the smaller; and, when nothing fits, the closest candidates instead of an
error. A failed candidate (no accuracy or latency, with its reason) is kept in ``failed`` and takes
no part in the rest.

"Closest" is the smallest *overshoot*: the largest relative excess over the budget's limits,
``max(latency / max_latency - 1, size / max_size - 1)``; ties go to the more accurate, then faster,
then smaller. Every list is in a fixed order whatever the input order: candidates with equal numbers
are ordered by trial id and precision. Sizes are in KiB (1024 bytes), as in the bench tables.

Pure Python: no TensorFlow, no Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from edgenets.errors import InputError

KIB = 1024


@dataclass(frozen=True)
class Candidate:
    """One measured (trial, precision). ``latency_us`` is the p50 on the target; ``error`` says why a
    candidate has no numbers (a failed training, export or bench)."""

    trial_id: str
    precision: str
    accuracy: Optional[float]
    latency_us: Optional[float]
    size_bytes: Optional[int]
    model: str = ""
    alpha: Optional[float] = None
    error: Optional[str] = None
    extra: dict = field(default_factory=dict, compare=False)  # run_dir, tflite path, ... carried along

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def key(self) -> tuple[str, str]:
        return (self.trial_id, self.precision)

    @property
    def ok(self) -> bool:
        """Measured: no error, and all three numbers present and finite."""
        return self.error is None and all(isinstance(v, (int, float)) and math.isfinite(v)
                                          for v in (self.accuracy, self.latency_us, self.size_bytes))

    @property
    def label(self) -> str:
        parts = [self.model] if self.model else []
        if self.alpha is not None:
            parts.append(f"alpha {self.alpha:g}")
        return " ".join([*parts, self.precision, f"(trial {self.trial_id})"])

    def as_dict(self) -> dict:
        return {"trial_id": self.trial_id, "precision": self.precision, "model": self.model, "alpha": self.alpha,
                "accuracy": self.accuracy, "latency_us": self.latency_us, "size_bytes": self.size_bytes,
                "error": self.error, **self.extra}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], where: str = "candidate") -> "Candidate":
        """A candidate from a results row; ``p50_us`` is read as ``latency_us``; other keys go to ``extra``."""
        if not isinstance(row, Mapping):
            raise InputError(f"{where}: a candidate is a mapping, not {type(row).__name__}")
        row = dict(row)
        if "latency_us" not in row and "p50_us" in row:
            row["latency_us"] = row.pop("p50_us")
        for key in ("trial_id", "precision"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise InputError(f"{where}: {key} must be a non-empty string. Received: {row.get(key)!r}")
        for key in ("accuracy", "latency_us", "size_bytes", "alpha"):
            value = row.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise InputError(f"{where}: {key} must be a number or null. Received: {value!r}")
            if isinstance(value, (int, float)) and value < 0:
                raise InputError(f"{where}: {key} must be >= 0. Received: {value!r}")
        known = ("trial_id", "precision", "accuracy", "latency_us", "size_bytes", "model", "alpha", "error")
        return cls(row["trial_id"], row["precision"], row.get("accuracy"), row.get("latency_us"),
                   row.get("size_bytes"), str(row.get("model") or ""), row.get("alpha"), row.get("error"),
                   {k: v for k, v in row.items() if k not in known})


def candidates_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Candidate]:
    """Rows (dicts) as candidates; an error names the row; a repeated (trial_id, precision) is an error."""
    out: list[Candidate] = []
    seen: set = set()
    for i, row in enumerate(rows):
        cand = Candidate.from_dict(row, where=f"candidate {i}")
        if cand.key in seen:
            raise InputError(f"candidate {i}: trial {cand.trial_id} {cand.precision} appears twice")
        seen.add(cand.key)
        out.append(cand)
    return out


# ------------------------------------------------------------------ the front

def _objectives(c: Candidate, size: bool) -> tuple:
    """Every objective as "smaller is better"."""
    return (-c.accuracy, c.latency_us, c.size_bytes) if size else (-c.accuracy, c.latency_us)


def dominates(a: Candidate, b: Candidate, *, size: bool = False) -> bool:
    """``a`` is at least as good as ``b`` in every objective and better in one."""
    oa, ob = _objectives(a, size), _objectives(b, size)
    return all(x <= y for x, y in zip(oa, ob)) and oa != ob


def front_order(c: Candidate) -> tuple:
    """The front's reading order: fastest first; equal latency, the more accurate, then smaller; then by id."""
    return (c.latency_us, -c.accuracy, c.size_bytes, c.trial_id, c.precision)


def pareto_front(candidates: Iterable[Candidate], *, size: bool = False) -> list[Candidate]:
    """The measured candidates no other one dominates (accuracy max, latency min, and size min when
    ``size``), in :func:`front_order`. Candidates with identical numbers are all kept (neither dominates).

    Sorting by (latency, -accuracy, size) puts every dominator before what it dominates, and dominance is
    transitive, so a candidate need only be checked against the front kept so far: O(n log n + n * front).
    """
    kept: list[Candidate] = []
    for cand in sorted((c for c in candidates if c.ok), key=front_order):
        if not any(dominates(f, cand, size=size) for f in kept):
            kept.append(cand)
    return kept


# ------------------------------------------------------------------ budget

@dataclass(frozen=True)
class Budget:
    """The target's limits; None: no limit on that axis."""

    max_latency_us: Optional[float] = None
    max_size_kb: Optional[float] = None  # KiB

    def __post_init__(self) -> None:
        for name, value in (("--max-latency-us", self.max_latency_us), ("--max-size-kb", self.max_size_kb)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InputError(f"{name} must be a finite number > 0. Received: {value!r}")

    @property
    def max_size_bytes(self) -> Optional[float]:
        return None if self.max_size_kb is None else self.max_size_kb * KIB

    def excess(self, c: Candidate) -> dict:
        """Relative excess over each limit (0.25: 25 % over; negative: under; None: no limit)."""
        lat = None if self.max_latency_us is None else c.latency_us / self.max_latency_us - 1.0
        size = None if self.max_size_bytes is None else c.size_bytes / self.max_size_bytes - 1.0
        return {"latency": lat, "size": size}

    def overshoot(self, c: Candidate) -> float:
        """The largest relative excess over a limit; 0 when the candidate fits."""
        return max([0.0, *(v for v in self.excess(c).values() if v is not None)])

    def fits(self, c: Candidate) -> bool:
        return c.ok and (self.max_latency_us is None or c.latency_us <= self.max_latency_us) and \
            (self.max_size_bytes is None or c.size_bytes <= self.max_size_bytes)

    def describe(self) -> str:
        parts = []
        if self.max_latency_us is not None:
            parts.append(f"p50 <= {self.max_latency_us:g} us")
        if self.max_size_kb is not None:
            parts.append(f"size <= {self.max_size_kb:g} KiB")
        return " and ".join(parts) or "no budget"

    def as_dict(self) -> dict:
        return {"max_latency_us": self.max_latency_us, "max_size_kb": self.max_size_kb}


def rank_order(c: Candidate) -> tuple:
    """Best first: the most accurate; ties to the faster, then the smaller, then by id."""
    return (-c.accuracy, c.latency_us, c.size_bytes, c.trial_id, c.precision)


def within_budget(candidates: Iterable[Candidate], budget: Budget) -> list[Candidate]:
    """The measured candidates that fit, best first (:func:`rank_order`)."""
    return sorted((c for c in candidates if budget.fits(c)), key=rank_order)


def recommend(candidates: Iterable[Candidate], budget: Budget) -> Optional[Candidate]:
    """The most accurate candidate within budget (ties: faster, then smaller); None when nothing fits."""
    fitting = within_budget(candidates, budget)
    return fitting[0] if fitting else None


@dataclass(frozen=True)
class Miss:
    """A candidate outside the budget, and by how much (relative excess per limit, and the larger)."""

    candidate: Candidate
    overshoot: float
    latency_excess: Optional[float]
    size_excess: Optional[float]

    def as_dict(self) -> dict:
        return {**self.candidate.as_dict(), "overshoot": self.overshoot, "latency_excess": self.latency_excess,
                "size_excess": self.size_excess}


def closest(candidates: Iterable[Candidate], budget: Budget, k: int = 3) -> list[Miss]:
    """The ``k`` measured candidates outside the budget with the smallest overshoot (ties: rank_order)."""
    misses = [c for c in candidates if c.ok and not budget.fits(c)]
    misses.sort(key=lambda c: (budget.overshoot(c), *rank_order(c)))
    out = []
    for c in misses[:k]:
        excess = budget.excess(c)
        out.append(Miss(c, budget.overshoot(c), excess["latency"], excess["size"]))
    return out


# ------------------------------------------------------------------ the decision

@dataclass(frozen=True)
class Decision:
    """Everything a sweep reports about its candidates, as data (tables and JSON render it)."""

    budget: Budget
    front: list[Candidate]
    fitting: list[Candidate]
    recommended: Optional[Candidate]
    closest: list[Miss]  # filled only when nothing fits
    failed: list[Candidate]
    measured: int
    size_objective: bool

    def summary(self) -> str:
        """One line: the recommendation, or why there is none and what comes closest."""
        if self.recommended is not None:
            c = self.recommended
            numbers = f"accuracy {c.accuracy * 100:.2f}%, p50 {c.latency_us:.1f} us, {c.size_bytes / KIB:.1f} KiB"
            if self.budget.max_latency_us is None and self.budget.max_size_kb is None:
                return (f"recommended {c.label}: {numbers}; the most accurate of {self.measured} measured candidates "
                        f"(no budget given: --max-latency-us, --max-size-kb)")
            return (f"recommended {c.label}: {numbers}; {len(self.fitting)} of {self.measured} measured candidates "
                    f"fit {self.budget.describe()}")
        if not self.measured:
            return f"no candidate was measured ({len(self.failed)} failed)"
        near = "; ".join(f"{m.candidate.label} {m.overshoot * 100:.0f}% over" for m in self.closest)
        return f"no candidate fits {self.budget.describe()}; closest: {near}"

    def as_dict(self) -> dict:
        return {"budget": self.budget.as_dict(),
                "objectives": ["accuracy (max)", "latency_us (min)"] + (["size_bytes (min)"] if self.size_objective else []),
                "measured": self.measured,
                "front": [c.as_dict() for c in self.front],
                "fitting": [c.as_dict() for c in self.fitting],
                "recommended": None if self.recommended is None else self.recommended.as_dict(),
                "closest": [m.as_dict() for m in self.closest],
                "failed": [c.as_dict() for c in self.failed],
                "summary": self.summary()}


def decide(candidates: Sequence[Candidate], budget: Optional[Budget] = None, *, size_objective: bool = True,
           closest_k: int = 3) -> Decision:
    """The front, what fits, the recommendation, and -- when nothing fits -- the closest ``closest_k``.
    Never raises for an unmet budget or failed candidates: that is the answer, not an error."""
    budget = budget or Budget()
    if closest_k < 0:
        raise InputError(f"closest_k must be >= 0. Received: {closest_k}")
    measured = [c for c in candidates if c.ok]
    failed = sorted((c for c in candidates if not c.ok), key=lambda c: c.key)
    fitting = within_budget(measured, budget)
    return Decision(budget=budget, front=pareto_front(measured, size=size_objective), fitting=fitting,
                    recommended=fitting[0] if fitting else None,
                    closest=[] if fitting else closest(measured, budget, closest_k),
                    failed=failed, measured=len(measured), size_objective=size_objective)
