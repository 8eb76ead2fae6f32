"""The top-level verbs: `encode_request`, `decode_request`, `encode_response`,
`decode_response`, `iter_decode` (re-exported as ``smp.encode_request`` and so on).

Rule 1: each verb parses the media type once (`registry.get_codec`, which also takes the
caller's options), turns the data into a batch (`arrays.to_batch`) unless the codec takes
raw input, and calls the codec's verb.
Rule 2: ``algorithm=`` hands the body to that built-in algorithm's schema
(`sm_payloads.algorithms`), which maps its keys and shapes onto the same codecs.
Rule 3: `limits` bound the body before decoding, its records and tensors while decoding
(`decode_within`: a body over them is refused before it is decoded whole), and the batch.
Rule 4: a list of per-record output dicts goes to the JSON, JSON Lines and CSV codecs as it
is: they write it without building columns when its values allow (same bytes as the batch
`arrays.to_batch` would build from it), else build that batch themselves.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from .arrays import to_batch
from .codec import DEFAULT_BATCH_SIZE, Codec, Source, check_batch_size
from .errors import (
    DecodeError,
    EncodeError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from .formats._csv_text import body_start, charset_option, parse_header, record_ends
from .formats.csv import CsvCodec
from .formats.json import JsonCodec
from .formats.jsonlines import JsonLinesCodec
from .formats.npy import read_header
from .limits import (
    Limits,
    body_bytes,
    columns_within,
    count_byte,
    count_lines,
    json_crowded_records,
    json_records,
    too_many_records,
)
from .mime import MediaType
from .record import RecordBatch
from .recordio import frame_table
from .registry import get_codec, response_types, streaming_types

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "decode_request",
    "decode_response",
    "decode_within",
    "encode_request",
    "encode_response",
    "iter_decode",
]


#: Codecs whose `encode_response` takes per-record output dicts as they are (written without
#: the detour through columns when the format can hold them, else turned into a batch there).
_ROWS_CODECS = (JsonCodec, JsonLinesCodec, CsvCodec)


def _prepare(codec: Codec, data: Any, response: bool) -> Any:
    if codec.capabilities.raw_input:
        return data
    if response and type(data) is list and type(codec) in _ROWS_CODECS:
        return data
    try:
        return to_batch(data, response=response)
    except EncodeError as e:
        if e.content_type is not None:
            raise
        # Building the batch knows no media type; the message names the one being written.
        raise EncodeError(codec.content_type, e.reason, column=e.column, status_hint=e.status_hint) from None


def encode_request(data: Any, content_type: str, **options: Any) -> bytes:
    """Serialize a request body. `data`: see `arrays.to_batch`; `options`: the codec's
    (``sdk_compatible=True``, ``layout="dense"``...; an unknown name is a ``TypeError``)."""
    codec = get_codec(content_type, **options)
    return codec.encode(_prepare(codec, data, False))


def decode_request(
    body: bytes | bytearray | memoryview, content_type: str, *, limits: Limits | None = None, **options: Any
) -> RecordBatch:
    """Parse a request body into a `RecordBatch`.

    `limits` (`smp.limits.Limits`) bounds the body's bytes and JSON depth before decoding,
    and its records and elements per tensor while decoding (a body over them is refused
    before it is decoded whole; `decode_within`). `options`: the codec's
    (``dtype="float32"``, ``copy=True``...; an unknown name is a ``TypeError``).
    """
    codec = get_codec(content_type, **options)
    if limits is not None:
        return decode_within(codec, body, limits)
    return codec.decode(body)


def encode_response(data: Any, accept: str, *, algorithm: str | None = None, **options: Any) -> bytes:
    """Serialize a response body (outputs live in the batch's ``label`` map).

    With `algorithm` (``"pca"``, ``"kmeans"``, ...) the body is exactly what that built-in
    algorithm writes: its envelope, keys, kinds and Accept types (`smp.algorithms`).
    """
    if algorithm is not None:
        from . import algorithms

        return algorithms.encode_response(data, accept, algorithm, **options)
    codec = get_codec(accept, **options)
    if not codec.capabilities.responses:
        raise NotAcceptableError(accept, response_types(), f"{codec.content_type} is a request format only")
    return codec.encode_response(_prepare(codec, data, True))


def decode_response(
    body: bytes | bytearray | memoryview,
    content_type: str,
    *,
    algorithm: str | None = None,
    limits: Limits | None = None,
    **options: Any,
) -> RecordBatch:
    """Parse a response body into a `RecordBatch` (outputs in ``label``); with `algorithm`,
    exactly that algorithm's response shapes (`smp.algorithms`); `limits` as in
    `decode_request`."""
    name = MediaType.parse(content_type).essence
    if limits is not None:
        limits.check_size(body, name)
    if algorithm is not None:
        from . import algorithms

        out: RecordBatch = algorithms.decode_response(body, content_type, algorithm, **options)
        if limits is not None:
            limits.check_batch(out, name)
        return out
    codec = get_codec(content_type, **options)
    if not codec.capabilities.responses:
        raise UnsupportedMediaTypeError(
            content_type, response_types(), f"{codec.content_type} is a request format only"
        )
    if limits is not None:
        # The sizes were checked above: the counts, while decoding.
        return decode_within(codec, body, limits.counts_only(), response=True, name=name)
    return codec.decode_response(body)


def iter_decode(
    source: Source,
    content_type: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    limits: Limits | None = None,
    **options: Any,
) -> Iterator[RecordBatch]:
    """Decode a buffer or binary stream in batches of at most `batch_size` records
    (default `DEFAULT_BATCH_SIZE`, 10,000), so that memory stays bounded by the batch, not
    the input. Concatenating the batches gives what `decode_request` returns.

    `limits`: `max_bytes` counts the bytes read (a stream stops with `PayloadTooLargeError`
    once past it), `max_records` and `max_elements` apply to each batch, `max_depth` to a
    buffer's JSON before decoding.
    """
    batch_size = check_batch_size(batch_size)
    codec = get_codec(content_type, **options)
    if not codec.capabilities.streaming:
        raise UnsupportedMediaTypeError(content_type, streaming_types(), "no streaming decoder")
    if limits is None:
        return codec.iter_decode(source, batch_size=batch_size)
    ct = codec.content_type
    if hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview)):
        source = limits.stream(source, ct)
    else:
        limits.check_size(source, ct)
    return limits.batches(codec.iter_decode(source, batch_size=batch_size), ct)


# ======================================================================================
# Limits while decoding
# ======================================================================================

_CSV = "text/csv"
_JSON = "application/json"
_JSONL = "application/jsonlines"
_LIBSVM = "text/libsvm"
_NPY = "application/x-npy"
_RIO = "application/x-recordio-protobuf"
_STREAMED = frozenset({_CSV, _JSONL, _LIBSVM, _RIO})


def decode_within(
    codec: Codec, body: Any, limits: Limits, *, response: bool = False, name: str | None = None
) -> RecordBatch:
    """`codec`'s decoding of `body` (its `decode`, or `decode_response`), within `limits`.

    Sizes are checked first (`Limits.check_size`). A body that may hold more records or a
    larger tensor than allowed is then looked at without building the whole batch: its
    records counted as its reader counts them (`smp.limits.json_records` for JSON, lines
    for JSON Lines and libsvm, CSV's record scan, RecordIO frames, a .npy header's shape),
    and for a request of a streaming format its records' elements checked batch by batch
    through the codec's own `iter_decode`; so a body over a limit is refused before it is
    decoded whole (docs/limits.md). A body within the limits is decoded by the plain verb
    and checked once more (`Limits.check_batch`): its batch, or its error, is exactly what
    the verb gives without limits. Messages name the media type as `name` (default: the
    codec's).
    """
    ct = codec.content_type if name is None else name
    limits.check_size(body, ct)
    if limits.max_columns is None:
        return _decode_within(codec, body, limits, response, ct)
    with columns_within(limits.max_columns, ct):
        return _decode_within(codec, body, limits, response, ct)


def _decode_within(codec: Codec, body: Any, limits: Limits, response: bool, ct: str) -> RecordBatch:
    if limits.max_records is not None or limits.max_elements is not None:
        _check_early(codec, body, limits, response, ct)
    out = codec.decode_response(body) if response else codec.decode(body)
    limits.check_batch(out, ct)
    return out


def _check_early(codec: Codec, body: Any, limits: Limits, response: bool, name: str) -> None:
    """Refuse `body` before it is decoded whole when it is over a limit (`decode_within`)."""
    ct = codec.content_type
    mr, me = limits.max_records, limits.max_elements
    if ct == _NPY:
        _npy_early(body, limits, response, name)
        return
    if ct == _JSON:
        raw = body_bytes(body)
        commas = count_byte(raw, 0x2C)
        # Every record but the first follows a comma: fewer commas, nothing to count.
        if mr is not None and commas >= mr:
            n = json_records(raw, response=response, stop_above=mr)
            if n is not None and n > mr:
                raise too_many_records(name, mr)
        # A tensor of more than `me` values holds `me` commas (strings' commas counted too).
        if me is not None and commas >= me:
            _json_elements_early(codec, raw, me, response, name)
        return
    if ct not in _STREAMED:
        return
    raw = body_bytes(body)
    # Cheap upper bounds: a record of a text format ends at a newline (or the end), one of
    # RecordIO takes at least an 8-byte header; an element takes at least one separator
    # (a text format) or one byte.
    if ct == _RIO:
        over_records = mr is not None and len(raw) // 8 > mr
        over_elements = me is not None and len(raw) > me
    else:
        # len(raw) bounds both counts: the exact count only when that bound is over.
        over_records = mr is not None and len(raw) + 1 > mr and count_byte(raw, 0x0A) + 1 > mr
        sep = 0x3A if ct == _LIBSVM else 0x2C
        over_elements = me is not None and len(raw) + 1 > me and count_byte(raw, sep) + 1 > me
    if not (over_records or over_elements):
        return
    if over_records and mr is not None and _count_records(codec, raw, mr) > mr:
        raise too_many_records(name, mr)
    if over_elements and not (response and ct == _LIBSVM):
        _elements_early(codec, raw, limits, name, response)


def _count_records(codec: Codec, raw: bytes | bytearray, stop_above: int) -> int:
    """Records of a streaming format's body as its reader counts them, at most a little
    past `stop_above` (0 when the framing is refused: the decoder reports it)."""
    ct = codec.content_type
    if ct == _CSV:
        return _csv_records(codec, raw, stop_above)
    if ct == _RIO:
        try:
            return int(frame_table(memoryview(raw), ct)[0].size)
        except DecodeError:
            return 0
    return count_lines(raw, stop_above, comment=b"#" if ct == _LIBSVM else None)


#: Bytes of whole lines handed to `iter_decode` at once when looking for a record over
#: `max_elements` (the pure decoders build objects for a whole block of lines).
_SLICE = 1 << 18


def _elements_early(codec: Codec, raw: bytes | bytearray, limits: Limits, name: str, response: bool) -> None:
    """Decode `raw` in batches (a request: the codec's `iter_decode`, JSON Lines and libsvm
    a slice of whole lines at a time; a response: `decode_response` of slices of whole
    records), refusing at the first record over `max_elements`. A `DecodeError` ends the
    look: the plain decoder then reports it (or its own)."""
    check = Limits(max_elements=limits.max_elements)
    first = 0
    try:
        for b in _response_batches(codec, raw) if response else _batches_of(codec, raw):
            check.check_batch(b, name, first)
            first += len(b)
    except DecodeError:
        return


def _json_elements_early(codec: Codec, raw: bytes | bytearray, me: int, response: bool, name: str) -> None:
    """Refuse a JSON document with a record over `me` elements before it is decoded whole:
    the records holding `me` commas or more (`json_crowded_records`, the only ones that can
    be over) are decoded alone, a group of at most `_SLICE` bytes at a time, in the
    document's envelope (what comes before and after its records array), and checked with
    their own indexes. A group the decoder refuses, or reads as another number of records,
    ends the look: the plain decoder then decides."""
    scan = json_crowded_records(raw, me, response=response)
    if scan.records is None or scan.records < 2 or not scan.indexes.size:
        return  # one record (or an unknown layout): decoding it whole is decoding it alone
    check = Limits(max_elements=me)
    head, tail = bytes(raw[: scan.open + 1]), bytes(raw[scan.close :])
    starts, ends = scan.starts.tolist(), scan.ends.tolist()
    i, k = 0, len(starts)
    while i < k:
        j, size = i + 1, ends[i] - starts[i]
        while j < k and size + ends[j] - starts[j] <= _SLICE:
            size += ends[j] - starts[j]
            j += 1
        doc = head + b",".join([raw[a:b] for a, b in zip(starts[i:j], ends[i:j], strict=True)]) + tail
        try:
            batch = codec.decode_response(doc) if response else codec.decode(doc)
        except DecodeError:
            return
        if len(batch) != j - i:
            return
        check.check_batch(batch, name, record_indexes=scan.indexes[i:j])
        i = j


def _batches_of(codec: Codec, raw: bytes | bytearray) -> Iterator[RecordBatch]:
    if codec.content_type in (_CSV, _RIO):
        yield from codec.iter_decode(raw, batch_size=DEFAULT_BATCH_SIZE)
        return
    for piece in _line_slices(raw):
        yield from codec.iter_decode(piece, batch_size=DEFAULT_BATCH_SIZE)


def _line_slices(raw: bytes | bytearray) -> Iterator[memoryview]:
    """`raw` in slices of whole lines of about `_SLICE` bytes (lines are records on their
    own: a slice of whole lines decodes to its records)."""
    view = memoryview(raw)
    lo, n = 0, len(raw)
    while lo < n:
        hi = raw.find(b"\n", min(n, lo + _SLICE))
        hi = n if hi < 0 else hi + 1
        yield view[lo:hi]
        lo = hi


def _response_batches(codec: Codec, raw: bytes | bytearray) -> Iterator[RecordBatch]:
    """A response body decoded a slice of whole records at a time (`decode_response`):
    lines of JSON Lines, frames of RecordIO, records of CSV (after its header, which each
    slice repeats). A record's elements are its own: the slices give each record the
    tensor sizes the whole body gives it."""
    ct = codec.content_type
    if ct == _JSONL:
        for piece in _line_slices(raw):
            yield codec.decode_response(piece)
    elif ct == _RIO:
        for piece in _frame_slices(raw, ct):
            yield codec.decode_response(piece)
    else:
        yield from _csv_response_batches(codec, raw)


def _frame_slices(raw: bytes | bytearray, ct: str) -> Iterator[memoryview]:
    """RecordIO `raw` in slices of whole records (multi-part ones included) of about
    `_SLICE` bytes."""
    view = memoryview(raw)
    starts = frame_table(view, ct)[0]
    if not starts.size:
        return
    # a record's first header: 8 bytes before its payload, or told by a multi-part start
    heads = np.where(starts >= 0, starts - 8, -1 - starts)
    cuts = np.unique(
        heads[np.searchsorted(heads, np.arange(_SLICE, len(raw), _SLICE)).clip(0, heads.size - 1)]
    )
    bounds = [0, *(int(c) for c in cuts if c > 0), len(raw)]
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            yield view[lo:hi]


def _csv_response_batches(codec: Codec, raw: bytes | bytearray) -> Iterator[RecordBatch]:
    lo = body_start(raw)
    if getattr(codec, "header", False):
        _, lo, _ = parse_header(raw, lo, charset_option(getattr(codec, "charset", "utf-8")))
    head = bytes(raw[:lo])
    n, first = len(raw), True
    while lo < n:
        hi = min(n, lo + _SLICE)
        stop, _, _ = record_ends(raw, lo, hi, n, hi == n)
        while stop == lo and hi < n:  # a record longer than the slice
            hi = min(n, lo + 2 * (hi - lo))
            stop, _, _ = record_ends(raw, lo, hi, n, hi == n)
        if stop == lo:
            return
        yield codec.decode_response(raw[:stop] if first else head + raw[lo:stop])
        lo, first = stop, False


def _csv_records(codec: Codec, raw: bytes | bytearray, stop_above: int) -> int:
    """Records of a CSV body as its reader counts them (blank lines skipped, quoted
    newlines inside a field), at most ``stop_above + 1``."""
    try:
        lo = body_start(raw)
        if getattr(codec, "header", False):
            _, lo, _ = parse_header(raw, lo, charset_option(getattr(codec, "charset", "utf-8")))
    except DecodeError:
        return 0
    _, records, _ = record_ends(raw, lo, len(raw), stop_above + 1, True)
    return records


def _npy_early(body: Any, limits: Limits, response: bool, name: str) -> None:
    """Records and elements from a ``.npy`` header, before any value is read (a header or
    data block the decoder refuses is left to it)."""
    try:
        _, shape = read_header(body)
    except DecodeError:
        return
    if response:
        records = 1 if len(shape) == 0 else shape[0]
        per = math.prod(shape[1:])
    elif len(shape) <= 1:
        records, per = 1, math.prod(shape)
    else:
        records, per = shape[0], math.prod(shape[1:])
    mr, me = limits.max_records, limits.max_elements
    if mr is not None and records > mr:
        raise too_many_records(name, mr, records)
    if me is not None and records and per > me:
        key = "label['predictions']" if response else "features['values']"
        raise PayloadTooLargeError(per, me, f"{name} tensor {key}", unit="elements", record_index=0)
