"""Hypothesis strategies: the single source of generated data for the tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp

DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)]


def arrays(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    if dtype.kind == "f":
        bits = np.dtype(f"<u{dtype.itemsize}")
        return hnp.arrays(bits, shape, elements=st.integers(0, 2 ** (8 * dtype.itemsize) - 1)).map(
            lambda a: a.view(dtype.newbyteorder("<")).astype(dtype)
        )
    return hnp.arrays(dtype, shape, elements=st.integers(-(2**31), 2**31 - 1))


@st.composite
def dense_columns(draw: Any, n: int, map_name: str) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    min_rank = 1 if map_name == "features" else 0  # a features scalar reads back as (N, 1)
    rank = draw(st.integers(min_rank, 3))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank)))
    return draw(arrays(dtype, (n, *shape)))


@st.composite
def sparse_columns(draw: Any, n: int) -> Any:
    dtype = draw(st.sampled_from(DTYPES))
    rank = draw(st.integers(1, 2))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    width = int(np.prod(shape))
    counts = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    indices = [draw(st.lists(st.integers(0, width - 1), min_size=c, max_size=c)) for c in counts]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    flat = np.array([i for row in indices for i in row], dtype=np.int64)
    data = draw(arrays(dtype, (flat.size,)))
    m = sp.csr_array((data, flat, indptr), shape=(n, width))
    return m if rank == 1 else smp.Sparse(m, shape)


@st.composite
def ragged_columns(draw: Any, n: int) -> smp.Ragged:
    dtype = draw(st.sampled_from(DTYPES))
    lengths = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    valid = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    # The canonical ragged column: records differ in length, or some lack the key, and at
    # least one record has it (otherwise it is a dense column, or no column at all).
    assume(any(valid))
    assume(not all(valid) or len(set(lengths)) > 1)
    rows = [draw(arrays(dtype, (k,))) if v else None for k, v in zip(lengths, valid, strict=True)]
    return smp.Ragged.from_lists(rows, dtype=dtype)


@st.composite
def string_columns(draw: Any, n: int) -> np.ndarray:
    text = st.text(max_size=8)
    entry = st.one_of(st.none(), text, st.lists(text, min_size=2, max_size=3), st.just([]))
    rows = draw(st.lists(entry, min_size=n, max_size=n))
    if all(r is None for r in rows):
        rows[0] = draw(text)
    out = np.empty(n, dtype=object)
    out[:] = rows
    return out


def columns(n: int, map_name: str, kinds: tuple[str, ...]) -> st.SearchStrategy[Any]:
    options = {
        "dense": dense_columns(n, map_name),
        "sparse": sparse_columns(n),
        "ragged": ragged_columns(n),
        "strings": string_columns(n),
    }
    return st.one_of(*(options[k] for k in kinds))


@st.composite
def record_batches(
    draw: Any,
    *,
    min_records: int = 1,
    max_records: int = 6,
    kinds: tuple[str, ...] = ("dense", "sparse", "ragged", "strings"),
    with_strings: bool = True,
) -> smp.RecordBatch:
    n = draw(st.integers(min_records, max_records))
    keys = st.text(max_size=6)
    maps = {}
    for map_name in ("features", "label"):
        names = draw(st.lists(keys, max_size=3, unique=True))
        maps[map_name] = {k: draw(columns(n, map_name, kinds)) for k in names}
    strings = {}
    for s in ("uid", "metadata", "configuration"):
        if with_strings and draw(st.booleans()):
            vals = draw(st.lists(st.one_of(st.none(), st.text(max_size=6)), min_size=n, max_size=n))
            strings[s] = vals if any(v is not None for v in vals) else None
    return smp.RecordBatch(maps["features"], maps["label"], n=n, **strings)


def dense_matrices(dtype: Any = None, max_rows: int = 8, max_cols: int = 6) -> st.SearchStrategy[np.ndarray]:
    dt = st.sampled_from(DTYPES) if dtype is None else st.just(np.dtype(dtype))
    return st.tuples(dt, st.integers(1, max_rows), st.integers(0, max_cols)).flatmap(
        lambda t: arrays(t[0], (t[1], t[2]))
    )
