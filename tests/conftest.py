"""Shared fixtures: a real MNIST subset (fetched and verified once), and an in-process CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

# Keep TensorFlow quiet and deterministic-ish in tests; set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@pytest.fixture(scope="session")
def mnist():
    """The full, verified MNIST data set (cached in EDGENETS_HOME or ~/.cache/edgenets)."""
    from edgenets.data import load_dataset

    return load_dataset("mnist", quiet=True)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """A stratified, seeded subset: 2,000 training and 500 test images of real MNIST."""
    from edgenets.data import Dataset, stratified_indices

    tr = stratified_indices(mnist.y_train, 2000, seed=0)
    te = stratified_indices(mnist.y_test, 500, seed=0)
    return Dataset(
        "mnist-small",
        mnist.x_train[tr],
        mnist.y_train[tr],
        mnist.x_test[te],
        mnist.y_test[te],
        source={"kind": "subset", "of": "mnist"},
    )


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys):
    """Run ``edgenets ARGS...`` in-process; returns exit code, stdout and stderr."""
    from edgenets.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def assert_one_line_error(result: CliResult, *fragments: str, code: int = 2) -> None:
    """A clean failure: the exit code, one 'error:' line naming the problem, no traceback."""
    assert result.code == code, (result.code, result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err + result.out
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
