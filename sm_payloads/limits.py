"""Limits on what a decoder accepts: payload bytes, records, elements per tensor, JSON depth.

The decoders already cost time and memory linear in the bytes they are given, and never
allocate for a length or shape field beyond the bytes present. Limits bound the rest: what
a hostile or mistaken client can make a model server hand to its predict function.

Rule 1: a limit of None is no limit; `Limits()` limits nothing, `SERVING` is what
`smp.serving` applies unless told otherwise.
Rule 2: sizes are checked before any decoding (payload bytes, JSON nesting depth, found by
one vectorized pass over the bytes); counts after it, on the batch, before the caller sees
it (records, elements of the largest tensor). Streams count bytes as they are read.
Rule 3: a payload, batch or tensor over a size limit is a `PayloadTooLargeError` (HTTP
413) saying which limit and by how much; JSON nested deeper than allowed is a
`DecodeError` (HTTP 400) at the byte where the limit is crossed.

>>> import sm_payloads as smp
>>> from sm_payloads.limits import Limits
>>> smp.decode_request(b"1,2,3\\n4,5,6\\n", "text/csv", limits=Limits(max_records=1))
Traceback (most recent call last):
  ...
sm_payloads.errors.PayloadTooLargeError: text/csv batch of 2 records exceeds the limit of 1 records
>>> smp.decode_request(b'{"instances": [[[[1]]]]}', "application/json", limits=Limits(max_depth=3))
Traceback (most recent call last):
  ...
sm_payloads.errors.DecodeError: application/json: nested deeper than the limit of 3 levels at byte 16
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .codec import Readable
from .errors import DecodeError, PayloadTooLargeError
from .record import Ragged, RecordBatch

__all__ = ["SERVING", "Limits", "json_depth"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Optional bounds on a decoded payload (None: unbounded).

    Attributes
    ----------
    max_bytes
        The payload's size in bytes (for a stream: bytes read).
    max_records
        Records in one decoded batch.
    max_elements
        Values stored in one record's tensor: ``k`` for a dense ``(N, k)`` column (the
        product of the trailing shape), the stored entries of a sparse row, the length of a
        ragged row. Strings count one each.
    max_depth
        Nesting of JSON arrays and objects (JSON and JSON Lines only); ``{"instances":
        [[1, 2]]}`` has depth 3.
    """

    max_bytes: int | None = None
    max_records: int | None = None
    max_elements: int | None = None
    max_depth: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_records", "max_elements", "max_depth"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"Limits.{name} must be a non-negative int or None, got {v!r}")

    def check_size(self, data: Any, content_type: str) -> None:
        """Before decoding a whole payload: its size, and for JSON its depth."""
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise PayloadTooLargeError(len(data), self.max_bytes, f"{content_type} payload")
        if self.max_depth is not None and _is_json(content_type):
            depth, at = json_depth(data, self.max_depth)
            if depth > self.max_depth:
                raise DecodeError(
                    content_type, f"nested deeper than the limit of {self.max_depth} levels", offset=at
                )

    def check_batch(self, batch: RecordBatch, content_type: str, first_record: int = 0) -> None:
        """After decoding: records in the batch and elements per record's tensor."""
        if self.max_records is not None and len(batch) > self.max_records:
            raise PayloadTooLargeError(len(batch), self.max_records, f"{content_type} batch", unit="records")
        if self.max_elements is None:
            return
        for map_name in ("features", "label"):
            for key, col in getattr(batch, map_name).items():
                size, row = _largest_row(col)
                if size > self.max_elements:
                    raise PayloadTooLargeError(
                        size,
                        self.max_elements,
                        f"{content_type} tensor {map_name}[{key!r}]",
                        unit="elements",
                        record_index=first_record + row,
                    )

    def stream(self, source: Readable, content_type: str) -> Readable:
        """`source`, counting bytes as they are read against `max_bytes`."""
        if self.max_bytes is None:
            return source
        return _CountingReader(source, self.max_bytes, content_type)

    def batches(self, batches: Iterator[RecordBatch], content_type: str) -> Iterator[RecordBatch]:
        """`check_batch` on each batch of a streaming decoder, with absolute record indexes."""
        first = 0
        for b in batches:
            self.check_batch(b, content_type, first)
            first += len(b)
            yield b


#: What `smp.serving` applies by default. The byte limit there comes from the handler
#: (6 MiB, or ``SAGEMAKER_MAX_PAYLOAD_IN_MB``); these bound what reaches predict().
SERVING = Limits(max_records=1_000_000, max_elements=1 << 24, max_depth=64)


def _is_json(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct.endswith("json") or ct.endswith("jsonlines") or ct.endswith("+json")


def _largest_row(col: Any) -> tuple[int, int]:
    """(elements in the largest record of `col`, that record's index)."""
    if isinstance(col, Ragged):
        lengths = np.diff(np.asarray(col.offsets))
        if lengths.size == 0:
            return 0, 0
        row = int(np.argmax(lengths))
        return int(lengths[row]), row
    if sp.issparse(col):
        counts = np.diff(col.indptr)
        if counts.size == 0:
            return 0, 0
        row = int(np.argmax(counts))
        return int(counts[row]), row
    shape: tuple[int, ...] = tuple(getattr(col, "shape", ()))
    if len(shape) == 1 and shape[0] and getattr(getattr(col, "dtype", None), "kind", "") == "O":
        # Text read without a fixed width (CSV as strings): a list of fields per record.
        sizes = [len(v) if isinstance(v, (list, tuple)) else 1 for v in col]
        row = max(range(len(sizes)), key=sizes.__getitem__)
        return sizes[row], row
    per = 1
    for d in shape[1:]:
        per *= int(d)
    return (per, 0) if len(shape) and shape[0] else (0, 0)


_WINDOW = 1 << 22


def json_depth(data: Any, stop_above: int | None = None) -> tuple[int, int | None]:
    """The deepest nesting of ``[``/``{`` in JSON text, outside strings, and the byte offset
    where it is first reached (None for depth 0). With `stop_above`, the scan stops at the
    first byte where the depth exceeds it and returns that depth and offset.

    Vectorized over 4 MiB windows (memory stays a few times the window): a quote preceded by
    an odd run of backslashes is escaped; brackets between an opening and a closing quote
    are text. For text that is not valid JSON the answer is an estimate (a closer without
    an opener counts down), which is enough to refuse it early: the parser refuses it anyway.
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    buf = (
        np.frombuffer(data, np.uint8)
        if isinstance(data, (bytes, bytearray))
        else np.frombuffer(bytes(memoryview(data)), np.uint8)
    )
    n = buf.size
    depth0 = 0  # depth before the window
    in_text = 0  # 1 inside a string at the window's start
    deepest, where = 0, None
    a = 0
    while a < n:
        b = min(n, a + _WINDOW)
        while b < n and buf[b - 1] == 0x5C:  # never split a run of backslashes
            b += 1
        w = buf[a:b]
        quotes = np.flatnonzero(w == 0x22)
        if quotes.size:
            backslashes = np.flatnonzero(w == 0x5C)
            if backslashes.size:
                starts = backslashes[np.r_[True, np.diff(backslashes) != 1]]
                run = np.searchsorted(starts, quotes - 1, side="right") - 1
                after = np.zeros(quotes.size, bool)
                nz = quotes > 0
                after[nz] = w[quotes[nz] - 1] == 0x5C
                runlen = np.where(after, quotes - starts[np.maximum(run, 0)], 0)
                quotes = quotes[(runlen & 1) == 0]
        pos = np.flatnonzero((w == 0x5B) | (w == 0x7B) | (w == 0x5D) | (w == 0x7D))
        if quotes.size and pos.size:
            text = ((np.searchsorted(quotes, pos) + in_text) & 1) == 1
            pos = pos[~text]
        elif in_text:
            pos = pos[:0]
        if pos.size:
            step = np.where((w[pos] == 0x5B) | (w[pos] == 0x7B), 1, -1)
            depth = depth0 + np.cumsum(step)
            top = int(depth.max())
            if top > deepest:
                deepest, where = top, a + int(pos[int(np.argmax(depth == top))])
                if stop_above is not None and top > stop_above:
                    first = int(np.argmax(depth > stop_above))
                    return int(depth[first]), a + int(pos[first])
            depth0 = int(depth[-1])
        in_text = (in_text + int(quotes.size)) & 1
        a = b
    return deepest, where


class _CountingReader:
    """A binary stream that refuses to read past `limit` bytes."""

    def __init__(self, raw: Readable, limit: int, content_type: str) -> None:
        self._raw = raw
        self._limit = limit
        self._ct = content_type
        self._seen = 0

    def read(self, n: int = -1) -> bytes:
        # Ask for one byte more than allowed, so an exact-size stream still passes.
        room = self._limit - self._seen + 1
        chunk = self._raw.read(room if n is None or n < 0 else min(n, room))
        if chunk:
            self._seen += len(chunk)
            if self._seen > self._limit:
                raise PayloadTooLargeError(self._seen, self._limit, f"{self._ct} stream")
        return chunk

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True
