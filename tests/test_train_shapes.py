"""edgenets train beyond 28x28 grey digits: the model follows the data's shape, mean-std preprocessing,
augmentation that scales with the image, defaults that fit small data, plots for many classes.

Synthetic colour images whose class is their dominant colour (learnable in one epoch), and
scikit-learn's 8x8 digits; the smallest registered model, 1-2 epochs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgenets.data import Dataset
from edgenets.errors import InputError
from edgenets.train import augment as aug

MODEL = "shufflenet"  # the smallest registered model


def colour_images(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Class k's images are noise with channel k raised: red, green or blue dominant."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.integers(0, 120, size=(n, size, size, 3))
    x[np.arange(n), :, :, y] += 120
    return x.astype(np.uint8), y.astype(np.int64)


@pytest.fixture(scope="module")
def colour_npz(tmp_path_factory):
    x, y = colour_images(300, seed=1)
    xt, yt = colour_images(90, seed=2)
    path = tmp_path_factory.mktemp("data") / "colours.npz"
    np.savez(path, x_train=x, y_train=y, x_test=xt, y_test=yt)
    return path


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory, colour_npz):
    """A 3-epoch mean-std run on 32x32x3 colour images loaded at --image-size 24x24, the recipe's batch size
    fitted to its 270 training images (shared by the config, metrics and resume tests)."""
    from edgenets.train import train_run

    out = tmp_path_factory.mktemp("runs")
    lines: list[str] = []
    result = train_run(MODEL, str(colour_npz), epochs=3, preprocessing="mean-std", image_size="24x24", out=out,
                       name="c", quiet=True, log=lines.append)
    return out / "c", result, lines


@pytest.mark.slow
def test_colour_run_builds_for_the_data_and_saves_shape_spec_and_options(colour_run, colour_npz):
    import keras

    from edgenets import runconfig
    from edgenets.data import load_dataset, train_val_split
    from edgenets.preprocessing import mean_std, preprocess

    run_dir, result, lines = colour_run
    config = json.loads((run_dir / "config.json").read_text())
    assert config["input_shape"] == [24, 24, 3] and config["num_classes"] == 3
    assert config["data_options"] == {"image_size": [24, 24]}
    # mean-std from the training split alone: recomputed from the same seeded split of the same images
    data = load_dataset(colour_npz, image_size=(24, 24), quiet=True)
    x_tr, _, _, _ = train_val_split(data.x_train, data.y_train, 0.1, 0)
    assert config["preprocessing"] == mean_std(x_tr) != mean_std(data.x_train)
    assert config["settings"]["preprocessing"] == "mean-std" and config["settings"]["batch_size"] == 16
    online = config["augmentation"]["online"]
    assert online["max_shift"] == 2 and online["colour_jitter"]["contrast_factor"] == [0.8, 1.2]
    assert "proportion" in config["augmentation"]["rule"]
    read = runconfig.read(run_dir)  # the schema module accepts what train wrote, and reloads the same images
    assert read.input_shape == (24, 24, 3) and read.preprocessing == config["preprocessing"]
    np.testing.assert_array_equal(read.load_data().x_test, data.x_test)
    model = keras.models.load_model(run_dir / "model.keras", compile=False)
    assert tuple(model.input_shape[1:]) == (24, 24, 3) and model.output_shape[-1] == 3
    # the test split is scored with the run's preprocessing: the model's own predictions agree
    pred = model.predict(preprocess(data.x_test, config["preprocessing"]), verbose=0).argmax(1)
    metrics = result["metrics"]
    assert metrics["test"]["accuracy"] == pytest.approx(np.mean(pred == data.y_test), abs=1e-6)
    assert metrics["test"]["accuracy"] > 0.6  # chance is 1/3
    start = [line for line in lines if line.startswith("training shufflenet")]
    assert len(start) == 1 and "input 24x24x3, 3 classes, preprocessing (pixels/255 - mean) / std" in start[0]
    assert any(line.startswith("batch size 16: the default recipe's 128") for line in lines)


@pytest.mark.slow
def test_resume_of_a_shaped_run_reloads_its_data_and_keeps_its_preprocessing(tmp_path, colour_run, run_cli):
    import shutil

    run_dir, _, _ = colour_run
    resumed = tmp_path / "c"
    shutil.copytree(run_dir, resumed)
    before = json.loads((run_dir / "config.json").read_text())
    for flag, value, fragment in (("--preprocessing", "pixels/255", "keeps its settings"),
                                  ("--image-size", "32x32", "keeps its data options")):
        assert_one_line_error(run_cli("train", "--resume", resumed, "--epochs", "4", flag, value), flag, fragment)
    # no data options given: the saved --image-size 24x24 reloads the images the model was built for
    res = run_cli("train", "--resume", resumed, "--epochs", "4", "--quiet")
    assert res.code == 0, res.err
    after = json.loads((resumed / "config.json").read_text())
    for key in ("preprocessing", "input_shape", "data_options", "class_names"):
        assert after[key] == before[key], key
    assert after["settings"]["batch_size"] == 16 and after["resumed"][0]["at_epoch"] == 3
    assert [r["epoch"] for r in json.loads((resumed / "checkpoints" / "state.json").read_text())["history"]] == [1, 2, 3, 4]
    assert "resuming shufflenet at epoch 4/4: input 24x24x3" in res.err


@pytest.mark.slow
def test_8x8_digits_with_the_default_batch_fitted_to_a_small_training_split(tmp_path, run_cli):
    """scikit-learn's digits (8x8 grey, 10 classes, no test split) through the CLI: the recipe's batch of 128
    would make one step an epoch of the 100 training images --limit keeps, so it shrinks (to 8, the floor)
    and the log says so."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * 255 / 16).astype(np.uint8)[..., None]
    npz = tmp_path / "digits.npz"
    np.savez(npz, x_train=x, y_train=digits.target)
    res = run_cli("train", "--model", MODEL, "--dataset", npz, "--limit", "100", "--epochs", "1", "--out",
                  tmp_path / "runs", "--name", "d", "--quiet")
    assert res.code == 0, res.err
    run_dir = tmp_path / "runs" / "d"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["input_shape"] == [8, 8, 1] and config["num_classes"] == 10 and config["preprocessing"] == "pixels/255"
    splits = config["data"]["splits"]
    assert splits["train"] == 100 and splits["test"] == round(1797 * 0.1)
    assert config["settings"]["batch_size"] == 8
    assert "batch size 8: the default recipe's 128 would give 1 step(s) an epoch on 100 training images" in res.err
    assert "input 8x8x1, 10 classes, preprocessing pixels/255" in res.err
    assert config["augmentation"]["online"]["max_shift"] == 1 and config["augmentation"]["online"]["colour_jitter"] is None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["test"]["per_class"]) == 10 and metrics["test"]["images"] == splits["test"]
    # an explicit batch size the training split cannot fill is an error, before any run directory
    bad = run_cli("train", "--model", MODEL, "--dataset", npz, "--limit", "100", "--batch-size", "256", "--out",
                  tmp_path / "runs2", "--quiet")
    assert_one_line_error(bad, "--batch-size 256", "100 images")
    assert not (tmp_path / "runs2").exists()


# ------------------------------------------------------------------ cheap: no training


def test_max_shift_is_in_proportion_to_the_side():
    assert [aug.max_shift(s) for s in (28, 32, 56, 96, 8, 6, 224)] == [2, 2, 4, 7, 1, 0, 16]
    params = aug.draw_params(2000, seed=1, shape=(56, 56, 3))
    assert params["dy"].min() == -4 and params["dy"].max() == 4 and params["dx"].max() == 4
    params = aug.draw_params(2000, seed=1, shape=(28, 56))
    assert (params["dy"].min(), params["dy"].max(), params["dx"].min(), params["dx"].max()) == (-2, 2, -4, 4)
    # at 28x28 the draws are the study's, whether the shape is given or not
    for key in ("dy", "dx", "factor"):
        np.testing.assert_array_equal(aug.draw_params(50, 3)[key], aug.draw_params(50, 3, (28, 28, 1))[key])
    assert aug.describe((56, 56, 1))["shift_pixels"] == [-4, 4]


def _dot_images(n: int, h: int, w: int, c: int) -> np.ndarray:
    x = np.zeros((n, h, w, c), np.float32)
    x[:, h // 2, w // 2, :] = 1.0
    return x


@pytest.mark.parametrize("h, w", [(56, 56), (28, 56)])
def test_online_shift_scales_with_the_image(h, w):
    import tensorflow as tf

    x = _dot_images(400, h, w, 1)
    out = aug.online_augment(tf.constant(x), tf.constant([1, 2], tf.int64)).numpy()
    ys, xs = [], []
    for img in out:  # a grey image: the one dot moves by an integer offset and is darkened or not
        (yy, xx), = np.argwhere(img[..., 0] > 0)
        ys.append(yy - h // 2)
        xs.append(xx - w // 2)
        assert 0.5 - 1e-6 <= img.max() <= 1.0
    my, mx = aug.max_shift(h), aug.max_shift(w)
    assert (min(ys), max(ys), min(xs), max(xs)) == (-my, my, -mx, mx)


def test_colour_jitter_only_on_colour_images():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    seed = tf.constant([4, 7], tf.int64)
    grey = rng.uniform(0, 1, (64, 32, 32, 1)).astype(np.float32)
    out = aug.online_augment(tf.constant(grey), seed).numpy()
    for i in range(64):  # a grey image is only shifted and scaled: no jitter
        ok = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                moved = aug.shift(grey[i:i + 1], np.array([dy]), np.array([dx]))[0]
                factor = out[i].sum() / moved.sum()
                ok = ok or np.allclose(out[i], moved * factor, atol=1e-5)
        assert ok, i
    colour = rng.uniform(0.2, 0.8, (64, 32, 32, 3)).astype(np.float32)
    a = aug.online_augment(tf.constant(colour), seed).numpy()
    np.testing.assert_array_equal(a, aug.online_augment(tf.constant(colour), seed).numpy())  # seeded
    assert not np.array_equal(a, aug.online_augment(tf.constant(colour), seed + 1).numpy())
    assert a.min() >= 0.0 and a.max() <= 1.0
    # the centre is never shifted out of the frame: compare each channel's centre mean with the input's
    centre = (slice(None), slice(4, 28), slice(4, 28))
    ratio = a[centre].mean(axis=(1, 2)) / colour[centre].mean(axis=(1, 2))  # (64, 3)
    assert np.ptp(ratio, axis=1).max() > 0.01  # channels changed unequally: colour, not just darkening
    # a grey picture in three channels stays grey (brightness/contrast/saturation act on all alike)
    tiled = np.repeat(grey, 3, axis=-1)
    t = aug.online_augment(tf.constant(tiled), seed).numpy()
    np.testing.assert_allclose(t[..., 0], t[..., 1], atol=1e-6)
    np.testing.assert_allclose(t[..., 0], t[..., 2], atol=1e-6)


def test_splits_with_three_images_per_class_fall_back_and_say_so():
    from edgenets.train.run import Settings, make_splits

    y = np.repeat(np.arange(40), 3)
    x = np.zeros((120, 8, 8, 1), np.uint8)
    data = Dataset("tiny", x, y, class_names=tuple(f"c{i}" for i in range(40)))
    settings = Settings(MODEL, "tiny", "default", 1, 128, "online", 0.1, 0, None)
    splits = make_splits(data, settings)
    assert splits.info["train"] + splits.info["val"] + splits.info["test"] == 120
    assert splits.info["stratified"] == {"test": False, "val": False, "limit": None}
    assert splits.notes[:2] == [
        "test split (12 of 120 images) drawn at random, not stratified: 40 classes (the smallest has 3 image(s)) "
        "need 2 images per class and 40 on each side",
        "validation split (11 of 108 images) drawn at random, not stratified: 40 classes (the smallest has 2 "
        "image(s)) need 2 images per class and 40 on each side"]
    # 30 images per class: stratified, nothing to say
    y30 = np.repeat(np.arange(4), 30)
    ok = make_splits(Dataset("ok", np.zeros((120, 8, 8, 1), np.uint8), y30, class_names=tuple("abcd")), settings)
    assert ok.info["stratified"] == {"test": True, "val": True, "limit": None} and not ok.notes
    two = Dataset("two", x[:2], y[:2], class_names=tuple(f"c{i}" for i in range(40)))
    with pytest.raises(InputError, match="2 labelled image"):
        make_splits(two, settings)


@pytest.mark.parametrize("args, fragment", [
    (["--image-size", "32by32"], "--image-size"),
    (["--image-size", "0x32"], "--image-size"),
    (["--image-shape", "32x32x2"], "--image-shape"),
    (["--image-shape", "32x32"], "--image-shape"),
])
def test_bad_shape_options_one_line_error(tmp_path, run_cli, args, fragment):
    res = run_cli("train", "--model", MODEL, *args, "--out", tmp_path / "runs", "--quiet")
    assert_one_line_error(res, fragment)
    assert not (tmp_path / "runs").exists()


def test_unknown_colour_and_preprocessing_are_rejected_by_the_cli(tmp_path, run_cli):
    for flag, value in (("--color", "purple"), ("--preprocessing", "pixels/127")):
        res = run_cli("train", "--model", MODEL, flag, value, "--out", tmp_path / "runs")
        assert res.code == 2 and flag in res.err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("k, annotated", [(10, True), (40, False)])
def test_confusion_plot_stays_readable_with_many_classes(k, annotated):
    from edgenets.train.plots import confusion_figure

    cm = np.random.default_rng(0).integers(0, 9, (k, k))
    fig = confusion_figure(cm, [f"class_{i}" for i in range(k)], "shufflenet 32x32x3: test accuracy 0.5")
    ax = fig.axes[0]
    assert len(ax.texts) == (k * k if annotated else 0)
    assert len(ax.get_xticklabels()) == k
    assert ax.get_xticklabels()[0].get_fontsize() <= 9
    assert fig.get_size_inches()[1] >= (5.5 if k == 10 else 0.3 * k)


def test_default_batch_size_fits_the_training_set():
    from edgenets.train.recipes import MIN_BATCH, MIN_STEPS_PER_EPOCH, RECIPES, batch_size_for

    default, seed = RECIPES["default"], RECIPES["seed"]
    assert batch_size_for(default, 54_000) == 128 and batch_size_for(seed, 54_000) == 32  # MNIST: the recipe's
    assert batch_size_for(default, 2048) == 128 and batch_size_for(default, 2047) == 64
    assert batch_size_for(default, 364) == 16  # the 450-image folder, less validation and test
    assert batch_size_for(default, 100) == MIN_BATCH == 8 and batch_size_for(default, 5) == 5
    for n in range(1, 3000, 37):
        b = batch_size_for(default, n)
        assert b <= n and (n >= MIN_STEPS_PER_EPOCH * b or b == min(n, MIN_BATCH))


def test_online_augmentation_runs_on_pixels_before_the_mean_std_normalisation():
    """Shifted-in pixels are black (0 in pixels/255) and darkening scales towards black: the batch, with the
    normalisation undone, is augmented pixels/255 -- were it augmented after normalising, the fill would be
    the mean colour."""
    from edgenets.preprocessing import resolve
    from edgenets.train.pipeline import train_dataset

    rng = np.random.default_rng(3)
    x = rng.integers(100, 256, size=(64, 24, 24, 3)).astype(np.uint8)  # no black pixel to start with
    y = np.zeros(64, np.int64)
    spec = resolve("mean-std", x)
    batch = next(iter(train_dataset(x, y, batch_size=64, seed=0, augment=True, initial_epoch=0, epochs=1,
                                    preprocessing=spec)))[0].numpy()
    pixels = batch * np.float32(spec["std"]) + np.float32(spec["mean"])
    assert pixels.min() > -1e-5 and pixels.max() < 1 + 1e-5
    black = np.all(np.abs(pixels) < 1e-5, axis=-1)  # (64, 24, 24): filled by a shift
    assert 0 < black.mean() < 0.5


def test_data_a_model_cannot_be_built_for_leaves_no_run_directory(tmp_path):
    """6x6 images are below every model's 8x8 minimum: one line, and nothing written (a retry is not blocked)."""
    from edgenets.train import train_run

    x = np.random.default_rng(0).integers(0, 255, size=(40, 6, 6, 1)).astype(np.uint8)
    np.savez(tmp_path / "small.npz", x_train=x, y_train=np.arange(40) % 2)
    for _ in range(2):
        with pytest.raises(InputError, match="needs an input of at least 8x8 pixels"):
            train_run(MODEL, str(tmp_path / "small.npz"), epochs=1, out=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()
