"""Nested lists of one shape under a key of records of several keys (DeepAR's
``dynamic_feat``, ``{"a": [[1, 2], [3, 4]], "b": 1}``) are read by the column reader
(``_cjsonrec.json_records``: kind ``N``, its values and the shape) as one column of shape
``(N, *shape)``, as the general path reads them; anything else there (another shape, a flat
list or a number among them, a record without the key, an empty level) is the general
path's. Every body gives the general path's outcome on every path; expected values are
written out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _json_layout as J
from tests.test_json_general_fast import all_paths


def test_deepar_dynamic_feat() -> None:
    body = (
        b'{"instances": [{"start": "2009-11-01", "target": [1, 2], "dynamic_feat": [[1, 2, 3], [4, 5, 6]]},'
        b' {"start": "2009-11-02", "target": [3, 4], "dynamic_feat": [[7, 8, 9], [0, 1, 2]]}]}'
    )
    got = all_paths(body, False)
    assert isinstance(got, smp.RecordBatch)
    col = got.features["dynamic_feat"]
    assert col.dtype == np.float64 and col.shape == (2, 2, 3)
    assert col.ravel().tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert got.features["target"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    if J._CREC is not None:
        read = J._CREC.json_records(body, 0, len(body), False, True)
        assert read is not None
        kind, payload = read[1][2][1], read[1][2][2]
        assert kind == "N" and payload[1] == (2, 3)


def test_responses_of_nested_lists() -> None:
    body = b'{"predictions": [{"p": [[0.1, 0.9]], "l": "a"}, {"p": [[0.2, 0.8]], "l": "b"}]}'
    got = all_paths(body, False, response=True)
    assert isinstance(got, smp.RecordBatch)
    assert got.label["p"].shape == (2, 1, 2) and got.label["p"].ravel().tolist() == [0.1, 0.9, 0.2, 0.8]


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (
            b'[{"a": [[1, 2]], "b": 1}, {"a": [[5, 6], [7, 8]], "b": 2}]',
            ("error", "features['a']: records have different shapes ([2, 2] vs [1, 2])"),
        ),
        (
            b'[{"a": [[1, 2]], "b": 1}, {"a": [5, 6], "b": 2}]',
            ("error", "features['a']: records have different shapes ([2] vs [1, 2])"),
        ),
        (
            b'[{"a": [[1, 2]], "b": 1}, {"b": 2}]',
            ("error", "features['a']: no tensor in this record, while others have shape [1, 2]"),
        ),
        (
            b'[{"a": [[1, "x"]], "b": 1}]',
            ("error", "$[0].a: nested lists are not a rectangular array of numbers"),
        ),
        (
            b'[{"a": [[1, 2], [3]], "b": 1}]',
            ("error", "$[0].a: nested lists are not a rectangular array of numbers"),
        ),
    ],
)
def test_what_the_column_reader_leaves_to_the_general_path(body: bytes, want: tuple[str, str]) -> None:
    got = all_paths(body, False)
    assert isinstance(got, tuple) and got[0] == want[0] and got[1].startswith(want[1])


def test_float32_and_json_lines() -> None:
    body = b'{"a": [[0.1, 2]], "b": 1}\n{"a": [[3, 4]], "b": 2}\n'
    got = all_paths(body, True, dtype="float32")
    assert isinstance(got, smp.RecordBatch)
    assert got.features["a"].tobytes() == np.array([[[0.1, 2]], [[3, 4]]], np.float32).tobytes()


@given(
    st.lists(st.integers(1, 3), min_size=2, max_size=3),
    st.integers(1, 4),
    st.data(),
    st.booleans(),
)
def test_random_nested_columns(shape: list[int], n: int, data: st.DataObject, lines: bool) -> None:
    size = int(np.prod(shape))
    records: list[Any] = []
    for i in range(n):
        values = data.draw(st.lists(st.integers(-9, 9), min_size=size, max_size=size))
        records.append({"a": np.array(values).reshape(shape).tolist(), "b": i})
    body = (
        b"".join(json.dumps(r).encode() + b"\n" for r in records) if lines else json.dumps(records).encode()
    )
    got = all_paths(body, lines)
    assert isinstance(got, smp.RecordBatch)
    want = np.array([r["a"] for r in records], np.float64)
    assert got.features["a"].tobytes() == want.tobytes() and got.features["a"].shape == want.shape
