"""Limits on what a decoder accepts: payload bytes, records, columns, elements per tensor,
JSON depth.

The decoders already cost time and memory linear in the bytes they are given, and never
allocate for a length or shape field beyond the bytes present. Limits bound the rest: what
a hostile or mistaken client can make a model server hand to its predict function.

Rule 1: a limit of None is no limit; `Limits()` limits nothing, `SERVING` is what
`smp.serving` applies unless told otherwise.
Rule 2: sizes are checked before any decoding (payload bytes, JSON nesting depth, found by
one vectorized pass over the bytes); counts while decoding (Rule 4) and once more on the
batch, before the caller sees it (records, columns, elements per record's tensor). Streams
count bytes as they are read.
Rule 3: a payload, batch or tensor over a size limit is a `PayloadTooLargeError` (HTTP
413) saying which limit and by how much; JSON nested deeper than allowed is a
`DecodeError` (HTTP 400) at the byte where the limit is crossed. A record over
`max_elements` is the first such record in the body. A body whose records name more
columns than `max_columns` is refused as soon as the reader has seen one too many (the
column limit is handed to the JSON readers while `decode_within` decodes: `column_limit`,
`columns_refused`),
so a record of a million keys costs no more than reading its first keys.
Rule 4: `sm_payloads.api.decode_within` (what the verbs and `smp.serving` use) applies the
counts while decoding, so that a body over them is refused before it is decoded whole. The
scanners here count records without decoding: `json_records` (a JSON document's records
array, from its structure; `json_crowded_records` also finds the records that can hold a
tensor over `max_elements`, which are then decoded alone), `count_lines` (JSON Lines;
libsvm outside comments), `count_byte` (the cheap bounds). A count that stopped early
says "more than N". A body within the limits gets exactly the batch or the error it gets
without them.

>>> import sm_payloads as smp
>>> from sm_payloads.limits import Limits
>>> smp.decode_request(b"1,2,3\\n4,5,6\\n", "text/csv", limits=Limits(max_records=1))
Traceback (most recent call last):
  ...
sm_payloads.errors.PayloadTooLargeError: text/csv batch of more than 1 records exceeds the limit of 1 records
>>> smp.decode_request(b'{"instances": [[[[1]]]]}', "application/json", limits=Limits(max_depth=3))
Traceback (most recent call last):
  ...
sm_payloads.errors.DecodeError: application/json: nested deeper than the limit of 3 levels at byte 16
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .codec import Readable
from .columns import Sparse
from .errors import DecodeError, PayloadTooLargeError
from .record import Ragged, RecordBatch

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from . import _sparse as sp

__all__ = [
    "SERVING",
    "Limits",
    "body_bytes",
    "column_limit",
    "columns_refused",
    "columns_within",
    "count_byte",
    "count_lines",
    "json_crowded_records",
    "json_depth",
    "json_records",
    "too_many_columns",
    "too_many_records",
]


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
    max_columns
        Columns in one decoded batch: the keys of ``features`` and ``label`` together
        (``{"a": 1, "b": [2, 3]}`` records make two; a CSV or RecordIO-protobuf body of
        dense rows one or two). A batch is a numpy array per column, so a body of many
        distinct keys costs an object per key whatever its size; this bounds that.
    """

    max_bytes: int | None = None
    max_records: int | None = None
    max_elements: int | None = None
    max_depth: int | None = None
    max_columns: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_records", "max_elements", "max_depth", "max_columns"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"Limits.{name} must be a non-negative int or None, got {v!r}")

    def check_size(self, data: Any, content_type: str) -> None:
        """Before decoding a whole payload: its size, and for JSON its depth."""
        if self.max_bytes is not None and len(data) > self.max_bytes:
            raise PayloadTooLargeError(len(data), self.max_bytes, f"{content_type} payload")
        if self.max_depth is not None and _is_json(content_type) and not _shallow(data, self.max_depth):
            depth, at = json_depth(data, self.max_depth)
            if depth > self.max_depth:
                raise DecodeError(
                    content_type, f"nested deeper than the limit of {self.max_depth} levels", offset=at
                )

    def check_batch(
        self,
        batch: RecordBatch,
        content_type: str,
        first_record: int = 0,
        record_indexes: np.ndarray | None = None,
    ) -> None:
        """After decoding: records in the batch, its columns, then elements per record's
        tensor (the first record over the limit; among tensors, the first in ``features``
        then ``label`` order that holds it). Errors name a record ``first_record + i``, or
        ``record_indexes[i]`` when the batch holds records picked from a body."""
        if self.max_records is not None and len(batch) > self.max_records:
            raise PayloadTooLargeError(len(batch), self.max_records, f"{content_type} batch", unit="records")
        if self.max_columns is not None and len(batch.features) + len(batch.label) > self.max_columns:
            # "more than": the same words whichever reader counted (some stop at the first
            # column too many)
            raise too_many_columns(content_type, self.max_columns)
        if self.max_elements is None:
            return
        worst: tuple[int, int, str, str] | None = None  # (record, size, map, key)
        for map_name in ("features", "label"):
            for key, col in getattr(batch, map_name).items():
                found = _first_over(col, self.max_elements)
                if found is not None and (worst is None or found[0] < worst[0]):
                    worst = (found[0], found[1], map_name, key)
        if worst is not None:
            row, size, map_name, key = worst
            raise PayloadTooLargeError(
                size,
                self.max_elements,
                f"{content_type} tensor {map_name}[{key!r}]",
                unit="elements",
                record_index=first_record + (row if record_indexes is None else int(record_indexes[row])),
            )

    def counts_only(self) -> Limits:
        """These limits without the size ones (``max_bytes``, ``max_depth``): for a body
        whose sizes are already checked."""
        return Limits(
            max_records=self.max_records, max_elements=self.max_elements, max_columns=self.max_columns
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
SERVING = Limits(max_records=1_000_000, max_elements=1 << 24, max_depth=64, max_columns=4096)

#: The column limit of the `decode_within` call in progress (in this thread or task) and the
#: media type its messages name, for the readers that can stop at the first column too
#: many: None when there is none.
_COLUMN_LIMIT: ContextVar[tuple[int, str] | None] = ContextVar("sm_payloads_column_limit", default=None)


def column_limit() -> int | None:
    """The ``max_columns`` of the `decode_within` in progress (None: unlimited). The JSON
    readers check it where they meet a body of more keys than their column reader reads,
    and refuse it (`columns_refused`) before building anything per key."""
    got = _COLUMN_LIMIT.get()
    return None if got is None else got[0]


def columns_refused() -> PayloadTooLargeError:
    """The error for a body over the column limit in force (`column_limit`), named as the
    `decode_within` in progress names its media type; decoding stopped at the first column
    too many."""
    got = _COLUMN_LIMIT.get()
    if got is None:
        raise RuntimeError("columns_refused() outside decode_within")
    return too_many_columns(got[1], got[0])


class _ColumnLimit:
    """The context manager `columns_within` gives (a class: no generator to start and
    finish on every small request)."""

    __slots__ = ("token", "value")

    def __init__(self, value: tuple[int, str]) -> None:
        self.value = value
        self.token: Token[tuple[int, str] | None] | None = None

    def __enter__(self) -> None:
        self.token = _COLUMN_LIMIT.set(self.value)

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _COLUMN_LIMIT.reset(self.token)


def columns_within(limit: int, name: str) -> AbstractContextManager[None]:
    """`column_limit` is `limit` inside the block, its errors naming `name`
    (`decode_within` decodes in one)."""
    return _ColumnLimit((limit, name))


def _shallow(data: Any, max_depth: int) -> bool:
    """Whether a short bytes body (4 KiB at most: a request of a few records) cannot nest
    deeper than `max_depth`: each level opens with a ``[`` or ``{``, so a body holding no
    more of them than that (in strings or not) is within it, without `json_depth`'s scan
    (about 18 µs even for a short body; counting is 1 µs a kB, so longer bodies, which
    mostly hold more brackets, are scanned at once)."""
    return type(data) is bytes and len(data) <= 4096 and data.count(b"[") + data.count(b"{") <= max_depth


def _is_json(content_type: str) -> bool:
    ct = content_type.split(";", 1)[0].strip().lower()
    return ct.endswith("json") or ct.endswith("jsonlines") or ct.endswith("+json")


def _first_over(col: Any, limit: int) -> tuple[int, int] | None:
    """(index, elements) of the first record of `col` with more than `limit` elements."""
    lengths: Any
    if isinstance(col, Ragged):
        lengths = np.diff(np.asarray(col.offsets))
    elif sp.issparse(col):
        lengths = np.diff(col.indptr)
    elif isinstance(col, Sparse):  # records of rank other than 1: stored entries too
        lengths = np.diff(col.matrix.indptr)
    else:
        shape: tuple[int, ...] = tuple(getattr(col, "shape", ()))
        if len(shape) == 1 and shape[0] and getattr(getattr(col, "dtype", None), "kind", "") == "O":
            # Text read without a fixed width (CSV as strings): a list of fields per record.
            for row, v in enumerate(col):
                size = len(v) if isinstance(v, (list, tuple)) else 1
                if size > limit:
                    return row, size
            return None
        per = math.prod(int(d) for d in shape[1:])
        return (0, per) if len(shape) and shape[0] and per > limit else None
    over = np.flatnonzero(lengths > limit)
    return (int(over[0]), int(lengths[over[0]])) if over.size else None


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
        quotes = _unescaped_quotes(w)
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


# ======================================================================================
# Counting records without decoding them (Rule 4)
# ======================================================================================


def too_many_records(content_type: str, limit: int, count: int | None = None) -> PayloadTooLargeError:
    """The error for a batch over `limit` records: of `count` records, or, when decoding
    stopped early, of "more than `limit`" (``size`` is then ``limit + 1``)."""
    if count is not None:
        return PayloadTooLargeError(count, limit, f"{content_type} batch", unit="records")
    e = PayloadTooLargeError(limit + 1, limit, f"{content_type} batch", unit="records")
    e.args = (f"{content_type} batch of more than {limit} records exceeds the limit of {limit} records",)
    return e


def too_many_columns(content_type: str, limit: int) -> PayloadTooLargeError:
    """The error for a batch over `limit` columns: of "more than `limit`" (``size`` is
    ``limit + 1``), the same words whichever reader counted, some stopping at the first
    column too many."""
    e = PayloadTooLargeError(limit + 1, limit, f"{content_type} batch", unit="columns")
    e.args = (f"{content_type} batch of more than {limit} columns exceeds the limit of {limit} columns",)
    return e


def body_bytes(body: Any) -> bytes | bytearray:
    """A body as bytes for the scanners: bytes and bytearray as they are, text as UTF-8,
    any other buffer copied in C order."""
    if isinstance(body, (bytes, bytearray)):
        return body
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    return memoryview(body).tobytes()  # any buffer, contiguous or not, in C order


_COUNT_WINDOW = 1 << 20


def count_byte(raw: bytes | bytearray, byte: int) -> int:
    """Occurrences of `byte` in `raw`, counted by numpy over 1 MiB windows (several times
    faster than ``bytes.count``, and memory stays one window)."""
    buf = np.frombuffer(raw, np.uint8)
    return sum(
        int(np.count_nonzero(buf[a : a + _COUNT_WINDOW] == byte)) for a in range(0, buf.size, _COUNT_WINDOW)
    )


_BLANK = np.zeros(256, bool)
_BLANK[list(b" \t\r\n\x0b\x0c")] = True
_LINE_WINDOW = 1 << 18


def count_lines(data: Any, stop_above: int | None = None, *, comment: bytes | None = None) -> int:
    """Lines of `data` that hold anything but ASCII whitespace (the records of JSON Lines);
    with `comment` (libsvm's ``b"#"``), anything before that byte. With `stop_above`, the
    count stops once it is past it. Vectorized over 256 KiB windows."""
    raw = body_bytes(data)
    buf = np.frombuffer(raw, np.uint8)
    if raw[:3] == b"\xef\xbb\xbf":  # a UTF-8 BOM is not content (the JSON Lines reader skips it)
        buf = buf[3:]
    n = buf.size
    count = 0
    pending = False  # the line that runs into this window already holds something
    in_comment = False  # and it is in a comment
    a = 0
    while a < n:
        b = min(n, a + _LINE_WINDOW)
        w = buf[a:b]
        full = ~_BLANK[w]
        if comment is not None:
            full, in_comment = _before_comment(w, full, comment[0], in_comment)
        nls = np.flatnonzero(w == 0x0A)
        if nls.size == 0:
            pending = pending or bool(full.any())
        else:
            # prefix[i]: non-blank bytes in w[:i]; line k is w[starts[k]:nls[k]].
            prefix = np.zeros(w.size + 1, np.int32)
            np.cumsum(full, out=prefix[1:])
            starts = np.empty_like(nls)
            starts[0] = 0
            starts[1:] = nls[:-1] + 1
            has = prefix[nls] > prefix[starts]
            has[0] |= pending  # the first line began before this window
            count += int(np.count_nonzero(has))
            pending = bool(prefix[-1] > prefix[nls[-1] + 1])
        if stop_above is not None and count > stop_above:
            return count
        a = b
    return count + int(pending)


def _before_comment(w: np.ndarray, full: np.ndarray, mark: int, in_comment: bool) -> tuple[np.ndarray, bool]:
    """`full` with the bytes from a comment mark to the end of its line cleared, and
    whether the window ends inside a comment."""
    marks = np.flatnonzero(w == mark)
    if not marks.size and not in_comment:
        return full, False
    nls = np.flatnonzero(w == 0x0A)
    # For each byte: the last mark and the last newline at or before it.
    last_mark = np.full(w.size, -1, np.int64)
    last_mark[marks] = marks
    np.maximum.accumulate(last_mark, out=last_mark)
    last_nl = np.full(w.size, -1, np.int64)
    last_nl[nls] = nls
    np.maximum.accumulate(last_nl, out=last_nl)
    commented = (last_mark > last_nl) | (in_comment & (last_nl < 0))
    return full & ~commented, bool(commented[-1])


def json_records(data: Any, *, response: bool = False, stop_above: int | None = None) -> int | None:
    """The records a JSON request (or, with `response`, response) document holds, counted
    from its structure without parsing it: the elements of a top-level array (a request
    array of bare numbers is one record), of ``"instances"``, or of a response envelope
    (``predictions``, or ``projections``/``scores`` holding objects); any other document is
    one record. None when the structure alone cannot tell (escaped or repeated keys, a
    request array of bare scalars only, text that is not JSON); the decoder then decides.
    With `stop_above`, a top-level array is counted until its count is past it.

    Vectorized over 256 KiB windows, like `json_depth` (memory stays a few times the window).
    """
    return _json_scan(body_bytes(data), response, stop_above, None).records


class JsonRecordScan(NamedTuple):
    """What `json_crowded_records` finds: the records (their count, as `json_records` gives
    it), the byte span ``[open, close]`` of the records array's brackets (-1 when there is
    none), and the records holding at least the asked number of commas outside strings:
    their indexes and byte spans ``[starts[i], ends[i])`` (a record's text, blanks around it
    included)."""

    records: int | None
    open: int
    close: int
    indexes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def json_crowded_records(data: Any, commas: int, *, response: bool = False) -> JsonRecordScan:
    """`json_records`, and the records of the records array that hold at least `commas`
    commas outside strings (an array of ``k`` values holds ``k - 1``, so a tensor of more than
    ``commas`` values is in one of them): `Limits.max_elements` checks those alone while
    decoding. One pass like `json_records`; three integers a crowded record."""
    return _json_scan(body_bytes(data), response, None, max(0, commas))


def _json_scan(
    raw: bytes | bytearray, response: bool, stop_above: int | None, crowded: int | None
) -> JsonRecordScan:
    buf = np.frombuffer(raw, np.uint8)
    n = buf.size
    none = np.empty(0, np.int64)
    i = 3 if raw[:3] == b"\xef\xbb\xbf" else 0
    while i < n and _BLANK[buf[i]]:
        i += 1
    if i >= n or buf[i] not in (0x5B, 0x7B):
        return JsonRecordScan(1 if i < n else None, -1, -1, none, none, none)
    top_array = buf[i] == 0x5B
    arr_open = i if top_array else -1  # the records array's "[", once known
    arr_depth = 1 if top_array else 2  # the depth of its elements
    arr_close = -1
    commas = 0
    objects = 0  # elements that are objects ("{" at arr_depth + 1 inside the array)
    evidence = response  # a request array holds something else than bare numbers
    keys: list[bytes | None] = []
    nkeys = 0
    values: dict[int, int] = {}  # key index -> position of its "[" value
    depth0 = 0
    in_text = 0
    # crowded records: the records before the window, the inner commas since the last
    # separator, the last separator (or the array's "["), and the finds per window
    seen, carry, last_sep = 0, 0, -1
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    a = 0
    while a < n:
        b = min(n, a + _LINE_WINDOW)
        while b < n and buf[b - 1] == 0x5C:  # never split a run of backslashes
            b += 1
        w = buf[a:b]
        quotes = _unescaped_quotes(w)
        pos = np.flatnonzero(_STRUCTURAL[w])
        if quotes.size and pos.size:
            pos = pos[((np.searchsorted(quotes, pos) + in_text) & 1) == 0]
        elif in_text:
            pos = pos[:0]
        ch = w[pos]
        step = _STEP[ch]
        depth = depth0 + np.cumsum(step)
        apos = pos + a
        if not top_array:
            colons = np.flatnonzero((ch == 0x3A) & (depth == 1))
            for c in apos[colons[: max(0, 3 - nkeys)]].tolist():
                key = _key_before(raw, c)
                keys.append(key)
                j = c + 1
                while j < n and _BLANK[buf[j]]:
                    j += 1
                if j < n and buf[j] == 0x5B:
                    values[len(keys) - 1] = j
            nkeys += colons.size
            if arr_open < 0:
                wanted = _records_key(keys, response)
                if wanted is not None and wanted in values:
                    arr_open = values[wanted]
        if arr_open >= 0 and arr_close < 0:
            inside = apos > arr_open
            closes = np.flatnonzero(inside & (depth == arr_depth - 1) & (step < 0))
            if closes.size:
                arr_close = int(apos[closes[0]])
                inside &= apos < arr_close
            is_comma = inside & (ch == 0x2C)
            seps = is_comma & (depth == arr_depth)
            commas += int(np.count_nonzero(seps))
            if crowded is not None:
                seen, carry, last_sep = _crowded(
                    apos[seps],
                    apos[is_comma & (depth > arr_depth)],
                    crowded,
                    seen,
                    carry,
                    arr_open if last_sep < 0 else last_sep,
                    found,
                )
            opened = inside & (step > 0) & (depth == arr_depth + 1)
            objects += int(np.count_nonzero(opened & (ch == 0x7B)))
            if not evidence and (opened.any() or _text_at_depth(quotes, in_text, pos, depth, depth0, 1)):
                evidence = True
            # commas + 1 elements, once there is a comma (an array of no commas may be empty)
            if top_array and evidence and stop_above is not None and commas >= max(1, stop_above):
                return JsonRecordScan(commas + 1, arr_open, -1, none, none, none)
        in_text = (in_text + int(quotes.size)) & 1
        if depth.size:
            depth0 = int(depth[-1])
        a = b
    if not top_array:
        if nkeys > 3 or None in keys or len(set(keys)) != len(keys):
            return JsonRecordScan(None, -1, -1, none, none, none)  # a key escaped or repeated
        if response:
            if nkeys != 1 or keys[0] not in _ENVELOPES or arr_open < 0:
                # no envelope holding a list: the document is one item
                return JsonRecordScan(1, -1, -1, none, none, none)
        elif b"instances" not in keys:
            return JsonRecordScan(1, -1, -1, none, none, none)
        elif arr_open < 0 or any(k not in (b"instances", b"configuration") for k in keys):
            return JsonRecordScan(None, -1, -1, none, none, none)  # the decoder refuses it
    j = arr_open + 1
    while j < n and _BLANK[buf[j]]:
        j += 1
    count = 0 if j < n and buf[j] == 0x5D else commas + 1
    if top_array and not evidence:
        return JsonRecordScan(None if count > 1 else count, -1, -1, none, none, none)
    if response and not top_array and keys[0] != b"predictions" and objects != count:
        return JsonRecordScan(1, -1, -1, none, none, none)
    if crowded is None or arr_close < 0 or count < 2:
        return JsonRecordScan(count, arr_open, arr_close, none, none, none)
    # the last record ends at the array's "]"
    _crowded(
        np.array([arr_close], np.int64),
        none,
        crowded,
        seen,
        carry,
        arr_open if last_sep < 0 else last_sep,
        found,
    )
    parts = (
        [np.concatenate(x) if x else none for x in zip(*found, strict=True)] if found else [none, none, none]
    )
    return JsonRecordScan(count, arr_open, arr_close, parts[0], parts[1], parts[2])


def _crowded(
    seps: np.ndarray,
    inner: np.ndarray,
    crowded: int,
    seen: int,
    carry: int,
    last_sep: int,
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[int, int, int]:
    """One window of `_json_scan`'s crowded records: `seps` the positions of the commas
    between records (each ends the record before it), `inner` those of the commas inside
    records. Appends (index, start, end) of the records holding `crowded` inner commas or
    more to `found`; returns the new (records seen, inner commas since the last separator,
    last separator)."""
    if not seps.size:
        return seen, carry + int(inner.size), last_sep
    before = np.searchsorted(inner, seps)
    per = np.diff(before, prepend=0)
    per[0] += carry
    hit = np.flatnonzero(per >= crowded)
    if hit.size:
        starts = np.concatenate((np.array([last_sep], np.int64), seps[:-1].astype(np.int64))) + 1
        found.append((hit.astype(np.int64) + seen, starts[hit], seps[hit].astype(np.int64)))
    return seen + int(seps.size), int(inner.size - before[-1]), int(seps[-1])


_ENVELOPES = (b"predictions", b"projections", b"scores")
_STRUCTURAL = np.zeros(256, bool)
_STRUCTURAL[list(b"[]{},:")] = True
_STEP = np.zeros(256, np.int64)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def _unescaped_quotes(w: np.ndarray) -> np.ndarray:
    """Window positions of the quotes not escaped by an odd run of backslashes."""
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
    return quotes


def _text_at_depth(
    quotes: np.ndarray, in_text: int, pos: np.ndarray, depth: np.ndarray, depth0: int, level: int
) -> bool:
    """Whether a string opens at nesting `level` in this window."""
    opening = quotes[(np.arange(quotes.size) + in_text) & 1 == 0]
    if not opening.size:
        return False
    k = np.searchsorted(pos, opening) - 1
    at = np.where(k >= 0, depth[np.maximum(k, 0)] if depth.size else depth0, depth0)
    return bool(np.any(at == level))


def _key_before(raw: bytes | bytearray, colon: int) -> bytes | None:
    """The raw text of the key before the ``:`` at `colon`; None when it holds an escape."""
    q2 = colon - 1
    while q2 >= 0 and raw[q2] in b" \t\r\n":
        q2 -= 1
    if q2 < 0 or raw[q2] != 0x22:
        return None
    q1 = raw.rfind(b'"', 0, q2)
    if q1 < 0:
        return None
    key = bytes(raw[q1 + 1 : q2])
    return None if b"\\" in key or (q1 and raw[q1 - 1] == 0x5C) else key


def _records_key(keys: list[bytes | None], response: bool) -> int | None:
    """Which of the keys read so far of a top-level object holds the records:
    ``instances`` in a request, the first key when it is an envelope in a response."""
    if response:
        return 0 if keys and keys[0] in _ENVELOPES else None
    return keys.index(b"instances") if b"instances" in keys else None
