"""Data of any shape: colour image folders of several sizes, NPZ and CSV of any (H, W, C), any labels and
class names, scikit-learn's 8x8 digits; every odd input is one error line; load_options reload the same arrays.

Cheap: tiny synthetic images written with Pillow in the test, no TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgenets.data import Dataset, load_dataset, parse_shape, parse_size, save_csv
from edgenets.errors import InputError

Image = pytest.importorskip("PIL.Image")

# solid colours, one per class: a bilinear resize of a solid image keeps its colour exactly
COLOURS = {"red": (200, 30, 40), "green": (20, 180, 60), "blue": (10, 40, 220), "grey": (128, 128, 128),
           "yellow": (230, 210, 20)}


def _luma(rgb) -> float:
    """ITU-R 601-2 luma, the grey value of a colour (what a greyscale conversion computes)."""
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def _write(path: Path, rgb, size_wh, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size_wh, rgb)
    (image.convert("L") if mode == "L" else image).save(path)


def _same_arrays(a: Dataset, b: Dataset) -> None:
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert (a.x_test is None) == (b.x_test is None)
    if a.x_test is not None:
        np.testing.assert_array_equal(a.x_test, b.x_test)
        np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.class_names == b.class_names


def _reloads_identically(spec, data: Dataset) -> None:
    _same_arrays(load_dataset(spec, **data.load_options), data)


# ----------------------------------------------------------------------------- image folders


@pytest.fixture(scope="module")
def mixed_sizes(tmp_path_factory) -> Path:
    """3 colour classes; 4 images of 20x16 (HxW) per class and one of 12x30 in 'blue'."""
    root = tmp_path_factory.mktemp("mixed-sizes")
    for cls in ("red", "green", "blue"):
        for i in range(4):
            _write(root / cls / f"{i}.png", COLOURS[cls], (16, 20))
    _write(root / "blue" / "wide.png", COLOURS["blue"], (30, 12))
    return root


def test_colour_folder_keeps_colour_and_takes_the_most_common_size(mixed_sizes, run_cli):
    data = load_dataset(mixed_sizes)
    assert data.x_train.shape == (13, 20, 16, 3) and data.x_train.dtype == np.uint8
    assert data.image_shape == (20, 16, 3) and data.color == "rgb"
    assert data.class_names == ("blue", "green", "red")  # folder names, sorted
    np.testing.assert_array_equal(np.bincount(data.y_train), [5, 4, 4])
    for image, label in zip(data.x_train, data.y_train):
        assert (image == COLOURS[data.class_names[label]]).all()
    assert "20x16" in data.source["note"] and "12x30 (1)" in data.source["note"]
    assert data.load_options == {}
    _reloads_identically(mixed_sizes, data)
    shown = run_cli("data", "info", mixed_sizes)
    assert shown.code == 0, shown.err
    assert "images 20x16x3 (rgb)" in shown.out and "classes: 3 (blue, green, red)" in shown.out
    assert "note: images resized to 20x16" in shown.out


def test_colour_folder_to_the_size_and_colour_asked(mixed_sizes):
    data = load_dataset(mixed_sizes, color="grey", image_size="8x10")
    assert data.x_train.shape == (13, 8, 10, 1) and "note" not in data.source
    assert data.load_options == {"color": "grey", "image_size": [8, 10]}
    for image, label in zip(data.x_train, data.y_train):
        assert np.abs(image.astype(float) - _luma(COLOURS[data.class_names[label]])).max() <= 1
    _reloads_identically(mixed_sizes, data)
    # --image-shape on images that have a shape: their size and colour
    shaped = load_dataset(mixed_sizes, image_shape=(8, 10, 1))
    np.testing.assert_array_equal(shaped.x_train, data.x_train)
    assert shaped.load_options == {"image_shape": [8, 10, 1]}


def test_train_and_test_folders_of_five_numeric_classes(tmp_path):
    names = ["1", "2", "3", "10", "20"]  # numeric folder names sort numerically
    for k, cls in enumerate(names):
        rgb = list(COLOURS.values())[k]
        for i in range(3):
            _write(tmp_path / "train" / cls / f"{i}.png", rgb, (12, 12))
        if cls != "3":  # the test split may lack a class
            _write(tmp_path / "test" / cls / "0.png", rgb, (12, 12))
    data = load_dataset(tmp_path)
    assert data.class_names == tuple(names) and data.num_classes == 5
    assert data.x_train.shape == (15, 12, 12, 3) and data.x_test.shape == (4, 12, 12, 3)
    np.testing.assert_array_equal(data.y_test, [0, 1, 3, 4])
    for image, label in zip(data.x_test, data.y_test):
        assert (image == list(COLOURS.values())[label]).all()


def test_mixed_grey_and_colour_needs_color(tmp_path, run_cli):
    _write(tmp_path / "a" / "grey.png", (90, 90, 90), (8, 8), mode="L")
    _write(tmp_path / "b" / "colour.png", (200, 30, 40), (8, 8))
    assert_one_line_error(run_cli("data", "info", tmp_path), "mixed grey and colour images",
                          str(tmp_path / "a" / "grey.png"), str(tmp_path / "b" / "colour.png"), "--color")
    data = load_dataset(tmp_path, color="rgb")
    assert data.x_train.shape == (2, 8, 8, 3)
    assert (data.x_train[0] == 90).all() and (data.x_train[1] == (200, 30, 40)).all()
    assert data.load_options == {"color": "rgb"}


def test_folder_errors(tmp_path, run_cli):
    _write(tmp_path / "one" / "a.png", (1, 2, 3), (4, 4))
    assert_one_line_error(run_cli("data", "info", tmp_path), "only one class (one)")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not an image")
    assert_one_line_error(run_cli("data", "info", tmp_path), f"{tmp_path / 'empty'}: class folder has no images")
    _write(tmp_path / "empty" / "b.png", (1, 2, 3), (4, 4))
    broken = tmp_path / "one" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    assert_one_line_error(run_cli("data", "info", tmp_path), f"{broken}: not a readable image")
    broken.unlink()
    assert load_dataset(tmp_path).num_classes == 2
    _write(tmp_path / "test" / "other" / "c.png", (1, 2, 3), (4, 4))
    (tmp_path / "train").mkdir()
    for cls in ("one", "empty"):
        (tmp_path / cls).rename(tmp_path / "train" / cls)
    assert_one_line_error(run_cli("data", "info", tmp_path), "class 'other' has no folder in")


# ----------------------------------------------------------------------------- NPZ


def test_npz_of_colour_images_with_string_labels(tmp_path):
    rng = np.random.RandomState(0)
    x_train = rng.randint(0, 256, size=(12, 32, 32, 3)).astype(np.uint8)
    x_test = rng.randint(0, 256, size=(6, 32, 32, 3)).astype(np.uint8)
    y_train = np.array(["truck", "car", "bike"] * 4)
    y_test = np.array(["car", "bike"] * 3)
    path = tmp_path / "vehicles.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    data = load_dataset(path)
    assert data.class_names == ("bike", "car", "truck") and data.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(data.x_train, x_train)
    np.testing.assert_array_equal(data.y_train, [2, 1, 0] * 4)
    np.testing.assert_array_equal(data.y_test, [1, 0] * 3)
    assert data.y_train.dtype == np.int64
    _reloads_identically(path, data)
    small = load_dataset(path, image_size=(16, 16), color="grey")
    assert small.x_train.shape == (12, 16, 16, 1) and small.x_test.shape == (6, 16, 16, 1)
    _reloads_identically(path, small)


def test_npz_of_grey_8x8_with_class_names(tmp_path, run_cli):
    x = np.arange(10 * 64).reshape(10, 8, 8) % 256
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x, y_train=np.array(["b", "a"] * 5))
    data = load_dataset(path)
    assert data.x_train.shape == (10, 8, 8, 1) and data.class_names == ("a", "b")
    np.testing.assert_array_equal(data.x_train[..., 0], x)
    named = tmp_path / "named.npz"
    np.savez(named, x_train=x, y_train=np.arange(10) % 3, class_names=np.array(["cat", "dog", "emu", "fox"]))
    data = load_dataset(named)
    assert data.class_names == ("cat", "dog", "emu", "fox")
    np.testing.assert_array_equal(data.y_train, np.arange(10) % 3)  # indices into class_names, kept
    np.savez(named, x_train=x, y_train=np.arange(10) % 5, class_names=np.array(["cat", "dog", "emu", "fox"]))
    assert_one_line_error(run_cli("data", "info", named), "[y_train] item 4: label 4 outside 0..3",
                          "[class_names] has 4 names")


def test_npz_flat_rows_and_splits_of_other_sizes(tmp_path, run_cli):
    rng = np.random.RandomState(1)
    x = rng.randint(0, 256, size=(6, 4, 5, 3)).astype(np.uint8)
    path = tmp_path / "flat.npz"
    np.savez(path, x_train=x.reshape(6, -1), y_train=np.arange(6) % 2)
    assert_one_line_error(run_cli("data", "info", path), "rows of 60 pixels are not a square grey image",
                          "--image-shape")
    data = load_dataset(path, image_shape="4x5x3")
    np.testing.assert_array_equal(data.x_train, x)
    _reloads_identically(path, data)
    assert_one_line_error(run_cli("data", "info", path, "--image-shape", "5x5x3"),
                          "rows of 60 pixels, but --image-shape 5x5x3 needs 75")
    np.savez(path, x_train=x, y_train=np.arange(6) % 2, x_test=x[:, :3], y_test=np.arange(6) % 2)
    assert_one_line_error(run_cli("data", "info", path), "test images are 3x5x3 but training images are 4x5x3",
                          "--image-size")
    assert load_dataset(path, image_size="4x5").x_test.shape == (6, 4, 5, 3)


# ----------------------------------------------------------------------------- CSV and names files


def test_csv_of_colour_rows_needs_its_shape(tmp_path, run_cli):
    rng = np.random.RandomState(2)
    x = rng.randint(0, 256, size=(9, 6, 6, 3)).astype(np.uint8)
    y = np.array([12, 3, 7] * 3)  # any integers
    path = tmp_path / "colour.csv"
    save_csv(path, x, y)
    assert_one_line_error(run_cli("data", "info", path), "108 pixel columns besides the label",
                          "not a square grey image", "--image-shape")
    assert_one_line_error(run_cli("data", "info", path, "--image-shape", "8x8x3"),
                          "109 columns, expected 193 (label + 192 pixels) or 192", "--image-shape")
    data = load_dataset(path, image_shape="6x6x3")
    np.testing.assert_array_equal(data.x_train, x)
    assert data.class_names == ("3", "7", "12")  # sorted as numbers, names are the values
    np.testing.assert_array_equal(data.y_train, [2, 0, 1] * 3)
    _reloads_identically(path, data)
    save_csv(path, x, y, header=False)  # without a header: the label is the first column, one wider than the image
    _same_arrays(load_dataset(path, image_shape="6x6x3"), data)


def test_csv_names_file_and_shared_mapping(tmp_path, run_cli):
    x = (np.arange(8 * 16).reshape(8, 4, 4, 1) * 3 % 256).astype(np.uint8)
    save_csv(tmp_path / "train.csv", x, np.array([0, 1, 2, 0, 1, 2, 0, 1]))
    save_csv(tmp_path / "test.csv", x[:3], np.array([2, 1, 0]))
    (tmp_path / "labels.txt").write_text("zero\none\ntwo\nthree\n")
    data = load_dataset(tmp_path)
    assert data.class_names == ("zero", "one", "two", "three") and data.source["class_names_from"].endswith("labels.txt")
    np.testing.assert_array_equal(data.y_test, [2, 1, 0])
    shown = run_cli("data", "info", tmp_path)
    assert "classes: 4 (zero, one, two, three), names from" in shown.out, shown.err
    save_csv(tmp_path / "test.csv", x[:3], np.array([2, 4, 0]))
    assert_one_line_error(run_cli("data", "info", tmp_path), f"{tmp_path / 'test.csv'}: line 3: label 4 outside 0..3",
                          "has 4 names")
    (tmp_path / "labels.txt").unlink()  # without names: the training labels' values, and test must share them
    save_csv(tmp_path / "test.csv", x[:3], np.array([2, 5, 0]))
    assert_one_line_error(run_cli("data", "info", tmp_path),
                          f"{tmp_path / 'test.csv'}: line 3: label 5 does not occur in the training labels")
    (tmp_path / "labels.txt").write_text("zero\none\nzero\n")
    assert_one_line_error(run_cli("data", "info", tmp_path), "labels.txt: line 3: class name 'zero' given twice")


def test_too_few_images_and_one_class(tmp_path, run_cli):
    x = np.zeros((3, 5, 5, 1), np.uint8)
    few = tmp_path / "few" / "d.csv"
    few.parent.mkdir()
    save_csv(few, x, np.array([0, 1, 2]))
    (few.parent / "classes.txt").write_text("\n".join("abcde") + "\n")
    assert_one_line_error(run_cli("data", "info", few), "3 training images for 5 classes")
    one = tmp_path / "one.csv"
    save_csv(one, x, np.array([4, 4, 4]))
    assert_one_line_error(run_cli("data", "info", one), "only one class (4)")
    save_csv(one, x, None)  # unlabelled: images to predict, no class checks
    data = load_dataset(one)
    assert data.y_train is None and data.class_names == () and data.x_train.shape == (3, 5, 5, 1)


# ----------------------------------------------------------------------------- scikit-learn's 8x8 digits


@pytest.fixture(scope="module")
def digits():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sklearn_datasets.load_digits()
    # 0..16 grey levels -> 0..255, rounded
    x = np.round(bunch.images * 255.0 / 16.0).astype(np.uint8)
    return x, bunch.target


def test_sklearn_digits_as_npz_and_csv(tmp_path, digits):
    x, y = digits
    assert x.shape == (1797, 8, 8) and x.max() == 255
    np.savez(tmp_path / "digits.npz", x_train=x[:1500], y_train=y[:1500], x_test=x[1500:], y_test=y[1500:])
    npz = load_dataset(tmp_path / "digits.npz")
    folder = tmp_path / "csv"
    save_csv(folder / "train.csv", x[:1500, ..., None], y[:1500])
    save_csv(folder / "test.csv", x[1500:, ..., None], y[1500:])
    csv = load_dataset(folder)
    for data in (npz, csv):
        assert data.image_shape == (8, 8, 1) and data.num_classes == 10
        assert data.class_names == tuple(str(d) for d in range(10))
        np.testing.assert_array_equal(data.x_train[..., 0], x[:1500])
        np.testing.assert_array_equal(data.y_test, y[1500:])
    _same_arrays(npz, csv)


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("args, fragment", [
    (("--image-size", "32"), "--image-size must be HxW, e.g. 32x32. Received: '32'"),
    (("--image-size", "0x32"), "--image-size must be positive"),
    (("--image-size", "32x-1"), "--image-size must be HxW"),
    (("--image-shape", "32x32"), "--image-shape must be HxWxC, e.g. 32x32x3. Received: '32x32'"),
    (("--image-shape", "32x32x4"), "--image-shape must end in 1 (grey) or 3 (rgb) channels"),
    (("--image-shape", "8x8x3", "--color", "grey"), "--color grey and --image-shape 8x8x3 disagree"),
    (("--image-shape", "8x8x1", "--image-size", "4x4"), "--image-size 4x4 and --image-shape 8x8x1 disagree"),
])
def test_malformed_options_are_one_line(run_cli, args, fragment):
    assert_one_line_error(run_cli("data", "info", "mnist", *args), fragment)


def test_parse_size_and_shape():
    assert parse_size("32x32") == (32, 32) and parse_size(" 96 X 64 ") == (96, 64) and parse_size([8, 10]) == (8, 10)
    assert parse_shape("32x32x3") == (32, 32, 3) and parse_shape((28, 28, 1)) == (28, 28, 1)
    with pytest.raises(InputError, match="--input must be HxWxC"):
        parse_shape("96x96", option="--input")
    with pytest.raises(InputError, match="--image-size must be 2 whole numbers"):
        parse_size((32, 32.5))


def test_builtin_unchanged_and_reloads(mnist):
    assert mnist.image_shape == (28, 28, 1) and mnist.load_options == {} and mnist.color == "grey"
    assert mnist.class_names == tuple(str(i) for i in range(10))


def test_an_evaluation_file_with_a_token_training_split_loads(tmp_path):
    """edgenets.remote ships bench's images as x_test beside a one-image x_train: loadable, but not trainable."""
    from edgenets.data import check_trainable

    x, y = np.zeros((20, 6, 6), np.uint8), np.arange(20) % 10
    path = tmp_path / "eval.npz"
    np.savez(path, x_train=x[:1], y_train=y[:1], x_test=x, y_test=y, class_names=np.array(list("abcdefghij")))
    data = load_dataset(path)
    assert data.num_classes == 10 and len(data.y_train) == 1
    np.testing.assert_array_equal(data.y_test, y)
    with pytest.raises(InputError, match="1 training image for 10 classes"):
        check_trainable(data)


def test_16_bit_and_float_grey_images_scale_by_a_fixed_rule(tmp_path):
    """Never by the image's own maximum: two images of one scene differing in one pixel come out alike."""
    from PIL import Image

    from edgenets.data.images import read_image

    a = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    b = a.copy()
    b[0, 0] = 300
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")
    ra, rb = read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png")
    assert ra[4, 4, 0] == rb[4, 4, 0] == round(36000 / 257)
    Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8), mode="F").save(tmp_path / "f.tiff")
    f = read_image(tmp_path / "f.tiff")
    assert f.dtype == np.uint8 and f.min() == 0 and f.max() == 255


def test_an_evaluation_set_may_hold_one_class(tmp_path):
    """bench scores a set holding some of a model's classes (matched by name); training still refuses one class."""
    from PIL import Image

    from edgenets.bench.runner import load_eval_data
    from edgenets.data import load_dataset

    (tmp_path / "cat").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(tmp_path / "cat" / f"{i}.png")
    data = load_eval_data(str(tmp_path))
    assert data["class_names"] == ["cat"] and len(data["labels"]) == 2
    with pytest.raises(InputError, match="only one class"):
        load_dataset(tmp_path)
