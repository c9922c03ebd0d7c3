"""Export: real conversion of a tiny trained CNN, real LiteRT interpreter, real MNIST.

Expected values are recomputed here independently (batch-1 interpreter loops, sklearn), so a
wrong number in export.json or a sidecar fails a test.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

ROOT = Path(__file__).resolve().parents[1]
LEGACY_PY = ROOT / ".venv-legacy" / "bin" / "python"
CHECK_SCRIPT = ROOT / "edgenets" / "export" / "_legacy_check.py"
SEED, VAL_SPLIT = 0, 0.1
ALL = ["float32", "float16", "dynamic", "int8"]


def _tiny_cnn(keras):
    """The same block types as the zoo (conv-BN-ReLU stem, depthwise + pointwise), a few KB big."""
    inp = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inp)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="block_1_dw")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="block_1_dw_bn")(x)
    x = keras.layers.ReLU(name="block_1_dw_relu")(x)
    x = keras.layers.Conv2D(64, 1, use_bias=False, name="block_1_pw")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name="block_1_pw_bn")(x)
    x = keras.layers.ReLU(name="block_1_pw_relu")(x)
    x = keras.layers.Flatten(name="flatten")(x)  # 3136x10 Dense: big enough for dynamic-range quantisation
    out = keras.layers.Dense(10, activation="softmax", name="logits")(x)
    return keras.Model(inp, out, name="tiny")


def make_tiny_run(run: Path, x_train: np.ndarray, y_train: np.ndarray) -> Path:
    """A run directory as `edgenets train` writes it: the tiny CNN fitted 2 epochs, config for MNIST."""
    import keras

    keras.utils.set_random_seed(SEED)
    model = _tiny_cnn(keras)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(x_train / 255.0, y_train, epochs=2, batch_size=32, verbose=0)
    run.mkdir(parents=True, exist_ok=True)
    model.save(run / "model.keras")
    config = {"model": "tiny", "dataset": "mnist", "seed": SEED, "val_split": VAL_SPLIT, "num_classes": 10,
              "class_names": [str(i) for i in range(10)], "input_shape": [28, 28, 1], "preprocessing": "pixels/255"}
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, mnist_small):
    """The tiny CNN trained on the 2,000 training images of `mnist_small`."""
    return make_tiny_run(tmp_path_factory.mktemp("runs") / "tiny", mnist_small.x_train, mnist_small.y_train)


@pytest.fixture(scope="module")
def exported(tiny_run):
    from edgenets.export import export_run

    return export_run(tiny_run, precisions=ALL, calib_samples=500, debug=True, progress=False)


def _interp(path, **kw):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), **kw)
    it.allocate_tensors()
    return it


def _batch1_outputs(path, images_uint8, **kw):
    """Reference: one image per invoke, quantising the input by hand from the interpreter's own params."""
    it = _interp(path, **kw)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x = images_uint8.astype(np.float32) / 255.0
    if inp["dtype"] != np.float32:
        scale, zp = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / scale + zp), info.min, info.max).astype(inp["dtype"])
    outs = []
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i : i + 1])
        it.invoke()
        outs.append(it.get_tensor(out["index"])[0].copy())
    return np.array(outs), x


# ---------------------------------------------------------------- formats table (no TF)


def test_formats_table_is_the_single_source():
    from edgenets.formats import IO_TYPES, PRECISIONS, get_precision, precision_from_filename

    assert list(PRECISIONS) == ALL
    files = [p.filename for p in PRECISIONS.values()]
    assert len(set(files)) == len(files)
    for name, p in PRECISIONS.items():
        assert p.filename == f"model_{name}.tflite"
        assert precision_from_filename(f"/x/y/{p.filename}") == name
    assert precision_from_filename("model.tflite") is None
    assert PRECISIONS["int8"].needs_calibration and not PRECISIONS["float32"].needs_calibration
    assert set(IO_TYPES) == {"int8", "uint8", "float32"}
    from edgenets.errors import InputError

    with pytest.raises(InputError, match="int4"):
        get_precision("int4")


# ---------------------------------------------------------------- artefacts


def test_files_and_sidecars_match_the_interpreter(exported, tiny_run):
    out = tiny_run / "export"
    assert Path(exported["out_dir"]) == out
    assert [r["precision"] for r in exported["models"]] == ALL
    for name in ALL:
        path, side_path = out / f"model_{name}.tflite", out / f"model_{name}.json"
        side = json.loads(side_path.read_text())
        assert side["precision"] == name and side["file"] == path.name
        assert side["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert side["size_bytes"] == path.stat().st_size
        it = _interp(path)
        for key, detail in (("input", it.get_input_details()[0]), ("output", it.get_output_details()[0])):
            assert side[key]["dtype"] == np.dtype(detail["dtype"]).name
            assert side[key]["shape"] == list(detail["shape"])
            scale, zp = detail["quantization"]
            assert side[key]["scale"] == (pytest.approx(scale) if scale else None)
            assert side[key]["zero_point"] == (zp if scale else None)
        assert side["input"]["shape"] == [1, 28, 28, 1]  # fixed batch 1 for the device
        expected_io = "int8" if name == "int8" else "float32"
        assert side["input"]["dtype"] == side["output"]["dtype"] == expected_io
        assert side["labels"] == [str(i) for i in range(10)] and side["preprocessing"] == "pixels/255"
        assert side["converter"]["tensorflow"] and side["ops"]
        assert (side["calibration"] is not None) == (name == "int8")
        # the formats table's dtypes, as the file really is: int8 weights/activations show as int8 tensors
        assert (side["activation_dtype"] == "int8") == (name == "int8") == (side["input"]["dtype"] == "int8")
        assert side["weight_dtype"] == {"float32": "float32", "float16": "float16"}.get(name, "int8")
    int8 = json.loads((out / "model_int8.json").read_text())
    assert int8["calibration"]["count"] == 500 and int8["calibration"]["split"] == "train"
    assert int8["calibration"]["seed"] == SEED
    # Pixels/255 into int8 is scale 1/255, zero point -128 when calibration saw black and white pixels.
    assert int8["input"]["scale"] == pytest.approx(1 / 255) and int8["input"]["zero_point"] == -128
    sizes = {r["precision"]: r["size_bytes"] for r in exported["models"]}
    assert sizes["int8"] < 0.4 * sizes["float32"] and sizes["float16"] < 0.6 * sizes["float32"]
    assert json.loads((out / "export.json").read_text())["models"] == exported["models"]
    assert not list(out.glob("*.part"))  # atomic writes leave no temp files


def test_accuracies_are_right_and_int8_is_close_to_float(exported, tiny_run, mnist):
    """Recompute every accuracy independently: Keras predict, and a batch-1 interpreter loop."""
    import keras
    from sklearn.metrics import accuracy_score

    model = keras.models.load_model(tiny_run / "model.keras")
    float_acc = accuracy_score(mnist.y_test, model.predict(mnist.x_test / 255.0, verbose=0).argmax(1))
    assert exported["keras_float_accuracy"] == pytest.approx(float_acc)
    assert exported["evaluated_on"] == {"split": "test", "images": 10000, "runtime": "ai_edge_litert",
                                        "detail": "the test split of mnist"}
    by_name = {r["precision"]: r for r in exported["models"]}
    for name in ("float32", "int8"):
        raw, _ = _batch1_outputs(tiny_run / "export" / f"model_{name}.tflite", mnist.x_test)
        acc = accuracy_score(mnist.y_test, raw.argmax(1))
        assert by_name[name]["accuracy"] == pytest.approx(acc)  # batched evaluation == batch 1
        assert by_name[name]["delta_pp"] == pytest.approx((acc - float_acc) * 100, abs=1e-3)
    assert float_acc > 0.8  # the tiny run learned something, so the comparison means something
    assert abs(by_name["float32"]["accuracy"] - float_acc) <= 0.0005
    assert abs(by_name["int8"]["accuracy"] - float_acc) <= 0.015  # int8 within 1.5 pp on a 2-epoch toy


@pytest.fixture(scope="module")
def resizable_models(tmp_path_factory, mnist_small):
    """float32 + int8 of a global-pooling CNN: no fixed-shape Reshape, so the batch can be resized."""
    import keras

    from edgenets.export.convert import to_tflite

    keras.utils.set_random_seed(1)
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inp, keras.layers.Dense(10, activation="softmax", name="logits")(x))
    folder = tmp_path_factory.mktemp("resizable")
    paths = {}
    for name in ("float32", "int8"):
        paths[name] = folder / f"model_{name}.tflite"
        paths[name].write_bytes(to_tflite(model, name, representative=mnist_small.x_train[:64], progress=False))
    return paths


@pytest.mark.parametrize("name", ["float32", "int8"])
def test_batched_evaluation_equals_batch1(resizable_models, mnist, name):
    from edgenets.export.verify import predict

    path = resizable_models[name]
    images = mnist.x_test[:301]  # not a multiple of the batch: exercises the padded last batch
    ref, _ = _batch1_outputs(path, images)
    got = predict(path, images, batch_size=64)
    assert got.batch_size == 64
    if name == "int8":
        np.testing.assert_array_equal(got.raw, ref)
    else:
        np.testing.assert_allclose(got.raw, ref, atol=1e-6)
    np.testing.assert_array_equal(got.labels, ref.argmax(1))


def test_fixed_shape_model_falls_back_to_batch1(tmp_path, mnist):
    """A Reshape to [1, 784] (what `--batch 1` keeps of a Flatten): resizing fails, evaluation must still be right."""
    from tflite_builder import tiny_float_model

    from edgenets.export.verify import predict

    path = tiny_float_model(tmp_path / "fixed.tflite", fixed_batch=True)
    ref, _ = _batch1_outputs(path, mnist.x_test[:50])
    got = predict(path, mnist.x_test[:50], batch_size=16)
    assert got.batch_size == 1
    np.testing.assert_array_equal(got.raw, ref)


def test_the_default_export_of_a_flatten_model_evaluates_in_batches(exported, tiny_run, mnist):
    """The same Flatten in the default export (--batch dynamic) is resizable, and its batches equal batch 1 exactly."""
    from edgenets.export.verify import predict

    path = tiny_run / "export" / "model_int8.tflite"
    ref, _ = _batch1_outputs(path, mnist.x_test[:50])
    got = predict(path, mnist.x_test[:50], batch_size=16)
    assert got.batch_size == 16
    np.testing.assert_array_equal(got.raw, ref)


def test_debug_report(exported):
    import pandas as pd

    csv = Path(exported["debug_csv"])
    table = pd.read_csv(csv)
    assert {"layers", "op_name", "rmse", "rmse_over_scale", "scale"} <= set(table.columns)
    assert len(table) >= 5 and list(table["rank"]) == list(range(1, len(table) + 1))
    assert (table["rmse_over_scale"].diff().dropna() <= 0).all()  # worst first
    np.testing.assert_allclose(table["rmse_over_scale"], table["rmse"] / table["scale"], rtol=1e-5)
    # Keras layer names survive into the report, so a user can find the layer in the code.
    assert any("block_1_pw" in s for s in table["layers"]) and any("block_1_dw" in s for s in table["layers"])
    assert len(exported["debug_worst"]) == min(10, len(table))


# ---------------------------------------------------------------- calibration never sees test data


def test_calibration_draws_only_from_the_training_split(mnist):
    from edgenets.data import Dataset, train_val_split
    from edgenets.export.calibrate import draw

    cal = draw(mnist, 500, seed=SEED, val_split=VAL_SPLIT)
    np.testing.assert_array_equal(cal.images, mnist.x_train[cal.indices])
    # Which rows training held out for validation: ask train_val_split itself about row positions.
    rows = np.arange(len(mnist.y_train))
    _, _, val_rows, _ = train_val_split(rows, mnist.y_train, VAL_SPLIT, SEED)
    assert not np.isin(cal.indices, val_rows).any()
    assert cal.info["indices_sha256"] == hashlib.sha256(cal.indices.astype(np.int64).tobytes()).hexdigest()
    counts = np.bincount(mnist.y_train[cal.indices], minlength=10)
    expected = np.bincount(mnist.y_train, minlength=10) / len(mnist.y_train) * 500
    assert np.all(np.abs(counts - expected) <= 1.5)  # stratified
    again = draw(mnist, 500, seed=SEED, val_split=VAL_SPLIT)
    np.testing.assert_array_equal(again.indices, cal.indices)  # seeded
    assert not np.array_equal(draw(mnist, 500, seed=1, val_split=VAL_SPLIT).indices, cal.indices)

    # A data set whose test images are a marker no training image has: none may show up; and a data
    # set without any test split calibrates the same way (so the test split is not even read).
    poisoned = Dataset("poisoned", mnist.x_train, mnist.y_train,
                       np.full((50, 28, 28, 1), 255, np.uint8), np.zeros(50, np.int64))
    assert not (mnist.x_train == 255).all(axis=(1, 2, 3)).any()
    cal_p = draw(poisoned, 500, seed=SEED, val_split=VAL_SPLIT)
    assert not (cal_p.images == 255).all(axis=(1, 2, 3)).any()
    no_test = Dataset("no-test", mnist.x_train, mnist.y_train)
    np.testing.assert_array_equal(draw(no_test, 500, seed=SEED, val_split=VAL_SPLIT).indices, cal.indices)


def test_calibration_size_defaults_to_what_the_data_has():
    """No --calib-samples: 500, or all of a smaller training split, and the summary says which; an explicit
    number the split cannot give is one error naming the limit."""
    from edgenets.data import Dataset
    from edgenets.errors import InputError
    from edgenets.export.calibrate import DEFAULT_SAMPLES, draw

    y = np.arange(450) % 3
    small = Dataset("rgb", np.zeros((450, 4, 4, 3), np.uint8), y, class_names=("a", "b", "c"))
    cal = draw(small, None, seed=SEED, val_split=VAL_SPLIT)
    assert DEFAULT_SAMPLES == 500 and cal.info["count"] == 405 and cal.info["requested"] is None
    assert cal.summary == "calibration: 405 images (all of the training split; default 500)"
    assert cal.info["per_class"] == [135, 135, 135]
    with pytest.raises(InputError, match=r"^--calib-samples must be <= 405 \(the training split of rgb\). Received: 406$"):
        draw(small, 406, seed=SEED, val_split=VAL_SPLIT)
    big = Dataset("big", np.zeros((1000, 4, 4, 1), np.uint8), np.arange(1000) % 10)
    assert draw(big, None, seed=SEED, val_split=0.0).summary == "calibration: 500 images (default; of 1000 training images)"
    assert draw(big, 20, seed=SEED, val_split=0.0).summary == "calibration: 20 images (--calib-samples; of 1000 training images)"


def test_calibration_draws_every_class_where_a_stratified_split_cannot():
    """sklearn's stratified draw needs two images per class and room for every class on both sides; where it
    cannot run, one image of every class comes first (n >= classes), or n different classes (n < classes)."""
    from edgenets.data import stratified_indices
    from edgenets.export.calibrate import EVERY_CLASS, STRATIFIED, select

    y = np.repeat(np.arange(10), 50)
    got, method = select(y, 100, seed=3)
    assert method == STRATIFIED
    np.testing.assert_array_equal(got, stratified_indices(y, 100, seed=3))  # published draws unchanged

    few = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 5, 5])  # classes of 1-4 images
    for n in (6, 8, 12):
        got, method = select(few, n, seed=0)
        assert method == EVERY_CLASS and len(got) == n and len(np.unique(got)) == n
        assert set(few[got]) == set(range(6)), n  # every class represented
        np.testing.assert_array_equal(got, np.sort(got))
        np.testing.assert_array_equal(select(few, n, seed=0)[0], got)  # seeded
    got, _ = select(y, 4, seed=1)  # fewer images than classes: four different classes
    assert len(got) == 4 and len(set(y[got])) == 4
    assert not np.array_equal(select(y, 4, seed=2)[0], got)
    got, method = select(few, len(few), seed=0)
    np.testing.assert_array_equal(got, np.arange(len(few)))


# ---------------------------------------------------------------- the CLI and the quality gate


def test_max_drop_gate(exported, tiny_run, tmp_path, run_cli):
    """Thresholds just either side of the measured drop: one must pass, the other must fail."""
    by_name = {r["precision"]: r for r in exported["models"]}
    drop = (exported["keras_float_accuracy"] - by_name["int8"]["accuracy"]) * 100

    ok = run_cli("export", tiny_run, "--int8", "--max-drop", f"{drop + 0.005:.4f}", "--debug", "--out", tmp_path / "ok")
    assert ok.code == 0, ok.err
    assert "quality gate passed" in ok.out and "model_int8.tflite" in ok.out and "RMSE/scale" in ok.out
    assert "calibrating on" in ok.out and "\r" not in ok.out  # not a terminal: one calibration line, no live bar
    summary = json.loads((tmp_path / "ok" / "export.json").read_text())
    # Same calibration, same converter: the very model the drop was measured on.
    assert summary["models"][1]["sha256"] == by_name["int8"]["sha256"]
    assert summary["gate"]["passed"] is True

    bad = run_cli("export", tiny_run, "--int8", "--max-drop", f"{drop - 0.005:.4f}", "--out", tmp_path / "bad")
    assert_one_line_error(bad, f"{by_name['int8']['accuracy']:.2%}", f"{exported['keras_float_accuracy']:.2%}",
                          "--max-drop", code=1)
    assert "quality gate FAILED" in bad.out  # the table is still shown
    for f in ("model_float32.tflite", "model_int8.tflite", "model_int8.json", "export.json"):
        assert (tmp_path / "bad" / f).is_file()  # artefacts kept for inspection
    assert json.loads((tmp_path / "bad" / "export.json").read_text())["gate"]["passed"] is False


def test_uint8_io(tiny_run, tmp_path, mnist):
    from edgenets.export import export_run

    res = export_run(tiny_run, precisions=["int8"], calib_samples=200, io_type="uint8", out=tmp_path, progress=False)
    side = json.loads((tmp_path / "model_int8.json").read_text())
    assert side["input"]["dtype"] == side["output"]["dtype"] == "uint8"
    assert side["input"]["zero_point"] == 0 and side["input"]["scale"] == pytest.approx(1 / 255)
    assert side["calibration"]["count"] == 200
    int8 = next(r for r in res["models"] if r["precision"] == "int8")
    assert abs(int8["accuracy"] - res["keras_float_accuracy"]) <= 0.015


def _bad_run(tmp_path, tiny_run, *, config=True, model=True, corrupt=False):
    run = tmp_path / "run"
    run.mkdir()
    if config:
        shutil.copy(tiny_run / "config.json", run / "config.json")
    if model:
        if corrupt:
            (run / "model.keras").write_bytes(b"PK\x03\x04 this is not a keras archive")
        else:
            shutil.copy(tiny_run / "model.keras", run / "model.keras")
    return run


@pytest.mark.parametrize(
    "case, args, fragment",
    [
        ("missing dir", [], "run directory not found"),
        ("no config", ["--int8"], "config.json: not found"),
        ("no model", ["--int8"], "model.keras: not found"),
        ("corrupt model", ["--int8"], "not a readable Keras model"),
        ("zero calib", ["--int8", "--calib-samples", "0"], "--calib-samples must be > 0"),
        ("huge calib", ["--int8", "--calib-samples", "60000"], "--calib-samples must be <= 54000"),
        ("gate without int8", ["--max-drop", "1"], "--max-drop"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(case, args, fragment, tmp_path, tiny_run, run_cli):
    if case == "missing dir":
        run = tmp_path / "nope"
    else:
        run = _bad_run(tmp_path, tiny_run, config=case != "no config", model=case != "no model",
                       corrupt=case == "corrupt model")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run_cli("export", run, *args)
    assert_one_line_error(result, fragment, code=2)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, not even export/


def test_unknown_preprocessing_in_config_is_one_line_and_writes_nothing(tmp_path, tiny_run, run_cli):
    run = _bad_run(tmp_path, tiny_run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "preprocessing": "pixels/42"}))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = run_cli("export", run, "--int8")
    assert_one_line_error(result, "config.json: unknown preprocessing 'pixels/42'", code=2)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_export_feeds_the_preprocessing_the_run_was_trained_with(tmp_path, tiny_run, mnist):
    """A run trained on raw pixels ("pixels"): calibration, the Keras check and LiteRT all use raw pixels."""
    import keras

    from edgenets.export import export_run
    from edgenets.export.convert import representative_dataset

    images = mnist.x_train[:3]
    got = [batch[0] for batch in representative_dataset(images, progress=False, preprocessing="pixels")()]
    np.testing.assert_array_equal(np.concatenate(got), images.astype(np.float32))

    run = tmp_path / "raw"
    run.mkdir()
    model = keras.models.load_model(tiny_run / "model.keras")
    # the same network, taking raw pixels: its first layer divides by 255 itself
    inp = keras.Input((28, 28, 1), name="image")
    raw_model = keras.Model(inp, model(keras.layers.Rescaling(1 / 255.0)(inp)))
    raw_model.save(run / "model.keras")
    config = json.loads((tiny_run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "preprocessing": "pixels"}))
    res = export_run(run, precisions=["int8"], calib_samples=200, progress=False)
    ref = export_run(tiny_run, precisions=["int8"], calib_samples=200, out=tmp_path / "ref", progress=False)
    # fed /255 inputs instead, the raw-pixel model would see a near-blank image and score ~10 %
    assert res["keras_float_accuracy"] == pytest.approx(ref["keras_float_accuracy"], abs=1e-9)
    for precision in ("float32", "int8"):
        got = next(r for r in res["models"] if r["precision"] == precision)["accuracy"]
        want = next(r for r in ref["models"] if r["precision"] == precision)["accuracy"]
        assert got == pytest.approx(want, abs=0.01), precision
    side = json.loads((run / "export" / "model_int8.json").read_text())
    assert side["preprocessing"] == "pixels" and side["input"]["scale"] == pytest.approx(1.0, rel=0.05)


def test_bad_io_type_is_a_usage_error(tiny_run, run_cli):
    result = run_cli("export", tiny_run, "--int8", "--io", "int4")
    assert_one_line_error(result, "--io", code=2)


# ---------------------------------------------------------------- tflite-runtime 2.14 compatibility


def _legacy_python() -> Path:
    """The tflite-runtime 2.14 venv, created with `make legacy-venv` when missing."""
    if not (LEGACY_PY.parent.parent / ".installed").is_file():
        if shutil.which("make") is None:
            pytest.fail("`make` is needed to create .venv-legacy (make legacy-venv)")
        proc = subprocess.run(["make", "-C", str(ROOT), "legacy-venv"], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            log = proc.stdout + proc.stderr
            if "tflite-runtime" in log and ("No matching distribution" in log or "Could not find a version" in log):
                pytest.skip(f"pip cannot install tflite-runtime==2.14.0 here (Python {sys.version_info[:2]}): "
                            + log.strip().splitlines()[-1])
            pytest.fail(f"make legacy-venv failed:\n{log[-2000:]}")
    return LEGACY_PY


def _run_check(python, runtime, model, inputs, kernels="default"):
    proc = subprocess.run([str(python), str(CHECK_SCRIPT), str(model), str(inputs), "--runtime", runtime,
                           "--kernels", kernels], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.stdout, proc.stderr
    result = json.loads(proc.stdout)
    assert "error" not in result, f"{runtime} {result.get('version')} cannot run {Path(model).name}: {result['error']}"
    return np.array(result["outputs"]), result


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_legacy_runtime_compat(exported, tiny_run, mnist, tmp_path, name):
    """tflite-runtime 2.14 (numpy<2, own venv) loads every exported model and predicts the same."""
    from edgenets.data import stratified_indices
    from edgenets.export.verify import make_interpreter, quantize_input

    legacy = _legacy_python()
    model = tiny_run / "export" / f"model_{name}.tflite"
    images = mnist.x_test[stratified_indices(mnist.y_test, 300, seed=1)]
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, quantize_input(images, make_interpreter(model).get_input_details()[0]))

    old, meta = _run_check(legacy, "tflite_runtime", model, inputs)
    assert meta["version"] == "2.14.0"
    new, _ = _run_check(sys.executable, "ai_edge_litert", model, inputs)
    new_builtin, _ = _run_check(sys.executable, "ai_edge_litert", model, inputs, kernels="builtin")
    if name in ("float32", "float16"):
        np.testing.assert_allclose(old, new, atol=1e-5)
        np.testing.assert_array_equal(old.argmax(1), new.argmax(1))
    else:
        # Integer kernels: 2.14's own kernels and LiteRT's own kernels agree exactly for int8. LiteRT's
        # default XNNPACK delegate rounds int8 differently (a few LSB on a few % of images), so
        # against it we ask for the same predicted classes.
        if name == "int8":
            np.testing.assert_array_equal(old, new_builtin)
        else:
            np.testing.assert_allclose(old, new_builtin, atol=0.02)
        agree = (old.argmax(1) == new.argmax(1)).mean()
        assert agree >= 0.99, f"{name}: only {agree:.1%} of predictions agree between tflite-runtime 2.14 and LiteRT"


if __name__ == "__main__":
    # `python tests/test_export.py RUN_DIR`: write the fixture's run directory (same 2,000 images as
    # the `mnist_small` fixture), so the numbers in docs/export.md can be reproduced with the CLI.
    from edgenets.data import load_dataset, stratified_indices

    data = load_dataset("mnist", quiet=True)
    rows = stratified_indices(data.y_train, 2000, seed=0)
    print(make_tiny_run(Path(sys.argv[1]), data.x_train[rows], data.y_train[rows]))
