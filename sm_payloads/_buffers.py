"""Buffers in and out: the one rule for reading input buffers (`as_bytes`, `as_view`), and
output buffers that become `bytes` without a final copy (`OutBuffer`).

Input (every decoder reads its body through one of these two functions)
------------------------------------------------------------------------

`as_bytes(data, text=...)` is for readers that need ``bytes`` methods (``find``,
``startswith``, regular expressions, ``decode``): CSV, JSON, JSON Lines, Object2Vec's
requests, the schemas' text answers and the SDK drop-ins, all with ``text=True``.

* ``bytes`` and ``bytearray`` are returned as they are (no copy: a ``bytearray`` is read in
  place, so do not change it while a decoder reads it);
* a ``memoryview`` over the whole of a ``bytes`` or ``bytearray`` (C-contiguous, one byte
  per item) is unwrapped to that object (no copy);
* any other buffer (a slice of a ``memoryview``, a numpy array, ``array.array``, ``mmap``)
  is copied once into ``bytes``, in C order;
* a ``str`` is encoded as UTF-8 (``surrogatepass``, so a lone surrogate becomes its bytes
  and the decoder reports it at its position) when ``text=True``, and is a ``TypeError``
  when ``text=False``;
* anything else (including a numpy array of Python objects) is a ``TypeError`` that names
  its type.

`as_view(data)` is for the readers that only slice and index the body (RecordIO-protobuf,
npy, and libsvm's block reader, which copies one block at a time): it returns a 1-D
unsigned-byte (format ``"B"``) ``memoryview``.

* a C-contiguous buffer of any item format and shape (``bytes``, ``bytearray``, a
  ``memoryview``, a numpy array, ``mmap``) is viewed without a copy: the decoder's views
  keep it alive and change if a mutable buffer changes later;
* a buffer that is not C-contiguous is copied once, in C order;
* a ``str`` and anything that is not a buffer are a ``TypeError`` that names the type.

The formats once disagreed: CSV copied a ``bytearray`` or ``memoryview``, took numpy arrays
and refused a ``str``; JSON and JSON Lines kept a ``bytearray``, refused numpy arrays and
took a ``str``; Object2Vec copied every ``memoryview``; a strided byte view failed in the
RecordIO-protobuf reader (``BufferError``) and libsvm (``TypeError``). The rule is the one a user would
expect: no copy where none is needed, every buffer read alike by every format, and a ``str``
read by the `as_bytes` readers (a ``str`` is text) but not by the `as_view` ones (as
before: RecordIO-protobuf and npy are binary, and libsvm reads bytes).

Output
------

Encoders build their output with numpy. Returning ``array.tobytes()`` copies the whole
output once more (about half of the encode time for dense data, measured). On CPython we
instead allocate an uninitialised ``bytes`` object with the C API and let numpy write into
it before anyone else can see it, which is what C extensions do with
``PyBytes_FromStringAndSize(NULL, n)``. Elsewhere we fall back to a numpy buffer and one
copy.

Rule: the caller must write every byte of the buffer (the memory is not zeroed), and must
not keep the array after handing out the bytes.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np

__all__ = ["OutBuffer", "advise_huge_pages", "as_bytes", "as_view"]


# ======================================================================================
# Input
# ======================================================================================


def _not_a_buffer(data: object, text: bool) -> TypeError:
    wanted = "a bytes-like object or str" if text else "a bytes-like object"
    return TypeError(f"expected {wanted}, got {type(data).__name__}")


def _view_of(data: object, text: bool) -> memoryview:
    """``memoryview(data)``, or the `TypeError` of the rule (numpy object arrays export
    their pointers as a buffer of format ``"O"``: not data)."""
    if isinstance(data, memoryview):
        view = data
    else:
        try:
            view = memoryview(data)  # type: ignore[arg-type]
        except (TypeError, ValueError):  # ValueError: numpy dtypes with no buffer format
            raise _not_a_buffer(data, text) from None
    if "O" in view.format:
        raise _not_a_buffer(data, text)
    return view


def as_bytes(data: object, *, text: bool) -> bytes | bytearray:
    """`data` as ``bytes`` or ``bytearray`` (the module docstring's rule).

    >>> b = bytearray(b"1,2")
    >>> as_bytes(b, text=True) is b, as_bytes(memoryview(b), text=True) is b
    (True, True)
    >>> as_bytes(memoryview(b"x,1,2")[2:], text=True), as_bytes("é", text=True)
    (b'1,2', b'\\xc3\\xa9')
    >>> as_bytes("1,2", text=False)
    Traceback (most recent call last):
    TypeError: expected a bytes-like object, got str
    """
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, str):
        if text:
            return data.encode("utf-8", "surrogatepass")
        raise _not_a_buffer(data, text)
    view = _view_of(data, text)
    obj = view.obj
    if (
        isinstance(obj, (bytes, bytearray))
        and view.itemsize == 1
        and view.c_contiguous
        and view.nbytes == len(obj)
    ):
        return obj
    return view.tobytes()


def as_view(data: object) -> memoryview:
    """`data` as a 1-D unsigned-byte ``memoryview``, without a copy when it is C-contiguous
    (the module docstring's rule).

    >>> import numpy as np
    >>> a = np.arange(3, dtype=np.int16)
    >>> v = as_view(a)
    >>> v.format, v.ndim, v.nbytes, np.shares_memory(np.frombuffer(v, np.uint8), a)
    ('B', 1, 6, True)
    """
    if isinstance(data, str):
        raise _not_a_buffer(data, False)
    view = _view_of(data, False)
    if view.ndim == 1 and view.format == "B" and view.c_contiguous:
        return view
    if view.c_contiguous:
        return view.cast("B")
    return memoryview(view.tobytes())


# ======================================================================================
# Output
# ======================================================================================

_from_size: Any = None
_as_string: Any = None
if sys.implementation.name == "cpython":  # pragma: no branch
    try:
        _from_size = ctypes.pythonapi.PyBytes_FromStringAndSize
        _from_size.restype = ctypes.py_object  # ctypes takes ownership of the new reference
        _from_size.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
        _as_string = ctypes.pythonapi.PyBytes_AsString
        _as_string.restype = ctypes.c_void_p
        _as_string.argtypes = (ctypes.py_object,)
    except AttributeError:  # pragma: no cover - an unusual CPython build
        _from_size = None

#: Below this size a plain numpy buffer and one copy is as fast and simpler.
_MIN_DIRECT = 1 << 16

# A fresh multi-megabyte buffer costs one page fault per 4 KiB page on first write, which
# is most of the time of a dense encode (measured: 17 ms of 27 for 44 MB). Asking Linux for
# transparent huge pages on the buffer (it honours this in its default "madvise" mode) cuts
# that to about 4 ms. Best effort: any failure just leaves ordinary pages.
_MADV_HUGEPAGE = 14
_HUGE = 1 << 21
_madvise: Any = None
if sys.platform.startswith("linux"):  # pragma: no branch
    try:
        _libc = ctypes.CDLL(None, use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover
        _madvise = None


def advise_huge_pages(array: np.ndarray) -> None:
    """Ask for transparent huge pages on the 2 MiB-aligned interior of `array` (best effort)."""
    if _madvise is None or array.nbytes < 2 * _HUGE:
        return
    addr = array.ctypes.data
    start = (addr + _HUGE - 1) & ~(_HUGE - 1)
    end = (addr + array.nbytes) & ~(_HUGE - 1)
    if end > start:
        _madvise(start, end - start, _MADV_HUGEPAGE)


class OutBuffer:
    """A writable uint8 array `array` whose contents `finish()` returns as bytes."""

    __slots__ = ("_bytes", "array")

    def __init__(self, size: int) -> None:
        self._bytes: bytes | None = None
        if _from_size is not None and size >= _MIN_DIRECT:
            b = _from_size(None, size)
            addr = _as_string(b)
            self.array = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(addr))
            self._bytes = b
        else:
            self.array = np.empty(size, dtype=np.uint8)
        advise_huge_pages(self.array)

    def finish(self) -> bytes:
        if self._bytes is None:
            return self.array.tobytes()
        out = self._bytes
        self._bytes = None
        del self.array
        return out
