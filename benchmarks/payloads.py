"""Seeded payload generators for the benchmarks.

Every generator takes an explicit seed, so two runs (or two machines) time the same bytes.
The default sizes are the targets of the RecordIO-protobuf performance issue:

* dense: 100,000 x 100 float32 features with one float32 label per row;
* sparse: 100,000 x 10,000 CSR float32 features at density 0.001 (about 10 non-zeros
  per row, 1,000,000 in all) with one float32 label per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

DENSE_ROWS = 100_000
DENSE_COLS = 100
SPARSE_ROWS = 100_000
SPARSE_COLS = 10_000
SPARSE_DENSITY = 0.001

DENSE_SEED = 20240501
SPARSE_SEED = 20240502


class Dense(NamedTuple):
    X: np.ndarray  # (rows, cols) float32, C-contiguous
    y: np.ndarray  # (rows,) float32


class SparseData(NamedTuple):
    X: sp.csr_matrix  # (rows, cols) float32, canonical CSR (sorted, unique indices)
    y: np.ndarray  # (rows,) float32


def dense(rows: int = DENSE_ROWS, cols: int = DENSE_COLS, *, seed: int = DENSE_SEED) -> Dense:
    """Standard-normal float32 features and labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols), dtype=np.float32)
    y = rng.standard_normal(rows, dtype=np.float32)
    return Dense(X, y)


def dense_chunks(
    rows: int, cols: int = DENSE_COLS, *, chunk_rows: int = 100_000, seed: int = DENSE_SEED
) -> Iterator[Dense]:
    """Yield `Dense` chunks that together hold `rows` rows, from one seeded stream.

    Only one chunk is alive at a time, so a multi-gigabyte file can be written with a
    generator that stays small.
    """
    rng = np.random.default_rng(seed)
    done = 0
    while done < rows:
        n = min(chunk_rows, rows - done)
        X = rng.standard_normal((n, cols), dtype=np.float32)
        y = rng.standard_normal(n, dtype=np.float32)
        yield Dense(X, y)
        done += n


def sparse(
    rows: int = SPARSE_ROWS,
    cols: int = SPARSE_COLS,
    density: float = SPARSE_DENSITY,
    *,
    seed: int = SPARSE_SEED,
) -> SparseData:
    """Uniformly placed non-zeros (exactly round(rows * cols * density) of them).

    Positions are drawn without replacement over the whole matrix, so a row has a
    binomial-like number of entries (some rows are empty, as in real one-hot data).
    Values are standard normal float32 (never exactly zero in practice).
    """
    rng = np.random.default_rng(seed)
    nnz = round(rows * cols * density)
    flat = np.sort(rng.choice(rows * cols, size=nnz, replace=False))
    row = flat // cols
    indices = (flat % cols).astype(np.int32)
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=rows), out=indptr[1:])
    values = rng.standard_normal(nnz, dtype=np.float32)
    X = sp.csr_matrix((values, indices, indptr), shape=(rows, cols))
    y = rng.standard_normal(rows, dtype=np.float32)
    return SparseData(X, y)
