"""config.json's schema module: what a reader may rely on is checked once, with one line naming the file."""

from __future__ import annotations

import json

import pytest

from edgenets import runconfig
from edgenets.errors import InputError

BASE = {"model": "shufflenet", "dataset": "mnist", "seed": 0, "val_split": 0.1, "num_classes": 2,
        "class_names": ["a", "b"], "input_shape": [8, 8, 1]}


@pytest.mark.parametrize("change, fragment", [
    ({"data_options": {"colour": "grey"}}, "unknown data_options key 'colour'"),
    ({"data_options": {"image_size": "32"}}, "data_options: --image-size must be HxW"),
    ({"data_options": ["rgb"]}, "data_options must be a JSON object"),
    ({"num_classes": 3}, "num_classes is 3 but class_names has 2 names"),
    ({"input_shape": [8, 8]}, "input_shape must be [height, width, channels]"),
    ({"preprocessing": {"name": "mean-std", "mean": [0.5], "std": [0.0]}}, "positive stds"),
])
def test_a_bad_config_is_one_line_naming_the_file(tmp_path, change, fragment):
    (tmp_path / "config.json").write_text(json.dumps({**BASE, **change}))
    with pytest.raises(InputError) as err:
        runconfig.read(tmp_path)
    assert str(tmp_path / "config.json") in str(err.value) and fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_a_good_config_reads_back_with_its_options_and_spec(tmp_path):
    spec = {"name": "mean-std", "mean": [0.5], "std": [0.25]}
    runconfig.write(tmp_path, {**BASE, "data_options": {"image_size": [8, 8]}, "preprocessing": spec})
    cfg = runconfig.read(tmp_path)
    assert cfg.input_shape == (8, 8, 1) and cfg.data_options == {"image_size": [8, 8]} and cfg.preprocessing == spec
    assert json.loads((tmp_path / "config.json").read_text())["schema"] == runconfig.SCHEMA
