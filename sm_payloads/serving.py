"""Sans-I/O request handling for a model container: bytes and headers in, status, bytes and
a content type out.

`handle` is a pure function of the request (body, ``Content-Type``, ``Accept``), the
container's environment and the user's predict function. It never raises for a bad
request; every failure becomes a status code with a short plain-text message:

====================================================  ======
what went wrong                                       status
====================================================  ======
body larger than the limit                            413
too many records, or a tensor with too many elements  413
``Content-Type`` missing, malformed or not supported  415
(control characters in it: malformed)
empty body                                            400
body does not decode (or JSON nested too deep)        400
``Accept`` names nothing we can produce, or is bad    406
(control characters in it: bad; they would be echoed)
the predict function raised                           500 (generic message; traceback logged)
the prediction cannot be written in the chosen type,  406
but in another offered type
the prediction cannot be written in any offered type  500
the written prediction is larger than its limit       413
====================================================  ======

A limit set to 0 in the environment (``SAGEMAKER_MAX_PAYLOAD_IN_MB=0``,
``SAGEMAKER_MAX_RESPONSE_IN_MB=0``) is no limit. The HTTP server (`sm_payloads.server`)
only moves bytes and headers.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

import numpy as np
import orjson

from .api import decode_within, encode_response
from .codec import Codec
from .errors import (
    EncodeError,
    NotAcceptableError,
    PayloadError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from .formats import _textnum
from .formats._textnum import parse_numeric_rows
from .formats.csv import CsvCodec
from .formats.json import JsonCodec
from .limits import SERVING, Limits
from .mime import MediaType, negotiate
from .record import RecordBatch, trusted_batch
from .registry import ALIASES, CODECS, response_types, supported

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Handler",
    "Prepared",
    "Response",
    "handle",
    "payload_limit",
    "predict_failed",
]

log = logging.getLogger("sm_payloads.serving")

#: SageMaker real-time endpoints accept request bodies up to 6 MB (2**20 bytes per MB).
DEFAULT_MAX_PAYLOAD_BYTES = 6 * 2**20
#: ... and answer with bodies up to 6 MB: a longer answer is refused with a clear 413.
DEFAULT_MAX_RESPONSE_BYTES = 6 * 2**20

_TEXT = "text/plain; charset=utf-8"
#: Control characters (HTAB aside): never valid in a header value (RFC 9110, 5.5). The
#: answer's Content-Type can repeat the Accept header's parameters, so an Accept that holds
#: them is refused rather than echoed into a response header.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

Predict = Callable[[RecordBatch], Any]


@dataclass(frozen=True, slots=True)
class Response:
    """What to send back: an HTTP status, a body and its ``Content-Type``."""

    status: int
    body: bytes
    content_type: str

    @property
    def ok(self) -> bool:
        return self.status < 400


def _error(status: int, message: str) -> Response:
    return Response(status, (message.rstrip("\n") + "\n").encode("utf-8", "replace"), _TEXT)


def _env_mb(env: Mapping[str, str], name: str, default: int) -> int | None:
    """A size in MB (2**20 bytes) from the environment: a decimal count of MB, 0 for no
    limit (None); absent or not a count: `default` bytes."""
    mb = env.get(name)
    if mb is not None and mb.strip().isdecimal() and mb.strip().isascii():
        n = int(mb)
        return n * 2**20 if n else None
    return default


def payload_limit(env: Mapping[str, str], max_payload_bytes: int | None = None) -> int | None:
    """The request body limit in bytes (None: none): `max_payload_bytes`, else
    ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, else 6 MiB."""
    if max_payload_bytes is not None:
        return max_payload_bytes
    return _env_mb(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", DEFAULT_MAX_PAYLOAD_BYTES)


def _response_limit(env: Mapping[str, str], max_response_bytes: int | None) -> int | None:
    """The response body limit in bytes (None: none): `max_response_bytes`, else
    ``SAGEMAKER_MAX_RESPONSE_IN_MB``, else 6 MiB."""
    if max_response_bytes is not None:
        return max_response_bytes
    return _env_mb(env, "SAGEMAKER_MAX_RESPONSE_IN_MB", DEFAULT_MAX_RESPONSE_BYTES)


def _offered(offered: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(offered) if offered is not None else tuple(response_types())


@functools.lru_cache(maxsize=64)
def _canonical_essences(offers: tuple[str, ...]) -> tuple[str, ...]:
    """The essence of each offered type, aliases named by their format
    (application/x-jsonlines is answered as application/jsonlines)."""
    essences = (MediaType.parse(o).essence for o in offers)
    return tuple(ALIASES.get(e, e) for e in essences)


#: The longest Accept header whose negotiation is remembered, and in a `Handler` the longest
#: Content-Type (real clients send a few dozen characters; the server takes headers of a
#: few hundred kB).
_CACHED_ACCEPT_CHARS = 256
#: Pairs of headers a `Handler` remembers (then it forgets them all and starts again).
_CACHED_ROUTES = 256


@functools.lru_cache(maxsize=512)
def _negotiated(accept: str | None, offers: tuple[str, ...], default: str) -> str:
    """`negotiate`, remembered for the Accept headers and defaults seen (a failure, a 406,
    is not remembered: it is computed again)."""
    return negotiate(accept, offers, default)


def _default_accept(env: Mapping[str, str], request: MediaType, offers: tuple[str, ...]) -> str:
    """``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` when set, else the request's own format when
    it can be produced, else the first offered type."""
    configured = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT")
    if configured:
        return configured
    essences = _canonical_essences(offers)
    essence = ALIASES.get(request.essence, request.essence)
    return offers[essences.index(essence)] if essence in essences else offers[0]


def _request_codec(request: MediaType, content_type: str) -> Codec:
    """``registry.get_codec(content_type)`` for the request's already parsed media type: the
    codec its essence (or alias) names, configured from its parameters, or the same
    `UnsupportedMediaTypeError` (tests/test_serving.py checks that they agree)."""
    codec_cls = CODECS.get(ALIASES.get(request.essence, request.essence))
    if codec_cls is None:
        raise UnsupportedMediaTypeError(content_type, supported())
    return _configured(codec_cls, tuple(request.params.items()))


@functools.lru_cache(maxsize=256)
def _configured(codec_cls: type[Codec], params: tuple[tuple[str, str], ...]) -> Codec:
    """The codec for these media-type parameters, built once (codecs are frozen; a
    failure, a 415, is not remembered). A codec registered again is a new class: a new key."""
    return codec_cls.from_params(dict(params))


def handle(
    body: bytes | bytearray | memoryview,
    content_type: str | None,
    accept: str | None,
    predict: Predict,
    *,
    env: Mapping[str, str] | None = None,
    max_payload_bytes: int | None = None,
    offered: Sequence[str] | None = None,
    limits: Limits | None = None,
    max_response_bytes: int | None = None,
) -> Response:
    """Decode a request, run `predict` on the batch, encode its answer for ``Accept``.

    Parameters
    ----------
    body, content_type, accept
        The request body and its ``Content-Type`` and ``Accept`` headers (None when absent).
        A missing ``Content-Type`` falls back to ``SAGEMAKER_DEFAULT_INVOCATIONS_CONTENT_TYPE``
        when the environment sets it.
    predict
        Called with the decoded `RecordBatch`; returns a batch (outputs in ``label``), a
        numpy array, or a list of per-record dicts (``[{"score": 0.9}]``). An array is the
        output ``label["values"]``: rows are records, and a 1-D array with one value per
        record is one scalar output per record, as is a list of one number per record
        (``model.predict(X).tolist()``).
    env
        The container's environment (``os.environ`` when None):
        ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` answers a missing or ``*/*`` ``Accept``
        (otherwise the request's own format when it can be produced);
        ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` sets the request size limit and
        ``SAGEMAKER_MAX_RESPONSE_IN_MB`` the response size limit (0: no limit).
    max_payload_bytes
        The body size limit (default: the environment's, else 6 MiB as on real-time endpoints).
    offered
        The response types this container produces (default: every registered codec).
    limits
        What a decoded request may hold before it reaches `predict` (default
        `sm_payloads.limits.SERVING`: a million records, 2**24 elements per tensor, JSON
        nested 64 deep, 4096 columns); ``Limits()`` lifts them. The byte limit is
        `max_payload_bytes`.
    max_response_bytes
        The limit on the written answer (default: the environment's, else 6 MiB); a longer
        answer is a 413 that says so, never a truncated body.
    """
    env = os.environ if env is None else env
    limit = payload_limit(env, max_payload_bytes)
    if limit is not None and len(body) > limit:
        return _too_large(len(body), limit)
    offers = _offered(offered)
    route = _route(content_type, accept, env, offers)
    if isinstance(route, Response):
        return route
    prepared = _decode(body, route, offers, SERVING if limits is None else limits)
    if isinstance(prepared, Response):
        return prepared
    try:
        result = predict(prepared.batch)
    except Exception:
        return predict_failed()
    return _respond(result, prepared, _response_limit(env, max_response_bytes))


@dataclass(frozen=True, slots=True)
class Prepared:
    """A decoded request on its way to the predict function: its batch, the media type the
    answer will be written in, and the types this container offers (the others tried
    when the chosen one cannot carry the answer)."""

    batch: RecordBatch
    chosen: str
    offers: tuple[str, ...]


#: What `_route` finds for a request's headers: its configured codec, the answer's media
#: type, and the request's essence (named in the empty body's 400).
_Route = tuple[Codec, str, str]


def _too_large(size: int, limit: int) -> Response:
    return _error(413, str(PayloadTooLargeError(size, limit, "request body")))


def _route(
    content_type: str | None, accept: str | None, env: Mapping[str, str], offers: tuple[str, ...]
) -> _Route | Response:
    """The request's codec and the answer's media type for these headers, or the 415, 406
    or 500 that answers them: the part of `handle` that depends on the headers only."""
    if not content_type or not content_type.strip():
        content_type = env.get("SAGEMAKER_DEFAULT_INVOCATIONS_CONTENT_TYPE") or None
        if content_type is None:
            return _error(415, "the request has no Content-Type; send one of: " + ", ".join(supported()))
    if _CONTROL.search(content_type):
        return _error(415, f"Content-Type {content_type!r}: control characters in a header value")
    if accept is not None and _CONTROL.search(accept):
        return _error(406, f"Accept {accept!r}: control characters in a header value")
    try:
        # The request's media type is parsed here, once: the default answer type and the
        # codec come from this parse; the Accept header is parsed once, by negotiate.
        request = MediaType.parse(content_type)
        default = _default_accept(env, request, offers)
        if accept is None or len(accept) <= _CACHED_ACCEPT_CHARS:
            chosen = _negotiated(accept, offers, default)
        else:  # not remembered: 512 long headers a client made up would stay in memory
            chosen = negotiate(accept, offers, default)
    except UnsupportedMediaTypeError as e:
        return _error(415, str(e))
    except NotAcceptableError as e:
        return _error(406, str(e))
    except ValueError as e:  # the environment names a type this container cannot produce
        log.error("bad serving configuration: %s", e)
        return _error(500, "the server is misconfigured (see its log)")
    try:
        codec = _request_codec(request, content_type)
    except PayloadError as e:
        return _error(e.status_hint, str(e))
    return codec, chosen, request.essence


def _decode(
    body: bytes | bytearray | memoryview, route: _Route, offers: tuple[str, ...], bounds: Limits
) -> Prepared | Response:
    """The request's batch within `bounds`, or the 400 or 413 that answers it."""
    codec, chosen, essence = route
    if not len(body):
        return _error(400, f"the request body is empty; send at least one record as {essence}")
    if len(body) <= SMALL_BODY_BYTES and type(codec) is CsvCodec:
        one = _one_csv_record(body, codec, bounds)
        if one is not None:
            return Prepared(one, chosen, offers)
    try:
        batch = decode_within(codec, body, bounds)
    except PayloadError as e:
        return _error(e.status_hint, str(e))
    return Prepared(batch, chosen, offers)


#: Request bodies up to this many bytes may take a small-body route (`_one_csv_record`):
#: a request of one record is a few hundred bytes.
SMALL_BODY_BYTES = 4096
_FLOAT64 = np.dtype(np.float64)
#: The bytes a CSV line of numbers read by `_one_csv_record` never holds.
_NOT_IN_LINE = b'\n\r"' + bytes(range(0x80, 0x100))


def _decline(data: bytes | bytearray, start: int, stop: int) -> None:
    """A careful reader that reads nothing: the small-body route gives up where the fast
    reader stops (the whole body then goes the general way)."""
    return None


def _one_csv_record(
    body: bytes | bytearray | memoryview, codec: CsvCodec, bounds: Limits
) -> RecordBatch | None:
    """The batch that ``decode_within(codec, body, bounds)`` gives for a CSV body of one line
    of numbers (a small request), read without the layers of the general path; None for
    anything else, which then takes the general path (errors included).

    It is that path's batch by construction: the line (a final ``\\n`` or ``\\r\\n`` aside)
    holds no quote, no other line break and only ASCII, so the CSV reader's first record is
    that line and its width is one more than its commas; the reader's own fast reader reads
    it (`parse_numeric_rows`, or with the C extension the one call it makes for a body of one
    line), and a line it stops at is left to the general path (whose careful reader may
    still read it, or positions the error); the bounds cannot refuse it (checked here:
    within them, the general path's checks pass). Only for the codec's defaults (no label
    columns, no header line, numbers as float64)."""
    if type(body) is not bytes or codec.label_size or codec.header or codec.dtype is not None:
        return None
    size = end = len(body)
    if not size:
        return None  # the general path's 400
    if body[end - 1] == 0x0A:
        end -= 1
        if end and body[end - 1] == 0x0D:
            end -= 1
    # The line holds no line break, quote or non-ASCII byte when deleting those from the body
    # leaves exactly its `end` bytes (the final "\n" or "\r\n", all that follows it, goes too).
    if not end or len(body.translate(None, _NOT_IN_LINE)) != end:
        return None
    width = body.count(b",", 0, end) + 1
    if (
        (bounds.max_bytes is not None and size > bounds.max_bytes)
        or (bounds.max_records is not None and bounds.max_records < 1)
        or (bounds.max_elements is not None and bounds.max_elements < width)
    ):
        return None
    native = _textnum._C
    if native is not None:
        # parse_numeric_rows's own call for a body of one line (its rows count is 1)
        values = np.empty((1, width), _FLOAT64)
        pos, rows = native.csv_read(body, 0, size, width, values, 0, False, True)
        if pos != size or rows != 1:
            return None
    else:
        read = parse_numeric_rows(body, 0, size, width, _FLOAT64, _decline)
        if read is None or read.shape[0] != 1:
            return None
        values = read
    values.setflags(write=False)  # the batch's column is read-only; the matrix is ours alone
    return trusted_batch({"values": values}, {}, 1)


#: The answer when the predict function raised (its traceback is logged).
_PREDICT_FAILED = "the model failed to produce a prediction (see the container log)"


def predict_failed() -> Response:
    """The 500 of a predict function that raised: logs the exception being handled (call it
    in an ``except`` block) and gives the answer, the same for every way predict is run."""
    log.exception("the predict function raised")
    return _error(500, _PREDICT_FAILED)


def _respond(result: Any, prepared: Prepared, out_limit: int | None) -> Response:
    """The answer of `result`, the predict function's return for `prepared`: written in the
    chosen type (a 406 or 500 when it cannot be), within `out_limit` bytes (else 413)."""
    chosen, offers = prepared.chosen, prepared.offers
    if type(result) is not RecordBatch:  # a batch is written as it is
        n = len(prepared.batch)
        if isinstance(result, CoroutineType):
            # An async predict handed to a caller that runs it as a plain function.
            result.close()
            log.error("the predict function returned a coroutine: it is async, and was called as a plain one")
            return _error(500, _PREDICT_FAILED)
        result = _per_record_numbers(result, n)
        if isinstance(result, np.ndarray) and result.ndim == 1 and result.shape[0] == n:
            # One value per record (what a model's predict returns): one scalar output per
            # record, not the one-record vector that a bare 1-D array means elsewhere.
            try:
                result = _scalar_outputs(result, n)
            except EncodeError as e:  # no format can carry it (an int64 beyond int32)
                log.error("cannot encode the prediction as %s: %s", chosen, e)
                return _error(500, f"the prediction cannot be written as {chosen}: {e.reason}")
    try:
        if chosen == _JSON and _plain_json():
            out = _one_json_answer(result)
            if out is not None and (out_limit is None or len(out) <= out_limit):
                return Response(200, out, chosen)
            # else the general path writes it (again, to refuse it when it is too long)
        out = encode_response(result, chosen)
    except EncodeError as e:
        others = _writable_as(result, offers, chosen)
        if others:  # the client's choice of format cannot carry this answer; others can
            return _error(
                406,
                f"the prediction cannot be written as {chosen}: {e.reason}; "
                f"ask for one of: {', '.join(others)}",
            )
        log.error("cannot encode the prediction as %s: %s", chosen, e)
        return _error(500, f"the prediction cannot be written as {chosen}: {e.reason}")
    except PayloadError as e:
        return _error(e.status_hint, str(e))
    except Exception:
        log.exception("encoding the prediction failed")
        return _error(500, f"the prediction cannot be written as {chosen}")
    if out_limit is not None and len(out) > out_limit:
        log.error(
            "the %s answer of %d bytes exceeds the response limit of %d bytes", chosen, len(out), out_limit
        )
        return _error(
            413,
            f"the prediction written as {chosen} is {len(out)} bytes, over the response limit of "
            f"{out_limit} bytes (SAGEMAKER_MAX_RESPONSE_IN_MB); send fewer records per request",
        )
    return Response(200, out, chosen)


_JSON = "application/json"
#: The dtypes of a column that the batch keeps as it is (read-only), and that JSON writes
#: with orjson as they are (`_one_json_answer`).
_PLAIN_DTYPES = frozenset({np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int32)})


def _plain_json() -> bool:
    """Whether an answer of type application/json (no parameters) is written by this
    package's `JsonCodec` with its defaults (it is unless another codec was registered
    for it)."""
    return CODECS.get(ALIASES.get(_JSON, _JSON)) is JsonCodec


#: Output names written as JSON keys (``b'"score":'``), remembered (256 at most; then they
#: are all forgotten and learnt again).
_JSON_KEYS: dict[str, bytes] = {}


def _one_json_answer(result: Any) -> bytes | None:
    """The bytes `encode_response` writes as application/json for a batch of one record
    whose outputs are all scalars: float64, float32 or int32 1-D columns of one finite value
    each (``{"predictions":[{"score":0.25}]}``); None for anything else (the general path
    writes it). The bytes are those of the general path's writer (`json.encode_response`:
    each column printed by orjson, the one object joined from them), without its layers."""
    if type(result) is not RecordBatch or result.n != 1:
        return None
    columns = result.label if result.label or not result.features else result.features
    if not columns:
        return None
    parts = []
    for key, col in columns.items():
        if type(col) is not np.ndarray or col.ndim != 1 or col.dtype not in _PLAIN_DTYPES:
            return None
        if type(key) is not str:
            return None  # a subclass of str: the general path
        name = _JSON_KEYS.get(key)
        if name is None:
            try:
                name = orjson.dumps(key) + b":"
            except orjson.JSONEncodeError:
                return None  # a lone surrogate: the general path names the column
            if len(_JSON_KEYS) >= 256:
                _JSON_KEYS.clear()
            _JSON_KEYS[key] = name
        try:
            value = orjson.dumps(col, option=orjson.OPT_SERIALIZE_NUMPY)
        except orjson.JSONEncodeError:
            return None  # an array orjson does not take as it is: the general path
        if value == b"[null]":
            return None  # NaN or an infinity (orjson writes null): the general path refuses it
        parts.append(name + value[1:-1])
    return b'{"predictions":[{' + b",".join(parts) + b"}]}"


def _scalar_outputs(values: np.ndarray, n: int) -> RecordBatch:
    """The batch of `values`, one per record of `n`: ``label["values"]`` (N,); an array of a
    dtype the batch keeps as it is is made a read-only view without the constructor's checks
    (they pass), any other goes through them (`EncodeError` for a value the batch cannot
    hold, such as an int64 beyond int32)."""
    if type(values) is np.ndarray and values.dtype in _PLAIN_DTYPES:
        column = values.view()
        column.setflags(write=False)
        return trusted_batch({}, {"values": column}, n)
    return RecordBatch(label={"values": values}, n=n)


def _per_record_numbers(result: Any, n: int) -> Any:
    """A list (or tuple) of `n` plain numbers, as ``model.predict(X).tolist()`` returns, as
    the 1-D array it stands for (one value per record; an empty list for an empty batch);
    anything else unchanged."""
    if not isinstance(result, (list, tuple)) or len(result) != n:
        return result
    if not set(map(type, result)) <= _NUMBER_TYPES:
        return result
    arr = np.asarray(result)
    return arr if arr.ndim == 1 and arr.dtype.kind in "iuf" else result


#: What `_per_record_numbers` takes for a number (bool is not one: True is no score).
_NUMBER_TYPES = frozenset({int, float, np.float32, np.float64, np.int32, np.int64})


def _writable_as(result: Any, offers: tuple[str, ...], failed: str) -> list[str]:
    """The offered types other than `failed` (by essence) that can write `result`: tried
    only after `failed` could not, to tell a format that cannot carry the answer (406) from
    an answer that no format can carry (500)."""
    skip = ALIASES.get(MediaType.parse(failed).essence, MediaType.parse(failed).essence)
    seen: set[str] = {skip}
    ok: list[str] = []
    for offer in offers:
        essence = MediaType.parse(offer).essence
        essence = ALIASES.get(essence, essence)
        if essence in seen:
            continue
        seen.add(essence)
        try:
            encode_response(result, offer)
        except Exception:
            continue
        ok.append(offer)
    return ok


class Handler:
    """`handle` with the predict function, the environment and the options bound once.

    What does not change from one request to the next is worked out here, once: the body
    and answer limits, the offered types, and (remembered per pair of ``Content-Type`` and
    ``Accept`` header values) the request's codec and the answer's type. The answers are
    `handle`'s, byte for byte (tests/test_serving.py). The memory is bounded (256 pairs of
    headers up to 256 characters each; longer ones are worked out each time), holds only
    headers that were answered, never a 415 or 406, and is dropped when a codec is
    registered (`register_codec`). The server (`sm_payloads.server`) answers through one.

    >>> import numpy as np, sm_payloads as smp
    >>> h = Handler(lambda b: smp.RecordBatch(label={"score": b.to_numpy().sum(axis=1)}), env={})
    >>> ct = "application/x-recordio-protobuf"
    >>> r = h(smp.encode_request(np.ones((2, 3), np.float32), ct), ct, None)
    >>> r.status, r.content_type, smp.decode_response(r.body, ct).label["score"].tolist()
    (200, 'application/x-recordio-protobuf', [3.0, 3.0])
    >>> h(b"junk", ct, None).status
    400
    >>> h(b"", "image/png", None).status
    415
    """

    def __init__(
        self,
        predict: Predict,
        env: Mapping[str, str] | None = None,
        *,
        max_payload_bytes: int | None = None,
        offered: Sequence[str] | None = None,
        limits: Limits | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        self._predict = predict
        self._env = dict(os.environ if env is None else env)
        self._max_payload_bytes = max_payload_bytes
        self._offered = None if offered is None else tuple(offered)
        self._limits = limits
        self._max_response_bytes = max_response_bytes
        self._limit = payload_limit(self._env, max_payload_bytes)
        self._out_limit = _response_limit(self._env, max_response_bytes)
        self._bounds = SERVING if limits is None else limits
        self._codecs: dict[str, type[Codec]] = {}
        self._aliases: dict[str, str] = {}
        self._offers: tuple[str, ...] = ()
        self._routes: dict[tuple[str | None, str | None], _Route] = {}
        self._registry_changed()

    # The options, read-only: what was worked out from them stays true.
    @property
    def predict(self) -> Predict:
        return self._predict

    @property
    def env(self) -> Mapping[str, str]:
        return self._env

    @property
    def max_payload_bytes(self) -> int | None:
        return self._max_payload_bytes

    @property
    def offered(self) -> tuple[str, ...] | None:
        return self._offered

    @property
    def limits(self) -> Limits | None:
        return self._limits

    @property
    def max_response_bytes(self) -> int | None:
        return self._max_response_bytes

    @property
    def payload_limit(self) -> int | None:
        """The request body limit in bytes (None: none), as `payload_limit` gives it."""
        return self._limit

    def _registry_changed(self) -> None:
        """Forget what was worked out from the registry (codecs, offered types)."""
        self._routes = {}
        self._codecs = dict(CODECS)
        self._aliases = dict(ALIASES)
        self._offers = _offered(self._offered)

    def route(self, content_type: str | None, accept: str | None) -> _Route | Response:
        """The request's codec and the answer's type for these headers (remembered), or
        their 415, 406 or 500."""
        if self._codecs != CODECS or self._aliases != ALIASES:  # a codec was registered
            self._registry_changed()
        key = (content_type, accept)
        known = self._routes.get(key)
        if known is not None:
            return known
        route = _route(content_type, accept, self._env, self._offers)
        if (
            not isinstance(route, Response)
            and (content_type is None or len(content_type) <= _CACHED_ACCEPT_CHARS)
            and (accept is None or len(accept) <= _CACHED_ACCEPT_CHARS)
        ):
            routes = self._routes
            if len(routes) >= _CACHED_ROUTES:
                routes.clear()
            routes[key] = route
        return route

    def prepare(
        self, body: bytes | bytearray | memoryview, content_type: str | None, accept: str | None
    ) -> Prepared | Response:
        """`handle` up to the predict function: the decoded request, or the answer that
        refuses it (413, 415, 406, 400, ...)."""
        limit = self._limit
        if limit is not None and len(body) > limit:
            return _too_large(len(body), limit)
        route = self.route(content_type, accept)
        if isinstance(route, Response):
            return route
        return _decode(body, route, self._offers, self._bounds)

    def respond(self, result: Any, prepared: Prepared) -> Response:
        """`handle` after the predict function: its `result` for `prepared`, written."""
        return _respond(result, prepared, self._out_limit)

    def __call__(
        self, body: bytes | bytearray | memoryview, content_type: str | None, accept: str | None
    ) -> Response:
        prepared = self.prepare(body, content_type, accept)
        if isinstance(prepared, Response):
            return prepared
        try:
            result = self._predict(prepared.batch)
        except Exception:
            return predict_failed()
        return _respond(result, prepared, self._out_limit)

    def ping(self) -> Response:
        """``GET /ping``: healthy once constructed."""
        return Response(200, b"", _TEXT)
