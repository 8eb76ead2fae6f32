"""A careful, pure-Python reader of one ``aialgs.data.Record`` message.

This is the general path of the RecordIO-protobuf decoder: it reads any valid protobuf
encoding of record.proto (any field order, packed or unpacked repeated fields, unknown
fields of every wire type including groups, repeated map keys where the last wins, a oneof
where the last member wins) and reports the exact byte offset of anything malformed. The
vectorized paths in `formats/recordio_protobuf.py` handle the common layouts at memory
speed and fall back to this reader for everything else.

Rule 1: every read is bounds-checked against the enclosing message; a length word never
allocates more than the bytes present.
Rule 2: a known field that arrives with an unexpected wire type is an error (protobuf's own
parsers reject it too); unknown fields are skipped.
Rule 3: errors are `WireError(reason, offset)` with the absolute byte offset; the codec turns
them into `DecodeError` with the record index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .record import Record, Tensor

_MAX_GROUP_DEPTH = 64

VALUE_TYPES: dict[int, np.dtype[Any]] = {2: np.dtype("<f4"), 3: np.dtype("<f8"), 7: np.dtype(np.int32)}
VALUE_FIELD_NAMES = {2: "float32_tensor", 3: "float64_tensor", 7: "int32_tensor", 9: "bytes"}


class WireError(ValueError):
    def __init__(self, reason: str, offset: int) -> None:
        self.reason = reason
        self.offset = offset
        super().__init__(f"{reason} at byte {offset}")


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


def _skip(buf: memoryview, pos: int, end: int, wire_type: int, field: int, depth: int = 0) -> int:
    """Skip one field's value; return the position after it."""
    if wire_type == 0:
        return read_varint(buf, pos, end)[1]
    if wire_type == 1:
        if end - pos < 8:
            raise WireError("truncated 64-bit field", pos)
        return pos + 8
    if wire_type == 5:
        if end - pos < 4:
            raise WireError("truncated 32-bit field", pos)
        return pos + 4
    if wire_type == 2:
        n, pos = read_varint(buf, pos, end)
        if n > end - pos:
            raise WireError(f"length {n} exceeds the {end - pos} bytes left", pos)
        return pos + n
    if wire_type == 3:
        if depth >= _MAX_GROUP_DEPTH:
            raise WireError("groups nested too deeply", pos)
        while True:
            tag_at = pos
            tag, pos = read_varint(buf, pos, end)
            wt, fn = tag & 7, tag >> 3
            if fn == 0:
                raise WireError("field number 0", tag_at)
            if wt == 4:
                if fn != field:
                    raise WireError(f"end of group {fn} does not match group {field}", tag_at)
                return pos
            pos = _skip(buf, pos, end, wt, fn, depth + 1)
    if wire_type == 4:
        raise WireError("end of a group that was not started", pos)
    raise WireError(f"invalid wire type {wire_type}", pos)


def _fields(buf: memoryview, pos: int, end: int):  # type: ignore[no-untyped-def]
    """Yield (field number, wire type, value start, value end, tag offset) of a message.

    For wire type 2 the value range is the payload; for 0 it is the varint; for 1/5 the
    fixed bytes. Groups are skipped and never yielded.
    """
    while pos < end:
        tag_at = pos
        tag, pos = read_varint(buf, pos, end)
        fn, wt = tag >> 3, tag & 7
        if fn == 0:
            raise WireError("field number 0", tag_at)
        if wt == 2:
            n, pos = read_varint(buf, pos, end)
            if n > end - pos:
                raise WireError(f"length {n} exceeds the {end - pos} bytes left", tag_at)
            yield fn, wt, pos, pos + n, tag_at
            pos += n
        elif wt == 3:
            pos = _skip(buf, pos, end, 3, fn)
        else:
            nxt = _skip(buf, pos, end, wt, fn)
            yield fn, wt, pos, nxt, tag_at
            pos = nxt


def _check_wt(wt: int, expected: int, what: str, tag_at: int) -> None:
    if wt != expected:
        raise WireError(f"{what} has wire type {wt}, expected {expected}", tag_at)


def _utf8(buf: memoryview, start: int, end: int, what: str) -> str:
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise WireError(f"{what} is not valid UTF-8", start + e.start) from None


def _packed_varints(buf: memoryview, start: int, end: int) -> list[int]:
    out = []
    pos = start
    while pos < end:
        v, pos = read_varint(buf, pos, end)
        out.append(v)
    return out


def _to_int32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


class _Layout:
    """Where record 0 keeps its packed fixed-width values (for the template fast path)."""

    __slots__ = ("ranges", "simple")

    def __init__(self) -> None:
        self.ranges: list[tuple[str, str, int, int]] = []  # (map, key, start, end), absolute
        self.simple = True  # only float tensors with one packed values chunk, nothing else


def _tensor(
    buf: memoryview, start: int, end: int, which: int, layout: _Layout | None, where: tuple[str, str]
) -> Tensor:
    dtype = VALUE_TYPES[which]
    chunks: list[np.ndarray] = []
    values_int: list[int] = []
    keys: list[int] = []
    shape: list[int] = []
    shape_seen = False
    packed_ranges: list[tuple[int, int]] = []
    for fn, wt, vs, ve, tag_at in _fields(buf, start, end):
        if fn == 1:
            if which == 7:
                if wt == 2:
                    values_int.extend(_to_int32(v) for v in _packed_varints(buf, vs, ve))
                else:
                    _check_wt(wt, 0, "int32 value", tag_at)
                    values_int.append(_to_int32(read_varint(buf, vs, ve)[0]))
                if layout is not None:
                    layout.simple = False
            else:
                size = dtype.itemsize
                if wt == 2:
                    if (ve - vs) % size:
                        raise WireError(
                            f"packed {dtype.name} values of {ve - vs} bytes (not a multiple of {size})",
                            vs,
                        )
                    chunks.append(np.frombuffer(buf[vs:ve], dtype=dtype))
                    packed_ranges.append((vs, ve))
                else:
                    _check_wt(wt, 5 if size == 4 else 1, f"{dtype.name} value", tag_at)
                    chunks.append(np.frombuffer(buf[vs:ve], dtype=dtype))
                    if layout is not None:
                        layout.simple = False
        elif fn in (2, 3):
            target = keys if fn == 2 else shape
            if fn == 3:
                shape_seen = True
            if wt == 2:
                target.extend(_packed_varints(buf, vs, ve))
            else:
                _check_wt(wt, 0, "keys" if fn == 2 else "shape", tag_at)
                target.append(read_varint(buf, vs, ve)[0])
        elif layout is not None:
            layout.simple = False
    if which == 7:
        values = np.array(values_int, dtype=np.int32)
    elif not chunks:
        values = np.empty(0, dtype=dtype)
    elif len(chunks) == 1:
        values = chunks[0]
    else:
        values = np.concatenate(chunks)
    if layout is not None:
        # The template path handles a float tensor that is one packed chunk (or empty),
        # with no keys, no shape and nothing else.
        if which == 7 or keys or shape_seen or len(packed_ranges) > 1:
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
        shape=tuple(shape) if shape_seen else None,
    )


def _bytes_value(buf: memoryview, start: int, end: int) -> Tensor:
    vals: list[Any] = []
    for fn, wt, vs, ve, tag_at in _fields(buf, start, end):
        if fn == 1:
            _check_wt(wt, 2, "bytes value", tag_at)
            raw = bytes(buf[vs:ve])
            try:
                vals.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                vals.append(raw)
        elif fn == 2:
            _check_wt(wt, 2, "content_type", tag_at)
            _utf8(buf, vs, ve, "content_type")
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    return Tensor(arr)


def _value(
    buf: memoryview, start: int, end: int, layout: _Layout | None, where: tuple[str, str]
) -> Tensor | None:
    chosen: tuple[int, int, int] | None = None
    for fn, wt, vs, ve, tag_at in _fields(buf, start, end):
        if fn in VALUE_FIELD_NAMES:
            _check_wt(wt, 2, VALUE_FIELD_NAMES[fn], tag_at)
            chosen = (fn, vs, ve)  # a oneof: the last member on the wire wins
        elif layout is not None:
            layout.simple = False
    if chosen is None:
        return None
    fn, vs, ve = chosen
    if fn == 9:
        if layout is not None:
            layout.simple = False
        return _bytes_value(buf, vs, ve)
    return _tensor(buf, vs, ve, fn, layout, where)


def _map_entry(
    buf: memoryview, start: int, end: int, map_name: str, layout: _Layout | None
) -> tuple[str, tuple[int, int] | None]:
    key = ""
    value: tuple[int, int] | None = None
    for fn, wt, vs, ve, tag_at in _fields(buf, start, end):
        if fn == 1:
            _check_wt(wt, 2, f"{map_name} key", tag_at)
            key = _utf8(buf, vs, ve, f"{map_name} key")
        elif fn == 2:
            _check_wt(wt, 2, f"{map_name} value", tag_at)
            value = (vs, ve)
        elif layout is not None:
            layout.simple = False
    return key, value


def parse_record(buf: memoryview, start: int, end: int, layout: _Layout | None = None) -> Record:
    """Parse one Record from ``buf[start:end]``; offsets in errors are absolute."""
    maps: dict[str, dict[str, tuple[int, int] | None]] = {"features": {}, "label": {}}
    strings: dict[int, str] = {}
    for fn, wt, vs, ve, tag_at in _fields(buf, start, end):
        if fn in (1, 2):
            name = "features" if fn == 1 else "label"
            _check_wt(wt, 2, f"{name} entry", tag_at)
            key, value = _map_entry(buf, vs, ve, name, layout)
            entries = maps[name]
            entries.pop(key, None)  # a repeated key: the last entry wins, in its position
            entries[key] = value
        elif fn in (3, 4, 5):
            what = ("uid", "metadata", "configuration")[fn - 3]
            _check_wt(wt, 2, what, tag_at)
            strings[fn] = _utf8(buf, vs, ve, what)
            if layout is not None:
                layout.simple = False
        elif layout is not None:
            layout.simple = False
    tensors: dict[str, dict[str, Tensor]] = {}
    for name, entries in maps.items():
        out: dict[str, Tensor] = {}
        for key, rng in entries.items():
            if rng is None:
                continue
            t = _value(buf, rng[0], rng[1], layout, (name, key))
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
