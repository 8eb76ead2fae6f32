"""application/x-recordio-protobuf: golden bytes, exact errors, and properties."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.formats import _record_reader as reader
from sm_payloads.formats import recordio_protobuf as rp
from sm_payloads.formats._record_reader import parse_record
from sm_payloads.recordio import MAGIC_BYTES, iter_frames, write_records

from .helpers import GOLDEN, assert_batches_equal, golden_cases, manifest_batch, record_batches

CT = "application/x-recordio-protobuf"


def careful(data: bytes) -> smp.RecordBatch:
    """Decode through the per-record reader only (no fast paths)."""
    view = memoryview(data)
    starts, lengths, joined = smp.recordio.frame_table(view, CT)
    return reader.careful_decode(view, starts, lengths, joined, 0, 0)


# --------------------------------------------------------------------------------------
# Golden bytes (docs/formats/recordio-protobuf.md, "Wire layout, byte by byte"; generated with
# protobuf-python from record.proto)
# --------------------------------------------------------------------------------------

GOLDEN_DENSE = bytes.fromhex("0a1e0a0676616c756573121412120a100000c03f00008041000060410000b841")
GOLDEN_TWO = bytes.fromhex(
    "0a23d7ce200000000a1e0a0676616c756573121412120a100000c03f00008041000060410000b841"
    "0a23d7ce200000000a1e0a0676616c756573121412120a10000000c06666c8423333734133331341"
)
GOLDEN_SPARSE = bytes.fromhex("0a1f0a0676616c756573121512130a080000803f0000803f12031ab6011a02d00f")
GOLDEN_KMEANS = bytes.fromhex(
    "121f0a1364697374616e63655f746f5f636c7573746572120812060a0400001242"
    "121b0a0f636c6f736573745f636c7573746572120812060a040000a040"
)
GOLDEN_FEATURE_LABEL = bytes.fromhex(
    "0a120a0676616c756573120812060a040000803f12120a0676616c756573120812060a0400008040"
)
GOLDEN_PCA = bytes.fromhex("121a0a0a70726f6a656374696f6e120c120a0a080000803f00000040")


def framed(payload: bytes) -> bytes:
    return MAGIC_BYTES + struct.pack("<I", len(payload)) + payload + b"\0" * (-len(payload) % 4)


def test_golden_dense_request_both_ways() -> None:
    """docs/formats/recordio-protobuf.md, "Wire layout": [1.5, 16, 14, 23] as one float32 record."""
    batch = smp.from_dense(np.array([[1.5, 16.0, 14.0, 23.0]], np.float32))
    assert rp.encode(batch) == framed(GOLDEN_DENSE) == bytes.fromhex("0a23d7ce20000000") + GOLDEN_DENSE
    assert_batches_equal(rp.decode(framed(GOLDEN_DENSE)), batch)


def test_golden_two_records() -> None:
    """docs/formats/recordio-protobuf.md, "Wire layout": the two-record request, 80 bytes."""
    X = np.array([[1.5, 16, 14, 23], [-2.0, 100.2, 15.2, 9.2]], np.float32)
    assert rp.encode(smp.from_dense(X)) == GOLDEN_TWO
    assert rp.decode(GOLDEN_TWO).to_numpy().tolist() == X.tolist()


def test_golden_sparse() -> None:
    """docs/formats/recordio-protobuf.md, "Wire layout": keys [26, 182], shape [2000], values
    [1, 1]; 3 pad bytes."""
    X = sp.csr_matrix((np.ones(2, np.float32), [26, 182], [0, 2]), shape=(1, 2000))
    data = rp.encode(smp.from_sparse(X))
    assert data == framed(GOLDEN_SPARSE) and data.endswith(b"\0\0\0")
    got = rp.decode(data).features["values"]
    assert got.shape == (1, 2000) and got.indices.tolist() == [26, 182]


def test_golden_kmeans_response_any_map_order() -> None:
    """docs/formats/recordio-protobuf.md, "Where the sources disagree": protobuf-python wrote
    distance_to_cluster first."""
    batch = rp.decode(framed(GOLDEN_KMEANS))
    assert list(batch.label) == ["distance_to_cluster", "closest_cluster"]
    assert batch.label["closest_cluster"].tolist() == [5.0]
    assert batch.label["distance_to_cluster"].tolist() == [36.5]
    assert batch.features == {}
    # We write insertion order; a re-encode reads back the same values.
    again = rp.decode(rp.encode(batch))
    assert_batches_equal(again, batch)


def test_golden_feature_and_label() -> None:
    batch = smp.from_dense(np.array([[1.0]], np.float32), np.array([4.0], np.float32))
    assert rp.encode(batch) == framed(GOLDEN_FEATURE_LABEL)
    assert_batches_equal(rp.decode(framed(GOLDEN_FEATURE_LABEL)), batch)


def test_golden_pca_projection() -> None:
    batch = rp.decode(framed(GOLDEN_PCA))
    assert batch.label["projection"].tolist() == [[1.0, 2.0]]


# --------------------------------------------------------------------------------------
# The SDK's own files
# --------------------------------------------------------------------------------------

FILES = golden_cases("application/x-recordio-protobuf")
MAGIC_FILE = "sdk/recordio-protobuf/dense_f32_magic_in_payload.rec"


@pytest.mark.parametrize("entry", FILES, ids=[Path(f["file"]).stem for f in FILES])
def test_sdk_fixture_bytes_and_values(entry: dict) -> None:
    data = (GOLDEN / entry["file"]).read_bytes()
    batch = manifest_batch(entry["input"])
    assert rp.encode(batch, sdk_compatible=True) == data
    if entry["file"] != MAGIC_FILE:
        assert rp.encode(batch) == data
    decoded = rp.decode(data)
    assert len(decoded) == len(entry["records"])
    if len(decoded):
        assert_batches_equal(decoded, batch)
        assert_batches_equal(careful(data), batch)
    assert [f.offset for f in iter_frames(data)] == [fr["offset"] for fr in entry["frames"]]
    for i, rec in enumerate(entry["records"]):
        for map_name in ("features", "label"):
            for key, t in rec[map_name].items():
                row = getattr(decoded[i], map_name)[key]
                if "values_f32_bits_hex" in t:
                    assert [
                        row.values.astype("<f4").tobytes()[4 * j : 4 * j + 4].hex()
                        for j in range(row.values.size)
                    ] == t["values_f32_bits_hex"]
                if t["keys"]:
                    assert row.keys.tolist() == t["keys"]


def test_magic_in_payload_is_shifted_not_split() -> None:
    """docs/formats/recordio-protobuf.md, "The magic number": the default writer re-encodes the
    record with a small unknown field."""
    X = np.array([[-1804698880.0, 1.0, 2.0, 3.0]], np.float32)  # bits 0xCED7230A first
    sdk = (GOLDEN / MAGIC_FILE).read_bytes()
    ours = rp.encode(smp.from_dense(X))
    assert ours != sdk
    frames = list(iter_frames(ours))
    assert [f.pieces for f in frames] == [1]
    payload = bytes(frames[0].payload)
    usable = len(payload) & ~3
    assert not (np.frombuffer(payload[:usable], "<u4") == 0xCED7230A).any()
    assert payload.startswith(b"\x82\x01")  # field 16, wire type 2
    assert_batches_equal(rp.decode(ours), smp.from_dense(X))
    assert_batches_equal(rp.decode(sdk), smp.from_dense(X))


def test_magic_records_among_others_keep_order() -> None:
    X = np.arange(20, dtype=np.float32).reshape(5, 4)
    X.view(np.uint32)[1, 0] = 0xCED7230A
    X.view(np.uint32)[3, 2] = 0xCED7230A
    batch = smp.from_dense(X, np.arange(5, dtype=np.float32))
    data = rp.encode(batch)
    assert [f.pieces for f in iter_frames(data)] == [1] * 5
    assert_batches_equal(rp.decode(data), batch)
    plain = rp.encode(batch, sdk_compatible=True)
    assert len(plain) < len(data)


def test_when_every_shift_fails_the_dmlc_split_is_the_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rp, "_SHIMS", ())
    X = np.array([[-1804698880.0, 1.0]], np.float32)
    data = rp.encode(smp.from_dense(X))
    assert [f.pieces for f in iter_frames(data)] == [2]
    assert_batches_equal(rp.decode(data), smp.from_dense(X))


# --------------------------------------------------------------------------------------
# Reading any valid protobuf encoding
# --------------------------------------------------------------------------------------


def v(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def ld(field: int, body: bytes) -> bytes:
    return v(field << 3 | 2) + v(len(body)) + body


def entry(field: int, key: str, value: bytes) -> bytes:
    return ld(field, ld(1, key.encode()) + ld(2, value))


def test_unpacked_fields_unknown_fields_and_reordering() -> None:
    f32 = b"".join(b"\x0d" + struct.pack("<f", x) for x in (1.0, 2.0))  # unpacked floats
    tensor = f32 + b"\x18\x02"  # shape, unpacked varint
    value = ld(2, tensor) + b"\xf8\x01\x05"  # unknown varint field 31
    # Unknown length-delimited field 17 and unknown fixed32 field 32 after the entry.
    data = framed(entry(1, "values", value) + ld(17, b"xx") + b"\x85\x02\x01\x02\x03\x04")
    b = rp.decode(data)
    assert b.features["values"].tolist() == [[1.0, 2.0]]


def test_wrong_wire_type_for_a_known_field_is_an_error() -> None:
    data = framed(b"\x08\x01")  # features (field 1) as a varint
    with pytest.raises(smp.DecodeError, match="features entry has wire type 0, expected 2") as e:
        rp.decode(data)
    assert e.value.offset == 8 and e.value.record_index == 0


def test_repeated_map_key_last_wins_and_oneof_last_member_wins() -> None:
    first = ld(2, ld(1, struct.pack("<f", 1.0)))
    second = ld(3, ld(1, struct.pack("<d", 2.0)))  # float64 tensor replaces float32
    rec = entry(1, "values", first) + entry(1, "values", first + second)
    b = rp.decode(framed(rec))
    assert b.features["values"].dtype == np.float64
    assert b.features["values"].tolist() == [[2.0]]


def test_groups_are_skipped() -> None:
    group = b"\xa3\x01" + b"\x08\x05" + b"\xa4\x01"  # group 20 { field 1 = 5 }
    rec = group + entry(1, "values", ld(2, ld(1, struct.pack("<f", 3.0))))
    assert rp.decode(framed(rec)).features["values"].tolist() == [[3.0]]


def test_mismatched_group_is_an_error() -> None:
    with pytest.raises(smp.DecodeError, match="end of group 21 does not match group 20"):
        rp.decode(framed(b"\xa3\x01\xac\x01"))


def test_bytes_values_uid_metadata_configuration() -> None:
    rec = (
        entry(2, "predicted_label", ld(9, ld(1, b"cat") + ld(2, b"text/plain")))
        + ld(3, b"id-1")
        + ld(4, b'{"a": 1}')
        + ld(5, b'{"k": 3}')
    )
    b = rp.decode(framed(rec))
    assert b.label["predicted_label"].tolist() == ["cat"]
    assert b.uid == ("id-1",) and b.metadata == ('{"a": 1}',) and b.configuration == ('{"k": 3}',)
    assert_batches_equal(rp.decode(rp.encode(b)), b)


def test_int32_varints_negative_and_extremes() -> None:
    X = np.array([[-1, 0, 2**31 - 1, -(2**31)]], np.int32)
    data = rp.encode(smp.from_dense(X))
    # A negative int32 is a 10-byte varint, as protobuf writes it.
    assert b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" in data
    assert rp.decode(data).to_numpy().tolist() == X.tolist()


def test_records_with_different_lengths_decode_to_ragged() -> None:
    recs = b"".join(
        framed(entry(1, "values", ld(2, ld(1, np.arange(k, dtype="<f4").tobytes())))) for k in (1, 3, 0)
    )
    b = rp.decode(recs)
    assert isinstance(b.features["values"], smp.Ragged)
    assert b.features["values"].to_lists() == [[0.0], [0.0, 1.0, 2.0], []]


def test_heterogeneous_column_is_a_clear_error() -> None:
    a = framed(entry(1, "values", ld(2, ld(1, struct.pack("<f", 1.0)))))
    b = framed(entry(1, "values", ld(3, ld(1, struct.pack("<d", 1.0)))))
    with pytest.raises(smp.DecodeError) as e:
        rp.decode(a + b)
    assert e.value.record_index == 1 and e.value.offset == len(a)
    assert "float64 tensor in a column of float32 tensors" in str(e.value)
    assert [r.features["values"].values.dtype.name for r in rp.decode_records(a + b)] == [
        "float32",
        "float64",
    ]


def test_packed_float_length_not_multiple_of_four() -> None:
    data = framed(entry(1, "values", ld(2, ld(1, b"\x00\x00\x80"))))
    with pytest.raises(smp.DecodeError, match="not a multiple of 4") as e:
        rp.decode(data)
    assert e.value.offset == 8 + 16  # the first byte of the packed values


def test_sparse_key_outside_shape() -> None:
    tensor = ld(1, struct.pack("<f", 1.0)) + ld(2, v(7)) + ld(3, v(4))
    with pytest.raises(smp.DecodeError, match="key 7 outside the shape"):
        rp.decode(framed(entry(1, "values", ld(2, tensor))))


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------


@given(record_batches())
def test_round_trip_is_bit_exact(batch: smp.RecordBatch) -> None:
    data = rp.encode(batch)
    assert_batches_equal(rp.decode(data), batch)
    assert_batches_equal(rp.decode(data, copy=True), batch)
    assert_batches_equal(careful(data), batch)
    # Map order is first appearance (protobuf maps are unordered), so re-encoding is
    # canonical after one decode.
    once = rp.encode(rp.decode(data))
    assert rp.encode(rp.decode(once)) == once


@given(record_batches(kinds=("dense",), ids=False, max_records=12))
def test_round_trip_dense_fast_paths(batch: smp.RecordBatch) -> None:
    data = rp.encode(batch)
    assert_batches_equal(rp.decode(data), batch)


class Trickle(io.RawIOBase):
    """A raw stream that hands out at most `step` bytes per read (as pipes and sockets do)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, out: memoryview) -> int:  # type: ignore[override]
        n = min(len(out), self.step, len(self.data) - self.pos)
        out[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


def split_records(batch: smp.RecordBatch) -> bytes:
    """The batch's records framed the dmlc way: records with an aligned magic are split."""
    payloads = [bytes(f.payload) for f in iter_frames(rp.encode(batch, sdk_compatible=True))]
    return write_records(payloads)


# Float32 values whose bytes hold the magic at every byte shift, so one of them lands on
# a 4-byte-aligned offset of the record wherever the column starts.
_SHIFTED = b"\0".join([MAGIC_BYTES] * 4) + b"\0"  # the magic at offsets 0, 5, 10, 15
MAGIC_ROW = np.frombuffer(_SHIFTED, np.float32)


@given(
    record_batches(max_records=12),
    st.integers(1, 5),
    st.sampled_from([(8, 4), (64, 16), (1 << 20, 1 << 16)]),
    st.integers(1, 9),
    st.booleans(),
)
def test_stream_buffers_carry_records_across_reads(
    batch: smp.RecordBatch, size: int, buffers: tuple[int, int], step: int, magic: bool
) -> None:
    """Tiny read buffers and short reads: records straddle buffers, and the batches match
    `decode` and the batches read from the same bytes in a buffer."""
    if magic and len(batch):
        # One record holding the magic at an aligned offset: written as a multi-part record.
        m = np.tile(MAGIC_ROW, (len(batch), 1))
        batch = smp.RecordBatch({**batch.features, "m": m}, batch.label, n=len(batch))
        data = split_records(batch)
        assert any(f.pieces > 1 for f in iter_frames(data))
    else:
        data = rp.encode(batch)
    whole = rp.decode(data)
    with mock.patch.object(rp, "_FIRST_READ", buffers[0]), mock.patch.object(rp, "_SLACK", buffers[1]):
        got = list(rp.iter_decode(io.BufferedReader(Trickle(data, step)), batch_size=size))
        cut = data[: len(data) - 1] if data else b""
        if cut:
            with pytest.raises(smp.DecodeError) as streamed:
                list(rp.iter_decode(Trickle(cut, step), batch_size=size))
            with pytest.raises(smp.DecodeError) as buffered:
                rp.decode(cut)
            assert (streamed.value.offset, streamed.value.record_index) == (
                buffered.value.offset,
                buffered.value.record_index,
            )
    sizes = [min(size, len(whole) - i) for i in range(0, len(whole), size)]
    from_buffer = list(rp.iter_decode(data, batch_size=size))
    for parts in (got, from_buffer):
        assert [len(b) for b in parts] == sizes
        assert_batches_equal(smp.RecordBatch.concat(parts) if parts else smp.RecordBatch(n=0), whole)


@given(record_batches(max_records=3), st.data())
def test_truncation_gives_decode_error_at_the_cut_frame(batch: smp.RecordBatch, data: st.DataObject) -> None:
    full = rp.encode(batch)
    starts = [f.offset for f in iter_frames(full)] + [len(full)]
    cut = data.draw(st.integers(1, len(full) - 1))
    if cut in starts:
        assert len(rp.decode(full[:cut])) == starts.index(cut)
        return
    for source in (full[:cut], io.BytesIO(full[:cut])):
        with pytest.raises(smp.DecodeError) as e:
            if isinstance(source, bytes):
                rp.decode(source)
            else:
                list(rp.iter_decode(source, batch_size=2))
        assert e.value.offset == max(s for s in starts if s < cut)


def check_garbage(blob: bytes) -> None:
    for fn in (
        rp.decode,
        careful,
        rp.decode_records,
        lambda b: list(rp.iter_decode(io.BytesIO(b), batch_size=2)),
    ):
        try:
            fn(blob)
        except smp.DecodeError as e:
            assert e.offset is None or 0 <= e.offset <= len(blob)


@given(st.binary(max_size=80))
def test_garbage_gives_only_decode_error(blob: bytes) -> None:
    check_garbage(blob)


@given(st.binary(max_size=60))
def test_garbage_payloads_inside_valid_frames(payload: bytes) -> None:
    check_garbage(write_records([payload]))
    check_garbage(write_records([payload, payload]))


@given(record_batches(max_records=3), st.data())
def test_mutated_payloads_give_a_result_or_decode_error(batch: smp.RecordBatch, data: st.DataObject) -> None:
    full = bytearray(rp.encode(batch))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(full) - 1))
        full[i] = data.draw(st.integers(0, 255))
    check_garbage(bytes(full))


def _outcome(fn: object, data: bytes) -> object:
    try:
        return fn(data)  # type: ignore[operator]
    except smp.DecodeError as e:
        return ("error", e.offset, e.record_index)


@given(record_batches(max_records=4), st.data())
def test_fast_paths_agree_with_the_careful_reader(batch: smp.RecordBatch, data: st.DataObject) -> None:
    """Differential: mutate payload bytes only (frames stay valid), so the vectorized paths
    see the input; whatever they accept must equal the per-record reader, bit for bit."""
    full = bytearray(rp.encode(batch, sdk_compatible=True))
    starts, lengths, _ = smp.recordio.frame_table(memoryview(bytes(full)), CT)
    if not starts.size or not lengths.sum():
        return
    inside = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)])
    for _ in range(data.draw(st.integers(1, 3))):
        i = int(inside[data.draw(st.integers(0, inside.size - 1))])
        full[i] = data.draw(st.integers(0, 255))
    fast = _outcome(rp.decode, bytes(full))
    slow = _outcome(careful, bytes(full))
    if isinstance(slow, smp.RecordBatch):
        assert isinstance(fast, smp.RecordBatch)
        assert fast.equals(slow, bitwise=True)
    else:
        assert fast == slow


def test_sdk_sparse_layout_takes_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's sparse records (only lengths and packed bytes differ) decode in the
    vectorized walk: neither the generic scan nor the per-record reader is needed."""
    X = sp.csr_matrix(np.array([[0, 1.5, 0, 2], [0, 0, 0, 0], [7, 0, 0, 0]] + [[0.25] * 4] * 40, np.float32))
    X.data[-1] = 3e38
    y = np.arange(43, dtype=np.float32)
    data = rp.encode(smp.from_sparse(X, y), sdk_compatible=True)

    def fail(*args: object) -> None:
        raise AssertionError("slow path used")

    monkeypatch.setattr(reader, "vector_decode", fail)
    monkeypatch.setattr(reader, "careful_decode", fail)
    out = rp.decode(data)
    assert_batches_equal(out, smp.from_sparse(X, y))
    assert out.features["values"].indices.dtype == np.int32


def test_walk_declines_on_a_record_with_another_layout() -> None:
    """Record 1 has its label before its features: the walk must hand over, not misread."""
    a = framed(GOLDEN_FEATURE_LABEL)
    feat, lab = GOLDEN_FEATURE_LABEL[:20], GOLDEN_FEATURE_LABEL[20:]
    b = framed(lab + feat)
    out = rp.decode(a + b)
    assert out.features["values"].tolist() == [[1.0], [1.0]]
    assert out.label["values"].tolist() == [4.0, 4.0]


def test_parse_record_matches_protobuf_on_sdk_fixtures() -> None:
    from sm_payloads._proto import record_pb2

    for entry_ in FILES:
        data = (GOLDEN / entry_["file"]).read_bytes()
        for f in iter_frames(data):
            ours = parse_record(f.payload, 0, len(f.payload))
            theirs = record_pb2.Record.FromString(bytes(f.payload))
            for map_name in ("features", "label"):
                got = getattr(ours, map_name)
                ref = getattr(theirs, map_name)
                assert set(got) == set(ref)
                for k, t in got.items():
                    which = ref[k].WhichOneof("value")
                    rt = getattr(ref[k], which)
                    assert np.array_equal(t.values, np.array(rt.values, dtype=t.values.dtype), equal_nan=True)
                    assert (t.keys.tolist() if t.keys is not None else []) == list(rt.keys)


def test_copy_false_returns_views_and_copy_true_owns() -> None:
    X = np.arange(12, dtype=np.float32).reshape(3, 4)
    data = bytearray(rp.encode(smp.from_dense(X)))
    view = rp.decode(data).features["values"]
    owned = rp.decode(data, copy=True).features["values"]
    assert not view.flags.owndata and not view.flags.writeable
    assert owned.flags.c_contiguous
    data[8 + 16 + 3] ^= 0xFF  # the top byte of the first value (payload offset 16)
    assert view[0, 0] != 0.0 and owned[0, 0] == 0.0


def test_regression_dense_record_in_sparse_column_must_fill_the_shape() -> None:
    """Found by fuzzing: scipy's own ValueError escaped the decoder."""
    data = bytes.fromhex(
        "0a23d7ce1a0000000a180a0676616c756573120e120c0a040000803f1201011a01030000"
        "0a23d7ce1b0000000a190a0676616c756573120f120d0a0800000040000040401a010300"
    )
    with pytest.raises(smp.DecodeError, match="dense record that does not fit the sparse shape") as e:
        rp.decode(data)
    assert e.value.record_index == 1


def test_regression_framing_error_names_the_right_record() -> None:
    data = rp.encode(smp.from_dense(np.ones((2, 4), np.float32)))[:-3]
    with pytest.raises(smp.DecodeError) as e:
        rp.decode(data)
    assert (e.value.offset, e.value.record_index) == (40, 1)


def test_regression_stream_buffer_grows_geometrically_not_by_batch() -> None:
    """Review finding: a stream with a few big records made the reader allocate
    batch_size x record size (3 GB for 1.5 MB of input)."""
    import tracemalloc

    data = rp.encode(smp.from_dense(np.ones((5, 75_000), np.float32)))
    tracemalloc.start()
    try:
        out = list(rp.iter_decode(io.BytesIO(data), batch_size=10_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [len(b) for b in out] == [5]
    assert peak < 8 * len(data)


def test_payload_magic_breaks_the_chain_but_not_the_prefix() -> None:
    """Review finding: every aligned magic inside a payload rescanned all later candidates
    (quadratic; timed in benchmarks, not here). The prefix must still be exact."""
    from sm_payloads.recordio import whole_records_prefix

    framing = write_records([MAGIC_BYTES * 2, b"ab", MAGIC_BYTES] * 500, escape=False)
    assert whole_records_prefix(memoryview(framing)) == len(framing)
    cut = len(framing) - 5
    assert whole_records_prefix(memoryview(framing[:cut])) == len(framing) - 12  # last frame cut
    # SDK-style plain frames whose records hold the magic at aligned offsets.
    batch = smp.from_dense(np.tile(MAGIC_ROW, (1500, 1)))
    data = rp.encode(batch, sdk_compatible=True)
    assert sum(f.pieces for f in iter_frames(data)) == 1500
    with mock.patch.object(rp, "_FIRST_READ", 256), mock.patch.object(rp, "_SLACK", 16):
        got = list(rp.iter_decode(io.BytesIO(data), batch_size=7))
    assert_batches_equal(smp.RecordBatch.concat(got), rp.decode(data))


def test_non_blocking_stream_without_data_is_an_error_not_the_end() -> None:
    class Stalled(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data, self.calls = data, 0

        def readable(self) -> bool:
            return True

        def readinto(self, out: memoryview) -> int | None:  # type: ignore[override]
            self.calls += 1
            if self.calls == 2:
                return None
            n = min(len(out), len(self.data))
            out[:n], self.data = self.data[:n], self.data[n:]
            return n

    data = rp.encode(smp.from_dense(np.ones((10, 3), np.float32)))
    with pytest.raises(BlockingIOError):
        list(rp.iter_decode(Stalled(data), batch_size=2))


@given(
    st.lists(st.one_of(st.integers(0, 127), st.integers(128, 16383), st.integers(0, 2**64 - 1)), max_size=40),
    st.data(),
)
def test_vectorized_varints_match_the_reference(values: list[int], data: st.DataObject) -> None:
    """_wire's one/two-byte fast paths and general path against a plain-Python varint codec."""
    from sm_payloads.formats import _wire

    def ref(v: int) -> bytes:
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
        return bytes(out)

    arr = np.array(values, dtype=np.uint64)
    flat, lens = _wire.varint_encode(arr)
    assert flat.tobytes() == b"".join(ref(v) for v in values)
    assert lens.tolist() == [len(ref(v)) for v in values]
    # Split into regions and decode, with and without the expected counts.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=4)))
    counts = np.diff([0, *cuts, len(values)]).astype(np.int64)
    bounds = np.concatenate([[0], np.cumsum(lens)])[np.concatenate([[0], np.cumsum(counts)])]
    region_lengths = np.diff(bounds).astype(np.int64)
    for given_counts in (None, counts):
        got, got_counts = _wire.decode_varint_stream(flat, region_lengths, given_counts)
        assert got.tolist() == values and got_counts.tolist() == counts.tolist()
    if len(values) and counts.size > 1 and counts[0] > 0:
        wrong = counts.copy()
        wrong[0] -= 1
        wrong[1] += 1
        with pytest.raises(_wire.Decline):
            _wire.decode_varint_stream(flat, region_lengths, wrong)


def test_sparse_shape_wider_than_int64_is_a_decode_error() -> None:
    # Found by fuzzing: Record{features{"values": float32_tensor{values=[1.0], keys=[0],
    # shape=[2**64-1]}}} made scipy raise OverflowError.
    body = bytes.fromhex(
        "0a23d7ce230000000a210a0676616c756573121712150a040000803f1201001a0affffffffffffffffff0100"
    )
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/x-recordio-protobuf")
    assert (info.value.offset, info.value.record_index) == (0, 0)
    assert info.value.reason == (
        "features['values']: sparse shape [18446744073709551615] has 18446744073709551615 elements, "
        "more than 2**63 - 1"
    )


def test_dense_shape_of_more_dimensions_than_numpy_holds_is_a_decode_error() -> None:
    # Found by fuzzing (docs/reliability.md, finding 4): numpy's reshape raised ValueError
    # ("Maximum allowed dimension exceeded"). Record{features{"v": float32_tensor{shape=[1 x 63, 0]}}}.
    body = b"\n#\xd7\xceK\x00\x00\x00\nI\n\x01v\x12D\x12B\x1a@" + b"\x01" * 63 + b"\x00\x00"
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/x-recordio-protobuf")
    assert (info.value.reason, info.value.record_index, info.value.offset) == (
        "features['v']: shape of 64 dimensions (numpy allows 63 per record)",
        0,
        0,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # Record{features{"000000": float32_tensor{shape=[48, 48, 0, 48 x 13]}}}: no values, and a
        # shape whose non-zero dimensions multiply past what numpy can describe.
        (
            b"\n#\xd7\xce \x00\x00\x00\n\x1e\n\x06000000\x12\x14\x12\x12\x1a\x1000\x000000000000000",
            "features['000000']: shape [48, 48, 0, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48] "
            "is too large for an array of 1 records",
        ),
        (
            b"\n#\xd7\xce\x1b\x00\x00\x00\n\x19\n\x0600000000:\r00000000000000"
            b"\n#\xd7\xce\x1f\x00\x00\x00\n\x1d\n\x06000000\x12\x13:\x11\x1a\x0f000\x00000000000000",
            "features['000000']: shape [48, 48, 48, 0, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48] "
            "is too large for an array of 2 records",
        ),
    ],
)
def test_dense_shape_numpy_cannot_hold_is_a_decode_error(body: bytes, reason: str) -> None:
    # Found by fuzzing: numpy's reshape raised ValueError ("array is too big").
    with pytest.raises(smp.DecodeError) as info:
        smp.decode_request(body, "application/x-recordio-protobuf")
    assert (info.value.reason, info.value.record_index, info.value.offset) == (reason, 0, 0)
    with pytest.raises(smp.DecodeError):
        list(rp.iter_decode(body, batch_size=1))
