"""``application/jsonlines`` (alias ``application/x-jsonlines``): one JSON value per line.

A request line is one instance of the ``application/json`` grammar (``{"features": [...]}``,
``{"data": {"features": {...}}}``, ``{"in0": [...], "in1": [...]}``, ...); a response line
is one prediction object, with no envelope (docs/formats/jsonlines.md). The record grammar, the
column builder, the line blocks and the fast scanner are in
`sm_payloads.formats._json_layout`, shared with `sm_payloads.formats.json`.

Rule 1 (lines): lines end with ``\\n``; a ``\\r`` before it, blank (whitespace-only) lines,
a UTF-8 byte order mark at the very start and a missing final newline are all accepted.
Each non-blank line is one record; a value may not span lines.
Rule 2 (positions): every `DecodeError` names the 1-based line, the byte offset from the
start of the input and the 0-based record index (the count of non-blank lines before it),
also when decoding in batches from a stream.
Rule 3 (memory): input is read in blocks of whole lines (a few megabytes; a longer line is
one block); `iter_decode` holds at most one block plus one batch of records, so a stream
of any length decodes in bounded memory. Concatenating its batches equals `decode` of the
whole input.
Rule 4 (writing): one object per line, every line ending with ``\\n``.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import orjson

from .. import _native
from .._buffers import as_bytes
from .._gcpause import paused
from ..codec import DEFAULT_BATCH_SIZE, Capabilities, Codec
from ..errors import DecodeError
from ..record import RecordBatch
from ._json_layout import _CREC as J_CREC
from ._json_layout import (
    RESERVED,
    SCAN_LINES,
    WINDOW,
    DtypeSpec,
    FastGroup,
    GeneralGroup,
    Group,
    Layout,
    Source,
    SyntaxProblem,
    batch_from_groups,
    charset_ok,
    check_dtype_spec,
    dumps,
    fast_exact32,
    instance_objects,
    instance_record,
    line_blocks,
    loads,
    loads_exact32,
    replace_columns,
    request_fast,
    request_group,
    response_fast,
    response_objects,
    response_record,
    response_rows,
    scan,
    skip_bom,
    validate_groups,
)
from ._rows import rows_kinds, rows_or_batch

CONTENT_TYPE = "application/jsonlines"
ALIASES = ("application/x-jsonlines",)

__all__ = [
    "ALIASES",
    "CONTENT_TYPE",
    "JsonLinesCodec",
    "decode",
    "decode_response",
    "encode",
    "encode_response",
    "iter_decode",
]

# ======================================================================================
# Reading: blocks of whole lines, then records
# ======================================================================================


def _scan_block(
    block: bytes | bytearray,
    start: int,
    base_offset: int,
    base_line: int,
    response: bool,
    dtype: DtypeSpec = None,
) -> FastGroup | None:
    """The fast path: ``block[start:]`` holds only lines ``{"<name>": [numbers]}``, or (a
    response) only lines of a bare number or number list."""
    got = scan(block, start, len(block), SCAN_LINES)
    if got is None:
        if not response:
            return None
        return request_group(
            block,
            start,
            len(block),
            dtype,
            lines=True,
            base_offset=base_offset,
            base_line=base_line,
            items=True,
        )
    key, values, counts, opens = got
    if key is None or (not response and key in RESERVED - {"features"}):
        return None
    first_line = base_line + block.count(b"\n", 0, int(opens[0]))
    return FastGroup(
        "label" if response else "features",
        key if response else ("values" if key == "features" else key),
        values,
        counts,
        opens + base_offset,
        np.arange(first_line, first_line + counts.size, dtype=np.int64),
    )


def _parse_block(
    block: bytes | bytearray,
    base_offset: int,
    base_line: int,
    first_record: int,
    response: bool,
    allow_nan: bool,
    dtype: DtypeSpec = None,
    scan: bool = True,
) -> Group:
    """The records of one block of whole lines (without `scan`, by the general path alone)."""
    if not scan:
        fast = None
    elif response:
        fast = _scan_block(block, 0, base_offset, base_line, response, dtype)
    else:
        fast = request_group(
            block, 0, len(block), dtype, lines=True, base_offset=base_offset, base_line=base_line
        )
    if fast is not None and fast_exact32(fast, dtype):
        return fast
    parse = response_record if response else instance_record
    recs: list[Any] = []
    offsets = array("q")  # compact: no int object per record
    lines = array("q")
    start = 0
    line_no = base_line
    size = len(block)
    while start < size:
        nl = block.find(b"\n", start)
        end = size if nl < 0 else nl
        text = block[start:end]
        stripped = text.strip()
        if stripped:
            at = base_offset + start + (len(text) - len(text.lstrip()))
            index = first_record + len(recs)
            try:
                value = loads(block, start, end, allow_nan)
            except SyntaxProblem as p:
                off = at if p.offset is None else base_offset + start + p.offset
                # an earlier line's grammar error comes first
                validate_groups(
                    [GeneralGroup(recs, offsets, lines, parse, text=(block, base_offset))],
                    CONTENT_TYPE,
                    first_record,
                )
                raise DecodeError(
                    CONTENT_TYPE, p.reason, offset=off, record_index=index, line=line_no
                ) from None
            recs.append(value)
            offsets.append(at)
            lines.append(line_no)
        start = end + 1
        line_no += 1
    return GeneralGroup(recs, offsets, lines, parse, text=(block, base_offset))


def _groups(
    source: Source,
    response: bool,
    allow_nan: bool,
    block_size: int,
    whole: bool = False,
    dtype: DtypeSpec = None,
    scan: bool = True,
) -> Iterator[Group]:
    first = 0
    if whole and scan and not hasattr(source, "read"):
        # A whole buffer: try one scan over all of it (one output array, no joining).
        buf = as_bytes(source, text=True)
        at = skip_bom(buf)
        fast = (
            _scan_block(buf, at, 0, 1, response, dtype)
            if response
            else request_group(buf, at, len(buf), dtype, lines=True)
        )
        if fast is not None and fast_exact32(fast, dtype):
            if len(fast):
                yield fast
            return
    for block, base_offset, base_line in line_blocks(source, block_size):
        g = _parse_block(block, base_offset, base_line, first, response, allow_nan, dtype, scan)
        first += len(g)
        if len(g):
            yield g


def _batch(groups: list[Group], dtype: DtypeSpec, allow_nan: bool, first_index: int = 0) -> RecordBatch:
    """The batch of `groups`; a float32 column with a value on a binary32 rounding boundary
    is taken from the same lines read again from their text (`loads_exact32`), so each of
    its values is rounded once. Only lines of the general path can hold such a value
    (`fast_exact32`), and their groups keep their text."""
    pending: set[tuple[str, str]] = set()
    batch = batch_from_groups(groups, CONTENT_TYPE, dtype, first_index=first_index, pending32=pending)
    if not pending:
        return batch
    exact = [_reread(g, allow_nan) for g in groups if len(g)]
    return replace_columns(
        batch, batch_from_groups(exact, CONTENT_TYPE, dtype, first_index=first_index), pending
    )


def _reread(g: Group, allow_nan: bool) -> Group:
    """`g` with its lines parsed again by `loads_exact32` (a `FastGroup` as it is: its values
    are float32 already, or float64 cast exactly)."""
    if isinstance(g, FastGroup):
        return g
    assert g.text is not None and g.offsets is not None  # groups of lines keep their text
    buf, base = g.text
    recs: list[Any] = []
    for at in g.offsets:
        assert at is not None
        lo = at - base
        hi = buf.find(b"\n", lo)
        recs.append(loads_exact32(buf, lo, len(buf) if hi < 0 else hi, allow_nan))
    return GeneralGroup(recs, g.offsets, g.lines, g.parse, g.prefix, g.text)


def _check_block_size(block_size: int) -> None:
    if block_size < 1:
        raise ValueError("block_size must be at least 1")


def decode(
    data: bytes | bytearray | memoryview | str,
    *,
    dtype: DtypeSpec = None,
    allow_nan: bool = False,
    block_size: int = WINDOW,
) -> RecordBatch:
    """Read a JSON Lines request body: one instance per line.

    Parameters
    ----------
    data : bytes-like (or str)
    dtype : dtype or mapping of column name to dtype, optional
        float64 (default), float32 or int32; conversions must be exact.
    allow_nan : bool
        Accept ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON; Python's spelling).
    block_size : int
        Bytes of lines parsed at once (memory, not results, depends on it).

    >>> decode(b'{"features": [1.5, 16.0]}\\n{"features": [-2.0, 100.2]}\\n').to_numpy().tolist()
    [[1.5, 16.0], [-2.0, 100.2]]
    """
    check_dtype_spec(dtype)
    _check_block_size(block_size)
    if hasattr(data, "read"):
        with paused():  # a stream: no collector walks over the blocks' parsed lines
            return _decode(data, False, dtype, allow_nan, block_size)
    data = as_bytes(data, text=True)
    with paused(len(data)):
        return _decode_buf(data, dtype, allow_nan, block_size)


def _decode_buf(data: bytes | bytearray, dtype: DtypeSpec, allow_nan: bool, block_size: int) -> RecordBatch:
    """`decode` of a buffer."""
    at = skip_bom(data)
    fast = request_group(data, at, len(data), dtype, lines=True)
    if fast is not None and fast_exact32(fast, dtype):
        return _batch([fast], dtype, allow_nan)
    # records of several columns, or of strings, column by column
    hint: list[int] = []  # the record the column reader stopped in, all before it sound
    columns = request_fast(data, at, len(data), True, dtype, hint, CONTENT_TYPE)
    if columns is not None:
        return columns
    if hint and hint[1] >= 0:
        # (record 0 too: the general path reads its line first, but reads every other
        # block before it reports it)
        _check_line(data, at, hint[0], hint[1], allow_nan)
    if J_CREC is not None and not allow_nan:
        # what the kernels decline and orjson reads (a key twice in a record): their twins
        fast = request_group(data, at, len(data), dtype, lines=True, twin=True)
        if fast is not None and fast_exact32(fast, dtype):
            return _batch([fast], dtype, allow_nan)
        columns = request_fast(data, at, len(data), True, dtype, None, CONTENT_TYPE, twin=True)
        if columns is not None:
            return columns
    groups = _collect(_groups(data, False, allow_nan, block_size, dtype=dtype))
    if not any(isinstance(g, FastGroup) for g in groups) or len(groups) < 2:
        return _batch(groups, dtype, allow_nan)
    try:
        return _batch(groups, dtype, allow_nan)
    except DecodeError as e:
        if _COLUMN_ERROR not in e.reason:
            raise
    # The request scanner reads a block's tensor objects of values alone as number lists:
    # beside a sparse column of another block, of a shape of several dimensions, such a
    # record would not fit it, where the general path, which knows it has no shape, takes
    # it. The blocks are read again by the general path alone: the whole body's answer.
    del groups
    return _batch(
        _collect(_groups(data, False, allow_nan, block_size, dtype=dtype, scan=False)), dtype, allow_nan
    )


#: The end of a column error's reason (`ColumnError`).
_COLUMN_ERROR = "(a RecordBatch column holds one kind of value)"


def _check_line(
    data: bytes | bytearray, start: int, k: int, at: int, allow_nan: bool, parse: Any = instance_record
) -> None:
    """Raise the error of record k, whose line holds offset `at`, as the general path
    reports it (a syntax error, or the grammar's), when every record before it is sound:
    then it is the body's first error (the lines before it are read in order, a record's
    errors before any column's). Nothing when the record has none. `start`: where the body
    begins (after a byte order mark)."""
    lo = max(start, data.rfind(b"\n", 0, at) + 1)
    nl = data.find(b"\n", at)
    hi = len(data) if nl < 0 else nl
    line_no = data.count(b"\n", 0, lo) + 1
    try:
        value = loads(data, lo, hi, allow_nan)
    except SyntaxProblem as p:
        raise DecodeError(
            CONTENT_TYPE,
            p.reason,
            offset=at if p.offset is None else lo + p.offset,
            record_index=k,
            line=line_no,
        ) from None
    group = GeneralGroup([value], array("q", [at]), array("q", [line_no]), parse, text=(data, 0))
    group.check_record(0, CONTENT_TYPE, k)


def _decode(data: Any, response: bool, dtype: DtypeSpec, allow_nan: bool, block_size: int) -> RecordBatch:
    """`decode` or `decode_response` of a whole input (a buffer or a stream, read once); a
    float32 column with a value on a binary32 rounding boundary is read again from its
    lines' text (`_batch`)."""
    return _batch(_collect(_groups(data, response, allow_nan, block_size, True, dtype)), dtype, allow_nan)


def _collect(groups: Iterator[Group]) -> list[Group]:
    """The groups; before a `DecodeError` of a later block, an earlier record's error."""
    out: list[Group] = []
    try:
        for g in groups:
            out.append(g)
    except DecodeError:
        validate_groups(out, CONTENT_TYPE)
        raise
    return out


def decode_response(
    data: bytes | bytearray | memoryview | str,
    *,
    dtype: DtypeSpec = None,
    allow_nan: bool = False,
    block_size: int = WINDOW,
) -> RecordBatch:
    """Read a JSON Lines response body: one prediction object per line, outputs in ``label``.

    >>> b = decode_response(b'{"distance_to_cluster": 23.40593910217285, "closest_cluster": 0.0}\\n')
    >>> b.label["closest_cluster"].tolist(), b.label["distance_to_cluster"].tolist()
    ([0.0], [23.40593910217285])
    """
    check_dtype_spec(dtype)
    _check_block_size(block_size)
    if hasattr(data, "read"):
        with paused():
            return _decode(data, True, dtype, allow_nan, block_size)
    data = as_bytes(data, text=True)
    with paused(len(data)):
        # ragged too; a body of sound records its columns cannot hold is refused
        hint: list[int] = []  # the record the column reader stopped in, all before it sound
        at = skip_bom(data)
        fast = response_fast(data, at, len(data), True, dtype, True, allow_nan, CONTENT_TYPE, hint)
        if fast is not None:
            return fast
        if hint and hint[1] >= 0:
            _check_line(data, at, hint[0], hint[1], allow_nan, response_record)
        return _decode(data, True, dtype, allow_nan, block_size)


def iter_decode(
    source: Source,
    *,
    batch_size: int = 10_000,
    dtype: DtypeSpec = None,
    allow_nan: bool = False,
    response: bool = False,
    block_size: int = WINDOW,
) -> Iterator[RecordBatch]:
    """Decode a buffer or a binary stream in batches of at most `batch_size` records.

    Memory holds one block of lines plus one batch, whatever the input size. Line numbers,
    byte offsets and record indices in errors count from the start of the input.
    Concatenating the batches gives what `decode` (or `decode_response` with
    ``response=True``) returns for the whole input.

    >>> import io
    >>> body = b'{"features": [1]}\\n\\n{"features": [2]}\\r\\n{"features": [3]}'
    >>> [b.to_numpy().ravel().tolist() for b in iter_decode(io.BytesIO(body), batch_size=2)]
    [[1.0, 2.0], [3.0]]
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    check_dtype_spec(dtype)
    _check_block_size(block_size)
    return _iter(source, batch_size, dtype, allow_nan, response, block_size)


def _iter(
    source: Source, batch_size: int, dtype: DtypeSpec, allow_nan: bool, response: bool, block_size: int
) -> Iterator[RecordBatch]:
    pending: list[Group] = []
    have = 0
    done = 0
    groups = _groups(source, response, allow_nan, block_size, dtype=dtype)
    while True:
        try:
            g = next(groups)
        except StopIteration:
            break
        except DecodeError:
            validate_groups(pending, CONTENT_TYPE, done)
            raise
        pending.append(g)
        have += len(g)
        while have >= batch_size:
            take: list[Group] = []
            need = batch_size
            while need:
                head = pending[0]
                if len(head) <= need:
                    take.append(head)
                    need -= len(head)
                    pending.pop(0)
                else:
                    take.append(head.take(0, need))
                    pending[0] = head.take(need, len(head))
                    need = 0
            yield _batch(take, dtype, allow_nan, done)
            done += batch_size
            have -= batch_size
    if have:
        yield _batch(pending, dtype, allow_nan, done)


# ======================================================================================
# Writing
# ======================================================================================


def _join(objs: list[Any]) -> bytes:
    if not objs:
        return b""
    return b"\n".join([dumps(o, CONTENT_TYPE) for o in objs]) + b"\n"


def encode(batch: RecordBatch, *, layout: Layout | None = None, allow_nan: bool = False) -> bytes:
    """Write a request batch, one instance object per line (see `sm_payloads.formats.json.encode`
    for `layout` and `allow_nan`).

    >>> import numpy as np, sm_payloads as smp
    >>> encode(smp.from_dense(np.array([[1.5, 16.0], [-2.0, 0.1]], np.float32)))
    b'{"features":[1.5,16.0]}\\n{"features":[-2.0,0.1]}\\n'
    """
    return _join(instance_objects(batch, layout, allow_nan, CONTENT_TYPE))


#: The optional C kernel for the lines of an array of objects (`array_lines`); None: its twin.
_CREC = _native.load("formats._cjsonrec")


def array_lines_pure(text: bytes) -> bytes | None:
    """The twin of ``_cjsonrec.array_lines``: the objects of a JSON array whose only ``}``
    bytes end them, one per line (the ``[`` dropped, the byte after each ``}`` turned into a
    newline); None when `text` is not such an array."""
    if len(text) < 3 or text[:2] != b"[{" or text[-1:] != b"]":
        return None
    buf = bytearray(text[1:])
    arr = np.frombuffer(buf, dtype=np.uint8)
    after = np.flatnonzero(arr == 0x7D) + 1
    if after.size == 0 or after[-1] != arr.size - 1:
        return None
    inner = after[:-1]
    if not ((arr[inner] == 0x2C).all() and (arr[inner + 1] == 0x7B).all()):
        return None
    arr[after] = 0x0A
    return bytes(buf)


def _rows_lines(rows: list[Any], kinds: str) -> bytes | None:
    """Output dicts that `rows_kinds` accepted, one per line, as orjson writes them; None
    for a lone surrogate (the batch route names the column)."""
    option = orjson.OPT_SERIALIZE_NUMPY
    try:
        if "s" not in kinds and not any("}" in k for k in rows[0]):
            # Numbers only: every "}" of the array's text ends a record, and the "," after
            # it (the final "]" after the last) becomes the line's end.
            text = orjson.dumps(rows, option=option)
            lines = _CREC.array_lines(text) if _CREC is not None else array_lines_pure(text)
            if lines is not None:
                return lines
        if "d" in kinds or "e" in kinds:
            return b"\n".join([orjson.dumps(r, option=option) for r in rows]) + b"\n"
        return b"\n".join(map(orjson.dumps, rows)) + b"\n"
    except orjson.JSONEncodeError:
        return None


def encode_response(batch: RecordBatch | Sequence[Mapping[str, Any]], *, allow_nan: bool = False) -> bytes:
    """Write a response batch, one prediction object per line (no envelope). `batch` may
    also be a list of per-record output dicts, written as `sm_payloads.formats.json.encode_response`
    writes them.

    >>> import numpy as np, sm_payloads as smp
    >>> encode_response(smp.RecordBatch(label={"score": np.array([0.02, 0.25], np.float32)}))
    b'{"score":0.02}\\n{"score":0.25}\\n'
    """
    if not isinstance(batch, RecordBatch):
        rows: Any = list(batch) if type(batch) is tuple else batch
        kinds = rows_kinds(rows) if type(rows) is list else None
        if kinds is not None:
            out = _rows_lines(rows, kinds)
            if out is not None:
                return out
        batch = rows_or_batch(batch, CONTENT_TYPE)
    elif isinstance(batch, RecordBatch):
        items = response_rows(batch, b"\n")
        if items is not None:
            return items + b"\n"
    return _join(response_objects(batch, allow_nan, CONTENT_TYPE))


@dataclass(frozen=True, slots=True)
class JsonLinesCodec(Codec):
    """The registry's codec for ``application/jsonlines`` (and ``application/x-jsonlines``).

    MIME parameters: ``charset`` must be UTF-8 when given; ``verbose`` belongs to the
    algorithm and is ignored here. Options as the module's functions take them.
    """

    content_type: ClassVar[str] = CONTENT_TYPE
    aliases: ClassVar[tuple[str, ...]] = ALIASES
    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)

    layout: Layout | None = None
    dtype: DtypeSpec = None
    allow_nan: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str], /, **options: Any) -> JsonLinesCodec:
        charset_ok(params, CONTENT_TYPE, (CONTENT_TYPE, *ALIASES))
        return cls._make(**options)

    def encode(self, data: RecordBatch, /) -> bytes:
        return encode(data, layout=self.layout, allow_nan=self.allow_nan)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(data, dtype=self.dtype, allow_nan=self.allow_nan)

    def encode_response(self, data: RecordBatch, /) -> bytes:
        return encode_response(data, allow_nan=self.allow_nan)

    def decode_response(self, data: Any, /) -> RecordBatch:
        return decode_response(data, dtype=self.dtype, allow_nan=self.allow_nan)

    def iter_decode(self, source: Any, /, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[RecordBatch]:
        return iter_decode(source, batch_size=batch_size, dtype=self.dtype, allow_nan=self.allow_nan)
