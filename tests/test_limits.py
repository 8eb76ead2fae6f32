"""Decoder limits (`smp.limits`): bytes, records, elements per tensor, JSON depth."""

from __future__ import annotations

import io
import pickle
from typing import Any
from unittest import mock

import numpy as np
import orjson
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import limits as L
from sm_payloads.limits import SERVING, Limits, json_depth

REQUEST_TYPES = [
    "text/csv",
    "application/json",
    "application/jsonlines",
    "application/x-recordio-protobuf",
    "application/x-npy",
    "text/libsvm",
]


def three_records(ct: str) -> bytes:
    x = np.array([[1, 0, 2], [0, 3, 0], [4, 5, 6]], np.float32)
    if ct == "text/libsvm":
        return b"1 1:1 3:2\n0 2:3\n1 1:4 2:5 3:6\n"
    return smp.encode_request(x, ct)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_limits_are_non_negative_ints(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"Limits.max_records must be a non-negative int or None, got "):
        Limits(max_records=bad)


@pytest.mark.parametrize("ct", REQUEST_TYPES)
def test_max_records_for_every_request_format(ct: str) -> None:
    body = three_records(ct)
    assert len(smp.decode_request(body, ct, limits=Limits(max_records=3))) == 3
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(body, ct, limits=Limits(max_records=2))
    e = info.value
    # Refused while decoding: after 3 records (size = limit + 1, "more than"), or from the
    # .npy header's shape, which gives the count itself.
    assert (e.size, e.limit, e.unit, e.status_hint) == (3, 2, "records", 413)
    count = "3" if ct == "application/x-npy" else "more than 2"
    assert str(e) == f"{ct} batch of {count} records exceeds the limit of 2 records"


@pytest.mark.parametrize("ct", REQUEST_TYPES)
def test_max_bytes_for_every_request_format(ct: str) -> None:
    body = three_records(ct)
    smp.decode_request(body, ct, limits=Limits(max_bytes=len(body)))
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(body, ct, limits=Limits(max_bytes=len(body) - 1))
    assert (info.value.size, info.value.limit, info.value.unit) == (len(body), len(body) - 1, "bytes")
    assert str(info.value) == f"{ct} payload of {len(body)} bytes exceeds the limit of {len(body) - 1} bytes"


def test_max_elements_dense_counts_the_trailing_shape() -> None:
    body = smp.encode_request(np.zeros((2, 5), np.float32), "application/x-recordio-protobuf")
    smp.decode_request(body, "application/x-recordio-protobuf", limits=Limits(max_elements=5))
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(body, "application/x-recordio-protobuf", limits=Limits(max_elements=4))
    e = info.value
    assert (e.size, e.limit, e.unit, e.record_index) == (5, 4, "elements", 0)
    assert str(e) == (
        "application/x-recordio-protobuf tensor features['values'] of 5 elements exceeds the limit "
        "of 4 elements (record 0)"
    )


def test_max_elements_sparse_counts_stored_entries_and_names_the_record() -> None:
    m = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 1, 1, 0], [0, 2, 2, 0]], np.float32))
    body = smp.encode_request(m, "application/x-recordio-protobuf")
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(body, "application/x-recordio-protobuf", limits=Limits(max_elements=2))
    assert (info.value.size, info.value.record_index) == (3, 1)


def test_max_elements_ragged_and_label() -> None:
    body = b'{"instances": [{"features": [1, 2]}, {"features": [1, 2, 3]}]}'
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(body, "application/json", limits=Limits(max_elements=2))
    assert (info.value.size, info.value.record_index) == (3, 1)
    assert info.value.what == "application/json tensor features['values']"
    resp = b'{"predictions": [{"scores": [0.1, 0.9]}, {"scores": [0.2, 0.8]}]}'
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_response(resp, "application/json", limits=Limits(max_elements=1))
    assert info.value.what == "application/json tensor label['scores']"
    assert (info.value.size, info.value.record_index) == (2, 0)


def test_max_elements_counts_text_fields_per_record() -> None:
    with pytest.raises(smp.PayloadTooLargeError) as info:
        smp.decode_request(b"a,b,c\nd,e,f\n", "text/csv", dtype=str, limits=Limits(max_elements=2))
    assert (info.value.size, info.value.record_index) == (3, 0)


def test_json_depth_takes_any_buffer() -> None:
    assert (
        json_depth(memoryview(b"[[1]]")) == json_depth(bytearray(b"[[1]]")) == json_depth("[[1]]") == (2, 1)
    )


def test_json_depth_limit_names_the_byte() -> None:
    body = b'{"instances": [{"features": [[1, 2], [3, 4]]}]}'
    assert json_depth(body) == (5, 29)
    smp.decode_request(body, "application/json", limits=Limits(max_depth=5))
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/json", limits=Limits(max_depth=4))
    assert (info.value.offset, info.value.reason) == (29, "nested deeper than the limit of 4 levels")


def test_json_depth_ignores_brackets_in_strings_and_escaped_quotes() -> None:
    assert json_depth(b'["[[[", "\\"[[", "\\\\", [1]]') == (2, 22)
    assert json_depth(b'{"a\\\\\\"[": "]]]]"}') == (1, 0)
    assert json_depth(b"1") == (0, None)
    assert json_depth(b'"[[["') == (0, None)


def test_json_depth_applies_to_json_lines_per_line() -> None:
    body = b'{"features": [1]}\n{"features": [[[1]]]}\n'
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/jsonlines", limits=Limits(max_depth=3))
    assert info.value.offset == 33


def _depth(doc: Any) -> int:
    if isinstance(doc, list):
        return 1 + max((_depth(v) for v in doc), default=0)
    if isinstance(doc, dict):
        return 1 + max((_depth(v) for v in doc.values()), default=0)
    return 0


_text = st.text(alphabet='[]{}"\\ ab', max_size=6)
_docs = st.recursive(
    st.none() | st.integers(-5, 5) | _text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=3),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_docs, st.integers(1, 7))
def test_json_depth_matches_the_parsed_document(doc: Any, window: int) -> None:
    """Against the depth of the parsed value, with windows small enough to split every
    string, escape and bracket run."""
    text = orjson.dumps(doc)
    with mock.patch.object(L, "_WINDOW", window):
        depth, _ = json_depth(text)
        assert depth == _depth(doc)
        if depth:
            got, at = json_depth(text, stop_above=depth - 1)
            assert got == depth and at is not None and text[at : at + 1] in (b"[", b"{")


@pytest.mark.parametrize("stream", [False, True])
def test_iter_decode_counts_stream_bytes_and_checks_each_batch(stream: bool) -> None:
    body = smp.encode_request(np.arange(12, dtype=np.float32).reshape(6, 2), "text/csv")
    src: Any = io.BytesIO(body) if stream else body
    got = list(smp.iter_decode(src, "text/csv", batch_size=4, limits=Limits(max_bytes=len(body))))
    assert [len(b) for b in got] == [4, 2]
    src = io.BytesIO(body) if stream else body
    with pytest.raises(smp.PayloadTooLargeError) as info:
        list(smp.iter_decode(src, "text/csv", batch_size=4, limits=Limits(max_bytes=len(body) - 1)))
    assert info.value.limit == len(body) - 1
    assert info.value.what == ("text/csv stream" if stream else "text/csv payload")


def test_iter_decode_elements_carry_absolute_record_indexes() -> None:
    body = b'{"features": [1]}\n{"features": [1]}\n{"features": [1, 2]}\n'
    with pytest.raises(smp.PayloadTooLargeError) as info:
        list(smp.iter_decode(body, "application/jsonlines", batch_size=2, limits=Limits(max_elements=1)))
    assert info.value.record_index == 2


def test_payload_too_large_pickles_with_its_fields() -> None:
    e = smp.PayloadTooLargeError(5, 4, "x tensor", unit="elements", record_index=3)
    back = pickle.loads(pickle.dumps(e))
    assert (back.size, back.limit, back.what, back.unit, back.record_index, str(back)) == (
        5,
        4,
        "x tensor",
        "elements",
        3,
        str(e),
    )


def _echo(b: smp.RecordBatch) -> smp.RecordBatch:
    return smp.RecordBatch(label={"n": np.zeros(len(b), np.float32)})


def test_serving_applies_its_default_limits() -> None:
    assert (SERVING.max_records, SERVING.max_elements, SERVING.max_depth) == (1_000_000, 1 << 24, 64)
    deep = b'{"instances": ' + b"[" * 70 + b"1" + b"]" * 70 + b"}"
    r = smp.serving.handle(deep, "application/json", "application/json", _echo, env={})
    assert r.status == 400
    assert r.body == b"application/json: nested deeper than the limit of 64 levels at byte 77\n"
    body = b"1\n" * 11
    r = smp.serving.handle(body, "text/csv", "text/csv", _echo, env={}, limits=Limits(max_records=10))
    assert (r.status, r.body) == (
        413,
        b"text/csv batch of more than 10 records exceeds the limit of 10 records\n",
    )
    r = smp.serving.handle(body, "text/csv", "text/csv", _echo, env={}, limits=Limits())
    assert r.status == 200
    h = smp.serving.Handler(_echo, env={}, limits=Limits(max_records=10))
    assert h(body, "text/csv", "text/csv").status == 413
