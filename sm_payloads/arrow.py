"""Arrow data as a `RecordBatch`: `from_arrow` reads pyarrow Tables and RecordBatches, polars
and pandas DataFrames, and anything else that speaks the Arrow PyCapsule interface
(``__arrow_c_stream__`` / ``__arrow_c_array__``), without importing a DataFrame library.

Rule 1 (layouts): a table with a column named ``features.<key>`` or ``label.<key>`` (or with
only ``uid`` / ``metadata`` / ``configuration`` columns) is in the layout
`RecordBatch.to_arrow` writes: each such column is that map's key, ``uid``, ``metadata``
and ``configuration`` are the batch's strings, and any other column is an `EncodeError`
naming it. Any other table is columns of numbers: the ``label`` column(s)
become ``label["values"]`` ((N,) for one column, (N, m) for several), the other columns (or
``features``) ``features["values"]`` as one (N, k) array. One feature column keeps its own
kind: a FixedSizeList is (N, k) (nested ones (N, k1, k2, ...)), a list column `Ragged`, a
``{keys, values}`` struct sparse; several are stacked side by side (numbers and
FixedSizeLists only). A text column among the features is an `EncodeError` naming it; a
pandas index stored as a column (``__index_level_0__``) is not a feature. One column (a
pandas or polars Series, a pyarrow Array or ChunkedArray: `is_column`) is a table of that
column. What pyarrow cannot convert (a pandas object column of mixed types...) is an
`EncodeError` with pyarrow's reason.
Rule 2 (types): integers, floats and booleans become float32, float64 or int32 when no
value changes (the record's rule, `columns.as_tensor_dtype`); ``dtype`` converts every
numeric column to that type instead (floats round to nearest; int32 only from integral
values in range). Dictionary columns are decoded. Text (string, large_string, binary) is a
strings column where the layout allows one; a list of strings is a multi-entry value (a list
of one string is that string, as record.proto has it). Other Arrow types (decimal,
timestamp, nested lists...) are an `EncodeError` naming the column and its type.
Rule 3 (zero copy): a column of one chunk without nulls is a view of the Arrow buffers
when it needs no conversion: a primitive column, a FixedSizeList's values, a list column's
values (and its offsets when they are 64-bit from 0). A chunked column is concatenated
(once); stacking several columns copies them once. The buffers are read with numpy
directly (pyarrow's ``to_numpy`` imports pandas, over a second, where it is installed).
Rule 4 (nulls): a null is a record without the key where the batch can say so: a null list
is a `Ragged` record without a tensor, a null string is None. A null number, a null in a
FixedSizeList or sparse column, and a null inside a list are an `EncodeError` naming the
column and the first null record (dense columns have no "missing" value; fill the nulls or
use a list column), except in a table that pandas made (a pandas DataFrame, or a file with
pandas' schema metadata): pandas' missing float is NaN, which pyarrow turns into a null, so
there a null in a floating-point column (a float16/32/64 number, or one inside a list) is
NaN again, as ``DataFrame.to_numpy()`` gives it.
Rule 5 (layers): a core module beside `record` and `arrays` (``arrays.to_batch`` reads
Arrow data through it, so the top-level verbs take DataFrames); it imports ``errors``,
``columns`` and ``record``. `RecordBatch.to_arrow` is written in ``record.py`` itself, since
``record`` may not import this module (which imports it). pyarrow is imported on first
use; without it, `from_arrow` raises ImportError saying what to install.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .columns import TENSOR_DTYPES, Sparse, as_tensor_dtype
from .errors import EncodeError
from .record import Ragged, RecordBatch

if TYPE_CHECKING:
    import scipy.sparse as sp
else:
    from . import _sparse as sp

if TYPE_CHECKING:
    from numpy.typing import DTypeLike, NDArray

__all__ = [
    "INSTALL",
    "SHAPE_KEY",
    "from_arrow",
    "from_table",
    "is_arrow",
    "outputs_from_arrow",
    "pyarrow",
    "side_by_side",
    "to_table",
]

#: What to install for Arrow, Parquet and DataFrame support.
INSTALL = 'pyarrow is needed for Arrow, Parquet and DataFrame data: pip install "sm_payloads[arrow]"'
#: Field metadata key of a sparse column's record shape (a JSON list), as to_arrow writes it.
SHAPE_KEY = b"sm_payloads.shape"
_PARTS = ("features", "label")
_STRINGS = ("uid", "metadata", "configuration")
_INT32 = np.iinfo(np.int32)


def pyarrow() -> Any:
    """The ``pyarrow`` module, or ImportError saying what to install."""
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(INSTALL) from None
    return pa


def is_arrow(data: Any) -> bool:
    """Whether `data` speaks the Arrow PyCapsule interface (a table or a record batch, or
    one column: see `is_column`)."""
    t = type(data)
    return hasattr(t, "__arrow_c_stream__") or hasattr(t, "__arrow_c_array__")


def is_column(data: Any) -> bool:
    """Whether Arrow data is one column rather than a table: a pandas or polars Series
    (one dimension), a pyarrow Array other than a StructArray, or a ChunkedArray. Told
    without importing pyarrow. `from_arrow` reads one as a table of that one column; the
    SDK drop-ins write a Series as the SDK does, one row."""
    t = type(data)
    if not is_arrow(data):
        return False
    if getattr(data, "ndim", None) == 1 or len(getattr(data, "shape", None) or (0, 0)) == 1:
        return True
    return t.__module__.startswith("pyarrow") and (
        t.__name__ == "ChunkedArray" or (t.__name__.endswith("Array") and t.__name__ != "StructArray")
    )


def to_table(data: Any) -> Any:
    """`data` as a ``pyarrow.Table`` (a Table as it is; the others through the PyCapsule
    interface, which shares their buffers)."""
    pa = pyarrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if not is_arrow(data):
        raise TypeError(
            f"cannot read {type(data).__name__} as Arrow data: expected a pyarrow Table or RecordBatch, "
            "a polars or pandas DataFrame, or an object with __arrow_c_stream__ / __arrow_c_array__"
        )
    try:
        return _import(pa, data)
    except (pa.ArrowException, ValueError, TypeError) as e:
        # what pyarrow cannot convert (a pandas object column of mixed types, complex or
        # sparse pandas data, duplicate pandas names, polars' Int128...) is the data's fault
        what = "; ".join(str(a) for a in e.args) if e.args else type(e).__name__
        raise EncodeError(
            None, f"cannot read this {type(data).__name__} as Arrow data: {what}", status_hint=400
        ) from None


def _import(pa: Any, data: Any) -> Any:
    """`to_table` of data that speaks the Arrow interface (not yet a Table)."""
    t = type(data)
    if is_column(data):  # a table of this one column, named as the Series is
        name = getattr(data, "name", None)
        name = name if isinstance(name, str) and name else "values"
        if t.__module__.startswith("pandas"):  # as a frame: pandas' metadata (NaN, index)
            return pa.table(data.to_frame(name=name))
        column = pa.chunked_array(data) if hasattr(t, "__arrow_c_stream__") else pa.array(data)
        return pa.table({name: column})
    if hasattr(t, "__arrow_c_stream__"):
        return pa.table(data)
    return pa.Table.from_batches([pa.record_batch(data)])


def from_arrow(
    data: Any,
    *,
    label: str | Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    dtype: DTypeLike | None = None,
) -> RecordBatch:
    """A `RecordBatch` from Arrow data (see the module docstring for the rules).

    Parameters
    ----------
    data : pyarrow Table or RecordBatch, polars or pandas DataFrame, or any object with
        ``__arrow_c_stream__`` / ``__arrow_c_array__``.
    label : str or sequence of str, optional
        The label column(s), ``label["values"]``.
    features : sequence of str, optional
        The feature columns, in this order (default: every other column).
    dtype : float32, float64 or int32, optional
        Convert every numeric column to this type.

    >>> import pyarrow as pa, sm_payloads as smp
    >>> t = pa.table({"y": [1.0, 0.0], "a": [0.5, 1.5], "b": [2.0, 3.0]})
    >>> b = smp.from_arrow(t, label="y", dtype="float32")
    >>> b.features["values"].tolist(), b.label["values"].tolist()
    ([[0.5, 2.0], [1.5, 3.0]], [1.0, 0.0])
    """
    table = to_table(data)
    return from_table(table, label=label, features=features, dtype=dtype, nan=_from_pandas(table))


def from_table(
    table: Any,
    *,
    label: str | Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    dtype: DTypeLike | None = None,
    nan: bool = False,
) -> RecordBatch:
    """`from_arrow` of a ``pyarrow.Table``, told whether a null in a floating-point column
    is NaN (`nan`: the data is pandas', where NaN is the missing value) rather than by the
    table's schema metadata (`smp.dask` builds its partitions' tables itself)."""
    out = _from_table(table, label, features, dtype, nan, stack=True)
    assert isinstance(out, RecordBatch)
    return out


def side_by_side(
    data: Any, *, label: str | Sequence[str] | None = None, dtype: DTypeLike | None = None
) -> RecordBatch | tuple[list[NDArray[Any]], RecordBatch]:
    """`from_arrow`, except that several feature columns are not stacked: where
    `from_arrow` would stack them into one (N, k) matrix, (the columns, (N, k_i) arrays of
    the matrix's dtype in its order, and the batch without features); else the batch. The
    command line writes such columns into RecordIO-protobuf records without that matrix
    (`recordio_protobuf.encode_columns`)."""
    table = to_table(data)
    return _from_table(table, label, None, dtype, _from_pandas(table), stack=False)


def _from_table(
    table: Any,
    label: str | Sequence[str] | None,
    features: Sequence[str] | None,
    dtype: DTypeLike | None,
    nan: bool,
    *,
    stack: bool,
) -> RecordBatch | tuple[list[NDArray[Any]], RecordBatch]:
    dt = None
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt not in TENSOR_DTYPES:
            raise ValueError(f"dtype must be float32, float64 or int32, not {dt}")
    hidden = _pandas_index(table)
    names = [n for n in table.column_names if n not in hidden]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise EncodeError(None, "two columns have this name", column=n, status_hint=400)
        seen.add(n)
    position = {n: i for i, n in enumerate(table.column_names) if n in seen}
    if any(n.partition(".")[0] in _PARTS and "." in n for n in names) or (
        names and set(names) <= set(_STRINGS)
    ):
        if label is not None or features is not None:
            raise EncodeError(
                None,
                "label= and features= pick columns of a table of numbers; this table has "
                "'features.<key>' / 'label.<key>' columns (the layout RecordBatch.to_arrow writes)",
                status_hint=400,
            )
        return _from_layout(table, names, position, dt, nan)
    labels = [label] if isinstance(label, str) else list(label or ())
    for n in labels:
        if n not in position:
            raise EncodeError(
                None, f"no such column (columns: {', '.join(names)})", column=n, status_hint=400
            )
    if features is None:
        feats = [n for n in names if n not in labels]
    else:
        feats = [features] if isinstance(features, str) else list(features)
        for n in feats:
            if n not in position:
                raise EncodeError(
                    None, f"no such column (columns: {', '.join(names)})", column=n, status_hint=400
                )
            if n in labels:
                raise EncodeError(None, "is both a label and a feature column", column=n, status_hint=400)
    for picked in (labels, feats):
        if len(set(picked)) == len(picked):
            continue
        twice = [n for i, n in enumerate(picked) if n in picked[:i]]
        if twice:
            raise EncodeError(
                None, "is named twice (each column is one label or feature)", column=twice[0], status_hint=400
            )
    schema = table.schema  # (a new Schema object at each access)
    columns = {n: (table.column(position[n]), schema.field(position[n])) for n in labels + feats}
    label_map = {"values": _block(columns, labels, "label", dt, nan)} if labels else {}
    values = _block(columns, feats, "features", dt, nan, stack) if feats else None
    if isinstance(values, _Pieces):
        return list(values), RecordBatch({}, label_map, n=table.num_rows)
    return RecordBatch({} if values is None else {"values": values}, label_map, n=table.num_rows)


def outputs_from_arrow(data: Any, *, dtype: DTypeLike | None = None) -> RecordBatch:
    """Model outputs as a batch: each column of a table of outputs is a ``label`` key (as
    `arrays.outputs_to_batch` makes of per-record dicts); a table in the layout
    `RecordBatch.to_arrow` writes is read as it is.

    >>> import pyarrow as pa
    >>> b = outputs_from_arrow(pa.table({"predicted_label": [1, 0], "score": [0.75, 0.25]}))
    >>> list(b.label), b.label["score"].tolist()
    (['predicted_label', 'score'], [0.75, 0.25])
    """
    table = to_table(data)
    hidden = _pandas_index(table)
    names = [n for n in table.column_names if n not in hidden]
    if any(n.partition(".")[0] in _PARTS and "." in n for n in names):
        return from_arrow(table, dtype=dtype)
    renamed = table.select(names).rename_columns([f"label.{n}" for n in names])
    # keep the schema metadata (renaming drops it): pandas' says a null float was a NaN
    return from_arrow(renamed.replace_schema_metadata(table.schema.metadata), dtype=dtype)


# --------------------------------------------------------------------------------------
# Sparse record shapes across batches (for readers of a file batch by batch)
# --------------------------------------------------------------------------------------


def _sparse_struct(pa: Any, t: Any) -> bool:
    return bool(
        pa.types.is_struct(t)
        and {t.field(i).name for i in range(t.num_fields)} == {"keys", "values"}
        and all(pa.types.is_list(f.type) or pa.types.is_large_list(f.type) for f in (t.field(0), t.field(1)))
    )


def shapeless_sparse(schema: Any) -> list[str]:
    """The ``{keys, values}`` struct columns of `schema` without a ``sm_payloads.shape``
    field metadata: `from_arrow` gives their records the width largest key + 1 of the data
    it is given, which differs from batch to batch of one file."""
    pa = pyarrow()
    return [f.name for f in schema if _sparse_struct(pa, f.type) and SHAPE_KEY not in (f.metadata or {})]


def key_widths(data: Any, names: Sequence[str]) -> dict[str, int]:
    """Largest key + 1 (0 without keys) of each named sparse struct column of `data` (a
    Table or RecordBatch; a column may hold only its ``keys`` field)."""
    pa = pyarrow()
    import pyarrow.compute as pc  # type: ignore[import-untyped]

    out: dict[str, int] = {}
    for name in names:
        col = data.column(name)
        chunks = col.chunks if hasattr(col, "chunks") else [col]
        width = 0
        for chunk in chunks:
            if pa.types.is_dictionary(chunk.type):
                chunk = _decode(pa, chunk)
            keys = chunk.flatten()[chunk.type.get_field_index("keys")]  # the struct's slice
            top = pc.max(pc.list_flatten(keys)).as_py()
            if top is not None:
                width = max(width, int(top) + 1)
        out[name] = width
    return out


def with_shapes(batch: Any, widths: dict[str, int]) -> Any:
    """`batch` (a RecordBatch) with the ``sm_payloads.shape`` field metadata ``[width]`` on
    each named column, so that every batch of a file reads with one record shape."""
    pa = pyarrow()
    fields = [
        f.with_metadata({**(f.metadata or {}), SHAPE_KEY: json.dumps([widths[f.name]]).encode()})
        if f.name in widths
        else f
        for f in batch.schema
    ]
    return pa.RecordBatch.from_arrays(batch.columns, schema=pa.schema(fields, metadata=batch.schema.metadata))


# --------------------------------------------------------------------------------------
# Layouts
# --------------------------------------------------------------------------------------


def _pandas_index(table: Any) -> set[str]:
    """Columns that hold a pandas index (pandas' schema metadata names them)."""
    meta = table.schema.metadata or {}
    if b"pandas" not in meta:
        return set()
    try:
        index = json.loads(meta[b"pandas"]).get("index_columns", [])
    except (ValueError, AttributeError):
        return set()
    return {c for c in index if isinstance(c, str)}


def _from_pandas(table: Any) -> bool:
    """Whether pandas made the table (its schema metadata, which pyarrow writes for a
    DataFrame and keeps in Parquet and Arrow files): there a null float was a NaN."""
    return b"pandas" in (table.schema.metadata or {})


def _from_layout(
    table: Any, names: list[str], position: dict[str, int], dt: np.dtype[Any] | None, nan: bool
) -> RecordBatch:
    maps: dict[str, dict[str, Any]] = {"features": {}, "label": {}}
    strings: dict[str, Any] = {}
    for name in names:
        col, field = table.column(position[name]), table.schema.field(position[name])
        part, _, key = name.partition(".")
        if part in maps and name != part:
            maps[part][key] = _column(col, field, name, dt, strings_ok=True, nan=nan)
        elif name in _STRINGS:
            strings[name] = _string_list(col, name)
        else:
            raise EncodeError(
                None,
                "a table with 'features.<key>' / 'label.<key>' columns holds only those and "
                "uid, metadata, configuration",
                column=name,
                status_hint=400,
            )
    return RecordBatch(maps["features"], maps["label"], n=table.num_rows, **strings)


def _block(
    columns: dict[str, Any],
    names: list[str],
    part: str,
    dt: np.dtype[Any] | None,
    nan: bool,
    stack: bool = True,
) -> Any:
    """``label["values"]`` or ``features["values"]`` from the named columns (several
    columns: stacked into one matrix, or with `stack` False left side by side, `_Pieces`)."""
    pa = pyarrow()
    if len(names) == 1:
        col, field = columns[names[0]]
        out = _column(col, field, names[0], dt, strings_ok=part == "label", nan=nan)
        if part == "features" and isinstance(out, np.ndarray) and out.ndim == 1:
            out = out.reshape(-1, 1)  # a view: one feature per record
        return out
    pieces = []
    for name in names:
        col, field = columns[name]
        plain = _plain(pa, col, dt)
        if plain is not None:  # what the lines below make of it, without their checks
            pieces.append(plain.reshape(plain.shape[0], 1))
            continue
        t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        if not (_numeric(pa, t) or pa.types.is_fixed_size_list(t)):
            if _text(pa, t):
                raise _text_error(name, t, part)
            raise EncodeError(
                None,
                f"a column of {t} is {part} only as the one {part} column; stacked {part} "
                "columns hold numbers or fixed-size lists of numbers",
                column=name,
                status_hint=400,
            )
        a = _column(col, field, name, dt, strings_ok=False, nan=nan)
        pieces.append(a.reshape(a.shape[0], math.prod(a.shape[1:])))
    common = np.result_type(*pieces)  # among float32/float64/int32: never loses a value
    if not stack:
        return _Pieces(p.astype(common, copy=False) for p in pieces)
    n = pieces[0].shape[0]
    out = np.empty((n, sum(p.shape[1] for p in pieces)), dtype=common)
    at = 0
    for p in pieces:
        out[:, at : at + p.shape[1]] = p
        at += p.shape[1]
    return out


class _Pieces(list):  # type: ignore[type-arg]
    """Feature columns (N, k_i) of one dtype, left side by side (`side_by_side`)."""


# --------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------


def _numeric(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _text(pa: Any, t: Any) -> bool:
    kinds = ("is_string", "is_large_string", "is_string_view", "is_binary", "is_large_binary")
    return any(getattr(pa.types, k, lambda _t: False)(t) for k in kinds) or pa.types.is_fixed_size_binary(t)


def _text_error(name: str, t: Any, part: str) -> EncodeError:
    return EncodeError(
        None,
        f"is text ({t}); {part} must be numbers: leave it out with features=[...]"
        + (" or make it the label" if part == "features" else ""),
        column=name,
        status_hint=400,
    )


def _decode(pa: Any, arr: Any) -> Any:
    """A dictionary Array decoded. pyarrow's take has no kernel for string_view, the values
    of polars' categoricals: those are decoded as large_string (large_binary)."""
    try:
        return arr.dictionary_decode()
    except pa.ArrowNotImplementedError:
        values = arr.dictionary
        wide = pa.large_binary() if pa.types.is_binary_view(values.type) else pa.large_string()
        return values.cast(wide).take(arr.indices)


def _one_chunk(pa: Any, col: Any) -> Any:
    """The column as one Array: its only chunk of records as it is (empty chunks, which
    polars and sliced tables leave, do not count), or the chunks concatenated."""
    if pa.types.is_dictionary(col.type):
        decoded = [_decode(pa, c) for c in col.chunks]
        col = pa.chunked_array(decoded, decoded[0].type if decoded else col.type.value_type)
    full = [c for c in col.chunks if len(c)]
    if len(full) == 1:
        return full[0]
    if not full:  # (combine_chunks of no records imports pandas, 0.4 s)
        return pa.nulls(0, col.type)
    return col.combine_chunks()


def _first_null(arr: Any) -> int:
    return int(np.flatnonzero(_is_null(arr))[0])


def _no_nulls(arr: Any, name: str, what: str = "") -> None:
    if arr.null_count:
        raise EncodeError(
            None,
            f"record {_first_null(arr)}: null{what}; a column of {arr.type} holds no missing "
            "values (fill the nulls, or use a list column, where null means the record lacks "
            "the key)",
            column=name,
            status_hint=400,
        )


def _bits(buffer: Any, offset: int, n: int) -> NDArray[np.bool_]:
    """`n` bits of an Arrow bitmap from bit `offset` (least significant bit first)."""
    packed = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(packed, count=offset + n, bitorder="little")[offset:].astype(bool)


def _is_null(arr: Any) -> NDArray[np.bool_]:
    validity = arr.buffers()[0]
    if validity is None or not arr.null_count:
        return np.zeros(len(arr), dtype=bool)
    return ~_bits(validity, arr.offset, len(arr))


def _primitive(pa: Any, arr: Any) -> NDArray[Any]:
    """A numeric Array without nulls as numpy: a view of its values buffer at its offset
    (booleans are unpacked: Arrow packs bits). Read from the buffers directly, since
    pyarrow's ``to_numpy`` imports pandas (over a second) when pandas is installed."""
    t = arr.type
    n = len(arr)
    if pa.types.is_boolean(t):
        return _bits(arr.buffers()[1], arr.offset, n) if n else np.zeros(0, dtype=bool)
    if pa.types.is_floating(t):
        dtype = np.dtype(f"f{t.bit_width // 8}")
    elif pa.types.is_signed_integer(t):
        dtype = np.dtype(f"i{t.bit_width // 8}")
    else:
        dtype = np.dtype(f"u{t.bit_width // 8}")
    buffer = arr.buffers()[1]
    if buffer is None or n == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype, count=n, offset=arr.offset * dtype.itemsize)


_PLAIN: dict[int, np.dtype[Any]] = {}


def _plain(pa: Any, col: Any, dt: np.dtype[Any] | None) -> NDArray[Any] | None:
    """A column (a ChunkedArray) of one chunk of records of float32, float64 or int32
    without nulls, as `_column` reads it (`dt` None or that type): the view of its values
    buffer, found without `_column`'s checks of every kind of column (a table of 100 such
    columns: 0.8 -> 0.3 ms a batch of 10,000 records). None for any other column."""
    if not _PLAIN:
        _PLAIN.update(
            {
                pa.float32().id: np.dtype(np.float32),
                pa.float64().id: np.dtype(np.float64),
                pa.int32().id: np.dtype(np.int32),
            }
        )
    if col.num_chunks != 1:
        return None
    arr = col.chunk(0)
    dtype = _PLAIN.get(arr.type.id)
    n = len(arr)
    if dtype is None or not n or arr.null_count or (dt is not None and dt != dtype):
        return None
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=n, offset=arr.offset * dtype.itemsize)


def _cast(values: NDArray[Any], name: str, dt: np.dtype[Any] | None) -> NDArray[Any]:
    if dt is None or values.dtype == dt:
        return as_tensor_dtype(values, name)
    if dt.kind == "f":
        if values.dtype == np.bool_:
            values = values.astype(np.int32)
        return values.astype(dt)
    # int32: integral values in range only
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = (
                ~np.isfinite(values)
                | (values != np.trunc(values))
                | (values < _INT32.min)
                | (values > _INT32.max)
            )
        if bad.any():
            first = values.reshape(-1)[int(np.flatnonzero(bad.reshape(-1))[0])]
            raise EncodeError(
                None,
                f"value {float(first)!r} is not an int32 (dtype=int32 converts integral values only)",
                column=name,
                status_hint=400,
            )
        return values.astype(np.int32)
    return as_tensor_dtype(values, name)


def _nan_for_null(pa: Any, arr: Any) -> NDArray[Any]:
    """A floating-point Array with nulls as numpy: a copy, NaN where a value is null."""
    out = np.array(_primitive(pa, arr))
    out[_is_null(arr)] = np.nan
    return out


def _column(
    col: Any, field: Any, name: str, dt: np.dtype[Any] | None, *, strings_ok: bool, nan: bool = False
) -> Any:
    """One Arrow column (a ChunkedArray) as a batch column (`nan`: a null float is NaN)."""
    pa = pyarrow()
    plain = _plain(pa, col, dt)
    if plain is not None:
        return plain
    arr = _one_chunk(pa, col)
    t = arr.type
    n = len(arr)
    if _numeric(pa, t):
        if nan and arr.null_count and pa.types.is_floating(t):
            return _cast(_nan_for_null(pa, arr), name, dt)
        _no_nulls(arr, name)
        return _cast(_primitive(pa, arr), name, dt)
    if pa.types.is_fixed_size_list(t):
        shape: list[int] = []
        a = arr
        while pa.types.is_fixed_size_list(a.type):
            if a is arr:
                _no_nulls(a, name)
            elif a.null_count:  # a null inner list: its record is its index // entries per record
                raise _null_inside(name, _first_null(a) // math.prod(shape), "fixed-size list")
            shape.append(a.type.list_size)
            a = a.flatten()
        if pa.types.is_dictionary(a.type):
            a = _decode(pa, a)
        if not _numeric(pa, a.type):
            raise _unsupported(name, t)
        if nan and a.null_count and pa.types.is_floating(a.type):
            return _cast(_nan_for_null(pa, a).reshape(n, *shape), name, dt)
        if a.null_count:
            raise _null_inside(name, _first_null(a) // math.prod(shape), "fixed-size list")
        return _cast(_primitive(pa, a).reshape(n, *shape), name, dt)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        child_type = t.value_type.value_type if pa.types.is_dictionary(t.value_type) else t.value_type
        if _text(pa, child_type):
            if not strings_ok:
                raise _text_error(name, t, "features")
            return _string_lists(arr, name)
        if not _numeric(pa, child_type):
            raise _unsupported(name, t)
        return _ragged(pa, arr, name, dt, nan)
    if pa.types.is_struct(t):
        return _sparse(pa, arr, field, name, dt)
    if _text(pa, t):
        if not strings_ok:
            raise _text_error(name, t, "features")
        out = np.empty(n, dtype=object)
        out[:] = arr.to_pylist()
        return out
    raise _unsupported(name, t)


def _null_inside(name: str, record: int, what: str) -> EncodeError:
    hint = "; a null list is a record without the key" if what == "list" else ""
    return EncodeError(
        None,
        f"record {record}: a null inside a {what} (a record's tensor has no missing values{hint})",
        column=name,
        status_hint=400,
    )


def _record_of(offsets: NDArray[Any], index: int) -> int:
    """The record whose entries (`offsets`, from 0) hold entry `index`."""
    return int(np.searchsorted(offsets, index, side="right")) - 1


def _unsupported(name: str, t: Any) -> EncodeError:
    return EncodeError(
        None,
        f"Arrow type {t} has no record.proto tensor (numbers, fixed-size lists and lists of "
        "numbers, {keys, values} structs, text)",
        column=name,
        status_hint=400,
    )


def _offsets(arr: Any) -> tuple[NDArray[Any], int, int]:
    """A list Array's offsets (its slice's), first and last."""
    off = _primitive(pyarrow(), arr.offsets)
    return off, int(off[0]), int(off[-1])


def _ragged(pa: Any, arr: Any, name: str, dt: np.dtype[Any] | None, nan: bool) -> Ragged:
    off, lo, hi = _offsets(arr)
    child = arr.values.slice(lo, hi - lo)
    if pa.types.is_dictionary(child.type):
        child = _decode(pa, child)
    if nan and child.null_count and pa.types.is_floating(child.type):
        values = _cast(_nan_for_null(pa, child), name, dt)
    elif child.null_count:
        raise _null_inside(name, _record_of(off - lo, _first_null(child)), "list")
    else:
        values = _cast(_primitive(pa, child), name, dt)
    offsets = off if lo == 0 and off.dtype == np.int64 else (off - lo).astype(np.int64)
    valid = None
    if arr.null_count:
        valid = ~_is_null(arr)
        lengths = np.diff(offsets)
        if lengths[~valid].any():  # Arrow lets a null list cover values: drop them
            values = values[np.repeat(valid, lengths)]
            offsets = np.zeros(len(arr) + 1, np.int64)
            np.cumsum(np.where(valid, lengths, 0), out=offsets[1:])
    return Ragged(values, offsets, valid)


def _string_list(col: Any, name: str) -> list[str | None]:
    pa = pyarrow()
    arr = _one_chunk(pa, col)
    if not (
        pa.types.is_string(arr.type)
        or pa.types.is_large_string(arr.type)
        or getattr(pa.types, "is_string_view", lambda _t: False)(arr.type)
    ):
        raise EncodeError(None, f"expected a string column, got {arr.type}", column=name, status_hint=400)
    rows: list[str | None] = arr.to_pylist()
    return rows


def _string_lists(arr: Any, name: str) -> NDArray[Any]:
    """A list-of-text column: a multi-entry value per record (one entry: that string)."""
    rows = arr.to_pylist()
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        if r is not None and any(x is None for x in r):
            raise EncodeError(
                None, f"record {i}: a null inside a list of strings", column=name, status_hint=400
            )
    out[:] = [r if r is None or len(r) != 1 else r[0] for r in rows]
    return out


def _sparse(pa: Any, arr: Any, field: Any, name: str, dt: np.dtype[Any] | None) -> Any:
    t = arr.type
    fields = {t.field(i).name: i for i in range(t.num_fields)}
    if not _sparse_struct(pa, t):
        raise _unsupported(name, t)
    _no_nulls(arr, name)
    children = arr.flatten()  # the struct's slice of each child
    keys, values = children[fields["keys"]], children[fields["values"]]
    for part in (keys, values):
        if part.null_count:
            raise EncodeError(
                None,
                f"record {_first_null(part)}: null sparse {(part is keys and 'keys') or 'values'}",
                column=name,
                status_hint=400,
            )
    ko, klo, khi = _offsets(keys)
    vo, vlo, vhi = _offsets(values)
    if not np.array_equal(ko - klo, vo - vlo):
        bad = int(np.flatnonzero(np.diff(ko) != np.diff(vo))[0])
        raise EncodeError(
            None, f"record {bad}: keys and values of different lengths", column=name, status_hint=400
        )
    kchild, vchild = keys.values.slice(klo, khi - klo), values.values.slice(vlo, vhi - vlo)
    if not pa.types.is_integer(kchild.type) or not _numeric(pa, vchild.type):
        raise _unsupported(name, t)
    for child, offsets, what in (
        (kchild, ko - klo, "sparse row's keys"),
        (vchild, vo - vlo, "sparse row's values"),
    ):
        if child.null_count:
            raise _null_inside(name, _record_of(offsets, _first_null(child)), what)
    k = _primitive(pa, kchild)
    data = _cast(_primitive(pa, vchild), name, dt)
    meta = field.metadata or {}
    if SHAPE_KEY in meta:
        try:
            shape = tuple(int(s) for s in json.loads(meta[SHAPE_KEY]))
        except (ValueError, TypeError):
            raise EncodeError(
                None, f"bad {SHAPE_KEY.decode()} metadata", column=name, status_hint=400
            ) from None
    else:
        shape = (int(k.max()) + 1 if k.size else 0,)
    width = math.prod(shape)
    if k.size and (int(k.min()) < 0 or int(k.max()) >= width):
        at = int(np.flatnonzero((k < 0) | (k >= width))[0])
        row = int(np.searchsorted(ko - klo, at, side="right")) - 1
        raise EncodeError(
            None,
            f"record {row}: key {int(k[at])} outside the record shape {shape}",
            column=name,
            status_hint=400,
        )
    index_type = np.int32 if width <= _INT32.max and k.size <= _INT32.max else np.int64
    indptr = (ko - klo).astype(index_type, copy=False)
    m = sp.csr_array((data, k.astype(index_type, copy=False), indptr), shape=(len(arr), width))
    return m if len(shape) == 1 else Sparse(m, shape)
