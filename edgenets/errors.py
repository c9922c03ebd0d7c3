"""Error types that the CLI turns into one red line and an exit code.

Library code raises these with a message that names the input and the problem
(``"data/train.csv: row 3 has 780 columns, expected 785"``); the CLI prints the
message alone, without a traceback unless ``EDGENETS_DEBUG=1``.
"""

from __future__ import annotations


class EdgenetsError(Exception):
    """A failure the user can act on (exit code 1)."""

    exit_code = 1


class InputError(EdgenetsError):
    """Bad input: a missing or malformed file, an unknown name, a nonsensical number (exit code 2)."""

    exit_code = 2


class MissingDependencyError(EdgenetsError):
    """An optional package is not installed; the message carries the install hint."""

    exit_code = 1


def require(module: str, extra: str, purpose: str):
    """Import ``module`` or raise a one-line install hint naming the extra that provides it."""
    import importlib
    import os

    if module.split(".")[0] in ("tensorflow", "keras"):
        # TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) is noise on a CPU box.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f'{purpose} needs {module.split(".")[0]}: pip install "edgenets[{extra}]" ({exc})'
        ) from exc


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (converter and runtime errors are long
    native dumps), or the exception's type name when the message is empty."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
