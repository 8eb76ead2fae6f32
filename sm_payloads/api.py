"""The top-level verbs: `encode_request`, `decode_request`, `encode_response`,
`decode_response`, `iter_decode` (re-exported as ``smp.encode_request`` and so on).

Rule 1: each verb parses the media type once (`registry.get_codec`, which also takes the
caller's options), turns the data into a batch (`arrays.to_batch`) unless the codec takes
raw input, and calls the codec's verb.
Rule 2: ``algorithm=`` hands the body to that built-in algorithm's schema
(`sm_payloads.algorithms`), which maps its keys and shapes onto the same codecs.
Rule 3: `limits` bound the body before decoding, its records and tensors while decoding
(`limits.decode`: a body over them is refused before it is decoded whole), and the batch.
Rule 4: a list of per-record output dicts goes to the JSON, JSON Lines and CSV codecs as it
is: they write it without building columns when its values allow (same bytes as the batch
`arrays.to_batch` would build from it), else build that batch themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import limits as _limits
from .arrays import to_batch
from .codec import DEFAULT_BATCH_SIZE, Codec, Source, check_batch_size
from .errors import EncodeError, NotAcceptableError, UnsupportedMediaTypeError
from .formats.csv import CsvCodec
from .formats.json import JsonCodec
from .formats.jsonlines import JsonLinesCodec
from .limits import Limits
from .mime import MediaType
from .record import RecordBatch
from .registry import get_codec, response_types, streaming_types

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "decode_request",
    "decode_response",
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
    before it is decoded whole; `smp.limits.decode`). `options`: the codec's
    (``dtype="float32"``, ``copy=True``...; an unknown name is a ``TypeError``).
    """
    codec = get_codec(content_type, **options)
    if limits is not None:
        return _limits.decode(codec, body, limits)
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
        return _limits.decode(codec, body, limits.counts_only(), response=True, name=name)
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
