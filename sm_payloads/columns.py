"""Columns: the four kinds a `RecordBatch` holds, their types, and how they are built.

A column holds one map key (``features["values"]``, ``label["score"]``...) for all N records
of a batch, and is one of four kinds (`Kind`):

* dense: ``np.ndarray`` of shape ``(N, *record_shape)``;
* sparse: ``scipy.sparse`` CSR of shape ``(N, D)`` (record shape ``(D,)``), or `Sparse`
  wrapping one with another record shape (keys are row-major flat indices);
* ragged: `Ragged` (records of different lengths, or records where the key is absent);
* strings: numpy array of a ``str``/``bytes``/object dtype, one entry per record (an
  object entry may be a list of strings for a protobuf ``Bytes`` value with several
  entries, or None where the record has no such key).

Rule 1: numeric dtypes are float32, float64 or int32 (record.proto's tensor types); other
dtypes are converted only when no value changes (`as_tensor_dtype`), else `EncodeError`
names the column and the first offending value.
Rule 2 (building from records): a column keeps the most specific kind that holds every
record exactly: dense when every record has the same shape, sparse when every record is
sparse with the same shape, ragged when rank-1 records differ in length or some records
lack the key, strings for ``Bytes`` values. A tensor without a stated shape is a vector,
except in ``label`` where a column of one-value tensors is a scalar column ``(N,)``.
Rule 3: anything that cannot be held without loss raises `ColumnError` (a `ValueError`)
with the index of the first record at fault; callers turn it into their own error type.
Rule 4: this module imports nothing from the package but `errors` (`record` builds on it;
`Tensor` appears here only in type hints).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import chain
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .errors import EncodeError

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from . import _sparse as sp

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from .record import Tensor

__all__ = [
    "LACKING_CELLS",
    "TENSOR_DTYPES",
    "Column",
    "ColumnError",
    "Kind",
    "Ragged",
    "Sparse",
    "as_tensor_dtype",
    "cells_over",
    "column_from_tensors",
    "column_info",
    "column_kind",
    "columns_from_records",
    "concat_columns",
    "normalize_column",
    "nrows",
    "lacking_budget",
    "readonly",
    "shape_problem",
    "sparse_parts",
]

#: The element types of record.proto's tensors.
TENSOR_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32))

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_TO_INT32_ALWAYS = {np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.uint8, np.uint16)}
_TO_INT32_IF_FITS = {np.dtype(t) for t in (np.int64, np.uint32, np.uint64)}


#: The column cells a key that some records lack counts beyond its one per record: its
#: `Ragged` column (offsets, validity, three arrays: about 600 bytes) however few records
#: hold it, so that many keys in few records (10 records of 20,000 keys each, none shared:
#: a batch 44 x the body) are refused too (`lacking_budget`; the JSON, JSON Lines and
#: RecordIO-protobuf readers' budgets of column cells).
LACKING_CELLS = 64


def lacking_budget(budget: int) -> int:
    """The cells budget with `LACKING_CELLS` counted for each key some records lack: the
    same budget, but a floor of 2**20 cells (about 10 MB of columns, the bound's allowance
    of 8 MB), so that two records of 5,000 keys each still read."""
    return max(1 << 20, budget)


def cells_over(n: int, counts: np.ndarray, budget: int) -> int | None:
    """The column cells of keys held by `counts` records each (in the order the keys first
    appear) against `budget`: None within it, else the index of the first key past it."""
    cost = np.cumsum(n + LACKING_CELLS * (counts < n).astype(np.int64))
    if not cost.size or int(cost[-1]) <= budget:
        return None
    return int(np.searchsorted(cost, budget, side="right"))


def readonly(a: NDArray[Any]) -> NDArray[Any]:
    """`a`, or a read-only view of it."""
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def as_tensor_dtype(a: NDArray[Any], column: str) -> NDArray[Any]:
    """Return `a` as float32/float64/int32 if that loses nothing, else raise `EncodeError`."""
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    dt = a.dtype
    if dt in TENSOR_DTYPES:
        return a
    if dt == np.float16:
        return a.astype(np.float32)
    if dt in _TO_INT32_ALWAYS:
        return a.astype(np.int32)
    if dt in _TO_INT32_IF_FITS:
        if a.size:
            bad = (a < _INT32_MIN) | (a > _INT32_MAX) if dt.kind == "i" else a > _INT32_MAX
            if bad.any():
                first = a.reshape(-1)[int(np.flatnonzero(bad.reshape(-1))[0])]
                raise EncodeError(
                    None,
                    f"value {int(first)} of dtype {dt} does not fit int32 "
                    f"(record.proto has no 64-bit integer tensor)",
                    column=column,
                    status_hint=400,
                )
        return a.astype(np.int32)
    if dt.kind == "f":
        raise EncodeError(
            None,
            f"dtype {dt} cannot be stored without rounding; convert to float64 or float32 explicitly",
            column=column,
            status_hint=400,
        )
    raise EncodeError(
        None,
        f"dtype {dt} is not a tensor type (float32, float64, int32 or a type that converts "
        "to one without loss)",
        column=column,
        status_hint=400,
    )


# --------------------------------------------------------------------------------------
# Column kinds
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Ragged:
    """Records of different lengths: ``values[offsets[i]:offsets[i+1]]`` is record i.

    Parameters
    ----------
    values : 1-D array
        All records' values, concatenated (float32, float64 or int32).
    offsets : (N+1,) int64 array
        Non-decreasing, starting at 0 and ending at ``len(values)``.
    valid : (N,) bool array, optional
        False where the record has no tensor under this key at all (as opposed to an empty
        one). None means every record has one.

    Examples
    --------
    >>> r = Ragged.from_lists([[1, 2, 3], [4], None], dtype="int32")
    >>> len(r), r[0].tolist(), r[2]
    (3, [1, 2, 3], None)
    """

    values: NDArray[Any]
    offsets: NDArray[np.int64]
    valid: NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        offsets = np.asarray(self.offsets)
        if values.ndim != 1:
            raise ValueError(f"Ragged values must be 1-D, got shape {values.shape}")
        if offsets.ndim != 1 or offsets.size < 1:
            raise ValueError("Ragged offsets must be a 1-D array of N+1 entries")
        if offsets.dtype.kind not in "iu":
            raise ValueError(f"Ragged offsets must be integers, got {offsets.dtype}")
        offsets = offsets.astype(np.int64, copy=False)
        if offsets[0] != 0 or offsets[-1] != values.size or (np.diff(offsets) < 0).any():
            raise ValueError(
                "Ragged offsets must start at 0, never decrease and end at len(values) "
                f"({values.size}); got {offsets[:1].tolist()}...{offsets[-1:].tolist()}"
            )
        valid = self.valid
        if valid is not None:
            valid = np.asarray(valid, dtype=bool)
            if valid.shape != (offsets.size - 1,):
                raise ValueError(f"Ragged valid must have shape ({offsets.size - 1},)")
            valid = None if valid.all() else readonly(valid)
        object.__setattr__(self, "values", readonly(values))
        object.__setattr__(self, "offsets", readonly(offsets))
        object.__setattr__(self, "valid", valid)

    @classmethod
    def from_lists(
        cls, rows: Iterable[ArrayLike | None], dtype: np.dtype[Any] | str | type | None = None
    ) -> Ragged:
        """Build from one sequence per record (None: the record lacks the key)."""
        arrays: list[NDArray[Any]] = []
        valid: list[bool] = []
        for row in rows:
            if row is None:
                arrays.append(np.empty(0, dtype=dtype or np.float64))
                valid.append(False)
            else:
                arr = np.asarray(row, dtype=dtype).reshape(-1)
                arrays.append(arr)
                valid.append(True)
        lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if arrays:
            values = np.concatenate(arrays)
            if dtype is not None:
                values = values.astype(dtype, copy=False)
        else:
            values = np.empty(0, dtype=dtype or np.float64)
        return cls(values, offsets, np.array(valid, dtype=bool) if not all(valid) else None)

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.values.dtype

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Number of values of each record."""
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> NDArray[Any] | None:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"record {i} out of range for {n} records")
        if self.valid is not None and not self.valid[i]:
            return None
        return self.values[self.offsets[i] : self.offsets[i + 1]]

    def __iter__(self) -> Iterator[NDArray[Any] | None]:
        for i in range(len(self)):
            yield self[i]

    def to_lists(self) -> list[list[Any] | None]:
        """One Python list per record (None where the record lacks the key)."""
        return [None if row is None else row.tolist() for row in self]

    def take(self, start: int, stop: int) -> Ragged:
        """Records ``start:stop`` (a contiguous slice, sharing memory with this one)."""
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return Ragged(
            self.values[lo:hi],
            self.offsets[start : stop + 1] - lo,
            None if self.valid is None else self.valid[start:stop],
        )

    def __repr__(self) -> str:
        return f"Ragged(n={len(self)}, dtype={self.values.dtype}, values={self.values.size})"


@dataclass(frozen=True, slots=True, eq=False)
class Sparse:
    """A sparse column whose records have a record shape of rank other than 1.

    ``matrix`` has one row per record and ``prod(shape)`` columns; a key is the row-major
    flat index into ``shape``. Rank-1 sparse columns are plain CSR matrices, no wrapper.
    """

    matrix: Any
    shape: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.matrix.shape[0])


Column = Union["NDArray[Any]", "sp.csr_array", "sp.csr_matrix", Ragged, Sparse]


class Kind(str, Enum):
    """The four column kinds (a `str`, so ``kind == Kind.DENSE`` also holds)."""

    DENSE = "dense"
    SPARSE = "sparse"
    RAGGED = "ragged"
    STRINGS = "strings"

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:  # as the string's, so {Kind.DENSE} == {Kind.DENSE}
        return str.__hash__(self)


def column_kind(col: Any) -> Kind:
    """The kind of a normalized column (``TypeError`` for anything that is not one)."""
    if isinstance(col, Ragged):
        return Kind.RAGGED
    if isinstance(col, Sparse):
        return Kind.SPARSE
    if sp.issparse(col):
        return Kind.SPARSE
    if isinstance(col, np.ndarray):
        return Kind.STRINGS if col.dtype.kind in "USO" else Kind.DENSE
    raise TypeError(type(col).__name__)


def sparse_parts(col: Any) -> tuple[Any, tuple[int, ...]]:
    """(CSR matrix, record shape) of a sparse column."""
    if isinstance(col, Sparse):
        return col.matrix, col.shape
    return col, (int(col.shape[1]),)


def column_info(col: Any) -> tuple[Kind, np.dtype[Any], tuple[int, ...] | None]:
    """(kind, dtype, record shape or None when it varies) of a normalized column."""
    kind = column_kind(col)
    if kind == Kind.DENSE:
        return kind, col.dtype, tuple(int(s) for s in col.shape[1:])
    if kind == Kind.SPARSE:
        m, shape = sparse_parts(col)
        return kind, m.dtype, shape
    if kind == Kind.RAGGED:
        return kind, col.values.dtype, None
    return kind, col.dtype, None


def normalize_column(name: str, col: Any) -> Any:
    """Validate one column and convert its dtype losslessly (`EncodeError` otherwise)."""
    if isinstance(col, Ragged):
        values = as_tensor_dtype(col.values, name)
        return col if values is col.values else Ragged(values, col.offsets, col.valid)
    if isinstance(col, Sparse):
        m = _normalize_sparse(name, col.matrix)
        shape = tuple(int(s) for s in col.shape)
        if any(s < 0 for s in shape) or math.prod(shape) != m.shape[1]:
            raise EncodeError(
                None,
                f"sparse record shape {shape} does not match the matrix width {m.shape[1]}",
                column=name,
                status_hint=400,
            )
        if len(shape) == 1:
            return m
        return Sparse(m, shape)
    if sp.issparse(col):
        return _normalize_sparse(name, col)
    if not isinstance(col, np.ndarray):
        col = np.asarray(col)
    if col.ndim == 0:
        raise EncodeError(
            None, "a column needs one row per record; got a 0-d value", column=name, status_hint=400
        )
    if col.dtype.kind in "US":
        return readonly(col)
    if col.dtype.kind == "O":
        return readonly(_check_object_strings(name, col))
    return readonly(as_tensor_dtype(col, name))


_TEXT_TYPES: frozenset[type] = frozenset({str, bytes})
_FLAT_TYPES: frozenset[type] = _TEXT_TYPES | {type(None)}
_LIST_TYPES: frozenset[type] = frozenset({list, tuple})


def _check_object_strings(name: str, col: NDArray[Any]) -> NDArray[Any]:
    if col.ndim != 1:
        raise EncodeError(
            None, f"an object column must be 1-D, got shape {col.shape}", column=name, status_hint=400
        )
    vals = col.tolist()
    # The common columns at C speed: exact str/bytes/None values, or lists of exact str/bytes.
    types = set(map(type, vals))
    if types <= _FLAT_TYPES:
        return col
    if types <= _FLAT_TYPES | _LIST_TYPES:
        lists = vals if types <= _LIST_TYPES else (v for v in vals if type(v) in _LIST_TYPES)
        items = chain.from_iterable(lists)
        if set(map(type, items)) <= _TEXT_TYPES:
            return col
    for i, v in enumerate(vals):  # anything else (subclasses too), one at a time
        if v is None or isinstance(v, (str, bytes)):
            continue
        if isinstance(v, (list, tuple)) and all(isinstance(x, (str, bytes)) for x in v):
            continue
        raise EncodeError(
            None,
            f"record {i}: object columns hold str, bytes, a list of them, or None; got {type(v).__name__}",
            column=name,
            status_hint=400,
        )
    return col


def _normalize_sparse(name: str, m: Any) -> Any:
    if m.ndim != 2:
        raise EncodeError(None, "a sparse column must be 2-D", column=name, status_hint=400)
    if m.format != "csr":
        m = m.tocsr()
    data = as_tensor_dtype(np.asarray(m.data), name)
    if data is not m.data:
        m = type(m)((data, m.indices, m.indptr), shape=m.shape)
    return m


def nrows(col: Any) -> int:
    """Records in a normalized column."""
    if isinstance(col, (Ragged, Sparse)):
        return len(col)
    return int(col.shape[0])


# --------------------------------------------------------------------------------------
# Building and joining columns
# --------------------------------------------------------------------------------------


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
    return t.values.size == 0 and t.shape is not None and len(t.shape) > 0 and 0 not in t.shape


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


def _holds(shape: tuple[int, ...], size: int) -> bool:
    """``math.prod(shape) == size``, without the product of thousands of huge dimensions
    (time quadratic in their number): the running product stops once past `size`."""
    if 0 in shape:
        return size == 0
    p = 1
    for d in shape:
        p *= d
        if p > size:
            return False
    return p == size


def _logical_shape(t: Tensor, name: str, i: int, scalar: bool) -> tuple[int, ...]:
    if t.shape is None:
        return () if scalar else (t.values.size,)
    if not _holds(t.shape, t.values.size):
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
    if any(s is not None and len(s) > 1 for s in shapes):
        # Records of rank 2 or more cannot be ragged: name the first record that differs.
        i, s = next((i, s) for i, s in enumerate(shapes) if s != first)
        if s is None:
            raise ColumnError(name, f"no tensor in this record, while others have shape {list(first)}", i)
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


def _no_values(col: Any) -> bool:
    """A dense or ragged column none of whose records holds a value."""
    if isinstance(col, Ragged):
        return col.values.size == 0
    return column_kind(col) == Kind.DENSE and col.ndim >= 2 and col.size == 0


def _empty_lists(col: Any) -> NDArray[Any]:
    """`col` (see `_no_values`) as a strings column: [] per record, None where the key is absent."""
    out = np.empty(len(col), dtype=object)
    valid = col.valid if isinstance(col, Ragged) else None
    out[:] = [[] if valid is None or valid[i] else None for i in range(len(col))]
    return out


def concat_columns(cols: Sequence[Any], name: str) -> Any:
    """Join the same column of several batches (see `RecordBatch.concat`)."""
    kinds = {column_kind(c) for c in cols}
    if kinds == {Kind.STRINGS}:
        if len({c.dtype for c in cols}) == 1:
            return np.concatenate(cols)
        return np.concatenate([c.astype(object) for c in cols])
    if Kind.STRINGS in kinds and all(column_kind(c) == Kind.STRINGS or _no_values(c) for c in cols):
        # An empty list ([] in JSON) reads as an empty dense or ragged row in a batch of its own
        # and as an empty list of strings beside text records: join it as the latter, as decode
        # reads them together (a record without the key stays None).
        return np.concatenate(
            [c.astype(object) if column_kind(c) == Kind.STRINGS else _empty_lists(c) for c in cols]
        )
    dtypes = {
        c.values.dtype
        if isinstance(c, Ragged)
        else sparse_parts(c)[0].dtype
        if column_kind(c) == Kind.SPARSE
        else c.dtype
        for c in cols
    }
    if len(dtypes) != 1:
        raise ValueError(f"{name}: cannot join columns of dtypes {sorted(map(str, dtypes))}")
    if kinds == {Kind.DENSE, Kind.SPARSE} and all(
        column_kind(c) == Kind.SPARSE or (c.ndim >= 2 and math.prod(c.shape[1:]) == 0) for c in cols
    ):
        # Records with no values (no shape, or one with a 0) read as dense in a batch of their own
        # and as empty sparse rows beside sparse records: join them as empty sparse rows.
        ref = next(c for c in cols if column_kind(c) == Kind.SPARSE)
        width = sparse_parts(ref)[0].shape[1]

        def empty_rows(k: int, dt: np.dtype[Any]) -> Any:
            m = sp.csr_array(
                (np.empty(0, dt), np.empty(0, np.int32), np.zeros(k + 1, np.int32)), shape=(k, width)
            )
            return Sparse(m, ref.shape) if isinstance(ref, Sparse) else m

        cols = [c if column_kind(c) == Kind.SPARSE else empty_rows(len(c), c.dtype) for c in cols]
        kinds = {Kind.SPARSE}
    if kinds == {Kind.SPARSE}:
        shapes = {sparse_parts(c)[1] for c in cols}
        if len(shapes) != 1:
            raise ValueError(f"{name}: cannot join sparse columns of record shapes {sorted(shapes)}")
        shape = shapes.pop()
        mats = [sparse_parts(c)[0] for c in cols]
        m = sp.vstack(mats, format="csr")
        m = sp.csr_array(m) if isinstance(mats[0], sp.csr_array) else sp.csr_matrix(m)
        return m if len(shape) == 1 else Sparse(m, shape)
    if kinds == {Kind.DENSE} and len({c.shape[1:] for c in cols}) == 1:
        return np.concatenate(cols)
    if kinds <= {Kind.DENSE, Kind.RAGGED} and all(isinstance(c, Ragged) or c.ndim <= 2 for c in cols):
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
