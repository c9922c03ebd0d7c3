"""Model zoo: golden layer tables of the reference models, every registered model builds (for any input
shape, with its documented downsampling), counts and converts.

The golden numbers (per-layer output shapes and parameters) are the reference study's Keras
summaries, copied verbatim from shared/reference/seed-architectures.json into tests/data/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgenets.errors import InputError
from edgenets.models import create_model, get_model_info, list_models, model_stats

REFERENCE = json.loads((Path(__file__).parent / "data" / "seed-architectures.json").read_text())
REQUIRED = {"mobilenet", "shufflenet", "mobilenet_v2", "shufflenet_v2"}

# The reference summaries use Keras auto names (and TF-op layers for the shuffle); ours are
# deterministic. Map each reference name to the layer type it denotes, to compare by position.
REFERENCE_KINDS = {
    "input": "InputLayer",
    "conv2d": "Conv2D",
    "depthwise_conv2d": "DepthwiseConv2D",
    "batch_normalization": "BatchNormalization",
    "re_lu": "ReLU",
    "global_average_pooling2d": "GlobalAveragePooling2D",
    "dense": "Dense",
    "dropout": "Dropout",
    "tf.reshape": "Reshape",
    "tf.compat.v1.transpose": "Permute",
}
NAME_PATTERN = re.compile(r"^(input|stem_[a-z]+|block_\d+_[a-z0-9_]+|shuffle_[a-z]+|head_[a-z]+)$")


def _reference_kind(name: str) -> str:
    base = re.sub(r"_\d+$", "", name)
    return REFERENCE_KINDS[base]


@pytest.fixture(scope="module")
def models():
    """One default-argument build of every registered model (building is the slow part)."""
    return {name: create_model(name) for name in list_models()}


@pytest.fixture(scope="module")
def images(mnist_small):
    """16 real MNIST test images as the models expect them: float32 pixels/255."""
    return mnist_small.x_test[:16].astype(np.float32) / 255.0


# ----------------------------------------------------------------------------- registry


def test_registry_has_the_four_models_with_metadata():
    assert REQUIRED <= set(list_models())
    assert list_models() == sorted(list_models())
    for name in list_models():
        info = get_model_info(name)
        assert info.name == name and info.description and "\n" not in info.description
        assert re.search(r"arXiv:\d{4}\.\d{4,5}", info.paper), info.paper
        assert "arXiv:" in (info.builder.__doc__ or ""), f"{name}: docstring must cite the paper"


def test_importing_the_zoo_does_not_import_tensorflow():
    code = "import sys, edgenets.models as m; m.list_models(); print(sorted(x for x in sys.modules if x.split('.')[0] in ('tensorflow', 'keras')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_unknown_model_names_the_choices():
    with pytest.raises(InputError, match=r"^unknown model 'resnet': choose one of .*mobilenet.*shufflenet_v2"):
        create_model("resnet")


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"alpha": 0}, "alpha must be > 0. Received: alpha=0"),
        ({"alpha": -1.0}, "alpha must be > 0"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2"),
        ({"input_shape": (28, 28)}, "input_shape must be (height, width, channels)"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"depth": 3}, "mobilenet: unknown argument 'depth' (accepted: alpha, dropout)"),
    ],
)
def test_bad_arguments_fail_at_the_door(kwargs, fragment):
    with pytest.raises(InputError) as exc:
        create_model("mobilenet", **kwargs)
    assert fragment in str(exc.value)


# ----------------------------------------------------------------------------- golden tables


@pytest.mark.parametrize("name", ["mobilenet", "shufflenet"])
def test_reference_models_match_the_study_layer_for_layer(models, name):
    reference = REFERENCE[name]
    stats = model_stats(models[name])
    ours = [(r.kind, list(r.output_shape), r.params) for r in stats.layers]
    theirs = [(_reference_kind(r["layer"]), r["output_shape"], r["params"]) for r in reference["layers"]]
    assert len(ours) == len(theirs)
    for i, (mine, ref) in enumerate(zip(ours, theirs)):
        assert mine == ref, f"layer {i} ({stats.layers[i].name}): {mine} != reference {ref}"
    assert stats.params == reference["total_params"] == models[name].count_params()


def test_golden_totals_are_the_study_numbers():
    # The numbers, independent of the JSON copy.
    assert REFERENCE["mobilenet"]["total_params"] == 810_826
    assert REFERENCE["shufflenet"]["total_params"] == 39_282


def test_reference_shuffle_is_three_groups_of_eight(models, images):
    model = models["shufflenet"]
    assert model.get_layer("shuffle_reshape").output.shape[1:] == (28, 28, 3, 8)
    # The shuffle must be the ShuffleNet permutation: output channel j*3+g = input channel g*8+j.
    import keras

    before = keras.Model(model.input, model.get_layer("block_3_pw_relu").output)(images[:2])
    after = keras.Model(model.input, model.get_layer("shuffle_merge").output)(images[:2])
    expected = [g * 8 + j for j in range(8) for g in range(3)]
    np.testing.assert_array_equal(np.asarray(after), np.asarray(before)[..., expected])


# ----------------------------------------------------------------------------- every registered model


@pytest.mark.parametrize("name", list_models())
def test_model_builds_and_predicts_real_digits(models, images, name):
    model = models[name]
    probs = np.asarray(model(images, training=False))
    assert probs.shape == (len(images), 10)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)
    assert all(NAME_PATTERN.match(n) for n in names), [n for n in names if not NAME_PATTERN.match(n)]
    # Grouped convolutions do not survive full-int8 conversion: no model may use them.
    assert all(getattr(layer, "groups", 1) == 1 for layer in model.layers)
    assert model_stats(model).params < 1_000_000


@pytest.mark.parametrize("name", list_models())
def test_model_takes_num_classes_and_input_shape(name):
    model = create_model(name, num_classes=3, input_shape=(32, 32, 1))
    out = np.asarray(model(np.random.default_rng(0).random((2, 32, 32, 1), dtype=np.float32), training=False))
    assert out.shape == (2, 3) and np.all(np.isfinite(out))


@pytest.mark.parametrize("name", list_models())
def test_alpha_scales_every_convolution(models, name):
    full, half = models[name], create_model(name, alpha=0.5)
    assert [layer.name for layer in half.layers] == [layer.name for layer in full.layers]
    conv_kinds = ("Conv2D", "DepthwiseConv2D")
    narrower = 0
    for a, b in zip(full.layers, half.layers):
        if type(a).__name__ in conv_kinds:
            assert b.output.shape[-1] <= a.output.shape[-1], a.name
            narrower += b.output.shape[-1] < a.output.shape[-1]
    assert narrower >= 0.5 * sum(type(a).__name__ in conv_kinds for a in full.layers)
    assert half.count_params() < full.count_params()


def test_mobilenet_alpha_half_has_the_hand_computed_parameter_count():
    # Channels 32, 64, 128, 128, 256, 256, 512 become 16, 32, 64, 64, 128, 128, 256 (truncation).
    pw = [32, 64, 64, 128, 128, 256]
    c_prev, params = 16, 3 * 3 * 1 * 16 + 16 + 4 * 16  # stem conv (+bias) + BN (4 per channel)
    for c in pw:
        params += (9 * c_prev + c_prev) + 4 * c_prev  # depthwise 3x3 (+bias) + BN
        params += (c_prev * c + c) + 4 * c  # pointwise 1x1 (+bias) + BN
        c_prev = c
    params += (256 * 1024 + 1024) + (1024 * 10 + 10)  # the Dense head is not scaled
    assert create_model("mobilenet", alpha=0.5).count_params() == params == 347_050


# ----------------------------------------------------------------------------- complexity


@pytest.mark.parametrize("name", ["mobilenet", "shufflenet"])
def test_macs_match_a_count_from_the_reference_table(models, name):
    # Independent of layer configs: every reference conv/dense has a bias, so its weights are
    # params - C_out, and each weight is used once per output position.
    expected = 0
    for row in REFERENCE[name]["layers"]:
        kind, shape, params = _reference_kind(row["layer"]), row["output_shape"], row["params"]
        if kind in ("Conv2D", "DepthwiseConv2D"):
            expected += shape[1] * shape[2] * (params - shape[3])
        elif kind == "Dense":
            expected += params - shape[1]
    stats = model_stats(models[name])
    assert stats.macs == expected
    assert stats.float32_bytes == 4 * stats.params


def test_macs_by_hand_for_each_layer_type(models):
    by_name = {r.name: r for r in model_stats(models["mobilenet"]).layers}
    assert by_name["stem_conv"].macs == 14 * 14 * 32 * (3 * 3 * 1)  # 3x3 stride-2 conv on 28x28x1
    assert by_name["block_1_dw"].macs == 14 * 14 * 32 * (3 * 3)  # depthwise: one 3x3 filter per channel
    assert by_name["block_2_dw"].macs == 7 * 7 * 64 * (3 * 3)  # stride 2: counted at the output size
    assert by_name["block_1_pw"].macs == 14 * 14 * 64 * 32  # 1x1: C_in MACs per output value
    assert by_name["head_dense"].macs == 512 * 1024
    assert by_name["block_1_dw_bn"].macs == 0 and by_name["head_pool"].macs == 0


def test_grouped_conv_macs_divide_by_groups():
    import keras

    from edgenets.models import layer_macs

    inputs = keras.Input((10, 10, 4))
    conv = keras.layers.Conv2D(8, 3, groups=2)
    keras.Model(inputs, conv(inputs))
    assert layer_macs(conv) == 8 * 8 * 8 * (3 * 3 * 2)  # each output sees C_in / groups = 2 channels


# ----------------------------------------------------------------------------- CLI


def test_cli_lists_every_model_with_its_counts(run_cli, models):
    result = run_cli("models")
    assert result.code == 0, result.err
    for name, model in models.items():
        line = next(line for line in result.out.splitlines() if line.split()[:1] == [name])
        assert f"{model.count_params():,}" in line
    assert "810,826" in result.out and "39,282" in result.out

    data = json.loads(run_cli("models", "--format", "json").out)
    assert {m["name"]: m["params"] for m in data} == {n: m.count_params() for n, m in models.items()}
    assert all(m["macs"] > 0 and m["float32_bytes"] == 4 * m["params"] for m in data)


def test_cli_shows_one_model_layer_table(run_cli):
    result = run_cli("models", "shufflenet")
    assert result.code == 0, result.err
    assert "shuffle_transpose" in result.out and "(None, 28, 28, 8, 3)" in result.out
    assert "total params: 39,282" in result.out
    layers = json.loads(run_cli("models", "shufflenet", "--format", "json").out)["layers"]
    assert [row["params"] for row in layers] == [row["params"] for row in REFERENCE["shufflenet"]["layers"]]


def test_cli_unknown_model_is_one_line_exit_2(run_cli):
    assert_one_line_error(run_cli("models", "resnet50"), "unknown model 'resnet50'", "mobilenet_v2")
    assert_one_line_error(run_cli("models", "--format", "yaml"), "--format must be one of table, json")


# ----------------------------------------------------------------------------- any input shape

# Input -> (classes, expected head feature map per model): the tables in the builders' docstrings,
# which follow edgenets.models.common's rule n = native + round(log2(min(H, W) / 28)) stride-2
# steps, clamped to the places a model has. The 28x28x1 rows are the golden models above.
SHAPES = {
    (8, 8, 1): 3,  # sklearn's digits
    (32, 32, 3): 40,
    (96, 96, 3): 40,
    (64, 48, 3): 3,
    (224, 224, 3): 3,
}
HEAD_MAPS = {
    "mobilenet": {(8, 8): (2, 2), (28, 28): (2, 2), (32, 32): (2, 2), (96, 96): (2, 2), (64, 48): (2, 2),
                  (224, 224): (2, 2)},
    "shufflenet": {(8, 8): (8, 8), (28, 28): (28, 28), (32, 32): (32, 32), (96, 96): (24, 24), (64, 48): (32, 24),
                   (224, 224): (28, 28)},
    "mobilenet_v2": {(8, 8): (8, 8), (28, 28): (7, 7), (32, 32): (8, 8), (96, 96): (6, 6), (64, 48): (8, 6),
                     (224, 224): (7, 7)},
    "shufflenet_v2": {(8, 8): (8, 8), (28, 28): (7, 7), (32, 32): (8, 8), (96, 96): (6, 6), (64, 48): (8, 6),
                      (224, 224): (14, 14)},
}


@pytest.fixture(scope="module")
def shaped():
    """Every registered model at every SHAPES input: {(name, shape): (model, stats)}."""
    out = {}
    for name in list_models():
        for shape, classes in SHAPES.items():
            model = create_model(name, num_classes=classes, input_shape=shape)
            out[name, shape] = model, model_stats(model)
    return out


def test_registration_carries_the_input_and_preprocessing(models):
    for name in list_models():
        info = get_model_info(name)
        assert info.default_input == (28, 28, 1) and info.preprocessing == "pixels/255" and info.min_input == 8
        assert info.as_dict()["default_input"] == [28, 28, 1]
        assert tuple(models[name].input.shape) == (None, *info.default_input)  # create_model's default


def test_registration_rejects_bad_metadata():
    from edgenets.models import register_model

    with pytest.raises(InputError, match="unknown preprocessing 'pixels/256'"):
        register_model(name="bad", preprocessing="pixels/256")
    with pytest.raises(ValueError, match="min_input must be an integer in 1..28"):
        register_model(name="bad", min_input=29)
    assert "bad" not in list_models()


@pytest.mark.parametrize(
    "side, steps",
    # the rule's boundaries, from n = native + round(log2(side / 28)): 28 * 2**(k + 0.5) = 9.9, 19.8, 39.6, 79.2, 158.4
    [(5, -2), (9, -2), (10, -1), (19, -1), (20, 0), (28, 0), (39, 0), (40, 1), (79, 1), (80, 2), (158, 2), (159, 3),
     (224, 3), (316, 3), (317, 4)],
)
def test_downsampling_rule_boundaries(side, steps):
    from edgenets.models.common import downsamplings

    assert downsamplings((side, side + 100, 3), native=4, places=10) == 4 + steps  # the smaller side decides
    assert downsamplings((side + 1000, side, 1), native=0, places=2) == min(max(steps, 0), 2)  # clamped


@pytest.mark.parametrize("name", list_models())
def test_builder_docstring_states_the_tested_head_maps(name):
    doc = " ".join((get_model_info(name).builder.__doc__ or "").split())
    stated = {(int(h), int(w)): (int(a), int(b)) for h, w, a, b in re.findall(r"(\d+)x(\d+) -> (\d+)x(\d+)", doc)}
    assert {(8, 8), (28, 28), (32, 32), (96, 96)} <= set(stated), stated
    assert stated == HEAD_MAPS[name]


@pytest.mark.parametrize("name", list_models())
def test_model_builds_for_any_shape_with_its_documented_head_map(shaped, models, name):
    reference = [layer.name for layer in models[name].layers]
    assert model_stats(models[name]).head_map == HEAD_MAPS[name][28, 28]
    for shape, classes in SHAPES.items():
        model, stats = shaped[name, shape]
        assert tuple(model.output.shape) == (None, classes), shape
        assert stats.input_shape == shape and stats.head_map == HEAD_MAPS[name][shape[:2]], shape
        names = [layer.name for layer in model.layers]
        assert len(set(names)) == len(names) and all(NAME_PATTERN.match(n) for n in names), names
        assert all(getattr(layer, "groups", 1) == 1 for layer in model.layers)
        if name in ("mobilenet", "shufflenet"):  # the study's models: strides move, the layer list stays
            assert names == reference, shape
        # Parameters do not depend on the size: only the stem's input channels and the classes do.
        stem, head = model.get_layer("stem_conv"), model.get_layer("head_predictions")
        base_stem, base_head = models[name].get_layer("stem_conv"), models[name].get_layer("head_predictions")
        assert tuple(stem.kernel.shape) == (*base_stem.kernel.shape[:2], shape[2], base_stem.kernel.shape[3])
        assert head.kernel.shape[0] == base_head.kernel.shape[0]
        others = stats.params - stem.count_params() - head.count_params()
        assert others == models[name].count_params() - base_stem.count_params() - base_head.count_params()


@pytest.mark.parametrize("name", list_models())
def test_shaped_model_predicts(shaped, name):
    model, _ = shaped[name, (64, 48, 3)]
    x = np.random.default_rng(0).random((2, 64, 48, 3), dtype=np.float32)
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (2, 3) and np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_large_inputs_cost_about_what_small_ones_do(shaped, name):
    # Bound: MACs at 96x96x3 at most 2x those at 32x32x3. 96 is 3x the side of 32 (9x the
    # pixels), and the rule takes two more stride-2 steps there (96 / 4 = 24 < 32), so only the
    # layers before those steps see more positions than at 32x32. Measured: 0.66x (MobileNetV2,
    # ShuffleNetV2), 0.93x (ShuffleNet), 1.39x (MobileNet, whose extra steps sit in blocks 1 and
    # 3); one step short of the rule would already be ~2.3x or more.
    small, large = shaped[name, (32, 32, 3)][1].macs, shaped[name, (96, 96, 3)][1].macs
    assert large <= 2 * small, (large, small, large / small)


@pytest.mark.parametrize("name", list_models())
def test_too_small_input_names_the_model_and_minimum(name):
    with pytest.raises(InputError) as exc:
        create_model(name, input_shape=(7, 28, 1))
    assert str(exc.value) == f"{name} needs an input of at least 8x8 pixels. Received: input_shape=(7, 28, 1)"
    with pytest.raises(InputError, match=rf"^{name} needs an input of at least 8x8 pixels"):
        get_model_info(name).builder(input_shape=(28, 4, 3))  # the builder checks too, called directly


def test_cli_counts_the_zoo_for_an_input_shape(run_cli, shaped):
    result = run_cli("models", "--input", "96x96x3", "--classes", "40")
    assert result.code == 0, result.err
    assert "MACs (96x96x3)" in result.out
    for name in list_models():
        model, stats = shaped[name, (96, 96, 3)]  # built with 40 classes
        line = next(line for line in result.out.splitlines() if line.split()[:1] == [name])
        h, w = HEAD_MAPS[name][96, 96]
        assert f"{model.count_params():,}" in line and f"{stats.macs / 1e6:.2f} M" in line and f" {h}x{w} " in line

    one = run_cli("models", "shufflenet", "--input", "64x48x3", "--classes", "3", "--format", "json")
    assert one.code == 0, one.err
    data = json.loads(one.out)
    _, stats = shaped["shufflenet", (64, 48, 3)]
    assert (data["input_shape"], data["head_map"], data["num_classes"]) == ([64, 48, 3], [32, 24], 3)
    assert (data["params"], data["macs"]) == (stats.params, stats.macs)
    assert (data["default_input"], data["preprocessing"], data["min_input"]) == ([28, 28, 1], "pixels/255", 8)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--input", "96x96"], ["--input must be HEIGHTxWIDTHxCHANNELS", "'96x96'"]),
        (["--input", "0x5x3"], ["--input must be HEIGHTxWIDTHxCHANNELS", "'0x5x3'"]),
        (["--input", "abc"], ["--input must be HEIGHTxWIDTHxCHANNELS", "'abc'"]),
        (["shufflenet", "--input", "4x4x1"], ["--input 4x4x1: shufflenet needs an input of at least 8x8 pixels"]),
        (["--classes", "1"], ["--classes must be an integer >= 2. Received: 1"]),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(run_cli, args, fragments):
    assert_one_line_error(run_cli("models", *args), *fragments)


# ----------------------------------------------------------------------------- TFLite conversion


def _decisive_init(model, x):
    """Data-dependent initialisation (no training): an untrained model with image-dependent, confident outputs.

    BatchNorm statistics come from real images (momentum 0 for one training-mode call), and the
    softmax head is rescaled so each logit has mean 0 and std 3 over those images. Freshly built,
    the models answer near-uniform probabilities that hardly vary between images (the reference
    shufflenet's differ by ~0.01 in L1), which int8's output step of 1/256 alone would swamp;
    "int8 agrees with float" then means nothing. Training would fix that too, but tracing a
    train step costs more here than the whole conversion.
    """
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in norms:
        layer.momentum = 0.99
    head = model.get_layer("head_predictions")
    kernel, bias = head.get_weights()
    logits = np.asarray(keras.Model(model.input, head.input)(x, training=False)) @ kernel + bias
    mean, std = logits.mean(axis=0), logits.std(axis=0) + 1e-6
    head.set_weights([kernel / std * 3.0, (bias - mean) / std * 3.0])


def _run_tflite(content: bytes, x: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert list(inp["shape"]) == [1, *x.shape[1:]]
    probs = []
    for image in x:
        value = image[None]
        if inp["dtype"] == np.int8:
            scale, zero = inp["quantization"]
            value = np.clip(np.round(value / scale + zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], value)
        interpreter.invoke()
        result = interpreter.get_tensor(out["index"])[0]
        if out["dtype"] == np.int8:
            scale, zero = out["quantization"]
            result = (result.astype(np.float32) - zero) * scale
        probs.append(result)
    return np.array(probs), interpreter


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_model_converts_to_float32_and_full_int8_tflite(mnist_small, name):
    import keras

    from edgenets.export.convert import to_tflite

    keras.utils.set_random_seed(0)
    model = create_model(name)
    _decisive_init(model, mnist_small.x_train[:256].astype(np.float32) / 255.0)
    x_test = mnist_small.x_test[:100].astype(np.float32) / 255.0
    expected = np.asarray(model(x_test, training=False))
    keras_top1 = expected.argmax(axis=1)
    assert len(set(keras_top1)) >= 5  # image-dependent outputs, or the int8 check below means little

    float_probs, interpreter = _run_tflite(to_tflite(model, "float32"), x_test)
    np.testing.assert_allclose(float_probs, expected, atol=1e-4)
    tensor_names = "\n".join(t["name"] for t in interpreter.get_tensor_details())
    for layer in model.layers:  # deterministic Keras names survive into the TFLite graph
        if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense"):
            assert re.search(rf"/{layer.name}(_\d+)?/", tensor_names), layer.name

    int8 = to_tflite(model, "int8", representative=mnist_small.x_train[:64])
    int8_probs, interpreter = _run_tflite(int8, x_test)
    dtypes = {t["dtype"] for t in interpreter.get_tensor_details()}
    assert dtypes <= {np.int8, np.int32}, dtypes  # full integer: no float tensor anywhere
    # Untrained weights leave small margins, so this is loose on purpose. Measured (100 images):
    # agreement 0.58-0.90 and error/spread 0.13-0.37, the reference shufflenet being the weakest
    # (its 24 untrained pooled features barely differ between digits). An output unrelated to
    # the image agrees at chance (~0.1) and is as far from Keras's as two images' outputs are.
    agreement = np.mean(int8_probs.argmax(axis=1) == keras_top1)
    error = np.abs(int8_probs - expected).sum(axis=1).mean()
    n = len(expected)
    spread = np.abs(expected[:, None] - expected[None]).sum(axis=-1).sum() / (n * (n - 1))  # between images
    assert agreement >= 0.5 and error < 0.5 * spread, (agreement, error, spread)
