"""RecordIO-protobuf records that need parsing, read at codec speed (issue #20, time).

Records whose map entries come in another order in each record, whose values come in
parts, whose tensors' fields come in parts or unpacked: on the C path the one-pass reader
of map entries (``_crecordio.entries``, with its key table and dense columns filled
directly), on the pure path the numpy walk of values in parts (`_joined_parts`) and the
vectorized reader. The oracles are protobuf's own parser (the generated
``sm_payloads._proto.record_pb2``) and the careful reader, record by record; errors are
the careful reader's, with the messages main gave before these readers (written out here).
"""

from __future__ import annotations

import struct
from typing import Any
from unittest import mock

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
from .test_recordio_vector_merge import path  # the C path as built, or its loops patched away

CT = "application/x-recordio-protobuf"
C = reader.crecordio
PATHS = ["numpy", "c"] if C is not None else ["numpy"]
needs_c = pytest.mark.skipif(C is None, reason="the C extension is not built")

#: Value's oneof members: float32_tensor, float64_tensor, int32_tensor.
F32, F64, I32 = 2, 3, 7
_MEMBER = {F32: "float32_tensor", F64: "float64_tensor", I32: "int32_tensor"}
_DTYPE: dict[int, np.dtype[Any]] = {F32: np.dtype("<f4"), F64: np.dtype("<f8"), I32: np.dtype("<i4")}


def careful(body: bytes) -> smp.RecordBatch | smp.DecodeError:
    """The careful reader's batch or error (every fast reader skipped)."""
    view = memoryview(body)
    try:
        starts, lengths, joined = frame_table(view, CT)
        return reader.careful_decode(view, starts, lengths, joined, 0, 0)
    except smp.DecodeError as e:
        return e


def decoded(body: bytes) -> smp.RecordBatch | smp.DecodeError:
    try:
        return smp.decode_request(body, CT)
    except smp.DecodeError as e:
        return e


def assert_same(got: smp.RecordBatch | smp.DecodeError, want: smp.RecordBatch | smp.DecodeError) -> None:
    """The same batch (bit for bit, kinds and column order included) or the same error."""
    if isinstance(want, smp.DecodeError):
        assert isinstance(got, smp.DecodeError), f"read what the careful reader refuses: {want}"
        assert (str(got), got.offset, got.record_index) == (str(want), want.offset, want.record_index)
        return
    assert not isinstance(got, smp.DecodeError), f"refused what the careful reader reads: {got}"
    assert list(got.features) == list(want.features) and list(got.label) == list(want.label)
    for name in ("features", "label"):
        for key, col in getattr(want, name).items():
            other = getattr(got, name)[key]
            assert type(other) is type(col)
            if isinstance(col, np.ndarray):
                assert (other.dtype, other.shape) == (col.dtype, col.shape)
    assert got.equals(want, bitwise=True), f"\n{got!r}\n!=\n{want!r}"
    assert (got.uid, got.metadata, got.configuration) == (want.uid, want.metadata, want.configuration)


def assert_protobuf_reads(body: bytes, batch: smp.RecordBatch) -> None:
    """Every record of the batch holds what protobuf reads from its payload: the keys that
    have a value, each tensor's member, values (bit for bit), keys and shape (where
    written)."""
    from sm_payloads.recordio import read_records

    payloads = read_records(body)
    assert len(batch) == len(payloads)
    for i, payload in enumerate(payloads):
        rec = record_pb2.Record.FromString(payload)  # type: ignore[attr-defined]
        row = batch[i]
        for name in ("features", "label"):
            want = {}
            for key, v in getattr(rec, name).items():
                member = v.WhichOneof("value")
                if member is not None:
                    want[key] = (member, getattr(v, member))
            have = getattr(row, name)
            assert set(have) == set(want), (i, name)
            for key, (member, t) in want.items():
                ours = have[key]
                code = {m: c for c, m in _MEMBER.items()}[member]
                dtype = _DTYPE[code]
                assert ours.values.dtype == dtype
                values = np.array(list(t.values), dtype)
                if len(t.keys) or (len(t.shape) and not len(t.values)):  # sparse (or an empty sparse row)
                    want_dense = np.zeros(int(np.prod(list(t.shape))), dtype)
                    want_dense[list(t.keys)] = values
                else:
                    want_dense = values
                assert ours.to_dense().ravel().tobytes() == want_dense.tobytes()
                if len(t.shape):
                    assert tuple(ours.shape) == tuple(t.shape)


# --------------------------------------------------------------------------------------
# Writing records field by field
# --------------------------------------------------------------------------------------


def packed(code: int, values: list[Any]) -> bytes:
    """A tensor's values as one packed field."""
    if code == I32:
        return ld(1, b"".join(varint(v & 0xFFFFFFFFFFFFFFFF) for v in values))
    return ld(1, np.array(values, _DTYPE[code]).tobytes())


def unpacked(code: int, values: list[Any]) -> bytes:
    """A tensor's values one field each (wire type 5, 1 or 0)."""
    if code == I32:
        return b"".join(b"\x08" + varint(v & 0xFFFFFFFFFFFFFFFF) for v in values)
    tag = b"\x0d" if code == F32 else b"\x09"
    return b"".join(tag + np.array([v], _DTYPE[code]).tobytes() for v in values)


def uints(field: int, values: list[int]) -> bytes:
    return ld(field, b"".join(varint(v) for v in values))


def entry(fn: int, key: bytes, *parts: bytes) -> bytes:
    """A map entry of map field `fn` (1 features, 2 label): the key, then its value parts."""
    return ld(fn, ld(1, key) + b"".join(ld(2, p) for p in parts))


def f32_value(*xs: float) -> bytes:
    return ld(F32, ld(1, struct.pack(f"<{len(xs)}f", *xs)))


_KEYS = [b"values", b"a", b"k17", b"\xc3\xa9t\xc3\xa9", b"x" * 64, b""]

_values = {
    F32: st.floats(width=32, allow_nan=True),
    F64: st.floats(allow_nan=True),
    I32: st.integers(-(2**31), 2**31 - 1),
}


@st.composite
def tensor_parts(
    draw: st.DrawFn, code: int, kind: str, width: int, dense_shapes: bool = True
) -> tuple[list[bytes], bool, bool]:
    """One key's value in a record, as 1 to 3 value parts of one member each: the values
    (and for a sparse key its keys) cut among them, packed or not, the shape (a sparse
    key's, or now and then a dense one's) in one part; and whether it has a shape, and
    values not packed (without `dense_shapes`, neither dense shapes nor unpacked
    values)."""
    if kind == "sparse":
        count = draw(st.integers(0, min(width, 4)))
        keys = sorted(draw(st.lists(st.integers(0, width - 1), min_size=count, max_size=count, unique=True)))
    else:
        count = width if kind == "dense" else draw(st.integers(0, 4))
        keys = []
    values = draw(st.lists(_values[code], min_size=count, max_size=count))
    n_parts = draw(st.integers(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, count), min_size=n_parts - 1, max_size=n_parts - 1)))
    bounds = [0, *cuts, count]
    shape_in = draw(st.integers(0, n_parts - 1))
    dense_shape = kind == "dense" and dense_shapes and draw(st.booleans())
    parts = []
    loose = False
    for p in range(n_parts):
        a, b = bounds[p], bounds[p + 1]
        writer = unpacked if dense_shapes and draw(st.integers(0, 3)) == 0 and b > a else packed
        loose = loose or writer is unpacked
        body = writer(code, values[a:b]) if b > a or draw(st.booleans()) else b""
        if keys[a:b]:
            body += uints(2, keys[a:b])
        if p == shape_in and (kind == "sparse" or dense_shape):
            body += uints(3, [width])
        parts.append(ld(code, body))
    if draw(st.integers(0, 3)) == 0:
        # another member first, in the first part or a part of its own: the oneof's last
        # member wins, and only its occurrences after the other's merge
        other = draw(st.sampled_from([c for c in (F32, F64, I32) if c != code]))
        first = ld(other, packed(other, [1]) + uints(3, [2]))
        if draw(st.booleans()):
            parts[0] = first + parts[0]
        else:
            parts.insert(0, first)
    return parts, kind == "sparse" or dense_shape, loose


@st.composite
def bodies(draw: st.DrawFn, dense_only: bool = False) -> tuple[bytes, bool, bool]:
    """Records of a few keys (each of one member and kind), their entries in another order
    in each record, values in parts; without `dense_only`, now and then an earlier entry
    that a later one of its key replaces, an entry without a value that removes its key, a
    key some records lack. Also whether every record holds every key as a float tensor of
    one width (what the one-pass reader fills as columns directly), and whether some
    values are not packed (which it leaves to the vectorized reader)."""
    n_keys = draw(st.integers(1, 5))
    names = draw(st.lists(st.sampled_from(_KEYS), min_size=n_keys, max_size=n_keys, unique=True))
    cols = []
    for key in names:
        fn = draw(st.sampled_from([1, 2]))
        code = draw(st.sampled_from([F32, F64] if dense_only else [F32, F64, I32]))
        kind = "dense" if dense_only else draw(st.sampled_from(["dense", "ragged", "sparse"]))
        width = draw(st.integers(1, 4))
        cols.append((fn, key, code, kind, width))
    n = draw(st.integers(1, 6))
    payloads = []
    plain = all(code != I32 and kind == "dense" for _, _, code, kind, _ in cols)
    loose = False
    for _ in range(n):
        ents = []
        for fn, key, code, kind, width in cols:
            if kind == "ragged" and draw(st.integers(0, 3)) == 0:
                continue  # a record without the key
            parts, shaped, unpacked_values = draw(tensor_parts(code, kind, width, not dense_only))
            plain = plain and not shaped
            loose = loose or unpacked_values
            ents.append(entry(fn, key, *parts))
        ents = draw(st.permutations(ents))
        if not dense_only and ents and draw(st.integers(0, 3)) == 0:
            # an earlier entry of a key, replaced by the later one (another member even)
            fn, key, *_ = draw(st.sampled_from(cols))
            at = draw(st.integers(0, len(ents)))
            ents.insert(at, entry(fn, key, ld(F64, packed(F64, [1.0]))))
            plain = False
        if not dense_only and draw(st.integers(0, 5)) == 0:
            fn, key, *_ = draw(st.sampled_from(cols))
            ents.append(ld(fn, ld(1, key)))  # no value: the record lacks the key
            plain = False
        payloads.append(b"".join(ents))
    return write_records(payloads), plain, loose


# --------------------------------------------------------------------------------------
# Batches: protobuf's reading, the careful reader's batch, on both paths
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", PATHS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies())
def test_parsed_records_read_as_protobuf_and_the_careful_reader_read_them(
    which: str, case: tuple[bytes, bool, bool]
) -> None:
    body, _, _ = case
    want = careful(body)
    with path(which):
        got = decoded(body)
    assert_same(got, want)
    if not isinstance(got, smp.DecodeError):
        assert_protobuf_reads(body, got)


@needs_c
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies())
def test_the_one_pass_reader_answers_every_such_body(case: tuple[bytes, bool, bool]) -> None:
    """Records of numeric entries alone (in any order, values in parts, repeated and removed
    keys) are the one-pass reader's, as columns directly where every key is a float
    tensor of one width in every record; the vectorized reader with it gives the batch it
    gives with its tables, or declines where that declines (columns the careful reader
    builds or refuses). Values not packed it leaves to the vectorized reader."""
    assert C is not None
    body, plain, loose = case
    buf = np.frombuffer(body, np.uint8)
    starts, lengths, _ = frame_table(memoryview(body), CT)
    got = C.entries(buf, starts, lengths)
    assert (got is None) == loose
    if got is None:
        return
    if plain and not loose:
        assert isinstance(got[2], list)
    try:
        fast: smp.RecordBatch | None = reader.vector_decode(buf, starts, lengths, True)
    except Decline:
        fast = None
    try:
        tables: smp.RecordBatch | None = reader.vector_decode(buf, starts, lengths)
    except Decline:
        tables = None
    assert (fast is None) == (tables is None)
    if fast is not None and tables is not None:
        assert_same(fast, tables)
        if isinstance(got[2], list):  # columns filled directly: dense float columns
            for col in [*fast.features.values(), *fast.label.values()]:
                assert isinstance(col, np.ndarray) and col.dtype in (np.float32, np.float64)


@pytest.mark.parametrize("which", PATHS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=bodies(dense_only=True))
def test_dense_columns_filled_directly_are_the_careful_readers(
    which: str, case: tuple[bytes, bool, bool]
) -> None:
    body, plain, loose = case
    assert plain and not loose
    if C is not None:
        starts, lengths, _ = frame_table(memoryview(body), CT)
        got_c = C.entries(np.frombuffer(body, np.uint8), starts, lengths)
        assert got_c is not None and isinstance(got_c[2], list)
    want = careful(body)
    assert not isinstance(want, smp.DecodeError)
    with path(which):
        got = decoded(body)
    assert_same(got, want)
    assert_protobuf_reads(body, got)  # type: ignore[arg-type]


@pytest.mark.parametrize("which", PATHS)
def test_three_hundred_keys_in_another_order_in_each_record(which: str) -> None:
    payloads = [
        b"".join(
            entry(1, b"k%d" % j, f32_value(float(j), float(i)))
            for j in sorted(range(300), key=lambda j: (7 * j + i) % 300)
        )
        for i in range(40)
    ]
    body = write_records(payloads)
    with path(which):
        got = smp.decode_request(body, CT)
    # Columns in the order of record 0's entries; each key's values, record by record.
    order = sorted(range(300), key=lambda j: (7 * j) % 300)
    assert list(got.features) == [f"k{j}" for j in order]
    for j in (0, 1, 150, 299):
        col = got.features[f"k{j}"]
        assert col.dtype == np.float32 and col.shape == (40, 2)
        assert col.tolist() == [[float(j), float(i)] for i in range(40)]
    assert not got.label and got.uid is None
    assert_same(got, careful(body))


@pytest.mark.parametrize("which", PATHS)
def test_a_value_in_two_parts_concatenates_in_every_record(which: str) -> None:
    payloads = [entry(1, b"v", f32_value(1.5), f32_value(float(i))) for i in range(1000)]
    body = write_records(payloads)
    with path(which), mock.patch.object(reader, "careful_decode", side_effect=AssertionError("careful")):
        got = smp.decode_request(body, CT)
    assert list(got.features) == ["v"] and not got.label
    v = got.features["v"]
    assert v.dtype == np.float32 and v.shape == (1000, 2)
    assert v.tolist() == [[1.5, float(i)] for i in range(1000)]


@pytest.mark.parametrize("which", PATHS)
def test_label_parts_with_keys_and_shape_concatenate_as_protobuf_merges(which: str) -> None:
    # Part one: values [1, 2] at keys [0, 3]; part two: value [3] at key [5], and shape [6].
    one = ld(I32, packed(I32, [1, -2]) + uints(2, [0, 3]))
    two = ld(I32, packed(I32, [3]) + uints(2, [5]) + uints(3, [6]))
    payloads = [entry(2, b"s", one, two) + entry(1, b"x", f32_value(float(i))) for i in range(5)]
    body = write_records(payloads)
    with path(which):
        got = smp.decode_request(body, CT)
    s = got.label["s"]
    assert type(s).__name__ == "csr_array" and s.shape == (5, 6) and s.dtype == np.int32
    assert s.toarray().tolist() == [[1, 0, 0, -2, 0, 3]] * 5
    assert got.features["x"].tolist() == [[float(i)] for i in range(5)]
    assert_same(got, careful(body))
    assert_protobuf_reads(body, got)


# --------------------------------------------------------------------------------------
# Errors: the careful reader's, exactly as main reported them before these readers
# --------------------------------------------------------------------------------------


def _good() -> list[bytes]:
    return [entry(1, b"v", f32_value(1.5), f32_value(2.0)) for _ in range(6)]


def _keys() -> list[bytes]:
    return [
        b"".join(
            entry(1, b"k%d" % j, f32_value(float(j))) for j in sorted(range(5), key=lambda j: (3 * j + i) % 5)
        )
        for i in range(6)
    ]


_TWO_PART_TAIL = ld(1, ld(1, b"v") + ld(2, f32_value(1.5)))

_ERRORS: dict[str, tuple[list[bytes], tuple[str, int, int]]] = {
    "truncated part": (
        [*_good()[:3], entry(1, b"v", f32_value(1.5), f32_value(2.0))[:-2], *_good()[4:]],
        (
            "application/x-recordio-protobuf: length 23 exceeds the 21 bytes left at byte 116 (record 3)",
            116,
            3,
        ),
    ),
    "part length past its entry": (
        [*_good()[:2], ld(1, ld(1, b"v") + ld(2, f32_value(1.5)) + b"\x12\t" + f32_value(2.0)), *_good()[3:]],
        ("application/x-recordio-protobuf: length 9 exceeds the 8 bytes left at byte 95 (record 2)", 95, 2),
    ),
    "value part of wire type 0": (
        [*_good()[:4], ld(1, ld(1, b"v") + ld(2, f32_value(1.5)) + b"\x10\x01"), *_good()[5:]],
        (
            "application/x-recordio-protobuf: "
            "features value has wire type 0, expected 2 at byte 167 (record 4)",
            167,
            4,
        ),
    ),
    "tensor of wire type 0": (
        [*_good()[:1], entry(1, b"v", f32_value(1.5), b"\x10\x01"), *_good()[2:]],
        (
            "application/x-recordio-protobuf: "
            "float32_tensor has wire type 0, expected 2 at byte 61 (record 1)",
            61,
            1,
        ),
    ),
    "float32 values of wire type 0": (
        [*_good()[:5], entry(1, b"v", f32_value(1.5), ld(F32, b"\x08\x01"))],
        (
            "application/x-recordio-protobuf: "
            "float32 value has wire type 0, expected 5 at byte 207 (record 5)",
            207,
            5,
        ),
    ),
    "reordered keys, a key of wire type 0": (
        [*_keys()[:3], _keys()[3][:2] + b"\x08\x05" + _keys()[3][4:], *_keys()[4:]],
        (
            "application/x-recordio-protobuf: "
            "features key has wire type 0, expected 2 at byte 274 (record 3)",
            274,
            3,
        ),
    ),
    "reordered keys, a truncated record": (
        [*_keys()[:5], _keys()[5][:-3]],
        (
            "application/x-recordio-protobuf: length 14 exceeds the 11 bytes left at byte 512 (record 5)",
            512,
            5,
        ),
    ),
    "float32 values of 3 bytes": (
        [*_keys()[:2], entry(1, b"k0", ld(F32, ld(1, b"\x00\x00\x80"))), *_keys()[3:]],
        (
            "application/x-recordio-protobuf: packed float32 values of 3 bytes (not a multiple of 4) "
            "at byte 196 (record 2)",
            196,
            2,
        ),
    ),
    "float64 then float32 in one column": (
        [entry(1, b"v", ld(F64, packed(F64, [1.0]))), *_good()[1:]],
        (
            "application/x-recordio-protobuf: features['v']: float32 tensor in a column of float64 "
            "tensors (a RecordBatch column holds one kind of tensor; use "
            "smp.formats.recordio_protobuf.decode_records for arbitrary records) at byte 28 (record 1)",
            28,
            1,
        ),
    ),
}


@pytest.mark.parametrize("which", PATHS)
@pytest.mark.parametrize("case", sorted(_ERRORS))
def test_errors_are_the_ones_main_gave(which: str, case: str) -> None:
    payloads, want = _ERRORS[case]
    body = write_records(payloads)
    with path(which), pytest.raises(smp.DecodeError) as e:
        smp.decode_request(body, CT)
    assert (str(e.value), e.value.offset, e.value.record_index) == want


@st.composite
def broken_bodies(draw: st.DrawFn) -> bytes:
    """A body of `bodies` with one record's payload cut short, or one of its bytes changed
    (a tag's wire type, a length), reframed."""
    from sm_payloads.recordio import read_records

    body, _, _ = draw(bodies())
    payloads = read_records(body)
    i = draw(st.integers(0, len(payloads) - 1))
    p = bytearray(payloads[i])
    if not p:
        return body
    how = draw(st.sampled_from(["cut", "wire type", "byte"]))
    at = draw(st.integers(0, len(p) - 1))
    if how == "cut":
        del p[at:]
    elif how == "wire type":
        p[at] = (p[at] & 0xF8) | draw(st.sampled_from([0, 1, 3, 5, 7]))
    else:
        p[at] = draw(st.integers(0, 255))
    payloads[i] = bytes(p)
    return write_records(payloads)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=broken_bodies())
def test_broken_records_give_the_careful_readers_outcome_on_both_paths(body: bytes) -> None:
    want = careful(body)
    for which in PATHS:
        with path(which):
            assert_same(decoded(body), want)


# --------------------------------------------------------------------------------------
# What the one-pass reader leaves to the others, and the numpy walk of parts
# --------------------------------------------------------------------------------------


_DECLINED = {
    "a uid": entry(1, b"v", f32_value(1.0)) + ld(3, b"u"),
    "an unknown record field": entry(1, b"v", f32_value(1.0)) + b"\x30\x01",
    "a Bytes value": entry(1, b"v", ld(9, ld(1, b"text"))),
    "a key twice in an entry": ld(1, ld(1, b"v") + ld(1, b"w") + ld(2, f32_value(1.0))),
    "an unknown field in a value": ld(1, ld(1, b"v") + ld(2, f32_value(1.0) + b"\x28\x01")),
    "a key of 65 bytes": entry(1, b"k" * 65, f32_value(1.0)),
    "values not packed": entry(1, b"v", ld(F32, unpacked(F32, [1.0, 2.0]))),
    "a packed float32 run of 5 bytes": entry(1, b"v", ld(F32, ld(1, b"\x00" * 5))),
    "a packed int32 run that ends inside a varint": entry(1, b"v", ld(I32, ld(1, b"\x81"))),
}


@needs_c
@pytest.mark.parametrize("case", sorted(_DECLINED))
def test_the_one_pass_reader_declines_what_it_does_not_read(case: str) -> None:
    assert C is not None
    body = write_records([entry(1, b"v", f32_value(2.0)), _DECLINED[case]])
    starts, lengths, _ = frame_table(memoryview(body), CT)
    assert C.entries(np.frombuffer(body, np.uint8), starts, lengths) is None
    with path("c"):
        assert_same(decoded(body), careful(body))


@needs_c
def test_the_one_pass_reader_takes_4096_keys_and_declines_at_4097() -> None:
    assert C is not None
    body = write_records([b"".join(entry(1, b"%d" % j, f32_value(1.0)) for j in range(4097))])
    starts, lengths, _ = frame_table(memoryview(body), CT)
    assert C.entries(np.frombuffer(body, np.uint8), starts, lengths) == 4097
    for count, answers in ((4096, True), (4097, False)):
        body = write_records([b"".join(entry(1, b"%d" % j, f32_value(1.0)) for j in range(count))])
        starts, lengths, _ = frame_table(memoryview(body), CT)
        got = C.entries(np.frombuffer(body, np.uint8), starts, lengths)
        # declined past its keys: the int 4097, the keys it met (a column limit refuses then)
        assert type(got) is (tuple if answers else int)
        if type(got) is tuple:
            names, runs, columns = got
            assert names == [(1, b"%d" % j) for j in range(count)]
            assert columns == [(j, F32, 4) for j in range(count)]
            assert bytes(runs) == struct.pack("<f", 1.0) * count


@needs_c
def test_the_one_pass_reader_table_of_entries() -> None:
    """The table: record, key number, member, (start, length) of values, keys and shape in
    the joined runs, then the entries grouped by key; a key's last entry in a record wins,
    in its position, and an entry without a value removes its key."""
    assert C is not None
    payloads = [
        entry(1, b"a", ld(I32, packed(I32, [7]))) + entry(2, b"b", f32_value(1.0), ld(F32, uints(3, [1]))),
        entry(2, b"b", f32_value(2.0))
        + entry(1, b"a", f32_value(9.0))
        + entry(1, b"a", ld(I32, packed(I32, [8]))),
        entry(1, b"a", ld(I32, packed(I32, [5]))) + ld(1, ld(1, b"a")),
    ]
    body = write_records(payloads)
    starts, lengths, _ = frame_table(memoryview(body), CT)
    got = C.entries(np.frombuffer(body, np.uint8), starts, lengths)
    assert got is not None
    names, runs, raw = got
    assert names == [(1, b"a"), (2, b"b")]
    assert isinstance(raw, bytearray)
    t = np.frombuffer(raw, np.int64).reshape(10, -1)
    assert t[0].tolist() == [0, 0, 1, 1]  # record 2's a is removed
    assert t[1].tolist() == [0, 1, 1, 0]
    assert t[2].tolist() == [I32, F32, F32, I32]
    assert t[4].tolist() == [1, 4, 4, 1] and t[6].tolist() == [0, 0, 0, 0] and t[8].tolist() == [0, 1, 0, 0]
    assert [bytes(runs[s : s + n]) for s, n in zip(t[3], t[4], strict=True)] == [
        b"\x07",
        struct.pack("<f", 1.0),
        struct.pack("<f", 2.0),
        b"\x08",
    ]
    assert bytes(runs[t[7][1] : t[7][1] + 1]) == b"\x01"
    assert t[9].tolist() == [0, 3, 1, 2]


def test_the_numpy_walk_reads_values_in_parts_without_the_vectorized_reader() -> None:
    payloads = [
        entry(1, b"v", f32_value(1.5), f32_value(float(i), 0.5))
        + entry(
            2,
            b"s",
            ld(F64, packed(F64, [1.0]) + uints(2, [1])),
            ld(F64, packed(F64, [3.0]) + uints(2, [3]) + uints(3, [4])),
        )
        + entry(2, b"t", ld(F64, packed(F64, [4.0]) + uints(3, [4])), ld(F64, uints(2, [0])))
        for i in range(20)
    ]
    body = write_records(payloads)
    with path("numpy"), mock.patch.object(reader, "vector_decode", side_effect=AssertionError("vector")):
        got = smp.decode_request(body, CT)
    assert got.features["v"].tolist() == [[1.5, float(i), 0.5] for i in range(20)]
    assert got.label["s"].toarray().tolist() == [[0.0, 1.0, 0.0, 3.0]] * 20
    assert got.label["t"].toarray().tolist() == [[4.0, 0.0, 0.0, 0.0]] * 20
    assert_same(got, careful(body))
    # Parts of two members are the vectorized reader's (the last member wins).
    mixed = write_records([entry(1, b"v", f32_value(1.5), ld(F64, packed(F64, [2.5])))] * 3)
    buf = np.frombuffer(mixed, np.uint8)
    starts, lengths, _ = frame_table(memoryview(mixed), CT)
    with path("numpy"), pytest.raises(Decline):
        reader.walk_decode(buf, starts, lengths, True, True, True)
    with path("numpy"):
        assert smp.decode_request(mixed, CT).features["v"].tolist() == [[2.5]] * 3


_CHANGING = """
import sys, threading
import numpy as np
from sm_payloads.formats import _record_reader as reader
C = reader.crecordio
value = bytes.fromhex("12060a04") + bytes(4)  # a float32 tensor of one value
def ld(field, payload):
    return bytes([field << 3 | 2, len(payload)]) + payload
def entry(key):
    return ld(1, ld(1, key) + ld(2, value))
msg = entry(b"a") + entry(b"b") + entry(b"a")
n = 4096
data = bytearray(msg * n)
buf = np.frombuffer(data, np.uint8)
lengths = np.full(n, len(msg), np.int64)
starts = np.arange(n, dtype=np.int64) * len(msg)
stop = threading.Event()

def writer():
    good = int(starts[-1])
    key_at = len(msg) * (n // 2) + 4  # record n / 2's first key byte
    while not stop.is_set():
        starts[-1] = 1 << 40  # far past the buffer, then back
        data[key_at] = 0x63  # another key ("c"), then back
        starts[-1] = good
        data[key_at] = 0x61

sys.setswitchinterval(1e-6)
t = threading.Thread(target=writer)
t.start()
seen = set()
try:
    for _ in range(1500):
        try:
            got = C.entries(buf, starts, lengths)
            seen.add(type(got).__name__ if got is None else type(got[2]).__name__)
        except BufferError:
            seen.add("BufferError")
finally:
    stop.set()
    t.join()
print(" ".join(sorted(seen)))
"""


@needs_c
def test_the_one_pass_reader_checks_each_range_and_byte_where_it_reads_them() -> None:
    # entries releases the GIL and reads the records twice (counting, then filling): a
    # range moved past the buffer, or a key changed, between or during the passes is a
    # decline, a BufferError, or the answer of one of the states; never a read outside
    # the buffer or a column left unfilled (a subprocess, so that the suite reports a
    # crash).
    import subprocess
    import sys

    got = subprocess.run([sys.executable, "-c", _CHANGING], capture_output=True, text=True, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    assert set(got.stdout.split()) <= {"BufferError", "NoneType", "bytearray", "list"}
