"""RecordIO-protobuf reads what protobuf reads: fields that occur more than once.

Protobuf parses a message field that occurs twice as the merge of the two (repeated fields
concatenate, a oneof keeps the member that came last, and occurrences of that member merge),
the last entry of a repeated map key replaces the earlier ones, and a repeated field without
elements is indistinguishable from an absent one. The oracle is the generated
``sm_payloads._proto.record_pb2`` module (protobuf's own parser); the wire bytes are built
here by hand, field by field.
"""

from __future__ import annotations

import struct
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads._proto import record_pb2
from sm_payloads.formats import _record_reader as reader
from sm_payloads.formats import recordio_protobuf as rp
from sm_payloads.formats._record_reader import parse_record
from sm_payloads.recordio import MAGIC_BYTES

from .helpers import ld, varint

CT = "application/x-recordio-protobuf"

# --------------------------------------------------------------------------------------
# A hand-written protobuf writer (field by field, so that any repetition can be written)
# --------------------------------------------------------------------------------------


def packed_f32(values: list[float]) -> bytes:
    return ld(1, struct.pack(f"<{len(values)}f", *values))


def unpacked_f32(values: list[float]) -> bytes:
    return b"".join(varint(1 << 3 | 5) + struct.pack("<f", v) for v in values)


def packed_f64(values: list[float]) -> bytes:
    return ld(1, struct.pack(f"<{len(values)}d", *values))


def packed_i32(values: list[int]) -> bytes:
    return ld(1, b"".join(varint(v & 0xFFFFFFFFFFFFFFFF) for v in values))


def packed_uints(field: int, values: list[int]) -> bytes:
    return ld(field, b"".join(varint(v) for v in values))


#: Value's oneof members: float32_tensor = 2, float64_tensor = 3, int32_tensor = 7.
F32, F64, I32 = 2, 3, 7


def value(*members: tuple[int, bytes]) -> bytes:
    """A Value message holding the given (member, tensor bytes) occurrences, in order."""
    return b"".join(ld(m, t) for m, t in members)


def entry(key: str, *values: bytes) -> bytes:
    """A map entry: the key, then the value field once per part given."""
    return ld(1, key.encode()) + b"".join(ld(2, v) for v in values)


def framed(payload: bytes) -> bytes:
    return MAGIC_BYTES + struct.pack("<I", len(payload)) + payload + b"\0" * (-len(payload) % 4)


def careful(data: bytes) -> smp.RecordBatch:
    view = memoryview(data)
    starts, lengths, joined = smp.recordio.frame_table(view, CT)
    return reader.careful_decode(view, starts, lengths, joined, 0, 0)


def oracle(record: bytes) -> dict[str, dict[str, tuple[str, list[Any], list[int], list[int]]]]:
    """What protobuf reads: map -> key -> (oneof member, values, keys, shape)."""
    rec = record_pb2.Record.FromString(record)  # type: ignore[attr-defined]
    out: dict[str, dict[str, tuple[str, list[Any], list[int], list[int]]]] = {}
    for name in ("features", "label"):
        got = {}
        for k, v in getattr(rec, name).items():
            which = v.WhichOneof("value")
            if which is None:
                continue
            t = getattr(v, which)
            got[k] = (which, list(t.values), list(t.keys), list(t.shape))
        out[name] = got
    return out


def ours(record: bytes) -> dict[str, dict[str, tuple[str, list[Any], list[int], list[int]]]]:
    rec = parse_record(memoryview(record), 0, len(record))
    names = {"float32": "float32_tensor", "float64": "float64_tensor", "int32": "int32_tensor"}
    out: dict[str, dict[str, tuple[str, list[Any], list[int], list[int]]]] = {}
    for name in ("features", "label"):
        got = {}
        for k, t in getattr(rec, name).items():
            got[k] = (
                names[t.values.dtype.name],
                t.values.tolist(),
                t.keys.tolist() if t.keys is not None else [],
                list(t.shape) if t.shape is not None else [],
            )
        out[name] = got
    return out


# --------------------------------------------------------------------------------------
# The cases issue #20 names, with their exact results
# --------------------------------------------------------------------------------------


def test_a_tensor_that_occurs_twice_in_a_value_merges() -> None:
    one = ld(1, entry("values", value((F32, packed_f32([1.0])), (F32, packed_f32([2.0])))))
    assert oracle(one)["features"]["values"][1] == [1.0, 2.0]
    body = framed(one) * 3
    for got in (rp.decode(body), careful(body)):
        assert got.features["values"].dtype == np.float32
        assert got.features["values"].tolist() == [[1.0, 2.0]] * 3


def test_a_value_that_occurs_twice_in_a_map_entry_merges() -> None:
    one = ld(1, entry("values", value((F32, packed_f32([1.0, 2.0]))), value((F32, unpacked_f32([3.0])))))
    assert oracle(one)["features"]["values"][1] == [1.0, 2.0, 3.0]
    body = framed(one) * 2
    for got in (rp.decode(body), careful(body)):
        assert got.features["values"].tolist() == [[1.0, 2.0, 3.0]] * 2


def test_another_oneof_member_in_between_replaces_rather_than_merges() -> None:
    one = ld(
        1,
        entry(
            "values",
            value((F32, packed_f32([1.0])), (F64, packed_f64([9.0]))),
            value((F32, packed_f32([2.0, 4.0]))),
        ),
    )
    assert oracle(one)["features"]["values"][:2] == ("float32_tensor", [2.0, 4.0])
    body = framed(one) * 2
    for got in (rp.decode(body), careful(body)):
        assert got.features["values"].dtype == np.float32
        assert got.features["values"].tolist() == [[2.0, 4.0]] * 2


def test_an_empty_packed_shape_is_no_shape() -> None:
    one = ld(1, entry("v", value((F32, packed_f32([1.0]) + ld(3, b"")))))
    assert oracle(one)["features"]["v"][3] == []
    assert parse_record(memoryview(one), 0, len(one)).features["v"].shape is None
    body = framed(one) * 2
    for got in (rp.decode(body), careful(body)):
        # a features tensor without shape is a vector: (N, 1), as for no shape at all
        assert got.features["v"].shape == (2, 1)
        assert got.features["v"].tolist() == [[1.0], [1.0]]
    two = ld(1, entry("v", value((F32, packed_f32([1.0, 2.0]) + ld(3, b"")))))
    assert rp.decode(framed(two) * 2).features["v"].tolist() == [[1.0, 2.0], [1.0, 2.0]]


def test_a_shape_in_two_parts_concatenates() -> None:
    one = ld(
        1,
        entry(
            "m",
            value((F32, packed_f32([1.0, 2.0]) + packed_uints(3, [2]))),
            value((F32, packed_f32([3.0, 4.0]) + packed_uints(3, [2]))),
        ),
    )
    assert oracle(one)["features"]["m"][1:] == ([1.0, 2.0, 3.0, 4.0], [], [2, 2])
    body = framed(one) * 2
    for got in (rp.decode(body), careful(body)):
        assert got.features["m"].tolist() == [[[1.0, 2.0], [3.0, 4.0]]] * 2


def test_sparse_keys_in_two_parts_concatenate() -> None:
    part = value((F32, packed_f32([5.0]) + packed_uints(2, [1]) + packed_uints(3, [4])))
    rest = value((F32, packed_f32([6.0]) + packed_uints(2, [3])))
    one = ld(1, entry("values", part, rest))
    assert oracle(one)["features"]["values"][1:] == ([5.0, 6.0], [1, 3], [4])
    for got in (rp.decode(framed(one)), careful(framed(one))):
        assert got.features["values"].toarray().tolist() == [[0.0, 5.0, 0.0, 6.0]]


def test_a_repeated_map_key_keeps_the_last_entry_whole() -> None:
    one = ld(1, entry("values", value((F32, packed_f32([1.0]))))) + ld(
        1, entry("values", value((F32, packed_f32([7.0, 8.0]))))
    )
    assert oracle(one)["features"]["values"][1] == [7.0, 8.0]
    for got in (rp.decode(framed(one) * 2), careful(framed(one) * 2)):
        assert got.features["values"].tolist() == [[7.0, 8.0]] * 2


# --------------------------------------------------------------------------------------
# Any repetition, against protobuf
# --------------------------------------------------------------------------------------

_KEYS = st.sampled_from(["values", "v", "w"])


@st.composite
def tensors(draw: st.DrawFn, member: int) -> bytes:
    """One occurrence of a dense tensor: its values in one or more packed or unpacked runs."""
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        n = draw(st.integers(0, 3))
        if member == I32:
            parts.append(packed_i32(draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=n, max_size=n))))
            continue
        floats = st.floats(width=32 if member == F32 else 64, allow_nan=False)
        vals = draw(st.lists(floats, min_size=n, max_size=n))
        if member == F64:
            parts.append(packed_f64(vals))
        else:
            parts.append(draw(st.sampled_from([packed_f32, unpacked_f32]))(vals))
    return b"".join(parts)


@st.composite
def values(draw: st.DrawFn) -> bytes:
    members = draw(st.lists(st.sampled_from([F32, F32, F64, I32]), min_size=1, max_size=4))
    return value(*((m, draw(tensors(m))) for m in members))


@st.composite
def records(draw: st.DrawFn) -> bytes:
    out = []
    for _ in range(draw(st.integers(1, 5))):
        fno = draw(st.sampled_from([1, 1, 2]))
        parts = draw(st.lists(values(), min_size=1, max_size=3))
        out.append(ld(fno, entry(draw(_KEYS), *parts)))
    return b"".join(out)


@settings(deadline=None)
@given(records())
def test_the_careful_reader_reads_what_protobuf_reads(record: bytes) -> None:
    assert ours(record) == oracle(record)


@settings(deadline=None)
@given(records(), st.integers(1, 4))
def test_every_reader_gives_the_careful_readers_batch(record: bytes, n: int) -> None:
    body = framed(record) * n
    try:
        want = careful(body)
    except smp.DecodeError as e:
        with pytest.raises(smp.DecodeError) as got:
            rp.decode(body)
        assert (str(got.value), got.value.offset) == (str(e), e.offset)
        return
    assert rp.decode(body).equals(want, bitwise=True)


@st.composite
def records_with_empty_parts(draw: st.DrawFn) -> bytes:
    """Records whose entries hold empty value parts ("12 00") between their values, and
    whose values hold empty tensor occurrences and empty packed runs."""
    out = []
    for _ in range(draw(st.integers(1, 5))):
        fno = draw(st.sampled_from([1, 1, 2]))
        parts = draw(st.lists(st.one_of(values(), st.just(b"")), min_size=1, max_size=4))
        extra = draw(st.sampled_from([b"", b"\x12\x00", b"\x12\x02\x0a\x00", b"\x1a\x02\x0a\x00"]))
        out.append(ld(fno, entry(draw(_KEYS), *parts) + (ld(2, extra) if extra else b"")))
    return b"".join(out)


@settings(deadline=None)
@given(records_with_empty_parts())
def test_empty_parts_and_values_gathered_a_range_at_a_time_read_what_protobuf_reads(record: bytes) -> None:
    # The careful reader keeps no empty value part or empty occurrence after the first, and
    # gathers the float values of every `_SPANS` ranges at once: here one range at a time.
    with mock.patch.object(reader, "_SPANS", 1):
        assert ours(record) == oracle(record)
    assert ours(record) == oracle(record)
