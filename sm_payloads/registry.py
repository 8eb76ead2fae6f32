"""The one table from media type to codec, and the top-level verbs.

Rule 1: a new format is one module in `formats/` and one entry in `_CODECS` (hyperframe's
dispatch dict built from a class list); aliases come from each codec's ``aliases`` and
live in `ALIASES`, next to it.
Rule 2: media types are parsed once, here: case, whitespace and parameters are handled
before a codec sees them; parameters reach the codec through ``from_params``.
Rule 3: registering has no import-time side effects; users add formats with
`register_codec`.

A codec class has ``content_type``, ``from_params``, ``encode`` and ``decode``; optionally
``encode_response`` / ``decode_response`` (when responses differ from requests),
``iter_decode`` (streaming), ``aliases``, ``raw_input = True`` (its encoders take arrays
and lists as given instead of a `RecordBatch`) and ``responses = False`` (a request-only
format).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any, ClassVar, Protocol

import numpy as np
import scipy.sparse as sp

from .errors import EncodeError, NotAcceptableError, UnsupportedMediaTypeError
from .formats.csv import CsvCodec
from .formats.json import JsonCodec
from .formats.jsonlines import JsonLinesCodec
from .formats.libsvm import LibSVMCodec
from .formats.npy import NpyCodec
from .formats.recordio_protobuf import RecordIOProtobufCodec
from .limits import Limits
from .mime import MediaType
from .record import Ragged, RecordBatch, from_dense, from_sparse

__all__ = [
    "ALIASES",
    "CODECS",
    "Codec",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "get_codec",
    "iter_decode",
    "register_codec",
    "response_types",
    "to_batch",
]


class Codec(Protocol):
    """What a format module offers the registry."""

    content_type: ClassVar[str]

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Codec: ...

    def encode(self, batch: Any, /) -> bytes: ...

    def decode(self, data: Any, /) -> RecordBatch: ...


_CODECS: tuple[type[Any], ...] = (
    JsonCodec,
    JsonLinesCodec,
    CsvCodec,
    RecordIOProtobufCodec,
    NpyCodec,
    LibSVMCodec,
)
CODECS: dict[str, type[Any]] = {c.content_type: c for c in _CODECS}
ALIASES: dict[str, str] = {a: c.content_type for c in _CODECS for a in getattr(c, "aliases", ())}


def register_codec(codec: type[Any], *, aliases: tuple[str, ...] = (), replace: bool = False) -> None:
    """Add a codec class (with ``content_type``, ``from_params``, ``encode``, ``decode``)."""
    essence = MediaType.parse(codec.content_type).essence
    if not replace and (essence in CODECS or essence in ALIASES):
        raise ValueError(f"a codec for {essence} is already registered (pass replace=True)")
    for name in ("from_params", "encode", "decode"):
        if not callable(getattr(codec, name, None)):
            raise TypeError(f"{codec.__name__} has no {name}()")
    CODECS[essence] = codec
    for alias in (*getattr(codec, "aliases", ()), *aliases):
        ALIASES[MediaType.parse(alias).essence] = essence


def supported() -> tuple[str, ...]:
    return tuple(CODECS) + tuple(ALIASES)


def _answers(codec_cls: type[Any]) -> bool:
    return bool(getattr(codec_cls, "responses", True))


def response_types() -> tuple[str, ...]:
    """The media types a response can be written in (request-only formats left out)."""
    return tuple(c for c, k in CODECS.items() if _answers(k))


def get_codec(content_type: str) -> Any:
    """The codec for a full media type, configured from its parameters."""
    try:
        media = MediaType.parse(content_type)
    except UnsupportedMediaTypeError as e:
        raise UnsupportedMediaTypeError(content_type, supported(), e.reason) from None
    essence = ALIASES.get(media.essence, media.essence)
    try:
        codec_cls = CODECS[essence]
    except KeyError:
        raise UnsupportedMediaTypeError(content_type, supported()) from None
    return codec_cls.from_params(media.params)


def _outputs_to_batch(rows: list[Mapping[str, Any]]) -> RecordBatch:
    """Per-record output dicts (``[{"closest_cluster": 5, "distance_to_cluster": 36.5}]``)
    as a batch with one ``label`` column per key, in first-seen order."""
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    label: dict[str, Any] = {}
    for key in keys:
        values = []
        for i, row in enumerate(rows):
            if key not in row:
                raise EncodeError(
                    None,
                    f"record {i} has no {key!r} (every record needs every output key)",
                    column=f"label[{key!r}]",
                    status_hint=400,
                )
            values.append(row[key])
        if all(isinstance(v, str) for v in values):
            label[key] = np.array(values, dtype=object)
        elif all(isinstance(v, (list, tuple, np.ndarray)) for v in values):
            lengths = {len(v) for v in values}
            if len(lengths) == 1:
                label[key] = np.asarray(values)
            else:
                label[key] = Ragged.from_lists([list(v) for v in values])
        else:
            label[key] = np.asarray(values)
            if label[key].dtype.kind not in "biuf" or label[key].ndim != 1:
                raise EncodeError(
                    None,
                    "expected numbers, strings or lists of numbers per record",
                    column=f"label[{key!r}]",
                    status_hint=400,
                )
    return RecordBatch(label=label, n=len(rows))


def to_batch(data: Any, *, response: bool = False) -> RecordBatch:
    """A `RecordBatch` from a batch, a numpy array (1-D = one record), a scipy sparse
    matrix, nested lists of numbers, or (with ``response=True``) a list of per-record
    output dicts."""
    if isinstance(data, RecordBatch):
        return data
    if response and isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        return _outputs_to_batch(list(data))
    if sp.issparse(data):
        return from_sparse(data)
    if isinstance(data, np.ndarray):
        return from_dense(data)
    if isinstance(data, (list, tuple)):
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise EncodeError(None, f"nested lists must be rectangular: {e}", status_hint=400) from None
        if arr.dtype.kind not in "biuf":
            raise EncodeError(None, f"expected numbers, got {arr.dtype}", status_hint=400)
        return from_dense(arr)
    raise EncodeError(
        None,
        f"cannot encode {type(data).__name__}; expected RecordBatch, numpy array, "
        "scipy sparse matrix or nested lists",
        status_hint=400,
    )


def _prepare(codec: Any, data: Any, response: bool) -> Any:
    if getattr(codec, "raw_input", False):
        return data
    try:
        return to_batch(data, response=response)
    except EncodeError as e:
        if e.content_type is not None:
            raise
        # Building the batch knows no media type; the message names the one being written.
        raise EncodeError(codec.content_type, e.reason, column=e.column, status_hint=e.status_hint) from None


def encode_request(data: Any, content_type: str, **options: Any) -> bytes:
    """Serialize a request body. `data`: see `to_batch`."""
    codec = get_codec(content_type)
    out: bytes = codec.encode(_prepare(codec, data, False), **options)
    return out


def decode_request(
    body: bytes | bytearray | memoryview, content_type: str, *, limits: Limits | None = None, **options: Any
) -> RecordBatch:
    """Parse a request body into a `RecordBatch`.

    `limits` (`smp.limits.Limits`) bounds the body's bytes and JSON depth before decoding,
    and the batch's records and elements per tensor after it.
    """
    codec = get_codec(content_type)
    if limits is not None:
        limits.check_size(body, codec.content_type)
    out: RecordBatch = codec.decode(body, **options)
    if limits is not None:
        limits.check_batch(out, codec.content_type)
    return out


def encode_response(data: Any, accept: str, *, algorithm: str | None = None, **options: Any) -> bytes:
    """Serialize a response body (outputs live in the batch's ``label`` map).

    With `algorithm` (``"pca"``, ``"kmeans"``, ...) the body is exactly what that built-in
    algorithm writes: its envelope, keys, kinds and Accept types (`smp.algorithms`).
    """
    if algorithm is not None:
        from . import algorithms

        return algorithms.encode_response(data, accept, algorithm, **options)
    codec = get_codec(accept)
    if not _answers(type(codec)):
        raise NotAcceptableError(accept, response_types(), f"{codec.content_type} is a request format only")
    out: bytes = getattr(codec, "encode_response", codec.encode)(_prepare(codec, data, True), **options)
    return out


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
    if limits is not None:
        limits.check_size(body, MediaType.parse(content_type).essence)
    if algorithm is not None:
        from . import algorithms

        out: RecordBatch = algorithms.decode_response(body, content_type, algorithm, **options)
    else:
        codec = get_codec(content_type)
        if not _answers(type(codec)):
            raise UnsupportedMediaTypeError(
                content_type, response_types(), f"{codec.content_type} is a request format only"
            )
        out = getattr(codec, "decode_response", codec.decode)(body, **options)
    if limits is not None:
        limits.check_batch(out, MediaType.parse(content_type).essence)
    return out


#: `iter_decode`'s batch size when none is given: 10,000 records, as every codec's own
#: `iter_decode`. Memory holds about one batch (and the one being read): 10,000 rows of 100
#: float64 values are 8 MB, and a 6 MB request body is 10,000 records of 600 bytes.
DEFAULT_BATCH_SIZE = 10_000


def iter_decode(
    source: bytes | bytearray | memoryview | IO[bytes],
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
    codec = get_codec(content_type)
    if not hasattr(codec, "iter_decode"):
        raise UnsupportedMediaTypeError(
            content_type, [c for c, k in CODECS.items() if hasattr(k, "iter_decode")], "no streaming decoder"
        )
    if limits is None:
        out: Iterator[RecordBatch] = codec.iter_decode(source, batch_size=batch_size, **options)
        return out
    ct = codec.content_type
    if hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview)):
        source = limits.stream(source, ct)
    else:
        limits.check_size(source, ct)
    return limits.batches(codec.iter_decode(source, batch_size=batch_size, **options), ct)
