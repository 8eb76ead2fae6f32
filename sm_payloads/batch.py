"""Batch Transform: how SageMaker cuts an input object into requests and glues the answers.

A transform job reads each S3 object, *splits* it into records (``SplitType``), groups the
records into *mini-batches* (``BatchStrategy`` under ``MaxPayloadInMB``), sends each
mini-batch as one request body, and *assembles* the responses into ``<object>.out``
(``AssembleWith``). This module does the same with bytes, so a container or a local run can
see exactly the bodies a job would send (docs/batch-transform.md, "What SageMaker does").

Rule 1: splitting is lossless. ``Line`` records keep their line terminator (``\\n`` or
``\\r\\n``) and a last line without one is yielded as it is, so the records concatenated
give back the input; ``RecordIO`` records keep their framing (headers, every piece of a
dmlc multi-part record, padding), so any run of them is a valid RecordIO body.
Rule 2: a mini-batch never splits a record, never exceeds ``max_payload_mb * 2**20`` bytes
and keeps the records' order; a record over the limit is a `PayloadTooLargeError`.
``max_payload_mb=0`` means no limit (SageMaker streams such a request with HTTP chunked
encoding).
Rule 3: streams are read in bounded chunks: memory is bounded by the largest record (and,
for mini-batches, by the payload limit), never by the input.
Rule 4: bad RecordIO framing is a `DecodeError` with the byte offset and record index,
exactly as `sm_payloads.recordio` reports it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Literal, NamedTuple

from .errors import DecodeError, PayloadTooLargeError
from .mime import MediaType
from .recordio import CONTENT_TYPE as RECORDIO
from .recordio import MAGIC, MAX_RECORD_LENGTH, end_of_record, is_stream, iter_frames, read_some

__all__ = [
    "MB",
    "Recommendation",
    "assemble",
    "check",
    "mini_batches",
    "recommend",
    "split",
]

#: SageMaker counts ``MaxPayloadInMB`` in mebibytes.
MB = 1 << 20
#: The largest ``MaxPayloadInMB`` the CreateTransformJob API accepts.
MAX_PAYLOAD_MB = 100

SplitType = Literal["None", "Line", "RecordIO"]
BatchStrategy = Literal["SingleRecord", "MultiRecord", "SINGLE_RECORD", "MULTI_RECORD"]
AssembleWith = Literal["None", "Line"]

_SPLIT_TYPES = ("None", "Line", "RecordIO")
_STRATEGIES = {
    "SingleRecord": "SingleRecord",
    "MultiRecord": "MultiRecord",
    # The spelling of GET /execution-parameters and SAGEMAKER_BATCH_STRATEGY
    # (docs/batch-transform.md, "What SageMaker does").
    "SINGLE_RECORD": "SingleRecord",
    "MULTI_RECORD": "MultiRecord",
}
_ASSEMBLE_WITH = ("None", "Line")
_CHUNK = 1 << 16
_HEADER = struct.Struct("<II")

Buffer = bytes | bytearray | memoryview


# --------------------------------------------------------------------------------------
# Split
# --------------------------------------------------------------------------------------


def _reader(data: Buffer | IO[bytes]) -> Callable[[int], bytes]:
    """A ``read(n)`` for a stream (short reads allowed) or a buffer (windows of it)."""
    if is_stream(data):
        stream: IO[bytes] = data  # type: ignore[assignment]

        return lambda n: read_some(stream, n)
    view = memoryview(data).cast("B")  # type: ignore[arg-type]
    pos = 0

    def read_view(n: int) -> bytes:
        nonlocal pos
        chunk = bytes(view[pos : pos + n])
        pos += len(chunk)
        return chunk

    return read_view


def _read_full(read: Callable[[int], bytes], n: int) -> bytes:
    """Up to `n` bytes, fewer only at the end of the input; read in bounded chunks."""
    first = read(min(n, _CHUNK)) if n else b""
    if len(first) == n or not first:
        return first
    parts = [first]
    got = len(first)
    while got < n:
        chunk = read(min(_CHUNK, n - got))
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _split_lines_buffer(data: bytes | bytearray) -> Iterator[bytes]:
    find = data.find
    start = 0
    end = len(data)
    while start < end:
        nl = find(b"\n", start)
        if nl == -1:
            yield bytes(data[start:])
            return
        yield bytes(data[start : nl + 1])
        start = nl + 1


def _split_lines_chunked(read: Callable[[int], bytes]) -> Iterator[bytes]:
    buf = bytearray()
    scanned = 0  # bytes of buf already known to hold no newline
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            break
        buf += chunk
        start = 0
        nl = buf.find(b"\n", scanned)
        while nl != -1:
            yield bytes(buf[start : nl + 1])
            start = nl + 1
            nl = buf.find(b"\n", start)
        if start:
            del buf[:start]
        scanned = len(buf)
    if buf:
        yield bytes(buf)


def _split_recordio_buffer(data: Buffer) -> Iterator[bytes]:
    view = memoryview(data).cast("B")
    for f in iter_frames(view):
        yield bytes(view[f.offset : end_of_record(view, f.offset)])


def _frame_error(raw: bytes, offset: int, index: int) -> DecodeError:
    """The reader's own error for a record that `_split_recordio_chunked` stopped on."""
    try:
        for _ in iter_frames(raw, base_offset=offset, first_index=index):
            pass
    except DecodeError as e:
        return e
    return DecodeError(RECORDIO, "malformed record", offset=offset, record_index=index)  # pragma: no cover


def _split_recordio_chunked(read: Callable[[int], bytes]) -> Iterator[bytes]:
    offset = 0
    index = 0
    while True:
        head = _read_full(read, 8)
        if not head:
            return
        raw = bytearray(head)
        ok = len(head) == 8
        first = True
        while ok:
            magic, lrec = _HEADER.unpack_from(raw, len(raw) - 8)
            cflag, length = lrec >> 29, lrec & MAX_RECORD_LENGTH
            # The strict reader checks a first frame's length before its cflag, and a
            # later piece's cflag before its length: read what it would read first.
            if magic != MAGIC or (not first and cflag not in (2, 3)):
                ok = False
                break
            want = length + (-length & 3)
            body = _read_full(read, want)
            raw += body
            if len(body) < want or (first and cflag not in (0, 1)):
                ok = False
                break
            if cflag in (0, 3):
                break
            first = False
            head = _read_full(read, 8)
            raw += head
            ok = len(head) == 8
        if not ok:
            # Let the strict reader name the problem, its byte and its record.
            raise _frame_error(bytes(raw), offset, index)
        yield bytes(raw)
        offset += len(raw)
        index += 1


def split(data: Buffer | IO[bytes], split_type: SplitType) -> Iterator[bytes]:
    """Yield the records SageMaker cuts an input object into for ``SplitType``.

    Parameters
    ----------
    data : bytes-like or binary stream
        One input object. A stream is read in bounded chunks (short reads are fine), so
        memory is bounded by the largest record, not the input (except ``"None"``, whose
        one record is the whole input).
    split_type : {"None", "Line", "RecordIO"}
        ``"None"``: the whole input as one record (also when it is empty).
        ``"Line"``: every line *with* its terminator (``b"\\n"``; a ``b"\\r\\n"`` ending
        stays whole), a last line without newline as it is, blank lines as records of
        their own; only ``\\n`` ends a line.
        ``"RecordIO"``: every record *with* its framing: header, payload, padding, and all
        pieces of a dmlc multi-part record; the bytes are the input's own.

    Raises
    ------
    DecodeError
        ``"RecordIO"`` over bytes that are not RecordIO (offset and record index set).
    ValueError
        An unknown ``split_type`` (``"TFRecord"`` is not supported).

    Examples
    --------
    >>> list(split(b"1,2\\n3,4\\r\\n5,6", "Line"))
    [b'1,2\\n', b'3,4\\r\\n', b'5,6']
    """
    if split_type not in _SPLIT_TYPES:
        raise ValueError(f"split_type must be one of {', '.join(_SPLIT_TYPES)}, not {split_type!r}")
    return _split(data, split_type)


def _split(data: Buffer | IO[bytes], split_type: str) -> Iterator[bytes]:
    stream = is_stream(data)
    if split_type == "None":
        if stream:
            read = _reader(data)
            parts = []
            while chunk := read(MB):
                parts.append(chunk)
            yield b"".join(parts)
        else:
            yield bytes(data)  # type: ignore[arg-type]
    elif split_type == "Line":
        if isinstance(data, (bytes, bytearray)):
            yield from _split_lines_buffer(data)
        else:
            yield from _split_lines_chunked(_reader(data))
    elif stream:
        yield from _split_recordio_chunked(_reader(data))
    else:
        yield from _split_recordio_buffer(data)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------------------


def _check_recordio_record(record: bytes, index: int) -> None:
    """One whole framed record, nothing more (offsets in errors count from its start)."""
    if len(record) >= 8:
        magic, lrec = _HEADER.unpack_from(record, 0)
        length = lrec & MAX_RECORD_LENGTH
        if magic == MAGIC and lrec >> 29 == 0 and len(record) == 8 + length + (-length & 3):
            return  # the common case: one plain frame
    frames = iter_frames(record, first_index=index)
    first = next(frames, None)
    if first is None:
        raise DecodeError(RECORDIO, "empty record: expected one framed RecordIO record", record_index=index)
    second = next(frames, None)
    if second is not None:
        raise DecodeError(
            RECORDIO,
            "more than one RecordIO record in one item; pass one framed record per item",
            offset=second.offset,
            record_index=index,
        )


def _limit(max_payload_mb: int) -> int | None:
    if isinstance(max_payload_mb, bool) or not isinstance(max_payload_mb, int):
        raise ValueError(f"max_payload_mb must be an integer, not {max_payload_mb!r}")
    if not 0 <= max_payload_mb <= MAX_PAYLOAD_MB:
        raise ValueError(f"max_payload_mb must be between 0 and {MAX_PAYLOAD_MB}, not {max_payload_mb}")
    return max_payload_mb * MB if max_payload_mb else None


def mini_batches(
    records: Iterable[Buffer],
    strategy: BatchStrategy,
    max_payload_mb: int = 6,
    split_type: str = "Line",
    *,
    max_payload_bytes: int | None = None,
) -> Iterator[bytes]:
    """Group records into request bodies as ``BatchStrategy`` and ``MaxPayloadInMB`` do.

    Parameters
    ----------
    records : iterable of bytes-like
        Records as `split` yields them (``RecordIO`` records framed, ``Line`` records with
        their newline).
    strategy : {"SingleRecord", "MultiRecord"}
        One record per body, or as many consecutive records as fit. The
        execution-parameters spellings ``"SINGLE_RECORD"``/``"MULTI_RECORD"`` are accepted.
    max_payload_mb : int
        The limit in MiB (1 MB = 2**20 bytes), 0 to 100; a body of exactly the limit fits.
        0 means no limit: ``MultiRecord`` then puts every record in one body.
    split_type : {"Line", "RecordIO", "None"}
        How the records are joined. ``"Line"``: a record without a final newline that is
        followed by another in the same body gets ``b"\\n"`` after it (counted in the
        size), so every body is whole lines. ``"RecordIO"``: framed records are
        concatenated; each must be exactly one framed record. ``"None"``: every record is
        a whole input object and SageMaker never merges objects, so each is its own body
        whatever the strategy.
    max_payload_bytes : int, optional
        A limit in bytes that replaces `max_payload_mb` (``>= 1``), for limits that are not
        whole MiB (a serving container's own limit, tests).

    Raises
    ------
    PayloadTooLargeError
        A record alone is over the limit: ``what`` is ``"record <index>"`` (0-based), so
        the message reads ``record 3 of 7340033 bytes exceeds the limit of 6291456 bytes``.
        Raised when that record is reached; the bodies before it have been yielded.
    DecodeError
        ``"RecordIO"`` and an item that is not exactly one framed record.
    ValueError
        An unknown strategy or split type, or ``max_payload_mb`` outside 0..100.

    Examples
    --------
    >>> list(mini_batches([b"a\\n", b"b\\n", b"c"], "MultiRecord"))
    [b'a\\nb\\nc']
    >>> list(mini_batches([b"a\\n", b"b\\n", b"c"], "SingleRecord"))
    [b'a\\n', b'b\\n', b'c']
    """
    try:
        strategy_name = _STRATEGIES[strategy]
    except (KeyError, TypeError):
        raise ValueError(f"strategy must be SingleRecord or MultiRecord, not {strategy!r}") from None
    if split_type not in _SPLIT_TYPES:
        raise ValueError(f"split_type must be one of {', '.join(_SPLIT_TYPES)}, not {split_type!r}")
    limit = _limit(max_payload_mb)
    if max_payload_bytes is not None:
        if (
            isinstance(max_payload_bytes, bool)
            or not isinstance(max_payload_bytes, int)
            or max_payload_bytes < 1
        ):
            raise ValueError(f"max_payload_bytes must be a positive integer, not {max_payload_bytes!r}")
        limit = max_payload_bytes
    single = strategy_name == "SingleRecord" or split_type == "None"
    return _mini_batches(records, single, limit, split_type)


def _mini_batches(
    records: Iterable[Buffer], single: bool, limit: int | None, split_type: str
) -> Iterator[bytes]:
    lines = split_type == "Line"
    recordio = split_type == "RecordIO"
    parts: list[bytes] = []
    size = 0
    open_line = False  # the batch's last record lacks its newline
    for index, rec in enumerate(records):
        record = rec if isinstance(rec, bytes) else bytes(rec)
        n = len(record)
        if limit is not None and n > limit:
            raise PayloadTooLargeError(n, limit, f"record {index}")
        if recordio:
            _check_recordio_record(record, index)
        if single:
            yield record
            continue
        extra = 1 if open_line else 0
        if parts and limit is not None and size + extra + n > limit:
            yield b"".join(parts)
            parts = []
            size = 0
            extra = 0
        if extra:
            parts.append(b"\n")
        parts.append(record)
        size += extra + n
        open_line = lines and not record.endswith(b"\n")
    if parts:
        yield b"".join(parts)


# --------------------------------------------------------------------------------------
# Assemble
# --------------------------------------------------------------------------------------


def assemble(outputs: Iterable[Buffer], assemble_with: AssembleWith) -> bytes:
    """Join the responses of a job's mini-batches into the ``.out`` object.

    ``"None"`` concatenates them as they are. ``"Line"`` ends every output with exactly one
    newline: ``b"\\n"`` is added where the output does not already end with one (an empty
    output becomes ``b"\\n"``), so outputs never run together and no blank line is added.
    Order is kept.

    >>> assemble([b"1", b"2\\n", b""], "Line")
    b'1\\n2\\n\\n'
    >>> assemble([b"1", b"2\\n"], "None")
    b'12\\n'
    """
    if assemble_with not in _ASSEMBLE_WITH:
        raise ValueError(f"assemble_with must be None or Line, not {assemble_with!r}")
    if assemble_with == "None":
        return b"".join(outputs)
    parts: list[Buffer] = []
    for out in outputs:
        data = out if isinstance(out, (bytes, bytearray)) else memoryview(out).cast("B")
        parts.append(data)
        if not len(data) or data[-1] != 0x0A:
            parts.append(b"\n")
    return b"".join(parts)


# --------------------------------------------------------------------------------------
# Recommendations and checks
# --------------------------------------------------------------------------------------


class Recommendation(NamedTuple):
    """``(split_type, assemble_with)`` for a ContentType and an Accept."""

    split_type: str
    assemble_with: str


# The table of the Developer Guide page "Common Data Formats for Inference" (docs/batch-transform.md,
# "Recommendations") plus the types the table leaves out (marked).
_SPLIT_FOR = {
    "application/x-recordio-protobuf": "RecordIO",
    "text/csv": "Line",
    "application/jsonlines": "Line",
    "application/json": "None",
    "application/x-image": "None",
    # Not in the table: our reading of the formats.
    "application/x-recordio": "RecordIO",  # the same framing, other payloads
    "text/libsvm": "Line",  # one record per line
    "application/x-npy": "None",  # one array: no record boundaries to cut at
}
_ASSEMBLE_FOR = {
    "application/x-recordio-protobuf": "None",
    "application/json": "None",
    "application/jsonlines": "Line",
    # Not in the table: k-means and Autopilot CSV outputs use Line in practice
    # (docs/batch-transform.md, "Recommendations").
    "text/csv": "Line",
    "text/libsvm": "Line",
    "application/x-recordio": "None",
    "application/x-npy": "None",
}
_LINE_TYPES = frozenset({"text/csv", "application/jsonlines", "text/libsvm"})
_BINARY_TYPES = frozenset({"application/x-recordio-protobuf", "application/x-recordio", "application/x-npy"})
_RECORDIO_TYPES = frozenset({"application/x-recordio-protobuf", "application/x-recordio"})


def _essence(media_type: str) -> str:
    return MediaType.parse(media_type).essence


def _is_image(essence: str) -> bool:
    return essence.startswith("image/") or essence == "application/x-image"


def recommend(content_type: str, accept: str) -> Recommendation:
    """The ``SplitType`` for `content_type` and the ``AssembleWith`` for `accept`.

    From SageMaker's table (docs/batch-transform.md, "Recommendations"); types the table leaves out
    follow the format (line formats ``Line``, RecordIO ``RecordIO``/``None``, ``application/x-npy`` ``None``);
    anything else gets SageMaker's defaults, ``("None", "None")``. MIME parameters are
    ignored.

    >>> recommend("text/csv; label_size=0", "application/jsonlines")
    Recommendation(split_type='Line', assemble_with='Line')
    >>> recommend("image/jpeg", "application/json")
    Recommendation(split_type='None', assemble_with='None')
    """
    ct = _essence(content_type)
    ac = _essence(accept)
    split_type = "None" if _is_image(ct) else _SPLIT_FOR.get(ct, "None")
    return Recommendation(split_type, _ASSEMBLE_FOR.get(ac, "None"))


def check(
    content_type: str,
    split_type: str = "None",
    accept: str | None = None,
    assemble_with: str = "None",
    *,
    batch_strategy: str | None = None,
    sample_output: Buffer | None = None,
    strict: bool = False,
) -> list[str]:
    """Warnings for a transform job's settings that corrupt or lose data.

    Each warning is one sentence naming the settings and what goes wrong. An empty list
    means no problem is known. Values the CreateTransformJob API itself rejects (an unknown
    SplitType, BatchStrategy or AssembleWith) raise `ValueError`; a malformed media type
    raises `UnsupportedMediaTypeError`.

    Parameters
    ----------
    content_type, split_type : str
        ``TransformInput.ContentType`` and ``SplitType`` (``"TFRecord"`` is accepted here).
    accept, assemble_with : str
        ``TransformOutput.Accept`` (None: unknown, no output checks) and ``AssembleWith``.
    batch_strategy : str, optional
        ``BatchStrategy`` as given to the job (None: not given).
    sample_output : bytes-like, optional
        One response of the container: lets the JSON-with-``Line`` check be definite.
    strict : bool
        Raise `ValueError` with all the warnings instead of returning them.

    >>> check("application/x-recordio-protobuf", "Line")  # doctest: +NORMALIZE_WHITESPACE
    ['SplitType=Line over application/x-recordio-protobuf cuts binary records at every 0x0A byte;
      use SplitType=RecordIO']
    >>> check("text/csv", "Line", "text/csv", "Line", batch_strategy="MultiRecord")
    []
    """
    if split_type not in (*_SPLIT_TYPES, "TFRecord"):
        raise ValueError(f"SplitType must be None, Line, RecordIO or TFRecord, not {split_type!r}")
    if assemble_with not in _ASSEMBLE_WITH:
        raise ValueError(f"AssembleWith must be None or Line, not {assemble_with!r}")
    if batch_strategy is not None and batch_strategy not in _STRATEGIES:
        raise ValueError(f"BatchStrategy must be SingleRecord or MultiRecord, not {batch_strategy!r}")
    ct = _essence(content_type)
    warnings: list[str] = []
    known_input = ct in _SPLIT_FOR or _is_image(ct)
    binary_input = ct in _BINARY_TYPES or _is_image(ct)

    if split_type == "Line":
        if binary_input:
            fix = "RecordIO" if ct in _RECORDIO_TYPES else "None"
            warnings.append(
                f"SplitType=Line over {ct} cuts binary records at every 0x0A byte; use SplitType={fix}"
            )
        elif ct == "application/json":
            warnings.append(
                "SplitType=Line over application/json cuts a JSON document into lines that are "
                "not JSON; use SplitType=None, or send application/jsonlines"
            )
    elif split_type == "RecordIO":
        if known_input and ct not in _RECORDIO_TYPES:
            fix = _SPLIT_FOR.get(ct, "None")
            warnings.append(f"SplitType=RecordIO over {ct}: the input is not RecordIO; use SplitType={fix}")
    elif split_type == "TFRecord":
        if known_input:
            fix = "None" if _is_image(ct) else _SPLIT_FOR[ct]
            warnings.append(f"SplitType=TFRecord over {ct}: the input is not TFRecord; use SplitType={fix}")
    elif batch_strategy is not None:
        warnings.append(
            f"BatchStrategy={batch_strategy} has no effect with SplitType=None: "
            "each input object is one request"
        )

    if accept is not None:
        ac = _essence(accept)
        split_on = split_type != "None"
        if assemble_with == "Line" and (ac in _BINARY_TYPES or _is_image(ac)):
            warnings.append(
                f"AssembleWith=Line with Accept {ac} inserts 0x0A bytes between binary outputs; "
                "use AssembleWith=None"
            )
        if assemble_with == "None" and ac in _LINE_TYPES and split_on:
            warnings.append(
                f"AssembleWith=None with Accept {ac} runs the last line of one response into the "
                "first of the next unless the container ends every response with a newline; "
                "use AssembleWith=Line"
            )
        if ac == "application/json" and split_on:
            if assemble_with == "Line":
                multi = sample_output is not None and b"\n" in bytes(sample_output).rstrip(b"\r\n")
                if multi:
                    warnings.append(
                        "AssembleWith=Line with Accept application/json and responses that span "
                        "several lines: the output is neither JSON nor JSON Lines; write each "
                        "response on one line or use Accept application/jsonlines"
                    )
                elif sample_output is None:
                    warnings.append(
                        "AssembleWith=Line with Accept application/json gives JSON Lines only if "
                        "every response is on one line; prefer Accept application/jsonlines"
                    )
            else:
                warnings.append(
                    "Accept application/json with splitting on: the output holds one JSON "
                    "document per mini-batch, concatenated, which is not one JSON document; "
                    "prefer Accept application/jsonlines with AssembleWith=Line"
                )
        if ac == "application/x-npy" and split_on:
            warnings.append(
                "Accept application/x-npy with splitting on: the output holds one .npy "
                "document per mini-batch, concatenated, which numpy reads only one at a time"
            )
    if strict and warnings:
        raise ValueError("; ".join(warnings))
    return warnings
