"""``application/x-npy``: one NumPy ``.npy`` array, as the SageMaker SDK's ``NumpySerializer``
writes it and its ``NumpyDeserializer`` reads it.

Rule 1 (never unpickle): the header is parsed here, by a strict parser for the one dict
literal numpy writes (``{'descr': ..., 'fortran_order': ..., 'shape': (...), }``), never by
``ast.literal_eval`` or ``np.load``. Object arrays (which need pickle), structured and void
dtypes, and platform-dependent long doubles are a `DecodeError`. Every malformed header,
impossible shape or short data block is a `DecodeError` with the byte offset of the thing
at fault; the data block is checked against the bytes present before any array is made, so
a hostile shape cannot allocate anything.
Rule 2 (no copy): the array is a read-only view of the input (C or Fortran order, either
byte order) unless ``copy=True``, which returns an owned, C-contiguous, native-order array.
Rule 3 (records): the first axis is the record axis. A request array of rank 0 or 1 is one
record (``features["values"]`` of shape ``(1, k)``), as the SDK sends
``predictor.predict(np.array([...]))``; a response array goes to ``label["predictions"]``
with its shape kept (``(N,)`` is one value per record).
Rule 4 (writing): an array is written exactly as ``np.save`` (and so the SDK's
``NumpySerializer``) writes it: version 1.0 header, same padding, same descr and order.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from numpy.lib import format as npformat

from .._buffers import OutBuffer, as_view
from ..codec import Capabilities, Codec
from ..errors import DecodeError, EncodeError
from ..record import RecordBatch

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from .. import _sparse as sp

CONTENT_TYPE = "application/x-npy"

__all__ = [
    "CONTENT_TYPE",
    "RESPONSE_KEY",
    "NpyCodec",
    "decode",
    "decode_array",
    "decode_response",
    "encode",
    "encode_array",
    "encode_response",
    "read_header",
]

#: The label key `decode_response` puts the response array under.
RESPONSE_KEY = "predictions"

_MAGIC = b"\x93NUMPY"
_PREFIX = {1: 10, 2: 12, 3: 12}  # magic + version + header length word
_MAX_DIMS = 64  # numpy's NPY_MAXDIMS
_MAX_BYTES = 2**63 - 1
# The typestr numpy writes: byte order, kind, item size, and a datetime unit.
_DESCR = re.compile(r"([<>|=]?)([biufcUSMm])(\d{1,10})(\[[0-9]*[a-zA-Z]+\])?\Z")
_SIZES = {"b": {1}, "i": {1, 2, 4, 8}, "u": {1, 2, 4, 8}, "f": {2, 4, 8}, "c": {8, 16}, "M": {8}, "m": {8}}
_WS = " \t\r\n"


class _HeaderError(ValueError):
    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.pos = pos


# ======================================================================================
# Decoding
# ======================================================================================


class _HeaderParser:
    """A strict reader of the header's dict literal: str keys; str, bool or int-tuple values."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def ws(self) -> None:
        t, i = self.text, self.i
        while i < len(t) and t[i] in _WS:
            i += 1
        self.i = i

    def expect(self, ch: str, what: str) -> None:
        self.ws()
        if self.i >= len(self.text) or self.text[self.i] != ch:
            raise _HeaderError(f"expected {what} in the header, found {self.peek_text()}", self.i)
        self.i += 1

    def peek_text(self) -> str:
        if self.i >= len(self.text):
            return "the end of the header"
        return repr(self.text[self.i : self.i + 12])

    def string(self) -> str:
        q = self.text[self.i]
        end = self.text.find(q, self.i + 1)
        if end < 0:
            raise _HeaderError("unterminated string in the header", self.i)
        s = self.text[self.i + 1 : end]
        if "\\" in s or "\n" in s:
            raise _HeaderError("escapes are not supported in header strings", self.i)
        self.i = end + 1
        return s

    def value(self) -> Any:
        self.ws()
        t, i = self.text, self.i
        if i >= len(t):
            raise _HeaderError("header ends where a value was expected", i)
        c = t[i]
        if c in "'\"":
            return self.string()
        if t.startswith("True", i):
            self.i += 4
            return True
        if t.startswith("False", i):
            self.i += 5
            return False
        if c == "(":
            return self.int_tuple()
        if c == "[":
            raise _HeaderError("structured dtypes (a list descr) are not supported", i)
        raise _HeaderError(f"unexpected value {self.peek_text()} in the header", i)

    _INT = re.compile(r"(0|[1-9][0-9]*)L?")

    def int_tuple(self) -> tuple[tuple[int, ...], list[int]]:
        """A tuple of non-negative ints, and the position of each."""
        self.i += 1
        out: list[int] = []
        where: list[int] = []
        trailing_comma = False
        while True:
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == ")":
                self.i += 1
                break
            if out and not trailing_comma:
                raise _HeaderError(f"expected ',' or ')' in the shape, found {self.peek_text()}", self.i)
            m = self._INT.match(self.text, self.i)
            if m is None:
                raise _HeaderError(
                    f"expected a non-negative integer in the shape, found {self.peek_text()}", self.i
                )
            if len(m.group(1)) > 20:
                raise _HeaderError(f"shape entry {m.group(1)[:24]}... is too large", self.i)
            where.append(self.i)
            out.append(int(m.group(1)))
            self.i = m.end()
            self.ws()
            trailing_comma = self.i < len(self.text) and self.text[self.i] == ","
            if trailing_comma:
                self.i += 1
        if len(out) == 1 and not trailing_comma:
            raise _HeaderError("the shape is an integer in parentheses, not a tuple (missing ',')", where[0])
        return tuple(out), where

    def parse(self) -> tuple[dict[str, Any], dict[str, int]]:
        """The dict, and the position of each value."""
        self.expect("{", "'{'")
        d: dict[str, Any] = {}
        pos: dict[str, int] = {}
        while True:
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == "}":
                self.i += 1
                break
            if self.i >= len(self.text) or self.text[self.i] not in "'\"":
                raise _HeaderError(f"expected a quoted key in the header, found {self.peek_text()}", self.i)
            at = self.i
            key = self.string()
            if key in d:
                raise _HeaderError(f"duplicate header key {key!r}", at)
            self.expect(":", "':'")
            self.ws()
            pos[key] = self.i
            d[key] = self.value()
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == ",":
                self.i += 1
            elif self.i < len(self.text) and self.text[self.i] == "}":
                continue
            else:
                raise _HeaderError(f"expected ',' or '}}' in the header, found {self.peek_text()}", self.i)
        self.ws()
        if self.i != len(self.text):
            raise _HeaderError(f"unexpected {self.peek_text()} after the header dict", self.i)
        return d, pos


def _dtype_from_descr(descr: str) -> np.dtype[Any]:
    if descr in ("|O", "O", "<O", ">O"):
        raise ValueError("object arrays are not supported (they need pickle, which is never used)")
    m = _DESCR.match(descr)
    if m is None:
        raise ValueError(f"unsupported dtype descr {descr!r}")
    _order, kind, size_s, unit = m.groups()
    size = int(size_s)
    if unit is not None and kind not in "Mm":
        raise ValueError(f"unsupported dtype descr {descr!r}")
    if kind in "US":
        if size == 0:
            raise ValueError(f"zero-width string dtype {descr!r} is not supported")
    elif size not in _SIZES[kind]:
        if kind in "fc" and size in (12, 16, 24, 32):
            raise ValueError(f"dtype {descr!r} is a platform-dependent long double; not supported")
        raise ValueError(f"unsupported dtype descr {descr!r}")
    if kind in "Mm" and unit is None:
        # A datetime without a unit is generic; numpy refuses to make arrays of it.
        raise ValueError(f"datetime descr {descr!r} needs a unit")
    try:
        dt = np.dtype(descr)
    except (TypeError, ValueError):
        raise ValueError(f"unsupported dtype descr {descr!r}") from None
    if dt.itemsize > 2**31:
        raise ValueError(f"dtype {descr!r} has an item size over 2 GiB")
    return dt


def _read(view: memoryview) -> tuple[np.dtype[Any], tuple[int, ...], bool, int, int]:
    """Parse the prefix and header: (dtype, shape, fortran_order, data offset, descr offset)."""
    n = len(view)
    head = bytes(view[:6])
    if head != _MAGIC:
        if head[:4] == b"PK\x03\x04":
            raise DecodeError(
                CONTENT_TYPE,
                "this is a zip archive (.npz?); application/x-npy carries a single .npy array",
                offset=0,
            )
        if _MAGIC.startswith(head):
            raise DecodeError(CONTENT_TYPE, f"truncated magic ({n} of 6 bytes)", offset=0)
        raise DecodeError(CONTENT_TYPE, f"bad magic {head!r}, expected b'\\x93NUMPY'", offset=0)
    if n < 8:
        raise DecodeError(CONTENT_TYPE, "truncated version", offset=6)
    major, minor = view[6], view[7]
    if major not in _PREFIX or minor != 0:
        raise DecodeError(
            CONTENT_TYPE, f"unsupported format version {major}.{minor} (1.0, 2.0 and 3.0 are read)", offset=6
        )
    start = _PREFIX[major]
    if n < start:
        raise DecodeError(CONTENT_TYPE, f"truncated header length ({n - 8} of {start - 8} bytes)", offset=8)
    hlen = int.from_bytes(view[8:start], "little")
    if start + hlen > n:
        raise DecodeError(CONTENT_TYPE, f"header length {hlen} exceeds the {n - start} bytes left", offset=8)
    raw = bytes(view[start : start + hlen])
    try:
        text = raw.decode("utf-8" if major == 3 else "latin1")
    except UnicodeDecodeError as e:
        raise DecodeError(CONTENT_TYPE, "header is not valid UTF-8", offset=start + e.start) from None

    def at(i: int) -> int:
        return start + (len(text[:i].encode("utf-8")) if major == 3 else i)

    try:
        d, pos = _HeaderParser(text).parse()
    except _HeaderError as e:
        raise DecodeError(CONTENT_TYPE, e.reason, offset=at(e.pos)) from None
    keys = set(d)
    if keys != {"descr", "fortran_order", "shape"}:
        missing = sorted({"descr", "fortran_order", "shape"} - keys)
        extra = sorted(keys - {"descr", "fortran_order", "shape"})
        what = f"missing {missing}" if missing else f"unexpected {extra}"
        raise DecodeError(CONTENT_TYPE, f"header keys: {what}", offset=start)
    descr, fortran, shape_w = d["descr"], d["fortran_order"], d["shape"]
    if not isinstance(descr, str):
        raise DecodeError(CONTENT_TYPE, "'descr' must be a string", offset=at(pos["descr"]))
    if not isinstance(fortran, bool):
        raise DecodeError(
            CONTENT_TYPE, "'fortran_order' must be True or False", offset=at(pos["fortran_order"])
        )
    if not isinstance(shape_w, tuple):
        raise DecodeError(CONTENT_TYPE, "'shape' must be a tuple of integers", offset=at(pos["shape"]))
    shape, where = shape_w
    try:
        dtype = _dtype_from_descr(descr)
    except ValueError as e:
        raise DecodeError(CONTENT_TYPE, str(e), offset=at(pos["descr"])) from None
    if len(shape) > _MAX_DIMS:
        raise DecodeError(
            CONTENT_TYPE,
            f"{len(shape)} dimensions exceed numpy's limit of {_MAX_DIMS}",
            offset=at(pos["shape"]),
        )
    # numpy's own limit: the product of the non-zero dimensions times the item size must fit
    # a signed 64-bit integer, whatever the data holds.
    nonzero = 1
    for s, w in zip(shape, where, strict=True):
        if s:
            nonzero *= s
            # 8: the widest type a column may be converted to (int8 -> int32, float16 -> float32...)
            if nonzero * max(dtype.itemsize, 8) > _MAX_BYTES:
                raise DecodeError(CONTENT_TYPE, f"shape {shape} is too large", offset=at(w))
    return dtype, shape, fortran, start + hlen, at(pos["descr"])


def decode_array(data: bytes | bytearray | memoryview, *, copy: bool = False) -> np.ndarray:
    """Read a ``.npy`` payload as the array it holds, in its own dtype and shape.

    Parameters
    ----------
    data : bytes-like
        The whole payload: one ``.npy`` array (format version 1.0, 2.0 or 3.0).
    copy : bool
        Return an owned, C-contiguous, native-byte-order array. By default the result is a
        read-only view into `data` (C or Fortran order, the file's byte order): no copy at
        all. A view keeps `data` alive and changes if a mutable `data` changes later.

    Raises
    ------
    DecodeError
        With the byte offset of the first problem: bad magic or version, a malformed
        header, an unsupported dtype (object, structured, void, long double), a shape too
        large, or a data block that is shorter or longer than the header says.

    Examples
    --------
    >>> import numpy as np
    >>> body = encode_array(np.array([[1.5, 16.0]], np.float32))
    >>> decode_array(body)
    array([[ 1.5, 16. ]], dtype=float32)
    """
    arr, _, _ = _decode_view(as_view(data))
    return _owned(arr) if copy else arr


def read_header(data: bytes | bytearray | memoryview) -> tuple[np.dtype[Any], tuple[int, ...]]:
    """The dtype and shape a ``.npy`` payload declares, from its header and the size of its
    data block, without reading a value (what `smp.Limits` checks before decoding).

    Raises `DecodeError` exactly where `decode_array` would for the header or the data
    block's size.

    >>> import numpy as np
    >>> read_header(encode_array(np.zeros((3, 2), np.float32)))
    (dtype('float32'), (3, 2))
    """
    view = as_view(data)
    dtype, shape, _, begin, _ = _read(view)
    _check_size(view, dtype, shape, begin)
    return dtype, shape


def _check_size(view: memoryview, dtype: np.dtype[Any], shape: tuple[int, ...], begin: int) -> int:
    """The data block's size in bytes, checked against the bytes present."""
    need = math.prod(shape) * dtype.itemsize
    have = len(view) - begin
    if need > have:
        raise DecodeError(
            CONTENT_TYPE,
            f"truncated data: shape {shape} of {dtype.str} needs {need} bytes, {have} present",
            offset=begin,
        )
    if need < have:
        raise DecodeError(CONTENT_TYPE, f"{have - need} bytes after the array data", offset=begin + need)
    return need


def _decode_view(view: memoryview) -> tuple[np.ndarray, int, int]:
    """The read-only view of the array, its data offset, and the offset of the descr."""
    dtype, shape, fortran, begin, descr_at = _read(view)
    count = math.prod(shape)
    _check_size(view, dtype, shape, begin)
    order: Literal["C", "F"] = "F" if fortran else "C"
    if count == 0:
        arr = np.empty(shape, dtype=dtype, order=order)
    else:
        # Through np.frombuffer, which keeps a buffer export on the input for as long as the
        # array lives: a bytearray under it can then not be resized (freed) meanwhile.
        raw = np.frombuffer(view, dtype=np.uint8)
        arr = np.ndarray(shape, dtype=dtype, buffer=raw, offset=begin, order=order)
    if arr.flags.writeable:
        arr.flags.writeable = False
    return arr, begin, descr_at


def _owned(arr: np.ndarray) -> np.ndarray:
    dtype = arr.dtype
    native = dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype
    return np.array(arr, dtype=native, order="C", copy=True)


def _batch_column(data: Any, copy: bool) -> tuple[np.ndarray, int]:
    """The array, checked to fit a RecordBatch column without loss (errors at exact offsets)."""
    arr, begin, descr_at = _decode_view(as_view(data))
    dt = arr.dtype
    if dt.kind in "iu" and dt.itemsize >= 4 and not (dt.kind == "i" and dt.itemsize == 4):
        flat = arr.reshape(-1, order="A")  # memory order: a view for C and Fortran arrays
        bad = (flat < -(2**31)) | (flat > 2**31 - 1) if dt.kind == "i" else flat > 2**31 - 1
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise DecodeError(
                CONTENT_TYPE,
                f"value {int(flat[k])} of dtype {dt.name} does not fit int32 (a RecordBatch has "
                "no 64-bit integer column; use decode_array)",
                offset=begin + k * dt.itemsize,
            )
    if dt.kind in "cMm":
        raise DecodeError(
            CONTENT_TYPE,
            f"dtype {dt.name} cannot be a RecordBatch column (float32, float64, int32 or a "
            "lossless conversion); use decode_array",
            offset=descr_at,
        )
    if copy or not dt.isnative:
        # A batch holds native byte order (its dtypes are the protobuf ones): swapping copies.
        arr = _owned(arr)
    return arr, descr_at


def _to_batch(columns: dict[str, np.ndarray], label: bool, descr_at: int) -> RecordBatch:
    try:
        return RecordBatch(label=columns) if label else RecordBatch(columns)
    except EncodeError as e:
        raise DecodeError(CONTENT_TYPE, e.reason, offset=descr_at) from None


def decode(data: bytes | bytearray | memoryview, *, copy: bool = False) -> RecordBatch:
    """Read a request: the array becomes ``features["values"]``, records along the first axis.

    An array of rank 0 or 1 is one record (shape ``(1, k)``), as the SDK's
    ``NumpySerializer`` sends one; rank 2 is ``(N, k)``; rank 3 and more keep their record
    shape (``(N, a, b)``: a matrix per record). ``bool``, ``int8``/``int16``/``uint8``/
    ``uint16`` become ``int32``, ``float16`` ``float32``, and ``int64``/``uint32``/``uint64``
    ``int32`` when every value fits; a value that does not fit is a `DecodeError` at its
    byte offset. Use `decode_array` for the array in its own dtype.

    Examples
    --------
    >>> import numpy as np
    >>> decode(encode_array(np.array([1.5, 16.0, 14.0, 23.0], np.float32)))
    RecordBatch(n=1, features={'values': dense float32(4,)}, label={})
    """
    arr, descr_at = _batch_column(data, copy)
    if arr.ndim <= 1:
        arr = arr.reshape(1, -1)
    return _to_batch({"values": arr}, False, descr_at)


def decode_response(
    data: bytes | bytearray | memoryview, *, copy: bool = False, key: str = RESPONSE_KEY
) -> RecordBatch:
    """Read a response: the array becomes ``label[key]`` (``"predictions"``), shape kept.

    The first axis is the record axis: ``(N,)`` is one value per record, ``(N, k)`` a
    vector per record. A 0-d array is one record holding one value, ``(1,)``.

    >>> import numpy as np
    >>> decode_response(encode_array(np.array([0.25, 0.75], np.float32))).label["predictions"]
    array([0.25, 0.75], dtype=float32)
    """
    arr, descr_at = _batch_column(data, copy)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return _to_batch({key: arr}, True, descr_at)


# ======================================================================================
# Encoding
# ======================================================================================


def encode_array(array: Any) -> bytes:
    """Write `array` as ``np.save`` does (the SageMaker SDK's ``NumpySerializer`` bytes).

    Any shape and any numeric, bool, fixed-width string or datetime dtype, in its own byte
    order; a Fortran-contiguous array is written in Fortran order, as ``np.save`` does.
    Unlike the SDK, an empty array is allowed. Object arrays are an `EncodeError`: writing
    them needs pickle, which this library never uses.

    >>> encode_array(np.zeros(2, np.int32))[:25]
    b"\\x93NUMPY\\x01\\x00v\\x00{'descr': '<i4'"
    """
    arr = np.asarray(array)
    if arr.dtype.kind == "O":
        if arr.size and all(isinstance(v, str) for v in arr.reshape(-1).tolist()):
            arr = arr.astype(str)
        else:
            raise EncodeError(
                CONTENT_TYPE, "object arrays need pickle, which is never written", status_hint=400
            )
    if arr.dtype.kind == "V" or arr.dtype.hasobject:
        raise EncodeError(
            CONTENT_TYPE, f"dtype {arr.dtype} is not supported (structured/void)", status_hint=400
        )
    meta = npformat.header_data_from_array_1_0(arr)
    head = io.BytesIO()
    npformat.write_array_header_1_0(head, meta)
    header = head.getvalue()
    out = OutBuffer(len(header) + arr.nbytes)
    out.array[: len(header)] = np.frombuffer(header, dtype=np.uint8)
    if arr.nbytes:
        src = arr.T if meta["fortran_order"] else arr
        dst = out.array[len(header) :].view(arr.dtype).reshape(src.shape)
        np.copyto(dst, src, casting="no")
    return out.finish()


def _single_column(columns: Mapping[str, Any], what: str) -> tuple[str, Any]:
    if len(columns) != 1:
        names = ", ".join(repr(k) for k in columns) or "none"
        raise EncodeError(
            CONTENT_TYPE, f"an npy payload holds one array; the batch's {what} has {len(columns)} ({names})"
        )
    return next(iter(columns.items()))


def _dense(name: str, col: Any) -> np.ndarray:
    if not isinstance(col, np.ndarray):
        kind = "sparse" if sp.issparse(col) or hasattr(col, "matrix") else type(col).__name__
        raise EncodeError(
            CONTENT_TYPE, f"a {kind} column cannot be written as npy (dense arrays only)", column=name
        )
    return col


def _no_strings(batch: RecordBatch) -> None:
    for s in ("uid", "metadata", "configuration"):
        if getattr(batch, s) is not None:
            raise EncodeError(CONTENT_TYPE, f"an npy payload has no place for {s}", column=s)


def encode(data: Any) -> bytes:
    """Write a request.

    `data` is a numpy array or nested lists (written exactly as the SDK's
    ``NumpySerializer`` writes them: a 1-D array stays 1-D), or a `RecordBatch` with one
    dense features column and no label (written as its ``(N, ...)`` array).
    """
    if not isinstance(data, RecordBatch):
        return encode_array(data)
    _no_strings(data)
    if data.label:
        raise EncodeError(CONTENT_TYPE, "an npy request has no place for a label", column="label")
    name, col = _single_column(data.features, "features")
    return encode_array(_dense(f"features[{name!r}]", col))


def encode_response(data: Any) -> bytes:
    """Write a response: the batch's one ``label`` column (outputs live in ``label``).

    A batch with no label and one features column (what ``smp.from_dense`` builds from a
    bare array) writes that column; a numpy array or nested lists are written as they are.
    """
    if not isinstance(data, RecordBatch):
        return encode_array(data)
    _no_strings(data)
    columns = data.label if data.label else data.features
    name, col = _single_column(columns, "label" if data.label else "features")
    where = "label" if data.label else "features"
    return encode_array(_dense(f"{where}[{name!r}]", col))


@dataclass(frozen=True, slots=True)
class NpyCodec(Codec):
    """The registry's codec for ``application/x-npy`` (parameters such as ``charset`` mean
    nothing to a binary format and are ignored; options ``copy`` and, for responses, ``key``).

    Its encoders take arrays and lists as they are (``raw_input``): a 1-D array stays 1-D
    and int64 stays int64, as the SDK's NumpySerializer writes them.
    """

    content_type: ClassVar[str] = CONTENT_TYPE
    capabilities: ClassVar[Capabilities] = Capabilities(raw_input=True)

    copy: bool = False
    key: str = RESPONSE_KEY

    def encode(self, data: Any, /) -> bytes:
        return encode(data)

    def decode(self, data: Any, /) -> RecordBatch:
        return decode(data, copy=self.copy)

    def encode_response(self, data: Any, /) -> bytes:
        return encode_response(data)

    def decode_response(self, data: Any, /) -> RecordBatch:
        return decode_response(data, copy=self.copy, key=self.key)
