"""edgenets train: run directory, metrics vs sklearn, resume, --force, argument errors, reproducibility.

Real MNIST (a stratified subset written to an .npz so the CLI loads it like any user file) and the
smallest registered model; 1-2 epochs each.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgenets.train import augment as aug

MODEL = "shufflenet"  # the smallest registered model (39,282 parameters)
RUN_FILES = {"config.json", "model.keras", "history.csv", "metrics.json", "curves.png", "confusion.png", "checkpoints"}


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory, mnist):
    from edgenets.data import stratified_indices

    tr = stratified_indices(mnist.y_train, 1200, seed=1)
    te = stratified_indices(mnist.y_test, 300, seed=1)
    path = tmp_path_factory.mktemp("data") / "mnist-subset.npz"
    np.savez(path, x_train=mnist.x_train[tr, ..., 0], y_train=mnist.y_train[tr],
             x_test=mnist.x_test[te, ..., 0], y_test=mnist.y_test[te])
    return path


def _train(run_cli, npz, out, *extra):
    return run_cli("train", "--model", MODEL, "--dataset", npz, "--out", out, "--batch-size", "64", "--quiet",
                   "--augment", "online", *extra)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory, mnist_npz):
    """A finished 1-epoch run (shared by the schema, metrics and resume tests)."""
    from edgenets.train import train_run

    out = tmp_path_factory.mktemp("runs")
    result = train_run(MODEL, str(mnist_npz), epochs=1, batch_size=64, augment="online", out=out, name="r1", quiet=True)
    return out / "r1", result


def _history(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_run_directory_contents_and_schema(one_epoch_run):
    run_dir, _ = one_epoch_run
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    config = json.loads((run_dir / "config.json").read_text())
    for key in ("model", "dataset", "seed", "val_split", "num_classes", "class_names", "input_shape", "preprocessing"):
        assert key in config, key
    assert config["model"] == MODEL and config["input_shape"] == [28, 28, 1] and config["preprocessing"] == "pixels/255"
    assert config["versions"]["tensorflow"] and config["versions"]["keras"]
    assert config["data"]["splits"]["train"] + config["data"]["splits"]["val"] == 1200
    rows = _history(run_dir)
    assert len(rows) == 1 and rows[0]["epoch"] == "1"
    for col in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "ms_per_step"):
        assert float(rows[0][col]) >= 0, col
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["images_per_second"] > 0 and metrics["training"]["seconds"] > 0
    assert len(metrics["test"]["per_class"]) == 10 and len(metrics["perturbed_test"]["per_class"]) == 10
    for png in ("curves.png", "confusion.png"):
        assert (run_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch_001.keras", "state.json"]
    assert state["epochs_done"] == 1
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".part")]


def test_metrics_equal_sklearn_on_saved_model(one_epoch_run, mnist_npz):
    import keras
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    run_dir, _ = one_epoch_run
    data = np.load(mnist_npz)
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key, images in (("test", data["x_test"]), ("perturbed_test", aug.perturb(data["x_test"][..., None])[0])):
        pred = model.predict(images.reshape(-1, 28, 28, 1).astype("float32") / 255.0, verbose=0).argmax(1)
        y = data["y_test"]
        p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", labels=range(10), zero_division=0)
        got = metrics[key]
        assert got["accuracy"] == pytest.approx(accuracy_score(y, pred), abs=1e-6)
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f), abs=1e-6)
        assert got["confusion_matrix"] == confusion_matrix(y, pred, labels=range(10)).tolist()
        assert [c["support"] for c in got["per_class"]] == np.bincount(y, minlength=10).tolist()


@pytest.mark.slow
def test_resume_continues_epoch_count(tmp_path, one_epoch_run, run_cli):
    import shutil

    run_dir, _ = one_epoch_run
    resumed = tmp_path / "r1"
    shutil.copytree(run_dir, resumed)
    res = run_cli("train", "--resume", resumed, "--epochs", "2")  # no --quiet, but stdout is not a terminal
    assert res.code == 0, res.err
    assert "Epoch 2/2" in res.out and "\r" not in res.out  # per-epoch log lines, not a live progress bar
    rows = _history(resumed)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert rows[0] == _history(run_dir)[0]  # epoch 1 kept as it was
    # the optimizer continued: its step counter went on from epoch 1's
    import keras

    ckpt = keras.models.load_model(resumed / "checkpoints" / "epoch_002.keras")
    steps = int(json.loads((run_dir / "metrics.json").read_text())["training"]["train_images_per_epoch"] / 64 + 0.999)
    assert int(ckpt.optimizer.iterations.numpy()) == 2 * steps
    config = json.loads((resumed / "config.json").read_text())
    assert config["resumed"][0]["at_epoch"] == 1 and config["settings"]["epochs"] == 2
    # a resumed run keeps its settings
    bad = run_cli("train", "--resume", resumed, "--epochs", "3", "--batch-size", "32")
    assert_one_line_error(bad, "--batch-size")
    for flag, value in (("--seed", "5"), ("--recipe", "seed"), ("--val-split", "0.2")):
        assert_one_line_error(run_cli("train", "--resume", resumed, "--epochs", "3", flag, value), flag)


def test_existing_run_dir_needs_force(tmp_path, one_epoch_run, run_cli, mnist_npz):
    run_dir, _ = one_epoch_run
    before = (run_dir / "metrics.json").read_bytes()
    res = _train(run_cli, mnist_npz, run_dir.parent, "--name", "r1", "--epochs", "1")
    assert_one_line_error(res, str(run_dir), "--force")
    assert (run_dir / "metrics.json").read_bytes() == before


@pytest.mark.parametrize("args, fragment", [
    (["--model", "nosuchnet"], "nosuchnet"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "-4"], "--batch-size"),
    (["--val-split", "1.0"], "--val-split"),
    (["--limit", "0"], "--limit"),
    (["--recipe", "fast"], "--recipe"),
    (["--augment", "mixup"], "--augment"),
    (["--dataset", "/no/such/mnist.npz"], "/no/such/mnist.npz"),
    (["--dataset", "BAD_NPZ"], "BAD_NPZ"),
    (["--seed", "-1"], "--seed"),
    (["--alpha", "0"], "--alpha"),
    (["--alpha", "-0.5"], "--alpha"),
    (["--name", "../escape"], "--name"),
    (["--name", ".."], "--name"),
])
def test_bad_arguments_one_line_error_and_no_run_dir(tmp_path, run_cli, args, fragment):
    if "BAD_NPZ" in args:
        bad = tmp_path / "broken.npz"
        bad.write_bytes(b"this is not a zip file")
        args = [str(bad) if a == "BAD_NPZ" else a for a in args]
        fragment = str(bad)
    base = {"--model": MODEL}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    out = tmp_path / "runs"
    res = run_cli("train", *[x for kv in base.items() for x in kv], "--out", out, "--quiet")
    assert_one_line_error(res, fragment)
    assert not out.exists()


def test_force_never_deletes_a_folder_that_is_not_a_run(tmp_path, run_cli):
    precious = tmp_path / "out" / "photos"
    precious.mkdir(parents=True)
    (precious / "holiday.jpg").write_bytes(b"irreplaceable")
    res = run_cli("train", "--model", MODEL, "--out", tmp_path / "out", "--name", "photos", "--force", "--quiet")
    assert_one_line_error(res, str(precious), "not a run directory")
    assert (precious / "holiday.jpg").read_bytes() == b"irreplaceable"


def test_train_needs_a_model(run_cli, tmp_path):
    assert_one_line_error(run_cli("train", "--out", tmp_path / "runs"), "--model")


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path, one_epoch_run, mnist_npz):
    from edgenets.train import train_run

    _, a = one_epoch_run  # seed 0, same settings
    b = train_run(MODEL, str(mnist_npz), epochs=1, batch_size=64, augment="online", out=tmp_path, name="again",
                  quiet=True)
    assert a["history"][0]["loss"] == pytest.approx(b["history"][0]["loss"], rel=1e-4)
    assert a["history"][0]["val_accuracy"] == pytest.approx(b["history"][0]["val_accuracy"], abs=2e-3)
    for key in ("test", "perturbed_test"):
        assert a["metrics"][key]["accuracy"] == pytest.approx(b["metrics"][key]["accuracy"], abs=2e-3)


def test_seed_augmentation_doubles_with_darkened_shifted_copies(mnist_small):
    x, y = mnist_small.x_train[:300], mnist_small.y_train[:300]
    x2, y2 = aug.seed_augment(x, y, seed=7)
    assert x2.shape == (600, 28, 28, 1) and x2.dtype == np.uint8
    np.testing.assert_array_equal(x2[:300], x)
    np.testing.assert_array_equal(y2, np.concatenate([y, y]))
    params = aug.draw_params(300, seed=7)
    copies = x2[300:]
    for i in range(300):  # expected copy built independently: pad, crop at the offset, scale, floor
        dy, dx, f = int(params["dy"][i]), int(params["dx"][i]), float(params["factor"][i])
        m = aug.MAX_SHIFT
        padded = np.pad(x[i, ..., 0], m)
        moved = padded[m - dy:m - dy + 28, m - dx:m - dx + 28]
        expected = np.floor(moved.astype(np.float32) * np.float32(f)).astype(np.uint8)
        np.testing.assert_array_equal(copies[i, ..., 0], expected)
    assert np.all((params["factor"] >= 0.5) & (params["factor"] <= 0.8))
    assert (copies.reshape(300, -1).sum(1) < x.reshape(300, -1).sum(1)).all()  # every copy is darker
    assert np.mean((params["dy"] != 0) | (params["dx"] != 0)) > 0.8  # and nearly all moved
    # seeded: same seed same copies, other seed other copies
    np.testing.assert_array_equal(aug.seed_augment(x, y, seed=7)[0], x2)
    assert not np.array_equal(aug.seed_augment(x, y, seed=8)[0][300:], copies)


def test_online_augmentation_is_seeded_shift_and_darken(mnist_small):
    import tensorflow as tf

    x = mnist_small.x_train[:64].astype(np.float32) / 255.0
    a = aug.online_augment(tf.constant(x), tf.constant([5, 9], tf.int64)).numpy()
    b = aug.online_augment(tf.constant(x), tf.constant([5, 9], tf.int64)).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.max() <= 1.0 and a.min() >= 0.0
    n_darkened = 0
    for i in range(64):  # each output is an integer shift of its input (-2..2 px) times a factor in [0.5, 1]
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                moved = aug.shift(x[i:i + 1], np.array([dy]), np.array([dx]))[0]
                factor = a[i].sum() / moved.sum()
                if np.allclose(a[i], moved * factor, atol=1e-5):
                    matches.append(factor)
        assert matches and 0.5 - 1e-4 <= matches[0] <= 1.0 + 1e-4, i
        n_darkened += matches[0] < 0.999
    assert 10 < n_darkened < 54  # about half are darkened


@pytest.mark.parametrize("choice", ["pixels/255", "mean-std"])
def test_pipeline_scales_pixels_as_the_preprocessing_table_says(mnist_small, choice):
    """Training feeds what export calibrates on and bench measures with: config.json's preprocessing.

    pixels/255 on MNIST, and mean-std (computed on the images, per channel) on 3-channel images.
    """
    from edgenets.preprocessing import preprocess, resolve
    from edgenets.train.pipeline import eval_dataset, train_dataset

    x, y = mnist_small.x_train[:300], mnist_small.y_train[:300]
    if choice == "mean-std":  # three different channels out of the digits: the image, its negative, a ramp
        ramp = np.broadcast_to(np.arange(28, dtype=np.uint8)[None, :, None] * 9, x.shape)
        x = np.concatenate([x, 255 - x, ramp], axis=-1)
    spec = resolve(choice, x)
    if choice == "mean-std":
        assert len(spec["mean"]) == 3 and len(set(spec["mean"])) == 3
    expected = preprocess(x, spec)
    evaluated = np.concatenate([b.numpy() for b, _ in eval_dataset(x, y, batch_size=128, preprocessing=spec)])
    np.testing.assert_allclose(evaluated, expected, rtol=1e-6, atol=0)
    if choice == "mean-std":  # the same float32 operations in the same order: equal to the bit
        np.testing.assert_array_equal(evaluated, expected)
    # the un-augmented training batches are the same images, in a shuffled order
    batches = list(train_dataset(x, y, batch_size=100, seed=3, augment=False, initial_epoch=0, epochs=1,
                                 preprocessing=spec))
    trained = np.concatenate([b.numpy() for b, _ in batches])
    labels = np.concatenate([lab.numpy() for _, lab in batches])
    where = {}  # pixel bytes -> indices of the source images (MNIST has a few exact duplicates)
    for i, img in enumerate(x):
        where.setdefault(img.tobytes(), []).append(i)
    used = []
    to_pixels = (lambda a: a * 255) if choice == "pixels/255" else \
        (lambda a: (a * np.float32(spec["std"]) + np.float32(spec["mean"])) * 255)
    for img, label in zip(trained, labels):
        i = where[np.round(to_pixels(img)).astype(np.uint8).tobytes()].pop()
        np.testing.assert_allclose(img, expected[i], rtol=1e-6, atol=0)
        assert label == y[i]
        used.append(i)
    assert sorted(used) == list(range(len(x)))  # each image exactly once per epoch


def test_curves_plot_the_history_and_put_positive_loss_on_a_log_axis():
    from edgenets.train.plots import curves_figure

    history = [{"epoch": e, "loss": l, "val_loss": vl, "accuracy": a, "val_accuracy": va}
               for e, l, vl, a, va in ((1, 0.46, 4.52, 0.85, 0.31), (2, 0.16, 0.20, 0.95, 0.94), (3, 0.12, 0.24, 0.96, 0.92))]
    loss_ax, acc_ax = curves_figure(history, "t").axes
    assert loss_ax.get_yscale() == "log" and acc_ax.get_yscale() == "linear"
    for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        train, val = ax.get_lines()
        assert list(train.get_xdata()) == [1, 2, 3]
        assert list(train.get_ydata()) == [r[key] for r in history]
        assert list(val.get_ydata()) == [r[f"val_{key}"] for r in history]
    # a zero (or NaN) loss cannot go on a log axis: the panel stays linear rather than dropping points
    history[1]["loss"] = 0.0
    assert curves_figure(history).axes[0].get_yscale() == "linear"


def test_alpha_builds_the_narrower_model_records_it_and_reports_each_epoch(tmp_path, mnist_npz):
    """--alpha reaches create_model (the saved model is the registry's at that width), config.json keeps it,
    the default run name says it, and on_epoch sees every committed epoch."""
    import keras

    from edgenets.models import create_model
    from edgenets.train import train_run

    seen = []
    result = train_run("mobilenet", str(mnist_npz), alpha=0.25, epochs=2, batch_size=64, augment="none", limit=600,
                       out=tmp_path, quiet=True, on_epoch=seen.append)
    run_dir = tmp_path / "mobilenet-a0.25-mnist-subset-default-s0"
    assert result["run_dir"] == str(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["settings"]["alpha"] == 0.25
    saved = keras.models.load_model(run_dir / "model.keras", compile=False)
    assert saved.count_params() == create_model("mobilenet", num_classes=10, input_shape=(28, 28, 1),
                                                alpha=0.25).count_params()
    assert saved.count_params() < create_model("mobilenet", num_classes=10, input_shape=(28, 28, 1)).count_params()
    assert [row["epoch"] for row in seen] == [1, 2]
    assert [row["val_accuracy"] for row in seen] == [float(r["val_accuracy"]) for r in _history(run_dir)]


def test_a_config_from_before_alpha_resumes_at_width_one(tmp_path, one_epoch_run, run_cli):
    """Run directories written before --alpha existed have no settings.alpha: they were width 1.0."""
    import shutil

    run_dir, _ = one_epoch_run
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    config = json.loads((old / "config.json").read_text())
    del config["settings"]["alpha"]
    (old / "config.json").write_text(json.dumps(config))
    from edgenets.train.settings import resolve_settings

    plan = resolve_settings(None, None, recipe=None, epochs=2, batch_size=None, augment=None, val_split=None, seed=None,
                            limit=None, preprocessing=None, options={}, name=None, out=tmp_path, resume=old, force=False)
    assert plan.settings.alpha == 1.0
    assert_one_line_error(run_cli("train", "--resume", old, "--epochs", "2", "--alpha", "0.5"), "--alpha")
