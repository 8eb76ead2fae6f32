"""``application/x-recordio-protobuf``: RecordIO frames of ``aialgs.data.Record`` messages.

Encoding writes one Record per record of the batch: ``features`` entries in column order,
then ``label`` entries, then uid / metadata / configuration; inside a tensor ``values``,
``keys``, ``shape`` (field-number order, as protobuf's own serializers write). For the
batches ``smp.from_dense`` / ``smp.from_sparse`` build, the bytes equal the SageMaker
Python SDK's ``write_numpy_to_dense_tensor`` / ``write_spmatrix_to_sparse_tensor`` output.

Rule 1 (shapes): a dense record shape of rank 0 or 1 is written without ``shape`` (as the
SDK does); rank >= 2 writes it; a rank-1 label of length 1 writes ``shape=[1]`` so that it
reads back as a vector. Reading, a tensor without ``shape`` is a vector, except that a label
column whose tensors all hold one value is a scalar column ``(N,)``.
Rule 2 (the magic): a record whose bytes would hold the RecordIO magic at a 4-byte-aligned
offset is re-encoded with a small unknown field (number 16, skipped by every protobuf
parser) in front, which shifts the alignment of what follows; should every shift fail, the
framing's dmlc split is the fallback. ``sdk_compatible=True`` writes the SDK's bytes instead.
Rule 3 (speed): uniform dense batches are written and read as one ``(N, frame)`` byte
matrix (reading returns strided views of the input unless ``copy=True``); other batches are
written as one tree of fields for all records at once (`_wire.MessageWriter`). Reading is
`_record_reader.decode_table`: vectorized readers first, a careful per-record reader that
reports exact positions for anything they do not handle.
Rule 4 (accelerator): where the optional C extension ``sm_payloads.formats._crecordio`` is built,
the reader's field walk of sparse and ragged batches and its loops over packed fields
(values, keys) run in C, and decide nothing (see `_record_reader`).
Rule 5 (layers): this module holds what is particular to the format (record.proto's field
numbers as written, the framing, the magic, batching of streams); the protobuf wire format
(varints, tags, length-delimited fields, read and written) is `_wire`'s, and reading
records is `_record_reader`'s.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any, ClassVar

import numpy as np

from .._buffers import OutBuffer, as_view
from ..codec import DEFAULT_BATCH_SIZE, Capabilities, Codec
from ..columns import column_kind, sparse_parts
from ..errors import DecodeError, EncodeError
from ..record import RecordBatch
from ..recordio import (
    MAGIC,
    MAX_RECORD_LENGTH,
    aligned_magic_positions,
    fill_from,
    frame,
    frame_table,
    iter_frames,
    whole_records_prefix,
)
from ._record_reader import CONTENT_TYPE, decode_table, parse_record
from ._side_by_side import SideBySide
from ._wire import (
    LEN,
    Message,
    MessageWriter,
    WireError,
    bytes_chunks,
    encode_varint,
    fixed_chunks,
    length_delimited,
    same_chunks,
    tag,
    varint_chunks,
)

__all__ = ["CONTENT_TYPE", "RecordIOProtobufCodec", "decode", "encode", "iter_decode"]

# record.proto's field numbers: Record's maps and strings, a map entry's key and value, the
# Value oneof's members, a tensor's values, keys and shape, and Bytes' values.
_MAP_FIELD = {"features": 1, "label": 2}
_STRING_FIELD = {"uid": 3, "metadata": 4, "configuration": 5}
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_TENSOR_FIELD = {np.dtype(np.float32): 2, np.dtype(np.float64): 3, np.dtype(np.int32): 7}
_BYTES_FIELD = 9
_TENSOR_VALUES, _TENSOR_KEYS, _TENSOR_SHAPE = 1, 2, 3
_BYTES_VALUE = 1
# Unknown field 16, wire type 2, with 0, 2 or 3 filler bytes: 3, 5 and 6 bytes long, so
# they shift what follows by 3, 1 and 2 bytes modulo 4.
_SHIMS = tuple(length_delimited(16, bytes(k)) for k in (0, 2, 3))


# ======================================================================================
# Encoding
# ======================================================================================


def _wire_shape(map_name: str, record_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if len(record_shape) >= 2:
        return record_shape
    if len(record_shape) == 1 and map_name == "label" and record_shape[0] == 1:
        return record_shape
    return None


def _columns(batch: RecordBatch) -> list[tuple[str, str, Any]]:
    return [(m, k, c) for m in ("features", "label") for k, c in getattr(batch, m).items()]


def _uniform_dense(batch: RecordBatch) -> bool:
    if batch.uid is not None or batch.metadata is not None or batch.configuration is not None:
        return False
    for _, _, col in _columns(batch):
        if not isinstance(col, np.ndarray) or col.dtype.kind != "f":
            return False
    return len(batch) > 0


def _encode_uniform(columns: list[tuple[str, str, Any]], n: int) -> tuple[OutBuffer, np.ndarray, int]:
    """The whole output as an (N, frame size) byte matrix: (buffer, matrix, payload length).
    A column is a float ndarray, or a `SideBySide` (written into the rows part by part)."""
    template = bytearray()
    data_slots: list[tuple[int, Any]] = []
    for map_name, key, col in columns:
        rec_shape = tuple(col.shape[1:])
        k = math.prod(rec_shape)
        item = col.dtype.itemsize
        tensor = b""
        if k:
            tensor += tag(_TENSOR_VALUES, LEN) + encode_varint(k * item)
        shape = _wire_shape(map_name, rec_shape)
        tail = b""
        if shape is not None:
            tail = length_delimited(_TENSOR_SHAPE, b"".join(encode_varint(s) for s in shape))
        tensor_len = len(tensor) + k * item + len(tail)
        value_head = tag(_TENSOR_FIELD[col.dtype], LEN) + encode_varint(tensor_len)
        value_len = len(value_head) + tensor_len
        key_b = key.encode("utf-8")
        entry_head = length_delimited(_ENTRY_KEY, key_b) + tag(_ENTRY_VALUE, LEN) + encode_varint(value_len)
        entry_len = len(entry_head) + value_len
        head = tag(_MAP_FIELD[map_name], LEN) + encode_varint(entry_len) + entry_head + value_head + tensor
        offset = len(template) + len(head)
        template += head + bytes(k * item) + tail
        if k:
            data = col if isinstance(col, SideBySide) else np.ascontiguousarray(col).reshape(n, k)
            data_slots.append((offset, data))
    length = len(template)
    if length > MAX_RECORD_LENGTH:
        raise EncodeError(CONTENT_TYPE, f"a record of {length} bytes exceeds the RecordIO limit")
    stride = 8 + length + (-length & 3)
    buffer = OutBuffer(n * stride)
    out = buffer.array.reshape(n, stride)
    row = np.zeros(stride, dtype=np.uint8)
    row[:8] = np.frombuffer(np.array([MAGIC, length], dtype="<u4").tobytes(), dtype=np.uint8)
    row[8 : 8 + length] = np.frombuffer(bytes(template), dtype=np.uint8)
    # Structural bytes once per row (broadcast), then each column's values as bytes.
    cursor = 0
    for offset, data in data_slots:
        a = 8 + offset
        if a > cursor:
            out[:, cursor:a] = row[cursor:a]
        width = data.shape[1] * data.dtype.itemsize
        if isinstance(data, SideBySide):
            data.write_rows(buffer.array, a, stride)
        else:
            out[:, a : a + width] = data.view(np.uint8).reshape(n, width)
        cursor = a + width
    if cursor < stride:
        out[:, cursor:] = row[cursor:]
    return buffer, out, length


def _frame_records(n: int, nodes: list[Any], prefix: bytes = b"") -> tuple[OutBuffer, np.ndarray, np.ndarray]:
    """Frame `n` records, each `prefix` and then `nodes` (trees of fields, one value per
    record): returns (output buffer, payload starts, payload lengths)."""
    writer = MessageWriter(n)
    lengths = np.full(n, len(prefix), dtype=np.int64)
    for node in nodes:
        lengths += writer.size(node)
    if n and int(lengths.max()) > MAX_RECORD_LENGTH:
        i = int(np.argmax(lengths))
        raise EncodeError(CONTENT_TYPE, f"record {i} of {int(lengths[i])} bytes exceeds the RecordIO limit")
    frame_len = 8 + lengths + (-lengths & 3)
    fstart = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(frame_len[:-1], out=fstart[1:])
    total = int(frame_len.sum())
    buffer = OutBuffer(total)
    out = buffer.array
    # Every payload byte is written below; only the padding needs zeros.
    pad = -lengths & 3
    for j in range(3):
        m = pad > j
        out[(fstart + 8 + lengths)[m] + j] = 0
    words = out.view("<u4")
    words[fstart // 4] = MAGIC
    words[fstart // 4 + 1] = lengths.astype(np.uint32)
    cursor = fstart + 8
    if prefix:
        p = np.frombuffer(prefix, dtype=np.uint8)
        out[cursor[:, None] + np.arange(p.size)] = p
        cursor = cursor + p.size
    for node in nodes:
        writer.emit(out, node, cursor)
        cursor = cursor + writer.size_of(node)
    return buffer, fstart + 8, lengths


def _tensor_node(map_name: str, key: str, col: Any, n: int) -> Message:
    kind = column_kind(col)
    present = None
    children: list[Any]
    if kind == "strings":
        chunks: list[bytes] = []
        pres = np.ones(n, dtype=bool)
        for i, v in enumerate(col.tolist()):
            if v is None:
                pres[i] = False
                chunks.append(b"")
                continue
            items = v if isinstance(v, (list, tuple)) else [v]
            raw = [x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in items]
            chunks.append(b"".join(length_delimited(_BYTES_VALUE, x) for x in raw))
        present = None if pres.all() else pres
        bytes_value = Message(tag(_BYTES_FIELD, LEN), [bytes_chunks(chunks)], None)
        value = Message(tag(_ENTRY_VALUE, LEN), [bytes_value], present)
    else:
        if kind == "dense":
            rec_shape = tuple(col.shape[1:])
            k = math.prod(rec_shape)
            counts = np.full(n, k, dtype=np.int64)
            values = np.ascontiguousarray(col).reshape(-1)
            keys = None
            shape = _wire_shape(map_name, rec_shape)
            dtype = col.dtype
        elif kind == "ragged":
            counts = col.lengths
            values = col.values
            keys = None
            shape = None
            dtype = col.values.dtype
            present = None if col.valid is None else np.asarray(col.valid)
        else:
            m, shape = sparse_parts(col)
            counts = np.diff(np.asarray(m.indptr)).astype(np.int64)
            values = np.asarray(m.data)
            keys = np.asarray(m.indices).astype(np.uint64)
            dtype = values.dtype
        if dtype == np.int32:
            vdata = varint_chunks(values.astype(np.int64).astype(np.uint64), counts)
        else:
            vdata = fixed_chunks(values, counts)
        children = [Message(tag(_TENSOR_VALUES, LEN), [vdata], counts > 0)]
        if keys is not None:
            children.append(Message(tag(_TENSOR_KEYS, LEN), [varint_chunks(keys, counts)], counts > 0))
        if shape is not None:
            sb = b"".join(encode_varint(s) for s in shape)
            children.append(Message(tag(_TENSOR_SHAPE, LEN), [same_chunks(sb, n, present)], None))
        tensor = Message(tag(_TENSOR_FIELD[dtype], LEN), children, None)
        value = Message(tag(_ENTRY_VALUE, LEN), [tensor], present)
    key_node = same_chunks(length_delimited(_ENTRY_KEY, key.encode("utf-8")), n, present)
    return Message(tag(_MAP_FIELD[map_name], LEN), [key_node, value], present)


def _record_nodes(batch: RecordBatch) -> list[Any]:
    n = len(batch)
    nodes: list[Any] = [_tensor_node(m, k, c, n) for m, k, c in _columns(batch)]
    for name, fno in _STRING_FIELD.items():
        strings = getattr(batch, name)
        if strings is None:
            continue
        pres = np.array([s is not None for s in strings], dtype=bool)
        data = bytes_chunks([b"" if s is None else s.encode("utf-8") for s in strings])
        nodes.append(Message(tag(fno, LEN), [data], pres))
    return nodes


def _aligned_magic_records(out: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of records whose payload holds the magic at a 4-byte-aligned offset."""
    words = out.view("<u4")
    hits = np.flatnonzero(words == MAGIC) * 4
    if hits.size == len(starts):  # only the headers
        return np.empty(0, dtype=np.int64)
    rec = np.searchsorted(starts, hits, side="right") - 1
    ok = rec >= 0
    inside = np.zeros(hits.size, dtype=bool)
    inside[ok] = (hits[ok] >= starts[rec[ok]]) & (hits[ok] + 4 <= starts[rec[ok]] + lengths[rec[ok]])
    return np.unique(rec[inside])


def _reencode_record(batch: RecordBatch, i: int) -> bytes:
    """Frame record i so that no aligned magic remains (docs/formats/recordio-protobuf.md,
    "The magic number")."""
    one = batch.slice(i, i + 1)
    nodes = _record_nodes(one)
    for shim in _SHIMS:
        buffer, _, lengths = _frame_records(1, nodes, prefix=shim)
        framed = buffer.finish()
        if not aligned_magic_positions(framed[8 : 8 + int(lengths[0])]):
            return framed
    buffer, _, lengths = _frame_records(1, nodes)
    payload = buffer.finish()[8 : 8 + int(lengths[0])]
    return b"".join(frame(payload, escape=True))


def encode(batch: RecordBatch, *, sdk_compatible: bool = False) -> bytes:
    """Write a batch as RecordIO-protobuf.

    Parameters
    ----------
    batch : RecordBatch
    sdk_compatible : bool
        Write exactly what the SageMaker Python SDK writes, even when a record's bytes
        contain the RecordIO magic at an aligned offset (such files can be misread by dmlc's
        sharded readers; see docs/formats/recordio-protobuf.md, "The magic number"). By
        default such a record gets a 3-6 byte unknown field that moves the magic off
        alignment; all other records are byte-identical.

    Examples
    --------
    >>> import numpy as np, sm_payloads as smp
    >>> encode(smp.from_dense(np.array([[1.5, 16, 14, 23]], np.float32)))[:12].hex()
    '0a23d7ce200000000a1e0a06'
    """
    if not isinstance(batch, RecordBatch):
        raise EncodeError(CONTENT_TYPE, f"expected a RecordBatch, got {type(batch).__name__}")
    n = len(batch)
    if n == 0:
        return b""
    if _uniform_dense(batch):
        buffer, mat, length = _encode_uniform(_columns(batch), n)
        stride = mat.shape[1]
        starts = np.arange(n, dtype=np.int64) * stride + 8
        lengths = np.full(n, length, dtype=np.int64)
    else:
        buffer, starts, lengths = _frame_records(n, _record_nodes(batch))
    flat = buffer.array
    bad = np.empty(0, np.int64) if sdk_compatible else _aligned_magic_records(flat, starts, lengths)
    if not bad.size:
        return buffer.finish()
    parts: list[bytes] = []
    prev = 0
    for i in bad.tolist():
        frame_start = int(starts[i]) - 8
        parts.append(flat[prev:frame_start].tobytes())
        parts.append(_reencode_record(batch, i))
        prev = frame_start + 8 + int(lengths[i]) + (-int(lengths[i]) & 3)
    parts.append(flat[prev:].tobytes())
    return b"".join(parts)


def encode_columns(
    columns: list[tuple[str, str, Any]], n: int, *, sdk_compatible: bool = False
) -> bytes | None:
    """`encode` of a batch of `n` > 0 records and these columns, (map name, key, column) in
    the batch's order (features, then label), each a float ndarray or a `SideBySide` (the
    feature columns of a table, not stacked: its parts are written straight into the
    rows). The bytes equal `encode`'s of the batch with the stacked column. None when some
    record holds the magic at an aligned offset (rare): `encode` the batch then, which
    re-encodes those records."""
    buffer, mat, length = _encode_uniform(columns, n)
    if not sdk_compatible:
        starts = np.arange(n, dtype=np.int64) * mat.shape[1] + 8
        if _aligned_magic_records(buffer.array, starts, np.full(n, length, dtype=np.int64)).size:
            return None
    return buffer.finish()


# ======================================================================================
# Decoding
# ======================================================================================


def decode(data: bytes | bytearray | memoryview, *, copy: bool = False) -> RecordBatch:
    """Read RecordIO-protobuf bytes into a batch.

    Parameters
    ----------
    data : bytes-like
        The whole payload. An empty payload is an empty batch.
    copy : bool
        Return owned, C-contiguous arrays. By default a batch of uniform dense records is
        returned as read-only strided views into `data` (no copy at all); such a view keeps
        `data` alive and changes if a mutable `data` (bytearray, mmap) changes later.

    Raises
    ------
    DecodeError
        With the byte offset and record index of the first problem.
    BufferError
        When another thread writes a writable `data` (a ``bytearray``) while it is read
        and the reader finds other bytes than it read before (docs/errors.md).
    """
    view = as_view(data)
    starts, lengths, joined = frame_table(view, CONTENT_TYPE)
    return decode_table(view, starts, lengths, joined, copy=copy)


def decode_records(data: bytes | bytearray | memoryview) -> list[Any]:
    """Read every record as a `smp.Record` row view, however heterogeneous the records are."""
    view = as_view(data)
    out = []
    for f in iter_frames(view, content_type=CONTENT_TYPE):
        try:
            out.append(parse_record(f.payload, 0, len(f.payload)))
        except WireError as e:
            raise DecodeError(
                CONTENT_TYPE,
                e.reason,
                offset=f.offset + 8 + e.offset if f.pieces == 1 else f.offset,
                record_index=f.index,
            ) from None
    return out


def iter_decode(
    source: bytes | bytearray | memoryview | IO[bytes], *, batch_size: int = 10_000, copy: bool = False
) -> Iterator[RecordBatch]:
    """Decode a buffer or a binary stream in batches of `batch_size` records (the last one
    may be smaller).

    From a stream, the records of a batch are read into one buffer of about the batch's
    size and decoded in place, so memory stays bounded by the batch (plus the one being
    read), not the input. With ``copy=False`` (the default) a batch may be views into its
    buffer, which then lives as long as the batch. Concatenating the batches gives what
    `decode` returns for the whole input.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview)):
        yield from _iter_stream(source, batch_size, copy)
        return
    view = as_view(source)
    starts, lengths, joined = frame_table(view, CONTENT_TYPE)
    yield from _batches(view, starts, lengths, joined, starts.size, batch_size, copy, 0, 0)


def _batches(
    view: memoryview,
    starts: np.ndarray,
    lengths: np.ndarray,
    joined: Mapping[int, memoryview],
    upto: int,
    batch_size: int,
    copy: bool,
    base: int,
    first_index: int,
) -> Iterator[RecordBatch]:
    """Decode records ``[0, upto)`` of a frame table in batches."""
    for lo in range(0, upto, batch_size):
        hi = min(lo + batch_size, upto)
        sub_joined = {i - lo: p for i, p in joined.items() if lo <= i < hi}
        yield decode_table(
            view,
            starts[lo:hi],
            lengths[lo:hi],
            sub_joined,
            copy=copy,
            base=base,
            first_index=first_index + lo,
        )


_FIRST_READ = 1 << 20
_SLACK = 1 << 16


def _iter_stream(stream: IO[bytes], batch_size: int, copy: bool) -> Iterator[RecordBatch]:
    """Read about one batch of bytes at a time into a fresh buffer and decode it in place.

    Whole records beyond the last full batch, and an unfinished record at the end of the
    buffer, move to the front of the next buffer; the next buffer is sized from the bytes
    per record seen so far (doubling while not even one batch fits).
    """
    carry = memoryview(b"")
    base = 0  # stream offset of the buffer's first byte
    index = 0  # record index of the buffer's first record
    want = _FIRST_READ
    while True:
        raw = bytearray(max(want, len(carry) + _SLACK))
        raw[: len(carry)] = carry
        filled = len(carry) + fill_from(stream, memoryview(raw)[len(carry) :])
        carry = memoryview(b"")  # let the previous buffer go (unless a batch holds it)
        eof = filled < len(raw)
        view = memoryview(raw).toreadonly()[:filled]
        prefix = len(view) if eof else whole_records_prefix(view)
        try:
            starts, lengths, joined = frame_table(view[:prefix], CONTENT_TYPE)
        except DecodeError as e:
            raise _shifted(e, base, index) from None
        k = starts.size
        full = k if eof else k - k % batch_size
        yield from _batches(view, starts, lengths, joined, full, batch_size, copy, base, index)
        if eof:
            return
        if full < k:
            s = int(starts[full])
            keep_from = s - 8 if s >= 0 else -1 - s
        else:
            keep_from = prefix
        carry = view[keep_from:]
        if full:
            per_record = keep_from / full
            want = int(batch_size * per_record * 1.02) + _SLACK
        else:
            # Not one batch yet: grow geometrically, and no further than a batch of the
            # records seen so far needs (never by extrapolation alone: a stream may hold far
            # fewer records than a batch, and a hostile one wants a huge buffer).
            estimate = int(batch_size * (prefix / k) * 1.02) + _SLACK if k else 0
            want = min(2 * len(raw), estimate) if estimate > len(raw) else 2 * len(raw)
        base += keep_from
        index += full
        del view, raw


def _shifted(e: DecodeError, base: int, index: int) -> DecodeError:
    """The same error with positions counted from the start of the stream."""
    return DecodeError(
        CONTENT_TYPE,
        e.reason,
        offset=None if e.offset is None else base + e.offset,
        record_index=None if e.record_index is None else index + e.record_index,
    )


@dataclass(frozen=True, slots=True)
class RecordIOProtobufCodec(Codec):
    """The registry's codec for ``application/x-recordio-protobuf`` (no MIME parameters;
    options ``sdk_compatible`` for encoding, ``copy`` for decoding)."""

    content_type: ClassVar[str] = CONTENT_TYPE
    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)

    sdk_compatible: bool = False
    copy: bool = False

    def encode(self, data: RecordBatch, /) -> bytes:
        return encode(data, sdk_compatible=self.sdk_compatible)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(data, copy=self.copy)

    def iter_decode(self, source: Any, /, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[RecordBatch]:
        return iter_decode(source, batch_size=batch_size, copy=self.copy)
