"""The device side stays light: importing edgenets and asking any command for help never imports TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = r"""
import json, sys
from edgenets.cli import main, app
import typer.main
group = typer.main.get_command(app)
commands = sorted(group.commands)
helps = [[], *[[name, "--help"] for name in commands]]
for args in helps:
    try:
        main(args + ["--help"] if not args else args)
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"))
print(json.dumps({"commands": commands, "heavy": heavy}))
"""


def test_help_of_every_command_imports_no_tensorflow():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "data" in report["commands"]
    assert report["heavy"] == []


# the modules themselves, not lazy package __init__s: what `edgenets bench` / `compare` really load
DEVICE_SIDE = ["edgenets.cli", "edgenets.data", "edgenets.formats", "edgenets.commands.bench", "edgenets.bench.runner",
               "edgenets.bench.render", "edgenets.bench.evaluate", "edgenets.bench.probe", "edgenets.bench.results",
               "edgenets.bench.runtime", "edgenets.bench.tables", "edgenets.train.metrics", "edgenets.export.verify"]


@pytest.mark.parametrize("module", DEVICE_SIDE)
def test_device_side_modules_import_without_tensorflow(module):
    code = f"import importlib, sys; importlib.import_module({module!r}); " \
           "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if "ModuleNotFoundError" in proc.stderr and module.split(".")[-1] in proc.stderr:
        pytest.fail(f"{module} does not exist")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
