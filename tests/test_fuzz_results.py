"""Property-based tests for the results-JSON reader: what validate() accepts, compare/render can use."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgenets.bench import results
from edgenets.bench.render import render_compare
from edgenets.errors import InputError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

LATENCY = {"mean_us": 10.0, "std_us": 1.0, "min_us": 8.0, "p50_us": 9.5, "p90_us": 11.0, "p99_us": 14.0, "runs": 100,
           "max_us": 20.0, "images_per_s": 1e5}
VALID = {
    "schema": results.SCHEMA,
    "environment": {"hostname": "pi", "machine": "aarch64", "cpu": "Cortex-A76", "runtime": "litert",
                    "runtime_version": "2.3.0", "threads": [1]},
    "results": [
        {"model": "m", "path": "m/model_float32.tflite", "precision": "float32", "threads": 1, "status": "ok",
         "sha256": "ab", "size_bytes": 100, "metrics": {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9},
         "latency": LATENCY, "memory": {"peak_rss_increase_bytes": 1000}},
        {"model": "m", "path": "m/model_int8.tflite", "precision": "int8", "threads": 1, "status": "error",
         "error": "cannot load"},
    ],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**6) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


ALL_PATHS = [p for p in _paths(VALID) if p]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), st.booleans(), json_values), min_size=1, max_size=3))
def test_mutated_documents_are_rejected_cleanly_or_usable(mutations):
    doc = copy.deepcopy(VALID)
    for path, delete, value in mutations:
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the way there
    try:
        checked = results.validate(json.loads(json.dumps(doc)), "fuzz.json")
    except InputError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    for fmt in ("table", "json", "csv", "md"):
        assert render_compare([("fuzz.json", checked), ("again.json", checked)], fmt)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_files(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("r") / "r.json"
    path.write_text(text)
    try:
        results.load(path)
    except InputError as exc:
        assert str(path) in str(exc)
