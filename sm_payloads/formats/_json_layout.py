"""The JSON layer shared by ``application/json`` and ``application/jsonlines``.

`sm_payloads.formats.json` and `sm_payloads.formats.jsonlines` import what they share from
here and never import each other. This module holds the record <-> JSON-document layout
(reading instances and response items into columns, writing records as JSON objects), the
parsing and number helpers, and the fast scanner of uniform bodies.

Rule 1 (names): the JSON name ``features`` is the protobuf map key ``values``, both as the
dense shorthand ``{"features": [...]}`` and inside ``{"data": {"features": {...}}}``; every
other name passes through (``data.foo`` and a top-level ``foo`` are ``features["foo"]``,
``label.foo`` is ``label["foo"]``). The `RESERVED` keys of an instance have a meaning of
their own. A response item (`response_record`) maps every key to ``label``.
Rule 2 (values): a number is a scalar, a list a vector, nested lists a matrix, a string or
a list of strings a strings entry, and an object with ``values`` / ``keys`` / ``shape`` a
protobuf-equivalent tensor (sparse when ``keys`` is non-empty). Numbers decode to float64
unless the caller passes ``dtype=`` (`batch_from_groups`); conversions are exact or a
`DecodeError`.
Rule 3 (writing): `instance_objects` writes each record in one `Layout`: ``dense`` (the
shorthand, sparse columns densified), ``sparse`` (``{"keys", "shape", "values"}`` objects
for every numeric column) or ``protobuf`` (tensor objects as RecordIO-protobuf holds them,
sparse columns with keys and shape); `response_objects` writes one item per record, one key
per column. numpy values are written by orjson (`dumps`), which prints float32 and float64
with the shortest text that reads back the same, int32 as integers. NaN and infinities are
an `EncodeError` naming the column unless ``allow_nan=True`` (then ``NaN`` / ``Infinity`` /
``-Infinity``, Python's ``json`` spelling, which `loads` accepts only under the same option).
Rule 4 (errors): the grammar raises `BadValue` (a value that does not fit, with its JSON
path) and `loads` raises `SyntaxProblem` (bytes that are not JSON: reason, byte offset,
line); both are plain ValueErrors that the format modules turn into a `DecodeError` with
the positions they know. `describe` names a JSON value in those messages. A UTF-8 byte
order mark at the start of a body is skipped (`skip_bom`); offsets count from the start of
the input, mark included.
Rule 5 (speed and memory): `request_group` reads a request (a document, or JSON Lines) whose
records all give one numeric column, in any record shape (a number list, a bare number,
nested lists of one shape, ``features`` or another name holding either, ``data.<name>``,
tensor objects dense or sparse with ``keys`` and ``shape`` in any order) without building
the document: the C kernel ``_cjson.records`` when it is built, else its twin
`request_records_pure` (orjson parses, numpy builds the arrays at once). Values go straight
to float64, or to float32 rounded once from the text when the column's dtype is float32;
sparse records to CSR parts; the column is the one the general path builds from the same
records (dense, ragged or sparse; a scalar record is one value of shape (), so scalars alone
make a vector and scalars among lists a ragged column). `scan` reads a body whose records
are all ``{"<name>": [numbers]}`` (responses): the C kernel ``_cjson.json_lists``, else its
twin, which joins the numbers of `WINDOW` bytes of records at a time into one flat JSON
array parsed by orjson. Both scanners give the same values as their twins, bit for bit, and
memory stays near the output arrays. Anything a scanner is unsure of returns None, and the
caller takes the general path (`loads`, the grammar, `batch_from_groups`), which decides
what is valid and reports exact errors.
`line_blocks` cuts a buffer or a stream into blocks of whole lines of about `WINDOW` bytes.
Rule 6 (imports): this module imports no format module; its underscore names are its own.
Rule 7 (responses, speed): `response_fast` reads a response whose records all hold the same
keys, each a number, a string or a list of numbers of one length, column by column (the C
kernel ``_cjsonrec.json_records``, else its twin `records_pure`, which parses with orjson
and builds each column with one numpy call): no Python object per record or per number.
It gives the batch the general path gives, or None and the general path runs.
`request_fast` reads requests so (the same kernel with the ``instances`` envelope): records
of several columns, strings columns and ``uid`` / ``metadata`` / ``configuration`` strings,
``features`` being the column ``values``; ``data`` and ``label`` objects decline.
Rule 8 (the general path, bounded): `batch_from_groups` builds the columns of records the
scanners decline `CHUNK` records at a time (`_ColumnBuilder`), so no Python object per
record outlives its chunk, and none per key either: the grammar's records reach the
builder with their bare numbers, number lists and bare strings marked in a `_Cells` map
(one float64 array of the record's numbers), and the builder logs every such value, and
every dense numeric tensor whose shape holds its values, in flat arrays for the whole map
(column, record, interned form, values); only the other tensors (sparse, lists of strings,
tensor objects without a shape) keep a `_KeyColumn` for their key. `finish` orders the log
by column: a column of one such form in every record is a view of the ordered values, a
column of numbers and number lists some records lack (or of several lengths) a `Ragged`
whose offsets and valid mask are rows of two tables made at once, a column of bare strings
an object array; any other is merged into a `_KeyColumn` and built as before. The result
and every `ColumnError` equal `columns_from_records` over all records at once; a dtype
converts the float64 columns in one pass (`_clean_conversions`). A float32
column with a value on a binary32 rounding boundary (a decimal, or an integer beyond 2**53,
whose float64 is one) is read again from the text (`loads_exact32`; JSON Lines rereads
just the lines of the batch, also in `iter_decode`), so float32 is rounded once on every
path; a scanner's float64 column with such a value declines (`response_fast`,
`fast_exact32`).
Rule 9 (positions): `path_offset` finds, in the text, the value a message's JSON path names
(or the key it calls unexpected, or the element it says was found), for the byte offset of
every `DecodeError`; it runs only when an error is raised.
Rule 10 (column errors): a body the column reader declines in a value the grammar reads (a
column's conflict) is read again in check mode (``_cjsonrec.json_records(check=True)``, or
its twin `records_check_pure`), which keeps only the form of each value (shape, number of
values, text / keyed / sparse, as `_ColumnBuilder._add` keys it), per key in record order.
When it reads every record, none has an error of its own, and `first_column_error` finds
the `ColumnError` `_ColumnBuilder._column` would raise first (`_column_problem`, the same
rules over the forms; keys in the order they first appear, features before label);
`column_errors` raises it with the general path's message, offset, line and record index.
A value the grammar refuses stops the check-mode reading, whose stop is then the record to
read first (`request_fast`'s hint). Where it is unsure (one column under two keys, the
cells budget, in JSON Lines a tensor object without a shape in a sparse column, whose form
the request scanner's blocks read otherwise) the general path decides.
"""

from __future__ import annotations

import ast
import io
import json as _stdjson
import math
import re
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, count, pairwise, repeat
from operator import itemgetter
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple, cast

import numpy as np
import orjson

from .. import _native
from .._buffers import advise_huge_pages, as_bytes
from ..columns import (
    LACKING_CELLS,
    ColumnError,
    cells_over,
    column_kind,
    lacking_budget,
    shape_problem,
    sparse_parts,
)
from ..errors import DecodeError, EncodeError, UnsupportedMediaTypeError
from ..limits import column_limit, columns_refused
from ..record import Ragged, RecordBatch, Sparse, Tensor
from ._textnum import _threads

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from .. import _sparse as sp

__all__ = [
    # the layout and its names
    "ENVELOPES",
    "RESERVED",
    "WINDOW",
    "DtypeSpec",
    "Layout",
    "Source",
    # errors inside the grammar
    "BadValue",
    "SyntaxProblem",
    "describe",
    # bytes -> Python values
    "charset_ok",
    "line_blocks",
    "loads",
    "loads_exact32",
    "fast_exact32",
    "path_offset",
    "record_offset",
    "replace_columns",
    "skip_bom",
    # JSON values -> records -> RecordBatch
    "FastGroup",
    "GeneralGroup",
    "Group",
    "Locator",
    "Rec",
    "batch_from_groups",
    "cell",
    "check_dtype_spec",
    "instance_record",
    "request_instances",
    "response_items",
    "response_record",
    "validate_groups",
    # the fast scanners
    "RequestScan",
    "request_group",
    "request_records_pure",
    "scan_request_records",
    "SCAN_BARE",
    "SCAN_ENVELOPE",
    "SCAN_INSTANCES",
    "SCAN_LINES",
    "ScanShape",
    "scan",
    # RecordBatch -> JSON values -> bytes
    "check_text",
    "configuration_value",
    "dumps",
    "instance_objects",
    "response_objects",
    # responses column by column (Rule 7)
    "join_rows_pure",
    "records_pure",
    "records_lazily",
    "one_member_list_error",
    "LazyRecords",
    "request_fast",
    "response_fast",
    "response_rows",
]

#: Top-level keys of JSON responses (docs/formats/json.md, "Responses"): PCA uses ``projections``,
#: Random Cut Forest ``scores``, every other built-in algorithm ``predictions``.
ENVELOPES = ("predictions", "projections", "scores")

#: The ways `instance_objects` writes a record (Rule 3).
Layout = Literal["dense", "sparse", "protobuf"]
#: A ``dtype=`` argument: one dtype for every column, or one per column name.
DtypeSpec = None | str | type | np.dtype[Any] | Mapping[str, Any]

#: Instance keys with a meaning of their own; any other key is a feature name.
RESERVED = frozenset({"features", "data", "label", "uid", "metadata", "configuration"})
_TENSOR_KEYS = frozenset({"values", "keys", "shape"})
_OPT_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_DTYPES = {np.dtype(np.float64), np.dtype(np.float32), np.dtype(np.int32)}
_BOM = b"\xef\xbb\xbf"
#: The optional C kernel for number lists (`scan`, ``_cjson.json_lists``); None: orjson parses them.
_C = _native.load("formats._cjson")
#: Bytes of a window of records the scanner parses at once (bounds its extra memory).
WINDOW = 1 << 22
#: Highest tensor rank a record may have (numpy allows 64 dimensions in all).
_MAX_RANK = 32
#: The widest sparse row scipy can index (int64 column indices).
_MAX_COLUMN_WIDTH = 2**63 - 1


# ======================================================================================
# Errors inside the grammar: plain ValueErrors, turned into DecodeError at the boundary
# ======================================================================================


class BadValue(ValueError):
    """A JSON value that does not fit the record grammar."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The record at fault within its group, set by `GeneralGroup.chunks`.
        self.index: int | None = None


class SyntaxProblem(ValueError):
    """Bytes that are not JSON: reason, byte offset (relative to the parsed text), line."""

    def __init__(self, reason: str, offset: int | None, line: int | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.line = line


def describe(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, str):
        return "a string"
    return type(v).__name__


# ======================================================================================
# Parsing bytes into Python values
# ======================================================================================


def _char_to_byte(buf: bytes | bytearray, start: int, end: int, char_pos: int) -> int:
    """Byte offset (from `start`) of character `char_pos` of ``buf[start:end]``."""
    seg = bytes(buf[start:end])
    if seg.isascii():
        return char_pos
    text = seg.decode("utf-8", "surrogateescape")
    return len(text[:char_pos].encode("utf-8", "surrogateescape"))


def _strict_float(s: str) -> float:
    v = float(s)
    if math.isinf(v):
        raise ValueError(f"number {s[:40]} is out of the float64 range")
    return v


def _nonfinite(s: str) -> float:
    return float({"NaN": "nan", "Infinity": "inf", "-Infinity": "-inf"}[s])


def loads(buf: bytes | bytearray, start: int, end: int, allow_nan: bool) -> Any:
    """Parse ``buf[start:end]`` as one JSON value; raises `SyntaxProblem`."""
    piece = buf if (start == 0 and end == len(buf)) else buf[start:end]
    try:
        return orjson.loads(piece)
    except orjson.JSONDecodeError as e:
        first = e
    except MemoryError:
        raise SyntaxProblem("input too large to parse in memory", None, None) from None
    at = start + _char_to_byte(buf, start, end, first.pos)
    token = bytes(buf[max(start, at - 1) : min(end, at + 9)])  # (the value's bytes only)
    nonfinite = any(t in token for t in (b"NaN", b"Infinity"))
    if allow_nan and nonfinite:
        return _loads_python(buf, start, end)
    msg = first.msg
    if "UTF-8" in msg:
        try:
            bytes(buf[start:end]).decode("utf-8")
        except UnicodeDecodeError as u:
            raise SyntaxProblem(f"invalid UTF-8 ({u.reason})", u.start, None) from None
    if nonfinite:
        msg += " (NaN and Infinity are not JSON; pass allow_nan=True to accept them)"
    raise SyntaxProblem(f"invalid JSON: {msg}", at - start, first.lineno)


def _loads_python(buf: bytes | bytearray, start: int, end: int) -> Any:
    """Python's json, which reads NaN / Infinity / -Infinity (and nothing else orjson rejects
    matters here): used only with ``allow_nan=True`` after orjson refused such a token."""
    try:
        text = bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError as e:
        raise SyntaxProblem(f"invalid UTF-8 ({e.reason})", e.start, None) from None
    try:
        return _stdjson.loads(text, parse_float=_strict_float, parse_constant=_nonfinite)
    except _stdjson.JSONDecodeError as e:
        raise SyntaxProblem(
            f"invalid JSON: {e.msg}", len(text[: e.pos].encode("utf-8", "surrogateescape")), e.lineno
        ) from None
    except RecursionError:
        raise SyntaxProblem("invalid JSON: nested too deeply", None, None) from None
    except MemoryError:
        raise SyntaxProblem("input too large to parse in memory", None, None) from None
    except ValueError as e:
        raise SyntaxProblem(f"invalid JSON: {e}", None, None) from None


# ======================================================================================
# The record grammar: JSON values -> Tensor
# ======================================================================================


class Rec(NamedTuple):
    """One parsed record: its features and label maps, and the three strings."""

    features: dict[str, Tensor]
    label: dict[str, Tensor]
    uid: str | None = None
    metadata: str | None = None
    configuration: str | None = None


class WideInt(float):
    """An integer wider than float64's 53 bits, as `loads_exact32` reads it: the float64 of
    its correctly rounded float32 (beyond the float32 range its float64, so the cast
    overflows and the caller reports it), with its text kept for the places that need the
    integer (a ``shape`` or ``keys`` entry, `_uints`)."""

    __slots__ = ("text",)
    text: str


_NUM_TYPES = frozenset({int, float, WideInt})
_EMPTY_F8 = np.empty(0, np.float64)


def _numbers(values: list[Any], path: str) -> np.ndarray:
    """A flat list of JSON numbers as float64 (exactly what the text says, rounded once)."""
    if values and not set(map(type, values)) <= _NUM_TYPES:
        bad = next(v for v in values if type(v) not in _NUM_TYPES)
        raise BadValue(f"{path}: expected numbers, found {describe(bad)}")
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:
        raise BadValue(f"{path}: a number is out of the float64 range") from None


def _strings(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def cell(v: Any, path: str) -> Tensor:
    """One data element (Rule 2) as a Tensor."""
    t = type(v)
    if t in _NUM_TYPES:
        return Tensor(_numbers([v], path), shape=())
    if t is list:
        if not v:
            return Tensor(_EMPTY_F8, shape=(0,))
        kinds = set(map(type, v))
        if kinds <= _NUM_TYPES:
            return Tensor(_numbers(v, path), shape=(len(v),))
        if kinds == {str}:
            return Tensor(_strings(v), shape=(len(v),))
        if list in kinds:
            return _nested(v, path)
        bad = next(x for x in v if type(x) not in _NUM_TYPES)
        raise BadValue(f"{path}: expected a list of numbers or of strings, found {describe(bad)}")
    if t is str:
        return Tensor(_strings([v]), shape=())
    if t is dict:
        return _tensor_object(v, path)
    raise BadValue(f"{path}: expected a number, a string, a list or a tensor object, found {describe(v)}")


def _nested(v: list[Any], path: str) -> Tensor:
    try:
        arr = np.array(v, dtype=object)
    except (ValueError, RecursionError, MemoryError):
        raise BadValue(f"{path}: nested lists are not a rectangular array of numbers") from None
    if arr.ndim > _MAX_RANK:
        raise BadValue(f"{path}: nested more than {_MAX_RANK} levels deep")
    flat = arr.reshape(-1).tolist()
    if flat and not set(map(type, flat)) <= _NUM_TYPES:
        raise BadValue(f"{path}: nested lists are not a rectangular array of numbers")
    shape = tuple(int(s) for s in arr.shape)
    return Tensor(_numbers(flat, path), shape=shape)


def _uints(v: Any, path: str, what: str) -> list[int]:
    if type(v) is list and any(type(x) is WideInt for x in v):
        # read by `loads_exact32`: the integers `loads` gives (orjson reads below 2**64)
        v = [_wide_int(x) if type(x) is WideInt else x for x in v]
    if type(v) is not list or not all(type(x) is int and x >= 0 for x in v):
        raise BadValue(f"{path}.{what}: expected a list of non-negative integers")
    return v


def _wide_int(x: WideInt) -> int | float:
    """The integer of `x` as `loads` reads it: an int below 2**64, else a float."""
    digits = x.text.lstrip("-")
    if len(digits) <= 20:
        n = int(x.text)
        if -(2**63) <= n < 2**64:
            return n
    return float(x.text)


def _tensor_object(obj: dict[str, Any], path: str) -> Tensor:
    extra = set(obj) - _TENSOR_KEYS
    if extra:
        name = sorted(extra)[0]
        raise BadValue(f"{path}: unexpected key {name!r} in a tensor object (expected values, keys, shape)")
    values = obj.get("values", [])
    if type(values) is not list:
        raise BadValue(f"{path}.values: expected a list, found {describe(values)}")
    textual = bool(values) and set(map(type, values)) == {str}
    arr = _strings(values) if textual else _numbers(values, f"{path}.values")
    shape = None
    if "shape" in obj:
        shape = tuple(_uints(obj["shape"], path, "shape"))
        if len(shape) > _MAX_RANK:
            raise BadValue(f"{path}.shape: more than {_MAX_RANK} dimensions")
    keys = _uints(obj.get("keys", []), path, "keys")
    if keys:
        if arr.dtype == object:
            raise BadValue(f"{path}.keys: a tensor of strings cannot be sparse")
        if not shape:
            raise BadValue(f"{path}: a sparse tensor (with keys) needs a shape")
        if len(keys) != arr.size:
            raise BadValue(f"{path}: {len(keys)} keys for {arr.size} values")
        width = math.prod(shape)
        top = max(keys)
        if top >= width:
            raise BadValue(f"{path}.keys: key {top} is outside the shape {list(shape)}")
        return Tensor(arr, keys=np.array(keys, dtype=np.uint64), shape=shape)
    if shape is not None:
        size = math.prod(shape)
        if arr.size == 0 and size > 0:
            if "keys" not in obj and arr.dtype == object:
                raise BadValue(f"{path}: shape {list(shape)} has {size} values, got 0")
            return Tensor(arr, keys=np.empty(0, np.uint64), shape=shape)  # an empty sparse row
        if size != arr.size:
            raise BadValue(f"{path}: shape {list(shape)} has {size} values, got {arr.size}")
    return Tensor(arr, shape=shape)


def _text_field(v: Any, path: str) -> str | None:
    if v is None or type(v) is str:
        return v
    raise BadValue(f"{path}: expected a string, found {describe(v)}")


def _configuration(v: Any, path: str) -> str | None:
    """record.proto's configuration is serialized JSON: an object is kept as compact text."""
    if v is None or type(v) is str:
        return v
    if type(v) is dict:
        try:
            return orjson.dumps(v).decode("utf-8")
        except (orjson.JSONEncodeError, TypeError):
            # Only reachable with allow_nan (NaN inside the configuration).
            return _stdjson.dumps(v, separators=(",", ":"), ensure_ascii=False)
    raise BadValue(f"{path}: expected an object or a string, found {describe(v)}")


def _put(target: dict[str, Tensor], name: str, v: Any, path: str) -> None:
    if name in target:
        raise BadValue(f"{path}: feature {name!r} is given twice")
    target[name] = cell(v, path)


def instance_record(obj: Any, path: str) -> Rec:
    """One request instance (docs/formats/json.md, "Requests"): object, number list, string or number."""
    if type(obj) is not dict:
        return Rec({"values": cell(obj, path)}, {})
    features: dict[str, Tensor] = {}
    label: dict[str, Tensor] = {}
    uid = metadata = configuration = None
    for key, v in obj.items():
        if key == "features":
            _put(features, "values", v, f"{path}.features")
        elif key == "data":
            if type(v) is not dict:
                raise BadValue(f"{path}.data: expected an object, found {describe(v)}")
            for name, element in v.items():
                _put(features, "values" if name == "features" else name, element, f"{path}.data.{name}")
        elif key == "label":
            if type(v) is not dict:
                raise BadValue(f"{path}.label: expected an object, found {describe(v)}")
            for name, element in v.items():
                _put(label, name, element, f"{path}.label.{name}")
        elif key == "uid":
            uid = _text_field(v, f"{path}.uid")
        elif key == "metadata":
            metadata = _text_field(v, f"{path}.metadata")
        elif key == "configuration":
            configuration = _configuration(v, f"{path}.configuration")
        else:
            _put(features, key, v, f"{path}.{key}")
    return Rec(features, label, uid, metadata, configuration)


def response_record(obj: Any, path: str) -> Rec:
    """One response item (docs/formats/json.md, "Responses"): every key is an output in ``label``."""
    if type(obj) is not dict:
        return Rec({}, {"values": cell(obj, path)})
    return Rec({}, {k: cell(v, f"{path}.{k}") for k, v in obj.items()})


class _Cells(dict[str, Any]):
    """A map of one record as `GeneralGroup.chunks` reads it for the column builder: each
    key's `Tensor` (as `cell` reads it), or a marker for the values a record of many keys
    holds most, which make no object per key: `_SCALAR` (a bare number), `_LIST` (a list of
    numbers, its length in `lengths`), whose float64 values are `numbers`, in the order of
    those keys; `_TEXT` (a bare string, in `texts`)."""

    __slots__ = ("lengths", "numbers", "pending", "texts")

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[Any] = []  # the numbers, until `close`
        self.lengths: list[int] = []
        self.texts: list[str] = []
        self.numbers = _EMPTY_F8

    def put(self, name: str, v: Any, path: str, where: str) -> None:
        """`_put` (the value's path is ``f"{path}.{where}"``, made for a message only)."""
        if name in self:
            raise BadValue(f"{path}.{where}: feature {name!r} is given twice")
        t = type(v)
        if t in _NUM_TYPES:
            self[name] = _SCALAR
            self.pending.append(v)
        elif t is str:
            self[name] = _TEXT
            self.texts.append(v)
        elif t is list and (not v or set(map(type, v)) <= _NUM_TYPES):
            self[name] = _LIST
            self.pending.extend(v)
            self.lengths.append(len(v))
        else:
            self[name] = cell(v, f"{path}.{where}")

    def close(self) -> _Cells:
        """The numbers in float64, as `_numbers` reads them (OverflowError for a number
        beyond the float64 range: the caller reads the record again with the grammar, for
        its message)."""
        if self.pending:
            self.numbers = np.array(self.pending, dtype=np.float64)
            self.pending = []
        return self


#: The markers of a `_Cells` map.
_SCALAR: Any = object()
_LIST: Any = object()
_TEXT: Any = object()


def _bare(obj: dict[str, Any]) -> _Cells:
    """The `_Cells` map of an object of bare numbers."""
    out = cast(_Cells, _Cells.fromkeys(obj, _SCALAR))
    out.numbers = np.array(list(obj.values()), dtype=np.float64)
    return out


def _instance_cells(obj: Any, path: str) -> Rec:
    """`instance_record` for the column builder: the same record, in `_Cells` maps; where
    the record is refused, `instance_record`'s error (the first in the record's order)."""
    if type(obj) is not dict:
        return instance_record(obj, path)
    try:
        if not obj.keys() & RESERVED and set(map(type, obj.values())) <= _NUM_TYPES:
            return Rec(_bare(obj), _Cells())  # only bare numbers: at once
        return _instance_cells_of(obj, path)
    except (BadValue, OverflowError):
        return instance_record(obj, path)


def _instance_cells_of(obj: dict[str, Any], path: str) -> Rec:
    features = _Cells()
    label = _Cells()
    uid = metadata = configuration = None
    for key, v in obj.items():
        if key not in RESERVED:
            features.put(key, v, path, key)
        elif key == "features":
            features.put("values", v, path, "features")
        elif key == "data":
            if type(v) is not dict:
                raise BadValue(f"{path}.data: expected an object, found {describe(v)}")
            for name, element in v.items():
                features.put("values" if name == "features" else name, element, path, f"data.{name}")
        elif key == "label":
            if type(v) is not dict:
                raise BadValue(f"{path}.label: expected an object, found {describe(v)}")
            for name, element in v.items():
                label.put(name, element, path, f"label.{name}")
        elif key == "uid":
            uid = _text_field(v, f"{path}.uid")
        elif key == "metadata":
            metadata = _text_field(v, f"{path}.metadata")
        else:
            configuration = _configuration(v, f"{path}.configuration")
    return Rec(features.close(), label.close(), uid, metadata, configuration)


def _response_cells(obj: Any, path: str) -> Rec:
    """`response_record` for the column builder, as `_instance_cells` is `instance_record`'s."""
    if type(obj) is not dict:
        return response_record(obj, path)
    try:
        if set(map(type, obj.values())) <= _NUM_TYPES:
            return Rec(_Cells(), _bare(obj))  # only bare numbers: at once
        label = _Cells()
        for k, v in obj.items():
            label.put(k, v, path, k)
        return Rec(_Cells(), label.close())
    except (BadValue, OverflowError):
        return response_record(obj, path)


#: The grammar's record readers, and their twins for the column builder.
_CELLS_OF: dict[Any, Callable[[Any, str], Rec]] = {
    instance_record: _instance_cells,
    response_record: _response_cells,
}


def request_instances(doc: Any) -> tuple[list[Any], str, str | None]:
    """(instances, JSON path prefix, request-level configuration) of a request document."""
    if type(doc) is dict and "instances" in doc:
        instances = doc["instances"]
        if type(instances) is not list:
            raise BadValue(f"$.instances: expected a list, found {describe(instances)}")
        config = None
        for key, v in doc.items():
            if key == "configuration":
                config = _configuration(v, "$.configuration")
            elif key != "instances":
                raise BadValue(f"$: unexpected key {key!r} beside 'instances'")
        return instances, "$.instances", config
    if type(doc) is list:
        if doc and set(map(type, doc)) <= _NUM_TYPES:
            return [doc], "$", None  # "a simple numeric vector" is one instance
        return doc, "$", None
    return [doc], "", None


def response_items(doc: Any) -> tuple[list[Any], str]:
    """(items, JSON path prefix) of a response document: any envelope of `ENVELOPES`, a bare
    list, or a single item."""
    if type(doc) is dict and len(doc) == 1:
        ((key, v),) = doc.items()
        envelope = key in ENVELOPES and type(v) is list
        if envelope and (key == "predictions" or all(type(x) is dict for x in v)):
            return v, f"$.{key}"
    if type(doc) is list:
        return doc, "$"
    return [doc], ""


# ======================================================================================
# Response records of scalars, column by column (Rule 7)
# ======================================================================================

#: The optional C kernel for response records (`response_fast`); None: its twin below.
_CREC = _native.load("formats._cjsonrec")
_RecordColumns = tuple[int, list[tuple[str, str, Any, int, Any]]]
#: The most columns ``_cjsonrec.json_records`` (and so `records_pure`) reads in a body:
#: keys, not counting a request's ``uid``, ``metadata`` and ``configuration`` (so every
#: body within `smp.limits.SERVING`'s 4096 columns is read by the column reader).
_RECORD_KEYS = 4096


def _over_keys(keys: Any, request: bool) -> bool:
    """Whether `keys` (a dict or its keys: one record's, or a body's) are more columns
    than the column reader reads (`_RECORD_KEYS`; a request's string fields not counted)."""
    n = len(keys)
    return n > _RECORD_KEYS and (not request or n - sum(f in keys for f in _STRING_FIELDS) > _RECORD_KEYS)


def _parsed(piece: bytes, allow_nan: bool) -> Any:
    """The value of `piece` as the general path reads it (`loads`: orjson's; with
    `allow_nan`, Python's json's where orjson stopped at NaN, Infinity or -Infinity, and
    only there: Python's json also reads what orjson refuses elsewhere, such as a lone
    surrogate escape); `_NOTHING` where `loads` refuses it."""
    try:
        return loads(piece, 0, len(piece), allow_nan)
    except SyntaxProblem:
        return _NOTHING


_NOTHING = object()


def _flat_record(r: dict[str, Any]) -> Any:
    """A request record for `records_pure`, as ``_cjsonrec.json_records`` reads it: the keys
    of its ``data`` and ``label`` objects as ``"data\0name"`` and ``"label\0name"``, and a
    tensor object of values alone (``{"values": [...]}``) as its list; `_NOTHING` for an
    object it does not read (a tensor object with ``shape`` or ``keys``, a key holding NUL,
    which no key of the kernel's holds)."""
    out: dict[str, Any] = {}
    for k, v in r.items():
        if "\0" in k:
            return _NOTHING
        if type(v) is dict:
            if k in ("data", "label"):
                for name, x in v.items():
                    if type(x) is dict:
                        x = _tensor_values(x, k == "label")
                        if x is _NOTHING:
                            return _NOTHING
                    out[f"{k}\0{name}"] = x
                continue
            v = _tensor_values(v, False)
            if v is _NOTHING:
                return _NOTHING
        out[k] = v
    return out


def _response_flat(r: dict[str, Any]) -> Any:
    """A response record for `records_pure` with tensors, as ``_cjsonrec.json_records``
    reads it: a tensor object as the values of a request's label (`_tensor_values`: a
    `_SparseCell`, or its list, a `_Wrapped` one when no shape is given); `_NOTHING` for
    an object the kernel does not read."""
    out: dict[str, Any] = {}
    for k, v in r.items():
        if type(v) is dict:
            v = _tensor_values(v, True)
            if v is _NOTHING:
                return _NOTHING
        out[k] = v
    return out


class _Wrapped(list[Any]):
    """The values of a tensor object of values alone in a record's ``label`` (see
    `records_pure`)."""

    __slots__ = ()


class _SparseCell(NamedTuple):
    """A sparse tensor object of a record (see `records_pure`)."""

    values: list[Any]
    keys: list[int]
    shape: tuple[int, ...]


def _tensor_values(obj: dict[str, Any], label: bool) -> Any:
    """A tensor object as the kernel reads it (``scan_tensor`` in _cjsonrec.c, as the
    request scanner reads one: `_value_parts`): a `_SparseCell` (keys and a shape, or a
    shape and no values), else its list (a `_Wrapped` one in a label when no shape is
    given). `_NOTHING` for what the kernel declines."""
    parts = _value_parts(obj)
    if parts is None:
        return _NOTHING
    kind, values, keys, shape = parts
    if kind == _NESTED_KIND:
        return _NOTHING  # a shape of rank 2 or more: the kernel declines it (the general path)
    if not set(map(type, values)) <= _NUM_TYPES:
        return _NOTHING  # strings in a tensor object: the general path (not a list of strings)
    if kind == 1:
        assert keys is not None and shape is not None
        return _SparseCell(values, keys, shape)
    return _Wrapped(values) if label and "shape" not in obj else values


def _string_lists(vals: list[list[Any]]) -> bool:
    """Every list holds strings and none is empty (a column the kernel reads as ``S``)."""
    return all(vals) and set(map(type, chain.from_iterable(vals))) == {str}


def _sparse_payload(vals: list[Any]) -> tuple[Any, ...] | None:
    """A column of sparse records as the kernel gives it: (float64 values, int64 keys,
    int64 counts, shape); None unless every record is sparse with one shape and numbers."""
    if set(map(type, vals)) != {_SparseCell} or len({v.shape for v in vals}) != 1:
        return None
    flat = list(chain.from_iterable(v.values for v in vals))
    if not set(map(type, flat)) <= _NUM_TYPES:
        return None
    try:
        values = np.array(flat, dtype=np.float64)
    except OverflowError:
        return None
    keys = np.fromiter(chain.from_iterable(v.keys for v in vals), dtype=np.int64)
    counts = np.fromiter((len(v.values) for v in vals), dtype=np.int64, count=len(vals))
    return values, keys, counts, vals[0].shape


class _RecordPieces(NamedTuple):
    """The records of a body for the column reader's twins (`_record_pieces`): the JSON
    path of their list (``""`` in JSON Lines), the records in pieces (a piece None: the
    body is not read so), whether the one piece is every record, parsed at once, and else
    the text around the records' list of a document (its envelope, the list empty) and
    where each record's text begins (int64 offsets from the body's `start`, blanks before
    it included) and ends (after it), and where its pieces begin (record numbers, and
    the number of records last)."""

    path: str
    pieces: Iterator[list[Any] | None]
    whole: bool
    envelope: bytes = b""
    starts: Any = None
    ends: Any = None
    bounds: list[int] | None = None


def _record_pieces(
    buf: bytes | bytearray, start: int, end: int, lines: bool, allow_nan: bool, request: bool
) -> _RecordPieces | None:
    """The records of ``buf[start:end]`` as the column reader's twins parse them (orjson's
    values; with `allow_nan`, Python's json's where orjson stops at NaN), or None for a body
    that is no list of records (a document in another envelope, or one that does not parse).

    orjson makes an object per JSON value, up to about 30 x the text of small records
    (``{"a": {}}``), so a body longer than `_TWIN_WHOLE` is parsed a piece at a time: JSON
    Lines `_TWIN_LINES` lines at a time, a document a piece of about `_TWIN_PIECE` bytes of
    records at a time, found by the structure scan of `smp.limits`
    (`json_crowded_records`): the text around the records' list must parse to its envelope
    alone (``[]``, or ``{"instances": []}`` for a request, a response's `ENVELOPES`), each
    piece to as many records as the scan found, and only a comma may lie between pieces. A
    long document the scan cannot split is declined (an envelope key written twice or
    with escapes: the general path reads it), but a list of one record, parsed whole."""
    big = end - start > _TWIN_WHOLE
    if lines:
        return _RecordPieces("", _line_pieces(buf, start, end, allow_nan, big), not big)
    if big:
        from ..limits import json_crowded_records

        text = buf if (start, end) == (0, len(buf)) else bytes(buf[start:end])
        scan = json_crowded_records(text, 0, response=not request)
        if scan.records is None:
            return None
        if scan.records >= 2 and scan.indexes.size == scan.records:
            return _split_document(text, scan, allow_nan, request)
        m = _ENVELOPE_KEY.match(text)
        if _BLANKS.sub(b"", bytes(text[:64]))[:1] == b"{" and (
            m is None or (m.group(1) != b"instances" if request else m.group(1) == b"instances")
        ):
            return None  # an object in no envelope of the role: declined without parsing it
    doc = _parsed(bytes(buf[start:end]), allow_nan)
    if type(doc) is dict:
        if len(doc) != 1:
            return None
        ((name, items),) = doc.items()
        if (name != "instances" if request else name not in ENVELOPES) or type(items) is not list:
            return None
        return _RecordPieces(f"$.{name}", iter([items]), True)
    if type(doc) is list:
        return _RecordPieces("$", iter([doc]), True)
    return None


def _piece_bounds(starts: np.ndarray, ends: np.ndarray) -> list[int]:
    """The first record of each piece of about `_TWIN_PIECE` bytes of records (record spans
    ``[starts[i], ends[i])``), the number of records last: piece k is records
    ``bounds[k]`` to ``bounds[k + 1] - 1``, the text from the start of the first to the
    end of the last, commas between."""
    cuts = np.searchsorted(starts, np.arange(starts[0], ends[-1], _TWIN_PIECE), side="right") - 1
    return [*np.unique(cuts).tolist(), int(starts.size)]


def _split_document(
    text: bytes | bytearray, scan: Any, allow_nan: bool, request: bool
) -> _RecordPieces | None:
    """`_record_pieces` of a long document the structure scan split (`scan`)."""
    open_, close = scan.open, scan.close
    envelope = _parsed(bytes(text[: open_ + 1]) + bytes(text[close:]), allow_nan)
    if envelope == []:
        path = "$"
    elif type(envelope) is dict and len(envelope) == 1:
        ((name, empty),) = envelope.items()
        if (name != "instances" if request else name not in ENVELOPES) or empty != []:
            return None
        path = f"$.{name}"
    else:
        return None
    starts, ends = scan.starts, scan.ends
    if text[open_ + 1 : int(starts[0])].strip() or text[int(ends[-1]) : close].strip():
        return None
    bounds = _piece_bounds(starts, ends)
    if any(text[int(ends[j - 1]) : int(starts[j])].strip() != b"," for j in bounds[1:-1]):
        return None

    # each piece is parsed at the depth its records have in the document (1 in a bare
    # list, 2 in an envelope), so that orjson's limit of nesting refuses a piece of the
    # records it refuses in the whole document
    depth = 1 if path == "$" else 2

    def pieces() -> Iterator[list[Any] | None]:
        for i, j in pairwise(bounds):
            piece = bytes(text[int(starts[i]) : int(ends[j - 1])])
            recs = _parsed(b"[" * depth + piece + b"]" * depth, allow_nan)
            if depth == 2 and type(recs) is list and len(recs) == 1:
                recs = recs[0]
            if type(recs) is not list or len(recs) != j - i:
                yield None
                return
            yield recs

    envelope = bytes(text[: open_ + 1]) + bytes(text[close:])
    return _RecordPieces(path, pieces(), False, envelope, starts, ends, bounds)


class LazyRecords:
    """The records of a long JSON document that certainly parses, as `GeneralGroup` reads
    them: a list of about `_TWIN_PIECE` bytes of records parsed when a record in it is
    asked for, the last two kept (the group reads its records in order, `CHUNK` at a time,
    and lets them go: the records it read are written None, which keeps nothing here). So
    the general path holds no object per record of the whole body (orjson's document of
    6 MiB of 19-byte records peaked at 35 x the body)."""

    __slots__ = ("_firsts", "_kept", "_n", "_spans", "_text")

    def __init__(
        self, text: bytes | bytearray, starts: np.ndarray, ends: np.ndarray, bounds: list[int]
    ) -> None:
        self._text = text
        self._firsts = bounds[:-1]
        self._spans = [(int(starts[i]), int(ends[j - 1])) for i, j in pairwise(bounds)]
        self._n = bounds[-1]
        self._kept: dict[int, list[Any]] = {}

    def __len__(self) -> int:
        return self._n

    def _piece(self, p: int) -> list[Any]:
        got = self._kept.get(p)
        if got is None:
            a, b = self._spans[p]
            got = loads(b"[" + bytes(self._text[a:b]) + b"]", 0, b - a + 2, False)
            if len(self._kept) >= 2:
                del self._kept[next(iter(self._kept))]
            self._kept[p] = got
        return got

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            lo, hi, step = k.indices(self._n)
            if step != 1:
                raise ValueError("a step")
            out: list[Any] = []
            while lo < hi:
                p = bisect_right(self._firsts, lo) - 1
                piece, first = self._piece(p), self._firsts[p]
                upto = min(hi, first + len(piece))
                out.extend(piece[lo - first : upto - first])
                lo = upto
            return out
        if k < 0:
            k += self._n
        if not 0 <= k < self._n:
            raise IndexError(k)
        p = bisect_right(self._firsts, k) - 1
        return self._piece(p)[k - self._firsts[p]]

    def __setitem__(self, k: Any, v: Any) -> None:
        """`GeneralGroup.chunks` letting the records it read go: nothing to do here."""


#: A document that is one object whose first member, of a plain name, holds a list.
_ONE_LIST_MEMBER = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"([A-Za-z_][A-Za-z0-9_]*)"[ \t\r\n]*:[ \t\r\n]*\[')


def one_member_list_error(
    buf: bytes | bytearray, start: int, response: bool
) -> tuple[str, int | None] | None:
    """The general path's error of a long document that is one record of one member (a
    plain name; a request's ``instances`` and reserved keys but ``features`` excluded, and
    a response's envelopes) holding a list of elements that are no lists, when that list is refused
    (neither all numbers nor all strings): ``$.<name>: expected a list of numbers or of
    strings, found ...``, and the offset of the element it names (None: to be searched
    for), its elements parsed a piece at a time (`_record_pieces`)
    instead of the whole document (a document in the other role's envelope is such a
    record: orjson's objects of its small elements were 46 to 60 x the text). The
    document is valid when the pieces parse and only the object's ``}`` follows the list.
    None when the document is not that shape, not long, or the list is sound or holds
    lists: the general path decides."""
    end = len(buf)
    if end - start <= _TWIN_WHOLE:
        return None
    m = _ONE_LIST_MEMBER.match(buf, start)
    if m is None:
        return None
    name = m.group(1).decode()
    if (
        (name in ENVELOPES)
        if response
        else (name == "instances" or (name in RESERVED and name != "features"))
    ):
        return None
    open_ = m.end() - 1
    close = container_end(bytes(buf) if not isinstance(buf, bytes) else buf, open_, end)
    if close is None or buf[close:end].strip(b" \t\r\n") != b"}":
        return None
    got = _record_pieces(buf, open_, close, False, False, False)
    if got is None:
        return None
    kinds: set[type] = set()
    bad: Any = _NOTHING
    at = base = 0
    for piece in got.pieces:
        if piece is None:
            return None
        kinds.update(map(type, piece))
        if list in kinds:
            return None  # nested lists: the general path's reading of the whole
        if bad is _NOTHING:
            at, bad = next(
                ((base + j, x) for j, x in enumerate(piece) if type(x) not in _NUM_TYPES), (0, _NOTHING)
            )
        base += len(piece)
    if bad is _NOTHING or kinds == {str}:
        return None  # a sound list
    reason = f"$.{name}: expected a list of numbers or of strings, found {describe(bad)}"
    if got.starts is None:
        return reason, None  # (parsed whole: the offset is searched for)
    # the element the message names, the first that is no number (as the search finds it)
    blanks = _BLANKS.match(buf, open_ + int(got.starts[at]))
    return reason, None if blanks is None else blanks.end()


def records_lazily(
    buf: bytes | bytearray, start: int, end: int, request: bool
) -> tuple[LazyRecords, str] | None:
    """The records of the JSON document ``buf[start:end]`` for the general path, as
    `LazyRecords`, and their list's JSON path, when it is long (over `_TWIN_WHOLE` bytes),
    certainly parses (`valid_members`) and is a list of records the structure scan splits:
    a top-level list (a request's whose first record is no number: a list of numbers is
    one record), ``{"instances": [...]}`` alone for a request, ``{"predictions": [...]}``
    alone for a response. None otherwise: the general path parses the whole document."""
    if end - start <= _TWIN_WHOLE:
        return None
    members = valid_members(buf, start, end)
    m = _ENVELOPE_KEY.match(buf, start, end)
    if members == 1:
        if m is None or m.group(1) != (b"instances" if request else b"predictions"):
            return None
    elif members != -1:
        return None
    got = _record_pieces(buf, start, end, False, False, request)
    if got is None or got.whole or got.bounds is None:
        return None
    text = buf if (start, end) == (0, len(buf)) else bytes(buf[start:end])
    first = _BLANKS.match(text, int(got.starts[0]))
    if first is None or text[first.end() : first.end() + 1] not in (b"[", b"{", b'"'):
        return None  # (a number first: one record of numbers, or numbers among records)
    return LazyRecords(text, got.starts, got.ends, got.bounds), got.path


def _line_pieces(
    buf: bytes | bytearray,
    start: int,
    end: int,
    allow_nan: bool,
    big: bool,
    offsets: array[int] | None = None,
) -> Iterator[list[Any] | None]:
    """The records of JSON Lines ``buf[start:end]`` (lines that are not blank), all in one
    piece, or with `big` `_TWIN_LINES` at a time; None for a line that does not parse. With
    `offsets`, each record's first byte that is not a blank is appended to it."""
    items: list[Any] = []
    pos = start
    for x in io.BytesIO(bytes(buf[start:end])):
        if x.strip():
            v = _parsed(x, allow_nan)
            if v is _NOTHING:
                yield None
                return
            items.append(v)
            if offsets is not None:
                offsets.append(pos + len(x) - len(x.lstrip()))
            if big and len(items) >= _TWIN_LINES:
                yield items
                items = []
        pos += len(x)
    if items or not big or pos == start:
        yield items


#: The values of a response record that are plainly sound (`_plainly_sound_response`).
_SCALAR_TYPES = _NUM_TYPES | {str}

#: Blanks between JSON values.
_BLANKS = re.compile(rb"[ \t\r\n]*")

#: A record `records_pure` reads that is no object: a bare list, number or string.
_BARE_TYPES = frozenset({dict, list, str}) | _NUM_TYPES


class _ColumnPiece(NamedTuple):
    """A column of a piece of records (`_piece_columns`): `records_pure`'s kind and payload,
    the records of the piece that hold it (int64, None: all), and whether its numbers are
    a label's tensor objects of one value (its kind ``n`` holds only while every piece's
    are)."""

    kind: str
    payload: Any
    width: int
    held: Any
    singles: bool


def _piece_columns(
    items: list[Any], request: bool, lists: bool, tensors: bool = False
) -> dict[str, _ColumnPiece] | None:
    """The columns of one piece of records, as `records_pure` reads them; None where it
    declines the body. With `tensors`, a response's tensor objects are read as the kernel
    reads them (as a request's label: `_response_flat`)."""
    if not items or set(map(type, items)) != {dict}:
        return None
    if not request and tensors:
        flat_items = [_response_flat(r) if dict in set(map(type, r.values())) else r for r in items]
        if _NOTHING in flat_items:
            return None
        items = flat_items
    if request:
        # a record's "data" and "label" objects, and tensor objects of values alone, as
        # the kernel reads them: keys "data\0name" and "label\0name", values the lists
        flat = [_flat_record(r) if dict in set(map(type, r.values())) else r for r in items]
        if _NOTHING in flat:
            return None
        raw, items = items, flat
    # the keys in the order they first appear, and for each the records that hold it
    where: dict[str, array[int]] = {}
    for i, r in enumerate(items):
        if _over_keys(r, request):
            return None
        for key in r:
            got = where.get(key)
            if got is None:
                got = where[key] = array("q")
            got.append(i)
        if _over_keys(where, request):
            return None  # as the kernel: the general path reads records of many keys
    if request and any("\0" in key and any(items[i] is raw[i] for i in where[key]) for key in where):
        # a record's own key holding NUL, which no key of the kernel's holds (request_fast
        # would read "data\0x" as the key x of a data object)
        return None
    n = len(items)
    cols: dict[str, _ColumnPiece] = {}
    for key, held in where.items():
        vals = [items[i][key] for i in held]
        index = None if len(held) == n else np.frombuffer(held, dtype=np.int64)
        if _SparseCell in set(map(type, vals)):  # (a request's, or a response's with tensors)
            sparse = _sparse_payload(vals)
            if sparse is None:
                return None  # sparse and other records in one column
            cols[key] = _ColumnPiece("k", sparse, 0, index, False)
            continue
        singles = False
        if (not request or key.startswith("label\0")) and _Wrapped in set(map(type, vals)):
            if all(type(v) is _Wrapped and len(v) == 1 for v in vals):
                # a tensor object of one value (no shape) in every record of a label: a
                # scalar, as the general path reads it (the kernel makes the column 'n')
                vals = [v[0] for v in vals]
                singles = True
            else:
                vals = [list(v) if type(v) is _Wrapped else v for v in vals]
        types = set(map(type, vals))
        try:
            if types <= _NUM_TYPES:
                cols[key] = _ColumnPiece("n", np.array(vals, dtype=np.float64), 0, index, singles)
            elif types == {str}:
                cols[key] = _ColumnPiece("s", vals, 0, index, False)
            elif (request or lists) and types == {list} and _string_lists(vals):
                cols[key] = _ColumnPiece("S", vals, 0, index, False)  # (the kernel: no empty one)
            elif types == {list} and vals[0] and type(vals[0][0]) is list:
                # nested lists of one shape (rank 2 or more) in every record: (values, shape)
                nested = _nested_piece(vals) if len(vals) > 1 else _nested_parts(vals[0])
                if nested is None:
                    return None
                cols[key] = _ColumnPiece(
                    "N", (np.array(nested[0], dtype=np.float64), nested[1]), 0, index, False
                )
            elif types == {list} and len(set(map(len, vals))) == 1:
                flat_values = list(chain.from_iterable(vals))
                if not set(map(type, flat_values)) <= _NUM_TYPES:
                    return None
                values = np.array(flat_values, dtype=np.float64)
                cols[key] = _ColumnPiece("v", values, len(vals[0]), index, False)
            elif list in types and types <= _NUM_TYPES | {list}:
                # numbers and lists of any length: a ragged column, -1 counting a number
                parts = [v if type(v) is list else [v] for v in vals]
                flat_values = list(chain.from_iterable(parts))
                if not set(map(type, flat_values)) <= _NUM_TYPES:
                    return None
                counts = [len(v) if type(v) is list else -1 for v in vals]
                payload = (np.array(flat_values, dtype=np.float64), np.array(counts, dtype=np.int64))
                cols[key] = _ColumnPiece("r", payload, 0, index, False)
            else:
                return None
        except OverflowError:
            return None
    return cols


def _joined_column(pieces: list[tuple[int, int, _ColumnPiece]], n: int) -> tuple[str, Any, int, Any] | None:
    """One column of `records_pure` from its pieces ((first record, records, column) of
    each piece that has it) as the whole body would give it: (kind, payload, width,
    index), or None where the body is declined (kinds that do not mix)."""
    held = [
        np.arange(base, base + size, dtype=np.int64) if c.held is None else c.held + base
        for base, size, c in pieces
    ]
    total = sum(h.size for h in held)
    index = None if total == n else np.concatenate(held)
    cols = [c for _base, _size, c in pieces]
    if len(cols) == 1:
        c = cols[0]
        return c.kind, c.payload, c.width, index
    if any(c.singles for c in cols) and not all(c.singles for c in cols):
        # a label's tensor objects of one value are lists of one where some record holds
        # something else
        cols = [c._replace(kind="v", width=1) if c.singles else c for c in cols]
    kinds = {c.kind for c in cols}
    if kinds == {"n"}:
        return "n", np.concatenate([c.payload for c in cols]), 0, index
    if kinds == {"N"}:
        if len({c.payload[1] for c in cols}) != 1:
            return None  # nested lists of two shapes
        return "N", (np.concatenate([c.payload[0] for c in cols]), cols[0].payload[1]), 0, index
    if kinds in ({"s"}, {"S"}):
        return cols[0].kind, list(chain.from_iterable(c.payload for c in cols)), 0, index
    if kinds == {"k"}:
        if len({c.payload[3] for c in cols}) != 1:
            return None  # sparse records of two shapes
        values, keys, counts = (np.concatenate([c.payload[i] for c in cols]) for i in range(3))
        return "k", (values, keys, counts, cols[0].payload[3]), 0, index
    if not kinds <= {"n", "v", "r"}:
        return None
    if kinds == {"v"} and len({c.width for c in cols}) == 1:
        return "v", np.concatenate([c.payload for c in cols]), cols[0].width, index
    # numbers and lists of any length: a ragged column, -1 counting a number
    flat: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    for h, c in zip(held, cols, strict=True):
        if c.kind == "r":
            flat.append(c.payload[0])
            lengths.append(c.payload[1])
        else:
            flat.append(c.payload)
            lengths.append(np.full(h.size, -1 if c.kind == "n" else c.width, dtype=np.int64))
    return "r", (np.concatenate(flat), np.concatenate(lengths)), 0, index


def records_pure(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    request: bool = False,
    allow_nan: bool = False,
    lists: bool = False,
    parsed: list[Any] | None = None,
    empties: bool = True,
) -> _RecordColumns | None:
    """The twin of ``_cjsonrec.json_records``: ``buf[start:end]`` as response records of
    scalars, (n, [(key, kind, values, width, index), ...]) with kind ``n`` (numbers: float64
    values), ``v`` (lists of `width` numbers: float64 values), ``r`` (numbers and lists of
    any length: (float64 values, int64 counts, -1 for a number)), ``N`` (nested lists of
    one shape, rank 2 or more: (float64 values, shape)) or ``s`` (strings: a list of str;
    a request's ``S``, lists of strings, and ``k``, sparse tensor objects), keys in the
    order they first appear; a key missing from some records has the
    int64 `index` of the records that hold it (else None), and its values are theirs. None
    for anything else (more than `_RECORD_KEYS` keys, as the kernel; a response of only
    ``{}`` is its records without a column, and a response's tensor objects are read as a
    request's label's, but without `empties`: the Autopilot reader's, where the kernel
    reads texts). A record that is a bare list, number or string is the value of a
    request's ``features`` (a response's ``values``; none may be in a projections or scores
    envelope, and bare lists and numbers alone decline: the request scanner's, where
    they are not strings or lists of strings), as the kernel reads it. orjson
    parses the body (each non-blank line in JSON Lines, as the
    general path reads them), a piece of records at a time where it is long
    (`_record_pieces`): each piece's columns are built before the next is parsed. With
    `request`, the envelope is ``{"instances": [...]}`` (else a response's `ENVELOPES`).
    With `allow_nan`, NaN, Infinity and -Infinity are numbers too (Python's json reads a
    text orjson refuses). With `parsed`, the records (and the JSON path of their list) are
    appended to it, for `records_check_pure` when the body is declined: the records parsed
    at once, or None for records parsed in pieces (they are parsed again where needed)."""
    got = _record_pieces(buf, start, end, lines, allow_nan, request)
    if got is None:
        return None
    keys: dict[str, list[tuple[int, int, _ColumnPiece]]] = {}
    n = nbare = nbare_str = 0
    noted = False
    # a record that is a bare list, number or string is the value of a request's
    # "features" (a response's "values"), but in a projections or scores envelope
    bare = got.path not in ("$.projections", "$.scores")
    for items in got.pieces:
        if items is None:
            return None
        if parsed is not None and not noted:
            parsed.append((items if got.whole else None, got.path))
            noted = True
        kinds = set(map(type, items))
        if bare and kinds != {dict} and kinds <= _BARE_TYPES:
            name = "features" if request else "values"
            nbare += sum(type(r) is not dict for r in items)
            nbare_str += sum(
                type(r) is str or (type(r) is list and r != [] and type(r[0]) is str) for r in items
            )
            items = [r if type(r) is dict else {name: r} for r in items]
        cols = _piece_columns(items, request, lists, empties)
        if cols is None:
            return None
        for key, col in cols.items():
            keys.setdefault(key, []).append((n, len(items), col))
        n += len(items)
        del items, cols
        if _over_keys(keys, request):
            return None  # as the kernel: the general path reads records of many keys
    if not keys and not request and not empties:
        return None  # a response of only {} (the Autopilot reader's)
    if nbare == n and not nbare_str:
        return None  # bare lists and numbers alone: the request scanner's
    out: list[tuple[str, str, Any, int, Any]] = []
    for key, pieces in keys.items():
        joined = _joined_column(pieces, n)
        if joined is None:
            return None
        kind, payload, width, index = joined
        out.append((key, kind, payload, width, index))
    return n, out


def response_fast(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    dtype: DtypeSpec,
    ragged: bool = False,
    allow_nan: bool = False,
    content_type: str | None = None,
    hint: list[int] | None = None,
) -> RecordBatch | None:
    """A response body of records of scalars (numbers, strings, lists of numbers of one
    length per key; with `ragged`, also numbers and lists of any lengths mixed, a `Ragged`
    column) as the batch the general path builds from it, or None (Rule 7). With
    `allow_nan`, NaN, Infinity and -Infinity read as numbers (as the general path reads
    them then). With `content_type` (and `ragged`), a declined body of sound records whose
    columns cannot hold them is refused with the general path's error (Rule 10). With
    `hint` (the C path), a declined body appends to it the index of the record the kernel
    stopped in and the offset where that record begins (-1: not begun): every record
    before it is sound (a response's keys are its outputs), so that record's error, if it
    has one, is the body's first."""
    if _CREC is not None:
        limit = column_limit()
        report = content_type is not None or limit is not None or hint is not None
        got = _CREC.json_records(buf, start, end, lines, False, False, allow_nan, True, report)
        if got is not None and got[0] is None:  # declined, with what it read
            same = _records_read_are_the_body(buf, start, end, lines)
            if limit is not None and same:
                _refuse_columns(got[2], got[5], limit, False)
            if content_type is not None and got[4]:  # it stopped in a value the grammar reads
                column_errors(buf, start, end, lines, False, allow_nan, content_type)
            if hint is not None and same and all(key is not None for key, _kind in got[2]):
                hint += (got[1], got[3])
            return None
    else:
        parsed: list[Any] = []
        got = records_pure(buf, start, end, lines, False, allow_nan, True, parsed)
        if got is None and content_type is not None and parsed:
            given = parsed.pop()
            whole = given if given[0] is not None else None  # (None: parsed in pieces, again)
            column_errors(buf, start, end, lines, False, allow_nan, content_type, whole)
            if hint is not None and not allow_nan:
                stop = _first_refused(given[0], buf, start, end, lines, response=True)
                if stop is not None:
                    hint += stop
            del given
        del parsed
    if got is None:
        return None
    n, cols = got
    if _over_budget(n, cols):
        return None  # the general path refuses it, and names the record
    label: dict[str, Any] = {}
    for key, kind, payload, width, index in cols:
        if (kind == "r" or index is not None) and not ragged:
            return None
        col = record_column(n, key, kind, payload, width, dtype, index)
        if col is None:
            if kind == "N" and index is not None and content_type is not None:
                # nested lists some records lack: the general path's column error
                column_errors(buf, start, end, lines, False, allow_nan, content_type)
            return None
        label[key] = col
    return RecordBatch(label=label, n=n)


#: A document's envelope key, at its start (the column reader reads the first such array).
_ENVELOPE_KEY = re.compile(rb'\s*\{\s*"(instances|predictions|projections|scores)"\s*:')


def _records_read_are_the_body(buf: bytes | bytearray, start: int, end: int, lines: bool) -> bool:
    """Whether the records the column reader read are those the general path reads: not so
    for a document whose envelope key comes twice (``{"instances": [...], "instances":
    []}``: the parser keeps the last array, the reader read the first), or for an object
    document that is no envelope but holds an ``"instances"`` key (the general path does
    not read it as a record). Only then may the reader's keys refuse a body (the column
    limit) or its stop name the record to check first (the hint). Conservative: an
    envelope word anywhere else in the body (a key or a string of a record) answers False
    too, and the general path decides."""
    if lines:
        return True
    m = _ENVELOPE_KEY.match(buf, start, end)
    if m is None:
        return buf[start : start + 64].lstrip()[:1] == b"[" or buf.find(b'"instances"', start, end) < 0
    return buf.find(b'"' + m.group(1) + b'"', m.end(), end) < 0


def _refuse_columns(keys: list[tuple[str | None, int]], full: int, limit: int, request: bool) -> None:
    """With a column limit in force (`column_limit`, while `decode_within` decodes): refuse
    a body the column reader declined after reading more distinct keys than `limit` (not
    counting a request's string fields; `full`: and one more, the key past the 4096
    columns it reads), before the general path builds anything: each such key is a column
    of the batch, or the body is refused anyway (one column given twice). So a body of a
    million keys is refused after its first 4097. Keys that name one column count once: a
    request's ``features``, ``values`` and its ``data`` object's ``features`` and
    ``values`` are the column ``values``, a key of the ``data`` object is the feature of
    that name (``[{"features": [1]}, {"values": [2]}]`` is one column); the key whose value
    stopped the reader (kind 0) does not count (its record may be the body's error, which
    the general path reports first)."""
    count = len(keys) + (1 if full else 0)
    if count > limit:
        columns: set[tuple[bool, str | None]] = set()  # (a label's, name)
        for key, kind in keys:
            if kind == 0:
                continue
            if key is None or not request:
                columns.add((False, key))
                continue
            part, nested, inner = key.partition("\0")
            if nested:
                label = part == "label"
                columns.add((label, "values" if not label and inner == "features" else inner))
            elif key not in _STRING_FIELDS:
                columns.add((False, "values" if key == "features" else key))
        count = len(columns) + (1 if full else 0)
    if count > limit:
        raise columns_refused()


def _over_budget(n: int, cols: Sequence[tuple[str, str, Any, int, Any]]) -> bool:
    """Whether the columns of a kernel's reading (one map) pass `cells_budget`."""
    present = sum(n if c[4] is None else np.frombuffer(c[4], np.int64).size for c in cols)
    lacking = sum(c[4] is not None for c in cols)
    budget = cells_budget(n, present)
    return len(cols) * n > budget or len(cols) * n + LACKING_CELLS * lacking > lacking_budget(budget)


def _valid_before(cols: list[tuple[str | None, int]]) -> bool:
    """Whether the records a declined kernel read whole (their keys and the kinds of their
    values, `cols`) are ones the grammar reads without an error: no string field holding
    anything but strings, no ``data`` or ``label`` holding no object, no feature named
    twice (which one record may do; the kernel keeps the names apart), a key that is
    UTF-8."""
    names: set[str] = set()
    for key, kind in cols:
        if key is None:
            return False
        part, nested, inner = key.partition("\0")
        if nested:
            if part == "label":
                continue  # one object's keys: never twice in a record the kernel read
            name = "values" if inner == "features" else inner
        elif key in _STRING_FIELDS:
            if kind != ord("s"):
                return False
            continue
        elif key in ("data", "label"):
            return False
        else:
            name = "values" if key == "features" else key
        if name in names:
            return False
        names.add(name)
    return True


def record_column(
    n: int, key: str, kind: str, payload: Any, width: int, dtype: DtypeSpec, index: Any = None
) -> Any:
    """The column of one key of `response_fast` or `request_fast` (a kernel's payload), in
    its dtype; None where the general path must decide (a float32 rounding boundary, or a
    value that does not convert: the general path names it and its record). With `index`
    (the records that hold the key), the others lack it: None in a strings column, an
    invalid empty record of a `Ragged` column otherwise, as the general path gives them."""
    col: Any
    held = None if index is None else np.frombuffer(index, dtype=np.int64)
    if kind == "s":
        col = np.empty(n, dtype=object)
        if held is None:
            col[:] = payload
        else:
            col[held] = payload
        return col
    if kind == "S":
        # lists of strings (requests): one list per record, as the general path holds them
        # (None in a record that lacks the key)
        col = np.empty(n, dtype=object)
        for i, texts in zip(range(n) if held is None else held.tolist(), payload, strict=True):
            col[i] = texts
        return col
    if kind == "k":
        # sparse records (requests): CSR, as the request scanner's records give it
        if held is not None:
            return None  # sparse records some records lack: the general path
        values, keys, counts = (
            np.frombuffer(x, dtype=d)
            for x, d in zip(payload[:3], (np.float64, np.int64, np.int64), strict=True)
        )
        col = FastGroup("", key, values, counts, keys=keys, shape=tuple(payload[3])).column()
    elif kind == "N":
        # nested lists of one shape (the same in every record)
        if held is not None:
            return None  # some records lack the key: the general path
        col = np.frombuffer(payload[0], dtype=np.float64).reshape(n, *payload[1])
    elif kind == "r" or held is not None:
        # numbers (shape ()) among lists (shape (k,)): a ragged column, a number one value;
        # a record without the key: no values, and not valid
        if kind == "r":
            values, counts = (
                np.frombuffer(x, dtype=d) for x, d in zip(payload, (np.float64, np.int64), strict=True)
            )
            counts = np.where(counts < 0, 1, counts)
        else:
            values = np.frombuffer(payload, dtype=np.float64)
            assert held is not None  # a column of one kind, which some records lack
            counts = np.full(len(held), 1 if kind == "n" else width, np.int64)
        lengths = counts
        valid = None
        if held is not None:
            lengths = np.zeros(n, dtype=np.int64)
            lengths[held] = counts
            valid = np.zeros(n, dtype=bool)
            valid[held] = True
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        col = Ragged(values, offsets, valid)
    else:
        col = np.frombuffer(payload, dtype=np.float64)
    if kind == "v" and held is None:
        col = col.reshape(n, width)
    dt = _resolve_dtype(dtype, key)
    if dt == np.float32 and _has_boundaries(col):
        return None  # the general path decides those from their text
    col, bad, _why, _value = _convert_column(col, dt)
    return None if bad is not None else col


#: Request keys `request_fast` reads: a record's strings (the rest are features).
_STRING_FIELDS = ("uid", "metadata", "configuration")


def request_fast(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    dtype: DtypeSpec,
    hint: list[int] | None = None,
    content_type: str | None = None,
    twin: bool = False,
) -> RecordBatch | None:
    """A request body (``{"instances": [...]}``, a bare list of records, or JSON Lines) whose
    records are flat objects with the same keys, each holding a number, a string or a list
    of numbers of one length in every record (several columns, strings columns), as the
    batch the general path builds from it, column by column with no Python object per
    record beyond a string's str (``_cjsonrec.json_records`` in its request mode, else its
    twin `records_pure`); None and the general path decides (Rule 7). ``features`` is the
    column ``values``; ``uid``, ``metadata`` and ``configuration`` holding strings are the
    batch's strings; the keys of a ``data`` object are features (its ``features`` the column
    ``values``), those of a ``label`` object the label's columns; a tensor object of values
    alone (``{"values": [...]}``) is its list. One column given twice declines.

    With `hint` (the C path), a declined body appends to it the index of the record the
    kernel stopped in and the offset where that record begins (-1: not begun), when every
    record before it is one the grammar reads without an error (`_valid_before`): the
    general path then looks at that record first (its error, if it has one, is the first
    of the body: a record's errors come before any column's).

    With `content_type`, a declined body whose records are all sound but whose columns
    cannot hold them is refused here with the general path's error (`column_errors`,
    Rule 10), and `hint` gets the record the check-mode reading stopped in, where it read
    further than the first reading.

    With `twin`, the twin reads the body even where the C kernel is built: the caller's
    second try of a body the kernel declined (a key given twice in a record, which the
    kernel declines and orjson reads as its last, is the twin's)."""
    if _CREC is not None and not twin:
        limit = column_limit()
        report = hint is not None or content_type is not None or limit is not None
        got = _CREC.json_records(buf, start, end, lines, True, False, False, False, report)
        if got is not None and got[0] is None:  # declined, with what it read
            same = _records_read_are_the_body(buf, start, end, lines)
            if limit is not None and same:
                _refuse_columns(got[2], got[5], limit, True)
            if same and _valid_before(got[2]):
                stop: tuple[int, int] | None = (got[1], got[3])
                if content_type is not None and got[4]:  # it stopped in a value the grammar reads
                    stop = column_errors(buf, start, end, lines, True, False, content_type) or stop
                if hint is not None and stop is not None:
                    hint += stop
            return None
    else:
        parsed: list[Any] = []
        got = records_pure(buf, start, end, lines, True, parsed=parsed)
        if got is None and content_type is not None and parsed:
            given = parsed.pop()
            whole = given if given[0] is not None else None  # (None: parsed in pieces, again)
            column_errors(buf, start, end, lines, True, False, content_type, whole)
            if hint is not None:
                stop = _first_refused(given[0], buf, start, end, lines)
                if stop is not None:
                    hint += stop
            del given
        del parsed
    if got is None:
        return None
    n, cols = got
    if _over_budget(n, [c for c in cols if c[0] not in _STRING_FIELDS]):
        return None  # the general path refuses it, and names the record
    maps: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # features, label
    strings: dict[str, list[str | None]] = {}
    for key, kind, payload, width, index in cols:
        part, nested, inner = key.partition("\0")
        if nested:  # a key of the record's "data" (features) or "label" object
            where = maps[part == "label"]
            name = "values" if part == "data" and inner == "features" else inner
        elif key in _STRING_FIELDS:
            if kind != "s":  # a uid that is no string: the general path's error
                _pure_stop(buf, start, end, lines, hint)
                return None
            if index is not None:
                return None  # strings some records lack: the general path
            strings[key] = payload
            continue
        elif key in RESERVED and key != "features":
            # "data" or "label" holding no object: the general path's error
            _pure_stop(buf, start, end, lines, hint)
            return None
        else:
            where = maps[0]
            name = "values" if key == "features" else key
        if name in where:
            # one column given twice ("features" and "values"...): the general path's error
            _pure_stop(buf, start, end, lines, hint)
            return None
        col = record_column(n, name, kind, payload, width, dtype, index)
        if col is None:
            if kind in ("k", "N") and index is not None and content_type is not None:
                # sparse records or nested lists some records lack: the general path's
                # column error
                column_errors(buf, start, end, lines, True, False, content_type)
            return None
        where[name] = col
    return RecordBatch(
        maps[0],
        maps[1],
        strings.get("uid"),
        strings.get("metadata"),
        strings.get("configuration"),
        n=n,
    )


# ======================================================================================
# Column errors without the general path (Rule 10)
# ======================================================================================


#: What a check-mode reading gives (``json_records(check=True)``, or its twin
#: `records_check_pure`): the number of records; per key (the kernel's names: ``data\0x``,
#: ``label\0x``) its kind (``m``, or ``s`` for a request's own string fields), the form of
#: each value it holds (int32 indices into the forms) and the records that hold it (int64,
#: None: all); the forms ``(shape or None, number of values, flags)``; and the offset of
#: each record's first byte (int64), or None (the twin: found where needed, `prefix` the
#: JSON path of the records' list).
class CheckedRecords(NamedTuple):
    n: int
    cols: list[tuple[str | None, int, Any, Any]]
    forms: list[tuple[tuple[int, ...] | None, int, int]]
    offsets: Any
    prefix: str = ""


#: `_column_problem`'s answer for a column whose error the route leaves to the general path.
_UNSURE: Any = object()
_MIXED_NOTE = " (a RecordBatch column holds one kind of value)"


def _column_problem(
    forms: np.ndarray,
    held: np.ndarray | None,
    table: list[tuple[tuple[int, ...] | None, int, int]],
    flags_of: np.ndarray,
    sizes_of: np.ndarray,
    n: int,
    map_name: str,
    lines: bool,
) -> Any:
    """The `ColumnError` `_ColumnBuilder._column` raises for a column whose values have
    `forms` (indices into `table`, in record order; `held`: their records, None for
    0..n-1), as (reason, record, mixed); None when it raises none; `_UNSURE` where the
    route leaves the column to the general path (JSON Lines: a tensor object without a
    shape in a sparse column, whose form the request scanner's blocks read otherwise)."""

    def at(j: int) -> int:
        return j if held is None else int(held[j])

    absent = forms.size != n
    used = np.flatnonzero(np.bincount(forms, minlength=len(table))).tolist()
    if any(table[f][2] & _BYTES for f in used):  # `_strings`
        bad_of = np.zeros(len(table), dtype=bool)
        for f in used:
            _shape, size, flags_f = table[f]
            bad_of[f] = not flags_f & _BYTES and not (size == 0 and not flags_f & _KEYED)
        bad = bad_of[forms]
        if bad.any():
            return "numeric tensor in a column of byte strings", at(int(np.argmax(bad))), True
        return None
    shapes = {f: table[f][0] for f in used}
    if any(table[f][2] & _SPARSE for f in used):  # `_sparse`
        flags = flags_of[forms]
        sizes = sizes_of[forms]
        if absent:
            assert held is not None
            present = np.zeros(n, dtype=bool)
            present[held] = True
            return "key missing from a record of a sparse column", int(np.argmin(present)), True
        if lines and any(shape_f is None for shape_f in shapes.values()):
            return _UNSURE
        sparse_rows = np.flatnonzero(flags & _SPARSE)
        first = int(sparse_rows[0])
        shape = shapes[int(forms[first])]
        same = np.zeros(len(table), dtype=bool)
        for f, shape_f in shapes.items():
            same[f] = shape_f == shape
        differ = sparse_rows[~same[forms[sparse_rows]]]
        for i in [first] + ([int(differ[0])] if differ.size else []):
            if not shapes[int(forms[i])]:
                return "sparse tensor without a shape", i, True
        assert shape is not None
        if differ.size:
            i = int(differ[0])
            other = list(shapes[int(forms[i])] or ())
            return f"sparse records have different shapes ({other} vs {list(shape)})", i, True
        width = math.prod(shape)
        if width > _MAX_COLUMN_WIDTH:
            return f"sparse shape {list(shape)} has {width} elements, more than 2**63 - 1", 0, False
        fits = np.zeros(len(table), dtype=bool)
        for f, shape_f in shapes.items():
            fits[f] = shape_f is None or shape_f == shape
        dense_rows = ((flags & _KEYED) == 0) & (sizes > 0)
        wrong = dense_rows & ((sizes != width) | ~fits[forms])
        if wrong.any():
            return "dense record that does not fit the sparse shape", int(np.argmax(wrong)), True
        return None
    # `_dense`
    scalar = map_name == "label" and all(shapes[s] is None and table[s][1] == 1 for s in used)
    logical: dict[int, tuple[int, ...]] = {}
    for s in used:
        shape_s, size, _flags = table[s]
        logical[s] = (() if scalar else (size,)) if shape_s is None else shape_s
    # a dense tensor whose shape does not hold its values (the grammar refuses those)
    wrong_of = np.zeros(len(table), dtype=bool)
    for s in used:
        shape_s, size, _flags = table[s]
        wrong_of[s] = shape_s is not None and math.prod(shape_s) != size
    if wrong_of.any():
        j = int(np.argmax(wrong_of[forms]))
        shape_s, size, _flags = table[int(forms[j])]
        return f"dense tensor of shape {list(shape_s or ())} has {size} values", at(j), True
    first_shape = logical[int(forms[0])]
    problem = shape_problem(first_shape, n)
    if problem is not None:
        return problem, 0, False
    same_of = np.zeros(len(table), dtype=bool)
    for s in used:
        same_of[s] = logical[s] == first_shape
    differs = ~same_of[forms]
    if not absent and not differs.any():
        return None
    if any(len(logical[s]) > 1 for s in used):
        first_absent = n
        if absent:
            assert held is not None
            present = np.zeros(n, dtype=bool)
            present[held] = True
            first_absent = int(np.argmin(present))
        j = int(np.argmax(differs)) if differs.any() else -1
        first_differ = at(j) if j >= 0 else n
        if first_absent < first_differ:
            return (
                f"no tensor in this record, while others have shape {list(first_shape)}",
                first_absent,
                True,
            )
        shape_j = logical[int(forms[j])]
        return f"records have different shapes ({list(shape_j)} vs {list(first_shape)})", first_differ, True
    return None


def first_column_error(got: CheckedRecords, request: bool, lines: bool) -> tuple[str, int] | None:
    """The first `ColumnError` the general path's column builder raises for the records of
    `got` (every one of them a record the grammar reads without an error), as the message
    `_build_columns` gives it and its record; None when it raises none, and where the route
    is unsure (two keys of one column, such as ``features`` and ``data.features``; a key
    that is not UTF-8; more column cells than `cells_budget` allows, which the general path
    reports first; `_column_problem`'s `_UNSURE`): the general path decides."""
    n = got.n
    maps: dict[str, dict[str, tuple[Any, Any]]] = {"features": {}, "label": {}}
    for key, kind, forms, index in got.cols:
        if key is None:
            return None
        part, nested, inner = key.partition("\0")
        if not request:
            where, name = "label", key
        elif nested:
            where = "label" if part == "label" else "features"
            name = "values" if part == "data" and inner == "features" else inner
        elif key in _STRING_FIELDS:
            if kind != ord("s"):
                return None
            continue
        elif key in RESERVED and key != "features":
            return None
        else:
            where, name = "features", ("values" if key == "features" else key)
        if name in maps[where]:
            return None
        maps[where][name] = (forms, index)
    for cols in maps.values():
        present = sum(n if index is None else len(index) // 8 for _f, index in cols.values())
        budget = cells_budget(n, present)
        if len(cols) * n > budget or len(cols) * (n + LACKING_CELLS) > lacking_budget(budget):
            return None  # the general path's budget error comes first, or may
    table = got.forms
    flags_of = np.array([f[2] for f in table], dtype=np.int8)
    sizes_of = np.array([f[1] for f in table], dtype=np.int64)
    for map_name, cols in maps.items():
        for name, (forms, index) in cols.items():
            held = None if index is None else np.frombuffer(index, dtype=np.int64)
            problem = _column_problem(
                np.frombuffer(forms, dtype=np.int32), held, table, flags_of, sizes_of, n, map_name, lines
            )
            if problem is _UNSURE:
                return None
            if problem is not None:
                reason, k, mixed = problem
                return f"{map_name}[{name!r}]: {reason}" + (_MIXED_NOTE if mixed else ""), k
    return None


def _nested_shape(v: list[Any]) -> tuple[int, ...] | None:
    """The shape numpy gives nested lists of numbers (``_cjsonrec``'s check_nested: every
    list of a level of one length, numbers at the deepest level only, at most
    `_MAX_SCAN_RANK` levels), or None."""
    shape: list[int] = []
    level: Any = v
    while type(level) is list:
        if len(shape) >= _MAX_SCAN_RANK:
            return None
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    flat = _rectangular(v, shape)
    if flat is None or not set(map(type, flat)) <= _NUM_TYPES:
        return None
    return tuple(shape)


def _rectangular(v: list[Any], shape: list[int]) -> list[Any] | None:
    """The items of nested list `v` at depth ``len(shape)``, in order, when each level's
    lists all have the length `shape` gives it (the first list of each level), else None."""
    flat: list[Any] = v
    for size in shape[1:]:
        if not all(type(x) is list and len(x) == size for x in flat):
            return None
        flat = list(chain.from_iterable(flat))
    return flat


def _tensor_form(t: Tensor) -> _Form:
    """The form `_ColumnBuilder._add` gives a tensor the grammar read."""
    size = int(t.values.size)
    flags = _BYTES if t.values.dtype.kind in "OUS" else 0
    if t.keys is not None:
        flags |= _KEYED | _SPARSE
    elif size == 0 and t.shape is not None and len(t.shape) > 0 and math.prod(t.shape) > 0:
        flags |= _SPARSE
    return (t.shape, size, flags)


def _value_forms(vals: list[Any], intern: Callable[[_Form], int]) -> list[int] | None:
    """The form of each value (as `cell` reads it), or None where one is not a value the
    grammar reads (its record's error: the general path reports it)."""
    types = list(map(type, vals))
    kinds = set(types)
    out: list[int] = [0] * len(vals)
    for t in kinds:
        if len(kinds) == 1:
            where: Sequence[int] = range(len(vals))
            part = vals
        else:
            where = [j for j, x in enumerate(types) if x is t]
            part = [vals[j] for j in where]
        if t in _NUM_TYPES:
            ids = [intern(((), 1, 0))] * len(part)
        elif t is str:
            ids = [intern(((), 1, _BYTES))] * len(part)
        elif t is list:
            got = _list_forms(part, intern)
            if got is None:
                return None
            ids = got
        elif t is dict:
            ids = []
            for v in part:
                try:
                    ids.append(intern(_tensor_form(cell(v, "$"))))
                except BadValue:
                    return None
        else:
            return None  # true, false, null: the record's error
        for j, f in zip(where, ids, strict=True):
            out[j] = f
    return out


def _list_forms(lists: list[list[Any]], intern: Callable[[_Form], int]) -> list[int] | None:
    """`_value_forms` of lists: empty, of numbers, of strings, or nested."""
    firsts = [type(v[0]) if v else None for v in lists]
    out: list[int] = [0] * len(lists)
    for t in set(firsts):
        where = [j for j, x in enumerate(firsts) if x is t]
        part = [lists[j] for j in where]
        if t is None:
            ids = [intern(((0,), 0, 0))] * len(part)
        elif t in _NUM_TYPES or t is str:
            if t is str:
                if set(map(type, chain.from_iterable(part))) != {str}:
                    return None
                flags = _BYTES
            else:
                if not set(map(type, chain.from_iterable(part))) <= _NUM_TYPES:
                    return None
                flags = 0
            by_length: dict[int, int] = {}
            ids = []
            for k in map(len, part):
                f = by_length.get(k)
                if f is None:
                    f = by_length[k] = intern(((k,), k, flags))
                ids.append(f)
        elif t is list:
            got = _nested_forms(part, intern)
            if got is None:
                return None
            ids = got
        else:
            return None
        for j, f in zip(where, ids, strict=True):
            out[j] = f
    return out


def _of_shape(vals: list[list[Any]], shape: tuple[int, ...]) -> bool:
    """Whether every one of `vals` is nested lists of numbers of `shape` (one pass over
    each level of all of them at once)."""
    level: list[Any] = vals
    for d, size in enumerate(shape):
        if set(map(len, level)) != {size}:
            return False
        level = list(chain.from_iterable(level))
        if d + 1 < len(shape):
            if level and set(map(type, level)) != {list}:
                return False
        elif not set(map(type, level)) <= _NUM_TYPES:
            return False
    return True


def _nested_forms(part: list[list[Any]], intern: Callable[[_Form], int]) -> list[int] | None:
    """`_list_forms` of nested lists: a block of 1,024 of the first one's shape at once,
    else one at a time (`_nested_shape`)."""
    first = _nested_shape(part[0])
    if first is None:
        return None
    first_id = intern((first, math.prod(first), 0))
    ids: list[int] = []
    for lo in range(0, len(part), 1024):
        block = part[lo : lo + 1024]
        if _of_shape(block, first):
            ids.extend([first_id] * len(block))
            continue
        for v in block:
            shape = _nested_shape(v)
            if shape is None:
                return None
            ids.append(intern((shape, math.prod(shape), 0)))
    return ids


def _columns_by_order(
    items: list[dict[str, Any]], request: bool
) -> dict[str, tuple[list[int], list[Any]]] | Literal[False] | None:
    """The values of each key of `items` (the records that hold it, and its values, in
    record order), taken a key order at a time: the records of each order of keys give
    their columns at once (`itemgetter`). False for a record `records_check_pure` refuses;
    None where it reads the records one at a time (a request's data or label objects, or
    key orders many records have of their own)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, order in enumerate(map(tuple, items)):
        got = groups.get(order)
        if got is None:
            if len(groups) > 64 + len(items) // 64:
                return None  # key orders of their own: record by record
            got = groups[order] = []
        got.append(i)
    parts: dict[str, list[tuple[list[int], list[Any]]]] = {}
    for order, held in groups.items():
        if _over_keys(order, request) or any("\0" in k for k in order):
            return False
        if request and any(k in ("data", "label") for k in order):
            return None  # their objects: record by record
        recs = items if len(held) == len(items) else [items[i] for i in held]
        for k in order:
            vals = list(map(itemgetter(k), recs))
            if request and k in _STRING_FIELDS and set(map(type, vals)) != {str}:
                return False  # the record's error, or a configuration object
            parts.setdefault(k, []).append((held, vals))
        if _over_keys(parts, request):
            return False
    out: dict[str, tuple[list[int], list[Any]]] = {}
    for k, pieces in parts.items():
        if len(pieces) == 1:
            out[k] = pieces[0]
            continue
        held = list(chain.from_iterable(p[0] for p in pieces))
        vals = list(chain.from_iterable(p[1] for p in pieces))
        order_of = np.argsort(np.array(held, dtype=np.int64), kind="stable").tolist()
        out[k] = ([held[j] for j in order_of], [vals[j] for j in order_of])
    return out


def records_check_pure(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    request: bool,
    allow_nan: bool = False,
    given: tuple[list[Any], str] | None = None,
) -> CheckedRecords | None:
    """The twin of ``_cjsonrec.json_records(check=True)`` for the pure path: the forms of
    every value of the records of ``buf[start:end]`` (parsed by orjson, as `records_pure`
    parses them: a piece at a time where the body is long, `_record_pieces`), when every
    record is an object the grammar reads without an error and the route reads (no key
    holding NUL, a request's own ``uid``, ``metadata`` and ``configuration`` strings, its
    ``data`` and ``label`` objects, at most `_RECORD_KEYS` keys); else None (the general
    path). The offsets of JSON Lines records (their line's first byte that is not a blank);
    for a JSON document, the JSON path of its records' list (their offsets are found where
    needed). `given`: the records as `records_pure` parsed them and their list's path (then
    no offsets: found where needed)."""
    offs: array[int] | None = None
    pieces: Iterable[list[Any] | None]
    if given is not None:
        pieces, prefix = [given[0]], given[1]
    elif lines:
        offs = array("q")
        pieces, prefix = _line_pieces(buf, start, end, allow_nan, end - start > _TWIN_WHOLE, offs), ""
    else:
        got = _record_pieces(buf, start, end, False, allow_nan, request)
        if got is None:
            return None
        pieces, prefix = got.pieces, got.path
    table: list[_Form] = []
    ids: dict[_Form, int] = {}

    def intern(f: _Form) -> int:
        got = ids.get(f)
        if got is None:
            got = ids[f] = len(table)
            table.append(f)
        return got

    # per key, its pieces: (the records that hold it, None: all of the piece's; the forms
    # of its values as int32 bytes, b"" for a request's own strings)
    keys: dict[str, list[tuple[int, int, list[int] | None, bytes]]] = {}
    n = 0
    for items in pieces:
        if items is None:
            return None
        where = _check_piece(items, request)
        if where is None:
            return None
        size = len(items)
        del items
        for key, (held, vals) in where.items():
            if request and key in _STRING_FIELDS:
                forms = b""
            else:
                got_forms = _value_forms(vals, intern)
                if got_forms is None:
                    return None
                forms = np.array(got_forms, dtype=np.int32).tobytes()
            keys.setdefault(key, []).append((n, size, None if len(held) == size else held, forms))
        n += size
        del where
        if _over_keys(keys, request):
            return None
    cols: list[tuple[str | None, int, Any, Any]] = []
    for key, parts in keys.items():
        if all(held is None for _base, _size, held, _forms in parts) and sum(p[1] for p in parts) == n:
            index = None
        else:
            index = np.concatenate(
                [
                    np.arange(base, base + size, dtype=np.int64)
                    if held is None
                    else np.array(held, np.int64) + base
                    for base, size, held, _forms in parts
                ]
            ).tobytes()
        if request and key in _STRING_FIELDS:
            cols.append((key, ord("s"), b"", index))
        else:
            cols.append((key, ord("m"), b"".join(p[3] for p in parts), index))
    if n == 0:
        return None
    return CheckedRecords(n, cols, table, None if offs is None else np.frombuffer(offs, np.int64), prefix)


def _check_piece(items: list[Any], request: bool) -> dict[str, tuple[list[int], list[Any]]] | None:
    """The values of each key of a piece of records for `records_check_pure` (the records
    that hold it, and its values, in record order), or None where it declines the body."""
    if not items or set(map(type, items)) != {dict}:
        return None
    by_order = _columns_by_order(items, request)
    if by_order is False:
        return None
    where: dict[str, tuple[list[int], list[Any]]] = {} if by_order is None else by_order
    for i, r in enumerate(items if by_order is None else ()):
        if _over_keys(r, request):
            return None  # the general path reads records of many keys
        for k, v in r.items():
            if "\0" in k:
                return None
            if request and k in ("data", "label"):
                if type(v) is not dict or len(v) > _RECORD_KEYS:
                    return None
                for name, x in v.items():
                    if "\0" in name:
                        return None
                    got = where.setdefault(f"{k}\0{name}", ([], []))
                    got[0].append(i)
                    got[1].append(x)
                continue
            if request and k in _STRING_FIELDS and type(v) is not str:
                return None  # the record's error, or a configuration object
            got = where.setdefault(k, ([], []))
            got[0].append(i)
            got[1].append(v)
        if _over_keys(where, request):
            return None
    return where


def _checked(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    request: bool,
    allow_nan: bool,
    given: tuple[list[Any], str] | None = None,
) -> CheckedRecords | tuple[int, int] | None:
    """The check-mode reading of a body (C, else the twin, of the records `given` when
    `records_pure` parsed them): `CheckedRecords`, or the record the kernel stopped in and
    the offset where it begins when every record before it is sound (`_valid_before`), or
    None."""
    if _CREC is None:
        return records_check_pure(buf, start, end, lines, request, allow_nan, given)
    got = _CREC.json_records(buf, start, end, lines, request, False, allow_nan, not request, True, True)
    if got[0] is not None:
        return CheckedRecords(got[0], got[1], got[2], np.frombuffer(got[3], dtype=np.int64))
    return (got[1], got[3]) if request and _valid_before(got[2]) else None


def _pure_stop(buf: bytes | bytearray, start: int, end: int, lines: bool, hint: list[int] | None) -> None:
    """Before `request_fast` declines a body the grammar refuses although the twin read it
    (a "data" object that is none, a uid that is no string, a column under two keys): on
    the pure path, with `hint`, the refused record (`_first_refused`), as the kernel
    reports it."""
    if _CREC is None and hint is not None:
        stop = _first_refused(None, buf, start, end, lines)
        if stop is not None:
            hint += stop


def _first_refused(
    items: list[Any] | None, buf: bytes | bytearray, start: int, end: int, lines: bool, response: bool = False
) -> tuple[int, int] | None:
    """The pure path's report of a declined request (with `response`, a response; what the
    kernel's `report` tells): the first record of `items` (the parsed records; None: those
    of ``buf[start:end]``, parsed as `records_pure` parses them) that the grammar refuses,
    and the offset of its first byte; every record before it is sound, so its error is the
    body's first (a record's errors come before any column's). None when none is refused,
    or its offset is not found: the general path decides."""
    starts = None
    if items is None:
        got = _record_pieces(buf, start, end, lines, False, not response)
        pieces: Iterable[list[Any] | None] = () if got is None else got.pieces
        starts = None if got is None else got.starts
    else:
        pieces = [items]
    base = 0
    for piece in pieces:
        if piece is None:
            return None
        for k, rec in enumerate(piece, base):
            if _plainly_sound_response(rec) if response else _plainly_sound(rec):
                continue
            try:
                if response:
                    response_record(rec, "$")
                else:
                    _instance_cells(rec, "$")
            except BadValue:
                if starts is not None:  # (a long document the structure scan split)
                    blanks = _BLANKS.match(buf, start + int(starts[k]))
                    return None if blanks is None else (k, blanks.end())
                at = record_offset(buf, k, lines)
                return None if at is None else (k, at)
        base += len(piece)
    return None


def _plainly_sound_response(rec: Any) -> bool:
    """Whether a parsed response record is, at a glance, one the grammar reads: an object
    of numbers and strings. False says nothing: `response_record` decides."""
    return type(rec) is dict and set(map(type, rec.values())) <= _SCALAR_TYPES


def _plainly_sound(rec: Any) -> bool:
    """Whether a parsed request record is, at a glance, one the grammar reads: an object of
    features holding numbers, strings, or non-empty lists of numbers or of strings (no
    reserved key but ``features``, not both ``features`` and ``values``). False says
    nothing: `_instance_cells` decides."""
    if type(rec) is not dict or ("features" in rec and "values" in rec):
        return False
    for k, v in rec.items():
        t = type(v)
        if k in RESERVED and k != "features":
            return False
        if t in _NUM_TYPES or t is str:
            continue
        if t is not list or not v:
            return False
        kinds = set(map(type, v))
        if not (kinds <= _NUM_TYPES or kinds == {str}):
            return False
    return True


def column_errors(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    request: bool,
    allow_nan: bool,
    content_type: str,
    given: tuple[list[Any], str] | None = None,
) -> tuple[int, int] | None:
    """Raise the `DecodeError` of the first column error of a body the column reader
    declined, as the general path reports it (message, offset, line, record index), when
    the check-mode reading (`_checked`) reads every record: then none has an error of its
    own, which would come first, and the body's first error is a column's (Rule 10).
    Otherwise the record the kernel stopped in, with every record before it sound (the
    caller reads it first), or None; and nothing when the route finds no error or is
    unsure: the general path decides."""
    got = _checked(buf, start, end, lines, request, allow_nan, given)
    del given
    if not isinstance(got, CheckedRecords):
        return got
    found = first_column_error(got, request, lines)
    if found is None:
        return None
    reason, k = found
    if got.offsets is not None:
        off: int | None = int(got.offsets[k])
    elif lines:
        off = record_offset(buf, k, True)
    else:
        off = path_offset(buf, start, end, f"{got.prefix}[{k}]")
    line = None if off is None or not lines else buf.count(b"\n", 0, off) + 1
    raise DecodeError(content_type, reason, offset=off, record_index=k, line=line)


# ======================================================================================
# Parsed groups of records -> RecordBatch
# ======================================================================================


@dataclass
class FastGroup:
    """Records that are each ``{name: [numbers]}`` (or a number): one column, flat values
    and counts (a scalar record counts 1 and is marked in `scalars`)."""

    map_name: str
    key: str
    values: np.ndarray  # float64 (float32 when the request scanner read them so)
    counts: np.ndarray  # int64, one per record
    offsets: np.ndarray | None = None  # byte offset of each record, when known
    lines: np.ndarray | None = None  # 1-based line of each record, when known
    keys: np.ndarray | None = None  # int64 flat index of each value: sparse records
    shape: tuple[int, ...] | None = None  # the sparse records' shape, or (no keys) the nested lists' one
    #: bool per record, true for a scalar (one number, shape ()); None: no scalar record
    scalars: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.counts.size)

    def take(self, a: int, b: int) -> FastGroup:
        ends = np.cumsum(self.counts)
        lo = int(ends[a - 1]) if a else 0
        hi = int(ends[b - 1]) if b else 0
        return FastGroup(
            self.map_name,
            self.key,
            self.values[lo:hi],
            self.counts[a:b],
            None if self.offsets is None else self.offsets[a:b],
            None if self.lines is None else self.lines[a:b],
            None if self.keys is None else self.keys[lo:hi],
            self.shape,
            None if self.scalars is None else self.scalars[a:b],
        )

    def records(self) -> list[Rec]:
        ends = np.cumsum(self.counts).tolist()
        values = self.values.astype(np.float64, copy=False)  # as the general path reads them
        scalars = [False] * len(ends) if self.scalars is None else self.scalars.tolist()
        out = []
        lo = 0
        for hi, scalar in zip(ends, scalars, strict=True):
            if self.keys is None:
                t = Tensor(values[lo:hi], shape=() if scalar else (self.shape or (hi - lo,)))
            else:
                keys = self.keys[lo:hi].astype(np.uint64)
                t = Tensor(values[lo:hi], keys=keys, shape=self.shape)
            out.append(Rec({self.key: t}, {}) if self.map_name == "features" else Rec({}, {self.key: t}))
            lo = hi
        return out

    def column(self) -> Any:
        """The column of these records, as `columns_from_records` builds it from them."""
        n = len(self)
        if self.keys is not None:
            assert self.shape is not None
            width = math.prod(self.shape)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(self.counts, out=indptr[1:])
            i32 = np.iinfo(np.int32).max
            idx = np.int32 if width <= i32 and indptr[-1] <= i32 else np.int64
            m = sp.csr_array((self.values, self.keys.astype(idx), indptr.astype(idx)), shape=(n, width))
            return m if len(self.shape) == 1 else Sparse(m, self.shape)
        counts = self.counts
        if self.shape is not None:
            return self.values.reshape((n, *self.shape))  # nested lists, all of one shape
        if self.scalars is not None and self.scalars.all():
            return self.values.reshape(n)  # scalar records: shape ()
        if self.scalars is None and (counts == counts[0]).all():
            return self.values.reshape(n, int(counts[0]))
        # scalars among lists (shapes () and (k,)), or lists of several lengths
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Ragged(self.values, offsets)

    @staticmethod
    def join(groups: Sequence[FastGroup]) -> FastGroup:
        """One group of the records of `groups` (all of one column, kind and dtype)."""
        if len(groups) == 1:
            return groups[0]
        g = groups[0]
        keys = None if g.keys is None else np.concatenate([x.keys for x in groups if x.keys is not None])
        scalars = None
        if any(x.scalars is not None for x in groups):
            scalars = np.concatenate(
                [np.zeros(len(x), dtype=bool) if x.scalars is None else x.scalars for x in groups]
            )
        return FastGroup(
            g.map_name,
            g.key,
            np.concatenate([x.values for x in groups]),
            np.concatenate([x.counts for x in groups]),
            keys=keys,
            shape=g.shape,
            scalars=scalars,
        )


@dataclass
class GeneralGroup:
    """Records parsed one by one: `Rec` objects, or (with `parse`) the JSON values of the
    records, turned into `Rec` objects `CHUNK` at a time while the columns are built (the
    path of record i in messages is ``f"{prefix}[{i}]"``, or `prefix` alone when it is
    ``"$"`` or empty and the group holds one record; `LazyRecords` for a long document)."""

    recs: list[Any] | LazyRecords
    offsets: Sequence[int | None] | None = None
    lines: Sequence[int | None] | None = None
    parse: Callable[[Any, str], Rec] | None = None
    prefix: str = ""
    #: The text the records were parsed from and the offset of its first byte in the input
    #: (for the byte offset of a value a message names): one JSON document (`offsets` None:
    #: paths from its root), or lines starting at `offsets`.
    text: tuple[bytes | bytearray, int] | None = None

    def __len__(self) -> int:
        return len(self.recs)

    def take(self, a: int, b: int) -> GeneralGroup:
        return GeneralGroup(
            self.recs[a:b],
            None if self.offsets is None else self.offsets[a:b],
            None if self.lines is None else self.lines[a:b],
            self.parse,
            self.prefix,
            self.text,
        )

    def value_offset(self, k: int, reason: str) -> int | None:
        """Byte offset in the input of what `reason` (a message about record k, starting
        with its JSON path) names, or of record k; None without the text."""
        if self.text is None:
            return None
        buf, base = self.text
        if self.offsets is not None:
            at = self.offsets[k]
            if at is None:
                return None
            lo = at - base
            hi = buf.find(b"\n", lo)
            got = path_offset(buf, lo, len(buf) if hi < 0 else hi, reason)
            return at if got is None else base + got
        doc = skip_bom(buf)
        if not reason.startswith("$"):
            reason = self.path(k)
        got = path_offset(buf, doc, len(buf), reason)
        return None if got is None else base + got

    def path(self, i: int) -> str:
        return f"{self.prefix}[{i}]" if self.prefix else "$"

    def check_record(self, k: int, content_type: str, first_index: int = 0) -> None:
        """Raise the `DecodeError` `batch_from_groups` gives for record k of this group when
        the grammar refuses it (the group alone, its first record numbered `first_index`)."""
        if self.parse is None or not 0 <= k < len(self.recs):
            return
        try:
            # the column builder's reader: the grammar's error, without an object per key
            # of a sound record of many keys
            _CELLS_OF.get(self.parse, self.parse)(self.recs[k], self.path(k))
        except BadValue as e:
            off, line, idx = Locator([self], first_index)(k)
            exact = self.value_offset(k, e.reason)
            # raised here, held by no local: no reference cycle through a frame
            raise DecodeError(
                content_type, e.reason, offset=off if exact is None else exact, record_index=idx, line=line
            ) from None

    def chunks(self) -> Iterator[list[Rec]]:
        """The records as `Rec` objects, `CHUNK` at a time (the grammar's records with their
        bare numbers in `_Cells` maps, for `_ColumnBuilder`); `BadValue` carries ``index``."""
        parse = self.parse if self.parse is None else _CELLS_OF.get(self.parse, self.parse)
        for lo in range(0, len(self.recs), CHUNK):
            part = self.recs[lo : lo + CHUNK]
            if parse is None:
                yield part
                continue
            out = []
            for j, x in enumerate(part, lo):
                try:
                    out.append(parse(x, self.path(j)))
                except BadValue as e:
                    e.index = j
                    raise
            # the JSON values of this chunk are read: let them go (a group is built once)
            self.recs[lo : lo + len(part)] = [None] * len(part)
            del part
            yield out


Group = FastGroup | GeneralGroup


def _resolve_dtype(spec: DtypeSpec, key: str) -> np.dtype[Any]:
    if isinstance(spec, Mapping):
        spec = spec.get(key)
    dt = np.dtype(np.float64) if spec is None else np.dtype(spec)
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be float64, float32 or int32, not {dt}")
    return dt


def check_dtype_spec(spec: DtypeSpec) -> None:
    """Reject a bad ``dtype=`` argument up front (a ValueError: a wrong argument)."""
    if isinstance(spec, Mapping):
        for k in spec:
            _resolve_dtype(spec, k)
    else:
        _resolve_dtype(spec, "")


def _convert_values(values: np.ndarray, dt: np.dtype[Any]) -> tuple[np.ndarray, int | None, str]:
    """(converted, index of the first value that does not convert exactly, why)."""
    if dt == np.float64 or values.dtype.kind != "f" or values.dtype == dt:
        return values, None, ""
    if dt == np.float32:
        with np.errstate(over="ignore"):
            out = values.astype(np.float32)
        bad = np.isinf(out) & ~np.isinf(values)
        if bad.any():
            return out, int(np.flatnonzero(bad)[0]), "is out of the float32 range"
        return out, None, ""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(values) & (values == np.trunc(values))
        ok &= (values >= -(2**31)) & (values <= 2**31 - 1)
    if not ok.all():
        return values, int(np.flatnonzero(~ok)[0]), "is not an int32"
    return values.astype(np.int32), None, ""


def _record_of_value(col: Any, i: int) -> int:
    if isinstance(col, Ragged):
        return int(np.searchsorted(col.offsets, i, side="right") - 1)
    if isinstance(col, Sparse) or sp.issparse(col):
        m = col.matrix if isinstance(col, Sparse) else col
        return int(np.searchsorted(np.asarray(m.indptr), i, side="right") - 1)
    width = math.prod(col.shape[1:])
    return i // width if width else 0


def _convert_column(col: Any, dt: np.dtype[Any]) -> tuple[Any, int | None, str, float]:
    """Column in dtype `dt`: (column, record index at fault or None, why, bad value)."""
    kind = column_kind(col)
    if kind == "strings" or dt == np.float64:
        return col, None, "", 0.0
    if kind == "dense":
        flat = col.reshape(-1)
        out, bad, why = _convert_values(flat, dt)
        if bad is not None:
            return col, _record_of_value(col, bad), why, float(flat[bad])
        return out.reshape(col.shape), None, "", 0.0
    if kind == "ragged":
        out, bad, why = _convert_values(col.values, dt)
        if bad is not None:
            return col, _record_of_value(col, bad), why, float(col.values[bad])
        return Ragged(out, col.offsets, col.valid), None, "", 0.0
    m, shape = sparse_parts(col)
    data = np.asarray(m.data)
    out, bad, why = _convert_values(data, dt)
    if bad is not None:
        return col, _record_of_value(col, bad), why, float(data[bad])
    m2 = type(m)((out, m.indices, m.indptr), shape=m.shape)
    return (m2 if len(shape) == 1 else Sparse(m2, shape)), None, "", 0.0


def _flat_values(col: Any) -> np.ndarray | None:
    """The values of a numeric column, flat (None for strings)."""
    kind = column_kind(col)
    if kind == "strings":
        return None
    if kind == "dense":
        return col.reshape(-1)  # type: ignore[no-any-return]
    if kind == "ragged":
        return col.values  # type: ignore[no-any-return]
    return np.asarray(sparse_parts(col)[0].data)


def _has_boundaries(col: Any) -> bool:
    """A float64 column with a value on a binary32 rounding boundary."""
    from ._exact import float32_boundaries

    flat = _flat_values(col)
    return flat is not None and flat.dtype == np.float64 and bool(float32_boundaries(flat).any())


def _overflow_before_boundaries(col: Any) -> tuple[Any, int, str, float] | None:
    """The float32 conversion error of a float64 column holding binary32 rounding
    boundaries, where its float64 values decide it: the first value out of the float32
    range that is no boundary, when no boundary at the overflow threshold comes before it
    (only that one may overflow or not by its text). Else None: the text decides. So a
    column read again from its text (`pending32`) reports the error it would report there
    in the same order as the other columns, not after them."""
    from ._exact import float32_boundaries

    flat = _flat_values(col)
    if flat is None or column_kind(col) == "sparse":  # sparse: the text decides
        return None
    with np.errstate(over="ignore"):
        over = np.isinf(flat.astype(np.float32)) & ~np.isinf(flat)
    edge = float32_boundaries(flat)
    definite = np.flatnonzero(over & ~edge)
    if definite.size == 0:
        return None
    first = int(definite[0])
    if (over[:first] & edge[:first]).any():
        return None
    return col, _record_of_value(col, first), "is out of the float32 range", float(flat[first])


def fast_exact32(fast: FastGroup, dtype: DtypeSpec) -> bool:
    """False when a scanner's float64 values hold a binary32 rounding boundary and their
    column is float32: such records go to the general path, whose groups keep their text
    to read again (`loads_exact32`)."""
    return not (
        fast.values.dtype == np.float64
        and _resolve_dtype(dtype, fast.key) == np.float32
        and _has_boundaries(fast.values)
    )


def replace_columns(batch: RecordBatch, other: RecordBatch, names: Iterable[tuple[str, str]]) -> RecordBatch:
    """`batch` with the columns `names` ((map, key) pairs) taken from `other`."""
    maps = {"features": dict(batch.features), "label": dict(batch.label)}
    for map_name, key in names:
        maps[map_name][key] = getattr(other, map_name)[key]
    return RecordBatch(
        maps["features"], maps["label"], batch.uid, batch.metadata, batch.configuration, n=len(batch)
    )


def _exact32_float(s: str) -> float:
    """A JSON number's text as the float64 that holds its correctly rounded float32 (the
    cast to float32 is then exact); beyond the float32 range, its float64 (the cast
    overflows and the caller reports it)."""
    from ._exact import float32_of_text

    v = _strict_float(s)
    f = float(float32_of_text(s.encode()))
    return v if math.isinf(f) else f


#: Integers up to this magnitude are exact in float64 (and read as int).
_EXACT_INT = 2**53


def _exact32_int(s: str) -> int | WideInt:
    """A JSON integer's text: an int when float64 holds it exactly, else a `WideInt` (the
    float64 of its correctly rounded float32, never through a float64 of the integer)."""
    from ._exact import float32_of_text

    if len(s) <= 16:  # below 10**16 (or a minus sign and 15 digits): int() is cheap
        n = int(s)
        if -_EXACT_INT <= n <= _EXACT_INT:
            return n
    f = float(float32_of_text(s.encode()))
    out = WideInt(float(s) if math.isinf(f) else f)
    out.text = s
    return out


def loads_exact32(buf: bytes | bytearray, start: int, end: int, allow_nan: bool) -> Any:
    """`loads`, with every JSON number that has a fraction or an exponent, and every integer
    beyond 2**53, read as the float64 of its correctly rounded float32 (for float32 columns;
    Python's json parses; such integers are `WideInt`)."""
    try:
        text = bytes(buf[start:end]).decode("utf-8")
        return _stdjson.loads(
            text, parse_float=_exact32_float, parse_int=_exact32_int, parse_constant=_nonfinite
        )
    except (ValueError, RecursionError, MemoryError):
        # the body parsed once already: only an input that cannot be parsed twice ends here
        raise SyntaxProblem("input too large to parse in memory", None, None) from None


class Locator:
    """Turns a record index of a batch under construction into (offset, line, index)."""

    def __init__(self, groups: Sequence[Group], first_index: int) -> None:
        self.groups = groups
        self.first_index = first_index

    def __call__(self, i: int) -> tuple[int | None, int | None, int]:
        k = i
        for g in self.groups:
            if k < len(g):
                off = None if g.offsets is None else g.offsets[k]
                if off is None and isinstance(g, GeneralGroup):
                    off = g.value_offset(k, "")
                line = None if g.lines is None else g.lines[k]
                return (
                    None if off is None else int(off),
                    None if line is None else int(line),
                    self.first_index + i,
                )
            k -= len(g)
        return None, None, self.first_index + i


def _group_chunks(g: Group) -> Iterator[list[Rec]]:
    if isinstance(g, GeneralGroup):
        yield from g.chunks()
        return
    for lo in range(0, len(g), CHUNK):
        yield g.take(lo, min(lo + CHUNK, len(g))).records()


#: Column cells (keys x records) a batch may hold for any body; beyond it, sixteen per
#: value read and eight per record (`cells_budget`).
CELLS_FLOOR = 1 << 18


def cells_budget(n: int, present: int) -> int:
    """The column cells (one per key per record, present or not) a map of `n` records
    holding `present` values in all may make. A key in one record of N is a column of N
    entries (an int64 offset and a validity byte each, or an object pointer), so records
    of different keys would make a batch quadratic in the body (200 keys in one record
    and 20,000 ``{}`` records: 600 x the body). A value takes at least four bytes of JSON
    (``"k":1,``) and a record two, so sixteen cells per value and eight per record keep
    the batch within about 32 x the body, as RecordIO-protobuf's budget does (one cell
    per byte of the records, plus eight per record); records of 50 optional keys of which
    each holds 5 stay well within it."""
    return max(CELLS_FLOOR, 16 * present + 8 * n)


def _too_many_cells(map_name: str, keys: int, lacking: int, n: int, budget: int) -> str:
    head = f"{map_name}: {keys} different keys in {n} records make {keys * n + LACKING_CELLS * lacking}"
    if lacking:
        return (
            f"{head} column cells ({LACKING_CELLS} more for each key some records lack), more than "
            f"the {budget} allowed (send such records as one sparse tensor)"
        )
    return (
        f"{head} column cells, more than the {budget} these records allow (send such records as "
        "one sparse tensor: keys, values, shape)"
    )


def _build_columns(
    groups: Sequence[Group], content_type: str, locate: Locator
) -> tuple[dict[str, dict[str, Any]], list[list[str | None] | None]]:
    """The columns and strings of the records of `groups`, `CHUNK` records at a time."""
    builders = {name: _ColumnBuilder(name) for name in ("features", "label")}
    texts: list[list[tuple[int, str]]] = [[], [], []]
    limit = column_limit()
    i = 0
    for g in groups:
        for chunk in _wrap_bad(g, i, content_type, locate):
            for r in chunk:
                if r.features:
                    builders["features"].add(i, r.features)
                if r.label:
                    builders["label"].add(i, r.label)
                if r.uid is not None:
                    texts[0].append((i, r.uid))
                if r.metadata is not None:
                    texts[1].append((i, r.metadata))
                if r.configuration is not None:
                    texts[2].append((i, r.configuration))
                i += 1
            for b in builders.values():
                b.end_chunk()
            if limit is not None and len(builders["features"].order) + len(builders["label"].order) > limit:
                raise columns_refused()
            if chunk:
                del r  # the chunk's records go now (a record of many keys holds a large map)
            chunk.clear()
    n = i
    for name, b in builders.items():
        budget = cells_budget(n, b.present())
        past: int | None = None
        if len(b.order) * n > budget:
            past, lacking = budget // n, 0  # the first key past the budget
        elif len(b.order) * (n + LACKING_CELLS) > lacking_budget(budget):
            counts = b.counts()
            budget = lacking_budget(budget)
            past, lacking = cells_over(n, counts, budget), int(np.count_nonzero(counts < n))
        if past is not None:
            # named at the first record of the first key past the budget
            at, at_line, at_index = locate(b.first_record(past))
            raise DecodeError(
                content_type,
                _too_many_cells(name, len(b.order), lacking, n, budget),
                offset=at,
                record_index=at_index,
                line=at_line,
            )
    maps: dict[str, dict[str, Any]] = {}
    for name, b in builders.items():
        try:
            maps[name] = b.finish(n)
        except ColumnError as e:
            off, line, idx = locate(e.record_index) if e.record_index is not None else (None, None, None)
            raise DecodeError(
                content_type,
                f"{e.column}: {e.reason}"
                + (" (a RecordBatch column holds one kind of value)" if e.mixed else ""),
                offset=off,
                record_index=idx,
                line=line,
            ) from None
    strings: list[list[str | None] | None] = [None, None, None]
    for j, pairs in enumerate(texts):
        if pairs:
            vals: list[str | None] = [None] * n
            for k, v in pairs:
                vals[k] = v
            strings[j] = vals
    return maps, strings


def _wrap_bad(g: Group, base: int, content_type: str, locate: Locator) -> Iterator[list[Rec]]:
    """`_group_chunks`, with a `BadValue` turned into the `DecodeError` naming its record."""
    try:
        yield from _group_chunks(g)
    except BadValue as e:
        k = base + (e.index or 0)
        off, line, idx = locate(k)
        if isinstance(g, GeneralGroup):
            exact = g.value_offset(e.index or 0, e.reason)
            off = off if exact is None else exact
        raise DecodeError(content_type, e.reason, offset=off, record_index=idx, line=line) from None


def validate_groups(groups: Sequence[Group], content_type: str, first_index: int = 0) -> None:
    """Raise the `DecodeError` of the first record of `groups` the grammar refuses, if any
    (a reader that meets bytes that are not JSON calls this first, so that an earlier
    record's error is the one reported)."""
    groups = [g for g in groups if len(g)]
    locate = Locator(groups, first_index)
    base = 0
    for g in groups:
        if isinstance(g, GeneralGroup) and g.parse is not None:
            for _chunk in _wrap_bad(g, base, content_type, locate):
                pass
        base += len(g)


def _clean_conversions(cols: Mapping[str, Any], dtype: DtypeSpec, boundaries: bool) -> dict[str, Any]:
    """The dense and ragged float64 columns of `cols` whose values all convert exactly to
    their dtype (float32 or int32), converted (all of a dtype in one numpy pass; for many
    columns, not a few numpy calls each): `_convert_column`'s result for them. With
    `boundaries`, a float32 column holding a binary32 rounding boundary is left out too
    (its text decides). The others are left to the caller, column by column."""
    same = None if isinstance(dtype, Mapping) else _resolve_dtype(dtype, "")
    groups: dict[np.dtype[Any], list[tuple[str, Any, np.ndarray]]] = {}
    one: list[tuple[str, Any, np.ndarray]] = []
    if same is not None and same != _F8:
        groups[same] = one
    for key, col in cols.items():
        if type(col) is np.ndarray:
            flat = col if col.ndim == 1 else col.reshape(-1)
        elif type(col) is Ragged:
            flat = col.values
        else:
            continue
        if flat.dtype != _F8:
            continue
        if same is not None:
            one.append((key, col, flat))
            continue
        dt = _resolve_dtype(dtype, key)
        if dt != _F8:
            groups.setdefault(dt, []).append((key, col, flat))
    out: dict[str, Any] = {}
    for dt, members in groups.items():
        if not members:
            continue
        values = np.concatenate([m[2] for m in members])
        if dt == np.float32:
            with np.errstate(over="ignore"):
                converted = values.astype(np.float32)
            bad = np.isinf(converted) & ~np.isinf(values)
            if boundaries:
                from ._exact import float32_boundaries

                bad |= float32_boundaries(values)
        else:
            with np.errstate(invalid="ignore"):
                bad = ~(np.isfinite(values) & (values == np.trunc(values)))
                bad |= (values < -(2**31)) | (values > 2**31 - 1)
                converted = values.astype(np.int32)
        del values
        converted.flags.writeable = False  # the columns' views (RecordBatch keeps them so)
        sizes = np.fromiter((m[2].size for m in members), dtype=np.int64, count=len(members))
        ends = np.cumsum(sizes)
        starts = ends - sizes
        bad_before = np.zeros(bad.size + 1, dtype=np.int64)
        np.cumsum(bad, out=bad_before[1:])
        clean = (bad_before[ends] == bad_before[starts]).tolist()
        for (key, col, flat), a, b, ok in zip(members, starts.tolist(), ends.tolist(), clean, strict=True):
            if not ok:
                continue
            if type(col) is Ragged:
                out[key] = _unchecked_ragged(converted[a:b], col.offsets, col.valid)
            else:
                out[key] = converted[a:b] if flat is col else converted[a:b].reshape(col.shape)
    return out


def batch_from_groups(
    groups: Sequence[Group],
    content_type: str,
    dtype: DtypeSpec,
    first_index: int = 0,
    request_configuration: str | None = None,
    pending32: set[tuple[str, str]] | None = None,
) -> RecordBatch:
    """Build one batch from parsed groups (Rule 2 of `sm_payloads.columns`), then apply
    ``dtype=``; errors name the record (and its line and offset where known).

    With `pending32`, a float32 column holding a float64 that is a binary32 rounding
    boundary (which its text, not the float64, decides: `_exact.float32_boundaries`) is
    left in float64 and named in `pending32`; the caller reads the body again with
    `loads_exact32` and takes those columns from there (`replace_columns`)."""
    groups = [g for g in groups if len(g)]
    locate = Locator(groups, first_index)
    n = sum(len(g) for g in groups)
    if n == 0:
        return RecordBatch(n=0)
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    strings: list[list[str | None] | None] = [None, None, None]
    fast = [g for g in groups if isinstance(g, FastGroup)]
    same = {(g.map_name, g.key, g.keys is None, g.shape, g.values.dtype) for g in fast}
    if len(fast) == len(groups) and len(same) == 1:
        maps[fast[0].map_name][fast[0].key] = FastGroup.join(fast).column()
    else:
        maps, strings = _build_columns(groups, content_type, locate)
    if request_configuration is not None:
        conf = strings[2] or [None] * n
        strings[2] = [request_configuration if c is None else c for c in conf]
    for map_name, cols in maps.items():
        if not isinstance(dtype, Mapping) and _resolve_dtype(dtype, "") == np.float64:
            break  # every column float64, as built
        clean = _clean_conversions(cols, dtype, pending32 is not None)
        for key, col in list(cols.items()):
            got = clean.get(key)
            if got is not None:
                cols[key] = got
                continue
            dt = _resolve_dtype(dtype, key)
            early = None
            if pending32 is not None and dt == np.float32 and _has_boundaries(col):
                early = _overflow_before_boundaries(col)
                if early is None:
                    pending32.add((map_name, key))
                    continue
            new, bad, why, value = _convert_column(col, dt) if early is None else early
            if bad is not None:
                if pending32:
                    # a column before it waits for its text, which may hold the first error
                    # (columns report in order): the caller's reading of the text reports it
                    pending32.add((map_name, key))
                    continue
                off, line, idx = locate(bad)
                raise DecodeError(
                    content_type,
                    f"{map_name}[{key!r}]: value {value!r} {why} (dtype={dt})",
                    offset=off,
                    record_index=idx,
                    line=line,
                )
            cols[key] = new
    return RecordBatch(maps["features"], maps["label"], strings[0], strings[1], strings[2], n=n)


# ======================================================================================
# Records -> columns in bounded memory (the general path's column builder)
# ======================================================================================

#: Records turned into `Rec` objects at a time by `_ColumnBuilder` (bounds the general
#: path's memory: the per-record objects of one chunk, never of the whole body).
CHUNK = 2048


class _KeyColumn:
    """What one key of one map has seen so far, in compact arrays: everything
    `columns_from_records` decides from, without a Python object per record. Each
    present tensor is one interned *form* (shape or None, number of values, flags; see
    `_ColumnBuilder.form`); the record indices are kept only once a record lacks the key."""

    __slots__ = (
        "chunk_keys",
        "chunk_values",
        "count",
        "forms",
        "index",
        "keys",
        "text_at",
        "texts",
        "values",
    )

    def __init__(self) -> None:
        self.count = 0  # present tensors
        self.forms = array("i")  # the form of each present tensor
        self.index: array[int] | None = None  # record index of each present tensor (None: 0..count-1)
        # created when first needed (a body may hold many keys, each in one record)
        self.values: list[np.ndarray] | None = None  # float64 values of the numeric tensors, in order
        self.keys: list[np.ndarray] | None = None  # uint64 keys of the keyed tensors, in order
        self.text_at: array[int] | None = None  # present position of each strings tensor
        self.texts: list[Any] | None = None  # its value (as `_strings_column` has it)
        self.chunk_values: list[np.ndarray] | None = None
        self.chunk_keys: list[np.ndarray] | None = None

    def add(self, i: int, t: Tensor, form: int, textual: bool) -> None:
        if self.index is None and i != self.count:
            self.index = array("q", range(self.count))
        if self.index is not None:
            self.index.append(i)
        self.forms.append(form)
        if textual:
            vals = t.values.tolist()
            if self.text_at is None or self.texts is None:
                self.text_at, self.texts = array("q"), []
            self.text_at.append(self.count)
            self.texts.append(vals[0] if (len(vals) == 1 and t.shape in (None, ())) else list(vals))
        elif t.values.size:
            if self.chunk_values is None:
                self.chunk_values = []
            self.chunk_values.append(t.values)
        if t.keys is not None and t.keys.size:
            if self.chunk_keys is None:
                self.chunk_keys = []
            self.chunk_keys.append(t.keys)
        self.count += 1

    def end_chunk(self) -> None:
        if self.chunk_values:
            if self.values is None:
                self.values = []
            self.values.append(np.concatenate(self.chunk_values))
            self.chunk_values = None
        if self.chunk_keys:
            if self.keys is None:
                self.keys = []
            self.keys.append(np.concatenate(self.chunk_keys))
            self.chunk_keys = None


_BYTES, _KEYED, _SPARSE = 1, 2, 4


class _Index:
    """The record index of each present tensor of a column: `index`, or 0..count-1."""

    def __init__(self, index: np.ndarray | None, count: int) -> None:
        self.index = index
        self.count = count

    def at(self, j: int) -> int:
        return j if self.index is None else int(self.index[j])

    def mark(self, mask: np.ndarray) -> None:
        if self.index is None:
            mask[: self.count] = True
        else:
            mask[self.index] = True

    def scatter(self, out: np.ndarray, values: np.ndarray) -> None:
        if self.index is None:
            out[: self.count] = values
        else:
            out[self.index] = values


_Form = tuple[tuple[int, ...] | None, int, int]  # (shape, number of values, flags)


#: The form of a bare number: shape (), one value, no flags (form 0 of every builder).
_SCALAR_FORM: _Form = ((), 1, 0)
#: The form of a bare string (form 1 of every builder).
_TEXT_FORM: _Form = ((), 1, _BYTES)
_F8 = np.dtype(np.float64)


#: Added to a column's form in `_ColumnBuilder.finish` for a column of one dense form.
_DENSE = 1 << 30


def _unchecked_ragged(values: np.ndarray, offsets: np.ndarray, valid: np.ndarray | None) -> Ragged:
    """``Ragged(values, offsets, valid)`` for arrays that are already as its checks leave
    them (1-D read-only float64 values; read-only int64 offsets from 0, never decreasing,
    ending at the number of values; a read-only bool `valid` with a False, or None), made
    without the checks: `_ColumnBuilder` makes one for each of many columns at once."""
    out = object.__new__(Ragged)
    object.__setattr__(out, "values", values)
    object.__setattr__(out, "offsets", offsets)
    object.__setattr__(out, "valid", valid)
    return out


def _blocks(keys: list[str], *columns: np.ndarray) -> Iterator[tuple[Any, ...]]:
    """(i, keys[i], columns[0][i], ...) for each i, as Python values, a block at a time
    (no list of Python ints for every key at once)."""
    step = 4096
    for lo in range(0, len(keys), step):
        hi = lo + step
        yield from zip(
            range(lo, min(hi, len(keys))), keys[lo:hi], *(c[lo:hi].tolist() for c in columns), strict=True
        )


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + c)`` for each start s and count c (int64)."""
    total = int(counts.sum())
    if total == 0:
        return np.empty(0, np.int64)
    ends = np.cumsum(counts)
    # each value's start, minus the number of values before its range
    out: np.ndarray = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)
    return out


class _ColumnBuilder:
    """`columns_from_records` (with the rule that an empty numeric list among strings is an
    empty list of strings) over records fed a chunk at a time: the same columns, and the
    same `ColumnError` (message and record index), with memory in proportion to the values
    rather than to a Python object per record, or per key.

    Every dense numeric tensor with a shape that holds its values (a bare number, a list of
    numbers, nested lists: a *plain* form) goes to one log for the whole map (its column,
    record, form and values), so a key in one record costs a few array entries, not an
    object; the other tensors (strings, sparse, tensor objects without a shape) go to the
    key's `_KeyColumn`. `finish` orders the log by column: a column of one plain form in
    every record is a slice of the ordered values (no copy); any other column becomes a
    `_KeyColumn` (its log entries merged with its own, in record order) and is built as
    before."""

    def __init__(self, map_name: str) -> None:
        self.map_name = map_name
        #: every key, in the order it first appears: its column number
        self.order: dict[str, int] = {}
        #: the tensors that are not logged, by column number
        self.columns: dict[int, _KeyColumn] = {}
        self.ids: dict[_Form, int] = {_SCALAR_FORM: 0, _TEXT_FORM: 1}
        self.forms: list[_Form] = [_SCALAR_FORM, _TEXT_FORM]
        self.plain: list[bool] = [True, False]  # per form
        self.list_forms: dict[int, int] = {}  # the form of a list of numbers, by length
        # the log of plain tensors and bare strings, in the order added (records in order)
        self.log_col = array("q")
        self.log_rec = array("q")
        self.log_form = array("i")
        self.log_chunk: list[np.ndarray] = []  # this chunk's values, in order
        self.log_values: list[np.ndarray] = []  # the values of the chunks before
        self.log_texts: list[Any] = []  # the strings, in order
        #: `_table`'s tables, while no form is added (a body may have many forms and many
        #: columns: one table per column would be their product)
        self.tables: dict[Any, np.ndarray] = {}

    def _form(self, key: _Form) -> int:
        form = self.ids.get(key)
        if form is None:
            shape, size, flags = key
            form = self.ids[key] = len(self.forms)
            self.forms.append(key)
            self.plain.append(flags == 0 and shape is not None and math.prod(shape) == size)
        return form

    def _list_form(self, length: int) -> int:
        form = self.list_forms.get(length)
        if form is None:
            form = self.list_forms[length] = self._form(((length,), length, 0))
        return form

    def add(self, i: int, m: Mapping[str, Tensor]) -> None:
        order = self.order
        if type(m) is not _Cells:
            for key, t in m.items():
                self._add(order.setdefault(key, len(order)), i, t)
            return
        nums = m.numbers
        k = len(m)
        if nums.size == k and not m.lengths and not m.texts:  # only bare numbers
            if not order.keys() >= m.keys():  # new keys: numbered in order
                order.update(zip([key for key in m if key not in order], count(len(order))))
            self.log_col.extend(map(order.__getitem__, m))
            self.log_rec.extend(repeat(i, k))
            self.log_form.extend(repeat(0, k))
            self.log_chunk.append(nums)
            return
        lengths = iter(m.lengths)
        texts = iter(m.texts)
        log_col, log_rec, log_form = self.log_col, self.log_rec, self.log_form
        done = j = 0  # numbers: logged up to `done`, seen up to `j`
        for key, t in m.items():
            c = order.setdefault(key, len(order))
            if t is _SCALAR:
                form = 0
                j += 1
            elif t is _LIST:
                length = next(lengths)
                form = self._list_form(length)
                j += length
            elif t is _TEXT:
                form = 1
                self.log_texts.append(next(texts))
            else:
                if j > done:
                    self.log_chunk.append(nums[done:j])
                    done = j
                self._add(c, i, t)
                continue
            log_col.append(c)
            log_rec.append(i)
            log_form.append(form)
        if j > done:
            self.log_chunk.append(nums[done:j])

    def _add(self, c: int, i: int, t: Tensor) -> None:
        values = t.values
        size = int(values.size)
        textual = values.dtype.kind in "OUS"
        flags = _BYTES if textual else 0
        if t.keys is not None:
            flags |= _KEYED | _SPARSE
        elif size == 0 and t.shape is not None and len(t.shape) > 0 and math.prod(t.shape) > 0:
            flags |= _SPARSE
        form = self._form((t.shape, size, flags))
        if (form == 1 or self.plain[form]) and (textual or values.dtype == _F8):
            self.log_col.append(c)
            self.log_rec.append(i)
            self.log_form.append(form)
            if form == 1:
                self.log_texts.append(values.tolist()[0])
            elif size:
                self.log_chunk.append(values)
            return
        col = self.columns.get(c)
        if col is None:
            col = self.columns[c] = _KeyColumn()
        col.add(i, t, form, textual)

    def end_chunk(self) -> None:
        if self.log_chunk:
            chunk = self.log_chunk
            self.log_values.append(chunk[0] if len(chunk) == 1 else np.concatenate(chunk))
            self.log_chunk = []
        for col in self.columns.values():
            col.end_chunk()

    def present(self) -> int:
        """The tensors added (one per key per record that holds it)."""
        return len(self.log_col) + sum(col.count for col in self.columns.values())

    def counts(self) -> np.ndarray:
        """The records that hold each column, by column number (the order keys first appear)."""
        out = np.bincount(np.frombuffer(self.log_col, dtype=np.int64), minlength=len(self.order))
        for c, col in self.columns.items():
            out[c] += col.count
        return out.astype(np.int64)

    def first_record(self, c: int) -> int:
        """The first record that holds column `c`."""
        first = []
        if self.log_col:
            at = np.flatnonzero(np.frombuffer(self.log_col, dtype=np.int64) == c)
        else:
            at = np.empty(0, np.int64)
        if at.size:
            first.append(self.log_rec[int(at[0])])
        col = self.columns.get(c)
        if col is not None:
            first.append(0 if col.index is None else col.index[0])
        return min(first)

    def finish(self, n: int) -> dict[str, Any]:
        keys = list(self.order)
        self.order = {}
        k = len(keys)
        empty = np.empty(0, np.int64)
        log_col = np.frombuffer(self.log_col, dtype=np.int64) if self.log_col else empty
        log_rec = np.frombuffer(self.log_rec, dtype=np.int64) if self.log_rec else empty
        log_form = np.frombuffer(self.log_form, dtype=np.int32) if self.log_form else empty.astype(np.int32)
        if len(self.log_values) > 1:
            values = np.concatenate(self.log_values)
        else:
            values = self.log_values[0] if self.log_values else np.empty(0, np.float64)
        self.log_values = []
        # the numeric values each logged tensor holds (a string: none)
        sizes_of = np.where(self._table(3, bool), self._table(1, np.int64), 0)
        # the log in column order (records in order within a column)
        perm = np.argsort(log_col, kind="stable")
        counts = np.bincount(log_col, minlength=k) if log_col.size else np.zeros(k, np.int64)
        del log_col
        forms = log_form[perm]
        recs = log_rec[perm]
        sizes = sizes_of[log_form]
        if (sizes == 1).all():  # one value each
            ordered = values[perm]
        else:
            starts = np.cumsum(sizes) - sizes
            ordered = values[_ranges(starts[perm], sizes[perm])]
        is_text = log_form == 1
        texts = np.empty(0, dtype=object)
        if self.log_texts:
            texts = np.empty(len(self.log_texts), dtype=object)
            texts[:] = self.log_texts
            self.log_texts = []
            texts = texts[(np.cumsum(is_text) - 1)[perm][is_text[perm]]]
        text_ends = np.cumsum(is_text[perm])
        sizes = sizes[perm]
        value_ends = np.cumsum(sizes)
        del values, log_form, log_rec, perm, is_text
        self.log_col, self.log_rec, self.log_form = array("q"), array("q"), array("i")
        fixed = ordered.view()
        fixed.flags.writeable = False  # the columns' views (RecordBatch keeps them so)
        general = self.columns
        if not general and counts.size and (forms == 0).all() and (counts == n).all():
            # every column a number in every record: rows of the ordered values
            return dict(zip(keys, list(fixed.reshape(k, n)), strict=True))
        bounds = np.zeros(k + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        lo, hi = bounds[:-1], bounds[1:]
        # per column: its first form, and whether it has only that one (changes[j]: the
        # number of times the form changes from one logged tensor to the next up to j)
        if forms.size:
            changes = np.zeros(forms.size, dtype=np.int64)
            np.cumsum(forms[1:] != forms[:-1], out=changes[1:])
            last = forms.size - 1
            first_at = np.minimum(lo, last)
            one_form = changes[np.minimum(np.maximum(hi - 1, lo), last)] == changes[first_at]
            firsts = forms[first_at]
        else:
            one_form = np.ones(k, dtype=bool)
            firsts = np.zeros(k, dtype=np.int32)
        vbounds = np.concatenate([[0], value_ends])[bounds]
        tbounds = np.concatenate([[0], text_ends])[bounds]
        usable = np.array(
            [shape_problem(f[0] or (), n) is None and self.plain[j] for j, f in enumerate(self.forms)]
        )
        logged = np.ones(k, dtype=bool)  # the columns with no tensor of their own
        logged[list(general)] = False
        dense = logged & one_form & (counts == n) & usable[firsts]
        # numbers and number lists only, of several lengths or not in every record: a
        # Ragged column (the rows of two tables for the offsets and the records held)
        flat = usable & np.array([len(f[0] or ()) <= 1 for f in self.forms])
        misfits = np.zeros(forms.size + 1, dtype=np.int64)
        np.cumsum(~flat[forms], out=misfits[1:])
        ragged = logged & ~dense & (counts > 0) & (misfits[hi] == misfits[lo])
        rows = np.full(k, -1, dtype=np.int64)
        rows[ragged] = np.arange(int(ragged.sum()), dtype=np.int64)
        offsets, valid = self._ragged_tables(rows, counts, recs, sizes, n)
        # bare strings only: None where a record lacks the key, rows of one table
        textual = logged & one_form & (firsts == 1)
        text_rows = np.full(k, -1, dtype=np.int64)
        text_rows[textual] = np.arange(int(textual.sum()), dtype=np.int64)
        strings = np.empty((int(textual.sum()), n), dtype=object)
        if strings.size:
            row_of = np.repeat(text_rows, counts)
            mine = row_of >= 0  # all strings: the text of logged tensor j is texts[text_ends[j] - 1]
            strings[row_of[mine], recs[mine]] = texts[text_ends[mine] - 1]
            del row_of, mine
        strings.flags.writeable = False  # as RecordBatch keeps them
        out: dict[str, Any] = {}
        firsts = firsts + np.where(dense, _DENSE, 0)
        for c, key, a, b, f, row, text_row, va, vb, ta, tb in _blocks(
            keys, lo, hi, firsts, rows, text_rows, vbounds[:-1], vbounds[1:], tbounds[:-1], tbounds[1:]
        ):
            if f >= _DENSE:  # one plain form in every record
                shape = self.forms[f - _DENSE][0]
                out[key] = fixed[va:vb] if shape == () else fixed[va:vb].reshape((n, *(shape or ())))
                continue
            if row >= 0:
                out[key] = _unchecked_ragged(fixed[va:vb], offsets[row], None if b - a == n else valid[row])
                continue
            if text_row >= 0:
                out[key] = strings[text_row]
                continue
            col = general.pop(c, None)
            if b > a:
                col = self._merged(col, forms[a:b], recs[a:b], ordered[va:vb].copy(), texts[ta:tb].tolist())
            assert col is not None
            out[key] = self._column(col, n, f"{self.map_name}[{key!r}]")
        return out

    @staticmethod
    def _ragged_tables(
        rows: np.ndarray, counts: np.ndarray, recs: np.ndarray, sizes: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """For the columns of `rows` >= 0 (in the ordered log of `finish`: `counts` logged
        tensors per column, their records and sizes), one row each of the offsets of a
        `Ragged` column (a record without the key holds no values) and of the records that
        hold the key."""
        total = int((rows >= 0).sum())
        offsets = np.zeros((total, n + 1), dtype=np.int64)
        valid = np.zeros((total, n), dtype=bool)
        if total:
            row = np.repeat(rows, counts)
            mine = row >= 0
            row, at = row[mine], recs[mine]
            offsets[row, at + 1] = sizes[mine]
            np.cumsum(offsets, axis=1, out=offsets)
            valid[row, at] = True
        offsets.flags.writeable = False  # as Ragged keeps them
        valid.flags.writeable = False
        return offsets, valid

    def _merged(
        self,
        col: _KeyColumn | None,
        forms: np.ndarray,
        recs: np.ndarray,
        values: np.ndarray,
        texts: list[Any],
    ) -> _KeyColumn:
        """`col` (None: no other tensor) with the logged tensors of its column (their forms,
        records, numeric values and strings, in record order) among its own, in record
        order."""
        if col is None:
            col = _KeyColumn()
        own_forms = np.frombuffer(col.forms, dtype=np.int32) if col.count else np.empty(0, np.int32)
        own_recs = (
            np.arange(col.count, dtype=np.int64)
            if col.index is None
            else np.frombuffer(col.index, dtype=np.int64)
        )
        own_values = np.concatenate(col.values) if col.values else np.empty(0, np.float64)
        flags_of = self._table(2, np.int8)
        sizes_of = self._table(1, np.int64)
        plain = self._table(3, bool)
        # the values each tensor put among the column's values (a strings tensor: none)
        own_sizes = np.where(flags_of[own_forms] & _BYTES, 0, sizes_of[own_forms])
        log_sizes = np.where(plain[forms], sizes_of[forms], 0)
        all_recs = np.concatenate([own_recs, recs])
        order = np.argsort(all_recs, kind="stable")
        all_sizes = np.concatenate([own_sizes, log_sizes])
        starts = np.concatenate(
            [np.cumsum(own_sizes) - own_sizes, own_values.size + np.cumsum(log_sizes) - log_sizes]
        )
        source = np.concatenate([own_values, values])
        merged = source[_ranges(starts[order], all_sizes[order])]
        where = np.empty(order.size, dtype=np.int64)  # the new place of each tensor
        where[order] = np.arange(order.size, dtype=np.int64)
        out = _KeyColumn()
        out.count = int(order.size)
        out.forms = array("i", np.concatenate([own_forms, forms.astype(np.int32)])[order].tobytes())
        all_recs = all_recs[order]
        if int(all_recs[-1]) != out.count - 1:  # else the records 0..count-1
            out.index = array("q", all_recs.tobytes())
        out.values = [merged] if merged.size else None
        out.keys = col.keys
        text_at = np.concatenate(
            [
                np.frombuffer(col.text_at, dtype=np.int64) if col.text_at else np.empty(0, np.int64),
                col.count + np.flatnonzero(forms == 1),
            ]
        )
        if text_at.size:
            out.text_at = array("q", where[text_at].tobytes())
            out.texts = list(col.texts or ()) + texts
        return out

    def _table(self, j: int, dtype: type) -> np.ndarray:
        """Field `j` of every form (`j` 3: whether it is plain), made once per number of forms."""
        got = self.tables.get((j, dtype))
        if got is None or got.size != len(self.forms):
            rows = self.plain if j == 3 else [f[j] for f in self.forms]
            got = self.tables[(j, dtype)] = np.array(rows, dtype=dtype)
        return got

    def _column(self, col: _KeyColumn, n: int, name: str) -> Any:
        forms = np.frombuffer(col.forms, dtype=np.int32) if col.count else np.empty(0, np.int32)
        # the record of each present tensor (an identity map while none is absent)
        index = _Index(None if col.index is None else np.frombuffer(col.index, dtype=np.int64), col.count)
        flags = self._table(2, np.int8)[forms]
        sizes = self._table(1, np.int64)[forms]
        absent = col.count != n
        if (flags & _BYTES).any():
            return self._strings(col, index, flags, sizes, n, name)
        values = np.concatenate(col.values) if col.values else np.empty(0, np.float64)
        col.values = None
        if (flags & _SPARSE).any():
            if absent:
                present = np.zeros(n, dtype=bool)
                index.mark(present)
                raise ColumnError(
                    name, "key missing from a record of a sparse column", int(np.argmin(present))
                )
            return self._sparse(col, forms, flags, sizes, values, n, name)
        return self._dense(forms, index, sizes, values, n, absent, name)

    def _strings(
        self, col: _KeyColumn, index: _Index, flags: np.ndarray, sizes: np.ndarray, n: int, name: str
    ) -> np.ndarray:
        numeric = (flags & _BYTES) == 0
        fixable = numeric & (sizes == 0) & ((flags & _KEYED) == 0)
        bad = numeric & ~fixable
        if bad.any():
            j = int(np.argmax(bad))
            raise ColumnError(name, "numeric tensor in a column of byte strings", index.at(j))
        out = np.empty(n, dtype=object)
        for j in np.flatnonzero(fixable).tolist():
            out[index.at(j)] = []
        for j, v in zip(col.text_at or (), col.texts or (), strict=True):
            out[index.at(j)] = v
        return out

    def _sparse(
        self,
        col: _KeyColumn,
        forms: np.ndarray,
        flags: np.ndarray,
        sizes: np.ndarray,
        values: np.ndarray,
        n: int,
        name: str,
    ) -> Any:
        sparse_rows = np.flatnonzero(flags & _SPARSE)
        # the shapes of this column's forms only (a body may have many forms and many
        # columns), and for each tensor the first of its forms of the same shape
        used, at = np.unique(forms, return_inverse=True)
        shapes = {f: self.forms[f][0] for f in used.tolist()}
        firsts: dict[Any, int] = {}
        shape_ids = np.array([firsts.setdefault(s, f) for f, s in shapes.items()], dtype=np.int64)[at]
        first = int(sparse_rows[0])
        differ = sparse_rows[shape_ids[sparse_rows] != shape_ids[first]]
        for i in [first] + ([int(differ[0])] if differ.size else []):
            if not shapes[int(forms[i])]:
                raise ColumnError(name, "sparse tensor without a shape", i)
        shape = shapes[int(forms[first])]
        assert shape is not None
        if differ.size:
            i = int(differ[0])
            other = list(shapes[int(forms[i])] or ())
            raise ColumnError(name, f"sparse records have different shapes ({other} vs {list(shape)})", i)
        width = math.prod(shape)
        if width > _MAX_COLUMN_WIDTH:
            raise ColumnError(
                name, f"sparse shape {list(shape)} has {width} elements, more than 2**63 - 1", 0, mixed=False
            )
        keyed = (flags & _KEYED) != 0
        dense_rows = ~keyed & (sizes > 0)
        if dense_rows.any():
            fits = np.array([s is None or s == shape for s in shapes.values()], dtype=bool)[at]
            wrong = dense_rows & ((sizes != width) | ~fits)
            if wrong.any():
                i = int(np.argmax(wrong))
                raise ColumnError(name, "dense record that does not fit the sparse shape", i)
        keys = np.concatenate(col.keys) if col.keys else np.empty(0, np.uint64)
        col.keys = None
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        i32 = np.iinfo(np.int32).max
        idx_dtype = np.int32 if width <= i32 and indptr[-1] <= i32 else np.int64
        if dense_rows.any():
            from_keys = np.repeat(keyed, sizes)
            ind = np.empty(int(indptr[-1]), dtype=idx_dtype)
            ind[from_keys] = keys
            ind[~from_keys] = np.tile(np.arange(width, dtype=idx_dtype), int(dense_rows.sum()))
        else:
            ind = keys.astype(idx_dtype)
        m = sp.csr_array((values, ind, indptr.astype(idx_dtype)), shape=(n, width))
        return m if len(shape) == 1 else Sparse(m, shape)

    def _dense(
        self,
        forms: np.ndarray,
        index: _Index,
        sizes: np.ndarray,
        values: np.ndarray,
        n: int,
        absent: bool,
        name: str,
    ) -> Any:
        used = dict.fromkeys(np.unique(forms).tolist())
        scalar = self.map_name == "label" and all(
            self.forms[s][0] is None and self.forms[s][1] == 1 for s in used
        )
        logical: dict[int, tuple[int, ...]] = {}
        for s in used:
            shape, size, _flags = self.forms[s]
            logical[s] = (() if scalar else (size,)) if shape is None else shape
        # a dense tensor whose shape does not hold its values (the record grammar refuses
        # those before; kept for the same rule as `columns_from_records`)
        wrong_of = np.zeros(len(self.forms), dtype=bool)
        for s in used:
            shape, size, _flags = self.forms[s]
            wrong_of[s] = shape is not None and math.prod(shape) != size
        if wrong_of.any():
            j = int(np.argmax(wrong_of[forms]))
            shape, size, _flags = self.forms[int(forms[j])]
            raise ColumnError(
                name, f"dense tensor of shape {list(shape or ())} has {size} values", index.at(j)
            )
        first = logical[int(forms[0])]
        problem = shape_problem(first, n)
        if problem is not None:
            raise ColumnError(name, problem, 0, mixed=False)
        same_of = np.zeros(len(self.forms), dtype=bool)
        for s in used:
            same_of[s] = logical[s] == first
        differs = ~same_of[forms]
        if not absent and not differs.any():
            return values.reshape((n, *first))
        if any(len(logical[s]) > 1 for s in used):
            first_absent = n
            if absent:
                present = np.zeros(n, dtype=bool)
                index.mark(present)
                first_absent = int(np.argmin(present))
            j = int(np.argmax(differs)) if differs.any() else -1
            first_differ = index.at(j) if j >= 0 else n
            if first_absent < first_differ:
                raise ColumnError(
                    name, f"no tensor in this record, while others have shape {list(first)}", first_absent
                )
            s = logical[int(forms[j])]
            raise ColumnError(
                name, f"records have different shapes ({list(s)} vs {list(first)})", first_differ
            )
        if absent:
            lengths = np.zeros(n, dtype=np.int64)
            index.scatter(lengths, sizes)
        else:
            lengths = sizes
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        valid = None
        if absent:
            valid = np.zeros(n, dtype=bool)
            index.mark(valid)
        return Ragged(values, offsets, valid)


# ======================================================================================
# Byte offsets of the values a message names (errors only)
# ======================================================================================

_OPENERS = (0x5B, 0x7B)  # [ {
_CLOSERS = (0x5D, 0x7D)  # ] }
_WS_BYTES = b" \t\r\n"
#: Whether a byte is JSON whitespace; whether it is a structural character.
_WS_BYTE = np.zeros(256, bool)
_WS_BYTE[list(_WS_BYTES)] = True
_STRUCTURAL_BYTE = np.zeros(256, bool)
_STRUCTURAL_BYTE[list(b"[]{},:")] = True
_UNEXPECTED_KEY = re.compile(r"unexpected key ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
_FOUND = re.compile(r"found (null|true|false|an object|a list|a string)\b")
_KIND_OF_BYTE = {
    ord("n"): "null",
    ord("t"): "true",
    ord("f"): "false",
    ord("{"): "an object",
    ord("["): "a list",
}
_KIND_OF_BYTE[ord('"')] = "a string"


class _Structure:
    """The structural characters of a JSON text that parsed (positions outside strings,
    and the nesting depth after each), for finding a value from its JSON path."""

    def __init__(self, buf: bytes | bytearray, start: int, end: int) -> None:
        self.buf = buf
        self.start = start
        self.end = end
        b = np.frombuffer(buf, dtype=np.uint8, count=end - start, offset=start)
        quotes = np.flatnonzero(b == 0x22)
        slashes = np.empty(0, np.intp)
        if quotes.size:
            slashes = np.flatnonzero(b == 0x5C)
            if slashes.size:
                runs = slashes[np.r_[True, np.diff(slashes) != 1]]
                after = quotes[(quotes > 0)]
                cand = after[b[after - 1] == 0x5C]
                if cand.size:
                    run_start = runs[np.searchsorted(runs, cand - 1, side="right") - 1]
                    escaped = cand[((cand - run_start) & 1) == 1]
                    quotes = np.setdiff1d(quotes, escaped, assume_unique=True)
        self.quotes = quotes + start
        self.slashes = slashes + start  # (where a key may hold an escape)
        s = np.flatnonzero(_STRUCTURAL_BYTE[b])
        inside = (np.searchsorted(quotes, s) & 1) == 1
        s = s[~inside]
        self.pos = s + start
        ch = b[s]
        delta = np.zeros(s.size, dtype=np.int32)
        delta[(ch == 0x5B) | (ch == 0x7B)] = 1
        delta[(ch == 0x5D) | (ch == 0x7D)] = -1
        self.depth = np.cumsum(delta, dtype=np.int32)
        self.ch = ch

    def close_of(self, p: int) -> int | None:
        """The byte after the close of the container opening at byte p, or None when it
        does not close within the text (or p opens none)."""
        span = self._span(p)
        if span is None:
            return None
        j, k, d = span
        if k == j or int(self.depth[k]) != d - 1:
            return None
        return int(self.pos[k]) + 1

    def skip_ws(self, p: int) -> int:
        while p < self.end and self.buf[p] in _WS_BYTES:
            p += 1
        return p

    def _span(self, p: int) -> tuple[int, int, int] | None:
        """(structural index of the container opening at byte p, of its close, depth inside)."""
        j = int(np.searchsorted(self.pos, p))
        if j >= self.pos.size or int(self.pos[j]) != p:
            return None
        d = int(self.depth[j])
        rest = self.depth[j + 1 :]
        k = j + 1 + int(np.argmax(rest == d - 1)) if rest.size else j
        return j, k, d

    def element(self, p: int, i: int) -> int | None:
        """Byte offset of element i of the list opening at p."""
        span = self._span(p)
        if span is None:
            return None
        j, k, d = span
        commas = np.flatnonzero((self.ch[j + 1 : k] == 0x2C) & (self.depth[j + 1 : k] == d))
        if i == 0:
            return self.skip_ws(p + 1)
        if i - 1 >= commas.size:
            return None
        return self.skip_ws(int(self.pos[j + 1 + int(commas[i - 1])]) + 1)

    def elements(self, p: int) -> np.ndarray:
        """Byte offsets of the elements of the list opening at p."""
        span = self._span(p)
        if span is None:
            return np.empty(0, np.int64)
        j, k, d = span
        commas = self.pos[j + 1 : k][(self.ch[j + 1 : k] == 0x2C) & (self.depth[j + 1 : k] == d)]
        after = np.concatenate([[p], commas]) + 1
        close = int(self.pos[k])
        b = np.frombuffer(self.buf, dtype=np.uint8, count=close + 1 - p, offset=p)
        solid = np.flatnonzero(~_WS_BYTE[b]) + p
        firsts = solid[np.minimum(np.searchsorted(solid, after), solid.size - 1)]
        return firsts[firsts < close] if commas.size == 0 else firsts

    def members(self, p: int, names: set[str] | None = None) -> list[tuple[str, int, int]]:
        """(key, byte offset of the key, of its value) of the object opening at p; with
        `names`, only the members of those keys (the others' keys are not decoded: an
        object of half a million keys costs a few vectorized passes, not a parse per key)."""
        span = self._span(p)
        if span is None:
            return []
        j, k, d = span
        colons = np.flatnonzero((self.ch[j + 1 : k] == 0x3A) & (self.depth[j + 1 : k] == d))
        ats = self.pos[j + 1 + colons]
        q = np.searchsorted(self.quotes, ats) - 1  # each key's closing quote
        keep = q >= 1
        ats, q = ats[keep], q[keep]
        starts, ends = self.quotes[q - 1], self.quotes[q]
        if names is not None:
            # a key written without escapes is its name's UTF-8 between quotes, as orjson
            # writes it; a name that needs an escape is only ever written with one
            sizes = np.array(sorted({len(orjson.dumps(n)) for n in names}), np.int64)
            maybe = np.isin(ends - starts + 1, sizes)
            if self.slashes.size:
                maybe |= np.searchsorted(self.slashes, ends) > np.searchsorted(self.slashes, starts)
            ats, starts, ends = ats[maybe], starts[maybe], ends[maybe]
        out = []
        for at, ks, ke in zip(ats.tolist(), starts.tolist(), ends.tolist(), strict=True):
            try:
                key = orjson.loads(bytes(self.buf[ks : ke + 1]))
            except orjson.JSONDecodeError:
                continue
            if names is None or key in names:
                out.append((key, ks, self.skip_ws(at + 1)))
        return out


def valid_members(buf: bytes | bytearray, start: int, end: int) -> int | None:
    """When ``buf[start:end]`` is certainly one JSON value that `loads` parses (without
    `allow_nan`; ``_cjsonrec.json_valid``, about 1.5 ns a byte: no object built), the
    number of members of its top-level object (-1: the value is no object); None when not
    sure, or without the C extension."""
    if _CREC is None:
        return _valid_members_pure(buf, start, end)
    got = _CREC.json_valid(buf, start, end)
    return None if got == -2 else int(got)


def _valid_members_pure(buf: bytes | bytearray, start: int, end: int) -> int | None:
    """The twin of `valid_members`: orjson parses ``buf[start:end]``, a piece of records at a
    time where it is a long list of records the structure scan splits (`_record_pieces`),
    and Python's json counts the top-level object's members (a key written twice counts
    twice, as in the text); None when the text does not parse, or is long and not split."""
    m = _ENVELOPE_KEY.match(buf, start, end)
    request = m is None or m.group(1) == b"instances"
    got = _record_pieces(buf, start, end, False, False, request)
    if got is None and m is None and end - start > _TWIN_WHOLE:
        # (a list of numbers is one request record, which the scan does not split; its
        # items, as a response's, it does)
        got = _record_pieces(buf, start, end, False, False, False)
    if got is not None and not got.whole:
        for piece in got.pieces:
            if piece is None:
                return None
        return _members(got.envelope)  # (the text around the records' list)
    if got is None:
        if end - start > _TWIN_WHOLE:
            return None  # long, and not split: not sure
        if _parsed(bytes(buf[start:end]), False) is _NOTHING:
            return None
    return _members(bytes(buf[start:end]))


def _members(text: bytes) -> int | None:
    """The members of the top-level object of JSON `text` that orjson parsed, a key
    written twice counting twice (-1: the value is no object); None where Python's json
    does not read it."""
    try:
        got = _stdjson.loads(text, object_pairs_hook=_PairCount)
    except (ValueError, RecursionError):
        return None  # (a record nested deeper than Python's json reads: not sure)
    return len(got) if type(got) is _PairCount else -1


class _PairCount(list[Any]):
    """An object's members as Python's json gives them (see `_members`)."""

    __slots__ = ()


def container_end(buf: bytes, p: int, end: int) -> int | None:
    """The byte after the close of the container (``{`` or ``[``, outside any string) that
    opens at byte p of a JSON text that parsed, found in windows that double from 4 KiB (so
    the cost is in proportion to the container, not to what follows it); None when it does
    not close before `end`."""
    width = 4096
    while True:
        hi = min(end, p + width)
        try:
            got = _Structure(buf, p, hi).close_of(p)
        except MemoryError:
            return None
        if got is not None or hi == end:
            return got
        width *= 2


def path_offset(buf: bytes | bytearray, start: int, end: int, reason: str, root: str = "$") -> int | None:
    """Byte offset, in ``buf[start:end]`` (one JSON value that parsed), of what `reason`
    names: the value at the JSON path it starts with (``$``, ``$.instances[3].data.x``;
    `root` is the path of the value at `start`), or the key it calls unexpected, or the
    element of a list it says was found there. None when the path is not found."""
    if not reason.startswith(root):
        return None
    if not isinstance(buf, bytes):
        # A snapshot: a bytearray another thread writes meanwhile would otherwise change
        # under the passes over it (finding 14 in docs/reliability.md).
        buf = bytes(buf)
    try:
        st = _Structure(buf, start, end)
    except MemoryError:
        return None
    node = st.skip_ws(start)
    rest = reason[len(root) :]
    while rest and node < end:
        first = buf[node]
        if rest[0] == "[" and first == 0x5B:
            m = re.match(r"\[(\d+)\]", rest)
            if m is None:
                break
            got = st.element(node, int(m.group(1)))
            if got is None:
                break
            node, rest = got, rest[m.end() :]
        elif rest[0] == "." and first == 0x7B:
            best: tuple[str, int, int] | None = None
            # the keys the path can name here: up to a ".", "[" or ":" of it, or all of it
            names = {rest[1:i] for i in range(1, len(rest) + 1) if rest[i : i + 1] in ("", ".", "[", ":")}
            for key, _ks, vs in st.members(node, names):
                tail = rest[1 + len(key) : 2 + len(key)]
                fits = rest[1:].startswith(key) and tail in ("", ".", "[", ":")
                if fits and (best is None or len(key) >= len(best[0])):
                    best = (key, _ks, vs)
            if best is None:
                break
            node, rest = best[2], rest[1 + len(best[0]) :]
        else:
            break
    message = rest[2:] if rest.startswith(": ") else rest
    if node < end and buf[node] == 0x7B:
        m = _UNEXPECTED_KEY.search(message)
        if m is not None:
            try:
                name = ast.literal_eval(m.group(1))
            except (ValueError, SyntaxError):
                name = None
            hits = [ks for _key, ks, _vs in st.members(node, {name})] if type(name) is str else []
            if hits:
                return hits[-1]
    if node < end and buf[node] == 0x5B:
        m = _FOUND.search(message)
        if m is not None:
            for e in st.elements(node).tolist():
                if _KIND_OF_BYTE.get(buf[e]) == m.group(1):
                    return int(e)
    return node if node < end else None


def record_offset(buf: bytes | bytearray, index: int, lines: bool) -> int | None:
    """Byte offset of record `index` of a response body that parsed: its line (JSON Lines),
    or its item in the envelope or the bare list (JSON); None when there is no such record."""
    start = skip_bom(buf)
    if lines:
        pos, n, size = start, 0, len(buf)
        while pos < size:
            nl = buf.find(b"\n", pos)
            end = size if nl < 0 else nl
            text = buf[pos:end]
            if text.strip():
                if n == index:
                    return pos + len(text) - len(text.lstrip())
                n += 1
            pos = end + 1
        return None
    try:
        st = _Structure(buf, start, len(buf))
    except MemoryError:
        return None
    node = st.skip_ws(start)
    if node < len(buf) and buf[node] == 0x7B:
        members = st.members(node)
        if len(members) != 1:
            return node if index == 0 else None
        node = members[0][2]
    if node < len(buf) and buf[node] == 0x5B:
        return st.element(node, index)
    return node if index == 0 else None


# ======================================================================================
# The fast scanner (Rule 5)
# ======================================================================================

_WS = rb"[ \t\r\n]*"
_HWS = rb"[ \t]*"
_NAME = rb'"([^"\\\x00-\x1f]*)"'


@dataclass(frozen=True)
class ScanShape:
    """Where the records of a uniform body start, how they are separated, how it ends."""

    head: re.Pattern[bytes]  # group 1: the record's key (absent: bare lists)
    sep: re.Pattern[bytes]  # group 1: the key again
    tail: re.Pattern[bytes]  # matched against the end of the body
    allowed: bytes  # bytes that may appear between the brackets of a record
    one_line: bool  # JSON Lines: every separator holds exactly one newline


_NUMBER_CHARS = b"0123456789.eE+-, \t"
_DELETE_TABLE = bytes(range(256))

SCAN_INSTANCES = ScanShape(
    re.compile(
        _WS
        + rb"\{"
        + _WS
        + rb'"instances"'
        + _WS
        + rb":"
        + _WS
        + rb"\["
        + _WS
        + rb"\{"
        + _WS
        + _NAME
        + _WS
        + rb":"
        + _WS
        + rb"\["
    ),
    re.compile(rb"\]" + _WS + rb"\}" + _WS + rb"," + _WS + rb"\{" + _WS + _NAME + _WS + rb":" + _WS + rb"\["),
    re.compile(rb"\]" + _WS + rb"\}" + _WS + rb"\]" + _WS + rb"\}" + _WS + rb"\Z"),
    _NUMBER_CHARS + b"\r\n",
    False,
)
SCAN_BARE = ScanShape(
    re.compile(_WS + rb"\[" + _WS + rb"\["),
    re.compile(rb"\]" + _WS + rb"," + _WS + rb"\["),
    re.compile(rb"\]" + _WS + rb"\]" + _WS + rb"\Z"),
    _NUMBER_CHARS + b"\r\n",
    False,
)
SCAN_ENVELOPE = ScanShape(
    re.compile(
        _WS
        + rb"\{"
        + _WS
        + rb'"(?:predictions|projections|scores)"'
        + _WS
        + rb":"
        + _WS
        + rb"\["
        + _WS
        + rb"\{"
        + _WS
        + _NAME
        + _WS
        + rb":"
        + _WS
        + rb"\["
    ),
    SCAN_INSTANCES.sep,
    SCAN_INSTANCES.tail,
    _NUMBER_CHARS + b"\r\n",
    False,
)
SCAN_LINES = ScanShape(
    re.compile(_WS + rb"\{" + _HWS + _NAME + _HWS + rb":" + _HWS + rb"\["),
    re.compile(
        rb"\]"
        + _HWS
        + rb"\}"
        + _HWS
        + rb"\r?\n"
        + _HWS
        + rb"\{"
        + _HWS
        + _NAME
        + _HWS
        + rb":"
        + _HWS
        + rb"\["
    ),
    re.compile(rb"\]" + _HWS + rb"\}" + _WS + rb"\Z"),
    _NUMBER_CHARS + b"\r",  # JSON blanks, but no newline: a record stays on its line
    True,
)


def _scan_pure(
    buf: bytes | bytearray, pos: int, tail_start: int, sep: bytes | None, delete: bytes, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The records' numbers by orjson, a window of records at a time: (values, counts,
    start of each record's inside), or None."""
    blanks = bytes(c for c in b" \t\r\n" if c in delete)
    out = np.empty(0, dtype=np.float64)
    filled = 0
    count_parts: list[list[int]] = []
    start_parts: list[np.ndarray] = []
    cur = pos
    while True:
        if sep is None:
            pieces = [bytes(buf[cur:tail_start])]
            nxt = -1
        else:
            stop = buf.find(sep, min(cur + window, tail_start), tail_start)
            pieces = bytes(buf[cur : tail_start if stop < 0 else stop]).split(sep)
            nxt = -1 if stop < 0 else stop + len(sep)
        # A record is empty when it holds JSON blanks only (not str.isspace's \x0b/\x0c,
        # nor a newline inside a JSON Lines record): anything else is counted, so the
        # allowed-character check below sees it.
        counts = [p.count(b",") + 1 if p.strip(blanks) else 0 for p in pieces]
        joined = b",".join([p for p, c in zip(pieces, counts, strict=True) if c])
        if joined.translate(_DELETE_TABLE, delete):
            return None
        try:
            parsed = orjson.loads(b"[" + joined + b"]")
        except (orjson.JSONDecodeError, MemoryError):
            return None
        k = len(parsed)
        if k != sum(counts):
            return None
        if filled + k > out.size:
            # Size the output once from the first window's density (grow if it was low).
            done = (nxt if nxt >= 0 else tail_start) - pos
            guess = int((filled + k) * (tail_start - pos) / max(done, 1) * 1.02) + 1024
            bigger = np.empty(max(guess, 2 * out.size, filled + k), dtype=np.float64)
            advise_huge_pages(bigger)
            bigger[:filled] = out[:filled]
            out = bigger
        try:
            out[filled : filled + k] = parsed
        except (OverflowError, ValueError, TypeError):
            return None
        filled += k
        del parsed
        step = len(sep) if sep is not None else 0
        lens = np.fromiter((len(p) + step for p in pieces), dtype=np.int64, count=len(pieces))
        st = np.empty(len(pieces), dtype=np.int64)
        st[0] = cur
        if len(pieces) > 1:
            np.cumsum(lens[:-1], out=st[1:])
            st[1:] += cur
        count_parts.append(counts)
        start_parts.append(st)
        if nxt < 0:
            break
        cur = nxt
    values = out[:filled] if filled * 1.1 + 4096 >= out.size else out[:filled].copy()
    counts_arr = np.fromiter(
        (c for part in count_parts for c in part), dtype=np.int64, count=sum(map(len, count_parts))
    )
    region_starts = np.concatenate(start_parts)
    return values, counts_arr, region_starts


def _scan_native(
    buf: bytes | bytearray, pos: int, tail_start: int, sep: bytes, newlines: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The records' numbers by the C kernel, straight into the output arrays (sized from
    the density of the first records, grown when full): (values, counts, start of each
    record's inside), or None."""
    assert _C is not None
    json_lists = _C.json_lists
    size = max(tail_start - pos, 1)
    out = np.empty(1 << 16, dtype=np.float64)
    counts = np.empty(1 << 10, dtype=np.int64)
    starts = np.empty(1 << 10, dtype=np.int64)
    filled = nrec = 0
    cur = pos
    while True:
        got = json_lists(buf, cur, tail_start, sep, out[filled:], counts[nrec:], starts[nrec:], newlines)
        if got is None:
            return None
        status, cur, nv, nr = got
        filled += nv
        nrec += nr
        if status == 0:
            break
        # Estimate the totals from the share of the body read so far (2% spare).
        share = (cur - pos) / size
        if status == 1:
            want = int(filled / share * 1.02) + 1024 if share > 0 else 0
            bigger = np.empty(max(want, 2 * out.size), dtype=np.float64)
            advise_huge_pages(bigger)
            bigger[:filled] = out[:filled]
            out = bigger
        else:
            want = int(nrec / share * 1.02) + 64 if share > 0 else 0
            n = max(want, 2 * counts.size)
            counts = np.concatenate([counts[:nrec], np.empty(n - nrec, dtype=np.int64)])
            starts = np.concatenate([starts[:nrec], np.empty(n - nrec, dtype=np.int64)])
    values = out[:filled] if filled * 1.1 + 4096 >= out.size else out[:filled].copy()
    return values, counts[:nrec].copy(), starts[:nrec].copy()


def scan(
    buf: bytes | bytearray,
    start: int,
    end: int,
    shape: ScanShape,
    *,
    window: int = WINDOW,
) -> tuple[str | None, np.ndarray, np.ndarray, np.ndarray] | None:
    """Read ``buf[start:end]`` if it is a uniform run of number-list records.

    Returns (key or None for bare lists, float64 values, counts, byte offset of each
    record's opening bracket or brace), or None when the body is anything else (the caller
    then takes the general path, which decides what is valid and what is not).
    """
    m = shape.head.match(buf, start, end)
    if m is None:
        return None
    key_bytes = m.group(1) if m.lastindex else None
    pos = m.end()
    # The end of the body: the tail pattern within the last few hundred bytes.
    e = end
    limit = max(pos, end - 4096)
    while e > limit and buf[e - 1] in b" \t\r\n":
        e -= 1
    tm = shape.tail.search(buf, max(pos, e - 64), end)
    if tm is None:
        return None
    tail_start = tm.start()
    first_close = buf.find(b"]", pos, tail_start + 1)
    if first_close < 0:
        return None
    sep: bytes | None = None
    if first_close < tail_start:
        sm = shape.sep.match(buf, first_close, tail_start)
        if sm is None or (key_bytes is not None and sm.group(1) != key_bytes):
            return None
        sep = bytes(buf[first_close : sm.end()])
        if shape.one_line and sep.count(b"\n") != 1:
            return None
    if _C is not None:
        got = _scan_native(buf, pos, tail_start, sep or b"", b"\n" in shape.allowed)
    else:
        got = _scan_pure(buf, pos, tail_start, sep, shape.allowed, window)
    if got is None:
        return None
    values, counts_arr, region_starts = got
    # Each record opens with its brace (or, in a bare list, its bracket): report that byte.
    opener = b"[" if key_bytes is None else b"{"
    opens = region_starts.copy()
    opens[0] = m.start() + m.group(0).rfind(opener)
    if sep is not None and opens.size > 1:
        opens[1:] -= len(sep) - sep.rfind(opener)
    try:
        key = None if key_bytes is None else key_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return key, values, counts_arr, opens


# ======================================================================================
# The request scanner (Rule 5): every record shape of one numeric column
# ======================================================================================

#: The optional C kernel of the request scanner; None: `request_records_pure` reads the records.
_CJ = _native.load("formats._cjson")
_MAX_SCAN_RANK = 8  # the scanner's sparse shapes (higher ranks: the general path)
_MAX_SCAN_UINT = 10**18  # keys and shape entries of at most 18 digits
_MAX_SCAN_WIDTH = 1 << 62
_NOT_NAMES = frozenset({"label", "uid", "metadata", "configuration"})
_PIECE_MIN = 1 << 19  # the kernel's default piece of a body read by several threads


class RequestScan(NamedTuple):
    """What `request_records_pure` and ``_cjson.records`` read (see the latter's docstring)."""

    kind: int  # 0 dense vectors, 1 sparse records, 2 nested lists of one shape
    name: str  # the column's key in ``features``
    values: np.ndarray  # float64, or float32 when asked
    counts: np.ndarray  # int64, values per record
    keys: np.ndarray | None  # int64 flat indices (sparse)
    shape: tuple[int, ...] | None  # the sparse (or nested) record shape
    starts: np.ndarray | None  # JSON Lines: byte offset of each record in the buffer
    lines: np.ndarray | None  # JSON Lines: 1-based line of each record, from `start`
    scalars: np.ndarray | None  # bool per record, true for a scalar record; None: none is


def _uint_list(v: Any, limit: int | None) -> list[int] | None:
    if type(v) is not list or (limit is not None and len(v) > limit):
        return None
    if not all(type(x) is int and 0 <= x < _MAX_SCAN_UINT for x in v):
        return None
    return v


#: The kind `_value_parts` gives a number (a scalar: one dense value of shape ()).
_SCALAR_KIND = 2
#: The kind `_value_parts` gives nested lists (kind 2 of the kernel: one shape for all).
_NESTED_KIND = 3
#: (name, kind, shape) of a bare number or number list record.
_BARE_SIG: tuple[str, int, tuple[int, ...] | None] = ("values", 0, None)


def _value_parts(v: Any) -> tuple[int, list[Any], list[int] | None, tuple[int, ...] | None] | None:
    """(kind, values, keys, shape) of a column value the scanner reads, or None."""
    if type(v) is list:
        if v and type(v[0]) is list:
            nested = _nested_parts(v)
            return None if nested is None else (_NESTED_KIND, nested[0], None, nested[1])
        return 0, v, None, None
    if type(v) in _NUM_TYPES or type(v) is _NumText:
        return _SCALAR_KIND, [v], None, None
    if type(v) is not dict or not set(v) <= _TENSOR_KEYS:
        return None
    values = v.get("values", [])  # (``{}`` too: no values, no shape, as the grammar reads it)
    if type(values) is not list:
        return None
    keys = _uint_list(v["keys"], None) if "keys" in v else []
    shape = _uint_list(v["shape"], _MAX_SCAN_RANK) if "shape" in v else None
    if keys is None or ("shape" in v and shape is None):
        return None
    size = 1
    for d in shape or ():
        size *= d
        if size > _MAX_SCAN_WIDTH:
            return None
    if keys:
        if not shape or len(keys) != len(values) or max(keys) >= size:
            return None
        return 1, values, keys, tuple(shape)
    if shape is not None:
        if not values and size > 0:
            return (1, values, keys, tuple(shape)) if shape else None
        if len(shape) >= 2 and size == len(values) and size > 0:
            return _NESTED_KIND, values, None, tuple(shape)  # a nested list's values, flat
        if len(shape) != 1 or size != len(values):
            return None
    return 0, values, None, None


def _nested_parts(v: list[Any]) -> tuple[list[Any], tuple[int, ...]] | None:
    """(values, shape) of a rectangular nested list of numbers as the kernel reads it (an
    empty list only as the deepest level, its length 0: ``[[]]`` has the shape (1, 0), as
    numpy reads it; at most `_MAX_SCAN_RANK` levels, numbers only at the deepest), or None."""
    shape: list[int] = []
    level: list[Any] = v
    while type(level) is list:
        if len(shape) >= _MAX_SCAN_RANK or (not level and not shape):
            return None
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    flat = _rectangular(v, shape)
    if flat is None or not all(type(x) in _NUM_TYPES or type(x) is _NumText for x in flat):
        return None
    return flat, tuple(shape)


_Parts = tuple[str, int, list[Any], list[int] | None, tuple[int, ...] | None]


def _record_parts(rec: Any, items: bool = False) -> _Parts | None:
    """(name, kind, values, keys, shape) of one record the scanner reads, or None (with
    `items`, a response item: a bare number list or number only)."""
    if type(rec) is list or type(rec) in _NUM_TYPES or type(rec) is _NumText:
        parts = _value_parts(rec)
        return None if parts is None else ("values", *parts)
    if items or type(rec) is not dict or len(rec) != 1:
        return None
    ((k, v),) = rec.items()
    if k == "data":
        if type(v) is not dict or len(v) != 1:
            return None
        ((k, v),) = v.items()
    elif k in _NOT_NAMES:
        return None
    parts = _value_parts(v)
    return None if parts is None else ("values" if k in ("features", "values") else k, *parts)


def _document_records(doc: Any, items: bool = False) -> list[Any] | None:
    """The records of a request document (with `items`, the items of a response: a list,
    or ``{"predictions": [...]}``), as the C scanner finds them (else None)."""
    if items:
        if type(doc) is dict and len(doc) == 1 and "predictions" in doc:
            doc = doc["predictions"]
        return doc if type(doc) is list and doc else None
    if type(doc) is dict:
        if "instances" not in doc:
            return [doc]
        recs = doc["instances"]
        return recs if len(doc) == 1 and type(recs) is list and recs else None
    if type(doc) is list and doc:
        return [doc] if type(doc[0]) in _NUM_TYPES else doc
    return None


class _NumText(str):
    """The text of a JSON number that Python's json read as a float."""


def _request_value_texts(recs: list[Any], items: bool) -> list[bytes]:
    out: list[bytes] = []
    for r in recs:
        parts = _record_parts(r, items)
        assert parts is not None
        out.extend(x.encode() if type(x) is _NumText else str(x).encode() for x in parts[2])
    return out


#: A document longer than this is parsed by `request_records_pure` a piece of records at a
#: time (`_document_chunks`), each piece about `_TWIN_PIECE` bytes of records.
_TWIN_WHOLE = 1 << 18
_TWIN_PIECE = 1 << 18
#: Lines parsed before their records are read.
_TWIN_LINES = 4096


def _line_records(
    buf: bytes | bytearray, start: int, end: int, starts: array[int], line_nos: array[int]
) -> Iterator[list[Any]]:
    """The records of JSON Lines `buf[start:end]`, parsed a few thousand lines at a time
    (blank lines skipped); each record's first byte and line number appended as it goes."""
    recs: list[Any] = []
    pos = start
    no = 1
    while pos <= end:
        nl = buf.find(b"\n", pos, end)
        stop = end if nl < 0 else nl
        text = bytes(buf[pos:stop])
        if text.strip(b" \t\r"):
            recs.append(orjson.loads(text))
            starts.append(pos + len(text) - len(text.lstrip(b" \t\r")))
            line_nos.append(no)
            if len(recs) >= _TWIN_LINES:
                yield recs
                recs = []
        pos = stop + 1
        no += 1
    yield recs


def _document_chunks(buf: bytes | bytearray, start: int, end: int, items: bool) -> Iterator[list[Any] | None]:
    """The records of the JSON document `buf[start:end]` as `_document_records` finds them
    (None: not a document of records the scanner reads), in pieces of records.

    orjson makes an object per JSON value, several times the text of small records (35 x
    for ``[[1]]`` records), so a long document is parsed a piece of records at a time: the
    structure scan of `smp.limits` (`json_crowded_records`) finds the records array and each
    record's span; the text around the array must parse to that array's envelope alone, and
    every piece of records to as many records. A document the scan cannot split (one
    record, an array of bare numbers, which is one record, escaped keys) is parsed whole."""
    if end - start > _TWIN_WHOLE:
        from ..limits import json_crowded_records

        text = buf if (start, end) == (0, len(buf)) else bytes(buf[start:end])
        scan = json_crowded_records(text, 0, response=items)
        if scan.records is not None and scan.records >= 2 and scan.indexes.size == scan.records:
            # an array whose first element is a number is one record (`_document_records`)
            first = bytes(text[int(scan.starts[0]) : int(scan.starts[0]) + 64]).lstrip(b" \t\r\n")
            if first[:1] in (b"[", b"{"):
                yield from _pieces(text, scan.open, scan.close, scan.starts, scan.ends, items)
                return
        one = _ONE_LIST_MEMBER.match(text)
        if one is not None and one.group(1) == (b"predictions" if items else b"instances"):
            one = None  # the envelope, of one record
        head = b"" if one is None else bytes(text[one.end() : one.end() + 64]).lstrip(b" \t\r\n")[:1]
        if head and head not in b"-0123456789[]":
            # a record whose one list holds no number first: the scanner reads none
            # (numbers and lists of them alone), so it is declined without parsing it
            yield None
            return
    yield _document_records(orjson.loads(bytes(buf[start:end])), items)


def _pieces(
    text: bytes | bytearray, open_: int, close: int, starts: np.ndarray, ends: np.ndarray, items: bool
) -> Iterator[list[Any] | None]:
    envelope = orjson.loads(bytes(text[: open_ + 1]) + bytes(text[close:]))
    if items:
        ok = envelope == [] or envelope == {"predictions": []}
    else:
        ok = envelope == [] or envelope == {"instances": []}
    if not ok:
        yield None
        return
    bounds = _piece_bounds(starts, ends)
    for k in range(len(bounds) - 1):
        i, j = bounds[k], bounds[k + 1]
        recs = orjson.loads(b"[" + bytes(text[int(starts[i]) : int(ends[j - 1])]) + b"]")
        if type(recs) is not list or len(recs) != j - i:
            yield None
            return
        yield recs


def _nested_piece(recs: list[Any]) -> tuple[list[Any], tuple[int, ...]] | None:
    """(values, shape) of a piece of records that are all nested number lists of the first
    one's shape (what `_nested_parts` reads of each of them), read at once by numpy's shape
    discovery over an object array; None when they are not (the records are then read one
    at a time)."""
    if len(recs) < 2:
        return None
    first = recs[0]
    if type(first) is not list or not first or type(first[0]) is not list:
        return None
    parts = _nested_parts(first)
    if parts is None:
        return None
    try:
        arr = np.array(recs, dtype=object)
    except ValueError:
        return None
    # A record of another shape, or deeper, leaves a list where a number should be (or
    # fewer dimensions); the types below find it.
    if arr.shape != (len(recs), *parts[1]):
        return None
    flat = arr.ravel().tolist()
    del arr
    if not set(map(type, flat)) <= _NUM_TYPES:
        return None
    return flat, parts[1]


def request_records_pure(
    buf: bytes | bytearray, start: int, end: int, lines: bool, f32: bool, items: bool = False
) -> RequestScan | None:
    """The twin of ``_cjson.records``: the same records, by orjson and numpy, or None.

    orjson parses the body (each line of JSON Lines); the records' shapes are checked as
    the C scanner checks them; the numbers of all records become one array at once. A
    float32 is decided from the number's text where its float64 sits on a float32
    rounding boundary (`_exact.to_float32`), so it is rounded once, as the C kernel does.
    """
    starts: array[int] | None = None
    line_nos: array[int] | None = None
    chunks: Iterator[list[Any] | None]
    if lines:
        starts, line_nos = array("q"), array("q")  # no int object per record
        chunks = _line_records(buf, start, end, starts, line_nos)
    else:
        chunks = _document_chunks(buf, start, end, items)
    # one pass: the values into one flat list, a count and a scalar mark per record (no
    # object per record beyond a chunk's)
    sig: tuple[str, int, tuple[int, ...] | None] | None = None
    flat: list[Any] = []
    count_list = array("q")
    key_lists: list[list[int]] = []
    scalar_marks = bytearray()
    try:
        for recs in chunks:
            if recs is None:
                return None
            nested = _nested_piece(recs)
            if nested is not None:  # records of one nested shape, the piece at once
                this: tuple[str, int, tuple[int, ...] | None] = ("values", 2, nested[1])
                if sig is None:
                    sig = this
                elif this != sig:
                    return None
                flat.extend(nested[0])
                count_list.extend(repeat(len(nested[0]) // len(recs), len(recs)))
                scalar_marks.extend(bytes(len(recs)))
                continue
            for r in recs:
                if type(r) in _NUM_TYPES:  # a bare number, the commonest scalar record
                    if sig is None:
                        sig = _BARE_SIG
                    elif sig != _BARE_SIG:
                        return None
                    flat.append(r)
                    count_list.append(1)
                    scalar_marks.append(1)
                    continue
                p = _record_parts(r, items)
                if p is None:
                    return None
                scalar = p[1] == _SCALAR_KIND
                this = (p[0], 0 if scalar else 2 if p[1] == _NESTED_KIND else p[1], p[4])
                if sig is None:
                    sig = this
                elif this != sig:
                    return None
                scalar_marks.append(scalar)
                flat.extend(p[2])
                count_list.append(len(p[2]))
                if p[1] == 1:
                    key_lists.append(p[3] or [])
    except (orjson.JSONDecodeError, MemoryError):
        return None
    name, kind, shape = sig or _BARE_SIG
    if flat and not set(map(type, flat)) <= _NUM_TYPES:
        return None
    try:
        values = np.array(flat, dtype=np.float64)
    except OverflowError:
        return None
    if not np.isfinite(values).all():
        return None
    if f32:
        from ._exact import to_float32

        texts: list[bytes] = []

        def text_at(i: int) -> bytes:
            if not texts:
                if lines:
                    cuts = [(a, buf.find(b"\n", a, end)) for a in starts or ()]
                    docs = [
                        _stdjson.loads(bytes(buf[a : end if b < 0 else b]), parse_float=_NumText)
                        for a, b in cuts
                    ]
                else:
                    doc = _stdjson.loads(bytes(buf[start:end]), parse_float=_NumText)
                    docs = _document_records(doc, items) or []
                texts.extend(_request_value_texts(docs, items))
            return texts[i]

        with np.errstate(over="ignore"):
            values = to_float32(values, text_at)
        if np.isinf(values).any():
            return None
    del flat
    counts = np.frombuffer(count_list, dtype=np.int64) if count_list else np.empty(0, np.int64)
    keys = None
    if kind == 1:
        keys = np.array(list(chain.from_iterable(key_lists)), dtype=np.int64)
    return RequestScan(
        kind,
        name,
        values,
        counts,
        keys,
        shape,
        None if starts is None else np.array(starts, dtype=np.int64),
        None if line_nos is None else np.array(line_nos, dtype=np.int64),
        np.frombuffer(scalar_marks, dtype=bool) if any(scalar_marks) else None,
    )


def scan_request_records(
    buf: bytes | bytearray,
    start: int,
    end: int,
    lines: bool,
    f32: bool,
    items: bool = False,
    twin: bool = False,
) -> RequestScan | None:
    """The records of ``buf[start:end]`` by the C kernel when it is built (and not `twin`),
    else its twin (with `items`, the items of a response: bare number lists or numbers)."""
    if _CJ is None or twin:
        return request_records_pure(buf, start, end, lines, f32, items)
    got = _CJ.records(buf, start, end, lines, f32, _threads(), _PIECE_MIN, items)
    if got is None:
        return None
    kind, name, values, counts, keys, shape, starts, line_nos, _n = got
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return None
    count = np.frombuffer(counts, dtype=np.int64)  # writable: the bytearray's
    scalars: np.ndarray | None = count < 0  # the kernel's count of a scalar record is -1
    assert scalars is not None
    if scalars.any():
        count[scalars] = 1
    else:
        scalars = None
    return RequestScan(
        kind,
        text,
        np.frombuffer(values, dtype=np.float32 if f32 else np.float64),
        count,
        None if keys is None else np.frombuffer(keys, dtype=np.int64),
        shape,
        None if starts is None else np.frombuffer(starts, dtype=np.int64),
        None if line_nos is None else np.frombuffer(line_nos, dtype=np.int64),
        scalars,
    )


def request_group(
    buf: bytes | bytearray,
    start: int,
    end: int,
    dtype: DtypeSpec,
    *,
    lines: bool = False,
    base_offset: int = 0,
    base_line: int = 1,
    items: bool = False,
    twin: bool = False,
) -> FastGroup | None:
    """The records of a request body (a document, or JSON Lines) as one `FastGroup` when
    they all give one numeric column (`scan_request_records`), or None (the general path decides).
    float32 is read directly when ``dtype=`` asks for it for that column. With `items`, the
    items of a response that are all bare number lists or numbers (the column ``values`` of
    ``label``). With `twin`, the kernel's twin reads them even where the kernel is built."""
    f32 = not isinstance(dtype, Mapping) and _resolve_dtype(dtype, "") == np.float32
    got = scan_request_records(buf, start, end, lines, f32, items, twin)
    if got is not None and isinstance(dtype, Mapping) and _resolve_dtype(dtype, got.name) == np.float32:
        got = scan_request_records(buf, start, end, lines, True, items, twin)
    if got is None:
        return None
    return FastGroup(
        "label" if items else "features",
        got.name,
        got.values,
        got.counts,
        got.starts if got.starts is None or not base_offset else got.starts + base_offset,
        got.lines if got.lines is None or base_line == 1 else got.lines + (base_line - 1),
        got.keys,
        got.shape,
        got.scalars,
    )


# ======================================================================================
# Encoding
# ======================================================================================


class _Absent:
    """A record without this key."""


_ABSENT = _Absent()


def _spell(x: float) -> bytes:
    if math.isnan(x):
        return b"NaN"
    return b"Infinity" if x > 0 else b"-Infinity"


def _nonfinite_text(a: Any) -> orjson.Fragment:
    """A numpy value with NaN / inf as JSON text in Python's json spelling."""
    arr = np.asarray(a)
    text = orjson.dumps(arr, option=_OPT_NUMPY) if arr.ndim else b"null"
    spellings = [_spell(float(x)) for x in arr.reshape(-1)[~np.isfinite(arr.reshape(-1))]]
    parts = text.split(b"null")
    out = [parts[0]]
    for s, p in zip(spellings, parts[1:], strict=True):
        out += [s, p]
    return orjson.Fragment(b"".join(out))


def _bad_rows(
    cname: str, values: np.ndarray, owner: Callable[[int], int], allow_nan: bool, ct: str
) -> set[int]:
    """Records holding NaN or an infinity (EncodeError unless allow_nan)."""
    if values.dtype.kind != "f" or values.size == 0:
        return set()
    finite = np.isfinite(values)
    if finite.all():
        return set()
    idx = np.flatnonzero(~finite)
    if not allow_nan:
        i = int(idx[0])
        raise EncodeError(
            ct,
            f"value {float(values[i])!r} in record {owner(i)} cannot be written as JSON; "
            "pass allow_nan=True to write NaN / Infinity / -Infinity as Python's json does",
            column=cname,
        )
    return {owner(int(i)) for i in idx}


def check_text(cname: str, s: Any, ct: str) -> str:
    """A string value of column `cname` that JSON can hold (`EncodeError` for bytes or a
    lone surrogate)."""
    if isinstance(s, bytes):
        raise EncodeError(ct, "bytes values cannot be written as JSON text; decode them first", column=cname)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise EncodeError(
            ct, f"string {s[:20]!r} is not valid Unicode (lone surrogate)", column=cname
        ) from None
    return str(s)


def _nested_ok(shape: tuple[int, ...]) -> bool:
    """Nested lists show this record shape (a zero before the last axis is lost)."""
    return 0 not in shape[:-1]


def _cells(map_name: str, key: str, col: Any, style: str, allow_nan: bool, ct: str) -> list[Any]:
    """One JSON value per record for one column. `style`: "short" (lists and numbers),
    "tensor" (protobuf-equivalent objects) or "sparse" (objects with keys)."""
    cname = f"{map_name}[{key!r}]"
    kind = column_kind(col)
    n = len(col) if isinstance(col, (Ragged, Sparse)) else int(col.shape[0])
    if kind == "strings":
        out: list[Any] = []
        for v in col.tolist():
            if v is None:
                out.append(_ABSENT)
                continue
            if isinstance(v, (list, tuple)):
                items = [check_text(cname, x, ct) for x in v]
                out.append({"values": items, "shape": [len(items)]} if style != "short" else items)
            else:
                s = check_text(cname, v, ct)
                out.append({"values": [s]} if style != "short" else s)
        return out
    if kind == "sparse":
        m, shape = sparse_parts(col)
        data = np.ascontiguousarray(m.data)
        indices = np.ascontiguousarray(m.indices)
        indptr = np.asarray(m.indptr).tolist()
        bad = _bad_rows(
            cname, data, lambda i: int(np.searchsorted(m.indptr, i, side="right") - 1), allow_nan, ct
        )
        out = []
        if style == "short":
            width = math.prod(shape)
            for i in range(n):
                lo, hi = indptr[i], indptr[i + 1]
                row = np.zeros(width, dtype=data.dtype)
                row[indices[lo:hi]] = data[lo:hi]
                row = row.reshape(shape)
                if not _nested_ok(shape):
                    out.append({"values": row.reshape(-1), "shape": list(shape)})
                else:
                    out.append(_nonfinite_text(row) if i in bad else row)
            return out
        shape_list = list(shape)
        for i in range(n):
            lo, hi = indptr[i], indptr[i + 1]
            vals = data[lo:hi]
            out.append(
                {
                    "keys": indices[lo:hi],
                    "shape": shape_list,
                    "values": _nonfinite_text(vals) if i in bad else vals,
                }
            )
        return out
    if kind == "ragged":
        values = np.ascontiguousarray(col.values)
        offsets = col.offsets.tolist()
        bad = _bad_rows(
            cname, values, lambda i: int(np.searchsorted(col.offsets, i, side="right") - 1), allow_nan, ct
        )
        valid = None if col.valid is None else col.valid.tolist()
        out = []
        for i in range(n):
            if valid is not None and not valid[i]:
                out.append(_ABSENT)
                continue
            v = values[offsets[i] : offsets[i + 1]]
            v = _nonfinite_text(v) if i in bad else v
            out.append({"values": v} if style != "short" else v)
        return out
    # dense
    arr = np.ascontiguousarray(col)
    rec_shape = tuple(int(s) for s in arr.shape[1:])
    width = math.prod(rec_shape)
    bad = _bad_rows(cname, arr.reshape(-1), lambda i: i // width if width else 0, allow_nan, ct)
    rows = list(arr)  # numpy scalars for (N,), row views otherwise: orjson writes both exactly
    if style == "short":
        if len(rec_shape) >= 2 and not _nested_ok(rec_shape):
            return [{"values": r.reshape(-1), "shape": list(rec_shape)} for r in rows]
        if bad:
            rows = [_nonfinite_text(r) if i in bad else r for i, r in enumerate(rows)]
        return rows
    if style == "sparse" and rec_shape != ():
        shape_list = list(rec_shape)
        out = []
        for i, r in enumerate(rows):
            flat = r.reshape(-1)
            nz = np.flatnonzero((flat != 0) | np.signbit(flat) if flat.dtype.kind == "f" else flat != 0)
            vals = flat[nz]
            out.append(
                {"keys": nz, "shape": shape_list, "values": _nonfinite_text(vals) if i in bad else vals}
            )
        return out
    # tensor objects as RecordIO-protobuf writes them (record.md "Scalars and vectors")
    wire_shape: list[int] | None = None
    if len(rec_shape) >= 2 or (map_name == "label" and rec_shape == (1,)):
        wire_shape = list(rec_shape)
    flat2 = arr.reshape(n, width)
    out = []
    for i in range(n):
        v = flat2[i]
        obj: dict[str, Any] = {"values": _nonfinite_text(v) if i in bad else v}
        if wire_shape is not None:
            obj["shape"] = wire_shape
        out.append(obj)
    return out


def configuration_value(text: str) -> Any:
    """Write a configuration that is JSON object text as the object, anything else as a string."""
    if text[:1] == "{":
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
        if type(parsed) is dict:
            return orjson.Fragment(orjson.dumps(parsed))
    return text


def _json_name(key: str, ct: str) -> str:
    if key == "features":
        raise EncodeError(
            ct,
            "the JSON name 'features' stands for features['values']; a column named "
            "'features' cannot be written",
            column="features['features']",
        )
    return "features" if key == "values" else key


def instance_objects(
    batch: RecordBatch, layout: Layout | None, allow_nan: bool, ct: str, with_configuration: bool = True
) -> list[dict[str, Any]]:
    """One JSON object per record of a request batch."""
    if not isinstance(batch, RecordBatch):
        raise EncodeError(ct, f"expected a RecordBatch, got {type(batch).__name__}")
    if layout not in (None, "dense", "sparse", "protobuf"):
        raise ValueError(f"layout must be 'dense', 'sparse', 'protobuf' or None, not {layout!r}")
    n = len(batch)
    if layout is None:
        any_sparse = any(
            column_kind(c) == "sparse" for m in (batch.features, batch.label) for c in m.values()
        )
        layout = "protobuf" if any_sparse else "dense"
    style = {"dense": "short", "protobuf": "tensor", "sparse": "sparse"}[layout]
    objs: list[dict[str, Any]] = [{} for _ in range(n)]
    data_objs: list[dict[str, Any]] | None = None
    for key, col in batch.features.items():
        name = _json_name(key, ct)
        cells = _cells("features", key, col, style, allow_nan, ct)
        if layout == "dense" and name not in RESERVED - {"features"}:
            for o, c in zip(objs, cells, strict=True):
                if c is not _ABSENT:
                    o[name] = c
        else:
            if data_objs is None:
                data_objs = [{} for _ in range(n)]
            for o, c in zip(data_objs, cells, strict=True):
                if c is not _ABSENT:
                    o[name] = c
    if data_objs is not None:
        for o, d in zip(objs, data_objs, strict=True):
            o["data"] = d
    if batch.label:
        label_objs: list[dict[str, Any]] = [{} for _ in range(n)]
        for key, col in batch.label.items():
            for o, c in zip(label_objs, _cells("label", key, col, style, allow_nan, ct), strict=True):
                if c is not _ABSENT:
                    o[key] = c
        for o, lab in zip(objs, label_objs, strict=True):
            o["label"] = lab
    for name in ("uid", "metadata", "configuration"):
        strings = getattr(batch, name)
        if strings is None or (name == "configuration" and not with_configuration):
            continue
        for o, s in zip(objs, strings, strict=True):
            if s is not None:
                s = check_text(name, s, ct)
                o[name] = configuration_value(s) if name == "configuration" else s
    return objs


def response_objects(batch: RecordBatch, allow_nan: bool, ct: str) -> list[dict[str, Any]]:
    """One JSON object per record of a response batch: its ``label`` columns (or, for a
    batch without labels, its ``features`` columns)."""
    if not isinstance(batch, RecordBatch):
        raise EncodeError(ct, f"expected a RecordBatch, got {type(batch).__name__}")
    n = len(batch)
    map_name, columns = (
        ("label", batch.label) if batch.label or not batch.features else ("features", batch.features)
    )
    objs: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, col in columns.items():
        style = "tensor" if column_kind(col) == "sparse" else "short"
        cells = _cells(map_name, key, col, "sparse" if style == "tensor" else "short", allow_nan, ct)
        for o, c in zip(objs, cells, strict=True):
            if c is not _ABSENT:
                o[key] = c
    return objs


def join_rows_pure(texts: list[bytes], n: int, sep: int, heads: list[bytes], row_sep: bytes) -> bytes | None:
    """The twin of ``_cjsonrec.join_rows``: row i is ``heads[0]``, field i of ``texts[0]``
    (fields separated by the byte `sep`), ``heads[1]``, ..., ``heads[k]``; the rows joined
    by `row_sep`; None when a text has another number of fields."""
    parts = [t.split(bytes([sep])) for t in texts]
    if not texts or n < 1 or len(heads) != len(texts) + 1 or any(len(p) != n for p in parts):
        return None
    tails = heads[1:]
    return row_sep.join(
        heads[0] + b"".join(f + h for f, h in zip(fields, tails, strict=True))
        for fields in zip(*parts, strict=True)
    )


def response_rows(batch: RecordBatch, row_sep: bytes) -> bytes | None:
    """The items `response_objects` writes for `batch`, written column by column (each
    column printed by orjson at once, the objects joined in one pass: ``_cjsonrec.join_rows``
    or `join_rows_pure`), joined by `row_sep`; None unless every column is a 1-D float64,
    float32 or int32 array of finite numbers (the caller then takes `response_objects`)."""
    n = len(batch)
    columns = batch.label if batch.label or not batch.features else batch.features
    if n == 0 or not columns:
        return None
    texts: list[bytes] = []
    heads: list[bytes] = []
    for key, col in columns.items():
        if type(col) is not np.ndarray or col.ndim != 1 or col.dtype not in _DTYPES:
            return None
        if col.dtype.kind == "f" and not np.isfinite(col).all():
            return None
        try:
            name = orjson.dumps(key)
        except orjson.JSONEncodeError:
            return None
        texts.append(orjson.dumps(np.ascontiguousarray(col), option=_OPT_NUMPY)[1:-1])
        heads.append((b"," if heads else b"{") + name + b":")
    heads.append(b"}")
    if _CREC is not None:
        out: bytes | None = _CREC.join_rows(texts, n, 0x2C, heads, row_sep)
        return out
    return join_rows_pure(texts, n, 0x2C, heads, row_sep)


def dumps(obj: Any, ct: str) -> bytes:
    """`obj` as compact JSON bytes (numpy values written by orjson; Rule 3)."""
    try:
        return orjson.dumps(obj, option=_OPT_NUMPY)
    except orjson.JSONEncodeError as e:
        raise EncodeError(ct, f"cannot write JSON: {e}") from None


# ======================================================================================
# Bodies: byte order mark, charset, blocks of whole lines
# ======================================================================================


def skip_bom(buf: bytes | bytearray) -> int:
    """Where the body starts: 3 after a UTF-8 byte order mark, else 0."""
    return 3 if buf[:3] == _BOM else 0


def charset_ok(params: Mapping[str, str], content_type: str, supported: Iterable[str]) -> None:
    """Refuse a ``charset`` MIME parameter other than UTF-8 (`UnsupportedMediaTypeError`)."""
    charset = params.get("charset")
    if charset is not None and charset.lower().replace("-", "") not in ("utf8",):
        raise UnsupportedMediaTypeError(
            content_type, list(supported), f"charset {charset!r} is not supported (JSON is UTF-8)"
        )


#: What `line_blocks` reads: a buffer (str is encoded as UTF-8) or a binary stream.
Source = bytes | bytearray | memoryview | str | IO[bytes]


def line_blocks(source: Source, block_size: int) -> Iterator[tuple[bytes | bytearray, int, int]]:
    """(block of whole lines, byte offset of the block, line number of its first line), for
    a buffer or a binary stream; a byte order mark at the start is skipped (Rule 4)."""
    line = 1
    if hasattr(source, "read") and not isinstance(source, (bytes, bytearray, memoryview, str)):
        yield from _stream_blocks(source, block_size)
        return
    buf = as_bytes(source, text=True)
    pos = skip_bom(buf)
    total = len(buf)
    while pos < total:
        end = min(pos + block_size, total)
        if end < total:
            nl = buf.rfind(b"\n", pos, end)
            if nl < 0:
                nl = buf.find(b"\n", end)
            end = total if nl < 0 else nl + 1
        block = buf[pos:end]
        yield block, pos, line
        line += block.count(b"\n")
        pos = end


def _stream_blocks(stream: Any, block_size: int) -> Iterator[tuple[bytes | bytearray, int, int]]:
    """Blocks of whole lines read from a binary stream (reads of `block_size` bytes)."""
    pending = bytearray()
    offset = 0
    line = 1
    at_start = True
    eof = False
    while not eof:
        chunk = stream.read(block_size)
        if not isinstance(chunk, (bytes, bytearray, memoryview, type(None))):
            raise TypeError(f"the stream returned {type(chunk).__name__}, expected bytes")
        if not chunk:
            eof = True
        else:
            pending += chunk
        if at_start:
            if len(pending) < 3 and not eof:
                continue
            if pending[:3] == _BOM:
                del pending[:3]
                offset = 3
            at_start = False
        if eof:
            cut = len(pending)
        elif len(pending) >= block_size:
            cut = pending.rfind(b"\n") + 1
        else:
            cut = 0
        if cut:
            block = bytes(pending[:cut])
            del pending[:cut]
            yield block, offset, line
            offset += len(block)
            line += block.count(b"\n")
