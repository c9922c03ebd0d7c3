"""Not 28x28 grey digits, end to end through the commands: train -> export --int8 -> bench -> predict.

Two data sets a user could bring: a folder of colour PNGs of mixed sizes (4 classes, generated here; the class
is the dominant colour) trained with mean-std preprocessing, and scikit-learn's 8x8 digits as an NPZ
(benchmarks/make_datasets.py's recipe). Each: accuracy above chance, int8 within a stated tolerance of float32,
and the shape, class names and preprocessing carried from the data to the bench row and predict's output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

MODEL = "shufflenet"  # the smallest registered model: ~40k parameters
COLOURS = {"red": (0,), "green": (1,), "blue": (2,), "yellow": (0, 1)}
INT8_TOLERANCE_PP = 10.0  # int8 within 10 points of float32 on ~60 test images (one image is 1.7 points)


def write_colour_folder(root: Path, per_class: int, seed: int) -> None:
    """root/<colour>/NNN.png: noise with the class's channels raised; 1 in 4 images is 40x30, the rest 36x36."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, channels in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            h, w = (30, 40) if i % 4 == 3 else (36, 36)
            x = rng.integers(0, 110, size=(h, w, 3))
            x[..., list(channels)] += 130
            Image.fromarray(x.astype(np.uint8)).save(root / name / f"{i:03d}.png")


@pytest.fixture(scope="module")
def colour_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("colours")
    write_colour_folder(root / "train", 60, seed=1)
    write_colour_folder(root / "test", 15, seed=2)
    return root


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory):
    from make_datasets import make_digits

    return make_digits(tmp_path_factory.mktemp("digits") / "digits8x8.npz")


def _pipeline(cli, tmp_path: Path, dataset: Path, *train_args: str) -> tuple[dict, dict, list]:
    """train, export --int8, bench (json): (config.json, export.json, bench rows by precision)."""
    out = tmp_path / "runs"
    res = cli("train", "--model", MODEL, "--dataset", dataset, "--out", out, "--name", "r", "--quiet", *train_args)
    assert res.code == 0, res.err
    run = out / "r"
    res = cli("export", run, "--int8")
    assert res.code == 0, res.err
    files = [run / "export" / f"model_{p}.tflite" for p in ("float32", "int8")]
    res = cli("bench", *files, "--dataset", dataset, "--runs", "20", "--warmup", "2", "--min-seconds", "0.05",
              "--rounds", "1", "--format", "json")
    assert res.code == 0, res.err
    rows = {r["precision"]: r for r in json.loads(res.out)["results"]}
    return (json.loads((run / "config.json").read_text()), json.loads((run / "export" / "export.json").read_text()),
            rows)


@pytest.mark.slow
def test_a_colour_image_folder_of_mixed_sizes_trains_exports_and_benches(run_cli, tmp_path, colour_folder):
    config, export, rows = _pipeline(run_cli, tmp_path, colour_folder, "--epochs", "4", "--preprocessing", "mean-std")
    assert config["input_shape"] == [36, 36, 3]  # the most common size, colour kept
    assert config["class_names"] == sorted(COLOURS) and config["preprocessing"]["name"] == "mean-std"
    side = json.loads((Path(export["out_dir"]) / "model_int8.json").read_text())
    assert side["preprocessing"] == config["preprocessing"] and side["labels"] == sorted(COLOURS)
    f, q = rows["float32"], rows["int8"]
    assert f["status"] == q["status"] == "ok", (f.get("error"), q.get("error"))
    assert f["input"]["shape"][1:] == [36, 36, 3] and f["metrics"]["eval"]["image_shape"] == [36, 36, 3]
    assert f["preprocessing"] == config["preprocessing"]  # bench fed what training fed
    assert f["metrics"]["eval"]["images"] == 60
    assert f["metrics"]["accuracy"] > 0.5, f["metrics"]["accuracy"]  # chance: 0.25
    assert abs(q["metrics"]["accuracy"] - f["metrics"]["accuracy"]) * 100 <= INT8_TOLERANCE_PP
    # the export's own LiteRT check agrees with bench on the same test images
    by_precision = {m["precision"]: m for m in export["models"]}
    assert by_precision["int8"]["accuracy"] == pytest.approx(q["metrics"]["accuracy"])


@pytest.mark.slow
def test_sklearn_8x8_digits_train_export_bench_and_predict(run_cli, tmp_path, digits_npz):
    config, export, rows = _pipeline(run_cli, tmp_path, digits_npz, "--epochs", "8")
    assert config["input_shape"] == [8, 8, 1] and config["num_classes"] == 10
    f, q = rows["float32"], rows["int8"]
    assert f["status"] == q["status"] == "ok", (f.get("error"), q.get("error"))
    assert f["metrics"]["eval"]["images"] == 360
    assert f["metrics"]["accuracy"] > 0.5, f["metrics"]["accuracy"]  # chance: 0.1
    assert abs(q["metrics"]["accuracy"] - f["metrics"]["accuracy"]) * 100 <= INT8_TOLERANCE_PP
    # predict on the test images equals bench's accuracy (its top-1 against the labels)
    with np.load(digits_npz) as npz:
        x_test, y_test = npz["x_test"], npz["y_test"]
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x=x_test)
    res = run_cli("predict", Path(export["out_dir"]) / "model_int8.tflite", inputs, "--top-k", "1",
                  "--output", tmp_path / "p.json")
    assert res.code == 0, res.err
    doc = json.loads((tmp_path / "p.json").read_text())
    top1 = [p["top"][0]["class"] for p in doc["predictions"]]
    assert np.mean(np.array(top1) == y_test.astype(str)) == pytest.approx(q["metrics"]["accuracy"])
