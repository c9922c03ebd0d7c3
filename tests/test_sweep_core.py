"""The sweep's Ray-free core: the search space (edgenets/sweep/space.py) and the front, budget and
recommendation (edgenets/sweep/front.py). Fast: no TensorFlow, no Ray."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgenets.errors import InputError, MissingDependencyError
from edgenets.models import list_models
from edgenets.sweep.front import (Budget, Candidate, candidates_from_rows, closest, decide, dominates, pareto_front,
                                  recommend, within_budget)
from edgenets.sweep.space import Trial, build_space, load_space, read_space_file, space_from_options


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.strip() == text, text
    return text


# ------------------------------------------------------------------ space: expansion

def test_grid_is_every_combination_in_product_order():
    space = space_from_options("mobilenet,mobilenet_v2", alpha="0.25,0.5,1.0", epochs="4", seed=[0, 1],
                               precisions="float32,int8")
    trials = space.grid()
    assert space.size == len(trials) == 2 * 3 * 2
    expected = list(itertools.product(["mobilenet", "mobilenet_v2"], [0.25, 0.5, 1.0], [0, 1]))
    assert [(t.model, t.alpha, t.seed) for t in trials] == expected
    assert all(t.epochs == 4 and t.precisions == ("float32", "int8") for t in trials)
    assert len({t.id for t in trials}) == len(trials)
    assert space.trials() == trials


def test_defaults_leave_the_recipe_in_charge():
    (trial,) = space_from_options("mobilenet").grid()
    assert (trial.alpha, trial.recipe, trial.epochs, trial.batch_size, trial.augment, trial.seed) == \
        (1.0, "default", None, None, None, 0)
    assert (trial.dataset, trial.val_split, trial.preprocessing, trial.limit) == ("mnist", 0.1, "pixels/255", None)
    assert trial.precisions == ("float32", "int8")


def test_every_registered_model_is_accepted():
    space = space_from_options(",".join(list_models()))
    assert [t.model for t in space.grid()] == list_models()


def test_repeated_values_count_once():
    space = space_from_options("mobilenet,mobilenet", alpha=[0.5, "0.5", 0.5])
    assert space.size == 1


def test_random_sampling_is_seeded_distinct_and_from_the_grid():
    base = {"models": "mobilenet,mobilenet_v2,shufflenet", "alpha": "0.25,0.5,0.75,1.0", "seed": "0,1,2",
            "search": "random", "num_samples": 7}
    first = build_space({**base, "sampling_seed": 3}).trials()
    again = build_space({**base, "sampling_seed": 3}).trials()
    other = build_space({**base, "sampling_seed": 4}).trials()
    grid_ids = {t.id for t in build_space({k: v for k, v in base.items() if k not in ("search", "num_samples")}).grid()}
    assert len(first) == 7 and len({t.id for t in first}) == 7
    assert [t.id for t in first] == [t.id for t in again]
    assert {t.id for t in first} <= grid_ids
    assert [t.id for t in first] != [t.id for t in other]


def test_random_sampling_of_the_whole_space_is_a_permutation_of_the_grid():
    space = build_space({"models": "mobilenet,shufflenet_v2", "alpha": "0.5,1", "search": "random", "num_samples": 4})
    assert sorted(t.id for t in space.trials()) == sorted(t.id for t in space.grid())


def test_trial_id_is_stable_and_depends_on_the_training_only():
    a = space_from_options("mobilenet", alpha="0.5", precisions="int8").grid()[0]
    b = space_from_options("mobilenet", alpha=0.5, precisions="float32,int8").grid()[0]
    c = space_from_options("mobilenet", alpha="0.5", epochs=3).grid()[0]
    assert a.id == b.id != c.id
    assert len(a.id) == 10 and a.id.isalnum()
    # golden: the hash of the settings must not drift, or resumed sweeps would not find their trials
    assert a.training() == {"model": "mobilenet", "alpha": 0.5, "recipe": "default", "epochs": None,
                            "batch_size": None, "augment": None, "seed": 0, "dataset": "mnist", "limit": None,
                            "val_split": 0.1, "preprocessing": "pixels/255", "data_options": {}}


def test_trial_round_trips_through_json_and_gives_train_kwargs():
    trial = space_from_options("mobilenet_v2", alpha="0.35", image_size="16x16", limit=500).grid()[0]
    row = json.loads(json.dumps(trial.as_dict()))
    assert Trial.from_dict(row) == trial and Trial.from_dict(row).id == trial.id == row["id"]
    kwargs = trial.train_kwargs()
    assert kwargs["model"] == "mobilenet_v2" and kwargs["alpha"] == 0.35 and kwargs["image_size"] == [16, 16]
    assert kwargs["limit"] == 500 and kwargs["name"] == trial.name == f"mobilenet_v2-a0.35-{trial.id}"
    assert "/" not in trial.name
    with pytest.raises(InputError) as exc:
        Trial.from_dict({**row, "alpha": 0.5})
    assert row["id"] in one_line(exc)


def test_space_as_dict_reads_back_as_the_same_space(tmp_path):
    space = build_space({"models": ["mobilenet", "shufflenet"], "alpha": [0.25, 1.0], "epochs": 2, "batch_size": [16, 32],
                         "color": "rgb", "search": "random", "num_samples": 3, "sampling_seed": 9})
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space.as_dict()))
    assert load_space(path) == space
    assert [t.id for t in load_space(path).trials()] == [t.id for t in space.trials()]


# ------------------------------------------------------------------ space: files

def test_json_file(tmp_path):
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"models": ["mobilenet", "mobilenet_v2"], "alpha": [0.25, 0.5, 1.0],
                                "precisions": ["float32", "int8"], "epochs": 4, "dataset": "mnist"}))
    space = load_space(path)
    assert space.size == 6 and {t.epochs for t in space.grid()} == {4}


YAML_TEXT = """\
models: [mobilenet, mobilenet_v2]
alpha: [0.25, 0.5]
precisions: int8
epochs: 4
search: random
num_samples: 3
"""


def test_yaml_file_with_pyyaml(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "sweep.yaml"
    path.write_text(YAML_TEXT)
    space = load_space(path)
    assert space.size == 4 and len(space.trials()) == 3 and space.precisions == ("int8",)


def test_yaml_file_goes_through_yaml_safe_load(tmp_path, monkeypatch):
    # PyYAML may not be installed here: a stand-in module shows the path is wired (safe_load, YAMLError)
    fake = types.ModuleType("yaml")

    class YAMLError(Exception):
        pass

    def safe_load(text):
        if "::" in text:
            raise YAMLError("mapping values are not allowed here\n  in line 1")
        return {"models": ["mobilenet", "mobilenet_v2"], "alpha": [0.25, 0.5], "epochs": 4}

    fake.safe_load, fake.YAMLError = safe_load, YAMLError
    monkeypatch.setitem(sys.modules, "yaml", fake)
    path = tmp_path / "sweep.yml"
    path.write_text("models: [mobilenet, mobilenet_v2]\n")
    assert load_space(path).size == 4
    path.write_text("models:: [\n")
    with pytest.raises(InputError) as exc:
        load_space(path)
    assert one_line(exc) == f"{path}: not valid YAML: mapping values are not allowed here"


def test_yaml_without_pyyaml_says_install_it_or_use_json(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml -> ImportError
    path = tmp_path / "sweep.yaml"
    path.write_text(YAML_TEXT)
    with pytest.raises(MissingDependencyError) as exc:
        load_space(path)
    text = one_line(exc)
    assert "pip install pyyaml" in text and "JSON" in text and str(path) in text


@pytest.mark.parametrize("name, content, expected", [
    ("s.json", '{"models": ["mobilenet",]}', "not valid JSON"),
    ("s.json", '["mobilenet"]', "a sweep space is a mapping"),
    ("s.json", "", "not valid JSON"),
    ("s.toml", "models = 1", "a sweep space file is .json, .yaml or .yml"),
    ("s.json", '{"models": ["mobilenet"], "alfa": [0.5]}', "unknown key 'alfa'"),
    ("s.json", '{"models": ["resnet"]}', "s.json: models: unknown model 'resnet'"),
    ("s.json", '{"models": ["mobilenet"], "alpha": [0.5, -1]}', "s.json: alpha must be > 0"),
    ("s.json", '{"models": ["mobilenet"], "dataset": ["mnist", "fashion-mnist"]}', "s.json: dataset: one value"),
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as exc:
        load_space(path)
    text = one_line(exc)
    assert expected in text and str(tmp_path) in text


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as exc:
        read_space_file(tmp_path / "nope.json")
    assert one_line(exc).endswith("nope.json: no such file")


# ------------------------------------------------------------------ space: one-line errors naming the option

@pytest.mark.parametrize("options, expected", [
    ({"models": None}, "--models: the search space has no models"),
    ({"models": ""}, "--models: no values; the search space would be empty"),
    ({"models": []}, "--models: no values"),
    ({"models": "mobilenet,,shufflenet"}, "--models: empty item"),
    ({"models": "mobilenet,resnet50"}, "--models: unknown model 'resnet50': choose one of mobilenet"),
    ({"models": "mobilenet", "alpha": ""}, "--alpha: no values"),
    ({"models": "mobilenet", "alpha": "0.5,wide"}, "--alpha must be a number. Received: 'wide'"),
    ({"models": "mobilenet", "alpha": "0"}, "--alpha must be > 0"),
    ({"models": "mobilenet", "alpha": [0.5, float("nan")]}, "--alpha must be a finite number"),
    ({"models": "mobilenet", "alpha": [True]}, "--alpha must be a number"),
    ({"models": "mobilenet", "epochs": "0"}, "--epochs must be > 0. Received: 0"),
    ({"models": "mobilenet", "epochs": "2.5"}, "--epochs must be a whole number. Received: '2.5'"),
    ({"models": "mobilenet", "epochs": [2.0]}, "--epochs must be a whole number"),
    ({"models": "mobilenet", "batch_size": "-8"}, "--batch-size must be > 0"),
    ({"models": "mobilenet", "seed": str(2**32)}, "--seed must be between 0 and 2**32 - 1"),
    ({"models": "mobilenet", "recipe": "fast"}, "--recipe: unknown recipe 'fast': choose one of"),
    ({"models": "mobilenet", "augment": "mixup"}, "--augment: unknown augmentation 'mixup'"),
    ({"models": "mobilenet", "precisions": "float32,int4"}, "--precisions: unknown precision 'int4'; choose from"),
    ({"models": "mobilenet", "precisions": ""}, "--precisions: no values"),
    ({"models": "mobilenet", "val_split": 1.0}, "--val-split must be between 0 and 1"),
    ({"models": "mobilenet", "limit": 0}, "--limit must be > 0"),
    ({"models": "mobilenet", "preprocessing": "zscore"}, "--preprocessing: unknown preprocessing 'zscore'"),
    ({"models": "mobilenet", "dataset": ""}, "--dataset must be a name"),
    ({"models": "mobilenet", "image_size": "16"}, "--image-size must be"),
    ({"models": "mobilenet", "color": "cmyk"}, "--color must be one of"),
    ({"models": "mobilenet", "search": "bayes"}, "--search: unknown search 'bayes': choose one of grid, random"),
    ({"models": "mobilenet", "search": "random"}, "--num-samples: random search needs the number of trials"),
    ({"models": "mobilenet,shufflenet", "search": "random", "num_samples": 3},
     "--num-samples must be at most the space's 2 distinct trials"),
    ({"models": "mobilenet", "search": "random", "num_samples": 0}, "--num-samples must be > 0"),
    ({"models": "mobilenet", "num_samples": 2}, "--num-samples: only random search draws a number of trials"),
    ({"models": "mobilenet", "sampling_seed": 2}, "--sampling-seed: only random search draws trials"),
    ({"models": "mobilenet", "search": "random", "num_samples": 1, "sampling_seed": -1}, "--sampling-seed must be"),
])
def test_bad_options_are_one_line_errors_naming_the_option(options, expected):
    with pytest.raises(InputError) as exc:
        space_from_options(**options)
    assert expected in one_line(exc)


def test_build_space_rejects_unknown_keys():
    with pytest.raises(InputError) as exc:
        build_space({"models": "mobilenet", "width": 0.5})
    assert "unknown key 'width'; known: models, alpha" in one_line(exc)


def test_sample_beyond_the_space_is_an_error():
    space = space_from_options("mobilenet")
    with pytest.raises(InputError) as exc:
        space.sample(2)
    assert "--num-samples" in one_line(exc)


def test_importing_the_core_loads_no_tensorflow_or_ray():
    code = ("import sys, edgenets.sweep, edgenets.sweep.space, edgenets.sweep.front; "
            "edgenets.sweep.space_from_options('mobilenet', precisions='int8').grid(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'ray', 'sklearn', 'scipy', 'pandas', 'PIL', 'yaml')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ------------------------------------------------------------------ front: Pareto

def cand(tid, acc, lat, size, precision="int8", **kw) -> Candidate:
    return Candidate(str(tid), precision, acc, lat, size, **kw)


def brute_front(cands, size):
    """Every measured candidate that no other one dominates: the O(n^2) definition."""
    ok = [c for c in cands if c.ok]

    def objs(c):
        return (-c.accuracy, c.latency_us) + ((c.size_bytes,) if size else ())

    def dom(a, b):
        return all(x <= y for x, y in zip(objs(a), objs(b))) and any(x < y for x, y in zip(objs(a), objs(b)))

    return {c.key for c in ok if not any(dom(o, c) for o in ok if o is not c)}


# small integer grids make ties (equal accuracy, latency or size, and exact duplicates) common
points = st.lists(st.tuples(st.integers(0, 6), st.integers(1, 6), st.integers(1, 6), st.booleans()), max_size=40)


@settings(max_examples=300, deadline=None)
@given(points, st.booleans(), st.randoms(use_true_random=False))
def test_front_equals_brute_force_dominance(rows, size, rnd):
    cands = [cand(i, a / 6, float(lat), s * 1000, error=None if ok else "failed")
             for i, (a, lat, s, ok) in enumerate(rows)]
    front = pareto_front(cands, size=size)
    assert {c.key for c in front} == brute_front(cands, size)
    # deterministic: the same front, in the same order, whatever the input order
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    assert pareto_front(shuffled, size=size) == front
    assert [c.latency_us for c in front] == sorted(c.latency_us for c in front)


def test_front_keeps_exact_ties_and_orders_them_by_id():
    cands = [cand("b", 0.9, 100, 10), cand("a", 0.9, 100, 10), cand("c", 0.8, 100, 10), cand("d", 0.95, 200, 5)]
    assert [c.trial_id for c in pareto_front(cands)] == ["a", "b", "d"]
    # with size: d's smaller file keeps it; without size too (more accurate); c is dominated either way
    assert [c.trial_id for c in pareto_front(cands, size=True)] == ["a", "b", "d"]


def test_size_objective_adds_smaller_slower_candidates():
    fast_big = cand("fast", 0.9, 100, 5000)
    slow_small = cand("slow", 0.9, 200, 1000)
    assert pareto_front([fast_big, slow_small]) == [fast_big]
    assert pareto_front([fast_big, slow_small], size=True) == [fast_big, slow_small]
    assert dominates(fast_big, slow_small) and not dominates(fast_big, slow_small, size=True)


def test_failed_candidates_stay_out_of_the_front():
    cands = [cand("a", 0.9, 100, 10), cand("x", None, None, None, error="export failed: op not supported"),
             cand("y", 0.99, float("nan"), 10)]
    assert [c.trial_id for c in pareto_front(cands)] == ["a"]


# ------------------------------------------------------------------ budget and recommendation

CANDS = [
    cand("m1", 0.990, 300.0, 900 * 1024, "float32", model="mobilenet", alpha=1.0),
    cand("m1", 0.988, 120.0, 240 * 1024, "int8", model="mobilenet", alpha=1.0),
    cand("m2", 0.985, 90.0, 80 * 1024, "int8", model="mobilenet", alpha=0.5),
    cand("m3", 0.985, 90.0, 60 * 1024, "int8", model="mobilenet_v2", alpha=0.5),  # ties m2, smaller
    cand("m4", 0.960, 40.0, 30 * 1024, "int8", model="shufflenet", alpha=0.25),
    cand("m5", None, None, None, "int8", model="shufflenet_v2", alpha=1.0, error="training diverged"),
]


def test_budget_filters_latency_and_size():
    budget = Budget(max_latency_us=150, max_size_kb=100)
    assert [c.key for c in within_budget(CANDS, budget)] == [("m3", "int8"), ("m2", "int8"), ("m4", "int8")]
    assert [c.key for c in within_budget(CANDS, Budget(max_latency_us=150))] == \
        [("m1", "int8"), ("m3", "int8"), ("m2", "int8"), ("m4", "int8")]
    assert len(within_budget(CANDS, Budget())) == 5  # no limits: every measured candidate
    # the limit itself fits; size in KiB
    assert Budget(max_latency_us=90, max_size_kb=60).fits(CANDS[3])


def test_recommendation_is_the_most_accurate_within_budget_then_faster_then_smaller():
    assert recommend(CANDS, Budget(max_latency_us=150, max_size_kb=512)).key == ("m1", "int8")
    # m2 and m3 tie on accuracy and latency: the smaller wins
    assert recommend(CANDS, Budget(max_latency_us=100)).key == ("m3", "int8")
    faster = cand("m6", 0.985, 85.0, 70 * 1024, model="mobilenet", alpha=0.5)
    assert recommend(CANDS + [faster], Budget(max_latency_us=100)).key == ("m6", "int8")
    assert recommend(CANDS, Budget()).key == ("m1", "float32")


def test_decision_with_a_fitting_candidate():
    decision = decide(CANDS, Budget(max_latency_us=100, max_size_kb=512))
    assert decision.recommended.key == ("m3", "int8") and decision.closest == []
    assert [c.key for c in decision.failed] == [("m5", "int8")] and decision.measured == 5
    assert decision.recommended in decision.front
    line = decision.summary()
    assert "\n" not in line and line.startswith("recommended mobilenet_v2 alpha 0.5 int8 (trial m3)")
    assert "3 of 5 measured candidates fit p50 <= 100 us and size <= 512 KiB" in line
    doc = json.loads(json.dumps(decision.as_dict()))
    assert doc["recommended"]["trial_id"] == "m3" and doc["failed"][0]["error"] == "training diverged"


def test_nothing_fits_reports_the_closest_without_raising():
    budget = Budget(max_latency_us=50, max_size_kb=20)
    decision = decide(CANDS, budget, closest_k=2)
    assert decision.recommended is None and decision.fitting == []
    m4 = decision.closest[0]
    # m4: 40 us fits, 30 KiB is 50 % over 20 KiB -> overshoot 0.5
    assert m4.candidate.key == ("m4", "int8")
    assert math.isclose(m4.overshoot, 0.5) and math.isclose(m4.size_excess, 0.5)
    assert math.isclose(m4.latency_excess, 40 / 50 - 1)
    # m2/m3: 90 us is 80 % over, sizes 300 % and 200 % over -> m3 (2.0) comes next
    assert decision.closest[1].candidate.key == ("m3", "int8") and math.isclose(decision.closest[1].overshoot, 2.0)
    assert decision.summary() == ("no candidate fits p50 <= 50 us and size <= 20 KiB; closest: shufflenet alpha 0.25 "
                                  "int8 (trial m4) 50% over; mobilenet_v2 alpha 0.5 int8 (trial m3) 200% over")


def test_closest_ties_go_to_the_more_accurate():
    cands = [cand("a", 0.90, 110, 10), cand("b", 0.95, 110, 10), cand("c", 0.99, 220, 10)]
    assert [m.candidate.trial_id for m in closest(cands, Budget(max_latency_us=100))] == ["b", "a", "c"]


def test_no_measured_candidate():
    decision = decide([CANDS[-1]], Budget(max_latency_us=100))
    assert decision.recommended is None and decision.closest == [] and decision.front == []
    assert decision.summary() == "no candidate was measured (1 failed)"
    assert decide([], Budget()).summary() == "no candidate was measured (0 failed)"


@settings(max_examples=200, deadline=None)
@given(points, st.integers(1, 7), st.integers(1, 7))
def test_recommendation_fits_is_on_the_front_and_beats_every_fitting_candidate(rows, max_lat, max_kib):
    cands = [cand(i, a / 6, float(lat), s * 1024, error=None if ok else "failed")
             for i, (a, lat, s, ok) in enumerate(rows)]
    budget = Budget(max_latency_us=max_lat, max_size_kb=max_kib)
    decision = decide(cands, budget)
    fitting = [c for c in cands if c.ok and c.latency_us <= max_lat and c.size_bytes <= max_kib * 1024]
    assert {c.key for c in decision.fitting} == {c.key for c in fitting}
    if fitting:
        best = decision.recommended
        assert best.key in brute_front(cands, size=True)
        assert all((best.accuracy, -best.latency_us, -best.size_bytes) >= (c.accuracy, -c.latency_us, -c.size_bytes)
                   for c in fitting)
        assert decision.closest == []
    else:
        assert decision.recommended is None
        assert all(m.overshoot > 0 for m in decision.closest)
        assert [m.overshoot for m in decision.closest] == sorted(m.overshoot for m in decision.closest)
        assert len(decision.closest) == min(3, sum(c.ok for c in cands))


# ------------------------------------------------------------------ candidate rows

def test_candidates_from_rows_reads_bench_style_rows():
    rows = [{"trial_id": "t1", "precision": "int8", "accuracy": 0.98, "p50_us": 120.5, "size_bytes": 2048,
             "model": "mobilenet", "alpha": 0.5, "run_dir": "sweeps/x/t1"},
            {"trial_id": "t2", "precision": "int8", "accuracy": None, "latency_us": None, "size_bytes": None,
             "error": "bench: model failed to load"}]
    first, second = candidates_from_rows(rows)
    assert first.latency_us == 120.5 and first.extra == {"run_dir": "sweeps/x/t1"} and first.ok
    assert first.as_dict()["run_dir"] == "sweeps/x/t1"
    assert not second.ok and second.error.startswith("bench:")


@pytest.mark.parametrize("rows, expected", [
    ([{"precision": "int8"}], "candidate 0: trial_id must be a non-empty string"),
    ([{"trial_id": "t", "precision": "int8", "accuracy": "high"}], "candidate 0: accuracy must be a number or null"),
    ([{"trial_id": "t", "precision": "int8", "latency_us": -3}], "candidate 0: latency_us must be >= 0"),
    ([{"trial_id": "t", "precision": "int8"}, {"trial_id": "t", "precision": "int8"}], "candidate 1: trial t int8 appears twice"),
    (["t"], "candidate 0: a candidate is a mapping"),
])
def test_bad_candidate_rows_are_one_line_errors(rows, expected):
    with pytest.raises(InputError) as exc:
        candidates_from_rows(rows)
    assert expected in one_line(exc)


@pytest.mark.parametrize("kwargs, expected", [
    ({"max_latency_us": 0}, "--max-latency-us must be a finite number > 0. Received: 0"),
    ({"max_latency_us": float("inf")}, "--max-latency-us must be a finite number > 0. Received: inf"),
    ({"max_size_kb": -1}, "--max-size-kb must be a finite number > 0. Received: -1"),
    ({"max_size_kb": "512"}, "--max-size-kb must be a finite number > 0. Received: '512'"),
])
def test_bad_budgets_are_one_line_errors(kwargs, expected):
    with pytest.raises(InputError) as exc:
        Budget(**kwargs)
    assert one_line(exc) == expected
