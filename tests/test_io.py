"""Atomic writes: an artefact is complete or absent, whatever happens while it is written."""

from __future__ import annotations

import os
import stat

import pytest

from edgenets import _io


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, exc):
    target = tmp_path / "model.tflite"
    target.write_bytes(b"old")
    with pytest.raises(exc):
        with _io.atomic_path(target) as tmp:
            tmp.write_bytes(b"half of the new")
            raise exc()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]


def test_a_successful_write_replaces_with_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    _io.write_json(target, {"accuracy": 0.5})
    assert target.read_text() == '{\n  "accuracy": 0.5\n}\n'
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]
