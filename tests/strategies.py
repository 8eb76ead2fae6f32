"""Hypothesis strategies: the single source of generated data for the tests.

Built on the public `sm_payloads.testing` (so our own suite exercises what users get);
the names here are the suite's older spellings, with the suite's bounds: floats as raw
bits (for bit-exact round trips), column names as short arbitrary text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import sm_payloads as smp
from sm_payloads import testing

DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)]

#: The suite's bounds on batches (wider than `testing.record_batches`' defaults).
BOUNDS: dict[str, Any] = {
    "max_columns": 3,
    "max_features": 16,
    "max_rank": 3,
    "max_side": 4,
    "names": st.text(max_size=6),
    "all_bit_patterns": True,
}


def arrays(dtype: np.dtype, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Arrays of every bit pattern (floats) or every int32 value (integer dtypes)."""
    if np.dtype(dtype) in DTYPES:
        return testing.values(dtype, shape, all_bit_patterns=True)
    return hnp.arrays(dtype, shape, elements=st.integers(-(2**31), 2**31 - 1))


def columns(n: int, map_name: str, kinds: tuple[str, ...]) -> st.SearchStrategy[Any]:
    bounds = {k: v for k, v in BOUNDS.items() if k not in ("names", "max_columns")}
    return testing.columns(n, map_name, kinds=kinds, **bounds)


def dense_columns(n: int, map_name: str) -> st.SearchStrategy[np.ndarray]:
    return columns(n, map_name, ("dense",))


def sparse_columns(n: int) -> st.SearchStrategy[Any]:
    return columns(n, "features", ("sparse",))


def ragged_columns(n: int) -> st.SearchStrategy[smp.Ragged]:
    """A ragged column (records of different lengths, or some without the key); n >= 2."""
    return columns(n, "features", ("ragged",))


def string_columns(n: int) -> st.SearchStrategy[np.ndarray]:
    return columns(n, "features", ("strings",))


def record_batches(
    *,
    min_records: int = 1,
    max_records: int = 6,
    kinds: tuple[str, ...] = ("dense", "sparse", "ragged", "strings"),
    with_strings: bool = True,
) -> st.SearchStrategy[smp.RecordBatch]:
    return testing.record_batches(
        min_records=min_records, max_records=max_records, kinds=kinds, ids=with_strings, **BOUNDS
    )


def dense_matrices(dtype: Any = None, max_rows: int = 8, max_cols: int = 6) -> st.SearchStrategy[np.ndarray]:
    dt = st.sampled_from(DTYPES) if dtype is None else st.just(np.dtype(dtype))
    return st.tuples(dt, st.integers(1, max_rows), st.integers(0, max_cols)).flatmap(
        lambda t: arrays(t[0], (t[1], t[2]))
    )
