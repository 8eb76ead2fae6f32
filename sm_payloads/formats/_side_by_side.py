"""Columns side by side: k arrays of one dtype, (N, k_i) each, that make one (N, sum k_i)
column, written into rows without first being stacked into one matrix.

A table of numbers (Parquet, Arrow, a DataFrame) holds its features one column at a time,
while a record's values lie side by side. `SideBySide` keeps the columns as they are and
writes them where they go: `SideBySide.stack` into the (N, K) matrix that
`smp.from_arrow` returns, `SideBySide.write_rows` straight into the rows of a
RecordIO-protobuf output (`recordio_protobuf.encode_columns`), which then needs no (N, K)
matrix at all.

`interleave` does the copy: the C kernel ``_ccolumns.interleave`` (rows in blocks that stay
in the cache, without the GIL) where it is built, else its numpy twin `interleave_pure`, one
strided assignment per part in the widest unsigned integer type that divides the offset, the
stride and every width. Both write the same bytes, and only the bytes of the parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .. import _native

__all__ = ["SideBySide", "interleave", "interleave_pure"]

_C: Any = _native.load("formats._ccolumns")


def _widths(rows: int, parts: Sequence[Any]) -> list[int]:
    widths = []
    for i, p in enumerate(parts):
        n = memoryview(p).nbytes
        if (n != 0) if rows == 0 else (n == 0 or n % rows):
            raise ValueError(f"part {i}: {n} bytes is not {rows} rows of a positive width")
        widths.append(n // rows if rows else 0)
    return widths


def interleave_pure(out: Any, offset: int, stride: int, rows: int, parts: Sequence[Any]) -> None:
    """The numpy twin of ``_ccolumns.interleave``: row r of each part in `parts`
    (contiguous buffers of `rows` rows each), one after the other, at
    ``out[r * stride + offset]`` for every row r (`out`: a writable contiguous buffer)."""
    if offset < 0 or stride < 0 or rows < 0:
        raise ValueError("offset, stride and rows must not be negative")
    widths = _widths(rows, parts)
    width = sum(widths)
    view = memoryview(out)
    if view.readonly:
        raise TypeError("out is read-only")
    if not rows:
        return
    if offset + width > stride:
        raise ValueError("the parts do not fit in a row of out")
    if (rows - 1) * stride + offset + width > view.nbytes:
        raise ValueError("out is shorter than (rows - 1) * stride + offset + width bytes")
    if not width:
        return
    target = np.asarray(view.cast("B"))
    g = next(
        g for g in (8, 4, 2, 1) if offset % g == 0 and stride % g == 0 and all(w % g == 0 for w in widths)
    )
    kind = np.dtype(f"u{g}")
    rows_view: NDArray[Any] = np.ndarray(
        (rows, width // g), dtype=kind, buffer=target, offset=offset, strides=(stride, g)
    )
    at = 0
    for p, w in zip(parts, widths, strict=True):
        src = np.frombuffer(memoryview(p).cast("B"), dtype=kind).reshape(rows, w // g)
        rows_view[:, at : at + w // g] = src
        at += w // g


def interleave(out: Any, offset: int, stride: int, rows: int, parts: Sequence[Any]) -> None:
    """`interleave_pure`, in C where the kernel is built."""
    if _C is not None:
        _C.interleave(out, offset, stride, rows, parts)
    else:
        interleave_pure(out, offset, stride, rows, parts)


class SideBySide:
    """Columns (N, k_i) of one dtype, side by side: the (N, sum k_i) column they make,
    not copied into one matrix until `stack`. Each part is C-contiguous (a part that is not
    is copied once)."""

    __slots__ = ("dtype", "parts", "shape")

    def __init__(self, parts: Sequence[NDArray[Any]]) -> None:
        if not parts:
            raise ValueError("no columns")
        dtype = parts[0].dtype
        n = parts[0].shape[0]
        for p in parts:
            if p.ndim != 2 or p.dtype != dtype or p.shape[0] != n:
                raise ValueError("the parts must be (N, k) arrays of one dtype and one N")
        self.parts = [np.ascontiguousarray(p) for p in parts]
        self.dtype: np.dtype[Any] = dtype
        self.shape = (n, sum(p.shape[1] for p in parts))

    @property
    def ndim(self) -> int:
        return 2

    @property
    def row_bytes(self) -> int:
        """The bytes of one record's values."""
        return int(self.shape[1] * self.dtype.itemsize)

    def stack(self) -> NDArray[Any]:
        """The (N, K) matrix (a new array)."""
        out = np.empty(self.shape, dtype=self.dtype)
        self.write_rows(out, 0, self.row_bytes)
        return out

    def write_rows(self, out: Any, offset: int, stride: int) -> None:
        """Write record r's values at ``out[r * stride + offset]`` (bytes), for every r."""
        parts = [p for p in self.parts if p.shape[1]]  # a part of no values writes nothing
        interleave(out, offset, stride, self.shape[0], parts)
