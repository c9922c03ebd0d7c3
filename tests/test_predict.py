"""edgenets predict: real tiny models (Keras -> TFLite, built once per module), the real LiteRT interpreter.

The top-1 of every input is checked against bench's own per-image predictions and bench's confusion
matrix on the same images; a 32x32x3 model with mean-std preprocessing is checked against Keras on inputs
standardised here by hand.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_one_line_error

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
N_IMAGES = 60  # test images per source
COLOURS = ["red", "green", "blue"]


def _write_sidecar(path, **doc):
    path.with_suffix(".json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def mnist_models(tmp_path_factory, mnist_small):
    """A tiny CNN whose graph outputs logits (as `edgenets export` writes by default), float32 and int8,
    with sidecars naming the classes."""
    import keras

    from edgenets.export.convert import to_tflite
    from edgenets.export.optimize import make_dynamic_batch

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),  # logits
    ])
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(mnist_small.x_train / 255.0, mnist_small.y_train, epochs=2, batch_size=32, verbose=0)
    root = tmp_path_factory.mktemp("predict") / "tiny" / "export"
    root.mkdir(parents=True)
    paths = {}
    for precision in ("float32", "int8"):
        path = root / f"model_{precision}.tflite"
        rep = mnist_small.x_train[:64] if precision == "int8" else None
        blob, _ = make_dynamic_batch(to_tflite(model, precision, representative=rep, progress=False))  # as export does
        path.write_bytes(blob)
        _write_sidecar(path, precision=precision, labels=NAMES, preprocessing="pixels/255", graph={"output": "logits"})
        paths[precision] = path
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, mnist_small):
    """The same MNIST test images as PNG files (in nested folders), a CSV with a header and a label column,
    and an NPZ."""
    from PIL import Image

    root = tmp_path_factory.mktemp("inputs")
    x, y = mnist_small.x_test[:N_IMAGES], mnist_small.y_test[:N_IMAGES]
    folder = root / "pngs"
    files = []
    for i, img in enumerate(x):
        sub = folder / "a" if i < N_IMAGES // 2 else folder / "b" / "deep"
        sub.mkdir(parents=True, exist_ok=True)
        files.append(sub / f"img{i:03d}.png")
        Image.fromarray(img[..., 0], mode="L").save(files[-1])
    (folder / "a" / "notes.txt").write_text("not an image: ignored by the folder walk")
    with open(root / "digits.csv", "w") as f:
        f.write("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
        for label, img in zip(y, x):
            f.write(f"{label}," + ",".join(map(str, img.reshape(-1))) + "\n")
    np.savez(root / "digits.npz", x=x[..., 0])  # (N, 28, 28): one channel implied
    return {"x": x, "y": y, "folder": folder, "files": files, "csv": root / "digits.csv", "npz": root / "digits.npz",
            "root": root}


def _bench_predictions(path, images):
    """bench's own per-image predictions (edgenets.bench.evaluate, the path bench's accuracy takes)."""
    import functools

    from edgenets.bench.evaluate import predictions
    from edgenets.bench.runner import model_preprocessing, read_sidecar
    from edgenets.bench.runtime import resolve_runtime

    make = functools.partial(resolve_runtime("auto").make_interpreter, str(path))
    labels, _, _ = predictions(make, images, preprocessing=model_preprocessing(path, read_sidecar(path)))
    return labels


def _top1(doc):
    return np.array([p["top"][0]["index"] for p in doc["predictions"]])


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_top1_equals_bench_for_files_folders_csv_and_npz(run_cli, mnist_models, inputs, tmp_path, precision):
    from edgenets.bench import run_bench
    from edgenets.data import Dataset
    from edgenets.inference.metrics import classification_metrics

    model = mnist_models[precision]
    out = tmp_path / "p.json"
    res = run_cli("predict", model, inputs["files"][0], inputs["folder"], inputs["csv"], inputs["npz"],
                  "--output", out)
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    n = N_IMAGES
    names = [p["input"] for p in doc["predictions"]]
    assert len(names) == 1 + 3 * n
    assert names[1: n + 1] == [str(f) for f in sorted(inputs["files"])]  # the folder, recursively, sorted
    assert names[n + 1] == f"{inputs['csv']}[0]" and names[-1] == f"{inputs['npz']}[{n - 1}]"
    expected = _bench_predictions(model, inputs["x"])
    top1 = _top1(doc)
    order = np.argsort([str(f) for f in inputs["files"]], kind="stable")  # folder order -> image index
    assert top1[0] == expected[0]
    np.testing.assert_array_equal(top1[1: n + 1], expected[order])
    np.testing.assert_array_equal(top1[n + 1: 2 * n + 1], expected)
    np.testing.assert_array_equal(top1[2 * n + 1:], expected)
    assert [p["top"][0]["class"] for p in doc["predictions"]] == [NAMES[i] for i in top1]  # the sidecar's labels
    assert np.mean(expected == inputs["y"]) > 0.5  # a trained model: a scrambled input would show

    # and the whole bench on the same images: its confusion matrix is predict's
    data = Dataset("same", inputs["x"], inputs["y"], inputs["x"], inputs["y"], class_names=tuple(NAMES))
    bench = run_bench([model], runs=3, warmup=0, min_seconds=0.0, rounds=1, dataset=data, isolate=False)
    row = bench["results"][0]
    assert row["status"] == "ok", row["error"]
    mine = classification_metrics(inputs["y"], top1[2 * n + 1:], NAMES)
    assert row["metrics"]["confusion_matrix"] == mine["confusion_matrix"]
    assert row["metrics"]["accuracy"] == mine["accuracy"]


def test_outputs_csv_json_and_text(run_cli, mnist_models, inputs, tmp_path):
    model = mnist_models["int8"]
    res = run_cli("predict", model, inputs["npz"], "--top-k", "10", "--output", tmp_path / "p.csv")
    assert res.code == 0, res.err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "p.csv").read_text())))
    assert list(rows[0]) == ["input", "rank", "class", "index", "probability"]
    assert len(rows) == 10 * N_IMAGES
    first = rows[:10]
    assert [int(r["rank"]) for r in first] == list(range(1, 11))
    probs = [float(r["probability"]) for r in first]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)  # softmax of the logits
    assert sorted(r["class"] for r in first) == sorted(NAMES) and all(r["class"] == NAMES[int(r["index"])] for r in first)
    lines = res.out.splitlines()
    assert len(lines) == N_IMAGES and lines[0].startswith(f"{inputs['npz']}[0]: {first[0]['class']} (")
    assert "input 28x28x1" in res.err and "softmax of the logits" in res.err

    res = run_cli("predict", model, inputs["csv"], "--output", tmp_path / "p.json")  # default top-3
    assert res.code == 0, res.err
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert doc["model"]["input_size"] == "28x28x1" and doc["model"]["precision"] == "int8"
    assert doc["preprocessing"] == "pixels/255" and doc["runtime"]["name"] == "litert"
    assert doc["top_k"] == 3 and all(len(p["top"]) == 3 for p in doc["predictions"]) and doc["failed"] == []
    # the CSV's label column was ignored: its pixels give the NPZ's predictions
    npz_top1 = [int(r["index"]) for r in rows if r["rank"] == "1"]
    assert _top1(doc).tolist() == npz_top1


def test_an_unreadable_image_is_one_line_and_the_rest_are_predicted(run_cli, mnist_models, inputs, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in inputs["files"][:3]:
        shutil.copy(f, folder / f.name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    res = run_cli("predict", mnist_models["float32"], folder, tmp_path / "missing.png")
    assert res.code == 1, (res.out, res.err)
    assert len(res.out.splitlines()) == 3 and "broken.png" not in res.out
    err = [line for line in res.err.splitlines() if line.strip()]
    assert len([line for line in err if "broken.png" in line]) == 1
    assert len([line for line in err if "missing.png" in line and "file not found" in line]) == 1
    assert err[-1].startswith("error: 2 input(s) could not be read") and "Traceback" not in res.err


@pytest.mark.parametrize("case, fragments", [
    ("wide_csv", ["wide.csv", "100 pixel columns", "28x28x1", "784"]),
    ("rgb_npz", ["rgb.npz", "32x32x3", "28x28x1"]),
    ("missing_model", ["nope.tflite", "file not found"]),
    ("text_model", ["notes.tflite", "not a TFLite model"]),
    ("top_k", ["--top-k"]),
    ("output", ["--output", "unknown suffix"]),
])
def test_bad_input_is_one_line_exit_2(run_cli, mnist_models, inputs, tmp_path, case, fragments):
    model, args = mnist_models["float32"], [inputs["npz"]]
    if case == "wide_csv":
        np.savetxt(tmp_path / "wide.csv", np.zeros((3, 100)), fmt="%d", delimiter=",")
        args = [tmp_path / "wide.csv"]
    elif case == "rgb_npz":
        np.savez(tmp_path / "rgb.npz", images=np.zeros((2, 32, 32, 3), np.uint8))
        args = [tmp_path / "rgb.npz"]
    elif case == "missing_model":
        model = tmp_path / "nope.tflite"
    elif case == "text_model":
        model = tmp_path / "notes.tflite"
        model.write_text("this is not a model\n" * 10)
    elif case == "top_k":
        args += ["--top-k", "0"]
    else:
        args += ["--output", tmp_path / "p.html"]
    assert_one_line_error(run_cli("predict", model, *args), *fragments)


def test_without_a_sidecar_indices_and_a_softmax_when_outputs_do_not_sum_to_one(run_cli, mnist_models, inputs, tmp_path):
    bare = tmp_path / "bare.tflite"
    shutil.copy(mnist_models["float32"], bare)
    res = run_cli("predict", bare, inputs["npz"], "--top-k", "10", "--output", tmp_path / "p.json")
    assert res.code == 0, res.err
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["model"]["labels_from"] == "index" and doc["model"]["graph_output"] is None
    assert "do not sum to 1" in doc["probabilities"]
    top = doc["predictions"][0]["top"]
    assert [t["class"] for t in top] == [str(t["index"]) for t in top]
    assert sum(t["probability"] for t in top) == pytest.approx(1.0)
    np.testing.assert_array_equal(_top1(doc), _bench_predictions(mnist_models["float32"], inputs["x"]))


@pytest.fixture(scope="module")
def colour_models(tmp_path_factory):
    """A 32x32x3 three-class model trained on synthetic colour images (the class is the brightest channel),
    with mean-std preprocessing computed on its training images; float32 and int8."""
    import keras

    from edgenets.export.convert import to_tflite
    from edgenets.preprocessing import mean_std

    rng = np.random.RandomState(0)
    y = np.arange(300) % 3
    x = rng.randint(0, 150, size=(300, 32, 32, 3))
    x[np.arange(300), :, :, y] += 100
    x = x.astype(np.uint8)
    spec = mean_std(x[:240])
    mean, std = np.array(spec["mean"], np.float32), np.array(spec["std"], np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    model.compile(keras.optimizers.Adam(0.02), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit((x[:240] / 255.0 - mean) / std, y[:240], epochs=5, batch_size=32, verbose=0)
    root = tmp_path_factory.mktemp("colour") / "rgb" / "export"
    root.mkdir(parents=True)
    paths = {}
    for precision in ("float32", "int8"):
        path = root / f"model_{precision}.tflite"
        rep = x[:64] if precision == "int8" else None
        path.write_bytes(to_tflite(model, precision, representative=rep, progress=False, preprocessing=spec))
        _write_sidecar(path, precision=precision, labels=COLOURS, preprocessing=spec, graph={"output": "logits"})
        paths[precision] = path
    # what Keras computes on inputs standardised here, by hand
    logits = model.predict((x[240:].astype(np.float32) / 255.0 - mean) / std, verbose=0)
    return {"paths": paths, "x_test": x[240:], "y_test": y[240:], "x_train": x[:240], "y_train": y[:240],
            "logits": logits, "spec": spec}


def test_a_32x32x3_model_with_mean_std_in_predict_and_bench(run_cli, colour_models, tmp_path):
    from PIL import Image

    from edgenets.bench import run_bench
    from edgenets.bench.render import render_bench
    from edgenets.data import Dataset

    c = colour_models
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, img in enumerate(c["x_test"]):
        Image.fromarray(img, mode="RGB").save(folder / f"p{i:02d}.png")
    expected = np.exp(c["logits"] - c["logits"].max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    for precision, path in c["paths"].items():
        res = run_cli("predict", path, folder, "--top-k", "3", "--output", tmp_path / f"{precision}.json")
        assert res.code == 0, res.err
        doc = json.loads((tmp_path / f"{precision}.json").read_text())
        assert doc["preprocessing"] == c["spec"] and doc["model"]["input_size"] == "32x32x3"
        probs = np.zeros_like(expected)
        for i, p in enumerate(doc["predictions"]):
            for t in p["top"]:
                probs[i, t["index"]] = t["probability"]
            assert p["top"][0]["class"] == COLOURS[p["top"][0]["index"]]
        top1 = _top1(doc)
        np.testing.assert_array_equal(top1, _bench_predictions(path, c["x_test"]))
        if precision == "float32":
            np.testing.assert_allclose(probs, expected, atol=1e-4)
        else:
            assert np.mean(top1 == expected.argmax(1)) >= 0.9
        assert np.mean(top1 == c["y_test"]) >= 0.9  # trained; the standardisation was applied as recorded

    data = Dataset("colour", c["x_train"], c["y_train"], c["x_test"], c["y_test"], class_names=tuple(COLOURS))
    doc = run_bench(list(c["paths"].values()), runs=3, warmup=0, min_seconds=0.0, rounds=1, dataset=data, isolate=False)
    assert [r["status"] for r in doc["results"]] == ["ok", "ok"], [r["error"] for r in doc["results"]]
    assert [r["preprocessing"] for r in doc["results"]] == [c["spec"], c["spec"]]  # the sidecar's block, unchanged
    assert all(r["metrics"]["accuracy"] >= 0.9 and r["metrics"]["eval"]["image_shape"] == [32, 32, 3]
               for r in doc["results"])
    text = render_bench(doc, "table")
    header = text.split("results:")[1].splitlines()[1]
    assert "input" in header and text.count("32x32x3") >= 2
    assert "input_size" in render_bench(doc, "csv").splitlines()[0] and "32x32x3" in render_bench(doc, "csv")


def test_a_model_that_does_not_fit_the_data_says_both_shapes(colour_models, mnist_small):
    from edgenets.bench import run_bench

    doc = run_bench([colour_models["paths"]["float32"]], runs=3, warmup=0, min_seconds=0.0, rounds=1,
                    dataset=mnist_small, isolate=False, limit=20)
    row = doc["results"][0]
    assert row["status"] == "error" and "32x32x3" in row["error"] and "28x28x1" in row["error"]


PREDICT_PROBE = r"""
import json, sys
from edgenets.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "sklearn", "pandas"))
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_predict_imports_no_tensorflow(mnist_models, inputs):
    proc = subprocess.run([sys.executable, "-c", PREDICT_PROBE, "predict", str(mnist_models["int8"]), str(inputs["folder"]),
                           str(inputs["csv"])], capture_output=True, text=True, timeout=180)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}, proc.stderr


def test_a_malformed_csv_is_one_line_and_the_other_inputs_are_still_predicted(run_cli, mnist_models, inputs, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text('"' + ",".join(["0"] * 784) + "\n" + "x" * 200_000 + "\n")  # an open quote swallows the file
    res = run_cli("predict", mnist_models["int8"], bad, inputs["npz"], "--top-k", "1")
    assert res.code == 1, res.err
    assert f"{bad}: not a well-formed CSV" in res.err and "Traceback" not in res.err
    assert res.out.count("\n") >= 3  # the NPZ's images were predicted
