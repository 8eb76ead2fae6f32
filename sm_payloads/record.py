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
Rule 4: this module imports nothing from the rest of the package except `errors` and
`columns` (the column kinds and how columns are built).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .columns import (
    TENSOR_DTYPES,
    Column,
    ColumnError,
    Kind,
    Ragged,
    Sparse,
    column_info,
    column_kind,
    columns_from_records,
    concat_columns,
    normalize_column,
    nrows,
    sparse_parts,
)
from .errors import EncodeError

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from . import _sparse as sp

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
#: The tensor dtypes in native byte order: a plain array of one of them is a valid dense or
#: numeric column as it is (RecordBatch.__post_init__'s shortcut past normalize_column).
_PLAIN_DTYPES = frozenset(TENSOR_DTYPES)


#: The item types a strings column holds without a check of each (one pass over the types).
_STR_OR_NONE = frozenset((str, type(None)))


def _normalize_strings(name: str, values: Any, n: int | None) -> tuple[str | None, ...] | None:
    if values is None:
        return None
    if isinstance(values, (str, bytes)):
        raise EncodeError(None, "expected one string (or None) per record", column=name, status_hint=400)
    out = tuple(values)
    bad = (i for i, v in enumerate(out) if v is not None and not isinstance(v, str))
    if not set(map(type, out)) <= _STR_OR_NONE and (i := next(bad, -1)) >= 0:
        raise EncodeError(
            None,
            f"record {i}: expected str or None, got {type(out[i]).__name__}",
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
        features, n = _checked_map("features", self.features, n)
        label, n = _checked_map("label", self.label, n)
        if self.uid is not None or self.metadata is not None or self.configuration is not None:
            for sname in ("uid", "metadata", "configuration"):
                given = getattr(self, sname)
                if given is None:
                    continue  # the field is None already
                strings = _normalize_strings(sname, given, n)
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
        object.__setattr__(self, "features", features)
        object.__setattr__(self, "label", label)
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
        if type(col) is np.ndarray and col.ndim >= 2:
            return col  # dense (N, k), as below (a strings column, too, is returned as it is)
        kind = column_kind(col)
        if kind == Kind.DENSE:
            dense: NDArray[Any] = col if col.ndim >= 2 else col.reshape(-1, 1)
            return dense
        if kind == Kind.SPARSE:
            m, _ = sparse_parts(col)
            return np.asarray(m.toarray())
        if kind == Kind.RAGGED:
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
        kind = column_kind(col)
        if kind == Kind.SPARSE:
            m, _ = sparse_parts(col)
            return sp.csr_array(m)
        return sp.csr_array(self.to_numpy(key))

    def to_arrow(self) -> Any:
        """The batch as a ``pyarrow.Table`` (needs pyarrow: ``pip install "sm_payloads[arrow]"``).

        One column per map key, named ``features.<key>`` / ``label.<key>``, then ``uid``,
        ``metadata`` and ``configuration`` (string columns, null where a record has none)
        when the batch has them. A dense column (N,) is a primitive column and (N, k) a
        FixedSizeList<k> (nested for higher ranks), both sharing this batch's memory; a
        `Ragged` column is a large_list (null where a record lacks the key) sharing values
        and offsets; a sparse column a ``{keys, values}`` struct of large_lists whose field
        metadata ``sm_payloads.shape`` holds the record shape; a strings column a string
        column, or a large_list of strings when some record has several entries.
        ``sm_payloads.from_arrow`` reads it back to an equal batch.

        >>> import numpy as np
        >>> t = from_dense(np.ones((2, 3), np.float32), np.zeros(2, np.float32)).to_arrow()
        >>> t.column_names, str(t.schema.field("features.values").type)
        (['features.values', 'label.values'], 'fixed_size_list<item: float>[3]')
        """
        try:
            import pyarrow as pa  # type: ignore[import-untyped]
        except ImportError:
            raise ImportError('to_arrow needs pyarrow: pip install "sm_payloads[arrow]"') from None
        arrays: list[Any] = []
        fields: list[Any] = []
        for map_name in ("features", "label"):
            for key, col in getattr(self, map_name).items():
                name = f"{map_name}.{key}"
                arr, meta = _arrow_column(pa, col, self.n, name)
                arrays.append(arr)
                fields.append(pa.field(name, arr.type, metadata=meta))
        for sname in ("uid", "metadata", "configuration"):
            strings = getattr(self, sname)
            if strings is not None:
                arrays.append(pa.array(list(strings), pa.string()))
                fields.append(pa.field(sname, pa.string()))
        if not arrays:  # no columns, n rows: a struct of no fields carries the length
            empty = pa.array([{}] * self.n, pa.struct([]))
            return pa.Table.from_batches([pa.RecordBatch.from_struct_array(empty)])
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule stream of `to_arrow`'s table: ``pyarrow.table(batch)`` and
        ``polars.DataFrame(batch)`` read the batch through it. The interface's names are C
        strings: a key with a NUL character is an `EncodeError` (it would be cut there)."""
        table = self.to_arrow()
        for name in table.column_names:
            if "\x00" in name:
                raise EncodeError(
                    None, "a name with a NUL character cannot cross the Arrow C interface", column=name
                )
        return table.__arrow_c_stream__(requested_schema)

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> RecordBatch:
        """Build a batch from row views (the inverse of iterating a batch).

        A tensor with no stated shape is a vector, except in ``label`` where a column of
        one-value tensors is a scalar column ``(N,)`` (the SageMaker convention for labels
        and for the built-in algorithms' scalar outputs).
        """

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


def _arrow_numbers(pa: Any, a: NDArray[Any]) -> Any:
    """A 1-d numeric array as an Arrow array sharing its memory (when contiguous). Built
    from its buffer: ``pa.array`` of a numpy array imports pandas (about 0.4 s) where it is
    installed. Booleans go through ``pa.array``, which packs them into bits."""
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype.kind == "b":
        return pa.array(flat)
    return pa.Array.from_buffers(pa.from_numpy_dtype(flat.dtype), len(flat), [None, pa.py_buffer(flat)])


def _arrow_dense(pa: Any, col: NDArray[Any], n: int) -> Any:
    """A dense numeric (N, *shape) array as nested FixedSizeLists over one primitive
    array that shares its memory (when C-contiguous)."""
    flat = np.ascontiguousarray(col).reshape(-1)
    arr = _arrow_numbers(pa, flat)
    shape = col.shape[1:]
    for i, side in enumerate(reversed(shape)):
        rows = n * math.prod(shape[: len(shape) - 1 - i])
        if side:
            arr = pa.FixedSizeListArray.from_arrays(arr, side)
        else:  # from_arrays refuses size 0 (the length cannot be told from the values)
            arr = pa.Array.from_buffers(pa.list_(arr.type, 0), rows, [None], children=[arr])
    return arr


def _arrow_column(pa: Any, col: Any, n: int, name: str) -> tuple[Any, dict[bytes, bytes] | None]:
    """One column as an Arrow array, and its field metadata."""
    kind = column_kind(col)
    if kind == Kind.DENSE:
        return _arrow_dense(pa, col, n), None
    if kind == Kind.RAGGED:
        mask = None if col.valid is None else pa.array(~col.valid)
        offsets, values = _arrow_numbers(pa, col.offsets), _arrow_numbers(pa, col.values)
        return pa.LargeListArray.from_arrays(offsets, values, mask=mask), None
    if kind == Kind.SPARSE:
        m, shape = sparse_parts(col)
        indptr = _arrow_numbers(pa, np.asarray(m.indptr, dtype=np.int64))
        keys = pa.LargeListArray.from_arrays(indptr, _arrow_numbers(pa, np.asarray(m.indices)))
        values = pa.LargeListArray.from_arrays(indptr, _arrow_numbers(pa, np.asarray(m.data)))
        struct = pa.StructArray.from_arrays([keys, values], names=["keys", "values"])
        return struct, {b"sm_payloads.shape": json.dumps(list(shape)).encode()}
    rows = col.tolist()
    kinds = {type(v) for v in rows if v is not None and not isinstance(v, (list, tuple))}
    kinds |= {type(x) for v in rows if isinstance(v, (list, tuple)) for x in v}
    if len(kinds) > 1:
        raise EncodeError(None, "mixes str and bytes values; Arrow holds one or the other", column=name)
    item = pa.binary() if kinds == {bytes} else pa.string()
    if any(isinstance(v, (list, tuple)) for v in rows):
        lists = [v if v is None or isinstance(v, (list, tuple)) else [v] for v in rows]
        return pa.array(lists, pa.large_list(item)), None
    return pa.array(rows, item), None


def _absent_like(model: Any, n: int, name: str) -> Any:
    """A column of `n` records that all lack the key, of the same dtype as `model`."""
    kind = column_kind(model)
    if kind == Kind.STRINGS:
        return np.full(n, None, dtype=object)
    if kind == Kind.SPARSE:
        raise ValueError(f"{name}: a sparse column cannot be missing from some records")
    dtype = model.values.dtype if kind == Kind.RAGGED else model.dtype
    return Ragged(np.empty(0, dtype), np.zeros(n + 1, np.int64), np.zeros(n, bool))


def _row_view(columns: Mapping[str, Any], i: int) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for key, col in columns.items():
        kind = column_kind(col)
        if kind == Kind.DENSE:
            row = col[i]
            out[key] = Tensor(row.reshape(-1), shape=tuple(row.shape))
        elif kind == Kind.SPARSE:
            m, shape = sparse_parts(col)
            lo, hi = int(m.indptr[i]), int(m.indptr[i + 1])
            out[key] = Tensor(
                np.asarray(m.data[lo:hi]),
                keys=np.asarray(m.indices[lo:hi]).astype(np.uint64) if hi > lo else np.empty(0, np.uint64),
                shape=shape,
            )
        elif kind == Kind.RAGGED:
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
    ka, kb = column_kind(a), column_kind(b)
    if ka != kb:
        return False
    if ka == Kind.DENSE:
        return _arrays_equal(np.ascontiguousarray(a), np.ascontiguousarray(b), bitwise=bitwise)
    if ka == Kind.SPARSE:
        ma, sa = sparse_parts(a)
        mb, sb = sparse_parts(b)
        return bool(
            sa == sb
            and ma.shape == mb.shape
            and np.array_equal(ma.indptr, mb.indptr)
            and np.array_equal(ma.indices, mb.indices)
            and _arrays_equal(np.asarray(ma.data), np.asarray(mb.data), bitwise=bitwise)
        )
    if ka == Kind.RAGGED:
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


#: The map of a batch without columns in it (read-only, so one is shared by every batch).
_NO_COLUMNS: Mapping[str, Any] = MappingProxyType({})


def _checked_map(map_name: str, src: Any, n: int | None) -> tuple[Mapping[str, Any], int | None]:
    """`RecordBatch`'s map `map_name` given as `src`: its columns normalized (read-only), as
    a read-only mapping, and the batch's number of records (`n`, None while unknown) after
    it; `EncodeError` for a map, key or column that is not valid or has another number of
    rows."""
    if type(src) is not dict and not isinstance(src, Mapping):
        raise EncodeError(None, f"{map_name} must be a mapping of str to column", status_hint=400)
    if not src:
        return _NO_COLUMNS, n
    out: dict[str, Any] = {}
    for key, col in src.items():
        if not isinstance(key, str):
            raise EncodeError(None, f"{map_name} keys must be str, got {key!r}", status_hint=400)
        if type(col) is np.ndarray and col.ndim and col.dtype in _PLAIN_DTYPES:
            # What normalize_column returns for a plain array of a tensor dtype in native
            # byte order (every check passes): the array, read-only (`readonly`, inlined).
            if col.flags.writeable:
                norm = col.view()
                norm.setflags(write=False)
            else:
                norm = col
            rows = col.shape[0]
        else:
            try:
                norm = normalize_column(f"{map_name}[{key!r}]", col)
            except TypeError:
                raise EncodeError(
                    None,
                    f"unsupported column type {type(col).__name__}; expected a numpy "
                    "array, a scipy sparse matrix, smp.Ragged or smp.Sparse",
                    column=f"{map_name}[{key!r}]",
                    status_hint=400,
                ) from None
            rows = nrows(norm)
        if n is None:
            n = rows
        elif rows != n:
            raise EncodeError(
                None,
                f"has {rows} rows but the batch has {n} records",
                column=f"{map_name}[{key!r}]",
                status_hint=400,
            )
        out[key] = norm
    return MappingProxyType(out), n


def trusted_batch(features: dict[str, Any], label: dict[str, Any], n: int) -> RecordBatch:
    """The `RecordBatch` of columns that are valid as they are, built without the checks of
    its constructor: every column read-only and already what `normalize_column` returns
    (a read-only float32, float64 or int32 array is), every one with `n` rows. Only for
    columns a reader made itself (the server's small-body routes); anything a user gives
    goes through ``RecordBatch(...)`` and all its checks."""
    batch: RecordBatch = object.__new__(RecordBatch)
    setattr_ = object.__setattr__
    setattr_(batch, "features", MappingProxyType(features) if features else _NO_COLUMNS)
    setattr_(batch, "label", MappingProxyType(label) if label else _NO_COLUMNS)
    setattr_(batch, "uid", None)
    setattr_(batch, "metadata", None)
    setattr_(batch, "configuration", None)
    setattr_(batch, "n", n)
    return batch


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
