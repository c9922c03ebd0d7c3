"""Sweeps: which model to ship on a device budget -- the search space and the Pareto front.

``space`` turns command-line lists or a JSON/YAML file into checked trials (grid or seeded random);
``front`` takes the measured candidates (one per trial and precision) and computes the Pareto front of
accuracy vs latency (and size), the candidates within a budget, and the one to recommend. Both are pure
Python and numpy: no TensorFlow, no Ray.
"""

from edgenets.sweep.front import Budget, Candidate, Decision, Miss, decide, pareto_front
from edgenets.sweep.space import SearchSpace, Trial, build_space, load_space, space_from_options

__all__ = ["Budget", "Candidate", "Decision", "Miss", "SearchSpace", "Trial", "build_space", "decide", "load_space",
           "pareto_front", "space_from_options"]
