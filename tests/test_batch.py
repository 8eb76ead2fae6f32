"""smp.batch: SplitType, BatchStrategy under MaxPayloadInMB, AssembleWith, recommendations.

Expected bytes are written out by hand; sources: docs/batch-transform.md, "What SageMaker
does" (SageMaker's semantics) and "Recommendations" (the table of the Developer Guide page
"Common Data Formats for Inference"), the SDK's local mode (sagemaker/local/data.py) as an
oracle for the records of Line and RecordIO splits.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sm_payloads as smp
from sm_payloads import batch
from sm_payloads.formats import csv as csv_codec
from sm_payloads.formats import jsonlines as jsonlines_codec
from sm_payloads.recordio import MAGIC_BYTES, read_records, write_records

M = MAGIC_BYTES
MB = 2**20


def header(cflag: int, length: int) -> bytes:
    return M + struct.pack("<I", cflag << 29 | length)


class ShortReads(io.BytesIO):
    """A stream that hands out at most `step` bytes per read (a socket, a pipe)."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        super().__init__(data)
        self._step = step
        self.most_read = 0  # the furthest byte handed out

    def read(self, n: int | None = -1) -> bytes:
        take = self._step if n is None or n < 0 else min(n, self._step)
        chunk = super().read(take)
        self.most_read = self.tell()
        return chunk

    def readinto(self, b: Any) -> int:  # pragma: no cover - split never calls it
        raise AssertionError("split reads with read()")


def sources(data: bytes) -> list[Any]:
    """The same input as every kind of source split accepts."""
    return [data, bytearray(data), memoryview(data), io.BytesIO(data), ShortReads(data), ShortReads(data, 1)]


# --------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------

LINE_CASES = [
    # (input, records): every record keeps its terminator; only \n ends a line.
    (b"", []),
    (b"\n", [b"\n"]),
    (b"a", [b"a"]),
    (b"1,2\n3,4\n", [b"1,2\n", b"3,4\n"]),
    (b"1,2\n3,4", [b"1,2\n", b"3,4"]),  # last line without newline
    (b"1,2\r\n3,4\r\n", [b"1,2\r\n", b"3,4\r\n"]),  # CRLF stays whole
    (b"a\n\nb\n", [b"a\n", b"\n", b"b\n"]),  # a blank line is a record
    (b"a\rb\n", [b"a\rb\n"]),  # a lone CR does not end a line
    (b"\n\n\n", [b"\n", b"\n", b"\n"]),
    ('{"x": "é"}\n'.encode(), ['{"x": "é"}\n'.encode()]),
]


@pytest.mark.parametrize(("data", "expected"), LINE_CASES)
def test_split_line(data: bytes, expected: list[bytes]) -> None:
    for source in sources(data):
        records = list(batch.split(source, "Line"))
        assert records == expected
        assert all(type(r) is bytes for r in records)
    assert b"".join(expected) == data


def test_split_line_long_lines_across_chunks() -> None:
    data = b"x" * 200_000 + b"\n" + b"y" * 70_000 + b"\r\n" + b"z" * 5
    expected = [b"x" * 200_000 + b"\n", b"y" * 70_000 + b"\r\n", b"z" * 5]
    for source in (data, memoryview(data), io.BytesIO(data), ShortReads(data, 40_000)):
        assert list(batch.split(source, "Line")) == expected


@pytest.mark.parametrize("data", [b"", b"abc", b"a\nb\n", b"\x00\x0a\xff"])
def test_split_none_is_the_whole_input(data: bytes) -> None:
    for source in sources(data):
        assert list(batch.split(source, "None")) == [data]


def test_split_recordio_keeps_framing_and_padding() -> None:
    data = header(0, 1) + b"a\0\0\0" + header(0, 4) + b"bcde" + header(0, 0) + header(0, 3) + b"fgh\0"
    expected = [header(0, 1) + b"a\0\0\0", header(0, 4) + b"bcde", header(0, 0), header(0, 3) + b"fgh\0"]
    assert data == write_records([b"a", b"bcde", b"", b"fgh"])
    for source in sources(data):
        assert list(batch.split(source, "RecordIO")) == expected


def test_split_recordio_keeps_multi_part_records_whole() -> None:
    payload = b"abcd" + M + b"efgh" + M + b"ij"
    multi = header(1, 4) + b"abcd" + header(2, 4) + b"efgh" + header(3, 2) + b"ij\0\0"
    data = header(0, 2) + b"xy\0\0" + multi + header(0, 1) + b"z\0\0\0"
    assert write_records([b"xy", payload, b"z"]) == data
    expected = [header(0, 2) + b"xy\0\0", multi, header(0, 1) + b"z\0\0\0"]
    for source in sources(data):
        records = list(batch.split(source, "RecordIO"))
        assert records == expected
        assert read_records(records[1]) == [payload]
    # A hand-made split at an unaligned point is kept byte for byte (not re-framed).
    odd = header(1, 3) + b"abc\0" + header(3, 1) + b"d\0\0\0"
    for source in sources(odd):
        assert list(batch.split(source, "RecordIO")) == [odd]


def test_split_recordio_keeps_nonzero_padding_bytes() -> None:
    data = header(0, 1) + b"aXYZ" + header(0, 2) + b"bcQQ"
    for source in sources(data):
        assert list(batch.split(source, "RecordIO")) == [header(0, 1) + b"aXYZ", header(0, 2) + b"bcQQ"]


@pytest.mark.parametrize(
    ("data", "reason", "offset", "index"),
    [
        (b"1,2,3\n4,5\n", "bad magic 0x2c322c31, expected 0xced7230a", 0, 0),
        (header(0, 1) + b"a\0\0\0" + b"\x0a\x23", "truncated frame header (2 of 8 bytes)", 12, 1),
        (header(0, 1) + b"a\0\0\0" + header(0, 5) + b"abc", "frame length 5 exceeds the 3 bytes left", 12, 1),
        (header(0, 3) + b"abc", "last frame lacks its padding", 0, 0),
        (header(2, 4) + b"abcd", "continuation frame (cflag 2) without a starting frame", 0, 0),
        (header(1, 4) + b"abcd", "multi-part record ends before its last piece", 0, 0),
        (
            header(1, 4) + b"abcd" + header(0, 4) + b"efgh",
            "cflag 0 inside a multi-part record, expected 2 or 3",
            12,
            0,
        ),
    ],
)
def test_split_recordio_errors(data: bytes, reason: str, offset: int, index: int) -> None:
    for source in sources(data):
        records: list[bytes] = []
        with pytest.raises(smp.DecodeError) as e:
            records.extend(batch.split(source, "RecordIO"))
        assert e.value.reason == reason
        assert e.value.offset == offset
        assert e.value.record_index == index
        assert e.value.content_type == "application/x-recordio"
        assert len(records) == index  # the good records before it were yielded


def test_split_recordio_huge_length_word_allocates_nothing() -> None:
    data = header(0, (1 << 29) - 1) + b"abcd"
    with pytest.raises(smp.DecodeError, match="exceeds the 4 bytes left"):
        list(batch.split(io.BytesIO(data), "RecordIO"))


def test_split_from_a_stream_reads_one_record_ahead_at_most() -> None:
    line = b"x" * 100_000 + b"\n"
    stream = ShortReads(line * 50, 1 << 16)
    lines = batch.split(stream, "Line")
    assert next(lines) == line
    assert stream.most_read < 2 * len(line) + (1 << 16)
    frames = write_records([b"y" * 100_000] * 50)
    stream = ShortReads(frames, 1 << 16)
    records = batch.split(stream, "RecordIO")
    assert len(next(records)) == 100_008
    assert stream.most_read == 100_008  # exactly the first record


def test_split_rejects_unknown_split_types() -> None:
    for bad in ("TFRecord", "line", "", None):
        with pytest.raises(ValueError, match="split_type must be one of None, Line, RecordIO"):
            batch.split(b"a", bad)  # type: ignore[arg-type]


def test_split_rejects_non_blocking_streams() -> None:
    class NoData(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> None:
            return None

    for split_type in ("Line", "RecordIO", "None"):
        with pytest.raises(BlockingIOError):
            list(batch.split(NoData(), split_type))  # type: ignore[arg-type]


def _sdk_local_data() -> Any:
    return pytest.importorskip("sagemaker.local.data")


def test_split_line_matches_sdk_local_mode(tmp_path: Path) -> None:
    """The SDK's local mode sends each line with its newline (text mode, LF files)."""
    data = '1,2,3\n4,5,6\n\n{"a": "é"}\nlast'.encode()
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    sdk = _sdk_local_data()
    sdk_lines = [line.encode() for line in sdk.LineSplitter().split(str(path))]
    assert list(batch.split(data, "Line")) == sdk_lines
    single = [line.encode() for line in sdk.SingleRecordStrategy(sdk.LineSplitter()).pad(str(path), 6)]
    assert list(batch.mini_batches(batch.split(data, "Line"), "SingleRecord")) == single


def test_split_recordio_payloads_match_sdk_local_mode(tmp_path: Path) -> None:
    """The SDK's local mode yields the payloads (and drops the framing); ours keep it."""
    payloads = [b"a", b"bcde", b"", b"x" * 1001]
    data = write_records(payloads)
    path = tmp_path / "input.rec"
    path.write_bytes(data)
    sdk = _sdk_local_data()
    sdk_payloads = list(sdk.RecordIOSplitter().split(str(path)))
    ours = [read_records(r)[0] for r in batch.split(data, "RecordIO")]
    assert ours == sdk_payloads == payloads


# --------------------------------------------------------------------------------------
# mini_batches
# --------------------------------------------------------------------------------------


def test_single_record_one_body_per_record() -> None:
    records = [b"1,2\n", b"3,4\n", b"5,6"]
    assert list(batch.mini_batches(records, "SingleRecord")) == records
    assert list(batch.mini_batches(records, "SINGLE_RECORD")) == records
    rio = [write_records([b"a"]), write_records([b"bc"])]
    assert list(batch.mini_batches(rio, "SingleRecord", split_type="RecordIO")) == rio


def test_multi_record_joins_lines_and_adds_missing_newlines() -> None:
    records = [b"1,2\n", b"3,4", b"5,6\r\n", b"7,8"]
    assert list(batch.mini_batches(records, "MultiRecord")) == [b"1,2\n3,4\n5,6\r\n7,8"]
    assert list(batch.mini_batches(records, "MULTI_RECORD")) == [b"1,2\n3,4\n5,6\r\n7,8"]
    assert list(batch.mini_batches([], "MultiRecord")) == []
    assert list(batch.mini_batches([b""], "MultiRecord")) == [b""]
    assert list(batch.mini_batches([b"", b""], "MultiRecord")) == [b"\n"]
    assert list(batch.mini_batches([bytearray(b"a"), memoryview(b"b\n")], "MultiRecord")) == [b"a\nb\n"]


def test_multi_record_concatenates_recordio_records() -> None:
    rio = [write_records([b"a"]), write_records([b"abcd" + M + b"e"]), write_records([b""])]
    bodies = list(batch.mini_batches(rio, "MultiRecord", split_type="RecordIO"))
    assert bodies == [b"".join(rio)]
    assert read_records(bodies[0]) == [b"a", b"abcd" + M + b"e", b""]


def test_split_none_never_merges_objects() -> None:
    """docs/batch-transform.md, "What SageMaker does": files are never merged into one mini-batch."""
    objects = [b"a,b\n", b"c,d\n"]
    strategies: tuple[batch.BatchStrategy, ...] = ("SingleRecord", "MultiRecord")
    for strategy in strategies:
        assert list(batch.mini_batches(objects, strategy, split_type="None")) == objects


def test_limit_boundary_exactly_the_limit_fits() -> None:
    half = b"x" * (MB // 2 - 1) + b"\n"
    assert len(half + half) == MB
    assert list(batch.mini_batches([half, half], "MultiRecord", 1)) == [half + half]
    # One byte more starts a new body.
    longer = b"x" * (MB // 2) + b"\n"
    assert list(batch.mini_batches([half, longer], "MultiRecord", 1)) == [half, longer]
    # A record of exactly the limit is allowed alone.
    whole = b"y" * (MB - 1) + b"\n"
    assert list(batch.mini_batches([half, whole, half], "MultiRecord", 1)) == [half, whole, half]


def test_limit_counts_the_added_newline() -> None:
    a = b"a" * 9  # no newline: joining it to the next record adds one byte
    assert list(batch.mini_batches([a, b"b"], "MultiRecord", max_payload_bytes=11)) == [a + b"\nb"]
    assert list(batch.mini_batches([a, b"bc"], "MultiRecord", max_payload_bytes=11)) == [a, b"bc"]
    assert list(batch.mini_batches([a, b"bc"], "MultiRecord", max_payload_bytes=12)) == [a + b"\nbc"]


def test_limit_boundary_recordio() -> None:
    r1 = write_records([b"a" * (MB // 2 - 8)])
    r2 = write_records([b"b" * (MB // 2 - 8)])
    assert len(r1) + len(r2) == MB
    bodies = list(batch.mini_batches([r1, r2, r1], "MultiRecord", 1, "RecordIO"))
    assert bodies == [r1 + r2, r1]
    r3 = write_records([b"c" * (MB // 2 - 7)])  # 4 bytes more with its padding
    assert list(batch.mini_batches([r1, r3], "MultiRecord", 1, "RecordIO")) == [r1, r3]


def test_many_small_records_fill_bodies_in_order() -> None:
    records = [b"%d\n" % i for i in range(1000)]  # 2890 bytes
    bodies = list(batch.mini_batches(records, "MultiRecord", max_payload_bytes=100))
    assert b"".join(bodies) == b"".join(records)
    assert all(len(b) <= 100 for b in bodies)
    # Greedy: no body could have taken the next body's first record.
    firsts = [b.split(b"\n", 1)[0] + b"\n" for b in bodies[1:]]
    assert all(len(b) + len(f) > 100 for b, f in zip(bodies, firsts, strict=False))
    assert [len(b) for b in bodies[:3]] == [
        98,
        99,
        97,
    ]  # 10 two-byte + 26 three-byte records; 33; 31 + one four-byte


def test_record_over_the_limit() -> None:
    big = b"z" * (MB + 1)
    records = [b"a\n", b"b\n", big, b"c\n"]
    got: list[bytes] = []
    with pytest.raises(smp.PayloadTooLargeError) as e:
        got.extend(batch.mini_batches(records, "MultiRecord", 1))
    assert str(e.value) == "record 2 of 1048577 bytes exceeds the limit of 1048576 bytes"
    assert (e.value.size, e.value.limit, e.value.what) == (MB + 1, MB, "record 2")
    assert e.value.status_hint == 413
    assert got == []  # the pending body is not sent: the input object fails as a whole
    got = []
    with pytest.raises(smp.PayloadTooLargeError, match=r"^record 2 of 1048577 bytes"):
        got.extend(batch.mini_batches(records, "SingleRecord", 1))
    assert got == [b"a\n", b"b\n"]
    with pytest.raises(smp.PayloadTooLargeError) as e:
        list(batch.mini_batches([b"x" * 6 * MB, b"x" * (6 * MB + 1)], "SingleRecord", split_type="None"))
    assert str(e.value) == "record 1 of 6291457 bytes exceeds the limit of 6291456 bytes"


def test_max_payload_mb_zero_means_no_limit() -> None:
    """MaxPayloadInMB=0: HTTP chunked streaming, no size limit (docs/batch-transform.md)."""
    big = b"z" * (7 * MB) + b"\n"
    assert list(batch.mini_batches([big, b"a\n"], "MultiRecord", 0)) == [big + b"a\n"]
    assert list(batch.mini_batches([big, b"a\n"], "SingleRecord", 0)) == [big, b"a\n"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "Multi"}, "strategy must be SingleRecord or MultiRecord, not 'Multi'"),
        ({"max_payload_mb": 101}, "max_payload_mb must be between 0 and 100, not 101"),
        ({"max_payload_mb": -1}, "max_payload_mb must be between 0 and 100, not -1"),
        ({"max_payload_mb": 6.0}, "max_payload_mb must be an integer, not 6.0"),
        ({"max_payload_mb": True}, "max_payload_mb must be an integer, not True"),
        ({"split_type": "TFRecord"}, "split_type must be one of None, Line, RecordIO, not 'TFRecord'"),
        ({"max_payload_bytes": 0}, "max_payload_bytes must be a positive integer, not 0"),
    ],
)
def test_mini_batches_argument_errors(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"records": [b"a"], "strategy": "MultiRecord", **kwargs}
    with pytest.raises(ValueError) as e:
        batch.mini_batches(**args)
    assert str(e.value) == message
    assert not isinstance(e.value, smp.PayloadError)


@pytest.mark.parametrize(
    ("item", "reason", "offset"),
    [
        (b"abc", "truncated frame header (3 of 8 bytes)", 0),  # a payload, not a framed record
        (b"", "empty record: expected one framed RecordIO record", None),
        (
            header(0, 1) + b"a\0\0\0" + header(0, 0),
            "more than one RecordIO record in one item; pass one framed record per item",
            12,
        ),
        (header(0, 3) + b"abc", "last frame lacks its padding", 0),
    ],
)
def test_mini_batches_checks_recordio_items(item: bytes, reason: str, offset: int | None) -> None:
    good = write_records([b"ok"])
    with pytest.raises(smp.DecodeError) as e:
        list(batch.mini_batches([good, item], "MultiRecord", split_type="RecordIO"))
    assert e.value.reason == reason
    assert e.value.offset == offset
    assert e.value.record_index == 1


# --------------------------------------------------------------------------------------
# assemble
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outputs", "assemble_with", "expected"),
    [
        ([b"1\n2\n", b"3\n"], "None", b"1\n2\n3\n"),
        ([b"1", b"2"], "None", b"12"),  # AssembleWith=None glues outputs without newlines
        ([], "None", b""),
        ([b"1", b"2"], "Line", b"1\n2\n"),
        ([b"1\n", b"2\n"], "Line", b"1\n2\n"),  # no blank line added
        ([b"1\r\n", b"2"], "Line", b"1\r\n2\n"),
        ([b"", b"a"], "Line", b"\na\n"),  # an empty output is an empty line
        ([b"1\n\n"], "Line", b"1\n\n"),  # trailing blank lines are the output's content
        ([b'{"a": 1}', b'{"a": 2}'], "Line", b'{"a": 1}\n{"a": 2}\n'),
        ([bytearray(b"x"), memoryview(b"y")], "Line", b"x\ny\n"),
        ([], "Line", b""),
    ],
)
def test_assemble(outputs: list[bytes], assemble_with: str, expected: bytes) -> None:
    assert batch.assemble(iter(outputs), assemble_with) == expected  # type: ignore[arg-type]


def test_assemble_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="assemble_with must be None or Line, not 'line'"):
        batch.assemble([b"a"], "line")  # type: ignore[arg-type]


def test_assemble_line_versus_sdk_local_mode() -> None:
    """The SDK's local mode writes b"\\n" after every response, even one ending in a newline
    (entities.py); ours ends every output with exactly one newline (docs/batch-transform.md,
    "assemble"), so it adds none there."""
    assert batch.assemble([b"1\n", b"2"], "Line") == b"1\n2\n"


# --------------------------------------------------------------------------------------
# Whole pipeline: every combination, hand-checked
# --------------------------------------------------------------------------------------

CSV = b"1,2\n3,4\n5,6\n"
RIO = write_records([b"a", b"bcde", b"fg"])


@pytest.mark.parametrize(
    ("data", "split_type", "strategy", "limit", "assemble_with", "bodies", "out"),
    [
        (CSV, "None", "SingleRecord", None, "None", [CSV], CSV),
        (CSV, "None", "MultiRecord", None, "Line", [CSV], CSV),
        (CSV, "Line", "SingleRecord", None, "Line", [b"1,2\n", b"3,4\n", b"5,6\n"], CSV),
        (CSV, "Line", "SingleRecord", None, "None", [b"1,2\n", b"3,4\n", b"5,6\n"], CSV),
        (CSV, "Line", "MultiRecord", None, "Line", [CSV], CSV),
        (CSV, "Line", "MultiRecord", 8, "Line", [b"1,2\n3,4\n", b"5,6\n"], CSV),
        (CSV, "Line", "MultiRecord", 7, "None", [b"1,2\n", b"3,4\n", b"5,6\n"], CSV),
        (b"1,2\n3,4", "Line", "MultiRecord", 7, "Line", [b"1,2\n3,4"], b"1,2\n3,4\n"),
        (b"1,2\n3,4", "Line", "MultiRecord", 6, "Line", [b"1,2\n", b"3,4"], b"1,2\n3,4\n"),
        (b"1,2\n3,4", "Line", "MultiRecord", 6, "None", [b"1,2\n", b"3,4"], b"1,2\n3,4"),
        (RIO, "RecordIO", "SingleRecord", None, "None", [RIO[:12], RIO[12:24], RIO[24:]], RIO),
        (RIO, "RecordIO", "MultiRecord", None, "None", [RIO], RIO),
        (RIO, "RecordIO", "MultiRecord", 24, "None", [RIO[:24], RIO[24:]], RIO),
        (RIO, "RecordIO", "MultiRecord", 23, "None", [RIO[:12], RIO[12:24], RIO[24:]], RIO),
        (RIO, "None", "MultiRecord", None, "None", [RIO], RIO),
    ],
)
def test_pipeline_combinations(
    data: bytes,
    split_type: str,
    strategy: str,
    limit: int | None,
    assemble_with: str,
    bodies: list[bytes],
    out: bytes,
) -> None:
    for source in (data, io.BytesIO(data), ShortReads(data, 2)):
        records = batch.split(source, split_type)  # type: ignore[arg-type]
        got = list(batch.mini_batches(records, strategy, split_type=split_type, max_payload_bytes=limit))  # type: ignore[arg-type]
        assert got == bodies
        assert batch.assemble(got, assemble_with) == out  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

line_texts = st.lists(
    st.binary(max_size=12)
    .map(lambda b: b.replace(b"\n", b""))
    .flatmap(lambda b: st.sampled_from([b + b"\n", b + b"\r\n"])),
    max_size=30,
)


@given(
    lines=line_texts,
    tail=st.binary(max_size=5).map(lambda b: b.replace(b"\n", b"")),
    limit=st.integers(1, 80),
    step=st.integers(1, 9),
)
def test_property_line_round_trip(lines: list[bytes], tail: bytes, limit: int, step: int) -> None:
    data = b"".join(lines)
    records = list(batch.split(ShortReads(data + tail, step), "Line"))
    assert records == ([*lines, tail] if tail else lines)
    fits = all(len(r) <= limit for r in records)
    try:
        bodies = list(batch.mini_batches(iter(records), "MultiRecord", max_payload_bytes=limit))
    except smp.PayloadTooLargeError as e:
        assert not fits
        assert e.size == len(records[int(e.what.split()[1])]) > limit
        return
    assert fits
    assert all(len(b) <= limit for b in bodies)
    # Identity outputs: Line assembly gives back an input that ends with a newline.
    assert batch.assemble(bodies, "Line") == (data + tail + b"\n" if tail else data)
    assert batch.assemble(bodies, "None") == data + tail
    assert [r for b in bodies for r in batch.split(b, "Line")] == records


@given(
    payloads=st.lists(
        st.one_of(
            st.binary(max_size=20),
            st.lists(st.sampled_from([b"abcd", M, b"xy"]), max_size=5).map(b"".join),
        ),
        max_size=12,
    ),
    limit=st.integers(8, 120),
    use_stream=st.booleans(),
)
def test_property_recordio_round_trip(payloads: list[bytes], limit: int, use_stream: bool) -> None:
    data = write_records(payloads)
    source: Any = ShortReads(data, 5) if use_stream else data
    records = list(batch.split(source, "RecordIO"))
    assert len(records) == len(payloads)
    assert b"".join(records) == data  # the records are the input's own slices
    assert [read_records(r) for r in records] == [[p] for p in payloads]
    if any(len(r) > limit for r in records):
        with pytest.raises(smp.PayloadTooLargeError):
            list(batch.mini_batches(records, "MultiRecord", split_type="RecordIO", max_payload_bytes=limit))
        return
    bodies = list(batch.mini_batches(records, "MultiRecord", split_type="RecordIO", max_payload_bytes=limit))
    assert batch.assemble(bodies, "None") == data
    got: list[bytes] = []
    for body in bodies:
        assert len(body) <= limit
        got.extend(bytes(p) for p in smp.recordio.iter_records(body))  # every body is valid RecordIO
    assert got == payloads


def _csv_line(row: np.ndarray) -> bytes:
    return (",".join(repr(float(v)) for v in row) + "\n").encode()


@given(
    rows=st.integers(0, 25),
    cols=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    limit=st.integers(40, 300),
    jsonl=st.booleans(),
)
def test_property_line_bodies_decode(rows: int, cols: int, seed: int, limit: int, jsonl: bool) -> None:
    """Every MultiRecord body of CSV / JSON Lines rows decodes with the format's codec."""
    X = np.random.default_rng(seed).normal(size=(rows, cols)).round(3)
    if jsonl:
        lines = [b'{"features": [%s]}\n' % ", ".join(repr(float(v)) for v in r).encode() for r in X]
    else:
        lines = [_csv_line(r) for r in X]
    limit = max([limit, *map(len, lines)])
    bodies = list(
        batch.mini_batches(batch.split(b"".join(lines), "Line"), "MultiRecord", max_payload_bytes=limit)
    )
    decoded: list[np.ndarray] = []
    for body in bodies:
        codec: Any = jsonlines_codec if jsonl else csv_codec
        decoded.append(codec.decode(body).to_numpy().reshape(-1, cols))
    got = np.concatenate(decoded) if decoded else np.zeros((0, cols))
    np.testing.assert_array_equal(got, X)


# --------------------------------------------------------------------------------------
# Recommendations and checks
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "split_type"),
    [
        # docs/batch-transform.md, "Recommendations" (the Developer Guide's table)
        ("application/x-recordio-protobuf", "RecordIO"),
        ("text/csv", "Line"),
        ("application/jsonlines", "Line"),
        ("application/json", "None"),
        ("application/x-image", "None"),
        ("image/jpeg", "None"),
        ("image/png", "None"),
        # Parameters and case do not matter.
        ("Text/CSV; label_size=1", "Line"),
        # Not in the table.
        ("application/x-recordio", "RecordIO"),
        ("text/libsvm", "Line"),
        ("application/x-npy", "None"),
        ("application/octet-stream", "None"),
    ],
)
def test_recommended_split_type(content_type: str, split_type: str) -> None:
    assert batch.recommend(content_type, "application/json").split_type == split_type


@pytest.mark.parametrize(
    ("accept", "assemble_with"),
    [
        ("application/x-recordio-protobuf", "None"),
        ("application/json", "None"),
        ("application/jsonlines", "Line"),
        ("application/jsonlines; verbose=true", "Line"),
        ("text/csv", "Line"),
        ("application/x-npy", "None"),
        ("text/plain", "None"),
    ],
)
def test_recommended_assemble_with(accept: str, assemble_with: str) -> None:
    rec = batch.recommend("text/csv", accept)
    assert rec == ("Line", assemble_with)
    assert rec.assemble_with == assemble_with


def test_recommend_rejects_malformed_media_types() -> None:
    with pytest.raises(smp.UnsupportedMediaTypeError):
        batch.recommend("csv", "text/csv")


def test_recommendations_pass_their_own_check() -> None:
    for ct in ("application/x-recordio-protobuf", "text/csv", "application/jsonlines", "image/png"):
        for accept in ("application/x-recordio-protobuf", "application/jsonlines", "text/csv"):
            rec = batch.recommend(ct, accept)
            assert batch.check(ct, rec.split_type, accept, rec.assemble_with) == []


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("text/csv", "Line", "text/csv", "Line"), {}, []),
        (
            ("application/x-recordio-protobuf", "Line"),
            {},
            [
                "SplitType=Line over application/x-recordio-protobuf cuts binary records at every "
                "0x0A byte; use SplitType=RecordIO"
            ],
        ),
        (
            ("application/x-npy", "Line"),
            {},
            [
                "SplitType=Line over application/x-npy cuts binary records at every 0x0A byte; "
                "use SplitType=None"
            ],
        ),
        (
            ("image/jpeg", "Line"),
            {},
            ["SplitType=Line over image/jpeg cuts binary records at every 0x0A byte; use SplitType=None"],
        ),
        (
            ("application/json", "Line"),
            {},
            [
                "SplitType=Line over application/json cuts a JSON document into lines that are not "
                "JSON; use SplitType=None, or send application/jsonlines"
            ],
        ),
        (
            ("text/csv", "RecordIO"),
            {},
            ["SplitType=RecordIO over text/csv: the input is not RecordIO; use SplitType=Line"],
        ),
        (
            ("application/x-npy", "TFRecord"),
            {},
            ["SplitType=TFRecord over application/x-npy: the input is not TFRecord; use SplitType=None"],
        ),
        (("application/x-tfrecord", "TFRecord"), {}, []),  # unknown type: nothing to say
        (
            ("text/csv", "None"),
            {"batch_strategy": "MultiRecord"},
            ["BatchStrategy=MultiRecord has no effect with SplitType=None: each input object is one request"],
        ),
        (
            ("application/x-recordio-protobuf", "RecordIO", "application/x-recordio-protobuf", "Line"),
            {},
            [
                "AssembleWith=Line with Accept application/x-recordio-protobuf inserts 0x0A bytes "
                "between binary outputs; use AssembleWith=None"
            ],
        ),
        (
            ("text/csv", "Line", "application/jsonlines", "None"),
            {},
            [
                "AssembleWith=None with Accept application/jsonlines runs the last line of one "
                "response into the first of the next unless the container ends every response with "
                "a newline; use AssembleWith=Line"
            ],
        ),
        (("text/csv", "None", "text/csv", "None"), {}, []),  # one request per object: nothing glued
        (
            ("text/csv", "Line", "application/json", "None"),
            {},
            [
                "Accept application/json with splitting on: the output holds one JSON document per "
                "mini-batch, concatenated, which is not one JSON document; prefer Accept "
                "application/jsonlines with AssembleWith=Line"
            ],
        ),
        (
            ("text/csv", "Line", "application/json", "Line"),
            {},
            [
                "AssembleWith=Line with Accept application/json gives JSON Lines only if every "
                "response is on one line; prefer Accept application/jsonlines"
            ],
        ),
        (("text/csv", "Line", "application/json", "Line"), {"sample_output": b'{"predictions": []}\n'}, []),
        (
            ("text/csv", "Line", "application/json", "Line"),
            {"sample_output": b'{\n  "predictions": []\n}\n'},
            [
                "AssembleWith=Line with Accept application/json and responses that span several "
                "lines: the output is neither JSON nor JSON Lines; write each response on one line "
                "or use Accept application/jsonlines"
            ],
        ),
        (("application/json", "None", "application/json", "None"), {}, []),
        (
            ("text/csv", "Line", "application/x-npy", "None"),
            {},
            [
                "Accept application/x-npy with splitting on: the output holds one .npy document per "
                "mini-batch, concatenated, which numpy reads only one at a time"
            ],
        ),
    ],
)
def test_check(args: tuple[Any, ...], kwargs: dict[str, Any], expected: list[str]) -> None:
    assert batch.check(*args, **kwargs) == expected


def test_check_strict_raises_and_bad_values_raise() -> None:
    with pytest.raises(ValueError, match=r"^SplitType=Line over application/x-npy"):
        batch.check("application/x-npy", "Line", strict=True)
    assert batch.check("text/csv", "Line", strict=True) == []
    with pytest.raises(ValueError, match="SplitType must be None, Line, RecordIO or TFRecord, not 'line'"):
        batch.check("text/csv", "line")
    with pytest.raises(ValueError, match="AssembleWith must be None or Line, not 'Lines'"):
        batch.check("text/csv", "Line", "text/csv", "Lines")
    with pytest.raises(ValueError, match="BatchStrategy must be SingleRecord or MultiRecord, not 'Multi'"):
        batch.check("text/csv", "Line", batch_strategy="Multi")
    with pytest.raises(smp.UnsupportedMediaTypeError):
        batch.check("text/csv, application/json", "Line")


def _iter_type_check() -> Iterator[bytes]:
    # Typing: split and mini_batches are iterators of bytes, assemble returns bytes.
    records: Iterator[bytes] = batch.split(b"a\n", "Line")
    bodies: Iterator[bytes] = batch.mini_batches(records, "MultiRecord")
    out: bytes = batch.assemble(bodies, "Line")
    yield out
