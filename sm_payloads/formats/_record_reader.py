"""Reading ``aialgs.data.Record`` messages out of RecordIO frames: the decoder of
``application/x-recordio-protobuf``, behind one entry point, `decode_table`.

`decode_table` takes the frame table of a body (`sm_payloads.recordio.frame_table`) and
returns the `RecordBatch` of its records, trying four readers in turn (1 only when every
record has the same length, 1-3 only when no record is a multi-part one):

1. `template_decode`: uniform dense frames (every record of record 0's length and layout,
   float tensors of one packed chunk each) as strided views of the input, or copies with
   ``copy=True``; the C loop ``same_gaps`` checks the constant bytes (and copies).
2. `walk_decode`: records that share one field sequence (what the SDK and our encoder
   write for sparse and ragged batches), a few vectorized steps per field; the C loop
   ``walk`` steps through the fields, ``gather``, ``varints`` and ``keys32`` read the
   packed values and keys. Without the C extension the numpy walk also reads a value in
   several parts that every record splits alike (one tensor each, of one kind), joined
   as protobuf merges them (`_joined_parts`); with it, the numpy walk runs after reader 3
   (the C walk declines such records, and reader 3's one-pass C reader reads them).
3. `vector_decode`: any field order, repeated keys, unknown fields, and protobuf's merges
   (a map entry's value in parts, a oneof member in parts, a tensor's repeated fields in
   parts or unpacked, joined in wire order), the uid, metadata and configuration strings,
   with the vectorized protobuf scanner (``scan`` in C, `_wire.scan` its twin): a table
   of fields per level (record, map entry, value, tensor), at most one row per 8 bytes of
   the input each, so its memory stays within 6 x the input per table. A run of empty
   length-delimited fields of one number is one row (`_scan_fields`: protobuf reads such
   a run as its first field), and a tensor's unpacked values are joined without a table
   (in C; numpy reads a few long tensors a run of fields at a time). A body of smaller
   fields than that is read in a few runs of records, each under the same limit, and the
   runs' entries joined before the columns are built; a record too large for its own run
   (millions of non-empty map entries or uid strings of 3 to 5 bytes) is read in pieces of
   its fields, a key's last entry winning across them (`_read_pieces`). Before its tables,
   the C loop ``entries`` reads records of map entries of numeric tensors (packed or not)
   and uid, metadata and configuration strings without tables (`decode_table` asks for
   it): a key table of the batch (the key that followed the previous one last time, else
   a hash of the map and key bytes to a key number), a key's last entry in a record
   winning, values and tensors in parts joined in wire order, a record's last string of
   each field kept (each checked to be UTF-8), runs of empty fields skipped; it counts,
   then fills either dense columns (every record holding every key as a float tensor of
   one width; filled while counting where record 0 shows them) or a table of the entries
   that `_columns` reads (`_entries_batch`).
4. `careful_decode`: one record at a time with `parse_record`, which reads any valid
   protobuf encoding of record.proto (any field order, packed or unpacked repeated fields,
   unknown fields of every wire type including groups, repeated map keys where the last
   wins, a oneof where the last member wins) as protobuf reads it: a message field that
   occurs more than once merges (a map entry's value in two parts, a tensor in two parts:
   their values, keys and shape concatenate), and a repeated field without elements is
   absent (an empty packed shape is no shape). It reports the exact byte offset of
   anything malformed.

Rule 1 (one answer): the four give the same batch (values, dtypes, shapes, column order)
for any input they accept. Readers 1-3 answer only what they are sure of: on anything
unusual they decline (None from the template, `Decline` from the others) and the next one
runs, so the careful reader alone decides what is an error, and where (a fast reader also
declines a batch the careful reader refuses for its column cells, `_Cells`).
Rule 2 (errors): `parse_record` raises `WireError(reason, offset)` with the absolute byte
offset; `careful_decode` turns it, and any column it cannot build, into `DecodeError` with
the byte offset and the record index. A known field with an unexpected wire type is an
error (protobuf's own parsers reject it too); unknown fields are skipped.
Rule 3 (bounds): every read is bounds-checked against the enclosing message; a length word
never allocates more than the bytes present.
Rule 4 (accelerator): `crecordio` is the optional C extension ``sm_payloads.formats._crecordio``
(None when not built or with ``SM_PAYLOADS_PURE_PYTHON=1``). Its loops decide nothing: on
anything unusual they answer "not handled" and their numpy twins run, which stay the
reference; the tests run both (patching `crecordio` to None) and compare.
"""

from __future__ import annotations

import itertools
import math
import sys
from array import array
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _native
from ..columns import (
    LACKING_CELLS,
    ColumnError,
    cells_over,
    columns_from_records,
    lacking_budget,
    shape_problem,
)
from ..errors import DecodeError
from ..limits import column_limit, columns_refused
from ..record import Ragged, Record, RecordBatch, Sparse, Tensor
from ._wire import (
    I32,
    I64,
    LEN,
    VARINT,
    Decline,
    Fields,
    TableFull,
    WireError,
    cuts_of,
    decode_varint_stream,
    field_cuts,
    fields,
    fields_in_runs,
    gather,
    gather_items,
    read_packed_varints,
    read_varint,
    read_varints_at,
    scan,
    splits_long,
)

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from .. import _sparse as sp

__all__ = [
    "CONTENT_TYPE",
    "Layout",
    "careful_decode",
    "crecordio",
    "decode_table",
    "parse_record",
    "template_decode",
    "vector_decode",
    "walk_decode",
]

CONTENT_TYPE = "application/x-recordio-protobuf"

# The optional C loops (sm_payloads/formats/_crecordio.c): twins of `_Walk`, `gather_items` and
# `decode_varint_stream` that answer "not handled" on anything unusual, so that the numpy
# code decides; None when not built or with SM_PAYLOADS_PURE_PYTHON=1.
crecordio = _native.load("formats._crecordio")

# record.proto's Value oneof: its tensor members (field number -> element type), and the
# names of all its members (for errors).
_TENSOR_DTYPES: dict[int, np.dtype[Any]] = {2: np.dtype("<f4"), 3: np.dtype("<f8"), 7: np.dtype(np.int32)}
_VALUE_FIELD_NAMES = {2: "float32_tensor", 3: "float64_tensor", 7: "int32_tensor", 9: "bytes"}


# ======================================================================================
# The careful reader: one record at a time, exact errors
# ======================================================================================


def _check_wt(wt: int, expected: int, what: str, tag_at: int) -> None:
    if wt != expected:
        raise WireError(f"{what} has wire type {wt}, expected {expected}", tag_at)


def _utf8(buf: memoryview, start: int, end: int, what: str) -> str:
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError(f"{what} is not valid UTF-8", start + e.start) from None


def _to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


class NotSimple(Exception):
    """Record 0 is not one the template reads (raised by `Layout` as soon as that shows)."""


class Layout:
    """Where record 0 keeps its packed fixed-width values (for the template fast path).

    Its `simple` (only float tensors with one packed values chunk, nothing else) is True
    until the parse sets it False, which raises `NotSimple` at once: the template gives up
    on a record of millions of small fields at its second field, not after reading it all
    at the careful reader's speed."""

    __slots__ = ("ranges",)

    def __init__(self) -> None:
        self.ranges: list[tuple[str, str, int, int]] = []  # (map, key, start, end), absolute

    @property
    def simple(self) -> bool:
        return True

    @simple.setter
    def simple(self, value: bool) -> None:
        if not value:
            raise NotSimple


def _fields_of(buf: memoryview, parts: list[tuple[int, int]]) -> Any:
    """The fields of a message that arrived in parts (occurrences that protobuf merges)."""
    for start, end in parts:
        yield from fields(buf, start, end)


def _tensor(
    buf: memoryview, parts: list[tuple[int, int]], which: int, layout: Layout | None, where: tuple[str, str]
) -> Tensor:
    dtype = _TENSOR_DTYPES[which]
    # The byte ranges of the float values, packed or not, in wire order (start, end, ...),
    # gathered into an array every `_SPANS` ranges: an array a field took about 100 bytes.
    spans = array("q")
    done: list[np.ndarray] = []
    values_int: list[int] = []
    keys: list[int] = []
    shape: list[int] = []
    shape_seen = False
    packed_ranges: list[tuple[int, int]] = []
    start = parts[0][0]
    for fn, wt, vs, ve, tag_at in _fields_of(buf, parts):
        if fn == 1:
            if which == 7:
                if wt == LEN:
                    values_int.extend(_to_int32(v) for v in read_packed_varints(buf, vs, ve))
                else:
                    _check_wt(wt, VARINT, "int32 value", tag_at)
                    values_int.append(_to_int32(read_varint(buf, vs, ve)[0]))
                if layout is not None:
                    layout.simple = False
            else:
                size = dtype.itemsize
                if wt == LEN:
                    if (ve - vs) % size:
                        raise WireError(
                            f"packed {dtype.name} values of {ve - vs} bytes (not a multiple of {size})",
                            vs,
                        )
                    if ve > vs:
                        spans.extend((vs, ve))
                        if len(spans) >= 2 * _SPANS:
                            done.append(_spans_values(buf, spans, dtype))
                            spans = array("q")
                    if layout is not None:
                        packed_ranges.append((vs, ve))
                        if len(packed_ranges) > 1:
                            layout.simple = False
                else:
                    _check_wt(wt, I32 if size == 4 else I64, f"{dtype.name} value", tag_at)
                    spans.extend((vs, ve))
                    if len(spans) >= 2 * _SPANS:
                        done.append(_spans_values(buf, spans, dtype))
                        spans = array("q")
                    if layout is not None:
                        layout.simple = False
        elif fn in (2, 3):
            target = keys if fn == 2 else shape
            if fn == 3:
                shape_seen = True
            if wt == LEN:
                target.extend(read_packed_varints(buf, vs, ve))
            else:
                _check_wt(wt, VARINT, "keys" if fn == 2 else "shape", tag_at)
                target.append(read_varint(buf, vs, ve)[0])
            if layout is not None and (shape_seen or keys):
                layout.simple = False
        elif layout is not None:
            layout.simple = False
    if which == 7:
        values = np.array(values_int, dtype=np.int32)
    elif not done and len(spans) <= 2:
        values = np.frombuffer(buf[spans[0] : spans[1]], dtype=dtype) if spans else np.empty(0, dtype=dtype)
    else:
        if spans:
            done.append(_spans_values(buf, spans, dtype))
        values = done[0] if len(done) == 1 else np.concatenate(done)
    if layout is not None:
        # The template path handles a float tensor that is one packed chunk (or empty),
        # with no keys, no shape and nothing else.
        if which == 7 or keys or shape_seen or len(packed_ranges) > 1 or len(parts) > 1:
            layout.simple = False
        elif packed_ranges:
            layout.ranges.append((where[0], where[1], *packed_ranges[0]))
        elif values.size:
            layout.simple = False
        else:
            layout.ranges.append((where[0], where[1], -1, -1))
    if keys and len(keys) != values.size:
        raise WireError(f"sparse tensor has {len(keys)} keys for {values.size} values", start)
    return Tensor(
        values.astype(dtype.newbyteorder("="), copy=False),
        keys=np.array(keys, dtype=np.uint64) if keys else None,
        # repeated fields have no presence: an empty packed shape is no shape
        shape=tuple(shape) if shape else None,
    )


#: Value ranges `_tensor` gathers at a time.
_SPANS = 1 << 14


def _spans_values(buf: memoryview, spans: array[int], dtype: np.dtype[Any]) -> np.ndarray:
    """The values in the byte ranges ``spans`` (start, end, start, end, ...) of `buf`, one
    after another, as `dtype`."""
    at = np.frombuffer(spans, dtype=np.int64)
    counts = (at[1::2] - at[0::2]) // dtype.itemsize
    return gather_items(np.frombuffer(buf, dtype=np.uint8), at[0::2], counts, dtype)


def _bytes_value(buf: memoryview, parts: list[tuple[int, int]]) -> Tensor:
    vals: list[Any] = []
    for fn, wt, vs, ve, tag_at in _fields_of(buf, parts):
        if fn == 1:
            _check_wt(wt, LEN, "bytes value", tag_at)
            raw = bytes(buf[vs:ve])
            try:
                vals.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                vals.append(raw)
        elif fn == 2:
            _check_wt(wt, LEN, "content_type", tag_at)
            _utf8(buf, vs, ve, "content_type")
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    return Tensor(arr)


def _value(
    buf: memoryview, parts: list[tuple[int, int]], layout: Layout | None, where: tuple[str, str]
) -> Tensor | None:
    # A oneof, as protobuf merges it: the member on the wire last wins, and occurrences of
    # that member in a row (with nothing else of the oneof between them) merge.
    which = 0
    member: list[tuple[int, int]] = []
    seen = 0
    for fn, wt, vs, ve, tag_at in _fields_of(buf, parts):
        if fn in _VALUE_FIELD_NAMES:
            _check_wt(wt, LEN, _VALUE_FIELD_NAMES[fn], tag_at)
            seen += 1
            if layout is not None and seen > 1:
                layout.simple = False
            if fn != which:
                which, member = fn, [(vs, ve)]
            elif ve > vs:  # an empty occurrence after the first adds nothing
                member.append((vs, ve))
        elif layout is not None:
            layout.simple = False
    if not which:
        return None
    if layout is not None and seen > 1:
        layout.simple = False
    if which == 9:
        if layout is not None:
            layout.simple = False
        return _bytes_value(buf, member)
    return _tensor(buf, member, which, layout, where)


def _map_entry(
    buf: memoryview, start: int, end: int, map_name: str, layout: Layout | None
) -> tuple[str, list[tuple[int, int]] | None]:
    key = ""
    value: list[tuple[int, int]] | None = None
    for fn, wt, vs, ve, tag_at in fields(buf, start, end):
        if fn == 1:
            _check_wt(wt, LEN, f"{map_name} key", tag_at)
            key = _utf8(buf, vs, ve, f"{map_name} key")
        elif fn == 2:
            _check_wt(wt, LEN, f"{map_name} value", tag_at)
            if value is None:
                value = []
            elif layout is not None:  # a message field that occurs twice merges
                layout.simple = False
            if ve > vs:  # an empty part adds nothing (millions of them: no tuple each)
                value.append((vs, ve))
        elif layout is not None:
            layout.simple = False
    return key, value


_ABSENT: Any = object()


def parse_record(buf: memoryview, start: int, end: int, layout: Layout | None = None) -> Record:
    """Parse one Record from ``buf[start:end]``; offsets in errors are absolute."""
    maps: dict[str, dict[str, list[tuple[int, int]] | None]] = {"features": {}, "label": {}}
    strings: dict[int, str] = {}
    for fn, wt, vs, ve, tag_at in fields(buf, start, end):
        if fn in (1, 2):
            name = "features" if fn == 1 else "label"
            _check_wt(wt, LEN, f"{name} entry", tag_at)
            key, value = _map_entry(buf, vs, ve, name, layout)
            entries = maps[name]
            # a repeated key: the last entry wins, in its position
            if entries.pop(key, _ABSENT) is not _ABSENT and layout is not None:
                layout.simple = False
            entries[key] = value
        elif fn in (3, 4, 5):
            what = ("uid", "metadata", "configuration")[fn - 3]
            _check_wt(wt, LEN, what, tag_at)
            strings[fn] = _utf8(buf, vs, ve, what)
            if layout is not None:
                layout.simple = False
        elif layout is not None:
            layout.simple = False
    tensors: dict[str, dict[str, Tensor]] = {}
    for name, entries in maps.items():
        out: dict[str, Tensor] = {}
        for key, parts in entries.items():
            if parts is None:
                continue
            t = _value(buf, parts, layout, (name, key))
            if t is not None:
                out[key] = t
        tensors[name] = out
    return Record(
        tensors["features"],
        tensors["label"],
        strings.get(3),
        strings.get(4),
        strings.get(5),
    )


# ======================================================================================
# The fast readers, and the entry point
# ======================================================================================


def template_decode(
    view: memoryview, buf: np.ndarray, starts: np.ndarray, length: int, copy: bool
) -> RecordBatch | None:
    """Uniform frames whose records differ only in packed float values: strided views."""
    n = starts.size
    layout = Layout()
    s0 = int(starts[0])
    # A record's first packed value comes after 8 bytes at least (the tag and length of its
    # map entry, Value, tensor and values field): bytes the records must share. Records that
    # differ there are not read by record 0's parse first (300 keys in another order in each
    # record: 1 ns a byte).
    head = min(length, 8)
    if n > 1 and view[s0 : s0 + head] != view[int(starts[1]) : int(starts[1]) + head]:
        return None
    try:
        rec0 = parse_record(view, s0, s0 + length, layout)
    except (WireError, NotSimple):
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
                if copy and crecordio is not None and dtype.isnative and sys.byteorder == "little":
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
    if crecordio is None or not crecordio.same_gaps(buf, s0, stride, n, gaps, copies):
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
            raise Decline("no records to walk")
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
            raise Decline("records differ in layout")
        self.pos += 1

    def length(self, pos: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(length, payload start) of the length prefix at each `pos` (bounded by `limit`)."""
        if not (pos < limit).all():
            raise Decline("length prefix past the end of its message")
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
                raw, q = read_varints_at(self.buf, pos, limit)
                if (raw >= 1 << 31).any():
                    raise Decline("length out of range")
                ln = raw.astype(np.int64)
        if ((q > limit) | (ln > limit - q)).any():
            raise Decline("length exceeds message")
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
            raise Decline("present but empty shape")
        return start, size

    def skip_shim(self) -> None:
        """The magic-escape field 16 (``82 01 len zeros``) that the encoder may put first."""
        has = (self.pos + 2 < self.end) & (self.peek(self.pos) == 0x82) & (self.peek(self.pos + 1) == 0x01)
        if has.any():
            sub = np.flatnonzero(has)
            ln, q = self.length(self.pos[sub] + 2, self.end[sub])
            self.pos[sub] = q + ln


def walk_decode(
    buf: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    c: bool = True,
    twin: bool = True,
    parts: bool = False,
) -> RecordBatch:
    """Records that all share one field sequence (what the SDK and our encoder write for a
    batch of sparse or ragged rows): a few vectorized steps per field, no scan. `c` and
    `twin` choose the C walk, its numpy twin or both (the C walk first). With `parts`, the
    numpy walk also reads a value in several parts that every record splits alike (one
    tensor each, of one kind), joined as protobuf merges them (`_joined_parts`), which the
    C walk declines: `decode_table` asks for it where the C loops are not built."""
    n = starts.size
    if c and crecordio is not None:
        got = crecordio.walk(buf, _i64(starts), _i64(lengths))
        if got is not None:
            return _walked(buf, n, *got)
    if not twin:
        raise Decline("the C walk does not answer")
    w = _Walk(buf, starts, lengths)
    w.skip_shim()
    columns: list[tuple[str, str, int, tuple[tuple[np.ndarray, np.ndarray], ...], np.ndarray]] = []
    seen: set[tuple[str, str]] = set()
    while w.pos[0] < w.end[0]:
        map_tag = int(buf[w.pos[0]])
        if map_tag not in (0x0A, 0x12) or len(columns) >= 256:
            raise Decline("not a features/label entry")
        entry_end = w.message(map_tag, w.end)
        key_end = w.message(0x0A, entry_end)
        klen = key_end - w.pos
        k0, k1 = int(w.pos[0]), int(key_end[0])
        if k1 - k0 > 64 or (klen != k1 - k0).any():
            raise Decline("keys differ")
        for j in range(k1 - k0):
            if (buf[w.pos + j] != buf[k0 + j]).any():
                raise Decline("keys differ")
        try:
            key = bytes(buf[k0:k1]).decode("utf-8")
        except UnicodeDecodeError:
            raise Decline("bad key") from None
        w.pos = key_end
        # The value, in one part or in several that every record splits alike (protobuf
        # merges them: the tensor's values, keys and shape each join in wire order).
        found: list[tuple[tuple[np.ndarray, np.ndarray], ...]] = []
        ttag = -1
        while not found or (parts and (w.pos < entry_end).any()):
            value_end = w.message(0x12, entry_end)
            tag = int(buf[w.pos[0]]) if w.pos[0] < value_end[0] else -1
            if tag not in (0x12, 0x1A, 0x3A, 0x4A) or (found and (tag != ttag or tag == 0x4A)):
                raise Decline("not a float32/float64/int32 tensor or bytes, or parts of two kinds")
            ttag = tag
            tensor_end = w.message(ttag, value_end)
            if (tensor_end != value_end).any():
                raise Decline("value with more than one tensor")
            ranges: tuple[tuple[np.ndarray, np.ndarray], ...]
            if ttag == 0x4A:  # bytes: the body whole, which `_bytes_column` reads
                none = np.zeros(n, np.int64)
                ranges = ((w.pos, tensor_end - w.pos), (none, none), (none, none))
                w.pos = tensor_end
            else:
                ranges = tuple(w.optional(tag, tensor_end) for tag in (0x0A, 0x12, 0x1A))
            if (w.pos != tensor_end).any():
                raise Decline("tensor with other fields")
            found.append(ranges)
        if (w.pos != entry_end).any():
            raise Decline("entry with more than a key and a value")
        col_buf = buf
        if len(found) > 1:
            col_buf, ranges = _joined_parts(buf, found)
        name = ("features" if map_tag == 0x0A else "label", key)
        if name in seen:
            raise Decline("repeated key")
        seen.add(name)
        columns.append((name[0], key, ttag >> 3, ranges, col_buf))
    if (w.pos != w.end).any():
        raise Decline("records differ in length of layout")
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    every = np.arange(n)
    for map_name, key, ttype, ranges, col_buf in columns:
        maps[map_name][key] = _build_column(col_buf, n, every, ttype, ranges, map_name)
    return RecordBatch(maps["features"], maps["label"], n=n)


def _joined_parts(
    buf: np.ndarray, parts: list[tuple[tuple[np.ndarray, np.ndarray], ...]]
) -> tuple[np.ndarray, tuple[tuple[np.ndarray, np.ndarray], ...]]:
    """The packed values, keys and shape of tensors in parts (per part, the (start, length)
    of each record's three fields in `buf`) joined as protobuf merges them: a new buffer of
    every record's values (part by part), then every record's keys, then its shapes, and
    each record's (start, length) of the three in it. A field of the same length in every
    record of each part is read as a matrix of its bytes (a record a row)."""
    n = parts[0][0][0].size
    out: list[tuple[np.ndarray, np.ndarray]] = []
    pieces: list[np.ndarray] = []
    at = 0
    for f in range(3):
        lens = [p[f][1] for p in parts]
        if all((ln == ln[0]).all() for ln in lens):
            widths = [int(ln[0]) for ln in lens]
            w = sum(widths)
            if w:
                block = np.concatenate(
                    [buf[p[f][0][:, None] + np.arange(wp)] for p, wp in zip(parts, widths, strict=True)],
                    axis=1,
                )
                pieces.append(block.ravel())
            per = np.full(n, w, dtype=np.int64)
            out.append((np.arange(n, dtype=np.int64) * w + at, per))
            at += n * w
            continue
        s = np.stack([p[f][0] for p in parts], axis=1).ravel()  # record by record, part by part
        ln = np.stack(lens, axis=1).ravel()
        per = ln.reshape(n, len(parts)).sum(axis=1)
        first = np.zeros(n, dtype=np.int64)
        np.cumsum(per[:-1], out=first[1:])
        out.append((first + at, per))
        at += int(per.sum())
        pieces.append(_gather_items(buf, s, ln, ln, np.dtype(np.uint8)))
    joined = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
    return joined, (out[0], out[1], out[2])


def _walked(buf: np.ndarray, n: int, layout: list[tuple[int, bytes, int]], raw: bytearray) -> RecordBatch:
    """The rest of `walk_decode` after the C walk (which checked the field sequence)."""
    ranges = np.frombuffer(raw, dtype=np.int64).reshape(len(layout), 3, 2, n)
    columns = []
    seen: set[tuple[str, str]] = set()
    for c, (map_tag, key_bytes, ttag) in enumerate(layout):
        try:
            key = key_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise Decline("bad key") from None
        name = ("features" if map_tag == 0x0A else "label", key)
        if name in seen:
            raise Decline("repeated key")
        seen.add(name)
        columns.append((name[0], key, ttag >> 3, tuple((r[0], r[1]) for r in ranges[c])))
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    every = np.arange(n)
    for map_name, key, ttype, rng in columns:
        maps[map_name][key] = _build_column(buf, n, every, ttype, rng, map_name)
    return RecordBatch(maps["features"], maps["label"], n=n)


def _scan_fields(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    wanted: tuple[int, ...],
    limit: int,
    tags: np.ndarray | None = None,
) -> Fields:
    """The fields numbered `wanted` of the messages ``buf[starts[i]:ends[i]]``, as `scan`
    splits them (the others checked and left out); declines where more than `limit` would
    be kept (a table row costs 48 bytes: the caller's bound on memory). A run of empty
    length-delimited fields of one number is one row (`scan`'s `collapse`: at every level
    this reader scans, record.proto reads such a run as its first field), so a record of
    millions of empty map entries, or a value of millions of empty parts, is a table of a
    few rows. In C where built (the numpy twin runs, and decides, when the C loop does not
    answer; `tags`, for one message, are its fields' tags where the caller has them)."""
    if crecordio is not None:
        mask = sum(1 << f for f in wanted)
        raw = crecordio.scan(buf, _i64(starts), _i64(np.maximum(ends - starts, 0)), mask, limit, True)
        if raw is False:
            raise TableFull("more fields than the table may hold")
        if isinstance(raw, bytearray):
            t = np.frombuffer(raw, dtype=np.int64).reshape(5, -1) if raw else np.empty((5, 0), np.int64)
            return Fields(t[0], t[1], t[2], t[3], t[4], np.arange(t.shape[1]))
    f = scan(buf, starts, ends, wanted, limit, collapse=True, tags=tags)
    f.seq = np.arange(f.msg.size)
    return f


def _last_of(msg: np.ndarray, k: int) -> np.ndarray:
    """For `msg` sorted (non-decreasing), the index of the last element of each value
    0..k-1 (-1 where none)."""
    out = np.full(k, -1, dtype=np.int64)
    if msg.size:
        ends = np.flatnonzero(np.r_[msg[1:] != msg[:-1], True])
        out[msg[ends]] = ends
    return out


def _joined(
    buf: np.ndarray, msg: np.ndarray, vs: np.ndarray, ve: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The byte ranges ``buf[vs[j]:ve[j]]`` of messages `msg` (sorted, 0..k-1), each
    message's ranges joined in order: (a buffer, and each message's start and end in it; 0,
    0 for a message without ranges). `buf` itself where no message has two ranges, else a
    new buffer of every range (protobuf reads the parts of a message one after another, as
    if they were one)."""
    s = np.zeros(k, dtype=np.int64)
    e = np.zeros(k, dtype=np.int64)
    if msg.size and (msg[1:] == msg[:-1]).any():
        lens = ve - vs
        out = _gather_items(buf, vs, lens, lens, np.dtype(np.uint8))
        at = np.zeros(msg.size + 1, dtype=np.int64)
        np.cumsum(lens, out=at[1:])
        firsts = np.flatnonzero(np.r_[True, msg[1:] != msg[:-1]])
        lasts = np.r_[firsts[1:], msg.size]
        s[msg[firsts]] = at[firsts]
        e[msg[firsts]] = at[lasts]
        return out, s, e
    s[msg] = vs
    e[msg] = ve
    return buf, s, e


def _record_strings(buf: np.ndarray, f: Fields, fno: int, n: int) -> list[str | None]:
    """The uid (`fno` 3), metadata (4) or configuration (5) of each record, from the
    records' fields `f` (by record, then in wire order): the last occurrence wins, every
    occurrence must be UTF-8 (the careful reader checks each). Occurrences of ASCII bytes
    alone are checked at once (one record of millions of uid strings: no str each)."""
    out: list[str | None] = [None] * n
    sel = f.fn == fno
    count = int(np.count_nonzero(sel))
    if not count:
        return out
    if count == sel.size:  # (one record of millions of uids: no copy of the table)
        msg, vs, ve = f.msg, f.vs, f.ve
    else:
        mine = np.flatnonzero(sel)
        msg, vs, ve = f.msg[mine], f.vs[mine], f.ve[mine]
    if not _ascii(buf, vs, ve):
        for m, s0, e0 in zip(msg.tolist(), vs.tolist(), ve.tolist(), strict=True):
            try:
                out[m] = buf[s0:e0].tobytes().decode("utf-8")
            except UnicodeDecodeError:
                raise Decline("a string that is not UTF-8") from None
        return out
    last = _last_of(msg, n)
    has = np.flatnonzero(last >= 0)
    js = last[has]
    data = buf.data  # the body's bytes (a uint8 array's memoryview)
    for m, a, b in zip(has.tolist(), vs[js].tolist(), ve[js].tolist(), strict=True):
        out[m] = str(data[a:b], "ascii")
    return out


def _ascii(buf: np.ndarray, vs: np.ndarray, ve: np.ndarray) -> bool:
    """Whether the byte ranges ``buf[vs[j]:ve[j]]`` hold ASCII bytes alone."""
    lens = ve - vs
    if vs.size < 64:
        return all(buf[a:b].max(initial=0) < 0x80 for a, b in zip(vs.tolist(), ve.tolist(), strict=True))
    return not bool((_gather_items(buf, vs, lens, lens, np.dtype(np.uint8)) >= 0x80).any())


#: The wire type of one element of a tensor's values written unpacked, by tensor field.
_UNPACKED = {2: I32, 3: I64, 7: VARINT}


def _tensor_fields(
    tbuf: np.ndarray, t_s: np.ndarray, t_e: np.ndarray, types: np.ndarray, limit: int
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The packed values, keys and shape of the numeric tensor messages
    ``tbuf[t_s[i]:t_e[i]]`` (element types `types`): a buffer and, per field, every
    message's (start, length) in it. A field that occurs more than once, or unpacked, is
    joined into one packed run (protobuf concatenates the occurrences of a repeated field,
    packed or not); declines on a wire type protobuf would refuse there, a packed run of
    fixed-width values of a length that is not a multiple of their width, and a packed run
    of varints that ends inside a varint. In C where built (``tensor_join``: no table of
    fields, so no `limit`, which only bounds the twin's table)."""
    k = t_s.size
    if crecordio is not None:
        got = crecordio.tensor_join(tbuf, _i64(t_s), _i64(t_e - t_s), _i64(types))
        if got is not None:
            joined, raw = got
            r = np.frombuffer(raw, dtype=np.int64).reshape(6, k) if raw else np.zeros((6, k), np.int64)
            fbuf = np.frombuffer(joined, dtype=np.uint8) if joined else np.zeros(0, np.uint8)
            return fbuf, [(r[0], r[1]), (r[2], r[3]), (r[4], r[5])]
    if splits_long(t_e - t_s):
        return _tensor_fields_long(tbuf, t_s, t_e, types)
    tf = _scan_fields(tbuf, t_s, t_e, (1, 2, 3), limit)
    _check_tensor_fields(tbuf, tf.fn, tf.wt, tf.vs, tf.ve, types[tf.msg])
    # By field, then message, then wire order; each field's occurrences in a message joined.
    order = np.argsort(tf.fn.astype(np.int8), kind="stable")  # (1 to 3: numpy sorts by radix)
    key = (tf.fn[order] - 1) * k + tf.msg[order]
    fbuf, starts, ends = _joined(tbuf, key, tf.vs[order], tf.ve[order], 3 * k)
    out = []
    for f in range(3):
        s = starts[f * k : (f + 1) * k]
        out.append((s, ends[f * k : (f + 1) * k] - s))
    return fbuf, out


def _check_tensor_fields(
    tbuf: np.ndarray, fn: np.ndarray, wt: np.ndarray, vs: np.ndarray, ve: np.ndarray, ttype: np.ndarray
) -> None:
    """Declines where protobuf would refuse these fields (values 1, keys 2, shape 3) of
    tensors of element types `ttype` or where the joined run would not read as a packed one
    (see `_tensor_fields`)."""
    one = np.where(fn == 1, np.where(ttype == 2, I32, np.where(ttype == 3, I64, VARINT)), VARINT)
    if ((wt != LEN) & (wt != one)).any():
        raise Decline("a tensor field of another wire type")
    lens = ve - vs
    packed = wt == LEN
    fixed = (fn == 1) & (ttype != 7)
    width = np.where(ttype == 3, 8, 4)
    if (fixed & packed & (lens % width != 0)).any():
        raise Decline("packed values of a length that is not a multiple of their width")
    run = ~fixed & packed & (lens > 0)
    if run.any() and (tbuf[ve[run] - 1] >= 0x80).any():
        raise Decline("a packed varint run that ends inside a varint")


def _tensor_fields_long(
    tbuf: np.ndarray, t_s: np.ndarray, t_e: np.ndarray, types: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """`_tensor_fields`' twin for a few tensor messages, one of them long (one of 6 MiB of
    unpacked 2-byte values: a table of its fields would hold one row per 2 bytes): each
    message's fields are read in runs (`fields_in_runs`, no table of them all), checked as
    the table's are, and each field's bytes gathered run by run and joined in wire order
    (values, keys, shape of message 0, then of message 1, ...), as protobuf concatenates
    them."""
    k = t_s.size
    pieces: list[list[np.ndarray]] = [[] for _ in range(3 * k)]
    for i in range(k):
        ttype = int(types[i])
        for fn, wt, vs, ve in fields_in_runs(tbuf, int(t_s[i]), int(t_e[i])):
            _check_tensor_fields(tbuf, fn, wt, vs, ve, np.full(fn.size, ttype))
            for f in (1, 2, 3):
                m = fn == f
                if m.any():
                    pieces[(f - 1) * k + i].append(gather(tbuf, vs[m], ve[m] - vs[m]))
    lengths = np.array([sum(a.size for a in p) for p in pieces], dtype=np.int64)
    at = np.cumsum(lengths) - lengths
    fbuf = np.concatenate([a for p in pieces for a in p]) if lengths.any() else np.zeros(0, np.uint8)
    return fbuf, [(at[f * k : (f + 1) * k], lengths[f * k : (f + 1) * k]) for f in range(3)]


class _Part:
    """What the vectorized reader finds in a run of records (`_read_part`): the distinct
    (map, key) pairs of its map entries (`names`, with or without a value) and, for each
    entry that survives (the last of its key in its record) and holds a value, in wire
    order: its record (`rec`, an index into the whole body), key (`kid`, into `names`),
    tensor type (`ttype`: 2, 3, 7 or 9), the Bytes message of a bytes value (``tbuf[bs:be]``)
    and the packed values, keys and shape of a numeric one (`ranges`: (start, length) in
    `fbuf`); and each record's uid, metadata and configuration. `by_key`, where the reader
    has it, is the entries' order grouped by key (a stable sort of `kid`)."""

    __slots__ = ("be", "bs", "by_key", "fbuf", "kid", "names", "ranges", "rec", "strings", "tbuf", "ttype")

    def __init__(
        self,
        names: list[tuple[str, str]],
        rec: np.ndarray,
        kid: np.ndarray,
        ttype: np.ndarray,
        bs: np.ndarray,
        be: np.ndarray,
        tbuf: np.ndarray,
        fbuf: np.ndarray,
        ranges: list[tuple[np.ndarray, np.ndarray]],
        strings: tuple[list[str | None], list[str | None], list[str | None]],
    ) -> None:
        self.names, self.rec, self.kid, self.ttype = names, rec, kid, ttype
        self.bs, self.be, self.tbuf, self.fbuf, self.ranges = bs, be, tbuf, fbuf, ranges
        self.strings = strings
        self.by_key: np.ndarray | None = None


#: The vectorized reader reads a body whose tables of fields pass their row limit in this
#: many runs of records of about equal size (see `vector_decode`).
CHUNKS = 4


def vector_decode(
    buf: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    one_pass: bool = False,
    *,
    chunk_bytes: int | None = None,
    piece_bytes: int | None = None,
) -> RecordBatch:
    """All records at once with numpy; raises `Decline` for anything unusual.

    Reads protobuf's merges as the careful reader does: a map entry's value in several
    parts, a oneof member in several parts (after the last occurrence of another member),
    and a tensor's repeated fields in several parts or unpacked, each joined in wire order
    (`_joined`), and the uid, metadata and configuration strings.

    Each table of fields holds at most one row per 8 bytes of the input (a row is 48 bytes:
    6 x the input). A body of fields smaller than that (map entries of 2 to 4 bytes, empty
    value parts, unpacked 2-byte values) passes the limit over the whole body, but not over
    a quarter of it (a field takes at least 2 bytes): such a body is read in `CHUNKS` runs of
    records (`_read_part` each, under the same limit), and the runs' entries joined before
    the columns are built (`_columns`), so the batch is the one the whole body would give.
    `chunk_bytes` reads in runs of about that many payload bytes from the start (for the
    tests).

    One record too large for a run of its own (millions of 3 to 5-byte map entries or uid
    strings) is read in pieces of its fields instead (`_read_pieces`), about `CHUNKS`
    pieces of a quarter of the body each. `piece_bytes` reads every record longer than
    that in pieces of about that many bytes (for the tests).

    With `one_pass` (what `decode_table` asks for), the C loop ``entries`` reads records of
    map entries of numeric tensors and uid, metadata and configuration strings alone
    first, without tables of fields (a key's last entry in a record, a value in parts, a
    tensor's fields in parts or unpacked, each joined as protobuf merges them; a record's
    last string of each field; dense columns filled directly), and the tables are read
    only where it does not answer (`_entries_batch`)."""
    n = starts.size
    total = int(lengths.sum())
    limit = 64 + total // 8
    if chunk_bytes is None and piece_bytes is not None:
        chunk_bytes = 1 << 62
    if one_pass and crecordio is not None and chunk_bytes is None and piece_bytes is None:
        got = crecordio.entries(buf, _i64(starts), _i64(lengths), True)
        if type(got) is int:  # past the keys it reads: the tables' readers read them, within a column limit
            _refuse_columns(buf, starts, lengths, got)
        elif got is not None:
            return _entries_batch(n, total, *got)
    if chunk_bytes is None:
        tags: np.ndarray | None = None
        try:
            return _columns(buf, n, total, _read_part(buf, starts, lengths, 0, limit, n, total))
        except TableFull as full:
            # (read on outside this clause: the exception holds the scan's frames)
            tags = _split_of(full, int(starts[0]), int(starts[0]) + total) if n == 1 else None
        chunk_bytes = -(-total // CHUNKS)
        if n == 1:  # one record: in pieces at once, from the numpy scan's split of it
            return _columns(
                buf, n, total, _read_pieces(buf, int(starts[0]), total, 0, limit, n, total, chunk_bytes, tags)
            )
    bounds = _runs(lengths, chunk_bytes)
    piece = -(-total // CHUNKS) if piece_bytes is None else piece_bytes
    parts = [
        _read_run(buf, starts, lengths, a, b, limit, total, piece, piece_bytes is not None)
        for a, b in itertools.pairwise(bounds)
    ]
    return _columns(buf, n, total, _merged(parts))


def _read_run(
    buf: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    a: int,
    b: int,
    limit: int,
    total: int,
    piece: int,
    forced: bool = False,
) -> _Part:
    """The `_Part` of records ``a:b`` of the body (`_read_part`); a record alone in its run
    whose tables pass `limit` (one record of millions of 3 to 5-byte map entries or uid
    strings), or with `forced` any record alone longer than `piece`, is read in pieces of
    about `piece` bytes of its fields (`_read_pieces`)."""
    n = starts.size
    if forced and b - a == 1 and int(lengths[a]) > piece:
        return _read_pieces(buf, int(starts[a]), int(lengths[a]), a, limit, n, total, piece)
    try:
        return _read_part(buf, starts[a:b], lengths[a:b], a, limit, n, total)
    except TableFull as full:
        if b - a != 1:
            raise
        s0 = int(starts[a])
        tags = _split_of(full, s0, s0 + int(lengths[a]))
    return _read_pieces(buf, s0, int(lengths[a]), a, limit, n, total, piece, tags)


def _split_of(full: TableFull, s: int, e: int) -> np.ndarray | None:
    """The numpy scan's split of the record ``buf[s:e]`` (where its fields begin) that came
    with `full`, where it is that record's table that overflowed."""
    return full.tags[2] if full.tags is not None and full.tags[:2] == (s, e) else None


def _read_pieces(
    buf: np.ndarray,
    start: int,
    length: int,
    rec: int,
    limit: int,
    n_all: int,
    total: int,
    piece: int,
    tags: np.ndarray | None = None,
) -> _Part:
    """The `_Part` of record `rec` (``buf[start:start + length]``) read in pieces: its
    fields cut into runs of about `piece` bytes (``_crecordio.cuts``, `field_cuts` its
    twin), each run read as if it were a record (`_read_part`, entries without a value
    kept), then joined as protobuf reads one record: a key's last entry wins across the
    pieces, in its position, and is dropped where it has no value (the record lacks the
    key); the last uid, metadata and configuration win. A piece's tables hold at most a
    row per 2 bytes of it, so pieces of a quarter of the body keep each within `limit`.
    `tags` are where the record's fields begin, where the numpy scan found them already
    (it then reads each piece's fields from them, without splitting it again)."""
    end = start + length
    cuts: np.ndarray | None = None
    if tags is not None:
        cuts = cuts_of(tags, start, end, piece)
    elif crecordio is not None:
        raw = crecordio.cuts(buf, start, length, piece)
        if raw is not None:
            cuts = np.frombuffer(raw, dtype=np.int64)
    if cuts is None:
        cuts = field_cuts(buf, start, end, piece)
    bounds = [start, *cuts.tolist(), end]
    at = np.searchsorted(tags, bounds) if tags is not None else None
    parts = []
    for j, (s0, e0) in enumerate(itertools.pairwise(bounds)):
        p = _read_part(
            buf,
            np.array([s0], np.int64),
            np.array([e0 - s0], np.int64),
            rec,
            limit,
            n_all,
            total,
            lacking=True,
            tags=None if tags is None or at is None else tags[at[j] : at[j + 1]],
        )
        parts.append(p)
    m = _merged(parts)
    # A key's last entry across the pieces (each piece holds at most one per key), in wire order.
    order = np.arange(m.kid.size)
    last = np.full(len(m.names), -1, dtype=np.int64)
    if m.kid.size:
        by_key = np.lexsort((order, m.kid))
        ends = np.flatnonzero(np.r_[m.kid[by_key][1:] != m.kid[by_key][:-1], True])
        last[m.kid[by_key[ends]]] = by_key[ends]
    keep = np.sort(last[last >= 0])
    keep = keep[m.ttype[keep] != 0]
    strings = tuple(
        [next((p.strings[j][0] for p in reversed(parts) if p.strings[j][0] is not None), None)]
        for j in range(3)
    )
    return _Part(
        m.names,
        m.rec[keep],
        m.kid[keep],
        m.ttype[keep],
        m.bs[keep],
        m.be[keep],
        m.tbuf,
        m.fbuf,
        [(r[0][keep], r[1][keep]) for r in m.ranges],
        (strings[0], strings[1], strings[2]),
    )


def _runs(lengths: np.ndarray, size: int) -> list[int]:
    """Bounds of runs of records of about `size` payload bytes each (a longer record is a
    run of its own): 0, ..., the number of records."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if ends.size else 0
    cuts = np.searchsorted(ends, np.arange(max(size, 1), total, max(size, 1)), side="left") + 1
    longer = np.flatnonzero(lengths > size)  # a run of its own: cut before and after it
    return sorted(
        {0, lengths.size, *cuts[cuts < lengths.size].tolist(), *longer.tolist(), *(longer + 1).tolist()}
    )


def _last_rows(msg: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """For rows of messages `msg` (sorted) with values `ids` (0..k-1), the last row of each
    (message, value) pair, in order (wire order: message, then position)."""
    m = msg.size
    comp = msg * (k + 1) + ids
    ncomp = (int(msg[-1]) + 1) * (k + 1) if m else 0
    if ncomp <= max(2 * m, 1 << 16):
        # (message, value) pairs few enough for a table of each one's last row (every
        # record of a batch holding most of its keys: at most 2 slots a row)
        lastof = np.full(ncomp, -1, dtype=np.int64)
        np.maximum.at(lastof, comp, np.arange(m))
        return np.sort(lastof[lastof >= 0])
    sorter = np.lexsort((np.arange(m), comp))
    last = np.ones(sorter.size, dtype=bool)
    if sorter.size:
        last[:-1] = comp[sorter][1:] != comp[sorter][:-1]
    return np.sort(sorter[last])


#: `_read_part` keeps only the last of equal map entries of a record from this many entries on.
_SAME_ENTRIES = 4096


def _last_of_each_entry(buf: np.ndarray, ent: Fields) -> Fields:
    """The map entries `ent` (fields 1 and 2 of records, sorted by record) less those that
    a later entry of the same record repeats byte for byte, in the same map: the last entry
    of a key wins, and an entry's key and value are its bytes', so an entry that comes again
    later in its record can never win, and reading it again would tell nothing new (its
    checks are its copy's). Entries of up to 7 bytes are compared by their bytes, length
    and map packed into 64 bits; longer ones are all kept. Returns `ent` itself where most
    entries are longer or nothing is left out (one record of millions of entries of a few
    keys: a few rows)."""
    lens = ent.ve - ent.vs
    small = lens <= 7
    if 2 * int(np.count_nonzero(small)) < lens.size:
        return ent
    code = ent.fn.astype(np.uint64) << np.uint64(59) | lens.astype(np.uint64) << np.uint64(56)
    width = int(lens[small].max(initial=0))
    vs = ent.vs
    for j in range(width):
        m = np.flatnonzero(small & (lens > j))
        code[m] |= buf[vs[m] + j].astype(np.uint64) << np.uint64(8 * j)
    big = np.flatnonzero(~small)
    code[big] = np.uint64(1 << 63) | big.astype(np.uint64)  # each its own (bit 63: no map's)
    firsts, ids = _distinct(code)
    del code
    keep = _last_rows(ent.msg, ids, firsts.size)
    return ent if keep.size == lens.size else ent.select(keep)


#: `_distinct` tells this many values apart by comparisons before it sorts.
_FEW_VALUES = 8


def _distinct(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of `h`: the index of the first occurrence of each, and each
    element's value number (an index into those). A few values that each take at least
    an eighth of what is left (one record of millions of entries of a few keys) are told
    apart by comparisons, one pass each; otherwise (or past `_FEW_VALUES`) with a sort
    (`np.unique`, numbered in the order of the values)."""
    ids = np.zeros(h.size, dtype=np.int64)
    firsts: list[int] = []
    todo: np.ndarray | None = None  # the elements not numbered yet (None: all of them)
    left = h.size
    while left and len(firsts) < _FEW_VALUES:
        r0 = 0 if todo is None else int(todo[0])
        same = h == h[r0] if todo is None else h[todo] == h[r0]
        if 8 * int(np.count_nonzero(same)) < left:
            break
        if todo is None:  # (value 0: ids are 0 already)
            todo = np.flatnonzero(~same)
        else:
            ids[todo[same]] = len(firsts)
            todo = todo[~same]
        firsts.append(r0)
        left = todo.size
    if not left:
        return np.array(firsts, dtype=np.int64), ids
    _, first_row, key_id = np.unique(h, return_index=True, return_inverse=True)
    return first_row, key_id.ravel().astype(np.int64)


def _read_part(
    buf: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    first: int,
    limit: int,
    n_all: int,
    total: int,
    *,
    lacking: bool = False,
    tags: np.ndarray | None = None,
) -> _Part:
    """The `_Part` of the records ``starts``, ``lengths`` (record `first` of `n_all` in the
    body, whose payloads hold `total` bytes), each table of fields within `limit` rows.
    With `lacking`, the surviving entries without a value stay too (tensor type 0, no
    ranges): the pieces of one record (`_read_pieces`) need them, since such an entry
    removes its key's earlier entries in the pieces before it. `tags`, for one record, are
    where its fields begin, where the caller has them (`_read_pieces` on the numpy path)."""
    n = starts.size
    ends = starts + lengths
    # The records' fields in one scan: map entries (1, 2) and strings (3, 4, 5).
    ent = _scan_fields(buf, starts, ends, (1, 2, 3, 4, 5), limit, tags)
    if (ent.wt != LEN).any():
        raise Decline("known field with another wire type")
    strings = ent.fn >= 3
    if strings.any():
        uid, metadata, configuration = (_record_strings(buf, ent, fno, n) for fno in (3, 4, 5))
        ent = ent.select(np.flatnonzero(~strings))
    else:
        uid, metadata, configuration = [None] * n, [None] * n, [None] * n
    del strings
    if ent.msg.size >= _SAME_ENTRIES:
        ent = _last_of_each_entry(buf, ent)
    m_e = ent.msg.size
    vf: Fields | None = None
    if crecordio is None and splits_long(ent.ve - ent.vs):
        # A few long entries (one of millions of empty value parts): split once, not once
        # for the keys and again for the values (C scans them twice faster than that).
        kv = _scan_fields(buf, ent.vs, ent.ve, (1, 2), limit)
        kf, vf = kv.select(kv.fn == 1), kv.select(kv.fn == 2)
        del kv
    else:
        kf = _scan_fields(buf, ent.vs, ent.ve, (1,), limit)
    if (kf.wt != LEN).any():
        raise Decline("map entry field with another wire type")
    if kf.msg.size and (kf.msg[1:] == kf.msg[:-1]).any():
        raise Decline("map entry with its key twice (the careful reader checks each)")
    if kf.msg.size == m_e:  # a key in every entry (none twice): the table's own order
        key_s, key_len = kf.vs, kf.ve - kf.vs
    else:
        kidx = _last_of(kf.msg, m_e)
        key_s = np.where(kidx >= 0, kf.vs[np.maximum(kidx, 0)] if kf.vs.size else 0, 0)
        key_len = np.where(kidx >= 0, kf.ve[np.maximum(kidx, 0)] if kf.ve.size else 0, 0) - key_s
        del kidx
    del kf
    if key_len.size and int(key_len.max()) > 64:
        raise Decline("long map keys")
    width = int(key_len.max()) if key_len.size else 0
    # Distinct (map, key) pairs, by a 64-bit hash of each entry's map (1 features, 2 label),
    # key length and key bytes, then checked byte by byte against the first entry of its
    # hash (two keys of one hash decline). A matrix of every entry's bytes, as wide as the
    # longest key, peaked at 34 x the input where one long key widened many short ones.
    # Keys of at most 7 bytes are told apart exactly by the map, length and bytes packed
    # into the 64 bits instead (bits 59-60, 56-58, and a byte each below): nothing to check.
    fn_of = ent.fn
    packed = width <= 7
    shortest = int(key_len.min()) if key_len.size else 0
    if packed:
        h = fn_of.astype(np.uint64) << np.uint64(59) | key_len.astype(np.uint64) << np.uint64(56)
    else:
        h = fn_of.astype(np.uint64) << np.uint64(8) | key_len.astype(np.uint64)
    for j in range(width):
        if j < shortest:  # every key has a byte j
            byte = buf[key_s + j].astype(np.uint64)
            h = h | byte << np.uint64(8 * j) if packed else h * _KEY_HASH ^ byte
            continue
        m = np.flatnonzero(key_len > j)
        byte = buf[key_s[m] + j].astype(np.uint64)
        h[m] = h[m] | byte << np.uint64(8 * j) if packed else h[m] * _KEY_HASH ^ byte
    first_row, key_id = _distinct(h)
    del h
    if first_row.size > MAX_KEYS:
        raise Decline("too many distinct keys")
    if not packed:
        ex = first_row[key_id]
        if (fn_of[ex] != fn_of).any() or (key_len[ex] != key_len).any():
            raise Decline("two keys of one hash")
        for j in range(width):
            m = np.flatnonzero(key_len > j)
            if (buf[key_s[m] + j] != buf[key_s[ex[m]] + j]).any():
                raise Decline("two keys of one hash")
        del ex
    names: list[tuple[str, str]] = []
    for r in first_row.tolist():
        s0 = int(key_s[r])
        try:
            names.append(
                (
                    "features" if fn_of[r] == 1 else "label",
                    buf[s0 : s0 + int(key_len[r])].tobytes().decode("utf-8"),
                )
            )
        except UnicodeDecodeError:
            raise Decline("bad key") from None
    del key_s, key_len, first_row, fn_of
    if vf is None:
        vf = _scan_fields(buf, ent.vs, ent.ve, (2,), limit)
    if (vf.wt != LEN).any():
        raise Decline("map entry field with another wire type")
    ent_msg = ent.msg
    del ent
    # Last entry wins for a repeated key within a record.
    keep = _last_rows(ent_msg, key_id, len(names))
    k = keep.size
    rec_of = ent_msg[keep]
    kid_of = key_id[keep]
    del ent_msg, key_id
    # Each kept entry's value: every occurrence of the value field, in wire order.
    slot = np.full(m_e, -1, dtype=np.int64)
    slot[keep] = np.arange(k)
    owner = slot[vf.msg]
    mine = owner >= 0
    vp_vs, vp_ve, vp_owner = vf.vs[mine], vf.ve[mine], owner[mine]
    del vf, slot, owner, mine
    vals = _scan_fields(buf, vp_vs, vp_ve, (2, 3, 7, 9), limit)
    vals.msg = vp_owner[vals.msg]  # the fields of a value's parts, one after another
    del vp_vs, vp_ve, vp_owner
    if (vals.wt != LEN).any():
        raise Decline("value with another wire type")
    vsel = vals
    del vals
    # The oneof: the member on the wire last wins; its occurrences after the last one of
    # another member merge.
    lasti = _last_of(vsel.msg, k)
    present = lasti >= 0
    t_type = np.zeros(k, dtype=np.int64)
    t_type[present] = vsel.fn[lasti[present]]
    other = np.flatnonzero(vsel.fn != t_type[vsel.msg])
    last_other = np.full(k, -1, dtype=np.int64)
    lo = _last_of(vsel.msg[other], k)
    last_other[lo >= 0] = other[lo[lo >= 0]]
    member = (vsel.fn == t_type[vsel.msg]) & (np.arange(vsel.msg.size) > last_other[vsel.msg])
    m_msg, m_vs, m_ve = vsel.msg[member], vsel.vs[member], vsel.ve[member]
    del vsel, member, other, lo, last_other, lasti
    tbuf, t_s, t_e = _joined(buf, m_msg, m_vs, m_ve, k)
    del m_msg, m_vs, m_ve
    # The entries with a value (with `lacking`, all of them), from here on (in wire order).
    # The keys of these records alone already make more column cells than the whole body
    # may (the careful reader's budget, `_check_cells`): decline before the tensors.
    budget = max(CELLS_FLOOR, total + 8 * n_all)
    kids = np.unique(kid_of[present])
    if not lacking:
        at = np.flatnonzero(present)
        rec_of, kid_of, t_type, t_s, t_e = rec_of[at], kid_of[at], t_type[at], t_s[at], t_e[at]
        del at
    rec_of = rec_of + first
    del present
    for map_name in ("features", "label"):
        if sum(names[kid][0] == map_name for kid in kids.tolist()) * n_all > budget:
            raise Decline("more column cells than the careful reader allows (it reports them)")
    numeric = (t_type != 9) & (t_type != 0)
    fbuf = _NO_BYTES
    k = rec_of.size
    ranges = [(np.zeros(k, np.int64), np.zeros(k, np.int64)) for _ in range(3)]
    if numeric.any():
        cells = np.flatnonzero(numeric)
        fbuf, got = _tensor_fields(tbuf, t_s[cells], t_e[cells], t_type[cells], limit)
        for f in range(3):
            ranges[f][0][cells] = got[f][0]
            ranges[f][1][cells] = got[f][1]
    if not (t_type == 9).any():
        tbuf = _NO_BYTES
    return _Part(names, rec_of, kid_of, t_type, t_s, t_e, tbuf, fbuf, ranges, (uid, metadata, configuration))


def _entries_batch(
    n: int,
    total: int,
    keys: list[tuple[int, bytes]],
    runs: bytearray,
    got: bytearray | list[tuple[int, int, int]],
    found: tuple[list[str | None] | None, list[str | None] | None, list[str | None] | None] = (
        None,
        None,
        None,
    ),
) -> RecordBatch:
    """The batch of ``crecordio.entries``' answer for the `n` records of the body (whose
    payloads hold `total` bytes), after the checks `_read_part` and `_columns` make once
    the entries are known: keys that are not UTF-8, more column cells than the careful
    reader allows. Dense columns (`got` a list) are views of `runs`, as `_dense_columns`
    makes them; otherwise `got` is the table of entries, which `_columns` reads. `found`
    holds the records' uid, metadata and configuration (a str or None each, a record's last
    one; None for a field no record holds)."""
    names: list[tuple[str, str]] = []
    for fn, raw in keys:
        try:
            names.append(("features" if fn == 1 else "label", raw.decode("utf-8")))
        except UnicodeDecodeError:
            raise Decline("bad key") from None
    fbuf = np.frombuffer(runs, dtype=np.uint8) if runs else _NO_BYTES
    if isinstance(got, bytearray):
        t = np.frombuffer(got, dtype=np.int64).reshape(10, -1) if got else np.zeros((10, 0), np.int64)
        z = np.zeros(t.shape[1], np.int64)
        part = _Part(
            names,
            t[0],
            t[1],
            t[2],
            z,
            z,
            _NO_BYTES,
            fbuf,
            [(t[3], t[4]), (t[5], t[6]), (t[7], t[8])],
            (found[0] or [None] * n, found[1] or [None] * n, found[2] or [None] * n),
        )
        part.by_key = t[9]
        return _columns(fbuf, n, total, part)
    budget = max(CELLS_FLOOR, total + 8 * n)
    for map_name in ("features", "label"):
        mine = sum(1 for kid, _, _ in got if names[kid][0] == map_name)
        if mine * n > budget or cells_over(n, np.full(mine, n), lacking_budget(budget)) is not None:
            raise Decline("more column cells than the careful reader allows (it reports them)")
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    at = 0
    for kid, ttype, width in got:
        dtype = _TENSOR_DTYPES[ttype]
        k = width // dtype.itemsize
        col = fbuf[at : at + n * width].view(dtype)
        at += n * width
        map_name, key = names[kid]
        maps[map_name][key] = col.reshape(n) if map_name == "label" and k == 1 else col.reshape(n, k)
    return RecordBatch(
        maps["features"], maps["label"], uid=found[0], metadata=found[1], configuration=found[2], n=n
    )


#: The buffer of a `_Part` without bytes values (or without numeric ones).
_NO_BYTES = np.zeros(0, np.uint8)


def _one_buffer(bufs: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """One buffer holding each of `bufs` (the same one where they all are one; the empty
    `_NO_BYTES` left out), and where each starts in it."""
    used = [b for b in bufs if b is not _NO_BYTES]
    if not used:
        return _NO_BYTES, [0] * len(bufs)
    if all(b is used[0] for b in used):
        return used[0], [0] * len(bufs)
    distinct: dict[int, int] = {}
    pieces: list[np.ndarray] = []
    at = 0
    for b in used:
        if id(b) not in distinct:
            distinct[id(b)] = at
            pieces.append(b)
            at += b.size
    return np.concatenate(pieces), [distinct.get(id(b), 0) for b in bufs]


def _merged(parts: list[_Part]) -> _Part:
    """The `_Part` of runs of records read one after another: their keys numbered in order
    of first appearance, their entries in wire order, one buffer of bytes values and one of
    packed numeric runs."""
    if len(parts) == 1:
        return parts[0]
    index: dict[tuple[str, str], int] = {}
    kids = []
    for p in parts:
        remap = np.array([index.setdefault(name, len(index)) for name in p.names], dtype=np.int64)
        kids.append(remap[p.kid] if p.kid.size else p.kid)
        if len(index) > MAX_KEYS:
            raise Decline("too many distinct keys")
    tbuf, t_at = _one_buffer([p.tbuf for p in parts])
    fbuf, f_at = _one_buffer([p.fbuf for p in parts])
    cat = np.concatenate
    ranges = []
    for f in range(3):
        shifted = [p.ranges[f][0] + a for p, a in zip(parts, f_at, strict=True)]
        ranges.append((cat(shifted), cat([p.ranges[f][1] for p in parts])))
    strings = tuple([s for p in parts for s in p.strings[j]] for j in range(3))
    return _Part(
        list(index),
        cat([p.rec for p in parts]),
        cat(kids),
        cat([p.ttype for p in parts]),
        cat([p.bs + a for p, a in zip(parts, t_at, strict=True)]),
        cat([p.be + a for p, a in zip(parts, t_at, strict=True)]),
        tbuf,
        fbuf,
        ranges,
        (strings[0], strings[1], strings[2]),
    )


def _columns(buf: np.ndarray, n: int, total: int, part: _Part) -> RecordBatch:
    """The batch of the `n` records (`total` payload bytes) whose entries `part` holds:
    the careful reader's budget of column cells (`_Cells`), then a column per key, in the
    order keys first have a value (record, then position of the surviving entry), as the
    careful reader's records list their keys."""
    names, rec_of, kid_of, t_type = part.names, part.rec, part.kid, part.ttype
    t_s, t_e, tbuf, fbuf, ranges = part.bs, part.be, part.tbuf, part.fbuf, part.ranges
    # The column cells a batch of these keys makes, against the careful reader's budget.
    budget = max(CELLS_FLOOR, total + 8 * n)
    counts = np.bincount(kid_of, minlength=len(names))
    kids = np.flatnonzero(counts)
    held = counts[kids]
    for map_name in ("features", "label"):
        mine = np.array([names[kid][0] == map_name for kid in kids.tolist()], dtype=bool)
        if int(mine.sum()) * n > budget or cells_over(n, held[mine], lacking_budget(budget)) is not None:
            raise Decline("more column cells than the careful reader allows (it reports them)")
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    # The entries grouped by key (in entry order within a key): a stable sort of the key
    # numbers (below MAX_KEYS: as int16, which numpy sorts by radix), unless the reader
    # grouped them already.
    by_key = part.by_key
    if by_key is None:
        by_key = np.argsort(kid_of.astype(np.int16) if len(names) < 1 << 15 else kid_of, kind="stable")
    bounds = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    # Where each key first has an entry: the first of its group.
    first_seen = np.full(len(names), np.iinfo(np.int64).max, dtype=np.int64)
    first_seen[kids] = by_key[bounds[kids]]
    dense = _dense_columns(fbuf, n, names, by_key, bounds, t_type, ranges) if len(names) > 16 else {}
    for kid in np.argsort(first_seen, kind="stable").tolist():
        if first_seen[kid] == np.iinfo(np.int64).max:
            continue
        map_name, key = names[kid]
        if kid in dense:
            maps[map_name][key] = dense[kid]
            continue
        sel = by_key[bounds[kid] : bounds[kid + 1]]
        types = t_type[sel]
        if (types != types[0]).any():
            raise Decline("mixed tensor types")
        ttype = int(types[0])
        col_ranges: tuple[tuple[np.ndarray, np.ndarray], ...]
        if ttype == 9:
            z = np.zeros(sel.size, np.int64)
            col_ranges = ((t_s[sel], t_e[sel] - t_s[sel]), (z, z), (z, z))
            maps[map_name][key] = _build_column(tbuf, n, rec_of[sel], 9, col_ranges, map_name)
        else:
            col_ranges = tuple((r[0][sel], r[1][sel]) for r in ranges)
            maps[map_name][key] = _build_column(fbuf, n, rec_of[sel], ttype, col_ranges, map_name)
    # A list of None alone is no strings (RecordBatch's own reading of it, without its
    # check of every item: 50 ns a record).
    uid, metadata, configuration = (None if s.count(None) == len(s) else s for s in part.strings)
    return RecordBatch(
        maps["features"], maps["label"], uid=uid, metadata=metadata, configuration=configuration, n=n
    )


def _dense_columns(
    fbuf: np.ndarray,
    n: int,
    names: list[tuple[str, str]],
    by_key: np.ndarray,
    bounds: np.ndarray,
    t_type: np.ndarray,
    ranges: list[tuple[np.ndarray, np.ndarray]],
) -> dict[int, np.ndarray]:
    """The columns `_build_column` would make of the keys (ids into `names`) that every
    record holds as a float32, float64 or int32 tensor of the same number of values and no
    keys, without a shape or with the same shape bytes in every record (whose product is
    that number), their values gathered (int32: read) at once per type, each column a view
    of its share: a record of thousands of keys then costs no numpy calls per column. `by_key`
    and `bounds` group the kept entries by key; `ranges` are the packed values, keys and
    shape of each entry in `fbuf`. Other keys are left out (`_build_column` makes them)."""
    out: dict[int, np.ndarray] = {}
    held = np.diff(bounds)
    full = np.flatnonzero(held == n)
    if not full.size or n == 0:
        return out
    (vs, vl), (_, kl), (ss, sl) = ranges
    # The entries of the keys every record holds, key by key (n entries each).
    if full.size * n == by_key.size:  # every key (`by_key` is these entries already)
        ent = by_key.reshape(full.size, n)
    else:
        ent = by_key[(bounds[full][:, None] + np.arange(n)).ravel()].reshape(full.size, n)
    lens = vl[ent]
    if t_type.size and not sl.any() and not kl.any() and (t_type == t_type[0]).all():
        # (one member and no keys and no shapes anywhere: one pass over each, not per key)
        types = np.full((full.size, 1), t_type[0])
        width = np.zeros(full.size, dtype=np.int64)
        same = np.ones(full.size, dtype=bool)
    else:
        types = t_type[ent]
        sl_e = sl[ent]
        width = sl_e[:, 0]
        same = (types == types[:, :1]).all(axis=1) & ~(kl[ent] != 0).any(axis=1)
        same &= (sl_e == width[:, None]).all(axis=1)
    # (int32 values are varints: the same number of them may take different lengths.)
    even_len = (lens == lens[:, :1]).all(axis=1)
    # A shape of the same bytes in every record of a key (at most `_SHAPE_BYTES` of them;
    # longer ones are `_build_column`'s), decoded once per key, as `_build_column` does.
    same &= width <= _SHAPE_BYTES
    shapes: dict[int, tuple[int, ...]] = {}
    rows = np.flatnonzero(same & (width > 0))
    if rows.size:
        ss_e = ss[ent[rows]]
        w = width[rows]
        for j in range(int(w.max())):
            m = np.flatnonzero(w > j)
            col = fbuf[ss_e[m] + j]
            same[rows[m[~(col == col[:, :1]).all(axis=1)]]] = False
        rows = rows[same[rows]]
        w = width[rows]
        vals, cnts = decode_varint_stream(gather(fbuf, ss[ent[rows, 0]], w), w)
        at = 0
        for r, c in zip(rows.tolist(), cnts.tolist(), strict=True):
            shape = tuple(int(x) for x in vals[at : at + c])
            at += c
            # (`_build_column` declines on these; the careful reader reports them.)
            if shape_problem(shape, n) is not None or math.prod(shape) > 2**63 - 1:
                same[r] = False
            else:
                shapes[r] = shape
    for code in (2, 3, 7):
        dtype = _TENSOR_DTYPES[code]
        size = 1 if code == 7 else dtype.itemsize
        fits = np.ones(same.size, dtype=bool) if code == 7 else even_len & (lens[:, 0] % size == 0)
        pick = np.flatnonzero(same & (types[:, 0] == code) & fits)
        if not pick.size:
            continue
        e = ent.ravel() if pick.size == ent.shape[0] else ent[pick].ravel()
        if code == 7:
            # Varints: the number of values of each entry is known once they are read (all
            # at once, as `_build_column` reads a column's); a key whose records hold
            # different numbers of them is left out.
            raw, got = _read_packed_varints(fbuf, vs[e], vl[e])
            values = raw.view(np.int64).astype(np.int32)  # protobuf int32: the low 32 bits
            counts = got.reshape(pick.size, n)
            even = (counts == counts[:, :1]).all(axis=1).tolist()
            widths = counts[:, 0].tolist()
        else:
            values = _gather_items(fbuf, vs[e], vl[e], vl[e] // size, dtype)
            widths = (lens[pick, 0] // size).tolist()
            even = [True] * pick.size
        at = 0
        for i, (r, k, ok) in enumerate(zip(pick.tolist(), widths, even, strict=True)):
            if not ok:
                at += int(counts[i].sum())
                continue
            kid = int(full[r])
            col = values[at : at + n * k]
            at += n * k
            if r in shapes and math.prod(shapes[r]) != k:
                continue
            if r in shapes:
                out[kid] = col.reshape((n, *shapes[r]))
            else:
                out[kid] = col.reshape(n) if names[kid][0] == "label" and k == 1 else col.reshape(n, k)
    return out


#: The longest shape (in bytes) `_dense_columns` reads.
_SHAPE_BYTES = 32


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int64)


def _gather_items(
    buf: np.ndarray, starts: np.ndarray, nbytes: np.ndarray, counts: np.ndarray, dtype: np.dtype[Any]
) -> np.ndarray:
    """`gather_items` (`nbytes` is ``counts * dtype.itemsize``), in C where built."""
    if crecordio is not None and dtype.isnative:
        out = np.empty(int(counts.sum()), dtype=dtype)
        if crecordio.gather(buf, _i64(starts), _i64(nbytes), out):
            return out
    return gather_items(buf, starts, counts, dtype)


def _read_packed_varints(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``decode_varint_stream(gather(buf, starts, lengths), lengths, counts)``,
    in C where built (the numpy code runs, and decides, whenever the C loop does not
    answer)."""
    if crecordio is not None:
        if counts is None:
            out = np.empty(int(lengths.sum()), dtype=np.uint64)  # a varint has >= 1 byte
            got = np.empty(lengths.size, dtype=np.int64)
            k = crecordio.varints(buf, _i64(starts), _i64(lengths), None, out, got)
            if k >= 0:
                return out[:k], got
        else:
            out = np.empty(int(counts.sum()), dtype=np.uint64)
            k = crecordio.varints(buf, _i64(starts), _i64(lengths), _i64(counts), out, None)
            if k == out.size:
                return out, counts
    return decode_varint_stream(gather(buf, starts, lengths), lengths, counts)


def _read_keys(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, counts: np.ndarray, width: int, it: type
) -> np.ndarray:
    """The column indices of a sparse column as `it`: each region's packed keys, exactly
    `counts` of them, each below `width`; declines otherwise."""
    if crecordio is not None and it is np.int32:
        out = np.empty(int(counts.sum()), dtype=np.int32)
        if crecordio.keys32(buf, _i64(starts), _i64(lengths), _i64(counts), out, width) == out.size:
            return out
    keys, _ = _read_packed_varints(buf, starts, lengths, counts)
    if keys.size and int(keys.max()) >= width:
        raise Decline("key outside the shape")
    return keys.astype(it)


def _bytes_column(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The strings column of Bytes messages ``buf[starts[i] : starts[i] + lengths[i]]``
    that hold values (field 1) and nothing else, as the careful reader builds it: per
    record its one value, or a list of its values (none or several), each a str where it is
    valid UTF-8 and bytes otherwise. Declines on anything else in a message (a
    content_type, another field, a bad length), which the careful reader then reads.
    In C where built; the loop below is its twin."""
    got = crecordio.strings(buf, _i64(starts), _i64(lengths)) if crecordio is not None else None
    if got is None:
        got = []
        data = memoryview(buf.data)
        for pos, size in zip(starts.tolist(), lengths.tolist(), strict=True):
            end = pos + size
            vals: list[Any] = []
            while pos < end:
                if data[pos] != 0x0A:
                    raise Decline("a Bytes message with other fields")
                try:
                    ln, pos = read_varint(data, pos + 1, end)
                except WireError:
                    raise Decline("bad length") from None
                if ln >= 1 << 31 or ln > end - pos:
                    raise Decline("bad length")
                raw = bytes(data[pos : pos + ln])
                pos += ln
                try:
                    vals.append(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    vals.append(raw)
            got.append(vals[0] if len(vals) == 1 else vals)
    return np.fromiter(got, dtype=object, count=len(got))


def _build_column(
    buf: np.ndarray,
    n: int,
    recs: np.ndarray,
    ttype: int,
    ranges: tuple[tuple[np.ndarray, np.ndarray], ...],
    map_name: str,
) -> Any:
    """One column from the (start, length) of each record's packed values, keys and shape
    (for a bytes column, of each record's Bytes message in the first pair).

    `recs` are the records that have the key (in record order); the result is always owned.
    """
    if ttype == 9:
        if recs.size != n:
            raise Decline("bytes column with absent records")
        return _bytes_column(buf, *ranges[0])
    dtype = _TENSOR_DTYPES[ttype]
    (vs, vl), (ks, kl), (ss, sl) = ranges
    if ttype == 7:
        raw, counts = _read_packed_varints(buf, vs, vl)
        values = raw.view(np.int64).astype(np.int32)  # protobuf int32: the low 32 bits
    else:
        if (vl % dtype.itemsize).any():
            raise Decline("packed length not a multiple of the element size")
        counts = vl // dtype.itemsize
        values = _gather_items(buf, vs, vl, counts, dtype)
    has_shape = sl > 0
    shape: tuple[int, ...] | None = None
    if has_shape.any():
        if not has_shape.all():
            raise Decline("shape on some records only")
        # Every record must carry the same shape bytes; decode them once.
        width = int(sl[0])
        if (sl != width).any():
            raise Decline("varying shapes")
        first = buf[int(ss[0]) : int(ss[0]) + width]
        # Loop over the shorter side (bytes of the shape, or records), vectorized over the
        # other: at most sqrt(input) steps, where a byte-by-byte loop over one record's
        # long shape field took microseconds per byte.
        if width <= ss.size:
            for j in range(width):
                col = buf[ss + j]
                if (col != col[0]).any():
                    raise Decline("varying shapes")
        else:
            for s0 in ss[1:].tolist():
                if not np.array_equal(buf[s0 : s0 + width], first):
                    raise Decline("varying shapes")
        shape_vals, _ = decode_varint_stream(first, np.array([width], dtype=np.int64))
        shape = tuple(int(x) for x in shape_vals)
        # shape_problem first: it stops at 64 dimensions or past 2**63, where the product
        # of thousands of huge dimensions costs time quadratic in their number.
        if shape_problem(shape, n) is not None or math.prod(shape) > 2**63 - 1:
            raise Decline("shape numpy cannot hold (the careful reader reports it)")
    complete = recs.size == n
    if (kl > 0).any():
        if not complete or shape is None:
            raise Decline("sparse column needs every record and a shape")
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
            raise Decline("sparse column needs every record")
        width = math.prod(shape)
        m = sp.csr_array((values, np.empty(0, np.int32), np.zeros(n + 1, np.int32)), shape=(n, width))
        return m if len(shape) == 1 else Sparse(m, shape)
    if shape is not None:
        if (counts != math.prod(shape)).any():
            raise Decline("dense values do not fill the shape (or mixed sparse rows)")
        if not complete:
            raise Decline("partial column with a shape")
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


#: Distinct keys the vectorized reader takes (more: the careful reader). Its tables cost a
#: few integers an entry whatever the keys, and a column a key: a record of many distinct
#: keys is read here, at the memory of its columns (the careful reader's objects per key
#: took 41 x the body for one record of 314,572 keys). (The one-pass C reader, `entries`,
#: reads 4,096.)
MAX_KEYS = 1 << 20


def _refuse_columns(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, named: int) -> None:
    """With a column limit in force (`column_limit`, while `decode_within` decodes): refuse
    records whose map keys make more columns than the limit, counted in C
    (``_crecordio.live_keys``: a key whose last entry in a record holds a value; `named`,
    the distinct keys ``entries`` met, lets it answer without looking keys up where every
    entry holds a value), before the careful reader builds a column for each. Without the
    C extension, or where the count is not sure, the careful reader reads them and the
    batch is checked."""
    limit = column_limit()
    if (
        limit is not None
        and crecordio is not None
        and crecordio.live_keys(buf, _i64(starts), _i64(lengths), limit, named) > limit
    ):
        raise columns_refused()


#: The multiplier of the vectorized reader's key hash (FNV-1a's 64-bit prime); keys are
#: compared byte by byte after it, so a collision only declines.
_KEY_HASH = np.uint64(0x100000001B3)

#: Column cells (keys x records) a batch may hold for any body: beyond this floor, at most
#: one per byte of the records read (see `_check_cells`).
CELLS_FLOOR = 1 << 18


class _Cells:
    """Refuses records whose different keys would make a batch of more column cells (one
    per key per record, present or not) than bytes read: a key in one record of N is a
    column of N entries, so N records of one new key each would need memory quadratic in
    the input. Checked as records are parsed, so such a body stops early.
    `decode_records` reads such records one by one."""

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, base: int, first_index: int) -> None:
        self.n = int(starts.size)
        self.budget = max(CELLS_FLOOR, int(lengths.sum()) + 8 * self.n)
        self.on = self.n * self.n > self.budget
        self.seen: dict[str, set[str]] = {"features": set(), "label": set()}
        self.starts, self.base, self.first_index = starts, base, first_index

    def check_lacking(self, records: list[Record]) -> None:
        """After the records are read: a key some records lack also counts `LACKING_CELLS`
        (its column, however few records hold it), against `lacking_budget`."""
        n = self.n
        budget = lacking_budget(self.budget)
        for map_name in ("features", "label"):
            counts: dict[str, int] = {}
            first: dict[str, int] = {}
            for i, r in enumerate(records):
                for key in getattr(r, map_name):
                    if key in counts:
                        counts[key] += 1
                    else:
                        counts[key], first[key] = 1, i
            if len(counts) * (n + LACKING_CELLS) <= budget:
                continue
            per = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
            past = cells_over(n, per, budget)
            if past is None:
                continue
            i = first[list(counts)[past]]
            s = int(self.starts[i])
            cells = len(counts) * n + LACKING_CELLS * int(np.count_nonzero(per < n))
            raise DecodeError(
                CONTENT_TYPE,
                f"{map_name}: {len(counts)} different keys in {n} records make {cells} column cells "
                f"({LACKING_CELLS} more for each key some records lack), more than the {budget} allowed "
                "(use recordio_protobuf.decode_records instead)",
                offset=self.base + (s - 8 if s >= 0 else -1 - s),
                record_index=self.first_index + i,
            )

    def add(self, i: int, record: Record) -> None:
        for map_name, seen in self.seen.items():
            m = getattr(record, map_name)
            if m.keys() <= seen:
                continue
            seen.update(m)
            if len(seen) * self.n > self.budget:
                s = int(self.starts[i])
                raise DecodeError(
                    CONTENT_TYPE,
                    f"{map_name}: {len(seen)} different keys in {self.n} records make a batch of "
                    f"{len(seen) * self.n} column cells, more than the {self.budget} these records "
                    "allow (use smp.formats.recordio_protobuf.decode_records for records with "
                    "different keys)",
                    offset=self.base + (s - 8 if s >= 0 else -1 - s),
                    record_index=self.first_index + i,
                )


def careful_decode(
    view: memoryview,
    starts: np.ndarray,
    lengths: np.ndarray,
    joined: Mapping[int, memoryview],
    base: int,
    first_index: int,
) -> RecordBatch:
    """Every record through `parse_record`, then the columns built from the records; any
    problem is a `DecodeError` whose offset is counted from `base` and whose record index
    from `first_index` (the arguments are `decode_table`'s)."""
    records = []
    cells = _Cells(starts, lengths, base, first_index)
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
        if cells.on:
            cells.add(i, records[-1])
    cells.check_lacking(records)
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


#: Frames of one length are read as a template of record 0 (read by the careful reader,
#: about 100 ns a byte) when they are this many, or each at most this long.
_TEMPLATE_RECORDS = 64
_TEMPLATE_BYTES = 1 << 16


def decode_table(
    view: memoryview,
    starts: np.ndarray,
    lengths: np.ndarray,
    joined: Mapping[int, memoryview],
    *,
    copy: bool,
    base: int = 0,
    first_index: int = 0,
) -> RecordBatch:
    """The records of a frame table as one batch (see the module docstring).

    `starts` and `lengths` locate each record's payload in `view` (``-1 - header offset``
    for a multi-part record, whose joined payload is ``joined[i]``), as
    `sm_payloads.recordio.frame_table` returns them. `copy` asks for owned arrays instead of
    views of `view`. `base` and `first_index` are the byte offset of `view` and the index of
    its first record in the whole input, for errors.
    """
    n = starts.size
    if n == 0:
        return RecordBatch(n=0)
    buf = np.frombuffer(view, dtype=np.uint8)
    if not joined:
        # (record 0 is read by the careful reader: for a few long records, the fast readers)
        if (lengths == lengths[0]).all() and (n >= _TEMPLATE_RECORDS or lengths[0] <= _TEMPLATE_BYTES):
            out = template_decode(view, buf, starts, int(lengths[0]), copy)
            if out is not None:
                return out
        fast_buf, fast_starts = buf, starts
    else:
        # Multi-part records (a payload holding the magic word at an aligned offset): the
        # fast readers read every payload from one buffer, multi-part ones joined.
        fast_buf, fast_starts = _flattened(buf, starts, lengths, joined)
    # With the C loops: the C walk, then the vectorized reader with its one-pass C reader
    # of map entries, then the numpy walk (the C reader mostly answers where the C walk
    # does not, in less time than the numpy walk takes to decline: a value in two parts,
    # 1 ns a byte against 1.5; rule 1 makes the order of the fast readers free).
    readers: tuple[tuple[Any, tuple[bool, ...]], ...] = (
        ((walk_decode, (True, True, True)), (vector_decode, ()))
        if crecordio is None
        else ((walk_decode, (True, False)), (vector_decode, (True,)), (walk_decode, (False, True)))
    )
    named = 0  # distinct keys a reader met, at least (past the 4,096 they read)
    for fast, how in readers:
        try:
            return fast(fast_buf, fast_starts, lengths, *how)  # type: ignore[no-any-return]
        except Decline as e:
            if len(e.args) > 1:
                named = max(named, e.args[1])
    _refuse_columns(fast_buf, fast_starts, lengths, named)
    return careful_decode(view, starts, lengths, joined, base, first_index)


def _flattened(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, joined: Mapping[int, memoryview]
) -> tuple[np.ndarray, np.ndarray]:
    """Every record's payload, one after another in a new buffer (a multi-part record's
    joined payload in its place), and where each starts there. A copy of the payloads: at
    most the input's size."""
    pieces: list[np.ndarray] = []
    at = 0
    for i in sorted(joined):
        if i > at:
            pieces.append(_gather_items(buf, starts[at:i], lengths[at:i], lengths[at:i], np.dtype(np.uint8)))
        pieces.append(np.frombuffer(joined[i], dtype=np.uint8))
        at = i + 1
    if at < starts.size:
        pieces.append(_gather_items(buf, starts[at:], lengths[at:], lengths[at:], np.dtype(np.uint8)))
    flat = np.concatenate(pieces) if pieces else np.empty(0, np.uint8)
    new_starts = np.zeros(starts.size, dtype=np.int64)
    np.cumsum(lengths[:-1], out=new_starts[1:])
    return flat, new_starts
