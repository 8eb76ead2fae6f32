"""Arrow and Parquet (issue #22): Parquet -> RecordIO-protobuf, zero-copy to_arrow /
from_arrow, and the streaming conversion's peak memory against the batch size.

    python -m benchmarks.bench_arrow [--size-mb 1024] [--sdk-rows 50000] [--json FILE]

1. Parquet -> RecordIO-protobuf of a label and 32 float32 features (``--size-mb`` MiB of
   values, row groups of 100,000 rows), three ways, every output checked byte for byte:
   ``sm-payloads convert in.parquet out.rec --label y`` in a fresh process (start-up
   included); ``pyarrow.parquet.read_table`` + ``from_arrow`` + our encoder in this
   process (the codec alone: the bar is the CLI within 1.5x of it); and what a user does
   today, ``pd.read_parquet`` + the SageMaker SDK v2's ``write_numpy_to_dense_tensor``,
   timed on the first ``--sdk-rows`` rows (the SDK writes about 10^5 records a second, so
   the whole file would take minutes) and compared by records per second (goal >= 50x).
   The CLI's start-up (the conversion of a Parquet file of no records) is timed too, and
   the speed-up without it printed beside: the start-up is a fixed cost, the rest grows
   with the file.
2. ``RecordBatch.to_arrow`` and ``from_arrow`` of 1M x 100 float32 and of 10k x 100: the
   dense layouts share memory, so the time does not grow with the size (addresses
   checked).
3. Peak RSS (the child's ``VmHWM``) of the CLI's conversion for several ``--batch-size``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import sm_payloads as smp

from ._harness import Contender, fmt_time, time_contenders

MiB = 2**20
COLS = 32
ROW_GROUP = 100_000
REC = "application/x-recordio-protobuf"

_CHILD = (
    "import sys\n"
    "from sm_payloads.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
    "print('peak-rss-kib', hwm, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


#: The children run as an installed package does: from cached bytecode (pip compiles it on
#: install), kept under the temporary directory's pycache prefix, not from source on
#: every start where PYTHONDONTWRITEBYTECODE is set (0.3 to 0.6 s of start-up here).
CHILD_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": os.path.join(tempfile.gettempdir(), "smp-bench-pycache"),
}


def run_cli(*args: str) -> tuple[float, int, float]:
    """(seconds, peak RSS bytes, CPU seconds) of one ``sm-payloads`` run in a fresh process."""
    t, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args, "-q"],
        check=True,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    seconds = time.perf_counter() - t
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("peak-rss-kib ")][-1]
    return seconds, int(line.split()[1]) * 1024, _children_cpu() - cpu


def write_parquet(path: str, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(22)
    schema = pa.schema([("y", pa.float32()), *[(f"x{i}", pa.float32()) for i in range(COLS)]])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            X = rng.standard_normal((n, COLS), dtype=np.float32)
            y = rng.integers(0, 2, n).astype(np.float32)
            w.write_table(pa.table({"y": y, **{f"x{i}": X[:, i] for i in range(COLS)}}, schema=schema))


def parquet_to_recordio(d: str, size_mb: float, sdk_rows: int) -> dict[str, Any]:
    import pandas as pd
    import pyarrow.parquet as pq
    from sagemaker.amazon.common import write_numpy_to_dense_tensor

    rows = int(size_mb * MiB / ((COLS + 1) * 4))
    src, out = os.path.join(d, "in.parquet"), os.path.join(d, "out.rec")
    write_parquet(src, rows)
    codec = smp.get_codec(REC)

    empty = os.path.join(d, "empty.parquet")
    write_parquet(empty, 0)
    startup_s = min(run_cli("convert", empty, out, "--label", "y")[0] for _ in range(3))
    cli_s, cli_rss, cli_cpu = min(run_cli("convert", src, out, "--label", "y") for _ in range(2))

    def ours() -> bytes:
        return codec.encode(smp.from_arrow(pq.read_table(src), label="y"))

    ours_s = ours_cpu = float("inf")
    for _ in range(2):
        t, c = time.perf_counter(), time.process_time()
        body = ours()
        ours_s, ours_cpu = min(ours_s, time.perf_counter() - t), min(ours_cpu, time.process_time() - c)
    with open(out, "rb") as f:
        written = f.read()
    assert written == body, "the CLI and the encoder wrote different bytes"
    del body

    # pyarrow's Parquet decoding alone (no conversion, no output): what any converter that
    # reads Parquet with pyarrow spends at least, so SDK CPU / this is the ceiling of the
    # speed-up against pandas + the SDK on this machine.
    read_cpu_alone = float("inf")
    for _ in range(2):
        c = time.process_time()
        pq.read_table(src)
        read_cpu_alone = min(read_cpu_alone, time.process_time() - c)

    # pandas + the SDK: the whole file read, the first sdk_rows records written (the writer's
    # time scaled to every record: it is linear in the records, about 10^5 a second)
    t, c = time.perf_counter(), time.process_time()
    df = pd.read_parquet(src)
    read_s, read_cpu = time.perf_counter() - t, time.process_time() - c
    n_sdk = min(sdk_rows, rows)
    X, y = df[[f"x{i}" for i in range(COLS)]].to_numpy()[:n_sdk], df["y"].to_numpy()[:n_sdk]
    del df
    buf = io.BytesIO()
    t, c = time.perf_counter(), time.process_time()
    write_numpy_to_dense_tensor(buf, X, y)
    write_s, write_cpu = time.perf_counter() - t, time.process_time() - c
    assert written[: len(buf.getvalue())] == buf.getvalue(), "the SDK wrote other bytes for the same records"
    sdk_s = read_s + write_s * rows / n_sdk
    sdk_cpu = read_cpu + write_cpu * rows / n_sdk
    return {
        "rows": rows,
        "parquet_bytes": os.path.getsize(src),
        "recordio_bytes": len(written),
        "cli_s": cli_s,
        "cli_cpu_s": cli_cpu,
        "cli_peak_rss": cli_rss,
        "read_table_plus_encoder_s": ours_s,
        "read_table_plus_encoder_cpu_s": ours_cpu,
        "sdk_rows": n_sdk,
        "sdk_read_parquet_s": read_s,
        "sdk_write_s": write_s,
        "sdk_whole_file_s": sdk_s,
        "sdk_whole_file_cpu_s": sdk_cpu,
        "cli_startup_s": startup_s,
        "cli_vs_sdk_speedup": sdk_s / cli_s,
        "cli_vs_sdk_speedup_without_startup": sdk_s / max(cli_s - startup_s, 1e-9),
        "cli_vs_sdk_speedup_cpu": sdk_cpu / cli_cpu,
        "cli_vs_codec_alone": cli_s / ours_s,
        "cli_vs_codec_alone_cpu": cli_cpu / ours_cpu,
        "read_table_alone_cpu_s": read_cpu_alone,
        "speedup_ceiling_cpu": sdk_cpu / read_cpu_alone,
        "src": src,
    }


def zero_copy(repeat: int) -> list[dict[str, Any]]:
    import pyarrow as pa

    out = []
    for n in (10_000, 1_000_000):
        X = np.random.default_rng(1).standard_normal((n, 100), dtype=np.float32)
        batch = smp.from_dense(X)
        table = batch.to_arrow()
        fsl = table.column("features.values").chunk(0)
        assert fsl.flatten().buffers()[1].address == X.ctypes.data
        assert smp.from_arrow(table).features["values"].ctypes.data == X.ctypes.data
        plain = pa.table({"x": X[:, 0].copy()})
        timings = time_contenders(
            [
                Contender("to_arrow", batch.to_arrow, n, X.nbytes, "ours"),
                Contender("from_arrow", lambda t=table: smp.from_arrow(t), n, X.nbytes, "ours"),
                Contender("pa.table(batch)", lambda b=batch: pa.table(b), n, X.nbytes, "ours"),
                Contender("from_arrow one column", lambda t=plain: smp.from_arrow(t), n, 4 * n, "ours"),
            ],
            repeat,
            False,
        )
        for name, (s, _) in zip(
            ("to_arrow", "from_arrow", "pa.table(batch)", "from_arrow 1 column"), timings, strict=True
        ):
            out.append({"shape": f"{n} x 100 float32", "op": name, "seconds": s})
    return out


def rss_by_batch(src: str, d: str) -> list[dict[str, Any]]:
    rows = []
    for bs in (1_000, 10_000, 100_000):
        s, rss, _ = run_cli(
            "convert", src, os.path.join(d, f"b{bs}.rec"), "--label", "y", "--batch-size", str(bs)
        )
        os.unlink(os.path.join(d, f"b{bs}.rec"))
        rows.append({"batch_size": bs, "seconds": s, "peak_rss": rss})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=float, default=1024.0, help="MiB of float32 values in the Parquet file")
    p.add_argument("--sdk-rows", type=int, default=50_000, help="rows the SDK writes (timed)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as d:
        pr = parquet_to_recordio(d, args.size_mb, args.sdk_rows)
        results["parquet_to_recordio"] = pr
        print(
            f"Parquet -> RecordIO-protobuf, {pr['rows']:,} records x {COLS} float32 + label "
            f"({pr['parquet_bytes'] / MiB:.0f} MiB Parquet, {pr['recordio_bytes'] / MiB:.0f} MiB RecordIO)"
        )
        print(
            f"  sm-payloads convert (fresh process)  {fmt_time(pr['cli_s']):>10}  "
            f"CPU {fmt_time(pr['cli_cpu_s'])}"
        )
        print(f"    peak RSS {pr['cli_peak_rss'] / MiB:.0f} MiB")
        print(
            f"  read_table + from_arrow + encode     {fmt_time(pr['read_table_plus_encoder_s']):>10}  "
            f"CPU {fmt_time(pr['read_table_plus_encoder_cpu_s'])}"
        )
        print(
            f"  pd.read_parquet + SDK writer         {fmt_time(pr['sdk_whole_file_s']):>10}  (read "
            f"{fmt_time(pr['sdk_read_parquet_s'])}, write {fmt_time(pr['sdk_write_s'])} for "
            f"{pr['sdk_rows']:,} records, scaled)"
        )
        print(
            f"  CLI vs pandas + SDK:     {pr['cli_vs_sdk_speedup']:.1f}x faster wall, "
            f"{pr['cli_vs_sdk_speedup_cpu']:.1f}x CPU (goal >= 50x)"
        )
        print(
            f"  pq.read_table alone: CPU {fmt_time(pr['read_table_alone_cpu_s'])}: no converter reading "
            f"Parquet with pyarrow beats pandas + SDK by more than {pr['speedup_ceiling_cpu']:.1f}x CPU here"
        )
        print(
            f"  CLI start-up (an empty file): {fmt_time(pr['cli_startup_s'])}; without it the CLI is "
            f"{pr['cli_vs_sdk_speedup_without_startup']:.1f}x faster than pandas + SDK"
        )
        print(
            f"  CLI / codec alone:       {pr['cli_vs_codec_alone']:.2f}x wall, "
            f"{pr['cli_vs_codec_alone_cpu']:.2f}x CPU (goal <= 1.5x)"
        )
        results["rss_by_batch_size"] = rss_by_batch(pr.pop("src"), d)
        print("Peak RSS of the streaming conversion by --batch-size (row groups of 100,000 rows):")
        for r in results["rss_by_batch_size"]:
            size, rss = r["batch_size"], r["peak_rss"] / MiB
            print(f"  --batch-size {size:>7,}  {rss:6.0f} MiB  {fmt_time(r['seconds']):>10}")
    results["zero_copy"] = zero_copy(args.repeat)
    print("to_arrow / from_arrow (dense columns shared, addresses checked):")
    for r in results["zero_copy"]:
        print(f"  {r['shape']:<22} {r['op']:<20} {fmt_time(r['seconds']):>10}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
