"""Dense tensor objects of rank 2 or more (``{"values": [1, 2, 3, 4], "shape": [2, 2]}``,
the protobuf-equivalent JSON of a matrix record) are read by the request scanner
(``_cjson.records``, and its twin ``request_records_pure``) as the nested list of that
shape: one column of shape (N, *shape), no Python object per record. Every body gives what
the general path gives (the batch bit for bit, or the same DecodeError), on the C path and
on the pure path; expected values are written out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J
from tests.test_json_general_fast import all_paths, scanned


def _tensor(values: list[float], shape: list[int]) -> dict[str, Any]:
    return {"values": values, "shape": shape}


def test_a_shaped_tensor_is_its_nested_list() -> None:
    body = b'{"instances": [{"features": {"values": [1, 2, 3, 4.5, 5, 6], "shape": [2, 3]}}]}'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert col.dtype == np.float64 and col.shape == (1, 2, 3)
    assert col.tolist() == [[[1.0, 2.0, 3.0], [4.5, 5.0, 6.0]]]
    s = scanned(body, False)
    assert s is not None and (s.kind, s.shape) == (2, (2, 3))


def test_shaped_tensors_and_nested_lists_mix() -> None:
    body = (
        b'{"data": {"features": {"shape": [2, 1], "values": [1, 2]}}}\n'
        b'{"features": [[3], [4]]}\n'
        b'{"features": {"values": [-0.0, 6], "shape": [2, 1]}}\n'
    )
    got = all_paths(body, True)
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert col.shape == (3, 2, 1)
    assert col.ravel().tolist() == [1.0, 2.0, 3.0, 4.0, -0.0, 6.0]
    assert np.signbit(col.ravel()).tolist() == [False, False, False, False, True, False]
    assert scanned(body, True) is not None


def test_float32_rank_three() -> None:
    body = b'[{"features": {"values": [0.1, 2, 3, 4, 5, 6, 7, 8], "shape": [2, 2, 2]}}]'
    got = all_paths(body, False, dtype="float32")
    assert isinstance(got, smp.RecordBatch)
    col = got.features["values"]
    assert col.dtype == np.float32 and col.shape == (1, 2, 2, 2)
    assert col.ravel().tobytes() == np.array([0.1, 2, 3, 4, 5, 6, 7, 8], np.float32).tobytes()


@pytest.mark.parametrize(
    "record",
    [
        b'{"features": {"values": [1, 2, 3], "shape": [2, 2]}}',  # too few values
        b'{"features": {"values": [1, 2, 3, 4, 5], "shape": [2, 2]}}',  # too many
        b'{"features": {"values": [], "shape": [0, 2]}}',  # a dimension 0
        b'{"features": {"values": [1, "a", 3, 4], "shape": [2, 2]}}',  # a string
        b'{"features": {"values": [1, 2, 3, 4], "shape": [2, -2]}}',  # a negative dimension
    ],
)
def test_what_the_scanner_leaves_to_the_general_path(record: bytes) -> None:
    body = b'{"instances": [{"features": {"values": [1, 2, 3, 4], "shape": [2, 2]}}, ' + record + b"]"
    body += b"}"
    assert scanned(body, False) is None
    all_paths(body, False)  # the general path's outcome on every path


def test_two_shapes_are_the_general_paths_error() -> None:
    body = (
        b'[{"features": {"values": [1, 2, 3, 4], "shape": [2, 2]}},'
        b' {"features": {"values": [1, 2, 3, 4], "shape": [4, 1]}}]'
    )
    assert scanned(body, False) is None
    got = all_paths(body, False)
    assert isinstance(got, tuple) and got[0] == "error"
    assert got[4] == 1  # the second record


def test_a_shaped_tensor_among_vectors_is_the_general_paths() -> None:
    body = b'[{"features": [1, 2, 3, 4]}, {"features": {"values": [1, 2, 3, 4], "shape": [2, 2]}}]'
    assert scanned(body, False) is None
    all_paths(body, False)


_dims = st.lists(st.integers(1, 3), min_size=2, max_size=3)
_number = st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)


@given(
    shape=_dims, data=st.data(), lines=st.booleans(), nested=st.lists(st.booleans(), min_size=1, max_size=6)
)
def test_random_shaped_records_match_the_general_path(
    shape: list[int], data: st.DataObject, lines: bool, nested: list[bool]
) -> None:
    size = int(np.prod(shape))
    records: list[Any] = []
    for as_list in nested:
        values = data.draw(st.lists(_number, min_size=size, max_size=size))
        if as_list:
            records.append({"features": np.array(values, dtype=object).reshape(shape).tolist()})
        else:
            records.append({"data": {"features": _tensor(values, shape)}})
    if lines:
        body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    else:
        body = json.dumps({"instances": records}).encode()
    got = all_paths(body, lines)
    assert isinstance(got, smp.RecordBatch)
    want = np.array(
        [
            np.array(r["features"], np.float64).ravel()
            if "features" in r
            else np.array(r["data"]["features"]["values"], np.float64)
            for r in records
        ]
    ).reshape([len(records), *shape])
    assert got.features["values"].tobytes() == want.tobytes()
    assert scanned(body, lines) is not None


def test_the_twin_reads_what_the_kernel_reads() -> None:
    body = b'{"instances": [{"features": {"values": [1, 2, 3, 4], "shape": [1, 4]}}]}'
    twin = J.request_records_pure(body, 0, len(body), False, False)
    assert twin is not None and (twin.kind, twin.shape) == (2, (1, 4))
    assert np.frombuffer(twin.values, np.float64).tolist() == [1.0, 2.0, 3.0, 4.0]


def test_shaped_tensors_among_other_columns_are_the_general_paths() -> None:
    # several columns: the column reader (_cjsonrec) leaves a shape of rank 2 to the general
    # path, and so does its twin
    body = b'[{"a": {"values": [1, 2, 3, 4], "shape": [2, 2]}, "b": 1}, {"a": [[5, 6], [7, 8]], "b": 2}]'
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["a"].tolist() == [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]
    assert got.features["b"].tolist() == [1.0, 2.0]
