"""Output buffers that become `bytes` without a final copy.

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
