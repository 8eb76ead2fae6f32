"""RecordIO-protobuf records that need parsing, at a bounded cost a byte (issue #20, time).

The one-pass reader of map entries (``_crecordio.entries``) with ``full``: records with uid,
metadata and configuration strings (the last one of a record wins, every one must be
UTF-8), tensor fields not packed (runs of unpacked elements read by a tight loop), runs
of empty entries and empty value parts skipped, a key table that tries the key that
followed the previous one last time, the part of a record before its first winning entry
and after its last read once, and dense columns filled while counting where record 0
shows them. Each route is checked against protobuf's own parser (the generated
``record_pb2``), the careful reader, the vectorized reader with its tables (the general
route, forced), and the pure path (the numpy readers).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads._proto import record_pb2
from sm_payloads.formats import _record_reader as reader
from sm_payloads.formats._wire import Decline
from sm_payloads.recordio import frame_table, write_records

from .helpers import ld, varint
from .test_recordio_parsed14 import (
    F32,
    F64,
    I32,
    assert_protobuf_reads,
    assert_same,
    bodies,
    careful,
    decoded,
    entry,
    f32_value,
    packed,
    uints,
    unpacked,
)
from .test_recordio_vector_merge import path

CT = "application/x-recordio-protobuf"
C = reader.crecordio
PATHS = ["numpy", "c"] if C is not None else ["numpy"]
needs_c = pytest.mark.skipif(C is None, reason="the C extension is not built")


def tables_route(body: bytes) -> smp.RecordBatch | None:
    """The vectorized reader with its tables of fields alone (no one-pass reader): the
    general route, forced; None where it declines."""
    buf = np.frombuffer(body, np.uint8)
    starts, lengths, _ = frame_table(memoryview(body), CT)
    try:
        return reader.vector_decode(buf, starts, lengths)
    except Decline:
        return None


def one_pass(body: bytes) -> Any:
    """``entries(..., full=True)``'s answer for a body."""
    assert C is not None
    starts, lengths, _ = frame_table(memoryview(body), CT)
    return C.entries(np.frombuffer(body, np.uint8), starts, lengths, True)


def strings_of(body: bytes) -> list[tuple[str | None, str | None, str | None]]:
    """Each record's uid, metadata and configuration as protobuf reads them."""
    from sm_payloads.recordio import read_records

    out = []
    for payload in read_records(body):
        rec = record_pb2.Record.FromString(payload)  # type: ignore[attr-defined]
        out.append(
            tuple(getattr(rec, f) if rec.HasField(f) else None for f in ("uid", "metadata", "configuration"))
        )
    return out  # type: ignore[return-value]


def batch_strings(batch: smp.RecordBatch) -> list[tuple[str | None, str | None, str | None]]:
    n = len(batch)
    cols = [batch.uid, batch.metadata, batch.configuration]
    return [tuple(None if c is None else c[i] for c in cols) for i in range(n)]  # type: ignore[misc]


def check_everywhere(body: bytes, *, protobuf: bool = True) -> smp.RecordBatch | smp.DecodeError:
    """The careful reader's outcome, and the same outcome on both paths; the batch as
    protobuf reads the body (features, label, strings) and as the tables read it."""
    want = careful(body)
    for which in PATHS:
        with path(which):
            assert_same(decoded(body), want)
    if isinstance(want, smp.DecodeError):
        return want
    general = tables_route(body)
    if general is not None:
        assert_same(general, want)
    if protobuf:
        assert_protobuf_reads(body, want)
        assert batch_strings(want) == strings_of(body)
    return want


# --------------------------------------------------------------------------------------
# Strings: the last of a record wins, every one is UTF-8, no str for the others
# --------------------------------------------------------------------------------------


@needs_c
def test_a_uid_given_many_times_keeps_the_last_and_builds_one_str() -> None:
    payload = ld(3, b"one") + ld(3, b"two") + entry(1, b"v", f32_value(1.5)) + ld(3, b"three")
    body = write_records(
        [payload, entry(1, b"v", f32_value(2.5)) + ld(4, b"{}"), entry(1, b"v", f32_value(3.0))]
    )
    got = one_pass(body)
    assert got is not None
    names, runs, columns, found = got
    assert names == [(1, b"v")]
    assert columns == [(0, F32, 4)]
    assert bytes(runs) == struct.pack("<3f", 1.5, 2.5, 3.0)
    assert found == (["three", None, None], [None, "{}", None], None)
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.uid or []) == ["three", None, None]
    assert list(batch.metadata or []) == [None, "{}", None]
    assert batch.configuration is None
    assert batch.features["v"].tolist() == [[1.5], [2.5], [3.0]]


def test_millions_of_uid_copies_read_as_the_last_one() -> None:
    payload = b"\x1a\x01u" * 50_000 + ld(3, "é".encode()) + entry(1, b"v", f32_value(1.5))
    batch = check_everywhere(write_records([payload]))
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.uid or []) == ["é"]


@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"a\x80", b"\xf0\x8f\xbf\xbf"],
    ids=["ff", "overlong-nul", "surrogate", "past-10ffff", "truncated", "lone-continuation", "overlong-4"],
)
@pytest.mark.parametrize("where", ["first", "last"])
def test_a_string_that_is_not_utf8_is_the_careful_readers_error_wherever_it_is(
    bad: bytes, where: str
) -> None:
    strings = [ld(3, b"ok"), ld(3, bad)] if where == "last" else [ld(3, bad), ld(3, b"ok")]
    body = write_records([entry(1, b"v", f32_value(1.0)), b"".join(strings) + entry(1, b"v", f32_value(2.0))])
    if C is not None:
        assert one_pass(body) is None
    err = check_everywhere(body)
    assert isinstance(err, smp.DecodeError)
    assert err.record_index == 1
    assert "uid is not valid UTF-8" in str(err)


@pytest.mark.parametrize(
    "text", ["", "plain", "é", "日本語", "\U0001f600 emoji", "\u07ff\u0800\uffff\U00010000\U0010ffff"]
)
def test_valid_utf8_strings_of_every_width_read_as_protobuf_reads_them(text: str) -> None:
    raw = text.encode("utf-8")
    payloads = [
        ld(5, raw) + entry(2, b"values", f32_value(1.0)) + ld(4, raw + b"!") + ld(3, raw),
        entry(2, b"values", f32_value(2.0)) + ld(5, b"x") + ld(5, raw),
    ]
    body = write_records(payloads)
    if C is not None:
        got = one_pass(body)
        assert got is not None and got[3] == ([text, None], [text + "!", None], [text, text])
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.uid or []) == [text, None]
    assert list(batch.metadata or []) == [text + "!", None]
    assert list(batch.configuration or []) == [text, text]


@needs_c
def test_without_full_the_one_pass_reader_still_declines_strings_and_unpacked_fields() -> None:
    assert C is not None
    for payload in (
        entry(1, b"v", f32_value(1.0)) + ld(3, b"u"),
        entry(1, b"v", ld(F32, unpacked(F32, [1.0, 2.0]))),
    ):
        body = write_records([payload])
        starts, lengths, _ = frame_table(memoryview(body), CT)
        assert C.entries(np.frombuffer(body, np.uint8), starts, lengths) is None
        assert one_pass(body) is not None


def test_strings_with_unknown_fields_take_the_general_route() -> None:
    payload = ld(3, b"a") + entry(1, b"v", f32_value(1.0)) + b"\x30\x01" + ld(3, b"b")
    if C is not None:
        assert one_pass(write_records([payload])) is None
    batch = check_everywhere(write_records([payload, payload]))
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.uid or []) == ["b", "b"]


def test_a_string_of_another_wire_type_is_the_careful_readers_error() -> None:
    payload = entry(1, b"v", f32_value(1.0)) + b"\x18\x01"  # uid as a varint
    err = check_everywhere(write_records([payload]), protobuf=False)
    assert isinstance(err, smp.DecodeError)
    assert "uid has wire type 0, expected 2" in str(err)


# --------------------------------------------------------------------------------------
# Unpacked elements: runs read by a tight loop
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33])
@pytest.mark.parametrize("code", [F32, F64, I32])
def test_runs_of_unpacked_values_of_every_length(code: int, count: int) -> None:
    # (int32: one-byte varints, the fast run)
    values: list[Any] = (
        [j * 37 % 128 for j in range(count)] if code == I32 else [j + 0.25 for j in range(count)]
    )
    body = write_records(
        [
            entry(1, b"v", ld(code, unpacked(code, values))),
            entry(1, b"v", ld(code, unpacked(code, values[::-1]))),
        ]
    )
    if C is not None:
        assert one_pass(body) is not None
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    dtype = {F32: np.float32, F64: np.float64, I32: np.int32}[code]
    assert np.asarray(batch.features["v"]).tobytes() == np.array([values, values[::-1]], dtype).tobytes()


def test_unpacked_int32_runs_broken_by_longer_varints_and_other_fields() -> None:
    values = [1, 2, 3, 127, 128, 5, 6, -1, 7, 8, 9, 10, 300, 11, 2**31 - 1, -(2**31), 0, 0, 0, 0, 0, 0, 0, 12]
    tensor = unpacked(I32, values[:10]) + uints(3, [len(values)]) + unpacked(I32, values[10:])
    shaped = smp.decode_request(write_records([entry(1, b"v", ld(I32, tensor))]), CT)
    assert np.asarray(shaped.features["v"]).ravel().tolist() == values
    check_everywhere(write_records([entry(1, b"v", ld(I32, tensor))] * 3))


def test_unpacked_keys_and_shape_of_a_sparse_tensor() -> None:
    keys = [1, 3, 5, 7, 9, 11, 13, 15, 17, 200]
    tensor = (
        packed(F32, [float(k) for k in keys])
        + b"".join(b"\x10" + varint(k) for k in keys)
        + b"\x18"
        + varint(1000)
    )
    body = write_records([entry(1, b"values", ld(F32, tensor))] * 2)
    if C is not None:
        assert one_pass(body) is not None
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    dense = batch.features["values"].toarray()
    want = np.zeros(1000, np.float32)
    want[keys] = keys
    assert dense.shape == (2, 1000) and (dense == want).all()


@pytest.mark.parametrize("code", [F32, F64, I32])
def test_a_run_of_unpacked_values_that_ends_on_a_tag_is_the_careful_readers_error(code: int) -> None:
    tensor = unpacked(code, [1] * 9)
    body = write_records([entry(1, b"v", f32_value(1.0)), entry(1, b"v", ld(code, tensor + tensor[:1]))])
    if C is not None:
        assert one_pass(body) is None
    err = check_everywhere(body, protobuf=False)
    assert isinstance(err, smp.DecodeError)
    assert err.record_index == 1


def _joined_by_twin(msgs: list[bytes], types: list[int]) -> tuple[list[bytes], Any]:
    """Each message's joined values, keys and shape by ``tensor_join`` and by its twin."""
    assert C is not None
    body = b"".join(msgs)
    buf = np.frombuffer(body, np.uint8)
    lengths = np.array([len(m) for m in msgs], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    kinds = np.array(types, dtype=np.int64)
    with path("numpy"):
        tbuf, twin = reader._tensor_fields(buf, starts, starts + lengths, kinds, 1 << 20)
    want = [
        tbuf[int(twin[f][0][i]) : int(twin[f][0][i]) + int(twin[f][1][i])].tobytes()
        for f in range(3)
        for i in range(len(msgs))
    ]
    return want, C.tensor_join(buf, starts, lengths, kinds)


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    runs=st.lists(
        st.tuples(
            st.sampled_from([1, 2, 3]),
            st.lists(st.integers(0, 300), min_size=1, max_size=19),
            st.booleans(),
        ),
        min_size=1,
        max_size=6,
    ),
    code=st.sampled_from([F32, F64, I32]),
)
def test_tensor_join_reads_runs_of_unpacked_elements_as_its_twin(
    runs: list[tuple[int, list[int], bool]], code: int
) -> None:
    """Runs of unpacked values, keys and shape, one-byte varints and longer ones, fixed-width
    values, interleaved with packed fields: each field joined in wire order, as the twin
    joins it."""
    msg = b""
    for field, values, as_packed in runs:
        if field == 1 and code != I32:
            floats = [float(v) for v in values]
            msg += packed(code, floats) if as_packed else unpacked(code, floats)
        elif as_packed:
            msg += uints(field, values)
        else:
            msg += b"".join(bytes([field << 3]) + varint(v) for v in values)
    want, got = _joined_by_twin([msg, msg], [code, code])
    assert got is not None
    joined, raw = got
    r = np.frombuffer(raw, np.int64).reshape(6, 2)
    mine = [
        bytes(joined[int(r[2 * f][i]) : int(r[2 * f][i]) + int(r[2 * f + 1][i])])
        for f in range(3)
        for i in range(2)
    ]
    assert mine == want


# --------------------------------------------------------------------------------------
# Runs of empty entries and empty value parts
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 9, 1001])
@pytest.mark.parametrize("where", ["before", "after", "both"])
@pytest.mark.parametrize("fn", [1, 2])
def test_runs_of_empty_entries(count: int, where: str, fn: int) -> None:
    empties = bytes([fn << 3 | 2, 0]) * count
    value = entry(1, b"v", f32_value(1.5))
    payload = {"before": empties + value, "after": value + empties, "both": empties + value + empties}[where]
    batch = check_everywhere(write_records([payload, value]))
    assert isinstance(batch, smp.RecordBatch)
    assert batch.features["v"].tolist() == [[1.5], [1.5]]


def test_empty_entries_remove_an_earlier_entry_of_the_empty_key() -> None:
    payload = entry(1, b"", f32_value(1.0)) + b"\x0a\x00" * 9 + entry(1, b"v", f32_value(2.0))
    batch = check_everywhere(write_records([payload]))
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == ["v"]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 9, 1001])
def test_runs_of_empty_value_parts(count: int) -> None:
    parts = [b""] * count
    payloads = [
        entry(1, b"v", *parts, f32_value(1.5)),
        entry(1, b"v", f32_value(2.5), *parts),
        entry(1, b"v", *parts, f32_value(3.5), *parts, f32_value(4.5)),
    ]
    batch = check_everywhere(write_records(payloads))
    assert isinstance(batch, smp.RecordBatch)
    assert batch.features["v"].values.tolist() == [1.5, 2.5, 3.5, 4.5]


def test_only_empty_value_parts_are_an_entry_without_a_value() -> None:
    payloads = [entry(1, b"v", f32_value(1.0)) + entry(1, b"v", *[b""] * 10), entry(1, b"w", f32_value(2.0))]
    batch = check_everywhere(write_records(payloads))
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == ["w"]


# --------------------------------------------------------------------------------------
# The key table's guess, the part of a record its winners hold, dense columns while counting
# --------------------------------------------------------------------------------------


def test_alternating_keys_and_a_key_of_both_maps() -> None:
    payload = (
        b"\x0a\x03\x0a\x01a\x0a\x03\x0a\x01b" * 50
        + b"\x12\x03\x0a\x01a"
        + entry(2, b"a", f32_value(1.0))
        + entry(1, b"a", f32_value(2.0))
        + b"\x0a\x03\x0a\x01b"
    )
    batch = check_everywhere(write_records([payload, payload]))
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == ["a"] and list(batch.label) == ["a"]
    assert batch.features["a"].tolist() == [[2.0], [2.0]]
    assert batch.label["a"].tolist() == [1.0, 1.0]


def test_keys_that_share_a_prefix_in_rotated_orders() -> None:
    keys = [b"k1", b"k10", b"k100", b"k", b"k2"]
    payloads = [
        b"".join(entry(1, keys[(j + i) % 5], f32_value(float(j + 10 * i))) for j in range(5))
        for i in range(7)
    ]
    batch = check_everywhere(write_records(payloads))
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == ["k1", "k10", "k100", "k", "k2"]
    assert batch.features["k"].tolist() == [[float((3 - i) % 5 + 10 * i)] for i in range(7)]


def test_an_entry_after_the_last_winner_removes_an_earlier_one() -> None:
    """Entries past a record's last winning entry can remove earlier ones (an entry without
    a value), and entries before its first can be replaced: the second pass reads the part
    of the record its winners hold, and knows which they are."""
    payload = (
        entry(1, b"a", f32_value(9.0))  # replaced below
        + b"\x0a\x03\x0a\x01x" * 5
        + entry(1, b"values", f32_value(1.0))
        + entry(1, b"a", f32_value(2.0))  # removed by the last entry
        + entry(1, b"k17", ld(F32, uints(3, [1])))
        + b"\x0a\x03\x0a\x01a"
    )
    other = (
        entry(1, b"values", f32_value(3.0))
        + entry(1, b"k17", ld(F32, uints(3, [1])))
        + b"\x0a\x03\x0a\x01x" * 3
    )
    body = write_records([payload, other])
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == ["values", "k17"]
    assert batch.features["values"].tolist() == [[1.0], [3.0]]


def test_records_without_a_winning_entry() -> None:
    payloads = [b"\x0a\x03\x0a\x01x" * 4, entry(1, b"v", f32_value(1.0)), b"\x0a\x00" * 3, b""]
    batch = check_everywhere(write_records(payloads))
    assert isinstance(batch, smp.RecordBatch)
    assert len(batch) == 4 and list(batch.features) == ["v"]


@pytest.mark.parametrize(
    "change",
    ["a key missing", "another key", "another width", "another member", "a shape", "a key twice", "the same"],
)
@pytest.mark.parametrize("at", [1, 2, 5])
def test_dense_columns_filled_while_counting_until_a_record_differs(change: str, at: int) -> None:
    def rec(i: int) -> bytes:
        return entry(1, b"a", f32_value(float(i))) + entry(2, b"b", ld(F64, packed(F64, [i, -i])))

    payloads = [rec(i) for i in range(6)]
    i = at
    payloads[at] = {
        "a key missing": entry(2, b"b", ld(F64, packed(F64, [i, -i]))),
        "another key": rec(i) + entry(1, b"c", f32_value(7.0)),
        "another width": entry(1, b"a", f32_value(float(i), 1.0))
        + entry(2, b"b", ld(F64, packed(F64, [i, -i]))),
        "another member": entry(1, b"a", ld(F64, packed(F64, [i])))
        + entry(2, b"b", ld(F64, packed(F64, [i, -i]))),
        "a shape": entry(1, b"a", ld(F32, packed(F32, [i]) + uints(3, [1])))
        + entry(2, b"b", ld(F64, packed(F64, [i, -i]))),
        "a key twice": entry(1, b"a", f32_value(5.0)) + rec(i),
        "the same": rec(i),
    }[change]
    body = write_records(payloads)
    if C is not None:
        got = one_pass(body)
        assert got is not None
        assert isinstance(got[2], list) == (change in ("a key twice", "the same"))
    check_everywhere(body)


def test_dense_columns_of_one_record_and_of_a_record_zero_too_large_to_guess() -> None:
    one = write_records([entry(1, b"v", f32_value(1.0, 2.0)) + entry(2, b"w", ld(F64, packed(F64, [3.0])))])
    batch = check_everywhere(one)
    assert isinstance(batch, smp.RecordBatch)
    assert batch.features["v"].tolist() == [[1.0, 2.0]]
    # record 0 of 1,000 values, then records of none: the guess would need more bytes than
    # the records hold, so it is not made
    wide = write_records([entry(1, b"v", f32_value(*range(1000)))] + [b""] * 50)
    if C is not None:
        got = one_pass(wide)
        assert got is not None and isinstance(got[2], bytearray)
    check_everywhere(wide)


def test_uniform_frames_that_differ_in_their_first_bytes_are_not_the_template() -> None:
    payloads = [entry(1, b"k%d" % (i % 10), f32_value(float(i))) for i in range(70)]
    body = write_records(payloads)
    starts, lengths, _ = frame_table(memoryview(body), CT)
    assert (lengths == lengths[0]).all()
    view = memoryview(body)
    assert reader.template_decode(view, np.frombuffer(body, np.uint8), starts, int(lengths[0]), False) is None
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == [f"k{j}" for j in range(10)]
    same = write_records([entry(1, b"values", f32_value(float(i), 2.0)) for i in range(70)])
    starts, lengths, _ = frame_table(memoryview(same), CT)
    got = reader.template_decode(
        memoryview(same), np.frombuffer(same, np.uint8), starts, int(lengths[0]), False
    )
    assert got is not None and got.features["values"][:, 0].tolist() == [float(i) for i in range(70)]


@pytest.mark.parametrize("key_len", [0, 1, 5, 64, 65])
@pytest.mark.parametrize("code", [F32, F64, I32])
@pytest.mark.parametrize("count", [0, 1, 2, 13, 14, 15, 26, 27, 28, 29, 30])
def test_common_entries_around_one_byte_lengths(key_len: int, code: int, count: int) -> None:
    """The common entry (a key, one value part of one tensor of packed values alone) read
    without the general field loop where every length is one byte, by it otherwise: the
    same batch either way, a key past 64 bytes left to the tables' reader."""
    key = b"k" * key_len
    values: list[Any] = [j % 128 for j in range(count)] if code == I32 else [j + 0.5 for j in range(count)]
    payloads = [b"".join(entry(fn, key, ld(code, packed(code, values))) for fn in (1, 2))] * 3
    body = write_records(payloads)
    if C is not None:
        got = one_pass(body)
        assert (got is None) == (key_len > 64)
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    dtype = {F32: np.float32, F64: np.float64, I32: np.int32}[code]
    assert np.asarray(batch.features[key.decode()]).tobytes() == np.array([values] * 3, dtype).tobytes()


@pytest.mark.parametrize(
    "bad",
    [
        ld(F32, ld(1, b"\x00" * 5)),  # float32 values of 5 bytes
        ld(F64, ld(1, b"\x00" * 12)),  # float64 values of 12 bytes
        ld(I32, ld(1, b"\x01\x81")),  # an int32 run that ends inside a varint
        ld(4, ld(1, b"\x00" * 4)),  # not a member of the oneof
        ld(F32, ld(1, b"\x00" * 4))[:-1] + b"\x00\x00",  # a member longer than its part
    ],
    ids=["f32-5", "f64-12", "varint-cut", "field-4", "member-length"],
)
def test_common_entries_that_are_not_are_the_careful_readers(bad: bytes) -> None:
    body = write_records([entry(1, b"v", f32_value(1.0)), entry(1, b"v", bad)])
    check_everywhere(body, protobuf=False)


def test_winning_entries_among_others_are_read_alone_the_second_time() -> None:
    """Entries without a value, replaced entries and strings before, between and after the
    winning ones: the second pass reads the winners noted by the first, alone."""
    junk = b"\x0a\x03\x0a\x01a\x0a\x03\x0a\x01b" * 7
    payloads = [
        junk + entry(1, b"v", f32_value(1.0)) + junk + ld(3, b"u") + entry(1, b"w", f32_value(2.0)) + junk,
        entry(1, b"w", f32_value(8.0))
        + junk
        + entry(1, b"v", f32_value(3.0))
        + entry(1, b"w", f32_value(4.0)),
        entry(1, b"v", f32_value(5.0)) + entry(1, b"w", f32_value(6.0)),
        entry(1, b"a", f32_value(7.0))
        + entry(1, b"v", f32_value(7.5))
        + entry(1, b"w", f32_value(9.0))
        + junk,
    ]
    body = write_records(payloads)
    if C is not None:
        got = one_pass(body)
        assert got is not None and isinstance(got[2], list)  # ("a" is removed: dense columns)
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert list(batch.features) == ["v", "w"]
    assert batch.features["v"].tolist() == [[1.0], [3.0], [5.0], [7.5]]
    assert batch.features["w"].tolist() == [[2.0], [4.0], [6.0], [9.0]]
    assert list(batch.uid or []) == ["u", None, None, None]
    # "a" kept in one record: the table of entries
    body = write_records([*payloads[:3], payloads[3] + entry(1, b"a", f32_value(7.0))])
    if C is not None:
        got = one_pass(body)
        assert got is not None and isinstance(got[2], bytearray)
    check_everywhere(body)


@pytest.mark.parametrize(
    "middle",
    [
        b"\x0a\x00\x12\x00" * 40,
        b"\x0a\x00\x12\x00" * 20 + entry(1, b"", f32_value(1.0)) + b"\x12\x00\x0a\x00" * 20,
        b"\x12\x00" * 9 + entry(2, b"", f32_value(2.0)) + b"\x0a\x00" * 9,
        entry(1, b"", f32_value(3.0)) + b"\x0a\x02\x0a\x00" + b"\x0a\x00" * 5 + entry(1, b"", f32_value(4.0)),
    ],
    ids=["alternating", "a value between", "a label value between", "an explicit empty key"],
)
def test_empty_entries_of_both_maps_in_any_order(middle: bytes) -> None:
    payload = entry(1, b"v", f32_value(1.5)) + middle + entry(2, b"w", f32_value(2.5))
    check_everywhere(write_records([payload, payload]))


@pytest.mark.parametrize(
    "values",
    [
        [128, 300, 16384, 2**21, 2**28, 2**31 - 1],
        [-1, -2, -(2**31), 5, 127, 128],
        [0, 1, 200, 2, 300, 3] * 7,
    ],
    ids=["long varints", "negative", "mixed"],
)
def test_runs_of_unpacked_varints_of_several_bytes(values: list[int]) -> None:
    body = write_records([entry(1, b"v", ld(I32, unpacked(I32, values)))] * 3)
    if C is not None:
        assert one_pass(body) is not None
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert np.asarray(batch.features["v"]).tolist() == [values] * 3


@pytest.mark.parametrize(
    "bad",
    [b"\x08" + b"\xff" * 9 + b"\x02", b"\x08" + b"\xff" * 10 + b"\x01", b"\x08\x80"],
    ids=["10th-byte-2", "11-bytes", "truncated"],
)
def test_a_bad_varint_in_a_run_is_the_careful_readers_error(bad: bytes) -> None:
    tensor = unpacked(I32, [1, 300, 2]) + bad + unpacked(I32, [4])
    body = write_records([entry(1, b"v", ld(I32, unpacked(I32, [1]))), entry(1, b"v", ld(I32, tensor))])
    if C is not None:
        assert one_pass(body) is None
    err = check_everywhere(body, protobuf=False)
    assert isinstance(err, smp.DecodeError)


@pytest.mark.parametrize("field", [1, 2, 3, 5])
def test_runs_of_empty_fields_in_tensors_and_of_empty_tensors(field: int) -> None:
    empties = bytes([field << 3 | 2, 0]) * 33
    tensor = packed(F32, [1.0]) + empties + uints(3, [1]) + empties
    member_run = ld(F32, b"") * 17
    payloads = [
        entry(1, b"v", ld(F32, tensor)),
        entry(1, b"v", member_run + ld(F32, tensor) + member_run),
    ]
    body = write_records(payloads)
    if C is not None:
        assert one_pass(body) is not None
    batch = check_everywhere(body)
    assert isinstance(batch, smp.RecordBatch)
    assert np.asarray(batch.features["v"]).tolist() == [[1.0], [1.0]]
    assert batch.features["v"].shape == (2, 1)


# --------------------------------------------------------------------------------------
# Properties: any mix of the above
# --------------------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=4)


@st.composite
def with_strings(draw: st.DrawFn) -> bytes:
    """`bodies()` of test_recordio_parsed14 (entries in any order, values in parts, packed
    or not, removed and replaced keys), with uid, metadata and configuration strings among
    the entries, runs of empty entries, and now and then a string that is not UTF-8."""
    body, _, _ = draw(bodies())
    from sm_payloads.recordio import read_records

    out = []
    for payload in read_records(body):
        fields = []
        pos = 0
        while pos < len(payload):  # the record's entries, one field each
            ln, at = 0, pos + 1
            shift = 0
            while True:
                byte = payload[at]
                ln |= (byte & 0x7F) << shift
                at += 1
                shift += 7
                if byte < 0x80:
                    break
            fields.append(payload[pos : at + ln])
            pos = at + ln
        for _ in range(draw(st.integers(0, 3))):
            fn = draw(st.sampled_from([3, 4, 5]))
            raw = draw(_TEXT).encode("utf-8")
            if draw(st.integers(0, 19)) == 0:
                raw += b"\xff"
            fields.insert(draw(st.integers(0, len(fields))), ld(fn, raw))
        if draw(st.integers(0, 4)) == 0:
            fields.insert(
                draw(st.integers(0, len(fields))), bytes([draw(st.sampled_from([0x0A, 0x12])), 0]) * 9
            )
        out.append(b"".join(fields))
    return write_records(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=with_strings())
def test_any_such_body_reads_as_protobuf_and_the_careful_reader_read_it(body: bytes) -> None:
    want = check_everywhere(body, protobuf=False)
    if not isinstance(want, smp.DecodeError):
        assert_protobuf_reads(body, want)
        assert batch_strings(want) == strings_of(body)


@st.composite
def pb2_records(draw: st.DrawFn) -> bytes:
    """Payloads built with ``record_pb2``: each the concatenation of 1 to 3 serialized
    Record messages, which protobuf reads as one merged message (a map entry of a key
    given again replaces it, a string's last one wins), with keys, uids and metadata
    drawn per message."""
    payloads = []
    for _ in range(draw(st.integers(1, 4))):
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            rec = record_pb2.Record()  # type: ignore[attr-defined]
            for key in draw(st.lists(st.sampled_from(["values", "a", "é"]), max_size=3, unique=True)):
                t = rec.features[key].float32_tensor
                t.values.extend(draw(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=3)))
            if draw(st.booleans()):
                rec.label["values"].int32_tensor.values.append(draw(st.integers(-(2**31), 2**31 - 1)))
            for field in ("uid", "metadata"):
                if draw(st.booleans()):
                    setattr(rec, field, draw(_TEXT))
            parts.append(rec.SerializeToString())
        payloads.append(b"".join(parts))
    return write_records(payloads)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=pb2_records())
def test_records_that_record_pb2_writes_and_merges_read_as_it_reads_them(body: bytes) -> None:
    want = careful(body)
    if isinstance(want, smp.DecodeError):  # a column the batch cannot hold (a key some records lack)
        for which in PATHS:
            with path(which):
                assert_same(decoded(body), want)
        return
    check_everywhere(body)
