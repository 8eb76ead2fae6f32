"""Drop-in serializers and deserializers for the SageMaker Python SDK v2 ``Predictor``.

``from sm_payloads import sdk as serializers`` (and ``as deserializers``) in place of
``sagemaker.serializers`` / ``sagemaker.deserializers``: every class has the SDK class's name,
constructor arguments, ``CONTENT_TYPE`` / ``ACCEPT`` and ``serialize(data)`` /
``deserialize(stream, content_type)``, and returns the same type of value. See docs/sdk.md
for the class-by-class table of what is the same and what is deliberately different.

Rule 1 (same results): for every input the SDK class handles, the result is equal to the
SDK's: the same text or bytes from a serializer, an equal value of the same type from a
deserializer. Numeric arrays go through this library's codecs (``formats.csv``,
``formats.npy``, ``formats.recordio_protobuf`` with ``sdk_compatible=True``), which write
the SDK's exact bytes many times faster.
Rule 2 (fixed bugs): where the SDK loses or invents data (a quoted newline dropped from a
CSV field, a missing integer read as -1, multi-part RecordIO records misread, object arrays
pickled onto the wire) or crashes on valid input (a blank JSON Lines line, an empty body, a
``charset`` parameter), the difference is documented in docs/sdk.md and asserted in
tests/test_sdk.py.
Rule 3 (errors): where the SDK raises ``ValueError``, we raise `EncodeError` / `DecodeError`
/ `UnsupportedMediaTypeError`, which are ``ValueError`` subclasses, so ``except ValueError``
keeps working; input the SDK answers with ``TypeError``/``KeyError``/``AssertionError``/
``csv.Error``/``RecursionError`` gets one of ours too.
Rule 4 (no SDK import): this module never imports ``sagemaker``; the ``Predictor`` uses
only ``CONTENT_TYPE``, ``ACCEPT``, ``serialize`` and ``deserialize``.
Rule 5 (SDK v3): `sm_payloads.sdk.v3` subclasses these classes for the SDK v3's
``Endpoint``, ``LocalEndpoint`` and ``SchemaBuilder``; ``sm_payloads.sdk.v3`` is imported on
first use (it imports ``sagemaker.core``).
"""

from __future__ import annotations

import csv as _csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import orjson

from .._buffers import as_bytes, as_view
from ..errors import DecodeError, EncodeError, UnsupportedMediaTypeError
from ..formats import npy as _npy
from ..formats._csv_text import CHARSETS
from ..mime import MediaType
from ..record import RecordBatch, from_dense
from ..registry import get_codec

__all__ = [
    "JSONDecodeError",
    "CSVDeserializer",
    "CSVSerializer",
    "JSONDeserializer",
    "JSONLinesDeserializer",
    "JSONLinesSerializer",
    "JSONSerializer",
    "NumpyDeserializer",
    "NumpySerializer",
    "RecordBatchDeserializer",
    "RecordDeserializer",
    "RecordSerializer",
]

_CSV = "text/csv"
_JSON = "application/json"
_JSONLINES = "application/jsonlines"
_NPY = "application/x-npy"
_NPZ = "application/x-npz"
_RIO = "application/x-recordio-protobuf"
_BOM = "\ufeff"
_INT32 = np.iinfo(np.int32)
_EXACT_INT = 2.0**53
#: An integer of 19 digits or more (orjson reads one beyond 64 bits as a float, Python's json
#: as an int); digits after a decimal point or in an exponent do not count.
_LONG_INTEGER = re.compile(rb"(?:^|[^0-9.eE+\-])-?[0-9]{19,}(?![0-9.eE])")

# The registry's codecs the drop-ins write and read numeric arrays with, configured once:
# CSV (numpy's ``str`` of each value, as the SDK writes it; read in each accepted charset),
# RecordIO-protobuf byte for byte as the SDK writes it, and npy as ``np.save`` writes it.
_CSV_CODEC = get_codec(_CSV)
_CSV_READERS = {charset: get_codec(_CSV, charset=charset) for charset in set(CHARSETS.values())}
_RIO_CODEC = get_codec(_RIO, sdk_compatible=True)
_NPY_CODEC = get_codec(_NPY)


# ======================================================================================
# Shared plumbing
# ======================================================================================


class _Serializer:
    """``content_type`` (settable) and the ``CONTENT_TYPE`` the Predictor reads."""

    def __init__(self, content_type: str) -> None:
        if not isinstance(content_type, str):
            raise ValueError(
                "content_type must be a string specifying the MIME type of the data sent in "
                f"requests: e.g. 'application/json', 'text/csv', etc. Got {content_type!r}"
            )
        self.content_type = content_type

    @property
    def CONTENT_TYPE(self) -> str:
        """The ``Content-Type`` of the requests this serializer writes."""
        return self.content_type

    def __repr__(self) -> str:
        return f"{type(self).__name__}(content_type={self.content_type!r})"


class _Deserializer:
    """``accept`` (settable) and the ``ACCEPT`` tuple the Predictor sends."""

    def __init__(self, accept: str | Sequence[str]) -> None:
        self.accept = accept

    @property
    def ACCEPT(self) -> Sequence[str]:
        """The media types asked for: a tuple for one type, else the sequence as given."""
        if isinstance(self.accept, str):
            return (self.accept,)
        return self.accept

    def __repr__(self) -> str:
        return f"{type(self).__name__}(accept={self.accept!r})"


def _read_all(stream: Any) -> bytes | bytearray:
    """The whole body of a botocore ``StreamingBody`` (or of any stream, or a buffer or
    ``str`` given as it is), taken by the package's one input rule
    (`sm_payloads._buffers.as_bytes`, a ``str`` as UTF-8), closing the stream afterwards as
    the SDK's deserializers do."""
    try:
        return as_bytes(stream.read() if hasattr(stream, "read") else stream, text=True)
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()


def _is_dataframe(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and type(data).__module__.startswith("pandas")


def _is_arrow(data: Any) -> bool:
    """A DataFrame or Arrow table (the Arrow PyCapsule interface). One column (a pandas or
    polars Series, a pyarrow Array) is not: the SDK writes a Series as one row, and so do
    the serializers here (through numpy)."""
    from ..arrow import is_arrow, is_column

    return is_arrow(data) and not is_column(data)


def _from_arrow(data: Any, content_type: str) -> RecordBatch:
    """`sm_payloads.arrow.from_arrow` (its numeric columns as ``features["values"]``), its
    errors naming `content_type`."""
    from ..arrow import from_arrow  # pyarrow is imported only for Arrow data

    try:
        return from_arrow(data)
    except EncodeError as e:
        raise EncodeError(content_type, e.reason, column=e.column, status_hint=e.status_hint) from None


def _text(body: bytes | bytearray, encoding: str, content_type: str) -> str:
    """Decode `body`; a byte order mark is dropped (the SDK keeps it as part of the first
    value); undecodable bytes are a `DecodeError` at their offset."""
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as e:
        line = body.count(b"\n", 0, e.start) + 1
        raise DecodeError(
            content_type, f"invalid {encoding} text: {e.reason}", offset=e.start, line=line
        ) from None
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    return text[1:] if text.startswith(_BOM) else text


class JSONDecodeError(DecodeError, json.JSONDecodeError):
    """Invalid JSON read by a drop-in deserializer: our `DecodeError` (``content_type``,
    ``offset`` in bytes, ``line``; a ``ValueError`` with ``status_hint`` 400) and also the
    ``json.JSONDecodeError`` that the SDK's deserializers raise, with its ``msg``, ``doc``,
    ``pos``, ``lineno`` and ``colno`` (characters of the document ``json`` was given: the
    body, or for JSON Lines the line), so code written against the SDK catches it as
    before.

    >>> try:
    ...     JSONDeserializer().deserialize(io.BytesIO(b'{"a": 1,\\n "b": tru}'), "application/json")
    ... except json.JSONDecodeError as e:
    ...     print(e.msg, e.pos, e.lineno, e.colno, "|", e.offset, isinstance(e, DecodeError))
    Expecting value 15 2 7 | 15 True
    """

    def __init__(
        self, content_type: str, *, msg: str, doc: str, pos: int, offset: int, line: int | None = None
    ) -> None:
        DecodeError.__init__(self, content_type, f"invalid JSON: {msg}", offset=offset, line=line)
        self.msg, self.doc, self.pos = msg, doc, pos
        self.lineno = doc.count("\n", 0, pos) + 1
        self.colno = pos - doc.rfind("\n", 0, pos)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        kwargs = {"msg": self.msg, "doc": self.doc, "pos": self.pos, "offset": self.offset, "line": self.line}
        return (_rebuild_json_error, (self.content_type, kwargs))


def _rebuild_json_error(content_type: str, kwargs: dict[str, Any]) -> JSONDecodeError:
    return JSONDecodeError(content_type, **kwargs)


def _json_loads(
    data: bytes | bytearray, content_type: str, *, line: int | None = None, offset: int = 0
) -> Any:
    """One JSON document, as Python's ``json`` module reads it (``NaN``, ``Infinity``,
    integers of any size), with orjson doing the work whenever it can (orjson reads an
    integer beyond 64 bits as a float: an integer of 19 digits or more sends the body to
    ``json``)."""
    if _LONG_INTEGER.search(data) is None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DecodeError(
            content_type, f"invalid UTF-8: {e.reason}", offset=offset + e.start, line=line
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        at = offset + len(text[: e.pos].encode("utf-8"))
        raise JSONDecodeError(content_type, msg=e.msg, doc=e.doc, pos=e.pos, offset=at, line=line) from None
    except RecursionError:
        raise DecodeError(content_type, "JSON nested too deeply", offset=offset, line=line) from None


def _fits_int32(a: np.ndarray) -> bool:
    return a.size == 0 or bool(a.min() >= _INT32.min and a.max() <= _INT32.max)


def _fast_matrix(a: np.ndarray) -> np.ndarray | None:
    """`a` as a float32/float64/int32 2-D array whose text (numpy's ``str`` of each value)
    is the text of the original values, or None when there is no such array."""
    if a.ndim != 2 or a.size == 0:
        return None
    if a.dtype in (np.float32, np.float64, np.int32):
        return a
    if a.dtype.kind in "iu" and a.dtype.itemsize <= 8 and _fits_int32(a):
        return a.astype(np.int32)
    return None


# ======================================================================================
# Serializers
# ======================================================================================


def _sequence_like(x: Any) -> bool:
    return hasattr(x, "__iter__") and hasattr(x, "__getitem__")


class _RowWriter:
    """``csv.writer`` rows without their line terminator."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.writer = _csv.writer(self.buf, delimiter=",")

    def row(self, data: Any) -> str:
        if isinstance(data, str):
            return data
        if isinstance(data, np.ndarray):
            data = data.reshape(-1)
        if not hasattr(data, "__len__"):
            raise EncodeError(_CSV, f"Unable to handle input format: {type(data)}", status_hint=400)
        if len(data) == 0:
            raise EncodeError(_CSV, "Cannot serialize empty array", status_hint=400)
        start = self.buf.tell()
        self.writer.writerow(data)
        return self.buf.getvalue()[start:].removesuffix("\r\n")


def _float_rows(data: list[Any]) -> np.ndarray | None:
    """A list of equally long, non-empty lists of Python floats as a float64 matrix."""
    first = data[0]
    if type(first) is not list or not first:
        return None
    k = len(first)
    for row in data:
        if type(row) is not list or len(row) != k:
            return None
        for v in row:
            if type(v) is not float:
                return None
    return np.array(data, dtype=np.float64)


class CSVSerializer(_Serializer):
    """Rows of comma-separated values, as the SDK's ``CSVSerializer`` writes them.

    ``serialize`` returns a ``str``: rows joined by ``\\n``, no final newline. A numpy array
    of one row per record (or a 1-D array: one record) is written by `formats.csv` with
    the SDK's exact text (numpy's ``str`` of each value); other inputs follow the SDK's
    rules (a list of rows, a row, a ``str`` as is, a file-like object's ``read()``, a pandas
    DataFrame's ``to_csv``). Another DataFrame or Arrow table (polars, pyarrow) is written
    as pandas' ``to_csv`` writes a frame of one dtype: a row per record, a final newline.

    >>> CSVSerializer().serialize(np.array([[1.5, 16, 14, 23]], np.float32))
    '1.5,16.0,14.0,23.0'
    """

    def __init__(self, content_type: str = _CSV) -> None:
        super().__init__(content_type)

    def serialize(self, data: Any) -> Any:
        if hasattr(data, "read"):
            return data.read()
        if _is_dataframe(data):
            return data.to_csv(header=False, index=False)
        if _is_arrow(data):
            # a polars DataFrame, a pyarrow Table...: what pandas' to_csv writes for the same
            # frame (one dtype; the SDK writes such a frame one column per line)
            return _CSV_CODEC.encode(_from_arrow(data, _CSV)).decode("ascii") + "\n"
        if isinstance(data, np.ndarray):
            if data.ndim == 0:
                raise EncodeError(
                    _CSV, f"Unable to handle input format: a 0-d array {data!r}", status_hint=400
                )
            if data.size and data.dtype.kind != "O":
                rows = data.reshape(1, -1) if data.ndim == 1 else data.reshape(data.shape[0], -1)
                fast = _fast_matrix(rows)
                if fast is not None:
                    return _CSV_CODEC.encode(from_dense(fast)).decode("ascii")
        elif isinstance(data, list) and data:
            matrix = _float_rows(data)
            if matrix is not None:
                return _CSV_CODEC.encode(from_dense(matrix)).decode("ascii")
        elif isinstance(data, Mapping):
            raise EncodeError(
                _CSV, "Unable to handle input format: a mapping is not a CSV row", status_hint=400
            )
        elif not hasattr(data, "__len__"):
            raise EncodeError(_CSV, f"Unable to handle input format: {type(data)}", status_hint=400)
        if isinstance(data, str):
            return data
        writer = _RowWriter()
        # A mutable sequence (list, ndarray) whose first item is itself a sequence holds one
        # row per item, as in the SDK; so does a tuple of non-string sequences (the SDK
        # writes those as one row of Python reprs).
        rows_of = (hasattr(data, "__setitem__") and _sequence_like(data)) or (
            isinstance(data, tuple) and bool(data) and not isinstance(data[0], str)
        )
        if rows_of and len(data) > 0 and _sequence_like(data[0]):
            return "\n".join([writer.row(row) for row in data])
        return writer.row(data)


def _dumps_array(a: np.ndarray) -> str:
    """``json.dumps(a.tolist())``, written by the CSV number writer where it can be."""
    if a.ndim in (1, 2) and a.size and a.dtype.kind in "fiu":
        if a.dtype.kind == "f":
            if a.dtype.itemsize not in (2, 4, 8) or not np.isfinite(a).all():
                return json.dumps(a.tolist())
            m = a.astype(np.float64, copy=False)
        elif _fits_int32(a):
            m = a.astype(np.int32, copy=False)
        else:
            return json.dumps(a.tolist())
        text = _CSV_CODEC.encode(from_dense(m.reshape(1, -1) if m.ndim == 1 else m)).decode("ascii")
        text = text.replace(",", ", ")
        if a.ndim == 1:
            return "[" + text + "]"
        return "[[" + text.replace("\n", "], [") + "]]"
    return json.dumps(a.tolist())


def _numpy_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=_numpy_default)


class JSONSerializer(_Serializer):
    """JSON text, as the SDK's ``JSONSerializer`` writes it (Python's ``json.dumps``:
    ``", "`` and ``": "`` separators, ``NaN``/``Infinity`` for non-finite floats).

    ``serialize`` returns a ``str``. A numpy array (also as a value of a dict) is written as
    ``json.dumps(array.tolist())`` writes it; float and int32-range arrays by this library's
    number writer. Numpy scalars and arrays nested deeper are converted too (the SDK raises
    ``TypeError`` for them).

    >>> JSONSerializer().serialize({"instances": np.array([[1.5, 2.0]])})
    '{"instances": [[1.5, 2.0]]}'
    """

    def __init__(self, content_type: str = _JSON) -> None:
        super().__init__(content_type)

    def serialize(self, data: Any) -> Any:
        if hasattr(data, "read") and not isinstance(data, dict):
            return data.read()
        try:
            return self._dumps(data)
        except (TypeError, ValueError) as e:
            raise EncodeError(_JSON, str(e), status_hint=400) from None

    @staticmethod
    def _dumps(data: Any) -> str:
        if isinstance(data, dict):
            if all(isinstance(k, str) for k in data):
                items = [
                    json.dumps(k) + ": " + (_dumps_array(v) if isinstance(v, np.ndarray) else _dumps(v))
                    for k, v in data.items()
                ]
                return "{" + ", ".join(items) + "}"
            return _dumps({k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in data.items()})
        if isinstance(data, np.ndarray):
            return _dumps_array(data)
        return _dumps(data)


class JSONLinesSerializer(_Serializer):
    """One JSON value per line, lines joined by ``\\n`` (no final newline), as the SDK's
    ``JSONLinesSerializer`` writes them. ``serialize`` returns a ``str``.

    Differences: a dict is one line (the SDK writes one line per key, the keys alone); a 2-D
    numpy array is one line per row and numpy scalars are numbers (the SDK raises
    ``TypeError``); ``bytes`` are refused (the SDK writes one number per byte).

    >>> JSONLinesSerializer().serialize([{"features": [1.5, 2]}, {"features": [3, 4]}])
    '{"features": [1.5, 2]}\\n{"features": [3, 4]}'
    """

    def __init__(self, content_type: str = _JSONLINES) -> None:
        super().__init__(content_type)

    def serialize(self, data: Any) -> Any:
        if isinstance(data, str):
            return data
        if hasattr(data, "read"):
            return data.read()
        if isinstance(data, Mapping):
            return _dumps(dict(data))
        if isinstance(data, np.ndarray) and data.ndim >= 1:
            return "\n".join(
                _dumps_array(row) if isinstance(row, np.ndarray) else _dumps(row) for row in data
            )
        if isinstance(data, (bytes, bytearray, memoryview)):
            raise EncodeError(
                _JSONLINES, "bytes are not JSON Lines serializable; pass a str or the values", status_hint=400
            )
        if isinstance(data, Iterable):
            try:
                return "\n".join(_dumps(element) for element in data)
            except (TypeError, ValueError) as e:
                raise EncodeError(_JSONLINES, str(e), status_hint=400) from None
        raise EncodeError(
            _JSONLINES, f"Object of type {type(data)} is not JSON Lines serializable.", status_hint=400
        )


class NumpySerializer(_Serializer):
    """A ``.npy`` array, byte for byte what ``np.save`` (and so the SDK's
    ``NumpySerializer``) writes. ``serialize`` returns ``bytes``.

    `dtype` converts lists, tuples and scalars (the SDK converts lists only); arrays are
    written in their own dtype, as in the SDK. Object arrays are refused with `EncodeError`:
    the SDK pickles them, and a server that reads them must unpickle untrusted data.

    >>> NumpySerializer().serialize(np.array([1.5], np.float32))[-4:]
    b'\\x00\\x00\\xc0?'
    """

    def __init__(self, dtype: Any = None, content_type: str = _NPY) -> None:
        super().__init__(content_type)
        self.dtype = dtype

    def serialize(self, data: Any) -> Any:
        if isinstance(data, np.ndarray):
            if data.size == 0:
                raise EncodeError(_NPY, "Cannot serialize empty array.", status_hint=400)
            return self._write(data)
        if hasattr(data, "read"):
            return data.read()
        if isinstance(data, list) and len(data) == 0:
            raise EncodeError(_NPY, "Cannot serialize empty array.", status_hint=400)
        try:
            array = np.array(data, self.dtype)
        except (TypeError, ValueError) as e:
            raise EncodeError(_NPY, f"cannot make an array of the data: {e}", status_hint=400) from None
        return self._write(array)

    @staticmethod
    def _write(array: np.ndarray) -> bytes:
        if array.dtype.hasobject:
            raise EncodeError(
                _NPY,
                f"an array of dtype {array.dtype} needs pickle, which is never written "
                "(the server would have to unpickle untrusted data)",
                status_hint=400,
            )
        try:
            return _NPY_CODEC.encode(array)
        except EncodeError:
            # Structured dtypes: np.save's own writer, never with pickle.
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, allow_pickle=False)
            return buf.getvalue()


class RecordSerializer(_Serializer):
    """RecordIO-protobuf records, one per row, each with ``features["values"]``: exactly
    the bytes of the SDK's ``RecordSerializer`` (``write_numpy_to_dense_tensor``), written
    by `formats.recordio_protobuf` with ``sdk_compatible=True``.

    ``serialize`` returns an ``io.BytesIO`` positioned at 0, as the SDK does. A 1-D array is
    one record. Differences: lists are accepted (the SDK raises ``AttributeError``), and so
    is every dtype the RecordIO tensors hold without loss (the SDK takes int64, float64 and
    float32 only, refusing even int32), and so are DataFrames and Arrow tables (pandas,
    polars, pyarrow: their numeric columns, `sm_payloads.from_arrow`), which the SDK refuses.

    >>> RecordSerializer().serialize(np.array([1.5, 16], np.float32)).getvalue()[:8].hex()
    '0a23d7ce18000000'
    """

    def __init__(self, content_type: str = _RIO) -> None:
        super().__init__(content_type)

    def serialize(self, data: Any) -> Any:
        if _is_arrow(data):  # a DataFrame or Arrow table (the SDK raises AttributeError)
            return io.BytesIO(_RIO_CODEC.encode(_from_arrow(data, _RIO)))
        array = data if isinstance(data, np.ndarray) else np.asarray(data)
        if array.ndim == 1:
            array = array.reshape(1, array.shape[0])
        if array.ndim != 2:
            raise EncodeError(
                _RIO, f"Expected a 1D or 2D array, but got a {array.ndim}D array instead.", status_hint=400
            )
        try:
            batch = from_dense(array)
        except EncodeError as e:
            raise EncodeError(_RIO, e.reason, column=e.column, status_hint=e.status_hint) from None
        return io.BytesIO(_RIO_CODEC.encode(batch))


# ======================================================================================
# Deserializers
# ======================================================================================


class CSVDeserializer(_Deserializer):
    """A CSV response as a list of rows, each a list of ``str``, as the SDK's
    ``CSVDeserializer`` returns it.

    Differences (bug fixes): a quoted field keeps its line breaks (the SDK splits the text
    into lines before parsing, which drops them); only ``\\n``, ``\\r\\n`` and ``\\r`` end a
    row (the SDK also splits on form feeds, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028/U+2029);
    blank lines are skipped (the SDK returns ``[]`` rows); a UTF-8 byte order mark is
    dropped; a header line is returned as the first row, as in the SDK.

    >>> CSVDeserializer().deserialize(io.BytesIO(b'1,"a\\nb"\\n\\n2,c\\n'), "text/csv")
    [['1', 'a\\nb'], ['2', 'c']]
    """

    def __init__(self, encoding: str = "utf-8", accept: str | Sequence[str] = _CSV) -> None:
        super().__init__(accept)
        self.encoding = encoding

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[list[str]]:
        text = _text(_read_all(stream), self.encoding, _CSV)
        if '"' not in text:
            # No quoting: a row is its line split at commas (what csv.reader gives).
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            return [line.split(",") for line in text.split("\n") if line]
        try:
            return [row for row in _csv.reader(io.StringIO(text, newline="")) if row]
        except _csv.Error as e:
            raise DecodeError(_CSV, str(e)) from None


class JSONDeserializer(_Deserializer):
    """A JSON response as Python objects (dicts, lists, str, int, float, bool, None),
    exactly as ``json.load`` returns them (also ``NaN``/``Infinity`` and integers of any
    size), parsed by orjson where it can be.

    Differences: a UTF-8 byte order mark is skipped (the SDK raises); malformed JSON is a
    `JSONDecodeError`, both our `DecodeError` (with the byte offset) and the
    ``json.JSONDecodeError`` the SDK raises; too deeply nested input is a `DecodeError`
    (the SDK raises ``RecursionError``).

    >>> JSONDeserializer().deserialize(io.BytesIO(b'{"predictions": [{"score": 0.5}]}'), "application/json")
    {'predictions': [{'score': 0.5}]}
    """

    def __init__(self, accept: str | Sequence[str] = _JSON) -> None:
        super().__init__(accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> Any:
        body = _read_all(stream)
        skip = 3 if body.startswith(b"\xef\xbb\xbf") else 0
        return _json_loads(body[skip:] if skip else body, _JSON, offset=skip)


class JSONLinesDeserializer(_Deserializer):
    """A JSON Lines response as a list of Python objects, one per line, as the SDK's
    ``JSONLinesDeserializer`` returns it.

    Differences (bug fixes): blank lines are skipped and an empty body is ``[]`` (the SDK
    raises ``JSONDecodeError`` for both); errors name the line.

    >>> body = io.BytesIO(b'{"score": 1}\\n\\n{"score": 2}\\n')
    >>> JSONLinesDeserializer().deserialize(body, "application/jsonlines")
    [{'score': 1}, {'score': 2}]
    """

    def __init__(self, accept: str | Sequence[str] = _JSONLINES) -> None:
        super().__init__(accept)

    def deserialize(self, stream: Any, content_type: str | None = None) -> list[Any]:
        body = _read_all(stream)
        pos = 3 if body.startswith(b"\xef\xbb\xbf") else 0
        out: list[Any] = []
        line = 1
        while pos <= len(body):
            end = body.find(b"\n", pos)
            if end < 0:
                end = len(body)
            piece = body[pos:end]
            if piece.strip():
                out.append(_json_loads(piece, _JSONLINES, line=line, offset=pos))
            pos = end + 1
            line += 1
        return out


def _csv_as_genfromtxt(body: bytes | bytearray, dtype: Any, charset: str, skipped: int = 0) -> np.ndarray:
    """What ``np.genfromtxt(..., delimiter=",", dtype=dtype)`` gives for a numeric CSV
    body, read by `formats.csv`: int64 when every field is an integer (``dtype=None``),
    else float64, squeezed as genfromtxt squeezes (one row or one column: 1-D; one value:
    0-d). Text bodies go to genfromtxt itself. `skipped`: bytes before `body` in the
    response (a byte order mark), added to error offsets."""
    try:
        batch = _CSV_READERS[charset].decode(body)
    except DecodeError:
        batch = None
    values = None if batch is None or len(batch) == 0 else batch.features.get("values")
    want = None if dtype is None else np.dtype(dtype)
    if (
        not isinstance(values, np.ndarray)
        or values.dtype.kind != "f"
        or b"#" in body
        or b'"' in body
        or (want is not None and want.kind not in "f")
    ):
        if batch is not None and len(batch) == 0:
            return np.empty(0, dtype=want or np.float64)
        return _genfromtxt(body, dtype, charset, skipped)
    if want is not None:
        with np.errstate(over="ignore"):
            out = values.astype(want)
    elif body.strip(b"0123456789+-, \t\r\n") == b"" and not np.isnan(values).any():
        if np.abs(values).max(initial=0.0) >= _EXACT_INT:
            return _genfromtxt(body, dtype, charset, skipped)
        out = values.astype(np.int64)
    else:
        out = values
    return np.squeeze(out)


def _genfromtxt(body: bytes | bytearray, dtype: Any, charset: str, skipped: int) -> np.ndarray:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out: np.ndarray = np.genfromtxt(io.BytesIO(body), delimiter=",", dtype=dtype, encoding=charset)
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        # numpy names the first bad row "Line #N", counting from the first line that holds
        # data (blank and comment lines before it are not counted, those after it are).
        found = re.search(r"Line #(\d+)", str(e))
        line = offset = None
        if found:
            starts = [0, *(m.end() for m in re.finditer(rb"\r\n|\r|\n", body))]
            ends = [*starts[1:], len(body)]
            data = (
                i
                for i, (s, end) in enumerate(zip(starts, ends, strict=True))
                if body[s:end].split(b"#")[0].strip()
            )
            at = next(data, 0) + int(found.group(1)) - 1
            if at < len(starts):
                line, offset = at + 1, skipped + starts[at]
        raise DecodeError(_CSV, f"not a numeric table: {e}", line=line, offset=offset) from None
    return out


class NumpyDeserializer(_Deserializer):
    """A response as a numpy array, as the SDK's ``NumpyDeserializer`` returns it:
    ``application/x-npy`` in its own dtype and shape, ``text/csv`` as ``np.genfromtxt``
    would read it (squeezed: one row or one column is 1-D), ``application/json`` as
    ``np.array(json.load(...))``, ``application/x-npz`` as ``np.load``'s ``NpzFile``.

    Differences (bug fixes): ``.npy`` bodies are parsed by `formats.npy`, which never
    unpickles (``allow_pickle=True`` hands the body to ``np.load`` as the SDK does); media
    type parameters are honoured (the SDK refuses ``text/csv; charset=utf-8``) and a UTF-8
    byte order mark is skipped; a missing
    CSV value is NaN in a float64 array (the SDK writes -1 into an int column) and a table
    of integer and float columns is float64 (the SDK returns a structured array); an empty
    CSV body is an empty float64 array.

    >>> NumpyDeserializer().deserialize(io.BytesIO(b"0.5\\n1.5\\n"), "text/csv")
    array([0.5, 1.5])
    """

    def __init__(
        self, dtype: Any = None, accept: str | Sequence[str] = _NPY, allow_pickle: bool = False
    ) -> None:
        super().__init__(accept)
        self.dtype = dtype
        self.allow_pickle = allow_pickle

    def deserialize(self, stream: Any, content_type: str) -> Any:
        try:
            media = MediaType.parse(content_type)
        except (UnsupportedMediaTypeError, TypeError, AttributeError):
            _read_all(stream)
            raise UnsupportedMediaTypeError(
                str(content_type), tuple(self._READERS), "NumpyDeserializer cannot read this content type"
            ) from None
        body = _read_all(stream)
        read = self._READERS.get(media.essence)
        if read is None:
            raise UnsupportedMediaTypeError(
                content_type, tuple(self._READERS), "NumpyDeserializer cannot read this content type"
            )
        return read(self, body, media, content_type)

    def _read_csv(self, body: bytes | bytearray, media: MediaType, content_type: str) -> np.ndarray:
        charset = media.params.get("charset", "utf-8")
        python_charset = CHARSETS.get(charset.strip().lower())
        if python_charset is None:
            raise UnsupportedMediaTypeError(
                content_type, tuple(self._READERS), f"charset {charset!r} is not supported"
            )
        skip = 3 if body.startswith(b"\xef\xbb\xbf") else 0
        return _csv_as_genfromtxt(body[skip:], self.dtype, python_charset, skip)

    def _read_json(self, body: bytes | bytearray, media: MediaType, content_type: str) -> np.ndarray:
        skip = 3 if body.startswith(b"\xef\xbb\xbf") else 0
        obj = _json_loads(body[skip:], _JSON, offset=skip)
        try:
            return np.array(obj, dtype=self.dtype)
        except (TypeError, ValueError) as e:
            raise DecodeError(_JSON, f"not an array: {e}") from None

    def _read_npy(self, body: bytes | bytearray, media: MediaType, content_type: str) -> Any:
        if self.allow_pickle:
            return np.load(io.BytesIO(body), allow_pickle=True)
        return np.array(_npy.decode_array(body), order="K")

    def _read_npz(self, body: bytes | bytearray, media: MediaType, content_type: str) -> Any:
        try:
            return np.load(io.BytesIO(body), allow_pickle=self.allow_pickle)
        except (ValueError, OSError, EOFError) as e:
            raise DecodeError(_NPZ, str(e)) from None

    #: The reader of each media type (the body, its parsed and its given ``Content-Type``),
    #: in the order the errors list them.
    _READERS: ClassVar[
        Mapping[str, Callable[[NumpyDeserializer, bytes | bytearray, MediaType, str], Any]]
    ] = {
        _CSV: _read_csv,
        _JSON: _read_json,
        _NPY: _read_npy,
        _NPZ: _read_npz,
    }


class RecordDeserializer(_Deserializer):
    """A RecordIO-protobuf response as a list of ``aialgs.data.Record`` protobuf messages
    (``sm_payloads._proto.record_pb2.Record``: the same message as the SDK's
    ``sagemaker.amazon.record_pb2.Record``), as the SDK's ``RecordDeserializer`` returns.

    Differences (bug fixes): multi-part (dmlc cflag 1/2/3) records are joined (the SDK takes
    the flag bits as part of the length and returns garbage or truncated records); a bad
    magic number, a truncated record or a record whose padding is missing is a `DecodeError`
    with its offset (the SDK asserts, raises ``struct.error`` or reads short).

    >>> import sm_payloads as smp
    >>> from sm_payloads.formats import recordio_protobuf
    >>> body = recordio_protobuf.encode(smp.from_dense(np.array([[1.5]], np.float32)))
    >>> records = RecordDeserializer().deserialize(io.BytesIO(body), "application/x-recordio-protobuf")
    >>> [r.features["values"].float32_tensor.values[0] for r in records]
    [1.5]
    """

    def __init__(self, accept: str | Sequence[str] = _RIO) -> None:
        super().__init__(accept)

    def deserialize(self, data: Any, content_type: str | None = None) -> list[Any]:
        from google.protobuf.message import DecodeError as ProtobufDecodeError

        from .. import recordio
        from .._proto import record_pb2

        body = bytes(_read_all(data))
        starts, lengths, joined = recordio.frame_table(as_view(body), _RIO)
        parse = record_pb2.Record.FromString  # type: ignore[attr-defined]
        out: list[Any] = []
        for i, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
            payload = bytes(joined[i]) if start < 0 else body[start : start + length]
            try:
                out.append(parse(payload))
            except ProtobufDecodeError as e:
                offset = -1 - start if start < 0 else start - 8
                raise DecodeError(
                    _RIO, f"not an aialgs.data.Record: {e}", offset=offset, record_index=i
                ) from None
        return out


def _preferred_response_types() -> tuple[str, ...]:
    from ..registry import response_types

    registered = response_types()
    first = [t for t in (_RIO, _JSON, _JSONLINES, _CSV, _NPY) if t in registered]
    return (*first, *(t for t in registered if t not in first))


class RecordBatchDeserializer(_Deserializer):
    """Any registered response format as a `RecordBatch` (outputs in ``label``), through
    `sm_payloads.decode_response` with the response's own ``Content-Type``. No SDK
    counterpart.

    `accept` defaults to every registered response type, RecordIO-protobuf first (it keeps
    dtypes exactly); `options` go to the codec (``dtype=``, ``copy=``, ``keys=``...).

    >>> import sm_payloads as smp
    >>> out = smp.RecordBatch(label={"score": np.array([0.25, 0.75], np.float32)})
    >>> body = smp.encode_response(out, "application/x-recordio-protobuf")
    >>> batch = RecordBatchDeserializer().deserialize(io.BytesIO(body), "application/x-recordio-protobuf")
    >>> batch.label["score"]
    array([0.25, 0.75], dtype=float32)
    """

    def __init__(self, accept: str | Sequence[str] | None = None, **options: Any) -> None:
        super().__init__(_preferred_response_types() if accept is None else accept)
        self.options = options

    def deserialize(self, stream: Any, content_type: str) -> RecordBatch:
        from ..api import decode_response

        body = _read_all(stream)
        if not content_type:
            raise UnsupportedMediaTypeError(
                str(content_type), tuple(self.ACCEPT), "the response has no Content-Type"
            )
        return decode_response(body, content_type, **self.options)


def __getattr__(name: str) -> Any:
    """`sm_payloads.sdk.v3` (the drop-ins for the SageMaker SDK v3) on first use, so
    ``smp.sdk.v3`` works without importing it; where the SDK v3 is not installed this is its
    ``ImportError``, which says what to install."""
    if name == "v3":
        import importlib

        return importlib.import_module(f"{__name__}.v3")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
