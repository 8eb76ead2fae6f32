"""The one record type: `RecordBatch`, its row view `Record` of `Tensor`, and `Ragged`.

Modelled on ``record.proto``: a record has a ``features`` map and a ``label`` map of
tensors, and optional ``uid``, ``metadata`` and ``configuration`` strings. A `RecordBatch`
holds N records column by column, so that codecs work on whole arrays instead of one Python
object per record (one object per record is what makes the SageMaker SDK's codec slow).

Rule 1: a batch is immutable and validated on construction. Every column has N rows;
numeric dtypes are float32, float64 or int32 (the protobuf tensor types). Other dtypes are
converted only when no value changes; otherwise `EncodeError` names the column and the first
offending value. Nothing is rounded, wrapped or truncated.
Rule 2: a column is one of

* dense: ``np.ndarray`` of shape ``(N, *record_shape)``;
* sparse: ``scipy.sparse`` CSR of shape ``(N, D)`` (record shape ``(D,)``), or `Sparse`
  wrapping one with another record shape (keys are row-major flat indices);
* ragged: `Ragged` (records of different lengths, or records where the key is absent);
* strings: numpy array of a ``str``/``bytes``/object dtype, one entry per record (an
  object entry may be a list of strings for a protobuf ``Bytes`` value with several
  entries, or None where the record has no such key).

Rule 3: equality (``==``) is value equality with NaN equal to NaN; `RecordBatch.equals` with
``bitwise=True`` compares float bit patterns (NaN payloads, -0.0).
Rule 4: this module imports nothing from the rest of the package except `errors`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Union, overload

import numpy as np
import scipy.sparse as sp

from .errors import EncodeError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Column",
    "Ragged",
    "Record",
    "RecordBatch",
    "Sparse",
    "Tensor",
    "from_dense",
    "from_sparse",
]

#: The element types of record.proto's tensors.
TENSOR_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32))

_INT32_MIN = -(2**31)
_INT32_MAX = 2**31 - 1
_TO_INT32_ALWAYS = {np.dtype(t) for t in (np.bool_, np.int8, np.int16, np.uint8, np.uint16)}
_TO_INT32_IF_FITS = {np.dtype(t) for t in (np.int64, np.uint32, np.uint64)}


def _readonly(a: NDArray[Any]) -> NDArray[Any]:
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
            valid = None if valid.all() else _readonly(valid)
        object.__setattr__(self, "values", _readonly(values))
        object.__setattr__(self, "offsets", _readonly(offsets))
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


def _column_kind(col: Any) -> str:
    if isinstance(col, Ragged):
        return "ragged"
    if isinstance(col, Sparse):
        return "sparse"
    if sp.issparse(col):
        return "sparse"
    if isinstance(col, np.ndarray):
        return "strings" if col.dtype.kind in "USO" else "dense"
    raise TypeError(type(col).__name__)


def _sparse_parts(col: Any) -> tuple[Any, tuple[int, ...]]:
    if isinstance(col, Sparse):
        return col.matrix, col.shape
    return col, (int(col.shape[1]),)


def column_info(col: Any) -> tuple[str, np.dtype[Any], tuple[int, ...] | None]:
    """(kind, dtype, record shape or None when it varies) of a normalized column."""
    kind = _column_kind(col)
    if kind == "dense":
        return kind, col.dtype, tuple(int(s) for s in col.shape[1:])
    if kind == "sparse":
        m, shape = _sparse_parts(col)
        return kind, m.dtype, shape
    if kind == "ragged":
        return kind, col.values.dtype, None
    return kind, col.dtype, None


def _normalize_column(name: str, col: Any) -> Any:
    """Validate one column and convert its dtype losslessly. Returns (column, N)."""
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
        return _readonly(col)
    if col.dtype.kind == "O":
        return _readonly(_check_object_strings(name, col))
    return _readonly(as_tensor_dtype(col, name))


def _check_object_strings(name: str, col: NDArray[Any]) -> NDArray[Any]:
    if col.ndim != 1:
        raise EncodeError(
            None, f"an object column must be 1-D, got shape {col.shape}", column=name, status_hint=400
        )
    for i, v in enumerate(col.tolist()):
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


def _nrows(col: Any) -> int:
    if isinstance(col, (Ragged, Sparse)):
        return len(col)
    return int(col.shape[0])


# --------------------------------------------------------------------------------------
# Row view
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Tensor:
    """One tensor of one record, as record.proto has it.

    Parameters
    ----------
    values : 1-D array
        The values (float32, float64, int32; or an object array of bytes/str for a
        protobuf ``Bytes`` value).
    keys : 1-D uint64 array, optional
        Row-major flat indices of `values` for a sparse tensor (an empty array for a sparse
        tensor without entries); None for a dense tensor.
    shape : tuple of int, optional
        The tensor's shape. None means "not stated" (a dense vector, or a scalar label; see
        `RecordBatch.from_records`).
    """

    values: NDArray[Any]
    keys: NDArray[np.uint64] | None = None
    shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if values.ndim != 1:
            values = values.reshape(-1)
        object.__setattr__(self, "values", values)
        if self.keys is not None:
            keys = np.asarray(self.keys)
            if keys.size == 0:
                keys = np.empty(0, dtype=np.uint64)  # an empty sparse tensor stays sparse
            else:
                if keys.dtype.kind not in "iu" or (keys.dtype.kind == "i" and (keys < 0).any()):
                    raise ValueError("Tensor keys must be non-negative integers")
                keys = keys.astype(np.uint64, copy=False).reshape(-1)
                if keys.size != values.size:
                    raise ValueError(
                        f"a sparse tensor needs one key per value: {keys.size} keys, {values.size} values"
                    )
            object.__setattr__(self, "keys", keys)
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))

    @property
    def is_sparse(self) -> bool:
        return self.keys is not None

    def to_dense(self) -> NDArray[Any]:
        """The tensor as a dense array of its shape (sparse tensors are scattered)."""
        if self.keys is None:
            if self.shape is None:
                return self.values
            if self.values.size == 0 and math.prod(self.shape) > 0:
                # An SDK-style empty sparse row: only the shape is stated.
                return np.zeros(self.shape, dtype=self.values.dtype)
            return self.values.reshape(self.shape)
        assert self.shape is not None
        out = np.zeros(math.prod(self.shape), dtype=self.values.dtype)
        out[self.keys.astype(np.intp)] = self.values
        return out.reshape(self.shape)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tensor):
            return NotImplemented
        return (
            self.shape == other.shape
            and _arrays_equal(self.values, other.values, bitwise=False)
            and (
                (self.keys is None and other.keys is None)
                or (
                    self.keys is not None and other.keys is not None and np.array_equal(self.keys, other.keys)
                )
            )
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class Record:
    """One record of record.proto: maps of `Tensor` plus three optional strings."""

    features: Mapping[str, Tensor] = field(default_factory=dict)
    label: Mapping[str, Tensor] = field(default_factory=dict)
    uid: str | None = None
    metadata: str | None = None
    configuration: str | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record):
            return NotImplemented
        return (
            dict(self.features) == dict(other.features)
            and dict(self.label) == dict(other.label)
            and self.uid == other.uid
            and self.metadata == other.metadata
            and self.configuration == other.configuration
        )

    __hash__ = None  # type: ignore[assignment]


# --------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------

_Strings = Sequence[str | None]


def _normalize_strings(name: str, values: Any, n: int | None) -> tuple[str | None, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise EncodeError(None, "expected one string (or None) per record", column=name, status_hint=400)
    out = tuple(values)
    for i, v in enumerate(out):
        if v is not None and not isinstance(v, str):
            raise EncodeError(
                None,
                f"record {i}: expected str or None, got {type(v).__name__}",
                column=name,
                status_hint=400,
            )
    if all(v is None for v in out):
        return None if n is None or len(out) == n else out
    return out


@dataclass(frozen=True, slots=True, eq=False)
class RecordBatch:
    """N records of record.proto, column by column.

    Parameters
    ----------
    features, label : mapping of str to column
        One column per map key (see the module docstring for the column kinds).
    uid, metadata, configuration : sequence of (str or None), optional
        One entry per record; None (the default) when no record has one.

    Examples
    --------
    >>> import numpy as np, sm_payloads as smp
    >>> batch = smp.RecordBatch({"values": np.ones((2, 3), np.float32)},
    ...                         {"values": np.array([0.0, 1.0], np.float32)})
    >>> len(batch), batch[1].label["values"].values.tolist()
    (2, [1.0])
    """

    features: Mapping[str, Any] = field(default_factory=dict)
    label: Mapping[str, Any] = field(default_factory=dict)
    uid: _Strings | None = None
    metadata: _Strings | None = None
    configuration: _Strings | None = None
    n: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        n: int | None = None if self.n < 0 else self.n
        maps = {}
        for map_name in ("features", "label"):
            src = getattr(self, map_name)
            if not isinstance(src, Mapping):
                raise EncodeError(None, f"{map_name} must be a mapping of str to column", status_hint=400)
            out: dict[str, Any] = {}
            for key, col in src.items():
                if not isinstance(key, str):
                    raise EncodeError(None, f"{map_name} keys must be str, got {key!r}", status_hint=400)
                cname = f"{map_name}[{key!r}]"
                try:
                    norm = _normalize_column(cname, col)
                except TypeError:
                    raise EncodeError(
                        None,
                        f"unsupported column type {type(col).__name__}; expected a numpy "
                        "array, a scipy sparse matrix, smp.Ragged or smp.Sparse",
                        column=cname,
                        status_hint=400,
                    ) from None
                rows = _nrows(norm)
                if n is None:
                    n = rows
                elif rows != n:
                    raise EncodeError(
                        None,
                        f"has {rows} rows but the batch has {n} records",
                        column=cname,
                        status_hint=400,
                    )
                out[key] = norm
            maps[map_name] = MappingProxyType(out)
        for sname in ("uid", "metadata", "configuration"):
            strings = _normalize_strings(sname, getattr(self, sname), n)
            if strings is not None:
                if n is None:
                    n = len(strings)
                elif len(strings) != n:
                    raise EncodeError(
                        None,
                        f"has {len(strings)} entries but the batch has {n} records",
                        column=sname,
                        status_hint=400,
                    )
            object.__setattr__(self, sname, strings)
        object.__setattr__(self, "features", maps["features"])
        object.__setattr__(self, "label", maps["label"])
        object.__setattr__(self, "n", 0 if n is None else n)

    # -- sizes and row access ----------------------------------------------------------

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> Record: ...
    @overload
    def __getitem__(self, i: slice) -> RecordBatch: ...

    def __getitem__(self, i: int | slice) -> Record | RecordBatch:
        if isinstance(i, slice):
            start, stop, step = i.indices(self.n)
            if step != 1:
                raise ValueError("RecordBatch slices must be contiguous (step 1)")
            return self.slice(start, max(start, stop))
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"record index must be an int or a slice, not {type(i).__name__}")
        i = int(i)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"record {i} out of range for {self.n} records")
        return Record(
            features=_row_view(self.features, i),
            label=_row_view(self.label, i),
            uid=None if self.uid is None else self.uid[i],
            metadata=None if self.metadata is None else self.metadata[i],
            configuration=None if self.configuration is None else self.configuration[i],
        )

    def __iter__(self) -> Iterator[Record]:
        for i in range(self.n):
            yield self[i]

    def slice(self, start: int, stop: int) -> RecordBatch:
        """Records ``start:stop`` as a batch that shares memory with this one."""

        def cut(col: Any) -> Any:
            if isinstance(col, Ragged):
                return col.take(start, stop)
            if isinstance(col, Sparse):
                return Sparse(col.matrix[start:stop], col.shape)
            return col[start:stop]

        def cut_s(s: _Strings | None) -> _Strings | None:
            return None if s is None else s[start:stop]

        return RecordBatch(
            {k: cut(v) for k, v in self.features.items()},
            {k: cut(v) for k, v in self.label.items()},
            cut_s(self.uid),
            cut_s(self.metadata),
            cut_s(self.configuration),
            n=stop - start,
        )

    # -- conversions -------------------------------------------------------------------

    def to_numpy(self, key: str = "values") -> NDArray[Any]:
        """The main features as a 2-D array ``(N, k)`` (sparse columns are densified).

        A batch with no records and no columns (an empty body) gives a ``(0, 0)`` array.
        """
        if key not in self.features and self.n == 0 and not self.features:
            return np.empty((0, 0))
        col = self.features[key]
        kind = _column_kind(col)
        if kind == "dense":
            dense: NDArray[Any] = col if col.ndim >= 2 else col.reshape(-1, 1)
            return dense
        if kind == "sparse":
            m, _ = _sparse_parts(col)
            return np.asarray(m.toarray())
        if kind == "ragged":
            lengths = col.lengths
            if col.valid is not None or (lengths.size and (lengths != lengths[0]).any()):
                raise ValueError(f"features[{key!r}] has records of different lengths")
            width = int(lengths[0]) if lengths.size else 0
            rows: NDArray[Any] = col.values.reshape(len(col), width)
            return rows
        strings: NDArray[Any] = col
        return strings

    def to_scipy(self, key: str = "values") -> sp.csr_array:
        """The main features as a ``scipy.sparse.csr_array`` ``(N, D)``."""
        col = self.features[key]
        kind = _column_kind(col)
        if kind == "sparse":
            m, _ = _sparse_parts(col)
            return sp.csr_array(m)
        return sp.csr_array(self.to_numpy(key))

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> RecordBatch:
        """Build a batch from row views (the inverse of iterating a batch).

        A tensor with no stated shape is a vector, except in ``label`` where a column of
        one-value tensors is a scalar column ``(N,)`` (the SageMaker convention for labels
        and for the built-in algorithms' scalar outputs).
        """
        from ._columns import ColumnError, columns_from_records

        recs = list(records)
        try:
            features = columns_from_records([r.features for r in recs], "features")
            label = columns_from_records([r.label for r in recs], "label")
        except ColumnError as e:
            where = "" if e.record_index is None else f"record {e.record_index}: "
            raise EncodeError(None, where + e.reason, column=e.column, status_hint=400) from None
        return cls(
            features,
            label,
            [r.uid for r in recs],
            [r.metadata for r in recs],
            [r.configuration for r in recs],
            n=len(recs),
        )

    @classmethod
    def concat(cls, batches: Iterable[RecordBatch]) -> RecordBatch:
        """Concatenate batches with the same columns (names, kinds, dtypes, shapes)."""
        from ._columns import concat_columns

        parts = list(batches)
        if not parts:
            return cls()
        maps = []
        for map_name in ("features", "label"):
            names: dict[str, None] = {}
            for b in parts:
                names.update(dict.fromkeys(getattr(b, map_name)))
            joined = {}
            for k in names:
                cols = [getattr(b, map_name).get(k) for b in parts]
                model = next(c for c in cols if c is not None)
                # A key that no record of a batch has: that batch's records lack it.
                cols = [
                    _absent_like(model, len(b), f"{map_name}[{k!r}]") if c is None else c
                    for b, c in zip(parts, cols, strict=True)
                ]
                joined[k] = concat_columns(cols, f"{map_name}[{k!r}]")
            maps.append(joined)
        strings: list[list[str | None] | None] = []
        for sname in ("uid", "metadata", "configuration"):
            vals = [getattr(b, sname) for b in parts]
            if all(v is None for v in vals):
                strings.append(None)
            else:
                out: list[str | None] = []
                for b, v in zip(parts, vals, strict=True):
                    out.extend([None] * len(b) if v is None else v)
                strings.append(out)
        uid, metadata, configuration = strings
        return cls(maps[0], maps[1], uid, metadata, configuration, n=sum(len(b) for b in parts))

    # -- equality ----------------------------------------------------------------------

    def equals(self, other: RecordBatch, *, bitwise: bool = False) -> bool:
        """Compare with `other`: same keys, column kinds, dtypes, shapes and values.

        With ``bitwise=True`` float values must have the same bit patterns (so NaN
        payloads and the sign of zero count); otherwise NaN equals NaN and -0.0 equals 0.0.
        """
        if not isinstance(other, RecordBatch) or self.n != other.n:
            return False
        for map_name in ("features", "label"):
            a, b = getattr(self, map_name), getattr(other, map_name)
            if list(a) != list(b) and set(a) != set(b):
                return False
            for key in a:
                if not _columns_equal(a[key], b[key], bitwise):
                    return False
        return (
            self.uid == other.uid
            and self.metadata == other.metadata
            and self.configuration == other.configuration
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordBatch):
            return NotImplemented
        return self.equals(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        def desc(m: Mapping[str, Any]) -> str:
            parts = []
            for k, c in m.items():
                kind, dt, shape = column_info(c)
                s = "" if shape is None else f"{shape}"
                parts.append(f"{k!r}: {kind} {dt}{s}")
            return "{" + ", ".join(parts) + "}"

        extra = "".join(
            f", {s}=..." for s in ("uid", "metadata", "configuration") if getattr(self, s) is not None
        )
        return f"RecordBatch(n={self.n}, features={desc(self.features)}, label={desc(self.label)}{extra})"


def _absent_like(model: Any, n: int, name: str) -> Any:
    """A column of `n` records that all lack the key, of the same dtype as `model`."""
    kind = _column_kind(model)
    if kind == "strings":
        return np.full(n, None, dtype=object)
    if kind == "sparse":
        raise ValueError(f"{name}: a sparse column cannot be missing from some records")
    dtype = model.values.dtype if kind == "ragged" else model.dtype
    return Ragged(np.empty(0, dtype), np.zeros(n + 1, np.int64), np.zeros(n, bool))


def _row_view(columns: Mapping[str, Any], i: int) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for key, col in columns.items():
        kind = _column_kind(col)
        if kind == "dense":
            row = col[i]
            out[key] = Tensor(row.reshape(-1), shape=tuple(row.shape))
        elif kind == "sparse":
            m, shape = _sparse_parts(col)
            lo, hi = int(m.indptr[i]), int(m.indptr[i + 1])
            out[key] = Tensor(
                np.asarray(m.data[lo:hi]),
                keys=np.asarray(m.indices[lo:hi]).astype(np.uint64) if hi > lo else np.empty(0, np.uint64),
                shape=shape,
            )
        elif kind == "ragged":
            row = col[i]
            if row is not None:
                out[key] = Tensor(row, shape=(row.size,))
        else:
            v = col[i]
            if v is None:
                continue
            vals = list(v) if isinstance(v, (list, tuple)) else [v]
            arr = np.empty(len(vals), dtype=object)
            arr[:] = [x.item() if isinstance(x, np.generic) else x for x in vals]
            out[key] = Tensor(arr, shape=(len(vals),) if isinstance(v, (list, tuple)) else ())
    return out


def _arrays_equal(a: NDArray[Any], b: NDArray[Any], *, bitwise: bool) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        if bitwise:
            return bool(np.array_equal(a.view(f"u{a.dtype.itemsize}"), b.view(f"u{b.dtype.itemsize}")))
        return bool(np.array_equal(a, b, equal_nan=True))
    if a.dtype.kind == "O":
        return bool(a.tolist() == b.tolist())
    return bool(np.array_equal(a, b))


def _columns_equal(a: Any, b: Any, bitwise: bool) -> bool:
    ka, kb = _column_kind(a), _column_kind(b)
    if ka != kb:
        return False
    if ka == "dense":
        return _arrays_equal(np.ascontiguousarray(a), np.ascontiguousarray(b), bitwise=bitwise)
    if ka == "sparse":
        ma, sa = _sparse_parts(a)
        mb, sb = _sparse_parts(b)
        return bool(
            sa == sb
            and ma.shape == mb.shape
            and np.array_equal(ma.indptr, mb.indptr)
            and np.array_equal(ma.indices, mb.indices)
            and _arrays_equal(np.asarray(ma.data), np.asarray(mb.data), bitwise=bitwise)
        )
    if ka == "ragged":
        va = np.ones(len(a), bool) if a.valid is None else a.valid
        vb = np.ones(len(b), bool) if b.valid is None else b.valid
        return bool(
            np.array_equal(a.offsets, b.offsets)
            and np.array_equal(va, vb)
            and _arrays_equal(a.values, b.values, bitwise=bitwise)
        )
    return bool(a.shape == b.shape and a.tolist() == b.tolist())


# --------------------------------------------------------------------------------------
# Array bridges
# --------------------------------------------------------------------------------------


def _labels(y: Any, n: int) -> dict[str, Any]:
    if y is None:
        return {}
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        raise EncodeError(
            None,
            f"labels of shape {y.shape} do not match {n} records",
            column="label['values']",
            status_hint=400,
        )
    return {"values": y}


def from_dense(X: ArrayLike, y: ArrayLike | None = None) -> RecordBatch:
    """The SageMaker SDK's batch for a dense matrix: ``features["values"]``, ``label["values"]``.

    A 1-D `X` is one record. `y` has one label (or one label vector) per row.

    >>> import numpy as np
    >>> b = from_dense(np.zeros((3, 2), np.float32), np.arange(3, dtype=np.float32))
    >>> b.features["values"].shape, b.label["values"].shape
    ((3, 2), (3,))
    """
    X = np.asarray(X)
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2:
        raise EncodeError(
            None,
            f"expected a 1-D or 2-D array, got {X.ndim}-D",
            column="features['values']",
            status_hint=400,
        )
    return RecordBatch({"values": X}, _labels(y, X.shape[0]), n=X.shape[0])


def from_sparse(X: Any, y: ArrayLike | None = None) -> RecordBatch:
    """The SageMaker SDK's batch for a sparse matrix (any scipy format; stored as CSR).

    Indices are kept in storage order, duplicates and explicit zeros included, as the SDK
    writes them.
    """
    if not sp.issparse(X):
        raise EncodeError(
            None, "expected a scipy.sparse matrix or array", column="features['values']", status_hint=400
        )
    if X.ndim != 2:
        raise EncodeError(None, "expected a 2-D sparse matrix", column="features['values']", status_hint=400)
    return RecordBatch({"values": X}, _labels(y, X.shape[0]), n=X.shape[0])
