"""Object2Vec request and response payloads (docs/object2vec.md).

Requests: ``application/json`` ``{"instances": [{"in0": [...], "in1": [...]}, ...]}`` and
``application/jsonlines`` (alias ``application/x-jsonlines``), one instance object per line.
An instance with both inputs asks for a classification / regression score; one with only
``in0`` or only ``in1`` asks for that encoder's embedding.

Rule 1 (columns): ``in0`` / ``in1`` decode to ``features["in0"]`` / ``features["in1"]`` as
`smp.Ragged` int32 columns (schema-typed keys decode to their schema's type). A
record without an input is *visible*: its entry in the Ragged's ``valid`` mask is False
(``column[i] is None``), which is not the same as an empty list ``[]`` (valid, length 0).
When no record has an input, that column is absent from ``features``.
Rule 2 (strict tokens): a token id is a JSON integer in ``0..2147483647`` (int32, not
negative). ``1.5``, ``1.0``, ``"3"``, ``true``, ``null``, a nested list, a negative id or a
larger one is a `DecodeError` naming the record (``record_index``), the byte ``offset`` of
the offending value and, for JSON Lines, the ``line``. An instance must be a JSON object
with ``in0`` and/or ``in1`` and no other key; the JSON body must be ``{"instances": [...]}``
(a bare list is refused, as the algorithm answers it with HTTP 400).
Rule 3 (responses): `encode_response` / `decode_response` are those of
`sm_payloads.algorithms` for ``"object2vec"`` (``{"predictions": [{"scores": [...]}]}`` /
``{"embeddings": [...]}``, compact JSON Lines), so both agree byte for byte.
Rule 4 (media type): ``infer_max_seqlens=<enc0>,<enc1>`` on the request's Content-Type
(docs/object2vec.md; written unquoted with a comma, as AWS documents it, or quoted) is parsed
by `parse_content_type` into two ints in ``1..5000``; anything else is an
`UnsupportedMediaTypeError` (HTTP 415).
Rule 5 (memory): `iter_decode` reads JSON Lines in blocks of whole lines and holds at most
one block plus one batch of records.
"""

from __future__ import annotations

import functools
import json as _stdjson
import operator
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import orjson
from numpy.typing import NDArray

from .. import algorithms as _algorithms
from .. import registry
from .._buffers import as_bytes
from ..codec import DEFAULT_BATCH_SIZE, Capabilities, Codec
from ..errors import DecodeError, EncodeError, PayloadError, UnsupportedMediaTypeError
from ..formats._json_layout import describe, line_blocks
from ..mime import MediaType
from ..record import Ragged, RecordBatch

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "ALIASES",
    "CONTENT_TYPES",
    "INPUTS",
    "InstanceError",
    "JSON",
    "JSONLINES",
    "MAX_SEQLEN",
    "Object2VecJsonCodec",
    "Object2VecJsonLinesCodec",
    "RequestType",
    "decode",
    "decode_response",
    "encode",
    "encode_response",
    "iter_decode",
    "parse_content_type",
    "parse_infer_max_seqlens",
    "parse_preferred_mode",
]

JSON = "application/json"
JSONLINES = "application/jsonlines"
#: Other spellings of JSON Lines that are read as ``application/jsonlines``.
ALIASES = ("application/x-jsonlines",)
CONTENT_TYPES = (JSON, JSONLINES)
#: The two input names, in the order the algorithm numbers its encoders.
INPUTS = ("in0", "in1")
#: Bounds of ``infer_max_seqlens`` values (and of ``enc*_max_seq_len``).
MAX_SEQLEN = 5000
_INT32_MAX = 2**31 - 1
_BOM = b"\xef\xbb\xbf"
_BLOCK = 1 << 22
_MODES = ("classification", "embedding")

Source = bytes | bytearray | memoryview | str | IO[bytes]
PreferredMode = Literal["classification", "embedding"]


class InstanceError(PayloadError):
    """A well-formed request that a model cannot score: an empty token list, a token id
    outside the vocabulary, a mix of pair and single-input instances (HTTP 400).

    Attributes
    ----------
    reason : str
        The message without the position.
    record_index : int or None
        0-based index of the record at fault.
    input : str or None
        ``"in0"`` or ``"in1"``.
    position : int or None
        0-based index of the token in that input's list.
    """

    status_hint = 400

    def __init__(
        self,
        reason: str,
        *,
        record_index: int | None = None,
        input: str | None = None,
        position: int | None = None,
    ) -> None:
        self.reason = reason
        self.record_index = record_index
        self.input = input
        self.position = position
        where = "" if record_index is None else f" (record {record_index})"
        super().__init__(f"Object2Vec: {reason}{where}")

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_rebuild_instance_error, (self.reason, self.record_index, self.input, self.position))


def _rebuild_instance_error(
    reason: str, record_index: int | None, input: str | None, position: int | None
) -> InstanceError:
    return InstanceError(reason, record_index=record_index, input=input, position=position)


# ======================================================================================
# Media type and environment
# ======================================================================================


@dataclass(frozen=True)
class RequestType:
    """A parsed request Content-Type: the essence (``application/json`` or
    ``application/jsonlines``) and ``infer_max_seqlens`` (None when absent)."""

    essence: str
    infer_max_seqlens: tuple[int, int] | None = None


_SEQLENS_RE = re.compile(r";\s*infer_max_seqlens\s*=\s*(\"[^\"]*\"|[^;]*)", re.IGNORECASE)
_SEQLENS_VALUE_RE = re.compile(r"\s*(\d{1,9})\s*,\s*(\d{1,9})\s*")


def parse_infer_max_seqlens(value: str) -> tuple[int, int]:
    """``"<enc0>,<enc1>"`` as two ints in ``1..5000`` (ValueError otherwise).

    >>> parse_infer_max_seqlens("20, 10")
    (20, 10)
    """
    m = _SEQLENS_VALUE_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"infer_max_seqlens must be two integers <enc0>,<enc1>, got {value!r}")
    a, b = int(m.group(1)), int(m.group(2))
    for v in (a, b):
        if not 1 <= v <= MAX_SEQLEN:
            raise ValueError(f"infer_max_seqlens values must be in 1..{MAX_SEQLEN}, got {value!r}")
    return a, b


def parse_content_type(content_type: str) -> RequestType:
    """Parse an Object2Vec request Content-Type.

    ``infer_max_seqlens`` may be written as AWS documents it, unquoted with a comma
    (which a strict RFC 9110 parser would refuse), or quoted. ``charset`` must be UTF-8;
    other parameters are ignored.

    >>> parse_content_type("application/json; infer_max_seqlens=20,10")
    RequestType(essence='application/json', infer_max_seqlens=(20, 10))
    >>> parse_content_type("application/x-jsonlines").essence
    'application/jsonlines'
    """
    if not isinstance(content_type, str):
        raise UnsupportedMediaTypeError(repr(content_type), CONTENT_TYPES, "a media type must be a string")
    seqlens: tuple[int, int] | None = None
    found = list(_SEQLENS_RE.finditer(content_type))
    if len(found) > 1:
        raise UnsupportedMediaTypeError(
            content_type, CONTENT_TYPES, "parameter 'infer_max_seqlens' given twice"
        )
    rest = content_type
    if found:
        m = found[0]
        raw = m.group(1).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1]
        try:
            seqlens = parse_infer_max_seqlens(raw)
        except ValueError as e:
            raise UnsupportedMediaTypeError(content_type, CONTENT_TYPES, str(e)) from None
        rest = content_type[: m.start()] + content_type[m.end() :]
    try:
        media = MediaType.parse(rest)
    except UnsupportedMediaTypeError as e:
        raise UnsupportedMediaTypeError(content_type, CONTENT_TYPES, e.reason) from None
    essence = registry.ALIASES.get(media.essence, media.essence)
    if essence not in CONTENT_TYPES:
        raise UnsupportedMediaTypeError(
            content_type, CONTENT_TYPES, f"Object2Vec reads {JSON} and {JSONLINES}, not {media.essence}"
        )
    try:
        registry.get_codec(rest)  # the other parameters are the JSON codecs' (charset)
    except UnsupportedMediaTypeError as e:
        raise UnsupportedMediaTypeError(content_type, CONTENT_TYPES, e.reason) from None
    return RequestType(essence, seqlens)


def parse_preferred_mode(env: Mapping[str, str] | None = None) -> PreferredMode | None:
    """``INFERENCE_PREFERRED_MODE`` from `env` (``os.environ`` when None).

    ``classification`` keeps the classification / regression network on the GPU,
    ``embedding`` the encoder-embedding network (docs/object2vec.md, "Inference
    behaviour"). Absent or empty: None.
    The value is case-insensitive and surrounding whitespace is ignored; anything else is
    a ValueError.

    >>> parse_preferred_mode({"INFERENCE_PREFERRED_MODE": "classification"})
    'classification'
    >>> parse_preferred_mode({}) is None
    True
    """
    source: Mapping[str, str] = os.environ if env is None else env
    raw = source.get("INFERENCE_PREFERRED_MODE")
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(f"INFERENCE_PREFERRED_MODE must be a string, not {type(raw).__name__}")
    value = raw.strip().lower()
    if not value:
        return None
    if value == "classification":
        return "classification"
    if value == "embedding":
        return "embedding"
    raise ValueError(f"INFERENCE_PREFERRED_MODE must be 'classification' or 'embedding', got {raw!r}")


# ======================================================================================
# Positions (used only to report errors)
# ======================================================================================

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = _stdjson.JSONDecoder()
PathStep = str | int


def _ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return pos if m is None else m.end()


def _walk(text: str, path: Sequence[PathStep]) -> int | None:
    """Character index of the value at `path` in the JSON `text` (None when not found)."""
    try:
        pos = _ws(text, 0)
        for step in path:
            pos = _ws(text, pos)
            if isinstance(step, str):
                if text[pos] != "{":
                    return None
                pos = _ws(text, pos + 1)
                found: int | None = None
                if text[pos] == "}":
                    return None
                while True:
                    key, pos = _DECODER.raw_decode(text, pos)
                    pos = _ws(text, pos)
                    if text[pos] != ":":
                        return None
                    pos = _ws(text, pos + 1)
                    if key == step:
                        found = pos  # the last duplicate wins, as in the parser
                    _, pos = _DECODER.raw_decode(text, pos)
                    pos = _ws(text, pos)
                    if text[pos] != ",":
                        break
                    pos = _ws(text, pos + 1)
                if found is None:
                    return None
                pos = found
            else:
                if text[pos] != "[":
                    return None
                pos = _ws(text, pos + 1)
                for _ in range(step):
                    _, pos = _DECODER.raw_decode(text, pos)
                    pos = _ws(text, pos)
                    if text[pos] != ",":
                        return None
                    pos = _ws(text, pos + 1)
        return pos
    except (ValueError, IndexError, RecursionError, MemoryError):
        return None


def _token_at(text: str, pos: int) -> str:
    m = re.compile(r"-?[0-9][0-9.eE+-]*").match(text, pos)
    return "" if m is None else m.group(0)


@dataclass
class _Where:
    """Where a value is: text of the enclosing JSON value, its byte offset, its line."""

    text: bytes | bytearray
    offset: int
    line: int | None
    prefix: tuple[PathStep, ...]

    def locate(self, path: Sequence[PathStep]) -> tuple[int | None, str]:
        """(byte offset of the value at `path`, the number text there)."""
        try:
            s = bytes(self.text).decode("utf-8")
        except UnicodeDecodeError:
            return None, ""
        pos = _walk(s, (*self.prefix, *path))
        if pos is None:
            return None, ""
        nbytes = pos if s.isascii() else len(s[:pos].encode("utf-8"))
        return self.offset + nbytes, _token_at(s, pos)


# ======================================================================================
# Instances -> columns
# ======================================================================================


def _describe(v: Any) -> str:
    """As the JSON layer describes a value, but naming a string's text and a number's value."""
    if isinstance(v, str):
        return f"the string {v[:20]!r}"
    if v is None or isinstance(v, (bool, dict, list)):
        return describe(v)
    return repr(v)


def _bad_token(ct: str, index: int, key: str, j: int, v: Any, where: Callable[[int], _Where]) -> DecodeError:
    w = where(index)
    offset, text = w.locate((key, j))
    if type(v) is int:
        what = "is negative" if v < 0 else "is larger than int32 allows"
        reason = f"{key}[{j}]: token id {v} {what}; token ids are integers in 0..{_INT32_MAX}"
    elif type(v) is float and re.fullmatch(r"-?[0-9]+", text):
        reason = (
            f"{key}[{j}]: token id {text[:30]} is outside int32; token ids are integers in 0..{_INT32_MAX}"
        )
    else:
        reason = f"{key}[{j}]: {_describe(v)} is not a token id (an integer in 0..{_INT32_MAX})"
    return DecodeError(ct, reason, offset=offset, record_index=index, line=w.line)


def _first_bad(
    ct: str, rows: Sequence[Any], key: str, first_index: int, where: Callable[[int], _Where]
) -> tuple[int, DecodeError] | None:
    """The first record (and its error) whose `key` list holds something other than an
    int32 token id."""
    for i, row in enumerate(rows):
        if row is None:
            continue
        for j, v in enumerate(row):
            if type(v) is not int or not 0 <= v <= _INT32_MAX:
                return i, _bad_token(ct, first_index + i, key, j, v, where)
    return None


def _column(
    ct: str, rows: list[Any], key: str, first_index: int, where: Callable[[int], _Where]
) -> Ragged | DecodeError:
    """A Ragged int32 column of the token lists in `rows` (None: the record lacks the key),
    or the error of its first bad record."""
    n = len(rows)
    if None in rows:
        valid: NDArray[np.bool_] | None = np.fromiter((r is not None for r in rows), dtype=bool, count=n)
        present: list[Any] = [r if r is not None else () for r in rows]
    else:
        valid, present = None, rows
    lengths = np.fromiter(map(len, present), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = list(chain.from_iterable(present))
    values: np.ndarray[Any, np.dtype[np.int32]] | None = None
    if not flat:
        values = np.empty(0, dtype=np.int32)
    elif set(map(type, flat)) == {int}:
        try:
            wide = np.array(flat, dtype=np.int64)
        except OverflowError:
            wide = None
        if wide is not None and int(wide.min()) >= 0 and int(wide.max()) <= _INT32_MAX:
            values = wide.astype(np.int32)
    if values is None:
        bad = _first_bad(ct, rows, key, first_index, where)
        if bad is None:  # pragma: no cover - the checks above and here agree
            raise DecodeError(ct, f"bad token ids in {key}", record_index=first_index)
        return bad[1]
    return Ragged(values, offsets, valid)


def _batch(ct: str, objs: list[Any], first_index: int, where: Callable[[int], _Where]) -> RecordBatch:
    """The batch of the instance objects `objs` (record indexes from `first_index`)."""
    if set(map(type, objs)) <= {dict}:
        # every instance an object: check the keys with C-level passes first
        in0: list[Any] = list(map(_GET0, objs))
        in1: list[Any] = list(map(_GET1, objs))
        n0 = len(in0) - in0.count(None)
        n1 = len(in1) - in1.count(None)
        if (
            sum(map(len, objs)) == n0 + n1
            and 0 not in map(len, objs)
            and set(map(type, in0)) <= _LIST_OR_NONE
            and set(map(type, in1)) <= _LIST_OR_NONE
        ):
            return _columns(ct, in0, in1, n0, n1, first_index, where, len(objs))
    in0 = []
    in1 = []
    for i, obj in enumerate(objs):
        if type(obj) is not dict:
            w = where(first_index + i)
            offset, _ = w.locate(())
            raise DecodeError(
                ct,
                f'an instance must be an object {{"in0": [...], "in1": [...]}}, got {_describe(obj)}',
                offset=offset,
                record_index=first_index + i,
                line=w.line,
            )
        a = obj.get("in0")
        b = obj.get("in1")
        if len(obj) != (a is not None) + (b is not None) or not (
            (a is None or type(a) is list) and (b is None or type(b) is list)
        ):
            raise _instance_error(ct, obj, first_index + i, where)
        if a is None and b is None:
            w = where(first_index + i)
            raise DecodeError(
                ct,
                "an instance needs in0, in1 or both; this one has neither",
                offset=w.locate(())[0],
                record_index=first_index + i,
                line=w.line,
            )
        in0.append(a)
        in1.append(b)
    n0 = len(in0) - in0.count(None)
    n1 = len(in1) - in1.count(None)
    return _columns(ct, in0, in1, n0, n1, first_index, where, len(objs))


_GET0 = operator.methodcaller("get", "in0")
_GET1 = operator.methodcaller("get", "in1")
_LIST_OR_NONE = {list, type(None)}


def _columns(
    ct: str,
    in0: list[Any],
    in1: list[Any],
    n0: int,
    n1: int,
    first_index: int,
    where: Callable[[int], _Where],
    n: int,
) -> RecordBatch:
    columns: dict[str, Ragged] = {}
    errors: list[tuple[int, DecodeError]] = []
    for key, rows, count in (("in0", in0, n0), ("in1", in1, n1)):
        if not count:
            continue
        col = _column(ct, rows, key, first_index, where)
        if isinstance(col, DecodeError):
            errors.append((col.record_index if col.record_index is not None else first_index, col))
        else:
            columns[key] = col
    if errors:
        raise min(errors, key=lambda e: e[0])[1]  # the earliest record; in0 before in1
    return RecordBatch(features=columns, n=n)


def _instance_error(ct: str, obj: dict[str, Any], index: int, where: Callable[[int], _Where]) -> DecodeError:
    w = where(index)
    for key, v in obj.items():
        if key not in INPUTS:
            offset, _ = w.locate((key,))
            return DecodeError(
                ct,
                f"unexpected key {key!r} in an instance; Object2Vec instances hold in0 and/or in1",
                offset=offset,
                record_index=index,
                line=w.line,
            )
        if type(v) is not list:
            offset, _ = w.locate((key,))
            hint = " (leave the key out instead)" if v is None else ""
            return DecodeError(
                ct,
                f"{key} must be a list of token ids, got {_describe(v)}{hint}",
                offset=offset,
                record_index=index,
                line=w.line,
            )
    return DecodeError(ct, "malformed instance", record_index=index, line=w.line)  # pragma: no cover


# ======================================================================================
# Bytes in
# ======================================================================================


def _loads(ct: str, buf: bytes | bytearray, base: int, line: int | None, index: int | None) -> Any:
    """orjson.loads(buf) or a DecodeError at the byte where it failed."""
    try:
        return orjson.loads(buf)
    except orjson.JSONDecodeError as e:
        pos = int(e.pos)
        msg = str(e.msg)
    except (MemoryError, RecursionError):
        raise DecodeError(
            ct, "input too large or nested too deeply", offset=base, record_index=index, line=line
        ) from None
    try:
        text = bytes(buf).decode("utf-8")
    except UnicodeDecodeError as u:
        raise DecodeError(
            ct, f"invalid UTF-8 ({u.reason})", offset=base + u.start, record_index=index, line=line
        ) from None
    at = base + len(text[:pos].encode("utf-8"))
    if line is None:
        line = text.count("\n", 0, pos) + 1
    raise DecodeError(ct, f"invalid JSON: {msg}", offset=at, record_index=index, line=line)


def _decode_json(buf: bytes | bytearray) -> RecordBatch:
    ct = JSON
    start = 3 if buf[:3] == _BOM else 0
    body = buf[start:] if start else buf
    if not body.strip():
        raise DecodeError(ct, 'empty body: expected {"instances": [...]}', offset=0)
    doc = _loads(ct, body, start, None, None)
    if type(doc) is not dict or "instances" not in doc:
        got = (
            "a list"
            if type(doc) is list
            else ("an object without 'instances'" if type(doc) is dict else _describe(doc))
        )
        raise DecodeError(ct, f'expected {{"instances": [...]}}, got {got}', offset=start)
    if len(doc) != 1:
        extra = next(k for k in doc if k != "instances")
        raise DecodeError(
            ct, f"unexpected top-level key {extra!r}; Object2Vec requests hold only 'instances'", offset=start
        )
    objs = doc["instances"]
    if type(objs) is not list:
        raise DecodeError(ct, f"'instances' must be a list, got {_describe(objs)}", offset=start)

    def where(i: int) -> _Where:
        return _Where(body, start, None, ("instances", i))

    return _batch(ct, objs, 0, where)


def _parse_lines(block: bytes | bytearray, base: int, first_line: int, first_index: int) -> list[Any]:
    """Parse every non-blank line of `block` on its own (exact error positions)."""
    objs: list[Any] = []
    pos = 0
    parts: list[bytes] = block.split(b"\n")  # type: ignore[assignment]  # bytearray parts work alike
    for k, raw in enumerate(parts):
        here = pos
        pos += len(raw) + 1
        s = raw.strip(b" \t\r")
        if not s:
            continue
        lead = here + (len(raw) - len(raw.lstrip(b" \t\r")))
        objs.append(_loads(JSONLINES, s, base + lead, first_line + k, first_index + len(objs)))
    return objs


@dataclass(eq=False)
class _Segment:
    """One block of whole lines and where it sits in the input; positions of its records
    are computed only when an error needs them."""

    block: bytes | bytearray
    base: int
    first_line: int
    first_index: int
    fast: bool

    def position(self, index: int) -> _Where:
        j = index - self.first_index
        pos = 0
        seen = -1
        parts: list[bytes] = self.block.split(b"\n")  # type: ignore[assignment]  # bytearray alike
        for k, raw in enumerate(parts):
            here = pos
            pos += len(raw) + 1
            s = raw.strip(b" \t\r")
            if not s:
                continue
            seen += 1
            if seen == j:
                lead = here + (len(raw) - len(raw.lstrip(b" \t\r")))
                return _Where(s, self.base + lead, self.first_line + k, ())
        return _Where(b"", self.base, None, ())  # pragma: no cover - j is always in range


class _Lines:
    """Instance objects parsed from JSON Lines blocks, each with its block (`_Segment`).

    A block whose lines are all non-blank is parsed with one orjson call (its lines joined
    into one JSON array) when that gives one value per line; otherwise, and to report a
    syntax error exactly, line by line. Joined parsing can only differ from line-by-line
    parsing for lines that are not each one JSON value; such blocks never decode (see
    `batch`), so the result is the same."""

    def __init__(self) -> None:
        self.objs: list[Any] = []
        self.seg_of: list[_Segment] = []

    def __len__(self) -> int:
        return len(self.objs)

    def add_block(self, block: bytes | bytearray, base: int, first_line: int, first_index: int) -> None:
        # the non-blank lines only (blank lines are no records; a list entry each would
        # cost 8 bytes per byte of a body of newlines)
        parts = [p for p in block.split(b"\n") if p.strip(b" \t\r")]
        objs: list[Any] | None = None
        fast = False
        if parts:
            try:
                got = orjson.loads(b"[" + b",".join(parts) + b"]")
            except (orjson.JSONDecodeError, MemoryError, RecursionError):
                got = None
            if type(got) is list and len(got) == len(parts):
                objs, fast = got, True
        if objs is None:
            objs = _parse_lines(block, base, first_line, first_index)
        seg = _Segment(block, base, first_line, first_index, fast)
        self.objs += objs
        self.seg_of += [seg] * len(objs)

    def cut(self, n: int) -> _Lines:
        head = _Lines()
        head.objs, self.objs = self.objs[:n], self.objs[n:]
        head.seg_of, self.seg_of = self.seg_of[:n], self.seg_of[n:]
        return head

    def batch(self, first_index: int) -> RecordBatch:
        def where(i: int) -> _Where:
            return self.seg_of[i - first_index].position(i)

        try:
            return _batch(JSONLINES, self.objs, first_index, where)
        except DecodeError:
            # a block parsed whole whose lines are not one JSON value each: report that
            for seg in dict.fromkeys(s for s in self.seg_of if s.fast):
                _parse_lines(seg.block, seg.base, seg.first_line, seg.first_index)
            raise


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


@functools.lru_cache(maxsize=64)
def _cached_essence(content_type: str) -> str:
    return parse_content_type(content_type).essence


def _essence(content_type: str) -> str:
    """The content type `parse_content_type` reads in `content_type` (cached: a server sees
    the same few)."""
    if not isinstance(content_type, str):
        parse_content_type(content_type)  # refuses it
    return _cached_essence(content_type)


def _decode_lines(buf: bytes | bytearray) -> RecordBatch:
    lines = _Lines()
    for block, base, first_line in line_blocks(buf, _BLOCK):
        lines.add_block(block, base, first_line, len(lines))
    return lines.batch(0)


def _iter_json(source: Source, batch_size: int, block_size: int) -> Iterator[RecordBatch]:
    """A JSON request is decoded whole, then sliced (`block_size` does not apply)."""
    data = source.read() if hasattr(source, "read") and not isinstance(source, (bytes, bytearray)) else source
    whole = _decode_json(as_bytes(data, text=True))
    for start in range(0, len(whole), batch_size):
        yield whole.slice(start, min(start + batch_size, len(whole)))


def _iter_lines(source: Source, batch_size: int, block_size: int) -> Iterator[RecordBatch]:
    """JSON Lines are read in blocks of whole lines, one batch at a time."""
    pending = _Lines()
    done = 0
    for block, base, first_line in line_blocks(source, block_size):
        pending.add_block(block, base, first_line, done + len(pending))
        while len(pending) >= batch_size:
            head = pending.cut(batch_size)
            yield head.batch(done)
            done += batch_size
    if len(pending):
        yield pending.batch(done)


def _write_json(objs: list[dict[str, list[int]]]) -> bytes:
    return orjson.dumps({"instances": objs})


def _write_lines(objs: list[dict[str, list[int]]]) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


@dataclass(frozen=True)
class _Format:
    """How one media type carries Object2Vec requests: read whole, read in batches, and
    written (compact) from the instance objects. The media type's parameters are its
    registry codec's (`parse_content_type`); the grammar is Object2Vec's own (strict
    token ids with exact positions), which the generic JSON codecs do not check."""

    decode: Callable[[bytes | bytearray], RecordBatch]
    iter_decode: Callable[[Source, int, int], Iterator[RecordBatch]]
    write: Callable[[list[dict[str, list[int]]]], bytes]


#: The request formats by content type.
_FORMATS: Mapping[str, _Format] = MappingProxyType(
    {
        JSON: _Format(_decode_json, _iter_json, _write_json),
        JSONLINES: _Format(_decode_lines, _iter_lines, _write_lines),
    }
)


def decode(data: bytes | bytearray | memoryview | str, content_type: str = JSON) -> RecordBatch:
    """Decode an Object2Vec request into ``features["in0"]`` / ``features["in1"]``.

    Parameters
    ----------
    data : bytes-like or str
        The request body.
    content_type : str
        ``application/json`` (default) or ``application/jsonlines``, with parameters
        (``infer_max_seqlens`` is validated here; read it with `parse_content_type`).

    Raises
    ------
    DecodeError
        Not JSON, not the Object2Vec grammar, or a bad token id (`record_index`,
        `offset` and, for JSON Lines, `line` say where).
    UnsupportedMediaTypeError
        Another media type, or a bad parameter.

    >>> b = decode(b'{"instances": [{"in0": [774, 14, 21, 206], "in1": [21, 366, 125]}, {"in1": [7]}]}')
    >>> b.features["in0"].to_lists(), b.features["in1"].to_lists()
    ([[774, 14, 21, 206], None], [[21, 366, 125], [7]])
    """
    essence = _essence(content_type)
    return _FORMATS[essence].decode(as_bytes(data, text=True))


def iter_decode(
    source: Source, content_type: str = JSONLINES, *, batch_size: int = 10_000, block_size: int = _BLOCK
) -> Iterator[RecordBatch]:
    """Decode a JSON Lines request (bytes-like or binary stream) in batches of
    `batch_size` records; memory holds one block of lines (`block_size` bytes, or one
    longer line) plus one batch. Concatenated, the batches equal `decode`. Errors carry
    the position in the whole input. ``application/json`` is decoded whole, then sliced.
    """
    _check_batch_size(batch_size)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    essence = _essence(content_type)
    yield from _FORMATS[essence].iter_decode(source, batch_size, block_size)


# ======================================================================================
# Bytes out
# ======================================================================================


def _spaced(body: bytes) -> bytes:
    """Python ``json``'s separators in a compact body whose only strings are in0 / in1."""
    return body.replace(b",", b", ").replace(b":", b": ")


def _rows(col: Any, key: str, n: int, ct: str) -> list[list[int] | None]:
    cname = f"features[{key!r}]"
    if isinstance(col, Ragged):
        values, offsets, valid = col.values, col.offsets, col.valid
    elif isinstance(col, np.ndarray) and col.ndim == 2:
        values = col.reshape(-1)
        offsets = np.arange(n + 1, dtype=np.int64) * col.shape[1]
        valid = None
    else:
        raise EncodeError(
            ct,
            "token ids must be a Ragged column or an (N, k) array of integers",
            column=cname,
            status_hint=400,
        )
    if values.dtype.kind not in "iu":
        raise EncodeError(
            ct, f"token ids must be integers, got dtype {values.dtype}", column=cname, status_hint=400
        )
    if values.size and (values.min() < 0 or values.max() > _INT32_MAX):
        bad = int(np.flatnonzero((values < 0) | (values > _INT32_MAX))[0])
        rec = int(np.searchsorted(offsets, bad, side="right") - 1)
        raise EncodeError(
            ct,
            f"token id {values[bad].item()} (record {rec}) is outside 0..{_INT32_MAX}",
            column=cname,
            status_hint=400,
        )
    flat = values.tolist()
    bounds = offsets.tolist()
    rows: list[list[int] | None] = [flat[bounds[i] : bounds[i + 1]] for i in range(n)]
    if valid is not None:
        for i in np.flatnonzero(~valid).tolist():
            rows[i] = None
    return rows


def _instances(data: RecordBatch | Sequence[Mapping[str, Any]], ct: str) -> list[dict[str, list[int]]]:
    if not isinstance(data, RecordBatch):
        if isinstance(data, (str, bytes)) or not isinstance(data, Sequence):
            raise TypeError(f"expected a RecordBatch or a list of instance dicts, not {type(data).__name__}")
        cols: dict[str, Any] = {}
        for key in INPUTS:
            rows = [d.get(key) if isinstance(d, Mapping) else None for d in data]
            if any(r is not None for r in rows):
                cols[key] = Ragged.from_lists(rows, dtype=np.int64)
        for i, d in enumerate(data):
            if not isinstance(d, Mapping) or set(d) - set(INPUTS):
                raise EncodeError(ct, f"instance {i} must be a mapping with in0 and/or in1", status_hint=400)
        data = RecordBatch(features=cols, n=len(data))
    batch = data
    if batch.label:
        raise EncodeError(
            ct,
            "Object2Vec requests carry no label",
            column=f"label[{next(iter(batch.label))!r}]",
            status_hint=400,
        )
    for key in batch.features:
        if key not in INPUTS:
            raise EncodeError(
                ct, "Object2Vec requests hold only in0 and in1", column=f"features[{key!r}]", status_hint=400
            )
    n = len(batch)
    in0 = _rows(batch.features["in0"], "in0", n, ct) if "in0" in batch.features else [None] * n
    in1 = _rows(batch.features["in1"], "in1", n, ct) if "in1" in batch.features else [None] * n
    out: list[dict[str, list[int]]] = []
    for i, (a, b) in enumerate(zip(in0, in1, strict=True)):
        obj: dict[str, list[int]] = {}
        if a is not None:
            obj["in0"] = a
        if b is not None:
            obj["in1"] = b
        if not obj:
            raise EncodeError(ct, f"record {i} has neither in0 nor in1", status_hint=400)
        out.append(obj)
    return out


def encode(
    data: RecordBatch | Sequence[Mapping[str, Any]], content_type: str = JSON, *, compact: bool = False
) -> bytes:
    """Write an Object2Vec request.

    `data` is a batch with ``features["in0"]`` and/or ``features["in1"]`` (Ragged or
    ``(N, k)`` integer columns; a record whose Ragged ``valid`` entry is False has no such
    input) or a list of instance dicts. The bytes are those of Python's ``json.dumps``
    (what the SageMaker SDK's ``JSONSerializer`` sends) unless `compact`; JSON Lines ends
    every line with a newline. ``infer_max_seqlens`` in `content_type` is validated but
    not written anywhere (it travels in the Content-Type header).

    >>> encode([{"in0": [774, 14], "in1": [21]}, {"in1": [7]}])
    b'{"instances": [{"in0": [774, 14], "in1": [21]}, {"in1": [7]}]}'
    >>> encode([{"in0": [774, 14], "in1": [21]}], "application/jsonlines", compact=True)
    b'{"in0":[774,14],"in1":[21]}\\n'
    """
    essence = _essence(content_type)
    body = _FORMATS[essence].write(_instances(data, essence))
    return body if compact else _spaced(body)


def encode_response(data: Any, accept: str, **options: Any) -> bytes:
    """`sm_payloads.algorithms.encode_response` for Object2Vec: ``label["scores"]``
    ``(N, num_classes | 1)`` or ``label["embeddings"]`` ``(N, dim)``.

    >>> import numpy as np
    >>> s = np.array([[0.6533935070037842, 0.07582679390907288, 0.2707797586917877]], np.float32)
    >>> encode_response(RecordBatch(label={"scores": s}), "application/json")
    b'{"predictions": [{"scores": [0.6533935070037842, 0.07582679390907288, 0.2707797586917877]}]}'
    """
    return _algorithms.encode_response(data, accept, "object2vec", **options)


def decode_response(
    body: bytes | bytearray | memoryview | str, content_type: str, **options: Any
) -> RecordBatch:
    """`sm_payloads.algorithms.decode_response` for Object2Vec (float64 by default, as
    every text decoder; ``dtype="schema"`` gives float32)."""
    return _algorithms.decode_response(body, content_type, "object2vec", **options)


# ======================================================================================
# Codec objects (for the registry)
# ======================================================================================


@dataclass(frozen=True, slots=True)
class Object2VecJsonCodec(Codec):
    """Object2Vec over ``application/json`` (MIME parameters: ``infer_max_seqlens``,
    ``charset``). `infer_max_seqlens` holds the parsed parameter (None when absent);
    options: ``compact`` (encoding requests), ``dtype`` (decoding responses),
    ``allow_nan`` (responses)."""

    content_type: ClassVar[str] = JSON
    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True)

    infer_max_seqlens: tuple[int, int] | None = None
    compact: bool = False
    dtype: Any = None
    allow_nan: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str], /, **options: Any) -> Self:
        text = cls.content_type + "".join(
            f'; {k}="{v}"' for k, v in params.items() if '"' not in v and "\\" not in v
        )
        parsed = {"infer_max_seqlens": parse_content_type(text).infer_max_seqlens}
        return cls._make(**(parsed | options))

    def encode(self, data: RecordBatch, /) -> bytes:
        return encode(data, self.content_type, compact=self.compact)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(data, self.content_type)

    def encode_response(self, data: RecordBatch, /) -> bytes:
        return encode_response(data, self.content_type, allow_nan=self.allow_nan)

    def decode_response(self, data: Any, /) -> RecordBatch:
        return decode_response(data, self.content_type, dtype=self.dtype, allow_nan=self.allow_nan)

    def iter_decode(self, source: Any, /, *, batch_size: int = DEFAULT_BATCH_SIZE) -> Iterator[RecordBatch]:
        return iter_decode(source, self.content_type, batch_size=batch_size)


@dataclass(frozen=True, slots=True)
class Object2VecJsonLinesCodec(Object2VecJsonCodec):
    """Object2Vec over ``application/jsonlines`` (alias ``application/x-jsonlines``)."""

    content_type: ClassVar[str] = JSONLINES
    aliases: ClassVar[tuple[str, ...]] = ALIASES
