"""The vectorized RecordIO-protobuf reader (`vector_decode`) reads protobuf's merges.

A map entry's value in several parts, a oneof member in several parts, a tensor's repeated
fields in several parts or unpacked, and the uid / metadata / configuration strings are
read all records at once (they went to the careful per-record reader, at about 300 ns a
byte). The careful reader stays the reference: every batch `vector_decode` gives equals
its batch bit for bit, on the C path and the numpy twin, and `_crecordio.scan` answers
exactly what its twin `_wire.scan` does.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _record_reader as reader
from sm_payloads.formats import _wire
from sm_payloads.formats import recordio_protobuf as rp
from sm_payloads.record import Ragged
from sm_payloads.recordio import frame_table, write_records

from .helpers import f32, features, ld, varint

CT = "application/x-recordio-protobuf"


def _load() -> ModuleType | None:
    try:
        return importlib.import_module("sm_payloads.formats._crecordio")
    except ImportError:
        return None


C = _load()
PATHS = ["numpy", "c"] if C is not None else ["numpy"]

# --------------------------------------------------------------------------------------
# Writing records field by field
# --------------------------------------------------------------------------------------


def entry(key: bytes, *parts: bytes) -> bytes:
    return ld(1, key) + b"".join(ld(2, p) for p in parts)


F32, F64, I32, BYTES = 2, 3, 7, 9


@contextmanager
def path(name: str) -> Iterator[None]:
    if name == "numpy":
        with mock.patch.object(reader, "crecordio", None):
            yield
    else:
        yield


def tables(payloads: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    body = write_records(payloads)
    starts, lengths, joined = frame_table(memoryview(body), CT)
    assert not joined
    return body, np.frombuffer(body, np.uint8), starts, lengths


def careful(payloads: list[bytes]) -> smp.RecordBatch:
    body, _, starts, lengths = tables(payloads)
    return reader.careful_decode(memoryview(body), starts, lengths, {}, 0, 0)


def vector(
    payloads: list[bytes], chunk_bytes: int | None = None, piece_bytes: int | None = None
) -> smp.RecordBatch:
    _, buf, starts, lengths = tables(payloads)
    return reader.vector_decode(buf, starts, lengths, chunk_bytes=chunk_bytes, piece_bytes=piece_bytes)


# --------------------------------------------------------------------------------------
# Merges, read by the vectorized reader: exact values
# --------------------------------------------------------------------------------------

# Two records of different layouts, so that neither the template nor the walk reads them.
_MERGES = {
    "a tensor twice in a value": (
        [
            features(b"v", ld(F32, ld(1, f32(1.0))) + ld(F32, ld(1, f32(2.0)))),
            features(b"v", ld(F32, ld(1, f32(3.0, 4.0)))),
        ],
        [[1.0, 2.0], [3.0, 4.0]],
    ),
    "a value in two parts": (
        [
            features(b"v", ld(F32, ld(1, f32(1.0))), ld(F32, ld(1, f32(2.0)))),
            features(b"v", ld(F32, ld(1, f32(3.0, 4.0)))),
        ],
        [[1.0, 2.0], [3.0, 4.0]],
    ),
    "the values field twice": (
        [
            features(b"v", ld(F32, ld(1, f32(1.0)) + ld(1, f32(2.0)))),
            features(b"v", ld(F32, ld(1, f32(3.0, 4.0)))),
        ],
        [[1.0, 2.0], [3.0, 4.0]],
    ),
    "unpacked float32 values": (
        [
            features(b"v", ld(F32, b"\x0d" + f32(1.0) + b"\x0d" + f32(2.0))),
            features(b"v", ld(F32, ld(1, f32(3.0, 4.0)))),
        ],
        [[1.0, 2.0], [3.0, 4.0]],
    ),
    "another member, then this one": (
        [
            features(b"v", ld(F64, ld(1, struct.pack("<d", 9.0))) + ld(F32, ld(1, f32(1.0, 2.0)))),
            features(b"v", ld(F32, ld(1, f32(3.0, 4.0)))),
        ],
        [[1.0, 2.0], [3.0, 4.0]],
    ),
    "this member, another, then this one again": (
        [
            features(
                b"v", ld(F32, ld(1, f32(7.0))) + ld(I32, ld(1, b"\x05")) + ld(F32, ld(1, f32(1.0, 2.0)))
            ),
            features(b"v", ld(F32, ld(1, f32(3.0))), ld(F32, ld(1, f32(4.0)))),
        ],
        [[1.0, 2.0], [3.0, 4.0]],
    ),
}


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("case", sorted(_MERGES))
def test_merges_are_read_all_records_at_once(which: str, case: str) -> None:
    payloads, want = _MERGES[case]
    with path(which):
        got = vector(payloads)  # no Decline
        assert got.equals(careful(payloads), bitwise=True)
        assert rp.decode(write_records(payloads)).equals(got, bitwise=True)
    col = got.features["v"]
    assert col.dtype == np.float32
    assert col.tolist() == want


@pytest.mark.parametrize("which", PATHS)
def test_unpacked_int32_values_keys_and_shape_in_parts(which: str) -> None:
    # int32 values unpacked (-1 is ten bytes), sparse keys in two packed runs and one
    # unpacked, the shape in two parts; then a record of another layout.
    t0 = (
        b"\x08" + varint(2**64 - 1) + b"\x08\x07" + ld(2, b"\x00") + b"\x10\x03" + ld(3, b"") + ld(3, b"\x05")
    )
    t1 = ld(1, b"\x02\x03") + ld(2, b"\x01\x04") + ld(3, b"\x05")
    payloads = [features(b"s", ld(I32, t0)), features(b"s", ld(I32, t1))]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    m = got.features["s"]
    assert m.shape == (2, 5)
    assert m.dtype == np.int32
    assert m.toarray().tolist() == [[-1, 0, 0, 7, 0], [0, 2, 0, 0, 3]]


@pytest.mark.parametrize("which", PATHS)
def test_uid_metadata_and_configuration(which: str) -> None:
    t = ld(F32, ld(1, f32(1.0)))
    payloads = [
        features(b"v", t) + ld(3, b"first") + ld(3, "zweite \u00fc".encode()) + ld(5, b"{}"),
        ld(4, b"m") + features(b"v", t),
        features(b"v", t, t),
    ]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    assert got.uid == ("zweite \u00fc", None, None)
    assert got.metadata == (None, "m", None)
    assert got.configuration == ("{}", None, None)
    assert got.features["v"].to_lists() == [[1.0], [1.0], [1.0, 1.0]]


@pytest.mark.parametrize("which", PATHS)
def test_bytes_values_in_parts(which: str) -> None:
    payloads = [
        features(b"t", ld(BYTES, ld(1, b"ab")) + ld(BYTES, ld(1, b"cd"))),
        features(b"t", ld(BYTES, ld(1, b"ef")), ld(BYTES, b"")),
        features(b"t", ld(BYTES, ld(1, b"\xff"))),
    ]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    assert got.features["t"].tolist() == [["ab", "cd"], "ef", b"\xff"]


@pytest.mark.parametrize("which", PATHS)
def test_columns_in_the_order_keys_first_have_a_value(which: str) -> None:
    # Record 0 holds "a" without a value (protobuf: no tensor, the key absent) before "b".
    t = ld(F32, ld(1, f32(2.5)))
    payloads = [features(b"a") + features(b"b", t), features(b"a", t) + ld(3, b"u")]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    assert list(got.features) == ["b", "a"]
    a = got.features["a"]
    assert isinstance(a, Ragged)
    assert a.valid.tolist() == [False, True]


@pytest.mark.parametrize("which", PATHS)
def test_an_empty_packed_shape_is_no_shape(which: str) -> None:
    payloads = [
        features(b"v", ld(F32, ld(1, f32(1.0)) + ld(3, b""))),
        features(b"v", ld(F32, ld(1, f32(2.0))), b""),
    ]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    assert got.features["v"].tolist() == [[1.0], [2.0]]


# --------------------------------------------------------------------------------------
# What it leaves to the careful reader, which reports it
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", PATHS)
def test_a_key_twice_whose_first_is_not_utf8_is_the_careful_readers_error(which: str) -> None:
    t = ld(F32, ld(1, f32(1.0)))
    payloads = [ld(1, ld(1, b"\xff") + ld(1, b"v") + ld(2, t)), features(b"v", t, t)]
    with path(which):
        with pytest.raises(reader.Decline):
            vector(payloads)
        with pytest.raises(smp.DecodeError) as e:
            rp.decode(write_records(payloads))
    assert str(e.value) == (
        "application/x-recordio-protobuf: features key is not valid UTF-8 at byte 12 (record 0)"
    )


@pytest.mark.parametrize("which", PATHS)
def test_many_keys_in_few_records_are_the_careful_readers_cells_error(which: str) -> None:
    # 256 keys, each in one record of 100,000: 25.6 million column cells for 0.8 MB (the
    # vectorized reader built them: 290 x the body).
    t = ld(F32, ld(1, f32(1.0)))
    payloads = [b""] * 100_000
    for j in range(256):
        payloads[j * 300] = features(b"k%d" % j, t)
    with path(which):
        with pytest.raises(reader.Decline):
            vector(payloads)
        with pytest.raises(smp.DecodeError) as e:
            rp.decode(write_records(payloads))
    # Refused at the ninth key's record: 9 x 100,000 cells against 804,498 (the payload
    # bytes, 4,498 for the 256 records with a key, + 8 per record).
    assert e.value.reason.startswith(
        "features: 9 different keys in 100000 records make a batch of 900000 column cells, "
        "more than the 804498 these records allow"
    )
    # 2,400 records of 8-byte headers before it, 8 of them with 16 bytes of payload.
    assert (e.value.offset, e.value.record_index) == (8 * 2400 + 8 * 16, 2400)


@pytest.mark.parametrize("which", PATHS)
def test_a_table_of_more_than_a_row_per_8_bytes_declines(which: str) -> None:
    # 1,000 unpacked int32 values of 2 bytes each per record: the numpy twin's table of
    # tensor fields would be 24 x them, so it declines; the C join builds no table. Two
    # records: each alone is more than a quarter of the body, so reading in runs of
    # records does not help either.
    rec = features(b"v", ld(I32, b"\x08\x01" * 1000))
    payloads = [rec, rec + ld(3, b"u")]
    with path(which):
        if reader.crecordio is None:  # (also "c" under SM_PAYLOADS_PURE_PYTHON=1)
            with pytest.raises(reader.Decline):
                vector(payloads)
        else:
            assert vector(payloads).equals(careful(payloads), bitwise=True)
        got = rp.decode(write_records(payloads))
    assert got.features["v"].tolist() == [[1] * 1000] * 2
    assert got.uid == (None, "u")
    # 1,000 empty parts of a value (2 bytes each): the table of value parts holds one row
    # for the run of them (they add nothing to the first), on both paths.
    rec = features(b"v", *([b""] * 1000), ld(F32, ld(1, f32(1.0))))
    payloads = [rec, rec + ld(3, b"u")]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    assert got.features["v"].tolist() == [[1.0], [1.0]]


# --------------------------------------------------------------------------------------
# Any records, against the careful reader
# --------------------------------------------------------------------------------------


@st.composite
def tensor(draw: st.DrawFn, member: int) -> bytes:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.integers(0, 3))
        if member == I32:
            vals = draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=k, max_size=k))
            enc = [varint(v & 0xFFFFFFFFFFFFFFFF) for v in vals]
            parts.append(ld(1, b"".join(enc)) if draw(st.booleans()) else b"".join(b"\x08" + e for e in enc))
        else:
            width = 32 if member == F32 else 64
            fmt, tag = ("<f", b"\x0d") if member == F32 else ("<d", b"\x09")
            vals = draw(st.lists(st.floats(width=width), min_size=k, max_size=k))
            raw = [struct.pack(fmt, v) for v in vals]
            parts.append(ld(1, b"".join(raw)) if draw(st.booleans()) else b"".join(tag + r for r in raw))
    if draw(st.booleans()):
        parts.append(b"\x20\x05")  # an unknown varint field
    return b"".join(parts)


@st.composite
def record(draw: st.DrawFn, member_of: dict[bytes, int]) -> bytes:
    out = []
    for key in draw(st.lists(st.sampled_from(sorted(member_of)), max_size=4)):
        member = member_of[key]
        parts = []
        for _ in range(draw(st.integers(1, 3))):
            occ = draw(st.lists(st.sampled_from([member, member, F64]), min_size=0, max_size=3))
            parts.append(b"".join(ld(m, draw(tensor(m))) for m in occ))
        out.append(ld(draw(st.sampled_from([1, 1, 2])), entry(key, *parts)))
    if draw(st.booleans()):
        out.insert(draw(st.integers(0, len(out))), ld(3, draw(st.sampled_from([b"u1", b"u2", b""]))))
    return b"".join(out)


@st.composite
def bodies(draw: st.DrawFn) -> list[bytes]:
    member_of = {k: draw(st.sampled_from([F32, F64, I32])) for k in (b"a", b"b", b"values")}
    return draw(st.lists(record(member_of), min_size=1, max_size=6))


@settings(deadline=None, max_examples=300)
@given(bodies(), st.sampled_from(PATHS), st.sampled_from([0, reader._SAME_ENTRIES]))
def test_vector_reader_gives_the_careful_readers_batch(payloads: list[bytes], which: str, same: int) -> None:
    # (`same` 0: equal map entries of a record left out of every body but the last one)
    try:
        want: Any = careful(payloads)
    except smp.DecodeError as e:
        want = e
    with path(which), mock.patch.object(reader, "_SAME_ENTRIES", same):
        try:
            got = vector(payloads)
        except reader.Decline:
            return
    assert not isinstance(want, smp.DecodeError), want
    assert got.equals(want, bitwise=True)


# --------------------------------------------------------------------------------------
# _crecordio.scan against its twin
# --------------------------------------------------------------------------------------

_field = st.one_of(
    st.builds(lambda f, v: varint(f << 3) + varint(v), st.integers(1, 70), st.integers(0, 2**64 - 1)),
    st.builds(lambda f, p: ld(f, p), st.integers(1, 70), st.binary(max_size=6)),
    st.builds(lambda f, p: varint(f << 3 | 5) + p, st.integers(1, 9), st.binary(min_size=4, max_size=4)),
    st.builds(lambda f, p: varint(f << 3 | 1) + p, st.integers(1, 9), st.binary(min_size=8, max_size=8)),
    st.binary(min_size=1, max_size=3),  # anything: a group, field 0, a truncated varint, ...
)


@pytest.mark.skipif(C is None, reason="sm_payloads.formats._crecordio is not built")
@settings(deadline=None, max_examples=400)
@given(
    st.lists(st.lists(_field, max_size=5).map(b"".join), min_size=1, max_size=5),
    st.sets(st.integers(1, 70), max_size=6),
    st.integers(0, 12),
)
def test_c_scan_answers_what_its_twin_does(messages: list[bytes], wanted: set[int], limit: int) -> None:
    assert C is not None
    body = b"".join(messages)
    buf = np.frombuffer(body, np.uint8)
    ends = np.cumsum([len(m) for m in messages]).astype(np.int64)
    starts = ends - np.array([len(m) for m in messages], dtype=np.int64)
    mask = sum(1 << f for f in wanted if f < 64)
    got = C.scan(buf, starts, ends - starts, mask, limit)
    try:
        twin = _wire.scan(buf, starts, ends)
    except _wire.Decline:
        twin = None
    if twin is None:
        assert got is None or got is False
        return
    keep = np.isin(twin.fn, sorted(f for f in wanted if f < 64))
    if int(keep.sum()) > limit:
        assert got is False
        return
    assert isinstance(got, bytearray)
    t = np.frombuffer(got, np.int64).reshape(5, -1) if got else np.empty((5, 0), np.int64)
    for mine, theirs in zip(t, (twin.msg, twin.fn, twin.wt, twin.vs, twin.ve), strict=True):
        assert mine.tolist() == theirs[keep].tolist()


@pytest.mark.parametrize("which", PATHS)
def test_hundreds_of_keys_in_another_order_in_each_record(which: str) -> None:
    # 300 keys (more than the 256 the reader once compared one by one), record i writing
    # key j's entry at position (7 j + i) mod 300, with the value 1000 i + j.
    def rec(i: int) -> bytes:
        order = sorted(range(300), key=lambda j: (7 * j + i) % 300)
        return b"".join(features(b"k%d" % j, ld(F32, ld(1, f32(1000.0 * i + j)))) for j in order)

    payloads = [rec(i) for i in range(3)]
    with path(which):
        got = vector(payloads)
        assert got.equals(careful(payloads), bitwise=True)
    # Columns in record 0's order: key j at position 7 j mod 300 (j = 0, 43, 86, ...).
    assert list(got.features)[:3] == ["k0", "k43", "k86"]
    assert len(got.features) == 300
    assert got.features["k299"].tolist() == [[299.0], [1299.0], [2299.0]]


@pytest.mark.parametrize("which", PATHS)
def test_more_keys_than_the_vectorized_reader_takes_go_to_the_careful_reader(which: str) -> None:
    t = ld(F32, ld(1, f32(0.5)))
    payloads = [b"".join(features(b"k%d" % j, t) for j in range(9)), features(b"k0", t, t)]
    with path(which), mock.patch.object(reader, "MAX_KEYS", 8):
        with pytest.raises(reader.Decline):
            vector(payloads)
        got = rp.decode(write_records(payloads))
    assert len(got.features) == 9
    assert got.features["k0"].to_lists() == [[0.5], [0.5, 0.5]]
    assert got.features["k8"].valid.tolist() == [True, False]


@pytest.mark.parametrize("which", PATHS)
def test_more_keys_than_the_one_pass_reader_takes_are_the_tables(which: str) -> None:
    # 5,000 keys: past the one-pass C reader's 4,096, read by the tables (not key by key)
    t = ld(F32, ld(1, f32(0.5)))
    payloads = [b"".join(features(b"k%d" % j, t) for j in range(5000)), features(b"k0", t, t)]
    with path(which):
        got = vector(payloads)
    assert got.equals(careful(payloads), bitwise=True)
    assert len(got.features) == 5000 and got.features["k4999"].valid.tolist() == [True, False]


@st.composite
def tensor_messages(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    types = draw(st.lists(st.sampled_from([F32, F64, I32]), min_size=1, max_size=5))
    msgs = []
    for t in types:
        body = draw(tensor(t))
        extra = draw(
            st.sampled_from(
                [
                    b"",
                    ld(2, b"\x01\x02") + b"\x18\x04",  # keys packed, a shape element unpacked
                    ld(1, b"\x01\x02\x03"),  # a packed run of 3 bytes: declines but for int32
                    b"\x12\x01\x80",  # keys ending inside a varint: declines
                    b"\x0d\x00\x00\x80\x3f",  # an unpacked float32: declines but for float32
                    b"\x1d\x00\x00\x00\x00",  # a shape of fixed32: declines
                    b"\x25\x00\x00\x00\x00",  # an unknown fixed32 field: skipped
                    b"\x0b",  # a group: declines
                ]
            )
        )
        msgs.append(body + extra if draw(st.booleans()) else extra + body)
    return msgs, types


@pytest.mark.skipif(C is None, reason="sm_payloads.formats._crecordio is not built")
@settings(deadline=None, max_examples=400)
@given(tensor_messages())
def test_c_tensor_join_answers_what_its_twin_does(case: tuple[list[bytes], list[int]]) -> None:
    assert C is not None
    msgs, types = case
    body = b"".join(msgs)
    buf = np.frombuffer(body, np.uint8)
    lengths = np.array([len(m) for m in msgs], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    kinds = np.array(types, dtype=np.int64)
    with mock.patch.object(reader, "crecordio", None):
        try:
            tbuf, twin = reader._tensor_fields(buf, starts, starts + lengths, kinds, 1 << 20)
        except reader.Decline:
            twin = None
    got = C.tensor_join(buf, starts, lengths, kinds)
    if twin is None:
        assert got is None
        return
    assert got is not None
    joined, raw = got
    r = np.frombuffer(raw, np.int64).reshape(6, len(msgs)) if raw else np.zeros((6, 0), np.int64)
    for f in range(3):
        for i in range(len(msgs)):
            s, n = int(twin[f][0][i]), int(twin[f][1][i])
            mine = bytes(joined[int(r[2 * f][i]) : int(r[2 * f][i]) + int(r[2 * f + 1][i])])
            assert mine == tbuf[s : s + n].tobytes(), (f, i)


# --------------------------------------------------------------------------------------
# The C loops while another thread writes the ranges they read
# --------------------------------------------------------------------------------------

_RANGES_WRITER = """
import sys, threading
import numpy as np
from sm_payloads.formats import _crecordio as C

msg = b"\\x0a\\x04" + bytes(4) + b"\\x12\\x01\\x01"  # a tensor: 4 bytes of values, 1 key
n = 4096
buf = np.frombuffer(msg * n, np.uint8)
lengths = np.full(n, len(msg), np.int64)
starts = np.arange(n, dtype=np.int64) * len(msg)
types = np.full(n, 2, np.int64)
stop = threading.Event()

def writer():
    good = int(starts[-1])
    while not stop.is_set():
        starts[-1] = 1 << 40  # far past the buffer, then back
        starts[-1] = good

sys.setswitchinterval(1e-6)
t = threading.Thread(target=writer)
t.start()
seen = set()
try:
    for _ in range(1500):
        seen.add(type(C.scan(buf, starts, lengths, 0b1110, 1 << 20)).__name__)
        try:
            seen.add(type(C.tensor_join(buf, starts, lengths, types)).__name__)
        except BufferError:
            seen.add("BufferError")
finally:
    stop.set()
    t.join()
print(" ".join(sorted(seen)))
"""


@pytest.mark.skipif(C is None, reason="sm_payloads.formats._crecordio is not built")
def test_c_scan_and_tensor_join_check_each_range_again_in_their_second_pass() -> None:
    # scan and tensor_join release the GIL and read starts[i], lengths[i] in two passes: a
    # range checked in the first and moved past the buffer before the second was read
    # there (a segmentation fault within a second, in a subprocess so that the suite
    # reports it). Now every range is checked where it is read: a decline (None), a
    # BufferError, or the answer of one of the two states.
    import subprocess
    import sys

    got = subprocess.run([sys.executable, "-c", _RANGES_WRITER], capture_output=True, text=True, timeout=120)
    assert got.returncode == 0, got.stderr[-2000:]
    assert set(got.stdout.split()) <= {"BufferError", "NoneType", "bytearray", "tuple"}


# --------------------------------------------------------------------------------------
# The numpy scan: a few messages of many fields, one field at a time
# --------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=400)
@given(
    st.lists(st.lists(_field, max_size=40).map(b"".join), min_size=1, max_size=40),
    st.one_of(st.none(), st.sets(st.integers(1, 70), max_size=6).map(lambda s: tuple(sorted(s)))),
    st.one_of(st.none(), st.integers(0, 60)),
)
def test_numpy_scan_reads_few_messages_field_by_field_as_its_steps_do(
    messages: list[bytes], wanted: tuple[int, ...] | None, limit: int | None
) -> None:
    # Fewer than _wire._FEW messages left are read one field at a time (_scan_few): the
    # same table (every column, `seq` included) and the same declines as the vectorized
    # steps alone (_FEW = 0), whichever messages are left when it starts.
    body = b"".join(messages)
    buf = np.frombuffer(body, np.uint8)
    lengths = np.array([len(m) for m in messages], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    got = []
    for few in (0, 3, _wire._FEW):
        with mock.patch.object(_wire, "_FEW", few):
            try:
                f = _wire.scan(buf, starts, starts + lengths, wanted, limit)
            except _wire.Decline:
                got.append(None)
            else:
                got.append([a.tolist() for a in (f.msg, f.fn, f.wt, f.vs, f.ve, f.seq)])
    assert got[0] == got[1] == got[2]


_varint_bytes = st.one_of(
    st.builds(varint, st.integers(0, 127)),
    st.builds(varint, st.integers(0, 2**64 - 1)),
    st.binary(min_size=0, max_size=11),  # anything: truncated, too long, overflowing
)


@settings(deadline=None, max_examples=400)
@given(st.lists(st.tuples(_varint_bytes, st.integers(0, 3)), min_size=1, max_size=6))
def test_numpy_varints_at_positions_read_what_the_scalar_reader_reads(items: list[tuple[bytes, int]]) -> None:
    # Each varint's bytes, ending `cut` bytes before them (a bound inside them, or past).
    buf = np.frombuffer(b"".join(b for b, _ in items) + b"\x00", np.uint8)
    pos, end, want = [], [], []
    at = 0
    for b, cut in items:
        pos.append(at)
        end.append(at + max(len(b) - cut, 1) if len(b) else at + 1)
        try:
            want.append(_wire.read_varint(memoryview(buf), pos[-1], end[-1]))
        except _wire.WireError:
            want.append(None)
        at += len(b)
    try:
        vals, nxt = _wire.read_varints_at(buf, np.array(pos, np.int64), np.array(end, np.int64))
    except _wire.Decline:
        assert None in want
        return
    assert [(int(v), int(q)) for v, q in zip(vals, nxt, strict=True)] == want
    assert nxt.dtype == np.int64


def test_numpy_scan_of_one_record_of_many_fields_takes_no_step_per_field() -> None:
    # One record of 20,000 uid fields: the vectorized steps took one step per field (two
    # read_varints_at calls of a few numpy operations each, about 33 us a byte: a 1 MB
    # body read in half a minute on the pure path). It is split by walkers over its blocks
    # (`_split_long`: 40 kB, past `_LONG`), whose fields are then read all at once: the
    # tag and the length of every field, two calls.
    payload = b"\x1a\x00" * 20_000 + features(b"v", ld(F32, ld(1, f32(1.5))))
    buf = np.frombuffer(payload, np.uint8)
    calls = []
    real = _wire.read_varints_at

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    with mock.patch.object(_wire, "read_varints_at", counted):
        f = _wire.scan(buf, np.array([0]), np.array([len(payload)]), (3,), None)
    assert len(calls) == 2
    assert f.fn.tolist() == [3] * 20_000
    assert f.vs.tolist() == list(range(2, 40_002, 2)) and f.ve.tolist() == f.vs.tolist()
    assert f.seq.tolist() == list(range(20_000))
    with path("numpy"):
        got = rp.decode(write_records([payload, features(b"v", ld(F32, ld(1, f32(2.5))))]))
    assert got.uid == ("", None)
    assert got.features["v"].tolist() == [[1.5], [2.5]]


# --------------------------------------------------------------------------------------
# Distinct keys: a hash checked byte by byte
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", PATHS)
def test_one_long_key_among_many_short_entries_stays_within_32_x(which: str) -> None:
    # Record 0: a 64-byte key with a value, then 250,000 empty map entries ("0a 00", one
    # table row per 8 bytes of the body) and an unknown field that pads the body to 2 MB.
    # The matrix of every entry's key bytes was as wide as the longest key: 66 bytes per
    # entry, copied twice and sorted, a peak of 34 x the body (the bound is 32 x + 8 MB).
    import gc
    import tracemalloc

    long_key = b"k" * 64
    ents = b"\x0a\x00" * 250_000
    pad = ld(6, bytes(2_000_000 - len(ents) - 200))
    payloads = [
        features(long_key, ld(F32, ld(1, f32(1.5)))) + ents + pad,
        features(long_key, ld(F32, ld(1, f32(2.5)))) + ld(3, b"u"),
    ]
    _, buf, starts, lengths = tables(payloads)
    with path(which):
        gc.collect()
        tracemalloc.start()
        try:
            got = reader.vector_decode(buf, starts, lengths)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 32 * buf.size
    assert list(got.features) == ["k" * 64]
    assert got.features["k" * 64].tolist() == [[1.5], [2.5]]
    assert got.uid == (None, "u")


@pytest.mark.parametrize("which", PATHS)
def test_two_keys_of_one_hash_decline_to_the_careful_reader(which: str) -> None:
    # With a multiplier of 0 the hash keeps only the map, the length and the last byte:
    # "ab......." and "cb......." (9 bytes: keys of up to 7 are packed, not hashed) share one
    # hash, and the check byte by byte declines; the careful reader reads two columns.
    ab, cb = b"ab" + b"." * 7, b"cb" + b"." * 7
    payloads = [
        features(ab, ld(F32, ld(1, f32(1.0)))) + features(cb, ld(F32, ld(1, f32(2.0)))),
        features(cb, ld(F32, ld(1, f32(3.0)))) + features(ab, ld(F32, ld(1, f32(4.0)))) + ld(3, b"u"),
    ]
    with path(which), mock.patch.object(reader, "_KEY_HASH", np.uint64(0)):
        with pytest.raises(reader.Decline, match="two keys of one hash"):
            vector(payloads)
        got = rp.decode(write_records(payloads))
    assert list(got.features) == [ab.decode(), cb.decode()]
    assert got.features[ab.decode()].tolist() == [[1.0], [4.0]]
    assert got.features[cb.decode()].tolist() == [[2.0], [3.0]]
    # One key per hash: read, the same batch as the careful reader's.
    with path(which), mock.patch.object(reader, "_KEY_HASH", np.uint64(0)):
        same = [
            features(ab, ld(F32, ld(1, f32(1.0)))),
            features(ab, ld(F32, ld(1, f32(2.0)))) + ld(3, b"u"),
        ]
        assert vector(same).equals(careful(same), bitwise=True)
        assert vector(same).features[ab.decode()].tolist() == [[1.0], [2.0]]
    # "ab" and "cb" themselves are packed exactly, whatever the multiplier: two columns.
    short = [
        features(b"ab", ld(F32, ld(1, f32(1.0)))) + features(b"cb", ld(F32, ld(1, f32(2.0)))),
        features(b"cb", ld(F32, ld(1, f32(3.0)))) + features(b"ab", ld(F32, ld(1, f32(4.0)))) + ld(3, b"u"),
    ]
    with path(which), mock.patch.object(reader, "_KEY_HASH", np.uint64(0)):
        got = vector(short)
    assert got.equals(careful(short), bitwise=True)
    assert got.features["ab"].tolist() == [[1.0], [4.0]] and got.features["cb"].tolist() == [[2.0], [3.0]]


@settings(deadline=None, max_examples=60)
@given(st.data(), st.sampled_from(PATHS))
def test_records_of_many_keys_give_the_careful_readers_batch(data: st.DataObject, which: str) -> None:
    # More than 16 keys: the columns every record holds as a float tensor of one length,
    # without keys or shape, are gathered at once; the others one by one.
    n = data.draw(st.integers(1, 4))
    kinds = data.draw(
        st.lists(st.sampled_from(["f1", "f2", "d2", "i1", "shape", "some", "f0"]), min_size=17, max_size=24)
    )
    label = data.draw(st.lists(st.booleans(), min_size=len(kinds), max_size=len(kinds)))
    recs = []
    for i in range(n):
        parts = []
        for j, kind in enumerate(kinds):
            v = float(i * 100 + j)
            t = {
                "f1": ld(F32, ld(1, f32(v))),
                "f2": ld(F32, ld(1, f32(v, -0.0))),
                "d2": ld(F64, ld(1, np.array([v, np.nan]).tobytes())),
                "i1": ld(I32, ld(1, varint(i + j))),
                "shape": ld(F32, ld(1, f32(v, v)) + ld(3, b"\x02")),
                "some": ld(F32, ld(1, f32(v))) if i % 2 == 0 else None,
                "f0": ld(F32, b""),
            }[kind]
            if t is not None:
                parts.append(ld(2 if label[j] else 1, ld(1, b"k%d" % j) + ld(2, t)))
        order = data.draw(st.permutations(parts))
        recs.append(b"".join(order) + (ld(3, b"u") if i == 0 else b""))
    want = careful(recs)
    with path(which):
        got = vector(recs)
    assert got.equals(want, bitwise=True)
    assert list(got.features) == list(want.features) and list(got.label) == list(want.label)


# --------------------------------------------------------------------------------------
# Bodies of fields too small for one table of the whole body: read in runs of records
# --------------------------------------------------------------------------------------


def _tiny_entries(i: int) -> bytes:
    # 100 map entries of 4 and 2 bytes (an empty key and no value; no entry at all), then
    # the value: a table of entries of one row per 3 bytes.
    k = 48 + i % 5
    return b"\x0a\x02\x0a\x00" * k + b"\x0a\x00" * (100 - k) + features(b"v", ld(F32, ld(1, f32(i % 7))))


def _deleting_entries(i: int) -> bytes:
    # "a" and "b" with a value, then in even records 100 entries of key "a" and no value
    # (5 bytes each): the last entry of a key wins, so "a" has no value there.
    tail = b"\x0a\x03\x0a\x01a" * 100 if i % 2 == 0 else b"\x0a\x03\x0a\x01c" * 100
    return features(b"a", ld(F32, ld(1, f32(i)))) + features(b"b", ld(F32, ld(1, f32(-i)))) + tail


def _empty_parts(i: int) -> bytes:
    return features(b"v", *([b""] * 999), ld(F32, ld(1, f32(i % 7))))


def _unpacked_2_bytes(i: int) -> bytes:
    return features(b"v", ld(I32, b"\x08" + varint(i % 100) + b"\x08\x01" * 999))


def _two_unpacked(i: int) -> bytes:
    return features(b"v", ld(I32, b"\x08" + varint(i % 100) + b"\x08\x02"))


_TINY: dict[str, tuple[Any, int, Any]] = {
    # name: (record writer, records, check of the batch against values written here)
    "map entries of 2 to 4 bytes": (
        _tiny_entries,
        40,
        lambda b, n: (
            list(b.features) == ["v"]
            and b.features["v"].tolist() == [[float(i % 7)] for i in range(n)]
            and not b.label
        ),
    ),
    "entries of no value that remove a key": (
        _deleting_entries,
        40,
        lambda b, n: (
            list(b.features) == ["b", "a"]
            and b.features["a"].to_lists() == [None if i % 2 == 0 else [float(i)] for i in range(n)]
            and b.features["b"].tolist() == [[-float(i)] for i in range(n)]
        ),
    ),
    "a thousand empty value parts": (
        _empty_parts,
        40,
        lambda b, n: b.features["v"].tolist() == [[float(i % 7)] for i in range(n)],
    ),
    "a thousand unpacked 2-byte values": (
        _unpacked_2_bytes,
        40,
        lambda b, n: (
            b.features["v"].dtype == np.int32
            and b.features["v"].tolist() == [[i % 100] + [1] * 999 for i in range(n)]
        ),
    ),
    "16-byte records of two unpacked values": (
        _two_unpacked,
        3000,
        lambda b, n: b.features["v"].tolist() == [[i % 100, 2] for i in range(n)],
    ),
}


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("case", sorted(_TINY))
def test_records_of_fields_too_small_for_one_table_are_read_in_runs(which: str, case: str) -> None:
    write, n, check = _TINY[case]
    payloads = [write(i) for i in range(n)]
    _, buf, starts, lengths = tables(payloads)
    with path(which), mock.patch.object(reader, "_read_part", wraps=reader._read_part) as part:
        got = reader.vector_decode(buf, starts, lengths)
        runs = part.call_count
        # Read at once where C joins the unpacked values without a table of tensor fields,
        # and on both paths where a run of empty value parts is one row of its table.
        at_once = (reader.crecordio is not None and "unpacked" in case) or "empty value parts" in case
    assert check(got, n)
    assert got.equals(careful(payloads), bitwise=True)
    # Otherwise the whole body passed a table's limit (a row per 8 bytes) and was read again
    # in runs of about a quarter of it.
    assert runs == (1 if at_once else 1 + reader.CHUNKS)
    with path(which):
        assert rp.decode(write_records(payloads)).equals(got, bitwise=True)


@pytest.mark.parametrize("which", PATHS)
def test_runs_join_keys_that_first_appear_in_later_runs(which: str) -> None:
    # Runs of one record each: "v" in every record; "w" (bytes) in every record, first in
    # record 1; label "y" in records 2 and 3 only (a Ragged column); "z" in record 3
    # alone; the uid of record 2 and the metadata of record 3.
    v0 = features(b"v", ld(F32, ld(1, f32(0.5))))
    payloads = [
        v0 + features(b"w", ld(BYTES, ld(1, b"x0"))),
        features(b"w", ld(BYTES, ld(1, b"x1"))) + features(b"v", ld(F32, ld(1, f32(1.5)))),
        ld(2, entry(b"y", ld(I32, ld(1, varint(7)))))
        + features(b"v", ld(F32, ld(1, f32(2.5))))
        + features(b"w", ld(BYTES, ld(1, b"\xff")))
        + ld(3, b"u2"),
        features(b"z", ld(F64, ld(1, np.float64(-1.0).tobytes())))
        + features(b"v", ld(F32, ld(1, f32(3.5))))
        + ld(2, entry(b"y", ld(I32, b"\x08\x09\x08\x0a")))
        + features(b"w", ld(BYTES, ld(1, b"x3")))
        + ld(4, b"m"),
    ]
    want = careful(payloads)
    with path(which):
        got = vector(payloads, chunk_bytes=1)
        # A bytes column must be in every record (the careful reader reads one that is not).
        with pytest.raises(reader.Decline, match="bytes column with absent records"):
            vector([v0, *payloads[1:]], chunk_bytes=1)
    assert got.equals(want, bitwise=True)
    assert list(got.features) == ["v", "w", "z"] == list(want.features)
    assert got.features["w"].tolist() == ["x0", "x1", b"\xff", "x3"]
    assert got.features["v"].tolist() == [[0.5], [1.5], [2.5], [3.5]]
    assert got.label["y"].to_lists() == [None, None, [7], [9, 10]]
    assert got.features["z"].to_lists() == [None, None, None, [-1.0]]
    assert got.uid == (None, None, "u2", None)
    assert got.metadata == (None, None, None, "m")


@pytest.mark.parametrize("which", PATHS)
def test_runs_count_every_key_against_the_cells_budget_and_max_keys(which: str) -> None:
    t = ld(F32, ld(1, f32(0.5)))
    # 9 distinct keys over two runs of 5 and 4, the reader taking 8: each run takes them,
    # the body not.
    payloads = [
        b"".join(features(b"k%d" % j, t) for j in range(5)),
        b"".join(features(b"k%d" % j, t) for j in range(5, 9)),
    ]
    with path(which), mock.patch.object(reader, "MAX_KEYS", 8):
        for p in payloads:
            vector([p])
        with pytest.raises(reader.Decline, match="too many distinct keys"):
            vector(payloads, chunk_bytes=1)


@st.composite
def small_records(draw: st.DrawFn) -> list[bytes]:
    member_of = {k: draw(st.sampled_from([F32, F64, I32, BYTES])) for k in (b"a", b"b", b"")}
    recs = []
    for _ in range(draw(st.integers(1, 8))):
        out = []
        for _ in range(draw(st.integers(0, 5))):
            key = draw(st.sampled_from(sorted(member_of)))
            kind = draw(st.sampled_from(["value", "value", "no value", "nothing"]))
            if kind == "nothing":
                value = b""  # an empty entry: key "" and no value
            elif kind == "no value":
                value = ld(1, key)
            else:
                member = draw(st.sampled_from([member_of[key]] * 3 + [F64]))
                t = ld(1, draw(st.binary(max_size=3))) if member == BYTES else draw(tensor(member))
                value = entry(key, *([b""] * draw(st.integers(0, 3))), ld(member, t))
            out.append(ld(draw(st.sampled_from([1, 1, 2])), value))
        for fno in (3, 4, 5):
            if draw(st.integers(0, 4)) == 0:
                text = draw(st.sampled_from([b"u1", b"", b"u2", b"u3", b"\xff"]))
                out.insert(draw(st.integers(0, len(out))), ld(fno, text))
        recs.append(b"".join(out))
    return recs


@settings(deadline=None, max_examples=300)
@given(small_records(), st.integers(1, 40), st.sampled_from(PATHS))
def test_runs_of_records_give_the_careful_readers_batch(
    payloads: list[bytes], chunk: int, which: str
) -> None:
    try:
        want: Any = careful(payloads)
    except smp.DecodeError as e:
        want = e
    with path(which):
        try:
            got = vector(payloads, chunk_bytes=chunk)
        except reader.Decline:
            got = None
        try:
            whole = vector(payloads)
        except reader.Decline:
            whole = None
    for batch in (got, whole):
        if batch is not None:
            assert not isinstance(want, smp.DecodeError), want
            assert batch.equals(want, bitwise=True)
            assert (list(batch.features), list(batch.label)) == (list(want.features), list(want.label))
            assert (batch.uid, batch.metadata, batch.configuration) == (
                want.uid,
                want.metadata,
                want.configuration,
            )
    # Runs of records decline only where the whole body does.
    assert got is not None or whole is None


@settings(deadline=None, max_examples=80)
@given(st.data(), st.sampled_from(PATHS))
def test_shaped_and_int32_columns_of_many_keys_give_the_careful_readers_batch(
    data: st.DataObject, which: str
) -> None:
    # More than 16 keys, float32, float64 or int32 tensors, most with a shape in every
    # record: gathered at once where the shape bytes are the same in every record and their
    # product is the number of values (int32: where every record holds as many values);
    # the others (shapes that differ, do not fit, are empty sparse rows or are long; int32
    # runs of different lengths) are `_build_column`'s, or the careful reader's.
    n = data.draw(st.integers(1, 4))
    good = ["2", "1x2", "d3", "0", "0x5", "5 empty", "long", "i1", "i2", "i uneven", "i 2"]
    kinds = data.draw(st.lists(st.sampled_from(good), min_size=17, max_size=22))
    # At most one key whose shapes differ or do not fit the values (the careful reader's).
    bad = data.draw(st.sampled_from([None, None, None, "varies", "too few"]))
    if bad is not None:
        kinds.insert(data.draw(st.integers(0, len(kinds))), bad)
    recs = []
    for i in range(n):
        parts = []
        for j, kind in enumerate(kinds):
            v = float(i * 100 + j)
            t = {
                "2": ld(1, f32(v, -v)) + ld(3, b"\x02"),
                "1x2": ld(3, b"\x01\x02") + ld(1, f32(v, 0.5)),
                "d3": ld(1, np.array([v, np.nan, -0.0]).tobytes()) + ld(3, b"\x03"),
                "0": ld(3, b"\x00"),
                "0x5": ld(3, b"\x00\x05"),
                "5 empty": ld(3, b"\x05"),
                "varies": ld(1, f32(v)) + ld(3, b"\x01" if i % 2 else b"\x01\x01"),
                "too few": ld(1, f32(v)) + ld(3, b"\x02"),
                "long": ld(1, f32(v)) + ld(3, b"\x81\x80\x80\x80\x80\x80\x80\x80\x80\x00" * 4),
                "i1": ld(1, varint(i * 1000 + j)),
                "i2": ld(1, varint((-1 - i) & (2**64 - 1)) + varint(2**31 + j)),
                "i uneven": ld(1, varint(j) * (1 + i % 2)),
                "i 2": ld(3, b"\x02") + ld(1, varint(i) + varint(300 * j)),
            }[kind]
            member = F64 if kind == "d3" else I32 if kind.startswith("i") else F32
            fno = 2 if kind == "i1" and j % 2 else 1  # some int32 labels of one value
            parts.append(ld(fno, ld(1, b"k%d" % j) + ld(2, ld(member, t))))
        recs.append(b"".join(data.draw(st.permutations(parts))) + (ld(3, b"u") if i == 0 else b""))
    try:
        want: Any = careful(recs)
    except smp.DecodeError as e:
        want = e
    with path(which):
        try:
            got = vector(recs)
        except reader.Decline:
            return
    assert not isinstance(want, smp.DecodeError), want
    assert got.equals(want, bitwise=True)
    assert list(got.features) == list(want.features) and list(got.label) == list(want.label)
    for cols, theirs in ((got.features, want.features), (got.label, want.label)):
        for key, col in cols.items():
            if isinstance(col, np.ndarray):
                assert (col.shape, col.dtype) == (theirs[key].shape, theirs[key].dtype)


@pytest.mark.parametrize("which", PATHS)
def test_shaped_columns_of_many_keys_are_gathered_at_once(which: str) -> None:
    # 20 keys of shape [1, 2] in 3 records: no `_build_column` call; exact values.
    recs = [
        b"".join(
            features(b"k%d" % j, ld(F32, ld(3, b"\x01\x02") + ld(1, f32(10 * i + j, -j)))) for j in range(20)
        )
        + (ld(3, b"u") if i == 0 else b"")
        for i in range(3)
    ]
    with path(which), mock.patch.object(reader, "_build_column", side_effect=AssertionError("built one")):
        got = vector(recs)
    assert got.equals(careful(recs), bitwise=True)
    assert got.features["k7"].shape == (3, 1, 2)
    assert got.features["k7"].tolist() == [[[7.0, -7.0]], [[17.0, -7.0]], [[27.0, -7.0]]]


@pytest.mark.parametrize("which", PATHS)
def test_int32_columns_of_many_keys_are_read_at_once(which: str) -> None:
    # 20 int32 keys in 3 records, two values each (varints of 1 to 5 bytes: 2**31 + j is
    # -2**31 + j in int32), and an int32 label of one value: no `_build_column` call.
    recs = [
        b"".join(
            features(b"k%d" % j, ld(I32, ld(1, varint(i * 100 + j) + varint(2**31 + j)))) for j in range(20)
        )
        + ld(2, entry(b"y", ld(I32, ld(1, varint((-1 - i) & (2**64 - 1))))))
        + (ld(3, b"u") if i == 0 else b"")
        for i in range(3)
    ]
    with path(which), mock.patch.object(reader, "_build_column", side_effect=AssertionError("built one")):
        got = vector(recs)
    assert got.equals(careful(recs), bitwise=True)
    assert got.features["k7"].dtype == np.int32
    assert got.features["k7"].tolist() == [[7, -(2**31) + 7], [107, -(2**31) + 7], [207, -(2**31) + 7]]
    assert got.label["y"].tolist() == [-1, -2, -3]


# --------------------------------------------------------------------------------------
# One record of millions of tiny fields: runs of empty fields, long messages split by
# walkers over their blocks
# --------------------------------------------------------------------------------------


def _collapsed(f: _wire.Fields) -> list[list[int]]:
    """The rows of `f` without an empty length-delimited field right after a kept empty one
    of the same number in the same message (the rule written out, one row at a time)."""
    rows: list[list[int]] = []
    prev: dict[int, int] = {}
    for m, fn, wt, vs, ve, seq in zip(
        *(a.tolist() for a in (f.msg, f.fn, f.wt, f.vs, f.ve, f.seq)), strict=True
    ):
        empty = wt == 2 and vs == ve
        if empty and prev.get(m) == fn:
            continue
        prev[m] = fn if empty else 0
        rows.append([m, fn, wt, vs, ve, seq])
    return rows


_tiny_field = st.one_of(
    st.sampled_from(
        [b"\x0a\x00", b"\x12\x00", b"\x1a\x00", b"\x0a\x02\x0a\x00", b"\x08\x08", b"\x08\x03", b"\x30\x01"]
    ),
    _field,
)


@settings(deadline=None, max_examples=400)
@given(
    st.lists(st.lists(_tiny_field, max_size=30).map(b"".join), min_size=1, max_size=4),
    st.one_of(st.none(), st.sets(st.integers(1, 9), max_size=4).map(lambda s: tuple(sorted(s)))),
    st.one_of(st.none(), st.integers(0, 40)),
)
def test_scan_collapses_runs_of_empty_fields_as_the_rule_says(
    messages: list[bytes], wanted: tuple[int, ...] | None, limit: int | None
) -> None:
    # Both scanners, with `collapse`: exactly the table without the collapsed rows, and a
    # decline (TableFull) exactly when more than `limit` rows remain.
    body = b"".join(messages)
    buf = np.frombuffer(body, np.uint8)
    lengths = np.array([len(m) for m in messages], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    try:
        full = _wire.scan(buf, starts, starts + lengths, wanted)
    except _wire.Decline:
        want = None
    else:
        want = _collapsed(full)
        if limit is not None and len(want) > limit:
            want = None
    for few in (0, _wire._FEW):
        with mock.patch.object(_wire, "_FEW", few):
            try:
                f = _wire.scan(buf, starts, starts + lengths, wanted, limit, collapse=True)
            except _wire.Decline:
                got = None
            else:
                got = [
                    list(r)
                    for r in zip(*(a.tolist() for a in (f.msg, f.fn, f.wt, f.vs, f.ve, f.seq)), strict=True)
                ]
        assert got == want
    if C is not None and wanted is not None:
        raw = C.scan(
            buf, starts, lengths, sum(1 << w for w in wanted), 1 << 40 if limit is None else limit, True
        )
        if want is None:
            assert raw is None or raw is False
        else:
            t = np.frombuffer(raw, np.int64).reshape(5, -1) if raw else np.empty((5, 0), np.int64)
            assert t.T.tolist() == [r[:5] for r in want]


@settings(deadline=None, max_examples=500)
@given(
    st.lists(st.lists(_tiny_field, max_size=60).map(b"".join), min_size=1, max_size=3),
    st.one_of(st.none(), st.sets(st.integers(1, 9), max_size=4).map(lambda s: tuple(sorted(s)))),
    st.sampled_from([1, 2, 3, 5, 8, 13, 240]),
    st.integers(0, 4),
    st.integers(1, 4),
)
def test_walkers_over_blocks_split_a_long_message_as_its_steps_do(
    messages: list[bytes], wanted: tuple[int, ...] | None, block: int, probe: int, phases: int
) -> None:
    # Every message split by `_split_long` (`_LONG` 0) with blocks of 1 to 240 bytes, so a
    # block starts at every kind of position (inside a tag, a length, a value), after 0 to
    # 4 fields read one at a time, with 1 to 4 walkers a block: the same table (every
    # column) and the same declines as the vectorized steps alone (`_FEW` 0).
    body = b"".join(messages)
    buf = np.frombuffer(body, np.uint8)
    lengths = np.array([len(m) for m in messages], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    got = []
    for few, long in ((0, 1 << 40), (_wire._FEW, 0)):
        with (
            mock.patch.object(_wire, "_FEW", few),
            mock.patch.object(_wire, "_LONG", long),
            mock.patch.object(_wire, "_BLOCK", block),
            mock.patch.object(_wire, "_PROBE", probe),
            mock.patch.object(_wire, "_PHASES", phases),
            mock.patch.object(_wire, "_SPLIT_ROWS", 7),
        ):
            try:
                f = _wire.scan(buf, starts, starts + lengths, wanted)
            except _wire.Decline:
                got.append(None)
            else:
                got.append([a.tolist() for a in (f.msg, f.fn, f.wt, f.vs, f.ve, f.seq)])
    assert got[0] == got[1]


def test_walkers_that_start_out_of_phase_are_joined_by_later_ones() -> None:
    # "08 08 ..." reads as 2-byte fields from either parity; one 3-byte field first puts
    # the message's fields on the other parity from every block's start, where each
    # walker reads fields that are not the message's until the end. The walkers a byte
    # later read them: no block is read again one field at a time.
    msg = b"\x08\x80\x01" + b"\x08\x08" * 5000
    buf = np.frombuffer(msg, np.uint8)
    with (
        mock.patch.object(_wire, "_field_at", side_effect=AssertionError("one at a time")),
        mock.patch.object(_wire, "_PROBE", 0),
        mock.patch.object(_wire, "_LONG", 0),
    ):
        tags = _wire._split_long(buf, 0, len(msg))
    assert tags.tolist() == [0, *range(3, len(msg), 2)]


def _one_record(parts: list[tuple[str, int]]) -> bytes:
    """One record of runs of tiny fields: (kind, count) in order."""
    pieces = {
        "empty entry": b"\x0a\x00",
        "empty label entry": b"\x12\x00",
        "entry of an empty key": b"\x0a\x02\x0a\x00",
        "entry of key a": ld(1, ld(1, b"a")),
        "empty uid": b"\x1a\x00",
        "uid": ld(3, b"u"),
        "unknown": b"\x30\x01",
    }
    out = []
    for kind, count in parts:
        if kind in pieces:
            out.append(pieces[kind] * count)
        elif kind == "empty parts":
            out.append(features(b"v", *([b""] * count), ld(F32, ld(1, f32(1.5)))))
        elif kind == "empty tensors":
            out.append(features(b"v", ld(F32, ld(1, f32(2.5))) + b"\x12\x00" * count))
        elif kind == "empty packed runs":
            out.append(features(b"w", ld(F32, b"\x0a\x00" * count + ld(1, f32(3.5)))))
        elif kind == "unpacked int32":
            out.append(features(b"i", ld(I32, b"".join(b"\x08" + varint(j % 300) for j in range(count)))))
        elif kind == "unpacked float32":
            out.append(features(b"f", ld(F32, b"".join(b"\x0d" + f32(j / 4) for j in range(count)))))
        else:
            raise AssertionError(kind)
    return b"".join(out)


_KINDS = [
    "empty entry",
    "empty label entry",
    "entry of an empty key",
    "entry of key a",
    "empty uid",
    "uid",
    "unknown",
    "empty parts",
    "empty tensors",
    "empty packed runs",
    "unpacked int32",
    "unpacked float32",
]


#: The kinds of runs a record of any number of them is read without the careful reader:
#: runs of empty fields are a row each, unpacked values are joined (in C) or read in runs
#: (numpy), unknown fields are no row. A run of a non-empty entry or uid is a row per field
#: (one per 3 to 5 bytes, past a table's limit of one per 8): the careful reader's.
_AT_ONCE = {
    "empty entry",
    "empty label entry",
    "empty uid",
    "unknown",
    "empty parts",
    "empty tensors",
    "empty packed runs",
    "unpacked int32",
    "unpacked float32",
}


def _oracle_record(payload: bytes) -> tuple[dict[str, dict[str, tuple[str, list[Any]]]], str | None]:
    """What protobuf reads from one record: map -> key -> (oneof member, values), and uid."""
    from sm_payloads._proto import record_pb2

    rec = record_pb2.Record.FromString(payload)  # type: ignore[attr-defined]
    maps: dict[str, dict[str, tuple[str, list[Any]]]] = {}
    for name in ("features", "label"):
        got = {}
        for k, v in getattr(rec, name).items():
            which = v.WhichOneof("value")
            if which is not None:
                got[k] = (which, list(getattr(v, which).values))
        maps[name] = got
    return maps, (rec.uid if rec.HasField("uid") else None)


def _batch_record(b: smp.RecordBatch) -> tuple[dict[str, dict[str, tuple[str, list[Any]]]], str | None]:
    names = {"float32": "float32_tensor", "float64": "float64_tensor", "int32": "int32_tensor"}
    maps = {}
    for name in ("features", "label"):
        got = {}
        for k, col in getattr(b, name).items():
            row = col[0]
            got[k] = (names[row.dtype.name], row.ravel().tolist())
        maps[name] = got
    return maps, b.uid[0] if b.uid is not None else None


@settings(deadline=None, max_examples=150)
@given(
    st.lists(st.tuples(st.sampled_from(_KINDS), st.integers(1, 40)), min_size=1, max_size=8),
    st.sampled_from(PATHS),
    st.sampled_from([2, 7, 240]),
)
def test_one_record_of_runs_of_tiny_fields_reads_as_protobuf_reads_it(
    parts: list[tuple[str, int]], which: str, block: int
) -> None:
    # One record of runs of tiny fields of every kind, each message of it split by walkers
    # (`_LONG` 0, small blocks): the careful reader's batch and protobuf's own reading, on
    # both paths, without the careful reader.
    payload = _one_record(parts)
    want = careful([payload])
    assert _batch_record(want) == _oracle_record(payload)
    with path(which), mock.patch.object(_wire, "_LONG", 0), mock.patch.object(_wire, "_BLOCK", block):
        with mock.patch.object(_wire, "_PROBE", 1):
            got = rp.decode(write_records([payload]))
        assert got.equals(want, bitwise=True)
        if all(kind in _AT_ONCE for kind, _ in parts):
            with mock.patch.object(
                reader, "careful_decode", side_effect=AssertionError("the careful reader")
            ):
                got = vector([payload])
            assert got.equals(want, bitwise=True)


@settings(deadline=None, max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(_KINDS), st.integers(1, 30)), min_size=1, max_size=6),
    st.data(),
    st.sampled_from(PATHS),
)
def test_one_record_of_tiny_fields_with_a_byte_changed_gives_the_careful_readers_answer(
    parts: list[tuple[str, int]], data: st.DataObject, which: str
) -> None:
    # A byte anywhere in such a record changed (a bad tag, length, varint, wire type,
    # group...): the batch or the error (reason, offset, record) the careful reader gives.
    payload = bytearray(_one_record(parts))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] = data.draw(st.integers(0, 255))
    body = write_records([bytes(payload)])

    def outcome() -> Any:
        try:
            return rp.decode(body)
        except smp.DecodeError as e:
            return (e.reason, e.offset, e.record_index)

    want = careful_outcome = None
    try:
        want = careful([bytes(payload)])
    except smp.DecodeError as e:
        careful_outcome = (e.reason, e.offset, e.record_index)
    with path(which), mock.patch.object(_wire, "_LONG", 0), mock.patch.object(_wire, "_BLOCK", 5):
        got = outcome()
    if want is None:
        assert got == careful_outcome
    else:
        assert isinstance(got, smp.RecordBatch) and got.equals(want, bitwise=True)


# --------------------------------------------------------------------------------------
# One record read in pieces of its fields (`_read_pieces`): last key wins across pieces
# --------------------------------------------------------------------------------------


def pieces(payload: bytes, piece_bytes: int) -> smp.RecordBatch:
    """One record read in pieces of about `piece_bytes` bytes, the careful reader forbidden."""
    forbidden = mock.patch.object(reader, "careful_decode", side_effect=AssertionError("the careful reader"))
    with forbidden, mock.patch.object(reader, "_read_pieces", wraps=reader._read_pieces) as split:
        got = vector([payload], piece_bytes=piece_bytes)
    assert split.call_count == 1
    return got


def _entry_i32(key: bytes, v: int) -> bytes:
    return features(key, ld(I32, ld(1, varint(v))))


_A, _B = ld(1, ld(1, b"a")), ld(1, ld(1, b"b"))  # entries of keys a and b, without a value


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("piece_bytes", [1, 5, 13, 40])
def test_a_key_whose_last_entry_has_no_value_is_lacking_across_pieces(which: str, piece_bytes: int) -> None:
    # a = 1, b = 2 in the first bytes, then 20 entries of a and b without a value: the
    # record lacks both, whichever piece held their values; "v" stays.
    payload = (
        _entry_i32(b"a", 1) + _entry_i32(b"b", 2) + (_A + _B) * 10 + features(b"v", ld(F32, ld(1, f32(1.5))))
    )
    with path(which):
        got = pieces(payload, piece_bytes)
    assert got.equals(careful([payload]), bitwise=True)
    assert list(got.features) == ["v"] and got.features["v"].tolist() == [[1.5]]
    assert _batch_record(got) == _oracle_record(payload)


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("piece_bytes", [1, 7, 30])
def test_the_last_entry_of_a_key_wins_in_its_position_across_pieces(which: str, piece_bytes: int) -> None:
    # a = 1, b = 2, a without a value, c = 9, a = 3, b without a value, then label y = 4
    # twice (5 wins): features a = 3 after c (its last entry's position), b lacking.
    payload = (
        _entry_i32(b"a", 1)
        + _entry_i32(b"b", 2)
        + _A
        + _entry_i32(b"c", 9)
        + _entry_i32(b"a", 3)
        + _B
        + ld(2, entry(b"y", ld(I32, ld(1, varint(4)))))
        + ld(2, entry(b"y", ld(I32, ld(1, varint(5)))))
    )
    with path(which):
        got = pieces(payload, piece_bytes)
    assert got.equals(careful([payload]), bitwise=True)
    assert list(got.features) == ["c", "a"]
    assert got.features["c"].tolist() == [[9]] and got.features["a"].tolist() == [[3]]
    assert got.label["y"].tolist() == [5]  # a label of one value a record: a scalar column
    assert _batch_record(got) == _oracle_record(payload)


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("piece_bytes", [1, 4, 11])
def test_the_last_uid_metadata_and_configuration_win_across_pieces(which: str, piece_bytes: int) -> None:
    # uids in every piece (the last one, "zé", not ASCII), a metadata string in the first
    # bytes only, configurations of which the last is empty (it wins: "").
    payload = (
        ld(4, b"m0")
        + ld(3, b"u") * 6
        + ld(5, b"c1")
        + features(b"v", ld(F32, ld(1, f32(2.5))))
        + ld(3, b"u2") * 3
        + ld(3, "zé".encode())
        + ld(5, b"")
    )
    with path(which):
        got = pieces(payload, piece_bytes)
    assert got.equals(careful([payload]), bitwise=True)
    assert (got.uid, got.metadata, got.configuration) == (("zé",), ("m0",), ("",))
    assert got.features["v"].tolist() == [[2.5]]


@pytest.mark.parametrize("which", PATHS)
def test_a_uid_that_is_not_utf8_in_any_piece_is_the_careful_readers_error(which: str) -> None:
    # The third of 70 uids is not UTF-8: the last one would win, but protobuf (and the
    # careful reader) refuses the record; the pieces decline, the careful reader reports.
    payload = ld(3, b"u") * 2 + ld(3, b"\xff") + ld(3, b"u") * 67
    with path(which):
        with pytest.raises(reader.Decline, match="not UTF-8"):
            vector([payload], piece_bytes=9)
        with pytest.raises(smp.DecodeError) as e:
            rp.decode(write_records([payload]))
    assert e.value.reason.startswith("uid")
    assert (e.value.offset, e.value.record_index) == (8 + 6 + 2, 0)


@pytest.mark.parametrize("which", PATHS)
def test_uid_strings_are_checked_all_at_once_or_one_by_one(which: str) -> None:
    # 100 ASCII uids (one check of them all), then the same with one of them "é" (each
    # decoded): the last wins either way.
    f = _wire.Fields(
        np.zeros(100, np.int64),
        np.full(100, 3, np.int64),
        np.full(100, 2, np.int64),
        np.arange(100, dtype=np.int64) * 2,
        np.arange(100, dtype=np.int64) * 2 + 2,
        np.arange(100, dtype=np.int64),
    )
    with path(which):
        buf = np.frombuffer(b"ab" * 99 + b"yz", np.uint8)
        assert reader._record_strings(buf, f, 3, 2) == ["yz", None]
        buf = np.frombuffer(b"ab" * 50 + "é".encode() + b"ab" * 48 + b"yz", np.uint8)
        assert reader._record_strings(buf, f, 3, 1) == ["yz"]
        buf = np.frombuffer(b"ab" * 50 + b"\xc3a" + b"ab" * 48 + b"yz", np.uint8)
        with pytest.raises(reader.Decline, match="not UTF-8"):
            reader._record_strings(buf, f, 3, 1)


@pytest.mark.parametrize("which", PATHS)
def test_one_record_of_tiny_entries_past_the_table_limit_is_read_in_quarters(which: str) -> None:
    # 20,000 entries of 5 bytes, a row each: more than the table's row per 8 bytes, so the
    # record is read in pieces (about a quarter each) instead of declining.
    payload = _entry_i32(b"a", 7) + (_A + _B) * 9_999 + _entry_i32(b"b", 8) + ld(3, b"u") * 5_000
    _, buf, starts, lengths = tables([payload])
    forbidden = mock.patch.object(reader, "careful_decode", side_effect=AssertionError("the careful reader"))
    with path(which), forbidden, mock.patch.object(reader, "_read_part", wraps=reader._read_part) as part:
        got = reader.vector_decode(buf, starts, lengths)
    # The whole record once (its table overflows), then one piece per quarter.
    assert part.call_count == 1 + reader.CHUNKS
    assert list(got.features) == ["b"] and got.features["b"].tolist() == [[8]]
    assert got.uid == ("u",)
    assert got.equals(careful([payload]), bitwise=True)


_PIECE_KINDS = [
    *_KINDS,
    "entry of key b",
    "entry of key a = 1",
    "entry of key b = 2",
    "label entry of key a = 3",
    "metadata",
]


def _pieces_record(parts: list[tuple[str, int]]) -> bytes:
    more = {
        "entry of key b": _B,
        "entry of key a = 1": _entry_i32(b"a", 1),
        "entry of key b = 2": _entry_i32(b"b", 2),
        "label entry of key a = 3": ld(2, entry(b"a", ld(I32, ld(1, varint(3))))),
        "metadata": ld(4, b"m"),
    }
    return b"".join(more[k] * c if k in more else _one_record([(k, c)]) for k, c in parts)


@settings(deadline=None, max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(_PIECE_KINDS), st.integers(1, 30)), min_size=1, max_size=10),
    st.sampled_from(PATHS),
    st.integers(1, 200),
    st.sampled_from([0, reader._SAME_ENTRIES]),
)
def test_one_record_read_in_pieces_reads_as_protobuf_reads_it(
    parts: list[tuple[str, int]], which: str, piece_bytes: int, same: int
) -> None:
    # Any record of runs of tiny fields, cut into pieces of any size (and equal entries left
    # out or not): the careful reader's batch and protobuf's reading, on both paths,
    # without the careful reader.
    payload = _pieces_record(parts)
    want = careful([payload])
    assert _batch_record(want) == _oracle_record(payload)
    with path(which), mock.patch.object(reader, "_SAME_ENTRIES", same):
        if len(payload) <= piece_bytes:
            got = vector([payload], piece_bytes=piece_bytes)
        else:
            got = pieces(payload, piece_bytes)
    assert got.equals(want, bitwise=True)


@pytest.mark.skipif(C is None, reason="sm_payloads.formats._crecordio is not built")
@settings(deadline=None, max_examples=400)
@given(st.lists(_field, max_size=12).map(b"".join), st.integers(0, 4), st.integers(1, 20))
def test_c_cuts_answers_what_its_twin_does(message: bytes, pad: int, step: int) -> None:
    # The message at offset `pad` of its buffer (a byte after it): the cuts between its
    # fields, or a decline on both sides.
    assert C is not None
    buf = np.frombuffer(b"\x07" * pad + message + b"\x00", np.uint8)
    got = C.cuts(buf, pad, len(message), step)
    try:
        twin = _wire.field_cuts(buf, pad, pad + len(message), step)
    except _wire.Decline:
        assert got is None
        return
    assert got is not None
    assert np.frombuffer(got, np.int64).tolist() == twin.tolist()
    # Written out: each multiple of step past the start maps to the first tag at or after it.
    tags = [pad + j for j in _tags_of(message)]
    firsts = (next((t for t in tags if t >= pad + m), None) for m in range(step, len(message), step))
    assert twin.tolist() == sorted({t for t in firsts if t is not None})


def _tags_of(message: bytes) -> list[int]:
    """Where the fields of a message that scans begin, with the careful reader's `fields`."""
    return [tag_at for *_, tag_at in _wire.fields(memoryview(message), 0, len(message))]


def test_c_cuts_refuses_ranges_outside_the_buffer_and_steps_below_1() -> None:
    if C is None:
        pytest.skip("sm_payloads.formats._crecordio is not built")
    buf = np.frombuffer(b"\x08\x01" * 4, np.uint8)
    assert np.frombuffer(C.cuts(buf, 0, 8, 3), np.int64).tolist() == [4, 6]
    assert np.frombuffer(C.cuts(buf, 2, 6, 2), np.int64).tolist() == [4, 6]
    assert C.cuts(buf, 0, 9, 3) is None
    assert C.cuts(buf, -1, 4, 3) is None
    assert C.cuts(buf, 0, 8, 0) is None
    assert np.frombuffer(C.cuts(buf, 0, 8, 100), np.int64).tolist() == []
    assert C.cuts(np.frombuffer(b"\x08\x01\x0b\x01", np.uint8), 0, 4, 1) is None  # a group


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=12, unique=True),
    st.lists(st.integers(0, 11), max_size=300),
    st.integers(0, 40),
)
def test_distinct_numbers_values_by_first_occurrence(
    values: list[int], picks: list[int], repeat: int
) -> None:
    # A few values, some very common (the first one repeated): each element's number, and
    # the first occurrence of each value, whether told apart by comparisons or by a sort.
    if not values:
        picks = []
    h = np.array([values[p % len(values)] for p in [0] * repeat * bool(values) + picks], dtype=np.uint64)
    firsts, ids = reader._distinct(h)
    seen: dict[int, int] = {}
    for j, v in enumerate(h.tolist()):
        seen.setdefault(v, j)
    assert sorted(firsts.tolist()) == sorted(seen.values())
    assert len(set(firsts.tolist())) == firsts.size
    assert h[firsts[ids]].tolist() == h.tolist()


@pytest.mark.parametrize("which", PATHS)
def test_keys_of_7_and_8_bytes_and_one_key_in_both_maps_are_told_apart(which: str) -> None:
    # Keys of up to 7 bytes are packed exactly with their map and length, longer ones hashed:
    # "abcdefg" and "abcdefg\0", "" and "\0", the same key in features and label, 2,000 times.
    keys = [b"abcdefg", b"abcdefg\x00", b"", b"\x00", b"abcdefgh", b"abcdefgi"]
    one = b"".join(_entry_i32(k, j) for j, k in enumerate(keys)) + ld(
        2, entry(b"abcdefg", ld(I32, ld(1, b"\x09")))
    )
    payload = one * 2_000
    want = careful([payload])
    with path(which):
        got = pieces(payload, 1_000)
        assert vector([payload]).equals(want, bitwise=True)
    assert got.equals(want, bitwise=True)
    assert list(got.features) == ["abcdefg", "abcdefg\x00", "", "\x00", "abcdefgh", "abcdefgi"]
    assert [got.features[k.decode()].tolist() for k in keys] == [[[j]] for j in range(6)]
    assert got.label["abcdefg"].tolist() == [9]


@settings(deadline=None, max_examples=300)
@given(
    st.lists(st.tuples(st.sampled_from(_PIECE_KINDS), st.integers(1, 20)), min_size=1, max_size=8),
    st.data(),
    st.sampled_from(PATHS),
    st.integers(1, 60),
    st.sampled_from([0, reader._SAME_ENTRIES]),
)
def test_one_record_in_pieces_with_a_byte_changed_declines_or_gives_the_careful_readers_batch(
    parts: list[tuple[str, int]], data: st.DataObject, which: str, piece_bytes: int, same: int
) -> None:
    # A byte anywhere changed: where the careful reader refuses the record, the pieces
    # decline (never a batch); where it reads it, they give its batch or decline.
    payload = bytearray(_pieces_record(parts))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] = data.draw(st.integers(0, 255))
    want: smp.RecordBatch | None = None
    with suppress(smp.DecodeError):
        want = careful([bytes(payload)])
    with path(which), mock.patch.object(reader, "_SAME_ENTRIES", same):
        try:
            got = vector([bytes(payload)], piece_bytes=piece_bytes)
        except reader.Decline:
            return
    assert want is not None, "a batch where the careful reader refuses the record"
    assert got.equals(want, bitwise=True)


@pytest.mark.parametrize("which", PATHS)
def test_a_record_of_tiny_entries_among_others_is_read_in_pieces_in_its_run(which: str) -> None:
    # Records of one entry around one of 20,000 entries of 5 bytes: the body's tables pass
    # their limit, the runs of records are read, and the long record, alone in its run and
    # still past the limit, is read in pieces; the others as before.
    small = [features(b"v", ld(F32, ld(1, f32(float(i))))) + ld(3, b"s%d" % i) for i in range(40)]
    big = (
        _entry_i32(b"a", 7) + (_A + _B) * 9_999 + features(b"v", ld(F32, ld(1, f32(-1.0)))) + ld(3, b"u") * 9
    )
    payloads = [*small[:20], big, *small[20:]]
    _, buf, starts, lengths = tables(payloads)
    forbidden = mock.patch.object(reader, "careful_decode", side_effect=AssertionError("the careful reader"))
    with (
        path(which),
        forbidden,
        mock.patch.object(reader, "_read_pieces", wraps=reader._read_pieces) as split,
    ):
        got = reader.vector_decode(buf, starts, lengths)
    assert split.call_count == 1 and split.call_args.args[3] == 20  # the record's index
    assert got.equals(careful(payloads), bitwise=True)
    assert list(got.features) == ["v"]
    assert got.features["v"].ravel().tolist() == [*range(20), -1.0, *range(20, 40)]
    assert got.uid == (*(f"s{i}" for i in range(20)), "u", *(f"s{i}" for i in range(20, 40)))


def test_runs_cut_before_and_after_every_record_longer_than_a_run() -> None:
    # Runs of about 10 bytes: records of 4 bytes three at a time (the run ends with the
    # record that reaches each multiple of 10), and records of 11 and 30 bytes alone.
    lengths = np.array([4, 4, 4, 11, 4, 4, 30, 4], dtype=np.int64)
    # ends: 4 8 12 23 27 31 61 65; multiples 10 to 60 fall in records 2, 3, 5, 6, 6, 6.
    assert reader._runs(lengths, 10) == [0, 3, 4, 6, 7, 8]
    assert reader._runs(np.array([4, 4, 4], dtype=np.int64), 10) == [0, 3]
    assert reader._runs(np.array([30], dtype=np.int64), 10) == [0, 1]
    assert reader._runs(np.array([4, 30], dtype=np.int64), 100) == [0, 2]


@pytest.mark.parametrize("which", PATHS)
def test_equal_map_entries_of_a_record_are_read_once_the_last_of_them(which: str) -> None:
    # Entries of up to 7 bytes: key a without a value (5), no key and an empty int32 tensor
    # (4), key a and an empty float32 tensor (7), label entry of key a without a value (5);
    # longer ones: a = 1 (int32). 2,000 of each in turns, so that each kind's last one is
    # in the last turn: a's last entry is the float32 one (an empty tensor), "" an empty
    # int32 tensor, label a lacking.
    a_none, blank_i32, a_f32, label_a = (
        _A,
        ld(1, ld(2, ld(I32, b""))),
        ld(1, entry(b"a", ld(F32, b""))),
        ld(2, ld(1, b"a")),
    )
    turn = _entry_i32(b"a", 1) + a_none + blank_i32 + label_a + a_f32
    payload = turn * 2_000
    want = careful([payload])
    _, buf, starts, lengths = tables([payload])
    with (
        path(which),
        mock.patch.object(reader, "_SAME_ENTRIES", 1_000),
        mock.patch.object(reader, "_last_of_each_entry", wraps=reader._last_of_each_entry) as once,
    ):
        got = reader.vector_decode(buf, starts, lengths)
    # 10,000 entries of 62 kB: past the table's limit, read in 4 pieces of about 2,500.
    assert once.call_count == reader.CHUNKS
    assert sum(c.args[1].msg.size for c in once.call_args_list) == 10_000
    assert got.equals(want, bitwise=True)
    assert list(got.features) == ["", "a"] and not got.label
    assert got.features[""].dtype == np.int32 and got.features[""].shape == (1, 0)
    assert got.features["a"].dtype == np.float32 and got.features["a"].shape == (1, 0)
    assert _batch_record(got) == _oracle_record(payload)
    # What is left of 5 entries a turn: the longer one of every turn (10 bytes) and the
    # last of each shorter kind.
    ent = reader._scan_fields(buf, starts, starts + lengths, (1, 2), 10**6)
    left = reader._last_of_each_entry(buf, ent)
    assert left.msg.size == 2_000 + 4
    assert left.vs[-4:].tolist() == (ent.vs[-4:]).tolist()
