"""``application/json``: ``{"instances": [...]}`` requests and ``{"predictions": [...]}`` responses.

The record layout, the column builder and the fast scanner are in
`sm_payloads.formats._json_layout`, shared with `sm_payloads.formats.jsonlines`.

Rule 1 (names): the JSON name ``features`` is the protobuf map key ``values``, both as the
dense shorthand ``{"features": [...]}`` and inside ``{"data": {"features": {...}}}``; every
other name passes through (``data.foo`` and a top-level ``foo`` are ``features["foo"]``,
``label.foo`` is ``label["foo"]``). Response items map every key to ``label``.
Rule 2 (values): a number is a scalar, a list a vector, nested lists a matrix, a string or
a list of strings a strings entry, and an object with ``values`` / ``keys`` / ``shape`` a
protobuf-equivalent tensor (sparse when ``keys`` is non-empty). Numbers decode to float64
unless the caller passes ``dtype=``; conversions are exact or a `DecodeError`.
Rule 3 (numbers out): numpy values are written by orjson, which prints float32 with the
shortest text that reads back to the same float32, float64 likewise, int32 as integers.
NaN and infinities are not JSON: `EncodeError` naming the column, unless ``allow_nan=True``
(then ``NaN`` / ``Infinity`` / ``-Infinity``, Python's ``json`` spelling, which the decoder
accepts only under the same option).
Rule 4 (speed and memory): a request whose records all give one numeric column (number
lists, numbers, nested lists of one shape, ``{"features": [...]}``, ``{"<name>": [...]}``,
``{"data": {"features": {...}}}`` dense or sparse, in ``{"instances": [...]}``, a bare list
or alone) is read without building the document (`_json_layout.request_group`): numbers go
straight into the column, so memory stays near the output arrays. A request whose records
are flat objects with the same keys, each strings, or numbers and number lists (several
columns, ragged ones, strings, ``uid``), is read column by column
(`_json_layout.request_fast`). Anything the scanners are unsure of falls back to the general
path, which parses the document and reports exact errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import orjson

from .._buffers import as_bytes
from .._gcpause import paused
from ..codec import Codec
from ..errors import DecodeError, EncodeError
from ..record import RecordBatch
from ._json_layout import (
    _CELLS_OF,
    ENVELOPES,
    SCAN_ENVELOPE,
    BadValue,
    DtypeSpec,
    FastGroup,
    GeneralGroup,
    Layout,
    LazyRecords,
    SyntaxProblem,
    _configuration,
    batch_from_groups,
    charset_ok,
    check_dtype_spec,
    check_text,
    configuration_value,
    container_end,
    dumps,
    instance_objects,
    instance_record,
    loads,
    loads_exact32,
    one_member_list_error,
    path_offset,
    record_offset,
    records_lazily,
    replace_columns,
    request_fast,
    request_group,
    request_instances,
    response_fast,
    response_items,
    response_objects,
    response_record,
    response_rows,
    scan,
    skip_bom,
    valid_members,
)
from ._json_layout import _CREC as J_CREC
from ._rows import rows_kinds, rows_or_batch

CONTENT_TYPE = "application/json"

__all__ = [
    "CONTENT_TYPE",
    "ENVELOPES",
    "JsonCodec",
    "decode",
    "decode_response",
    "encode",
    "encode_response",
]

# ======================================================================================
# application/json: the verbs
# ======================================================================================


def _syntax_error(ct: str, p: SyntaxProblem, base: int) -> DecodeError:
    return DecodeError(ct, p.reason, offset=None if p.offset is None else base + p.offset, line=p.line)


def _bad_error(ct: str, e: BadValue, index: int | None, buf: bytes | bytearray, start: int) -> DecodeError:
    return DecodeError(ct, e.reason, offset=path_offset(buf, start, len(buf), e.reason), record_index=index)


def _at_record(e: DecodeError, buf: bytes | bytearray, start: int, response: bool) -> DecodeError:
    """`e` (from a fast scanner's batch, which knows its records but not where they are)
    with the byte offset of its record, as the general path gives it."""
    if e.offset is not None or e.record_index is None:
        return e
    i = e.record_index
    if response:
        off = record_offset(buf, i, False)
    else:
        first = buf[start : start + 64].lstrip()[:1]
        path = f"$.instances[{i}]" if first == b"{" else f"$[{i}]"
        off = path_offset(buf, start, len(buf), path)
    return DecodeError(CONTENT_TYPE, e.reason, offset=off, record_index=i, line=e.line)


def _decode_doc(data: Any, dtype: DtypeSpec, allow_nan: bool, response: bool) -> RecordBatch:
    check_dtype_spec(dtype)
    buf = as_bytes(data, text=True)
    with paused(len(buf)):  # the general path's parsed document: no collector walks over it
        return _decode_buf(buf, dtype, allow_nan, response)


def _check_long_member(buf: bytes | bytearray, start: int, response: bool) -> None:
    """Raise the general path's error of a long document that is one record of one member
    holding a refused list (`one_member_list_error`), without parsing the whole document."""
    got = one_member_list_error(buf, start, response)
    if got is not None:
        reason, at = got
        off = path_offset(buf, start, len(buf), reason) if at is None else at
        raise DecodeError(CONTENT_TYPE, reason, offset=off, record_index=0)


def _check_record_alone(buf: bytes | bytearray, start: int, k: int, at: int, allow_nan: bool) -> None:
    """Raise the error of record k of a request whose column reader stopped in it, at `at`,
    with every record before it sound (`request_fast`'s hint), as the general path reports
    it, without parsing those records: the document from record k on, after the opening the
    reader read (``[`` or ``{"instances": [``), is what the general path would parse
    after them (so it parses exactly when the whole body does, and its envelope is the
    body's); a document that is one record object (record 0, at its start) is parsed
    whole, its path ``$``. The error's offset is searched in record k's bytes alone.
    Nothing when it does not parse, when its envelope is refused, or when record k is
    sound: the general path then reads the whole body."""
    alone = k == 0 and not buf[start:at].strip()  # the document is one record object
    listed = buf[start : start + 64].lstrip()[:1] == b"["
    snap = buf if isinstance(buf, bytes) else bytes(buf)
    if not alone and not allow_nan:
        # A document certainly valid (a fast pass, no object built) whose envelope is a
        # list, or an object of "instances" alone: record k is what the general path
        # checks after the sound ones before it, so it is parsed alone
        members = valid_members(snap, start, len(snap))
        hi = None if members != (-1 if listed else 1) else container_end(snap, at, len(snap))
        if hi is not None:
            try:
                record = loads(snap, at, hi, False)
            except SyntaxProblem:  # (a value inside a valid document parses)
                record = None
            if type(record) in (dict, list):  # (a bare list record too: `instance_record`)
                _check_one_record(snap, at, hi, record, f"{'$' if listed else '$.instances'}[{k}]", k)
                return
    if alone:
        if not allow_nan:
            _check_long_member(buf, start, False)
        piece = bytes(buf[start:])
    else:
        opening = b"[" if listed else b'{"instances":['
        piece = opening + bytes(buf[at:])
    try:
        doc = loads(piece, 0, len(piece), allow_nan)
    except SyntaxProblem:
        return
    del piece
    if alone:
        if type(doc) is not dict or "instances" in doc:
            return
        items, path = [doc], "$"
    else:
        try:
            items, prefix, _config = request_instances(doc)
        except BadValue:
            return
        if not items or not prefix:
            return
        path = f"{prefix}[{k}]"
    hi = len(snap) if alone else container_end(snap, at, len(snap)) or len(snap)
    _check_one_record(snap, at, hi, items[0], path, k)


#: A response document in the envelope the column reader reads first.
_PREDICTIONS = re.compile(rb'\s*\{\s*"predictions"\s*:')


def _check_response_record_alone(buf: bytes | bytearray, start: int, k: int, at: int) -> None:
    """Raise the error of record k of a response whose column reader stopped in it, at
    `at`, every record before it sound (`response_fast`'s hint), as the general path
    reports it, parsing that record alone: only when a validity pass (`valid_members`)
    says the document certainly parses and its envelope is a list or an object of
    ``"predictions"`` alone (the other envelopes depend on every item). Nothing otherwise,
    or when record k is sound: the general path then reads the whole body."""
    snap = buf if isinstance(buf, bytes) else bytes(buf)
    listed = snap[start : start + 64].lstrip()[:1] == b"["
    if not listed and _PREDICTIONS.match(snap, start) is None:
        return
    if valid_members(snap, start, len(snap)) != (-1 if listed else 1):
        return
    hi = container_end(snap, at, len(snap))
    if hi is None:
        return
    try:
        record = loads(snap, at, hi, False)
    except SyntaxProblem:  # (a value inside a valid document parses)
        return
    if type(record) in (dict, list):  # (a bare list record too: `response_record`)
        _check_one_record(
            snap, at, hi, record, f"{'$' if listed else '$.predictions'}[{k}]", k, response_record
        )


def _check_one_record(
    snap: bytes, at: int, hi: int, record: Any, path: str, k: int, parse: Any = instance_record
) -> None:
    """Raise the general path's error of record k (parsed: `record`; its bytes
    ``snap[at:hi]``, its JSON path `path`; `parse`: the record reader, `instance_record` or
    `response_record`), if it has one."""
    try:
        # the reader's error, without an object per key of a sound record of many keys
        _CELLS_OF[parse](record, path)
    except BadValue as e:
        # where the general path's search from the document's root arrives: record k's "{"
        # is at `at`, and the search goes on from there the same way, in its bytes alone
        off = path_offset(snap, at, hi, e.reason, root=path)
        if off is not None:
            raise DecodeError(CONTENT_TYPE, e.reason, offset=off, record_index=k) from None


#: A request document whose one member is "instances".
_INSTANCES = re.compile(rb'\s*\{\s*"instances"\s*:')
#: The most "configuration" words tried as the request-level member's key.
_CONFIG_TRIES = 4


def _configuration_member(snap: bytes, start: int) -> tuple[int, int, Any] | None:
    """Where the top-level ``"configuration"`` member of a request document of two members
    lies, with its comma (a span to blank out), and its value; None when it is not found
    that way. Only a span whose member parses alone as a one-key object, and whose removal
    leaves a document that is certainly valid with one member, ``"instances"``, is taken:
    the span is then that top-level member."""
    candidates: list[tuple[int, int]] = []
    # after the records: ', "configuration": X' up to the closing brace
    close = len(snap.rstrip()) - 1
    q = snap.rfind(b'"configuration"', start, close)
    if q > start and snap[close : close + 1] == b"}":
        comma = len(snap[:q].rstrip()) - 1
        if snap[comma : comma + 1] == b",":
            candidates.append((comma, close))
    # before them: '"configuration": X,' up to a '"instances"'
    q = snap.find(b'"configuration"', start)
    if q > 0 and snap[start:q].strip() == b"{":
        r = q
        for _ in range(_CONFIG_TRIES):
            r = snap.find(b'"instances"', r + 1)
            if r < 0:
                break
            comma = len(snap[:r].rstrip()) - 1
            if snap[comma : comma + 1] == b",":
                candidates.append((q, comma + 1))
    for lo, hi in candidates:
        member = snap[lo + 1 : hi] if snap[lo : lo + 1] == b"," else snap[lo : hi - 1]
        try:
            one = orjson.loads(b"{" + member + b"}")
        except orjson.JSONDecodeError:
            continue
        if type(one) is dict and list(one) == ["configuration"]:
            return lo, hi, one["configuration"]
    return None


def _with_configuration(buf: bytes | bytearray, start: int, dtype: DtypeSpec) -> RecordBatch | None:
    """A request ``{"instances": [...], "configuration": X}`` (either order) read by the
    fast routes: the configuration member blanked out (offsets stay those of the body), the
    records read as ``{"instances": [...]}`` is, and the configuration given to each record
    that has none of its own, as the general path does. None when the document is not
    certainly that (`valid_members`), the configuration is not one the general path takes,
    or the fast routes decline: the general path then reads the body."""
    snap = buf if isinstance(buf, bytes) else bytes(buf)
    if valid_members(snap, start, len(snap)) != 2:
        return None
    found = _configuration_member(snap, start)
    if found is None:
        return None
    lo, hi, value = found
    try:
        config = _configuration(value, "$.configuration")
    except BadValue:
        return None  # the general path's error
    blank = bytearray(snap)
    blank[lo:hi] = b" " * (hi - lo)
    doc = bytes(blank)
    del blank
    if _INSTANCES.match(doc, start) is None or valid_members(doc, start, len(doc)) != 1:
        return None
    fast = request_group(doc, start, len(doc), dtype)
    if fast is not None:
        try:
            return batch_from_groups([fast], CONTENT_TYPE, dtype, request_configuration=config)
        except DecodeError as e:
            err = e
        del fast
        raise _at_record(err, doc, start, False)
    hint: list[int] = []
    columns = request_fast(doc, start, len(doc), False, dtype, hint, CONTENT_TYPE)
    if columns is None:
        if hint and hint[1] >= 0:
            _check_record_alone(doc, start, hint[0], hint[1], False)
        return None
    if config is None:
        return columns
    own = [None] * columns.n if columns.configuration is None else list(columns.configuration)
    return RecordBatch(
        dict(columns.features),
        dict(columns.label),
        columns.uid,
        columns.metadata,
        [config if c is None else c for c in own],
        n=columns.n,
    )


def _group_batch(
    group: FastGroup, buf: bytes | bytearray, start: int, dtype: DtypeSpec, response: bool
) -> RecordBatch:
    """The batch of the records a scanner read as one group, or its error at its record."""
    try:
        return batch_from_groups([group], CONTENT_TYPE, dtype)
    except DecodeError as e:
        err = e
    del group
    raise _at_record(err, buf, start, response)


def _decode_buf(buf: bytes | bytearray, dtype: DtypeSpec, allow_nan: bool, response: bool) -> RecordBatch:
    start = skip_bom(buf)
    hint: list[int] = []  # the record the column reader stopped in, all before it sound
    if not response and not allow_nan and buf.find(b'"configuration"', start) >= 0:
        configured = _with_configuration(buf, start, dtype)
        if configured is not None:
            return configured
    if not response:
        # before the check for an empty body below, which copies the body (an empty one declines)
        fast = request_group(buf, start, len(buf), dtype)
        if fast is not None:
            return _group_batch(fast, buf, start, dtype, False)
        # records of several columns, or of strings, column by column
        columns = request_fast(buf, start, len(buf), False, dtype, hint, CONTENT_TYPE)
        if columns is not None:
            return columns
        if hint and hint[1] >= 0:
            # (record 0 too: the piece is then the whole document, parsed once, where the
            # general path would also build the whole body's structure before its report)
            _check_record_alone(buf, start, hint[0], hint[1], allow_nan)
        if J_CREC is not None and not allow_nan:
            # what the kernels decline and orjson reads (a key twice in a record): their twins
            fast = request_group(buf, start, len(buf), dtype, twin=True)
            if fast is not None:
                return _group_batch(fast, buf, start, dtype, False)
            columns = request_fast(buf, start, len(buf), False, dtype, None, CONTENT_TYPE, twin=True)
            if columns is not None:
                return columns
    pending: set[tuple[str, str]] = set()
    for shape in (SCAN_ENVELOPE,) if response else ():
        got = scan(buf, start, len(buf), shape)
        if got is not None:
            key, values, counts, _opens = got
            group = FastGroup("label", "values" if key is None else key, values, counts)
            try:
                batch = batch_from_groups([group], CONTENT_TYPE, dtype, pending32=pending)
            except DecodeError as e:
                err = e
            else:
                return _exact32(batch, pending, buf, start, dtype, allow_nan, response)
            del group, values, counts
            raise _at_record(err, buf, start, True)
    if response:
        # records of scalars, column by column (an empty body declines)
        # ragged columns too; a body of sound records its columns cannot hold is refused
        columns = response_fast(buf, start, len(buf), False, dtype, True, allow_nan, CONTENT_TYPE, hint)
        if columns is not None:
            return columns
        if hint and hint[1] >= 0 and not allow_nan:
            _check_response_record_alone(buf, start, hint[0], hint[1])
            hint.clear()
        # items that are bare numbers or number lists, by the request scanner
        bare = request_group(buf, start, len(buf), dtype, items=True)
        if bare is not None:
            return _group_batch(bare, buf, start, dtype, True)
    config = None
    items: list[Any] | LazyRecords
    if not allow_nan:
        _check_long_member(buf, start, response)
    lazily = None if allow_nan else records_lazily(buf, start, len(buf), not response)
    if lazily is not None:
        # a long document of records: parsed a piece at a time as the records are read
        items, prefix = lazily
        doc = None
    else:
        if not buf[start:].strip():
            raise DecodeError(CONTENT_TYPE, "empty body: expected a JSON document", offset=start)
        try:
            doc = loads(buf, start, len(buf), allow_nan)
        except SyntaxProblem as p:
            raise _syntax_error(CONTENT_TYPE, p, start) from None
        try:
            if response:
                items, prefix = response_items(doc)
            else:
                items, prefix, config = request_instances(doc)
        except BadValue as e:
            del doc
            raise _bad_error(CONTENT_TYPE, e, None, buf, start) from None
    parse = response_record if response else instance_record
    general = GeneralGroup(items, parse=parse, prefix=prefix, text=(buf, 0))
    del doc, items
    if hint:
        # a record's error comes before any column's, and the records before this one are
        # sound: its error, if it has one, is the body's first (without building columns)
        general.check_record(hint[0], CONTENT_TYPE)
    batch = batch_from_groups([general], CONTENT_TYPE, dtype, request_configuration=config, pending32=pending)
    del general
    return _exact32(batch, pending, buf, start, dtype, allow_nan, response)


def _exact32(
    batch: RecordBatch,
    pending: set[tuple[str, str]],
    buf: bytes | bytearray,
    start: int,
    dtype: DtypeSpec,
    allow_nan: bool,
    response: bool,
) -> RecordBatch:
    """`batch`, with its float32 columns that hold a float64 on a binary32 rounding
    boundary read again from their text (`loads_exact32`), so they are rounded once."""
    if not pending:
        return batch
    try:
        doc = loads_exact32(buf, start, len(buf), allow_nan)
    except SyntaxProblem as p:
        raise _syntax_error(CONTENT_TYPE, p, start) from None
    config = None
    if response:
        items, prefix = response_items(doc)
    else:
        items, prefix, config = request_instances(doc)
    parse = response_record if response else instance_record
    group = GeneralGroup(items, parse=parse, prefix=prefix)
    del doc, items
    exact = batch_from_groups([group], CONTENT_TYPE, dtype, request_configuration=config)
    return replace_columns(batch, exact, pending)


def decode(
    data: bytes | bytearray | memoryview | str,
    *,
    dtype: DtypeSpec = None,
    allow_nan: bool = False,
) -> RecordBatch:
    """Read an ``application/json`` request body.

    Parameters
    ----------
    data : bytes-like (or str)
        ``{"instances": [...]}``, a bare list of instances, a bare list of numbers (one
        instance), or a single instance object.
    dtype : dtype or mapping of column name to dtype, optional
        float64 (default), float32 or int32; conversions must be exact.
    allow_nan : bool
        Accept ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON; Python's spelling).

    Raises
    ------
    DecodeError
        With the byte offset and line for syntax errors, the record index and a JSON path
        for values that do not fit the grammar.

    Examples
    --------
    >>> decode(b'{"instances": [{"features": [1.5, 16.0, 14.0, 23.0]}]}').to_numpy().tolist()
    [[1.5, 16.0, 14.0, 23.0]]
    """
    return _decode_doc(data, dtype, allow_nan, response=False)


def decode_response(
    data: bytes | bytearray | memoryview | str,
    *,
    dtype: DtypeSpec = None,
    allow_nan: bool = False,
) -> RecordBatch:
    """Read an ``application/json`` response body: any envelope of docs/formats/json.md,
    "Responses" (``predictions``, ``projections``, ``scores``), a bare list of items, or one item.
    Outputs go to ``batch.label``, one column per output key.

    >>> b = decode_response(b'{"scores": [{"score": 0.02}, {"score": 0.25}]}')
    >>> b.label["score"].tolist()
    [0.02, 0.25]
    """
    return _decode_doc(data, dtype, allow_nan, response=True)


def encode(
    batch: RecordBatch,
    *,
    layout: Layout | None = None,
    allow_nan: bool = False,
    configuration: Literal["instance", "request"] = "instance",
) -> bytes:
    """Write a request batch as ``{"instances": [...]}``.

    Parameters
    ----------
    layout : "dense", "sparse", "protobuf" or None
        ``dense``: the shorthand ``{"features": [...]}`` (sparse columns densified);
        ``sparse``: ``{"data": {"features": {"keys", "shape", "values"}}}`` for every
        numeric column; ``protobuf``: ``{"data": {"features": {"values": [...]}}}``
        (sparse columns with keys and shape). None (default): ``protobuf`` when a column
        is sparse, else ``dense``.
    allow_nan : bool
        Write NaN / infinities as ``NaN`` / ``Infinity`` / ``-Infinity`` instead of
        raising `EncodeError`.
    configuration : "instance" or "request"
        Where a record's configuration goes: in its instance (default), or once beside
        ``instances`` (DeepAR, BlazingText), which needs every record to have the same one.

    >>> import numpy as np, sm_payloads as smp
    >>> encode(smp.from_dense(np.array([[1.5, 0.1]], np.float32)))
    b'{"instances":[{"features":[1.5,0.1]}]}'
    """
    if configuration not in ("instance", "request"):
        raise ValueError(f"configuration must be 'instance' or 'request', not {configuration!r}")
    objs = instance_objects(batch, layout, allow_nan, CONTENT_TYPE, configuration == "instance")
    doc: dict[str, Any] = {"instances": objs}
    if configuration == "request" and batch.configuration is not None:
        confs = set(batch.configuration)
        if len(confs) != 1 or None in confs:
            raise EncodeError(
                CONTENT_TYPE,
                "configuration='request' needs the same configuration in every record",
                column="configuration",
            )
        doc["configuration"] = configuration_value(check_text("configuration", confs.pop(), CONTENT_TYPE))
    return dumps(doc, CONTENT_TYPE)


def encode_response(
    batch: RecordBatch | Sequence[Mapping[str, Any]],
    *,
    envelope: str = "predictions",
    allow_nan: bool = False,
) -> bytes:
    """Write a response batch as ``{"<envelope>": [{output: value, ...}, ...]}``.

    One item per record, one key per ``label`` column in column order: a scalar column
    gives a number, a vector column a list (docs/formats/json.md, "Responses"; docs/algorithms.md
    for each algorithm's keys). `batch` may also be a list of per-record output dicts (what
    `smp.encode_response` takes): the same bytes as the batch built from them, written by
    orjson as they are when every key holds one kind of value (finite numbers, strings,
    lists of one length).

    >>> import numpy as np, sm_payloads as smp
    >>> b = smp.RecordBatch(label={"closest_cluster": np.array([5.0], np.float32),
    ...                            "distance_to_cluster": np.array([36.5], np.float32)})
    >>> encode_response(b)
    b'{"predictions":[{"closest_cluster":5.0,"distance_to_cluster":36.5}]}'
    """
    if envelope not in ENVELOPES:
        raise ValueError(f"envelope must be one of {', '.join(ENVELOPES)}, not {envelope!r}")
    if not isinstance(batch, RecordBatch):
        rows = list(batch) if type(batch) is tuple else batch
        if type(rows) is list and rows_kinds(rows) is not None:
            try:
                return orjson.dumps({envelope: rows}, option=orjson.OPT_SERIALIZE_NUMPY)
            except orjson.JSONEncodeError:
                pass  # a lone surrogate: the batch route names the column
        batch = rows_or_batch(batch, CONTENT_TYPE)
    elif isinstance(batch, RecordBatch):
        items = response_rows(batch, b",")
        if items is not None:
            return b'{"' + envelope.encode() + b'":[' + items + b"]}"
    return dumps({envelope: response_objects(batch, allow_nan, CONTENT_TYPE)}, CONTENT_TYPE)


@dataclass(frozen=True, slots=True)
class JsonCodec(Codec):
    """The registry's codec for ``application/json``.

    MIME parameters: ``charset`` must be UTF-8 when given; ``verbose`` (k-NN, IP Insights)
    and ``infer_max_seqlens`` (Object2Vec) belong to the algorithm and are ignored here.
    Options as the module's functions take them (``layout`` and ``configuration`` encode
    requests, ``envelope`` encodes responses, ``dtype`` decodes, ``allow_nan`` both ways).
    """

    content_type: ClassVar[str] = CONTENT_TYPE

    layout: Layout | None = None
    configuration: Literal["instance", "request"] = "instance"
    envelope: str = "predictions"
    dtype: DtypeSpec = None
    allow_nan: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str], /, **options: Any) -> JsonCodec:
        charset_ok(params, CONTENT_TYPE, (CONTENT_TYPE,))
        return cls._make(**options)

    def encode(self, data: RecordBatch, /) -> bytes:
        return encode(data, layout=self.layout, allow_nan=self.allow_nan, configuration=self.configuration)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(data, dtype=self.dtype, allow_nan=self.allow_nan)

    def encode_response(self, data: RecordBatch, /) -> bytes:
        return encode_response(data, envelope=self.envelope, allow_nan=self.allow_nan)

    def decode_response(self, data: Any, /) -> RecordBatch:
        return decode_response(data, dtype=self.dtype, allow_nan=self.allow_nan)
