"""Protobuf's wire format: varints, tags and length-delimited fields, read and written,
one value at a time and vectorized over many messages at once (numpy, no loop per record).

This module knows the wire format and nothing of any schema: field numbers are the
callers' (``record.proto`` is read in `_record_reader` and written in `recordio_protobuf`).

Scalar reading (`read_varint`, `skip_field`, `fields`, `read_packed_varints`):
Rule 1: every read is bounds-checked against the enclosing message; a length word never
allocates more than the bytes present.
Rule 2: malformed input raises `WireError(reason, offset)` with the absolute byte offset of
the problem, never anything else; varint values are taken modulo 2**64, as protobuf does.

Vectorized reading (`read_varints_at`, `decode_varint_stream`, `gather`, `gather_items`,
`scan` and its `Fields`):
Rule 3: these never raise on malformed input with anything but `Decline`; the caller then
re-reads the input with a scalar reader, which reports the exact error. So they may be
strict and simple: anything unusual declines.
Rule 4: nothing allocates in proportion to a length word; only to bytes present.
`scan` splits many messages in vectorized steps of one field each; a few long ones (one
record of millions of 2-byte fields) by walkers over blocks of them (`_split_long`), which
take the same number of steps whatever the message's length. `field_cuts` (`cuts_of` from
a split at hand) says where such a message may be cut between its fields into pieces of
about a given size, for a reader that reads it a piece at a time.

Writing (`encode_varint`, `tag`, `length_delimited`; vectorized `varint_len`,
`varint_encode` and the message tree `Message` / `Chunks` that `MessageWriter` places):
Rule 5: what is written is protobuf's canonical encoding: shortest varints, lengths in
front of their contents, fields in the order given.

>>> length_delimited(1, b"ab").hex()
'0a026162'
>>> read_varint(memoryview(encode_varint(300)), 0, 2)
(300, 2)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "EGROUP",
    "I32",
    "I64",
    "LEN",
    "MAX_GROUP_DEPTH",
    "SGROUP",
    "VARINT",
    "Chunks",
    "Decline",
    "Fields",
    "Message",
    "MessageWriter",
    "TableFull",
    "WireError",
    "bytes_chunks",
    "cuts_of",
    "decode_varint_stream",
    "encode_varint",
    "field_cuts",
    "fields",
    "fields_in_runs",
    "fixed_chunks",
    "gather",
    "gather_items",
    "length_delimited",
    "read_packed_varints",
    "read_varint",
    "read_varints_at",
    "same_chunks",
    "scan",
    "scatter",
    "skip_field",
    "splits_long",
    "tag",
    "varint_chunks",
    "varint_encode",
    "varint_len",
]

#: Wire types (the low three bits of a tag).
VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
#: Groups nested deeper than this are an error (a bound on the reader's recursion).
MAX_GROUP_DEPTH = 64

_U64 = np.uint64


# ======================================================================================
# Scalar: one value at a time
# ======================================================================================


class WireError(ValueError):
    """Malformed protobuf: `reason` and the absolute byte `offset` of the problem."""

    def __init__(self, reason: str, offset: int) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(f"{reason} at byte {offset}")


def encode_varint(v: int) -> bytes:
    """The varint of a non-negative int."""
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    """The tag (field number and wire type) that starts a field."""
    return encode_varint(field << 3 | wire_type)


def length_delimited(field: int, content: bytes) -> bytes:
    """A whole length-delimited field: tag, length, content."""
    return encode_varint(field << 3 | LEN) + encode_varint(len(content)) + content


def read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it). Values are taken modulo 2**64 as protobuf does."""
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise WireError("truncated varint", start)
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1 and b & 0x7F > 1:
            # The tenth byte may only carry the top bit of a 64-bit value.
            raise WireError("varint overflows 64 bits", start)
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7
        if shift > 63:
            raise WireError("varint longer than 10 bytes", start)


def skip_field(buf: memoryview, pos: int, end: int, wire_type: int, field: int, depth: int = 0) -> int:
    """Skip one field's value (a whole group for `SGROUP`); return the position after it."""
    if wire_type == VARINT:
        return read_varint(buf, pos, end)[1]
    if wire_type == I64:
        if end - pos < 8:
            raise WireError("truncated 64-bit field", pos)
        return pos + 8
    if wire_type == I32:
        if end - pos < 4:
            raise WireError("truncated 32-bit field", pos)
        return pos + 4
    if wire_type == LEN:
        n, pos = read_varint(buf, pos, end)
        if n > end - pos:
            raise WireError(f"length {n} exceeds the {end - pos} bytes left", pos)
        return pos + n
    if wire_type == SGROUP:
        if depth >= MAX_GROUP_DEPTH:
            raise WireError("groups nested too deeply", pos)
        while True:
            tag_at = pos
            key, pos = read_varint(buf, pos, end)
            wt, fn = key & 7, key >> 3
            if fn == 0:
                raise WireError("field number 0", tag_at)
            if wt == EGROUP:
                if fn != field:
                    raise WireError(f"end of group {fn} does not match group {field}", tag_at)
                return pos
            pos = skip_field(buf, pos, end, wt, fn, depth + 1)
    if wire_type == EGROUP:
        raise WireError("end of a group that was not started", pos)
    raise WireError(f"invalid wire type {wire_type}", pos)


def fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (field number, wire type, value start, value end, tag offset) of a message.

    For wire type 2 the value range is the payload; for 0 it is the varint; for 1/5 the
    fixed bytes. Groups are skipped and never yielded.
    """
    while pos < end:
        tag_at = pos
        key, pos = read_varint(buf, pos, end)
        fn, wt = key >> 3, key & 7
        if fn == 0:
            raise WireError("field number 0", tag_at)
        if wt == LEN:
            n, pos = read_varint(buf, pos, end)
            if n > end - pos:
                raise WireError(f"length {n} exceeds the {end - pos} bytes left", tag_at)
            yield fn, wt, pos, pos + n, tag_at
            pos += n
        elif wt == SGROUP:
            pos = skip_field(buf, pos, end, SGROUP, fn)
        else:
            nxt = skip_field(buf, pos, end, wt, fn)
            yield fn, wt, pos, nxt, tag_at
            pos = nxt


def read_packed_varints(buf: memoryview, start: int, end: int) -> list[int]:
    """The varints of a packed field's payload ``buf[start:end]``."""
    out = []
    pos = start
    while pos < end:
        v, pos = read_varint(buf, pos, end)
        out.append(v)
    return out


# ======================================================================================
# Vectorized reading: many messages at once
# ======================================================================================


class Decline(Exception):
    """The vectorized path does not handle this input; use the careful reader."""


class TableFull(Decline):
    """A table of fields would pass its row limit: the messages hold too many small fields
    for one table (fewer messages at a time may fit). Raised by `scan` while it kept the
    fields of a long message that `_split_long` split, `tags` is (its start, its end, its
    fields' tags), so that a caller may cut the message without splitting it again."""

    tags: tuple[int, int, np.ndarray] | None = None


def read_varints_at(buf: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read one varint at each position (bounded by `end`); return (values, next positions)."""
    m = pos.size
    if m:
        # The common case, every varint of one byte, in a few whole-array steps.
        if (pos >= end).any():
            raise Decline("truncated varint")
        b = buf[pos]
        if not (b >= 0x80).any():
            return b.astype(_U64), pos.astype(np.int64) + 1
    val = np.zeros(m, dtype=_U64)
    nxt = np.empty(m, dtype=np.int64)
    todo = np.arange(m)
    p = pos.astype(np.int64, copy=True)
    for j in range(10):
        if (p[todo] >= end[todo]).any():
            raise Decline("truncated varint")
        b = buf[p[todo]]
        if j == 9 and (b > 1).any():
            raise Decline("varint overflow")
        val[todo] |= (b & 0x7F).astype(_U64) << _U64(7 * j)
        fin = b < 0x80
        nxt[todo[fin]] = p[todo[fin]] + 1
        todo = todo[~fin]
        if not todo.size:
            return val, nxt
        p[todo] += 1
    raise Decline("varint longer than 10 bytes")


def gather(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``buf[s:s+l]`` for every (s, l), with one fancy-index gather."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=buf.dtype)
    csum = np.cumsum(lengths)
    idx = np.arange(total, dtype=np.int64)
    idx += np.repeat(starts - (csum - lengths), lengths)
    return buf[idx]


def gather_items(buf: np.ndarray, starts: np.ndarray, counts: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Concatenate `counts[i]` fixed-size items from ``buf[starts[i]:]`` as a native `dtype`
    array (one gather of whole items; the regions need not be aligned)."""
    size = dtype.itemsize
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, dtype=dtype.newbyteorder("="))
    first_item = np.cumsum(counts) - counts
    idx = np.arange(0, total * size, size, dtype=np.int64)
    idx += np.repeat(starts - first_item * size, counts)
    # An item may start at any byte: view the buffer as `dtype` items starting at every byte
    # (stride 1, unaligned) and gather whole items at once (measured faster than a gather
    # per byte or per row of a (n, size) byte view).
    items = np.ndarray((buf.size - size + 1,), dtype=dtype, buffer=buf, strides=(1,))
    return items[idx].astype(dtype.newbyteorder("="), copy=False)


def decode_varint_stream(
    data: np.ndarray, lengths: np.ndarray, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Decode concatenated packed-varint regions: (all values as uint64, count per region).

    With `counts` given, each region must hold exactly that many varints (declines
    otherwise), which is cheaper to check than to count.
    """
    if data.size == 0:
        if counts is not None and counts.any():
            raise Decline("varints missing")
        return np.empty(0, _U64), np.zeros(lengths.size, np.int64)
    ends_at = np.cumsum(lengths)
    nonempty = lengths > 0
    cont = data >= 0x80
    if cont[ends_at[nonempty] - 1].any():
        raise Decline("packed varints end inside a varint")
    if not cont.any():
        # Every varint of one byte (values below 128): a region holds a varint a byte.
        if counts is not None and (counts != lengths).any():
            raise Decline("regions hold other numbers of varints")
        return data.astype(_U64), lengths.astype(np.int64) if counts is None else counts
    if not (cont[1:] & cont[:-1]).any():
        # Every varint has one or two bytes (the common case: column indices below 16384).
        term_idx = np.flatnonzero(~cont)
        values = data[term_idx].astype(_U64)
        two = cont[term_idx - 1]
        two[0] = two[0] and term_idx[0] > 0
        at = np.flatnonzero(two)
        values[at] = (values[at] << _U64(7)) | (data[term_idx[at] - 1] & 0x7F).astype(_U64)
    else:
        term_idx = np.flatnonzero(~cont)
        vstarts = np.empty(term_idx.size, dtype=np.int64)
        vstarts[0] = 0
        vstarts[1:] = term_idx[:-1] + 1
        vlens = term_idx - vstarts + 1
        if (vlens > 10).any():
            raise Decline("varint longer than 10 bytes")
        if (vlens == 10).any() and (data[term_idx[vlens == 10]] > 1).any():
            raise Decline("varint overflow")
        pos_in = np.arange(data.size, dtype=np.int64) - np.repeat(vstarts, vlens)
        parts = (data & 0x7F).astype(_U64) << (pos_in.astype(_U64) * _U64(7))
        values = np.bitwise_or.reduceat(parts, vstarts)
    if counts is None:
        counts = np.diff(np.searchsorted(term_idx, ends_at - 1, side="right"), prepend=0)
    else:
        # Region i must end exactly at its counts[:i+1].sum()-th varint.
        last = np.cumsum(counts)
        if (
            last[-1] != term_idx.size
            or (counts[nonempty] == 0).any()
            or (counts[~nonempty] != 0).any()
            or (term_idx[last[nonempty] - 1] != ends_at[nonempty] - 1).any()
        ):
            raise Decline("regions hold other numbers of varints")
    return values, counts


class Fields:
    """The fields of many messages: parallel arrays ordered by message, then wire order."""

    __slots__ = ("fn", "msg", "seq", "ve", "vs", "wt")

    def __init__(self, msg: Any, fn: Any, wt: Any, vs: Any, ve: Any, seq: Any) -> None:
        self.msg, self.fn, self.wt, self.vs, self.ve, self.seq = msg, fn, wt, vs, ve, seq

    def select(self, mask: np.ndarray) -> Fields:
        return Fields(
            self.msg[mask], self.fn[mask], self.wt[mask], self.vs[mask], self.ve[mask], self.seq[mask]
        )


#: Fewer messages than this left to split: `scan` reads them one field at a time, or, one
#: of at least `_LONG` bytes, with `_split_long`.
_FEW = 32
#: A message left to split of at least this many bytes is split by `_split_long`.
_LONG = 1 << 15
#: The bytes of message one walker of `_split_long` reads (a multiple of 2 to 6: a message
#: of fields of one such size, or of sizes alternating with such a period, begins one in
#: every block, so that every walker reads the message's own fields).
_BLOCK = 240
#: The fields `_split_long` reads one at a time first.
_PROBE = 64
#: The walkers `_split_long` may start in a block, 1 byte apart.
_PHASES = 4
#: Fields of one long message decoded at a time (bounds the temporaries of `_split_long`).
_SPLIT_ROWS = 1 << 15


def _varint_at(data: memoryview, pos: int, end: int) -> tuple[int, int]:
    """One varint at `pos` (bounded by `end`), as `read_varints_at` reads it: (value, next
    position); declines where it would."""
    v = 0
    for j in range(10):
        if pos >= end:
            raise Decline("truncated varint")
        b = data[pos]
        pos += 1
        if j == 9 and b > 1:
            raise Decline("varint overflow")
        v |= (b & 0x7F) << (7 * j)
        if b < 0x80:
            return v, pos
    raise Decline("varint longer than 10 bytes")


def _field_at(data: memoryview, p: int, e: int) -> tuple[int, int, int, int]:
    """The field whose tag is at `p` in a message ending at `e`, as the steps of `scan` read
    it: (field number, wire type, value start, value end); declines where they would."""
    key, p = _varint_at(data, p, e)
    fn, wt = key >> 3, key & 7
    if fn == 0 or key >> 32:
        raise Decline("bad field number")
    vs = p
    if wt == LEN:
        ln, vs = _varint_at(data, p, e)
        if ln > e - vs:
            raise Decline("length exceeds message")
        ve = vs + ln
    elif wt == VARINT:
        ve = _varint_at(data, p, e)[1]
    elif wt in (I32, I64):
        ve = p + (4 if wt == I32 else 8)
        if ve > e:
            raise Decline("field exceeds message")
    else:
        raise Decline("groups or invalid wire type")
    return fn, wt, vs, ve


class _Kept:
    """What `scan` keeps as it goes: the rows of the fields kept (arrays appended as they
    come, sorted by message at the end), their count against the limit, and, with
    `collapse`, each message's last kept field where it was an empty length-delimited one
    (`prev`: its number, else 0)."""

    __slots__ = ("collapse", "count", "limit", "lut", "prev", "rows", "want")

    def __init__(self, wanted: tuple[int, ...] | None, limit: int | None, collapse: bool, n: int) -> None:
        self.want = None if wanted is None else frozenset(wanted)
        # Small field numbers wanted: a lookup table by field number (its last slot, for
        # every larger number, false) instead of np.isin per step.
        self.lut = None
        if wanted is not None and max(wanted, default=0) < 64:
            self.lut = np.zeros(65, dtype=bool)
            self.lut[list(wanted)] = True
        self.limit, self.collapse = limit, collapse
        self.prev = np.zeros(n if collapse else 0, dtype=np.int64)
        self.count = 0
        self.rows: tuple[list[np.ndarray], ...] = ([], [], [], [], [], [])

    def _wanted(self, fn: np.ndarray) -> np.ndarray | None:
        """Which of these field numbers are kept (None: all)."""
        if self.want is None:
            return None
        if self.lut is not None:
            return self.lut[np.minimum(fn, self.lut.size - 1)]  # type: ignore[no-any-return]
        return np.isin(fn, list(self.want))

    def _keep(self, *cols: np.ndarray) -> None:
        self.count += cols[0].size
        if self.limit is not None and self.count > self.limit:
            raise TableFull("more fields than the table may hold")
        for col, a in zip(self.rows, cols, strict=True):
            col.append(a)

    def add_step(
        self, msg: np.ndarray, fn: np.ndarray, wt: np.ndarray, vs: np.ndarray, ve: np.ndarray, step: int
    ) -> None:
        """Keep the wanted fields of one step: a field of each message `msg` (distinct)."""
        sel = self._wanted(fn)
        if sel is not None:
            msg, fn, wt, vs, ve = msg[sel], fn[sel], wt[sel], vs[sel], ve[sel]
        if self.collapse and msg.size:
            empty = (wt == LEN) & (vs == ve)
            if empty.any():
                prev = self.prev[msg]
                self.prev[msg] = np.where(empty, fn, 0)
                dup = empty & (prev == fn)
                if dup.any():
                    ok = ~dup
                    msg, fn, wt, vs, ve = msg[ok], fn[ok], wt[ok], vs[ok], ve[ok]
            else:
                self.prev[msg] = 0
        if msg.size:
            self._keep(msg, fn, wt, vs, ve, np.full(msg.size, step, dtype=np.int64))

    def add_run(
        self, i: int, fn: np.ndarray, wt: np.ndarray, vs: np.ndarray, ve: np.ndarray, seq: np.ndarray
    ) -> None:
        """Keep the wanted fields of fields of message `i`, in wire order, that follow those
        already kept."""
        sel = self._wanted(fn)
        if sel is not None:
            fn, wt, vs, ve, seq = fn[sel], wt[sel], vs[sel], ve[sel], seq[sel]
        if not fn.size:
            return
        if self.collapse:
            empty = (wt == LEN) & (vs == ve)
            # The kept field before each row: the previous row, or the message's last one
            # kept before these rows.
            before = np.empty_like(fn)
            before[0] = self.prev[i]
            before[1:] = np.where(empty[:-1], fn[:-1], 0)
            self.prev[i] = fn[-1] if empty[-1] else 0
            dup = empty & (before == fn)
            if dup.any():
                ok = ~dup
                fn, wt, vs, ve, seq = fn[ok], wt[ok], vs[ok], ve[ok], seq[ok]
        self._keep(np.full(fn.size, i, dtype=np.int64), fn, wt, vs, ve, seq)


def _scan_few(buf: np.ndarray, i: int, p: int, e: int, step: int, kept: _Kept) -> None:
    """The rest of `scan` for message `i` (at `p`, ending at `e`), one field at a time:
    keeps its fields as the steps would (`step`: the steps already taken) and declines
    exactly where they would."""
    data = memoryview(np.ascontiguousarray(buf, dtype=np.uint8).data).cast("B")
    out: tuple[list[int], ...] = ([], [], [], [], [], [])
    want, collapse = kept.want, kept.collapse
    prev = int(kept.prev[i]) if collapse else 0
    k = step
    while p < e:
        fn, wt, vs, ve = _field_at(data, p, e)
        k += 1
        p = ve
        if want is not None and fn not in want:
            continue
        if collapse:
            if wt == LEN and vs == ve:
                if prev == fn:
                    continue
                prev = fn
            else:
                prev = 0
        kept.count += 1
        if kept.limit is not None and kept.count > kept.limit:
            raise TableFull("more fields than the table may hold")
        for col, v in zip(out, (i, fn, wt, vs, ve, k - 1), strict=True):
            col.append(v)
    if collapse:
        kept.prev[i] = prev
    if out[0]:
        for rows, got in zip(kept.rows, out, strict=True):
            rows.append(np.array(got, dtype=np.int64))


def _step_fields(
    buf: np.ndarray, pos: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The field whose tag is at each position (bounded by `end`): field number, wire type,
    value start, value end; declines on any field `scan` does not read (`_fields_at`,
    which does not decline, says which)."""
    key, p = read_varints_at(buf, pos, end)
    fn = (key >> _U64(3)).astype(np.int64)
    wt = (key & _U64(7)).astype(np.int64)
    if (fn == 0).any() or (key >> _U64(32)).any():
        raise Decline("bad field number")
    m = wt == LEN
    if m.all():
        # Every field length-delimited (tables of map entries, values, tensors).
        ln, vs = read_varints_at(buf, p, end)
        if (ln > (end - vs).astype(_U64)).any():
            raise Decline("length exceeds message")
        ve = vs + ln.astype(np.int64)
    else:
        vs = p.copy()
        ve = np.empty_like(p)
        if m.any():
            ln, q = read_varints_at(buf, p[m], end[m])
            if (ln > (end[m] - q).astype(_U64)).any():
                raise Decline("length exceeds message")
            vs[m] = q
            ve[m] = q + ln.astype(np.int64)
        m = wt == VARINT
        if m.any():
            _, q = read_varints_at(buf, p[m], end[m])
            ve[m] = q
        m = wt == I32
        ve[m] = p[m] + 4
        m = wt == I64
        ve[m] = p[m] + 8
        if ((wt == SGROUP) | (wt == EGROUP) | (wt > I32)).any():
            raise Decline("groups or invalid wire type")
    if (ve > end).any():
        raise Decline("field exceeds message")
    return fn, wt, vs, ve


def _fields_at(
    buf: np.ndarray, pos: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The field whose tag is at each position (bounded by `end`): field number, wire type,
    value start, value end, and whether it is one `scan` reads (else the other values are
    meaningless: a field number of 0 or past 2**32 - 1, a group or invalid wire type, a
    varint truncated or too long, a value past `end`)."""
    key, p, ok = _varints(buf, pos, end)
    fn = (key >> _U64(3)).astype(np.int64)
    wt = (key & _U64(7)).astype(np.int64)
    ok &= (fn != 0) & ((key >> _U64(32)) == 0)
    m = wt == LEN
    if m.all():
        # Every field length-delimited (tables of map entries, values, tensors).
        ln, vs, good = _varints(buf, p, end)
        ok &= good & (ln <= np.maximum(end - vs, 0).astype(_U64))
        ve = vs + np.minimum(ln, _U64(1 << 62)).astype(np.int64)
    else:
        vs = p.copy()
        ve = np.empty_like(p)
        if m.any():
            ln, q, good = _varints(buf, p[m], end[m])
            good &= ln <= np.maximum(end[m] - q, 0).astype(_U64)
            ok[m] &= good
            vs[m] = q
            ve[m] = q + np.minimum(ln, _U64(1 << 62)).astype(np.int64)
        m = wt == VARINT
        if m.any():
            _, q, good = _varints(buf, p[m], end[m])
            ok[m] &= good
            ve[m] = q
        m = wt == I32
        ve[m] = p[m] + 4
        m = wt == I64
        ve[m] = p[m] + 8
        ok &= (wt != SGROUP) & (wt != EGROUP) & (wt <= I32)
    ok &= ve <= end
    return fn, wt, vs, ve, ok


def _varints(buf: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`read_varints_at` that never declines: (values, next positions, whether each is one
    it reads; the others meaningless)."""
    m = pos.size
    inside = pos < end
    if m and inside.all():
        b = buf[pos]
        if not (b >= 0x80).any():
            return b.astype(_U64), pos.astype(np.int64) + 1, np.ones(m, dtype=bool)
    val = np.zeros(m, dtype=_U64)
    nxt = pos.astype(np.int64, copy=True)
    ok = np.zeros(m, dtype=bool)
    todo = np.flatnonzero(inside)
    p = pos.astype(np.int64, copy=True)
    for j in range(10):
        b = buf[p[todo]]
        if j == 9:
            todo = todo[b <= 1]
            b = b[b <= 1]
        val[todo] |= (b & 0x7F).astype(_U64) << _U64(7 * j)
        fin = b < 0x80
        ok[todo[fin]] = True
        nxt[todo[fin]] = p[todo[fin]] + 1
        todo = todo[~fin]
        if not todo.size:
            break
        p[todo] += 1
        todo = todo[p[todo] < end[todo]]
    return val, nxt, ok


def _walkers(
    buf: np.ndarray, starts: np.ndarray, stops: np.ndarray, e: int, base: int, dtype: type
) -> tuple[np.ndarray, np.ndarray]:
    """One walker per block ``[starts[j], stops[j])`` of a message ending at `e`, all in the
    same vectorized steps: each reads fields from its start until one ends at or past its
    stop, or until it meets a field that `scan` refuses. Returns where each began its
    fields (offsets from `base`, one row a walker, -1 after its last) and where each left
    its block (-1 for one that stopped at a field `scan` refuses: the last in its row)."""
    k = starts.size
    # A field takes at least 2 bytes: a block holds the starts of at most _BLOCK / 2.
    tags: np.ndarray = np.full((k, _BLOCK // 2 + 1), -1, dtype=dtype)
    land = np.full(k, -1, dtype=np.int64)
    idx = np.flatnonzero(starts < stops)
    pos = starts[idx]
    col = 0
    while idx.size:
        tags[idx, col] = pos - base
        _, _, _, ve, ok = _fields_at(buf, pos, np.full(idx.size, e, dtype=np.int64))
        out = ok & (ve >= stops[idx])
        land[idx[out]] = ve[out]
        go = ok & ~out
        idx, pos = idx[go], ve[go]
        col += 1
    return tags, land


def _split_long(buf: np.ndarray, s: int, e: int) -> np.ndarray:
    """Where the fields of the message ``buf[s:e]`` begin (their tags, in wire order),
    without a Python step per field where they are many; declines exactly where
    `_scan_few` would.

    The first `_PROBE` fields are read one at a time (a message of a few large fields ends
    there). The rest is cut into blocks of `_BLOCK` bytes from the field reached, each read
    by a walker from its start (`_walkers`, all in the same vectorized steps). A block's
    start need not begin a field, so the message's fields are then followed block by block:
    the field that enters block j at q continues as the walker of block j does if that
    walker began a field at q. Where none did, walkers starting 1 to `_PHASES` - 1 bytes
    later in the blocks from j on are added (once), and where none of them began a field at
    q either, block j is read again from q one field at a time. A walker that stopped at a
    field that the message reaches declines, as `_scan_few` would there."""
    data = memoryview(np.ascontiguousarray(buf, dtype=np.uint8).data).cast("B")
    head: list[int] = []
    q = s
    while q < e and (len(head) < _PROBE or e - q < _LONG):
        head.append(q)
        q = _field_at(data, q, e)[3]
    if q >= e:
        return np.array(head, dtype=np.int64)
    base = q
    n = e - base
    k = -(-n // _BLOCK)
    starts = base + np.arange(k, dtype=np.int64) * _BLOCK
    stops = np.minimum(starts + _BLOCK, e)
    dtype = np.int32 if n < 1 << 31 else np.int64
    tags, land = _walkers(buf, starts, stops, e, base, dtype)
    # Which walker began a field at each offset (0: the walker at its block's start, d: the
    # one d bytes later; 255: none).
    who = np.full(n, 255, dtype=np.uint8)
    who[tags[tags >= 0]] = 0
    # Each block's first field of the message (n + 1: none). The common case at once: the
    # walker of each block leaves it for a field that the next block's walker began.
    first = np.full(k, n + 1, dtype=np.int64)
    nxt = land - base
    good = (land >= 0) & (nxt < stops - base + _BLOCK)
    good[good] &= (nxt[good] >= n) | (who[np.minimum(nxt[good], n - 1)] == 0)
    run = int(np.argmin(good)) if not good.all() else k
    first[0] = 0
    first[1 : run + 1] = nxt[: min(run, k - 1)]
    q = int(nxt[run - 1]) if run else 0
    if q >= n:
        del who
        chain = tags[tags >= first[:, None]]
        return np.concatenate([np.array(head, dtype=np.int64), chain.astype(np.int64) + base])
    look = who.tobytes()
    rows, lands, first_block = [tags], [land.tolist()], [0]
    phased = False  # the walkers 1 to _PHASES - 1 bytes later were added
    while q < n:
        j = q // _BLOCK
        ph = look[q]
        if ph != 255:
            first[j] = q
            row = rows[ph][j - first_block[ph]]
            if ph:
                tags[j] = row
            nxt = lands[ph][j - first_block[ph]]
            if nxt < 0:  # its walker stopped at a field of the message: decline as scan does
                _field_at(data, base + int(row[row >= q][-1]), e)
                raise Decline("a walker stopped at a field scan reads")  # never: _field_at declines
            q = nxt - base
            continue
        if not phased:
            phased = True
            for d in range(1, _PHASES):
                t, land = _walkers(buf, starts[j:] + d, stops[j:], e, base, dtype)
                at = t[t >= 0]
                at = at[who[at] == 255]
                who[at] = d
                rows.append(t)
                lands.append(land.tolist())
                first_block.append(j)
            look = who.tobytes()
            continue
        first[j] = q
        stop = int(stops[j]) - base
        again = []
        while q < stop:
            again.append(q)
            q = _field_at(data, base + q, e)[3] - base
        tags[j] = -1
        tags[j, : len(again)] = again
    del rows, lands, who, look
    chain = tags[tags >= first[:, None]]
    return np.concatenate([np.array(head, dtype=np.int64), chain.astype(np.int64) + base])


def splits_long(lengths: np.ndarray) -> bool:
    """Whether `scan` splits messages of these lengths, or one of them, without a step per
    field (fewer than `_FEW`, one of `_LONG` bytes or more: `_split_long`)."""
    return lengths.size < _FEW and int(lengths.max(initial=0)) >= _LONG


def field_cuts(buf: np.ndarray, s: int, e: int, step: int) -> np.ndarray:
    """Where the message ``buf[s:e]`` may be cut into pieces of about `step` bytes between
    its fields: for each multiple m of `step` with ``s + m < e``, the offset of the first
    field that starts at or after ``s + m`` (each offset once, in order; none past the last
    field). Declines where `scan` would on the message. The twin of ``_crecordio.cuts``;
    `_split_long` finds the fields' tags (no table of them all)."""
    return cuts_of(_split_long(buf, s, e), s, e, step)


def cuts_of(tags: np.ndarray, s: int, e: int, step: int) -> np.ndarray:
    """`field_cuts` of the message ``buf[s:e]`` whose fields begin at `tags` (in order)."""
    marks = s + step * np.arange(1, -(-(e - s) // step), dtype=np.int64)
    at = np.searchsorted(tags, marks, side="left")
    return np.unique(tags[at[at < tags.size]])


def fields_in_runs(
    buf: np.ndarray, s: int, e: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The fields of the message ``buf[s:e]`` as `scan` splits them (field numbers, wire
    types, value starts and ends), in wire order, in runs of at most `_SPLIT_ROWS` (no
    table of them all); declines where `scan` would (possibly after some runs)."""
    if e - s < _LONG:
        f = scan(buf, np.array([s], dtype=np.int64), np.array([e], dtype=np.int64))
        yield f.fn, f.wt, f.vs, f.ve
        return
    tags = _split_long(buf, s, e)
    for a in range(0, tags.size, _SPLIT_ROWS):
        at = tags[a : a + _SPLIT_ROWS]
        yield _step_fields(buf, at, np.full(at.size, e, dtype=np.int64))


def scan(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    wanted: tuple[int, ...] | None = None,
    limit: int | None = None,
    *,
    collapse: bool = False,
    tags: np.ndarray | None = None,
) -> Fields:
    """Split every message ``buf[starts[i]:ends[i]]`` into its fields, all messages at once.

    For wire type 2 ``vs:ve`` is the payload; for 0 the varint; for 1 and 5 the fixed bytes.
    Groups (wire types 3, 4) and invalid wire types decline. With `wanted`, only fields of
    those numbers are kept (the others are checked and left out as they are met); with
    `limit`, more than `limit` fields kept declines (`TableFull`) as soon as it is reached,
    so the table never grows past it. With `collapse`, an empty length-delimited field
    right after a kept empty one of the same number in the same message is not kept (nor
    counted): for record.proto's messages such a run adds nothing to its first field (a map
    entry or string that replaces an equal one, an empty part of a message that merges, an
    empty packed run), so a message of millions of them is a table of one row. `tags`,
    for one message, are where its fields begin (as `_split_long` finds them), where the
    caller has them already.
    """
    n = starts.size
    kept = _Kept(wanted, limit, collapse, n)
    idx = np.flatnonzero(starts < ends)
    pos = starts[idx].astype(np.int64)
    end = ends[idx].astype(np.int64)
    step = 0
    while idx.size:
        if idx.size < _FEW:
            # A step costs tens of microseconds whatever its size: a few messages of many
            # fields each (one record of 500,000 fields: 33 us a byte) are read one field
            # at a time instead, as the steps would read them, or a long one with walkers
            # over its blocks (`_split_long`).
            for i, p, e in zip(idx.tolist(), pos.tolist(), end.tolist(), strict=True):
                if e - p < _LONG:
                    _scan_few(buf, i, p, e, step, kept)
                    continue
                split = _split_long(buf, p, e) if tags is None or n != 1 else tags
                for a in range(0, split.size, _SPLIT_ROWS):
                    at = split[a : a + _SPLIT_ROWS]
                    fn, wt, vs, ve = _step_fields(buf, at, np.full(at.size, e, dtype=np.int64))
                    try:
                        kept.add_run(
                            i, fn, wt, vs, ve, np.arange(step + a, step + a + at.size, dtype=np.int64)
                        )
                    except TableFull as full:
                        full.tags = (p, e, split)
                        raise
            break
        fn, wt, vs, ve = _step_fields(buf, pos, end)
        kept.add_step(idx, fn, wt, vs, ve, step)
        step += 1
        more = ve < end
        idx, pos, end = idx[more], ve[more], end[more]
    rows = kept.rows
    if not rows[0]:
        e0 = np.empty(0, np.int64)
        return Fields(e0, e0, e0, e0, e0, e0)
    out = Fields(*(np.concatenate(a) if len(a) > 1 else a[0] for a in rows))
    if len(rows[0]) > 1:
        # Steps were appended one after another; put each message's fields together, in
        # wire order (a stable sort keeps the step order within a message; numpy sorts
        # 16-bit integers by radix, in time linear in the rows).
        order = np.argsort(out.msg.astype(np.int16) if n <= 1 << 15 else out.msg, kind="stable")
        out = Fields(*(a[order] for a in (out.msg, out.fn, out.wt, out.vs, out.ve, out.seq)))
    return out


# ======================================================================================
# Vectorized writing: the same fields for many messages at once
# ======================================================================================


def varint_len(v: np.ndarray) -> np.ndarray:
    """Bytes needed for each uint64 varint (1..10)."""
    v = v.astype(_U64, copy=False)
    n = np.ones(v.shape, dtype=np.int64)
    if not v.size:
        return n
    top = int(v.max())
    for k in range(1, 10):
        if top < 1 << (7 * k):
            break
        n += v >= _U64(1) << _U64(7 * k)
    return n


def varint_encode(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(flat bytes, per-value lengths) of the varint encoding of each uint64 in `v`."""
    v = v.astype(_U64, copy=False).reshape(-1)
    lens = varint_len(v)
    ends = np.cumsum(lens)
    out = np.empty(int(ends[-1]) if v.size else 0, dtype=np.uint8)
    starts = ends - lens
    maxlen = int(lens.max()) if v.size else 0
    if maxlen == 1:
        out[:] = v.astype(np.uint8)
        return out, lens
    if maxlen == 2:
        # Each value as its two bytes side by side; keep the second only where needed.
        pair = np.empty((v.size, 2), dtype=np.uint8)
        two = lens == 2
        pair[:, 0] = (v & _U64(0x7F)).astype(np.uint8) | (two.astype(np.uint8) << np.uint8(7))
        pair[:, 1] = (v >> _U64(7)).astype(np.uint8)
        keep = np.ones((v.size, 2), dtype=bool)
        keep[:, 1] = two
        return pair[keep], lens
    for j in range(maxlen):
        m = np.arange(v.size) if j == 0 else np.flatnonzero(lens > j)
        vals = v[m] >> _U64(7 * j)
        byte = (vals & _U64(0x7F)).astype(np.uint8)
        byte |= (lens[m] > j + 1).astype(np.uint8) << np.uint8(7)
        out[starts[m] + j] = byte
    return out, lens


class Chunks:
    """Per-message raw bytes (a leaf of the message tree): a flat uint8 array plus one
    length per message."""

    __slots__ = ("data", "item", "lengths")

    def __init__(self, data: np.ndarray, lengths: np.ndarray, item: int = 1) -> None:
        self.data = data
        self.lengths = lengths.astype(np.int64, copy=False)
        self.item = item  # bytes per element: chunks are whole elements


class Message:
    """A length-delimited field built for all messages at once: its `tag` bytes, then the
    length and the concatenated `children` (`Message` or `Chunks`); only in the messages
    where `present` is true (None: every message). `MessageWriter` fills in the sizes."""

    __slots__ = ("children", "content", "present", "size", "tag")

    def __init__(self, tag: bytes, children: list[Any], present: np.ndarray | None) -> None:
        self.tag = tag
        self.children = children
        self.present = present  # None: every message
        self.content: np.ndarray  # per message: bytes of the children (set by MessageWriter)
        self.size: np.ndarray  # per message: bytes of the whole field, 0 where absent


def same_chunks(data: bytes, n: int, present: np.ndarray | None) -> Chunks:
    """The same bytes in every present message (zero bytes in the others)."""
    if present is None:
        return Chunks(np.frombuffer(data * n, dtype=np.uint8), np.full(n, len(data)))
    k = int(np.count_nonzero(present))
    return Chunks(np.frombuffer(data * k, dtype=np.uint8), np.where(present, len(data), 0))


def bytes_chunks(chunks: list[bytes]) -> Chunks:
    """One bytes object per message."""
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    return Chunks(np.frombuffer(b"".join(chunks), dtype=np.uint8), lengths)


def varint_chunks(values: np.ndarray, counts: np.ndarray) -> Chunks:
    """Packed varints: message i holds the next `counts[i]` of `values` (uint64)."""
    data, lens = varint_encode(values)
    ends = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(lens, out=ends[1:])
    bounds = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=bounds[1:])
    return Chunks(data, ends[bounds[1:]] - ends[bounds[:-1]])


def fixed_chunks(values: np.ndarray, counts: np.ndarray) -> Chunks:
    """Packed fixed-width values (as their bytes in memory): message i holds the next
    `counts[i]` of `values`."""
    item = values.dtype.itemsize
    return Chunks(np.ascontiguousarray(values).view(np.uint8).reshape(-1), counts * item, item)


def scatter(
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


class MessageWriter:
    """Writes a tree of `Message` / `Chunks` for `n` messages with numpy: sizes bottom-up
    (`size`), then every piece placed once (`emit`)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def size(self, node: Any) -> np.ndarray:
        """Bytes of `node` in each message (and, for a `Message`, its `content` and `size`)."""
        if isinstance(node, Chunks):
            return node.lengths
        content = np.zeros(self.n, dtype=np.int64)
        for c in node.children:
            content += self.size(c)
        node.content = content
        total = len(node.tag) + varint_len(content.astype(np.uint64)) + content
        if node.present is not None:
            total = np.where(node.present, total, 0)
        node.size = total
        return total

    def emit(self, out: np.ndarray, node: Any, starts: np.ndarray, active: np.ndarray | None = None) -> None:
        """Write `node` for every active message (all when `active` is None), message i at
        ``out[starts[i]:]``; `size` must have run on it."""
        if isinstance(node, Chunks):
            # Chunks under an absent parent have length 0 by construction (see same_chunks).
            scatter(out, node.data, node.lengths, starts, node.item)
            return
        content = node.content
        mask = active
        if node.present is not None:
            mask = node.present if mask is None else (mask & node.present)
        sel = np.arange(self.n) if mask is None else np.flatnonzero(mask)
        if not sel.size:
            return
        s = starts[sel]
        head = np.frombuffer(node.tag, dtype=np.uint8)
        out[s[:, None] + np.arange(head.size)] = head
        s = s + head.size
        vb, vl = varint_encode(content[sel].astype(np.uint64))
        scatter(out, vb, vl, s)
        child_start = np.zeros(self.n, dtype=np.int64)
        child_start[sel] = s + vl
        for c in node.children:
            self.emit(out, c, child_start, mask)
            child_start = child_start + self.size_of(c)

    @staticmethod
    def size_of(node: Any) -> np.ndarray:
        """Bytes of `node` in each message, once `size` has run on it."""
        out: np.ndarray = node.lengths if isinstance(node, Chunks) else node.size
        return out
