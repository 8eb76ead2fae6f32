"""smp.dask: sharded datasets on a distributed.LocalCluster (2 worker processes).

Round trips are bit-exact (NaN payloads and -0.0 included where the format carries them),
every RecordIO shard is read by the SageMaker SDK v2's own `read_records`, manifests are
checked against the files they name, and corrupt shards fail with the shard's name and
the exact byte offset the format's own decoder reports.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("fsspec")
pytest.importorskip("pandas")

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import fsspec
import pandas as pd
from distributed import Client, LocalCluster

import sm_payloads as smp
import sm_payloads.dask as smd
from sm_payloads.formats import csv as csv_codec
from sm_payloads.formats import jsonlines as jl_codec
from sm_payloads.formats import recordio_protobuf as rp

from .helpers import assert_batches_equal

FORMATS = ("recordio", "csv", "jsonlines")
EXT = {"recordio": ".rec", "csv": ".csv", "jsonlines": ".jsonl"}


@pytest.fixture(scope="module")
def client() -> Any:
    """Two single-threaded worker processes (they start in about 2 s here): shards are
    written and read in other processes than the test, and errors cross a pickle.

    A nanny copies its pre-spawn environment (MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS, ...)
    into this process's os.environ; it is put back afterwards for the other test modules."""
    saved = dict(os.environ)
    try:
        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as c,
        ):
            yield c
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)


@pytest.fixture(scope="module")
def inproc_client(client: Any) -> Any:
    """In-process workers for memory:// (a worker process would have its own memory store)."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        Client(cluster, set_as_default=False) as c,
    ):
        yield c


def writer(fmt: str) -> Any:
    return getattr(smd, f"to_{fmt}")


def reader(fmt: str) -> Any:
    return getattr(smd, f"read_{fmt}")


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def features_with_specials(dtype: str, rows: int = 23, cols: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    if dtype == "int32":
        X = rng.integers(-(2**31), 2**31 - 1, (rows, cols), dtype=np.int64).astype(np.int32)
        X[0] = [-(2**31), 2**31 - 1, 0]
        return X
    X = rng.standard_normal((rows, cols)).astype(dtype)
    X[1, 0] = np.nan
    X[2, 1] = -0.0
    X[3, 2] = np.inf
    X[4, 0] = -np.inf
    X[5, 1] = np.finfo(dtype).tiny / 2  # subnormal
    X[6, 2] = np.finfo(dtype).max
    return X


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_array_round_trip_bit_exact(client: Any, tmp_path: Path, fmt: str, dtype: str) -> None:
    X = features_with_specials(dtype)
    y = (np.arange(23) - 11).astype(dtype)
    if dtype != "int32":
        y[4] = -0.0
        y[7] = np.nan
    dX = da.from_array(X, chunks=(7, 2))  # column chunks are joined on write
    dy = da.from_array(y, chunks=5)  # rechunked to the features' row chunks
    out = str(tmp_path / "ds")
    wopts = {"allow_nan": True} if fmt == "jsonlines" else {}
    urls = writer(fmt)(dX, out, label=dy, **wopts)
    assert urls == [f"{out}/part-0000{i}{EXT[fmt]}" for i in range(4)]
    ropts: dict[str, Any] = {} if fmt == "recordio" else {"dtype": dtype}
    if fmt == "jsonlines":
        ropts["allow_nan"] = True
    RX, Ry = reader(fmt)(out, with_label=True, **ropts)
    assert RX.numblocks == (4, 1) and np.isnan(RX.chunks[0]).all()
    gotX, goty = dask.compute(RX, Ry)
    assert gotX.dtype == X.dtype and gotX.shape == X.shape
    assert bits(gotX) == bits(X)
    assert goty.dtype == y.dtype and bits(goty) == bits(y)
    assert RX.compute_chunk_sizes().chunks[0] == (7, 7, 7, 2)


def test_recordio_keeps_nan_payloads(client: Any, tmp_path: Path) -> None:
    X = np.array([[0x7FC00001, 0xFFC00123], [0x7F800001, 0x80000000]], dtype=np.uint32).view(np.float32)
    smd.to_recordio(da.from_array(X, chunks=1), str(tmp_path))
    assert bits(smd.read_recordio(str(tmp_path)).compute()) == bits(X)


def test_read_without_label_and_features_only(client: Any, tmp_path: Path) -> None:
    X = np.arange(12, dtype=np.float64).reshape(6, 2)
    y = np.arange(6, dtype=np.float64)
    smd.to_csv(da.from_array(X, chunks=4), str(tmp_path), label=da.from_array(y, chunks=4))
    # label_size without with_label: the label fields are read and dropped.
    got = smd.read_csv(str(tmp_path), label_size=1).compute()
    assert bits(got) == bits(X)
    assert (
        tmp_path / "part-00000.csv"
    ).read_bytes() == b"0.0,0.0,1.0\n1.0,2.0,3.0\n2.0,4.0,5.0\n3.0,6.0,7.0\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataframe_round_trip(client: Any, tmp_path: Path, fmt: str) -> None:
    pdf = pd.DataFrame(
        {
            "a": np.linspace(-1, 1, 17),
            "y": np.arange(17, dtype=np.float64) % 3,
            "b": np.geomspace(1e-300, 1e300, 17),
        }
    )
    pdf.loc[3, "a"] = -0.0
    ddf = dd.from_pandas(pdf, npartitions=3)
    urls = writer(fmt)(ddf, str(tmp_path), label="y")
    assert len(urls) == 3
    got = reader(fmt)(str(tmp_path), as_="dataframe", with_label=True).compute()
    assert list(got.columns) == ["label", "f_0", "f_1"]
    assert bits(got["label"].to_numpy()) == bits(pdf["y"].to_numpy())
    assert bits(got[["f_0", "f_1"]].to_numpy()) == bits(pdf[["a", "b"]].to_numpy())


def test_dataframe_label_vector_and_int_columns(client: Any, tmp_path: Path) -> None:
    pdf = pd.DataFrame(
        {
            "y1": np.arange(9, dtype=np.int32),
            "x": np.arange(9, dtype=np.int32) * -7,
            "y0": np.arange(9, dtype=np.int32) * 2,
        }
    )
    smd.to_recordio(dd.from_pandas(pdf, npartitions=2), str(tmp_path), label=["y0", "y1"])
    got = smd.read_recordio(str(tmp_path), as_="dataframe", with_label=True).compute()
    assert list(got.columns) == ["label_0", "label_1", "f_0"]
    assert got.dtypes.tolist() == [np.dtype(np.int32)] * 3
    assert got.to_numpy().tolist() == pdf[["y0", "y1", "x"]].to_numpy().tolist()
    _, y = smd.read_recordio(str(tmp_path), with_label=True)
    assert y.compute().tolist() == pdf[["y0", "y1"]].to_numpy().tolist()


def test_dataframe_columns_follow_from_arrow_rules(client: Any, tmp_path: Path) -> None:
    """A partition goes through Arrow and `from_arrow`: booleans and small integers become
    int32 (a boolean beside a float32 is stacked as float64, the common type of int32 and
    float32), and an int64 beyond int32 is an error naming the column, never rounded."""
    pdf = pd.DataFrame({"flag": [True, False, True], "x": np.array([0.5, -0.0, 2.0], np.float32)})
    smd.to_recordio(dd.from_pandas(pdf, npartitions=1), str(tmp_path / "ok"))
    got = smd.read_recordio(str(tmp_path / "ok")).compute()
    assert got.dtype == np.float64 and bits(got) == bits(np.array([[1, 0.5], [0, -0.0], [1, 2]], np.float64))
    big = pd.DataFrame({"n": np.array([1, 2**53 + 1], np.int64), "x": [0.5, 1.5]})
    with pytest.raises(smp.EncodeError) as e:
        smd.to_recordio(dd.from_pandas(big, npartitions=1), str(tmp_path / "bad"))
    assert str(e.value) == (
        "n: value 9007199254740993 of dtype int64 does not fit int32 "
        "(record.proto has no 64-bit integer tensor)"
    )
    assert os.listdir(tmp_path / "bad") == []


def test_records_of_higher_rank(client: Any, tmp_path: Path) -> None:
    X = np.arange(40, dtype=np.float64).reshape(5, 2, 4)
    smd.to_recordio(da.from_array(X, chunks=(2, 1, 4)), str(tmp_path))
    got = smd.read_recordio(str(tmp_path))
    assert got.shape[1:] == (2, 4) and bits(got.compute()) == bits(X)
    frame = smd.read_recordio(str(tmp_path), as_="dataframe").compute()
    assert list(frame.columns) == [f"f_{j}" for j in range(8)]
    assert bits(frame.to_numpy()) == bits(X.reshape(5, 8))


def sample_batches() -> list[smp.RecordBatch]:
    out = []
    for i in range(5):
        m = sp.random(3, 50, density=0.1, format="csr", dtype=np.float32, random_state=i)
        out.append(
            smp.RecordBatch(
                {"values": m, "extra": np.full((3, 2), i, np.float64)},
                {"values": np.array([i, -0.0, np.nan], np.float32)},
                uid=[f"r{i}-{j}" for j in range(3)],
            )
        )
    return out


def test_bag_round_trip_recordio(client: Any, tmp_path: Path) -> None:
    batches = sample_batches()
    bag = db.from_sequence(batches, npartitions=3)  # partitions of 2, 2 and 1 batches
    urls = smd.to_recordio(bag, str(tmp_path))
    assert [os.path.basename(u) for u in urls] == ["part-00000.rec", "part-00001.rec", "part-00002.rec"]
    got = smd.read_recordio(str(tmp_path), as_="bag", with_label=True).compute()
    assert [len(b) for b in got] == [6, 6, 3]
    common = pytest.importorskip("sagemaker.amazon.common")
    for url, batch in zip(urls, got, strict=True):  # sparse records, read by the SDK too
        with open(url, "rb") as f:
            records = common.read_records(f)
        assert [r.uid for r in records] == list(batch.uid or ())
        assert [list(r.features["values"].float32_tensor.keys) for r in records] == [
            batch.features["values"][[i]].indices.tolist() for i in range(len(batch))
        ]
    assert_batches_equal(smp.RecordBatch.concat(got), smp.RecordBatch.concat(batches))
    # a bag's batch holds everything the shard holds, with_label or not
    plain = smd.read_recordio(str(tmp_path), as_="bag").compute()
    assert [len(b) for b in plain] == [6, 6, 3]
    for a, b in zip(plain, got, strict=True):
        assert_batches_equal(a, b)
    assert list(plain[2].label) == ["values"]
    assert plain[2].uid == ("r4-0", "r4-1", "r4-2")


def test_bag_round_trip_jsonlines_and_csv(client: Any, tmp_path: Path) -> None:
    batches = [
        smp.from_dense(np.arange(6, dtype=np.float64).reshape(3, 2) + i, np.arange(3.0)) for i in range(4)
    ]
    bag = db.from_sequence(batches, npartitions=2)
    smd.to_jsonlines(bag, str(tmp_path / "j"))
    smd.to_csv(bag, str(tmp_path / "c"))
    want = smp.RecordBatch.concat(batches)
    for got in (
        smd.read_jsonlines(str(tmp_path / "j"), as_="bag", with_label=True).compute(),
        smd.read_jsonlines(str(tmp_path / "j"), as_="bag").compute(),
        smd.read_csv(str(tmp_path / "c"), as_="bag", with_label=True).compute(),
        smd.read_csv(str(tmp_path / "c"), as_="bag", label_size=1).compute(),
    ):
        assert_batches_equal(smp.RecordBatch.concat(got), want)
    # CSV has no labels unless label_size says how many leading fields are labels
    unlabelled = smp.RecordBatch.concat(smd.read_csv(str(tmp_path / "c"), as_="bag").compute())
    assert unlabelled.label == {}
    assert unlabelled.to_numpy()[:2].tolist() == [[0.0, 0.0, 1.0], [1.0, 2.0, 3.0]]
    # arrays leave the label fields out without with_label
    X = smd.read_csv(str(tmp_path / "c"), label_size=1).compute()
    assert X[:2].tolist() == [[0.0, 1.0], [2.0, 3.0]]


# --------------------------------------------------------------------------------------
# The SageMaker SDK reads every shard; manifests
# --------------------------------------------------------------------------------------


@pytest.mark.sdk
def test_every_shard_readable_by_sdk_read_records(client: Any, tmp_path: Path) -> None:
    common = pytest.importorskip("sagemaker.amazon.common")
    X = features_with_specials("float32", rows=40, cols=4)
    y = np.arange(40, dtype=np.float32)
    urls = smd.to_recordio(
        da.from_array(X, chunks=9), str(tmp_path), label=da.from_array(y, chunks=9), max_shard_bytes=200
    )
    rows = []
    labels = []
    for url in urls:
        with open(url, "rb") as f:
            for rec in common.read_records(f):
                rows.append(list(rec.features["values"].float32_tensor.values))
                labels.append(list(rec.label["values"].float32_tensor.values))
    assert bits(np.array(rows, np.float32)) == bits(X)
    assert labels == [[v] for v in y.tolist()]


@pytest.mark.parametrize("fmt", FORMATS)
def test_manifest_file(client: Any, tmp_path: Path, fmt: str) -> None:
    out = str(tmp_path / "data" / "train")
    man = str(tmp_path / "manifests" / "train.manifest")
    X = np.arange(40, dtype=np.float32).reshape(20, 2)
    urls = writer(fmt)(da.from_array(X, chunks=6), out, manifest=man, max_shard_bytes=64)
    doc = json.loads(Path(man).read_text(encoding="utf-8"))
    assert isinstance(doc, list) and doc[0] == {"prefix": out + "/"}
    keys = doc[1:]
    assert all(isinstance(k, str) and not k.startswith("/") for k in keys)
    assert [doc[0]["prefix"] + k for k in keys] == urls
    assert all(os.path.isfile(u) for u in urls)
    assert keys == sorted(keys)
    assert sorted(os.listdir(out)) == keys  # no temporary files left behind


# --------------------------------------------------------------------------------------
# max_shard_bytes
# --------------------------------------------------------------------------------------


def test_max_shard_bytes_exact_cuts(client: Any, tmp_path: Path) -> None:
    X = np.arange(24, dtype=np.float32).reshape(6, 4)
    frame = len(rp.encode(smp.from_dense(X[:1])))
    assert frame == 40  # 8 header + 32 payload
    urls = smd.to_recordio(da.from_array(X, chunks=5), str(tmp_path), max_shard_bytes=2 * frame + 39)
    names = [os.path.basename(u) for u in urls]
    assert names == [
        "part-00000-00000.rec",
        "part-00000-00001.rec",
        "part-00000-00002.rec",
        "part-00001-00000.rec",
    ]
    assert [os.path.getsize(u) for u in urls] == [80, 80, 40, 40]
    assert bits(smd.read_recordio(str(tmp_path)).compute()) == bits(X)


@pytest.mark.parametrize("fmt", ["csv", "jsonlines"])
def test_max_shard_bytes_text(client: Any, tmp_path: Path, fmt: str) -> None:
    X = (np.arange(300, dtype=np.float64).reshape(100, 3) * 1.37) ** 1.5
    limit = 150
    urls = writer(fmt)(da.from_array(X, chunks=40), str(tmp_path), max_shard_bytes=limit)
    sizes = [os.path.getsize(u) for u in urls]
    assert max(sizes) <= limit and len(urls) > 10
    assert [os.path.basename(u) for u in urls] == sorted(os.path.basename(u) for u in urls)
    data = [Path(u).read_bytes() for u in urls]
    assert all(d.endswith(b"\n") for d in data)
    # greedy: within a partition no shard could have taken the next shard's first line
    for i in range(len(urls) - 1):
        if Path(urls[i]).name[:10] == Path(urls[i + 1]).name[:10]:
            assert len(data[i]) + data[i + 1].index(b"\n") + 1 > limit
    got = reader(fmt)(str(tmp_path)).compute()
    assert bits(got) == bits(X)


@given(st.lists(st.integers(1, 50), max_size=40), st.integers(1, 120))
def test_cuts_are_greedy_and_bounded(sizes: list[int], limit: int) -> None:
    ends = np.cumsum(np.array(sizes, dtype=np.int64))
    total = int(ends[-1]) if sizes else 0
    if any(s > limit for s in sizes):
        with pytest.raises(ValueError, match=f"does not fit in max_shard_bytes={limit}"):
            smd._cuts(ends, total, limit, 3)
        return
    cuts = smd._cuts(ends, total, limit, 3)
    assert cuts[0][0] == 0 and cuts[-1][1] == total
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cuts))
    bounds = {0, *ends.tolist()}
    for i, (a, b) in enumerate(cuts):
        assert b - a <= limit and b in bounds
        if i + 1 < len(cuts):  # greedy: the next record would not have fitted
            nxt = int(ends[np.searchsorted(ends, b, side="right")])
            assert nxt - a > limit


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        st.tuples(st.integers(0, 30), st.integers(1, 4)),
        elements=st.floats(width=32, allow_nan=True),
    ),
    st.integers(1, 12),
    st.sampled_from([None, 60, 200]),
    st.sampled_from(FORMATS),
)
def test_round_trip_property(X: np.ndarray, rows: int, cap: int | None, fmt: str) -> None:
    """Any float array, any row chunking, any shard cap: the same bits back (text formats
    read canonical NaN; the array's NaNs are canonical here)."""
    X = np.where(np.isnan(X), np.nan, X).astype(X.dtype)
    wopts = {"allow_nan": True} if fmt == "jsonlines" else {}
    ropts: dict[str, Any] = {} if fmt == "recordio" else {"dtype": X.dtype}
    if fmt == "jsonlines":
        ropts["allow_nan"] = True
    cap = None if cap is None else cap + 16 * X.shape[1]  # one record always fits
    with dask.config.set(scheduler="synchronous"), tempfile.TemporaryDirectory() as d:
        urls = writer(fmt)(da.from_array(X, chunks=(rows, 2)), d, max_shard_bytes=cap, **wopts)
        assert urls == sorted(urls)
        if cap is not None:
            assert all(os.path.getsize(u) <= cap for u in urls)
        if X.shape[0]:
            got = reader(fmt)(d, **ropts).compute()
            assert got.dtype == X.dtype and bits(got) == bits(X)


def test_max_shard_bytes_record_too_large(client: Any, tmp_path: Path) -> None:
    X = np.zeros((3, 10), np.float32)
    with pytest.raises(ValueError, match=r"partition 0: a record of 64 bytes .* max_shard_bytes=55"):
        smd.to_recordio(da.from_array(X, chunks=3), str(tmp_path), max_shard_bytes=55)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="max_shard_bytes must be a positive int"):
        smd.to_recordio(da.from_array(X, chunks=3), str(tmp_path), max_shard_bytes=0)


# --------------------------------------------------------------------------------------
# Atomic shards
# --------------------------------------------------------------------------------------


def test_local_write_goes_through_a_temporary_name(tmp_path: Path) -> None:
    fs = fsspec.filesystem("file")
    final = str(tmp_path / "part-00000.rec")
    seen: list[list[str]] = []

    def chunks() -> Any:
        yield b"abc"
        seen.append(sorted(os.listdir(tmp_path)))
        assert not os.path.exists(final)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        smd._write_atomic(fs, final, chunks())
    # mid-write only a hidden temporary file existed, in the same directory
    assert len(seen[0]) == 1 and seen[0][0].startswith(".part-00000.rec.") and seen[0][0].endswith(".tmp")
    assert os.listdir(tmp_path) == []  # the temporary file is gone, no final name
    smd._write_atomic(fs, final, [b"ab", memoryview(b"cd")])
    assert os.listdir(tmp_path) == ["part-00000.rec"] and Path(final).read_bytes() == b"abcd"


def test_failing_partition_leaves_no_partial_shard(client: Any, tmp_path: Path) -> None:
    X = np.ones((9, 2), np.int64)
    X[5, 1] = 2**40  # partition 1 does not fit int32: EncodeError on its worker
    with pytest.raises(smp.EncodeError, match="features\\['values'\\]"):
        smd.to_recordio(da.from_array(X, chunks=3), str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert "part-00001.rec" not in names
    assert all(n.startswith("part-") and n.endswith(".rec") for n in names)  # no temporaries
    for n in names:  # whatever finished is whole
        assert smd.read_recordio(str(tmp_path / n)).compute().tolist() == [[1, 1]] * 3


def test_existing_shards_need_overwrite(client: Any, tmp_path: Path) -> None:
    X = np.arange(8, dtype=np.float32).reshape(4, 2)
    smd.to_recordio(da.from_array(X, chunks=1), str(tmp_path))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        smd.to_recordio(da.from_array(X, chunks=2), str(tmp_path))
    urls = smd.to_recordio(da.from_array(X, chunks=2), str(tmp_path), overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["part-00000.rec", "part-00001.rec"]
    assert len(urls) == 2 and bits(smd.read_recordio(str(tmp_path)).compute()) == bits(X)


def test_memory_filesystem(inproc_client: Any) -> None:
    fs = fsspec.filesystem("memory")
    base = "memory://smp-dask-test/train"
    try:
        X = features_with_specials("float64", rows=10)
        with inproc_client.as_current():
            urls = smd.to_recordio(
                da.from_array(X, chunks=4), base, manifest="memory://smp-dask-test/train.manifest"
            )
            assert urls == [f"{base}/part-0000{i}.rec" for i in range(3)]
            fs.pipe_file("/smp-dask-test/broken/part-00000.rec", b"\x00" * 8)
            with pytest.raises(smd.ShardDecodeError) as err:
                smd.read_recordio("memory://smp-dask-test/broken")
            assert err.value.path == "memory://smp-dask-test/broken/part-00000.rec"
            assert bits(smd.read_recordio(base).compute()) == bits(X)
            assert bits(smd.read_recordio(base + "/part-*.rec").compute()) == bits(X)
        doc = json.loads(fs.cat_file("/smp-dask-test/train.manifest"))
        assert doc == [{"prefix": base + "/"}, "part-00000.rec", "part-00001.rec", "part-00002.rec"]
        assert all(fs.exists(doc[0]["prefix"] + k) for k in doc[1:])
    finally:
        fs.rm("/smp-dask-test", recursive=True)


# --------------------------------------------------------------------------------------
# Corrupt shards: the shard's name and the decoder's byte offset
# --------------------------------------------------------------------------------------


def test_corrupt_recordio_shard(client: Any, tmp_path: Path) -> None:
    X = np.arange(30, dtype=np.float32).reshape(10, 3)
    urls = smd.to_recordio(da.from_array(X, chunks=4), str(tmp_path))
    data = bytearray(Path(urls[1]).read_bytes())
    stride = len(data) // 4
    data[2 * stride : 2 * stride + 4] = b"\0\0\0\0"  # record 2's magic
    Path(urls[1]).write_bytes(bytes(data))
    with pytest.raises(smp.DecodeError) as own:
        rp.decode(bytes(data))
    assert own.value.offset == 2 * stride == 72
    with pytest.raises(smd.ShardDecodeError) as err:
        smd.read_recordio(str(tmp_path)).compute()
    e = err.value
    assert isinstance(e, smp.DecodeError) and e.status_hint == 400
    assert (e.path, e.offset, e.record_index) == (urls[1], 72, 2)
    assert e.content_type == "application/x-recordio-protobuf"
    assert str(e) == f"application/x-recordio-protobuf: {urls[1]}: {own.value.reason} at byte 72 (record 2)"
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is smd.ShardDecodeError and str(again) == str(e) and again.path == e.path


def test_corrupt_first_record_fails_at_once(client: Any, tmp_path: Path) -> None:
    (tmp_path / "part-00000.rec").write_bytes(b"\x0a\x23\xd7\xce\x05\x00\x00\x00abc")
    with pytest.raises(smd.ShardDecodeError) as err:
        smd.read_recordio(str(tmp_path))
    assert err.value.path == str(tmp_path / "part-00000.rec") and err.value.offset == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonlines"])
def test_corrupt_text_shard_in_a_later_block(client: Any, tmp_path: Path, fmt: str) -> None:
    X = np.arange(600, dtype=np.float64).reshape(200, 3)
    writer(fmt)(da.from_array(X, chunks=200), str(tmp_path))
    path = tmp_path / f"part-00000{EXT[fmt]}"
    data = path.read_bytes()
    at = data.index(b"477")
    path.write_bytes(data[:at] + b"4x7" + data[at + 3 :])
    opts = {"dtype": np.float64}  # CSV: a field that is not a number is an error, not text
    decode = csv_codec.decode if fmt == "csv" else jl_codec.decode
    with pytest.raises(smp.DecodeError) as own:
        decode(path.read_bytes(), **opts)
    got = reader(fmt)(str(path), blocksize=1000, **opts)
    assert got.numblocks[0] == -(-len(data) // 1000) > 3
    with pytest.raises(smd.ShardDecodeError) as err:
        got.compute()
    assert (err.value.path, err.value.offset) == (str(path), own.value.offset)
    assert own.value.offset is not None and own.value.offset > 1000
    assert err.value.line is None and own.value.line is not None  # line not known in a later block
    assert err.value.shard_reason == own.value.reason


def test_blocksize_partitions_equal_whole_files(client: Any, tmp_path: Path) -> None:
    X = np.random.default_rng(3).standard_normal((300, 4))
    y = np.arange(300.0)
    smd.to_csv(da.from_array(X, chunks=120), str(tmp_path), label=da.from_array(y, chunks=120))
    whole = smd.read_csv(str(tmp_path), with_label=True)
    parts = smd.read_csv(str(tmp_path), with_label=True, blocksize=997)
    assert whole[0].numblocks[0] == 3 and parts[0].numblocks[0] > 10
    (a, b), (c, d) = dask.compute(whole, parts)
    assert bits(a) == bits(c) == bits(X) and bits(b) == bits(d) == bits(y)


# --------------------------------------------------------------------------------------
# ShardedByS3Key
# --------------------------------------------------------------------------------------


def test_sharded_by_s3_key_exact() -> None:
    keys = [f"s3://b/train/part-{i:05d}.rec" for i in range(7)]
    assert smd.sharded_by_s3_key(keys[::-1], 3) == [
        [keys[0], keys[3], keys[6]],
        [keys[1], keys[4]],
        [keys[2], keys[5]],
    ]
    assert smd.sharded_by_s3_key(keys, 1) == [keys]
    assert smd.sharded_by_s3_key(keys[:2], 4) == [[keys[0]], [keys[1]], [], []]
    assert smd.sharded_by_s3_key([], 2) == [[], []]
    # S3 lists keys in UTF-8 byte order: "B" < "a" < "é"
    assert smd.sharded_by_s3_key(["é", "a", "B"], 3) == [["B"], ["a"], ["é"]]
    counts = [len(s) for s in smd.sharded_by_s3_key([str(i) for i in range(103)], 10)]
    assert counts == [11, 11, 11, 10, 10, 10, 10, 10, 10, 10]


@given(st.lists(st.text(max_size=6)), st.integers(1, 9))
def test_sharded_by_s3_key_property(keys: list[str], n: int) -> None:
    parts = smd.sharded_by_s3_key(keys, n)
    order = sorted(keys, key=lambda k: k.encode("utf-8"))
    assert len(parts) == n
    assert sorted((k for p in parts for k in p), key=lambda k: k.encode("utf-8")) == order
    assert all(p == order[i::n] for i, p in enumerate(parts))
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_sharded_by_s3_key_rejects() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        smd.sharded_by_s3_key(["a"], 0)
    with pytest.raises(TypeError):
        smd.sharded_by_s3_key("abc", 2)
    with pytest.raises(TypeError):
        smd.sharded_by_s3_key(["a"], True)


# --------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------


def test_argument_errors(client: Any, tmp_path: Path) -> None:
    X = da.zeros((4, 2), chunks=2)
    with pytest.raises(TypeError, match="dask array, a dask dataframe or a dask bag"):
        smd.to_recordio(np.zeros((4, 2)), str(tmp_path))
    with pytest.raises(TypeError, match="must be a dask array"):
        smd.to_recordio(X, str(tmp_path), label=np.zeros(4))
    with pytest.raises(ValueError, match="label has 3 rows but the features have 4"):
        smd.to_recordio(X, str(tmp_path), label=da.zeros(3, chunks=3))
    with pytest.raises(ValueError, match="carries its labels itself"):
        smd.to_recordio(db.from_sequence([1]), str(tmp_path), label="y")
    pdf = pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]})
    with pytest.raises(smp.EncodeError, match=r"^s: is text \("):  # found on the meta, before any task
        smd.to_recordio(dd.from_pandas(pdf, npartitions=1), str(tmp_path))
    with pytest.raises(KeyError, match="'nope'"):
        smd.to_recordio(dd.from_pandas(pdf[["a"]], npartitions=1), str(tmp_path), label="nope")
    with pytest.raises(TypeError, match="RecordBatch items"):
        smd.to_recordio(db.from_sequence([1, 2]), str(tmp_path))
    with pytest.raises(ValueError, match="as_ must be"):
        smd.read_recordio(str(tmp_path), as_="list")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        smd.read_recordio(str(tmp_path / "nothing-*.rec"))


def test_reading_sparse_as_array_points_to_bag(client: Any, tmp_path: Path) -> None:
    smd.to_recordio(db.from_sequence(sample_batches(), npartitions=1), str(tmp_path))
    with pytest.raises(TypeError, match="as_='bag'"):
        smd.read_recordio(str(tmp_path))


def test_empty_partitions_are_empty_shards(client: Any, tmp_path: Path) -> None:
    X = np.arange(6, dtype=np.float32).reshape(3, 2)
    dX = da.from_array(X, chunks=((0, 3, 0), (2,)))
    urls = smd.to_csv(dX, str(tmp_path))
    assert [os.path.getsize(u) for u in urls] == [0, 24, 0]
    assert bits(smd.read_csv(str(tmp_path), dtype=np.float32).compute()) == bits(X)


def test_sdk_compatible_option_is_passed(client: Any, tmp_path: Path) -> None:
    X = np.array([[np.frombuffer(b"\x0a\x23\xd7\xce", np.float32)[0]] * 4], np.float32)
    ours = smd.to_recordio(da.from_array(X, chunks=1), str(tmp_path / "a"))
    sdk = smd.to_recordio(da.from_array(X, chunks=1), str(tmp_path / "b"), sdk_compatible=True)
    assert Path(sdk[0]).read_bytes() == rp.encode(smp.from_dense(X), sdk_compatible=True)
    assert Path(ours[0]).read_bytes() == rp.encode(smp.from_dense(X))
    assert Path(ours[0]).read_bytes() != Path(sdk[0]).read_bytes()
