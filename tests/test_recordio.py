"""The RecordIO framing: dmlc multi-part records, header checks, streams, SDK mode."""

from __future__ import annotations

import contextlib
import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads.recordio import MAGIC_BYTES, iter_frames, iter_records, read_records, write_records

M = MAGIC_BYTES


def header(cflag: int, length: int) -> bytes:
    return M + struct.pack("<I", cflag << 29 | length)


def test_plain_frames_and_padding() -> None:
    data = write_records([b"", b"a", b"ab", b"abc", b"abcd"])
    assert data == (
        header(0, 0)
        + header(0, 1)
        + b"a\0\0\0"
        + header(0, 2)
        + b"ab\0\0"
        + header(0, 3)
        + b"abc\0"
        + header(0, 4)
        + b"abcd"
    )
    assert read_records(data) == [b"", b"a", b"ab", b"abc", b"abcd"]


def test_writer_splits_on_aligned_magic_like_dmlc() -> None:
    payload = b"abcd" + M + b"efgh" + M + b"ij"
    data = write_records([payload])
    assert data == (header(1, 4) + b"abcd" + header(2, 4) + b"efgh" + header(3, 2) + b"ij\0\0")
    assert read_records(data) == [payload]
    assert read_records(data, join_magic=False) == [b"abcdefghij"]
    # Unaligned magic is not escaped; escape=False writes the SDK's plain frame.
    unaligned = b"x" + M + b"yyy"
    assert write_records([unaligned]) == header(0, 8) + unaligned
    assert write_records([payload], escape=False) == header(0, 18) + payload + b"\0\0"


def test_magic_at_start_and_end() -> None:
    for payload in (M, M + M, M + b"ab", b"abcd" + M):
        assert read_records(write_records([payload])) == [payload]
        assert read_records(io.BytesIO(write_records([payload]))) == [payload]


@pytest.mark.parametrize(
    ("data", "reason", "offset", "index"),
    [
        (b"\x00" * 8, "bad magic 0x00000000 at byte 0", 0, 0),
        (header(0, 1) + b"a\0\0\0" + b"\x0a\x23", "truncated frame header (2 of 8 bytes) at byte 12", 12, 1),
        (header(0, 5) + b"abc", "frame length 5 exceeds the 3 bytes left", 0, 0),
        (header(0, 3) + b"abc", "last frame lacks its padding", 0, 0),
        (header(2, 4) + b"abcd", "continuation frame (cflag 2) without a starting frame", 0, 0),
        (header(1, 4) + b"abcd", "multi-part record ends before its last piece", 0, 0),
        (header(1, 4) + b"abcd" + header(0, 4) + b"efgh", "cflag 0 inside a multi-part record", 12, 0),
    ],
)
def test_header_errors_name_the_byte_and_record(data: bytes, reason: str, offset: int, index: int) -> None:
    for source in (data, io.BytesIO(data)):
        with pytest.raises(smp.DecodeError) as e:
            read_records(source)
        assert reason.split(" at byte")[0] in str(e.value)
        assert e.value.offset == offset
        assert e.value.record_index == index
        assert e.value.content_type == "application/x-recordio"


def test_huge_length_word_allocates_nothing() -> None:
    data = header(0, (1 << 29) - 1) + b"abcd"
    for source in (data, io.BytesIO(data)):
        with pytest.raises(smp.DecodeError, match="exceeds the 4 bytes left"):
            read_records(source)


def test_writer_refuses_records_beyond_29_bits() -> None:
    class Big:
        def __len__(self) -> int:
            return 1 << 29

    with pytest.raises(smp.EncodeError, match="exceeds the RecordIO limit"):
        write_records([Big()])  # type: ignore[list-item]


def test_empty_input_has_no_records() -> None:
    assert read_records(b"") == []
    assert read_records(io.BytesIO(b"")) == []


def test_buffer_frames_are_zero_copy_views() -> None:
    data = bytearray(write_records([b"abcd"]))
    (payload,) = list(iter_records(data))
    data[8] = ord("z")
    assert bytes(payload) == b"zbcd"


def test_explain() -> None:
    text = smp.recordio.explain(write_records([b"abc", b"abcd" + M]))
    assert text.splitlines() == [
        "record 0 at byte 0: 3 bytes, 1 piece, pad 1: 616263",
        "record 1 at byte 12: 8 bytes, 2 pieces, pad -: 616263640a23d7ce",
    ]


payloads = st.lists(
    st.lists(st.sampled_from([b"a", b"bc", b"\0\0\0\0", M, b"xyz"]), max_size=6).map(b"".join), max_size=6
)


@given(payloads, st.booleans())
def test_round_trip_from_buffer_and_stream(items: list[bytes], escape: bool) -> None:
    data = write_records(items, escape=escape)
    assert read_records(data) == items
    assert read_records(io.BytesIO(data)) == items
    offsets = [f.offset for f in iter_frames(data)]
    assert offsets == [f.offset for f in iter_frames(io.BytesIO(data))]


@given(payloads.filter(bool), st.data())
def test_truncation_is_always_an_error_at_the_last_frame(items: list[bytes], data: st.DataObject) -> None:
    full = write_records(items)
    frame_starts = [f.offset for f in iter_frames(full)] + [len(full)]
    cut = data.draw(st.integers(1, len(full) - 1))
    if cut in frame_starts:
        assert read_records(full[:cut]) == items[: frame_starts.index(cut)]
        return
    with pytest.raises(smp.DecodeError) as e:
        read_records(full[:cut])
    last = max(s for s in frame_starts if s < cut)
    assert e.value.offset is not None and e.value.offset >= last


@given(st.binary(max_size=64))
def test_garbage_gives_records_or_decode_error(blob: bytes) -> None:
    for source in (blob, io.BytesIO(blob)):
        with contextlib.suppress(smp.DecodeError):
            read_records(source)


def test_regression_stream_short_reads_are_not_truncation() -> None:
    """Found by the batch helper: a single read() per frame took a short read for the end."""

    class Dribble(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def readable(self) -> bool:
            return True

        def readinto(self, out: memoryview) -> int:  # type: ignore[override]
            n = min(len(out), 3, len(self.data))
            out[:n], self.data = self.data[:n], self.data[n:]
            return n

    data = write_records([b"abcdefgh" * 5, b"x", b""])
    assert [bytes(p) for p in iter_records(Dribble(data))] == [b"abcdefgh" * 5, b"x", b""]
