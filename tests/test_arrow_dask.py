"""smp.dask with Parquet-backed dask DataFrames, on Dask's local scheduler: a partition goes
through Arrow and `from_arrow` to the encoder (the bytes of the numpy path and of the
SageMaker SDK v2), with numpy, pandas-nullable and Arrow-backed columns and list columns;
and the dataframes `read_*` gives are written by ``.to_parquet()`` and read back by the
command line and by ``dd.read_parquet`` to the same shards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("fsspec")
pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

import dask
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import sm_payloads as smp
import sm_payloads.dask as smd
from sm_payloads import cli
from sm_payloads.formats import csv as csv_codec
from sm_payloads.formats import jsonlines as jl_codec
from sm_payloads.formats import recordio_protobuf as rp

F32 = np.float32
# dask's read_parquet calls DataFrame.reset_index(inplace=True), which pandas 3.1 deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:pandas.errors.Pandas4Warning")


@pytest.fixture(autouse=True)
def local_scheduler() -> Iterator[None]:
    with dask.config.set(scheduler="threads"):
        yield


def shards(d: Path) -> list[bytes]:
    return [(d / n).read_bytes() for n in sorted(os.listdir(d))]


def frame(rows: int = 23, seed: int = 3, payload: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 4), dtype=F32)
    X[1, 2] = -0.0
    # a NaN with a payload, or numpy's NaN (pandas' missing value, a null in Parquet)
    X[2, 0] = np.uint32(0x7FC00123).view(F32) if payload else np.nan
    X[3, 1] = np.float32(16777217.0)
    y = rng.integers(0, 2, rows).astype(F32)
    return pd.DataFrame({"y": y, **{f"x{i}": X[:, i] for i in range(4)}})


def features(pdf: pd.DataFrame) -> np.ndarray:
    return pdf[[f"x{i}" for i in range(4)]].to_numpy()


@pytest.fixture
def parquet_dir(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A dataset of three Parquet files (8, 8 and 7 rows), as Spark writes one: no nulls
    (the NaN with a payload is a value)."""
    pdf = frame()
    d = tmp_path / "pq"
    d.mkdir()
    for i, (a, b) in enumerate([(0, 8), (8, 16), (16, 23)]):
        part = pdf.iloc[a:b]
        pq.write_table(
            pa.table({c: pa.array(part[c].to_numpy()) for c in pdf.columns}), d / f"part.{i}.parquet"
        )
    return d, pdf


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow"])
def test_read_parquet_to_recordio_equals_the_numpy_path(
    tmp_path: Path, parquet_dir: tuple[Path, pd.DataFrame], backend: str
) -> None:
    src, pdf = parquet_dir
    ddf = dd.read_parquet(str(src), dtype_backend=backend)
    assert ddf.npartitions == 3
    smd.to_recordio(ddf, str(tmp_path / "out"), label="y")
    got = shards(tmp_path / "out")
    X = features(pdf).copy()
    if backend == "numpy_nullable":  # pandas reads a NaN into Float32 as <NA>: NaN, no payload
        X[2, 0] = np.nan
    y = pdf["y"].to_numpy()
    want = [rp.encode(smp.from_dense(X[a:b], y[a:b])) for a, b in [(0, 8), (8, 16), (16, 23)]]
    assert got == want
    # and the command line's conversion of each file, byte for byte
    for i, shard in enumerate(got if backend == "pyarrow" else []):
        out = tmp_path / f"cli{i}.rec"
        assert cli.main(["convert", str(src / f"part.{i}.parquet"), str(out), "--label", "y", "-q"]) == 0
        assert out.read_bytes() == shard


@pytest.mark.sdk
def test_read_parquet_to_recordio_is_the_sdks_bytes(
    tmp_path: Path, parquet_dir: tuple[Path, pd.DataFrame]
) -> None:
    common = pytest.importorskip("sagemaker.amazon.common")
    import io

    src, pdf = parquet_dir
    smd.to_recordio(dd.read_parquet(str(src)), str(tmp_path / "out"), label="y", sdk_compatible=True)
    X = features(pdf)
    y = pdf["y"].to_numpy()
    want = []
    for a, b in [(0, 8), (8, 16), (16, 23)]:
        buf = io.BytesIO()
        common.write_numpy_to_dense_tensor(buf, X[a:b], y[a:b])
        want.append(buf.getvalue())
    assert shards(tmp_path / "out") == want


def test_text_formats_equal_the_numpy_path(tmp_path: Path, parquet_dir: tuple[Path, pd.DataFrame]) -> None:
    src, pdf = parquet_dir
    ddf = dd.read_parquet(str(src), dtype_backend="pyarrow")
    X = features(pdf)
    y = pdf["y"].to_numpy()
    parts = [(0, 8), (8, 16), (16, 23)]
    # a NaN in CSV needs no option; JSON Lines needs allow_nan
    smd.to_csv(ddf, str(tmp_path / "csv"), label="y")
    want = [csv_codec.encode(smp.from_dense(X[a:b], y[a:b]), label_size=1) + b"\n" for a, b in parts]
    assert shards(tmp_path / "csv") == want
    smd.to_jsonlines(ddf, str(tmp_path / "jl"), label="y", allow_nan=True)
    want = [jl_codec.encode(smp.from_dense(X[a:b], y[a:b]), allow_nan=True) for a, b in parts]
    assert shards(tmp_path / "jl") == want


@pytest.mark.parametrize("backend", ["numpy_nullable", "pyarrow", None])
def test_nulls_of_parquet_are_nan_in_float_columns_and_refused_elsewhere(
    tmp_path: Path, backend: str
) -> None:
    """pandas writes NaN to Parquet as a null: read back in any dtype backend, it is NaN
    again, as the command line reads the file; a null integer is refused, naming it."""
    pdf = frame(rows=5, payload=False)
    pdf.to_parquet(tmp_path / "n.parquet")
    kw = {} if backend is None else {"dtype_backend": backend}
    smd.to_recordio(dd.read_parquet(str(tmp_path / "n.parquet"), **kw), str(tmp_path / "a"), label="y")
    assert (
        cli.main(["convert", str(tmp_path / "n.parquet"), str(tmp_path / "c.rec"), "--label", "y", "-q"]) == 0
    )
    assert shards(tmp_path / "a") == [(tmp_path / "c.rec").read_bytes()]
    assert shards(tmp_path / "a") == [rp.encode(smp.from_dense(features(pdf), pdf["y"].to_numpy()))]
    ints = pd.DataFrame({"x": pd.array([1, None, 3], dtype="Int64"), "y": [1.0, 0.0, 1.0]})
    with pytest.raises(smp.EncodeError) as e:
        smd.to_recordio(dd.from_pandas(ints, npartitions=1), str(tmp_path / "b"), label="y")
    assert str(e.value).startswith("x: record 1: null; a column of int64 holds no missing values")
    assert os.listdir(tmp_path / "b") == []


def test_nan_payloads_survive_a_numpy_partition(tmp_path: Path) -> None:
    pdf = frame(rows=5)
    smd.to_recordio(dd.from_pandas(pdf, npartitions=1), str(tmp_path / "a"), label="y")
    back = rp.decode(shards(tmp_path / "a")[0])
    assert back.features["values"].tobytes() == features(pdf).tobytes()  # 0x7FC00123 too


def test_list_columns_from_parquet(tmp_path: Path) -> None:
    """An embedding column (a list of float32 per row, as Spark writes arrays) is the one
    feature column: records of its lengths, the bytes of the dense rows when equal."""
    rng = np.random.default_rng(8)
    E = rng.standard_normal((6, 3), dtype=F32)
    table = pa.table(
        {
            "y": pa.array(np.arange(6, dtype=F32)),
            "emb": pa.ListArray.from_arrays(
                pa.array(np.arange(0, 19, 3, dtype=np.int32)), pa.array(E.ravel())
            ),
        }
    )
    pq.write_table(table, tmp_path / "e.parquet")
    for backend in ("numpy_nullable", "pyarrow"):
        out = tmp_path / f"out-{backend}"
        smd.to_recordio(
            dd.read_parquet(str(tmp_path / "e.parquet"), dtype_backend=backend), str(out), label="y"
        )
        assert shards(out) == [rp.encode(smp.from_dense(E, np.arange(6, dtype=F32)))]
    # rows of different lengths: each record holds its own
    ragged = pa.table({"emb": pa.array([[1.0, 2.0], [3.0], [4.0, 5.0, 6.0]], pa.list_(pa.float32()))})
    pq.write_table(ragged, tmp_path / "r.parquet")
    smd.to_jsonlines(dd.read_parquet(str(tmp_path / "r.parquet")), str(tmp_path / "rj"))
    assert shards(tmp_path / "rj") == [
        b'{"features":[1.0,2.0]}\n{"features":[3.0]}\n{"features":[4.0,5.0,6.0]}\n'
    ]


def test_empty_partitions_and_column_checks(tmp_path: Path) -> None:
    pdf = frame(rows=4)
    ddf = dd.from_pandas(pdf, npartitions=2)
    ddf = ddf[ddf["y"] > 5]  # every partition empty, the columns kept
    urls = smd.to_recordio(ddf, str(tmp_path / "e"), label="y")
    assert [os.path.getsize(u) for u in urls] == [0, 0]
    strings = dd.from_pandas(pd.DataFrame({"x": [1.0], "city": ["Oslo"]}), npartitions=1)
    with pytest.raises(smp.EncodeError, match=r"^city: is text"):
        smd.to_recordio(strings, str(tmp_path / "s"))
    assert not (tmp_path / "s").exists()  # refused on the meta, before any task
    with pytest.raises(KeyError, match="'nope'"):
        smd.to_recordio(dd.from_pandas(pdf, npartitions=1), str(tmp_path / "k"), label="nope")


def test_read_as_dataframe_to_parquet_and_back(tmp_path: Path) -> None:
    """Shards -> read_recordio(as_="dataframe") -> .to_parquet() -> the command line and
    dd.read_parquet -> to_recordio: the same records, byte for byte (pandas writes NaN as a
    null, read back as NaN: numpy's NaN here, whose bits that keeps)."""
    pdf = frame(payload=False)
    smd.to_recordio(dd.from_pandas(pdf, npartitions=3), str(tmp_path / "rec"), label="y")
    original = shards(tmp_path / "rec")
    df = smd.read_recordio(str(tmp_path / "rec"), as_="dataframe", with_label=True)
    df.to_parquet(str(tmp_path / "pq"), write_index=False)
    files = sorted(os.listdir(tmp_path / "pq"))
    assert files == ["part.0.parquet", "part.1.parquet", "part.2.parquet"]
    for name, shard in zip(files, original, strict=True):
        out = tmp_path / f"{name}.rec"
        assert cli.main(["convert", str(tmp_path / "pq" / name), str(out), "--label", "label", "-q"]) == 0
        assert out.read_bytes() == shard
    smd.to_recordio(dd.read_parquet(str(tmp_path / "pq")), str(tmp_path / "again"), label="label")
    assert shards(tmp_path / "again") == original
