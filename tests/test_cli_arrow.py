"""The command line with Parquet and Arrow IPC files: convert, inspect and validate in both
directions, --label, streaming in bounded memory, no partial output, and Parquet ->
RecordIO-protobuf read back by the SageMaker SDK v2 bit for bit."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sm_payloads as smp
from sm_payloads import cli

from .helpers import ROOT, assert_batches_equal

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
feather = pytest.importorskip("pyarrow.feather")

REC = "application/x-recordio-protobuf"
F32 = np.float32
# Values that break a lossy path: float32 whose shortest text differs from float64's, the
# extremes, a subnormal, -0.0, a NaN with a payload.
X = np.array(
    [
        [0.1, 1e-7, -0.0, 3.4028235e38],
        [-2.5, 0.0, 16777217.0, 1e-45],
        [1 / 3, 7.0, -0.3, 0.0],
    ],
    F32,
)
X[2, 3] = np.uint32(0x7FC00123).view(F32)
Y = np.array([1.0, 0.0, 0.1], F32)


#: X with an ordinary NaN: text formats write "nan", which has no payload.
X_TEXT = X.copy()
X_TEXT[2, 3] = np.nan


def table(x: np.ndarray = X) -> object:
    return pa.table({"y": Y, **{f"x{i}": x[:, i] for i in range(x.shape[1])}})


def run(*argv: str) -> int:
    return cli.main(list(argv))


def bits(a: np.ndarray) -> list[int]:
    return np.ascontiguousarray(a, F32).view(np.uint32).ravel().tolist()


@pytest.mark.sdk
def test_parquet_to_recordio_is_read_back_by_the_sdk_bit_for_bit(tmp_path: Path) -> None:
    common = pytest.importorskip("sagemaker.amazon.common")
    pq.write_table(table(), tmp_path / "in.parquet", row_group_size=2)
    assert run("convert", str(tmp_path / "in.parquet"), str(tmp_path / "out.rec"), "--label", "y", "-q") == 0
    with open(tmp_path / "out.rec", "rb") as f:
        records = common.read_records(f)
    assert len(records) == 3
    for i, r in enumerate(records):
        got = np.array(r.features["values"].float32_tensor.values, F32)
        assert bits(got) == bits(X[i])
        assert bits(np.array(r.label["values"].float32_tensor.values, F32)) == bits(Y[i : i + 1])
    # and the bytes are what the SDK writes for the same matrix and labels
    buf = io.BytesIO()
    common.write_numpy_to_dense_tensor(buf, X, Y)
    assert (tmp_path / "out.rec").read_bytes() == buf.getvalue()


def test_recordio_to_parquet_and_back(tmp_path: Path) -> None:
    batch = smp.RecordBatch(
        {"values": X, "r": smp.Ragged.from_lists([[1, 2], None, [3]], dtype="int32")},
        {"values": Y},
        uid=["a", None, "c"],
    )
    (tmp_path / "in.rec").write_bytes(smp.encode_request(batch, REC))
    want = smp.decode_request((tmp_path / "in.rec").read_bytes(), REC)
    assert (
        run("convert", str(tmp_path / "in.rec"), str(tmp_path / "mid.parquet"), "--batch-size", "2", "-q")
        == 0
    )
    t = pq.read_table(tmp_path / "mid.parquet")
    assert t.column_names == ["features.values", "features.r", "label.values", "uid"]
    assert pq.ParquetFile(tmp_path / "mid.parquet").num_row_groups == 2  # a row group per batch
    assert_batches_equal(smp.from_arrow(t), want)
    assert run("convert", str(tmp_path / "mid.parquet"), str(tmp_path / "back.rec"), "-q") == 0
    assert (tmp_path / "back.rec").read_bytes() == (tmp_path / "in.rec").read_bytes()


@pytest.mark.parametrize("suffix", [".arrow", ".feather"])
def test_arrow_ipc_files_both_ways(tmp_path: Path, suffix: str) -> None:
    feather.write_feather(table(X_TEXT), tmp_path / f"in{suffix}", chunksize=2)
    out = tmp_path / "out.csv"
    assert (
        run(
            "convert",
            str(tmp_path / f"in{suffix}"),
            str(out),
            "--label",
            "y",
            "--to",
            "text/csv;label_size=1",
            "-q",
        )
        == 0
    )
    got = smp.decode_request(out.read_bytes(), "text/csv;label_size=1", dtype="float32")
    assert bits(got.features["values"]) == bits(X_TEXT)
    assert bits(got.label["values"]) == bits(Y)
    assert (
        run(
            "convert",
            str(out),
            str(tmp_path / f"back{suffix}"),
            "--from",
            "text/csv;label_size=1",
            "--dtype",
            "float32",
            "-q",
        )
        == 0
    )
    back = smp.from_arrow(feather.read_table(tmp_path / f"back{suffix}"))
    assert bits(back.features["values"]) == bits(X_TEXT) and bits(back.label["values"]) == bits(Y)


def test_types_by_flag_and_the_arrow_stream_on_stdin(tmp_path: Path) -> None:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table().schema) as w:
        w.write_table(table(), max_chunksize=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sm_payloads",
            "convert",
            "-",
            "-",
            "--from",
            "arrow",
            "--to",
            REC,
            "--label",
            "y",
        ],
        input=sink.getvalue(),
        capture_output=True,
        env=env,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == smp.encode_request(smp.from_dense(X, Y), REC)
    assert p.stderr.decode().startswith(
        f"sm-payloads: wrote 3 records to stdout ({len(sink.getvalue()):,} bytes in"
    )
    # a Parquet file under another name, by --to / --from
    (tmp_path / "d.rec").write_bytes(smp.encode_request(smp.from_dense(X, Y), REC))
    assert run("convert", str(tmp_path / "d.rec"), str(tmp_path / "o.bin"), "--to", "parquet", "-q") == 0
    assert bits(smp.from_arrow(pq.read_table(tmp_path / "o.bin")).features["values"]) == bits(X)
    pq.write_table(table(), tmp_path / "data.bin")
    assert (
        run(
            "convert",
            str(tmp_path / "data.bin"),
            str(tmp_path / "o.rec"),
            "--from",
            "parquet",
            "--label",
            "y,x0",
            "-q",
        )
        == 0
    )
    got = smp.decode_request((tmp_path / "o.rec").read_bytes(), REC)
    assert bits(got.label["values"]) == bits(np.column_stack([Y, X[:, 0]]))
    assert bits(got.features["values"]) == bits(X[:, 1:])


def test_inspect_and_validate_read_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.parquet"
    pq.write_table(table(), path)
    assert run("inspect", str(path), "--label", "y", "--head", "1") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:6] == [
        f"file: {path}",
        "type: parquet",
        f"bytes: {path.stat().st_size}",
        "records: 3",
        "features['values']: dense float32 (4,)",
        "label['values']: dense float32 ()",
    ]
    assert run("validate", str(path), "--label", "y") == 0
    assert capsys.readouterr().out == f"{path}: valid parquet, 3 records\n"


def test_a_failed_conversion_leaves_no_partial_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 50
    # a null in record 30: a failure after three batches were written
    t = pa.table(
        {"x": np.arange(n, dtype=F32), "y": pa.array([float(i) if i < 30 else None for i in range(n)])}
    )
    pq.write_table(t, tmp_path / "in.parquet", row_group_size=10)
    out = tmp_path / "out.rec"
    out.write_bytes(b"previous")
    assert run("convert", str(tmp_path / "in.parquet"), str(out), "--batch-size", "10") == 1
    err = capsys.readouterr().err
    assert err == (
        "sm-payloads: error: y: record 30: null; a column of double holds no missing values (fill "
        "the nulls, or use a list column, where null means the record lacks the key)\n"
    )
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.rec"]
    # a text column among the features is named
    pq.write_table(pa.table({"x": [1.0], "city": ["Oslo"]}), tmp_path / "t.parquet")
    assert run("convert", str(tmp_path / "t.parquet"), str(tmp_path / "t.rec")) == 1
    assert "city: is text" in capsys.readouterr().err
    assert not (tmp_path / "t.rec").exists()


def test_batches_with_other_columns_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # JSON Lines whose second batch is ragged where the first was dense
    lines = b'{"features": [1, 2]}\n{"features": [3, 4]}\n{"features": [5]}\n'
    (tmp_path / "in.jsonl").write_bytes(lines)
    assert run("convert", str(tmp_path / "in.jsonl"), str(tmp_path / "out.parquet"), "--batch-size", "2") == 1
    err = capsys.readouterr().err
    assert err.startswith("sm-payloads: error: records from 2 on have other columns than the first batch")
    assert not (tmp_path / "out.parquet").exists()


def test_usage_and_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.csv").write_bytes(b"1,2\n")
    assert run("convert", str(tmp_path / "d.csv"), str(tmp_path / "o.rec"), "--label", "y") == 2
    assert capsys.readouterr().err == (
        "sm-payloads: error: --label applies to Parquet and Arrow inputs (a table's columns)\n"
    )
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    assert run("validate", str(tmp_path / "bad.parquet")) == 1
    assert capsys.readouterr().err.startswith(
        f"sm-payloads: error: {tmp_path / 'bad.parquet'}: cannot read it as Parquet:"
    )
    assert run("validate", str(tmp_path / "missing.arrow")) == 1
    assert (
        capsys.readouterr().err
        == f"sm-payloads: error: cannot open {str(tmp_path / 'missing.arrow')!r}: No such file or directory\n"
    )


def test_no_records_is_an_empty_table(tmp_path: Path) -> None:
    (tmp_path / "e.rec").write_bytes(b"")
    assert run("convert", str(tmp_path / "e.rec"), str(tmp_path / "e.parquet"), "-q") == 0
    t = pq.read_table(tmp_path / "e.parquet")
    assert (t.num_rows, t.num_columns) == (0, 0)


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_an_empty_table_keeps_its_columns(tmp_path: Path, suffix: str) -> None:
    """0 rows in, 0 rows out, with the columns and types of the batch the rows would make."""
    src = tmp_path / f"e{suffix}"
    t = pa.table(
        {"y": pa.array([], pa.float32()), "a": pa.array([], pa.float64()), "b": pa.array([], pa.int8())}
    )
    if suffix == ".parquet":
        pq.write_table(t, src)
    else:
        feather.write_feather(t, src)
    for out_suffix in (".parquet", ".arrow"):
        out = tmp_path / f"out{out_suffix}"
        assert run("convert", str(src), str(out), "--label", "y", "-q") == 0
        got = pq.read_table(out) if out_suffix == ".parquet" else feather.read_table(out)
        assert got.num_rows == 0
        assert got.column_names == ["features.values", "label.values"]
        assert got.schema.field("features.values").type.list_size == 2
        assert got.schema.field("features.values").type.value_type == pa.float64()
        assert got.schema.field("label.values").type == pa.float32()
        # and back: an empty batch of the same columns
        back = smp.from_arrow(got)
        assert (back.features["values"].shape, back.features["values"].dtype) == ((0, 2), np.float64)
        assert (back.label["values"].shape, back.label["values"].dtype) == ((0,), np.float32)
    # the codecs' outputs of no records are empty, as before
    assert run("convert", str(src), str(tmp_path / "o.rec"), "--label", "y", "-q") == 0
    assert (tmp_path / "o.rec").read_bytes() == b""
    assert run("convert", str(src), str(tmp_path / "o.csv"), "--label", "y", "-q") == 0
    assert (tmp_path / "o.csv").read_bytes() == b""


def test_records_of_no_values_are_refused_for_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pyarrow writes a fixed_size_list<...>[0] column to Parquet but cannot read the file
    back: the conversion fails before writing, and Arrow IPC holds it."""
    batch = smp.from_dense(np.zeros((3, 0), F32), np.array([1.0, 2.0, 3.0], F32))
    (tmp_path / "z.rec").write_bytes(smp.get_codec(REC).encode(batch))
    assert run("convert", str(tmp_path / "z.rec"), str(tmp_path / "z.parquet")) == 1
    assert capsys.readouterr().err == (
        "sm-payloads: error: column features.values (fixed_size_list<item: float>[0]) has records "
        "with no values (a dimension of size 0), which a Parquet file cannot hold; write Arrow IPC "
        "(--to arrow) instead\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.rec"]
    assert run("convert", str(tmp_path / "z.rec"), str(tmp_path / "z.arrow"), "-q") == 0
    back = smp.from_arrow(feather.read_table(tmp_path / "z.arrow"))
    assert back.features["values"].shape == (3, 0)
    assert back.label["values"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.slow
def test_streaming_memory_is_bounded_by_a_batch(tmp_path: Path) -> None:
    """1.6M x 32 float32 (205 MB of values) converts with a peak RSS under 300 MB."""
    rows, cols = 1_600_000, 32
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(path, pa.schema([(f"x{i}", pa.float32()) for i in range(cols)])) as w:
        rng = np.random.default_rng(7)
        for _ in range(0, rows, 100_000):
            block = rng.standard_normal((100_000, cols), dtype=F32)
            w.write_table(pa.table({f"x{i}": block[:, i] for i in range(cols)}), row_group_size=100_000)
    # The child's own high-water mark (VmHWM): ru_maxrss can carry the parent's peak over a fork.
    code = (
        "from sm_payloads import cli\n"
        f"code = cli.main(['convert', {str(path)!r}, {str(tmp_path / 'big.rec')!r}, '-q'])\n"
        "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
        "print(code, hwm)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    code_out, rss_kb = p.stdout.split()
    assert code_out == "0", p.stderr
    assert int(rss_kb) < 300 * 1024, f"peak RSS {int(rss_kb) / 1024:.0f} MB"
    with open(tmp_path / "big.rec", "rb") as f:
        first = next(smp.iter_decode(f, REC, batch_size=5))
    want = pq.ParquetFile(path).read_row_group(0).slice(0, 5)
    assert bits(first.features["values"]) == bits(
        np.column_stack([want.column(i).to_numpy() for i in range(cols)])
    )
