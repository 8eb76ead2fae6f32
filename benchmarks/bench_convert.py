"""Streaming conversion with the command line: every pair of CSV, JSON Lines,
RecordIO-protobuf, Parquet and Arrow IPC, against the codecs alone on the same bytes.

    python -m benchmarks.bench_convert [--text-mb 520] [--binary-mb 520] [--pairs csv:recordio,...]
                                       [--repeat 2] [--quick] [--dir DIR] [--json FILE]

Inputs: the same generated records (a float32 label, then 100 standard-normal float32
features; seeded) in each format, written in chunks (the generator never holds a file):
CSV (``text/csv;label_size=1``, read with ``--dtype float32``) and JSON Lines (``--dtype
float32``), Parquet (one float32 column per feature and a ``y`` column, read with
``--label y``; row groups of 100,000 rows), Arrow IPC (the same table, record batches of
20,000 rows) and RecordIO-protobuf. Every path has a file of at least 500 MB on one side:
a path with CSV or JSON Lines converts the records of a ``--text-mb`` MiB CSV (the
binary files of those records are 200 to 280 MiB); a path between two binary formats
converts more records, a ``--binary-mb`` MiB RecordIO-protobuf file's.

For every ordered pair (20 paths), in ``--repeat`` rounds (the best time of each kept),
it runs one after the other (interleaved, so that a slow spell of the shared machine hits
both):

* ``sm-payloads convert IN OUT`` in a fresh process, start-up included, at the default
  ``--batch-size`` (10,000); its peak RSS is the child's own ``VmHWM``;
* "the codecs alone": the input's bytes already in memory, decoded batch by batch at the
  same batch size (``iter_decode`` of the input's codec; for Parquet and Arrow IPC
  pyarrow's batch reader over an in-memory buffer, then ``from_arrow``), and each batch
  encoded as the command line encodes it (the output codec's ``encode``; for Parquet and
  Arrow IPC ``to_arrow`` and pyarrow's writer into an in-memory buffer). No file I/O.

The bar (issue #22): the command line within 1.5x of the codecs alone, by wall time; CPU
time (the child's user + system time, and this process's for the codecs alone, threads
included) is reported beside it, since it varies less on a machine other jobs share, and
the child's CPU split into user and system time (the system time is mostly the output's
copy into the page cache, which the codecs alone do not make). Each path's output
is checked to be byte-identical to what the codecs alone produced, so both did the same
work. The load average is printed before and after: other jobs share the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import sm_payloads as smp
from sm_payloads.formats import csv as csv_codec

MiB = 2**20
COLS = 100
CHUNK_ROWS = 20_000
ROW_GROUP = 100_000
BATCH = 10_000
FORMATS = ("csv", "jsonl", "recordio", "parquet", "arrow")
EXT = {"csv": ".csv", "jsonl": ".jsonl", "recordio": ".rec", "parquet": ".parquet", "arrow": ".arrow"}
MEDIA = {
    "csv": "text/csv;label_size=1",
    "jsonl": "application/jsonlines",
    "recordio": "application/x-recordio-protobuf",
}
NAMES = {
    "csv": "CSV",
    "jsonl": "JSON Lines",
    "recordio": "RecordIO-protobuf",
    "parquet": "Parquet",
    "arrow": "Arrow IPC",
}
TEXT = ("csv", "jsonl")


def _chunks(rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        X = rng.standard_normal((n, COLS), dtype=np.float32)
        y = rng.integers(0, 2, n).astype(np.float32)
        yield X, y


CT_CSV = MEDIA["csv"]


def write_csv(path: str, size: int) -> tuple[int, int]:
    """About `size` bytes of CSV records (the records of `write_inputs`); returns (rows,
    bytes). `bench_dask` converts this file."""
    rows = 0
    with open(path, "wb") as f:
        for X, y in _chunks(2**62):
            if f.tell() >= size:
                break
            f.write(csv_codec.encode(smp.from_dense(X, y), label_size=1) + b"\n")
            rows += len(y)
        return rows, f.tell()


def _table(X: np.ndarray, y: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.table({"y": y, **{f"x{i}": X[:, i] for i in range(COLS)}})


def write_inputs(d: str, text_rows: int, binary_rows: int) -> dict[tuple[str, bool], tuple[str, int]]:
    """The input files: {(format, big): (path, rows)}; text formats have `text_rows`
    records, binary ones a file of those and a big one of `binary_rows`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rec = smp.get_codec(MEDIA["recordio"])
    jsonl = smp.get_codec(MEDIA["jsonl"])
    schema = pa.schema([("y", pa.float32()), *[(f"x{i}", pa.float32()) for i in range(COLS)]])
    out: dict[tuple[str, bool], tuple[str, int]] = {}
    with contextlib.ExitStack() as stack:
        files: dict[tuple[str, bool], Any] = {}
        for f in FORMATS:
            for big in (False, True) if f not in TEXT else (False,):
                path = os.path.join(d, f"in{'-big' if big else ''}{EXT[f]}")
                out[(f, big)] = (path, binary_rows if big else text_rows)
                if f == "parquet":
                    files[(f, big)] = stack.enter_context(pq.ParquetWriter(path, schema))
                elif f == "arrow":
                    sink = stack.enter_context(pa.OSFile(path, "wb"))
                    files[(f, big)] = stack.enter_context(pa.ipc.new_file(sink, schema))
                else:
                    files[(f, big)] = stack.enter_context(open(path, "wb"))
        done = 0
        for X, y in _chunks(max(text_rows, binary_rows)):
            for (f, big), w in files.items():
                rows = binary_rows if big else text_rows
                k = min(len(y), rows - done)
                if k <= 0:
                    continue
                part = smp.from_dense(X[:k], y[:k])
                if f == "csv":
                    w.write(csv_codec.encode(part, label_size=1) + b"\n")
                elif f == "jsonl":
                    w.write(jsonl.encode(part))
                elif f == "recordio":
                    w.write(rec.encode(part))
                elif f == "parquet":
                    w.write_table(_table(X[:k], y[:k]), row_group_size=ROW_GROUP)
                else:
                    w.write_table(_table(X[:k], y[:k]))
            done += len(y)
    return out


# The child's own high-water mark (VmHWM). ``ru_maxrss`` can carry the parent's peak
# over a fork on Linux, so it would overstate a small child of a large parent.
_CHILD = (
    "import sys\n"
    "from sm_payloads.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "hwm = [ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
    "print('peak-rss-kib', hwm, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def cli_args(src_fmt: str, src: str, dst: str) -> list[str]:
    args = ["convert", src, dst, "--batch-size", str(BATCH)]
    if src_fmt == "csv":
        args += ["--from", MEDIA["csv"], "--dtype", "float32"]
    elif src_fmt == "jsonl":
        args += ["--dtype", "float32"]
    elif src_fmt in ("parquet", "arrow"):
        args += ["--label", "y"]
    if dst.endswith(".csv"):
        args += ["--to", MEDIA["csv"]]
    return args


#: The children run as an installed package does: from cached bytecode (pip compiles it on
#: install), kept under the temporary directory's pycache prefix, not from source on
#: every start where PYTHONDONTWRITEBYTECODE is set (0.3 to 0.6 s of start-up here).
CHILD_ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPYCACHEPREFIX": os.path.join(tempfile.gettempdir(), "smp-bench-pycache"),
}


def _children_cpu() -> float:
    user, system = _children_times()
    return user + system


def _children_times() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def run_cli(args: list[str]) -> tuple[float, int, float]:
    """(seconds, peak RSS bytes, CPU seconds) of one ``sm-payloads`` run in a fresh process."""
    seconds, peak, user, system = run_cli_times(args)
    return seconds, peak, user + system


def run_cli_times(args: list[str]) -> tuple[float, int, float, float]:
    """`run_cli`, its CPU time as (user, system): the system time is mostly the kernel's
    copy of the output into the page cache, which on a virtual machine costs from 0.2 s
    per GB (pages the guest used a moment ago) to 2.5 s per GB (pages it gave back to the
    host, which the host must map and zero again)."""
    t, (user, system) = time.perf_counter(), _children_times()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, *args, "-q"],
        check=True,
        stderr=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    seconds = time.perf_counter() - t
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("peak-rss-kib ")][-1]
    user_after, system_after = _children_times()
    return seconds, int(line.split()[1]) * 1024, user_after - user, system_after - system


# --------------------------------------------------------------------------------------
# The codecs alone: bytes in memory -> batches -> encoded pieces
# --------------------------------------------------------------------------------------


def decoder(fmt: str) -> Callable[[bytes], Iterator[smp.RecordBatch]]:
    if fmt in MEDIA:
        codec = smp.get_codec(MEDIA[fmt])
        if fmt in TEXT:
            codec = codec.with_options(dtype=np.dtype(np.float32))

        def decode(data: bytes) -> Iterator[smp.RecordBatch]:
            yield from codec.iter_decode(io.BytesIO(data), batch_size=BATCH)

        return decode
    import pyarrow as pa
    import pyarrow.parquet as pq

    def decode_arrow(data: bytes) -> Iterator[smp.RecordBatch]:
        if fmt == "parquet":
            f = pq.ParquetFile(pa.BufferReader(data))
            batches: Any = (
                rb for g in range(f.num_row_groups) for rb in f.iter_batches(batch_size=BATCH, row_groups=[g])
            )
        else:
            r = pa.ipc.open_file(pa.BufferReader(data))
            batches = (r.get_batch(i) for i in range(r.num_record_batches))
        for rb in batches:
            for start in range(0, rb.num_rows, BATCH):
                yield smp.from_arrow(rb.slice(start, BATCH), label="y")

    return decode_arrow


def encoder(fmt: str) -> Callable[[Iterator[smp.RecordBatch]], list[Any]]:
    """Encodes every batch; returns the pieces of the output, in order."""
    if fmt == "csv":

        def encode_csv(batches: Iterator[smp.RecordBatch]) -> list[Any]:
            out: list[Any] = []
            for b in batches:
                body = csv_codec.encode(b, label_size=1)
                if body:
                    out += [b"\n", body] if out else [body]
            return [*out, b"\n"] if out else out

        return encode_csv
    if fmt in MEDIA:
        codec = smp.get_codec(MEDIA[fmt])
        return lambda batches: [codec.encode(b) for b in batches]
    import pyarrow as pa
    import pyarrow.parquet as pq

    def encode_arrow(batches: Iterator[smp.RecordBatch]) -> list[Any]:
        sink = pa.BufferOutputStream()
        writer: Any = None
        for b in batches:
            t = b.to_arrow()
            if writer is None:
                new = pq.ParquetWriter if fmt == "parquet" else pa.ipc.new_file
                writer = new(sink, t.schema)
            if t.num_rows:
                writer.write_table(t)
        writer.close()
        return [sink.getvalue()]

    return encode_arrow


def codecs_alone(src_fmt: str, dst_fmt: str, data: bytes) -> tuple[float, list[Any], float]:
    """(seconds, the output's pieces, CPU seconds of this process: all its threads)."""
    decode, encode = decoder(src_fmt), encoder(dst_fmt)
    t, cpu = time.perf_counter(), time.process_time()
    pieces = encode(decode(data))
    return time.perf_counter() - t, pieces, time.process_time() - cpu


def same_bytes(path: str, pieces: list[Any]) -> bool:
    with open(path, "rb") as f:
        for p in pieces:
            view = memoryview(p).cast("B")  # pyarrow's buffers are signed bytes ("b")
            if f.read(len(view)) != view:
                return False
        return f.read(1) == b""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text-mb", type=float, default=520, help="CSV size in MiB (default 520)")
    ap.add_argument("--binary-mb", type=float, default=520, help="RecordIO size in MiB (default 520)")
    ap.add_argument("--pairs", help="comma-separated SRC:DST pairs (default: all 20)")
    ap.add_argument("--repeat", type=int, default=2, help="rounds; the best time of each is kept")
    ap.add_argument("--quick", action="store_true", help="small files: a smoke test of the script")
    ap.add_argument("--dir", help="where to write the files (default: a temporary directory)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    text_mb, binary_mb = (8.0, 16.0) if args.quick else (args.text_mb, args.binary_mb)
    # bytes per record: CSV about 1,095, RecordIO-protobuf 448
    text_rows = max(CHUNK_ROWS, int(text_mb * MiB / 1095) // 1000 * 1000)
    binary_rows = max(text_rows, int(binary_mb * MiB / 448) // 1000 * 1000)
    if args.pairs:
        pairs = [tuple(p.split(":")) for p in args.pairs.split(",")]
    else:
        pairs = [(a, b) for a in FORMATS for b in FORMATS if a != b]
    res: dict[str, Any] = {"batch_size": BATCH, "load_before": os.getloadavg(), "paths": []}
    with tempfile.TemporaryDirectory(prefix="smp-convert-", dir=args.dir) as d:
        t = time.perf_counter()
        inputs = write_inputs(d, text_rows, binary_rows)
        print(f"wrote the inputs in {time.perf_counter() - t:.0f} s:")
        res["inputs"] = {}
        for (f, big), (path, rows) in inputs.items():
            size = os.path.getsize(path)
            res["inputs"][f"{f}{'-big' if big else ''}"] = {"rows": rows, "bytes": size}
            print(f"  {NAMES[f]:<18} {rows:>9,} records  {size / MiB:7.0f} MiB")
        empty = os.path.join(d, "empty.rec")
        open(empty, "wb").close()
        starts = [run_cli(["convert", empty, os.path.join(d, "empty.csv")]) for _ in range(3)]
        res["cli_startup_s"] = min(s[0] for s in starts)
        res["cli_startup_cpu_s"] = min(s[2] for s in starts)
        print(
            f"command line start-up (an empty file converted): {res['cli_startup_s']:.2f} s "
            f"(CPU {res['cli_startup_cpu_s']:.2f} s)"
        )
        print(f"load average before: {' '.join(f'{x:.2f}' for x in res['load_before'])}\n", flush=True)
        rows_of: dict[tuple[str, str], dict[str, Any]] = {}
        for rnd in range(args.repeat):
            for src_fmt, dst_fmt in pairs:
                big = src_fmt not in TEXT and dst_fmt not in TEXT
                src, rows = inputs[(src_fmt, big)]
                dst = os.path.join(d, f"out{EXT[dst_fmt]}")
                with open(src, "rb") as f:
                    data = f.read()
                cli_s, peak, cli_user, cli_sys = run_cli_times(cli_args(src_fmt, src, dst))
                cli_cpu = cli_user + cli_sys
                alone_s, pieces, alone_cpu = codecs_alone(src_fmt, dst_fmt, data)
                equal = same_bytes(dst, pieces)
                out_bytes = os.path.getsize(dst)
                del pieces, data
                os.unlink(dst)
                row = rows_of.setdefault(
                    (src_fmt, dst_fmt),
                    {
                        "src": src_fmt,
                        "dst": dst_fmt,
                        "rows": rows,
                        "input_bytes": os.path.getsize(src),
                        "output_bytes": out_bytes,
                        "cli_s": [],
                        "codecs_alone_s": [],
                        "cli_cpu_s": [],
                        "cli_user_s": [],
                        "cli_sys_s": [],
                        "codecs_alone_cpu_s": [],
                        "peak_rss_bytes": 0,
                        "output_equal": True,
                    },
                )
                row["cli_s"].append(cli_s)
                row["codecs_alone_s"].append(alone_s)
                row["cli_cpu_s"].append(cli_cpu)
                row["cli_user_s"].append(cli_user)
                row["cli_sys_s"].append(cli_sys)
                row["codecs_alone_cpu_s"].append(alone_cpu)
                row["peak_rss_bytes"] = max(row["peak_rss_bytes"], peak)
                row["output_equal"] = row["output_equal"] and equal
                print(
                    f"  round {rnd + 1}: {NAMES[src_fmt]} -> {NAMES[dst_fmt]}: CLI {cli_s:.2f} s "
                    f"(CPU {cli_cpu:.2f} s: user {cli_user:.2f}, system {cli_sys:.2f}), "
                    f"codecs alone {alone_s:.2f} s (CPU {alone_cpu:.2f} s), "
                    f"load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    res["load_after"] = os.getloadavg()
    print(
        "\n| path | input | output | records | CLI | codecs alone | ratio | CLI CPU | codecs CPU "
        "| CPU ratio | CLI user / system (its best CPU round) | peak RSS | same bytes |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for row in rows_of.values():
        row["ratio"] = min(row["cli_s"]) / min(row["codecs_alone_s"])
        row["cpu_ratio"] = min(row["cli_cpu_s"]) / min(row["codecs_alone_cpu_s"])
        best = row["cli_cpu_s"].index(min(row["cli_cpu_s"]))
        res["paths"].append(row)
        verdict = "PASS" if row["ratio"] <= 1.5 else "FAIL"
        print(
            f"| {NAMES[row['src']]} -> {NAMES[row['dst']]} | {row['input_bytes'] / 1e6:,.0f} MB "
            f"| {row['output_bytes'] / 1e6:,.0f} MB | {row['rows']:,} | {min(row['cli_s']):.2f} s "
            f"| {min(row['codecs_alone_s']):.2f} s | {row['ratio']:.2f}x {verdict} "
            f"| {min(row['cli_cpu_s']):.2f} s | {min(row['codecs_alone_cpu_s']):.2f} s "
            f"| {row['cpu_ratio']:.2f}x | {row['cli_user_s'][best]:.2f} / {row['cli_sys_s'][best]:.2f} s "
            f"| {row['peak_rss_bytes'] / 1e6:,.0f} MB "
            f"| {'yes' if row['output_equal'] else 'NO'} |"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in res['load_after'])}")
    worst = max(res["paths"], key=lambda r: r["ratio"])
    print(
        f"worst ratio {worst['ratio']:.2f}x ({NAMES[worst['src']]} -> {NAMES[worst['dst']]}); "
        f"bar <= 1.5x: {'PASS' if worst['ratio'] <= 1.5 else 'FAIL'}; "
        f"highest peak RSS {max(r['peak_rss_bytes'] for r in res['paths']) / 1e6:,.0f} MB"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
