"""Building columns from per-record tensors, and joining columns of several batches.

Used by `RecordBatch.from_records`, `RecordBatch.concat` and the decoders' general paths.

Rule 1: a column keeps the most specific kind that holds every record exactly: dense when
every record has the same shape, sparse when every record is sparse with the same shape,
ragged when rank-1 records differ in length or some records lack the key, strings for
``Bytes`` values.
Rule 2: a tensor without a stated shape is a vector, except in ``label`` where a column of
one-value tensors is a scalar column ``(N,)``.
Rule 3: anything that cannot be held without loss raises `ColumnError` (a `ValueError`)
with the index of the first record at fault; callers turn it into their own error type.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from .record import Ragged, Sparse, Tensor, _column_kind, _sparse_parts


class ColumnError(ValueError):
    """A set of tensors cannot form one column."""

    def __init__(
        self, column: str, reason: str, record_index: int | None = None, *, mixed: bool = True
    ) -> None:
        self.column = column
        self.reason = reason
        self.record_index = record_index
        #: The records disagree with each other (False: one record is unusable on its own).
        self.mixed = mixed
        where = "" if record_index is None else f"record {record_index}: "
        super().__init__(f"{where}{column}: {reason}")


def _is_bytes_tensor(t: Tensor) -> bool:
    return t.values.dtype.kind in "OUS"


def _is_sparse_tensor(t: Tensor) -> bool:
    # The SDK writes an empty sparse row as a tensor with only `shape` set; that is not a
    # dense tensor (its values do not fill its shape), so it counts as sparse.
    if t.keys is not None:
        return True
    return t.values.size == 0 and t.shape is not None and len(t.shape) > 0 and math.prod(t.shape) > 0


def columns_from_records(maps: Sequence[Mapping[str, Tensor]], map_name: str) -> dict[str, Any]:
    """One column per key of the per-record maps `maps` (``features`` or ``label``)."""
    order: dict[str, None] = {}
    for m in maps:
        for k in m:
            order.setdefault(k, None)
    return {
        key: column_from_tensors([m.get(key) for m in maps], f"{map_name}[{key!r}]", map_name == "label")
        for key in order
    }


def column_from_tensors(tensors: Sequence[Tensor | None], name: str, scalar_ok: bool) -> Any:
    """Build one column from one tensor (or None: key absent) per record."""
    n = len(tensors)
    present = [t for t in tensors if t is not None]
    absent = len(present) != n
    if not present:
        return Ragged(np.empty(0, np.float32), np.zeros(n + 1, np.int64), np.zeros(n, bool))
    if any(_is_bytes_tensor(t) for t in present):
        return _strings_column(tensors, name)
    dtype = present[0].values.dtype
    for i, t in enumerate(tensors):
        if t is not None and t.values.dtype != dtype:
            raise ColumnError(name, f"{t.values.dtype} tensor in a column of {dtype} tensors", i)
    if any(_is_sparse_tensor(t) for t in present):
        if absent:
            i = next(i for i, t in enumerate(tensors) if t is None)
            raise ColumnError(name, "key missing from a record of a sparse column", i)
        return _sparse_column(tensors, name, dtype)  # type: ignore[arg-type]
    return _dense_column(tensors, name, dtype, scalar_ok)


def _strings_column(tensors: Sequence[Tensor | None], name: str) -> np.ndarray:
    out = np.empty(len(tensors), dtype=object)
    for i, t in enumerate(tensors):
        if t is None:
            continue
        if not _is_bytes_tensor(t):
            raise ColumnError(name, "numeric tensor in a column of byte strings", i)
        vals = t.values.tolist()
        out[i] = vals[0] if (len(vals) == 1 and t.shape in (None, ())) else list(vals)
    return out


def _logical_shape(t: Tensor, name: str, i: int, scalar: bool) -> tuple[int, ...]:
    if t.shape is None:
        return () if scalar else (t.values.size,)
    if math.prod(t.shape) != t.values.size:
        raise ColumnError(name, f"dense tensor of shape {list(t.shape)} has {t.values.size} values", i)
    return t.shape


def _dense_column(tensors: Sequence[Tensor | None], name: str, dtype: np.dtype[Any], scalar_ok: bool) -> Any:
    present = [t for t in tensors if t is not None]
    scalar = scalar_ok and all(t.shape is None and t.values.size == 1 for t in present)
    shapes = [None if t is None else _logical_shape(t, name, i, scalar) for i, t in enumerate(tensors)]
    first = next(s for s in shapes if s is not None)
    problem = shape_problem(first, len(tensors))
    if problem is not None:
        raise ColumnError(name, problem, 0, mixed=False)
    if len(present) == len(tensors) and all(s == first for s in shapes):
        n = len(tensors)
        if n and present[0].values.size:
            values = np.concatenate([t.values for t in present])
        else:
            values = np.empty(0, dtype)
        return values.astype(dtype, copy=False).reshape((n, *first))
    for i, s in enumerate(shapes):
        if s is not None and len(s) > 1:
            raise ColumnError(name, f"records have different shapes ({list(s)} vs {list(first)})", i)
    return Ragged.from_lists([None if t is None else t.values for t in tensors], dtype=dtype)


#: The widest sparse row scipy can index (int64 column indices).
_MAX_WIDTH = 2**63 - 1


def shape_problem(shape: Sequence[int], n: int) -> str | None:
    """Why numpy cannot make an ``(n, *shape)`` array of 8-byte items, or None.

    numpy refuses more than 64 dimensions, and a shape whose non-zero dimensions multiply
    (times the item size) beyond 2**63 - 1, even when another dimension is 0 and the array
    would be empty.
    """
    if len(shape) + 1 > 64:
        return f"shape of {len(shape)} dimensions (numpy allows 63 per record)"
    size = 8 * max(n, 1)
    for d in shape:
        if d:
            size *= d
            if size > _MAX_WIDTH:
                return f"shape {list(shape)} is too large for an array of {n} records"
    return None


def _sparse_column(tensors: Sequence[Tensor], name: str, dtype: np.dtype[Any]) -> Any:
    shape = None
    for i, t in enumerate(tensors):
        if t.keys is not None or _is_sparse_tensor(t):
            if t.shape is None or not t.shape:
                raise ColumnError(name, "sparse tensor without a shape", i)
            if shape is None:
                shape = t.shape
            elif t.shape != shape:
                raise ColumnError(
                    name, f"sparse records have different shapes ({list(t.shape)} vs {list(shape)})", i
                )
    assert shape is not None
    width = math.prod(shape)
    if width > _MAX_WIDTH:
        raise ColumnError(
            name, f"sparse shape {list(shape)} has {width} elements, more than 2**63 - 1", 0, mixed=False
        )
    data, indices, lengths = [], [], []
    for i, t in enumerate(tensors):
        if t.keys is None:
            if t.values.size == 0:
                keys = np.empty(0, np.uint64)
            elif t.values.size == width and (t.shape is None or t.shape == shape):
                keys = np.arange(width, dtype=np.uint64)  # a dense record among sparse ones
            else:
                raise ColumnError(name, "dense record that does not fit the sparse shape", i)
        else:
            keys = t.keys
        if keys.size and int(keys.max()) >= width:
            raise ColumnError(name, f"key {int(keys.max())} outside the shape {list(shape)}", i)
        data.append(t.values)
        indices.append(keys)
        lengths.append(keys.size)
    indptr = np.zeros(len(tensors) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    idx_dtype = (
        np.int32 if width <= np.iinfo(np.int32).max and indptr[-1] <= np.iinfo(np.int32).max else np.int64
    )
    values = np.concatenate(data).astype(dtype, copy=False) if data else np.empty(0, dtype)
    ind = np.concatenate(indices).astype(idx_dtype) if indices else np.empty(0, idx_dtype)
    m = sp.csr_array((values, ind, indptr.astype(idx_dtype)), shape=(len(tensors), width))
    return m if len(shape) == 1 else Sparse(m, shape)


# --------------------------------------------------------------------------------------
# Joining batches
# --------------------------------------------------------------------------------------


def _as_ragged(col: Any) -> Ragged:
    if isinstance(col, Ragged):
        return col
    n = col.shape[0]
    width = math.prod(col.shape[1:])
    return Ragged(np.ascontiguousarray(col).reshape(-1), np.arange(n + 1, dtype=np.int64) * width)


def concat_columns(cols: Sequence[Any], name: str) -> Any:
    """Join the same column of several batches (see `RecordBatch.concat`)."""
    kinds = {_column_kind(c) for c in cols}
    if kinds == {"strings"}:
        if len({c.dtype for c in cols}) == 1:
            return np.concatenate(cols)
        return np.concatenate([c.astype(object) for c in cols])
    dtypes = {
        c.values.dtype
        if isinstance(c, Ragged)
        else _sparse_parts(c)[0].dtype
        if _column_kind(c) == "sparse"
        else c.dtype
        for c in cols
    }
    if len(dtypes) != 1:
        raise ValueError(f"{name}: cannot join columns of dtypes {sorted(map(str, dtypes))}")
    if kinds == {"dense", "sparse"} and all(
        _column_kind(c) == "sparse" or (c.ndim >= 2 and math.prod(c.shape[1:]) == 0) for c in cols
    ):
        # Records with no values (no shape, or one with a 0) read as dense in a batch of their own
        # and as empty sparse rows beside sparse records: join them as empty sparse rows.
        ref = next(c for c in cols if _column_kind(c) == "sparse")
        width = _sparse_parts(ref)[0].shape[1]

        def empty_rows(k: int, dt: np.dtype[Any]) -> Any:
            m = sp.csr_array(
                (np.empty(0, dt), np.empty(0, np.int32), np.zeros(k + 1, np.int32)), shape=(k, width)
            )
            return Sparse(m, ref.shape) if isinstance(ref, Sparse) else m

        cols = [c if _column_kind(c) == "sparse" else empty_rows(len(c), c.dtype) for c in cols]
        kinds = {"sparse"}
    if kinds == {"sparse"}:
        shapes = {_sparse_parts(c)[1] for c in cols}
        if len(shapes) != 1:
            raise ValueError(f"{name}: cannot join sparse columns of record shapes {sorted(shapes)}")
        shape = shapes.pop()
        mats = [_sparse_parts(c)[0] for c in cols]
        m = sp.vstack(mats, format="csr")
        m = sp.csr_array(m) if isinstance(mats[0], sp.csr_array) else sp.csr_matrix(m)
        return m if len(shape) == 1 else Sparse(m, shape)
    if kinds == {"dense"} and len({c.shape[1:] for c in cols}) == 1:
        return np.concatenate(cols)
    if kinds <= {"dense", "ragged"} and all(isinstance(c, Ragged) or c.ndim <= 2 for c in cols):
        parts = [_as_ragged(c) for c in cols]
        values = np.concatenate([p.values for p in parts])
        starts = np.cumsum([0] + [p.values.size for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, starts, strict=True)])
        if any(p.valid is not None for p in parts):
            valid = np.concatenate([np.ones(len(p), bool) if p.valid is None else p.valid for p in parts])
        else:
            valid = None
        return Ragged(values, offsets.astype(np.int64), valid)
    raise ValueError(f"{name}: cannot join columns of kinds {sorted(kinds)} or of different shapes")
