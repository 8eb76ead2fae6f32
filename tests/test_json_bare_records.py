"""Bare records (a list or a number) among object records of a JSON or JSON Lines body are
read by the column reader (``_cjsonrec.json_records``) as the value of a request's
``features`` key (a response's ``values``), as the general path reads them, instead of
sending the whole body to the general path (400 ns a byte for 8-byte records). Every
body gives what the general path gives, on every path; expected values are written out."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.columns import Ragged
from sm_payloads.formats import _json_layout as J
from tests.test_json_general_fast import all_paths


def test_a_list_record_among_objects() -> None:
    got = all_paths(b'[{"a": 1}, [2, 3], {"a": 4}]', False)
    assert isinstance(got, smp.RecordBatch) and got.n == 3
    a, v = got.features["a"], got.features["values"]
    assert (
        isinstance(a, Ragged) and a.values.tolist() == [1.0, 4.0] and a.valid.tolist() == [True, False, True]
    )
    assert (
        isinstance(v, Ragged) and v.values.tolist() == [2.0, 3.0] and v.valid.tolist() == [False, True, False]
    )


def test_features_and_bare_lists_are_one_column() -> None:
    got = all_paths(b'{"instances": [[1, 2], {"features": [3, 4]}, [5, 6]]}', False)
    assert isinstance(got, smp.RecordBatch)
    assert got.features["values"].tolist() == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]


def test_the_column_reader_reads_them() -> None:
    if J._CREC is None:
        pytest.skip("the C extension is not built")
    body = b'[{"a": 1}, 2, [3, 4]]'
    got = J._CREC.json_records(body, 0, len(body), False, True)
    assert got is not None and got[0] == 3 and [c[:2] for c in got[1]] == [("a", "n"), ("features", "r")]
    # bare records alone are the request scanner's (a list of numbers is one record)
    for alone in (b"[1, 2, 3]", b'{"instances": [[1], [2]]}', b"[1]\n[2]\n"):
        assert J._CREC.json_records(alone, 0, len(alone), alone.endswith(b"\n"), True) is None
    # responses: "values"; a projections envelope holds objects only
    body = b'{"predictions": [{"score": 1}, 0.5]}'
    got = J._CREC.json_records(body, 0, len(body), False, False, False, False, True)
    assert got is not None and [c[:2] for c in got[1]] == [("score", "n"), ("values", "n")]
    body = b'{"projections": [{"score": 1}, 0.5]}'
    assert J._CREC.json_records(body, 0, len(body), False, False, False, False, True) is None


@pytest.mark.parametrize(
    ("body", "lines", "response"),
    [
        (b"[1, 2, 3]", False, False),  # one record
        (b'{"instances": [1, {"a": 2}]}', False, False),
        (b'[[1, [2]], {"a": 1}]', False, False),  # a nested list: the general path
        (b'[["x", "y"], {"a": 1}]', False, False),  # strings: the general path
        (b'[[], {"a": 1}]', False, False),
        (b'[{"features": 1}, [1, 2]]', False, False),
        (b'[{"values": 1}, [1, 2]]', False, False),
        (b'[{"data": {"features": [1]}}, [2]]', False, False),
        (b'{"a": 1}\n[1, 2]\n3\n', True, False),
        (b'[{"score": 1}, [0.5, 0.25]]', False, True),
        (b'{"projections": [{"score": 1}, 0.5]}', False, True),
        (b'{"scores": [{"score": 1}, [0.5]]}', False, True),
        (b'{"score": 1}\n0.5\n', True, True),
        (b'[{"a": 1}, [1, true]]', False, False),
        (b'[{"a": 1}, -]', False, False),
    ],
)
def test_bodies_against_the_general_path(body: bytes, lines: bool, response: bool) -> None:
    all_paths(body, lines, response)


def test_nan_words_with_allow_nan() -> None:
    got = all_paths(b'[{"a": 1}, NaN, [Infinity]]', False, allow_nan=True)
    assert isinstance(got, smp.RecordBatch)
    v = got.features["values"]
    assert isinstance(v, Ragged) and np.isnan(v.values[0]) and v.values[1] == np.inf


_bare = st.one_of(
    st.integers(-5, 5),
    st.lists(st.integers(-5, 5), max_size=3),
    st.fixed_dictionaries(
        {}, optional={"a": st.integers(0, 3), "features": st.lists(st.integers(0, 3), max_size=2)}
    ),
)


@given(st.lists(_bare, min_size=1, max_size=6), st.booleans(), st.booleans())
def test_random_mixes(records: list[Any], lines: bool, response: bool) -> None:
    if response:
        records = [{"score": r["a"]} if isinstance(r, dict) and "a" in r else r for r in records]
    if lines:
        body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    else:
        body = json.dumps(records).encode()
    all_paths(body, lines, response)
