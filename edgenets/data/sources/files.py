"""Checks every source makes of the path it was given."""

from __future__ import annotations

import os
from pathlib import Path

from edgenets.errors import InputError


def require_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable")
