"""RecordIO framing (dmlc-core / MXNet), both directions, little-endian.

A frame is ``magic (u32 0xCED7230A) | lrec (u32) | payload | zero padding to 4 bytes``
where ``lrec = cflag << 29 | length``. cflag 0 is a whole record. dmlc-core's writer splits
a payload that holds the magic at a 4-byte-aligned offset into pieces with cflag 1 (first),
2 (middle) and 3 (last), dropping the magic at each split point; its reader puts the magic
back. That keeps sharded readers, which re-synchronise on the magic word, from mistaking
data for a header.

Rule 1: `write_records` splits the dmlc way by default; ``escape=False`` writes every
payload as one plain frame, exactly as the SageMaker Python SDK does (magic and all).
Rule 2: readers check every header (magic, cflag sequence, length against the bytes
present, padding) and raise `DecodeError` with the byte offset and record index. A last
frame without its padding is an error, as in dmlc-core. An empty input has no records.
Rule 3: readers never allocate more than the bytes actually present: a length word is
checked against the buffer, and streams are read in bounded chunks.
Rule 4: multi-part records are joined with the magic re-inserted (dmlc-core);
``join_magic=False`` joins the pieces as they are (ml-io's behaviour).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from .errors import DecodeError, EncodeError

__all__ = [
    "MAGIC",
    "MAX_RECORD_LENGTH",
    "Frame",
    "explain",
    "frame",
    "iter_frames",
    "iter_records",
    "read_records",
    "write_records",
]

MAGIC = 0xCED7230A
MAGIC_BYTES = struct.pack("<I", MAGIC)
#: The largest payload one frame can carry (29 bits of length).
MAX_RECORD_LENGTH = (1 << 29) - 1
CONTENT_TYPE = "application/x-recordio"

_HEADER = struct.Struct("<II")
_PAD = (b"", b"\0", b"\0\0", b"\0\0\0")
_STREAM_CHUNK = 1 << 20

Buffer = bytes | bytearray | memoryview


def _pad(length: int) -> int:
    return -length & 3


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def aligned_magic_positions(payload: Buffer) -> list[int]:
    """4-byte-aligned offsets of the magic inside `payload` (only whole words count)."""
    data = payload if isinstance(payload, (bytes, bytearray)) else bytes(payload)
    found = []
    limit = len(data) & ~3
    pos = data.find(MAGIC_BYTES, 0, limit)
    while pos != -1:
        if pos & 3 == 0:
            found.append(pos)
            pos = data.find(MAGIC_BYTES, pos + 4, limit)
        else:
            pos = data.find(MAGIC_BYTES, pos + 1, limit)
    return found


def frame(payload: Buffer, *, escape: bool = True) -> list[Buffer]:
    """The pieces (headers, data, padding) that frame one payload; join them to get bytes."""
    length = len(payload)
    if length > MAX_RECORD_LENGTH:
        raise EncodeError(
            CONTENT_TYPE,
            f"record of {length} bytes exceeds the RecordIO limit of {MAX_RECORD_LENGTH} bytes",
        )
    view = payload if isinstance(payload, (bytes, bytearray)) else memoryview(payload).cast("B")
    splits = aligned_magic_positions(payload) if escape else []
    out: list[Buffer] = []
    start = 0
    for k, pos in enumerate(splits):
        out.append(_HEADER.pack(MAGIC, ((1 if k == 0 else 2) << 29) | (pos - start)))
        if pos > start:
            out.append(view[start:pos])
        start = pos + 4
    out.append(_HEADER.pack(MAGIC, ((3 if splits else 0) << 29) | (length - start)))
    if length > start:
        out.append(view[start:])
    out.append(_PAD[_pad(length)])
    return out


def write_records(payloads: Iterable[Buffer], *, escape: bool = True) -> bytes:
    """Frame each payload as one RecordIO record and concatenate them.

    Parameters
    ----------
    payloads : iterable of bytes-like
        The records' bytes.
    escape : bool
        Split a payload that contains the magic at a 4-byte-aligned offset into a dmlc
        multi-part record (the default). ``False`` writes plain frames exactly as the
        SageMaker Python SDK does; such a file may be misread by dmlc's sharded readers.

    Examples
    --------
    >>> write_records([b"abc"]).hex()
    '0a23d7ce0300000061626300'
    """
    parts: list[Buffer] = []
    for payload in payloads:
        parts.extend(frame(payload, escape=escape))
    return b"".join(parts)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One record as found in the input: where it starts and what it holds."""

    offset: int  # byte offset of its (first) header
    index: int  # 0-based record index
    pieces: int  # 1 for a plain frame, the number of dmlc pieces otherwise
    payload: memoryview


class _Errors:
    def __init__(self, content_type: str) -> None:
        self.content_type = content_type

    def __call__(self, reason: str, offset: int, index: int) -> DecodeError:
        return DecodeError(self.content_type, reason, offset=offset, record_index=index)


def is_stream(source: Any) -> bool:
    """True for a binary stream (anything with ``read`` that is not a bytes-like buffer)."""
    return hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview))


def _no_data_yet() -> BlockingIOError:
    """A non-blocking stream's ``None`` ("no data yet") is not the end of the input."""
    return BlockingIOError("the stream is non-blocking and has no data yet; pass a blocking stream")


def read_some(stream: IO[bytes], n: int) -> bytes:
    """One ``read(n)``: up to `n` bytes, ``b""`` at the end, never None."""
    chunk = stream.read(n)
    if chunk is None:
        raise _no_data_yet()
    return bytes(chunk) if not isinstance(chunk, bytes) else chunk


def iter_frames(
    source: Buffer | IO[bytes],
    *,
    join_magic: bool = True,
    content_type: str = CONTENT_TYPE,
    base_offset: int = 0,
    first_index: int = 0,
) -> Iterator[Frame]:
    """Yield every record of a RecordIO buffer or binary stream as a `Frame`.

    Plain frames of a buffer are zero-copy views into it; multi-part records are joined
    into new bytes (with the magic re-inserted unless ``join_magic=False``).
    """
    err = _Errors(content_type)
    if is_stream(source):
        yield from _iter_stream(source, join_magic, err, base_offset)  # type: ignore[arg-type]
        return
    view = memoryview(source).cast("B")  # type: ignore[arg-type]
    end = len(view)
    pos = 0
    index = first_index
    unpack = _HEADER.unpack_from
    while pos < end:
        start = pos
        if end - pos < 8:
            raise err(f"truncated frame header ({end - pos} of 8 bytes)", base_offset + pos, index)
        magic, lrec = unpack(view, pos)
        if magic != MAGIC:
            raise err(f"bad magic 0x{magic:08x}, expected 0x{MAGIC:08x}", base_offset + pos, index)
        cflag, length = lrec >> 29, lrec & MAX_RECORD_LENGTH
        pos += 8
        if length > end - pos:
            raise err(
                f"frame length {length} exceeds the {end - pos} bytes left",
                base_offset + start,
                index,
            )
        if cflag == 0:
            padded = length + _pad(length)
            if padded > end - pos:
                raise err("last frame lacks its padding", base_offset + start, index)
            yield Frame(base_offset + start, index, 1, view[pos : pos + length])
            pos += padded
            index += 1
            continue
        if cflag != 1:
            raise err(
                f"continuation frame (cflag {cflag}) without a starting frame",
                base_offset + start,
                index,
            )
        pieces = [view[pos : pos + length]]
        pos += length + _pad(length)
        if pos > end:
            raise err("last frame lacks its padding", base_offset + start, index)
        while True:
            piece_at = pos
            if end - pos < 8:
                raise err("multi-part record ends before its last piece", base_offset + start, index)
            magic, lrec = unpack(view, pos)
            if magic != MAGIC:
                raise err(
                    f"bad magic 0x{magic:08x} in a multi-part record, expected 0x{MAGIC:08x}",
                    base_offset + pos,
                    index,
                )
            cflag, length = lrec >> 29, lrec & MAX_RECORD_LENGTH
            pos += 8
            if cflag not in (2, 3):
                raise err(
                    f"cflag {cflag} inside a multi-part record, expected 2 or 3",
                    base_offset + piece_at,
                    index,
                )
            if length > end - pos:
                raise err(
                    f"frame length {length} exceeds the {end - pos} bytes left",
                    base_offset + piece_at,
                    index,
                )
            pieces.append(view[pos : pos + length])
            pos += length + _pad(length)
            if pos > end:
                raise err("last frame lacks its padding", base_offset + piece_at, index)
            if cflag == 3:
                break
        sep = MAGIC_BYTES if join_magic else b""
        yield Frame(base_offset + start, index, len(pieces), memoryview(sep.join(pieces)))
        index += 1


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    """Read `n` bytes, or fewer only at the end of the stream; in bounded chunks (a huge
    length word allocates nothing) and across short reads (pipes, sockets, raw files)."""
    chunks = []
    got = 0
    while got < n:
        chunk = read_some(stream, min(_STREAM_CHUNK, n - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _iter_stream(stream: IO[bytes], join_magic: bool, err: _Errors, base: int) -> Iterator[Frame]:
    pos = base
    index = 0
    while True:
        start = pos
        head = _read_exact(stream, 8)
        if not head:
            return
        if len(head) < 8:
            raise err(f"truncated frame header ({len(head)} of 8 bytes)", pos, index)
        magic, lrec = _HEADER.unpack(head)
        if magic != MAGIC:
            raise err(f"bad magic 0x{magic:08x}, expected 0x{MAGIC:08x}", pos, index)
        cflag, length = lrec >> 29, lrec & MAX_RECORD_LENGTH
        if cflag not in (0, 1):
            raise err(f"continuation frame (cflag {cflag}) without a starting frame", pos, index)
        pieces = []
        piece_at = pos
        while True:
            want = length + _pad(length)
            body = _read_exact(stream, want)
            if len(body) < length:
                raise err(f"frame length {length} exceeds the {len(body)} bytes left", piece_at, index)
            if len(body) < want:
                raise err("last frame lacks its padding", piece_at, index)
            pieces.append(body[:length] if want != length else body)
            pos = piece_at + 8 + want
            if cflag in (0, 3):
                break
            piece_at = pos
            head = _read_exact(stream, 8)
            if len(head) < 8:
                raise err("multi-part record ends before its last piece", start, index)
            magic, lrec = _HEADER.unpack(head)
            if magic != MAGIC:
                raise err(
                    f"bad magic 0x{magic:08x} in a multi-part record, expected 0x{MAGIC:08x}",
                    piece_at,
                    index,
                )
            cflag, length = lrec >> 29, lrec & MAX_RECORD_LENGTH
            if cflag not in (2, 3):
                raise err(f"cflag {cflag} inside a multi-part record, expected 2 or 3", piece_at, index)
        payload = pieces[0] if len(pieces) == 1 else (MAGIC_BYTES if join_magic else b"").join(pieces)
        yield Frame(start, index, len(pieces), memoryview(payload))
        index += 1


def iter_records(source: Buffer | IO[bytes], *, join_magic: bool = True) -> Iterator[memoryview]:
    """Yield the payload of every record in a RecordIO buffer or binary stream.

    Memory is bounded by the largest record, not the input, when reading a stream.

    >>> [bytes(p) for p in iter_records(write_records([b"a", b"bcde"]))]
    [b'a', b'bcde']
    """
    for f in iter_frames(source, join_magic=join_magic):
        yield f.payload


def read_records(source: Buffer | IO[bytes], *, join_magic: bool = True) -> list[bytes]:
    """All payloads as a list of bytes (see `iter_records`)."""
    return [bytes(p) for p in iter_records(source, join_magic=join_magic)]


def frame_table(view: memoryview, content_type: str) -> tuple[np.ndarray, np.ndarray, dict[int, memoryview]]:
    """(payload starts, payload lengths, joined multi-part payloads by record index).

    For a multi-part record the start is ``-1 - offset of its first header`` and its joined
    payload is in the dict. Uses one
    vectorized check when every frame has the same length (uniform dense batches).
    """
    end = len(view)
    if end >= 8:
        magic, lrec = _HEADER.unpack_from(view, 0)
        if magic == MAGIC and lrec >> 29 == 0:
            length = lrec & MAX_RECORD_LENGTH
            stride = 8 + length + _pad(length)
            if end % stride == 0:
                words = np.frombuffer(view, dtype="<u4").reshape(-1, stride // 4)
                if (words[:, 0] == MAGIC).all() and (words[:, 1] == lrec).all():
                    n = words.shape[0]
                    starts = np.arange(n, dtype=np.int64) * stride + 8
                    return starts, np.full(n, length, dtype=np.int64), {}
    if end and end % 4 == 0:
        # Every frame starts 4-aligned. When the aligned magic words chain exactly from the
        # start to the end (no magic inside a payload, no multi-part record), they are the
        # frames: found with numpy instead of a walk in Python.
        words = np.frombuffer(view, dtype="<u4")
        cand = np.flatnonzero(words == MAGIC)
        if cand.size and cand[0] == 0 and cand[-1] + 1 < words.size:
            lrec = words[cand + 1].astype(np.int64)
            if (lrec <= MAX_RECORD_LENGTH).all():
                nxt = cand + 2 + ((lrec + 3) >> 2)
                if (nxt[:-1] == cand[1:]).all() and nxt[-1] == words.size:
                    return cand * 4 + 8, lrec, {}
    starts_l: list[int] = []
    lengths_l: list[int] = []
    joined: dict[int, memoryview] = {}
    unpack = _HEADER.unpack_from
    pos = 0
    index = 0
    while pos < end:
        if end - pos >= 8:
            magic, lrec = unpack(view, pos)
            length = lrec & MAX_RECORD_LENGTH
            if magic == MAGIC and lrec >> 29 == 0 and length + _pad(length) <= end - pos - 8:
                starts_l.append(pos + 8)
                lengths_l.append(length)
                pos += 8 + length + _pad(length)
                index += 1
                continue
        # Anything unusual (multi-part, errors): let the careful reader handle this frame.
        f = next(
            iter_frames(view[pos:], content_type=content_type, base_offset=pos, first_index=index),
            None,
        )
        if f is None:  # pragma: no cover - pos < end means there is a frame or an error
            break
        starts_l.append(-1 - f.offset)  # -1 - frame offset marks a joined record
        lengths_l.append(len(f.payload))
        joined[index] = f.payload
        pos = end_of_record(view, pos)
        index += 1
    return np.array(starts_l, dtype=np.int64), np.array(lengths_l, dtype=np.int64), joined


def whole_records_prefix(view: memoryview) -> int:
    """Bytes at the start of `view` that hold only whole records (the rest is an unfinished
    record, or something `frame_table` will reject with a precise error, in which case the
    whole view is returned so that it does).

    For reading a stream into a buffer batch by batch: the frames are chained with numpy
    (each header's length points at the next header). The aligned magic words are the
    candidate headers; a magic inside a payload only breaks the chain into runs, and each
    run costs a few binary searches, so the work stays linear in the buffer.
    """
    size = len(view) // 4
    if size < 2:
        return 0
    words = np.frombuffer(view[: size * 4], dtype="<u4")
    cand = np.flatnonzero(words == MAGIC)
    if not cand.size or cand[0] != 0:
        return len(view)  # not a header: let the strict reader say so
    has_len = cand + 1 < size
    lrec = np.zeros(cand.size, dtype=np.int64)
    lrec[has_len] = words[cand[has_len] + 1]
    nxt = cand + 2 + (((lrec & MAX_RECORD_LENGTH) + 3) >> 2)
    nxt[~has_len] = size + 1  # a header cut short never fits
    flags = lrec >> 29
    ends_record = (flags == 0) | (flags == 3)
    whole_idx = np.flatnonzero(ends_record)
    bad_idx = np.flatnonzero(flags > 3)
    breaks = np.flatnonzero(nxt[:-1] != cand[1:])
    unpack = _HEADER.unpack_from
    done = 0
    i = 0
    inside = False  # whether the previous frame on the chain left a multi-part record open
    while True:
        b = int(np.searchsorted(breaks, i))
        k = int(breaks[b]) if b < breaks.size else cand.size - 1
        # Frames i..k are chained; all but k fit for sure (the next header follows them).
        fits_k = bool(nxt[k] <= size)
        last = k if fits_k else k - 1
        if last >= i:
            bi = int(np.searchsorted(bad_idx, i))
            if bi < bad_idx.size and bad_idx[bi] <= last:
                return len(view)  # an impossible cflag: the strict reader reports it
            fl = flags[i : last + 1]
            prev = np.empty(fl.size, dtype=bool)  # does each frame start inside a record?
            prev[0] = inside
            prev[1:] = (fl[:-1] == 1) | (fl[:-1] == 2)
            if ((prev & ((fl == 0) | (fl == 1))) | (~prev & ((fl == 2) | (fl == 3)))).any():
                return len(view)  # a broken cflag sequence: the strict reader reports it
            inside = bool(fl[-1] in (1, 2))
            w = int(np.searchsorted(whole_idx, last, side="right")) - 1
            if w >= 0 and whole_idx[w] >= i:
                done = int(nxt[whole_idx[w]]) * 4
        if not fits_k:
            return done
        pos = int(nxt[k])
        # After a break the next runs are often short (a magic in every record): step over
        # a stretch of frames in Python, which costs less than numpy calls per short run.
        for _ in range(256):
            if pos >= size:
                return done
            if pos + 1 >= size:
                return done  # a header cut short
            magic, word = unpack(view, pos * 4)
            flag = word >> 29
            if magic != MAGIC or flag > 3 or inside != (flag in (2, 3)):
                return len(view)  # the strict reader reports it
            after = pos + 2 + (((word & MAX_RECORD_LENGTH) + 3) >> 2)
            if after > size:
                return done
            inside = flag in (1, 2)
            if not inside:
                done = after * 4
            pos = after
        if pos >= size:
            return done
        i = int(np.searchsorted(cand, pos))
        if i == cand.size or cand[i] != pos:
            return len(view) if pos + 1 < size else done


def fill_from(stream: IO[bytes], out: memoryview) -> int:
    """Read from `stream` into `out` until it is full or the stream ends; bytes read."""
    got = 0
    readinto = getattr(stream, "readinto", None)
    while got < len(out):
        if readinto is not None:
            n = readinto(out[got:])
        else:
            chunk = read_some(stream, min(len(out) - got, 1 << 24))
            n = len(chunk)
            out[got : got + n] = chunk
        if n is None:
            raise _no_data_yet()
        if not n:
            break
        got += n
    return got


def end_of_record(view: memoryview, pos: int) -> int:
    """Offset just past the (already validated) record starting at `pos`."""
    while True:
        _, lrec = _HEADER.unpack_from(view, pos)
        cflag, length = lrec >> 29, lrec & MAX_RECORD_LENGTH
        pos += 8 + length + _pad(length)
        if cflag in (0, 3):
            return pos


# --------------------------------------------------------------------------------------
# Debugging
# --------------------------------------------------------------------------------------


def explain(data: Buffer | IO[bytes], *, limit: int = 20) -> str:
    """A human-readable table of the frames: offset, pieces, length, padding, first bytes.

    >>> print(explain(write_records([b"abc"])))
    record 0 at byte 0: 3 bytes, 1 piece, pad 1: 616263
    """
    lines = []
    for f in iter_frames(data):
        if f.index >= limit:
            lines.append("...")
            break
        n = len(f.payload)
        head = bytes(f.payload[:16]).hex() + ("..." if n > 16 else "")
        plural = "piece" if f.pieces == 1 else "pieces"
        lines.append(
            f"record {f.index} at byte {f.offset}: {n} bytes, {f.pieces} {plural}, "
            f"pad {_pad(n) if f.pieces == 1 else '-'}: {head}"
        )
    return "\n".join(lines) if lines else "(no records)"
