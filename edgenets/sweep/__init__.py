"""Sweeps: which model to ship on a device budget (``edgenets sweep``, docs/sweep.md).

``space`` turns command-line lists or a JSON/YAML file into checked trials (grid or seeded random);
``front`` takes the measured candidates (one per trial and precision) and computes the Pareto front of
accuracy vs latency (and size), the candidates within a budget, and the one to recommend; ``trial`` trains
and exports one trial, skipping what is on disk; ``tuning`` runs the trials on Ray Tune (the only module
that imports Ray); ``run`` is the whole sweep, latencies measured after the trainings; ``render`` the
tables and plot. ``space``, ``front`` and ``render`` import neither TensorFlow nor Ray.
"""

from edgenets.sweep.front import Budget, Candidate, Decision, Miss, decide, pareto_front
from edgenets.sweep.space import SearchSpace, Trial, build_space, load_space, space_from_options

__all__ = ["Budget", "Candidate", "Decision", "Miss", "SearchSpace", "Trial", "build_space", "decide", "load_space",
           "pareto_front", "space_from_options"]
