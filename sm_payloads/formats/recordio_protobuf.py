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
matrix (reading returns strided views of the input unless ``copy=True``); other batches go
through vectorized builders and a vectorized protobuf scanner; anything those do not handle
falls back to a careful per-record reader that reports exact positions.
Rule 4 (accelerator): where the optional C extension ``sm_payloads._crecordio`` is built,
the field walk of sparse and ragged batches and the loops over packed fields (values,
keys) run in C. The C loops decide nothing: on anything unusual they answer "not handled"
and the numpy code runs, which stays the reference; the tests run both and compare.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from .. import _native, _vec
from .._buffers import OutBuffer
from .._columns import ColumnError, columns_from_records, shape_problem
from .._protobuf import WireError, _Layout, parse_record
from ..errors import DecodeError, EncodeError
from ..record import Ragged, RecordBatch, Sparse, _column_kind, _sparse_parts
from ..recordio import (
    MAGIC,
    MAX_RECORD_LENGTH,
    _aligned_magic_positions,
    fill_from,
    frame,
    frame_table,
    iter_frames,
    whole_records_prefix,
)

CONTENT_TYPE = "application/x-recordio-protobuf"

# The optional C loops (sm_payloads/_crecordio.c): twins of `_Walk`, `_vec.gather_items` and
# `_vec.decode_varint_stream` that answer "not handled" on anything unusual, so that the
# numpy code decides; None when not built or with SM_PAYLOADS_PURE_PYTHON=1.
_crecordio = _native.load("_crecordio")

__all__ = ["CONTENT_TYPE", "RecordIOProtobufCodec", "decode", "encode", "iter_decode"]

_TENSOR_FIELD = {np.dtype(np.float32): 2, np.dtype(np.float64): 3, np.dtype(np.int32): 7}
_BYTES_FIELD = 9
_MAP_FIELD = {"features": 1, "label": 2}
_STRING_FIELD = {"uid": 3, "metadata": 4, "configuration": 5}
# Unknown field 16, wire type 2, with 0, 2 or 3 filler bytes: 3, 5 and 6 bytes long, so
# they shift what follows by 3, 1 and 2 bytes modulo 4.
_SHIMS = (b"\x82\x01\x00", b"\x82\x01\x02\x00\x00", b"\x82\x01\x03\x00\x00\x00")


def _vbytes(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _ld(field: int, content: bytes) -> bytes:
    return _vbytes(field << 3 | 2) + _vbytes(len(content)) + content


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


def _encode_uniform(batch: RecordBatch) -> tuple[OutBuffer, np.ndarray, int]:
    """The whole output as an (N, frame size) byte matrix: (buffer, matrix, payload length)."""
    n = len(batch)
    template = bytearray()
    data_slots: list[tuple[int, np.ndarray]] = []
    for map_name, key, col in _columns(batch):
        rec_shape = tuple(col.shape[1:])
        k = math.prod(rec_shape)
        item = col.dtype.itemsize
        tensor = b""
        if k:
            tensor += b"\x0a" + _vbytes(k * item)
        shape = _wire_shape(map_name, rec_shape)
        tail = b""
        if shape is not None:
            tail = _ld(3, b"".join(_vbytes(s) for s in shape))
        tensor_len = len(tensor) + k * item + len(tail)
        value_head = _vbytes(_TENSOR_FIELD[col.dtype] << 3 | 2) + _vbytes(tensor_len)
        value_len = len(value_head) + tensor_len
        key_b = key.encode("utf-8")
        entry_head = _ld(1, key_b) + b"\x12" + _vbytes(value_len)
        entry_len = len(entry_head) + value_len
        head = bytes([_MAP_FIELD[map_name] << 3 | 2]) + _vbytes(entry_len) + entry_head + value_head + tensor
        offset = len(template) + len(head)
        template += head + bytes(k * item) + tail
        if k:
            data_slots.append((offset, np.ascontiguousarray(col).reshape(n, k * item // item)))
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
        out[:, a : a + width] = data.view(np.uint8).reshape(n, width)
        cursor = a + width
    if cursor < stride:
        out[:, cursor:] = row[cursor:]
    return buffer, out, length


class _Msg:
    """A length-delimited field built for all records at once (see `_PieceEncoder`)."""

    __slots__ = ("_content", "_size", "children", "present", "tag")

    def __init__(self, tag: bytes, children: list[Any], present: np.ndarray | None) -> None:
        self.tag = tag
        self.children = children
        self.present = present  # None: every record


class _Data:
    """Per-record raw bytes: flat uint8 array plus one length per record."""

    __slots__ = ("data", "item", "lengths")

    def __init__(self, data: np.ndarray, lengths: np.ndarray, item: int = 1) -> None:
        self.data = data
        self.lengths = lengths.astype(np.int64, copy=False)
        self.item = item  # bytes per element: chunks are whole elements


def _const(data: bytes, n: int, present: np.ndarray | None) -> _Data:
    """The same bytes in every present record (zero bytes in the others)."""
    if present is None:
        return _Data(np.frombuffer(data * n, dtype=np.uint8), np.full(n, len(data)))
    k = int(np.count_nonzero(present))
    return _Data(np.frombuffer(data * k, dtype=np.uint8), np.where(present, len(data), 0))


def _ragged_bytes(chunks: list[bytes]) -> _Data:
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    return _Data(np.frombuffer(b"".join(chunks), dtype=np.uint8), lengths)


def _packed_varints(values: np.ndarray, counts: np.ndarray) -> _Data:
    data, lens = _vec.varint_encode(values)
    ends = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(lens, out=ends[1:])
    bounds = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return _Data(data, ends[bounds[1:]] - ends[bounds[:-1]])


def _fixed(values: np.ndarray, counts: np.ndarray) -> _Data:
    item = values.dtype.itemsize
    return _Data(np.ascontiguousarray(values).view(np.uint8).reshape(-1), counts * item, item)


class _PieceEncoder:
    """Writes arbitrary batches with numpy: sizes bottom-up, then every piece placed once."""

    def __init__(self, n: int) -> None:
        self.n = n

    def size(self, node: Any) -> np.ndarray:
        if isinstance(node, _Data):
            return node.lengths
        content = np.zeros(self.n, dtype=np.int64)
        for c in node.children:
            content += self.size(c)
        node._content = content
        total = len(node.tag) + _vec.varint_len(content.astype(np.uint64)) + content
        if node.present is not None:
            total = np.where(node.present, total, 0)
        node._size = total
        return total

    def emit(self, out: np.ndarray, node: Any, starts: np.ndarray, active: np.ndarray | None = None) -> None:
        """Write `node` for every active record (all when `active` is None)."""
        if isinstance(node, _Data):
            # Data under an absent parent has length 0 by construction (see _const).
            _scatter(out, node.data, node.lengths, starts, node.item)
            return
        content = node._content
        mask = active
        if node.present is not None:
            mask = node.present if mask is None else (mask & node.present)
        sel = np.arange(self.n) if mask is None else np.flatnonzero(mask)
        if not sel.size:
            return
        s = starts[sel]
        tag = np.frombuffer(node.tag, dtype=np.uint8)
        out[s[:, None] + np.arange(tag.size)] = tag
        s = s + tag.size
        vb, vl = _vec.varint_encode(content[sel].astype(np.uint64))
        _scatter(out, vb, vl, s)
        child_start = np.zeros(self.n, dtype=np.int64)
        child_start[sel] = s + vl
        for c in node.children:
            self.emit(out, c, child_start, mask)
            child_start = child_start + self.size_of(c)

    @staticmethod
    def size_of(node: Any) -> np.ndarray:
        return node.lengths if isinstance(node, _Data) else node._size

    def build(self, nodes: list[Any], prefix: bytes = b"") -> tuple[OutBuffer, np.ndarray, np.ndarray]:
        """Frame all records: returns (output buffer, payload starts, payload lengths)."""
        lengths = np.full(self.n, len(prefix), dtype=np.int64)
        for node in nodes:
            lengths += self.size(node)
        if self.n and int(lengths.max()) > MAX_RECORD_LENGTH:
            i = int(np.argmax(lengths))
            raise EncodeError(
                CONTENT_TYPE, f"record {i} of {int(lengths[i])} bytes exceeds the RecordIO limit"
            )
        frame_len = 8 + lengths + (-lengths & 3)
        fstart = np.zeros(self.n, dtype=np.int64)
        if self.n:
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
            self.emit(out, node, cursor)
            cursor = cursor + self.size_of(node)
        return buffer, fstart + 8, lengths


def _scatter(
    out: np.ndarray, data: np.ndarray, lengths: np.ndarray, starts: np.ndarray, item: int = 1
) -> None:
    """out[starts[i] : starts[i] + lengths[i]] = the i-th chunk of `data`, for every i.

    Chunks of whole `item`-byte elements are placed one element at a time (measured faster
    than an index per byte).
    """
    total = data.size
    if total == 0:
        return
    n = lengths.size
    if total >= 256 * n:  # long chunks: a slice copy per record beats an index array
        src = np.concatenate([[0], np.cumsum(lengths)])
        for i in np.flatnonzero(lengths).tolist():
            s = int(starts[i])
            out[s : s + int(lengths[i])] = data[src[i] : src[i + 1]]
        return
    if item > 1:
        counts = lengths // item
        first = np.cumsum(counts) - counts
        at = np.arange(0, total, item, dtype=np.int64)
        at += np.repeat(starts - first * item, counts)
        # `out` viewed as item-sized words starting at every byte (stride 1, unaligned):
        # one scatter of whole elements.
        word = np.dtype(f"V{item}")
        slots = np.ndarray((out.size - item + 1,), dtype=word, buffer=out, strides=(1,))
        slots[at] = data.view(word)
        return
    csum = np.cumsum(lengths)
    idx = np.arange(total, dtype=np.int64)
    idx += np.repeat(starts - (csum - lengths), lengths)
    out[idx] = data


def _tensor_node(map_name: str, key: str, col: Any, n: int) -> _Msg:
    kind = _column_kind(col)
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
            chunks.append(
                b"".join(_ld(1, x.encode("utf-8") if isinstance(x, str) else bytes(x)) for x in items)
            )
        present = None if pres.all() else pres
        value = _Msg(b"\x12", [_Msg(bytes([_BYTES_FIELD << 3 | 2]), [_ragged_bytes(chunks)], None)], present)
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
            m, shape = _sparse_parts(col)
            counts = np.diff(np.asarray(m.indptr)).astype(np.int64)
            values = np.asarray(m.data)
            keys = np.asarray(m.indices).astype(np.uint64)
            dtype = values.dtype
        if dtype == np.int32:
            vdata = _packed_varints(values.astype(np.int64).astype(np.uint64), counts)
        else:
            vdata = _fixed(values, counts)
        children = [_Msg(b"\x0a", [vdata], counts > 0)]
        if keys is not None:
            children.append(_Msg(b"\x12", [_packed_varints(keys, counts)], counts > 0))
        if shape is not None:
            sb = b"".join(_vbytes(s) for s in shape)
            children.append(_Msg(b"\x1a", [_const(sb, n, present)], None))
        tensor = _Msg(bytes([_TENSOR_FIELD[dtype] << 3 | 2]), children, None)
        value = _Msg(b"\x12", [tensor], present)
    key_node = _const(_ld(1, key.encode("utf-8")), n, present)
    return _Msg(bytes([_MAP_FIELD[map_name] << 3 | 2]), [key_node, value], present)


def _record_nodes(batch: RecordBatch) -> list[Any]:
    n = len(batch)
    nodes: list[Any] = [_tensor_node(m, k, c, n) for m, k, c in _columns(batch)]
    for name, fno in _STRING_FIELD.items():
        strings = getattr(batch, name)
        if strings is None:
            continue
        pres = np.array([s is not None for s in strings], dtype=bool)
        data = _ragged_bytes([b"" if s is None else s.encode("utf-8") for s in strings])
        nodes.append(_Msg(bytes([fno << 3 | 2]), [data], pres))
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
        buffer, _, lengths = _PieceEncoder(1).build(nodes, prefix=shim)
        framed = buffer.finish()
        if not _aligned_magic_positions(framed[8 : 8 + int(lengths[0])]):
            return framed
    buffer, _, lengths = _PieceEncoder(1).build(nodes)
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
        buffer, mat, length = _encode_uniform(batch)
        stride = mat.shape[1]
        starts = np.arange(n, dtype=np.int64) * stride + 8
        lengths = np.full(n, length, dtype=np.int64)
    else:
        buffer, starts, lengths = _PieceEncoder(n).build(_record_nodes(batch))
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


# ======================================================================================
# Decoding
# ======================================================================================


def _as_view(data: Any) -> memoryview:
    if isinstance(data, memoryview):
        return data.cast("B") if data.format != "B" or data.ndim != 1 else data
    if isinstance(data, (bytes, bytearray)):
        return memoryview(data)
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1).data)
    try:
        return memoryview(data).cast("B")
    except TypeError:
        raise TypeError(
            f"expected bytes, bytearray, memoryview or a binary stream, got {type(data).__name__}"
        ) from None


def _template_decode(
    view: memoryview, buf: np.ndarray, starts: np.ndarray, length: int, copy: bool
) -> RecordBatch | None:
    """Uniform frames whose records differ only in packed float values: strided views."""
    n = starts.size
    layout = _Layout()
    s0 = int(starts[0])
    try:
        rec0 = parse_record(view, s0, s0 + length, layout)
    except WireError:
        return None
    if not layout.simple:
        return None
    stride = int(starts[1] - starts[0]) if n > 1 else 8 + length + (-length & 3)
    if n > 1 and not (np.diff(starts) == stride).all():
        return None
    rows = np.lib.stride_tricks.as_strided(buf[s0:], shape=(n, length), strides=(stride, 1), writeable=False)
    ranges = sorted((s - s0, e - s0, m, k) for m, k, s, e in layout.ranges if s >= 0)
    gaps = []
    cursor = 0
    for a, b, _, _ in ranges:
        if a > cursor:
            gaps.append((cursor, a))
        cursor = b
    if cursor < length:
        gaps.append((cursor, length))
    by_key = {(m, k): (a, b) for a, b, m, k in ranges}
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    copies: list[tuple[int, int, np.ndarray]] = []
    for map_name in ("features", "label"):
        for key, t in getattr(rec0, map_name).items():
            dtype = t.values.dtype
            if (map_name, key) in by_key:
                a, b = by_key[(map_name, key)]
                if copy and _crecordio is not None and dtype.isnative and sys.byteorder == "little":
                    col = np.empty((n, (b - a) // dtype.itemsize), dtype=dtype)
                    copies.append((a, b, col))
                else:
                    col = rows[:, a:b].view(dtype.newbyteorder("<"))
                    if copy or not dtype.isnative:
                        col = np.array(col, dtype=dtype, order="C")
            else:
                col = np.empty((n, 0), dtype=dtype)
            if map_name == "label" and col.shape[1] == 1:
                col = col.reshape(n)
            maps[map_name][key] = col
    # One pass over the frames: the constant bytes checked against record 0's and, with
    # copy=True, the value columns copied out (C). The numpy twin below decides whenever
    # the C loop does not answer True.
    if _crecordio is None or not _crecordio.same_gaps(buf, s0, stride, n, gaps, copies):
        for a, b in gaps:
            if not (rows[1:, a:b] == rows[0, a:b]).all():
                return None
        for a, b, out in copies:
            out.reshape(n, -1).view(np.uint8)[...] = rows[:, a:b]
    return RecordBatch(maps["features"], maps["label"], n=n)


class _Walk:
    """Step every record through the same field sequence at once (the SDK's layout).

    Record 0 decides what comes next (which map, which key, which tensor type); every
    record must follow, with only varint lengths and packed bytes free to differ, and
    packed fields free to be absent. Any other shape of input declines.
    """

    def __init__(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> None:
        if starts.size == 0:
            raise _vec.Decline("no records to walk")
        if buf.size == 0:  # records of no bytes: nothing is read, but peek needs a byte
            buf = np.zeros(1, np.uint8)
        self.buf = buf
        self.last = buf.size - 1
        self.pos = starts.astype(np.int64)
        self.end = self.pos + lengths

    def peek(self, pos: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.buf[np.minimum(pos, self.last)]
        return out

    def expect(self, tag: int, limit: np.ndarray) -> None:
        if not ((self.pos < limit).all() and (self.buf[self.pos] == tag).all()):
            raise _vec.Decline("records differ in layout")
        self.pos += 1

    def length(self, pos: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(length, payload start) of the length prefix at each `pos` (bounded by `limit`)."""
        if not (pos < limit).all():
            raise _vec.Decline("length prefix past the end of its message")
        b0 = self.buf[pos].astype(np.int64)
        if (b0 < 0x80).all():
            ln, q = b0, pos + 1
        else:
            b1 = self.peek(pos + 1).astype(np.int64)
            two = b0 >= 0x80
            if (b1[two] < 0x80).all() and (pos[two] + 1 < limit[two]).all():
                ln = np.where(two, (b0 & 0x7F) | (b1 << 7), b0)
                q = pos + 1 + two
            else:
                raw, q = _vec.read_varints_at(self.buf, pos, limit)
                if (raw >= 1 << 31).any():
                    raise _vec.Decline("length out of range")
                ln = raw.astype(np.int64)
        if ((q > limit) | (ln > limit - q)).any():
            raise _vec.Decline("length exceeds message")
        return ln, q

    def message(self, tag: int, limit: np.ndarray) -> np.ndarray:
        """Step over a tag and a length prefix; return where the submessage ends."""
        self.expect(tag, limit)
        ln, self.pos = self.length(self.pos, limit)
        end: np.ndarray = self.pos + ln
        return end

    def optional(self, tag: int, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A packed field that may be absent: (start, length) per record, 0 where absent."""
        present = (self.pos < limit) & (self.peek(self.pos) == tag)
        start = np.zeros(self.pos.size, dtype=np.int64)
        size = np.zeros(self.pos.size, dtype=np.int64)
        if present.all():
            size, start = self.length(self.pos + 1, limit)
            self.pos = start + size
        elif present.any():
            sub = np.flatnonzero(present)
            size[sub], start[sub] = self.length(self.pos[sub] + 1, limit[sub])
            self.pos[sub] = start[sub] + size[sub]
        if tag == 0x1A and (present & (size == 0)).any():
            # An empty shape is a scalar record (shape ()), unlike an absent one.
            raise _vec.Decline("present but empty shape")
        return start, size

    def skip_shim(self) -> None:
        """The magic-escape field 16 (``82 01 len zeros``) that the encoder may put first."""
        has = (self.pos + 2 < self.end) & (self.peek(self.pos) == 0x82) & (self.peek(self.pos + 1) == 0x01)
        if has.any():
            sub = np.flatnonzero(has)
            ln, q = self.length(self.pos[sub] + 2, self.end[sub])
            self.pos[sub] = q + ln


def _walk_decode(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> RecordBatch:
    """Records that all share one field sequence (what the SDK and our encoder write for a
    batch of sparse or ragged rows): a few vectorized steps per field, no scan."""
    n = starts.size
    if _crecordio is not None:
        got = _crecordio.walk(buf, _i64(starts), _i64(lengths))
        if got is not None:
            return _walked(buf, n, *got)
    w = _Walk(buf, starts, lengths)
    w.skip_shim()
    columns: list[tuple[str, str, int, tuple[tuple[np.ndarray, np.ndarray], ...]]] = []
    seen: set[tuple[str, str]] = set()
    while w.pos[0] < w.end[0]:
        map_tag = int(buf[w.pos[0]])
        if map_tag not in (0x0A, 0x12) or len(columns) >= 256:
            raise _vec.Decline("not a features/label entry")
        entry_end = w.message(map_tag, w.end)
        key_end = w.message(0x0A, entry_end)
        klen = key_end - w.pos
        k0, k1 = int(w.pos[0]), int(key_end[0])
        if k1 - k0 > 64 or (klen != k1 - k0).any():
            raise _vec.Decline("keys differ")
        for j in range(k1 - k0):
            if (buf[w.pos + j] != buf[k0 + j]).any():
                raise _vec.Decline("keys differ")
        try:
            key = bytes(buf[k0:k1]).decode("utf-8")
        except UnicodeDecodeError:
            raise _vec.Decline("bad key") from None
        w.pos = key_end
        value_end = w.message(0x12, entry_end)
        if (value_end != entry_end).any():
            raise _vec.Decline("entry with more than a key and a value")
        ttag = int(buf[w.pos[0]]) if w.pos[0] < value_end[0] else -1
        if ttag not in (0x12, 0x1A, 0x3A):
            raise _vec.Decline("not a float32/float64/int32 tensor")
        tensor_end = w.message(ttag, value_end)
        if (tensor_end != value_end).any():
            raise _vec.Decline("value with more than one tensor")
        ranges = tuple(w.optional(tag, tensor_end) for tag in (0x0A, 0x12, 0x1A))
        if (w.pos != tensor_end).any():
            raise _vec.Decline("tensor with other fields")
        name = ("features" if map_tag == 0x0A else "label", key)
        if name in seen:
            raise _vec.Decline("repeated key")
        seen.add(name)
        columns.append((name[0], key, ttag >> 3, ranges))
    if (w.pos != w.end).any():
        raise _vec.Decline("records differ in length of layout")
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    every = np.arange(n)
    for map_name, key, ttype, ranges in columns:
        maps[map_name][key] = _build_column(buf, n, every, ttype, ranges, map_name)
    return RecordBatch(maps["features"], maps["label"], n=n)


def _walked(buf: np.ndarray, n: int, layout: list[tuple[int, bytes, int]], raw: bytearray) -> RecordBatch:
    """The rest of `_walk_decode` after the C walk (which checked the field sequence)."""
    ranges = np.frombuffer(raw, dtype=np.int64).reshape(len(layout), 3, 2, n)
    columns = []
    seen: set[tuple[str, str]] = set()
    for c, (map_tag, key_bytes, ttag) in enumerate(layout):
        try:
            key = key_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise _vec.Decline("bad key") from None
        name = ("features" if map_tag == 0x0A else "label", key)
        if name in seen:
            raise _vec.Decline("repeated key")
        seen.add(name)
        columns.append((name[0], key, ttag >> 3, tuple((r[0], r[1]) for r in ranges[c])))
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    every = np.arange(n)
    for map_name, key, ttype, rng in columns:
        maps[map_name][key] = _build_column(buf, n, every, ttype, rng, map_name)
    return RecordBatch(maps["features"], maps["label"], n=n)


def _vector_decode(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> RecordBatch:
    """All records at once with numpy; raises `_vec.Decline` for anything unusual."""
    n = starts.size
    rec = _vec.scan(buf, starts, starts + lengths)
    known = (rec.fn >= 1) & (rec.fn <= 5)
    if (known & (rec.wt != 2)).any():
        raise _vec.Decline("known field with another wire type")
    if ((rec.fn >= 3) & (rec.fn <= 5)).any():
        raise _vec.Decline("uid/metadata/configuration")
    ent = rec.select((rec.fn == 1) | (rec.fn == 2))
    e_fields = _vec.scan(buf, ent.vs, ent.ve)
    if ((e_fields.fn <= 2) & (e_fields.wt != 2)).any():
        raise _vec.Decline("map entry field with another wire type")
    m_e = ent.msg.size
    kidx = _vec.last_per_message(e_fields.select(e_fields.fn == 1), m_e)
    vidx = _vec.last_per_message(e_fields.select(e_fields.fn == 2), m_e)
    kf = e_fields.select(e_fields.fn == 1)
    vf = e_fields.select(e_fields.fn == 2)
    key_s = np.where(kidx >= 0, kf.vs[np.maximum(kidx, 0)] if kf.vs.size else 0, 0)
    key_e = np.where(kidx >= 0, kf.ve[np.maximum(kidx, 0)] if kf.ve.size else 0, 0)
    key_len = key_e - key_s
    if key_len.size and int(key_len.max()) > 64:
        raise _vec.Decline("long map keys")
    width = int(key_len.max()) if key_len.size else 0
    kmat = np.zeros((m_e, width + 1), dtype=np.uint8)
    kmat[:, 0] = ent.fn  # the map (1 features, 2 label) is part of the identity
    for j in range(width):
        m = key_len > j
        kmat[m, j + 1] = buf[key_s[m] + j]
    ident = np.concatenate([kmat, key_len.astype(np.uint8)[:, None]], axis=1)
    # Distinct (map, key) pairs are few: find them by comparing with one exemplar at a time.
    key_id = np.full(m_e, -1, dtype=np.int64)
    names: list[tuple[str, str]] = []
    todo = np.arange(m_e)
    while todo.size:
        if len(names) >= 256:
            raise _vec.Decline("too many distinct keys")
        row = ident[todo[0]]
        same = (ident[todo] == row).all(axis=1)
        key_id[todo[same]] = len(names)
        todo = todo[~same]
        klen = int(row[-1])
        try:
            names.append(("features" if row[0] == 1 else "label", bytes(row[1 : 1 + klen]).decode("utf-8")))
        except UnicodeDecodeError:
            raise _vec.Decline("bad key") from None
    # Last entry wins for a repeated key within a record.
    order_pos = ent.seq
    comp = ent.msg * (len(names) + 1) + key_id
    sorter = np.lexsort((order_pos, comp))
    last = np.ones(sorter.size, dtype=bool)
    if sorter.size:
        last[:-1] = comp[sorter][1:] != comp[sorter][:-1]
    keep = np.sort(sorter[last])  # back in wire order: record, then position
    # Column order: first appearance (record, then position of the surviving entry).
    first_seen = np.full(len(names), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_seen, key_id[keep], np.arange(keep.size))
    # Values.
    has_v = vidx[keep] >= 0
    v_s = np.where(has_v, vf.vs[np.maximum(vidx[keep], 0)] if vf.vs.size else 0, 0)
    v_e = np.where(has_v, vf.ve[np.maximum(vidx[keep], 0)] if vf.ve.size else 0, 0)
    vals = _vec.scan(buf, v_s, v_e)
    oneof = (vals.fn == 2) | (vals.fn == 3) | (vals.fn == 7) | (vals.fn == 9)
    if (oneof & (vals.wt != 2)).any():
        raise _vec.Decline("value with another wire type")
    if (vals.fn == 9).any():
        raise _vec.Decline("bytes values")
    vsel = vals.select(oneof)
    which_i = _vec.last_per_message(vsel, keep.size)
    present = which_i >= 0
    t_type = np.where(present, vsel.fn[np.maximum(which_i, 0)] if vsel.fn.size else 0, 0)
    t_s = np.where(present, vsel.vs[np.maximum(which_i, 0)] if vsel.vs.size else 0, 0)
    t_e = np.where(present, vsel.ve[np.maximum(which_i, 0)] if vsel.ve.size else 0, 0)
    tf = _vec.scan(buf, t_s, t_e)
    tk = (tf.fn >= 1) & (tf.fn <= 3)
    if (tk & (tf.wt != 2)).any():
        raise _vec.Decline("unpacked repeated field")
    per = {}
    for fno in (1, 2, 3):
        of_field = tf.select(tf.fn == fno)
        per[fno] = (of_field, _vec.unique_field(of_field, keep.size))
    rec_of = ent.msg[keep]
    kid_of = key_id[keep]
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    for kid in np.argsort(first_seen, kind="stable").tolist():
        if first_seen[kid] == np.iinfo(np.int64).max:
            continue
        map_name, key = names[kid]
        sel = np.flatnonzero((kid_of == kid) & present)
        maps[map_name][key] = _vector_column(buf, n, rec_of[sel], t_type[sel], per, sel, map_name)
    return RecordBatch(maps["features"], maps["label"], n=n)


def _ranges(per: dict[int, Any], fno: int, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fields, idx = per[fno]
    i = idx[sel]
    has = i >= 0
    if not fields.vs.size:
        z = np.zeros(sel.size, np.int64)
        return z, z
    s = np.where(has, fields.vs[np.maximum(i, 0)], 0)
    e = np.where(has, fields.ve[np.maximum(i, 0)], 0)
    return s, e - s


def _vector_column(
    buf: np.ndarray,
    n: int,
    recs: np.ndarray,
    types: np.ndarray,
    per: dict[int, Any],
    sel: np.ndarray,
    map_name: str,
) -> Any:
    if types.size == 0 or (types != types[0]).any():
        raise _vec.Decline("mixed tensor types")
    ranges = (_ranges(per, 1, sel), _ranges(per, 2, sel), _ranges(per, 3, sel))
    if ((per[3][1][sel] >= 0) & (ranges[2][1] == 0)).any():
        raise _vec.Decline("present but empty shape")  # a scalar record, unlike an absent shape
    return _build_column(buf, n, recs, int(types[0]), ranges, map_name)


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _gather_items(
    buf: np.ndarray, starts: np.ndarray, nbytes: np.ndarray, counts: np.ndarray, dtype: np.dtype[Any]
) -> np.ndarray:
    """`_vec.gather_items` (`nbytes` is ``counts * dtype.itemsize``), in C where built."""
    if _crecordio is not None and dtype.isnative:
        out = np.empty(int(counts.sum()), dtype=dtype)
        if _crecordio.gather(buf, _i64(starts), _i64(nbytes), out):
            return out
    return _vec.gather_items(buf, starts, counts, dtype)


def _read_packed_varints(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``_vec.decode_varint_stream(_vec.gather(buf, starts, lengths), lengths, counts)``,
    in C where built (the numpy code runs, and decides, whenever the C loop does not
    answer)."""
    if _crecordio is not None:
        if counts is None:
            out = np.empty(int(lengths.sum()), dtype=np.uint64)  # a varint has >= 1 byte
            got = np.empty(lengths.size, dtype=np.int64)
            k = _crecordio.varints(buf, _i64(starts), _i64(lengths), None, out, got)
            if k >= 0:
                return out[:k], got
        else:
            out = np.empty(int(counts.sum()), dtype=np.uint64)
            k = _crecordio.varints(buf, _i64(starts), _i64(lengths), _i64(counts), out, None)
            if k == out.size:
                return out, counts
    return _vec.decode_varint_stream(_vec.gather(buf, starts, lengths), lengths, counts)


def _read_keys(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray, width: int, it: type
) -> np.ndarray:
    """The column indices of a sparse column as `it`: each region's packed keys, exactly
    `counts` of them, each below `width`; declines otherwise."""
    if _crecordio is not None and it is np.int32:
        out = np.empty(int(counts.sum()), dtype=np.int32)
        if _crecordio.keys32(buf, _i64(starts), _i64(lengths), _i64(counts), out, width) == out.size:
            return out
    keys, _ = _read_packed_varints(buf, starts, lengths, counts)
    if keys.size and int(keys.max()) >= width:
        raise _vec.Decline("key outside the shape")
    return keys.astype(it)


_TENSOR_DTYPES: dict[int, np.dtype[Any]] = {2: np.dtype("<f4"), 3: np.dtype("<f8"), 7: np.dtype(np.int32)}


def _build_column(
    buf: np.ndarray,
    n: int,
    recs: np.ndarray,
    ttype: int,
    ranges: tuple[tuple[np.ndarray, np.ndarray], ...],
    map_name: str,
) -> Any:
    """One column from the (start, length) of each record's packed values, keys and shape.

    `recs` are the records that have the key (in record order); the result is always owned.
    """
    dtype = _TENSOR_DTYPES[ttype]
    (vs, vl), (ks, kl), (ss, sl) = ranges
    if ttype == 7:
        raw, counts = _read_packed_varints(buf, vs, vl)
        values = raw.astype(np.int64).astype(np.int32)  # protobuf int32: the low 32 bits
    else:
        if (vl % dtype.itemsize).any():
            raise _vec.Decline("packed length not a multiple of the element size")
        counts = vl // dtype.itemsize
        values = _gather_items(buf, vs, vl, counts, dtype)
    has_shape = sl > 0
    shape: tuple[int, ...] | None = None
    if has_shape.any():
        if not has_shape.all():
            raise _vec.Decline("shape on some records only")
        # Every record must carry the same shape bytes; decode them once.
        width = int(sl[0])
        if (sl != width).any():
            raise _vec.Decline("varying shapes")
        for j in range(width):
            col = buf[ss + j]
            if (col != col[0]).any():
                raise _vec.Decline("varying shapes")
        first = buf[int(ss[0]) : int(ss[0]) + width]
        shape_vals, _ = _vec.decode_varint_stream(first, np.array([width], dtype=np.int64))
        shape = tuple(int(x) for x in shape_vals)
        if math.prod(shape) > 2**63 - 1 or shape_problem(shape, n) is not None:
            raise _vec.Decline("shape numpy cannot hold (the careful reader reports it)")
    complete = recs.size == n
    if (kl > 0).any():
        if not complete or shape is None:
            raise _vec.Decline("sparse column needs every record and a shape")
        width = math.prod(shape)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        small = width <= np.iinfo(np.int32).max and indptr[-1] <= np.iinfo(np.int32).max
        it = np.int32 if small else np.int64
        # Declines unless each record has as many keys as values, each below the width.
        indices = _read_keys(buf, ks, kl, counts, width, it)
        m = sp.csr_array((values, indices, indptr.astype(it)), shape=(n, width))
        return m if len(shape) == 1 else Sparse(m, shape)
    if shape is not None and (counts == 0).all() and math.prod(shape) > 0:
        # Every record is an SDK-style empty sparse row.
        if not complete:
            raise _vec.Decline("sparse column needs every record")
        width = math.prod(shape)
        m = sp.csr_array((values, np.empty(0, np.int32), np.zeros(n + 1, np.int32)), shape=(n, width))
        return m if len(shape) == 1 else Sparse(m, shape)
    if shape is not None:
        if (counts != math.prod(shape)).any():
            raise _vec.Decline("dense values do not fill the shape (or mixed sparse rows)")
        if not complete:
            raise _vec.Decline("partial column with a shape")
        return values.reshape((n, *shape))
    if complete and (counts == counts[0]).all():
        k = int(counts[0])
        if map_name == "label" and k == 1:
            return values.reshape(n)
        return values.reshape(n, k)
    offsets = np.zeros(n + 1, dtype=np.int64)
    full_counts = np.zeros(n, dtype=np.int64)
    full_counts[recs] = counts
    np.cumsum(full_counts, out=offsets[1:])
    valid = np.zeros(n, dtype=bool)
    valid[recs] = True
    # `values` is in record order: entries were kept in wire order, one per record.
    return Ragged(values, offsets, valid)


def _careful_decode(
    view: memoryview,
    starts: np.ndarray,
    lengths: np.ndarray,
    joined: Mapping[int, memoryview],
    base: int,
    first_index: int,
) -> RecordBatch:
    records = []
    for i in range(starts.size):
        s = int(starts[i])
        try:
            if s < 0:
                payload = joined[i]
                records.append(parse_record(payload, 0, len(payload)))
            else:
                records.append(parse_record(view, s, s + int(lengths[i])))
        except WireError as e:
            # A joined multi-part record has no single place in the input: name its header.
            offset = base + (e.offset if s >= 0 else -1 - s)
            raise DecodeError(CONTENT_TYPE, e.reason, offset=offset, record_index=first_index + i) from None
    try:
        features = columns_from_records([r.features for r in records], "features")
        label = columns_from_records([r.label for r in records], "label")
    except ColumnError as e:
        idx = None if e.record_index is None else first_index + e.record_index
        off = None
        if e.record_index is not None:
            s = int(starts[e.record_index])
            off = base + (s - 8 if s >= 0 else -1 - s)
        raise DecodeError(
            CONTENT_TYPE,
            f"{e.column}: {e.reason}"
            + (
                " (a RecordBatch column holds one kind of tensor; "
                "use smp.formats.recordio_protobuf.decode_records for arbitrary records)"
                if e.mixed
                else ""
            ),
            offset=off,
            record_index=idx,
        ) from None
    return RecordBatch(
        features,
        label,
        [r.uid for r in records],
        [r.metadata for r in records],
        [r.configuration for r in records],
        n=len(records),
    )


def _decode_table(
    view: memoryview,
    starts: np.ndarray,
    lengths: np.ndarray,
    joined: Mapping[int, memoryview],
    *,
    copy: bool,
    base: int = 0,
    first_index: int = 0,
) -> RecordBatch:
    n = starts.size
    if n == 0:
        return RecordBatch(n=0)
    buf = np.frombuffer(view, dtype=np.uint8)
    if not joined:
        if (lengths == lengths[0]).all():
            out = _template_decode(view, buf, starts, int(lengths[0]), copy)
            if out is not None:
                return out
        for fast in (_walk_decode, _vector_decode):
            try:
                return fast(buf, starts, lengths)
            except _vec.Decline:
                pass
    return _careful_decode(view, starts, lengths, joined, base, first_index)


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
    """
    view = _as_view(data)
    starts, lengths, joined = frame_table(view, CONTENT_TYPE)
    return _decode_table(view, starts, lengths, joined, copy=copy)


def decode_records(data: bytes | bytearray | memoryview) -> list[Any]:
    """Read every record as a `smp.Record` row view, however heterogeneous the records are."""
    view = _as_view(data)
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
    view = _as_view(source)
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
        yield _decode_table(
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


class RecordIOProtobufCodec:
    """The registry's codec object for ``application/x-recordio-protobuf``."""

    content_type: ClassVar[str] = CONTENT_TYPE
    aliases: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, sdk_compatible: bool = False) -> None:
        self.sdk_compatible = sdk_compatible

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RecordIOProtobufCodec:
        return cls()

    def encode(self, batch: RecordBatch) -> bytes:
        return encode(batch, sdk_compatible=self.sdk_compatible)

    def decode(self, data: Any, *, copy: bool = False) -> RecordBatch:
        return decode(data, copy=copy)

    def iter_decode(
        self, source: Any, *, batch_size: int = 10_000, copy: bool = False
    ) -> Iterator[RecordBatch]:
        return iter_decode(source, batch_size=batch_size, copy=copy)
