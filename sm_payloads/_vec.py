"""Vectorized protobuf primitives over many messages at once (numpy, no loop per record).

Rule 1: functions here never raise on malformed input with anything but `Decline`; the
decoder then re-reads the input with the careful reader in `_protobuf.py`, which reports
the exact error. So these helpers may be strict and simple: anything unusual declines.
Rule 2: nothing allocates in proportion to a length word; only to bytes present.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_U64 = np.uint64


class Decline(Exception):
    """The vectorized path does not handle this input; use the careful reader."""


# --------------------------------------------------------------------------------------
# Varints
# --------------------------------------------------------------------------------------


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


def read_varints_at(buf: np.ndarray, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read one varint at each position (bounded by `end`); return (values, next positions)."""
    m = pos.size
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


# --------------------------------------------------------------------------------------
# Scanning messages
# --------------------------------------------------------------------------------------


class Fields:
    """The fields of many messages: parallel arrays ordered by message, then wire order."""

    __slots__ = ("fn", "msg", "seq", "ve", "vs", "wt")

    def __init__(self, msg: Any, fn: Any, wt: Any, vs: Any, ve: Any, seq: Any) -> None:
        self.msg, self.fn, self.wt, self.vs, self.ve, self.seq = msg, fn, wt, vs, ve, seq

    def select(self, mask: np.ndarray) -> Fields:
        return Fields(
            self.msg[mask], self.fn[mask], self.wt[mask], self.vs[mask], self.ve[mask], self.seq[mask]
        )


def scan(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> Fields:
    """Split every message ``buf[starts[i]:ends[i]]`` into its fields, all messages at once.

    For wire type 2 ``vs:ve`` is the payload; for 0 the varint; for 1 and 5 the fixed bytes.
    Groups (wire types 3, 4) and invalid wire types decline.
    """
    msgs, fns, wts, vss, ves, seqs = [], [], [], [], [], []
    idx = np.flatnonzero(starts < ends)
    pos = starts[idx].astype(np.int64)
    end = ends[idx].astype(np.int64)
    step = 0
    while idx.size:
        tag, p = read_varints_at(buf, pos, end)
        fn = (tag >> _U64(3)).astype(np.int64)
        wt = (tag & _U64(7)).astype(np.int64)
        if (fn == 0).any() or (tag >> _U64(32)).any():
            raise Decline("bad field number")
        vs = p.copy()
        ve = np.empty_like(p)
        m = wt == 2
        if m.any():
            ln, q = read_varints_at(buf, p[m], end[m])
            if (ln > (end[m] - q).astype(_U64)).any():
                raise Decline("length exceeds message")
            vs[m] = q
            ve[m] = q + ln.astype(np.int64)
        m = wt == 0
        if m.any():
            _, q = read_varints_at(buf, p[m], end[m])
            ve[m] = q
        m = wt == 5
        ve[m] = p[m] + 4
        m = wt == 1
        ve[m] = p[m] + 8
        if ((wt == 3) | (wt == 4) | (wt > 5)).any():
            raise Decline("groups or invalid wire type")
        if (ve > end).any():
            raise Decline("field exceeds message")
        msgs.append(idx)
        fns.append(fn)
        wts.append(wt)
        vss.append(vs)
        ves.append(ve)
        seqs.append(np.full(idx.size, step, dtype=np.int64))
        step += 1
        keep = ve < end
        idx, pos, end = idx[keep], ve[keep], end[keep]
    if not msgs:
        e = np.empty(0, np.int64)
        return Fields(e, e, e, e, e, e)
    out = Fields(*(np.concatenate(a) for a in (msgs, fns, wts, vss, ves, seqs)))
    if len(msgs) > 1:
        # Steps were appended one after another; put each message's fields together, in
        # wire order (a stable sort keeps the step order within a message).
        order = np.argsort(out.msg, kind="stable")
        out = Fields(*(a[order] for a in (out.msg, out.fn, out.wt, out.vs, out.ve, out.seq)))
    return out


def last_per_message(f: Fields, n: int) -> np.ndarray:
    """Index into `f` of the last field of each message (-1 where a message has none)."""
    out = np.full(n, -1, dtype=np.int64)
    if f.msg.size:
        order = np.lexsort((f.seq, f.msg))
        msg = f.msg[order]
        last = np.ones(msg.size, dtype=bool)
        last[:-1] = msg[1:] != msg[:-1]
        out[msg[last]] = order[last]
    return out


def unique_field(f: Fields, n: int) -> np.ndarray:
    """Like `last_per_message` but declines when a message has the field twice."""
    if f.msg.size and np.bincount(f.msg, minlength=n).max() > 1:
        raise Decline("repeated field")
    return last_per_message(f, n)
