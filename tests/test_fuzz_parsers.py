"""Property-based tests: the data parsers either return valid arrays or raise InputError — nothing else."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgenets.data import load_csv, load_npz, parse_idx, to_idx_bytes
from edgenets.errors import InputError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_images(x):
    assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[-1] in (1, 3) and min(x.shape) >= 1


@FUZZ
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=4, max_side=6)))
def test_idx_round_trip(arr):
    np.testing.assert_array_equal(parse_idx(to_idx_bytes(arr)), arr)


@FUZZ
@given(st.binary(max_size=200))
def test_idx_arbitrary_bytes(raw):
    try:
        out = parse_idx(raw)
    except InputError:
        return
    assert out.dtype == np.uint8


@FUZZ
@given(st.binary(min_size=4, max_size=64), st.integers(0, 63), st.integers(0, 255))
def test_idx_bit_flips_of_a_valid_file(tail, pos, value):
    raw = bytearray(to_idx_bytes(np.frombuffer(tail, np.uint8)))
    raw[pos % len(raw)] = value
    try:
        out = parse_idx(bytes(raw))
    except InputError:
        return
    assert out.size == len(raw) - 4 - 4 * out.ndim


cell = st.one_of(
    st.integers(-5, 300).map(str),
    st.sampled_from(["", "nan", "inf", "1.5", "abc", " 7", "0x10", '"3"', "1e2", "-0"]),
)


@FUZZ
@given(
    ncols=st.sampled_from([783, 784, 785, 786]),
    nrows=st.integers(0, 3),
    header=st.booleans(),
    mutations=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 785), cell), max_size=4),
)
def test_csv_never_fails_with_anything_but_input_error(tmp_path_factory, ncols, nrows, header, mutations):
    rows = [["0"] * ncols for _ in range(nrows)]
    for r, c, value in mutations:
        if rows:
            rows[r % len(rows)][c % ncols] = value
    lines = [",".join(row) for row in rows]
    if header:
        lines.insert(0, ",".join(["label"] + [f"pixel{i}" for i in range(ncols - 1)]))
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_text("\n".join(lines))
    try:
        x, y = load_csv(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    _valid_images(x)
    if y is not None:
        assert y.min() >= 0 and y.max() <= 9


@FUZZ
@given(st.binary(max_size=300))
def test_csv_arbitrary_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes(raw)
    with pytest.raises(InputError):
        load_csv(path, image_shape=(28, 28, 1))  # 300 bytes can never hold a valid 784-pixel row


_shapes = st.sampled_from([(2, 28, 28), (2, 28, 28, 1), (2, 784), (2,), (3,), (2, 1), (2, 27, 28), (0, 28, 28),
                          (2, 8, 8, 3), (2, 5, 7, 2), (2, 12)])
arrays = st.one_of(
    hnp.arrays(st.sampled_from([np.int64, np.float32, np.float64]), _shapes, elements=st.integers(-2, 300)),
    hnp.arrays(np.float64, _shapes),  # NaN, inf, fractions
    hnp.arrays(st.sampled_from([np.uint8, np.bool_]), _shapes),
    hnp.arrays(np.dtype("U3"), _shapes),
)


@FUZZ
@given(st.dictionaries(st.sampled_from(["x_train", "y_train", "x_test", "y_test", "other"]), arrays, max_size=5))
def test_npz_random_contents(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    np.savez(path, **content)
    try:
        ds = load_npz(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    _valid_images(ds.x_train)
    assert len(ds.y_train) == len(ds.x_train) and ds.y_train.dtype == np.int64
    assert ds.y_train.min() >= 0 and ds.y_train.max() < ds.num_classes <= len(ds.y_train)


@FUZZ
@given(st.binary(max_size=300))
def test_npz_arbitrary_bytes(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("npz") / "d.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x_train.npy", raw)
    for payload in (raw, buf.getvalue()):
        path.write_bytes(payload)
        with pytest.raises(InputError):
            load_npz(path)
