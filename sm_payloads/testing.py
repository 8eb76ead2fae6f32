"""Hypothesis strategies for property-based tests of code that reads or writes SageMaker
payloads: a model container's handler, a client, a converter.

Three families (hypothesis is imported here and nowhere else in the package):

* `record_batches`: valid batches (dense, sparse CSR, `Ragged`, strings; float32,
  float64 and int32; labels, ``uid``, ``metadata``, ``configuration``), bounded in records,
  columns, values per record and rank.
* `payloads` / `encoded_batches`: valid request or response bodies of every registered media
  type, with its parameters (``text/csv;label_size=1``, ``application/json; verbose=true``
  for an algorithm), and each built-in algorithm's responses (``algorithm="pca"``).
  `encoded_batches` also gives the batch the body decodes to, so a test can check a round
  trip.
* `mutated_payloads`: nearly valid bodies, made from valid ones by structure-aware
  mutations (truncation, RecordIO length words and magic, protobuf varints and widths,
  ``NaN`` where JSON forbids it, wrong envelopes, deep nesting, bad UTF-8, ragged CSV
  rows, npy headers...). A decoder must answer each with a result or a typed error.

Everything is built from small primitives (integers, sampled choices, short lists), never by
rejection, so a failing example shrinks to something short and readable: one record, the
column ``"values"``, the value ``0.0``, the first mutation at the first position.

>>> from hypothesis import find
>>> from sm_payloads import testing
>>> find(testing.payloads("text/csv;label_size=1"), lambda body: True)
b'0.0,0.0'

docs/testing.md shows a container author testing a handler with them.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

from . import algorithms
from .api import encode_request, encode_response
from .formats._wire import encode_varint
from .mime import MediaType
from .record import Ragged, RecordBatch, Sparse
from .recordio import MAGIC_BYTES, write_records
from .registry import get_codec

__all__ = [
    "DTYPES",
    "KINDS",
    "columns",
    "encoded_batches",
    "mutated_payloads",
    "payloads",
    "record_batches",
    "values",
]

#: The column kinds of a `RecordBatch`.
KINDS: tuple[str, ...] = ("dense", "sparse", "ragged", "strings")
#: The tensor dtypes of record.proto.
DTYPES: tuple[str, ...] = ("float32", "float64", "int32")

_DEFAULT_NAMES: SearchStrategy[str] = st.one_of(
    st.sampled_from(("values", "in0", "in1", "score")), st.text(max_size=6)
)
_TEXT = st.text(max_size=8)


# ======================================================================================
# Values and columns
# ======================================================================================


def values(
    dtype: Any,
    shape: tuple[int, ...],
    *,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    all_bit_patterns: bool = False,
) -> SearchStrategy[np.ndarray]:
    """Arrays of `dtype` (float32, float64 or int32) and `shape`.

    With ``all_bit_patterns=True`` floats are drawn as raw bits: NaN payloads, signalling
    NaNs, ``-0.0`` and subnormals included (for binary formats, compared bit for bit).
    Values shrink towards 0.
    """
    dt = np.dtype(dtype)
    if dt.kind == "f" and all_bit_patterns:
        bits = np.dtype(f"<u{dt.itemsize}")
        top = 2 ** (8 * dt.itemsize) - 1
        return hnp.arrays(bits, shape, elements=st.integers(0, top)).map(
            lambda a: a.view(dt.newbyteorder("<")).astype(dt)
        )
    if dt.kind == "f":
        width = 8 * dt.itemsize
        return hnp.arrays(
            dt, shape, elements=st.floats(width=width, allow_nan=allow_nan, allow_infinity=allow_infinity)
        )
    if dt == np.dtype(np.int32):
        return hnp.arrays(dt, shape, elements=st.integers(-(2**31), 2**31 - 1))
    raise ValueError(f"dtype must be one of {DTYPES}, got {dt}")


def _text_floats(allow_nan: bool, allow_infinity: bool) -> SearchStrategy[float]:
    """float64 values whose text comes from every tensor dtype (float32 values, integers)."""
    return st.one_of(
        st.floats(allow_nan=allow_nan, allow_infinity=allow_infinity),
        st.floats(width=32, allow_nan=False, allow_infinity=False),
        st.integers(-(2**31), 2**31 - 1).map(float),
    )


class _Bounds:
    """The size arguments of `record_batches`, checked once."""

    def __init__(
        self,
        *,
        kinds: Collection[str],
        dtypes: Collection[Any],
        max_features: int,
        max_rank: int,
        max_side: int,
        allow_nan: bool,
        allow_infinity: bool,
        all_bit_patterns: bool,
        text_numbers: bool = False,
    ) -> None:
        self.kinds = tuple(kinds)
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise ValueError(f"kinds must be a non-empty subset of {KINDS}, got {tuple(kinds)}")
        self.dtypes = tuple(np.dtype(d) for d in dtypes)
        if not self.dtypes or any(str(d) not in DTYPES for d in self.dtypes):
            raise ValueError(f"dtypes must be a non-empty subset of {DTYPES}, got {tuple(dtypes)}")
        if max_features < 1 or max_rank < 1 or max_side < 1:
            raise ValueError("max_features, max_rank and max_side must be at least 1")
        self.max_features = max_features
        self.max_rank = max_rank
        self.max_side = max_side
        self.allow_nan = allow_nan
        self.allow_infinity = allow_infinity
        self.all_bit_patterns = all_bit_patterns
        self.text_numbers = text_numbers

    def array(self, dtype: np.dtype[Any], shape: tuple[int, ...]) -> SearchStrategy[np.ndarray]:
        if self.text_numbers and dtype == np.float64:
            return hnp.arrays(dtype, shape, elements=_text_floats(self.allow_nan, self.allow_infinity))
        return values(
            dtype,
            shape,
            allow_nan=self.allow_nan,
            allow_infinity=self.allow_infinity,
            all_bit_patterns=self.all_bit_patterns,
        )


def _record_shape(draw: st.DrawFn, b: _Bounds, min_rank: int, max_rank: int) -> tuple[int, ...]:
    """A record shape of rank in [min_rank, max_rank], sides <= max_side, at most
    max_features values (built side by side, never rejected)."""
    rank = draw(st.integers(min_rank, max(min_rank, max_rank)))
    shape: list[int] = []
    room = b.max_features
    for _ in range(rank):
        side = draw(st.integers(0, min(b.max_side, room)))
        shape.append(side)
        room = room // side if side else room
    return tuple(shape)


@st.composite
def _dense(draw: st.DrawFn, n: int, map_name: str, b: _Bounds) -> np.ndarray:
    dtype = draw(st.sampled_from(b.dtypes))
    # a scalar column (N,) is a label; a features tensor of one value reads back as (N, 1)
    min_rank = 1 if map_name == "features" else 0
    shape = _record_shape(draw, b, min_rank, b.max_rank)
    out: np.ndarray = draw(b.array(dtype, (n, *shape)))
    return out


@st.composite
def _sparse(draw: st.DrawFn, n: int, b: _Bounds) -> Any:
    dtype = draw(st.sampled_from(b.dtypes))
    rank = draw(st.integers(1, max(1, min(2, b.max_rank))))
    shape = tuple(draw(st.lists(st.integers(1, b.max_side), min_size=rank, max_size=rank)))
    width = math.prod(shape)
    counts = draw(st.lists(st.integers(0, b.max_features), min_size=n, max_size=n))
    flat: list[int] = []
    for c in counts:
        flat += draw(st.lists(st.integers(0, width - 1), min_size=c, max_size=c))
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    data = draw(b.array(dtype, (len(flat),)))
    m = sp.csr_array((data, np.array(flat, np.int64), indptr), shape=(n, width))
    return m if rank == 1 else Sparse(m, shape)


@st.composite
def _ragged(draw: st.DrawFn, n: int, map_name: str, b: _Bounds) -> Any:
    """Records of different lengths or some without the key (so n >= 2)."""
    dtype = draw(st.sampled_from(b.dtypes))
    lengths = draw(st.lists(st.integers(0, b.max_features), min_size=n, max_size=n))
    present = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if not any(present):
        present[0] = True
    if all(present) and len(set(lengths)) == 1:
        # make it ragged: the last record one value longer (or shorter)
        lengths[-1] = lengths[-1] + 1 if lengths[-1] < b.max_features else lengths[-1] - 1
    rows = [draw(b.array(dtype, (k,))) if p else None for k, p in zip(lengths, present, strict=True)]
    return Ragged.from_lists(rows, dtype=dtype)


@st.composite
def _strings(draw: st.DrawFn, n: int, b: _Bounds) -> np.ndarray:
    """One entry per record: a string, a list of 0 or 2+ strings (a protobuf ``Bytes``
    value with several entries), or None (the record lacks the key); at least one string."""
    longest = max(2, min(3, b.max_features))
    entry: SearchStrategy[Any] = st.one_of(
        st.none(), _TEXT, st.just([]), st.lists(_TEXT, min_size=2, max_size=longest)
    )
    rows = draw(st.lists(entry, min_size=n, max_size=n))
    if rows and not any(isinstance(r, str) for r in rows):
        rows[0] = draw(_TEXT)
    out = np.empty(n, dtype=object)
    out[:] = rows
    return out


def columns(
    n: int,
    map_name: str = "features",
    *,
    kinds: Collection[str] = KINDS,
    dtypes: Collection[Any] = DTYPES,
    max_features: int = 8,
    max_rank: int = 2,
    max_side: int = 4,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    all_bit_patterns: bool = False,
) -> SearchStrategy[Any]:
    """One column of `n` records for `map_name` (``"features"`` or ``"label"``): see
    `record_batches` for the arguments. ValueError when `kinds` is only ``("ragged",)``
    and ``n < 2`` (a ragged column needs two records that differ)."""
    b = _Bounds(
        kinds=kinds,
        dtypes=dtypes,
        max_features=max_features,
        max_rank=max_rank,
        max_side=max_side,
        allow_nan=allow_nan,
        allow_infinity=allow_infinity,
        all_bit_patterns=all_bit_patterns,
    )
    return _columns(n, map_name, b)


def _kinds_for(n: int, b: _Bounds) -> tuple[str, ...]:
    """The kinds a column of `n` records can have (a ragged one needs two records)."""
    return tuple(k for k in b.kinds if k != "ragged" or n >= 2)


def _columns(n: int, map_name: str, b: _Bounds) -> SearchStrategy[Any]:
    makers: dict[str, Callable[[], SearchStrategy[Any]]] = {
        "dense": lambda: _dense(n, map_name, b),
        "sparse": lambda: _sparse(n, b),
        "ragged": lambda: _ragged(n, map_name, b),
        "strings": lambda: _strings(n, b),
    }
    kinds = _kinds_for(n, b)
    if not kinds:
        raise ValueError(f"a ragged column needs at least 2 records, not {n}")
    return st.one_of(*(makers[k]() for k in kinds))


@st.composite
def _batches(
    draw: st.DrawFn,
    b: _Bounds,
    *,
    min_records: int,
    max_records: int,
    max_columns: int,
    labels: bool,
    features: bool,
    ids: bool,
    names: SearchStrategy[str],
    min_columns: int = 0,
    configuration_text: Callable[[str], str] | None = None,
) -> RecordBatch:
    n = draw(st.integers(min_records, max_records))
    maps: dict[str, dict[str, Any]] = {}
    for map_name, wanted in (("features", features), ("label", labels)):
        if not wanted or not _kinds_for(n, b):
            maps[map_name] = {}  # (only ragged columns allowed, and fewer than 2 records)
            continue
        least = min(min_columns, max_columns) if map_name == ("features" if features else "label") else 0
        keys = draw(st.lists(names, min_size=least, max_size=max_columns, unique=True))
        maps[map_name] = {k: draw(_columns(n, map_name, b)) for k in keys}
    strings: dict[str, list[str | None] | None] = {}
    if ids:
        for s in ("uid", "metadata", "configuration"):
            if not draw(st.booleans()):
                continue
            vals = draw(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=n, max_size=n))
            if s == "configuration" and configuration_text is not None:
                vals = [None if v is None else configuration_text(v) for v in vals]
            strings[s] = vals if any(v is not None for v in vals) else None
    return RecordBatch(maps["features"], maps["label"], n=n, **strings)


def record_batches(
    *,
    min_records: int = 0,
    max_records: int = 5,
    kinds: Collection[str] = KINDS,
    dtypes: Collection[Any] = DTYPES,
    max_columns: int = 2,
    max_features: int = 8,
    max_rank: int = 2,
    max_side: int = 4,
    labels: bool = True,
    ids: bool = True,
    names: SearchStrategy[str] | None = None,
    allow_nan: bool = True,
    allow_infinity: bool = True,
    all_bit_patterns: bool = False,
) -> SearchStrategy[RecordBatch]:
    """Valid `RecordBatch` objects.

    Parameters
    ----------
    min_records, max_records : int
        Bounds of the number of records N.
    kinds : subset of ``("dense", "sparse", "ragged", "strings")``
        Column kinds to draw from.
    dtypes : subset of ``("float32", "float64", "int32")``
        Tensor dtypes of the numeric columns.
    max_columns : int
        Keys per map (``features``, ``label``), at most.
    max_features : int
        Values per record in one column, at most (a dense record's size, a sparse record's
        stored entries, a ragged record's length).
    max_rank, max_side : int
        Rank and largest side of a record shape (dense: rank 1..max_rank in ``features``,
        0..max_rank in ``label``; sparse: rank 1 or 2).
    labels : bool
        Draw ``label`` columns too.
    ids : bool
        Draw ``uid``, ``metadata`` and ``configuration`` strings (each present or not).
    names : strategy of str, optional
        Column names (default: ``"values"``, ``"in0"``, ``"in1"``, ``"score"`` or short text).
    allow_nan, allow_infinity : bool
        Non-finite floats.
    all_bit_patterns : bool
        Floats as raw bits (NaN payloads, ``-0.0``, subnormals), for bit-exact binary round
        trips (compare with ``batch.equals(other, bitwise=True)``).

    A ragged column has records of different lengths or records without the key (so a
    batch of fewer than 2 records has none); a strings column has at least one string.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=20, deadline=None)
    ... @given(record_batches(max_records=3, kinds=("dense",), dtypes=("float32",)))
    ... def test(batch):
    ...     assert len(batch) <= 3
    ...     assert all(c.dtype == "float32" for c in batch.features.values())
    >>> test()
    """
    if not 0 <= min_records <= max_records:
        raise ValueError("need 0 <= min_records <= max_records")
    b = _Bounds(
        kinds=kinds,
        dtypes=dtypes,
        max_features=max_features,
        max_rank=max_rank,
        max_side=max_side,
        allow_nan=allow_nan,
        allow_infinity=allow_infinity,
        all_bit_patterns=all_bit_patterns,
    )
    return _batches(
        b,
        min_records=min_records,
        max_records=max_records,
        max_columns=max_columns,
        labels=labels,
        features=True,
        ids=ids,
        names=_DEFAULT_NAMES if names is None else names,
    )


# ======================================================================================
# Valid payloads
# ======================================================================================

Example = tuple[bytes, RecordBatch]

_JSON_RESERVED = frozenset({"features", "data", "label", "uid", "metadata", "configuration"})


def _json_name(s: str) -> str:
    return s + "_" if s in _JSON_RESERVED else s


def _json_configuration(s: str) -> str:
    # a configuration that is JSON object text is written as the object itself (and read
    # back in canonical form): keep generated ones plain strings
    return "c" + s if s[:1] == "{" else s


def _text_bounds(kinds: Collection[str], *, allow_nan: bool) -> _Bounds:
    return _Bounds(
        kinds=kinds,
        dtypes=("float64",),
        max_features=6,
        max_rank=1,
        max_side=6,
        allow_nan=allow_nan,
        allow_infinity=allow_nan,
        all_bit_patterns=False,
        text_numbers=True,
    )


@st.composite
def _csv_request(draw: st.DrawFn, media_type: str, params: dict[str, str]) -> Example:
    label_size = int(params.get("label_size", "0").strip() or 0)
    n = draw(st.integers(1, 5))
    k = draw(st.integers(1, 5))
    b = _text_bounds(("dense",), allow_nan=True)
    X = draw(b.array(np.dtype(np.float64), (n, k)))
    label: dict[str, np.ndarray] = {}
    if label_size:
        label["values"] = draw(b.array(np.dtype(np.float64), (n,) if label_size == 1 else (n, label_size)))
    batch = RecordBatch({"values": X}, label, n=n)
    return encode_request(batch, media_type), batch


@st.composite
def _csv_response(draw: st.DrawFn, media_type: str, params: dict[str, str]) -> Example:
    """k scalar outputs; read back as ``label["values"]`` (N,) or (N, k), or by their
    names with ``header=present``."""
    n = draw(st.integers(1, 5))
    k = draw(st.integers(1, 4))
    b = _text_bounds(("dense",), allow_nan=True)
    cols = [draw(b.array(np.dtype(np.float64), (n,))) for _ in range(k)]
    written = RecordBatch(label={f"out{i}": c for i, c in enumerate(cols)}, n=n)
    body = encode_response(written, media_type)
    if params.get("header", "").strip().lower() == "present":
        return body, written
    expected = RecordBatch(label={"values": cols[0] if k == 1 else np.stack(cols, axis=1)}, n=n)
    return body, expected


def _json_batches(*, response: bool) -> SearchStrategy[RecordBatch]:
    kinds = ("dense", "ragged", "strings") if response else KINDS
    b = _text_bounds(kinds, allow_nan=False)
    return _batches(
        b,
        min_records=1,
        max_records=5,
        max_columns=2,
        labels=True,
        features=not response,
        ids=not response,
        names=_DEFAULT_NAMES if response else _DEFAULT_NAMES.map(_json_name),
        min_columns=1 if response else 0,
        configuration_text=_json_configuration,
    )


@st.composite
def _text_json(draw: st.DrawFn, media_type: str, response: bool) -> Example:
    batch = draw(_json_batches(response=response))
    body = encode_response(batch, media_type) if response else encode_request(batch, media_type)
    return body, batch


@st.composite
def _recordio(draw: st.DrawFn, media_type: str, response: bool) -> Example:
    b = _Bounds(
        kinds=KINDS,
        dtypes=DTYPES,
        max_features=8,
        max_rank=2,
        max_side=4,
        allow_nan=True,
        allow_infinity=True,
        all_bit_patterns=True,
    )
    batch = draw(
        _batches(
            b,
            min_records=1,
            max_records=5,
            max_columns=2,
            labels=True,
            features=not response,
            ids=not response,
            names=_DEFAULT_NAMES,
            min_columns=1 if response else 0,
        )
    )
    body = encode_response(batch, media_type) if response else encode_request(batch, media_type)
    return body, batch


@st.composite
def _npy(draw: st.DrawFn, media_type: str, response: bool) -> Example:
    dtype = draw(st.sampled_from([np.dtype(d) for d in DTYPES]))
    n = draw(st.integers(1, 5))
    b = _Bounds(
        kinds=("dense",),
        dtypes=DTYPES,
        max_features=8,
        max_rank=2,
        max_side=4,
        allow_nan=True,
        allow_infinity=True,
        all_bit_patterns=True,
    )
    shape = _record_shape(draw, b, 0 if response else 1, 2)
    arr: np.ndarray = draw(b.array(dtype, (n, *shape)))
    if response:
        return encode_response(arr, media_type), RecordBatch(label={"predictions": arr}, n=n)
    return encode_request(arr, media_type), RecordBatch({"values": arr}, n=n)


@st.composite
def _libsvm(draw: st.DrawFn, media_type: str) -> Example:
    """Sorted unique indices; the last column holds an entry (the width is read as the
    largest index + 1); a label on every row."""
    n = draw(st.integers(1, 5))
    width = draw(st.integers(1, 12))
    rows = [sorted(draw(st.sets(st.integers(0, width - 1), max_size=min(width, 6)))) for _ in range(n)]
    if not any(width - 1 in r for r in rows):
        rows[0] = sorted({*rows[0], width - 1})
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    b = _text_bounds(("dense",), allow_nan=True)
    data = draw(b.array(np.dtype(np.float64), (int(indptr[-1]),)))
    m = sp.csr_array((data, np.array([i for r in rows for i in r], np.int32), indptr), shape=(n, width))
    y = draw(b.array(np.dtype(np.float64), (n,)))
    batch = RecordBatch({"values": m}, {"values": y}, n=n)
    return encode_request(batch, media_type), batch


def _algorithm_essence(name: str, media_type: str) -> str:
    """The media type's essence, or ValueError when `name` does not write it."""
    schema = algorithms.get(name)
    essence = MediaType.parse(media_type).essence
    essence = "application/jsonlines" if essence == "application/x-jsonlines" else essence
    if essence not in schema.accept:
        raise ValueError(f"{schema.title} does not write {essence}; it writes {', '.join(schema.accept)}")
    return essence


@st.composite
def _algorithm(draw: st.DrawFn, name: str, media_type: str) -> Example:
    schema = algorithms.get(name)
    media = MediaType.parse(media_type)
    essence = _algorithm_essence(name, media_type)
    verbose = media.params.get("verbose", "false").strip().lower() == "true"
    variants = [v for v in schema.variants if not schema.verbose or v.verbose == verbose]
    var = draw(st.sampled_from(variants))
    n = draw(st.integers(1, 5))
    width = draw(st.integers(1, 4))
    finite = essence != "application/x-recordio-protobuf"
    # RecordIO writes a one-value vector like a scalar: where another variant has the same
    # output as a scalar (Linear Learner's score), a vector needs two values to be told apart
    scalars = {o.name for v in schema.variants for o in v.outputs if o.kind == "scalar"}
    label: dict[str, np.ndarray] = {}
    for out in var.outputs:
        if out.kind == "vector" and not finite and out.name in scalars:
            width = max(width, 2)
        shape = (n,) if out.kind == "scalar" else (n, width)
        label[out.name] = draw(values(np.float32, shape, allow_nan=not finite, allow_infinity=not finite))
    written = RecordBatch(label=label, n=n)
    body = encode_response(written, media_type, algorithm=name)
    if essence == "application/x-recordio-protobuf":
        return body, written
    return body, RecordBatch(label={k: v.astype(np.float64) for k, v in label.items()}, n=n)


def encoded_batches(
    media_type: str, *, response: bool = False, algorithm: str | None = None
) -> SearchStrategy[Example]:
    """Valid bodies of `media_type` with the batch each decodes to: ``(body, batch)``.

    ``smp.decode_request(body, media_type) == batch`` (``decode_response`` with
    ``response=True``, and ``decode_response(body, media_type, algorithm=algorithm)`` for an
    algorithm's responses); equality is NaN-aware, and bit-exact for the binary formats
    (RecordIO-protobuf, npy), whose floats are drawn as raw bits.

    What each media type carries (by default decoders read numbers from text as float64,
    so text formats are drawn as float64 columns; their text still comes from float32
    values and integers too):

    * ``application/x-recordio-protobuf``: every column kind and dtype, labels, ``uid``,
      ``metadata``, ``configuration``; responses: outputs in ``label``.
    * ``application/json``, ``application/jsonlines``: dense, sparse, ragged and string
      columns, labels and ids (requests), output columns (responses); finite numbers.
    * ``text/csv``: ``features["values"]`` (N, k) and, with ``label_size=L``, the label
      (``header=present`` writes a header row); responses: one or more scalar outputs,
      read back as ``label["values"]``.
    * ``application/x-npy``: one array of float32, float64 or int32.
    * ``text/libsvm``: a CSR matrix and a label per row (requests only).

    With `algorithm` (``"kmeans"``, ``"pca"``, ... see `smp.algorithms.SCHEMAS`), the
    algorithm's own responses for `media_type` (``verbose=true`` picks k-NN's and IP
    Insights' verbose outputs), one of its variants per example.

    Raises ValueError for a media type with no strategy (a codec registered by the user)
    or one the algorithm does not write.
    """
    if algorithm is not None:
        _algorithm_essence(algorithm, media_type)  # fail early: unknown name, unwritten type
        return _algorithm(algorithm, media_type)
    codec = get_codec(media_type)  # UnsupportedMediaTypeError for an unknown type
    essence = codec.content_type
    params = dict(MediaType.parse(media_type).params)
    if response and not codec.capabilities.responses:
        raise ValueError(f"{essence} is a request format only")
    if essence == "text/csv":
        return _csv_response(media_type, params) if response else _csv_request(media_type, params)
    if essence in ("application/json", "application/jsonlines"):
        return _text_json(media_type, response)
    if essence == "application/x-recordio-protobuf":
        return _recordio(media_type, response)
    if essence == "application/x-npy":
        return _npy(media_type, response)
    if essence == "text/libsvm":
        return _libsvm(media_type)
    raise ValueError(f"no payload strategy for {essence} (a codec registered outside sm_payloads)")


def payloads(
    media_type: str, *, response: bool = False, algorithm: str | None = None
) -> SearchStrategy[bytes]:
    """Valid request (or, with ``response=True``, response) bodies of `media_type`,
    parameters included (``"text/csv;label_size=1"``); with `algorithm`, that built-in
    algorithm's responses (``payloads("application/json", algorithm="pca")``).

    See `encoded_batches` for what each type carries and for the decoded batches.

    >>> from hypothesis import given, settings
    >>> import sm_payloads as smp
    >>> @settings(max_examples=20, deadline=None)
    ... @given(payloads("text/csv;label_size=1"))
    ... def test(body):
    ...     assert "values" in smp.decode_request(body, "text/csv;label_size=1").label
    >>> test()
    """
    return encoded_batches(media_type, response=response, algorithm=algorithm).map(lambda e: e[0])


# ======================================================================================
# Nearly valid payloads
# ======================================================================================

Mutation = Callable[[bytes, st.DrawFn], bytes]


def _at(draw: st.DrawFn, body: bytes, *, inclusive: bool = True) -> int:
    """A position in `body` (shrinks towards the start)."""
    top = len(body) if inclusive else max(0, len(body) - 1)
    return draw(st.integers(0, top))


def _truncate(body: bytes, draw: st.DrawFn) -> bytes:
    return body[: _at(draw, body)]


def _insert(body: bytes, draw: st.DrawFn) -> bytes:
    i = _at(draw, body)
    junk = draw(st.sampled_from([b"\x00", b"\xff", b" ", b"\n", b",", b"]", b"{", b'"', b"\\", b"\r"]))
    return body[:i] + junk + body[i:]


def _overwrite(body: bytes, draw: st.DrawFn) -> bytes:
    if not body:
        return b"\x00"
    i = _at(draw, body, inclusive=False)
    return body[:i] + bytes([draw(st.integers(0, 255))]) + body[i + 1 :]


def _duplicate(body: bytes, draw: st.DrawFn) -> bytes:
    i = _at(draw, body)
    j = draw(st.integers(i, len(body)))
    return body[:j] + body[i:j] + body[j:]


_BAD_UTF8 = (b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80")


def _bad_utf8(body: bytes, draw: st.DrawFn) -> bytes:
    i = _at(draw, body)
    return body[:i] + draw(st.sampled_from(_BAD_UTF8)) + body[i:]


_GENERIC: tuple[Mutation, ...] = (_truncate, _overwrite, _insert, _duplicate)


# -- RecordIO-protobuf -----------------------------------------------------------------


def _frames(body: bytes) -> list[tuple[int, int]]:
    """(header offset, payload length) of each plain frame of a valid body."""
    out = []
    pos = 0
    while pos + 8 <= len(body):
        length = struct.unpack_from("<I", body, pos + 4)[0] & ((1 << 29) - 1)
        out.append((pos, length))
        pos += 8 + length + (-length % 4)
    return out


def _rio_length(body: bytes, draw: st.DrawFn) -> bytes:
    frames = _frames(body)
    if not frames:
        return body
    at, length = draw(st.sampled_from(frames))
    new = draw(
        st.sampled_from(
            [
                length + 1,
                length - 1,
                length + 4,
                (1 << 29) - 1,
                0,
                length | (1 << 29),
                length | (3 << 29),
                2**32 - 1,
            ]
        )
    )
    return body[: at + 4] + struct.pack("<I", new % 2**32) + body[at + 8 :]


def _rio_magic(body: bytes, draw: st.DrawFn) -> bytes:
    frames = _frames(body)
    if not frames:
        return b"\x0a\x23\xd7\xcf" + body
    at, _ = draw(st.sampled_from(frames))
    bad = draw(st.sampled_from([b"\x0a\x23\xd7\xcf", b"\x00\x00\x00\x00", b"\xce\xd7\x23\x0a"]))
    return body[:at] + bad + body[at + 4 :]


def _rio_padding(body: bytes, draw: st.DrawFn) -> bytes:
    """Drop the last frame's padding, or add trailing bytes / a bare header."""
    tail = draw(st.sampled_from([b"", b"\x00", MAGIC_BYTES, MAGIC_BYTES + b"\x04\x00\x00\x00"]))
    cut = draw(st.integers(0, 3))
    return (body[: len(body) - cut] if cut else body) + tail


def _proto_fields(buf: bytes, start: int, end: int, depth: int = 0) -> list[tuple[int, int, int]]:
    """(offset of the length varint, its size, offset of content) of every
    length-delimited field, recursively (a best-effort walk of a valid message)."""
    out: list[tuple[int, int, int]] = []
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        if pos < 0:
            return out
        wt = tag & 7
        if wt == 0:
            _, pos = _varint(buf, pos)
            if pos < 0:
                return out
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        elif wt == 2:
            at = pos
            length, pos = _varint(buf, pos)
            if pos < 0 or pos + length > end:
                return out
            out.append((at, pos - at, pos))
            if depth < 6:
                out += _proto_fields(buf, pos, pos + length, depth + 1)
            pos += length
        else:
            return out
    return out


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(buf) and shift < 70:
        b = buf[pos]
        value |= (b & 0x7F) << shift
        pos += 1
        shift += 7
        if not b & 0x80:
            return value, pos
    return 0, -1


def _payload_mutation(payload: bytes, draw: st.DrawFn) -> bytes:
    """Break one protobuf field of a record: its length, its varint, its width."""
    fields = _proto_fields(payload, 0, len(payload))
    if not fields:
        return payload + b"\x0a"
    at, size, content = draw(st.sampled_from(fields))
    length, _ = _varint(payload, at)
    how = draw(
        st.sampled_from(["longer", "shorter", "huge", "unterminated", "overlong", "odd_width", "max_varint"])
    )
    if how == "longer":
        new = encode_varint(length + 1)
    elif how == "shorter":
        new = encode_varint(max(0, length - 1))
    elif how == "huge":
        new = encode_varint(2**62)
    elif how == "unterminated":
        return payload[:at] + b"\xff" * 11
    elif how == "overlong":
        new = b"\xff" * 10 + b"\x01"
    elif how == "max_varint":  # the field's content: one varint 2**64 - 1 (a packed shape or keys)
        big = encode_varint(2**64 - 1)
        return payload[:at] + encode_varint(len(big)) + big + payload[content + length :]
    else:  # a packed fixed-width field one byte short of its width
        if length == 0:
            return payload
        return (
            payload[:at]
            + encode_varint(length - 1)
            + payload[content : content + length - 1]
            + payload[content + length :]
        )
    return payload[:at] + new + payload[at + size :]


def _rio_payload(body: bytes, draw: st.DrawFn) -> bytes:
    """Mutate one record's protobuf bytes and frame the records again (valid framing,
    broken record)."""
    frames = _frames(body)
    if not frames:
        return body
    payloads = [body[at + 8 : at + 8 + n] for at, n in frames]
    i = draw(st.integers(0, len(payloads) - 1))
    payloads[i] = _payload_mutation(payloads[i], draw)
    return write_records(payloads, escape=False)


_RECORDIO: tuple[Mutation, ...] = (_rio_length, _rio_magic, _rio_padding, _rio_payload, *_GENERIC)


# -- JSON and JSON Lines -----------------------------------------------------------------

# Placeholders for text json.dumps cannot write: a number beyond float64, deep nesting.
_HUGE = "\x00HUGE\x00"
_DEEP = "\x00DEEP\x00"


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*path, i))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {k: (_replace(v, rest, value) if k == head else v) for k, v in node.items()}
    return [(_replace(v, rest, value) if i == head else v) for i, v in enumerate(node)]


def _json_value_mutation(doc: Any, draw: st.DrawFn) -> Any:
    paths = _paths(doc)
    path = draw(st.sampled_from(paths))
    value = draw(
        st.sampled_from(
            [
                math.nan,
                math.inf,
                -math.inf,
                _HUGE,
                None,
                "x",
                [],
                {},
                True,
                -1,
                2**64,
                0.5,
                [[[1.0]]],
                {"values": [1.0], "keys": [5], "shape": [2]},
                {"values": [1.0, 2.0], "keys": [0]},
                {"values": [1.0], "shape": [-1]},
                {"values": [], "shape": [2**40, 2**40]},
                {"values": [1.0], "keys": [0], "shape": [2**64 - 1]},
                {"values": [], "keys": [], "shape": [2**32, 2**32]},
                _DEEP,
            ]
        )
    )
    return _replace(doc, path, value)


def _json_key_mutation(doc: Any, draw: st.DrawFn) -> Any:
    """Rename, drop or add a key of one object (a wrong envelope, a missing field)."""
    objs = [p for p in _paths(doc) if isinstance(_get(doc, p), dict) and _get(doc, p)]
    if not objs:
        return {"instance": doc}
    path = draw(st.sampled_from(objs))
    obj = _get(doc, path)
    key = draw(st.sampled_from(sorted(obj)))
    how = draw(st.sampled_from(["rename", "drop", "add", "wrap"]))
    new = dict(obj)
    if how == "rename":
        swap = {
            "instances": "predictions",
            "predictions": "projections",
            "projections": "scores",
            "scores": "instances",
            "features": "data",
            "data": "features",
            "values": "keys",
            "keys": "shape",
            "shape": "values",
        }
        new[swap.get(key, key + "s")] = new.pop(key)
    elif how == "drop":
        new.pop(key)
    elif how == "add":
        new[draw(st.sampled_from(["predictions", "instances", "keys", "shape", "label", "extra"]))] = [1.0]
    else:
        return _replace(doc, path, [new])
    return _replace(doc, path, new)


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def _dumps(doc: Any, deep: int) -> bytes:
    text = json.dumps(doc, allow_nan=True)
    text = text.replace(json.dumps(_HUGE), "1e400").replace(json.dumps(_DEEP), "[" * deep + "]" * deep)
    return text.encode("utf-8", "surrogatepass")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # a body an earlier mutation nested 100,000 deep
        return None


def _json_doc(body: bytes, draw: st.DrawFn) -> bytes:
    doc = _parse_json(body)
    if doc is None:
        return body
    doc = _json_value_mutation(doc, draw) if draw(st.booleans()) else _json_key_mutation(doc, draw)
    return _dumps(doc, draw(st.sampled_from([2, 100, 5000, 100_000])))


def _json_text(body: bytes, draw: st.DrawFn) -> bytes:
    """Text-level breakage: trailing comma, unterminated string, bad escape, control char."""
    i = _at(draw, body)
    piece = draw(
        st.sampled_from([b",", b'"', b'"\\u12', b'"\\ud800"', b"\x01", b"}", b"]]", b"NaN", b"-Infinity"])
    )
    return body[:i] + piece + body[i:]


_JSON: tuple[Mutation, ...] = (_json_doc, _json_text, _bad_utf8, *_GENERIC)


def _jsonl_line(body: bytes, draw: st.DrawFn) -> bytes:
    lines = body.split(b"\n")
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    lines[i] = _json_doc(lines[i], draw) if draw(st.booleans()) else _json_text(lines[i], draw)
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\n\n"]))
    return sep.join(lines)


_JSONL: tuple[Mutation, ...] = (_jsonl_line, _json_text, _bad_utf8, *_GENERIC)


# -- CSV and libsvm ----------------------------------------------------------------------


def _csv_rows(body: bytes, draw: st.DrawFn) -> bytes:
    """A ragged row (a field more or less), a field that is no number, a stray quote."""
    rows = body.split(b"\n")
    i = draw(st.integers(0, max(0, len(rows) - 1)))
    row = rows[i]
    how = draw(st.sampled_from(["extra", "missing", "word", "quote", "empty", "cr", "huge"]))
    fields = row.split(b",")
    if how == "extra":
        fields.append(b"1")
    elif how == "missing" and len(fields) > 1:
        fields.pop()
    elif how == "word":
        fields[draw(st.integers(0, len(fields) - 1))] = draw(
            st.sampled_from([b"abc", b"1.2.3", b"0x10", b"1e999", b"--1", b"nan(1)", b"\xef\xbb\xbf1"])
        )
    elif how == "quote":
        fields[draw(st.integers(0, len(fields) - 1))] += b'"'
    elif how == "empty":
        fields[draw(st.integers(0, len(fields) - 1))] = b""
    elif how == "cr":
        fields[-1] += b"\r"
    else:
        fields.append(b"9" * 400)
    rows[i] = b",".join(fields)
    return b"\n".join(rows)


_CSV: tuple[Mutation, ...] = (_csv_rows, _bad_utf8, *_GENERIC)


def _libsvm_tokens(body: bytes, draw: st.DrawFn) -> bytes:
    rows = body.split(b"\n")
    i = draw(st.integers(0, max(0, len(rows) - 1)))
    tokens = rows[i].split(b" ")
    bad = draw(
        st.sampled_from(
            [
                b"-1:1",
                b"x:1",
                b"1:",
                b":2",
                b"1099511627776:1",
                b"1:nan",
                b"1:1:1",
                b"qid:x",
                b"qid:-1",
                b"0:1 0:2",
                b"#c",
            ]
        )
    )
    tokens.insert(draw(st.integers(0, len(tokens))), bad)
    rows[i] = b" ".join(tokens)
    return b"\n".join(rows)


_LIBSVM: tuple[Mutation, ...] = (_libsvm_tokens, _bad_utf8, *_GENERIC)


# -- npy ---------------------------------------------------------------------------------


def _npy_header(body: bytes, draw: st.DrawFn) -> bytes:
    """Break the magic, the version, the header length word or the header dict."""
    if len(body) < 10:
        return body
    how = draw(st.sampled_from(["magic", "version", "hlen", "descr", "shape", "fortran", "data"]))
    if how == "magic":
        return b"\x93NUMPZ" + body[6:]
    if how == "version":
        return (
            body[:6] + draw(st.sampled_from([b"\x04\x00", b"\x00\x00", b"\x02\x00", b"\x03\x00"])) + body[8:]
        )
    if how == "hlen":
        return body[:8] + struct.pack("<H", draw(st.sampled_from([0, 1, 0xFFFF, len(body)]))) + body[10:]
    hlen = struct.unpack_from("<H", body, 8)[0]
    header = body[10 : 10 + hlen].decode("latin-1")
    data = body[10 + hlen :]
    if how == "descr":
        new = draw(
            st.sampled_from(
                ["'|O'", "'<c32'", "'V8'", "'<U'", "'<f3'", "'>i8'", "[('a', '<f4')]", "'<M8[xs]'"]
            )
        )
        header = _swap_value(header, "descr", new)
    elif how == "shape":
        new = draw(
            st.sampled_from(
                ["(-1,)", "(2**40,)", "(4294967296, 4294967296)", "(1,) * 65", "(", "(1.5,)", "()"]
            )
        )
        header = _swap_value(header, "shape", new)
    elif how == "fortran":
        header = _swap_value(header, "fortran_order", draw(st.sampled_from(["1", "None", "'yes'"])))
    else:
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    head = header.encode("latin-1")
    return body[:8] + struct.pack("<H", len(head)) + head + data


def _swap_value(header: str, key: str, new: str) -> str:
    at = header.find(f"'{key}':")
    if at < 0:
        return header
    start = at + len(key) + 3
    end = start
    depth = 0
    while end < len(header):
        ch = header[end]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            break
        end += 1
    return header[:start] + " " + new + header[end:]


_NPY: tuple[Mutation, ...] = (_npy_header, *_GENERIC)


def _mutations_for(essence: str) -> tuple[Mutation, ...]:
    return {
        "application/x-recordio-protobuf": _RECORDIO,
        "application/json": _JSON,
        "application/jsonlines": _JSONL,
        "text/csv": _CSV,
        "text/libsvm": _LIBSVM,
        "application/x-npy": _NPY,
    }.get(essence, _GENERIC)


@st.composite
def _mutated(
    draw: st.DrawFn, valid: SearchStrategy[bytes], mutations: Sequence[Mutation], max_mutations: int
) -> bytes:
    body = draw(valid)
    count = draw(st.integers(1, max_mutations))
    for _ in range(count):
        body = draw(st.sampled_from(mutations))(body, draw)
    return body


def mutated_payloads(
    media_type: str, *, response: bool = False, algorithm: str | None = None, max_mutations: int = 2
) -> SearchStrategy[bytes]:
    """Nearly valid bodies of `media_type`: a valid body from `payloads` with 1 to
    `max_mutations` structure-aware mutations.

    * every format: truncation, an overwritten, inserted or duplicated byte range;
    * RecordIO-protobuf: a frame's length word longer, shorter, oversized or with a cflag;
      a bad magic; missing padding or trailing bytes; inside one record (framed again, so
      the framing is right and the record wrong) a protobuf length or varint too long,
      too short, unterminated or overlong, a packed float field one byte short, a packed
      field (a shape, keys) holding the varint 2**64 - 1;
    * JSON and JSON Lines: ``NaN`` / ``Infinity`` where JSON forbids them, ``1e400``,
      values of the wrong type, sparse tensors with keys out of range, mismatched keys and
      values, negative or huge shapes (up to 2**64 - 1 elements), nesting thousands deep;
      a renamed, dropped or added key (a wrong envelope: ``predictions`` for
      ``instances``...); trailing commas,
      unterminated strings, bad escapes and lone surrogates; bad UTF-8;
    * CSV: a row with a field more or less, a field that is no number, a stray quote, a
      huge number; bad UTF-8;
    * libsvm: negative, non-numeric or huge indices, ``nan`` values, duplicate indices, bad
      ``qid``; bad UTF-8;
    * npy: bad magic, unknown version, a header length word that lies, unknown or object
      ``descr``, negative, huge or malformed ``shape``, a bad ``fortran_order``, data cut
      short.

    A mutated body may still be valid (a decoder must then return a batch) or not (a
    decoder must raise one of the library's typed errors, nothing else).
    """
    if max_mutations < 1:
        raise ValueError("max_mutations must be at least 1")
    if algorithm is not None:
        essence = MediaType.parse(media_type).essence
    else:
        essence = get_codec(media_type).content_type
    essence = "application/jsonlines" if essence == "application/x-jsonlines" else essence
    valid = payloads(media_type, response=response, algorithm=algorithm)
    return _mutated(valid, _mutations_for(essence), max_mutations)
