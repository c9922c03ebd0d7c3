"""`edgenets export MODEL.keras --dataset DATA`: the user's own Keras model, data of any shape.

Real components throughout: a small functional CNN on 32x32 colour images built and trained here on a
synthetic three-class set (class c has colour channel c brighter, so a few epochs learn it), real
conversion, the LiteRT interpreter, `edgenets bench` on the written files. Expected values (shapes,
counts, quantisation parameters, accuracies) are computed here independently.

Tolerances: int8 accuracy within 5 percentage points of float32 on 150 test images (a class flip is
0.7 pp; measured: equal); accuracy above 2/3 where chance is 1/3.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

CLASSES = ["red", "green", "blue"]
SIDE = 32
INT8_TOLERANCE_PP = 5.0
ABOVE_CHANCE = 2 / 3  # three classes: chance is 1/3
FAST_BENCH = ["--runs", "20", "--warmup", "2", "--min-seconds", "0"]


def _colour_images(n: int, seed: int, size: tuple[int, int] = (SIDE, SIDE)) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, H, W, 3) noise with the labelled class's channel raised: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(CLASSES)
    rng.shuffle(y)
    x = rng.integers(0, 110, (n, *size, 3), dtype=np.uint8)
    x[np.arange(n), :, :, y] += 120
    return x, y.astype(np.int64)


def _cnn(keras, input_shape=(SIDE, SIDE, 3), classes=len(CLASSES), head="softmax"):
    inp = keras.Input(input_shape, name="pixels")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inp, keras.layers.Dense(classes, activation=head, name="scores")(x), name="user_cnn")


@pytest.fixture(scope="module")
def colour_npz(tmp_path_factory):
    """A keras-layout NPZ: 300 training and 150 test images, 32x32 colour, three named classes."""
    x_train, y_train = _colour_images(300, seed=0)
    x_test, y_test = _colour_images(150, seed=1)
    path = tmp_path_factory.mktemp("data") / "colours.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, class_names=np.array(CLASSES))
    return path


@pytest.fixture(scope="module")
def user_model(tmp_path_factory, colour_npz):
    """The user's own model: a functional CNN trained 3 epochs on the NPZ's training images (x / 255)."""
    import keras

    keras.utils.set_random_seed(0)
    model = _cnn(keras)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    with np.load(colour_npz) as npz:
        model.fit(npz["x_train"] / 255.0, npz["y_train"], epochs=3, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("user") / "colour_cnn.keras"
    model.save(path)
    return path


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ---------------------------------------------------------------- export + bench, end to end


@pytest.mark.slow
def test_user_model_exports_and_benches(user_model, colour_npz, run_cli, tmp_path):
    """`export MODEL.keras --dataset data.npz --int8` -> files beside the model; `bench` runs them."""
    import keras
    from sklearn.metrics import accuracy_score

    res = run_cli("export", user_model, "--dataset", colour_npz, "--int8")
    assert res.code == 0, res.err
    out = user_model.parent / "colour_cnn_export"  # the default: <model stem>_export/ beside the model
    assert {p.name for p in out.iterdir()} == {"model_float32.tflite", "model_float32.json", "model_int8.tflite",
                                              "model_int8.json", "export.json"}
    assert "calibration: 300 images (all of the training split; default 500)" in res.out
    assert "preprocessing: pixels/255 (the default" in res.out
    summary = json.loads((out / "export.json").read_text())
    assert summary["run_dir"] is None and summary["model"] == "colour_cnn"
    assert summary["source"]["kind"] == "keras" and summary["source"]["model_keras"] == str(user_model)
    assert summary["evaluated_on"]["split"] == "test" and summary["evaluated_on"]["images"] == 150
    assert summary["calibration"]["count"] == 300 and summary["calibration"]["requested"] is None

    with np.load(colour_npz) as npz:
        x_test, y_test = npz["x_test"], npz["y_test"]
    model = keras.models.load_model(user_model)
    float_acc = accuracy_score(y_test, model.predict(x_test / 255.0, verbose=0).argmax(1))
    assert summary["keras_float_accuracy"] == pytest.approx(float_acc)
    assert float_acc > ABOVE_CHANCE
    for precision in ("float32", "int8"):
        side = json.loads((out / f"model_{precision}.json").read_text())
        assert side["labels"] == CLASSES and side["num_classes"] == 3  # class names from the data set
        assert side["preprocessing"] == "pixels/255"
        assert side["image"] == {"height": SIDE, "width": SIDE, "channels": 3, "color": "rgb"}
        assert side["input"]["shape"] == [1, SIDE, SIDE, 3]
        assert side["source"]["model_keras_sha256"] == summary["source"]["model_keras_sha256"]
        assert (side["calibration"] is not None) == (precision == "int8")
    # the Dense(softmax) head was dropped at export: the files output logits
    assert all(r["graph"]["output"] == "logits" for r in summary["models"])

    bench_out = tmp_path / "bench.json"
    res = run_cli("bench", out / "model_float32.tflite", out / "model_int8.tflite", "--dataset", colour_npz,
                  *FAST_BENCH, "--output", bench_out)
    assert res.code == 0, res.err
    rows = {r["precision"]: r for r in json.loads(bench_out.read_text())["results"]}
    accuracy = {p: rows[p]["metrics"]["accuracy"] for p in ("float32", "int8")}
    assert accuracy["float32"] == pytest.approx(float_acc, abs=1 / 150)  # bench measures what export measured
    assert accuracy["int8"] > ABOVE_CHANCE
    assert abs(accuracy["int8"] - accuracy["float32"]) * 100 <= INT8_TOLERANCE_PP


@pytest.mark.slow
def test_a_450_image_folder_defaults_to_what_it_has(user_model, run_cli, tmp_path):
    """450 colour images of 40x48 in class folders, no test split: loaded at the model's 32x32, 20 % held out
    for accuracy, the default calibration is all 360 remaining (logged); --calib-samples 361 is an error."""
    from PIL import Image

    folder = tmp_path / "shots"
    x, y = _colour_images(450, seed=2, size=(40, 48))
    names = [f"{i}_{name}" for i, name in enumerate(CLASSES)]  # folders sort in the model's class order
    for i, (image, label) in enumerate(zip(x, y)):
        (folder / names[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / names[label] / f"{i:03d}.png")
    out = tmp_path / "out"

    before = _tree(tmp_path)
    too_many = run_cli("export", user_model, "--dataset", folder, "--int8", "--calib-samples", "361", "--out", out)
    assert_one_line_error(too_many, "--calib-samples must be <= 360", "Received: 361")
    assert _tree(tmp_path) == before

    res = run_cli("export", user_model, "--dataset", folder, "--int8", "--out", out)
    assert res.code == 0, res.err
    assert "data: images resized to 32x32, the model's input size" in res.out
    assert "calibration: 360 images (all of the training split; default 500)" in res.out
    summary = json.loads((out / "export.json").read_text())
    assert summary["calibration"]["count"] == 360 and summary["calibration"]["pool_size"] == 360
    assert summary["evaluated_on"]["split"] == "held-out" and summary["evaluated_on"]["images"] == 90
    assert "held out from calibration" in summary["evaluated_on"]["detail"]
    assert "held out from calibration" in res.out
    side = json.loads((out / "model_int8.json").read_text())
    assert side["labels"] == names  # the folder names
    assert side["data_options"]["image_size"] == [SIDE, SIDE] and side["data_options"]["color"] == "rgb"
    by = {r["precision"]: r for r in summary["models"]}
    assert by["float32"]["accuracy"] > ABOVE_CHANCE
    assert abs(by["int8"]["delta_pp"]) <= INT8_TOLERANCE_PP


def test_a_model_near_chance_on_its_data_gets_a_warning(user_model, colour_npz, tmp_path):
    """The data's classes in another order than the model's (a folder sorted by name, say): the export works,
    and says what to check."""
    from edgenets.data import load_dataset
    from edgenets.export.run import export_keras

    data = load_dataset(str(colour_npz), quiet=True)
    data.y_test = (data.y_test + 1) % len(CLASSES)
    res = export_keras(user_model, data, out=tmp_path / "out", progress=False)
    assert res["keras_float_accuracy"] < 0.5
    assert len(res["warnings"]) == 1, res["warnings"]
    assert "check that its classes are in the data set's order (red, green, blue)" in res["warnings"][0]
    assert "--preprocessing (pixels/255)" in res["warnings"][0]


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


def _save(keras, model, path: Path) -> Path:
    model.save(path)
    return path


def _bad_model(kind: str, folder: Path) -> Path:
    import keras

    path = folder / f"{kind.replace(' ', '_')}.keras"
    if kind == "corrupt":
        path.write_bytes(b"PK\x03\x04 not a keras archive")
        return path
    if kind == "wrong input":
        return _save(keras, _cnn(keras, input_shape=(28, 28, 3)), path)
    if kind == "wrong classes":
        return _save(keras, _cnn(keras, classes=5), path)
    if kind == "two inputs":
        a, b = keras.Input((SIDE, SIDE, 3)), keras.Input((SIDE, SIDE, 3))
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([a, b]))
        return _save(keras, keras.Model([a, b], keras.layers.Dense(3)(x)), path)
    if kind == "two outputs":
        inp = keras.Input((SIDE, SIDE, 3))
        x = keras.layers.GlobalAveragePooling2D()(inp)
        return _save(keras, keras.Model(inp, [keras.layers.Dense(3)(x), keras.layers.Dense(3)(x)]), path)
    if kind == "feature map":
        inp = keras.Input((SIDE, SIDE, 3))
        return _save(keras, keras.Model(inp, keras.layers.Conv2D(3, 3)(inp)), path)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, extra, fragments",
    [
        ("wrong input", [], ["takes 28x28x3 images", "has 32x32x3 images"]),
        ("wrong classes", [], ["outputs 5 class scores", "has 3 classes"]),
        ("two inputs", [], ["2 input(s) and 1 output(s)"]),
        ("two outputs", [], ["1 input(s) and 2 output(s)"]),
        ("feature map", [], ["output shape (None, 30, 30, 3) is not a class-score output (None, K)"]),
        ("corrupt", [], ["not a readable Keras model"]),
        ("missing", [], ["missing.keras: not found"]),
        ("no dataset", [], ["--dataset is required"]),
        ("bad preprocessing", ["--preprocessing", "pixels/42"], ["--preprocessing: unknown preprocessing 'pixels/42'"]),
        ("bad size", ["--image-size", "32by32"], ["--image-size must be HxW"]),
    ],
)
def test_bad_user_input_is_one_line_and_writes_nothing(kind, extra, fragments, colour_npz, user_model, run_cli,
                                                       tmp_path):
    if kind in ("missing", "no dataset", "bad preprocessing", "bad size"):
        model = tmp_path / "missing.keras" if kind == "missing" else Path(shutil.copy(user_model, tmp_path / "user.keras"))
    else:
        model = _bad_model(kind, tmp_path)
    data = [] if kind == "no dataset" else ["--dataset", colour_npz]
    before = _tree(tmp_path)
    result = run_cli("export", model, *data, "--int8", *extra)
    assert_one_line_error(result, *fragments, code=2)
    assert _tree(tmp_path) == before  # not even <stem>_export/


def test_keras_file_options_with_a_run_dir_are_an_error(tmp_path, run_cli):
    run = tmp_path / "run"
    run.mkdir()
    result = run_cli("export", run, "--dataset", "mnist", "--image-size", "32x32")
    assert_one_line_error(result, "--dataset, --image-size: for a Keras model file only", "is a run directory")
    assert _tree(tmp_path) == ["run"]


# ---------------------------------------------------------------- a run trained with mean-std preprocessing


@pytest.mark.slow
def test_mean_std_run_calibrates_and_records_its_spec(colour_npz, tmp_path):
    """A run whose config.json holds a mean-std block: the sidecar carries the block as is, and the int8
    input's quantisation range is the range of the standardised calibration images (not pixels/255's)."""
    import keras

    from edgenets import runconfig
    from edgenets.data import train_val_split
    from edgenets.export import export_run
    from edgenets.preprocessing import mean_std

    with np.load(colour_npz) as npz:
        x_train, y_train = npz["x_train"], npz["y_train"]
    val_split, seed = 0.1, 0
    kept, _, _, _ = train_val_split(x_train, y_train, val_split, seed)
    spec = mean_std(kept)
    assert spec["name"] == "mean-std" and len(spec["mean"]) == 3
    standardised = lambda x: (x / 255.0 - np.array(spec["mean"])) / np.array(spec["std"])  # noqa: E731

    keras.utils.set_random_seed(0)
    model = _cnn(keras)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(standardised(kept), train_val_split(x_train, y_train, val_split, seed)[1], epochs=3, verbose=0)
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    runconfig.write(run, {"model": "user_cnn", "dataset": str(colour_npz), "seed": seed, "val_split": val_split,
                          "num_classes": 3, "class_names": CLASSES, "input_shape": [SIDE, SIDE, 3],
                          "preprocessing": spec, "data_options": {}})

    res = export_run(run, precisions=["int8"], progress=False)
    side = json.loads((run / "export" / "model_int8.json").read_text())
    assert side["preprocessing"] == spec and res["preprocessing"] == spec
    # default calibration: all 270 training images left after the validation split
    assert side["calibration"]["count"] == len(kept) == 270
    x = standardised(kept)
    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
    assert side["input"]["scale"] == pytest.approx((hi - lo) / 255, rel=1e-3)
    assert side["input"]["zero_point"] == pytest.approx(-128 - lo / ((hi - lo) / 255), abs=1)
    by = {r["precision"]: r for r in res["models"]}
    assert res["keras_float_accuracy"] > ABOVE_CHANCE
    assert abs(by["int8"]["delta_pp"]) <= INT8_TOLERANCE_PP


# ---------------------------------------------------------------- a user model's softmax, in any form


def _heads(keras):
    """Models whose last step is a softmax written five ways, and one without any."""
    def body():
        inp = keras.Input((8, 8, 3))
        return inp, keras.layers.Flatten()(inp)

    models = {}
    inp, x = body()
    models["dense activation"] = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    inp, x = body()
    models["Softmax layer"] = keras.Model(inp, keras.layers.Softmax()(keras.layers.Dense(3)(x)))
    inp, x = body()
    models["Activation layer"] = keras.Model(inp, keras.layers.Activation("softmax")(keras.layers.Dense(3)(x)))
    inp, x = body()
    models["activations.softmax op"] = keras.Model(inp, keras.activations.softmax(keras.layers.Dense(3)(x)))
    models["Sequential"] = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3),
                                             keras.layers.Softmax()])
    inp, x = body()
    models["no softmax"] = keras.Model(inp, keras.layers.Dense(3)(x))
    return models


def test_logits_drops_a_users_softmax_in_any_form(tmp_path):
    """transform_keras(logits=True) on every form, after a save/load round trip as export loads it: softmax
    of the rewritten output is the model's output (so it is the logits up to a per-row constant), and the
    rows are no longer probabilities; a model without a softmax is left as trained and says so."""
    import keras

    from edgenets.export.optimize import transform_keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 3)).astype(np.float32)
    for name, built in _heads(keras).items():
        path = tmp_path / f"{name.replace(' ', '_')}.keras"
        built.save(path)
        model = keras.models.load_model(path, compile=False)
        logs = []
        rewritten, record = transform_keras(model, logits=True, fold_shuffle=True, log=logs.append)
        want, got = model.predict(x, verbose=0), rewritten.predict(x, verbose=0)
        if name == "no softmax":
            assert record["logits"]["applied"] is False, record
            assert any("no final softmax found" in line for line in logs)
            np.testing.assert_allclose(got, want, atol=1e-6)
            continue
        assert record["logits"]["applied"] is True, (name, record)
        e = np.exp(got - got.max(axis=1, keepdims=True))
        np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), want, atol=1e-6, err_msg=name)
        assert not np.allclose(got.sum(axis=1), 1.0), name
